/*
 * Every operation of the Azure store against a live Blob endpoint (azurite):
 *
 *   azure_store_check [-v] ENDPOINT ACCOUNT KEY
 *
 * e.g. http://127.0.0.1:10000/devstoreaccount1 devstoreaccount1 Eby8...==.
 * It creates two containers of its own (one private, one public), runs the
 * whole suite through a Shared Key store and again through a SAS store,
 * reads the public container anonymously, checks the probe's messages for
 * a wrong key, a bad SAS, a missing container and an unreachable port, then
 * deletes its containers. Prints each failed check and exits 1 if any
 * failed. Container create/delete are not store operations: they are sent
 * here through the HTTP layer, signed with azure_sharedkey_authorization.
 */
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "azure.h"
#include "azure_auth.h"
#include "azure_xml.h"
#include "http.h"
#include "log.h"
#include "uri.h"

static int failures, checks;
static const char *suite = "";

#define CHECK(cond, ...)                                                                    \
	do {                                                                                \
		checks++;                                                                   \
		if (!(cond)) {                                                              \
			failures++;                                                         \
			fprintf(stderr, "FAIL [%s] %s:%d: %s: ", suite, __FILE__, __LINE__, \
				#cond);                                                     \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
		}                                                                           \
	} while (0)

#define CHECK_RC(expr, want)                                                     \
	do {                                                                     \
		int rc_ = (expr);                                                \
		CHECK(rc_ == (want), "%s returned %d (%s), want %d", #expr, rc_, \
		      strerror(rc_ < 0 ? -rc_ : rc_), (want));                   \
	} while (0)

static const char *endpoint, *account, *key;
static struct http_conf hconf = {.retries = 2, .connect_timeout = 5, .request_timeout = 30};

/* ---- container administration, outside the store interface ---- */

struct admin_call {
	const char *method, *path, *query;
	const struct azure_header *extra;
	size_t n_extra;
};

static int admin_headers(void *ctx, struct curl_slist **headers)
{
	struct admin_call *a = ctx;
	struct azure_header h[8];
	struct azure_request r;
	struct buf auth, line;
	char date[30];
	size_t n = 0;
	int rc;

	azure_format_rfc1123(time(NULL), date);
	for (size_t i = 0; i < a->n_extra; i++)
		h[n++] = a->extra[i];
	h[n++] = (struct azure_header){"x-ms-date", date};
	h[n++] = (struct azure_header){"x-ms-version", AZURE_API_VERSION};
	r = (struct azure_request){a->method, a->path, a->query, h, n};
	buf_init(&auth, 4096);
	buf_init(&line, 4096);
	rc = azure_sharedkey_authorization(&r, account, key, &auth);
	for (size_t i = 0; i < n && !rc; i++) {
		buf_reset(&line);
		rc = buf_printf(&line, "%s: %s", h[i].name, h[i].value);
		if (!rc)
			*headers = curl_slist_append(*headers, line.data);
	}
	if (!rc) {
		buf_reset(&line);
		rc = buf_printf(&line, "Authorization: %s", auth.data);
		if (!rc)
			*headers = curl_slist_append(*headers, line.data);
	}
	buf_free(&auth);
	buf_free(&line);
	return rc;
}

/* Create (PUT) or delete (DELETE) a container; public: anonymous reads. */
static long admin_container(const char *method, const char *name, bool public)
{
	static const struct azure_header pub[] = {{"x-ms-blob-public-access", "container"}};
	struct http *h = http_create(&hconf);
	struct http_mem empty = {"", 0};
	struct http_response resp;
	struct admin_call a = {method, NULL, "restype=container", public ? pub : NULL,
			       public ? 1u : 0u};
	struct http_request req = {
		.method = method, .build_headers = admin_headers, .ctx = &a, .retries = 0};
	const char *p = strstr(endpoint, "://");
	struct buf path, url;
	long status = -1;

	p = p ? strchr(p + 3, '/') : NULL;
	buf_init(&path, 4096);
	buf_init(&url, 4096);
	buf_printf(&path, "%s/%s", p ? p : "", name);
	buf_printf(&url, "%.*s%s?restype=container",
		   (int)(p ? p - endpoint : (long)strlen(endpoint)), endpoint, path.data);
	a.path = path.data;
	req.url = url.data;
	if (!strcmp(method, "PUT")) {
		req.has_body = true;
		req.read_body = http_mem_read;
		req.body_ctx = &empty;
	}
	if (h && !http_execute(h, &req, &resp)) {
		status = resp.status;
		if (status >= 300)
			fprintf(stderr, "%s container %s: HTTP %ld %s\n", method, name, status,
				resp.body.data ? resp.body.data : "");
		http_response_free(&resp);
	}
	http_destroy(h);
	buf_free(&path);
	buf_free(&url);
	return status;
}

/* ---- helpers ---- */

static void fill(char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)((i * 131 + seed * 7 + (i >> 8)) & 0xff);
}

