#include "live/live_config.h"

#include "core/status.h"

#include <stddef.h>

#define F(f) offsetof(struct live_settings, f)

static const struct config_directive live_directives[] = {
    {"rtmp_listen", CONFIG_ADDR, F(rtmp_listen), "0.0.0.0:1935", 0, 0,
     "RTMP listen address HOST:PORT (numeric host; [::] for IPv6)", 0},
    {"rtmps_listen", CONFIG_STRING, F(rtmps_listen), "", 0, 0,
     "RTMP over TLS (rtmps://) listen address HOST:PORT next to rtmp_listen; needs tls_cert and tls_key; empty = off",
     0},
    {"tls_cert", CONFIG_STRING, F(tls_cert), "", 0, 0,
     "PEM certificate file (leaf first, then the chain) for RTMPS and HTTPS; SIGHUP reloads it if changed", 1},
    {"tls_key", CONFIG_STRING, F(tls_key), "", 0, 0, "PEM private key file of tls_cert; SIGHUP reloads it if changed",
     1},
    {"chunk_size", CONFIG_INT, F(chunk_size), "4096", 128, 65536, "chunk size the server sends with", 0},
    {"max_chunk_size", CONFIG_INT, F(max_chunk_size), "65536", 128, 16777215,
     "largest Set Chunk Size accepted from a client; above it the connection is closed", 1},
    {"max_message_size", CONFIG_SIZE, F(max_message_size), "8m", 4096, 16777215,
     "largest RTMP message accepted (a video frame); above it the connection is closed", 1},
    {"handshake_timeout", CONFIG_MS, F(handshake_timeout), "10s", 100, 600000,
     "time a client has to finish the handshake and connect", 1},
    {"publish_idle_timeout", CONFIG_MS, F(publish_idle_timeout), "10s", 500, 3600000,
     "a publisher that sends nothing for this long is disconnected", 1},
    {"publish_takeover_idle", CONFIG_MS, F(publish_takeover_idle), "3s", 0, 3600000,
     "a new publisher of a key takes it over when the current one has been silent this long", 1},
    {"player_max_queue", CONFIG_SIZE, F(player_max_queue), "2m", 65536, 1073741824,
     "bytes queued per player before frames are dropped to the next keyframe", 1},
    {"player_queue_frames", CONFIG_INT, F(player_queue_frames), "1024", 64, 65536, "frame slots per player queue", 1},
    {"player_max_behind", CONFIG_MS, F(player_max_behind), "10s", 1000, 3600000,
     "a player that keeps dropping frames this long is disconnected", 1},
    {"player_max_delay", CONFIG_MS, F(player_max_delay), "1s", 0, 3600000,
     "media time queued per player before frames are dropped (0: only player_max_queue applies)", 1},
    {"unpublish_wait", CONFIG_MS, F(unpublish_wait), "10s", 0, 3600000,
     "when a publisher leaves, players wait this long for it (or a new one) before they are sent "
     "NetStream.Play.UnpublishNotify, on which ffmpeg-based players stop", 1},
    {"merge_interval", CONFIG_MS, F(merge_interval), "0", 0, 1000,
     "live media is written to players every this many ms (0: at once; 100: ~6x fewer syscalls, +100 ms)", 1},
    {"socket_notsent_lowat", CONFIG_SIZE, F(socket_notsent_lowat), "32k", 0, 67108864,
     "TCP_NOTSENT_LOWAT per connection: unsent bytes the kernel may hold for a player (0 = kernel default)", 1},
    {"socket_sndbuf", CONFIG_SIZE, F(socket_sndbuf), "256k", 0, 67108864,
     "kernel send buffer per connection (0 = system default); small keeps slow players near live", 1},
    {"gop_cache_frames", CONFIG_INT, F(gop_cache_frames), "900", 0, 65536,
     "frames kept from the last keyframe for fast start (0 disables the GOP cache)", 0},
    {"gop_cache_bytes", CONFIG_SIZE, F(gop_cache_bytes), "16m", 0, 1073741824, "bytes cap of the GOP cache", 0},
    {"max_connections", CONFIG_INT, F(max_connections), "10000", 1, 1000000, "connections accepted at once", 1},
    {"max_connections_per_ip", CONFIG_INT, F(max_connections_per_ip), "0", 0, 1000000,
     "connections open at once from one IP address (IPv4, or IPv6 whole); 0 = no limit", 1},
    {"max_streams", CONFIG_INT, F(max_streams), "1000", 0, 1000000,
     "streams published here at once; a publish of a new key above it gets NetStream.Publish.Failed (0 = no limit)",
     1},
    {"player_max_bitrate", CONFIG_INT, F(player_max_bitrate), "0", 0, 100000000000.0,
     "bits/s written to one player (token bucket, 1 s burst); a player above it falls behind and the drop policy "
     "applies (0 = no cap)",
     1},
    {"idle_timeout", CONFIG_MS, F(idle_timeout), "30s", 0, 3600000,
     "a client that connected but has neither published nor played after this long is closed (0 = never)", 1},
    {"http_timeout", CONFIG_MS, F(http_timeout), "10s", 500, 600000,
     "time an HTTP client has to send a complete request head (slow clients are cut off), and a handler to answer",
     0},
    {"http_max_header_bytes", CONFIG_SIZE, F(http_max_header_bytes), "8k", 1024, 65536,
     "largest HTTP header section accepted; above it the answer is 431", 0},
    {"http_max_headers", CONFIG_INT, F(http_max_headers), "64", 4, 256,
     "most HTTP header fields accepted; above it the answer is 431", 0},
    {"http_delivery", CONFIG_BOOL, F(http_delivery), "on", 0, 0,
     "serve the streams over HTTP on the node's HTTP port: HTTP-FLV (/<app>/<name>.flv), HLS (/<app>/<name>.m3u8), "
     "low-latency HLS (/<app>/<name>.ll.m3u8) and the status page at /",
     0},
    {"hls_segment_duration", CONFIG_MS, F(hls_segment_duration), "2s", 1000, 30000,
     "where a stream is ingested: a keyframe opens a new HLS segment once the current one is this long; every edge "
     "follows the origin's cuts",
     0},
    {"hls_part_duration", CONFIG_MS, F(hls_part_duration), "500ms", 100, 5000,
     "low-latency HLS part target; must be the same on every edge of a cluster (parts are cut from it)", 0},
    {"hls_window", CONFIG_INT, F(hls_window), "6", 2, 100, "segments listed in a live HLS playlist", 0},
    {"hls_max_bytes", CONFIG_SIZE, F(hls_max_bytes), "64m", 1048576, 1073741824,
     "memory held per stream and HLS format (segments and parts); the oldest segments go first", 0},
    {"hls_idle_timeout", CONFIG_MS, F(hls_idle_timeout), "30s", 1000, 3600000,
     "an HLS rendition nobody requested for this long is dropped (and an edge unsubscribes if nothing else plays)",
     0},
    {"http_flv_max_players", CONFIG_INT, F(http_flv_max_players), "0", 0, 1000000,
     "HTTP-FLV players at once on this process, 0 = bounded only by max_connections", 0},
};

