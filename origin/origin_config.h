/*
 * origin_config: the origin's settings and their directive table (the
 * reference for every directive, mirrored with comments in
 * deploy/origin.conf). Boot-time only.
 */
#ifndef SC_ORIGIN_CONFIG_H
#define SC_ORIGIN_CONFIG_H

#include "cluster/cluster_config.h"
#include "core/config.h"
#include "live/live_server.h"
#include "origin_relay.h"
#include "rtsp/rtsp_server.h"

struct origin_config {
    struct live_settings live;
    struct cluster_node_settings node;
    char *log_level;
    int cluster;         /* replicate and claim streams in the directory */
    char *pub_listen;    /* ZeroMQ PUB bind endpoint */
    char *router_listen; /* ZeroMQ ROUTER bind endpoint */
    long claim_ttl;      /* ms */
    long claim_wait;     /* ms a publish waits for a claim held by another node */
    long pub_hwm;        /* messages */
    char *http_listen;   /* HTTP API address, empty = off */
    char *https_listen;  /* the same API over TLS (tls_cert/tls_key), empty = off */
    struct origin_relay_settings relay; /* relay_* push destinations (origin_relay.h) */
    struct rtsp_settings rtsp;          /* rtsp_* directives (rtsp_server.h) */
    /* Recording (origin_record.h) */
    char *record_apps;        /* "" = off; "app", "app/name" or "*", comma separated */
    char *record_path;        /* directory of the recordings */
    size_t record_max_size;   /* bytes per file, 0 = no limit */
    long record_max_duration; /* ms per file, 0 = no limit */
    char *record_fsync;       /* "none", "rotate" or an interval (record_writer_parse_fsync) */
    int record_mp4;           /* also make <name>.mp4 of each closed file */
    char *record_vod_app;     /* RTMP app whose plays are recordings, "" = off */
    long record_hls_segment;  /* ms: target length of VOD HLS segments */
};

/* The full directive table (built once). */
const struct config_directive *origin_config_table(size_t *n);
/* cli_check_cb of the origin: relay_push, record_*, rtsp_udp_port_range. */
int origin_config_check(const void *settings);

#endif
