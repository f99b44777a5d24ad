#include "cluster/cluster_subscription.h"

#include "core/log.h"
#include "core/status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Messages handled per wake-up before yielding to the loop. */
#define CLUSTER_SUB_BATCH 256
/* Seconds to wait for a snapshot before asking again. */
#define CLUSTER_SNAPSHOT_TIMEOUT 2.0
/* At most one repair snapshot per this many ms (see the header). */
#define CLUSTER_REPAIR_INTERVAL_MS 1000

enum update_verdict { UPDATE_DROP, UPDATE_DELIVER, UPDATE_REPAIR };

/* An update received while the snapshot is in flight. */
struct cluster_held {
    struct cluster_wire_header h;
    zmq_msg_t body;
};

static void held_clear(struct cluster_subscription *s)
{
    for (uint32_t i = 0; i < s->nheld; i++)
        zmq_msg_close(&s->held[i].body);
    s->nheld = 0;
}

static uint64_t now_ms(struct cluster_subscription *s) { return (uint64_t)(ev_now(s->loop) * 1000.0); }

static void report_gap(struct cluster_subscription *s, uint64_t got)
{
    s->gaps++;
    if (s->handler->on_gap)
        s->handler->on_gap(s->ctx, s->last_seq + 1, got);
}

/* Sequence bookkeeping for a message outside a snapshot: deliver it, drop
 * it (old or duplicate), or (may_repair) hold it and fill the gap first. */
static enum update_verdict accept_update(struct cluster_subscription *s, const struct cluster_wire_header *h,
                                         int may_repair)
{
    if (h->epoch != s->epoch) {
        if (s->epoch != 0 && h->epoch < s->epoch)
            return UPDATE_DROP; /* a straggler from an older epoch */
        if (h->seq != 1) {
            /* We joined this epoch late: its codec headers went by. */
            LOG_INFO("cluster: %s epoch %u starts at seq %llu here; asking for a snapshot", s->key, h->epoch,
                     (unsigned long long)h->seq);
            s->epoch = h->epoch;
            s->last_seq = h->seq;
            cluster_subscription_resnapshot(s);
            return UPDATE_DROP;
        }
        s->epoch = h->epoch;
        s->last_seq = h->seq;
        return UPDATE_DELIVER;
    }
    if (h->seq <= s->last_seq)
        return UPDATE_DROP;
    if (h->seq != s->last_seq + 1) {
        uint64_t now = now_ms(s);
        if (may_repair && (s->repairs == 0 || now - s->last_repair_ms >= CLUSTER_REPAIR_INTERVAL_MS)) {
            s->repairs++;
            s->last_repair_ms = now;
            LOG_INFO("cluster: %s missed seq %llu..%llu; taking them from a snapshot", s->key,
                     (unsigned long long)s->last_seq + 1, (unsigned long long)h->seq - 1);
            if (s->handler->on_repair)
                s->handler->on_repair(s->ctx, s->last_seq + 1, h->seq);
            return UPDATE_REPAIR;
        }
        report_gap(s, h->seq);
    }
    s->last_seq = h->seq;
    return UPDATE_DELIVER;
}

static void hold(struct cluster_subscription *s, const struct cluster_wire_header *h, zmq_msg_t *body)
{
    if (s->nheld == CLUSTER_SUB_HELD_MAX) {
        /* The snapshot is late and the backlog is full: start over. */
        LOG_WARN("cluster: %s held %u updates waiting for a snapshot; asking again", s->key, s->nheld);
        held_clear(s);
        cluster_subscription_resnapshot(s);
    }
    s->held[s->nheld].h = *h;
    zmq_msg_init(&s->held[s->nheld].body);
    zmq_msg_move(&s->held[s->nheld].body, body);
    s->nheld++;
}

static void deliver(struct cluster_subscription *s, const struct cluster_wire_header *h, zmq_msg_t *body)
{
    s->messages++;
    s->handler->on_message(s->ctx, h, zmq_msg_data(body), (uint32_t)zmq_msg_size(body), 0);
}

