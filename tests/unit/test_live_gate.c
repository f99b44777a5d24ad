#include "core/status.h"
#include "live/live_gate.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

Test(live_gate, location_last_segment)
{
    char out[64];
    const struct {
        const char *in, *want;
    } ok[] = {
        {"rtmp://127.0.0.1/live/renamed", "renamed"},
        {"http://h:80/live/new?x=1", "new"},
        {"/live/new/", "new"},
        {"plain", "plain"},
        {"a/b#frag", "b"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(live_gate_location_name(ok[i].in, out, sizeof(out)), ST_OK, "%s", ok[i].in);
        cr_assert_str_eq(out, ok[i].want);
    }
    const char *bad[] = {"", "/", "?x", "http://host", "http://host/", "/live/a b",
                         "/live/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(live_gate_location_name(bad[i], out, sizeof(out)), ST_ERROR, "accepted '%s'", bad[i]);
}

static void no_cb(void *ctx, uint64_t id, enum live_auth_action act, const struct live_gate_verdict *v)
{
    cr_assert_fail("unexpected webhook answer");
}

Test(live_gate, local_decisions_and_reload)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct live_gate_config cfg = {.play_deny = "127.0.0.2", .publish_secret = "s", .webhook_timeout = 1000};
    char err[256];
    struct live_gate *g = live_gate_new(loop, &cfg, no_cb, NULL, err, sizeof(err));
    cr_assert_not_null(g, "%s", err);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
    struct live_gate_subject who = {.act = LIVE_AUTH_PLAY, .app = "live", .name = "x", .query = "",
                                    .peer = (struct sockaddr *)&a, .peer_s = "127.0.0.2:1"};
    struct live_gate_verdict v;
    cr_assert_eq(live_gate_check(g, &who, 0, &v), ST_ERROR);
    cr_assert_eq(v.result, LIVE_AUTH_IP_DENIED);
    who.act = LIVE_AUTH_PUBLISH;
    cr_assert_eq(live_gate_check(g, &who, 0, &v), ST_ERROR);
    cr_assert_eq(v.result, LIVE_AUTH_MISSING);

    /* A bad reload keeps the running rules. */
    struct live_gate_config bad = {.play_deny = "127.0.0.300"};
    cr_assert_eq(live_gate_reload(g, &bad, err, sizeof(err)), ST_ERROR);
    cr_assert_not_null(strstr(err, "play_deny"), "%s", err);
    who.act = LIVE_AUTH_PLAY;
    cr_assert_eq(live_gate_check(g, &who, 0, &v), ST_ERROR);
    /* A good one replaces them. */
    struct live_gate_config open = {.webhook_timeout = 1000};
    cr_assert_eq(live_gate_reload(g, &open, err, sizeof(err)), ST_OK);
    cr_assert_eq(live_gate_check(g, &who, 0, &v), ST_OK);
    who.act = LIVE_AUTH_PUBLISH;
    cr_assert_eq(live_gate_check(g, &who, 0, &v), ST_OK);

    struct live_gate_config badurl = {.on_publish = "https://127.0.0.1/"};
    cr_assert_null(live_gate_new(loop, &badurl, no_cb, NULL, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "on_publish: "), "%s", err);
    live_gate_free(g);
    ev_loop_destroy(loop);
}

/* play_secret_apps: only the listed applications require a signed play key. */
Test(live_gate, play_secret_per_application)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct live_gate_config cfg = {.play_secret = "k", .play_secret_apps = "premium, vip", .webhook_timeout = 1000};
    char err[256];
    struct live_gate *g = live_gate_new(loop, &cfg, no_cb, NULL, err, sizeof(err));
    cr_assert_not_null(g, "%s", err);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    struct live_gate_subject who = {.act = LIVE_AUTH_PLAY, .app = "live", .name = "x", .query = "",
                                    .peer = (struct sockaddr *)&a, .peer_s = "127.0.0.1:1"};
    struct live_gate_verdict v;
    cr_assert_eq(live_gate_check(g, &who, 0, &v), ST_OK, "an unlisted app stays open");
    who.app = "premium";
    cr_assert_eq(live_gate_check(g, &who, 0, &v), ST_ERROR);
    cr_assert_eq(v.result, LIVE_AUTH_MISSING);
    who.app = "vip";
    cr_assert_eq(live_gate_check(g, &who, 0, &v), ST_ERROR);
    who.app = "prem"; /* a prefix of a listed app is not listed */
    cr_assert_eq(live_gate_check(g, &who, 0, &v), ST_OK);
    /* Empty list: every application needs the key. */
    struct live_gate_config all = {.play_secret = "k", .webhook_timeout = 1000};
    cr_assert_eq(live_gate_reload(g, &all, err, sizeof(err)), ST_OK, "%s", err);
    who.app = "live";
    cr_assert_eq(live_gate_check(g, &who, 0, &v), ST_ERROR);
    live_gate_free(g);
    ev_loop_destroy(loop);
}
