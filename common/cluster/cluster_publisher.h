/*
 * cluster_publisher: the origin's side of replication (DESIGN.md 3.3-3.4):
 * a ZeroMQ PUB socket that sends every message of every local stream under
 * the stream's topic (cluster_wire.h), and a ROUTER socket that answers
 * snapshot requests from edges that are joining.
 *
 * Zero-copy: message bodies are handed to ZeroMQ without a copy; ZeroMQ calls
 * the message's release function when done, possibly from one of its I/O
 * threads, so release must be thread-safe (fanout_frame_unref is).
 * High-water marks: PUB drops for a subscriber whose queue holds more than
 * sndhwm messages (the edge sees a sequence gap and heals it).
 *
 * Ownership: the owner embeds the struct; start creates the ZeroMQ context
 * and sockets; stop closes them (linger 0) and terminates the context.
 * Loop-confined (the ROUTER is watched through ZMQ_FD on the owner's loop).
 */
#ifndef SC_CLUSTER_PUBLISHER_H
#define SC_CLUSTER_PUBLISHER_H

#include "cluster/cluster_wire.h"

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

/* One message to send; body stays valid until release(hint) is called. */
struct cluster_message {
    uint8_t kind;
    uint8_t flags;
    uint32_t timestamp;
    uint32_t segment;   /* HLS stamps, see cluster_wire.h */
    uint64_t wall_ms;
    uint64_t seq;       /* snapshots only: the message's own seq (0 = unknown) */
    const uint8_t *body;
    uint32_t length;
    /* Called once when ZeroMQ no longer needs body (data = body), possibly
     * on a ZeroMQ I/O thread; NULL = the body is copied instead. Same shape
     * as zmq_free_fn so it goes to ZeroMQ unchanged. */
    void (*release)(void *data, void *hint);
    void *hint;
};

/* Fill a snapshot of key: its epoch, the seq it ends at, and up to max
 * messages (metadata, codec headers, GOP) whose release the publisher calls.
 * Return ST_OK, or ST_ERROR when the stream is not here. */
typedef int (*cluster_snapshot_cb)(void *ctx, const char *key, uint32_t *epoch, uint64_t *seq_end,
                                   struct cluster_message *msgs, size_t max, size_t *count);

struct cluster_publisher {
    struct ev_loop *loop;
    void *zctx;
    void *pub;
    void *router;
    ev_io router_io;
    cluster_snapshot_cb snapshot;
    void *snapshot_ctx;
    uint64_t messages_sent;
    uint64_t messages_dropped; /* PUB refused (should not happen: PUB drops silently) */
    uint64_t snapshots_served;
};

/* Bind PUB and ROUTER ("tcp://HOST:PORT"). ST_OK or ST_ERROR (logged). */
int cluster_publisher_start(struct cluster_publisher *p, struct ev_loop *loop, const char *pub_bind,
                            const char *router_bind, int sndhwm, cluster_snapshot_cb snapshot, void *ctx);
void cluster_publisher_stop(struct cluster_publisher *p);

/* Send one message of stream key. The body is released by ZeroMQ (or at
 * once on failure). ST_OK or ST_ERROR. */
int cluster_publisher_send(struct cluster_publisher *p, const char *key, uint32_t epoch, uint64_t seq,
                           const struct cluster_message *m);

#endif
