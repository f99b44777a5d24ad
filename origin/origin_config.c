#include "origin_config.h"

#include "core/status.h"
#include "live/live_config.h"
#include "origin_record.h"

#include <stddef.h>

#define O(f) offsetof(struct origin_config, f)
#define L(f) offsetof(struct origin_config, live) + offsetof(struct live_settings, f)

static const struct config_directive origin_directives[] = {
    {"publish", CONFIG_BOOL, L(allow_publish), "on", 0, 0, "accept publishers", 0},
    {"play", CONFIG_BOOL, L(allow_play), "on", 0, 0,
     "serve players directly from the origin (standalone mode); edges serve them in a cluster", 0},
    {"cluster", CONFIG_BOOL, O(cluster), "off", 0, 0,
     "replicate streams over ZeroMQ and claim them in the Redis directory", 0},
    {"pub_listen", CONFIG_ADDR, O(pub_listen), "tcp://0.0.0.0:5556", 0, 0, "ZeroMQ PUB endpoint edges subscribe to", 0},
    {"router_listen", CONFIG_ADDR, O(router_listen), "tcp://0.0.0.0:5557", 0, 0,
     "ZeroMQ ROUTER endpoint that serves snapshots to joining edges", 0},
    {"claim_ttl", CONFIG_MS, O(claim_ttl), "3s", 500, 600000,
     "lifetime of a stream claim; a dead origin's streams move after this", 0},
    {"claim_wait", CONFIG_MS, O(claim_wait), "5s", 0, 600000,
     "how long a publish waits for a claim held by another origin to expire before BadName", 1},
    {"pub_hwm", CONFIG_INT, O(pub_hwm), "20000", 100, 10000000,
     "ZeroMQ PUB high-water mark per edge (messages); beyond it the edge sees a gap", 0},
    {"http_listen", CONFIG_ADDR, O(http_listen), "", 0, 0,
     "HTTP API address HOST:PORT (/v1/route, /v1/stats, /metrics); empty = no HTTP", 0},
    {"https_listen", CONFIG_STRING, O(https_listen), "", 0, 0,
     "HTTPS API address HOST:PORT (same API as http_listen, over TLS with tls_cert/tls_key); empty = off", 0},
    {"log_level", CONFIG_LOG_LEVEL, O(log_level), "info", 0, 0, "debug, info, warn or error", 1},
    {"record_apps", CONFIG_STRING, O(record_apps), "", 0, 0,
     "streams to record to FLV: \"app\", \"app/name\" or \"*\", comma separated; empty = off", 1},
    {"record_path", CONFIG_STRING, O(record_path), "/var/lib/streamcluster/recordings", 0, 0,
     "directory of recordings: <record_path>/<app>/<name>-<YYYYmmdd-HHMMSS>.flv (UTC)", 0},
    {"record_max_size", CONFIG_SIZE, O(record_max_size), "0", 0, 1099511627776.0,
     "start a new file at the next keyframe once a file has this many bytes; 0 = no limit", 0},
    {"record_max_duration", CONFIG_MS, O(record_max_duration), "0", 0, 86400000,
     "start a new file at the next keyframe once a file holds this much media; 0 = no limit", 0},
    {"record_fsync", CONFIG_STRING, O(record_fsync), "rotate", 0, 0,
     "when recordings reach the disk: none (the kernel decides), rotate (each file when closed) or an "
     "interval such as 1s (also every interval while writing)", 0},
    {"record_mp4", CONFIG_BOOL, O(record_mp4), "on", 0, 0,
     "also write <name>.mp4 (fragmented MP4) of each recording file once it is closed", 0},
    {"record_vod_app", CONFIG_STRING, O(record_vod_app), "vod", 0, 0,
     "RTMP app that plays recordings: rtmp://host/<record_vod_app>/<app>/<file> (seek, pause); empty = off", 0},
    {"record_hls_segment", CONFIG_MS, O(record_hls_segment), "4s", 1000, 60000,
     "target length of the segments of GET /vod/<app>/<file>.m3u8 (cut at keyframes)", 0},
};

#define ORIGIN_TABLE_MAX 192

const struct config_directive *origin_config_table(size_t *n)
{
    static struct config_directive table[ORIGIN_TABLE_MAX];
    static size_t count;
    if (count == 0) {
        /* Sizes are fixed at compile time; a failure here is our bug and
         * shows up as a missing directive in every test. */
        live_config_append(table, ORIGIN_TABLE_MAX, &count, offsetof(struct origin_config, live));
        live_config_append_publish_auth(table, ORIGIN_TABLE_MAX, &count, offsetof(struct origin_config, live));
        cluster_config_append(table, ORIGIN_TABLE_MAX, &count, offsetof(struct origin_config, node));
        rtsp_server_config_append(table, ORIGIN_TABLE_MAX, &count, offsetof(struct origin_config, rtsp));
        config_append_table(table, ORIGIN_TABLE_MAX, &count, origin_directives,
                            sizeof(origin_directives) / sizeof(origin_directives[0]), 0);
        origin_relay_config_append(table, ORIGIN_TABLE_MAX, &count, offsetof(struct origin_config, relay));
    }
    *n = count;
    return table;
}

int origin_config_check(const void *settings)
{
    const struct origin_config *cfg = settings;
    int ok = origin_relay_check(&cfg->relay) == ST_OK;
    ok &= origin_record_check(cfg) == ST_OK;
    ok &= rtsp_settings_check(&cfg->rtsp) == ST_OK;
    return ok ? ST_OK : ST_ERROR;
}
