#include "uri.h"

#include <string.h>

int uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	int rc = 0;

	for (i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];

		/* ASCII ranges, not isalnum(): the locale must not change a signature. */
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
			rc = buf_append(out, &s[i], 1);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

			rc = buf_append(out, esc, 3);
		}
	}
	return rc;
}

int uri_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void uri_decode(char *s, bool plus_is_space)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%' && uri_hexval(s[1]) >= 0 && uri_hexval(s[2]) >= 0) {
			*w++ = (char)(uri_hexval(s[1]) * 16 + uri_hexval(s[2]));
			s += 2;
		} else if (*s == '+' && plus_is_space) {
			*w++ = ' ';
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

int uri_form_add(struct buf *out, const char *name, const char *value)
{
	int rc = 0;

	if (out->len)
		rc = buf_puts(out, "&");
	if (!rc)
		rc = uri_encode(out, name, strlen(name), false);
	if (!rc)
		rc = buf_puts(out, "=");
	if (!rc)
		rc = uri_encode(out, value, strlen(value), false);
	return rc;
}
