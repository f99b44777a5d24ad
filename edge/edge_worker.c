#include "edge_worker.h"

#include "cluster/cluster_directory.h"
#include "cluster/cluster_subscription.h"
#include "core/cli.h"
#include "core/log.h"
#include "core/status.h"
#include "fanout/fanout_frame.h"
#include "live/live_api.h"
#include "live/live_server.h"
#include "net/net_listener.h"
#include "net/net_loop.h"
#include "rtmp/rtmp_session.h"
#include "rtsp/rtsp_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

enum edge_stream_state { EDGE_LOOKUP, EDGE_WAITING, EDGE_SUBSCRIBED };

struct edge_worker {
    struct ev_loop *loop;
    struct edge_config *cfg;
    int argc;
    char **argv;
    int draining;
    ev_tstamp drain_deadline;
    int index;
    char node_id[CLUSTER_ID_MAX];
    struct live_server srv;
    struct cluster_directory dir;
    struct live_api api;
    struct live_api api_tls; /* https_listen */
    struct rtsp_server rtsp; /* rtsp_listen */
    void *zctx;
    ev_timer tick;
    uint32_t nstreams;
    uint64_t last_bytes_out; /* for the out-bps figure reported each tick */
};

/* One stream this worker carries: the upstream side of a live_stream. */
struct edge_stream {
    struct edge_worker *w;
    struct live_stream *st;
    enum edge_stream_state state;
    int lookup_pending; /* the directory holds a pointer to us */
    int lookup_again;   /* an event arrived while a lookup was in flight */
    int dead;           /* freed when the pending lookup returns */
    int got_data;       /* any message arrived (the stream exists) */
    struct cluster_subscription sub;
    int sub_active;
    char owner[CLUSTER_ID_MAX];
    char pub[CLUSTER_ADDR_MAX];
    char router[CLUSTER_ADDR_MAX];
    /* timeline rebasing across epochs */
    uint32_t epoch;
    int have_ts;
    int need_rebase;
    uint32_t last_out_ts;
    int64_t offset;
    uint64_t epoch_changes;
    ev_timer linger;
    ev_timer wait;
    uint64_t last_lookup_ms;
};

static uint64_t now_ms(struct edge_worker *w) { return (uint64_t)(ev_now(w->loop) * 1000.0); }

static void edge_stream_free(struct edge_stream *es)
{
    struct edge_worker *w = es->w;
    ev_timer_stop(w->loop, &es->linger);
    ev_timer_stop(w->loop, &es->wait);
    if (es->sub_active)
        cluster_subscription_stop(&es->sub);
    es->sub_active = 0;
    if (es->st) {
        cluster_directory_carry(&w->dir, es->st->key, 0);
        es->st->source = NULL;
        live_registry_release(&w->srv.registry, es->st);
        es->st = NULL;
    }
    w->nstreams--;
    if (es->lookup_pending)
        es->dead = 1; /* the lookup callback frees us */
    else
        free(es);
}

/* --- upstream messages -------------------------------------------------- */

static void restart_players(struct edge_stream *es)
{
    /* New publisher or origin: codec headers may differ and video must
     * restart on a keyframe. */
    fanout_stream_clear_cache(&es->st->fanout);
    for (struct fanout_player *p = es->st->fanout.players; p; p = p->next)
        p->wait_key = 1;
}

