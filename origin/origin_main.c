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

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static struct origin_config cfg;
static int saved_argc;
static char **saved_argv;

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
    size_t n;
    const struct config_directive *table = origin_config_table(&n);
    LOG_INFO("origin: SIGHUP, reloading the configuration");
    if (cli_reload_settings("origin", saved_argc, saved_argv, table, n, &cfg, sizeof(cfg)) == ST_OK && w->data) {
        live_server_reload(w->data); /* key files are re-read even when the directives did not change */
        live_server_reload_tls(w->data); /* tls_cert/tls_key, when the paths or the files changed */
    }
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
    size_t n;
    const struct config_directive *table = origin_config_table(&n);
    saved_argc = argc;
    saved_argv = argv;
    int rc = cli_load_settings("origin", argc, argv, table, n, &cfg, "SC_ORIGIN_");
    if (rc != ST_OK) {
        config_free(table, n, &cfg);
        return rc == ST_DONE ? 0 : 1;
    }
    rc = 1;
    signal(SIGPIPE, SIG_IGN);

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    struct live_hooks hooks;
    origin_cluster_hooks(&oc, &hooks);
    if (live_server_start(&srv, loop, &cfg.live, cfg.cluster ? &hooks : NULL) != ST_OK)
        goto out;
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
    live_server_stop(&srv);
    origin_cluster_stop(&oc);
    net_loop_settle(loop, 1.5);
    LOG_INFO("origin stopped");
    rc = 0;
out:
    config_free(table, n, &cfg);
    return rc;
}