/* Read one multipart update from SUB: [topic][header][body]. */
static void read_update(struct cluster_subscription *s)
{
    zmq_msg_t parts[3];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, s->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&tmp);
            break;
        }
        more = zmq_msg_more(&tmp);
        if (n < 3)
            parts[n++] = tmp;
        else
            zmq_msg_close(&tmp);
    }
    struct cluster_wire_header h;
    const char *err = NULL;
    if (n != 3 || zmq_msg_size(&parts[0]) != s->topic_len ||
        memcmp(zmq_msg_data(&parts[0]), s->topic, s->topic_len) != 0 ||
        cluster_wire_header_decode(zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), zmq_msg_size(&parts[2]), &h,
                                   &err) != ST_OK) {
        LOG_WARN("cluster: bad update on %s ignored (%d parts%s%s)", s->key, n, err ? ": " : "", err ? err : "");
        goto out;
    }
    s->last_message_ms = now_ms(s);
    if (s->joining) {
        hold(s, &h, &parts[2]);
        goto out;
    }
    switch (accept_update(s, &h, 1)) {
    case UPDATE_DELIVER:
        deliver(s, &h, &parts[2]);
        break;
    case UPDATE_REPAIR:
        hold(s, &h, &parts[2]);
        s->repairing = 1;
        cluster_subscription_resnapshot(s);
        break;
    case UPDATE_DROP:
        break;
    }
out:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

static int zsock_readable(void *sock)
{
    int events = 0;
    size_t len = sizeof(events);
    return zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN);
}

static void sub_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cluster_subscription *s = w->data;
    for (int i = 0; i < CLUSTER_SUB_BATCH; i++) {
        if (!s->active || !zsock_readable(s->sub))
            return;
        read_update(s);
    }
    ev_feed_event(loop, w, EV_READ); /* more left: come back next turn */
}

/* One [header][body] pair of a snapshot reply. Returns 1 with m filled
 * (the caller closes m->body), 0 if the pair is malformed (skipped; *more
 * says whether the reply goes on). */
static int recv_snapshot_message(struct cluster_subscription *s, struct cluster_held *m, int *more)
{
    zmq_msg_t hp;
    zmq_msg_init(&hp);
    zmq_msg_init(&m->body);
    const char *err = NULL;
    if (zmq_msg_recv(&hp, s->dealer, ZMQ_DONTWAIT) < 0 || !zmq_msg_more(&hp) ||
        zmq_msg_recv(&m->body, s->dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&hp);
        zmq_msg_close(&m->body);
        *more = 0;
        return 0;
    }
    *more = zmq_msg_more(&m->body);
    int ok = cluster_wire_header_decode(zmq_msg_data(&hp), zmq_msg_size(&hp), zmq_msg_size(&m->body), &m->h, &err) ==
             ST_OK;
    zmq_msg_close(&hp);
    if (!ok)
        zmq_msg_close(&m->body);
    return ok;
}

/* A repair: take from the snapshot only the messages after last_seq, in seq
 * order (a codec header resent mid-GOP comes first in the reply but later
 * in the stream). Reads the rest of the reply. */
static void repair_from_snapshot(struct cluster_subscription *s, int more, const struct cluster_wire_snap_header *sh)
{
    /* Room for what the reply announces, no more (at most a GOP). */
    uint32_t cap = sh->count;
    uint64_t seq_end = sh->seq_end;
    struct cluster_held *got = cap ? malloc(cap * sizeof(*got)) : NULL;
    uint32_t n = 0;
    while (more) {
        struct cluster_held m;
        if (!recv_snapshot_message(s, &m, &more))
            continue;
        if (!got || n == cap || m.h.seq <= s->last_seq || m.h.seq > seq_end ||
            m.h.epoch != s->epoch) {
            zmq_msg_close(&m.body);
            continue;
        }
        /* Insertion sort: the reply is in seq order but for codec headers. */
        uint32_t i = n++;
        while (i > 0 && got[i - 1].h.seq > m.h.seq) {
            got[i] = got[i - 1];
            i--;
        }
        got[i] = m;
    }
    uint64_t from = s->last_seq;
    for (uint32_t i = 0; i < n; i++) {
        if (got[i].h.seq == s->last_seq) { /* a duplicate seq: keep the first */
            zmq_msg_close(&got[i].body);
            continue;
        }
        if (got[i].h.seq != s->last_seq + 1)
            report_gap(s, got[i].h.seq); /* older than the origin's cache */
        s->last_seq = got[i].h.seq;
        if (s->active)
            deliver(s, &got[i].h, &got[i].body);
        zmq_msg_close(&got[i].body);
    }
    free(got);
    LOG_INFO("cluster: %s repaired from a snapshot: seq %llu..%llu", s->key, (unsigned long long)from + 1,
             (unsigned long long)s->last_seq);
}

