#include "live/live_auth.h"

#include "core/status.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* exp is at most 19 digits: fits int64 without overflow checks. */
#define LIVE_AUTH_EXP_DIGITS 19
/* "<app>/<name>?exp=<digits>" fits in this (names are capped at 256). */
#define LIVE_AUTH_MSG_MAX 1024

const char *live_auth_reason(enum live_auth_result r)
{
    switch (r) {
    case LIVE_AUTH_OK:
        return "ok";
    case LIVE_AUTH_MISSING:
        return "missing signed key";
    case LIVE_AUTH_MALFORMED:
        return "malformed signed key";
    case LIVE_AUTH_BAD_SIGNATURE:
        return "bad signature";
    case LIVE_AUTH_EXPIRED:
        return "signed key expired";
    case LIVE_AUTH_UNKNOWN_KEY:
        return "unknown stream key";
    case LIVE_AUTH_IP_DENIED:
        return "address not allowed";
    case LIVE_AUTH_WEBHOOK_DENIED:
        return "refused by webhook";
    case LIVE_AUTH_WEBHOOK_FAILED:
        return "webhook unavailable";
    }
    return "refused";
}

/* --- signed keys -------------------------------------------------------- */

static int hmac(const char *secret, const char *app, const char *name, const char *exp, size_t exp_len,
                unsigned char mac[32])
{
    char msg[LIVE_AUTH_MSG_MAX];
    int n = snprintf(msg, sizeof(msg), "%s/%s?exp=%.*s", app, name, (int)exp_len, exp);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return ST_ERROR;
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, (size_t)n, mac, &len) ||
        len != 32)
        return ST_ERROR;
    return ST_OK;
}