struct chunks {
	const char *data;
	size_t len;
	unsigned int reads; /* how often the reader was called */
};

/* A reader with no relation to the buffer layout of the HTTP layer. */
static ssize_t chunk_read(void *ctx, void *dst, size_t len, uint64_t off)
{
	struct chunks *c = ctx;

	c->reads++;
	if (off >= c->len)
		return 0;
	if (len > c->len - off)
		len = c->len - off;
	if (len > 7000)
		len = 7000;
	memcpy(dst, c->data + off, len);
	return (ssize_t)len;
}

static int put_bytes(struct store *s, const char *k, const struct store_meta *m, const char *data,
		     size_t len)
{
	struct chunks c = {data, len, 0};

	return s->ops->put(s, k, m, chunk_read, &c, len);
}

/* Read all of k (at most cap bytes) into a new buffer. */
static char *get_all(struct store *s, const char *k, size_t cap, size_t *got, int *rc)
{
	char *buf = malloc(cap ? cap : 1);

	*rc = store_get(s, k, 0, buf, cap, got, NULL);
	return buf;
}

static bool meta_eq(const struct store_meta *a, const struct store_meta *b)
{
	return a->has_mode == b->has_mode && (!a->has_mode || a->mode == b->mode) &&
	       a->has_uid == b->has_uid && (!a->has_uid || a->uid == b->uid) &&
	       a->has_gid == b->has_gid && (!a->has_gid || a->gid == b->gid) &&
	       a->has_mtime == b->has_mtime &&
	       (!a->has_mtime || a->mtime.tv_sec == b->mtime.tv_sec);
}

static struct store *make_store(const char *container, const char *k, const char *sas,
				const char *ep)
{
	struct azure_conf c = {.account = account,
			       .container = container,
			       .endpoint = ep ? ep : endpoint,
			       .key = k,
			       .sas = sas,
			       .http = hconf};
	char *why = NULL;
	struct store *s = azure_store_create(&c, &why);

	if (!s) {
		fprintf(stderr, "azure_store_create(%s): %s\n", container, why ? why : "?");
		failures++;
	}
	free(why);
	return s;
}

/* ---- the suite, run once per kind of authorization ---- */

