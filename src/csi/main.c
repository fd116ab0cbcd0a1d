/*
 * bucketfs-csi: the Kubernetes CSI node plugin. Parses its configuration,
 * heals what went stale while it was away, then serves gRPC on CSI_ENDPOINT
 * until SIGTERM. The bucketfs daemons it starts outlive it.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "catalog.h"
#include "config.h"
#include "fsutil.h"
#include "log.h"
#include "plugin.h"
#include "view.h"

#define CSI_DEFAULT_LEVELS "unclassified,protected-b"
#define CSI_DEFAULT_LABEL  "data.statcan.gc.ca/classification"

static void csi_usage(FILE *f)
{
	fprintf(f, "usage: bucketfs-csi [options]\n"
		   "Kubernetes CSI node plugin that mounts buckets with bucketfs and enforces\n"
		   "data classification. See bucketfs-csi(8).\n\n"
		   "    --endpoint=ENDPOINT       gRPC socket, unix:///PATH or PATH\n"
		   "                              (default: $CSI_ENDPOINT)\n"
		   "    --node-id=ID              node name for NodeGetInfo (default: $NODE_ID,\n"
		   "                              else the host name)\n"
		   "    --driver-name=NAME        CSI driver name (default: bucketfs.csi)\n"
		   "    --bucketfs=PATH           the bucketfs daemon (default: next to this\n"
		   "                              program, else /usr/bin/bucketfs)\n"
		   "    --state-dir=DIR           volume records and catalog mounts\n"
		   "                              (default: /var/lib/bucketfs-csi)\n"
		   "    --levels=L1,L2,...        classification levels, lowest first\n"
		   "                              (default: " CSI_DEFAULT_LEVELS ")\n"
		   "    --label-key=KEY           pod label holding its classification\n"
		   "                              (default: " CSI_DEFAULT_LABEL ")\n"
		   "    --kube-api=URL            Kubernetes API (default: in-cluster)\n"
		   "    --kube-token-file=FILE    service-account token (default: in-cluster)\n"
		   "    --kube-ca-file=FILE       CA of the API server (default: in-cluster)\n"
		   "    --catalog=NAME=LOCATION   a catalog for automount volumes: a JSON file,\n"
		   "                              or configmap:NAMESPACE/NAME/KEY (repeatable)\n"
		   "    --catalog-interval=SECS   how often catalogs are re-read (default: 10)\n"
		   "    --log-level=LEVEL         error, warning, notice (default), info, debug\n"
		   "    -h, --help                this help\n"
		   "    -V, --version             version\n");
}

static char *csi_default_bucketfs(const char *self)
{
	char *copy = strdup(self), *path = NULL;

	if (copy)
		path = str_printf("%s/bucketfs", dirname(copy));
	free(copy);
	if (path && access(path, X_OK) == 0)
		return path;
	free(path);
	return strdup("/usr/bin/bucketfs");
}

static int csi_add_catalog(struct plugin *p, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct catalog_conf *grown;

	if (!eq || eq == arg || !eq[1])
		return -EINVAL;
	grown = realloc(p->catalogs, (p->n_catalogs + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	p->catalogs = grown;
	grown[p->n_catalogs].name = strndup(arg, (size_t)(eq - arg));
	grown[p->n_catalogs].location = strdup(eq + 1);
	p->n_catalogs++;
	return 0;
}

static int csi_fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "bucketfs-csi: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"endpoint", required_argument, NULL, 'e'},
		{"node-id", required_argument, NULL, 'n'},
		{"driver-name", required_argument, NULL, 'D'},
		{"bucketfs", required_argument, NULL, 'b'},
		{"state-dir", required_argument, NULL, 's'},
		{"levels", required_argument, NULL, 'l'},
		{"label-key", required_argument, NULL, 'k'},
		{"kube-api", required_argument, NULL, 'a'},
		{"kube-token-file", required_argument, NULL, 't'},
		{"kube-ca-file", required_argument, NULL, 'c'},
		{"catalog", required_argument, NULL, 'C'},
		{"catalog-interval", required_argument, NULL, 'i'},
		{"log-level", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	struct plugin p = {.driver_name = "bucketfs.csi",
			   .state_dir = "/var/lib/bucketfs-csi",
			   .label_key = CSI_DEFAULT_LABEL,
			   .catalog_interval = 10};
	const char *endpoint = getenv("CSI_ENDPOINT"), *levels = CSI_DEFAULT_LEVELS;
	const char *kube_api = NULL, *kube_token = NULL, *kube_ca = NULL;
	char self[PATH_MAX], host[256], *why = NULL, *home, *own_bucketfs = NULL;
	struct grpc_server *server = NULL;
	int level = LOG_NOTICE, opt, sig;
	sigset_t sigs;
	ssize_t n;

	/* The catalog view daemon is this program too (same package). */
	if (argc >= 4 && !strcmp(argv[1], "view"))
		return view_main(argv[2], argv[3], argc > 4 && !strcmp(argv[4], "-f"));

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return csi_fail("cannot find my own path: %s", strerror(errno));
	self[n] = '\0';
	p.self = self;
	p.node_id = getenv("NODE_ID");
	while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			endpoint = optarg;
			break;
		case 'n':
			p.node_id = optarg;
			break;
		case 'D':
			p.driver_name = optarg;
			break;
		case 'b':
			p.bucketfs = optarg;
			break;
		case 's':
			p.state_dir = optarg;
			break;
		case 'l':
			levels = optarg;
			break;
		case 'k':
			p.label_key = optarg;
			break;
		case 'a':
			kube_api = optarg;
			break;
		case 't':
			kube_token = optarg;
			break;
		case 'c':
			kube_ca = optarg;
			break;
		case 'C':
			if (csi_add_catalog(&p, optarg))
				return csi_fail("--catalog=%s: expected NAME=FILE or "
						"NAME=configmap:NAMESPACE/NAME/KEY",
						optarg);
			break;
		case 'i': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || !v || v > 86400)
				return csi_fail(
					"--catalog-interval=%s: expected 1 to 86400 seconds",
					optarg);
			p.catalog_interval = (unsigned int)v;
			break;
		}
		case 'L':
			if ((level = log_level_parse(optarg)) < 0)
				return csi_fail(
					"--log-level=%s: use error, warning, notice, info or "
					"debug",
					optarg);
			break;
		case 'h':
			csi_usage(stdout);
			return 0;
		case 'V':
			printf("bucketfs-csi %s\n", PACKAGE_VERSION);
			return 0;
		default:
			csi_usage(stderr);
			return 1;
		}
	}
	if (optind < argc)
		return csi_fail("unexpected argument %s (see bucketfs-csi --help)", argv[optind]);
	if (!endpoint || !*endpoint)
		return csi_fail("%sno endpoint: set CSI_ENDPOINT or --endpoint", "");
	if (!strncmp(endpoint, "unix://", 7))
		endpoint += 7;
	if (!p.node_id) {
		if (gethostname(host, sizeof(host)))
			return csi_fail("cannot learn the host name: %s", strerror(errno));
		host[sizeof(host) - 1] = '\0';
		p.node_id = host;
	}
	if (!p.bucketfs)
		p.bucketfs = own_bucketfs = csi_default_bucketfs(self);
	if (levels_parse(levels, &p.levels, &why))
		return csi_fail("--levels: %s", why ? why : "out of memory");
	log_init(level, true);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (kube_init(&p.kube, kube_api, kube_token, kube_ca, &why))
		return csi_fail("%s", why ? why : "out of memory");
	home = str_printf("%s/home", p.state_dir);
	if (!home || fsutil_mkdir_p(home))
		return csi_fail("cannot create the state directory %s", p.state_dir);
	free(home);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.wake, NULL);

	/* Block the stop signals before any thread starts: sigwait gets them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	plugin_heal_all(&p);
	if (p.n_catalogs && catalog_watch_start(&p))
		return csi_fail("%scannot start the catalog watcher", "");
	if (grpc_server_start(endpoint, plugin_methods, plugin_n_methods, &p, &server, &why))
		return csi_fail("%s", why ? why : "cannot serve gRPC");
	log_notice("csi: %s %s serving on %s (node %s, levels %s)", p.driver_name, PACKAGE_VERSION,
		   endpoint, p.node_id, levels);
	sigwait(&sigs, &sig);
	log_notice("csi: stopping on signal %d; mounts stay up", sig);
	grpc_server_stop(server);
	catalog_watch_stop(&p);
	kube_free(&p.kube);
	levels_free(&p.levels);
	for (size_t i = 0; i < p.n_catalogs; i++) {
		free(p.catalogs[i].name);
		free(p.catalogs[i].location);
	}
	free(p.catalogs);
	free(own_bucketfs);
	curl_global_cleanup();
	return 0;
}
