/*
 * Unit tests for http_static: the generated asset table (every www/ file
 * there, ETags equal to the SHA-256 of the embedded bytes, the page only
 * naming assets that exist), If-None-Match matching (table of headers, each
 * also cut at every length), and the handler behind a real http_server on
 * 127.0.0.1:0 whose loop runs in a thread, driven by blocking sockets.
 */
#include <criterion/criterion.h>

#include "core/log.h"
#include "core/status.h"
#include "http/http_server.h"
#include "http/http_static.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const expected_paths[] = {"/", "/status.js", "/style.css", "/vendor/hls.min.js",
                                             "/vendor/hls.js.LICENSE"};

/* ---- the table ---- */

Test(http_static_table, every_page_file_is_there)
{
    for (size_t i = 0; i < sizeof(expected_paths) / sizeof(expected_paths[0]); i++) {
        const struct http_static_asset *a = http_static_find(expected_paths[i]);
        cr_assert_not_null(a, "%s missing", expected_paths[i]);
        cr_assert_str_eq(a->path, expected_paths[i]);
        cr_assert_gt(a->len, 0);
        cr_assert_eq(a->data[a->len], 0, "%s: no trailing NUL", a->path);
    }
    cr_assert_eq(http_static_nassets, sizeof(expected_paths) / sizeof(expected_paths[0]),
                 "unexpected asset count %zu (README files must stay out)", http_static_nassets);
}

Test(http_static_table, find_is_exact)
{
    const char *const misses[] = {"",           "/index.html", "/status.js?x=1", "/STATUS.JS", "/status.js/",
                                  "status.js",  "//",          "/vendor/",       "/vendor/README.md",
                                  "/../status.js"};
    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++)
        cr_assert_null(http_static_find(misses[i]), "%s found", misses[i]);
    cr_assert_null(http_static_find(NULL));
}

