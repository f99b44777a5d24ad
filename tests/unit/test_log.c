#include "core/log.h"
#include "core/status.h"

#include <criterion/criterion.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Run fn with stderr redirected into a pipe; return everything it wrote
 * (NUL-terminated, caller frees). */
static char *capture(void (*fn)(void))
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    cr_assert_geq(saved, 0);
    cr_assert_geq(dup2(fds[1], STDERR_FILENO), 0);
    close(fds[1]);
    fn();
    cr_assert_geq(dup2(saved, STDERR_FILENO), 0);
    close(saved);
    /* Every write end is closed now, so read runs to EOF. */
    size_t cap = 8192, len = 0;
    char *out = malloc(cap);
    for (;;) {
        ssize_t r = read(fds[0], out + len, cap - 1 - len);
        cr_assert_geq(r, 0);
        if (r == 0)
            break;
        len += (size_t)r;
        cr_assert_lt(len, cap - 1, "too much output");
    }
    close(fds[0]);
    out[len] = '\0';
    return out;
}

static int matches(const char *s, const char *re)
{
    regex_t r;
    cr_assert_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    int ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

#define TS "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "

Test(log, parse_level)
{
    static const struct {
        const char *name;
        enum log_level level;
    } ok[] = {{"debug", LOG_LEVEL_DEBUG}, {"info", LOG_LEVEL_INFO}, {"warn", LOG_LEVEL_WARN},
              {"error", LOG_LEVEL_ERROR}, {"DEBUG", LOG_LEVEL_DEBUG}, {"Warn", LOG_LEVEL_WARN}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        enum log_level l = (enum log_level)-1;
        cr_assert_eq(log_parse_level(ok[i].name, &l), ST_OK, "%s", ok[i].name);
        cr_assert_eq(l, ok[i].level, "%s", ok[i].name);
    }
    static const char *const bad[] = {"", "warning", "inf", "err", "debug ", " info", "fatal", "3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum log_level l = LOG_LEVEL_ERROR;
        cr_assert_eq(log_parse_level(bad[i], &l), ST_ERROR, "'%s' accepted", bad[i]);
        cr_assert_eq(l, LOG_LEVEL_ERROR, "out must be untouched on error");
    }
}

Test(log, default_level_is_info)
{
    cr_assert_not(log_enabled(LOG_LEVEL_DEBUG));
    cr_assert(log_enabled(LOG_LEVEL_INFO));
    cr_assert(log_enabled(LOG_LEVEL_ERROR));
}

Test(log, enabled_filter)
{
    for (int min = LOG_LEVEL_DEBUG; min <= LOG_LEVEL_ERROR; min++) {
        log_set_level((enum log_level)min);
        for (int l = LOG_LEVEL_DEBUG; l <= LOG_LEVEL_ERROR; l++)
            cr_assert_eq(log_enabled((enum log_level)l) != 0, l >= min, "min %d level %d", min, l);
    }
}

static void emit_info(void) { log_msg(LOG_LEVEL_INFO, "rtmp: hello %d %s", 42, "world"); }

Test(log, line_shape)
{
    log_set_level(LOG_LEVEL_INFO);
    time_t before = time(NULL);
    char *out = capture(emit_info);
    time_t after = time(NULL);
    cr_assert(matches(out, TS "level=info rtmp: hello 42 world\n$"), "got '%s'", out);
    /* The timestamp is UTC and current. */
    struct tm tm = {0};
    cr_assert_not_null(strptime(out, "%Y-%m-%dT%H:%M:%S", &tm));
    time_t t = timegm(&tm);
    cr_assert(t >= before - 1 && t <= after + 1, "timestamp %ld not in [%ld, %ld]", (long)t, (long)before,
              (long)after);
    free(out);
}

static void emit_all_levels(void)
{
    LOG_DEBUG("a: d");
    LOG_INFO("a: i");
    LOG_WARN("a: w");
    LOG_ERROR("a: e");
}

Test(log, level_names_and_one_write_per_line)
{
    log_set_level(LOG_LEVEL_DEBUG);
    char *out = capture(emit_all_levels);
    cr_assert(matches(out, TS "level=debug a: d\n"
                           "[0-9T:.Z-]{24} level=info a: i\n"
                           "[0-9T:.Z-]{24} level=warn a: w\n"
                           "[0-9T:.Z-]{24} level=error a: e\n$"),
              "got '%s'", out);
    free(out);
}

Test(log, filtered_levels_write_nothing)
{
    log_set_level(LOG_LEVEL_WARN);
    char *out = capture(emit_all_levels);
    cr_assert(matches(out, TS "level=warn a: w\n[0-9T:.Z-]{24} level=error a: e\n$"), "got '%s'", out);
    free(out);
}

static int side_effects;
static int bump(void) { return ++side_effects; }
static void emit_debug_with_side_effect(void) { LOG_DEBUG("x: %d", bump()); }

Test(log, debug_macro_skips_argument_evaluation)
{
    log_set_level(LOG_LEVEL_INFO);
    char *out = capture(emit_debug_with_side_effect);
    cr_assert_str_eq(out, "");
    cr_assert_eq(side_effects, 0);
    free(out);
    log_set_level(LOG_LEVEL_DEBUG);
    out = capture(emit_debug_with_side_effect);
    cr_assert_eq(side_effects, 1);
    cr_assert(matches(out, TS "level=debug x: 1\n$"), "got '%s'", out);
    free(out);
}

static void emit_long(void)
{
    char big[3000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_msg(LOG_LEVEL_ERROR, "long: %s", big);
}

Test(log, long_message_is_truncated_to_one_line)
{
    log_set_level(LOG_LEVEL_INFO);
    char *out = capture(emit_long);
    size_t len = strlen(out);
    cr_assert_leq(len, 1024, "line of %zu bytes", len);
    cr_assert_geq(len, 1000, "line of %zu bytes", len);
    cr_assert_eq(out[len - 1], '\n');
    cr_assert_eq(strchr(out, '\n'), out + len - 1, "exactly one newline");
    cr_assert(matches(out, TS "level=error long: z+\n$"), "got '%s'", out);
    free(out);
}

static void emit_empty(void) { log_msg(LOG_LEVEL_WARN, "%s", ""); }

Test(log, empty_message)
{
    log_set_level(LOG_LEVEL_INFO);
    char *out = capture(emit_empty);
    cr_assert(matches(out, TS "level=warn \n$"), "got '%s'", out);
    free(out);
}
