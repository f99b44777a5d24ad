#include "core/log.h"
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_min_level = LOG_LEVEL_INFO;
static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level) { log_min_level = level; }

int log_enabled(enum log_level level) { return level >= log_min_level; }

int log_parse_level(const char *name, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, log_level_names[i]) == 0) {
            *out = (enum log_level)i;
            return ST_OK;
        }
    }
    return ST_ERROR;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_min_level)
        return;
    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s ", (long)(tv.tv_usec / 1000),
                     log_level_names[level]);
    if (k > 0)
        n += (size_t)k;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
    line[n++] = '\n';
    /* One write per line keeps lines whole when workers share stderr. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
