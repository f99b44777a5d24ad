#include "origin_cluster.h"

#include "core/log.h"
#include "net/net_listener.h"
#include "core/status.h"
#include "rtmp/rtmp_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Delay between two claim attempts while another origin holds the key. */
#define ORIGIN_CLAIM_RETRY 0.5

struct origin_claim {
    struct origin_cluster *oc;
    uint64_t conn_id;
    char key[LIVE_KEY_MAX];
    ev_tstamp deadline;
    ev_timer retry;
    int in_flight; /* a directory request is pending: the callback owns us */
    int cancelled; /* stop(): free when the callback returns */
    struct origin_claim *next;
};

static void claim_unlink(struct origin_cluster *oc, struct origin_claim *cl)
{
    struct origin_claim **pp = &oc->claims;
    while (*pp && *pp != cl)
        pp = &(*pp)->next;
    if (*pp)
        *pp = cl->next;
}

static void claim_finish(struct origin_claim *cl)
{
    ev_timer_stop(cl->oc->srv->loop, &cl->retry);
    claim_unlink(cl->oc, cl);
    free(cl);
}

static void claim_send(struct origin_claim *cl);

static void claim_cb(void *ctx, int result, uint32_t epoch, uint32_t last_segment)
{
    struct origin_claim *cl = ctx;
    cl->in_flight = 0;
    if (cl->cancelled) {
        free(cl);
        return;
    }
    struct origin_cluster *oc = cl->oc;
    struct live_server *srv = oc->srv;
    if (result == CLUSTER_DIR_OK) {
        struct live_stream *st = live_registry_find(&srv->registry, cl->key);
        if (st) {
            st->epoch = epoch;
            st->seq = 0;
        }
        if (!st || live_server_publish_decided(srv, cl->conn_id, 1, NULL, NULL) != ST_OK) {
            /* The encoder left while we waited: give the claim back. */
            cluster_directory_release(&oc->dir, cl->key);
        } else {
            /* After the publisher is in (that resets the clock): HLS
             * numbering goes on from the previous origin's. */
            hls_segment_clock_continue(&st->segclock, last_segment);
            LOG_INFO("cluster: claimed stream=%s epoch=%u (HLS segments continue after %u)", cl->key, epoch,
                     last_segment);
        }
        claim_finish(cl);
        return;
    }
    if (ev_now(srv->loop) >= cl->deadline) {
        const char *why = result == CLUSTER_DIR_HELD ? "stream is published on another origin"
                                                     : "stream directory unavailable";
        live_server_publish_decided(srv, cl->conn_id, 0,
                                    result == CLUSTER_DIR_HELD ? "NetStream.Publish.BadName"
                                                               : "NetStream.Publish.Failed",
                                    why);
        claim_finish(cl);
        return;
    }
    /* Held by a node that may be dead (its claim expires within claim_ttl),
     * or Redis is away: try again shortly, the encoder is waiting. */
    ev_timer_set(&cl->retry, ORIGIN_CLAIM_RETRY, 0);
    ev_timer_start(srv->loop, &cl->retry);
}

static void claim_send(struct origin_claim *cl)
{
    cl->in_flight = 1;
    if (cluster_directory_claim(&cl->oc->dir, cl->key, claim_cb, cl) != ST_OK)
        claim_cb(cl, CLUSTER_DIR_ERROR, 0, 0);
}

static void claim_retry_cb(struct ev_loop *loop, ev_timer *w, int revents) { claim_send(w->data); }

