#include "core/config.h"
#include "core/log.h"
#include "core/status.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A config file is small; refuse anything bigger than this rather than
 * slurping a wrong path such as a log or a device. */
#define CONFIG_MAX_FILE (16u * 1024 * 1024)
#define CONFIG_REASON_LEN 256

static const char *const config_type_names[] = {"int", "bool", "string", "size", "ms", "address", "level",
                                                "cidrs"};
#define CONFIG_NTYPES (sizeof(config_type_names) / sizeof(config_type_names[0]))

/* Types stored as an owned char *. */
static int config_is_string(enum config_type t)
{
    return t == CONFIG_STRING || t == CONFIG_ADDR || t == CONFIG_LOG_LEVEL || t == CONFIG_CIDR_LIST;
}

/* CONFIG_CIDR_LIST, checked with the rules of live_auth_acl_parse (which
 * the running server uses; test_live_auth keeps the two in step), so
 * --check-config and a reload refuse what the server would refuse. */
static int config_check_cidr_list(const char *v, char *reason)
{
    while (*v) {
        while (*v == ',' || isspace((unsigned char)*v))
            v++;
        if (!*v)
            break;
        const char *start = v;
        while (*v && *v != ',' && !isspace((unsigned char)*v))
            v++;
        char item[INET6_ADDRSTRLEN + 16], addr[INET6_ADDRSTRLEN + 8];
        unsigned char bin[16];
        size_t len = (size_t)(v - start);
        if (len >= sizeof(item)) {
            snprintf(reason, CONFIG_REASON_LEN, "'%.40s...': not a CIDR item", start);
            return ST_ERROR;
        }
        memcpy(item, start, len);
        item[len] = '\0';
        const char *slash = strchr(item, '/');
        size_t alen = slash ? (size_t)(slash - item) : len;
        unsigned max = 0;
        if (alen > 0 && alen < sizeof(addr)) {
            memcpy(addr, item, alen);
            addr[alen] = '\0';
            max = inet_pton(AF_INET, addr, bin) == 1 ? 32 : inet_pton(AF_INET6, addr, bin) == 1 ? 128 : 0;
        }
        if (max == 0) {
            snprintf(reason, CONFIG_REASON_LEN, "'%s': not an IPv4 or IPv6 address", item);
            return ST_ERROR;
        }
        if (slash) {
            const char *p = slash + 1;
            size_t digits = strspn(p, "0123456789");
            if (digits == 0 || digits > 3 || p[digits] != '\0' || (unsigned)atoi(p) > max) {
                snprintf(reason, CONFIG_REASON_LEN, "'%s': prefix length must be 0-%u", item, max);
                return ST_ERROR;
            }
        }
    }
    return ST_OK;
}

/* [tcp://]HOST:PORT as described in config.h; "" is allowed (off). */
static int config_check_addr(const char *v, char *reason)
{
    if (*v == '\0')
        return ST_OK;
    if (strncmp(v, "tcp://", 6) == 0)
        v += 6;
    const char *colon;
    if (*v == '[') {
        const char *end = strchr(v, ']');
        if (!end || end[1] != ':') {
            snprintf(reason, CONFIG_REASON_LEN, "bad address '%s' (want [IPv6]:PORT)", v);
            return ST_ERROR;
        }
        colon = end + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon) {
            snprintf(reason, CONFIG_REASON_LEN, "bad address '%s' (want HOST:PORT)", v);
            return ST_ERROR;
        }
        for (const char *p = v; p < colon; p++) {
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_' && *p != '*') {
                snprintf(reason, CONFIG_REASON_LEN, "bad host in address '%s'", v);
                return ST_ERROR;
            }
        }
    }
    const char *port = colon + 1;
    size_t digits = strspn(port, "0123456789");
    if (digits == 0 || digits > 5 || port[digits] != '\0' || atol(port) > 65535) {
        snprintf(reason, CONFIG_REASON_LEN, "bad port in address '%s' (want 0..65535)", v);
        return ST_ERROR;
    }
    return ST_OK;
}

/* Format into errbuf, then replace control bytes so a hostile file cannot
 * put escape sequences into the terminal or the log through an error. */
