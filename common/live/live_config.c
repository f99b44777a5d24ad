#include "live/live_config.h"

#include "core/status.h"

#include <stddef.h>

#define F(f) offsetof(struct live_settings, f)

static const struct config_directive live_directives[] = {
    {"rtmp_listen", CONFIG_STRING, F(rtmp_listen), "0.0.0.0:1935", 0, 0,
     "RTMP listen address HOST:PORT (numeric host; [::] for IPv6)", 0},
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
    {"socket_sndbuf", CONFIG_SIZE, F(socket_sndbuf), "256k", 0, 67108864,
     "kernel send buffer per connection (0 = system default); small keeps slow players near live", 1},
    {"gop_cache_frames", CONFIG_INT, F(gop_cache_frames), "900", 0, 65536,
     "frames kept from the last keyframe for fast start (0 disables the GOP cache)", 0},
    {"gop_cache_bytes", CONFIG_SIZE, F(gop_cache_bytes), "16m", 0, 1073741824, "bytes cap of the GOP cache", 0},
    {"max_connections", CONFIG_INT, F(max_connections), "10000", 1, 1000000, "connections accepted at once", 1},
};

int live_config_append(struct config_directive *table, size_t cap, size_t *n, size_t base)
{
    return config_append_table(table, cap, n, live_directives, sizeof(live_directives) / sizeof(live_directives[0]), base);
}
