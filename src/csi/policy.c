/* Classification levels and the read-down, no-write-down rule. */
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int levels_parse(const char *csv, struct levels *out, char **why)
{
	char *copy = strdup(csv);

	out->names = NULL;
	out->n = 0;
	if (!copy)
		return -ENOMEM;
	/* strtok_r would skip empty fields, which must be refused. */
	for (char *p = copy, *end;; p = end + 1) {
		end = strchr(p, ',');
		if (end)
			*end = '\0';
		char **grown = realloc(out->names, (out->n + 1) * sizeof(*grown));

		if (!grown)
			goto nomem;
		out->names = grown;
		if (!*p) {
			*why = strdup("classification levels: empty level name");
			goto bad;
		}
		if (levels_rank(out, p) >= 0) {
			*why = str_printf("classification levels: %s is listed twice", p);
			goto bad;
		}
		if (!(out->names[out->n] = strdup(p)))
			goto nomem;
		out->n++;
		if (!end)
			break;
	}
	free(copy);
	return 0;
nomem:
	free(copy);
	levels_free(out);
	return -ENOMEM;
bad:
	free(copy);
	levels_free(out);
	return -EINVAL;
}

void levels_free(struct levels *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL;
	l->n = 0;
}

int levels_rank(const struct levels *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->names[i], name))
			return (int)i;
	return -1;
}

enum policy_access policy_decide(int pod_rank, int volume_rank)
{
	if (volume_rank > pod_rank)
		return POLICY_DENY;
	if (volume_rank < pod_rank)
		return POLICY_READ_ONLY;
	return POLICY_AS_ASKED;
}

const char *policy_describe(enum policy_access a)
{
	switch (a) {
	case POLICY_DENY:
		return "denied (no read up)";
	case POLICY_READ_ONLY:
		return "read-only (no write down)";
	case POLICY_AS_ASKED:
		break;
	}
	return "as requested (same level)";
}

bool policy_mode_read_only(int mode)
{
	/* SINGLE_NODE_READER_ONLY and MULTI_NODE_READER_ONLY. */
	return mode == 2 || mode == 3;
}
