#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>
#include <time.h>

static int log_max_level = LOG_WARNING;
static bool log_to_stderr = true;

void log_init(int max_level, bool to_stderr)
{
	log_max_level = max_level;
	log_to_stderr = to_stderr;
	if (!to_stderr)
		openlog(program_invocation_short_name, LOG_PID, LOG_DAEMON);
}

bool log_enabled(int level)
{
	return level <= log_max_level;
}

void log_msg(int level, const char *fmt, ...)
{
	static const char *const names[] = {"emerg",   "alert",	 "crit", "error",
					    "warning", "notice", "info", "debug"};
	va_list ap;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	if (log_to_stderr) {
		/* One fprintf per line so concurrent threads do not interleave. */
		char line[2048];

		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, names[level & 7],
			line);
	} else {
		vsyslog(level, fmt, ap);
	}
	va_end(ap);
}

int log_level_parse(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{"error", LOG_ERR},    {"err", LOG_ERR},       {"warning", LOG_WARNING},
		{"warn", LOG_WARNING}, {"notice", LOG_NOTICE}, {"info", LOG_INFO},
		{"debug", LOG_DEBUG},
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(*levels); i++)
		if (!strcasecmp(name, levels[i].name))
			return levels[i].level;
	return -1;
}

void log_one_line(char *s, size_t max)
{
	size_t n = strcspn(s, "\r\n");

	if (n > max)
		n = max;
	s[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = ' ';
}