static void check_put_head_get(struct store *s)
{
	struct store_meta m = {.has_mode = true,
			       .mode = S_IFREG | 0640,
			       .has_uid = true,
			       .uid = 1000,
			       .has_gid = true,
			       .gid = 100,
			       .has_mtime = true,
			       .mtime = {1700000000, 0}};
	static char data[100000], buf[3][4096];
	struct store_obj o, o2;
	struct iovec iov[3] = {{buf[0], 10}, {buf[1], 1000}, {buf[2], 2345}};
	char one[16];
	size_t got;
	time_t now = time(NULL);
	char *all;
	int rc;

	fill(data, sizeof(data), 1);
	CHECK_RC(put_bytes(s, "dir/file.bin", &m, data, sizeof(data)), 0);
	CHECK_RC(s->ops->head(s, "dir/file.bin", &o), 0);
	CHECK(o.size == sizeof(data), "size %llu", (unsigned long long)o.size);
	CHECK(o.etag[0] == '"' && strlen(o.etag) > 2, "etag '%s'", o.etag);
	CHECK(o.last_modified > now - 3600 && o.last_modified < now + 3600, "last_modified %lld",
	      (long long)o.last_modified);
	CHECK(meta_eq(&o.meta, &m), "meta mode %o uid %u gid %u mtime %lld (has %d%d%d%d)",
	      (unsigned int)o.meta.mode, (unsigned int)o.meta.uid, (unsigned int)o.meta.gid,
	      (long long)o.meta.mtime.tv_sec, o.meta.has_mode, o.meta.has_uid, o.meta.has_gid,
	      o.meta.has_mtime);

	all = get_all(s, "dir/file.bin", sizeof(data) + 10, &got, &rc);
	CHECK(rc == 0 && got == sizeof(data) && !memcmp(all, data, sizeof(data)),
	      "whole get rc %d got %zu", rc, got);
	free(all);

	/* One ranged GET scattered over three buffers. */
	memset(buf, 0, sizeof(buf));
	CHECK_RC(s->ops->get(s, "dir/file.bin", 5000, iov, 3, &got, o.etag), 0);
	CHECK(got == 10 + 1000 + 2345, "got %zu", got);
	CHECK(!memcmp(buf[0], data + 5000, 10) && !memcmp(buf[1], data + 5010, 1000) &&
		      !memcmp(buf[2], data + 6010, 2345),
	      "scattered bytes differ");
	/* Short at the end, nothing past it. */
	CHECK_RC(s->ops->get(s, "dir/file.bin", sizeof(data) - 100, iov, 3, &got, NULL), 0);
	CHECK(got == 100 && !memcmp(buf[0], data + sizeof(data) - 100, 10) &&
		      !memcmp(buf[1], data + sizeof(data) - 90, 90),
	      "tail got %zu", got);
	CHECK_RC(store_get(s, "dir/file.bin", sizeof(data), one, sizeof(one), &got, NULL), 0);
	CHECK(got == 0, "past end got %zu", got);
	CHECK_RC(store_get(s, "dir/file.bin", sizeof(data) + 5000, one, sizeof(one), &got, NULL),
		 0);
	CHECK(got == 0, "far past end got %zu", got);

	/* If-Match: a foreign ETag, then the old one after a rewrite. */
	CHECK_RC(store_get(s, "dir/file.bin", 0, one, sizeof(one), &got, "\"0x8D000000000000\""),
		 -ESTALE);
	CHECK(got == 0, "stale got %zu", got);
	data[0] ^= 1;
	CHECK_RC(put_bytes(s, "dir/file.bin", &m, data, sizeof(data)), 0);
	CHECK_RC(store_get(s, "dir/file.bin", 0, one, sizeof(one), &got, o.etag), -ESTALE);
	CHECK_RC(s->ops->head(s, "dir/file.bin", &o2), 0);
	CHECK(strcmp(o.etag, o2.etag) != 0, "etag unchanged by rewrite: %s", o2.etag);
	CHECK_RC(store_get(s, "dir/file.bin", 0, one, sizeof(one), &got, o2.etag), 0);
	CHECK(got == sizeof(one) && one[0] == data[0], "got %zu after rewrite", got);

	/* Absent objects. */
	CHECK_RC(s->ops->head(s, "dir/nothing", &o), -ENOENT);
	CHECK_RC(store_get(s, "dir/nothing", 0, one, sizeof(one), &got, NULL), -ENOENT);
	/* Azure answers 404; azurite 412, as RFC 9110 has it for a resource
	 * that does not exist: -ESTALE, after which the cache's HEAD says
	 * -ENOENT. */
	{
		int rc2 = store_get(s, "dir/nothing", 0, one, sizeof(one), &got, o2.etag);

		CHECK(rc2 == -ENOENT || rc2 == -ESTALE, "get absent with If-Match: %d", rc2);
	}

	/* Empty objects: a file and a directory marker without metadata. */
	CHECK_RC(put_bytes(s, "dir/empty", NULL, "", 0), 0);
	CHECK_RC(s->ops->head(s, "dir/empty", &o), 0);
	CHECK(o.size == 0 && !o.meta.has_mode && !o.meta.has_mtime, "empty: size %llu",
	      (unsigned long long)o.size);
	CHECK_RC(store_get(s, "dir/empty", 0, one, sizeof(one), &got, o.etag), 0);
	CHECK(got == 0, "empty got %zu", got);
	m.mode = S_IFDIR | 0755;
	m.has_uid = m.has_gid = false;
	CHECK_RC(put_bytes(s, "dir/sub/", &m, "", 0), 0);
	CHECK_RC(s->ops->head(s, "dir/sub/", &o), 0);
	CHECK(o.size == 0 && o.meta.has_mode && o.meta.mode == (S_IFDIR | 0755) && !o.meta.has_uid,
	      "dir marker: mode %o", (unsigned int)o.meta.mode);
}

/* Page through a listing max_keys at a time; counts what it saw. */
static void list_all(struct store *s, const char *prefix, const char *delim, unsigned int max,
		     size_t *n_obj, size_t *n_pre, size_t *n_pages, char seen[][64], size_t nseen)
{
	char *token = NULL;
	size_t k = 0;

	*n_obj = *n_pre = *n_pages = 0;
	do {
		struct store_list l;
		int rc = s->ops->list(s, prefix, delim, token, max, &l);

		free(token);
		token = NULL;
		CHECK(rc == 0, "list page %zu: %d", *n_pages, rc);
		if (rc)
			return;
		(*n_pages)++;
		CHECK(!max || l.n_objects + l.n_prefixes <= max, "page of %zu+%zu > %u",
		      l.n_objects, l.n_prefixes, max);
		for (size_t i = 0; i < l.n_objects; i++) {
			struct store_obj o;

			CHECK(!strncmp(l.objects[i].key, prefix, strlen(prefix)), "key %s",
			      l.objects[i].key);
			/* Size and ETag agree with Get Blob Properties. */
			if (s->ops->head(s, l.objects[i].key, &o) == 0)
				CHECK(o.size == l.objects[i].size &&
					      !strcmp(o.etag, l.objects[i].etag) &&
					      l.objects[i].last_modified > 0,
				      "listed %s: size %llu etag %s, head %llu %s",
				      l.objects[i].key, (unsigned long long)l.objects[i].size,
				      l.objects[i].etag, (unsigned long long)o.size, o.etag);
			if (k < nseen)
				snprintf(seen[k++], 64, "%s", l.objects[i].key);
		}
		for (size_t i = 0; i < l.n_prefixes; i++) {
			size_t n = strlen(l.prefixes[i]);

			CHECK(n && delim && l.prefixes[i][n - 1] == delim[0], "prefix %s",
			      l.prefixes[i]);
			if (k < nseen)
				snprintf(seen[k++], 64, "%s", l.prefixes[i]);
		}
		*n_obj += l.n_objects;
		*n_pre += l.n_prefixes;
		if (l.next_token)
			token = strdup(l.next_token);
		store_list_free(&l);
	} while (token && *n_pages < 100);
	free(token);
}

