/*
 * cluster_directory: the Redis directory of the cluster (DESIGN.md 6), used
 * through hiredis's async API on the owner's libev loop. Never blocks.
 *
 * Keys (prefix configurable, default "sc:"):
 *   <p>stream:<app>/<name>   hash owner, pub, router, epoch, started; TTL
 *                            claim_ttl, refreshed by the owner each heartbeat
 *   <p>epoch:<app>/<name>    counter: INCR on every new claim (never expires),
 *                            so epochs only grow, across origins
 *   <p>segment:<app>/<name>  last HLS segment number the owner opened (only
 *                            raised; TTL one hour), read by the next claim
 *   <p>node:<id>             hash role, rtmp, http, pub, router, players,
 *                            max_players, out_bps, version, updated; TTL node_ttl
 *   <p>edges                 sorted set: edge node id by players
 *   <p>carriers:<app>/<name> sorted set: edge node ids carrying the stream,
 *                            score = expiry (ms since epoch)
 *   channel <p>events        "up <key> <owner> <epoch>" / "down <key> <owner> <epoch>"
 *
 * Claims are atomic Lua scripts: a claim succeeds when the stream has no
 * claim, or its owner's node record is gone (dead node), or the owner is us;
 * every successful new claim takes a fresh epoch. Refresh only extends a claim
 * we still own; a lost claim is reported through the lost callback so the
 * origin can stop that publisher.
 *
 * Redis down: commands fail fast (callbacks get CLUSTER_DIR_ERROR), the
 * directory reconnects with backoff (250 ms doubling to 5 s) and, once back,
 * re-registers the node and re-claims every stream it owned with the same
 * epoch (or reports it lost if another live node holds it now).
 *
 * Ownership: the owner embeds struct cluster_directory; start allocates the
 * Redis contexts; stop frees them and cancels callbacks (pending callbacks
 * are called with CLUSTER_DIR_ERROR before stop returns, or never: see
 * stop). A ctx passed with a request must stay valid until its callback ran
 * or the directory was stopped. Loop-confined.
 */
#ifndef SC_CLUSTER_DIRECTORY_H
#define SC_CLUSTER_DIRECTORY_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER_ID_MAX 128
#define CLUSTER_ADDR_MAX 256

enum cluster_dir_result {
    CLUSTER_DIR_OK = 0,        /* claim granted / stream found / route found */
    CLUSTER_DIR_HELD = 1,      /* claim refused: another live node owns it */
    CLUSTER_DIR_NOT_FOUND = 2, /* lookup/route: nothing there */
    CLUSTER_DIR_ERROR = -1     /* Redis unreachable or a bad reply */
};

struct cluster_directory_settings {
    char *redis_addr;   /* "HOST:PORT" (numeric host) */
    char *prefix;       /* key prefix, e.g. "sc:" */
    long claim_ttl;     /* ms */
    long node_ttl;      /* ms */
    long heartbeat;     /* ms between refreshes */
};

/* This node as others see it. Strings are copied at start. */
struct cluster_node_info {
    const char *id;     /* unique node id */
    const char *role;   /* "origin" or "edge" */
    const char *rtmp;   /* public RTMP address host:port, may be "" */
    const char *http;   /* public HTTP address host:port, may be "" */
    const char *pub;    /* ZeroMQ PUB endpoint (origins), may be "" */
    const char *router; /* ZeroMQ ROUTER endpoint (origins), may be "" */
    long max_players;   /* edges: load limit, 0 = none */
};

struct cluster_stream_info {
    char key[512];
    char owner[CLUSTER_ID_MAX];
    char pub[CLUSTER_ADDR_MAX];
    char router[CLUSTER_ADDR_MAX];
    uint32_t epoch;
};

struct cluster_route {
    char node[CLUSTER_ID_MAX];
    char rtmp[CLUSTER_ADDR_MAX];
    char http[CLUSTER_ADDR_MAX];
    int carrying; /* 1 when the chosen edge already carries the stream */
};

/* One node record as listed by cluster_directory_nodes. */
struct cluster_node_record {
    char id[CLUSTER_ID_MAX];
    char role[16];
    char rtmp[CLUSTER_ADDR_MAX];
    char http[CLUSTER_ADDR_MAX];
    uint64_t players;
    uint64_t out_bps;
    uint64_t max_players;
};

#define CLUSTER_NODES_MAX 1024
#define CLUSTER_SEGMENT_TTL_MS 3600000 /* a stream's last segment number is kept an hour */