static void config_err(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void config_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    for (char *p = errbuf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static int config_is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

static const struct config_directive *config_find(const struct config_directive *table, size_t n, const char *name,
                                                  size_t namelen)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(table[i].name) == namelen && memcmp(table[i].name, name, namelen) == 0)
            return &table[i];
    return NULL;
}

/* Bounds print as integers unless someone wrote a fractional bound. */
static void config_fmt_bound(char *out, size_t outlen, double v)
{
    if (v > -9e18 && v < 9e18 && v == (double)(long long)v)
        snprintf(out, outlen, "%lld", (long long)v);
    else
        snprintf(out, outlen, "%g", v);
}

static int config_check_range(const struct config_directive *d, double v, const char *shown, char *reason)
{
    if (d->min == 0 && d->max == 0)
        return ST_OK;
    char b[64];
    if (v < d->min) {
        config_fmt_bound(b, sizeof(b), d->min);
        snprintf(reason, CONFIG_REASON_LEN, "value %s below minimum %s", shown, b);
        return ST_ERROR;
    }
    if (v > d->max) {
        config_fmt_bound(b, sizeof(b), d->max);
        snprintf(reason, CONFIG_REASON_LEN, "value %s above maximum %s", shown, b);
        return ST_ERROR;
    }
    return ST_OK;
}

static int config_parse_int(const char *s, long *out, char *reason)
{
    /* strtol would skip leading blanks and accept an empty string as 0. */
    if (*s == '\0' || isspace((unsigned char)*s)) {
        snprintf(reason, CONFIG_REASON_LEN, "invalid integer '%.80s'", s);
        return ST_ERROR;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end != '\0') {
        snprintf(reason, CONFIG_REASON_LEN, "invalid integer '%.80s'", s);
        return ST_ERROR;
    }
    if (errno == ERANGE) {
        snprintf(reason, CONFIG_REASON_LEN, "value '%.80s' out of range", s);
        return ST_ERROR;
    }
    *out = v;
    return ST_OK;
}

static int config_parse_bool(const char *s, int *out, char *reason)
{
    static const char *const yes[] = {"on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return ST_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return ST_OK;
        }
    }
    snprintf(reason, CONFIG_REASON_LEN, "expected on/off, yes/no, true/false or 1/0, got '%.80s'", s);
    return ST_ERROR;
}

/* Digits only: strtoull would accept "-1" as a huge size. */
static int config_parse_size(const char *s, size_t *out, char *reason)
{
    const char *p = s;
    size_t v = 0;
    if (!isdigit((unsigned char)*p))
        goto bad;
    for (; isdigit((unsigned char)*p); p++) {
        size_t dgt = (size_t)(*p - '0');
        if (v > (SIZE_MAX - dgt) / 10)
            goto range;
        v = v * 10 + dgt;
    }
    size_t mult = 1;
    if (*p) {
        switch (tolower((unsigned char)*p)) {
        case 'k': mult = (size_t)1 << 10; break;
        case 'm': mult = (size_t)1 << 20; break;
        case 'g': mult = (size_t)1 << 30; break;
        default: goto bad;
        }
        if (p[1] != '\0')
            goto bad;
    }
    if (v > SIZE_MAX / mult)
        goto range;
    *out = v * mult;
    return ST_OK;
bad:
    snprintf(reason, CONFIG_REASON_LEN, "invalid size '%.80s' (expected a number with optional k/m/g suffix)", s);
    return ST_ERROR;
range:
    snprintf(reason, CONFIG_REASON_LEN, "value '%.80s' out of range", s);
    return ST_ERROR;
}

/* "250", "250ms", "2s", "1.5s", "3m". The result must be a whole number of
 * milliseconds; the fraction is computed exactly in integers. */