int live_auth_sign(const char *secret, const char *app, const char *name, const char *exp,
                   char out[LIVE_AUTH_SIG_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[32];
    if (hmac(secret, app, name, exp, strlen(exp), mac) != ST_OK)
        return ST_ERROR;
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[LIVE_AUTH_SIG_HEX] = '\0';
    return ST_OK;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Find "key=value" among '&'-separated parameters. 0 = absent, 1 = found
 * once, -1 = present more than once (ambiguous: which one was signed?). */
static int query_param(const char *q, const char *key, const char **val, size_t *len)
{
    size_t klen = strlen(key);
    int found = 0;
    while (q && *q) {
        const char *end = strchr(q, '&');
        size_t plen = end ? (size_t)(end - q) : strlen(q);
        if (plen > klen && memcmp(q, key, klen) == 0 && q[klen] == '=') {
            if (found)
                return -1;
            found = 1;
            *val = q + klen + 1;
            *len = plen - klen - 1;
        }
        q = end ? end + 1 : NULL;
    }
    return found;
}

enum live_auth_result live_auth_check_signature(const char *secret, const char *app, const char *name,
                                                const char *query, int64_t now)
{
    const char *exp = NULL, *sig = NULL;
    size_t exp_len = 0, sig_len = 0;
    int he = query_param(query, "exp", &exp, &exp_len);
    int hs = query_param(query, "sig", &sig, &sig_len);
    if (he < 0 || hs < 0)
        return LIVE_AUTH_MALFORMED;
    if (he == 0 || hs == 0)
        return LIVE_AUTH_MISSING;
    if (exp_len == 0 || exp_len > LIVE_AUTH_EXP_DIGITS || sig_len != LIVE_AUTH_SIG_HEX)
        return LIVE_AUTH_MALFORMED;
    int64_t expiry = 0;
    for (size_t i = 0; i < exp_len; i++) {
        if (exp[i] < '0' || exp[i] > '9')
            return LIVE_AUTH_MALFORMED;
        expiry = expiry * 10 + (exp[i] - '0');
    }
    unsigned char want[32], got[32];
    for (int i = 0; i < 32; i++) {
        int hi = hex_val(sig[2 * i]), lo = hex_val(sig[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return LIVE_AUTH_MALFORMED;
        got[i] = (unsigned char)(hi << 4 | lo);
    }
    if (!secret || hmac(secret, app, name, exp, exp_len, want) != ST_OK)
        return LIVE_AUTH_BAD_SIGNATURE;
    if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
        return LIVE_AUTH_BAD_SIGNATURE;
    return now > expiry ? LIVE_AUTH_EXPIRED : LIVE_AUTH_OK;
}

void live_auth_redact_query(const char *query, char *out, size_t cap)
{
    static const char mark[] = "<redacted>";
    size_t o = 0;
    if (cap == 0)
        return;
    const char *q = query ? query : "";
    while (*q && o + 1 < cap) {
        const char *end = strchr(q, '&');
        size_t plen = end ? (size_t)(end - q) : strlen(q);
        const char *eq = memchr(q, '=', plen);
        size_t keep = plen;
        const char *repl = NULL;
        if (eq && (size_t)(eq - q) == 3 && memcmp(q, "sig", 3) == 0) {
            keep = 4; /* "sig=" */
            repl = mark;
        }
        for (size_t i = 0; i < keep && o + 1 < cap; i++)
            out[o++] = q[i];
        for (const char *r = repl; r && *r && o + 1 < cap; r++)
            out[o++] = *r;
        if (end && o + 1 < cap)
            out[o++] = '&';
        q = end ? end + 1 : q + plen;
    }
    out[o] = '\0';
}

/* --- CIDR lists --------------------------------------------------------- */

static int parse_cidr(const char *item, struct live_auth_cidr *c, char *err, size_t errlen)
{
    char addr[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(item, '/');
    size_t alen = slash ? (size_t)(slash - item) : strlen(item);
    if (alen == 0 || alen >= sizeof(addr)) {
        snprintf(err, errlen, "'%s': not an IP address", item);
        return ST_ERROR;
    }
    memcpy(addr, item, alen);
    addr[alen] = '\0';
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, addr, c->addr) == 1) {
        c->family = AF_INET;
        c->prefix = 32;
    } else if (inet_pton(AF_INET6, addr, c->addr) == 1) {
        c->family = AF_INET6;
        c->prefix = 128;
    } else {
        snprintf(err, errlen, "'%s': not an IPv4 or IPv6 address", item);
        return ST_ERROR;
    }
    if (slash) {
        /* The same rule as the config loader's CONFIG_CIDR_LIST check. */
        const char *p = slash + 1;
        unsigned max = c->prefix;
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || digits > 3 || p[digits] != '\0' || (unsigned)atoi(p) > max) {
            snprintf(err, errlen, "'%s': prefix length must be 0-%u", item, max);
            return ST_ERROR;
        }
        c->prefix = (unsigned)atoi(p);
    }
    /* Clear host bits so matching is a plain masked compare. */
    size_t bytes = c->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < bytes; i++) {
        unsigned bit0 = (unsigned)i * 8;
        if (bit0 >= c->prefix)
            c->addr[i] = 0;
        else if (c->prefix - bit0 < 8)
            c->addr[i] &= (uint8_t)(0xff << (8 - (c->prefix - bit0)));
    }
    return ST_OK;
}

int live_auth_acl_parse(struct live_auth_acl *acl, const char *text, char *err, size_t errlen)
{
    acl->items = NULL;
    acl->n = 0;
    const char *p = text ? text : "";
    size_t cap = 0;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',' && !isspace((unsigned char)*p))
            p++;
        char item[INET6_ADDRSTRLEN + 16];
        size_t len = (size_t)(p - start);
        if (len >= sizeof(item)) {
            snprintf(err, errlen, "'%.40s...': not a CIDR item", start);
            goto fail;
        }
        memcpy(item, start, len);
        item[len] = '\0';
        if (acl->n == LIVE_AUTH_MAX_ITEMS) {
            snprintf(err, errlen, "more than %d items", LIVE_AUTH_MAX_ITEMS);
            goto fail;
        }
        if (acl->n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct live_auth_cidr *v = realloc(acl->items, ncap * sizeof(*v));
            if (!v) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            acl->items = v;
            cap = ncap;
        }
        if (parse_cidr(item, &acl->items[acl->n], err, errlen) != ST_OK)
            goto fail;
        acl->n++;
    }
    return ST_OK;
