/*
 * Unit tests for live_http_auth: a real live_gate whose on_play webhook is
 * a tiny HTTP responder on loopback (it decides by the stream name), a real
 * http_server whose handler asks live_http_auth, and http_client requests
 * as the viewers. One libev loop drives all three; every wait is bounded.
 *
 * What is checked: an allowed viewer asks the webhook once and is then
 * served from the cache; a refusal is a 403, repeated without asking until
 * it expires; a rename is a 302 to the new name with the query; the form
 * says proto=http; a request waiting for the webhook when the owner goes
 * away is forgotten (its late answer reaches nobody).
 */
#include <criterion/criterion.h>

#include "core/log.h"
#include "core/status.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "live/live_gate.h"
#include "live/live_http_auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the webhook: one request per connection, answered at once ---- */

static struct {
    int lfd, port;
    ev_io io;
    int calls;
    char last_form[1024];
    int held_fd; /* a "slow*" request: not answered until the test says */
} hook;

static void hook_answer(int fd, int status, const char *extra)
{
    char out[512];
    int n = snprintf(out, sizeof(out), "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n%s\r\n", status,
                     extra);
    cr_assert_eq(send(fd, out, (size_t)n, MSG_NOSIGNAL), n);
    close(fd);
}

static void hook_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    int fd = accept(hook.lfd, NULL, NULL);
    cr_assert_geq(fd, 0);
    char buf[4096];
    size_t len = 0;
    const char *body = NULL;
    long clen = -1;
    for (int i = 0; i < 200 && (!body || (long)(len - (size_t)(body - buf)) < clen); i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 10);
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
        if (n > 0)
            len += (size_t)n;
        buf[len] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        if (end && !body) {
            body = end + 4;
            const char *cl = strstr(buf, "Content-Length: ");
            clen = cl ? strtol(cl + 16, NULL, 10) : 0;
        }
    }
    cr_assert_not_null(body, "no webhook request head");
    hook.calls++;
    snprintf(hook.last_form, sizeof(hook.last_form), "%s", body);
    const char *name = strstr(body, "name=");
    cr_assert_not_null(name);
    name += 5;
    if (!strncmp(name, "slow", 4)) {
        hook.held_fd = fd;
    } else if (!strncmp(name, "no", 2)) {
        hook_answer(fd, 403, "");
    } else if (!strncmp(name, "old", 3)) {
        char loc[128];
        snprintf(loc, sizeof(loc), "Location: rtmp://127.0.0.1/live/ok%.*s\r\n", (int)strcspn(name + 3, "&"),
                 name + 3);
        hook_answer(fd, 302, loc);
    } else {
        hook_answer(fd, 200, "");
    }
}

static void hook_start(struct ev_loop *loop)
{
    hook.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(hook.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(hook.lfd, 16), 0);
    socklen_t al = sizeof(a);
    getsockname(hook.lfd, (struct sockaddr *)&a, &al);
    hook.port = ntohs(a.sin_port);
    hook.held_fd = -1;
    ev_io_init(&hook.io, hook_accept, hook.lfd, EV_READ);
    ev_io_start(loop, &hook.io);
}

/* ---- the viewers' server ---- */

static struct {
    struct ev_loop *loop;
    struct live_gate *gate;
    struct live_http_auth auth;
    struct http_server srv;
    int served;
} fx;

static int view(struct http_server_request *req, void *ctx)
{
    const char *path = http_server_request_path(req); /* /live/<name> */
    const char *name = path + strlen("/live/");
    const char *query = http_server_request_query(req);
    int rc = live_http_auth_check(&fx.auth, fx.gate, req, "live", name, query ? query : "", ".m3u8");
    if (rc == ST_AGAIN)
        return HTTP_SERVER_ASYNC;
    if (rc == ST_OK) {
        fx.served++;
        return http_server_send(req, 200, "text/plain", "ok", 2, NULL);
    }
    return ST_OK;
}

static void gate_cb(void *ctx, uint64_t id, enum live_auth_action act, const struct live_gate_verdict *v)
{
    cr_assert_fail("an HTTP viewer's answer went to the gate's own callback");
}

