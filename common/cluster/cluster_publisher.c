#include "cluster/cluster_publisher.h"

#include "core/log.h"
#include "core/status.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

/* Snapshots carry metadata, two codec headers and a GOP. */
#define CLUSTER_SNAPSHOT_MAX 2048
/* Requests served per wake-up before yielding to the loop. */
#define CLUSTER_ROUTER_BATCH 32

static void release_msg(const struct cluster_message *m)
{
    if (m->release)
        m->release((void *)m->body, m->hint);
}

/* Send one frame; the body goes zero-copy when it has a release function. */
static int send_body(void *sock, const struct cluster_message *m, int flags)
{
    zmq_msg_t msg;
    if (m->length == 0 || !m->release) {
        if (zmq_msg_init_size(&msg, m->length) != 0) {
            release_msg(m);
            return ST_ERROR;
        }
        if (m->length)
            memcpy(zmq_msg_data(&msg), m->body, m->length);
        release_msg(m);
    } else if (zmq_msg_init_data(&msg, (void *)m->body, m->length, m->release, m->hint) != 0) {
        release_msg(m);
        return ST_ERROR;
    }
    if (zmq_msg_send(&msg, sock, flags) < 0) {
        zmq_msg_close(&msg); /* runs the release */
        return ST_ERROR;
    }
    return ST_OK;
}

static int send_header(void *sock, const struct cluster_message *m, uint32_t epoch, uint64_t seq, int flags)
{
    uint8_t hdr[CLUSTER_WIRE_HEADER_SIZE];
    struct cluster_wire_header h = {.version = CLUSTER_WIRE_VERSION,
                                    .kind = m->kind,
                                    .flags = m->flags,
                                    .timestamp = m->timestamp,
                                    .epoch = epoch,
                                    .seq = seq,
                                    .length = m->length,
                                    .segment = m->segment,
                                    .wall_ms = m->wall_ms};
    cluster_wire_header_encode(hdr, &h);
    return zmq_send(sock, hdr, sizeof(hdr), flags) < 0 ? ST_ERROR : ST_OK;
}

int cluster_publisher_send(struct cluster_publisher *p, const char *key, uint32_t epoch, uint64_t seq,
                           const struct cluster_message *m)
{
    char topic[CLUSTER_WIRE_TOPIC_MAX];
    size_t tlen = cluster_wire_topic(topic, sizeof(topic), key);
    /* PUB never blocks: at the high-water mark it drops for that subscriber. */
    if (tlen == 0 || zmq_send(p->pub, topic, tlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        send_header(p->pub, m, epoch, seq, ZMQ_SNDMORE | ZMQ_DONTWAIT) != ST_OK) {
        release_msg(m);
        p->messages_dropped++;
        return ST_ERROR;
    }
    if (send_body(p->pub, m, ZMQ_DONTWAIT) != ST_OK) {
        p->messages_dropped++;
        return ST_ERROR;
    }
    p->messages_sent++;
    return ST_OK;
}

/* Answer one request: [identity][empty?]["SNAP"][topic]. DEALER peers send
 * no empty delimiter; we echo whatever envelope came before "SNAP". */
static void serve_request(struct cluster_publisher *p)
{
    zmq_msg_t parts[4];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, p->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&tmp);
            break;
        }
        more = zmq_msg_more(&tmp);
        if (n < 4)
            parts[n++] = tmp;
        else
            zmq_msg_close(&tmp); /* oversized request: drained and ignored */
    }
    if (n < 3 || zmq_msg_size(&parts[n - 2]) != 4 || memcmp(zmq_msg_data(&parts[n - 2]), "SNAP", 4) != 0) {
        LOG_WARN("cluster: malformed snapshot request (%d parts) ignored", n);
        goto out;
    }
    const char *key = cluster_wire_topic_key(zmq_msg_data(&parts[n - 1]), zmq_msg_size(&parts[n - 1]));
    static struct cluster_message msgs[CLUSTER_SNAPSHOT_MAX];
    size_t count = 0;
    uint32_t epoch = 0;
    uint64_t seq_end = 0;
    struct cluster_wire_snap_header sh = {.version = CLUSTER_WIRE_VERSION, .status = CLUSTER_SNAP_NOT_FOUND};
    if (key && p->snapshot(p->snapshot_ctx, key, &epoch, &seq_end, msgs, CLUSTER_SNAPSHOT_MAX, &count) == ST_OK) {
        sh.status = CLUSTER_SNAP_OK;
        sh.count = (uint16_t)count;
        sh.epoch = epoch;
        sh.seq_end = seq_end;
    }
    uint8_t shb[CLUSTER_WIRE_SNAP_HEADER_SIZE];
    cluster_wire_snap_header_encode(shb, &sh);
    /* Envelope (identity and any delimiter), then the reply. */
    int ok = 1;
    for (int i = 0; i < n - 2 && ok; i++)
        ok = zmq_send(p->router, zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i]), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0;
    if (ok)
        ok = zmq_send(p->router, shb, sizeof(shb), (count ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) >= 0;
    for (size_t i = 0; i < count; i++) {
        int last = i + 1 == count;
        if (ok)
            ok = send_header(p->router, &msgs[i], epoch, msgs[i].seq, ZMQ_SNDMORE | ZMQ_DONTWAIT) == ST_OK;
        if (ok)
            ok = send_body(p->router, &msgs[i], last ? ZMQ_DONTWAIT : ZMQ_SNDMORE | ZMQ_DONTWAIT) == ST_OK;
        else
            release_msg(&msgs[i]);
    }
    if (ok)
        p->snapshots_served++;
    else
        LOG_WARN("cluster: snapshot reply for %s not sent: %s", key ? key : "?", zmq_strerror(errno));
out:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

/* ZMQ_FD is edge-triggered: drain until ZMQ_EVENTS says nothing is left,
 * or re-arm ourselves when the batch ran out (STYLE.md 7). */
static void router_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cluster_publisher *p = w->data;
    for (int i = 0; i < CLUSTER_ROUTER_BATCH; i++) {
        int events = 0;
        size_t len = sizeof(events);
        if (zmq_getsockopt(p->router, ZMQ_EVENTS, &events, &len) != 0 || !(events & ZMQ_POLLIN))
            return;
        serve_request(p);
    }
    ev_feed_event(loop, w, EV_READ);
}

