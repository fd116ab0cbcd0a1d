/* The catalog parser of bucketfs-csi (an administrator's JSON, but read by
 * a root daemon: it must refuse, never crash). */
#include "catalog.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size), *why = NULL;
	struct catalog c;

	if (text && !catalog_parse(text, &c, &why)) {
		for (size_t i = 0; i < c.n; i++)
			catalog_namespace_ok(&c.buckets[i], "team");
		catalog_free(&c);
	}
	free(why);
	free(text);
	return 0;
}
