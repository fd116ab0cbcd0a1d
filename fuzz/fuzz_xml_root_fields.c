/* The one reader of error bodies' root fields (xml_util.c). */
#include <stdlib.h>

#include "xml_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"Code", "Message", "RequestId", "Code"};
	char *code = NULL, *message = NULL, *id = NULL, *again = NULL;
	char **const outs[] = {&code, &message, &id, &again};

	xml_root_fields((const char *)data, size, "Error", names, outs, 4);
	free(code);
	free(message);
	free(id);
	free(again);
	return 0;
}
