#include "fanout/fanout_player.h"

#include "core/status.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* iovecs per writev: enough to batch a whole flush of a live player. */
#define FANOUT_IOV_MAX 64
/* First ring allocation: a player that keeps up rarely holds more. */
#define FANOUT_RING_INITIAL 32

int fanout_player_init(struct fanout_player *p, uint32_t ring_max, size_t max_bytes, size_t ctrl_max,
                       uint32_t max_behind_ms)
{
    memset(p, 0, sizeof(*p));
    p->ring_max = ring_max ? ring_max : 1;
    p->ring_cap = p->ring_max < FANOUT_RING_INITIAL ? p->ring_max : FANOUT_RING_INITIAL;
    p->ring = calloc(p->ring_cap, sizeof(*p->ring));
    if (!p->ring)
        return ST_ERROR;
    p->max_bytes = max_bytes;
    p->max_behind_ms = max_behind_ms;
    p->want_audio = p->want_video = 1;
    p->wait_key = 1;
    buf_init(&p->ctrl, ctrl_max);
    return ST_OK;
}

void fanout_player_free(struct fanout_player *p)
{
    for (uint32_t i = 0; i < p->count; i++)
        fanout_frame_unref(p->ring[(p->head + i) % p->ring_cap]);
    p->count = 0;
    free(p->ring);
    p->ring = NULL;
    buf_free(&p->ctrl);
}

/* Bytes f takes in this player's wire form. */
static inline uint32_t frame_len(const struct fanout_player *p, const struct fanout_frame *f)
{
    return p->flv ? fanout_frame_flv_len(f) : f->rtmp_len;
}

/* Add the iovecs of f from byte off of its wire form; returns how many
 * (at most 3, for HTTP-FLV: head, body, tail). */
static int frame_iov(const struct fanout_player *p, struct fanout_frame *f, uint32_t off, struct iovec *iov)
{
    if (!p->flv) {
        iov[0].iov_base = f->rtmp + off;
        iov[0].iov_len = f->rtmp_len - off;
        return 1;
    }
    struct { uint8_t *b; uint32_t len; } part[3] = {
        {f->flv_head, f->flv_head_len}, {f->body, f->body_len}, {f->flv_tail, FANOUT_FLV_TAIL}};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        if (off >= part[i].len) {
            off -= part[i].len;
            continue;
        }
        iov[n].iov_base = part[i].b + off;
        iov[n].iov_len = part[i].len - off;
        off = 0;
        n++;
    }
    return n;
}

int fanout_player_pending(const struct fanout_player *p) { return p->count > 0 || p->ctrl_off < p->ctrl.len; }

static void wake_if_idle(struct fanout_player *p, int was_pending)
{
    if (!was_pending && p->wake)
        p->wake(p);
}

void fanout_player_ctrl_appended(struct fanout_player *p)
{
    /* The owner cannot tell from the buffer alone whether it was empty
     * before, so waking here is unconditional; wake callbacks are idempotent. */
    if (p->wake && p->ctrl_off < p->ctrl.len)
        p->wake(p);
}

/* Double the ring (up to ring_max), keeping queue order. ST_OK or ST_ERROR. */
static int ring_grow(struct fanout_player *p)
{
    if (p->ring_cap >= p->ring_max)
        return ST_ERROR;
    uint32_t cap = p->ring_cap * 2 > p->ring_max ? p->ring_max : p->ring_cap * 2;
    struct fanout_frame **ring = calloc(cap, sizeof(*ring));
    if (!ring)
        return ST_ERROR;
    for (uint32_t i = 0; i < p->count; i++)
        ring[i] = p->ring[(p->head + i) % p->ring_cap];
    free(p->ring);
    p->ring = ring;
    p->ring_cap = cap;
    p->head = 0;
    return ST_OK;
}

/* Media time the queue would span with f: f's timestamp minus the oldest
 * queued audio/video frame's (codec headers and metadata carry 0 and are
 * skipped). A timeline that went backwards (new publisher) counts as 0. */
