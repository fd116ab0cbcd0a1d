/*
 * The JSON reader (see json.h). Strings are decoded into bounded buffers
 * that are zeroed when dropped: the values read here are mostly secrets.
 */
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define JSON_MAX_DEPTH	32
#define JSON_STRING_MAX (1u << 20)

static void buf_zfree(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->len);
	buf_free(b);
}

struct json {
	const char *p, *end;
};

static void json_ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int json_hex4(struct json *j, unsigned int *out)
{
	unsigned int v = 0;

	if (j->end - j->p < 4)
		return -EPROTO;
	for (int i = 0; i < 4; i++) {
		char c = *j->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned int)(c - 'A' + 10);
		else
			return -EPROTO;
	}
	*out = v;
	return 0;
}

static int json_put(struct buf *out, const void *p, size_t n)
{
	int rc;

	if (!out)
		return 0;
	rc = buf_append(out, p, n);
	return rc == -EFBIG ? -EPROTO : rc;
}

/* A \u escape (after the 'u'), surrogate pairs joined, as UTF-8. NUL is
 * refused: values end up as C strings. */
static int json_unicode(struct json *j, struct buf *out)
{
	unsigned int cp, lo;
	unsigned char u[4];
	size_t n;

	if (json_hex4(j, &cp))
		return -EPROTO;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
			return -EPROTO;
		j->p += 2;
		if (json_hex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return -EPROTO;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
		return -EPROTO;
	}
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return json_put(out, u, n);
}

/* A string at j->p, decoded into out (NULL: only checked). */
static int json_string(struct json *j, struct buf *out)
{
	if (j->p >= j->end || *j->p != '"')
		return -EPROTO;
	j->p++;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;
		int rc;

		if (c == '"')
			return 0;
		if (c < 0x20)
			return -EPROTO;
		if (c == '\\') {
			if (j->p >= j->end)
				return -EPROTO;
			c = (unsigned char)*j->p++;
			switch (c) {
			case '"':
			case '\\':
			case '/':
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
				rc = json_unicode(j, out);
				if (rc)
					return rc;
				continue;
			default:
				return -EPROTO;
			}
		}
		rc = json_put(out, &c, 1);
		if (rc)
			return rc;
	}
	return -EPROTO;
}

/* A number at j->p, by RFC 8259's grammar; *text and *len say where. */
static int json_number(struct json *j, const char **text, size_t *len)
{
	const char *p = j->p, *end = j->end;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0') {
		p++;
	} else if (p < end && isdigit((unsigned char)*p)) {
		while (p < end && isdigit((unsigned char)*p))
			p++;
	} else {
		return -EPROTO;
	}
	if (p < end && *p == '.') {
		if (++p >= end || !isdigit((unsigned char)*p))
			return -EPROTO;
		while (p < end && isdigit((unsigned char)*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !isdigit((unsigned char)*p))
			return -EPROTO;
		while (p < end && isdigit((unsigned char)*p))
			p++;
	}
	*text = j->p;
	*len = (size_t)(p - j->p);
	j->p = p;
	return 0;
}

static int json_literal(struct json *j, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
		return -EPROTO;
	j->p += n;
	return 0;
}

static int json_skip_container(struct json *j, int depth);

/* Check and skip any value. */
static int json_skip_value(struct json *j, int depth)
{
	const char *text;
	size_t len;

	json_ws(j);
	if (j->p >= j->end)
		return -EPROTO;
	switch (*j->p) {
	case '"':
		return json_string(j, NULL);
	case '{':
	case '[':
		return json_skip_container(j, depth + 1);
	case 't':
		return json_literal(j, "true");
	case 'f':
		return json_literal(j, "false");
	case 'n':
		return json_literal(j, "null");
	default:
		return json_number(j, &text, &len);
	}
}

static int json_skip_container(struct json *j, int depth)
{
	char close = *j->p == '{' ? '}' : ']';
	int rc;

	if (depth > JSON_MAX_DEPTH)
		return -EPROTO;
	j->p++;
	json_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			json_ws(j);
			rc = json_string(j, NULL);
			if (rc)
				return rc;
			json_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return -EPROTO;
			j->p++;
		}
		rc = json_skip_value(j, depth);
		if (rc)
			return rc;
		json_ws(j);
		if (j->p >= j->end)
			return -EPROTO;
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p != close)
			return -EPROTO;
		j->p++;
		return 0;
	}
}

/* A string member's value into *slot (refused if already set). */
static int json_take_string(struct json *j, char **slot)
{
	struct buf b;
	int rc;

	if (*slot)
		return -EPROTO;
	buf_init(&b, JSON_STRING_MAX);
	rc = json_string(j, &b);
	if (!rc)
		*slot = buf_steal(&b);
	buf_zfree(&b);
	return rc;
}

/* An integer member: a JSON integer, or one written as a string of digits
 * (IMDS does that). At most 15 digits, so no overflow. */
static int json_take_int(struct json *j, bool *has, int64_t *out)
{
	struct buf b;
	const char *text;
	size_t len;
	int64_t v = 0;
	int rc;

	if (*has)
		return -EPROTO;
	buf_init(&b, 64);
	if (j->p < j->end && *j->p == '"') {
		rc = json_string(j, &b);
		text = b.data ? b.data : "";
		len = b.len;
	} else {
		rc = json_number(j, &text, &len);
	}
	if (!rc) {
		bool neg = len && text[0] == '-';
		size_t i = neg ? 1 : 0;

		if (len == i || len - i > 15)
			rc = -EPROTO;
		for (; !rc && i < len; i++) {
			if (!isdigit((unsigned char)text[i]))
				rc = -EPROTO;
			else
				v = v * 10 + (text[i] - '0');
		}
		if (!rc) {
			*out = neg ? -v : v;
			*has = true;
		}
	}
	buf_free(&b);
	return rc == -ENOMEM ? rc : rc ? -EPROTO : 0;
}

static int json_take(struct json *j, const struct json_field *f)
{
	return f->kind == JSON_STRING ? json_take_string(j, f->str)
				      : json_take_int(j, f->has, f->num);
}

int json_object_fields(const char *json, size_t len, const struct json_field *fields, size_t n)
{
	struct json j = {json, json + len};
	struct buf key;
	int rc = 0;

	buf_init(&key, 4096);
	json_ws(&j);
	if (j.p >= j.end || *j.p != '{') {
		rc = -EPROTO;
		goto out;
	}
	j.p++;
	json_ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
		goto out_end;
	}
	for (;;) {
		const struct json_field *f = NULL;
		const char *k;

		json_ws(&j);
		buf_reset(&key);
		rc = json_string(&j, &key);
		if (rc)
			goto out;
		json_ws(&j);
		if (j.p >= j.end || *j.p != ':') {
			rc = -EPROTO;
			goto out;
		}
		j.p++;
		json_ws(&j);
		k = key.data ? key.data : "";
		if (strlen(k) != key.len) { /* "\u0000" is refused, but be sure */
			rc = -EPROTO;
			goto out;
		}
		for (size_t i = 0; i < n && !f; i++)
			if (!strcmp(k, fields[i].name))
				f = &fields[i];
		rc = f ? json_take(&j, f) : json_skip_value(&j, 1);
		if (rc)
			goto out;
		json_ws(&j);
		if (j.p < j.end && *j.p == ',') {
			j.p++;
			continue;
		}
		if (j.p < j.end && *j.p == '}') {
			j.p++;
			break;
		}
		rc = -EPROTO;
		goto out;
	}
out_end:
	json_ws(&j);
	if (j.p != j.end)
		rc = -EPROTO;
out:
	buf_free(&key);
	return rc;
}
