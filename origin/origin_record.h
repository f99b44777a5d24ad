/*
 * origin_record: recordings on the origin. It records the streams that
 * record_apps selects (record_stream.h: FLV files, rotation, a writer
 * thread), serves them back over RTMP (the live server's vod_path hook:
 * rtmp://host/<record_vod_app>/<app>/<file>) and as HLS VOD over the HTTP
 * API, and reports them:
 *
 *   GET /v1/recordings                  recordings being written, counters
 *   GET /vod/<app>/<file>.m3u8          VOD playlist (#EXT-X-PLAYLIST-TYPE:VOD,
 *                                       #EXT-X-ENDLIST), segments cut at keyframes
 *   GET /vod/<app>/<file>/<n>.ts        segment n, muxed to MPEG-TS on request
 *
 * <app>/<file> name <record_path>/<app>/<file>.flv; names outside the safe
 * form (record_path.h: no "..", no '/', no '%', no absolute paths) get 400,
 * missing files 404. Playlists and segments of a file still being recorded
 * are not cached by clients (no-cache); of a finished file they are.
 *
 * HTTP work stays bounded on the loop: a file is scanned once (bounded
 * slices per loop turn, the answer comes when the scan is done) and kept in
 * a small cache of open, indexed files (ORIGIN_RECORD_FILES), re-scanned
 * when its size or mtime changes; a segment reads only its own tags.
 *
 * Hooks: the origin's main calls publish_started/publish_stopped from its
 * live_server hooks (next to the cluster's and the relays') and answers the
 * vod_path hook with origin_record_vod_path.
 *
 * Ownership: embedded in the origin's main; init before live_server_start,
 * routes after the HTTP API started, stop after the HTTP API and the live
 * server stopped (live_server_stop ends the recordings through the hooks). Loop-confined
 * except for the writer thread it owns.
 */
#ifndef SC_ORIGIN_RECORD_H
#define SC_ORIGIN_RECORD_H

#include "http/http_server.h"
#include "live/live_server.h"
#include "origin_config.h"
#include "record/flv_file_reader.h"
#include "record/record_stream.h"
#include "record/record_writer.h"

#include <ev.h>

#define ORIGIN_RECORD_FILES 8   /* indexed recordings kept open for HLS */
#define ORIGIN_RECORD_ROUTES 2  /* HTTP and HTTPS */
#define ORIGIN_RECORD_QUEUE_FRAMES 8192
#define ORIGIN_RECORD_QUEUE_BYTES (64u << 20)

struct origin_recording;
struct origin_record_job;
struct origin_record;

/* One indexed recording for HLS. */
struct origin_record_file {
    char path[RECORD_PATH_MAX];
    uint64_t size;
    int64_t mtime_ns;
    struct flv_file_reader r;
    int open;        /* r is open */
    int waiting;     /* jobs waiting for its scan */
    uint64_t used;   /* LRU stamp */
};

struct origin_record_route {
    struct origin_record *o;
    struct http_server *http;
};

struct origin_record {
    struct ev_loop *loop;
    const struct origin_config *cfg;
    struct record_writer writer;
    struct record_settings settings;
    struct origin_recording *recs; /* being recorded */
    struct origin_record_file files[ORIGIN_RECORD_FILES];
    uint64_t file_clock;
    struct origin_record_job *jobs; /* HLS answers waiting for a scan */
    struct origin_record_route routes[ORIGIN_RECORD_ROUTES];
    int nroutes;
    uint64_t recordings_started;
    uint64_t frames_dropped_done; /* of recordings already stopped */
    uint64_t overflows_done;
    uint64_t hls_playlists, hls_segments, hls_errors;
    int started;
};

/* The record_* checks the config types cannot express (record_fsync,
 * record_path). ST_OK, or ST_ERROR with a log line. */
int origin_record_check(const struct origin_config *cfg);
/* Validate the record_* settings and start the writer thread. ST_OK, or
 * ST_ERROR (logged). */
int origin_record_init(struct origin_record *o, struct ev_loop *loop, const struct origin_config *cfg);
/* A publish started / stopped: record the stream when record_apps selects
 * it; stop recording it. */
void origin_record_publish_started(struct origin_record *o, struct live_stream *st);
void origin_record_publish_stopped(struct origin_record *o, struct live_stream *st);
/* The vod_path hook (live_server.h): a play on record_vod_app is a
 * recording: rtmp://host/<record_vod_app>/<app>/<file> (ffmpeg sends app
 * "<vod>/<app>" and name "<file>" without ".flv"; other clients app "<vod>"
 * and name "<app>/<file>"; an FMS-style "flv:" prefix is accepted). */
int origin_record_vod_path(struct origin_record *o, const struct rtmp_session *s, char *path, size_t len,
                           struct rtmp_session_verdict *v);
/* Serve /v1/recordings and /vod/ on http. ST_OK or ST_ERROR. */
int origin_record_routes(struct origin_record *o, struct http_server *http);
/* Finish the files (writer thread drains and joins), free the cache. */
void origin_record_stop(struct origin_record *o);

#endif