static void on_message(void *ctx, const struct cluster_wire_header *h, const uint8_t *body, uint32_t len,
                       int snapshot)
{
    struct edge_stream *es = ctx;
    struct edge_worker *w = es->w;
    es->got_data = 1;
    ev_timer_stop(w->loop, &es->wait);
    if (h->kind == CLUSTER_KIND_EOS) {
        LOG_INFO("edge: stream=%s publisher left (epoch %u); players stay", es->st->key, h->epoch);
        live_server_mark_unpublished(&w->srv, es->st);
        es->need_rebase = es->have_ts;
        return;
    }
    if (h->epoch != es->epoch) {
        if (es->epoch != 0) {
            es->epoch_changes++;
            LOG_INFO("edge: stream=%s epoch %u -> %u, rebasing after ts=%u", es->st->key, es->epoch, h->epoch,
                     es->last_out_ts);
            restart_players(es);
            live_server_notify_players(&w->srv, es->st, "NetStream.Play.PublishNotify", es->st->key, 0);
        }
        es->epoch = h->epoch;
        es->st->epoch = h->epoch;
        live_server_mark_published(&w->srv, es->st);
        es->need_rebase = es->have_ts;
    }
    if (h->flags & CLUSTER_FLAG_SEQ_HEADER)
        live_server_note_codec(es->st, h->kind, body, len);
    if (h->flags & CLUSTER_FLAG_METADATA) {
        /* Metadata travels at timestamp 0 (see live_server.c) and stays out
         * of the timeline rebasing. */
        struct fanout_frame *mf = fanout_frame_new(h->kind, h->flags, 0, body, len, (uint32_t)w->cfg->live.chunk_size);
        if (mf) {
            live_server_push(&w->srv, es->st, mf);
            fanout_frame_unref(mf);
        }
        return;
    }
    if (es->need_rebase) {
        /* Continue right after what players already have: timestamps never
         * go back, whatever the new publisher's clock says. */
        es->offset = (int64_t)es->last_out_ts + 1 - (int64_t)h->timestamp;
        es->need_rebase = 0;
    }
    int64_t ts = (int64_t)h->timestamp + es->offset;
    if (es->have_ts && ts < (int64_t)es->last_out_ts)
        ts = es->last_out_ts;
    if (ts < 0)
        ts = 0;
    es->last_out_ts = (uint32_t)ts;
    es->have_ts = 1;
    struct fanout_frame *f = fanout_frame_new(h->kind, h->flags, (uint32_t)ts, body, len, (uint32_t)w->cfg->live.chunk_size);
    if (!f)
        return;
    /* The origin's stamps go on unchanged (never rebased): HLS on every
     * edge segments from them identically. */
    f->source_ts = h->timestamp;
    f->segment = h->segment;
    f->epoch = h->epoch;
    f->wall_ms = h->wall_ms;
    live_server_push(&w->srv, es->st, f);
    fanout_frame_unref(f);
}

static void on_snapshot(void *ctx, int found, uint32_t epoch)
{
    struct edge_stream *es = ctx;
    LOG_INFO("edge: stream=%s snapshot %s epoch=%u from %s", es->st->key, found ? "applied" : "empty (not there yet)",
             epoch, es->router);
}

static void on_gap(void *ctx, uint64_t expected, uint64_t got)
{
    struct edge_stream *es = ctx;
    LOG_WARN("edge: stream=%s lost messages %llu..%llu; players resume at the next keyframe", es->st->key,
             (unsigned long long)expected, (unsigned long long)got - 1);
    es->w->srv.stats.cluster_gaps++;
    for (struct fanout_player *p = es->st->fanout.players; p; p = p->next)
        p->wait_key = 1;
}

static void on_repair(void *ctx, uint64_t expected, uint64_t got)
{
    struct edge_stream *es = ctx;
    es->w->srv.stats.cluster_repairs++;
}

static const struct cluster_subscription_handler sub_handler = {
    .on_message = on_message, .on_snapshot = on_snapshot, .on_gap = on_gap, .on_repair = on_repair};

static void subscribe(struct edge_stream *es, const struct cluster_stream_info *info)
{
    struct edge_worker *w = es->w;
    if (es->sub_active && strcmp(es->pub, info->pub) == 0 && strcmp(es->router, info->router) == 0)
        return; /* same origin: epochs are handled in-band */
    if (es->sub_active) {
        cluster_subscription_stop(&es->sub);
        es->sub_active = 0;
    }
    snprintf(es->owner, sizeof(es->owner), "%s", info->owner);
    snprintf(es->pub, sizeof(es->pub), "%s", info->pub);
    snprintf(es->router, sizeof(es->router), "%s", info->router);
    if (cluster_subscription_start(&es->sub, w->loop, w->zctx, es->st->key, es->pub, es->router, &sub_handler, es) !=
        ST_OK) {
        es->state = EDGE_WAITING;
        return;
    }
    es->sub_active = 1;
    es->state = EDGE_SUBSCRIBED;
    cluster_directory_carry(&w->dir, es->st->key, 1);
    LOG_INFO("edge: subscribed stream=%s owner=%s pub=%s epoch=%u", es->st->key, es->owner, es->pub, info->epoch);
}

static void start_lookup(struct edge_stream *es);

