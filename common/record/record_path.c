#include "record/record_path.h"

#include "core/status.h"

#include <stdio.h>
#include <string.h>

static int safe_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

void record_path_sanitize(const char *in, char *out, size_t len)
{
    size_t cap = len - 1 < RECORD_PATH_COMPONENT_MAX ? len - 1 : RECORD_PATH_COMPONENT_MAX;
    size_t k = 0;
    for (; in[k] && k < cap; k++)
        out[k] = safe_byte((unsigned char)in[k]) && !(k == 0 && in[k] == '.') ? in[k] : '_';
    if (k == 0)
        out[k++] = '_';
    out[k] = '\0';
}

int record_path_component_ok(const char *s, size_t n)
{
    if (n == 0 || n > RECORD_PATH_COMPONENT_MAX || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!safe_byte((unsigned char)s[i]))
            return 0;
    return 1;
}

int record_path_build(char *out, size_t len, const char *root, const char *app, const char *name, time_t t)
{
    char a[RECORD_PATH_COMPONENT_MAX + 1], n[RECORD_PATH_COMPONENT_MAX + 1], stamp[32];
    struct tm tm;
    record_path_sanitize(app, a, sizeof(a));
    record_path_sanitize(name, n, sizeof(n));
    if (!gmtime_r(&t, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm) == 0)
        return ST_ERROR;
    int k = snprintf(out, len, "%s/%s/%s-%s.flv", root, a, n, stamp);
    return k > 0 && (size_t)k < len ? ST_OK : ST_ERROR;
}

int record_path_resolve(char *out, size_t len, const char *root, const char *rel)
{
    const char *slash = strchr(rel, '/');
    if (!slash)
        return ST_ERROR;
    const char *file = slash + 1;
    size_t app_len = (size_t)(slash - rel), file_len = strlen(file);
    if (file_len > 4 && memcmp(file + file_len - 4, ".flv", 4) == 0)
        file_len -= 4;
    if (!record_path_component_ok(rel, app_len) || !record_path_component_ok(file, file_len))
        return ST_ERROR; /* also refuses a second '/' */
    int k = snprintf(out, len, "%s/%.*s/%.*s.flv", root, (int)app_len, rel, (int)file_len, file);
    return k > 0 && (size_t)k < len ? ST_OK : ST_ERROR;
}

int record_path_selected(const char *list, const char *app, const char *name)
{
    size_t app_len = strlen(app), name_len = strlen(name);
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        size_t n = (size_t)(e - p);
        const char *slash = memchr(p, '/', n);
        if (n == 1 && *p == '*')
            return 1;
        if (!slash && n > 0 && n == app_len && memcmp(p, app, n) == 0)
            return 1;
        if (slash && (size_t)(slash - p) == app_len && memcmp(p, app, app_len) == 0 &&
            n - app_len - 1 == name_len && memcmp(slash + 1, name, name_len) == 0)
            return 1;
        p = e;
    }
    return 0;
}