static bool seen_has(char seen[][64], size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(seen[i], what))
			return true;
	return false;
}

static void check_list(struct store *s)
{
	char seen[32][64];
	size_t n_obj, n_pre, n_pages;
	char name[32];

	memset(seen, 0, sizeof(seen));
	for (int i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "ls/k%d", i);
		CHECK_RC(put_bytes(s, name, NULL, name, strlen(name)), 0);
	}
	CHECK_RC(put_bytes(s, "ls/sub/x", NULL, "x", 1), 0);
	CHECK_RC(put_bytes(s, "ls/sub2/y", NULL, "y", 1), 0);
	CHECK_RC(put_bytes(s, "lsx", NULL, "z", 1), 0);

	list_all(s, "ls/", "/", 2, &n_obj, &n_pre, &n_pages, seen, 32);
	CHECK(n_obj == 5 && n_pre == 2, "delimited: %zu objects, %zu prefixes", n_obj, n_pre);
	CHECK(n_pages >= 4, "delimited in pages of 2: %zu pages", n_pages);
	CHECK(seen_has(seen, 32, "ls/k1") && seen_has(seen, 32, "ls/k5") &&
		      seen_has(seen, 32, "ls/sub/") && seen_has(seen, 32, "ls/sub2/"),
	      "entries missing");

	list_all(s, "ls/", NULL, 2, &n_obj, &n_pre, &n_pages, seen, 32);
	CHECK(n_obj == 7 && n_pre == 0 && n_pages == 4,
	      "flat: %zu objects, %zu prefixes, %zu pages", n_obj, n_pre, n_pages);
	list_all(s, "ls/", "/", 0, &n_obj, &n_pre, &n_pages, seen, 32);
	CHECK(n_obj == 5 && n_pre == 2 && n_pages == 1, "default page: %zu %zu %zu", n_obj, n_pre,
	      n_pages);
	list_all(s, "nothing-here/", "/", 0, &n_obj, &n_pre, &n_pages, seen, 32);
	CHECK(n_obj == 0 && n_pre == 0 && n_pages == 1, "empty listing: %zu %zu", n_obj, n_pre);
	list_all(s, "", "/", 0, &n_obj, &n_pre, &n_pages, seen, 32);
	CHECK(seen_has(seen, 32, "ls/") && seen_has(seen, 32, "lsx") && seen_has(seen, 32, "dir/"),
	      "root listing");
}