fail:
    live_auth_acl_free(acl);
    return ST_ERROR;
}

void live_auth_acl_free(struct live_auth_acl *acl)
{
    free(acl->items);
    acl->items = NULL;
    acl->n = 0;
}

static int prefix_equal(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, net, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == net[full];
}

int live_auth_acl_match(const struct live_auth_acl *acl, const struct sockaddr *sa)
{
    uint8_t addr[16];
    int family;
    if (sa->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(addr, a6->s6_addr + 12, 4);
            family = AF_INET;
        } else {
            memcpy(addr, a6->s6_addr, 16);
            family = AF_INET6;
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < acl->n; i++)
        if (acl->items[i].family == family && prefix_equal(addr, acl->items[i].addr, acl->items[i].prefix))
            return 1;
    return 0;
}

int live_auth_ip_allowed(const struct live_auth_acl *allow, const struct live_auth_acl *deny,
                         const struct sockaddr *sa)
{
    if (live_auth_acl_match(deny, sa))
        return 0;
    return allow->n == 0 || live_auth_acl_match(allow, sa);
}

/* --- key lists ---------------------------------------------------------- */

static int cmp_key(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_keyfile(struct live_auth_keyset *set, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return ST_ERROR;
    }
    char line[1024];
    size_t cap = 0;
    int lineno = 0, rc = ST_ERROR;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            goto out;
        }
        char *s = line, *e = line + len;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        *e = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        for (char *c = s; c < e; c++) {
            if (isspace((unsigned char)*c) || *c == '/' || *c == '?') {
                snprintf(err, errlen, "%s:%d: a key may not contain spaces, '/' or '?'", path, lineno);
                goto out;
            }
        }
        if ((size_t)(e - s) >= LIVE_AUTH_KEY_MAX) {
            snprintf(err, errlen, "%s:%d: key longer than %d bytes", path, lineno, LIVE_AUTH_KEY_MAX - 1);
            goto out;
        }
        if (set->n == LIVE_AUTH_MAX_KEYS) {
            snprintf(err, errlen, "%s:%d: more than %d keys", path, lineno, LIVE_AUTH_MAX_KEYS);
            goto out;
        }
        if (set->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **v = realloc(set->keys, ncap * sizeof(*v));
            if (!v)
                goto oom;
            set->keys = v;
            cap = ncap;
        }
        if (!(set->keys[set->n] = strdup(s)))
            goto oom;
        set->n++;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    if (set->n)
        qsort(set->keys, set->n, sizeof(*set->keys), cmp_key);
    rc = ST_OK;
    goto out;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
out:
    fclose(f);
    return rc;
}

int live_auth_keys_load(struct live_auth_keys *keys, const char *spec, char *err, size_t errlen)
{
    keys->sets = NULL;
    keys->n = 0;
    const char *p = spec ? spec : "";
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && isspace((unsigned char)end[-1]))
            end--;
        char item[1024];
        if ((size_t)(end - start) >= sizeof(item)) {
            snprintf(err, errlen, "entry too long");
            goto fail;
        }
        memcpy(item, start, (size_t)(end - start));
        item[end - start] = '\0';
        /* "app=path": the app part has no '/', so "/etc/a=b" stays a path. */
        char *eq = strchr(item, '=');
        char *app = NULL, *path = item;
        if (eq && !memchr(item, '/', (size_t)(eq - item))) {
            *eq = '\0';
            app = item;
            path = eq + 1;
            if (!*app || !*path) {
                snprintf(err, errlen, "'%s': want app=path or path", start);
                goto fail;
            }
        }
        for (size_t i = 0; i < keys->n; i++) {
            const char *a = keys->sets[i].app;
            if ((!a && !app) || (a && app && strcmp(a, app) == 0)) {
                snprintf(err, errlen, "two key files for %s%s", app ? "application " : "", app ? app : "every application");
                goto fail;
            }
        }
        struct live_auth_keyset *v = realloc(keys->sets, (keys->n + 1) * sizeof(*v));
        if (!v) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        keys->sets = v;
        struct live_auth_keyset *set = &keys->sets[keys->n++];
        memset(set, 0, sizeof(*set));
        if (app && !(set->app = strdup(app))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (load_keyfile(set, path, err, errlen) != ST_OK)
            goto fail;
    }
    return ST_OK;
