/*
 * Unit tests for http_server: a real server on 127.0.0.1:0, its libev loop
 * in a thread, driven by plain blocking sockets from the test thread (3 s
 * receive timeout on every socket). The loop is stopped with an ev_async.
 */
#include <criterion/criterion.h>

#include "core/log.h"
#include "core/status.h"
#include "http/http_request.h"
#include "http/http_server.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 500
#define BIG_BODY (1u << 20)
#define MAX_OUTPUT (2u << 20)
#define MAX_PENDING 16

/* ---- the server side (runs on the loop thread) ---- */

struct pending {
    ev_timer timer;
    struct http_server_handle h;
    int id;
    int used;
    int take; /* answer by taking the connection over (a streaming reply) */
};

static struct {
    struct ev_loop *loop;
    struct http_server srv;
    ev_async stop;
    pthread_t thread;
    int port;
    struct pending pending[MAX_PENDING];
    int async_ids;
    atomic_int stale;      /* late answers whose request was gone */
    atomic_int async_sent;
    char *big;
} fx;

static int h_hello(struct http_server_request *req, void *ctx)
{
    (void)ctx;
    return http_server_send(req, 200, "text/plain", "hello world", 11, "X-Test: 1\r\n");
}

static int h_echo(struct http_server_request *req, void *ctx)
{
    (void)ctx;
    char q[64], body[256];
    int rc = http_request_query_param(http_server_request_query(req), "q", q, sizeof(q), NULL);
    const char *h = http_server_request_header(req, "x-echo");
    int n = snprintf(body, sizeof(body), "q=%s;h=%s;m=%s;p=%s", rc == ST_OK ? q : rc == ST_DONE ? "-" : "!",
                     h ? h : "-", http_server_request_method(req), http_server_request_path(req));
    return http_server_send(req, 200, "text/plain", body, (size_t)n, NULL);
}