static void check_copy(struct store *s)
{
	struct store_meta m = {.has_mode = true,
			       .mode = S_IFREG | 0644,
			       .has_uid = true,
			       .uid = 42,
			       .has_gid = true,
			       .gid = 43,
			       .has_mtime = true,
			       .mtime = {1600000000, 0}};
	struct store_meta m2 = {
		.has_mode = true, .mode = S_IFREG | 0600, .has_uid = true, .uid = 7};
	struct store_meta none = {0};
	char data[3000];
	struct store_obj o;
	size_t got;
	char *all;
	int rc;

	fill(data, sizeof(data), 3);
	CHECK_RC(put_bytes(s, "cp/src", &m, data, sizeof(data)), 0);

	CHECK_RC(s->ops->copy(s, "cp/src", "cp/keep", NULL), 0);
	CHECK_RC(s->ops->head(s, "cp/keep", &o), 0);
	CHECK(meta_eq(&o.meta, &m) && o.size == sizeof(data), "copy kept meta: mode %o uid %u",
	      (unsigned int)o.meta.mode, (unsigned int)o.meta.uid);
	all = get_all(s, "cp/keep", sizeof(data), &got, &rc);
	CHECK(!rc && got == sizeof(data) && !memcmp(all, data, got), "copy content");
	free(all);

	CHECK_RC(s->ops->copy(s, "cp/src", "cp/repl", &m2), 0);
	CHECK_RC(s->ops->head(s, "cp/repl", &o), 0);
	CHECK(meta_eq(&o.meta, &m2), "copy replaced meta: mode %o uid %u has gid %d mtime %d",
	      (unsigned int)o.meta.mode, (unsigned int)o.meta.uid, o.meta.has_gid,
	      o.meta.has_mtime);
	all = get_all(s, "cp/repl", sizeof(data), &got, &rc);
	CHECK(!rc && got == sizeof(data) && !memcmp(all, data, got), "copy content");
	free(all);

	CHECK_RC(s->ops->copy(s, "cp/src", "cp/none", &none), 0);
	CHECK_RC(s->ops->head(s, "cp/none", &o), 0);
	CHECK(meta_eq(&o.meta, &none), "copy with empty meta kept some: mode %o",
	      (unsigned int)o.meta.mode);

	/* Onto itself: metadata rewritten in place, data untouched. */
	CHECK_RC(s->ops->copy(s, "cp/src", "cp/src", &m2), 0);
	CHECK_RC(s->ops->head(s, "cp/src", &o), 0);
	CHECK(meta_eq(&o.meta, &m2) && o.size == sizeof(data), "self copy meta: mode %o",
	      (unsigned int)o.meta.mode);
	CHECK_RC(s->ops->copy(s, "cp/src", "cp/src", NULL), 0);

	/* Overwrite an existing destination. */
	CHECK_RC(s->ops->copy(s, "cp/keep", "cp/repl", NULL), 0);
	CHECK_RC(s->ops->head(s, "cp/repl", &o), 0);
	CHECK(meta_eq(&o.meta, &m), "copy over existing: mode %o", (unsigned int)o.meta.mode);

	CHECK_RC(s->ops->copy(s, "cp/absent", "cp/x", NULL), -ENOENT);
	CHECK_RC(s->ops->copy(s, "cp/absent", "cp/absent", NULL), -ENOENT);
	CHECK_RC(s->ops->copy(s, "cp/absent", "cp/absent", &m), -ENOENT);
}

static void check_remove(struct store *s)
{
	struct store_obj o;

	CHECK_RC(put_bytes(s, "rm/a", NULL, "a", 1), 0);
	CHECK_RC(s->ops->remove(s, "rm/a"), 0);
	CHECK_RC(s->ops->head(s, "rm/a", &o), -ENOENT);
	CHECK_RC(s->ops->remove(s, "rm/a"), 0);
	CHECK_RC(s->ops->remove(s, "rm/never"), 0);
	CHECK(s->ops->remove_many == NULL, "remove_many is set");
}

