#include "edge_config.h"

#include "live/live_config.h"

#include <stddef.h>

#define E(f) offsetof(struct edge_config, f)

static const struct config_directive edge_directives[] = {
    {"workers", CONFIG_INT, E(workers), "0", 0, 256, "worker processes sharing the ports (0 = one per core)", 0},
    {"max_players", CONFIG_INT, E(max_players), "0", 0, 10000000,
     "players per worker before new RTMP clients are redirected to a less loaded edge (0 = no limit)", 1},
    {"linger", CONFIG_MS, E(linger), "5s", 0, 3600000,
     "a stream stays subscribed this long after its last player left (a quick reconnect skips the snapshot)", 1},
    {"play_wait", CONFIG_MS, E(play_wait), "10s", 0, 3600000,
     "a player of a stream that exists nowhere gets NetStream.Play.StreamNotFound after this (0 = wait forever)", 1},
    {"stale_after", CONFIG_MS, E(stale_after), "3s", 500, 600000,
     "a subscribed stream silent this long is looked up again (its origin may have moved)", 1},
    {"drain_timeout", CONFIG_MS, E(drain_timeout), "30s", 0, 3600000,
     "on SIGTERM workers stop accepting and keep serving their players this long before exiting", 1},
    {"http_listen", CONFIG_ADDR, E(http_listen), "", 0, 0,
     "HTTP API address HOST:PORT shared by the workers (/v1/route, /v1/stats, /metrics); empty = no HTTP", 0},
    {"https_listen", CONFIG_STRING, E(https_listen), "", 0, 0,
     "HTTPS API address HOST:PORT shared by the workers (same API as http_listen, over TLS); empty = off", 0},
    {"log_level", CONFIG_LOG_LEVEL, E(log_level), "info", 0, 0, "debug, info, warn or error", 1},
};

#define EDGE_TABLE_MAX 192

const struct config_directive *edge_config_table(size_t *n)
{
    static struct config_directive table[EDGE_TABLE_MAX];
    static size_t count;
    if (count == 0) {
        live_config_append(table, EDGE_TABLE_MAX, &count, offsetof(struct edge_config, live));
        cluster_config_append(table, EDGE_TABLE_MAX, &count, offsetof(struct edge_config, node));
        rtsp_server_config_append(table, EDGE_TABLE_MAX, &count, offsetof(struct edge_config, rtsp));
        config_append_table(table, EDGE_TABLE_MAX, &count, edge_directives,
                            sizeof(edge_directives) / sizeof(edge_directives[0]), 0);
    }
    *n = count;
    return table;
}

int edge_config_check(const void *settings)
{
    const struct edge_config *cfg = settings;
    return rtsp_settings_check(&cfg->rtsp);
}