static int config_parse_ms(const char *s, long *out, char *reason)
{
    const char *p = s;
    long long ip = 0;
    if (!isdigit((unsigned char)*p))
        goto bad;
    for (; isdigit((unsigned char)*p); p++) {
        int dgt = *p - '0';
        if (ip > (LLONG_MAX - dgt) / 10)
            goto range;
        ip = ip * 10 + dgt;
    }
    const char *frac = NULL;
    size_t fraclen = 0;
    if (*p == '.') {
        frac = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        fraclen = (size_t)(p - frac);
        if (fraclen == 0)
            goto bad;
        while (fraclen > 0 && frac[fraclen - 1] == '0')
            fraclen--;
    }
    long long mult;
    if (*p == '\0' || strcasecmp(p, "ms") == 0)
        mult = 1;
    else if (strcasecmp(p, "s") == 0)
        mult = 1000;
    else if (strcasecmp(p, "m") == 0)
        mult = 60000;
    else
        goto bad;
    /* With trailing zeros stripped, more than 6 fraction digits can never
     * land on a whole millisecond for a multiplier of at most 60000. */
    long long fv = 0, pow10 = 1;
    if (fraclen > 6)
        goto frac;
    for (size_t i = 0; i < fraclen; i++) {
        fv = fv * 10 + (frac[i] - '0');
        pow10 *= 10;
    }
    if (fv * mult % pow10 != 0)
        goto frac;
    if (ip > (LONG_MAX - fv * mult / pow10) / mult)
        goto range;
    *out = (long)(ip * mult + fv * mult / pow10);
    return ST_OK;
bad:
    snprintf(reason, CONFIG_REASON_LEN, "invalid duration '%.80s' (expected a number with optional ms/s/m suffix)",
             s);
    return ST_ERROR;
frac:
    snprintf(reason, CONFIG_REASON_LEN, "duration '%.80s' is not a whole number of milliseconds", s);
    return ST_ERROR;
range:
    snprintf(reason, CONFIG_REASON_LEN, "value '%.80s' out of range", s);
    return ST_ERROR;
}

/* Parse value for d and store it only when valid, so a rejected value leaves
 * the field (and any owned string) as it was. */
static int config_store(const struct config_directive *d, void *settings, const char *value, char *reason)
{
    void *field = (char *)settings + d->offset;
    char shown[32];
    switch (d->type) {
    case CONFIG_INT: {
        long v;
        if (config_parse_int(value, &v, reason) != ST_OK)
            return ST_ERROR;
        snprintf(shown, sizeof(shown), "%ld", v);
        if (config_check_range(d, (double)v, shown, reason) != ST_OK)
            return ST_ERROR;
        *(long *)field = v;
        return ST_OK;
    }
    case CONFIG_BOOL: {
        int v;
        if (config_parse_bool(value, &v, reason) != ST_OK)
            return ST_ERROR;
        *(int *)field = v;
        return ST_OK;
    }
    case CONFIG_ADDR:
    case CONFIG_LOG_LEVEL:
    case CONFIG_CIDR_LIST:
    case CONFIG_STRING: {
        if (d->type == CONFIG_ADDR && config_check_addr(value, reason) != ST_OK)
            return ST_ERROR;
        if (d->type == CONFIG_CIDR_LIST && config_check_cidr_list(value, reason) != ST_OK)
            return ST_ERROR;
        enum log_level level;
        if (d->type == CONFIG_LOG_LEVEL && log_parse_level(value, &level) != ST_OK) {
            snprintf(reason, CONFIG_REASON_LEN, "unknown level '%s' (debug, info, warn or error)", value);
            return ST_ERROR;
        }
        char *copy = strdup(value);
        if (!copy) {
            snprintf(reason, CONFIG_REASON_LEN, "out of memory");
            return ST_ERROR;
        }
        free(*(char **)field);
        *(char **)field = copy;
        return ST_OK;
    }
    case CONFIG_SIZE: {
        size_t v;
        if (config_parse_size(value, &v, reason) != ST_OK)
            return ST_ERROR;
        snprintf(shown, sizeof(shown), "%zu", v);
        if (config_check_range(d, (double)v, shown, reason) != ST_OK)
            return ST_ERROR;
        *(size_t *)field = v;
        return ST_OK;
    }
    case CONFIG_MS: {
        long v;
        if (config_parse_ms(value, &v, reason) != ST_OK)
            return ST_ERROR;
        snprintf(shown, sizeof(shown), "%ld", v);
        if (config_check_range(d, (double)v, shown, reason) != ST_OK)
            return ST_ERROR;
        *(long *)field = v;
        return ST_OK;
    }
    }
    snprintf(reason, CONFIG_REASON_LEN, "bad directive type %d", (int)d->type);
    return ST_ERROR;
}