static void check_multipart(struct store *s)
{
	struct store_meta m = {.has_mode = true,
			       .mode = S_IFREG | 0600,
			       .has_mtime = true,
			       .mtime = {1234567890, 0}};
	size_t ps = s->part_size_min, got;
	char *parts = malloc(3 * ps), *back;
	struct store_upload *u;
	struct store_obj o;
	struct chunks c[3];
	int rc;

	CHECK(s->part_size_min == 1u << 20 && s->max_parts == 50000 && s->max_key_len == 1024,
	      "limits %zu %u %zu", s->part_size_min, s->max_parts, s->max_key_len);
	fill(parts, 3 * ps, 9);
	for (int i = 0; i < 3; i++)
		c[i] = (struct chunks){parts + i * ps, ps, 0};

	/* Three blocks sent out of order, two committed. */
	CHECK_RC(s->ops->upload_begin(s, "mp/big", &m, &u), 0);
	CHECK_RC(s->ops->upload_part(s, u, 3, chunk_read, &c[2], ps), 0);
	CHECK_RC(s->ops->upload_part(s, u, 1, chunk_read, &c[0], ps), 0);
	CHECK_RC(s->ops->upload_part(s, u, 2, chunk_read, &c[1], ps), 0);
	/* A part sent again replaces the earlier one. */
	CHECK_RC(s->ops->upload_part(s, u, 2, chunk_read, &c[1], ps), 0);
	CHECK_RC(s->ops->head(s, "mp/big", &o), -ENOENT);
	CHECK_RC(s->ops->upload_complete(s, u, 2), 0);
	CHECK_RC(s->ops->head(s, "mp/big", &o), 0);
	CHECK(o.size == 2 * ps, "committed size %llu, want %zu", (unsigned long long)o.size,
	      2 * ps);
	CHECK(meta_eq(&o.meta, &m), "block list meta: mode %o", (unsigned int)o.meta.mode);
	back = get_all(s, "mp/big", 3 * ps, &got, &rc);
	CHECK(!rc && got == 2 * ps && !memcmp(back, parts, 2 * ps), "block list content got %zu",
	      got);
	free(back);

	/* A second upload of the same blob sees none of the first's blocks. */
	CHECK_RC(s->ops->upload_begin(s, "mp/big", NULL, &u), 0);
	CHECK_RC(s->ops->upload_part(s, u, 2, chunk_read, &c[0], ps), 0);
	CHECK_RC(s->ops->upload_complete(s, u, 2), -EIO);
	CHECK_RC(s->ops->head(s, "mp/big", &o), 0);
	CHECK(o.size == 2 * ps && meta_eq(&o.meta, &m), "failed completion changed the blob");

	CHECK_RC(s->ops->upload_begin(s, "mp/big", NULL, &u), 0);
	CHECK_RC(s->ops->upload_part(s, u, 1, chunk_read, &c[2], 1000), 0);
	CHECK_RC(s->ops->upload_complete(s, u, 1), 0);
	CHECK_RC(s->ops->head(s, "mp/big", &o), 0);
	CHECK(o.size == 1000 && !o.meta.has_mode, "second upload: size %llu",
	      (unsigned long long)o.size);

	/* Two uploads of one blob at once: each commits only its own blocks
	 * (ids carry the upload's nonce), the first commit wins whole. */
	{
		struct store_upload *a, *b;
		int rc_b;

		CHECK_RC(s->ops->upload_begin(s, "mp/race", NULL, &a), 0);
		CHECK_RC(s->ops->upload_begin(s, "mp/race", NULL, &b), 0);
		CHECK_RC(s->ops->upload_part(s, a, 1, chunk_read, &c[0], ps), 0);
		CHECK_RC(s->ops->upload_part(s, a, 2, chunk_read, &c[1], 500), 0);
		CHECK_RC(s->ops->upload_part(s, b, 1, chunk_read, &c[2], ps), 0);
		CHECK_RC(s->ops->upload_complete(s, a, 2), 0);
		back = get_all(s, "mp/race", 3 * ps, &got, &rc);
		CHECK(!rc && got == ps + 500 && !memcmp(back, parts, ps + 500),
		      "race: first commit got %zu bytes, or mixed blocks", got);
		free(back);
		/* Azure drops b's block at a's commit: b fails. If a server
		 * keeps it, b must commit exactly its own block. */
		rc_b = s->ops->upload_complete(s, b, 1);
		back = get_all(s, "mp/race", 3 * ps, &got, &rc);
		CHECK(rc_b == -EIO || (rc_b == 0 && got == ps && !memcmp(back, parts + 2 * ps, ps)),
		      "race: second commit %d, %zu bytes", rc_b, got);
		free(back);
	}

	/* Abort leaves nothing behind. */
	CHECK_RC(s->ops->upload_begin(s, "mp/aborted", &m, &u), 0);
	CHECK_RC(s->ops->upload_part(s, u, 1, chunk_read, &c[0], ps), 0);
	s->ops->upload_abort(s, u);
	CHECK_RC(s->ops->head(s, "mp/aborted", &o), -ENOENT);

	CHECK_RC(s->ops->upload_begin(s, "mp/limits", NULL, &u), 0);
	CHECK_RC(s->ops->upload_part(s, u, 0, chunk_read, &c[0], 10), -EFBIG);
	CHECK_RC(s->ops->upload_part(s, u, 50001, chunk_read, &c[0], 10), -EFBIG);
	s->ops->upload_abort(s, u);
	free(parts);
}

static void check_odd_keys(struct store *s)
{
	static const char *const keys[] = {
		"odd/with space/and  two", "odd/ünïcödé €/日本語.txt",
		"odd/plus+sign+",	   "odd/q?mark#hash%25pct&amp=eq;semi",
		"odd/'quote\"dq<lt>",	   "odd/~tilde!*()$,@:[]",
	};
	char seen[16][64];
	size_t n_obj, n_pre, n_pages, got;
	struct store_meta m = {.has_mode = true, .mode = S_IFREG | 0644};
	struct store_obj o;
	char buf[128];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *k = keys[i];
		char dst[256];

		CHECK_RC(put_bytes(s, k, &m, k, strlen(k)), 0);
		CHECK_RC(s->ops->head(s, k, &o), 0);
		CHECK(o.size == strlen(k) && o.meta.has_mode, "head '%s'", k);
		CHECK_RC(store_get(s, k, 0, buf, sizeof(buf), &got, o.etag), 0);
		CHECK(got == strlen(k) && !memcmp(buf, k, got), "get '%s'", k);
		snprintf(dst, sizeof(dst), "%s.copy", k);
		CHECK_RC(s->ops->copy(s, k, dst, NULL), 0);
		CHECK_RC(s->ops->head(s, dst, &o), 0);
		CHECK_RC(s->ops->remove(s, dst), 0);
		CHECK_RC(s->ops->head(s, dst, &o), -ENOENT);
		/* Listed under its own name, as the prefix. */
		memset(seen, 0, sizeof(seen));
		list_all(s, k, "/", 0, &n_obj, &n_pre, &n_pages, seen, 16);
		CHECK(n_obj == 1 && !strcmp(seen[0], k), "list '%s': %zu, '%s'", k, n_obj, seen[0]);
	}
	/* With '/' as the delimiter, "with space/" rolls up. */
	memset(seen, 0, sizeof(seen));
	list_all(s, "odd/", "/", 0, &n_obj, &n_pre, &n_pages, seen, 16);
	CHECK(seen_has(seen, 16, "odd/with space/") && seen_has(seen, 16, "odd/plus+sign+") &&
		      seen_has(seen, 16, "odd/ünïcödé €/"),
	      "odd listing: %zu objects, %zu prefixes", n_obj, n_pre);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECK_RC(s->ops->remove(s, keys[i]), 0);
}