static void lookup_cb(void *ctx, int result, const struct cluster_stream_info *info)
{
    struct edge_stream *es = ctx;
    es->lookup_pending = 0;
    if (es->dead) {
        free(es);
        return;
    }
    if (result == CLUSTER_DIR_OK)
        subscribe(es, info);
    else if (es->state == EDGE_LOOKUP)
        es->state = EDGE_WAITING;
    if (es->lookup_again) {
        es->lookup_again = 0;
        start_lookup(es);
    }
}

static void start_lookup(struct edge_stream *es)
{
    if (es->lookup_pending) {
        es->lookup_again = 1; /* the answer in flight may predate what we just heard */
        return;
    }
    es->last_lookup_ms = now_ms(es->w);
    es->lookup_pending = 1;
    if (cluster_directory_lookup(&es->w->dir, es->st->key, lookup_cb, es) != ST_OK)
        lookup_cb(es, CLUSTER_DIR_ERROR, NULL);
}

static void linger_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct edge_stream *es = t->data;
    LOG_INFO("edge: unsubscribed stream=%s after %ld ms linger without players", es->st->key, es->w->cfg->linger);
    edge_stream_free(es);
}

static void wait_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct edge_stream *es = t->data;
    if (es->got_data)
        return;
    LOG_INFO("edge: stream=%s not found within %ld ms", es->st->key, es->w->cfg->play_wait);
    live_server_notify_players(&es->w->srv, es->st, "NetStream.Play.StreamNotFound", "stream not found", 1);
}

/* --- hooks from the RTMP server ----------------------------------------- */

static void hook_play_started(void *ctx, struct live_stream *st)
{
    struct edge_worker *w = ctx;
    struct edge_stream *es = st->source;
    if (es) {
        ev_timer_stop(w->loop, &es->linger);
        return;
    }
    es = calloc(1, sizeof(*es));
    if (!es) {
        live_server_notify_players(&w->srv, st, "NetStream.Play.Failed", "out of memory", 1);
        return;
    }
    es->w = w;
    es->st = st;
    es->state = EDGE_LOOKUP;
    st->source = es;
    w->nstreams++;
    ev_timer_init(&es->linger, linger_cb, w->cfg->linger / 1000.0, 0);
    es->linger.data = es;
    ev_timer_init(&es->wait, wait_cb, w->cfg->play_wait / 1000.0, 0);
    es->wait.data = es;
    if (w->cfg->play_wait > 0)
        ev_timer_start(w->loop, &es->wait);
    start_lookup(es);
}

static void hook_stream_unwatched(void *ctx, struct live_stream *st)
{
    struct edge_worker *w = ctx;
    struct edge_stream *es = st->source;
    if (!es || w->srv.stopping)
        return;
    ev_timer_stop(w->loop, &es->wait);
    ev_timer_start(w->loop, &es->linger);
}

static int hook_connect_check(void *ctx, struct rtmp_session *s, struct rtmp_session_verdict *v)
{
    struct edge_worker *w = ctx;
    if (w->cfg->max_players <= 0 || live_server_players(&w->srv) <= (uint32_t)w->cfg->max_players)
        return ST_OK;
    static char url[CLUSTER_ADDR_MAX + RTMP_SESSION_MAX_NAME + 16];
    const struct cluster_route *best = cluster_directory_best_edge(&w->dir);
    v->code = "NetConnection.Connect.Rejected";
    if (best && best->rtmp[0]) {
        snprintf(url, sizeof(url), "rtmp://%s/%s", best->rtmp, s->app);
        v->redirect = url;
        v->description = "edge at capacity; redirected";
        LOG_WARN("edge: over max_players=%ld, redirecting client to %s", w->cfg->max_players, url);
    } else {
        v->description = "edge at capacity";
        LOG_WARN("edge: over max_players=%ld and no other edge known; refusing client", w->cfg->max_players);
    }
    return ST_ERROR;
}

static void on_event(void *ctx, const char *type, const struct cluster_stream_info *info)
{
    struct edge_worker *w = ctx;
    struct live_stream *st = live_registry_find(&w->srv.registry, info->key);
    if (!st || !st->source || strcmp(type, "up") != 0)
        return;
    struct edge_stream *es = st->source;
    /* Events name the owner, not its endpoints: ask the directory. The same
     * owner with a new epoch needs nothing: the epoch arrives in-band. */
    if (!es->sub_active || strcmp(es->owner, info->owner) != 0) {
        LOG_INFO("edge: stream=%s is now on %s (epoch %u)", info->key, info->owner, info->epoch);
        start_lookup(es);
    }
}