/* Every field is first zeroed without freeing (the struct may be fresh
 * stack garbage), so config_free is safe afterwards even on ST_ERROR. The
 * default is the value as it would read after unquoting (no quotes, no
 * comment processing). To reload into a used struct, config_free first. */
int config_set_defaults(const struct config_directive *table, size_t n, void *settings)
{
    for (size_t i = 0; i < n; i++) {
        void *field = (char *)settings + table[i].offset;
        switch (table[i].type) {
        case CONFIG_INT:
        case CONFIG_MS: *(long *)field = 0; break;
        case CONFIG_BOOL: *(int *)field = 0; break;
        case CONFIG_STRING:
        case CONFIG_ADDR:
        case CONFIG_LOG_LEVEL:
        case CONFIG_CIDR_LIST: *(char **)field = NULL; break;
        case CONFIG_SIZE: *(size_t *)field = 0; break;
        }
    }
    int rc = ST_OK;
    char reason[CONFIG_REASON_LEN];
    for (size_t i = 0; i < n; i++)
        if (table[i].dflt && config_store(&table[i], settings, table[i].dflt, reason) != ST_OK)
            rc = ST_ERROR;
    return rc;
}

/* Optimal string alignment distance (edits plus adjacent swaps), for the
 * "did you mean" hint; names longer than 63 bytes get no hint. */
static size_t config_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

static const char *config_suggest(const struct config_directive *table, size_t n, const char *name, size_t len)
{
    size_t limit = len >= 6 ? 2 : 1, best = SIZE_MAX;
    const char *pick = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t dist = config_distance(name, len, table[i].name);
        if (dist <= limit && dist < best) {
            best = dist;
            pick = table[i].name;
        }
    }
    return pick;
}

static void config_err_unknown(const struct config_directive *table, size_t n, const char *where, const char *name,
                               size_t len, char *errbuf, size_t errlen)
{
    const char *hint = config_suggest(table, n, name, len);
    if (hint)
        config_err(errbuf, errlen, "%sunknown directive '%.*s' (did you mean '%s'?)", where, (int)len, name, hint);
    else
        config_err(errbuf, errlen, "%sunknown directive '%.*s'", where, (int)len, name);
}

/* Parse the value part of one line (p..end, comments not yet stripped) into
 * out, NUL-terminated. out has room for CONFIG_MAX_LINE + 1 bytes. */
static int config_parse_value(const char *p, const char *end, char *out, char *reason)
{
    size_t n = 0;
    if (p < end && *p == '"') {
        for (p++;; p++) {
            if (p == end) {
                snprintf(reason, CONFIG_REASON_LEN, "unterminated quote");
                return ST_ERROR;
            }
            if (*p == '"')
                break;
            if (*p == '\\') {
                if (p + 1 == end) {
                    snprintf(reason, CONFIG_REASON_LEN, "unterminated quote");
                    return ST_ERROR;
                }
                p++;
                if (*p != '"' && *p != '\\') {
                    snprintf(reason, CONFIG_REASON_LEN, "bad escape '\\%c' in quoted value", *p);
                    return ST_ERROR;
                }
            }
            out[n++] = *p;
        }
        for (p++; p < end && config_is_ws(*p); p++)
            ;
        if (p < end && *p != '#') {
            snprintf(reason, CONFIG_REASON_LEN, "unexpected text after closing quote");
            return ST_ERROR;
        }
    } else {
        const char *hash = memchr(p, '#', (size_t)(end - p));
        if (hash)
            end = hash;
        while (end > p && config_is_ws(end[-1]))
            end--;
        if (p == end) {
            snprintf(reason, CONFIG_REASON_LEN, "missing value");
            return ST_ERROR;
        }
        n = (size_t)(end - p);
        memcpy(out, p, n);
    }
    out[n] = '\0';
    return ST_OK;
}

