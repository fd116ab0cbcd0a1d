/* SigV4 canonicalisation of a request whose every part comes from the
 * input: method, path, query, payload hash, region, then header
 * name/value pairs, fields cut at NUL bytes. */
#include "buf.h"
#include "fuzz_input.h"
#include "sigv4.h"

#define FUZZ_FIXED   5
#define FUZZ_HEADERS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f[FUZZ_FIXED + 2 * FUZZ_HEADERS];
	struct sigv4_header h[FUZZ_HEADERS];
	struct sigv4_request r;
	struct buf out;
	size_t n, i;
	char *copy = fuzz_fields(data, size, f, FUZZ_FIXED + 2 * FUZZ_HEADERS, &n);

	if (!copy)
		return 0;
	for (i = 0; i < FUZZ_HEADERS; i++)
		h[i] = (struct sigv4_header){f[FUZZ_FIXED + 2 * i], f[FUZZ_FIXED + 2 * i + 1]};
	r = (struct sigv4_request){
		.method = f[0],
		.path = f[1],
		.query = f[2],
		.headers = h,
		.n_headers = n > FUZZ_FIXED ? (n - FUZZ_FIXED + 1) / 2 : 0,
		.payload_hash = f[3],
		.region = f[4],
		.service = "s3",
		.amz_date = "20150830T123600Z",
	};
	buf_init(&out, 1 << 20);
	sigv4_canonical_request(&r, &out);
	buf_reset(&out);
	sigv4_authorization(&r, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &out);
	buf_free(&out);
	free(copy);
	return 0;
}