static int hook_publish_check(void *ctx, struct live_server *srv, uint64_t conn_id, const char *key,
                              struct rtmp_session_verdict *v)
{
    struct origin_cluster *oc = ctx;
    struct origin_claim *cl = calloc(1, sizeof(*cl));
    if (!cl) {
        v->code = "NetStream.Publish.Failed";
        v->description = "out of memory";
        return ST_ERROR;
    }
    cl->oc = oc;
    cl->conn_id = conn_id;
    snprintf(cl->key, sizeof(cl->key), "%s", key);
    cl->deadline = ev_now(srv->loop) + oc->cfg->claim_wait / 1000.0;
    ev_timer_init(&cl->retry, claim_retry_cb, ORIGIN_CLAIM_RETRY, 0);
    cl->retry.data = cl;
    cl->next = oc->claims;
    oc->claims = cl;
    claim_send(cl);
    return ST_AGAIN;
}

static void frame_release(void *data, void *hint) { fanout_frame_unref(hint); }

static void to_message(struct fanout_frame *f, struct cluster_message *m)
{
    m->kind = f->kind;
    m->flags = f->flags; /* FANOUT_FLAG_* and CLUSTER_FLAG_* share values */
    m->timestamp = f->source_ts;
    m->segment = f->segment;
    m->wall_ms = f->wall_ms;
    m->seq = f->seq;
    m->body = f->body;
    m->length = f->body_len;
    m->release = frame_release;
    m->hint = fanout_frame_ref(f);
}

static void hook_frame(void *ctx, struct live_stream *st, struct fanout_frame *f)
{
    struct origin_cluster *oc = ctx;
    struct cluster_message m;
    f->seq = ++st->seq; /* before it is cached: snapshots carry it */
    to_message(f, &m);
    cluster_publisher_send(&oc->pub, st->key, st->epoch, f->seq, &m);
    if (f->flags & FANOUT_FLAG_SEG_START)
        cluster_directory_note_segment(&oc->dir, st->key, f->segment);
}

static void hook_publish_stopped(void *ctx, struct live_stream *st)
{
    struct origin_cluster *oc = ctx;
    struct cluster_message eos = {.kind = CLUSTER_KIND_EOS, .timestamp = st->fanout.last_timestamp};
    cluster_publisher_send(&oc->pub, st->key, st->epoch, ++st->seq, &eos);
    cluster_directory_release(&oc->dir, st->key);
}

static int snapshot_cb(void *ctx, const char *key, uint32_t *epoch, uint64_t *seq_end, struct cluster_message *msgs,
                       size_t max, size_t *count)
{
    struct origin_cluster *oc = ctx;
    struct live_stream *st = live_registry_find(&oc->srv->registry, key);
    if (!st || !st->publisher || st->epoch == 0)
        return ST_ERROR;
    struct fanout_stream *fs = &st->fanout;
    size_t n = 0;
    struct fanout_frame *fixed[3] = {fs->metadata, fs->audio_header, fs->video_header};
    for (int i = 0; i < 3; i++)
        if (fixed[i] && n < max)
            to_message(fixed[i], &msgs[n++]);
    for (uint32_t i = 0; i < fs->gop_count && n < max; i++)
        to_message(fs->gop[i], &msgs[n++]);
    *epoch = st->epoch;
    *seq_end = st->seq;
    *count = n;
    return ST_OK;
}

static void lost_cb(void *ctx, const char *key)
{
    struct origin_cluster *oc = ctx;
    struct live_stream *st = live_registry_find(&oc->srv->registry, key);
    LOG_WARN("cluster: claim on %s lost to another origin; stopping the local publisher", key);
    if (st)
        live_server_kick_publisher(oc->srv, st, "stream claimed by another origin");
}

static void load_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct origin_cluster *oc = w->data;
    uint64_t out = oc->srv->stats.bytes_out;
    cluster_directory_set_load(&oc->dir, live_server_players(oc->srv), (out - oc->last_bytes_out) * 8);
    oc->last_bytes_out = out;
}

void origin_cluster_hooks(struct origin_cluster *oc, struct live_hooks *hooks)
{
    memset(hooks, 0, sizeof(*hooks));
    hooks->ctx = oc;
    hooks->publish_check = hook_publish_check;
    hooks->publish_stopped = hook_publish_stopped;
    hooks->frame = hook_frame;
}

