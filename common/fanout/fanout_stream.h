/*
 * fanout_stream: one live stream on a node as its players see it: the
 * cached metadata and codec headers, the current GOP (frames since the last
 * keyframe, for fast start), and the players attached to it.
 *
 * fanout_stream_push hands a frame to every player (one reference each, no
 * copy) and updates the caches; a late joiner added with
 * fanout_stream_add_player gets metadata, sequence headers and then the GOP
 * starting at its keyframe, so its first video frame is a keyframe.
 *
 * Bounds: the GOP cache holds at most gop_max_frames frames and
 * gop_max_bytes bytes; a GOP that outgrows them stops being cached until the
 * next keyframe (players then wait for a keyframe instead).
 *
 * Ownership: the owner embeds the struct; the stream holds one reference per
 * cached frame; players are borrowed (owned by their connections) and must be
 * removed before they are freed. Loop-confined.
 */
#ifndef SC_FANOUT_STREAM_H
#define SC_FANOUT_STREAM_H

#include "fanout/fanout_frame.h"
#include "fanout/fanout_player.h"

#include <stddef.h>
#include <stdint.h>

/* A tap sees every frame pushed to the stream, after the caches took it and
 * before players get it: outputs that encode frames once per stream (HLS
 * renditions, RTP packetizers, recorders) hang off a stream as taps instead
 * of as players. The tap is owned by whoever added it; it must be removed
 * before it is freed, and never from inside its own callbacks. `clear` (may
 * be NULL) runs when the caches are cleared (publisher gone). */
struct fanout_tap {
    void (*frame)(struct fanout_tap *t, struct fanout_frame *f);
    void (*clear)(struct fanout_tap *t);
    struct fanout_tap *next;
};

struct fanout_stream {
    struct fanout_frame *metadata;
    struct fanout_frame *video_header;
    struct fanout_frame *audio_header;
    struct fanout_frame **gop;
    uint32_t gop_count, gop_max_frames;
    size_t gop_bytes, gop_max_bytes;
    int gop_overflow; /* the current GOP outgrew the cache */

    struct fanout_player *players;
    uint32_t nplayers;
    struct fanout_tap *taps;

    uint64_t frames_in;
    uint64_t bytes_in;
    uint32_t last_timestamp;
};

int fanout_stream_init(struct fanout_stream *s, uint32_t gop_max_frames, size_t gop_max_bytes);
/* Release the caches. Players must have been removed. */
void fanout_stream_free(struct fanout_stream *s);

/* Deliver a frame to every player and cache what late joiners need. The
 * caller keeps its own reference. */
void fanout_stream_push(struct fanout_stream *s, struct fanout_frame *f, uint64_t now_ms);

/* Attach a player and queue the start-up frames for it. */
void fanout_stream_add_player(struct fanout_stream *s, struct fanout_player *p, uint64_t now_ms);
void fanout_stream_remove_player(struct fanout_stream *s, struct fanout_player *p);

/* Add/remove a tap (see struct fanout_tap). Adding replays nothing: a tap
 * that wants the codec headers or the GOP reads them from the stream. */
void fanout_stream_add_tap(struct fanout_stream *s, struct fanout_tap *t);
void fanout_stream_remove_tap(struct fanout_stream *s, struct fanout_tap *t);

/* Forget metadata, codec headers and the GOP (publisher gone); players stay. */
void fanout_stream_clear_cache(struct fanout_stream *s);

#endif
