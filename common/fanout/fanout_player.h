/*
 * fanout_player: the output queue of one connection: a bounded ring of
 * shared frame references plus a small buffer of private bytes (handshake
 * replies, status events, control messages), written with writev.
 *
 * Order: private bytes go out before queued frames, except that a frame
 * already partly written is finished first (chunks must not interleave
 * mid-message). Frames are never copied: iovecs point into frame->rtmp.
 *
 * Bounds and slow readers (DESIGN.md 4): a frame that would take the queue
 * over max_bytes, or a full ring, is dropped; a dropped video frame makes the
 * player skip video until the next keyframe (wait_key) while audio keeps
 * flowing where it fits. A frame more than max_queue_ms of media after the
 * oldest queued audio/video frame not yet being written means the player is
 * that far behind live: the queued audio/video is dropped instead (a partly
 * written head stays) and video resumes at the next keyframe, so a slow
 * reader does not go on reading ever older frames. Sequence headers and
 * metadata are never dropped. A
 * player that keeps dropping for longer than max_behind_ms gets p->failed set
 * (a static reason); its owner closes it.
 *
 * Ownership: the owner embeds the struct, calls init/free. The queue holds
 * one reference per queued frame and drops them on free. `wake` is called
 * (if set) when the queue goes from empty to non-empty so the owner can
 * schedule one flush per loop turn. Loop-confined.
 */
#ifndef SC_FANOUT_PLAYER_H
#define SC_FANOUT_PLAYER_H

#include "core/buf.h"
#include "fanout/fanout_frame.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct fanout_stream;
struct fanout_player;

/* Write iov; set *written (may be partial). ST_OK, ST_AGAIN (nothing could
 * be written now) or ST_ERROR (connection broken). */
typedef int (*fanout_writev_cb)(void *ctx, const struct iovec *iov, int iovcnt, size_t *written);
typedef void (*fanout_wake_cb)(struct fanout_player *p);

struct fanout_player {
    struct fanout_frame **ring;
    uint32_t ring_cap;  /* slots allocated: starts small, doubles up to ring_max */
    uint32_t ring_max;  /* frame slots at most (player_queue_frames) */
    uint32_t head;      /* index of the oldest queued frame */
    uint32_t count;     /* frames queued */
    uint32_t head_off;  /* bytes of ring[head] already written */
    size_t queued_bytes; /* rtmp bytes queued, not yet written */
    size_t max_bytes;
    uint32_t max_queue_ms; /* media time queued before dropping, 0 = bytes only */
    uint32_t live_from_ts; /* the live edge when the player joined: the start-up
                              GOP before it does not count against max_queue_ms */
    int live_from_set;
    int blocked;           /* the last flush found the socket full: only a
                              blocked player counts as behind (a burst queued
                              within one loop turn is not) */
    uint32_t max_behind_ms;

    struct buf ctrl;    /* private bytes */
    size_t ctrl_off;    /* bytes of ctrl already written */

    int wait_key;       /* skip video until a keyframe */
    int want_audio, want_video;
    int flv;            /* write frames in their HTTP-FLV form (fanout_frame.h),
                           not as RTMP chunks; set before the first enqueue */
    const char *failed; /* set when the drop policy gives up on this player */
    uint64_t behind_since_ms; /* 0 = keeping up */

    uint64_t frames_dropped;
    uint64_t frames_queued;
    uint64_t bytes_written;

    /* membership in a fanout_stream */
    struct fanout_stream *stream;
    struct fanout_player *prev, *next;

    fanout_wake_cb wake;
    void *owner;
};

/* Ring of up to ring_max frame slots (allocated as needed, so an idle or
 * keeping-up player costs a few hundred bytes); max_bytes bounds queued
 * frame bytes; ctrl_max bounds private bytes. ST_OK or ST_ERROR (allocation). */
int fanout_player_init(struct fanout_player *p, uint32_t ring_max, size_t max_bytes, size_t ctrl_max,
                       uint32_t max_behind_ms);
/* Drop every queued reference and the buffers. Must not be in a stream. */
void fanout_player_free(struct fanout_player *p);

/* Queue a frame under the drop policy; takes its own reference. now_ms is a
 * monotonic clock for the behind timer. */
void fanout_player_enqueue(struct fanout_player *p, struct fanout_frame *f, uint64_t now_ms);

/* Whether anything is waiting to be written. */
int fanout_player_pending(const struct fanout_player *p);

/* Tell the owner new private bytes were appended to p->ctrl. */
void fanout_player_ctrl_appended(struct fanout_player *p);

/* Write as much as the socket takes. ST_OK: queue empty. ST_AGAIN: the
 * socket is full, call again when writable. ST_ERROR: write failed. */
int fanout_player_flush(struct fanout_player *p, fanout_writev_cb cb, void *ctx);

/* Drop queued frames (not private bytes, not a partly written frame) and
 * wait for the next keyframe: used on pause and on stream restarts. */
void fanout_player_drop_queue(struct fanout_player *p);

#endif
