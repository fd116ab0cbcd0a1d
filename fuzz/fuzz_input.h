/*
 * Helpers for the libFuzzer targets: the input as one NUL-terminated
 * string, or cut at NUL bytes into fields (a target that takes several
 * strings reads them this way, so the corpus files stay readable).
 */
#ifndef BUCKETFS_FUZZ_INPUT_H
#define BUCKETFS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A NUL-terminated copy of the input; free() it. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

/* Cut a copy of the input at NUL bytes into at most max fields; missing
 * fields are "". Returns the copy, to free() after the fields. */
static inline char *fuzz_fields(const uint8_t *data, size_t size, const char **fields, size_t max,
				size_t *n)
{
	char *s = fuzz_string(data, size), *p;

	*n = 0;
	if (!s)
		return NULL;
	p = s;
	while (*n < max) {
		fields[(*n)++] = p;
		p += strlen(p);
		if (p >= s + size)
			break;
		p++;
	}
	for (size_t i = *n; i < max; i++)
		fields[i] = "";
	return s;
}

#endif