/* Once a second: report load, and look streams up again when they are
 * silent (a dead origin publishes no "down"; the new owner's "up" may have
 * been missed while Redis was away). */
static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct edge_worker *w = t->data;
    uint64_t now = now_ms(w);
    /* api and api_tls share one delivery: its FLV players count once. */
    int idle = w->srv.nconns == 0 && w->rtsp.stats.connections == 0 && live_api_flv_players(&w->api) == 0 &&
               live_api_flv_players(&w->api_tls) == 0;
    if (w->draining && (idle || ev_now(loop) >= w->drain_deadline)) {
        LOG_INFO("edge worker %d drained (%u connections left)", w->index, w->srv.nconns);
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    uint64_t out = w->srv.stats.bytes_out;
    cluster_directory_set_load(&w->dir, live_server_players(&w->srv), (out - w->last_bytes_out) * 8);
    w->last_bytes_out = out;
    for (int b = 0; b < LIVE_REGISTRY_BUCKETS; b++) {
        for (struct live_stream *st = w->srv.registry.buckets[b]; st; st = st->next) {
            struct edge_stream *es = st->source;
            if (!es || es->lookup_pending || now - es->last_lookup_ms < (uint64_t)w->cfg->stale_after)
                continue;
            int silent = !es->sub_active || now - es->sub.last_message_ms > (uint64_t)w->cfg->stale_after;
            if (silent && live_stream_watched(st))
                start_lookup(es);
        }
    }
}

static void on_signal(struct ev_loop *loop, ev_signal *sig, int revents)
{
    struct edge_worker *w = sig->data;
    if (sig->signum == SIGTERM && !w->draining && w->cfg->drain_timeout > 0) {
        /* Rolling restart: take no one new, let current players finish. */
        w->draining = 1;
        w->drain_deadline = ev_now(loop) + w->cfg->drain_timeout / 1000.0;
        live_server_stop_accepting(&w->srv);
        live_api_stop_accepting(&w->api); /* HTTP-FLV players stay like RTMP ones */
        live_api_stop_accepting(&w->api_tls);
        rtsp_server_stop_accepting(&w->rtsp);
        LOG_INFO("edge worker %d draining: %u connections, at most %ld ms", w->index, w->srv.nconns,
                 w->cfg->drain_timeout);
        return;
    }
    ev_break(loop, EVBREAK_ALL);
}

static void on_hup(struct ev_loop *loop, ev_signal *sig, int revents)
{
    struct edge_worker *w = sig->data;
    size_t n;
    const struct config_directive *table = edge_config_table(&n);
    if (cli_reload_settings("edge", w->argc, w->argv, table, n, w->cfg, sizeof(*w->cfg), edge_config_check) ==
        ST_OK) {
        live_server_reload(&w->srv); /* CIDR lists, secrets and webhooks */
        live_server_reload_tls(&w->srv); /* tls_cert/tls_key, when the paths or the files changed */
    }
}

