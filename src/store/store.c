/* Helpers shared by every store backend. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

void store_list_free(struct store_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_objects; i++)
		free(l->objects[i].key);
	free(l->objects);
	for (size_t i = 0; i < l->n_prefixes; i++)
		free(l->prefixes[i]);
	free(l->prefixes);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}
