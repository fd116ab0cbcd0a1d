/* S3's answers as bucketfs parses them: listings, errors, multipart
 * uploads' ids, DeleteObjects results, ISO 8601 times. */
#include <stdlib.h>

#include "fuzz_input.h"
#include "s3_xml.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	char *a = NULL, *b = NULL, *c = NULL, *s;
	struct store_list l = {0};
	size_t n_errors = 0;
	time_t t;

	if (s3_xml_parse_list(xml, size, &l) == 0)
		store_list_free(&l);
	s3_xml_parse_error(xml, size, &a, &b, &c);
	free(a);
	free(b);
	free(c);
	a = NULL;
	s3_xml_parse_upload_id(xml, size, &a);
	free(a);
	a = NULL;
	s3_xml_parse_delete_result(xml, size, &n_errors, &a);
	free(a);
	s = fuzz_string(data, size);
	if (s)
		s3_parse_iso8601(s, &t);
	free(s);
	return 0;
}
