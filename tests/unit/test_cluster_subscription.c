/*
 * Unit tests for cluster_subscription against a real cluster_publisher over
 * ZeroMQ on loopback (one libev loop drives both).
 *
 * The publisher side is a scripted stream: a message every 20 ms, seq 1..N,
 * a "keyframe" every 10 messages, and a cache (what the origin's GOP cache
 * would hold) that the snapshot serves. The subscription joins while the
 * stream is running, which is the join race (the snapshot may be served
 * before the subscription reached the PUB). Some seqs are never sent on the
 * PUB but are cached: the subscription must take them from a snapshot. One
 * is sent nowhere the snapshot can still reach: that one is a reported gap.
 * Every wait is bounded by a watchdog timer.
 */
#include <criterion/criterion.h>

#include "cluster/cluster_publisher.h"
#include "cluster/cluster_subscription.h"
#include "core/log.h"
#include "core/status.h"

#include <ev.h>
#include <string.h>
#include <zmq.h>

#define KEY "live/sub"
#define LAST_SEQ 180
#define MAX_DELIVERED 512

struct script {
    struct ev_loop *loop;
    struct cluster_publisher pub;
    struct cluster_subscription sub;
    void *zctx;
    char pub_ep[128];
    char router_ep[128];
    ev_timer tick;
    ev_timer watchdog;
    uint64_t seq;           /* last seq published (or skipped) */
    uint64_t gop_start;     /* seq of the cached keyframe */
    uint64_t header_seq;    /* a codec header resent mid-GOP (0 = none) */
    uint64_t join_at;       /* subscribe after this seq */
    uint64_t skip[4];       /* seqs never sent on the PUB (cached) */
    uint64_t lose;          /* a seq neither sent nor left in the cache */
    int subscribed;
    /* What the subscriber saw */
    uint64_t got[MAX_DELIVERED];
    int got_snapshot[MAX_DELIVERED];
    int ngot;
    int snapshots_applied;
    int gaps;
    int repairs;            /* on_repair calls */
    uint64_t gap_from, gap_to;
    int timed_out;
};

static uint8_t body_of(uint64_t seq, uint8_t out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(seq >> (8 * i));
    return 8;
}

static uint64_t seq_of(const uint8_t *b, uint32_t len)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < len && i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* The cache holds the header seq 1, the mid-GOP header if any, and the
 * messages from gop_start to seq, except `lose`. Bodies are copied by the
 * publisher (no release function). */
static uint8_t bodies[LAST_SEQ + 2][8];

static void fill(struct cluster_message *m, uint64_t seq, int flags)
{
    memset(m, 0, sizeof(*m));
    m->kind = CLUSTER_KIND_VIDEO;
    m->flags = (uint8_t)flags;
    m->timestamp = (uint32_t)(seq * 20);
    m->seq = seq;
    body_of(seq, bodies[seq]);
    m->body = bodies[seq];
    m->length = 8;
}

static int snapshot_cb(void *ctx, const char *key, uint32_t *epoch, uint64_t *seq_end, struct cluster_message *msgs,
                       size_t max, size_t *count)
{
    struct script *sc = ctx;
    if (strcmp(key, KEY) != 0 || sc->seq == 0)
        return ST_ERROR;
    size_t n = 0;
    fill(&msgs[n++], 1, CLUSTER_FLAG_SEQ_HEADER);
    if (sc->header_seq && sc->header_seq >= sc->gop_start && sc->header_seq <= sc->seq)
        fill(&msgs[n++], sc->header_seq, CLUSTER_FLAG_SEQ_HEADER); /* headers first, as the origin does */
    for (uint64_t s = sc->gop_start; s <= sc->seq && n < max; s++)
        if (s != 1 && s != sc->lose && s != sc->header_seq)
            fill(&msgs[n++], s, s == sc->gop_start ? CLUSTER_FLAG_KEY : 0);
    *epoch = 1;
    *seq_end = sc->seq;
    *count = n;
    return ST_OK;
}

static void on_message(void *ctx, const struct cluster_wire_header *h, const uint8_t *body, uint32_t len, int snapshot)
{
    struct script *sc = ctx;
    cr_assert_eq(h->seq, seq_of(body, len), "header seq %llu carries body of %llu", (unsigned long long)h->seq,
                 (unsigned long long)seq_of(body, len));
    if (sc->ngot < MAX_DELIVERED) {
        sc->got[sc->ngot] = h->seq;
        sc->got_snapshot[sc->ngot] = snapshot;
        sc->ngot++;
    }
}

static void on_snapshot(void *ctx, int found, uint32_t epoch)
{
    struct script *sc = ctx;
    sc->snapshots_applied++;
}

static void on_gap(void *ctx, uint64_t expected, uint64_t got)
{
    struct script *sc = ctx;
    sc->gaps++;
    sc->gap_from = expected;
    sc->gap_to = got - 1;
}

static void on_repair(void *ctx, uint64_t expected, uint64_t got)
{
    struct script *sc = ctx;
    sc->repairs++;
}

static const struct cluster_subscription_handler handler = {
    .on_message = on_message, .on_snapshot = on_snapshot, .on_gap = on_gap, .on_repair = on_repair};

