/* Mount-point queries and the mount helper's process. */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void mounts_unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

bool mounts_is_mounted(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *canon = realpath(path, NULL);
	size_t cap = 0;
	bool found = false;

	/* A stale FUSE mount cannot be resolved: compare the path as given. */
	const char *want = canon ? canon : path;
	if (!f) {
		free(canon);
		return false;
	}
	while (!found && getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
		char *save = NULL, *field = strtok_r(line, " ", &save);

		for (int i = 0; field && i < 4; i++)
			field = strtok_r(NULL, " ", &save);
		if (!field)
			continue;
		mounts_unescape(field);
		found = !strcmp(field, want);
	}
	free(line);
	free(canon);
	fclose(f);
	return found;
}

bool mounts_is_stale(const char *path)
{
	struct stat st;

	return stat(path, &st) && errno == ENOTCONN;
}

int mounts_run(char *const argv[], char *const env[], char **why)
{
	int pipefd[2], status;
	char chunk[512];
	struct buf err;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(pipefd[1], 2);
		execve(argv[0], argv, env);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	/* The daemon hands its stderr to /dev/null once mounted: EOF then. */
	buf_init(&err, 64 << 10);
	while ((n = read(pipefd[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && buf_append(&err, chunk, (size_t)n))
			buf_reset(&err);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		buf_free(&err);
		return 0;
	}
	/* The last non-empty line is the helper's one-line reason. */
	char *text = err.data ? err.data : "", *last = NULL;

	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		last = l;
	*why = last ? strdup(last) : str_printf("%s failed (status %d)", argv[0], status);
	buf_free(&err);
	return -EIO;
}

int mounts_unmount(const char *path, char **why)
{
	if (!umount2(path, UMOUNT_NOFOLLOW))
		return 0;
	if (errno == EINVAL || errno == ENOENT)
		return 0; /* not a mount point (any more) */
	/* Busy (a pod's process still inside): detach now, the kernel ends
	 * it when the last user leaves; a stale one goes the same way. */
	if ((errno == EBUSY || errno == ENOTCONN) && !umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW))
		return 0;
	*why = str_printf("cannot unmount %s: %s", path, strerror(errno));
	return -errno;
}
