/*
 * Unit tests for http_request: a table of requests, each run whole, one byte
 * at a time and split in two at every offset, with the same outcome expected
 * every way; limits at and one past each bound; keep-alive and query helpers.
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "http/http_request.h"

#include <stdio.h>
#include <string.h>

/* ---- driving the parser over pieces ---- */

struct outcome {
    int rc;
    size_t consumed;
    int status;
    const char *error;
};

/* Feed d[0..len) in pieces [0,cut1), [cut1,cut2), ... where step > 0 means
 * pieces of step bytes and step == 0 means the two pieces [0,split),
 * [split,len). Stops at the first non-AGAIN status. */
static struct outcome feed(struct http_request *r, const char *d, size_t len, size_t step, size_t split)
{
    struct outcome o = {ST_AGAIN, 0, 0, NULL};
    size_t off = 0;
    while (off < len || len == 0) {
        size_t n = step ? (step < len - off ? step : len - off) : (off < split ? split - off : len - off);
        size_t used = (size_t)-1;
        o.rc = http_request_parse(r, (const uint8_t *)d + off, n, &used);
        cr_assert_leq(used, n);
        if (o.rc == ST_AGAIN)
            cr_assert_eq(used, n, "ST_AGAIN must consume the whole piece");
        off += used;
        if (o.rc != ST_AGAIN || len == 0)
            break;
    }
    o.consumed = off;
    o.status = r->status;
    o.error = r->error;
    if (o.rc == ST_ERROR)
        cr_assert_not_null(r->error);
    return o;
}

struct expect {
    const char *name;
    const char *in;
    int rc;
    int status;          /* for ST_ERROR */
    size_t consumed;     /* 0: the whole input */
    const char *method, *path, *query;
    int version;
    unsigned nheaders;
    const char *hname, *hvalue; /* one header lookup to check, may be NULL */
    int keep_alive;
};

/* Check one parsed request against the expectation. */
static void check(const struct expect *e, struct http_request *r, struct outcome o, const char *how)
{
    size_t len = strlen(e->in);
    cr_assert_eq(o.rc, e->rc, "%s (%s): rc %d want %d (%s)", e->name, how, o.rc, e->rc,
                 o.error ? o.error : "-");
    if (e->rc == ST_ERROR) {
        cr_assert_eq(o.status, e->status, "%s (%s): status %d want %d (%s)", e->name, how, o.status, e->status,
                     o.error);
        return;
    }
    if (e->rc == ST_AGAIN) {
        cr_assert_eq(o.consumed, len, "%s (%s)", e->name, how);
        return;
    }
    cr_assert_eq(o.consumed, e->consumed ? e->consumed : len, "%s (%s): consumed %zu", e->name, how, o.consumed);
    cr_assert_str_eq(r->method, e->method, "%s (%s)", e->name, how);
    cr_assert_str_eq(r->path, e->path, "%s (%s)", e->name, how);
    cr_assert_str_eq(r->query, e->query, "%s (%s)", e->name, how);
    cr_assert_eq(r->version, e->version, "%s (%s)", e->name, how);
    cr_assert_eq(r->nheaders, e->nheaders, "%s (%s): %u headers", e->name, how, r->nheaders);
    if (e->hname) {
        const char *v = http_request_header(r, e->hname);
        if (e->hvalue) {
            cr_assert_not_null(v, "%s (%s): no %s", e->name, how, e->hname);
            cr_assert_str_eq(v, e->hvalue, "%s (%s)", e->name, how);
        } else {
            cr_assert_null(v, "%s (%s)", e->name, how);
        }
    }
    cr_assert_eq(http_request_keep_alive(r), e->keep_alive, "%s (%s): keep-alive", e->name, how);
}

