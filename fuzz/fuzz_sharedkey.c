/* Azure Shared Key canonicalisation of a request whose every part comes
 * from the input: method, path, query, then header name/value pairs,
 * fields cut at NUL bytes. */
#include "azure_auth.h"
#include "buf.h"
#include "fuzz_input.h"

#define FUZZ_FIXED   3
#define FUZZ_HEADERS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f[FUZZ_FIXED + 2 * FUZZ_HEADERS];
	struct azure_header h[FUZZ_HEADERS];
	struct azure_request r;
	struct buf out;
	size_t n, i, nh = 0;
	char *copy = fuzz_fields(data, size, f, FUZZ_FIXED + 2 * FUZZ_HEADERS, &n);

	if (!copy)
		return 0;
	/* The contract: a header's name is never NULL or "". */
	for (i = 0; i < FUZZ_HEADERS && FUZZ_FIXED + 2 * i < n; i++)
		if (f[FUZZ_FIXED + 2 * i][0])
			h[nh++] = (struct azure_header){f[FUZZ_FIXED + 2 * i],
							f[FUZZ_FIXED + 2 * i + 1]};
	r = (struct azure_request){
		.method = f[0],
		.path = f[1],
		.query = f[2],
		.headers = h,
		.n_headers = nh,
	};
	buf_init(&out, 1 << 20);
	azure_sharedkey_string_to_sign(&r, "devstoreaccount1", &out);
	buf_reset(&out);
	azure_sharedkey_authorization(&r, "devstoreaccount1", "a2V5", &out);
	buf_free(&out);
	free(copy);
	return 0;
}