/* Snapshot reply: [snap header] then [header][body] pairs. */
static void read_snapshot(struct cluster_subscription *s)
{
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, s->dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&part);
        return;
    }
    struct cluster_wire_snap_header sh;
    const char *err = NULL;
    int more = zmq_msg_more(&part);
    int ok = cluster_wire_snap_header_decode(zmq_msg_data(&part), zmq_msg_size(&part), &sh, &err) == ST_OK;
    zmq_msg_close(&part);
    if (!ok || !s->joining) {
        /* Drain the rest of a reply we cannot use (stale or malformed). */
        while (more) {
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, s->dealer, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part);
                break;
            }
            more = zmq_msg_more(&part);
            zmq_msg_close(&part);
        }
        if (!ok)
            LOG_WARN("cluster: bad snapshot reply for %s: %s", s->key, err ? err : "?");
        return;
    }
    ev_timer_stop(s->loop, &s->snap_timer);
    s->joining = 0;
    s->snapshots++;
    int found = sh.status == CLUSTER_SNAP_OK;
    /* A repair continues the epoch we have; anything else is a join. */
    int repair = s->repairing && found && sh.epoch == s->epoch && s->epoch != 0;
    s->repairing = 0;
    if (found && !repair) {
        s->epoch = sh.epoch;
        s->last_seq = sh.seq_end;
    }
    if (repair) {
        repair_from_snapshot(s, more, &sh);
    } else {
        /* Deliver the snapshot's messages as they arrive in the reply. */
        while (more) {
            struct cluster_held m;
            if (!recv_snapshot_message(s, &m, &more))
                continue;
            s->messages++;
            s->handler->on_message(s->ctx, &m.h, zmq_msg_data(&m.body), (uint32_t)zmq_msg_size(&m.body), 1);
            zmq_msg_close(&m.body);
        }
    }
    if (s->handler->on_snapshot && !repair)
        s->handler->on_snapshot(s->ctx, found, sh.epoch);
    /* Updates held meanwhile: only what the snapshot did not cover. */
    for (uint32_t i = 0; i < s->nheld && s->active; i++) {
        struct cluster_held *m = &s->held[i];
        if (found && m->h.epoch == s->epoch && m->h.seq <= s->last_seq)
            continue;
        if (accept_update(s, &m->h, 0) == UPDATE_DELIVER)
            deliver(s, &m->h, &m->body);
    }
    held_clear(s);
}

static void dealer_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cluster_subscription *s = w->data;
    for (int i = 0; i < 8; i++) {
        if (!s->active || !s->dealer || !zsock_readable(s->dealer))
            return;
        read_snapshot(s);
    }
    ev_feed_event(loop, w, EV_READ);
}

static int open_dealer(struct cluster_subscription *s)
{
    int zero = 0;
    s->dealer = zmq_socket(s->zctx, ZMQ_DEALER);
    if (!s->dealer)
        return ST_ERROR;
    zmq_setsockopt(s->dealer, ZMQ_LINGER, &zero, sizeof(zero));
    if (zmq_connect(s->dealer, s->router_endpoint) != 0) {
        LOG_WARN("cluster: cannot connect DEALER to %s: %s", s->router_endpoint, zmq_strerror(errno));
        return ST_ERROR;
    }
    int fd;
    size_t len = sizeof(fd);
    zmq_getsockopt(s->dealer, ZMQ_FD, &fd, &len);
    ev_io_init(&s->dealer_io, dealer_cb, fd, EV_READ);
    s->dealer_io.data = s;
    ev_io_start(s->loop, &s->dealer_io);
    return ST_OK;
}

static void close_dealer(struct cluster_subscription *s)
{
    if (!s->dealer)
        return;
    ev_io_stop(s->loop, &s->dealer_io);
    zmq_close(s->dealer);
    s->dealer = NULL;
}

