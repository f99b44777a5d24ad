/*
 * edge_config: the edge's settings and directive table (mirrored with
 * comments in deploy/edge.conf). Boot-time only.
 */
#ifndef SC_EDGE_CONFIG_H
#define SC_EDGE_CONFIG_H

#include "cluster/cluster_config.h"
#include "core/config.h"
#include "live/live_server.h"
#include "rtsp/rtsp_server.h"

struct edge_config {
    struct live_settings live;
    struct cluster_node_settings node;
    char *log_level;
    long workers;     /* worker processes; 0 = one per core */
    long max_players; /* per worker; over it new RTMP clients are redirected; 0 = no limit */
    long linger;      /* ms a stream stays subscribed after its last player left */
    long play_wait;   /* ms a player waits for an unknown stream before StreamNotFound; 0 = forever */
    long stale_after; /* ms without data before the worker re-checks the directory */
    char *http_listen; /* HTTP API address shared by the workers, empty = off */
    char *https_listen; /* the same API over TLS (tls_cert/tls_key), empty = off */
    long drain_timeout; /* ms a stopping worker keeps serving its players */
    struct rtsp_settings rtsp; /* rtsp_* directives (rtsp_server.h) */
};

const struct config_directive *edge_config_table(size_t *n);
/* cli_check_cb of the edge: rtsp_udp_port_range. */
int edge_config_check(const void *settings);

#endif
