/*
 * gRPC over h2c on a unix socket. One thread accepts; one thread per
 * connection owns its nghttp2 session (nghttp2 is not thread-safe); each
 * complete request runs its handler on a thread of its own and hands the
 * answer back to the connection thread through a queue and an eventfd.
 */
#include "grpc.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* CSI messages are small; this bounds what a client can make us hold. */
#define GRPC_MAX_MESSAGE (4u << 20)

struct grpc_server {
	int fd;
	int stop_fd; /* eventfd: wakes the accept loop to stop */
	char *path;
	const struct grpc_method *methods;
	size_t n_methods;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned int n_conns; /* connection threads still running */
	bool stopping;
};

struct grpc_conn;

struct grpc_stream {
	int32_t id;
	struct grpc_conn *conn;
	struct buf path;
	struct buf body;
	bool running; /* a handler thread has it */
	bool closed;  /* nghttp2 closed it while the handler ran */
	enum grpc_status status;
	char *msg;
	struct buf resp; /* framed answer: flag, length, message */
	size_t sent;
	struct grpc_stream *next_done;
	struct grpc_stream *prev, *next; /* the connection's streams */
};

struct grpc_conn {
	struct grpc_server *server;
	int fd;
	int wake_fd; /* eventfd: a handler finished */
	nghttp2_session *session;
	pthread_mutex_t lock; /* done list and running count */
	struct grpc_stream *done;
	unsigned int running;
	struct grpc_stream *streams; /* all not yet freed (connection thread) */
	bool eof;		     /* the client is gone: answers are dropped */
};

char *grpc_percent_encode(const char *msg)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(msg);
	char *out = malloc(3 * n + 1), *p = out;

	if (!out)
		return NULL;
	for (const unsigned char *s = (const unsigned char *)msg; *s; s++) {
		if (*s >= 0x20 && *s <= 0x7e && *s != '%') {
			*p++ = (char)*s;
		} else {
			*p++ = '%';
			*p++ = hex[*s >> 4];
			*p++ = hex[*s & 15];
		}
	}
	*p = '\0';
	return out;
}

static void grpc_stream_free(struct grpc_stream *st)
{
	struct grpc_conn *c = st->conn;

	if (st->prev)
		st->prev->next = st->next;
	else
		c->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	buf_free(&st->path);
	buf_free(&st->body);
	buf_free(&st->resp);
	free(st->msg);
	free(st);
}

static const struct grpc_method *grpc_find(const struct grpc_server *s, const char *path)
{
	for (size_t i = 0; i < s->n_methods; i++)
		if (!strcmp(s->methods[i].path, path))
			return &s->methods[i];
	return NULL;
}

/* The body is one length-prefixed message (5-byte header, no compression). */
static enum grpc_status grpc_unframe(const struct buf *body, const uint8_t **msg, size_t *len,
				     char **why)
{
	const uint8_t *b = (const uint8_t *)body->data;
	uint32_t n;

	if (body->len < 5) {
		*why = strdup("request body is not a gRPC message");
		return GRPC_INVALID_ARGUMENT;
	}
	if (b[0]) {
		*why = strdup("compressed requests are not supported");
		return GRPC_UNIMPLEMENTED;
	}
	n = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
	if (n != body->len - 5) {
		*why = strdup("request must be exactly one gRPC message");
		return GRPC_INVALID_ARGUMENT;
	}
	*msg = b + 5;
	*len = n;
	return GRPC_OK;
}

static void *grpc_call_thread(void *arg)
{
	struct grpc_stream *st = arg;
	struct grpc_conn *c = st->conn;
	const struct grpc_method *m = grpc_find(c->server, st->path.data ? st->path.data : "");
	struct buf answer;
	const uint8_t *req = NULL;
	size_t len = 0;
	uint64_t one = 1;

	buf_init(&answer, GRPC_MAX_MESSAGE);
	if (!m) {
		st->status = GRPC_UNIMPLEMENTED;
		st->msg = str_printf("unknown method %s", st->path.data ? st->path.data : "");
	} else {
		st->status = grpc_unframe(&st->body, &req, &len, &st->msg);
		if (st->status == GRPC_OK)
			st->status = m->fn(c->server->ctx, req, len, &answer, &st->msg);
	}
	if (st->status == GRPC_OK) {
		uint8_t hdr[5] = {0, (uint8_t)(answer.len >> 24), (uint8_t)(answer.len >> 16),
				  (uint8_t)(answer.len >> 8), (uint8_t)answer.len};

		if (buf_append(&st->resp, hdr, sizeof(hdr)) ||
		    (answer.len && buf_append(&st->resp, answer.data, answer.len))) {
			st->status = GRPC_RESOURCE_EXHAUSTED;
			free(st->msg);
			st->msg = strdup("answer too large");
		}
	}
	buf_free(&answer);

	pthread_mutex_lock(&c->lock);
	st->next_done = c->done;
	c->done = st;
	pthread_mutex_unlock(&c->lock);
	if (write(c->wake_fd, &one, sizeof(one)) < 0)
		log_err("csi: cannot wake a connection: %s", strerror(errno));
	return NULL;
}

