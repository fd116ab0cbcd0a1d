/*
 * A TCP delay line for the benchmark: forwards each connection to an
 * upstream, holding every chunk read for DELAY ms in each direction before
 * writing it on, without limiting throughput. It turns a loopback server
 * into one a cloud round trip away (these kernels have no tc netem).
 *
 *   delayline --listen 127.0.0.1:0 --upstream 127.0.0.1:4568 --delay-ms 10
 *
 * Prints "ready PORT" once listening. One thread and epoll: the relay's own
 * CPU is charged to every tool alike, and on a 2-core machine it should be
 * small (the Python one it replaces cost 0.9 s of CPU per GiB relayed).
 *
 * Each direction of a connection is a queue of chunks, each due DELAY after
 * it was read. A direction stops reading while QUEUE_MAX bytes wait (far
 * above a round trip's worth at loopback speed), and writes when its head
 * is due and the socket takes it. End of stream is queued like data, so a
 * half-close arrives DELAY late too. Any error closes the connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_MAX (256u << 10)
#define QUEUE_MAX (64u << 20)

struct chunk {
	struct chunk *next;
	int64_t due; /* ns, CLOCK_MONOTONIC */
	size_t len, off;
	bool eof;
	char data[];
};

/* One direction: from one socket to the other. */
struct flow {
	struct chunk *head, *tail;
	size_t queued;
	bool read_done; /* end of stream read (and queued) */
	bool write_done;
};

/* An end of a connection: its socket, and the flow that reads it. */
struct end {
	struct conn *conn;
	int fd;
	struct flow in; /* read from fd, written to the other end */
	uint32_t events;
};

struct conn {
	struct conn *prev, *next;
	struct end end[2];
	bool dead; /* closed after this round of events */
};

static int ep;
static struct conn *conns;
static int64_t delay_ns;
static char buf[CHUNK_MAX];

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void conn_close(struct conn *c)
{
	for (int i = 0; i < 2; i++) {
		struct chunk *k = c->end[i].in.head;

		while (k) {
			struct chunk *next = k->next;

			free(k);
			k = next;
		}
		close(c->end[i].fd); /* also leaves the epoll set */
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* Ask epoll for reads while the flow out of e has room, and for writes
 * while the flow into e has a due chunk the socket refused. */
static void end_watch(struct end *e, bool want_out)
{
	uint32_t ev = 0;

	if (!e->in.read_done && e->in.queued < QUEUE_MAX)
		ev |= EPOLLIN;
	if (want_out)
		ev |= EPOLLOUT;
	if (ev != e->events) {
		struct epoll_event ee = {.events = ev, .data.ptr = e};
		int op = !ev ? EPOLL_CTL_DEL : !e->events ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

		/* Out of the set when idle: a hung-up socket would wake us on
		 * and on. */
		epoll_ctl(ep, op, e->fd, &ee);
		e->events = ev;
	}
}

/* Read what e's socket has into its flow. False: the connection is gone. */
static bool end_read(struct end *e)
{
	ssize_t n = read(e->fd, buf, sizeof(buf));
	struct chunk *k;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	k = malloc(sizeof(*k) + (size_t)n);
	if (!k)
		return false;
	*k = (struct chunk){.due = now_ns() + delay_ns, .len = (size_t)n, .eof = !n};
	memcpy(k->data, buf, (size_t)n);
	if (e->in.tail)
		e->in.tail->next = k;
	else
		e->in.head = k;
	e->in.tail = k;
	e->in.queued += (size_t)n;
	e->in.read_done = !n;
	return true;
}

/*
 * Write the due chunks of flow f into socket fd. Returns false if the
 * connection is gone; *blocked when the socket took less than was due.
 */
static bool flow_write(struct flow *f, int fd, int64_t now, bool *blocked)
{
	*blocked = false;
	while (f->head && f->head->due <= now) {
		struct chunk *k = f->head;

		if (k->eof) {
			shutdown(fd, SHUT_WR);
			f->write_done = true;
		} else {
			ssize_t n = write(fd, k->data + k->off, k->len - k->off);

			if (n < 0) {
				*blocked = errno == EAGAIN;
				return errno == EAGAIN || errno == EINTR;
			}
			k->off += (size_t)n;
			f->queued -= (size_t)n;
			if (k->off < k->len) {
				*blocked = true;
				return true;
			}
		}
		f->head = k->next;
		if (!f->head)
			f->tail = NULL;
		free(k);
	}
	return true;
}

/* Move c's due data along; returns the next time it has something due,
 * or INT64_MAX. Closes c once both directions have ended. */
static int64_t conn_run(struct conn *c, int64_t now)
{
	int64_t next = INT64_MAX;
	bool blocked[2];

	if (c->dead) {
		conn_close(c);
		return INT64_MAX;
	}
	for (int i = 0; i < 2; i++) {
		struct flow *f = &c->end[i].in;

		if (!flow_write(f, c->end[!i].fd, now, &blocked[i])) {
			conn_close(c);
			return INT64_MAX;
		}
		if (f->head && !blocked[i] && f->head->due < next)
			next = f->head->due;
	}
	if (c->end[0].in.write_done && c->end[1].in.write_done) {
		conn_close(c);
		return INT64_MAX;
	}
	for (int i = 0; i < 2; i++)
		end_watch(&c->end[i], blocked[!i]);
	return next;
}

static void conn_accept(int lfd, const struct sockaddr_in *up)
{
	int one = 1, fds[2];
	struct conn *c;

	fds[0] = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fds[0] < 0)
		return;
	fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* A loopback connect is immediate; blocking keeps this simple. */
	if (fds[1] < 0 || connect(fds[1], (const struct sockaddr *)up, sizeof(*up)) ||
	    !(c = calloc(1, sizeof(*c)))) {
		close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		return;
	}
	for (int i = 0; i < 2; i++) {
		struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &c->end[i]};

		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (i == 1)
			fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
		c->end[i] = (struct end){.conn = c, .fd = fds[i], .events = EPOLLIN};
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ee);
	}
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
}

