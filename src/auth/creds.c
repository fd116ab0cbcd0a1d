/*
 * Static AWS credentials and the files that hold them: the environment,
 * the shared config files' profiles, s3fs password files. The chain that
 * orders them is aws_provider.c. Everything read here is a secret;
 * buffers that held one are zeroed.
 */
#include "creds.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

#define CREDS_FILE_MAX (1 << 20)

void creds_zfree(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

const char *creds_key_id_shown(const char *akid, char out[32])
{
	size_t n = akid ? strlen(akid) : 0;

	if (n <= 24)
		snprintf(out, 32, "%s", akid ? akid : "");
	else
		snprintf(out, 32, "%.4s...%s", akid, akid + n - 4);
	return out;
}

void creds_clear(struct creds *c)
{
	creds_zfree(c->access_key);
	creds_zfree(c->secret_key);
	creds_zfree(c->session_token);
	memset(c, 0, sizeof(*c));
}

static char *fmt_why2(const char *fmt, const char *a, const char *b)
{
	char *s = NULL;

	if (asprintf(&s, fmt, a, b) < 0)
		return NULL;
	return s;
}

static char *fmt_why(const char *fmt, const char *a)
{
	char *s = NULL;

	if (asprintf(&s, fmt, a) < 0)
		return NULL;
	return s;
}

int creds_set(struct creds *out, const char *ak, const char *sk, const char *token,
	      const char *source)
{
	memset(out, 0, sizeof(*out));
	out->access_key = strdup(ak);
	out->secret_key = strdup(sk);
	out->session_token = token && *token ? strdup(token) : NULL;
	out->source = source;
	if (!out->access_key || !out->secret_key || (token && *token && !out->session_token)) {
		creds_clear(out);
		return -ENOMEM;
	}
	return 0;
}

int creds_from_env(struct creds *out, char **why)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");

	if ((!ak || !*ak) && (!sk || !*sk))
		return -ENOENT;
	if (!ak || !*ak || !sk || !*sk) {
		*why = strdup(
			ak && *ak ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
				  : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
		return -EINVAL;
	}
	return creds_set(out, ak, sk, getenv("AWS_SESSION_TOKEN"), "environment");
}

int creds_read_secret_file(const char *path, const char *what, bool check_mode, char **text,
			   char **why)
{
	size_t len;

	return creds_read_secret_bytes(path, what, check_mode, text, &len, why);
}

int creds_read_secret_bytes(const char *path, const char *what, bool check_mode, char **data,
			    size_t *len, char **why)
{
	struct buf b;
	struct stat st;
	char chunk[4096];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (rc != -ENOENT)
			*why = fmt_why("cannot read %s", path);
		return rc;
	}
	if (fstat(fd, &st)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (check_mode && (st.st_mode & 077)) {
		close(fd);
		if (asprintf(why, "%s %s is readable by group or others (chmod 600 it)", what,
			     path) < 0)
			*why = NULL;
		return -EPERM;
	}
	buf_init(&b, CREDS_FILE_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		rc = buf_append(&b, chunk, n);
		if (rc)
			break;
	}
	if (n < 0)
		rc = -errno;
	close(fd);
	explicit_bzero(chunk, sizeof(chunk));
	if (!rc) {
		*len = b.len;
		*data = buf_steal(&b);
	}
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	if (rc && !*why)
		*why = fmt_why("cannot read %s", path);
	return rc;
}

int creds_read_token_file(const char *path, const char *what, char **token, char **why)
{
	char *text = NULL;
	size_t start = 0, n;
	int rc;

	rc = creds_read_secret_file(path, what, false, &text, why);
	if (rc == -ENOENT && !*why)
		*why = fmt_why2("%s %s does not exist", what, path);
	if (rc)
		return rc;
	n = strlen(text);
	while (start < n && isspace((unsigned char)text[start]))
		start++;
	while (n > start && isspace((unsigned char)text[n - 1]))
		n--;
	if (n == start || memchr(text + start, '\n', n - start) ||
	    memchr(text + start, '\r', n - start)) {
		*why = fmt_why2(n == start ? "%s %s is empty" : "%s %s holds more than one line",
				what, path);
		rc = -EINVAL;
	} else if (!(*token = strndup(text + start, n - start))) {
		rc = -ENOMEM;
	}
	creds_zfree(text);
	return rc;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int creds_from_passwd_file(const char *path, const char *bucket, struct creds *out, char **why)
{
	char *text = NULL, *line, *save = NULL;
	const char *bare_ak = NULL, *bare_sk = NULL;
	const char *bkt_ak = NULL, *bkt_sk = NULL;
	int rc;

	rc = creds_read_secret_file(path, "password file", true, &text, why);
	if (rc)
		return rc;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[3] = {NULL, NULL, NULL};
		char *p = trim(line);
		int n = 0;

		if (!*p || *p == '#')
			continue;
		while (n < 3) {
			f[n++] = p;
			p = strchr(p, ':');
			if (!p)
				break;
			*p++ = '\0';
		}
		if (n == 2 && !bare_ak) {
			bare_ak = trim(f[0]);
			bare_sk = trim(f[1]);
		} else if (n == 3 && bucket && !strcmp(trim(f[0]), bucket) && !bkt_ak) {
			bkt_ak = trim(f[1]);
			bkt_sk = trim(f[2]);
		}
	}
	if (bkt_ak) {
		bare_ak = bkt_ak;
		bare_sk = bkt_sk;
	}
	if (!bare_ak || !*bare_ak || !bare_sk || !*bare_sk) {
		*why = fmt_why("password file %s has no ACCESS:SECRET line for this bucket", path);
		rc = -EINVAL;
	} else {
		rc = creds_set(out, bare_ak, bare_sk, NULL, "password file");
	}
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
}

static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && *h)
		return h;
	pw = getpwuid(getuid());
	return pw ? pw->pw_dir : "/";
}

