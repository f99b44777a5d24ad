/*
 * live_registry: the live streams a node carries, by key ("app/name").
 *
 * A stream exists while it has a publisher, an upstream source or at
 * least one player; live_registry_release frees it when neither is left.
 * Keys are compared whole, so "live/a" and "live/ab" never meet.
 *
 * Ownership: the registry owns its streams (boot-time bucket array, one
 * malloc per stream); the publisher and players are borrowed. Loop-confined.
 */
#ifndef SC_LIVE_REGISTRY_H
#define SC_LIVE_REGISTRY_H

#include "fanout/fanout_stream.h"
#include "hls/hls_segment_clock.h"
#include "media/media_codec.h"

#include <stdint.h>

#define LIVE_KEY_MAX 512
#define LIVE_REGISTRY_BUCKETS 1024

struct live_stream {
    char key[LIVE_KEY_MAX];
    struct fanout_stream fanout;
    void *publisher;          /* the publishing connection, NULL when none */
    uint64_t last_input_ms;   /* monotonic time of the last message from the publisher */
    uint64_t published_ms;    /* when the current publisher started, 0 if none */
    uint32_t publish_count;   /* publishers seen */
    uint32_t epoch;           /* replication epoch (origin: from the directory claim) */
    uint64_t seq;             /* replication sequence number of the last message sent */
    void *source;             /* edge: the upstream subscription feeding this stream */
    uint32_t holds;           /* non-RTMP viewers (HLS, HTTP-FLV, RTSP, recorders,
                                 relays) keeping the stream: live_server_hold */
    char publisher_peer[64];  /* "ip:port" of the current publisher, "" if none */
    uint64_t unpublished_ms;  /* when the publisher left (0: live or never published) */
    int unpublish_notified;   /* players were told (after unpublish_wait) */
    uint64_t bitrate_bps;     /* input bitrate over the last second */
    uint64_t rate_mark_bytes; /* fanout.bytes_in at rate_mark_ms */
    uint64_t rate_mark_ms;
    struct hls_segment_clock segclock; /* stamps a local publisher's frames */
    void *http;               /* live_http's per-stream state (HLS renditions), NULL when none */
    uint32_t flv_players;     /* of fanout.nplayers, how many are HTTP-FLV */
    uint32_t rtsp_viewers;    /* RTSP sessions (and pending DESCRIBEs) of the stream */
    struct media_video_config video;
    struct media_audio_config audio;
    struct live_stream *next; /* bucket chain */
};

/* Segment clocks of recently forgotten streams: a publisher that comes back
 * after its stream was freed continues the HLS numbering (packagers then
 * mark a discontinuity instead of restarting the playlist). */
#define LIVE_REGISTRY_RECENT 64

struct live_registry {
    struct live_stream *buckets[LIVE_REGISTRY_BUCKETS];
    struct {
        uint64_t key_hash; /* 0 = empty */
        struct hls_segment_clock clock;
    } recent[LIVE_REGISTRY_RECENT];
    uint32_t recent_next;
    uint32_t count;
    uint32_t gop_max_frames;
    size_t gop_max_bytes;
};

void live_registry_init(struct live_registry *r, uint32_t gop_max_frames, size_t gop_max_bytes);
/* Free every stream; players and publishers must be gone. */
void live_registry_free(struct live_registry *r);
struct live_stream *live_registry_find(struct live_registry *r, const char *key);
/* Find or create; NULL on allocation failure. */
struct live_stream *live_registry_get(struct live_registry *r, const char *key);
/* Whether anything watches the stream (RTMP players or holds). */
static inline int live_stream_watched(const struct live_stream *s) { return s->fanout.nplayers > 0 || s->holds > 0; }
/* Free the stream if it has neither publisher, source, players nor holds. */
void live_registry_release(struct live_registry *r, struct live_stream *s);

#endif
