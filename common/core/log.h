/*
 * log: one-line structured logs to stderr.
 *
 * Format: "2026-11-28T04:00:00.123Z level=info component: message". The level
 * filter is process-wide and set once at boot (log_set_level); log_msg never
 * blocks beyond a single write(2) of a line under PIPE_BUF, so it is safe on
 * an event loop. Never pass secrets (keys, signatures) to it.
 */
#ifndef SC_LOG_H
#define SC_LOG_H

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Set the minimum level printed. */
void log_set_level(enum log_level level);
/* Parse "debug"/"info"/"warn"/"error"; returns ST_OK or ST_ERROR. */
int log_parse_level(const char *name, enum log_level *out);
/* Whether a message at this level would be printed (to skip costly formatting). */
int log_enabled(enum log_level level);
/* Print one line; a trailing newline is added. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_DEBUG(...) do { if (log_enabled(LOG_LEVEL_DEBUG)) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)
#define LOG_INFO(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_WARN(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_ERROR(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