Test(http_static_table, content_types_and_cache_control)
{
    const struct {
        const char *path, *type, *cache;
    } want[] = {
        {"/", "text/html; charset=utf-8", "no-cache"},
        {"/status.js", "text/javascript; charset=utf-8", "max-age=3600"},
        {"/style.css", "text/css; charset=utf-8", "max-age=3600"},
        {"/vendor/hls.min.js", "text/javascript; charset=utf-8", "max-age=3600"},
        {"/vendor/hls.js.LICENSE", "text/plain; charset=utf-8", "max-age=3600"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct http_static_asset *a = http_static_find(want[i].path);
        cr_assert_not_null(a);
        cr_assert_str_eq(a->content_type, want[i].type, "%s", want[i].path);
        cr_assert_str_eq(http_static_cache_control(a), want[i].cache, "%s", want[i].path);
    }
}

Test(http_static_table, etag_is_sha256_of_the_bytes)
{
    for (size_t i = 0; i < http_static_nassets; i++) {
        const struct http_static_asset *a = &http_static_assets[i];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        cr_assert(EVP_Digest(a->data, a->len, md, &mdlen, EVP_sha256(), NULL));
        char want[19];
        want[0] = '"';
        for (int k = 0; k < 8; k++)
            snprintf(want + 1 + 2 * k, 3, "%02x", md[k]);
        want[17] = '"';
        want[18] = '\0';
        cr_assert_str_eq(a->etag, want, "%s", a->path);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(a->etag, http_static_assets[j].etag, "%s and %s share an ETag", a->path,
                              http_static_assets[j].path);
    }
}

/* Every src= / href= in the page names an asset, the node API or inline
 * data: nothing from another host. */
Test(http_static_table, page_references_resolve)
{
    const struct http_static_asset *page = http_static_find("/");
    cr_assert_not_null(page);
    const char *p = (const char *)page->data;
    int refs = 0;
    const char *attrs[] = {"src=\"", "href=\""};
    for (size_t k = 0; k < 2; k++) {
        for (const char *s = strstr(p, attrs[k]); s; s = strstr(s + 1, attrs[k])) {
            const char *v = s + strlen(attrs[k]);
            const char *end = strchr(v, '"');
            cr_assert_not_null(end);
            char ref[256];
            size_t n = (size_t)(end - v);
            cr_assert_lt(n, sizeof(ref));
            memcpy(ref, v, n);
            ref[n] = '\0';
            if (strncmp(ref, "data:", 5) == 0)
                continue; /* inline (the empty favicon) */
            cr_assert(ref[0] == '/', "page references %s: not a local absolute path", ref);
            cr_assert(http_static_find(ref) || strncmp(ref, "/v1/", 4) == 0, "page references missing %s", ref);
            refs++;
        }
    }
    cr_assert_geq(refs, 3);
    cr_assert_not_null(strstr(p, "/vendor/hls.min.js"));
    cr_assert_not_null(strstr(p, "/status.js"));
    cr_assert_not_null(strstr(p, "id=\"player\""));
}

Test(http_static_table, vendored_hls_js_is_the_real_thing)
{
    const struct http_static_asset *a = http_static_find("/vendor/hls.min.js");
    cr_assert_not_null(a);
    cr_assert_gt(a->len, 100000);
    cr_assert_not_null(strstr((const char *)a->data, "lowLatencyMode"));
    cr_assert_not_null(strstr((const char *)a->data, "isSupported"));
    const struct http_static_asset *lic = http_static_find("/vendor/hls.js.LICENSE");
    cr_assert_not_null(lic);
    cr_assert_not_null(strstr((const char *)lic->data, "Apache License"));
}

/* ---- If-None-Match ---- */

#define TAG "\"0123456789abcdef\""

static const struct {
    const char *header;
    int match;
} inm_cases[] = {
    {TAG, 1},
    {"W/" TAG, 1},
    {"*", 1},
    {"  *  ", 1},
    {"\"zzz\", " TAG, 1},
    {"\"zzz\",W/" TAG ",\"yyy\"", 1},
    {",,, " TAG " ,,", 1},
    {"\"a,b\", " TAG, 1},       /* comma inside a tag */
    {"", 0},
    {"   ", 0},
    {"\"0123456789abcdef", 0},  /* unterminated */
    {"0123456789abcdef", 0},    /* unquoted */
    {"\"0123456789abcde\"", 0}, /* shorter */
    {"\"0123456789abcdef0\"", 0},
    {"\"0123456789ABCDEF\"", 0}, /* opaque tags are case-sensitive */
    {"w/" TAG, 0},
    {"W/", 0},
    {"W", 0},
    {"*x", 0},
    {"x*", 0},
    {"\"", 0},
    {"\"\"", 0},
    {"garbage " TAG, 0},        /* the element is "garbage ...", malformed */
    {"\"x\" " TAG, 0},          /* two tags without a comma: the second is junk */
    {"\xff\xfe\x01\"", 0},
};

Test(http_static_etag, table)
{
    for (size_t i = 0; i < sizeof(inm_cases) / sizeof(inm_cases[0]); i++)
        cr_assert_eq(http_static_etag_match(inm_cases[i].header, TAG), inm_cases[i].match, "case %zu: %s", i,
                     inm_cases[i].header);
    cr_assert_eq(http_static_etag_match(NULL, TAG), 0);
    cr_assert_eq(http_static_etag_match(TAG, NULL), 0);
}

/* Every prefix of every case, in a buffer of exactly that size (ASan sees
 * any read past it). Where the only tag ends the header, any cut must stop
 * the match; a case that does not match cannot match when cut (unless a cut
 * leaves a bare "*"). */
Test(http_static_etag, every_truncation)
{
    size_t tlen = strlen(TAG);
    for (size_t i = 0; i < sizeof(inm_cases) / sizeof(inm_cases[0]); i++) {
        const char *full = inm_cases[i].header;
        size_t len = strlen(full);
        int tag_last = len >= tlen && strcmp(full + len - tlen, TAG) == 0 && strstr(full, TAG) == full + len - tlen;
        for (size_t cut = 0; cut <= len; cut++) {
            char *h = malloc(cut + 1);
            cr_assert_not_null(h);
            memcpy(h, full, cut);
            h[cut] = '\0';
            int m = http_static_etag_match(h, TAG);
            free(h);
            if (cut == len)
                cr_assert_eq(m, inm_cases[i].match, "case %zu whole", i);
            else if ((tag_last && inm_cases[i].match) || (!inm_cases[i].match && !strchr(full, '*')))
                cr_assert_eq(m, 0, "case %zu cut at %zu matched", i, cut);
        }
    }
}

/* Only the first 8 KiB of a header is looked at. */
Test(http_static_etag, oversized_header)
{
    size_t pad = 9000;
    char *h = malloc(pad + sizeof(TAG) + 2);
    cr_assert_not_null(h);
    memset(h, ',', pad);
    memcpy(h + pad, TAG, sizeof(TAG));
    cr_assert_eq(http_static_etag_match(h, TAG), 0);
    memcpy(h, TAG, sizeof(TAG) - 1); /* now at the front as well */
    cr_assert_eq(http_static_etag_match(h, TAG), 1);
    free(h);
}

/* ---- the handler on a real server ---- */

static struct {
    struct ev_loop *loop;
    struct http_server srv;
    ev_async stop;
    pthread_t thread;
    int port;
} fx;

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)revents;
    http_server_close(&fx.srv);
    ev_async_stop(loop, w);
    ev_break(loop, EVBREAK_ALL);
}