int config_load_string(const struct config_directive *table, size_t n, void *settings, const char *name,
                       const char *text, size_t len, char *errbuf, size_t errlen)
{
    int rc = ST_ERROR;
    size_t *seen = NULL; /* line where each directive was set, 0 = not yet */
    char *value = malloc(CONFIG_MAX_LINE + 1);
    if (n > 0)
        seen = calloc(n, sizeof(*seen));
    if (!value || (n > 0 && !seen)) {
        config_err(errbuf, errlen, "%s: out of memory", name);
        goto out;
    }
    const char *p = text, *stop = len ? text + len : text; /* text may be NULL when len is 0 */
    size_t lineno = 0;
    while (p < stop) {
        lineno++;
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        const char *end = nl ? nl : stop;
        const char *next = nl ? nl + 1 : stop;
        if (end > p && end[-1] == '\r')
            end--;
        if ((size_t)(end - p) > CONFIG_MAX_LINE) {
            config_err(errbuf, errlen, "%s:%zu: line too long (max %d bytes)", name, lineno, CONFIG_MAX_LINE);
            goto out;
        }
        if (memchr(p, '\0', (size_t)(end - p))) {
            config_err(errbuf, errlen, "%s:%zu: NUL byte in line", name, lineno);
            goto out;
        }
        while (p < end && config_is_ws(*p))
            p++;
        if (p == end || *p == '#') {
            p = next;
            continue;
        }
        const char *key = p;
        while (p < end && !config_is_ws(*p) && *p != '#')
            p++;
        size_t keylen = (size_t)(p - key);
        const struct config_directive *d = config_find(table, n, key, keylen);
        if (!d) {
            char where[CONFIG_REASON_LEN];
            snprintf(where, sizeof(where), "%s:%zu: ", name, lineno);
            config_err_unknown(table, n, where, key, keylen, errbuf, errlen);
            goto out;
        }
        size_t idx = (size_t)(d - table);
        if (seen[idx]) {
            config_err(errbuf, errlen, "%s:%zu: %s: duplicate directive (first set on line %zu)", name, lineno,
                       d->name, seen[idx]);
            goto out;
        }
        seen[idx] = lineno;
        while (p < end && config_is_ws(*p))
            p++;
        char reason[CONFIG_REASON_LEN];
        if (config_parse_value(p, end, value, reason) != ST_OK ||
            config_store(d, settings, value, reason) != ST_OK) {
            config_err(errbuf, errlen, "%s:%zu: %s: %s", name, lineno, d->name, reason);
            goto out;
        }
        p = next;
    }
    rc = ST_OK;
out:
    free(seen);
    free(value);
    return rc;
}

int config_load_file(const struct config_directive *table, size_t n, void *settings, const char *path,
                     char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        config_err(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        return ST_ERROR;
    }
    int rc = ST_ERROR;
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    if (!text) {
        config_err(errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (len > CONFIG_MAX_FILE) {
            config_err(errbuf, errlen, "%s: file too large (max %u bytes)", path, CONFIG_MAX_FILE);
            goto out;
        }
        if (len == cap) {
            /* One byte past the limit is enough to tell "too large". */
            size_t ncap = cap * 2 > CONFIG_MAX_FILE ? CONFIG_MAX_FILE + 1 : cap * 2;
            char *t = realloc(text, ncap);
            if (!t) {
                config_err(errbuf, errlen, "%s: out of memory", path);
                goto out;
            }
            text = t;
            cap = ncap;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                config_err(errbuf, errlen, "%s: cannot read: %s", path, strerror(errno));
                goto out;
            }
            break;
        }
    }
    rc = config_load_string(table, n, settings, path, text, len, errbuf, errlen);
out:
    free(text);
    fclose(f);
    return rc;
}

/* Environment values are taken literally: no quotes, no comments. */
int config_apply_env(const struct config_directive *table, size_t n, void *settings, const char *prefix,
                     char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        char var[256];
        int k = snprintf(var, sizeof(var), "%s%s", prefix, table[i].name);
        if (k < 0 || (size_t)k >= sizeof(var)) {
            config_err(errbuf, errlen, "env %s%s: variable name too long", prefix, table[i].name);
            return ST_ERROR;
        }
        for (char *c = var + strlen(prefix); *c; c++)
            *c = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
        const char *v = getenv(var);
        if (!v)
            continue;
        char reason[CONFIG_REASON_LEN];
        if (config_store(&table[i], settings, v, reason) != ST_OK) {
            config_err(errbuf, errlen, "env %s: %s", var, reason);
            return ST_ERROR;
        }
    }
    return ST_OK;
}