static void grpc_dispatch(struct grpc_conn *c, struct grpc_stream *st)
{
	pthread_attr_t attr;
	pthread_t t;

	st->running = true;
	pthread_mutex_lock(&c->lock);
	c->running++;
	pthread_mutex_unlock(&c->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, grpc_call_thread, st)) {
		/* Answer from here instead: the status path needs no thread. */
		st->status = GRPC_RESOURCE_EXHAUSTED;
		st->msg = strdup("cannot start a thread for the call");
		pthread_mutex_lock(&c->lock);
		st->next_done = c->done;
		c->done = st;
		pthread_mutex_unlock(&c->lock);
		uint64_t one = 1;
		if (write(c->wake_fd, &one, sizeof(one)) < 0)
			log_err("csi: cannot wake a connection: %s", strerror(errno));
	}
	pthread_attr_destroy(&attr);
}

static ssize_t grpc_send_cb(nghttp2_session *session, const uint8_t *data, size_t len, int flags,
			    void *user)
{
	struct grpc_conn *c = user;
	size_t done = 0;

	(void)session;
	(void)flags;
	while (done < len) {
		ssize_t n = send(c->fd, data + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		done += (size_t)n;
	}
	return (ssize_t)len;
}

static int grpc_begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct grpc_stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	st->id = frame->hd.stream_id;
	st->conn = user;
	st->next = st->conn->streams;
	if (st->next)
		st->next->prev = st;
	st->conn->streams = st;
	buf_init(&st->path, 1024);
	buf_init(&st->body, GRPC_MAX_MESSAGE + 5);
	buf_init(&st->resp, GRPC_MAX_MESSAGE + 5);
	nghttp2_session_set_stream_user_data(session, st->id, st);
	return 0;
}

static int grpc_header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
			  size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
			  void *user)
{
	struct grpc_stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);

	(void)flags;
	(void)user;
	if (!st || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (namelen == 5 && !memcmp(name, ":path", 5)) {
		buf_reset(&st->path);
		if (buf_append(&st->path, value, valuelen))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return 0;
}

static int grpc_data_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			const uint8_t *data, size_t len, void *user)
{
	struct grpc_stream *st = nghttp2_session_get_stream_user_data(session, stream_id);

	(void)flags;
	(void)user;
	if (st && !st->running && buf_append(&st->body, data, len))
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id,
					  NGHTTP2_REFUSED_STREAM);
	return 0;
}

static int grpc_frame_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct grpc_stream *st;

	if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (st && !st->running)
		grpc_dispatch(user, st);
	return 0;
}

static int grpc_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t code, void *user)
{
	struct grpc_stream *st = nghttp2_session_get_stream_user_data(session, stream_id);

	(void)code;
	(void)user;
	if (!st)
		return 0;
	nghttp2_session_set_stream_user_data(session, stream_id, NULL);
	if (st->running)
		st->closed = true; /* the handler's thread still has it */
	else
		grpc_stream_free(st);
	return 0;
}

static ssize_t grpc_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *out, size_t len,
			    uint32_t *flags, nghttp2_data_source *source, void *user)
{
	struct grpc_stream *st = source->ptr;
	size_t n = st->resp.len - st->sent;
	const nghttp2_nv ok[] = {
		{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE},
	};

	(void)user;
	if (n > len)
		n = len;
	memcpy(out, st->resp.data + st->sent, n);
	st->sent += n;
	if (st->sent == st->resp.len) {
		/* The status goes in trailers, after the message. */
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(session, stream_id, ok, 1))
			return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return (ssize_t)n;
}