int main(int argc, char **argv)
{
	struct sockaddr_in listen_at, up;
	socklen_t len = sizeof(listen_at);
	const char *listen_s = NULL, *up_s = NULL;
	double delay_ms = 10;
	struct epoll_event ee;
	int lfd, one = 1;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--listen"))
			listen_s = argv[i + 1];
		else if (!strcmp(argv[i], "--upstream"))
			up_s = argv[i + 1];
		else if (!strcmp(argv[i], "--delay-ms"))
			delay_ms = strtod(argv[i + 1], NULL);
	}
	if (!listen_s || !up_s || parse_addr(listen_s, &listen_at) || parse_addr(up_s, &up)) {
		fprintf(stderr, "usage: delayline --listen HOST:PORT --upstream HOST:PORT "
				"[--delay-ms N]\n");
		return 2;
	}
	delay_ns = (int64_t)(delay_ms * 1e6);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&listen_at, sizeof(listen_at)) ||
	    listen(lfd, 128) || getsockname(lfd, (struct sockaddr *)&listen_at, &len)) {
		perror("delayline: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ee = (struct epoll_event){.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ee);
	printf("ready %u\n", ntohs(listen_at.sin_port));
	fflush(stdout);

	for (int64_t next = INT64_MAX;;) {
		struct epoll_event evs[64];
		int64_t now = now_ns(), wait = next <= now ? 0 : next - now;
		struct timespec ts = {wait / 1000000000, wait % 1000000000};
		int n;

		n = epoll_pwait2(ep, evs, 64, next == INT64_MAX ? NULL : &ts, NULL);
		for (int i = 0; i < n; i++) {
			struct end *e = evs[i].data.ptr;

			if (!e) {
				conn_accept(lfd, &up);
				continue;
			}
			if (!e->conn->dead && !e->in.read_done &&
			    (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !end_read(e))
				e->conn->dead = true;
		}
		now = now_ns();
		next = INT64_MAX;
		for (struct conn *c = conns, *cn; c; c = cn) {
			int64_t t;

			cn = c->next;
			t = conn_run(c, now);
			if (t < next)
				next = t;
		}
	}
}