static int queued_too_long(const struct fanout_player *p, const struct fanout_frame *f)
{
    if (p->max_queue_ms == 0 || !p->blocked)
        return 0;
    /* A partly written head is on its way out and cannot be dropped. */
    for (uint32_t i = p->head_off > 0 ? 1 : 0; i < p->count; i++) {
        const struct fanout_frame *q = p->ring[(p->head + i) % p->ring_cap];
        if (q->flags & (FANOUT_FLAG_SEQ_HEADER | FANOUT_FLAG_METADATA))
            continue;
        /* The GOP a late joiner starts with is behind live by design (fast
         * start); only what arrived live since counts. */
        if (p->live_from_set && (int32_t)(q->timestamp - p->live_from_ts) < 0)
            continue;
        int32_t span = (int32_t)(f->timestamp - q->timestamp);
        return span > (int32_t)p->max_queue_ms;
    }
    return 0;
}

static void note_behind(struct fanout_player *p, uint64_t now_ms)
{
    if (p->behind_since_ms == 0)
        p->behind_since_ms = now_ms ? now_ms : 1;
    else if (p->max_behind_ms && now_ms - p->behind_since_ms > p->max_behind_ms && !p->failed)
        p->failed = "player too slow: behind for longer than player_max_behind";
}

static void note_drop(struct fanout_player *p, uint64_t now_ms)
{
    p->frames_dropped++;
    note_behind(p, now_ms);
}

/* Drop the queued audio/video frames, keeping codec headers, metadata and
 * a partly written head frame (its remaining chunks must go out), in order;
 * video then waits for a keyframe. */
static void drop_media(struct fanout_player *p)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < p->count; i++) {
        struct fanout_frame *f = p->ring[(p->head + i) % p->ring_cap];
        int keep = (i == 0 && p->head_off > 0) || (f->flags & (FANOUT_FLAG_SEQ_HEADER | FANOUT_FLAG_METADATA));
        if (keep) {
            p->ring[(p->head + kept) % p->ring_cap] = f;
            kept++;
        } else {
            p->queued_bytes -= frame_len(p, f);
            p->frames_dropped++;
            fanout_frame_unref(f);
        }
    }
    for (uint32_t i = kept; i < p->count; i++)
        p->ring[(p->head + i) % p->ring_cap] = NULL;
    p->count = kept;
    p->wait_key = 1;
}

void fanout_player_enqueue(struct fanout_player *p, struct fanout_frame *f, uint64_t now_ms)
{
    int essential = (f->flags & (FANOUT_FLAG_SEQ_HEADER | FANOUT_FLAG_METADATA)) != 0;
    if (!essential) {
        if (f->kind == FANOUT_VIDEO) {
            if (!p->want_video)
                return;
            if (p->wait_key) {
                if (!(f->flags & FANOUT_FLAG_KEY))
                    return;
            }
        } else if (f->kind == FANOUT_AUDIO && !p->want_audio) {
            return;
        }
    }
    if (!essential && queued_too_long(p, f)) {
        /* The player is max_queue_ms behind live: dropping f alone would
         * leave it reading ever older frames (a quarter-rate reader drains
         * 3 s of media in 12 s), so drop what is queued and resume at the
         * next keyframe; f itself goes in if it is one, or is audio. */
        drop_media(p);
        note_behind(p, now_ms);
        if (f->kind == FANOUT_VIDEO && !(f->flags & FANOUT_FLAG_KEY)) {
            p->frames_dropped++;
            return;
        }
    }
    if (p->count == p->ring_cap)
        ring_grow(p); /* at ring_max (or out of memory) the ring stays full */
    int over = p->count == p->ring_cap ||
               (!essential && (p->queued_bytes + frame_len(p, f) > p->max_bytes || queued_too_long(p, f)));
    if (over) {
        if (essential && p->count == p->ring_cap) {
            /* Cannot even queue codec headers: this player is hopeless. */
            p->failed = "player queue full";
            return;
        }
        if (!essential) {
            if (f->kind == FANOUT_VIDEO)
                p->wait_key = 1;
            note_drop(p, now_ms);
            return;
        }
    }
    if (f->kind == FANOUT_VIDEO && (f->flags & FANOUT_FLAG_KEY))
        p->wait_key = 0;
    int was_pending = fanout_player_pending(p);
    p->ring[(p->head + p->count) % p->ring_cap] = fanout_frame_ref(f);
    p->count++;
    p->queued_bytes += frame_len(p, f);
    p->frames_queued++;
    wake_if_idle(p, was_pending);
}

