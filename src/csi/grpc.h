/*
 * A small gRPC server: unary calls over HTTP/2 without TLS (h2c) on a unix
 * socket, which is all a CSI plugin serves. nghttp2 does the HTTP/2; this
 * file does the gRPC framing and status trailers. Every call runs on its own
 * thread, so a slow mount never holds up a Probe.
 */
#ifndef BUCKETFS_CSI_GRPC_H
#define BUCKETFS_CSI_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum grpc_status {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
	GRPC_UNAUTHENTICATED = 16,
};

/* One method: decode req (a serialized message), encode the answer into
 * *resp, return a status; on failure *msg (malloc'd, may stay NULL) says why
 * and goes to the client as grpc-message. */
typedef enum grpc_status (*grpc_handler)(void *ctx, const uint8_t *req, size_t len,
					 struct buf *resp, char **msg);

struct grpc_method {
	const char *path; /* "/csi.v1.Node/NodePublishVolume" */
	grpc_handler fn;
};

struct grpc_server;

/* Listen on the unix socket PATH (a stale socket file is replaced) and serve
 * the methods on background threads; ctx goes to every handler. */
int grpc_server_start(const char *path, const struct grpc_method *methods, size_t n_methods,
		      void *ctx, struct grpc_server **out, char **why);
/* Stop accepting, finish the calls in flight, close the socket. */
void grpc_server_stop(struct grpc_server *s);

/* Percent-encode a grpc-message value (the spec's encoding: bytes outside
 * printable ASCII, and '%', as %XX). */
char *grpc_percent_encode(const char *msg);

#endif
