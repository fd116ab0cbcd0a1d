/*
 * A strict reader of the small JSON objects credential services answer
 * (Entra ID, AWS container credentials, IMDS, credential_process): it
 * checks the whole document (RFC 8259, nesting at most 32 deep) and takes
 * the named string and integer members of the top-level object, skipping
 * the rest. No dependency: what is needed is a handful of members.
 */
#ifndef BUCKETFS_JSON_H
#define BUCKETFS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_kind {
	JSON_STRING, /* a string; *str receives a malloc'd copy */
	JSON_INT,    /* an integer, or digits in a string (IMDS writes them so) */
};

struct json_field {
	const char *name;
	enum json_kind kind;
	char **str;   /* JSON_STRING */
	bool *has;    /* JSON_INT: set when present */
	int64_t *num; /* JSON_INT: at most 15 digits */
};

/* Parse json[0..len) and fill fields[0..n). A member named twice, a string
 * holding NUL or a wrong type is -EPROTO; so is anything malformed.
 * Returns 0, -EPROTO or -ENOMEM; on error, strings already taken stay in
 * *str for the caller to zero and free. */
int json_object_fields(const char *json, size_t len, const struct json_field *fields, size_t n);

#endif
