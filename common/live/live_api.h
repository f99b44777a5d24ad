/*
 * live_api: the HTTP API every node serves (DESIGN.md 7):
 *   GET /v1/route?stream=app/name&proto=rtmp|flv|hls  the edge a player should
 *       use (asks the directory; 503 while it is unreachable)
 *   GET /v1/stats    this process: connections, streams, codecs, counters (JSON)
 *   GET /metrics     the same as Prometheus text
 *   GET /v1/streams, /v1/streams/<app>/<name>  streams carried here: publisher,
 *       viewers per protocol, bitrate, codecs, drops, uptime
 *   GET /v1/nodes    every live node of the cluster, from the directory
 * On an edge each worker answers for itself (the port is shared), with its
 * worker index in the JSON and as a metric label; /v1/route is the same from
 * every worker since it comes from the directory.
 *
 * Ownership: the owner embeds struct live_api next to its live_server and
 * directory (borrowed; dir may be NULL for a standalone origin). Route
 * requests in flight own a small context freed when the directory answers.
 * Loop-confined.
 */
#ifndef SC_LIVE_API_H
#define SC_LIVE_API_H

#include "cluster/cluster_directory.h"
#include "core/buf.h"
#include "http/http_server.h"
#include "live/live_server.h"

struct live_http;

struct live_api {
    struct http_server http;
    struct live_server *srv;
    struct cluster_directory *dir;
    char role[16];
    char node_id[CLUSTER_ID_MAX];
    int worker; /* -1 when not a worker */
    struct live_http *delivery; /* HTTP-FLV/HLS (shared by the node's listeners), NULL when off */
    int started;
    /* Optional, set after start by the process: appends its own lines to
     * /metrics (origin: relays); node is the escaped node label. */
    void (*metrics_hook)(void *ctx, struct buf *b, const char *node, int worker);
    void *metrics_ctx;
};

/* Listen on addr ("HOST:PORT"; reuse_port for edge workers). ST_OK/ST_ERROR. */
int live_api_start(struct live_api *api, struct ev_loop *loop, const char *addr, int reuse_port,
                   struct live_server *srv, struct cluster_directory *dir, const char *role, const char *node_id,
                   int worker);
/* The same API over TLS with srv's certificate (srv->tls, from tls_cert /
 * tls_key; reloaded with it). ST_ERROR (logged) when TLS is not configured.
 * Stop it before srv. The "https_handshake_failures" counter of /v1/stats
 * counts the listener that answers. */
int live_api_start_tls(struct live_api *api, struct ev_loop *loop, const char *addr, int reuse_port,
                       struct live_server *srv, struct cluster_directory *dir, const char *role, const char *node_id,
                       int worker);
void live_api_stop(struct live_api *api);
/* Draining: stop listening, keep serving open connections and HTTP-FLV
 * players until live_api_stop. */
void live_api_stop_accepting(struct live_api *api);
/* HTTP-FLV players of the node's delivery (0 when off): what a drain waits for. */
unsigned live_api_flv_players(const struct live_api *api);

#endif
