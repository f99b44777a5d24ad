#include "live/live_api.h"

#include "http/http_static.h"
#include "live/live_http.h"
#include "rtsp/rtsp_server.h"
#include "live/live_gate.h"

#include "core/buf.h"
#include "core/log.h"
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_API_MAX_BODY (1024 * 1024)

struct route_request {
    struct live_api *api;
    struct http_server_handle handle;
    char stream[LIVE_KEY_MAX];
    char proto[8];
};

static void send_json(struct http_server_request *req, int status, struct buf *b)
{
    http_server_send(req, status, "application/json", b->data, b->len, "Cache-Control: no-cache\r\n");
}

static void send_error(struct http_server_request *req, int status, const char *msg)
{
    struct buf b;
    buf_init(&b, 4096);
    buf_appendf(&b, "{\"error\":");
    buf_append_json_string(&b, msg);
    buf_appendf(&b, "}\n");
    send_json(req, status, &b);
    buf_free(&b);
}

static void route_cb(void *ctx, int result, const struct cluster_route *route)
{
    struct route_request *rr = ctx;
    struct http_server_request *req = http_server_request_lookup(&rr->api->http, rr->handle);
    if (!req)
        goto out; /* the client went away meanwhile */
    if (result == CLUSTER_DIR_ERROR) {
        send_error(req, 503, "stream directory unavailable");
        goto out;
    }
    if (result != CLUSTER_DIR_OK || !route) {
        send_error(req, 404, "no edge available");
        goto out;
    }
    struct buf b;
    buf_init(&b, 8192);
    buf_appendf(&b, "{\"stream\":");
    buf_append_json_string(&b, rr->stream);
    buf_appendf(&b, ",\"node\":");
    buf_append_json_string(&b, route->node);
    buf_appendf(&b, ",\"carrying\":%s,\"url\":", route->carrying ? "true" : "false");
    char url[1024];
    if (strcmp(rr->proto, "rtmp") == 0 || !route->http[0])
        snprintf(url, sizeof(url), "rtmp://%s/%s", route->rtmp, rr->stream);
    else
        snprintf(url, sizeof(url), "http://%s/%s.%s", route->http, rr->stream,
                 strcmp(rr->proto, "hls") == 0 ? "m3u8" : "flv");
    buf_append_json_string(&b, url);
    buf_appendf(&b, ",\"rtmp\":");
    buf_append_json_string(&b, route->rtmp);
    buf_appendf(&b, ",\"http\":");
    buf_append_json_string(&b, route->http);
    buf_appendf(&b, "}\n");
    send_json(req, 200, &b);
    buf_free(&b);
out:
    free(rr);
}

static int handle_route(struct http_server_request *req, void *ctx)
{
    struct live_api *api = ctx;
    char stream[LIVE_KEY_MAX], proto[8] = "rtmp";
    size_t n;
    const char *query = http_server_request_query(req);
    if (!query || http_request_query_param(query, "stream", stream, sizeof(stream), &n) != ST_OK || n == 0 ||
        !strchr(stream, '/')) {
        send_error(req, 400, "want ?stream=app/name[&proto=rtmp|flv|hls]");
        return ST_OK;
    }
    int prc = http_request_query_param(query, "proto", proto, sizeof(proto), &n);
    if (prc == ST_ERROR ||
        (prc == ST_OK && strcmp(proto, "rtmp") != 0 && strcmp(proto, "flv") != 0 && strcmp(proto, "hls") != 0)) {
        send_error(req, 400, "proto must be rtmp, flv or hls");
        return ST_OK;
    }
    if (!api->dir) {
        send_error(req, 503, "this node is not part of a cluster");
        return ST_OK;
    }
    struct route_request *rr = calloc(1, sizeof(*rr));
    if (!rr) {
        send_error(req, 500, "out of memory");
        return ST_OK;
    }
    rr->api = api;
    rr->handle = http_server_request_handle(req);
    snprintf(rr->stream, sizeof(rr->stream), "%s", stream);
    snprintf(rr->proto, sizeof(rr->proto), "%s", proto);
    if (cluster_directory_route(api->dir, stream, route_cb, rr) != ST_OK) {
        free(rr);
        send_error(req, 503, "stream directory unavailable");
        return ST_OK;
    }
    return HTTP_SERVER_ASYNC;
}

