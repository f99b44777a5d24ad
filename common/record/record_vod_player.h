/*
 * record_vod_player: plays a recorded FLV file into one player's output
 * queue (fanout_player.h), paced by the tags' timestamps against a clock,
 * for RTMP playback of recordings (video on demand).
 *
 * Flow: open checks the file header; the first pumps scan the file once to
 * build its keyframe index (flv_file_reader.h, bounded work per pump); then
 * the player goes to the keyframe at or before the requested start and
 * every pump queues the tags that are due: a tag is due when its timestamp
 * is within lead_ms of the clock (the first tag's timestamp + time since it
 * was queued). The clock stops while paused and while the player's socket
 * is full (a slow reader is paced, not flooded), and the queue is kept
 * under half of the player's byte and frame bounds, so the fan-out drop
 * policy never triggers for a reader that keeps up.
 *
 * What the player receives: onMetaData once at timestamp 0 (at the first
 * start only), then the audio and video sequence headers at the start
 * timestamp, then the file's tags from the start keyframe with their own
 * timestamps (so a seek to 30 s starts near 30000 ms, as players expect).
 * The file's own onMetaData and first sequence headers are not repeated;
 * later sequence headers (codec changes) and other data tags are sent.
 *
 * Blocking: reads are preads of a local file on the caller's loop, bounded
 * per pump (RECORD_VOD_READ_BUDGET bytes, RECORD_VOD_MAX_TAGS tags).
 *
 * Ownership: open allocates (one object plus the reader's buffers); close
 * frees. Frames queued into the player are its own (refcounted). Loop-confined.
 */
#ifndef SC_RECORD_VOD_PLAYER_H
#define SC_RECORD_VOD_PLAYER_H

#include "core/buf.h"
#include "fanout/fanout_player.h"
#include "record/flv_file_reader.h"

#include <stdint.h>

#define RECORD_VOD_READ_BUDGET (2u << 20) /* bytes read per pump while playing */
#define RECORD_VOD_SCAN_BUDGET (4u << 20) /* bytes scanned per pump while indexing */
#define RECORD_VOD_MAX_TAGS 256           /* tags queued per pump */
#define RECORD_VOD_MAX_TAG (16u << 20)    /* largest tag played */
#define RECORD_VOD_MAX_KEYS 262144        /* index entries */

struct record_vod_options {
    uint32_t chunk_size; /* RTMP chunk size the frames are encoded with */
    uint32_t lead_ms;    /* how far ahead of the clock tags are queued */
    int64_t start_ms;    /* play's start argument; < 0 = from the beginning */
};

struct record_vod_player {
    struct flv_file_reader r;
    struct buf tag;       /* the tag read but not yet due */
    struct flv_file_tag pending;
    int have_pending;
    struct record_vod_options opt;
    int scanning;         /* the index is being built */
    int running;          /* the clock has started */
    int paused;
    int ended;            /* every tag was queued */
    int meta_sent;        /* onMetaData went out */
    int need_headers;     /* sequence headers are due before the next tag */
    uint64_t off;         /* next tag to read */
    uint32_t pos_ts;      /* timestamp of the start point */
    uint32_t base_ts;     /* media time at base_wall_ms */
    uint64_t base_wall_ms;
    uint64_t last_pump_ms;
    uint64_t frames_sent;
    const char *error;    /* static reason after ST_ERROR */
};

/* Open path for playback. ST_OK with *out set, or ST_ERROR with a reason
 * in err (errlen bytes). */
int record_vod_player_open(struct record_vod_player **out, const char *path, const struct record_vod_options *o,
                           char *err, size_t errlen);
void record_vod_player_close(struct record_vod_player *v);

/* Queue what is due at now_ms (monotonic) into p. ST_OK: call again after
 * *next_ms; ST_DONE: every tag is queued (the end of the file); ST_ERROR:
 * the file cannot be read on (v->error). */
int record_vod_player_pump(struct record_vod_player *v, struct fanout_player *p, uint64_t now_ms,
                           uint64_t *next_ms);

/* Go to the keyframe at or before ms; the caller has dropped the player's
 * queue. Sequence headers are sent again before the keyframe. */
void record_vod_player_seek(struct record_vod_player *v, uint32_t ms);

/* Pause or resume the clock. */
void record_vod_player_pause(struct record_vod_player *v, int paused, uint64_t now_ms);

/* The file's duration as scanned so far (ms). */
uint32_t record_vod_player_duration(const struct record_vod_player *v);

#endif