static const struct {
	const char *name;
	size_t off;
} profile_keys[] = {
	{"aws_access_key_id", offsetof(struct creds_profile, ak)},
	{"aws_secret_access_key", offsetof(struct creds_profile, sk)},
	{"aws_session_token", offsetof(struct creds_profile, token)},
	{"role_arn", offsetof(struct creds_profile, role_arn)},
	{"source_profile", offsetof(struct creds_profile, source_profile)},
	{"credential_process", offsetof(struct creds_profile, credential_process)},
	{"role_session_name", offsetof(struct creds_profile, role_session_name)},
	{"external_id", offsetof(struct creds_profile, external_id)},
	{"duration_seconds", offsetof(struct creds_profile, duration_seconds)},
	{"web_identity_token_file", offsetof(struct creds_profile, web_identity_token_file)},
};

/*
 * Finds section `want` in an AWS-style INI file and collects its keys (a
 * key already set, from the file read first, is kept). Returns 0 (found or
 * not), or -errno if the file exists but cannot be read.
 */
static int ini_lookup(const char *path, const char *want, struct creds_profile *k, char **why)
{
	char *text = NULL, *line, *save = NULL;
	bool in = false;
	int rc;

	rc = creds_read_secret_file(path, "credentials file", false, &text, why);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	for (line = strtok_r(text, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
		char *p = trim(line), *eq, *name, *val;

		if (!*p || *p == '#' || *p == ';')
			continue;
		if (*p == '[') {
			char *e = strchr(p, ']');

			if (e)
				*e = '\0';
			in = !strcmp(trim(p + 1), want);
			k->found |= in;
			continue;
		}
		if (!in || !(eq = strchr(p, '=')))
			continue;
		*eq = '\0';
		name = trim(p);
		val = trim(eq + 1);
		for (size_t i = 0; i < sizeof(profile_keys) / sizeof(*profile_keys); i++) {
			char **slot = (char **)((char *)k + profile_keys[i].off);

			if (strcmp(name, profile_keys[i].name) || *slot)
				continue;
			*slot = strdup(val);
			if (!*slot)
				rc = -ENOMEM;
		}
	}
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
}

void creds_profile_clear(struct creds_profile *p)
{
	for (size_t i = 0; i < sizeof(profile_keys) / sizeof(*profile_keys); i++)
		creds_zfree(*(char **)((char *)p + profile_keys[i].off));
	memset(p, 0, sizeof(*p));
}

int creds_profile_read(const char *profile, struct creds_profile *out, char **why)
{
	const char *env;
	char path[4096], section[512];
	int rc;

	memset(out, 0, sizeof(*out));
	env = getenv("AWS_SHARED_CREDENTIALS_FILE");
	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path), "%s/.aws/credentials", home_dir());
	rc = ini_lookup(path, profile, out, why);

	/* The config file names its sections "profile NAME", except default. */
	env = getenv("AWS_CONFIG_FILE");
	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path), "%s/.aws/config", home_dir());
	if (!strcmp(profile, "default"))
		snprintf(section, sizeof(section), "default");
	else
		snprintf(section, sizeof(section), "profile %s", profile);
	if (!rc)
		rc = ini_lookup(path, section, out, why);
	if (!rc && !out->found)
		rc = -ENOENT;
	if (rc)
		creds_profile_clear(out);
	return rc;
}

int creds_from_profile(const char *profile, struct creds *out, char **why)
{
	struct creds_profile k;
	int rc;

	rc = creds_profile_read(profile, &k, why);
	if (rc)
		return rc;
	if (!k.ak || !*k.ak || !k.sk || !*k.sk) {
		*why = fmt_why("profile '%s' has no aws_access_key_id and aws_secret_access_key",
			       profile);
		rc = -EINVAL;
	} else {
		rc = creds_set(out, k.ak, k.sk, k.token, "shared config profile");
	}
	creds_profile_clear(&k);
	return rc;
}
