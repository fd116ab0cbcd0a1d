/*
 * The counters, their text forms, and a minimal HTTP endpoint for
 * Prometheus: one thread, one connection at a time, any request answered
 * with the metrics (scrapes are rare and small).
 */
#include "metrics.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

struct metrics metrics;

static const char *const method_names[M_METHODS] = {"GET",  "HEAD",   "PUT",
						    "POST", "DELETE", "OTHER"};

static uint64_t get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

enum metrics_method metrics_method_of(const char *method)
{
	for (int i = 0; i < M_OTHER; i++)
		if (!strcmp(method, method_names[i]))
			return i;
	return M_OTHER;
}

int metrics_format(struct buf *out)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} simple[] = {
#define M(f, n, h) {n, h, offsetof(struct metrics, f)}
		M(retries, "bucketfs_retries_total", "Requests sent again after a failure."),
		M(errors, "bucketfs_errors_total", "Requests that failed after their retries."),
		M(bytes_down, "bucketfs_received_bytes_total", "Bytes received from the store."),
		M(bytes_up, "bucketfs_sent_bytes_total", "Bytes sent to the store."),
		M(cache_hits, "bucketfs_cache_hits_total", "Block reads served from the cache."),
		M(cache_misses, "bucketfs_cache_misses_total",
		  "Block reads that went to the store."),
		M(cache_disk_hits, "bucketfs_cache_disk_hits_total",
		  "Block reads served from the disk tier."),
		M(prefetched_blocks, "bucketfs_prefetched_blocks_total", "Blocks read ahead."),
		M(uploads, "bucketfs_uploads_total", "Files uploaded."),
		M(upload_failures, "bucketfs_upload_failures_total", "File uploads that failed."),
#undef M
	};
	int rc;

	rc = buf_puts(out, "# HELP bucketfs_requests_total Requests sent to the store.\n"
			   "# TYPE bucketfs_requests_total counter\n");
	for (int i = 0; i < M_METHODS && !rc; i++)
		rc = buf_printf(out, "bucketfs_requests_total{method=\"%s\"} %llu\n",
				method_names[i], (unsigned long long)get(&metrics.requests[i]));
	for (size_t i = 0; i < sizeof(simple) / sizeof(*simple) && !rc; i++)
		rc = buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", simple[i].name,
				simple[i].help, simple[i].name, simple[i].name,
				(unsigned long long)get((const uint64_t *)((const char *)&metrics +
									   simple[i].off)));
	return rc;
}

int metrics_summary(struct buf *out)
{
	uint64_t req = 0;

	for (int i = 0; i < M_METHODS; i++)
		req += get(&metrics.requests[i]);
	return buf_printf(
		out,
		"%llu requests (%llu GET, %llu PUT), %llu retries, %llu errors, "
		"%llu MiB down, %llu MiB up, cache %llu hits %llu misses %llu from disk, "
		"%llu files uploaded, %llu failed",
		(unsigned long long)req, (unsigned long long)get(&metrics.requests[M_GET]),
		(unsigned long long)get(&metrics.requests[M_PUT]),
		(unsigned long long)get(&metrics.retries), (unsigned long long)get(&metrics.errors),
		(unsigned long long)(get(&metrics.bytes_down) >> 20),
		(unsigned long long)(get(&metrics.bytes_up) >> 20),
		(unsigned long long)get(&metrics.cache_hits),
		(unsigned long long)get(&metrics.cache_misses),
		(unsigned long long)get(&metrics.cache_disk_hits),
		(unsigned long long)get(&metrics.uploads),
		(unsigned long long)get(&metrics.upload_failures));
}

static int listen_fd = -1;
static pthread_t server_thread;
static bool server_started;

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		char req[4096];
		struct buf body, head;
		int fd = accept(listen_fd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL; /* closed by metrics_stop() */
		}
		/* The request itself does not matter: every path is the metrics. */
		if (read(fd, req, sizeof(req)) < 0) {
			close(fd);
			continue;
		}
		buf_init(&body, 1 << 20);
		buf_init(&head, 1024);
		if (!metrics_format(&body) &&
		    !buf_printf(&head,
				"HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
				"Content-Length: %zu\r\nConnection: close\r\n\r\n",
				body.len) &&
		    write(fd, head.data, head.len) == (ssize_t)head.len && body.len &&
		    write(fd, body.data, body.len) != (ssize_t)body.len)
			log_debug("metrics: short write");
		buf_free(&body);
		buf_free(&head);
		close(fd);
	}
}

int metrics_serve(const char *addr, char **why)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char host[256];
	const char *colon = strrchr(addr, ':');
	int one = 1, rc;

	if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host) || !colon[1]) {
		if (asprintf(why, "metrics=%s: expected HOST:PORT", addr) < 0)
			*why = NULL;
		return -EINVAL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc) {
		if (asprintf(why, "metrics=%s: %s", addr, gai_strerror(rc)) < 0)
			*why = NULL;
		return -EINVAL;
	}
	listen_fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(listen_fd, res->ai_addr, res->ai_addrlen) || listen(listen_fd, 16)) {
		rc = -errno;
		if (asprintf(why, "metrics=%s: %s", addr, strerror(errno)) < 0)
			*why = NULL;
		if (listen_fd >= 0)
			close(listen_fd);
		listen_fd = -1;
		freeaddrinfo(res);
		return rc;
	}
	freeaddrinfo(res);
	return 0;
}

int metrics_start_thread(void)
{
	if (listen_fd < 0 || server_started)
		return 0;
	if (pthread_create(&server_thread, NULL, serve, NULL))
		return -EAGAIN;
	server_started = true;
	return 0;
}

void metrics_stop(void)
{
	if (listen_fd < 0)
		return;
	shutdown(listen_fd, SHUT_RDWR); /* wakes the thread's accept() */
	if (server_started)
		pthread_join(server_thread, NULL);
	close(listen_fd);
	listen_fd = -1;
	server_started = false;
}