#define GRPC_NV(n, v)                                                                      \
	{                                                                                  \
		(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE \
	}

static void grpc_answer(struct grpc_conn *c, struct grpc_stream *st)
{
	if (st->status == GRPC_OK) {
		const nghttp2_nv hdrs[] = {GRPC_NV(":status", "200"),
					   GRPC_NV("content-type", "application/grpc")};
		nghttp2_data_provider data = {.source.ptr = st, .read_callback = grpc_read_cb};

		nghttp2_submit_response(c->session, st->id, hdrs, 2, &data);
		return;
	}
	/* Trailers-only: one HEADERS frame that ends the stream. */
	char code[12], *msg = grpc_percent_encode(st->msg ? st->msg : "");

	snprintf(code, sizeof(code), "%d", (int)st->status);
	const nghttp2_nv hdrs[] = {
		GRPC_NV(":status", "200"), GRPC_NV("content-type", "application/grpc"),
		GRPC_NV("grpc-status", code), GRPC_NV("grpc-message", msg ? msg : "")};
	nghttp2_submit_response(c->session, st->id, hdrs, 4, NULL);
	free(msg);
}

/* Hand finished calls to nghttp2 (the connection thread only). */
static void grpc_drain_done(struct grpc_conn *c)
{
	struct grpc_stream *list;
	uint64_t n;

	if (read(c->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_err("csi: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&c->lock);
	list = c->done;
	c->done = NULL;
	pthread_mutex_unlock(&c->lock);
	while (list) {
		struct grpc_stream *st = list;

		list = st->next_done;
		pthread_mutex_lock(&c->lock);
		c->running--;
		pthread_mutex_unlock(&c->lock);
		st->running = false;
		if (st->closed || c->eof)
			grpc_stream_free(st);
		else
			grpc_answer(c, st);
	}
}

static void grpc_conn_loop(struct grpc_conn *c)
{
	uint8_t in[16384];
	bool eof = false;

	while (!eof) {
		struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
				      {.fd = c->wake_fd, .events = POLLIN}};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & POLLIN)
			grpc_drain_done(c);
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(c->fd, in, sizeof(in), 0);

			if (n <= 0 && !(n < 0 && errno == EINTR)) {
				eof = true;
			} else if (n > 0 &&
				   nghttp2_session_mem_recv(c->session, in, (size_t)n) < 0) {
				eof = true;
			}
		}
		if (!eof && nghttp2_session_send(c->session))
			eof = true;
		if (!eof && !nghttp2_session_want_read(c->session) &&
		    !nghttp2_session_want_write(c->session))
			eof = true;
	}
}

static void *grpc_conn_thread(void *arg)
{
	struct grpc_conn *c = arg;
	struct grpc_server *s = c->server;
	nghttp2_session_callbacks *cbs;
	nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};

	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_send_callback(cbs, grpc_send_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, grpc_begin_headers_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, grpc_header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, grpc_data_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, grpc_frame_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, grpc_close_cb);
	if (!nghttp2_session_server_new(&c->session, cbs, c)) {
		nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 1);
		grpc_conn_loop(c);
		/* Wait for handlers still running, then free what they return
		 * and every stream left open. */
		c->eof = true;
		pthread_mutex_lock(&c->lock);
		while (c->running) {
			pthread_mutex_unlock(&c->lock);
			struct pollfd p = {.fd = c->wake_fd, .events = POLLIN};
			if (poll(&p, 1, 1000) > 0)
				grpc_drain_done(c);
			pthread_mutex_lock(&c->lock);
		}
		pthread_mutex_unlock(&c->lock);
		while (c->streams)
			grpc_stream_free(c->streams);
		nghttp2_session_del(c->session);
	}
	nghttp2_session_callbacks_del(cbs);
	close(c->fd);
	close(c->wake_fd);
	pthread_mutex_destroy(&c->lock);
	free(c);

	pthread_mutex_lock(&s->lock);
	s->n_conns--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void grpc_accept(struct grpc_server *s)
{
	pthread_attr_t attr;
	pthread_t t;
	struct grpc_conn *c;
	int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c || (c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		free(c);
		close(fd);
		return;
	}
	c->server = s;
	c->fd = fd;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_lock(&s->lock);
	s->n_conns++;
	pthread_mutex_unlock(&s->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, grpc_conn_thread, c)) {
		close(fd);
		close(c->wake_fd);
		free(c);
		pthread_mutex_lock(&s->lock);
		s->n_conns--;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_attr_destroy(&attr);
}

static void *grpc_accept_thread(void *arg)
{
	struct grpc_server *s = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
				      {.fd = s->stop_fd, .events = POLLIN}};

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			grpc_accept(s);
	}
	return NULL;
}

int grpc_server_start(const char *path, const struct grpc_method *methods, size_t n_methods,
		      void *ctx, struct grpc_server **out, char **why)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct grpc_server *s;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		*why = str_printf("socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return -ENOMEM;
	}
	s->fd = s->stop_fd = -1;
	s->methods = methods;
	s->n_methods = n_methods;
	s->ctx = ctx;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* A socket left by an earlier run: nobody can be listening on it,
	 * since the plugin is the only server of its endpoint. */
	unlink(path);
	if (s->fd < 0 || s->stop_fd < 0 || bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(path, 0660) || listen(s->fd, 64)) {
		int e = errno;

		*why = str_printf("cannot listen on %s: %s", path, strerror(e));
		grpc_server_stop(s);
		return -e;
	}
	if (pthread_create(&s->thread, NULL, grpc_accept_thread, s)) {
		*why = strdup("cannot start the accept thread");
		s->thread = 0;
		grpc_server_stop(s);
		return -EAGAIN;
	}
	*out = s;
	return 0;
}

void grpc_server_stop(struct grpc_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	if (s->thread) {
		if (write(s->stop_fd, &one, sizeof(one)) < 0)
			log_err("csi: cannot stop the accept thread: %s", strerror(errno));
		pthread_join(s->thread, NULL);
	}
	/* Connection threads end when their clients hang up. */
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);
	pthread_mutex_lock(&s->lock);
	while (s->n_conns) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += 1;
		if (pthread_cond_timedwait(&s->idle, &s->lock, &t) == ETIMEDOUT)
			break; /* a client that never hangs up does not hold us */
	}
	/* Connection threads still running keep s: leave it to process exit. */
	bool in_use = s->n_conns > 0;
	pthread_mutex_unlock(&s->lock);
	if (in_use)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	unlink(s->path);
	free(s->path);
	free(s);
}
