/* bucketfs-csi's gRPC handlers on arbitrary request bytes: every method,
 * as kubelet (or anyone on the socket) could send them. The Kubernetes API
 * is unreachable here, so no publish gets as far as a mount; unpublish,
 * which unmounts and removes paths, only has its request decoded. */
#include <stdio.h>
#include <string.h>

#include "csi.pb-c.h"
#include "fuzz_input.h"
#include "log.h"
#include "plugin.h"

static struct plugin plugin;

static void fuzz_setup(void)
{
	char *why = NULL;

	if (plugin.driver_name)
		return;
	log_init(LOG_CRIT, true); /* refusals would fill the fuzzer's log */
	plugin.driver_name = "bucketfs.csi";
	plugin.node_id = "fuzz";
	plugin.bucketfs = "/bin/false";
	plugin.self = "/bin/false";
	plugin.state_dir = "/tmp/bucketfs-fuzz-csi";
	plugin.label_key = "data.statcan.gc.ca/classification";
	levels_parse("unclassified,protected-b", &plugin.levels, &why);
	/* Nothing listens on port 1: pod lookups fail fast. */
	kube_init(&plugin.kube, "http://127.0.0.1:1", "/dev/null", NULL, &why);
	pthread_mutex_init(&plugin.lock, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_setup();
	for (size_t i = 0; i < plugin_n_methods; i++) {
		struct buf resp;
		char *msg = NULL;

		if (strstr(plugin_methods[i].path, "NodeUnpublishVolume")) {
			Csi__V1__NodeUnpublishVolumeRequest *r =
				csi__v1__node_unpublish_volume_request__unpack(NULL, size, data);

			if (r)
				csi__v1__node_unpublish_volume_request__free_unpacked(r, NULL);
			continue;
		}
		buf_init(&resp, 1 << 20);
		plugin_methods[i].fn(&plugin, data, size, &resp, &msg);
		buf_free(&resp);
		free(msg);
	}
	return 0;
}