static void async_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct pending *p = (struct pending *)w;
    struct http_server_request *req = http_server_request_lookup(&fx.srv, p->h);
    p->used = 0;
    if (!req) {
        atomic_fetch_add(&fx.stale, 1);
        return;
    }
    if (p->take) {
        struct net_transport t;
        if (http_server_takeover(req, &t) != ST_OK)
            abort();
        /* Counted before the client can see the reply (it checks the count
         * right after its last EOF). */
        atomic_fetch_add(&fx.async_sent, 1);
        static const char reply[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ntaken";
        if (send(t.fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(reply) - 1)
            abort();
        net_transport_close(&t);
        return;
    }
    char body[64];
    int n = snprintf(body, sizeof(body), "async done #%d", p->id);
    if (http_server_send(req, 200, "text/plain", body, (size_t)n, NULL) == ST_OK)
        atomic_fetch_add(&fx.async_sent, 1);
    /* A second answer through the same handle must be refused. */
    if (http_server_request_lookup(&fx.srv, p->h) != NULL)
        abort();
}

static int h_async(struct http_server_request *req, void *ctx)
{
    for (int i = 0; i < MAX_PENDING; i++) {
        struct pending *p = &fx.pending[i];
        if (p->used)
            continue;
        p->used = 1;
        p->take = ctx != NULL;
        p->h = http_server_request_handle(req);
        p->id = ++fx.async_ids;
        ev_timer_init(&p->timer, async_fire, 0.1, 0.);
        ev_timer_start(fx.loop, &p->timer);
        return HTTP_SERVER_ASYNC;
    }
    return ST_ERROR;
}

/* Never answers: the server's timeout must. */
static int h_never(struct http_server_request *req, void *ctx)
{
    (void)req;
    (void)ctx;
    return HTTP_SERVER_ASYNC;
}

static int h_post(struct http_server_request *req, void *ctx)
{
    (void)ctx;
    return http_server_send(req, 200, "text/plain", "posted", 6, NULL);
}

static int h_files(struct http_server_request *req, void *ctx)
{
    const char *tag = ctx;
    char body[256];
    int n = snprintf(body, sizeof(body), "%s:%s", tag, http_server_request_path(req));
    return http_server_send(req, 200, "text/plain", body, (size_t)n, NULL);
}

static int h_fail(struct http_server_request *req, void *ctx)
{
    (void)req;
    (void)ctx;
    return ST_ERROR;
}

static int h_big(struct http_server_request *req, void *ctx)
{
    size_t len = ctx ? MAX_OUTPUT + 1 : BIG_BODY;
    int rc = http_server_send(req, 200, "application/octet-stream", fx.big, len, NULL);
    return ctx ? ST_OK : rc; /* the oversized one already got its 500 */
}

static int h_nocontent(struct http_server_request *req, void *ctx)
{
    (void)ctx;
    return http_server_send(req, 204, NULL, "ignored", 7, NULL);
}

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    for (int i = 0; i < MAX_PENDING; i++)
        if (fx.pending[i].used)
            ev_timer_stop(loop, &fx.pending[i].timer);
    http_server_close(&fx.srv);
    ev_async_stop(loop, &fx.stop);
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
    log_set_level(getenv("HTTP_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    memset(&fx, 0, sizeof(fx));
    fx.big = malloc(MAX_OUTPUT + 1);
    cr_assert_not_null(fx.big);
    for (size_t i = 0; i < MAX_OUTPUT + 1; i++)
        fx.big[i] = (char)('a' + i % 26);
    fx.loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_not_null(fx.loop);
    struct http_server_config cfg = {
        .listen = "127.0.0.1:0",
        .timeout_ms = TIMEOUT_MS,
        .max_output = MAX_OUTPUT,
        .max_connections = 8,
    };
    cr_assert_eq(http_server_open(&fx.srv, fx.loop, &cfg), ST_OK);
    fx.port = http_server_port(&fx.srv);
    cr_assert_gt(fx.port, 0);
    cr_assert_eq(http_server_route(&fx.srv, "/hello", HTTP_SERVER_GET, h_hello, NULL), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/echo", HTTP_SERVER_GET, h_echo, NULL), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/async", HTTP_SERVER_GET, h_async, NULL), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/never", HTTP_SERVER_GET, h_never, NULL), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/async-take", HTTP_SERVER_GET, h_async, "take"), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/post", HTTP_SERVER_POST | HTTP_SERVER_PUT, h_post, NULL), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/files/*", HTTP_SERVER_GET, h_files, "short"), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/files/deep/*", HTTP_SERVER_GET, h_files, "long"), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/files/exact", HTTP_SERVER_GET, h_files, "exact"), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/fail", HTTP_SERVER_GET, h_fail, NULL), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/big", HTTP_SERVER_GET, h_big, NULL), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/huge", HTTP_SERVER_GET, h_big, "huge"), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/nocontent", HTTP_SERVER_GET, h_nocontent, NULL), ST_OK);
    ev_async_init(&fx.stop, stop_cb);
    ev_async_start(fx.loop, &fx.stop);
    cr_assert_eq(pthread_create(&fx.thread, NULL, loop_main, NULL), 0);
}

static void teardown(void)
{
    ev_async_send(fx.loop, &fx.stop);
    pthread_join(fx.thread, NULL);
    ev_loop_destroy(fx.loop);
    free(fx.big);
}

TestSuite(http_server, .init = setup, .fini = teardown, .timeout = 15);

/* ---- the client side (test thread) ---- */

struct cli {
    int fd;
    char *buf;
    size_t len, cap;
};

struct resp {
    int status;
    char head[2048];
    char *body;
    size_t body_len;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void cli_open(struct cli *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c->fd, 0);
    struct timeval tv = {3, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    c->cap = 4u << 20;
    c->buf = malloc(c->cap);
    c->len = 0;
    cr_assert_not_null(c->buf);
}

static void cli_close(struct cli *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

static void cli_send_n(struct cli *c, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        cr_assert_gt(w, 0, "send failed");
        s += w;
        n -= (size_t)w;
    }
}

static void cli_send(struct cli *c, const char *s) { cli_send_n(c, s, strlen(s)); }

/* One recv into the buffer: >0 bytes, 0 EOF, -1 error/timeout. */
static ssize_t cli_fill(struct cli *c)
{
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

static const char *find_header(const char *head, const char *name, char *val, size_t vsize)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r");
            if (n >= vsize)
                n = vsize - 1;
            memcpy(val, v, n);
            val[n] = '\0';
            return val;
        }
    }
    return NULL;
}

