/*
 * log.h - one line per event, on stderr in the foreground, in syslog once
 * the daemon has detached.  Callers never pass the bearer token here.
 *
 * Owns: where lines go (stderr or syslog) and whether debug lines are on.
 * Must not touch: secrets: callers never pass the token.
 */
#ifndef SYNERGYFS_LOG_H
#define SYNERGYFS_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Send later lines to syslog (ident "synergyfs", LOG_DAEMON) instead of stderr. */
void log_use_syslog(void);

/* Emit debug lines too (off by default). */
void log_set_debug(bool on);

/* Is debug logging on? */
bool log_debug_enabled(void);

/* Write one line: "synergyfs: <level>: <message>".  Thread-safe. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_debug_enabled()) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
