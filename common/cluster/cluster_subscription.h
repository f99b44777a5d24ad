/*
 * cluster_subscription: an edge's feed of one stream from its origin, built
 * on ZeroMQ's snapshot-plus-updates pattern (DESIGN.md 3.4):
 *
 *   1. SUB connects to the origin's PUB and subscribes to the stream's topic
 *      first, so no update published after this point is missed;
 *   2. DEALER asks the origin's ROUTER for a snapshot (metadata, codec
 *      headers, GOP, and the seq it ends at); updates that arrive meanwhile
 *      are held (bounded);
 *   3. the snapshot is delivered, then held updates newer than it, then the
 *      live updates as they come.
 *
 * Sequence numbers make loss visible. A gap is first repaired: the update
 * that shows it is held and a new snapshot is asked for; the missing
 * messages are taken from it by seq (the origin caches the current GOP),
 * then the held updates follow, so nothing is lost and every edge sees the
 * same messages. This also covers the join race (the origin may serve the
 * snapshot before our subscription reached its PUB). What the snapshot no
 * longer has is reported (on_gap) and the messages keep flowing (the owner
 * drops video to the next keyframe). At most one repair per second, so
 * persistent loss on an overloaded link is reported rather than amplified. A new
 * epoch that does not start at seq 1 (we missed its start) triggers a new
 * snapshot. A snapshot that does not come within a timeout is asked again on
 * a fresh DEALER.
 *
 * Ownership: the owner embeds the struct and shares one ZeroMQ context among
 * all its subscriptions; start opens the sockets, stop closes them (linger
 * 0). Message bodies passed to on_message are borrowed for the call.
 * Loop-confined; ZMQ_FD watchers are drained fully on every wake-up.
 */
#ifndef SC_CLUSTER_SUBSCRIPTION_H
#define SC_CLUSTER_SUBSCRIPTION_H

#include "cluster/cluster_wire.h"

#include <ev.h>
#include <stdint.h>

#define CLUSTER_SUB_HELD_MAX 4096 /* updates held while a snapshot is in flight */

struct cluster_subscription_handler {
    /* A message in order; snapshot = 1 for messages from a snapshot. */
    void (*on_message)(void *ctx, const struct cluster_wire_header *h, const uint8_t *body, uint32_t len,
                       int snapshot);
    /* A snapshot was applied (found = 0: the origin does not have the stream). */
    void (*on_snapshot)(void *ctx, int found, uint32_t epoch);
    /* Messages were lost between expected and got. */
    void (*on_gap)(void *ctx, uint64_t expected, uint64_t got);
    /* Optional: messages expected..got-1 are missing; a snapshot is asked
     * for to fill them (what it cannot fill is reported by on_gap). */
    void (*on_repair)(void *ctx, uint64_t expected, uint64_t got);
};

struct cluster_held; /* private */

struct cluster_subscription {
    struct ev_loop *loop;
    void *zctx;
    void *sub;
    void *dealer;
    ev_io sub_io;
    ev_io dealer_io;
    ev_timer snap_timer;
    const struct cluster_subscription_handler *handler;
    void *ctx;
    char key[CLUSTER_WIRE_TOPIC_MAX];
    char topic[CLUSTER_WIRE_TOPIC_MAX];
    size_t topic_len;
    char pub_endpoint[256];
    char router_endpoint[256];
    int joining;        /* snapshot requested, not applied yet */
    int repairing;      /* that snapshot is to fill a gap after last_seq */
    uint32_t epoch;     /* current epoch (0 = none yet) */
    uint64_t last_seq;  /* last seq delivered in this epoch */
    struct cluster_held *held;
    uint32_t nheld;
    uint64_t messages;  /* delivered */
    uint64_t gaps;      /* losses reported (not repaired) */
    uint64_t repairs;   /* repair snapshots asked for */
    uint64_t last_repair_ms;
    uint64_t snapshots;
    uint64_t last_message_ms; /* loop time of the last message received */
    int active;
};

/* Subscribe and ask for a snapshot. ST_OK or ST_ERROR (logged). */
int cluster_subscription_start(struct cluster_subscription *s, struct ev_loop *loop, void *zctx, const char *key,
                               const char *pub_endpoint, const char *router_endpoint,
                               const struct cluster_subscription_handler *handler, void *ctx);
void cluster_subscription_stop(struct cluster_subscription *s);
/* Ask for a fresh snapshot (held updates are kept and filtered by it). */
void cluster_subscription_resnapshot(struct cluster_subscription *s);

#endif