void fanout_player_drop_queue(struct fanout_player *p)
{
    /* Keep a partly written head frame: its remaining chunks must go out. */
    uint32_t keep = p->head_off > 0 ? 1 : 0;
    for (uint32_t i = keep; i < p->count; i++) {
        struct fanout_frame *f = p->ring[(p->head + i) % p->ring_cap];
        p->queued_bytes -= frame_len(p, f);
        fanout_frame_unref(f);
    }
    p->count = keep;
    p->wait_key = 1;
}

/* Pop the head frame after it has been written completely. */
static void pop_head(struct fanout_player *p)
{
    struct fanout_frame *f = p->ring[p->head];
    p->queued_bytes -= frame_len(p, f);
    fanout_frame_unref(f);
    p->ring[p->head] = NULL;
    p->head = (p->head + 1) % p->ring_cap;
    p->count--;
    p->head_off = 0;
}

/* Advance over at most max frames' worth of *written bytes, popping the
 * frames finished and leaving an offset into a partly written one. */
static void consume_frames(struct fanout_player *p, size_t *written, uint32_t max)
{
    for (uint32_t i = 0; i < max && *written > 0 && p->count > 0; i++) {
        struct fanout_frame *f = p->ring[p->head];
        size_t left = frame_len(p, f) - p->head_off;
        if (*written < left) {
            p->head_off += (uint32_t)*written;
            *written = 0;
            return;
        }
        *written -= left;
        pop_head(p);
    }
}

int fanout_player_flush(struct fanout_player *p, fanout_writev_cb cb, void *ctx)
{
    for (;;) {
        struct iovec iov[FANOUT_IOV_MAX];
        int n = 0;
        uint32_t first_frame = 0; /* frames covered by iov, in ring order */
        int head_first = p->head_off > 0 && p->count > 0;
        if (head_first) {
            n += frame_iov(p, p->ring[p->head], p->head_off, iov + n);
            first_frame = 1;
        }
        size_t ctrl_left = p->ctrl.len - p->ctrl_off;
        if (ctrl_left) {
            iov[n].iov_base = p->ctrl.data + p->ctrl_off;
            iov[n].iov_len = ctrl_left;
            n++;
        }
        uint32_t nframes = first_frame;
        while (n + 3 <= FANOUT_IOV_MAX && nframes < p->count) {
            n += frame_iov(p, p->ring[(p->head + nframes) % p->ring_cap], 0, iov + n);
            nframes++;
        }
        if (n == 0) {
            p->blocked = 0;
            /* The handshake leaves a 4 KiB buffer behind: give it back, a
             * player's later private bytes are a few status messages. */
            if (p->ctrl.cap > 1024)
                buf_free(&p->ctrl);
            buf_reset(&p->ctrl);
            p->ctrl_off = 0;
            p->behind_since_ms = 0; /* drained: the player has caught up */
            return ST_OK;
        }
        size_t offered = 0;
        for (int i = 0; i < n; i++)
            offered += iov[i].iov_len;
        size_t written = 0;
        int rc = cb(ctx, iov, n, &written);
        size_t offered_written = written;
        if (rc == ST_ERROR)
            return ST_ERROR;
        p->bytes_written += written;
        /* Account what was written, in the same order the iovecs were built. */
        if (head_first)
            consume_frames(p, &written, 1);
        if (ctrl_left && written > 0) {
            size_t take = written < ctrl_left ? written : ctrl_left;
            p->ctrl_off += take;
            written -= take;
            if (p->ctrl_off == p->ctrl.len) {
                buf_reset(&p->ctrl);
                p->ctrl_off = 0;
            }
        }
        consume_frames(p, &written, UINT32_MAX);
        /* A short write means the socket is full; a full one may leave
         * frames beyond FANOUT_IOV_MAX, so go round again. */
        if (rc == ST_AGAIN || offered_written < offered) {
            p->blocked = 1;
            return ST_AGAIN;
        }
    }
}