static void setup(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    memset(&fx, 0, sizeof(fx));
    fx.loop = ev_loop_new(EVFLAG_AUTO);
    hook_start(fx.loop);
    char url[96], err[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", hook.port);
    struct live_gate_config cfg = {.on_play = url, .webhook_timeout = 3000};
    fx.gate = live_gate_new(fx.loop, &cfg, gate_cb, NULL, err, sizeof(err));
    cr_assert_not_null(fx.gate, "%s", err);
    struct http_server_config hc = {.listen = "127.0.0.1:0", .timeout_ms = 5000};
    cr_assert_eq(http_server_open(&fx.srv, fx.loop, &hc), ST_OK);
    cr_assert_eq(http_server_route(&fx.srv, "/live/*", HTTP_SERVER_POST, view, NULL), ST_OK);
    live_http_auth_init(&fx.auth, fx.loop, view, NULL);
}

static void teardown(void)
{
    live_http_auth_free(&fx.auth, fx.gate);
    http_server_close(&fx.srv);
    live_gate_free(fx.gate);
    ev_io_stop(fx.loop, &hook.io);
    close(hook.lfd);
    if (hook.held_fd >= 0)
        close(hook.held_fd);
    ev_loop_destroy(fx.loop);
}

TestSuite(live_http_auth, .init = setup, .fini = teardown, .timeout = 30);

/* ---- a viewer ---- */

struct answer {
    int done, status;
    char location[256];
};

static void answered(void *ctx, const struct http_client_result *r)
{
    struct answer *a = ctx;
    a->done = 1;
    a->status = r->status;
    snprintf(a->location, sizeof(a->location), "%s", r->location ? r->location : "");
}

static void run_for(double secs)
{
    ev_tstamp end = ev_time() + secs;
    while (ev_time() < end)
        ev_run(fx.loop, EVRUN_ONCE | EVRUN_NOWAIT), usleep(1000);
}

static struct answer ask(const char *path_query)
{
    char url[256], err[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_server_port(&fx.srv), path_query);
    struct http_client_target t;
    cr_assert_eq(http_client_parse_url(url, &t, err, sizeof(err)), ST_OK, "%s", err);
    struct http_client cl;
    http_client_init(&cl, fx.loop);
    struct answer a = {0};
    cr_assert_eq(http_client_post(&cl, &t, "text/plain", "", 0, 5000, answered, &a), ST_OK);
    ev_tstamp end = ev_time() + 8;
    while (!a.done && ev_time() < end)
        ev_run(fx.loop, EVRUN_ONCE);
    http_client_close(&cl);
    cr_assert(a.done, "no answer to %s", path_query);
    return a;
}

Test(live_http_auth, allowed_viewer_asks_once)
{
    struct answer a = ask("/live/okcam?token=t1");
    cr_assert_eq(a.status, 200);
    cr_assert_eq(hook.calls, 1);
    cr_assert_not_null(strstr(hook.last_form, "call=play"), "%s", hook.last_form);
    cr_assert_not_null(strstr(hook.last_form, "name=okcam"), "%s", hook.last_form);
    cr_assert_not_null(strstr(hook.last_form, "proto=http"), "%s", hook.last_form);
    cr_assert_not_null(strstr(hook.last_form, "query=token%3Dt1"), "%s", hook.last_form);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ask("/live/okcam?token=t1").status, 200);
    cr_assert_eq(hook.calls, 1, "the cache did not answer");
    cr_assert_eq(fx.auth.stats.cache_hits, 6); /* the first one resumed through the cache too */
    /* another query (another key) is another question */
    cr_assert_eq(ask("/live/okcam?token=t2").status, 200);
    cr_assert_eq(hook.calls, 2);
    cr_assert_eq(fx.served, 7);
}

Test(live_http_auth, refusal_cached_until_it_expires)
{
    cr_assert_eq(ask("/live/nocam").status, 403);
    cr_assert_eq(ask("/live/nocam").status, 403);
    cr_assert_eq(hook.calls, 1);
    run_for(LIVE_HTTP_AUTH_DENY_MS / 1000.0 + 0.3);
    cr_assert_eq(ask("/live/nocam").status, 403);
    cr_assert_eq(hook.calls, 2, "a refusal was not asked again after it expired");
    cr_assert_eq(fx.served, 0);
}

Test(live_http_auth, rename_is_a_redirect)
{
    struct answer a = ask("/live/oldcam?token=t3");
    cr_assert_eq(a.status, 302);
    cr_assert_str_eq(a.location, "/live/okcam.m3u8?token=t3");
    cr_assert_eq(ask("/live/oldcam?token=t3").status, 302);
    cr_assert_eq(hook.calls, 1);
    cr_assert_eq(fx.auth.stats.redirected, 2);
}

Test(live_http_auth, waiting_request_forgotten_with_its_owner)
{
    char url[128], err[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/live/slowcam", http_server_port(&fx.srv));
    struct http_client_target t;
    cr_assert_eq(http_client_parse_url(url, &t, err, sizeof(err)), ST_OK);
    struct http_client cl;
    http_client_init(&cl, fx.loop);
    struct answer a = {0};
    cr_assert_eq(http_client_post(&cl, &t, "text/plain", "", 0, 5000, answered, &a), ST_OK);
    for (int i = 0; i < 2000 && hook.held_fd < 0; i++)
        ev_run(fx.loop, EVRUN_ONCE | EVRUN_NOWAIT), usleep(1000);
    cr_assert_geq(hook.held_fd, 0, "the webhook was not asked");
    cr_assert_eq(fx.auth.nwaiting, 1);
    live_http_auth_free(&fx.auth, fx.gate);
    cr_assert_eq(fx.auth.nwaiting, 0);
    /* The webhook answers late: nobody is called (gate_cb would fail). */
    hook_answer(hook.held_fd, 200, "");
    hook.held_fd = -1;
    run_for(0.3);
    cr_assert_eq(fx.served, 0);
    http_client_close(&cl);
}