static void *loop_main(void *arg)
{
    (void)arg;
    ev_run(fx.loop, 0);
    return NULL;
}

static void setup(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    memset(&fx, 0, sizeof(fx));
    fx.loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_not_null(fx.loop);
    struct http_server_config cfg = {.listen = "127.0.0.1:0", .timeout_ms = 3000, .max_connections = 8};
    cr_assert_eq(http_server_open(&fx.srv, fx.loop, &cfg), ST_OK);
    fx.port = http_server_port(&fx.srv);
    cr_assert_eq(http_static_route(&fx.srv), ST_OK);
    /* A prefix route onto the handler, for its own 404. */
    cr_assert_eq(http_server_route(&fx.srv, "/static/*", HTTP_SERVER_GET, http_static_handle, NULL), ST_OK);
    ev_async_init(&fx.stop, stop_cb);
    ev_async_start(fx.loop, &fx.stop);
    cr_assert_eq(pthread_create(&fx.thread, NULL, loop_main, NULL), 0);
}

static void teardown(void)
{
    ev_async_send(fx.loop, &fx.stop);
    pthread_join(fx.thread, NULL);
    ev_loop_destroy(fx.loop);
}

TestSuite(http_static_server, .init = setup, .fini = teardown, .timeout = 15);

struct resp {
    int status;
    char head[4096];
    char *body;
    size_t body_len; /* bytes after the head, up to EOF */
};

static const char *header(const struct resp *r, const char *name, char *val, size_t vsize)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r");
            n = n < vsize ? n : vsize - 1;
            memcpy(val, v, n);
            val[n] = '\0';
            return val;
        }
    }
    return NULL;
}

/* One request with "Connection: close"; everything up to EOF is the answer. */
static void request(const char *method, const char *path, const char *extra, struct resp *r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[1024];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n", method, path,
                     extra ? extra : "");
    cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    size_t cap = 2u << 20, len = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    ssize_t got;
    while (len < cap && (got = recv(fd, buf + len, cap - len, 0)) > 0)
        len += (size_t)got;
    close(fd);
    char *end = memmem(buf, len, "\r\n\r\n", 4);
    cr_assert_not_null(end, "no response head for %s %s", method, path);
    size_t hlen = (size_t)(end - buf) + 4;
    cr_assert_lt(hlen, sizeof(r->head));
    memcpy(r->head, buf, hlen);
    r->head[hlen] = '\0';
    cr_assert_eq(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1, "%s", r->head);
    r->body_len = len - hlen;
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, buf + hlen, r->body_len);
    r->body[r->body_len] = '\0';
    free(buf);
}