typedef void (*stream_visit_cb)(struct live_api *api, struct live_stream *st, struct buf *b, int first);

static void for_each_stream(struct live_api *api, struct buf *b, stream_visit_cb cb)
{
    int first = 1;
    for (int i = 0; i < LIVE_REGISTRY_BUCKETS; i++)
        for (struct live_stream *st = api->srv->registry.buckets[i]; st; st = st->next) {
            cb(api, st, b, first);
            first = 0;
        }
}

static void stream_json(struct live_api *api, struct live_stream *st, struct buf *b, int first)
{
    uint64_t now = live_server_now_ms(api->srv);
    uint64_t drops = 0;
    for (struct fanout_player *p = st->fanout.players; p; p = p->next)
        drops += p->frames_dropped;
    buf_appendf(b, "%s{\"stream\":", first ? "" : ",");
    buf_append_json_string(b, st->key);
    buf_appendf(b, ",\"publisher\":");
    if (st->publisher) {
        buf_appendf(b, "{\"peer\":");
        buf_append_json_string(b, st->publisher_peer);
        buf_appendf(b, ",\"uptime_ms\":%llu}", (unsigned long long)(now - st->published_ms));
    } else {
        buf_appendf(b, "null");
    }
    buf_appendf(b,
            ",\"source\":%s,\"viewers\":{\"rtmp\":%u,\"flv\":%u,\"hls\":%u,\"rtsp\":%u},\"players\":%u,\"epoch\":%u,\"bitrate_bps\":%llu,"
            "\"frames_in\":%llu,\"bytes_in\":%llu,\"drops\":%llu,"
            "\"video\":{\"codec\":\"%s\",\"width\":%u,\"height\":%u,\"profile\":%u,\"level\":%u},"
            "\"audio\":{\"codec\":\"%s\",\"sample_rate\":%u,\"channels\":%u}}",
            st->source ? "true" : "false", st->fanout.nplayers - st->flv_players, st->flv_players,
            live_http_hls_viewers(st, now), st->rtsp_viewers, st->fanout.nplayers, st->epoch,
            (unsigned long long)st->bitrate_bps, (unsigned long long)st->fanout.frames_in,
            (unsigned long long)st->fanout.bytes_in, (unsigned long long)drops, media_codec_video_name(st->video.codec),
            st->video.width, st->video.height, st->video.profile, st->video.level,
            media_codec_audio_name(st->audio.codec), st->audio.sample_rate, st->audio.channels);
}

static int handle_streams(struct http_server_request *req, void *ctx)
{
    struct live_api *api = ctx;
    struct buf b;
    buf_init(&b, LIVE_API_MAX_BODY);
    const char *path = http_server_request_path(req);
    const char *key = path + strlen("/v1/streams");
    if (*key == '/' && key[1]) {
        /* /v1/streams/<app>/<name>: one stream carried here. */
        struct live_stream *st = live_registry_find(&api->srv->registry, key + 1);
        if (!st) {
            buf_free(&b);
            send_error(req, 404, "stream not carried by this node");
            return ST_OK;
        }
        stream_json(api, st, &b, 1);
        buf_appendf(&b, "\n");
    } else if (*key == '\0' || strcmp(key, "/") == 0) {
        buf_appendf(&b, "{\"node\":");
        buf_append_json_string(&b, api->node_id);
        buf_appendf(&b, ",\"worker\":%d,\"streams\":[", api->worker);
        for_each_stream(api, &b, stream_json);
        buf_appendf(&b, "]}\n");
    } else {
        buf_free(&b);
        send_error(req, 404, "want /v1/streams or /v1/streams/<app>/<name>");
        return ST_OK;
    }
    send_json(req, 200, &b);
    buf_free(&b);
    return ST_OK;
}

struct nodes_request {
    struct live_api *api;
    struct http_server_handle handle;
};