static int skipped(struct script *sc, uint64_t seq)
{
    for (int i = 0; i < 4; i++)
        if (sc->skip[i] == seq)
            return 1;
    return seq == sc->lose;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct script *sc = w->data;
    if (sc->seq == LAST_SEQ) {
        /* Let the last updates and any repair arrive, then stop. */
        if (sc->ngot && sc->got[sc->ngot - 1] == LAST_SEQ)
            ev_break(loop, EVBREAK_ALL);
        return;
    }
    uint64_t seq = ++sc->seq;
    int key = seq % 10 == 5;
    if (key)
        sc->gop_start = seq;
    struct cluster_message m;
    fill(&m, seq, key ? CLUSTER_FLAG_KEY : (seq == sc->header_seq ? CLUSTER_FLAG_SEQ_HEADER : 0));
    m.seq = 0; /* live updates carry their seq in the send call */
    if (!skipped(sc, seq))
        cr_assert_eq(cluster_publisher_send(&sc->pub, KEY, 1, seq, &m), ST_OK);
    if (seq == sc->join_at && !sc->subscribed) {
        cr_assert_eq(cluster_subscription_start(&sc->sub, loop, sc->zctx, KEY, sc->pub_ep, sc->router_ep, &handler, sc),
                     ST_OK);
        sc->subscribed = 1;
    }
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct script *sc = w->data;
    sc->timed_out = 1;
    ev_break(loop, EVBREAK_ALL);
}

static void endpoint(void *sock, char *out, size_t cap)
{
    size_t len = cap;
    cr_assert_eq(zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, out, &len), 0);
}

static void run(struct script *sc)
{
    sc->loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_eq(cluster_publisher_start(&sc->pub, sc->loop, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 1000,
                                         snapshot_cb, sc),
                 ST_OK);
    endpoint(sc->pub.pub, sc->pub_ep, sizeof(sc->pub_ep));
    endpoint(sc->pub.router, sc->router_ep, sizeof(sc->router_ep));
    sc->zctx = zmq_ctx_new();
    ev_timer_init(&sc->tick, tick_cb, 0.02, 0.02);
    sc->tick.data = sc;
    ev_timer_start(sc->loop, &sc->tick);
    ev_timer_init(&sc->watchdog, watchdog_cb, 30.0, 0);
    sc->watchdog.data = sc;
    ev_timer_start(sc->loop, &sc->watchdog);
    ev_run(sc->loop, 0);
    ev_timer_stop(sc->loop, &sc->tick);
    ev_timer_stop(sc->loop, &sc->watchdog);
    cr_assert(!sc->timed_out, "the subscriber did not reach seq %d within 30 s (got %d messages, last %llu)", LAST_SEQ,
              sc->ngot, sc->ngot ? (unsigned long long)sc->got[sc->ngot - 1] : 0ULL);
}

static void finish(struct script *sc)
{
    cluster_subscription_stop(&sc->sub);
    zmq_ctx_term(sc->zctx);
    cluster_publisher_stop(&sc->pub);
    ev_loop_destroy(sc->loop);
}

/* After the join snapshot (header, then a GOP ending at the snapshot's
 * seq_end), every seq up to LAST_SEQ arrives once, in order, except `lose`. */
static void assert_stream(struct script *sc)
{
    int i = 0;
    cr_assert_gt(sc->ngot, 0);
    cr_assert(sc->got_snapshot[0] && sc->got[0] == 1, "the join starts with the snapshot's header");
    while (i < sc->ngot && sc->got_snapshot[i])
        i++;
    cr_assert_gt(i, 1, "the join snapshot carried a GOP");
    uint64_t expect = sc->got[i - 1] + 1;
    for (; i < sc->ngot; i++) {
        if (expect == sc->lose)
            expect++;
        cr_assert(!sc->got_snapshot[i], "snapshot message %llu after the join", (unsigned long long)sc->got[i]);
        if (sc->got[i] != expect) /* the whole sequence, to see what happened */
            for (int k = 0; k < sc->ngot; k++)
                fprintf(stderr, "%llu%s ", (unsigned long long)sc->got[k], sc->got_snapshot[k] ? "s" : "");
        cr_assert_eq(sc->got[i], expect, "delivered seq %llu where %llu was due", (unsigned long long)sc->got[i],
                     (unsigned long long)expect);
        expect++;
    }
    cr_assert_eq(expect, LAST_SEQ + 1);
}

Test(cluster_subscription, lost_updates_are_taken_from_a_snapshot)
{
    log_set_level(LOG_LEVEL_WARN);
    static struct script sc;
    memset(&sc, 0, sizeof(sc));
    sc.join_at = 5;
    /* 80 and 81 in one gap; 156..158 a second gap 1.5 s later (repairs are
     * at most one a second), with a codec header resent at 158 that the
     * snapshot lists before the GOP's 156 and 157. */
    sc.skip[0] = 80;
    sc.skip[1] = 81;
    sc.skip[2] = 156;
    sc.skip[3] = 157;
    sc.header_seq = 158;
    run(&sc);
    assert_stream(&sc);
    cr_assert_eq(sc.gaps, 0, "gap %llu..%llu reported", (unsigned long long)sc.gap_from,
                 (unsigned long long)sc.gap_to);
    cr_assert_geq(sc.repairs, 2, "repairs: %d", sc.repairs);
    cr_assert_eq((uint64_t)sc.repairs, sc.sub.repairs);
    cr_assert_eq(sc.snapshots_applied, 1, "a repair is not a new join");
    finish(&sc);
}

Test(cluster_subscription, loss_older_than_the_cache_is_reported_once)
{
    log_set_level(LOG_LEVEL_WARN);
    static struct script sc;
    memset(&sc, 0, sizeof(sc));
    sc.join_at = 5;
    /* 64 is lost and 65 is a keyframe: the cache no longer has 64 when the
     * gap shows. */
    sc.lose = 64;
    run(&sc);
    assert_stream(&sc);
    cr_assert_eq(sc.gaps, 1);
    cr_assert_eq(sc.gap_from, 64);
    cr_assert_eq(sc.gap_to, 64);
    finish(&sc);
}
