/*
 * log.c - the logging sink; see log.h.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <syslog.h>

static atomic_bool to_syslog;
static atomic_bool debug_on;

void log_use_syslog(void)
{
	openlog("synergyfs", LOG_PID, LOG_DAEMON);
	atomic_store(&to_syslog, true);
}

void log_set_debug(bool on)
{
	atomic_store(&debug_on, on);
}

bool log_debug_enabled(void)
{
	return atomic_load(&debug_on);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (atomic_load(&to_syslog))
		syslog(prio[level], "%s: %s", names[level], line);
	else
		fprintf(stderr, "synergyfs: %s: %s\n", names[level], line);
}
