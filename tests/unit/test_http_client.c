#include "core/buf.h"
#include "core/status.h"
#include "http/http_client.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- response head parser ------------------------------------------------ */

struct head_case {
    const char *in;
    int rc; /* on the whole input */
    int status;
    const char *location;
};

static const struct head_case head_cases[] = {
    {"HTTP/1.1 200 OK\r\n\r\n", ST_OK, 200, ""},
    {"HTTP/1.0 204\r\nContent-Length: 0\r\n\r\nbody", ST_OK, 204, ""},
    {"HTTP/1.1 302 Found\r\nLocation: rtmp://x/live/new\r\nX: y\r\n\r\n", ST_OK, 302, "rtmp://x/live/new"},
    {"HTTP/1.1 301 Moved\r\nlocation:\t /a/b  \r\n\r\n", ST_OK, 301, "/a/b"},
    {"HTTP/1.1 403 Forbidden\n\n", ST_OK, 403, ""},
    {"HTTP/1.1 500 x\r\nContinued: a\r\n b\r\n\r\n", ST_OK, 500, ""},
    {"HTTP/1.1 200 OK\r\n", ST_AGAIN, 0, ""},
    {"HTTP/1.1 200 OK\r\nLocation: x", ST_AGAIN, 0, ""},
    {"", ST_AGAIN, 0, ""},
    {"HTTP/2 200\r\n\r\n", ST_ERROR, 0, ""},
    {"HTTP/1.1 20 OK\r\n\r\n", ST_ERROR, 0, ""},
    {"HTTP/1.1 2000 OK\r\n\r\n", ST_ERROR, 0, ""},
    {"HTTP/1.1 099 OK\r\n\r\n", ST_ERROR, 0, ""},
    {"HTTP/1.1 abc OK\r\n\r\n", ST_ERROR, 0, ""},
    {"SSH-2.0-OpenSSH\r\n\r\n", ST_ERROR, 0, ""},
    {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", ST_ERROR, 0, ""},
    {"\r\n\r\n", ST_ERROR, 0, ""},
};

static void check_head(const struct head_case *c, const char *buf, size_t len)
{
    int status = -1;
    size_t used = 0;
    char loc[HTTP_CLIENT_MAX_LOCATION];
    int rc = http_client_parse_head(buf, len, &status, loc, sizeof(loc), &used);
    if (len == strlen(c->in)) {
        cr_assert_eq(rc, c->rc, "'%s': rc %d", c->in, rc);
        if (rc == ST_OK) {
            cr_assert_eq(status, c->status);
            cr_assert_str_eq(loc, c->location);
            cr_assert_leq(used, len);
        }
    } else if (c->rc == ST_OK) {
        /* A prefix is incomplete, or already complete if it holds the head. */
        cr_assert(rc == ST_AGAIN || (rc == ST_OK && status == c->status), "'%s' prefix %zu: rc %d", c->in, len, rc);
    } else {
        cr_assert(rc != ST_OK, "'%s' prefix %zu accepted", c->in, len);
    }
}

Test(http_client, head_whole_and_every_prefix)
{
    for (size_t i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++) {
        const struct head_case *c = &head_cases[i];
        /* The parser is restartable on the accumulated bytes: each prefix is
         * what a byte-by-byte or split delivery would have handed it. */
        for (size_t n = 0; n <= strlen(c->in); n++) {
            char *copy = malloc(n + 1);
            memcpy(copy, c->in, n); /* exact-size buffer: ASan catches over-reads */
            check_head(c, copy, n);
            free(copy);
        }
    }
}

Test(http_client, head_oversized_and_garbage)
{
    size_t n = HTTP_CLIENT_MAX_HEAD + 100;
    char *big = malloc(n);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'a', n - 20);
    int status;
    size_t used;
    char loc[64];
    cr_assert_eq(http_client_parse_head(big, n, &status, loc, sizeof(loc), &used), ST_ERROR);
    cr_assert_eq(http_client_parse_head(big, HTTP_CLIENT_MAX_HEAD - 1, &status, loc, sizeof(loc), &used), ST_AGAIN);
    free(big);
    /* A Location longer than the caller's buffer is an error, not a cut. */
    const char *longloc = "HTTP/1.1 302 x\r\nLocation: /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    cr_assert_eq(http_client_parse_head(longloc, strlen(longloc), &status, loc, sizeof(loc), &used), ST_ERROR);
    /* Pseudo-random garbage never crashes and never yields a bogus status. */
    unsigned seed = 7;
    char g[300];
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 300);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            g[i] = (char)(seed >> 16);
        }
        int rc = http_client_parse_head(g, len, &status, loc, sizeof(loc), &used);
        if (rc == ST_OK)
            cr_assert(status >= 100 && status <= 999);
    }
}

