/*
 * One logger for the whole daemon, with syslog levels. In the foreground it
 * writes to stderr, otherwise to syslog. Secrets must never be passed here:
 * callers log key ids at most, never secret keys, tokens or signatures.
 */
#ifndef BUCKETFS_LOG_H
#define BUCKETFS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

void log_init(int max_level, bool to_stderr);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool log_enabled(int level);
/* "error", "warning", "notice", "info", "debug" (any case) to a level, or -1. */
int log_level_parse(const char *name);

/* Cut untrusted text (a server's error message) to its first line, at
 * most max bytes, control characters blanked: fit for one log line. */
void log_one_line(char *s, size_t max);

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
