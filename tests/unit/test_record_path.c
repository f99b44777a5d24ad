/*
 * record_path: sanitizing client names, building recording paths, resolving
 * played names (traversal refused), and record_apps selection.
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "record/record_path.h"

#include <string.h>

static void sanitized(const char *in, const char *want)
{
    char out[RECORD_PATH_COMPONENT_MAX + 1];
    record_path_sanitize(in, out, sizeof(out));
    cr_assert_str_eq(out, want, "sanitize(\"%s\")", in);
}

Test(record_path, sanitize)
{
    sanitized("cam1", "cam1");
    sanitized("a-b_c.d", "a-b_c.d");
    sanitized("..", "_.");
    sanitized(".hidden", "_hidden");
    sanitized("a/b", "a_b");
    sanitized("../../etc/passwd", "_._.._etc_passwd");
    sanitized("", "_");
    sanitized("sp ace%20", "sp_ace_20");
    sanitized("\xc3\xa9t\xc3\xa9", "__t__");
}

Test(record_path, sanitize_bounds)
{
    char longname[600];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    char out[RECORD_PATH_COMPONENT_MAX + 1];
    record_path_sanitize(longname, out, sizeof(out));
    cr_assert_eq(strlen(out), RECORD_PATH_COMPONENT_MAX);
    char small[4];
    record_path_sanitize("abcdef", small, sizeof(small));
    cr_assert_str_eq(small, "abc");
}

Test(record_path, component_ok)
{
    cr_assert(record_path_component_ok("cam-1_x.y", 9));
    cr_assert(!record_path_component_ok("", 0));
    cr_assert(!record_path_component_ok("..", 2));
    cr_assert(!record_path_component_ok(".x", 2));
    cr_assert(!record_path_component_ok("a/b", 3));
    cr_assert(!record_path_component_ok("a%2fb", 5));
    cr_assert(!record_path_component_ok("a\\b", 3));
    char longname[RECORD_PATH_COMPONENT_MAX + 2];
    memset(longname, 'a', sizeof(longname));
    cr_assert(record_path_component_ok(longname, RECORD_PATH_COMPONENT_MAX));
    cr_assert(!record_path_component_ok(longname, RECORD_PATH_COMPONENT_MAX + 1));
}

Test(record_path, build)
{
    char out[RECORD_PATH_MAX];
    /* 2024-02-29 13:14:15 UTC */
    cr_assert_eq(record_path_build(out, sizeof(out), "/rec", "live", "cam", 1709212455), ST_OK);
    cr_assert_str_eq(out, "/rec/live/cam-20240229-131415.flv");
    cr_assert_eq(record_path_build(out, sizeof(out), "/rec", "..", "../x", 0), ST_OK);
    cr_assert_str_eq(out, "/rec/_./_._x-19700101-000000.flv");
    char tiny[16];
    cr_assert_eq(record_path_build(tiny, sizeof(tiny), "/rec", "live", "cam", 0), ST_ERROR);
}

Test(record_path, resolve)
{
    char out[RECORD_PATH_MAX];
    cr_assert_eq(record_path_resolve(out, sizeof(out), "/rec", "live/cam-20240229-131415"), ST_OK);
    cr_assert_str_eq(out, "/rec/live/cam-20240229-131415.flv");
    cr_assert_eq(record_path_resolve(out, sizeof(out), "/rec", "live/cam.flv"), ST_OK);
    cr_assert_str_eq(out, "/rec/live/cam.flv");
    const char *bad[] = {"cam", "/etc/passwd", "live/../x", "../live/x", "live/x/y", "live/", "/x", "live/.flv",
                         "live/.x", "live/a%2f..", "live//x", "", "live/a b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(record_path_resolve(out, sizeof(out), "/rec", bad[i]), ST_ERROR, "accepted \"%s\"", bad[i]);
    char tiny[12];
    cr_assert_eq(record_path_resolve(tiny, sizeof(tiny), "/rec", "live/cam"), ST_ERROR);
}

Test(record_path, selected)
{
    cr_assert(record_path_selected("live", "live", "a"));
    cr_assert(!record_path_selected("live", "liv", "a"));
    cr_assert(!record_path_selected("live", "live2", "a"));
    cr_assert(record_path_selected("live,other", "other", "x"));
    cr_assert(record_path_selected(" live , other ", "other", "x"));
    cr_assert(record_path_selected("news/cam1", "news", "cam1"));
    cr_assert(!record_path_selected("news/cam1", "news", "cam12"));
    cr_assert(!record_path_selected("news/cam1", "news", "cam"));
    cr_assert(!record_path_selected("news/cam1", "newsx", "cam1"));
    cr_assert(record_path_selected("*", "any", "thing"));
    cr_assert(!record_path_selected("", "live", "a"));
    cr_assert(!record_path_selected(",,", "live", "a"));
    cr_assert(!record_path_selected("a/", "a", "x"));
}