Test(http_client, url_parsing)
{
    struct http_client_target t;
    char err[256];
    cr_assert_eq(http_client_parse_url("http://127.0.0.1:8080/hook?x=1", &t, err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_str_eq(t.host, "127.0.0.1:8080");
    cr_assert_str_eq(t.path, "/hook?x=1");
    cr_assert_eq(t.addr.ss_family, AF_INET);
    cr_assert_eq(ntohs(((struct sockaddr_in *)&t.addr)->sin_port), 8080);
    cr_assert_eq(http_client_parse_url("http://[::1]/", &t, err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(t.addr.ss_family, AF_INET6);
    cr_assert_eq(ntohs(((struct sockaddr_in6 *)&t.addr)->sin6_port), 80);
    cr_assert_eq(http_client_parse_url("http://localhost:9", &t, err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_str_eq(t.path, "/");
    const char *bad[] = {"https://1.2.3.4/", "ftp://x/", "http://", "http:///x", "http://1.2.3.4:/",
                         "http://1.2.3.4:99999/", "http://1.2.3.4:8a/", "http://[::1/", "http://1.2.3.4/a b",
                         "http://no-such-host.invalid/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cr_assert_eq(http_client_parse_url(bad[i], &t, err, sizeof(err)), ST_ERROR, "accepted %s", bad[i]);
        cr_assert_gt(strlen(err), 0);
    }
}

Test(http_client, form_encoding)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(http_client_form_add(&b, "call", "publish"), ST_OK);
    cr_assert_eq(http_client_form_add(&b, "query", "exp=1&sig=ab cd/é"), ST_OK);
    cr_assert_eq(http_client_form_add(&b, "empty", NULL), ST_OK);
    cr_assert_eq(b.len, strlen("call=publish&query=exp%3D1%26sig%3Dab+cd%2F%C3%A9&empty="));
    cr_assert_eq(memcmp(b.data, "call=publish&query=exp%3D1%26sig%3Dab+cd%2F%C3%A9&empty=", b.len), 0);
    buf_free(&b);
    buf_init(&b, 8);
    cr_assert_eq(http_client_form_add(&b, "toolongkey", "v"), ST_ERROR);
    buf_free(&b);
}

/* --- requests against a tiny server in a thread --------------------------- */

enum srv_mode { SRV_REPLY, SRV_SILENT, SRV_CLOSE, SRV_DRIP, SRV_HUGE };

struct test_srv {
    int fd;
    int port;
    enum srv_mode mode;
    const char *reply;
    char request[4096]; /* what the client sent */
    size_t request_len;
    pthread_t thread;
};

static void *srv_main(void *arg)
{
    struct test_srv *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    /* Read the head and the body announced by Content-Length. */
    for (;;) {
        ssize_t n = recv(c, s->request + s->request_len, sizeof(s->request) - 1 - s->request_len, 0);
        if (n <= 0)
            break;
        s->request_len += (size_t)n;
        s->request[s->request_len] = '\0';
        char *end = strstr(s->request, "\r\n\r\n");
        char *cl = strstr(s->request, "Content-Length: ");
        if (end && cl && s->request_len >= (size_t)(end + 4 - s->request) + (size_t)atoi(cl + 16))
            break;
    }
    if (s->mode == SRV_REPLY) {
        send(c, s->reply, strlen(s->reply), MSG_NOSIGNAL);
    } else if (s->mode == SRV_DRIP) {
        for (const char *p = s->reply; *p; p++) {
            send(c, p, 1, MSG_NOSIGNAL);
            usleep(2000);
        }
    } else if (s->mode == SRV_HUGE) {
        char junk[1024];
        memset(junk, 'a', sizeof(junk));
        send(c, "HTTP/1.1 200 OK\r\nX: ", 20, MSG_NOSIGNAL);
        for (int i = 0; i < 16; i++)
            send(c, junk, sizeof(junk), MSG_NOSIGNAL);
    } else if (s->mode == SRV_SILENT) {
        usleep(600 * 1000);
    }
    /* Wait for the client to go before closing, so SRV_SILENT is a real hang. */
    char tmp[64];
    while (s->mode != SRV_CLOSE && recv(c, tmp, sizeof(tmp), 0) > 0) {
    }
    close(c);
    return NULL;
}

static void srv_start(struct test_srv *s, enum srv_mode mode, const char *reply)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->reply = reply;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(s->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(s->fd, 4), 0);
    socklen_t al = sizeof(a);
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, srv_main, s);
}

static void srv_stop(struct test_srv *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
}

struct outcome {
    int called;
    int status;
    char error[64];
    char location[256];
    struct ev_loop *loop;
};

static void on_result(void *ctx, const struct http_client_result *r)
{
    struct outcome *o = ctx;
    o->called++;
    o->status = r->status;
    snprintf(o->error, sizeof(o->error), "%s", r->error ? r->error : "");
    snprintf(o->location, sizeof(o->location), "%s", r->location ? r->location : "");
    ev_break(o->loop, EVBREAK_ALL);
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents) { ev_break(loop, EVBREAK_ALL); }

static struct outcome run_post(int port, long timeout_ms)
{
    struct outcome o = {0};
    o.loop = ev_loop_new(EVFLAG_AUTO);
    struct http_client c;
    http_client_init(&c, o.loop);
    struct http_client_target t;
    char url[64], err[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
    cr_assert_eq(http_client_parse_url(url, &t, err, sizeof(err)), ST_OK);
    const char *body = "call=publish&name=cam";
    cr_assert_eq(http_client_post(&c, &t, "application/x-www-form-urlencoded", body, strlen(body), timeout_ms,
                                  on_result, &o),
                 ST_OK);
    cr_assert_eq(o.called, 0, "callback ran inside post");
    ev_timer guard;
    ev_timer_init(&guard, guard_cb, 5.0, 0);
    ev_timer_start(o.loop, &guard);
    ev_run(o.loop, 0);
    ev_timer_stop(o.loop, &guard);
    cr_assert_eq(c.inflight, 0);
    http_client_close(&c);
    ev_loop_destroy(o.loop);
    return o;
}

Test(http_client, post_2xx_sends_a_form)
{
    struct test_srv s;
    srv_start(&s, SRV_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    struct outcome o = run_post(s.port, 2000);
    srv_stop(&s);
    cr_assert_eq(o.called, 1);
    cr_assert_eq(o.status, 200);
    cr_assert_str_eq(o.location, "");
    cr_assert(strncmp(s.request, "POST /hook HTTP/1.1\r\n", 21) == 0, "%s", s.request);
    cr_assert_not_null(strstr(s.request, "Content-Type: application/x-www-form-urlencoded\r\n"));
    cr_assert_not_null(strstr(s.request, "Content-Length: 21\r\n"));
    cr_assert_not_null(strstr(s.request, "\r\n\r\ncall=publish&name=cam"));
}

Test(http_client, post_3xx_location_and_drip)
{
    struct test_srv s;
    srv_start(&s, SRV_DRIP, "HTTP/1.1 302 Found\r\nLocation: rtmp://h/live/renamed\r\n\r\n");
    struct outcome o = run_post(s.port, 3000);
    srv_stop(&s);
    cr_assert_eq(o.status, 302);
    cr_assert_str_eq(o.location, "rtmp://h/live/renamed");
}

Test(http_client, post_4xx)
{
    struct test_srv s;
    srv_start(&s, SRV_REPLY, "HTTP/1.1 403 Forbidden\r\n\r\n");
    struct outcome o = run_post(s.port, 2000);
    srv_stop(&s);
    cr_assert_eq(o.status, 403);
}

Test(http_client, timeout)
{
    struct test_srv s;
    srv_start(&s, SRV_SILENT, NULL);
    struct outcome o = run_post(s.port, 200);
    srv_stop(&s);
    cr_assert_eq(o.called, 1);
    cr_assert_eq(o.status, 0);
    cr_assert_str_eq(o.error, "timeout");
}

Test(http_client, closed_without_answer)
{
    struct test_srv s;
    srv_start(&s, SRV_CLOSE, NULL);
    struct outcome o = run_post(s.port, 2000);
    srv_stop(&s);
    cr_assert_eq(o.status, 0);
    cr_assert_str_eq(o.error, "connection closed before a response");
}

Test(http_client, oversized_head)
{
    struct test_srv s;
    srv_start(&s, SRV_HUGE, NULL);
    struct outcome o = run_post(s.port, 2000);
    srv_stop(&s);
    cr_assert_eq(o.status, 0);
    cr_assert(strcmp(o.error, "response head too large") == 0 || strcmp(o.error, "malformed response") == 0, "%s",
              o.error);
}

Test(http_client, connection_refused)
{
    /* A port nobody listens on: bind one, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    struct outcome o = run_post(ntohs(a.sin_port), 2000);
    cr_assert_eq(o.called, 1);
    cr_assert_eq(o.status, 0);
    cr_assert_str_eq(o.error, "connection failed");
}

Test(http_client, close_drops_requests_without_callbacks)
{
    struct test_srv s;
    srv_start(&s, SRV_SILENT, NULL);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct http_client c;
    http_client_init(&c, loop);
    struct http_client_target t;
    char url[64], err[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    cr_assert_eq(http_client_parse_url(url, &t, err, sizeof(err)), ST_OK);
    struct outcome o = {.loop = loop};
    cr_assert_eq(http_client_post(&c, &t, "text/plain", "x", 1, 5000, on_result, &o), ST_OK);
    cr_assert_eq(http_client_post(&c, &t, "text/plain", "y", 1, 5000, NULL, NULL), ST_OK);
    cr_assert_eq(c.inflight, 2);
    ev_run(loop, EVRUN_NOWAIT);
    http_client_close(&c);
    cr_assert_eq(c.inflight, 0);
    cr_assert_eq(o.called, 0);
    ev_loop_destroy(loop);
    srv_stop(&s);
}