static void send_snapshot_request(struct cluster_subscription *s)
{
    /* A fresh DEALER per request: a reply to an abandoned request can never
     * be mistaken for the answer to this one. */
    close_dealer(s);
    if (open_dealer(s) != ST_OK)
        return;
    if (zmq_send(s->dealer, "SNAP", 4, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(s->dealer, s->topic, s->topic_len, ZMQ_DONTWAIT) < 0)
        LOG_WARN("cluster: snapshot request for %s not queued: %s", s->key, zmq_strerror(errno));
    ev_feed_event(s->loop, &s->dealer_io, EV_READ);
}

static void snap_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cluster_subscription *s = w->data;
    LOG_WARN("cluster: no snapshot for %s from %s within %.0f s; asking again", s->key, s->router_endpoint,
             CLUSTER_SNAPSHOT_TIMEOUT);
    send_snapshot_request(s);
    ev_timer_again(loop, w);
}

void cluster_subscription_resnapshot(struct cluster_subscription *s)
{
    s->joining = 1;
    send_snapshot_request(s);
    ev_timer_again(s->loop, &s->snap_timer);
}

int cluster_subscription_start(struct cluster_subscription *s, struct ev_loop *loop, void *zctx, const char *key,
                               const char *pub_endpoint, const char *router_endpoint,
                               const struct cluster_subscription_handler *handler, void *ctx)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->zctx = zctx;
    s->handler = handler;
    s->ctx = ctx;
    size_t klen = strlen(key);
    if (klen >= sizeof(s->key) || strlen(pub_endpoint) >= sizeof(s->pub_endpoint) ||
        strlen(router_endpoint) >= sizeof(s->router_endpoint))
        return ST_ERROR;
    memcpy(s->key, key, klen + 1);
    memcpy(s->pub_endpoint, pub_endpoint, strlen(pub_endpoint) + 1);
    memcpy(s->router_endpoint, router_endpoint, strlen(router_endpoint) + 1);
    s->topic_len = cluster_wire_topic(s->topic, sizeof(s->topic), key);
    s->held = calloc(CLUSTER_SUB_HELD_MAX, sizeof(*s->held));
    if (s->topic_len == 0 || !s->held) {
        free(s->held);
        s->held = NULL;
        return ST_ERROR;
    }
    int zero = 0, hwm = 20000;
    s->sub = zmq_socket(zctx, ZMQ_SUB);
    if (!s->sub)
        goto fail;
    zmq_setsockopt(s->sub, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s->sub, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    /* Subscribe before connecting, and before asking for the snapshot. */
    if (zmq_setsockopt(s->sub, ZMQ_SUBSCRIBE, s->topic, s->topic_len) != 0 || zmq_connect(s->sub, pub_endpoint) != 0) {
        LOG_WARN("cluster: cannot subscribe to %s at %s: %s", key, pub_endpoint, zmq_strerror(errno));
        goto fail;
    }
    int fd;
    size_t len = sizeof(fd);
    zmq_getsockopt(s->sub, ZMQ_FD, &fd, &len);
    ev_io_init(&s->sub_io, sub_cb, fd, EV_READ);
    s->sub_io.data = s;
    ev_io_start(loop, &s->sub_io);
    ev_init(&s->snap_timer, snap_timeout_cb);
    s->snap_timer.repeat = CLUSTER_SNAPSHOT_TIMEOUT;
    s->snap_timer.data = s;
    s->active = 1;
    s->last_message_ms = now_ms(s);
    cluster_subscription_resnapshot(s);
    return ST_OK;
fail:
    cluster_subscription_stop(s);
    return ST_ERROR;
}

void cluster_subscription_stop(struct cluster_subscription *s)
{
    if (s->loop) {
        ev_timer_stop(s->loop, &s->snap_timer);
        if (s->sub_io.data)
            ev_io_stop(s->loop, &s->sub_io);
    }
    close_dealer(s);
    if (s->sub)
        zmq_close(s->sub);
    s->sub = NULL;
    if (s->held) {
        held_clear(s);
        free(s->held);
        s->held = NULL;
    }
    s->active = 0;
}
