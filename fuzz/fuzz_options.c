/* Command lines as bucketfs parses them: the input cut at NUL bytes is
 * argv (SOURCE, MOUNTPOINT, -o lists...); and a SOURCE, a size and a
 * percent-encoded string on their own. */
#include <stdlib.h>

#include "fuzz_input.h"
#include "options.h"
#include "uri.h"

#define FUZZ_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f[FUZZ_ARGS];
	char *argv[FUZZ_ARGS + 2];
	struct bfs_options o;
	char *why = NULL, *copy;
	uint64_t bytes;
	size_t n, i;

	copy = fuzz_fields(data, size, f, FUZZ_ARGS, &n);
	if (!copy)
		return 0;
	argv[0] = "bucketfs";
	for (i = 0; i < n; i++)
		argv[i + 1] = (char *)f[i];
	argv[n + 1] = NULL;
	memset(&o, 0, sizeof(o));
	options_parse((int)n + 1, argv, &o, &why);
	options_free(&o);
	free(why);
	why = NULL;

	memset(&o, 0, sizeof(o));
	options_parse_source(&o, f[0], &why);
	options_free(&o);
	free(why);
	options_parse_size(f[0], &bytes);
	uri_decode(copy, true);
	free(copy);
	return 0;
}