static void nodes_cb(void *ctx, int result, const struct cluster_node_record *nodes, size_t count)
{
    struct nodes_request *nr = ctx;
    struct http_server_request *req = http_server_request_lookup(&nr->api->http, nr->handle);
    free(nr);
    if (!req)
        return;
    if (result != CLUSTER_DIR_OK) {
        send_error(req, 503, "stream directory unavailable");
        return;
    }
    struct buf b;
    buf_init(&b, LIVE_API_MAX_BODY);
    buf_appendf(&b, "{\"nodes\":[");
    for (size_t i = 0; i < count; i++) {
        buf_appendf(&b, "%s{\"id\":", i ? "," : "");
        buf_append_json_string(&b, nodes[i].id);
        buf_appendf(&b, ",\"role\":");
        buf_append_json_string(&b, nodes[i].role);
        buf_appendf(&b, ",\"rtmp\":");
        buf_append_json_string(&b, nodes[i].rtmp);
        buf_appendf(&b, ",\"http\":");
        buf_append_json_string(&b, nodes[i].http);
        buf_appendf(&b, ",\"players\":%llu,\"out_bps\":%llu,\"max_players\":%llu}", (unsigned long long)nodes[i].players,
                (unsigned long long)nodes[i].out_bps, (unsigned long long)nodes[i].max_players);
    }
    buf_appendf(&b, "]}\n");
    send_json(req, 200, &b);
    buf_free(&b);
}

static int handle_nodes(struct http_server_request *req, void *ctx)
{
    struct live_api *api = ctx;
    if (!api->dir) {
        send_error(req, 503, "this node is not part of a cluster");
        return ST_OK;
    }
    struct nodes_request *nr = calloc(1, sizeof(*nr));
    if (!nr) {
        send_error(req, 500, "out of memory");
        return ST_OK;
    }
    nr->api = api;
    nr->handle = http_server_request_handle(req);
    if (cluster_directory_nodes(api->dir, nodes_cb, nr) != ST_OK) {
        free(nr);
        send_error(req, 503, "stream directory unavailable");
        return ST_OK;
    }
    return HTTP_SERVER_ASYNC;
}