int edge_worker_run(struct edge_config *cfg, int index, const char *edge_id, int argc, char **argv)
{
    static struct edge_worker w;
    int rc = 1;
    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    w.argc = argc;
    w.argv = argv;
    w.index = index;
    snprintf(w.node_id, sizeof(w.node_id), "%s#%d", edge_id, index);
    w.loop = ev_loop_new(EVFLAG_AUTO);
    w.zctx = zmq_ctx_new();
    if (!w.loop || !w.zctx)
        return 1;
    struct live_hooks hooks = {.ctx = &w,
                               .connect_check = hook_connect_check,
                               .play_started = hook_play_started,
                               .stream_unwatched = hook_stream_unwatched};
    if (live_server_start(&w.srv, w.loop, &cfg->live, &hooks) != ST_OK)
        goto out;
    char rtmp[CLUSTER_ADDR_MAX], http[CLUSTER_ADDR_MAX] = "";
    snprintf(rtmp, sizeof(rtmp), "%s:%d", cfg->node.advertise_host, live_server_port(&w.srv));
    const char *http_port = cfg->http_listen ? strrchr(cfg->http_listen, ':') : NULL;
    if (http_port)
        snprintf(http, sizeof(http), "%s:%s", cfg->node.advertise_host, http_port + 1);
    char redis[CLUSTER_ADDR_MAX];
    if (net_resolve_address(cfg->node.redis, redis, sizeof(redis)) != ST_OK) {
        live_server_stop(&w.srv);
        goto out;
    }
    struct cluster_directory_settings ds = {.redis_addr = redis,
                                            .prefix = cfg->node.redis_prefix,
                                            .claim_ttl = cfg->node.node_ttl,
                                            .node_ttl = cfg->node.node_ttl,
                                            .heartbeat = cfg->node.heartbeat};
    struct cluster_node_info self = {.id = w.node_id, .role = "edge", .rtmp = rtmp, .http = http, .pub = "",
                                     .router = "", .max_players = cfg->max_players};
    if (cluster_directory_start(&w.dir, w.loop, &ds, &self) != ST_OK) {
        live_server_stop(&w.srv);
        goto out;
    }
    cluster_directory_on_event(&w.dir, on_event, &w);
    if (http_port && live_api_start(&w.api, w.loop, cfg->http_listen, 1, &w.srv, &w.dir, "edge", w.node_id, index) !=
                         ST_OK) {
        LOG_ERROR("edge worker %d: cannot serve HTTP on %s", index, cfg->http_listen);
        cluster_directory_stop(&w.dir);
        live_server_stop(&w.srv);
        goto out;
    }
    if (cfg->https_listen && cfg->https_listen[0] &&
        live_api_start_tls(&w.api_tls, w.loop, cfg->https_listen, 1, &w.srv, &w.dir, "edge", w.node_id, index) !=
            ST_OK) {
        LOG_ERROR("edge worker %d: cannot serve HTTPS on %s", index, cfg->https_listen);
        live_api_stop(&w.api);
        cluster_directory_stop(&w.dir);
        live_server_stop(&w.srv);
        goto out;
    }
    w.srv.rtsp_stats = &w.rtsp.stats; /* for /v1/stats and /metrics */
    if (rtsp_server_start(&w.rtsp, w.loop, &cfg->rtsp, &w.srv, cfg->live.reuse_port) != ST_OK) {
        LOG_ERROR("edge worker %d: cannot serve RTSP on %s", index, cfg->rtsp.listen);
        live_api_stop(&w.api);
        live_api_stop(&w.api_tls);
        cluster_directory_stop(&w.dir);
        live_server_stop(&w.srv);
        goto out;
    }
    ev_timer_init(&w.tick, tick_cb, 1.0, 1.0);
    w.tick.data = &w;
    ev_timer_start(w.loop, &w.tick);
    ev_signal sigterm, sigint, sighup;
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_init(&sighup, on_hup, SIGHUP);
    sigterm.data = sigint.data = sighup.data = &w;
    ev_signal_start(w.loop, &sigterm);
    ev_signal_start(w.loop, &sigint);
    ev_signal_start(w.loop, &sighup);
    LOG_INFO("edge worker %d node=%s listening rtmp=%s port=%d", index, w.node_id, cfg->live.rtmp_listen,
             live_server_port(&w.srv));
    ev_run(w.loop, 0);
    ev_timer_stop(w.loop, &w.tick);
    rtsp_server_stop(&w.rtsp); /* unholds its streams while they exist */
    /* Close subscriptions first: the ZeroMQ context cannot end with sockets open. */
    for (int b = 0; b < LIVE_REGISTRY_BUCKETS; b++) {
        struct live_stream *st = w.srv.registry.buckets[b];
        while (st) {
            struct live_stream *next = st->next; /* edge_stream_free may free st */
            if (st->source)
                edge_stream_free(st->source);
            st = next;
        }
    }
    ev_signal_stop(w.loop, &sigterm);
    ev_signal_stop(w.loop, &sigint);
    ev_signal_stop(w.loop, &sighup);
    live_api_stop(&w.api);
    live_api_stop(&w.api_tls);
    live_server_stop(&w.srv);
    cluster_directory_stop(&w.dir);
    net_loop_settle(w.loop, 1.0);
    rc = 0;
out:
    zmq_ctx_term(w.zctx);
    ev_loop_destroy(w.loop);
    return rc;
}