fail:
    live_auth_keys_free(keys);
    return ST_ERROR;
}

void live_auth_keys_free(struct live_auth_keys *keys)
{
    for (size_t i = 0; i < keys->n; i++) {
        for (size_t k = 0; k < keys->sets[i].n; k++)
            free(keys->sets[i].keys[k]);
        free(keys->sets[i].keys);
        free(keys->sets[i].app);
    }
    free(keys->sets);
    keys->sets = NULL;
    keys->n = 0;
}

const struct live_auth_keyset *live_auth_keys_for(const struct live_auth_keys *keys, const char *app)
{
    const struct live_auth_keyset *any = NULL;
    for (size_t i = 0; i < keys->n; i++) {
        if (!keys->sets[i].app)
            any = &keys->sets[i];
        else if (strcmp(keys->sets[i].app, app) == 0)
            return &keys->sets[i];
    }
    return any;
}

int live_auth_keyset_contains(const struct live_auth_keyset *set, const char *name)
{
    return set->n && bsearch(&name, set->keys, set->n, sizeof(*set->keys), cmp_key) != NULL;
}

/* --- rules -------------------------------------------------------------- */

int live_auth_rules_load(struct live_auth_rules *rules, const struct live_auth_spec *spec, char *err,
                         size_t errlen)
{
    char why[256] = "";
    const char *const names[4] = {"publish_allow", "publish_deny", "play_allow", "play_deny"};
    const char *const texts[4] = {spec->publish_allow, spec->publish_deny, spec->play_allow, spec->play_deny};
    struct live_auth_acl *const lists[4] = {&rules->allow[0], &rules->deny[0], &rules->allow[1], &rules->deny[1]};
    memset(rules, 0, sizeof(*rules));
    for (int i = 0; i < 4; i++) {
        if (live_auth_acl_parse(lists[i], texts[i], why, sizeof(why)) != ST_OK) {
            snprintf(err, errlen, "%s: %s", names[i], why);
            goto fail;
        }
    }
    if (live_auth_keys_load(&rules->keys, spec->publish_keys_file, why, sizeof(why)) != ST_OK) {
        snprintf(err, errlen, "publish_keys_file: %s", why);
        goto fail;
    }
    return ST_OK;
fail:
    live_auth_rules_free(rules);
    return ST_ERROR;
}

void live_auth_rules_free(struct live_auth_rules *rules)
{
    for (int i = 0; i < 2; i++) {
        live_auth_acl_free(&rules->allow[i]);
        live_auth_acl_free(&rules->deny[i]);
    }
    live_auth_keys_free(&rules->keys);
}

enum live_auth_result live_auth_check(const struct live_auth_rules *rules, enum live_auth_action act,
                                      const char *secret, const char *app, const char *name, const char *query,
                                      const struct sockaddr *peer, int64_t now)
{
    if (peer && !live_auth_ip_allowed(&rules->allow[act], &rules->deny[act], peer))
        return LIVE_AUTH_IP_DENIED;
    const struct live_auth_keyset *set = act == LIVE_AUTH_PUBLISH ? live_auth_keys_for(&rules->keys, app) : NULL;
    int has_secret = secret && secret[0];
    if (!set && !has_secret)
        return LIVE_AUTH_OK;
    if (set && live_auth_keyset_contains(set, name))
        return LIVE_AUTH_OK;
    if (!has_secret)
        return LIVE_AUTH_UNKNOWN_KEY;
    enum live_auth_result r = live_auth_check_signature(secret, app, name, query, now);
    return r == LIVE_AUTH_MISSING && set ? LIVE_AUTH_UNKNOWN_KEY : r;
}