/* The value is taken literally (the shell already did the quoting). An
 * unknown name reports "unknown directive 'x'" with the same hint as files. */
int config_set(const struct config_directive *table, size_t n, void *settings, const char *name,
               const char *value, char *errbuf, size_t errlen)
{
    const struct config_directive *d = config_find(table, n, name, strlen(name));
    if (!d) {
        config_err_unknown(table, n, "", name, strlen(name), errbuf, errlen);
        return ST_ERROR;
    }
    char reason[CONFIG_REASON_LEN];
    if (config_store(d, settings, value, reason) != ST_OK) {
        config_err(errbuf, errlen, "%s: %s", d->name, reason);
        return ST_ERROR;
    }
    return ST_OK;
}

void config_free(const struct config_directive *table, size_t n, void *settings)
{
    for (size_t i = 0; i < n; i++) {
        if (!config_is_string(table[i].type))
            continue;
        char **field = (char **)((char *)settings + table[i].offset);
        free(*field);
        *field = NULL;
    }
}

/* "  name (type, default: x, range: a..b)  help"; an absent default shows
 * as "none". */
void config_print_help(const struct config_directive *table, size_t n, FILE *out)
{
    for (size_t i = 0; i < n; i++) {
        const struct config_directive *d = &table[i];
        const char *type = (unsigned)d->type < CONFIG_NTYPES ? config_type_names[d->type] : "?";
        fprintf(out, "  %s (%s, default: %s", d->name, type, d->dflt ? d->dflt : "none");
        if (d->type != CONFIG_BOOL && !config_is_string(d->type) && !(d->min == 0 && d->max == 0)) {
            char lo[64], hi[64];
            config_fmt_bound(lo, sizeof(lo), d->min);
            config_fmt_bound(hi, sizeof(hi), d->max);
            fprintf(out, ", range: %s..%s", lo, hi);
        }
        fprintf(out, ")  %s\n", d->help ? d->help : "");
    }
}

int config_append_table(struct config_directive *table, size_t cap, size_t *n, const struct config_directive *src,
                        size_t count, size_t base)
{
    if (*n > cap || count > cap - *n)
        return ST_ERROR;
    for (size_t i = 0; i < count; i++) {
        table[*n] = src[i];
        table[*n].offset += base;
        (*n)++;
    }
    return ST_OK;
}

int config_reload_apply(const struct config_directive *table, size_t n, void *running, void *fresh)
{
    int adopted = 0;
    for (size_t i = 0; i < n; i++) {
        const struct config_directive *d = &table[i];
        char *r = (char *)running + d->offset, *f = (char *)fresh + d->offset;
        int differ;
        switch (d->type) {
        case CONFIG_INT:
        case CONFIG_MS:
            differ = *(long *)r != *(long *)f;
            break;
        case CONFIG_BOOL:
            differ = *(int *)r != *(int *)f;
            break;
        case CONFIG_SIZE:
            differ = *(size_t *)r != *(size_t *)f;
            break;
        default: {
            const char *a = *(char **)r, *b = *(char **)f;
            differ = strcmp(a ? a : "", b ? b : "") != 0;
            break;
        }
        }
        if (!differ)
            continue;
        if (!d->reload) {
            LOG_WARN("config: %s changed; it takes effect after a restart", d->name);
            continue;
        }
        switch (d->type) {
        case CONFIG_INT:
        case CONFIG_MS:
            *(long *)r = *(long *)f;
            break;
        case CONFIG_BOOL:
            *(int *)r = *(int *)f;
            break;
        case CONFIG_SIZE:
            *(size_t *)r = *(size_t *)f;
            break;
        default: {
            char *tmp = *(char **)r;
            *(char **)r = *(char **)f;
            *(char **)f = tmp;
            break;
        }
        }
        LOG_INFO("config: %s reloaded", d->name);
        adopted++;
    }
    return adopted;
}
