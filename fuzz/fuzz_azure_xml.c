/* Azure's answers as bucketfs parses them: listings, errors, RFC 1123
 * times. */
#include <stdlib.h>

#include "azure_xml.h"
#include "fuzz_input.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	char *a = NULL, *b = NULL, *c = NULL, *s;
	struct store_list l = {0};
	time_t t;

	if (azure_xml_parse_list(xml, size, &l) == 0)
		store_list_free(&l);
	azure_xml_parse_error(xml, size, &a, &b, &c);
	free(a);
	free(b);
	free(c);
	s = fuzz_string(data, size);
	if (s)
		azure_parse_rfc1123(s, &t);
	free(s);
	return 0;
}