static void check_probe_ok(struct store *s)
{
	char *why = NULL;

	CHECK_RC(s->ops->probe(s, "ls/", &why), 0);
	CHECK(why == NULL, "why '%s'", why);
	free(why);
	why = NULL;
	CHECK_RC(s->ops->probe(s, "", &why), 0);
	free(why);
}

static void run_suite(const char *name, struct store *s)
{
	suite = name;
	if (!s)
		return;
	check_probe_ok(s);
	check_put_head_get(s);
	check_list(s);
	check_copy(s);
	check_remove(s);
	check_multipart(s);
	check_odd_keys(s);
}

/* ---- probe failures ---- */

static void check_probe_fails(struct store *s, int want, const char *needle)
{
	char *why = NULL;
	int rc;

	if (!s)
		return;
	rc = s->ops->probe(s, "", &why);
	CHECK(rc == want, "probe returned %d, want %d (%s)", rc, want, why ? why : "");
	CHECK(why && strstr(why, needle) && !strchr(why, '\n'), "message '%s' lacks '%s'",
	      why ? why : "(none)", needle);
	if (why)
		printf("  probe message: %s\n", why);
	free(why);
	s->ops->destroy(s);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 1;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void check_create_errors(void)
{
	struct azure_conf c = {.account = account, .container = "ok-name", .http = hconf};
	char *why = NULL;
	struct store *s;

	suite = "create";
	c.container = "Bad_Name";
	s = azure_store_create(&c, &why);
	CHECK(!s && why && strstr(why, "container name"), "bad container: %s", why ? why : "");
	free(why);
	c.container = "ok-name";
	c.key = "not base64!";
	s = azure_store_create(&c, &why);
	CHECK(!s && why && strstr(why, "base64"), "bad key: %s", why ? why : "");
	free(why);
	c.key = key;
	c.sas = "sv=x";
	s = azure_store_create(&c, &why);
	CHECK(!s && why && strstr(why, "not both"), "key and sas: %s", why ? why : "");
	free(why);
	c.sas = NULL;
	c.endpoint = "ftp://x";
	s = azure_store_create(&c, &why);
	CHECK(!s && why && strstr(why, "http"), "bad endpoint: %s", why ? why : "");
	free(why);
	for (size_t i = 0; i < 3; i++) {
		static const char *const bad[] = {"http://", "https:///devstoreaccount1",
						  "http://h/?sv=1"};

		c.endpoint = bad[i];
		s = azure_store_create(&c, &why);
		CHECK(!s && why && strstr(why, "scheme://host"), "endpoint '%s': %s", bad[i],
		      why ? why : "");
		free(why);
	}
	c.endpoint = NULL;
	c.account = NULL;
	s = azure_store_create(&c, &why);
	CHECK(!s && why && strstr(why, "account"), "no account: %s", why ? why : "");
	free(why);
	/* The default endpoint is built from the account; nothing is sent. */
	c.account = "acct";
	c.key = NULL;
	s = azure_store_create(&c, &why);
	CHECK(s != NULL, "default endpoint: %s", why ? why : "");
	free(why);
	if (s)
		s->ops->destroy(s);
}

static void check_anonymous(const char *pub, const char *priv)
{
	struct store *ks = make_store(pub, key, NULL, NULL);
	struct store *anon = make_store(pub, NULL, NULL, NULL);
	struct store *anon_priv = make_store(priv, NULL, NULL, NULL);
	struct store_obj o;
	struct store_list l;
	char buf[16], *why = NULL;
	size_t got;

	suite = "anonymous";
	if (!ks || !anon || !anon_priv)
		goto out;
	CHECK_RC(put_bytes(ks, "pub/a", NULL, "public", 6), 0);
	CHECK_RC(anon->ops->probe(anon, "", &why), 0);
	free(why);
	why = NULL;
	CHECK_RC(anon->ops->head(anon, "pub/a", &o), 0);
	CHECK(o.size == 6, "size %llu", (unsigned long long)o.size);
	CHECK_RC(store_get(anon, "pub/a", 0, buf, sizeof(buf), &got, o.etag), 0);
	CHECK(got == 6 && !memcmp(buf, "public", 6), "anonymous get");
	CHECK_RC(anon->ops->list(anon, "pub/", "/", NULL, 0, &l), 0);
	CHECK(l.n_objects == 1, "anonymous list %zu", l.n_objects);
	store_list_free(&l);
	{
		int rc = put_bytes(anon, "pub/b", NULL, "x", 1);

		CHECK(rc == -EACCES || rc == -ENOENT, "anonymous put: %d", rc);
	}
	CHECK_RC(ks->ops->remove(ks, "pub/a"), 0);
	check_probe_fails(anon_priv, -EACCES, "denied");
	anon_priv = NULL;
out:
	if (ks)
		ks->ops->destroy(ks);
	if (anon)
		anon->ops->destroy(anon);
	if (anon_priv)
		anon_priv->ops->destroy(anon_priv);
}

int main(int argc, char **argv)
{
	const char *bad_key = "AAAAvdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
			      "K1SZFPTOtr/KBHBeksoGMGw==";
	char priv[64], priv2[64], pub[64], unreachable[64];
	struct buf sas, bad_sas;
	struct azure_sas sp;
	bool verbose = false;
	struct store *s;
	int argi = 1;

	if (argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = true;
		argi++;
	}
	if (argc - argi != 3) {
		fprintf(stderr, "usage: %s [-v] ENDPOINT ACCOUNT KEY\n", argv[0]);
		return 2;
	}
	endpoint = argv[argi];
	account = argv[argi + 1];
	key = argv[argi + 2];
	/* Quiet by default: the failures it provokes on purpose log errors. */
	log_init(verbose ? LOG_DEBUG : LOG_CRIT, true);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	srand((unsigned int)(time(NULL) ^ getpid()));
	snprintf(priv, sizeof(priv), "bfs-check-%d-%d", (int)getpid(), rand() % 100000);
	snprintf(priv2, sizeof(priv2), "bfs-check2-%d-%d", (int)getpid(), rand() % 100000);
	snprintf(pub, sizeof(pub), "bfs-public-%d-%d", (int)getpid(), rand() % 100000);

	if (admin_container("PUT", priv, false) != 201 ||
	    admin_container("PUT", priv2, false) != 201 ||
	    admin_container("PUT", pub, true) != 201) {
		fprintf(stderr, "FAIL: cannot create the test containers at %s\n", endpoint);
		return 1;
	}

	check_create_errors();

	s = make_store(priv, key, NULL, NULL);
	run_suite("shared key", s);
	if (s)
		s->ops->destroy(s);

	/* A SAS for another container, from the same account key. */
	buf_init(&sas, 4096);
	buf_init(&bad_sas, 4096);
	sp = (struct azure_sas){.account = account,
				.container = priv2,
				.permissions = "racwdl",
				.start = time(NULL) - 300,
				.expiry = time(NULL) + 3600};
	if (azure_sas_token(&sp, key, &sas) || azure_sas_token(&sp, bad_key, &bad_sas)) {
		fprintf(stderr, "FAIL: cannot make a SAS\n");
		failures++;
	} else {
		char *q = malloc(sas.len + 2);

		s = make_store(priv2, NULL, sas.data, NULL);
		run_suite("sas", s);
		if (s)
			s->ops->destroy(s);
		/* A leading '?' as the portal shows it. */
		snprintf(q, sas.len + 2, "?%s", sas.data);
		suite = "sas with ?";
		s = make_store(priv2, NULL, q, NULL);
		if (s) {
			check_probe_ok(s);
			s->ops->destroy(s);
		}
		free(q);
		suite = "probe: bad sas";
		check_probe_fails(make_store(priv2, NULL, bad_sas.data, NULL), -EACCES,
				  "SAS token is not valid");
	}
	buf_free(&sas);
	buf_free(&bad_sas);

	check_anonymous(pub, priv);

	suite = "probe: wrong key";
	check_probe_fails(make_store(priv, bad_key, NULL, NULL), -EACCES,
			  "the account key does not match account");
	suite = "probe: no container";
	check_probe_fails(make_store("no-such-container", key, NULL, NULL), -ENOENT,
			  "container 'no-such-container' at ");
	suite = "probe: unreachable";
	snprintf(unreachable, sizeof(unreachable), "http://127.0.0.1:%d/%s", free_port(), account);
	hconf.retries = 0;
	check_probe_fails(make_store(priv, key, NULL, unreachable), -EIO, "cannot reach");
	hconf.retries = 2;

	if (admin_container("DELETE", priv, false) != 202 ||
	    admin_container("DELETE", priv2, false) != 202 ||
	    admin_container("DELETE", pub, false) != 202) {
		fprintf(stderr, "FAIL: cannot delete the test containers\n");
		failures++;
	}
	curl_global_cleanup();
	printf("azure_store_check: %d checks, %d failed\n", checks, failures);
	printf("%d passed, %d failed\n", checks - failures, failures);
	return failures ? 1 : 0;
}