/* Read one response; head_only for HEAD (no body follows). 0 or -1. */
static int cli_response(struct cli *c, struct resp *r, int head_only)
{
    memset(r, 0, sizeof(*r));
    char *end;
    for (;;) {
        if (c->len && (end = memmem(c->buf, c->len, "\r\n\r\n", 4)) != NULL)
            break;
        if (cli_fill(c) <= 0)
            return -1;
    }
    size_t hlen = (size_t)(end - c->buf) + 4;
    cr_assert_lt(hlen, sizeof(r->head));
    memcpy(r->head, c->buf, hlen);
    r->head[hlen] = '\0';
    cr_assert_eq(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1, "bad status line: %s", r->head);
    char v[64];
    size_t blen = 0;
    if (!head_only && find_header(r->head, "Content-Length", v, sizeof(v)))
        blen = strtoul(v, NULL, 10);
    while (c->len < hlen + blen)
        if (cli_fill(c) <= 0)
            return -1;
    r->body = malloc(blen + 1);
    memcpy(r->body, c->buf + hlen, blen);
    r->body[blen] = '\0';
    r->body_len = blen;
    memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
    c->len -= hlen + blen;
    return 0;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* The server must close: EOF with no further bytes. */
static void cli_expect_eof(struct cli *c)
{
    size_t before = c->len;
    ssize_t n;
    while ((n = cli_fill(c)) > 0)
        ;
    cr_assert_eq(n, 0, "expected EOF, got %s", n < 0 ? "timeout/error" : "?");
    cr_assert_eq(c->len, before, "unexpected bytes before EOF");
}

static void expect_get(struct cli *c, const char *req, int status, const char *body)
{
    struct resp r;
    cli_send(c, req);
    cr_assert_eq(cli_response(c, &r, 0), 0, "no response to %s", req);
    cr_assert_eq(r.status, status, "status %d: %s", r.status, r.head);
    if (body)
        cr_assert_str_eq(r.body, body);
    resp_free(&r);
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"

/* ---- tests ---- */

Test(http_server, get_200_with_body)
{
    struct cli c;
    cli_open(&c);
    struct resp r;
    cli_send(&c, GET("/hello"));
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello world");
    char v[64];
    cr_assert_str_eq(find_header(r.head, "Content-Length", v, sizeof(v)), "11");
    cr_assert_str_eq(find_header(r.head, "Content-Type", v, sizeof(v)), "text/plain");
    cr_assert_str_eq(find_header(r.head, "Access-Control-Allow-Origin", v, sizeof(v)), "*");
    cr_assert_str_eq(find_header(r.head, "X-Test", v, sizeof(v)), "1");
    cr_assert_null(find_header(r.head, "Connection", v, sizeof(v)), "keep-alive is the 1.1 default");
    resp_free(&r);
    cli_close(&c);
}

Test(http_server, not_found_says_why)
{
    struct cli c;
    cli_open(&c);
    struct resp r;
    cli_send(&c, GET("/nope?x=1"));
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 404);
    cr_assert(strstr(r.body, "/nope") != NULL, "body: %s", r.body);
    char v[64];
    cr_assert_str_eq(find_header(r.head, "Access-Control-Allow-Origin", v, sizeof(v)), "*");
    resp_free(&r);
    /* Still usable afterwards. */
    expect_get(&c, GET("/hello"), 200, "hello world");
    cli_close(&c);
    cr_assert_geq(fx.srv.stats.not_found, 1);
}

Test(http_server, wrong_method_405_with_allow)
{
    struct cli c;
    cli_open(&c);
    struct resp r;
    cli_send(&c, "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 405);
    char v[64];
    cr_assert_str_eq(find_header(r.head, "Allow", v, sizeof(v)), "GET, HEAD");
    resp_free(&r);
    cli_send(&c, GET("/post"));
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 405);
    cr_assert_str_eq(find_header(r.head, "Allow", v, sizeof(v)), "POST, PUT");
    resp_free(&r);
    expect_get(&c, "POST /post HTTP/1.1\r\nHost: t\r\n\r\n", 200, "posted");
    /* Unknown method: 501. */
    expect_get(&c, "BREW /hello HTTP/1.1\r\nHost: t\r\n\r\n", 501, NULL);
    cli_close(&c);
}

Test(http_server, head_has_headers_only)
{
    struct cli c;
    cli_open(&c);
    struct resp r;
    cli_send(&c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(cli_response(&c, &r, 1), 0);
    cr_assert_eq(r.status, 200);
    char v[64];
    cr_assert_str_eq(find_header(r.head, "Content-Length", v, sizeof(v)), "11");
    resp_free(&r);
    /* No body bytes: the next response starts right away. */
    cli_send(&c, "HEAD /nothing HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(cli_response(&c, &r, 1), 0);
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    expect_get(&c, GET("/echo?q=1"), 200, "q=1;h=-;m=GET;p=/echo");
    cr_assert_eq(c.len, 0);
    cli_close(&c);
}

Test(http_server, keep_alive_two_requests)
{
    struct cli c;
    cli_open(&c);
    expect_get(&c, GET("/hello"), 200, "hello world");
    expect_get(&c, "GET /echo?q=a%20b+c HTTP/1.1\r\nHost: t\r\nX-Echo: yes\r\n\r\n", 200,
               "q=a b c;h=yes;m=GET;p=/echo");
    cli_close(&c);
    cr_assert_eq(fx.srv.stats.accepted, 1);
}

Test(http_server, connection_close_and_http10)
{
    struct cli c;
    struct resp r;
    char v[64];
    cli_open(&c);
    cli_send(&c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_str_eq(find_header(r.head, "Connection", v, sizeof(v)), "close");
    resp_free(&r);
    cli_expect_eof(&c);
    cli_close(&c);

    cli_open(&c);
    cli_send(&c, "GET /hello HTTP/1.0\r\n\r\n");
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(find_header(r.head, "Connection", v, sizeof(v)), "close");
    resp_free(&r);
    cli_expect_eof(&c);
    cli_close(&c);

    cli_open(&c);
    cli_send(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_str_eq(find_header(r.head, "Connection", v, sizeof(v)), "keep-alive");
    resp_free(&r);
    expect_get(&c, GET("/hello"), 200, "hello world");
    cli_close(&c);
}

Test(http_server, pipelined_in_order)
{
    struct cli c;
    cli_open(&c);
    /* The async one in the middle must not let the later ones overtake it. */
    cli_send(&c, GET("/echo?q=1") GET("/async") GET("/hello") "HEAD /echo?q=4 HTTP/1.1\r\nHost: t\r\n\r\n"
                 GET("/echo?q=5"));
    const char *want[] = {"q=1;h=-;m=GET;p=/echo", "async done #1", "hello world", "", "q=5;h=-;m=GET;p=/echo"};
    for (int i = 0; i < 5; i++) {
        struct resp r;
        cr_assert_eq(cli_response(&c, &r, i == 3), 0, "response %d", i);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, want[i], "response %d", i);
        resp_free(&r);
    }
    cli_close(&c);
}

Test(http_server, pipelined_many_in_small_writes)
{
    /* 40 requests, sent 7 bytes at a time, all answered in order. */
    static char all[8192];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(all + n, sizeof(all) - n, "GET /echo?q=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
    struct cli c;
    cli_open(&c);
    for (size_t off = 0; off < n; off += 7)
        cli_send_n(&c, all + off, n - off < 7 ? n - off : 7);
    for (int i = 0; i < 40; i++) {
        struct resp r;
        char want[64];
        snprintf(want, sizeof(want), "q=%d;h=-;m=GET;p=/echo", i);
        cr_assert_eq(cli_response(&c, &r, 0), 0);
        cr_assert_str_eq(r.body, want);
        resp_free(&r);
    }
    cli_close(&c);
}

Test(http_server, async_answers_after_timer)
{
    struct cli c;
    cli_open(&c);
    double t0 = now_ms();
    struct resp r;
    cli_send(&c, GET("/async"));
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    double dt = now_ms() - t0;
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "async done #1");
    cr_assert_geq(dt, 90, "answered after %.0f ms, before the timer", dt);
    resp_free(&r);
    expect_get(&c, GET("/hello"), 200, "hello world");
    cli_close(&c);
    cr_assert_eq(atomic_load(&fx.async_sent), 1);
}

Test(http_server, async_request_taken_over_later)
{
    /* More times than the server has connection slots: a takeover of an
     * async request must give its slot back. */
    for (int i = 0; i < 12; i++) {
        struct cli c;
        cli_open(&c);
        cli_send(&c, GET("/async-take"));
        ssize_t n;
        while ((n = cli_fill(&c)) > 0)
            ;
        cr_assert_eq(n, 0, "round %d: no EOF after the taken-over reply", i);
        c.buf[c.len] = '\0';
        cr_assert(strstr(c.buf, "\r\n\r\ntaken") != NULL, "round %d: %s", i, c.buf);
        cli_close(&c);
    }
    cr_assert_eq(atomic_load(&fx.async_sent), 12);
    struct cli c;
    cli_open(&c);
    expect_get(&c, GET("/hello"), 200, "hello world");
    cli_close(&c);
}

Test(http_server, async_late_answer_after_close_is_dropped)
{
    struct cli a, b;
    cli_open(&a);
    cli_send(&a, GET("/async"));
    usleep(20 * 1000);
    cli_close(&a);
    usleep(40 * 1000);
    /* B most likely reuses A's slot: A's late answer must not reach it. */
    cli_open(&b);
    struct resp r;
    cli_send(&b, GET("/async"));
    cr_assert_eq(cli_response(&b, &r, 0), 0);
    cr_assert_str_eq(r.body, "async done #2");
    resp_free(&r);
    cli_close(&b);
    cr_assert_eq(atomic_load(&fx.stale), 1);
    cr_assert_eq(atomic_load(&fx.async_sent), 1);
}

Test(http_server, async_never_answered_gets_504)
{
    struct cli c;
    cli_open(&c);
    struct resp r;
    double t0 = now_ms();
    cli_send(&c, GET("/never"));
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 504);
    cr_assert_geq(now_ms() - t0, TIMEOUT_MS - 50);
    resp_free(&r);
    cli_expect_eof(&c);
    cli_close(&c);
}

Test(http_server, slowloris_closed_while_others_served)
{
    const char *req = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    struct cli slow, other;
    cli_open(&slow);
    double t0 = now_ms(), closed_at = -1;
    size_t sent = 0, len = strlen(req);
    int served = 0;
    while (sent < len && closed_at < 0) {
        send(slow.fd, req + sent, 1, MSG_NOSIGNAL);
        sent++;
        if (sent == 2) {
            cli_open(&other);
            expect_get(&other, GET("/hello"), 200, "hello world");
            cli_close(&other);
            served = 1;
        }
        struct pollfd p = {.fd = slow.fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0)
            closed_at = now_ms() - t0;
    }
    cr_assert(served);
    cr_assert_geq(closed_at, TIMEOUT_MS - 50, "closed at %.0f ms", closed_at);
    cr_assert_leq(closed_at, TIMEOUT_MS + 700, "closed at %.0f ms", closed_at);
    cr_assert_lt(sent, len);
    struct resp r;
    cr_assert_eq(cli_response(&slow, &r, 0), 0);
    cr_assert_eq(r.status, 408);
    char v[64];
    cr_assert_str_eq(find_header(r.head, "Connection", v, sizeof(v)), "close");
    resp_free(&r);
    cli_expect_eof(&slow);
    cli_close(&slow);
    cr_assert_geq(fx.srv.stats.timeouts, 1);
}

Test(http_server, idle_keep_alive_closed_silently)
{
    struct cli c;
    cli_open(&c);
    expect_get(&c, GET("/hello"), 200, "hello world");
    double t0 = now_ms();
    cli_expect_eof(&c);
    double dt = now_ms() - t0;
    cr_assert_geq(dt, TIMEOUT_MS - 50);
    cr_assert_leq(dt, TIMEOUT_MS + 700);
    cli_close(&c);
}

static void expect_error_then_close(const char *in, size_t len, int status)
{
    struct cli c;
    cli_open(&c);
    cli_send_n(&c, in, len);
    struct resp r;
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, status, "%s", r.head);
    char v[64];
    cr_assert_str_eq(find_header(r.head, "Connection", v, sizeof(v)), "close");
    cr_assert_gt(r.body_len, 1, "body gives the reason");
    resp_free(&r);
    cli_expect_eof(&c);
    cli_close(&c);
}

Test(http_server, oversized_headers_431_and_close)
{
    static char big[12000];
    char val[10001];
    memset(val, 'z', 10000);
    val[10000] = '\0';
    int n = snprintf(big, sizeof(big), "GET /hello HTTP/1.1\r\nHost: t\r\nCookie: %s\r\n\r\n", val);
    expect_error_then_close(big, (size_t)n, 431);

    size_t off = (size_t)snprintf(big, sizeof(big), "GET /hello HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 70; i++)
        off += (size_t)snprintf(big + off, sizeof(big) - off, "X-%d: %d\r\n", i, i);
    off += (size_t)snprintf(big + off, sizeof(big) - off, "\r\n");
    expect_error_then_close(big, off, 431);

    /* A request line over 4 KiB: 414. */
    memset(big, 'a', 5000);
    memcpy(big, "GET /", 5);
    n = 5000 + snprintf(big + 5000, sizeof(big) - 5000, " HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_error_then_close(big, (size_t)n, 414);
}

Test(http_server, garbage_400_and_close)
{
    static const char tls[] = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x01\x02\x03";
    expect_error_then_close(tls, sizeof(tls) - 1, 400);
    static const struct {
        const char *in;
        int status;
    } bad[] = {
        {"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400},
        {"GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", 413},
        {"GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
        {"GET /hello HTTP/3.0\r\nHost: t\r\n\r\n", 505},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error_then_close(bad[i].in, strlen(bad[i].in), bad[i].status);
    cr_assert_eq(fx.srv.stats.bad_requests, 5);
}

Test(http_server, error_after_good_pipelined_request)
{
    /* The good one is answered, then the bad one, then the close. */
    struct cli c;
    cli_open(&c);
    cli_send(&c, GET("/hello") "\x01\x02\x03\r\n\r\n");
    struct resp r;
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    cli_expect_eof(&c);
    cli_close(&c);
}

Test(http_server, prefix_routes)
{
    struct cli c;
    cli_open(&c);
    expect_get(&c, GET("/files/a/b.ts"), 200, "short:/files/a/b.ts");
    expect_get(&c, GET("/files/deep/x.m3u8?t=1"), 200, "long:/files/deep/x.m3u8");
    expect_get(&c, GET("/files/exact"), 200, "exact:/files/exact");
    expect_get(&c, GET("/files"), 404, NULL);
    expect_get(&c, "GET http://t/files/abs HTTP/1.1\r\nHost: t\r\n\r\n", 200, "short:/files/abs");
    cli_close(&c);
}

Test(http_server, route_table_rules)
{
    /* The server is running on another thread, so use a second instance. */
    struct http_server s;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct http_server_config cfg = {.listen = "127.0.0.1:0"};
    cr_assert_eq(http_server_open(&s, loop, &cfg), ST_OK);
    cr_assert_eq(http_server_route(&s, "/a", HTTP_SERVER_GET, h_hello, NULL), ST_OK);
    cr_assert_eq(http_server_route(&s, "/a", HTTP_SERVER_GET, h_hello, NULL), ST_ERROR, "duplicate");
    cr_assert_eq(http_server_route(&s, "/a*", HTTP_SERVER_GET, h_hello, NULL), ST_OK, "prefix differs");
    cr_assert_eq(http_server_route(&s, "a", HTTP_SERVER_GET, h_hello, NULL), ST_ERROR);
    cr_assert_eq(http_server_route(&s, "/b", 0, h_hello, NULL), ST_ERROR);
    cr_assert_eq(http_server_route(&s, "/c", HTTP_SERVER_GET, NULL, NULL), ST_ERROR);
    for (int i = 2; i < HTTP_SERVER_MAX_ROUTES; i++) {
        char p[16];
        snprintf(p, sizeof(p), "/r%d", i);
        cr_assert_eq(http_server_route(&s, p, HTTP_SERVER_GET, h_hello, NULL), ST_OK);
    }
    cr_assert_eq(http_server_route(&s, "/full", HTTP_SERVER_GET, h_hello, NULL), ST_ERROR);
    struct http_server_handle h = {0, 0};
    cr_assert_null(http_server_request_lookup(&s, h));
    http_server_close(&s);
    http_server_close(&s);
    cr_assert_eq(http_server_port(&s), -1);
    cr_assert_null(http_server_request_lookup(&s, h));
    struct http_server_config bad = {.listen = "nonsense"};
    cr_assert_eq(http_server_open(&s, loop, &bad), ST_ERROR);
    ev_loop_destroy(loop);
}

Test(http_server, handler_failure_500)
{
    struct cli c;
    cli_open(&c);
    struct resp r;
    cli_send(&c, GET("/fail"));
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 500);
    char v[64];
    cr_assert_str_eq(find_header(r.head, "Connection", v, sizeof(v)), "close");
    resp_free(&r);
    cli_expect_eof(&c);
    cli_close(&c);
}

Test(http_server, large_body_and_oversized_response)
{
    struct cli c;
    cli_open(&c);
    /* Not reading for a while lets the socket buffers fill, so the server
     * usually meets EAGAIN and finishes from EV_WRITE. (A tiny SO_RCVBUF
     * would force it, but below the loopback MSS TCP falls back to the
     * persist timer and crawls.) */
    struct resp r;
    cli_send(&c, GET("/big") GET("/hello"));
    usleep(200 * 1000);
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, BIG_BODY);
    cr_assert_eq(memcmp(r.body, fx.big, BIG_BODY), 0);
    resp_free(&r);
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_str_eq(r.body, "hello world");
    resp_free(&r);
    /* Over max_output: a 500 instead, then close. */
    cli_send(&c, GET("/huge"));
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 500);
    resp_free(&r);
    cli_expect_eof(&c);
    cli_close(&c);
}

Test(http_server, no_content_has_no_body_or_length)
{
    struct cli c;
    cli_open(&c);
    struct resp r;
    cli_send(&c, GET("/nocontent"));
    cr_assert_eq(cli_response(&c, &r, 0), 0);
    cr_assert_eq(r.status, 204);
    char v[64];
    cr_assert_null(find_header(r.head, "Content-Length", v, sizeof(v)));
    cr_assert_null(find_header(r.head, "Content-Type", v, sizeof(v)));
    resp_free(&r);
    expect_get(&c, GET("/hello"), 200, "hello world");
    cli_close(&c);
}

Test(http_server, connection_limit)
{
    struct cli cs[8], extra;
    for (int i = 0; i < 8; i++) {
        cli_open(&cs[i]);
        expect_get(&cs[i], GET("/hello"), 200, "hello world");
    }
    cli_open(&extra); /* accepted by the kernel, closed by the server */
    cli_expect_eof(&extra);
    cli_close(&extra);
    cli_close(&cs[0]);
    usleep(50 * 1000);
    cli_open(&extra);
    expect_get(&extra, GET("/hello"), 200, "hello world");
    cli_close(&extra);
    for (int i = 1; i < 8; i++)
        cli_close(&cs[i]);
    cr_assert_eq(fx.srv.stats.refused, 1);
}