static int handle_stats(struct http_server_request *req, void *ctx)
{
    struct live_api *api = ctx;
    const struct live_server_stats *s = &api->srv->stats;
    struct buf b;
    buf_init(&b, LIVE_API_MAX_BODY);
    buf_appendf(&b, "{\"node\":");
    buf_append_json_string(&b, api->node_id);
    buf_appendf(&b, ",\"role\":\"%s\",\"worker\":%d,\"version\":\"%s\",\"connections\":%u,\"streams\":%u,", api->role,
            api->worker, SC_VERSION, api->srv->nconns, api->srv->registry.count);
    buf_appendf(&b,
            "\"counters\":{\"connections_total\":%llu,\"connections_refused\":%llu,\"protocol_errors\":%llu,"
            "\"publishes\":%llu,\"publish_refused\":%llu,\"plays\":%llu,\"players_dropped_slow\":%llu,"
            "\"bytes_in\":%llu,\"bytes_out\":%llu,",
            (unsigned long long)s->connections_total, (unsigned long long)s->connections_refused,
            (unsigned long long)s->protocol_errors, (unsigned long long)s->publishes,
            (unsigned long long)s->publish_refused, (unsigned long long)s->plays,
            (unsigned long long)s->players_dropped_slow, (unsigned long long)s->bytes_in,
            (unsigned long long)s->bytes_out);
    buf_appendf(&b, "\"tls_handshake_failures\":%llu,\"https_handshake_failures\":%llu,",
            (unsigned long long)s->tls_handshake_failures, (unsigned long long)api->http.stats.tls_handshake_failures);
    buf_appendf(&b, "\"cluster_repairs\":%llu,\"cluster_gaps\":%llu,", (unsigned long long)s->cluster_repairs,
                (unsigned long long)s->cluster_gaps);
    /* Authorization refusals by reason, and webhook traffic. */
    buf_appendf(&b,
            "\"plays_refused\":%llu,\"auth_refused_ip\":%llu,\"auth_refused_missing\":%llu,"
            "\"auth_refused_malformed\":%llu,\"auth_refused_signature\":%llu,\"auth_refused_expired\":%llu,"
            "\"auth_refused_key\":%llu,\"auth_refused_webhook\":%llu,\"webhook_calls\":%llu,"
            "\"webhook_errors\":%llu,",
            (unsigned long long)s->plays_refused, (unsigned long long)s->auth_refused_ip,
            (unsigned long long)s->auth_refused_missing, (unsigned long long)s->auth_refused_malformed,
            (unsigned long long)s->auth_refused_signature, (unsigned long long)s->auth_refused_expired,
            (unsigned long long)s->auth_refused_key, (unsigned long long)s->auth_refused_webhook,
            (unsigned long long)(api->srv->gate ? api->srv->gate->webhook_calls : 0),
            (unsigned long long)(api->srv->gate ? api->srv->gate->webhook_errors : 0));
    if (api->delivery) {
        const struct live_http_stats *hs = &api->delivery->stats;
        buf_appendf(&b,
                "\"http_playlists\":%llu,\"http_segments\":%llu,\"http_segment_bytes\":%llu,"
                "\"http_blocked\":%llu,\"http_wait_timeouts\":%llu,\"http_not_found\":%llu,"
                "\"http_flv_players\":%llu,\"http_flv_players_now\":%u,\"http_flv_dropped_slow\":%llu,"
                "\"http_delivery_refused\":%llu,\"http_webhook_asks\":%llu,\"http_webhook_cache_hits\":%llu,",
                (unsigned long long)hs->playlists, (unsigned long long)hs->segments,
                (unsigned long long)hs->segment_bytes, (unsigned long long)hs->blocked,
                (unsigned long long)hs->wait_timeouts, (unsigned long long)hs->not_found,
                (unsigned long long)hs->flv_players, api->delivery->nflv, (unsigned long long)hs->flv_dropped_slow,
                (unsigned long long)hs->refused, (unsigned long long)api->delivery->auth.stats.webhook_asks,
                (unsigned long long)api->delivery->auth.stats.cache_hits);
    }
    const struct rtsp_server_stats *rs = api->srv->rtsp_stats;
    if (rs) {
        buf_appendf(&b,
                    "\"rtsp_sessions\":%u,\"rtsp_sessions_total\":%llu,\"rtsp_sessions_udp\":%llu,"
                    "\"rtsp_sessions_tcp\":%llu,\"rtsp_sessions_timed_out\":%llu,\"rtsp_sessions_dropped_slow\":%llu,"
                    "\"rtsp_bad_requests\":%llu,\"rtsp_packets_out\":%llu,\"rtsp_bytes_out\":%llu,"
                    "\"rtsp_packets_dropped\":%llu,\"rtsp_frames_dropped\":%llu,\"rtsp_sender_reports\":%llu,",
                    rs->sessions, (unsigned long long)rs->sessions_total, (unsigned long long)rs->sessions_udp,
                    (unsigned long long)rs->sessions_tcp, (unsigned long long)rs->sessions_timed_out,
                    (unsigned long long)rs->sessions_dropped_slow, (unsigned long long)rs->bad_requests,
                    (unsigned long long)rs->packets_out, (unsigned long long)rs->bytes_out,
                    (unsigned long long)rs->packets_dropped, (unsigned long long)rs->frames_dropped,
                    (unsigned long long)rs->sender_reports);
    }
    /* Limits: one counter per refusal reason. */
    buf_appendf(&b,
            "\"refused_max_connections\":%llu,\"refused_per_ip\":%llu,\"refused_max_streams\":%llu,"
            "\"closed_handshake_timeout\":%llu,\"closed_idle_timeout\":%llu,\"closed_chunk_size\":%llu,"
            "\"closed_message_size\":%llu,\"players_throttled\":%llu,\"http_refused\":%llu,"
            "\"http_bad_requests\":%llu,\"http_timeouts\":%llu},\"stream_list\":[",
            (unsigned long long)s->refused_max_connections, (unsigned long long)s->refused_per_ip,
            (unsigned long long)s->refused_max_streams, (unsigned long long)s->closed_handshake_timeout,
            (unsigned long long)s->closed_idle_timeout, (unsigned long long)s->closed_chunk_size,
            (unsigned long long)s->closed_message_size, (unsigned long long)s->players_throttled,
            (unsigned long long)api->http.stats.refused, (unsigned long long)api->http.stats.bad_requests,
            (unsigned long long)api->http.stats.timeouts);
    for_each_stream(api, &b, stream_json);
    buf_appendf(&b, "]}\n");
    send_json(req, 200, &b);
    buf_free(&b);
    return ST_OK;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label_value(const char *in, char *out, size_t cap)
{
    size_t k = 0;
    for (; *in && k + 3 < cap; in++) {
        if (*in == '\\' || *in == '"' || *in == '\n') {
            out[k++] = '\\';
            out[k++] = *in == '\n' ? 'n' : *in;
        } else {
            out[k++] = *in;
        }
    }
    out[k] = '\0';
}

/* One per-stream metric: its HELP/TYPE once, then one sample per stream
 * (the text format wants a metric's samples together). */
static void stream_metric(struct live_api *api, struct buf *b, const char *node, const char *name, const char *type,
                          const char *help, int bytes)
{
    buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (int i = 0; i < LIVE_REGISTRY_BUCKETS; i++) {
        for (struct live_stream *st = api->srv->registry.buckets[i]; st; st = st->next) {
            char key[LIVE_KEY_MAX * 2];
            label_value(st->key, key, sizeof(key));
            buf_appendf(b, "%s{node=\"%s\",worker=\"%d\",stream=\"%s\"} %llu\n", name, node, api->worker, key,
                    bytes ? (unsigned long long)st->fanout.bytes_in : (unsigned long long)st->fanout.nplayers);
        }
    }
}

static int handle_metrics(struct http_server_request *req, void *ctx)
{
    struct live_api *api = ctx;
    const struct live_server_stats *s = &api->srv->stats;
    const struct rtsp_server_stats *rs = api->srv->rtsp_stats;
    struct buf b;
    buf_init(&b, LIVE_API_MAX_BODY);
    const struct {
        const char *name, *type, *help;
        unsigned long long v;
    } m[] = {
        {"sc_connections", "gauge", "open RTMP connections", api->srv->nconns},
        {"sc_streams", "gauge", "streams carried", api->srv->registry.count},
        {"sc_connections_total", "counter", "RTMP connections accepted", s->connections_total},
        {"sc_connections_refused_total", "counter", "RTMP connections refused", s->connections_refused},
        {"sc_protocol_errors_total", "counter", "sessions closed for a protocol error", s->protocol_errors},
        {"sc_publishes_total", "counter", "publishes started", s->publishes},
        {"sc_publish_refused_total", "counter", "publishes refused", s->publish_refused},
        {"sc_plays_total", "counter", "plays started", s->plays},
        {"sc_players_dropped_slow_total", "counter", "players disconnected for being too slow", s->players_dropped_slow},
        {"sc_bytes_in_total", "counter", "bytes read from clients", s->bytes_in},
        {"sc_bytes_out_total", "counter", "bytes written to clients", s->bytes_out},
        {"sc_tls_handshake_failures_total", "counter", "RTMPS clients refused by the TLS handshake",
         s->tls_handshake_failures},
        {"sc_https_handshake_failures_total", "counter", "HTTPS clients of this listener refused by the TLS handshake",
         api->http.stats.tls_handshake_failures},
        {"sc_refused_max_connections_total", "counter", "RTMP connections refused over max_connections",
         s->refused_max_connections},
        {"sc_refused_per_ip_total", "counter", "RTMP connections refused over max_connections_per_ip",
         s->refused_per_ip},
        {"sc_refused_max_streams_total", "counter", "publishes refused over max_streams", s->refused_max_streams},
        {"sc_closed_handshake_timeout_total", "counter", "connections closed by handshake_timeout",
         s->closed_handshake_timeout},
        {"sc_closed_idle_timeout_total", "counter", "connections closed by idle_timeout", s->closed_idle_timeout},
        {"sc_closed_chunk_size_total", "counter", "connections closed for a chunk size over max_chunk_size",
         s->closed_chunk_size},
        {"sc_closed_message_size_total", "counter", "connections closed for a message over max_message_size",
         s->closed_message_size},
        {"sc_players_throttled_total", "counter", "times a player hit player_max_bitrate", s->players_throttled},
        {"sc_plays_refused_total", "counter", "plays refused by authorization", s->plays_refused},
        {"sc_auth_refused_ip_total", "counter", "publishes/plays refused by the allow/deny lists", s->auth_refused_ip},
        {"sc_auth_refused_missing_total", "counter", "publishes/plays refused for a missing signed key",
         s->auth_refused_missing},
        {"sc_auth_refused_malformed_total", "counter", "publishes/plays refused for an unreadable signed key",
         s->auth_refused_malformed},
        {"sc_auth_refused_signature_total", "counter", "publishes/plays refused for a wrong signature",
         s->auth_refused_signature},
        {"sc_auth_refused_expired_total", "counter", "publishes/plays refused for an expired signed key",
         s->auth_refused_expired},
        {"sc_auth_refused_key_total", "counter", "publishes refused for a key not in publish_keys_file",
         s->auth_refused_key},
        {"sc_auth_refused_webhook_total", "counter", "publishes/plays refused by (or for lack of) a webhook",
         s->auth_refused_webhook},
        {"sc_cluster_repairs_total", "counter", "replication losses filled from an origin snapshot",
         s->cluster_repairs},
        {"sc_cluster_gaps_total", "counter", "replication losses not recoverable (players resumed at a keyframe)",
         s->cluster_gaps},
        {"sc_webhook_calls_total", "counter", "webhook requests started",
         api->srv->gate ? api->srv->gate->webhook_calls : 0},
        {"sc_webhook_errors_total", "counter", "webhook requests that timed out or failed",
         api->srv->gate ? api->srv->gate->webhook_errors : 0},
        {"sc_http_refused_total", "counter", "HTTP connections refused (over the connection cap)",
         api->http.stats.refused},
        {"sc_http_bad_requests_total", "counter", "HTTP requests refused by the parser (size, header caps)",
         api->http.stats.bad_requests},
        {"sc_http_timeouts_total", "counter", "HTTP connections ended by http_timeout (slow requests)",
         api->http.stats.timeouts},
        {"sc_hls_playlists_total", "counter", "HLS playlists served", api->delivery ? api->delivery->stats.playlists : 0},
        {"sc_hls_segments_total", "counter", "HLS segments, parts and init segments served",
         api->delivery ? api->delivery->stats.segments : 0},
        {"sc_hls_segment_bytes_total", "counter", "bytes of HLS segments, parts and init segments served",
         api->delivery ? api->delivery->stats.segment_bytes : 0},
        {"sc_hls_blocked_total", "counter", "HLS requests that waited (blocking reload, first segment)",
         api->delivery ? api->delivery->stats.blocked : 0},
        {"sc_http_flv_players_total", "counter", "HTTP-FLV players accepted",
         api->delivery ? api->delivery->stats.flv_players : 0},
        {"sc_http_flv_dropped_slow_total", "counter", "HTTP-FLV players closed for being too slow",
         api->delivery ? api->delivery->stats.flv_dropped_slow : 0},
        {"sc_http_webhook_asks_total", "counter", "on_play webhook calls for HTTP viewers",
         api->delivery ? api->delivery->auth.stats.webhook_asks : 0},
        {"sc_http_webhook_cache_hits_total", "counter", "HTTP requests authorized from the on_play verdict cache",
         api->delivery ? api->delivery->auth.stats.cache_hits : 0},
        {"sc_rtsp_sessions_total", "counter", "RTSP sessions set up", rs ? rs->sessions_total : 0},
        {"sc_rtsp_sessions_timed_out_total", "counter", "RTSP sessions ended by rtsp_session_timeout",
         rs ? rs->sessions_timed_out : 0},
        {"sc_rtsp_packets_out_total", "counter", "RTP packets sent", rs ? rs->packets_out : 0},
        {"sc_rtsp_bytes_out_total", "counter", "RTP, RTCP and RTSP bytes sent", rs ? rs->bytes_out : 0},
        {"sc_rtsp_packets_dropped_total", "counter", "UDP RTP packets the kernel refused (paced out)",
         rs ? rs->packets_dropped : 0},
    };
    char node[CLUSTER_ID_MAX * 2];
    label_value(api->node_id, node, sizeof(node));
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        buf_appendf(&b, "# HELP %s %s\n# TYPE %s %s\n%s{node=\"%s\",worker=\"%d\"} %llu\n", m[i].name, m[i].help,
                m[i].name, m[i].type, m[i].name, node, api->worker, m[i].v);
    stream_metric(api, &b, node, "sc_stream_players", "gauge", "players of a stream", 0);
    stream_metric(api, &b, node, "sc_stream_bytes_in_total", "counter", "media bytes received for a stream", 1);
    if (api->metrics_hook)
        api->metrics_hook(api->metrics_ctx, &b, node, api->worker);
    http_server_send(req, 200, "text/plain; version=0.0.4", b.data, b.len, NULL);
    buf_free(&b);
    return ST_OK;
}

static int api_start(struct live_api *api, struct ev_loop *loop, const char *addr, int reuse_port,
                     struct live_server *srv, struct cluster_directory *dir, const char *role, const char *node_id,
                     int worker, struct net_tls_context *tls)
{
    memset(api, 0, sizeof(*api));
    api->srv = srv;
    api->dir = dir;
    api->worker = worker;
    snprintf(api->role, sizeof(api->role), "%s", role);
    snprintf(api->node_id, sizeof(api->node_id), "%s", node_id);
    struct http_server_config cfg = {
        .listen = addr,
        .reuse_port = reuse_port,
        .tls = tls,
        .timeout_ms = srv->settings->http_timeout,
        .limits = {.max_header_bytes = srv->settings->http_max_header_bytes,
                   .max_headers = (unsigned)srv->settings->http_max_headers},
    };
    if (http_server_open(&api->http, loop, &cfg) != ST_OK)
        return ST_ERROR;
    unsigned get = HTTP_SERVER_GET | HTTP_SERVER_HEAD;
    if (http_server_route(&api->http, "/v1/route", get, handle_route, api) != ST_OK ||
        http_server_route(&api->http, "/v1/stats", get, handle_stats, api) != ST_OK ||
        http_server_route(&api->http, "/metrics", get, handle_metrics, api) != ST_OK ||
        http_server_route(&api->http, "/v1/streams", get, handle_streams, api) != ST_OK ||
        http_server_route(&api->http, "/v1/streams/*", get, handle_streams, api) != ST_OK ||
        http_server_route(&api->http, "/v1/nodes", get, handle_nodes, api) != ST_OK) {
        http_server_close(&api->http);
        return ST_ERROR;
    }
    if (srv->settings->http_delivery) {
        api->delivery = live_http_acquire(srv, loop);
        if (!api->delivery || live_http_routes(api->delivery, &api->http) != ST_OK) {
            live_http_release(api->delivery);
            api->delivery = NULL;
            http_server_close(&api->http);
            return ST_ERROR;
        }
    } else if (http_static_route(&api->http) != ST_OK) {
        http_server_close(&api->http);
        return ST_ERROR;
    }
    api->started = 1;
    return ST_OK;
}

int live_api_start(struct live_api *api, struct ev_loop *loop, const char *addr, int reuse_port,
                   struct live_server *srv, struct cluster_directory *dir, const char *role, const char *node_id,
                   int worker)
{
    return api_start(api, loop, addr, reuse_port, srv, dir, role, node_id, worker, NULL);
}

int live_api_start_tls(struct live_api *api, struct ev_loop *loop, const char *addr, int reuse_port,
                       struct live_server *srv, struct cluster_directory *dir, const char *role, const char *node_id,
                       int worker)
{
    if (!srv->tls) {
        LOG_ERROR("https_listen %s needs tls_cert and tls_key", addr);
        return ST_ERROR;
    }
    return api_start(api, loop, addr, reuse_port, srv, dir, role, node_id, worker, srv->tls);
}

void live_api_stop_accepting(struct live_api *api)
{
    if (api->started)
        http_server_stop_accepting(&api->http);
}

unsigned live_api_flv_players(const struct live_api *api)
{
    return api->delivery ? api->delivery->nflv : 0;
}

void live_api_stop(struct live_api *api)
{
    if (api->started)
        http_server_close(&api->http);
    live_http_release(api->delivery);
    api->delivery = NULL;
    api->started = 0;
}
