#include "origin_config.h"

#include <stddef.h>

#define LIVE(f) offsetof(struct origin_config, live) + offsetof(struct live_settings, f)

const struct config_directive origin_config_table[] = {
    {"rtmp_listen", CONFIG_STRING, LIVE(rtmp_listen), "0.0.0.0:1935", 0, 0,
     "RTMP listen address HOST:PORT (numeric host; [::] for IPv6)"},
    {"chunk_size", CONFIG_INT, LIVE(chunk_size), "4096", 128, 65536, "chunk size the server sends with"},
    {"max_chunk_size", CONFIG_INT, LIVE(max_chunk_size), "65536", 128, 16777215,
     "largest Set Chunk Size accepted from a client; above it the connection is closed"},
    {"max_message_size", CONFIG_SIZE, LIVE(max_message_size), "8m", 4096, 16777215,
     "largest RTMP message accepted (a video frame); above it the connection is closed"},
    {"handshake_timeout", CONFIG_MS, LIVE(handshake_timeout), "10s", 100, 600000,
     "time a client has to finish the handshake and connect"},
    {"publish_idle_timeout", CONFIG_MS, LIVE(publish_idle_timeout), "10s", 500, 3600000,
     "a publisher that sends nothing for this long is disconnected"},
    {"publish_takeover_idle", CONFIG_MS, LIVE(publish_takeover_idle), "3s", 0, 3600000,
     "a new publisher of a key takes it over when the current one has been silent this long"},
    {"player_max_queue", CONFIG_SIZE, LIVE(player_max_queue), "2m", 65536, 1073741824,
     "bytes queued per player before frames are dropped to the next keyframe"},
    {"player_queue_frames", CONFIG_INT, LIVE(player_queue_frames), "1024", 64, 65536,
     "frame slots per player queue"},
    {"player_max_behind", CONFIG_MS, LIVE(player_max_behind), "10s", 1000, 3600000,
     "a player that keeps dropping frames this long is disconnected"},
    {"socket_sndbuf", CONFIG_SIZE, LIVE(socket_sndbuf), "256k", 0, 67108864,
     "kernel send buffer per connection (0 = system default); small keeps slow players near live"},
    {"gop_cache_frames", CONFIG_INT, LIVE(gop_cache_frames), "900", 0, 65536,
     "frames kept from the last keyframe for fast start (0 disables the GOP cache)"},
    {"gop_cache_bytes", CONFIG_SIZE, LIVE(gop_cache_bytes), "16m", 0, 1073741824, "bytes cap of the GOP cache"},
    {"max_connections", CONFIG_INT, LIVE(max_connections), "10000", 1, 1000000, "connections accepted at once"},
    {"log_level", CONFIG_STRING, offsetof(struct origin_config, log_level), "info", 0, 0,
     "debug, info, warn or error"},
};

const size_t origin_config_table_len = sizeof(origin_config_table) / sizeof(origin_config_table[0]);