int cluster_publisher_start(struct cluster_publisher *p, struct ev_loop *loop, const char *pub_bind,
                            const char *router_bind, int sndhwm, cluster_snapshot_cb snapshot, void *ctx)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->snapshot = snapshot;
    p->snapshot_ctx = ctx;
    p->zctx = zmq_ctx_new();
    if (!p->zctx)
        return ST_ERROR;
    p->pub = zmq_socket(p->zctx, ZMQ_PUB);
    p->router = zmq_socket(p->zctx, ZMQ_ROUTER);
    int zero = 0;
    if (!p->pub || !p->router)
        goto fail;
    zmq_setsockopt(p->pub, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm));
    zmq_setsockopt(p->pub, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(p->router, ZMQ_LINGER, &zero, sizeof(zero));
    if (zmq_bind(p->pub, pub_bind) != 0) {
        LOG_ERROR("cluster: cannot bind PUB %s: %s", pub_bind, zmq_strerror(errno));
        goto fail;
    }
    if (zmq_bind(p->router, router_bind) != 0) {
        LOG_ERROR("cluster: cannot bind ROUTER %s: %s", router_bind, zmq_strerror(errno));
        goto fail;
    }
    int fd;
    size_t len = sizeof(fd);
    if (zmq_getsockopt(p->router, ZMQ_FD, &fd, &len) != 0)
        goto fail;
    ev_io_init(&p->router_io, router_cb, fd, EV_READ);
    p->router_io.data = p;
    ev_io_start(loop, &p->router_io);
    ev_feed_event(loop, &p->router_io, EV_READ);
    return ST_OK;
fail:
    cluster_publisher_stop(p);
    return ST_ERROR;
}

void cluster_publisher_stop(struct cluster_publisher *p)
{
    if (p->loop && p->router_io.data)
        ev_io_stop(p->loop, &p->router_io);
    if (p->pub)
        zmq_close(p->pub);
    if (p->router)
        zmq_close(p->router);
    if (p->zctx)
        zmq_ctx_term(p->zctx);
    p->pub = p->router = p->zctx = NULL;
}