Test(http_static_server, get_every_asset)
{
    for (size_t i = 0; i < http_static_nassets; i++) {
        const struct http_static_asset *a = &http_static_assets[i];
        struct resp r;
        char v[128];
        request("GET", a->path, NULL, &r);
        cr_assert_eq(r.status, 200, "%s: %s", a->path, r.head);
        cr_assert_str_eq(header(&r, "Content-Type", v, sizeof(v)), a->content_type);
        cr_assert_str_eq(header(&r, "ETag", v, sizeof(v)), a->etag);
        cr_assert_str_eq(header(&r, "Cache-Control", v, sizeof(v)), http_static_cache_control(a));
        cr_assert_eq(strtoul(header(&r, "Content-Length", v, sizeof(v)), NULL, 10), a->len);
        cr_assert_eq(r.body_len, a->len, "%s: %zu bytes of %zu", a->path, r.body_len, a->len);
        cr_assert_eq(memcmp(r.body, a->data, a->len), 0, "%s: body differs", a->path);
        free(r.body);
    }
}

Test(http_static_server, if_none_match_304)
{
    const struct http_static_asset *a = http_static_find("/vendor/hls.min.js");
    char extra[256], v[128];
    struct resp r;
    snprintf(extra, sizeof(extra), "If-None-Match: \"other\", %s\r\n", a->etag);
    request("GET", a->path, extra, &r);
    cr_assert_eq(r.status, 304, "%s", r.head);
    cr_assert_eq(r.body_len, 0);
    cr_assert_str_eq(header(&r, "ETag", v, sizeof(v)), a->etag);
    cr_assert_str_eq(header(&r, "Cache-Control", v, sizeof(v)), "max-age=3600");
    cr_assert_null(header(&r, "Content-Length", v, sizeof(v)));
    free(r.body);

    /* The page's tag does not validate the script. */
    snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", http_static_find("/")->etag);
    request("GET", a->path, extra, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, a->len);
    free(r.body);

    request("GET", "/", "If-None-Match: *\r\n", &r);
    cr_assert_eq(r.status, 304);
    cr_assert_str_eq(header(&r, "Cache-Control", v, sizeof(v)), "no-cache");
    free(r.body);
}

Test(http_static_server, head_has_no_body)
{
    const struct http_static_asset *a = http_static_find("/status.js");
    struct resp r;
    char v[128];
    request("HEAD", a->path, NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 0);
    cr_assert_eq(strtoul(header(&r, "Content-Length", v, sizeof(v)), NULL, 10), a->len);
    cr_assert_str_eq(header(&r, "ETag", v, sizeof(v)), a->etag);
    free(r.body);
}

Test(http_static_server, other_methods_and_paths)
{
    struct resp r;
    request("POST", "/", NULL, &r);
    cr_assert_eq(r.status, 405, "%s", r.head);
    free(r.body);
    request("GET", "/nope.js", NULL, &r);
    cr_assert_eq(r.status, 404);
    free(r.body);
    request("GET", "/static/x", NULL, &r);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(r.body, "no such page\n");
    free(r.body);
    /* A query does not change which asset is served. */
    request("GET", "/?play=live/x", NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, http_static_find("/")->len);
    free(r.body);
}

Test(http_static_route, paths_added_once)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_not_null(loop);
    struct http_server srv;
    struct http_server_config cfg = {.listen = "127.0.0.1:0"};
    cr_assert_eq(http_server_open(&srv, loop, &cfg), ST_OK);
    cr_assert_eq(http_static_route(&srv), ST_OK);
    cr_assert_eq(srv.nroutes, http_static_nassets);
    cr_assert_eq(http_static_route(&srv), ST_ERROR, "the same paths twice must be refused");
    http_server_close(&srv);
    ev_loop_destroy(loop);
}