/* Whole, byte by byte, and split at every offset. */
static void run_case(const struct expect *e, const struct http_request_limits *lim)
{
    size_t len = strlen(e->in);
    struct http_request r;
    cr_assert_eq(http_request_init(&r, lim), ST_OK);
    check(e, &r, feed(&r, e->in, len, len ? len : 1, 0), "whole");
    http_request_reset(&r);
    check(e, &r, feed(&r, e->in, len, 1, 0), "byte by byte");
    for (size_t k = 0; k <= len; k++) {
        char how[32];
        snprintf(how, sizeof(how), "split at %zu", k);
        http_request_reset(&r);
        check(e, &r, feed(&r, e->in, len, 0, k), how);
    }
    http_request_free(&r);
}

#define OK11(nm, s, m, p, q, nh) {nm, s, ST_OK, 0, 0, m, p, q, 11, nh, NULL, NULL, 1}
#define ERR(nm, s, st) {nm, s, ST_ERROR, st, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, 0}
#define AGAIN(nm, s) {nm, s, ST_AGAIN, 0, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, 0}

static const struct expect cases[] = {
    OK11("simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", "", 1),
    {"query and headers",
     "GET /v1/route?stream=live%2Fa&x=1 HTTP/1.1\r\nHost: node1:8080\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n",
     ST_OK, 0, 0, "GET", "/v1/route", "stream=live%2Fa&x=1", 11, 3, "user-agent", "curl/8.0", 1},
    {"bare LF", "GET /metrics HTTP/1.1\nHost: a\nAccept: text/plain\n\n", ST_OK, 0, 0, "GET", "/metrics", "", 11, 2,
     "ACCEPT", "text/plain", 1},
    {"mixed line endings", "HEAD /x HTTP/1.1\r\nHost: a\n\r\n", ST_OK, 0, 0, "HEAD", "/x", "", 11, 1, "host", "a",
     1},
    {"value whitespace trimmed", "GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v 1 \t \r\nX-E:\r\n\r\n", ST_OK, 0, 0, "GET",
     "/", "", 11, 3, "x-a", "v 1", 1},
    {"empty value", "GET / HTTP/1.1\r\nHost: a\r\nX-E:   \r\n\r\n", ST_OK, 0, 0, "GET", "/", "", 11, 2, "X-E", "", 1},
    {"missing header lookup", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ST_OK, 0, 0, "GET", "/", "", 11, 1, "cookie",
     NULL, 1},
    {"obs-text in value", "GET / HTTP/1.1\r\nHost: a\r\nX-U: caf\xc3\xa9\r\n\r\n", ST_OK, 0, 0, "GET", "/", "", 11,
     2, "x-u", "caf\xc3\xa9", 1},
    {"HTTP/1.0 no host, close", "GET /a?b HTTP/1.0\r\n\r\n", ST_OK, 0, 0, "GET", "/a", "b", 10, 0, NULL, NULL, 0},
    {"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ST_OK, 0, 0, "GET", "/", "", 10, 1,
     NULL, NULL, 1},
    {"HTTP/1.1 close in list", "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade , CLOSE\r\n\r\n", ST_OK, 0, 0,
     "GET", "/", "", 11, 2, NULL, NULL, 0},
    {"close beats keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", ST_OK, 0, 0,
     "GET", "/", "", 10, 2, NULL, NULL, 0},
    {"closed token is not close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", ST_OK, 0, 0, "GET",
     "/", "", 11, 2, NULL, NULL, 1},
    {"HTTP/1.2 as 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", ST_OK, 0, 0, "GET", "/", "", 11, 1, NULL, NULL, 1},
    {"leading empty lines", "\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ST_OK, 0, 0, "GET", "/", "", 11, 1, NULL,
     NULL, 1},
    {"absolute-form", "GET http://Node:80/v1/stats?a=1 HTTP/1.1\r\nHost: node\r\n\r\n", ST_OK, 0, 0, "GET",
     "/v1/stats", "a=1", 11, 1, NULL, NULL, 1},
    {"absolute-form no path", "GET HTTPS://node?x HTTP/1.1\r\nHost: node\r\n\r\n", ST_OK, 0, 0, "GET", "/", "x", 11,
     1, NULL, NULL, 1},
    {"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", ST_OK, 0, 0, "OPTIONS", "*", "", 11, 1, NULL, NULL, 1},
    {"content-length zero", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 000\r\n\r\n", ST_OK, 0, 0, "POST", "/x",
     "", 11, 2, "content-length", "000", 1},
    {"pipelined: first only", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", ST_OK, 0, 28,
     "GET", "/1", "", 11, 1, NULL, NULL, 1},
    {"pipelined garbage after", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\x01\x02garbage", ST_OK, 0, 28, "GET", "/1", "",
     11, 1, NULL, NULL, 1},
    {"query with second ?", "GET /p?a=1?b HTTP/1.1\r\nHost: a\r\n\r\n", ST_OK, 0, 0, "GET", "/p", "a=1?b", 11, 1,
     NULL, NULL, 1},

    AGAIN("empty", ""),
    AGAIN("truncated line", "GET /index.html HT"),
    AGAIN("truncated after line", "GET / HTTP/1.1\r\n"),
    AGAIN("truncated in header", "GET / HTTP/1.1\r\nHost: a\r\nX-Long: abc"),
    AGAIN("truncated before blank CR", "GET / HTTP/1.1\r\nHost: a\r\n"),
    AGAIN("truncated before blank LF", "GET / HTTP/1.1\r\nHost: a\r\n\r"),

    ERR("garbage TLS hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    ERR("garbage binary", "\xff\xfe\xfd", 400),
    ERR("lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    ERR("HTTP/0.9", "GET /\r\n\r\n", 400),
    ERR("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ERR("HTTP/0.9 version", "GET / HTTP/0.9\r\n\r\n", 505),
    ERR("version too long", "GET / HTTP/1.10\r\n\r\n", 400),
    ERR("version junk", "GET / HTTP/1.x\r\n\r\n", 400),
    ERR("double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ERR("space before method", " GET / HTTP/1.1\r\n\r\n", 400),
    ERR("empty method", " / HTTP/1.1\r\n\r\n", 400),
    ERR("method with slash", "GE/T / HTTP/1.1\r\n\r\n", 400),
    ERR("relative target", "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ERR("ftp target", "GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ERR("control in target", "GET /a\tb HTTP/1.1\r\n\r\n", 400),
    ERR("DEL in target", "GET /a\x7f HTTP/1.1\r\n\r\n", 400),
    ERR("CR without LF in line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    ERR("CR without LF in header", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
    ERR("CR without LF at end", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400),
    ERR("no Host in 1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400),
    ERR("two Host", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),
    ERR("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n", 400),
    ERR("obs-fold tab first line", "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", 400),
    ERR("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ERR("empty header name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 400),
    ERR("no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400),
    ERR("bad char in name", "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400),
    ERR("control char in value", "GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 400),
    ERR("body", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 413),
    ERR("huge body", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),
    ERR("bad content-length", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400),
    ERR("content-length list", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 0\r\n\r\n", 400),
    ERR("negative content-length", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    ERR("empty content-length", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
    ERR("chunked", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    ERR("te and cl", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    ERR("too many empty lines", "\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400),
};

Test(http_request, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i], NULL);
}

/* NUL bytes need explicit lengths: the table strings stop at them. Each
 * input is run whole, byte by byte and split at every offset, and must stop
 * right after the NUL. */
Test(http_request, nul_bytes)
{
    static const struct {
        const char *in;
        size_t len, nul_at;
    } nuls[] = {
        {"\0GET / HTTP/1.1\r\n\r\n", 19, 0},
        {"G\0ET / HTTP/1.1\r\n\r\n", 19, 1},
        {"GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 30, 6},
        {"GET / HTTP/1.1\0\r\nHost: a\r\n\r\n", 28, 14},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 35, 29},
        {"GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n", 28, 18},
        {"GET / HTTP/1.1\r\nHost: a\r\n\0\r\n", 28, 25},
    };
    struct http_request r;
    cr_assert_eq(http_request_init(&r, NULL), ST_OK);
    for (size_t i = 0; i < sizeof(nuls) / sizeof(nuls[0]); i++) {
        cr_assert_eq(nuls[i].in[nuls[i].nul_at], '\0');
        for (size_t k = 0; k <= nuls[i].len + 1; k++) {
            http_request_reset(&r);
            /* k == len + 1: byte by byte; otherwise split at k */
            struct outcome o = k > nuls[i].len ? feed(&r, nuls[i].in, nuls[i].len, 1, 0)
                                               : feed(&r, nuls[i].in, nuls[i].len, 0, k);
            cr_assert_eq(o.rc, ST_ERROR, "case %zu cut %zu", i, k);
            cr_assert_eq(o.status, 400);
            cr_assert_eq(o.consumed, nuls[i].nul_at + 1, "case %zu cut %zu: consumed %zu", i, k, o.consumed);
        }
    }
    http_request_free(&r);
}

/* ---- limits: exactly at the bound passes, one more byte fails ---- */

static void fill(char *dst, size_t n, char c)
{
    memset(dst, c, n);
    dst[n] = '\0';
}

Test(http_request, request_line_limit)
{
    struct http_request_limits lim = {.max_line = 32, .max_header_bytes = 256, .max_headers = 8};
    char path[64], in[128];
    /* "GET " + "/" + path + " HTTP/1.1" = 4 + 1 + n + 9 = 32 at n = 18 */
    fill(path, 18, 'a');
    snprintf(in, sizeof(in), "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", path);
    struct expect ok = OK11("line at limit", in, "GET", NULL, "", 1);
    char want_path[80];
    snprintf(want_path, sizeof(want_path), "/%s", path);
    ok.path = want_path;
    run_case(&ok, &lim);

    fill(path, 19, 'a');
    snprintf(in, sizeof(in), "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", path);
    struct expect bad = ERR("line over limit", in, 414);
    run_case(&bad, &lim);

    /* A long method or version is the same line. */
    struct expect longm = ERR("long method", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA / HTTP/1.1\r\n\r\n", 414);
    run_case(&longm, &lim);
    /* An endless line without spaces fails early, not at the end. */
    struct expect endless = ERR("endless line", "GETGETGETGETGETGETGETGETGETGETGETGETGET", 414);
    run_case(&endless, &lim);
}

Test(http_request, header_bytes_limit)
{
    struct http_request_limits lim = {.max_line = 64, .max_header_bytes = 40, .max_headers = 8};
    /* "Host: h\r\n" (9) + "X: " (3) + v + "\r\n" (2) + "\r\n" (2) = 16 + n = 40 at n = 24 */
    char v[64], in[160];
    fill(v, 24, 'v');
    snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", v);
    struct expect ok = {"headers at limit", in, ST_OK, 0, 0, "GET", "/", "", 11, 2, "x", v, 1};
    run_case(&ok, &lim);

    fill(v, 25, 'v');
    snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", v);
    struct expect bad = ERR("headers over limit", in, 431);
    run_case(&bad, &lim);

    /* With bare LF the same content is 3 bytes shorter and fits again. */
    fill(v, 27, 'v');
    snprintf(in, sizeof(in), "GET / HTTP/1.1\nHost: h\nX: %s\n\n", v);
    struct expect lf = {"bare LF at limit", in, ST_OK, 0, 0, "GET", "/", "", 11, 2, "x", v, 1};
    run_case(&lf, &lim);

    /* Defaults: one 9000-byte header is over 8 KiB. */
    static char big[9100];
    char val[9001];
    fill(val, 9000, 'z');
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\nCookie: %s\r\n\r\n", val);
    struct expect huge = ERR("default header cap", big, 431);
    struct http_request r;
    cr_assert_eq(http_request_init(&r, NULL), ST_OK);
    check(&huge, &r, feed(&r, big, strlen(big), strlen(big), 0), "whole");
    http_request_reset(&r);
    check(&huge, &r, feed(&r, big, strlen(big), 1, 0), "byte by byte");
    http_request_free(&r);
}

Test(http_request, header_count_limit)
{
    struct http_request_limits lim = {.max_line = 64, .max_header_bytes = 1024, .max_headers = 4};
    struct expect ok = {"4 headers", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", ST_OK, 0, 0, "GET",
                        "/", "", 11, 4, "c", "3", 1};
    run_case(&ok, &lim);
    struct expect bad = ERR("5 headers", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431);
    run_case(&bad, &lim);

    /* Defaults: 64 fields pass, 65 fail. */
    static char in[4096];
    for (int n = 64; n <= 65; n++) {
        size_t off = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\n");
        for (int i = 1; i < n; i++)
            off += (size_t)snprintf(in + off, sizeof(in) - off, "X-%d: %d\r\n", i, i);
        snprintf(in + off, sizeof(in) - off, "\r\n");
        struct http_request r;
        cr_assert_eq(http_request_init(&r, NULL), ST_OK);
        size_t used;
        int rc = http_request_parse(&r, (const uint8_t *)in, strlen(in), &used);
        if (n == 64) {
            cr_assert_eq(rc, ST_OK);
            cr_assert_eq(r.nheaders, 64);
            cr_assert_str_eq(http_request_header(&r, "x-63"), "63");
        } else {
            cr_assert_eq(rc, ST_ERROR);
            cr_assert_eq(r.status, 431);
        }
        http_request_free(&r);
    }
}

Test(http_request, limits_clamped)
{
    struct http_request_limits lim = {.max_line = (size_t)1 << 40, .max_header_bytes = 0, .max_headers = 0};
    struct http_request r;
    cr_assert_eq(http_request_init(&r, &lim), ST_OK);
    cr_assert_eq(r.limits.max_line, HTTP_REQUEST_LIMIT_CAP);
    cr_assert_eq(r.limits.max_header_bytes, HTTP_REQUEST_DEFAULT_MAX_HEADER_BYTES);
    cr_assert_eq(r.limits.max_headers, HTTP_REQUEST_DEFAULT_MAX_HEADERS);
    http_request_free(&r);
    http_request_free(&r); /* idempotent */
}

/* ---- pipelining and reuse ---- */

Test(http_request, pipelined_in_order_with_reset)
{
    const char *in = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                     "HEAD /2?x=y HTTP/1.1\nHost: a\nConnection: close\n\n"
                     "GET /3 HTTP/1.0\r\n\r\n"
                     "GET /4 HTT";
    const char *paths[] = {"/1", "/2", "/3"};
    size_t len = strlen(in);
    for (size_t step = 1; step <= len; step++) {
        struct http_request r;
        cr_assert_eq(http_request_init(&r, NULL), ST_OK);
        size_t off = 0, end = 0;
        int seen = 0;
        while (off < len) {
            /* The caller keeps unconsumed bytes: re-offer them with the next piece. */
            if (end < off)
                end = off;
            end = end + step < len ? end + step : len;
            size_t used;
            int rc = http_request_parse(&r, (const uint8_t *)in + off, end - off, &used);
            off += used;
            if (rc == ST_OK) {
                cr_assert_lt(seen, 3);
                cr_assert_str_eq(r.path, paths[seen]);
                cr_assert_eq(http_request_keep_alive(&r), seen == 0);
                seen++;
                /* Repeated call after ST_OK is idempotent. */
                cr_assert_eq(http_request_parse(&r, (const uint8_t *)in + off, end - off, &used), ST_OK);
                cr_assert_eq(used, 0);
                http_request_reset(&r);
            } else {
                cr_assert_eq(rc, ST_AGAIN, "step %zu: %s", step, r.error ? r.error : "");
            }
        }
        cr_assert_eq(seen, 3, "step %zu", step);
        http_request_free(&r);
    }
}

Test(http_request, error_is_sticky)
{
    struct http_request r;
    cr_assert_eq(http_request_init(&r, NULL), ST_OK);
    size_t used;
    cr_assert_eq(http_request_parse(&r, (const uint8_t *)"BAD\x01", 4, &used), ST_ERROR);
    cr_assert_eq(used, 4);
    cr_assert_eq(http_request_parse(&r, (const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18, &used), ST_ERROR);
    cr_assert_eq(used, 0);
    http_request_reset(&r);
    cr_assert_eq(http_request_parse(&r, (const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18, &used), ST_OK);
    cr_assert_null(r.error);
    http_request_free(&r);
}

/* ---- query parameters ---- */

Test(http_request, query_param)
{
    char out[32];
    size_t n = 99;
    const char *q = "stream=live%2Fcam+1&empty=&flag&a%62c=%41&x=1&x=2&pct=%zz&nul=%00&long=0123456789abcdef";
    cr_assert_eq(http_request_query_param(q, "stream", out, sizeof(out), &n), ST_OK);
    cr_assert_str_eq(out, "live/cam 1");
    cr_assert_eq(n, 10);
    cr_assert_eq(http_request_query_param(q, "empty", out, sizeof(out), &n), ST_OK);
    cr_assert_str_eq(out, "");
    cr_assert_eq(n, 0);
    cr_assert_eq(http_request_query_param(q, "flag", out, sizeof(out), NULL), ST_OK);
    cr_assert_str_eq(out, "");
    cr_assert_eq(http_request_query_param(q, "abc", out, sizeof(out), NULL), ST_OK, "key decoded");
    cr_assert_str_eq(out, "A");
    cr_assert_eq(http_request_query_param(q, "x", out, sizeof(out), NULL), ST_OK);
    cr_assert_str_eq(out, "1", "first wins");
    cr_assert_eq(http_request_query_param(q, "missing", out, sizeof(out), &n), ST_DONE);
    cr_assert_eq(n, 0);
    cr_assert_eq(http_request_query_param(q, "strea", out, sizeof(out), NULL), ST_DONE, "no prefix match");
    cr_assert_eq(http_request_query_param(q, "streamx", out, sizeof(out), NULL), ST_DONE);
    cr_assert_eq(http_request_query_param(q, "pct", out, sizeof(out), NULL), ST_ERROR);
    cr_assert_eq(http_request_query_param(q, "nul", out, sizeof(out), NULL), ST_ERROR);
    cr_assert_eq(http_request_query_param(q, "long", out, 16, NULL), ST_ERROR, "16 bytes + NUL");
    cr_assert_str_eq(out, "");
    cr_assert_eq(http_request_query_param(q, "long", out, 17, &n), ST_OK);
    cr_assert_eq(n, 16);
    cr_assert_eq(http_request_query_param("", "a", out, sizeof(out), NULL), ST_DONE);
    cr_assert_eq(http_request_query_param("a=%4", "a", out, sizeof(out), NULL), ST_ERROR, "truncated escape");
    cr_assert_eq(http_request_query_param("&&a=1&", "a", out, sizeof(out), NULL), ST_OK);
    cr_assert_str_eq(out, "1");
    cr_assert_eq(http_request_query_param("a=1", "a", out, 0, NULL), ST_ERROR);
}

Test(http_request, query_from_parsed_request)
{
    struct http_request r;
    cr_assert_eq(http_request_init(&r, NULL), ST_OK);
    const char *in = "GET /v1/route?app=live&name=a%20b HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t used;
    cr_assert_eq(http_request_parse(&r, (const uint8_t *)in, strlen(in), &used), ST_OK);
    char out[32];
    cr_assert_eq(http_request_query_param(r.query, "name", out, sizeof(out), NULL), ST_OK);
    cr_assert_str_eq(out, "a b");
    cr_assert_str_eq(r.target, "/v1/route?app=live&name=a%20b");
    http_request_free(&r);
}