/* last_segment: the stream's last HLS segment number on any origin (0 =
 * none known), so a new owner continues the numbering (OK only). */
typedef void (*cluster_claim_cb)(void *ctx, int result, uint32_t epoch, uint32_t last_segment);
/* nodes is borrowed for the call; count <= CLUSTER_NODES_MAX. */
typedef void (*cluster_nodes_cb)(void *ctx, int result, const struct cluster_node_record *nodes, size_t count);
typedef void (*cluster_lookup_cb)(void *ctx, int result, const struct cluster_stream_info *info);
typedef void (*cluster_route_cb)(void *ctx, int result, const struct cluster_route *route);
/* type is "up" or "down"; info is borrowed for the call. */
typedef void (*cluster_event_cb)(void *ctx, const char *type, const struct cluster_stream_info *info);
/* A claim we held is gone (refresh found another owner, or re-claim failed). */
typedef void (*cluster_lost_cb)(void *ctx, const char *key);

struct cluster_directory_private;

struct cluster_directory {
    struct ev_loop *loop;
    struct cluster_directory_settings settings;
    int connected; /* command connection up and node registered */
    uint64_t reconnects;
    struct cluster_directory_private *p;
};

/* Start connecting (returns at once). ST_OK or ST_ERROR (bad address, allocation). */
int cluster_directory_start(struct cluster_directory *d, struct ev_loop *loop,
                            const struct cluster_directory_settings *settings, const struct cluster_node_info *self);
/* Delete our node record and owned claims if connected (best effort, async
 * then the contexts are freed); pending callbacks are not called after this. */
void cluster_directory_stop(struct cluster_directory *d);

/* Load figures published with the next heartbeat. */
void cluster_directory_set_load(struct cluster_directory *d, uint64_t players, uint64_t out_bps);

/* Origin: claim key for this node. The callback gets OK with the new epoch,
 * HELD with the current owner's epoch, or ERROR. On OK the key joins the
 * owned set (refreshed and re-claimed automatically). */
int cluster_directory_claim(struct cluster_directory *d, const char *key, cluster_claim_cb cb, void *ctx);
/* Origin, owner of key: segment is the HLS segment just opened. Kept
 * (only ever raised) for CLUSTER_SEGMENT_TTL_MS and handed to the next
 * claim, so numbering continues after a failover (hls_segment_clock.h).
 * One small Redis command per segment, fire-and-forget. */
void cluster_directory_note_segment(struct cluster_directory *d, const char *key, uint32_t segment);
/* Origin: give up a claim (if still ours) and announce "down". */
void cluster_directory_release(struct cluster_directory *d, const char *key);
void cluster_directory_on_lost(struct cluster_directory *d, cluster_lost_cb cb, void *ctx);

/* Edge: where is key? OK with info, NOT_FOUND, or ERROR. */
int cluster_directory_lookup(struct cluster_directory *d, const char *key, cluster_lookup_cb cb, void *ctx);
/* Edge: subscribe to stream up/down events (one handler per directory). */
void cluster_directory_on_event(struct cluster_directory *d, cluster_event_cb cb, void *ctx);
/* Edge: mark key as carried (or not) by this node; refreshed each heartbeat. */
void cluster_directory_carry(struct cluster_directory *d, const char *key, int carrying);

/* Any node: the edge to send a player of key to (DESIGN.md 7). */
int cluster_directory_route(struct cluster_directory *d, const char *key, cluster_route_cb cb, void *ctx);
/* Cached result of the last heartbeat's route query without a stream: the
 * least-loaded edge other than this node, or NULL. Borrowed until the next heartbeat. */
const struct cluster_route *cluster_directory_best_edge(const struct cluster_directory *d);

/* Any node: every live node record (the cluster-wide view for the API). OK
 * (possibly zero nodes) or ERROR. */
int cluster_directory_nodes(struct cluster_directory *d, cluster_nodes_cb cb, void *ctx);

/* Pure helpers (unit-tested): build "<prefix><kind>:<rest>" into dst; 0 if it does not fit. */
size_t cluster_directory_key(char *dst, size_t cap, const char *prefix, const char *kind, const char *rest);
/* Parse an events channel message into type ("up"/"down", copied into type[8]) and info. ST_OK/ST_ERROR. */
int cluster_directory_parse_event(const char *msg, size_t len, char type[8], struct cluster_stream_info *info);

#endif