/* "tcp://0.0.0.0:5556" advertised as "tcp://<advertise_host>:5556". */
static void advertised(const char *bind, const char *host, char *out, size_t len)
{
    const char *colon = strrchr(bind, ':');
    snprintf(out, len, "tcp://%s:%s", host, colon ? colon + 1 : "0");
}

int origin_cluster_start(struct origin_cluster *oc, struct ev_loop *loop, struct live_server *srv,
                         const struct origin_config *cfg)
{
    oc->srv = srv;
    oc->cfg = cfg;
    if (cfg->node.node_id && cfg->node.node_id[0]) {
        snprintf(oc->node_id, sizeof(oc->node_id), "%s", cfg->node.node_id);
    } else {
        char host[64] = "localhost";
        gethostname(host, sizeof(host) - 1);
        snprintf(oc->node_id, sizeof(oc->node_id), "origin-%s-%d", host, live_server_port(srv));
    }
    if (cluster_publisher_start(&oc->pub, loop, cfg->pub_listen, cfg->router_listen, (int)cfg->pub_hwm, snapshot_cb,
                                oc) != ST_OK)
        return ST_ERROR;
    char pub[CLUSTER_ADDR_MAX], router[CLUSTER_ADDR_MAX], rtmp[CLUSTER_ADDR_MAX], http[CLUSTER_ADDR_MAX] = "";
    advertised(cfg->pub_listen, cfg->node.advertise_host, pub, sizeof(pub));
    advertised(cfg->router_listen, cfg->node.advertise_host, router, sizeof(router));
    snprintf(rtmp, sizeof(rtmp), "%s:%d", cfg->node.advertise_host, live_server_port(srv));
    const char *http_port = cfg->http_listen ? strrchr(cfg->http_listen, ':') : NULL;
    if (http_port)
        snprintf(http, sizeof(http), "%s:%s", cfg->node.advertise_host, http_port + 1);
    char redis[CLUSTER_ADDR_MAX];
    if (net_resolve_address(cfg->node.redis, redis, sizeof(redis)) != ST_OK) {
        cluster_publisher_stop(&oc->pub);
        return ST_ERROR;
    }
    struct cluster_directory_settings ds = {.redis_addr = redis,
                                            .prefix = cfg->node.redis_prefix,
                                            .claim_ttl = cfg->claim_ttl,
                                            .node_ttl = cfg->node.node_ttl,
                                            .heartbeat = cfg->node.heartbeat};
    struct cluster_node_info self = {
        .id = oc->node_id, .role = "origin", .rtmp = rtmp, .http = http, .pub = pub, .router = router};
    if (cluster_directory_start(&oc->dir, loop, &ds, &self) != ST_OK) {
        cluster_publisher_stop(&oc->pub);
        return ST_ERROR;
    }
    cluster_directory_on_lost(&oc->dir, lost_cb, oc);
    ev_timer_init(&oc->load_timer, load_cb, 1.0, 1.0);
    oc->load_timer.data = oc;
    ev_timer_start(loop, &oc->load_timer);
    oc->started = 1;
    LOG_INFO("cluster: origin node=%s pub=%s router=%s redis=%s", oc->node_id, pub, router, cfg->node.redis);
    return ST_OK;
}

void origin_cluster_stop(struct origin_cluster *oc)
{
    if (!oc->started)
        return;
    ev_timer_stop(oc->srv->loop, &oc->load_timer);
    for (struct origin_claim *cl = oc->claims, *next; cl; cl = next) {
        next = cl->next;
        ev_timer_stop(oc->srv->loop, &cl->retry);
        if (cl->in_flight)
            cl->cancelled = 1; /* the directory will not call back after stop; see below */
        else
            free(cl);
    }
    oc->claims = NULL;
    cluster_directory_stop(&oc->dir);
    cluster_publisher_stop(&oc->pub);
    oc->started = 0;
}