/* Authorization of players and the webhooks both processes may call. */
static const struct config_directive live_auth_directives[] = {
    {"play_secret", CONFIG_STRING, F(play_secret), "", 0, 0,
     "HMAC-SHA256 secret of signed play keys (name?exp=UNIX&sig=HEX); empty = players need no key", 1},
    {"play_secret_apps", CONFIG_STRING, F(play_secret_apps), "", 0, 0,
     "applications whose players need a signed key, e.g. \"live, premium\" (empty = every application)", 1},
    {"play_allow", CONFIG_CIDR_LIST, F(play_allow), "", 0, 0,
     "CIDR list of addresses that may play, e.g. \"10.0.0.0/8, ::1/128\" (empty = all)", 1},
    {"play_deny", CONFIG_CIDR_LIST, F(play_deny), "", 0, 0, "CIDR list of addresses that may not play (wins over play_allow)",
     1},
    {"on_play", CONFIG_STRING, F(on_play), "", 0, 0,
     "webhook URL http://HOST[:PORT]/path POSTed before a play: 2xx allows, 3xx renames, else refuses (empty = none)",
     1},
    {"on_done", CONFIG_STRING, F(on_done), "", 0, 0,
     "webhook URL told when an accepted publisher or player leaves (fire and forget; empty = none)", 1},
    {"webhook_timeout", CONFIG_MS, F(webhook_timeout), "3s", 100, 30000,
     "total time a webhook has to answer (connect, send, response head)", 1},
    {"webhook_fail_open", CONFIG_BOOL, F(webhook_fail_open), "off", 0, 0,
     "on: a webhook that times out or cannot be reached allows; off: it refuses", 1},
};

/* Publisher authorization: only where publishers are taken (the origin). */
static const struct config_directive live_publish_auth_directives[] = {
    {"publish_secret", CONFIG_STRING, F(publish_secret), "", 0, 0,
     "HMAC-SHA256 secret of signed publish keys (name?exp=UNIX&sig=HEX); empty = no signed keys", 1},
    {"publish_keys_file", CONFIG_STRING, F(publish_keys_file), "", 0, 0,
     "allowed stream keys, one per line: \"app=PATH, app2=PATH2\" per application or PATH for all (empty = none)",
     1},
    {"publish_allow", CONFIG_CIDR_LIST, F(publish_allow), "", 0, 0,
     "CIDR list of addresses that may publish, e.g. \"10.0.0.0/8, ::1/128\" (empty = all)", 1},
    {"publish_deny", CONFIG_CIDR_LIST, F(publish_deny), "", 0, 0,
     "CIDR list of addresses that may not publish (wins over publish_allow)", 1},
    {"on_publish", CONFIG_STRING, F(on_publish), "", 0, 0,
     "webhook URL http://HOST[:PORT]/path POSTed before a publish: 2xx allows, 3xx renames, else refuses (empty = "
     "none)",
     1},
};

int live_config_append_publish_auth(struct config_directive *table, size_t cap, size_t *n, size_t base)
{
    return config_append_table(table, cap, n, live_publish_auth_directives,
                               sizeof(live_publish_auth_directives) / sizeof(live_publish_auth_directives[0]), base);
}

int live_config_append(struct config_directive *table, size_t cap, size_t *n, size_t base)
{
    if (config_append_table(table, cap, n, live_directives, sizeof(live_directives) / sizeof(live_directives[0]), base) !=
        ST_OK)
        return ST_ERROR;
    return config_append_table(table, cap, n, live_auth_directives,
                               sizeof(live_auth_directives) / sizeof(live_auth_directives[0]), base);
}
