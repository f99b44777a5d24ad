/*
 * origin: the ingest process. Encoders publish RTMP to it; in standalone
 * mode it also serves players; with `cluster on` it claims streams in the
 * Redis directory and replicates them to edges over ZeroMQ.
 */
#include "core/cli.h"
#include "core/log.h"
#include "core/status.h"
#include "live/live_api.h"
#include "live/live_server.h"
#include "net/net_loop.h"
#include "origin_cluster.h"
#include "origin_config.h"
#include "origin_record.h"
#include "origin_relay.h"
#include "rtsp/rtsp_server.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static struct origin_config cfg;
static struct origin_relay relay;
static struct origin_record record;
static struct live_hooks cluster_hooks; /* origin_cluster's, chained below (zeroed when cluster is off) */
static int saved_argc;
static char **saved_argv;

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
    size_t n;
    const struct config_directive *table = origin_config_table(&n);
    LOG_INFO("origin: SIGHUP, reloading the configuration");
    if (cli_reload_settings("origin", saved_argc, saved_argv, table, n, &cfg, sizeof(cfg), origin_config_check) ==
            ST_OK &&
        w->data) {
        live_server_reload(w->data); /* key files are re-read even when the directives did not change */
        live_server_reload_tls(w->data); /* tls_cert/tls_key, when the paths or the files changed */
    }
}

/* live_server hooks shared by the origin's parts: cluster first (it claims
 * and replicates), then the relays. */
static void hook_publish_started(void *ctx, struct live_stream *st)
{
    if (cluster_hooks.publish_started)
        cluster_hooks.publish_started(cluster_hooks.ctx, st);
    origin_relay_publish_started(&relay, st);
    origin_record_publish_started(&record, st);
}

static void hook_publish_stopped(void *ctx, struct live_stream *st)
{
    origin_record_publish_stopped(&record, st);
    origin_relay_publish_stopped(&relay, st);
    if (cluster_hooks.publish_stopped)
        cluster_hooks.publish_stopped(cluster_hooks.ctx, st);
}

/* Plays of record_vod_app are recordings (origin_record.h). */
static int hook_vod_path(void *ctx, const struct rtmp_session *s, char *path, size_t len,
                         struct rtmp_session_verdict *v)
{
    return origin_record_vod_path(&record, s, path, len, v);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    LOG_INFO("origin: signal %d, shutting down", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    static struct live_server srv;
    static struct origin_cluster oc;
    static struct live_api api;
    static struct live_api api_tls;
    static struct rtsp_server rtsp;
    size_t n;
    const struct config_directive *table = origin_config_table(&n);
    saved_argc = argc;
    saved_argv = argv;
    int rc = cli_load_settings("origin", argc, argv, table, n, &cfg, "SC_ORIGIN_", origin_config_check);
    if (rc != ST_OK) {
        config_free(table, n, &cfg);
        return rc == ST_DONE ? 0 : 1;
    }
    rc = 1;
    signal(SIGPIPE, SIG_IGN);

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    struct live_hooks hooks;
    memset(&hooks, 0, sizeof(hooks));
    if (cfg.cluster)
        origin_cluster_hooks(&oc, &hooks);
    cluster_hooks = hooks;
    hooks.publish_started = hook_publish_started;
    hooks.publish_stopped = hook_publish_stopped;
    hooks.vod_path = hook_vod_path;
    if (origin_record_init(&record, loop, &cfg) != ST_OK)
        goto out;
    if (live_server_start(&srv, loop, &cfg.live, &hooks) != ST_OK)
        goto out;
    if (origin_relay_start(&relay, loop, &srv, &cfg.relay) != ST_OK) {
        live_server_stop(&srv);
        goto out;
    }
    if (cfg.cluster && origin_cluster_start(&oc, loop, &srv, &cfg) != ST_OK) {
        live_server_stop(&srv);
        goto out;
    }
    if (cfg.http_listen && cfg.http_listen[0] &&
        live_api_start(&api, loop, cfg.http_listen, 0, &srv, cfg.cluster ? &oc.dir : NULL, "origin",
                       cfg.cluster ? oc.node_id : "origin", -1) != ST_OK) {
        LOG_ERROR("origin: cannot serve HTTP on %s", cfg.http_listen);
        origin_cluster_stop(&oc);
        live_server_stop(&srv);
        goto out;
    }
    if (cfg.https_listen && cfg.https_listen[0] &&
        live_api_start_tls(&api_tls, loop, cfg.https_listen, 0, &srv, cfg.cluster ? &oc.dir : NULL, "origin",
                           cfg.cluster ? oc.node_id : "origin", -1) != ST_OK) {
        LOG_ERROR("origin: cannot serve HTTPS on %s", cfg.https_listen);
        live_api_stop(&api);
        origin_cluster_stop(&oc);
        live_server_stop(&srv);
        goto out;
    }
    if (origin_relay_attach_api(&relay, &api) != ST_OK || origin_relay_attach_api(&relay, &api_tls) != ST_OK)
        LOG_WARN("origin: no room for /v1/relays in the HTTP API");
    srv.rtsp_stats = &rtsp.stats; /* for /v1/stats and /metrics */
    if (rtsp_server_start(&rtsp, loop, &cfg.rtsp, &srv, 0) != ST_OK) {
        LOG_ERROR("origin: cannot serve RTSP on %s", cfg.rtsp.listen);
        live_api_stop(&api);
        live_api_stop(&api_tls);
        origin_relay_stop(&relay);
        live_server_stop(&srv);
        origin_cluster_stop(&oc);
        goto out;
    }
    if ((api.started && origin_record_routes(&record, &api.http) != ST_OK) ||
        (api_tls.started && origin_record_routes(&record, &api_tls.http) != ST_OK))
        LOG_WARN("origin: no room for /v1/recordings and /vod/ in the HTTP API");
    ev_signal sigterm, sigint, sighup;
    ev_signal_init(&sighup, on_hup, SIGHUP);
    sighup.data = &srv;
    ev_signal_start(loop, &sighup);
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_start(loop, &sigterm);
    ev_signal_start(loop, &sigint);
    LOG_INFO("origin %s listening rtmp=%s port=%d cluster=%s play=%s", SC_VERSION, cfg.live.rtmp_listen,
             live_server_port(&srv), cfg.cluster ? "on" : "off", cfg.live.allow_play ? "on" : "off");
    ev_run(loop, 0);
    /* Publishers first leave the directory (release), then the sockets go. */
    ev_signal_stop(loop, &sigterm);
    ev_signal_stop(loop, &sigint);
    ev_signal_stop(loop, &sighup);
    live_api_stop(&api);
    live_api_stop(&api_tls);
    rtsp_server_stop(&rtsp); /* unholds its streams: before the registry goes */
    origin_relay_stop(&relay); /* the streams' taps go while the streams exist */
    live_server_stop(&srv);
    origin_record_stop(&record); /* after the live server ended the recordings: the files are finished */
    origin_cluster_stop(&oc);
    net_loop_settle(loop, 1.5);
    LOG_INFO("origin stopped");
    rc = 0;
out:
    origin_record_stop(&record); /* idempotent; joins the writer thread on early exits too */
    config_free(table, n, &cfg);
    return rc;
}
