/*
 * credential_process: a profile's command, run without a shell (its words
 * split as the AWS CLI splits them), whose standard output is the JSON the
 * AWS CLI documents (Version 1, AccessKeyId, SecretAccessKey, and for
 * temporary credentials SessionToken and Expiration). It runs again when
 * those near their expiry. Its environment is ours without the variables
 * that hold secrets it has no use for; its stderr is ours (our log in the
 * foreground); it gets /dev/null as stdin and PROCESS_TIMEOUT_S to answer.
 */
#include "aws_creds.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define PROCESS_OUT_MAX	  (1u << 20)
#define PROCESS_TIMEOUT_S 60
#define PROCESS_ARGS_MAX  256

extern char **environ;

/* Kept from the child's environment: credentials it could need are its
 * own business, ours are not. */
static const char *const secret_vars[] = {
	"AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN",
	"AWS_SECURITY_TOKEN",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AZURE_CLIENT_SECRET",
	"AZURE_STORAGE_KEY",
	"AZURE_STORAGE_CONNECTION_STRING",
	"AZURE_STORAGE_SAS_TOKEN",
};

void aws_process_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

int aws_process_split(const char *command, char ***argv, char **why)
{
	char **v = calloc(PROCESS_ARGS_MAX + 1, sizeof(*v));
	size_t n = 0, len = strlen(command);
	char *word = malloc(len + 1);
	const char *p = command;
	int rc = 0;

	if (!v || !word) {
		free(v);
		free(word);
		return -ENOMEM;
	}
	while (!rc) {
		size_t w = 0;
		bool any = false;
		char quote = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		for (; *p && (quote || (*p != ' ' && *p != '\t')); p++) {
			any = true;
			if (quote == '\'') {
				if (*p == '\'')
					quote = 0;
				else
					word[w++] = *p;
			} else if (*p == '\\' && p[1] && (!quote || strchr("\"\\$`", p[1]))) {
				word[w++] = *++p;
			} else if (quote == '"' && *p == '"') {
				quote = 0;
			} else if (!quote && (*p == '\'' || *p == '"')) {
				quote = *p;
			} else {
				word[w++] = *p;
			}
		}
		if (quote) {
			*why = strdup("credential_process has an unclosed quote");
			rc = -EINVAL;
		} else if (any && n == PROCESS_ARGS_MAX) {
			*why = strdup("credential_process has too many words");
			rc = -EINVAL;
		} else if (any && !(v[n++] = strndup(word, w))) {
			rc = -ENOMEM;
		}
	}
	free(word);
	if (!rc && !n) {
		*why = strdup("credential_process is empty");
		rc = -EINVAL;
	}
	if (rc) {
		aws_process_argv_free(v);
		return rc;
	}
	*argv = v;
	return 0;
}

static bool is_secret_var(const char *entry)
{
	for (size_t i = 0; i < sizeof(secret_vars) / sizeof(*secret_vars); i++) {
		size_t k = strlen(secret_vars[i]);

		if (!strncmp(entry, secret_vars[i], k) && entry[k] == '=')
			return true;
	}
	return false;
}

char **aws_process_env(char **environ_in)
{
	size_t n = 0, k = 0;
	char **out;

	while (environ_in && environ_in[n])
		n++;
	out = calloc(n + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!is_secret_var(environ_in[i]))
			out[k++] = environ_in[i];
	return out;
}

struct process {
	char **argv;
};

static void process_destroy(void *ctx)
{
	struct process *pr = ctx;

	if (!pr)
		return;
	aws_process_argv_free(pr->argv);
	free(pr);
}

/* Read all of fd into out until EOF or the deadline. */
static int read_all(int fd, struct buf *out, time_t deadline)
{
	char chunk[4096];
	int rc = 0;

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int left = (int)(deadline - time(NULL));
		ssize_t n;

		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, left * 1000) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		rc = buf_append(out, chunk, (size_t)n);
		if (rc)
			break;
	}
	explicit_bzero(chunk, sizeof(chunk));
	return rc;
}

/* Run the command; its output in out. */
static int process_run(struct process *pr, struct buf *out, char **why)
{
	posix_spawn_file_actions_t fa;
	char **env = aws_process_env(environ);
	int pipefd[2] = {-1, -1}, status = 0, rc;
	pid_t pid;

	if (!env)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC)) {
		free(env);
		return -errno;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	rc = -posix_spawnp(&pid, pr->argv[0], &fa, NULL, pr->argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	close(pipefd[1]);
	if (rc) {
		close(pipefd[0]);
		if (asprintf(why, "cannot run credential_process '%s': %s", pr->argv[0],
			     strerror(-rc)) < 0)
			*why = NULL;
		return rc;
	}
	rc = read_all(pipefd[0], out, time(NULL) + PROCESS_TIMEOUT_S);
	close(pipefd[0]);
	if (rc == -ETIMEDOUT)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == -ETIMEDOUT) {
		if (asprintf(why, "credential_process '%s' did not answer in %d s", pr->argv[0],
			     PROCESS_TIMEOUT_S) < 0)
			*why = NULL;
	} else if (rc == -EFBIG) {
		*why = strdup("credential_process wrote more than 1 MiB");
	} else if (!rc && (!WIFEXITED(status) || WEXITSTATUS(status))) {
		if (WIFEXITED(status))
			rc = asprintf(why, "credential_process '%s' exited with status %d",
				      pr->argv[0], WEXITSTATUS(status));
		else
			rc = asprintf(why, "credential_process '%s' was killed by signal %d",
				      pr->argv[0], WTERMSIG(status));
		if (rc < 0)
			*why = NULL;
		rc = -EACCES;
	}
	return rc;
}

static int process_fetch(void *ctx, char **secret, int64_t *lifetime_s, char **why)
{
	struct process *pr = ctx;
	char *exp = NULL, *cause = NULL;
	struct creds got = {0};
	struct buf out;
	int rc;

	buf_init(&out, PROCESS_OUT_MAX);
	rc = process_run(pr, &out, why);
	if (!rc) {
		rc = aws_json_creds_parse(out.data ? out.data : "", out.len, true, &got, &exp,
					  &cause);
		if (rc && asprintf(why, "credential_process '%s': %s", pr->argv[0],
				   cause ? cause : strerror(-rc)) < 0)
			*why = NULL;
	}
	if (!rc && aws_creds_lifetime(exp, time(NULL), lifetime_s)) {
		if (asprintf(why,
			     "credential_process '%s' wrote an Expiration that is not a "
			     "future time",
			     pr->argv[0]) < 0)
			*why = NULL;
		rc = -EPROTO;
	}
	if (!rc) {
		log_debug("credential_process '%s': credentials for %lld s", pr->argv[0],
			  (long long)*lifetime_s);
		rc = aws_creds_encode(&got, secret);
	}
	creds_clear(&got);
	if (out.data)
		explicit_bzero(out.data, out.len);
	buf_free(&out);
	free(exp);
	free(cause);
	return rc;
}

static const struct refresh_source_ops process_ops = {
	.fetch = process_fetch,
	.destroy = process_destroy,
};

int aws_process_create(const char *command, const char *what, struct refresh **out, char **why)
{
	struct process *pr = calloc(1, sizeof(*pr));
	int rc;

	if (!pr)
		return -ENOMEM;
	rc = aws_process_split(command, &pr->argv, why);
	if (rc) {
		free(pr);
		return rc;
	}
	*out = refresh_create(&process_ops, pr, what, &aws_creds_names);
	return *out ? 0 : -ENOMEM;
}
