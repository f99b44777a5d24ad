/*
 * Unit tests for fanout_player and fanout_frame: write order, partial writes
 * at every byte offset, the drop policy and its behind timer, the ring bound,
 * drop_queue, want_audio/want_video, reference counts, and the RTMP form of
 * a frame parsed back with rtmp_chunk_reader.
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/status.h"
#include "fanout/fanout_frame.h"
#include "fanout/fanout_player.h"
#include "rtmp/rtmp_chunk_reader.h"
#include "rtmp/rtmp_message.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK 128

/* A frame whose body is a recognisable pattern seeded by ts. */
static struct fanout_frame *mk(uint8_t kind, uint8_t flags, uint32_t ts, uint32_t len)
{
    uint8_t *body = malloc(len ? len : 1);
    for (uint32_t i = 0; i < len; i++)
        body[i] = (uint8_t)(ts * 31 + i * 7);
    struct fanout_frame *f = fanout_frame_new(kind, flags, ts, body, len, CHUNK);
    free(body);
    cr_assert_not_null(f);
    return f;
}

/* ---- a fake socket ---- */

struct sink {
    struct buf got;   /* everything written so far */
    size_t budget;    /* bytes it accepts before it is "full" */
    size_t per_call;  /* at most this many per writev (0 = no limit) */
    int calls;
    int fail;         /* return ST_ERROR */
};

static int sink_writev(void *ctx, const struct iovec *iov, int iovcnt, size_t *written)
{
    struct sink *s = ctx;
    s->calls++;
    *written = 0;
    if (s->fail)
        return ST_ERROR;
    cr_assert_gt(iovcnt, 0);
    if (s->budget == 0)
        return ST_AGAIN;
    size_t take = s->budget;
    if (s->per_call && take > s->per_call)
        take = s->per_call;
    for (int i = 0; i < iovcnt && take > 0; i++) {
        cr_assert_gt(iov[i].iov_len, 0, "empty iovec");
        size_t n = iov[i].iov_len < take ? iov[i].iov_len : take;
        cr_assert_eq(buf_append(&s->got, iov[i].iov_base, n), ST_OK);
        take -= n;
        s->budget -= n;
        *written += n;
    }
    return ST_OK;
}

static void sink_init(struct sink *s, size_t budget)
{
    memset(s, 0, sizeof(*s));
    buf_init(&s->got, 1u << 24);
    s->budget = budget;
}

static void ctrl(struct fanout_player *p, const char *bytes)
{
    cr_assert_eq(buf_append(&p->ctrl, bytes, strlen(bytes)), ST_OK);
    fanout_player_ctrl_appended(p);
}

static void expect_append(struct buf *e, const void *p, size_t n) { cr_assert_eq(buf_append(e, p, n), ST_OK); }

static int wakes;
static void on_wake(struct fanout_player *p) { wakes++; }

/* ---- order ---- */

Test(player, ctrl_before_frames)
{
    long live0 = fanout_frame_live_count();
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 16, 1 << 20, 1 << 16, 1000), ST_OK);
    p.wake = on_wake;
    wakes = 0;
    struct fanout_frame *k = mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 40, 300);
    fanout_player_enqueue(&p, k, 1);
    cr_assert_eq(wakes, 1);
    ctrl(&p, "CTRL");
    cr_assert(fanout_player_pending(&p));
    struct sink s;
    sink_init(&s, SIZE_MAX);
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_OK);
    struct buf e;
    buf_init(&e, 1 << 20);
    expect_append(&e, "CTRL", 4);
    expect_append(&e, k->rtmp, k->rtmp_len);
    cr_assert_eq(s.got.len, e.len);
    cr_assert_arr_eq(s.got.data, e.data, e.len);
    cr_assert_not(fanout_player_pending(&p));
    cr_assert_eq(p.bytes_written, e.len);
    cr_assert_eq(p.queued_bytes, 0);
    fanout_frame_unref(k);
    fanout_player_free(&p);
    buf_free(&e);
    buf_free(&s.got);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

/* C1 and frames F1..F3 queued; the socket takes k bytes and is full; then C2
 * and F4 arrive and the socket drains. The output must be the first k bytes
 * of C1 F1 F2 F3, then the rest of whatever was cut (a frame is finished
 * before private bytes), then C2, then the remaining frames and F4. */
static void run_cut(size_t k, struct fanout_frame **fr, size_t per_call)
{
    static const char c1[] = "<c1-private>", c2[] = "<c2>";
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 16, 1 << 20, 1 << 16, 1000), ST_OK);
    ctrl(&p, c1);
    for (int i = 0; i < 3; i++)
        fanout_player_enqueue(&p, fr[i], 1);
    struct buf first;
    buf_init(&first, 1 << 20);
    expect_append(&first, c1, strlen(c1));
    size_t ends[4];
    ends[0] = first.len;
    for (int i = 0; i < 3; i++) {
        expect_append(&first, fr[i]->rtmp, fr[i]->rtmp_len);
        ends[i + 1] = first.len;
    }
    struct sink s;
    sink_init(&s, k);
    s.per_call = per_call;
    int rc;
    do
        rc = fanout_player_flush(&p, sink_writev, &s);
    while (rc == ST_AGAIN && s.budget > 0);
    cr_assert_eq(rc, k >= first.len ? ST_OK : ST_AGAIN, "k=%zu", k);
    cr_assert_eq(s.got.len, k < first.len ? k : first.len);

    ctrl(&p, c2);
    fanout_player_enqueue(&p, fr[3], 2);

    /* Expected: the cut piece finished, C2, the rest. */
    struct buf e;
    buf_init(&e, 1 << 20);
    size_t piece = 0; /* index of the piece k falls into (0 = C1, i = Fi) */
    while (piece < 4 && k >= ends[piece])
        piece++;
    size_t upto = piece < 4 ? ends[piece] : first.len;
    if (piece < 4 && k == (piece ? ends[piece - 1] : 0))
        upto = k; /* cut on a boundary: nothing to finish */
    if (piece == 0)
        upto = ends[0]; /* private bytes are one buffer with C2: C1 goes out whole first anyway */
    expect_append(&e, first.data, upto);
    expect_append(&e, c2, strlen(c2));
    expect_append(&e, first.data + upto, first.len - upto);
    expect_append(&e, fr[3]->rtmp, fr[3]->rtmp_len);

    s.budget = SIZE_MAX;
    int guard = 0;
    while ((rc = fanout_player_flush(&p, sink_writev, &s)) == ST_AGAIN)
        cr_assert_lt(++guard, 100000);
    cr_assert_eq(rc, ST_OK);
    cr_assert_eq(s.got.len, e.len, "k=%zu: %zu bytes, expected %zu", k, s.got.len, e.len);
    cr_assert_arr_eq(s.got.data, e.data, e.len, "k=%zu: wrong byte order", k);
    cr_assert_eq(p.bytes_written, e.len);
    cr_assert_eq(p.queued_bytes, 0);
    cr_assert_eq(p.count, 0);
    cr_assert_not(fanout_player_pending(&p));
    fanout_player_free(&p);
    buf_free(&e);
    buf_free(&first);
    buf_free(&s.got);
}

Test(player, partial_write_at_every_offset)
{
    long live0 = fanout_frame_live_count();
    struct fanout_frame *fr[4] = {
        mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 300),
        mk(FANOUT_AUDIO, 0, 10, 20),
        mk(FANOUT_VIDEO, 0, 40, 129),
        mk(FANOUT_AUDIO, 0, 50, 7),
    };
    size_t total = strlen("<c1-private>") + fr[0]->rtmp_len + fr[1]->rtmp_len + fr[2]->rtmp_len;
    for (size_t k = 0; k <= total + 1; k++)
        run_cut(k, fr, 0);
    /* The same with a socket that takes at most 3 bytes per writev. */
    for (size_t k = 0; k <= total; k += 5)
        run_cut(k, fr, 3);
    for (int i = 0; i < 4; i++)
        fanout_frame_unref(fr[i]);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(player, drip_writes_reproduce_the_stream)
{
    /* More frames than one writev carries, drained n bytes per call. */
    long live0 = fanout_frame_live_count();
    for (size_t per = 1; per <= 700; per += 37) {
        struct fanout_player p;
        cr_assert_eq(fanout_player_init(&p, 256, 1 << 22, 1 << 16, 1000), ST_OK);
        struct buf e;
        buf_init(&e, 1 << 22);
        for (uint32_t i = 0; i < 150; i++) {
            struct fanout_frame *f = mk(i % 3 ? FANOUT_AUDIO : FANOUT_VIDEO, i == 0 ? FANOUT_FLAG_KEY : 0, i, 1 + i * 3);
            fanout_player_enqueue(&p, f, 1);
            expect_append(&e, f->rtmp, f->rtmp_len);
            fanout_frame_unref(f);
        }
        cr_assert_eq(p.count, 150);
        struct sink s;
        sink_init(&s, SIZE_MAX);
        s.per_call = per;
        int rc, guard = 0;
        while ((rc = fanout_player_flush(&p, sink_writev, &s)) == ST_AGAIN)
            cr_assert_lt(++guard, 1000000);
        cr_assert_eq(rc, ST_OK);
        cr_assert_eq(s.got.len, e.len);
        cr_assert_arr_eq(s.got.data, e.data, e.len);
        fanout_player_free(&p);
        buf_free(&e);
        buf_free(&s.got);
    }
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(player, write_error)
{
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 4, 1 << 20, 1 << 16, 1000), ST_OK);
    ctrl(&p, "x");
    struct sink s;
    sink_init(&s, SIZE_MAX);
    s.fail = 1;
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_ERROR);
    fanout_player_free(&p);
    buf_free(&s.got);
}

/* ---- drop policy ---- */

Test(player, starts_waiting_for_a_keyframe)
{
    long live0 = fanout_frame_live_count();
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 16, 1 << 20, 1 << 16, 1000), ST_OK);
    struct fanout_frame *v = mk(FANOUT_VIDEO, 0, 0, 50), *k = mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 40, 50);
    fanout_player_enqueue(&p, v, 1);
    cr_assert_eq(p.count, 0);
    fanout_player_enqueue(&p, k, 1);
    fanout_player_enqueue(&p, v, 1);
    cr_assert_eq(p.count, 2);
    cr_assert_eq(p.ring[p.head], k);
    cr_assert_eq(p.wait_key, 0);
    cr_assert_eq(k->refs, 2);
    fanout_player_free(&p);
    cr_assert_eq(k->refs, 1);
    fanout_frame_unref(v);
    fanout_frame_unref(k);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(player, drop_policy)
{
    long live0 = fanout_frame_live_count();
    struct fanout_frame *key = mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 200);
    struct fanout_frame *inter = mk(FANOUT_VIDEO, 0, 40, 200);
    struct fanout_frame *aud = mk(FANOUT_AUDIO, 0, 20, 50);
    struct fanout_frame *vhdr = mk(FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, 400);
    struct fanout_frame *ahdr = mk(FANOUT_AUDIO, FANOUT_FLAG_SEQ_HEADER, 0, 400);
    struct fanout_frame *meta = mk(FANOUT_DATA, FANOUT_FLAG_METADATA, 0, 400);
    struct fanout_player p;
    /* Room for a keyframe and one inter frame. */
    size_t max = key->rtmp_len + inter->rtmp_len;
    cr_assert_eq(fanout_player_init(&p, 64, max, 1 << 16, 0), ST_OK);
    fanout_player_enqueue(&p, key, 1);
    fanout_player_enqueue(&p, inter, 1);
    cr_assert_eq(p.count, 2);
    cr_assert_eq(p.frames_dropped, 0);
    /* Over: the inter frame is dropped and video waits for a keyframe. */
    fanout_player_enqueue(&p, inter, 2);
    cr_assert_eq(p.count, 2);
    cr_assert_eq(p.frames_dropped, 1);
    cr_assert_eq(p.wait_key, 1);
    /* Audio is dropped only because it does not fit. */
    fanout_player_enqueue(&p, aud, 3);
    cr_assert_eq(p.frames_dropped, 2);
    cr_assert_eq(p.wait_key, 1);
    /* Codec headers and metadata go in even over the limit. */
    fanout_player_enqueue(&p, vhdr, 4);
    fanout_player_enqueue(&p, ahdr, 4);
    fanout_player_enqueue(&p, meta, 4);
    cr_assert_eq(p.count, 5);
    cr_assert_eq(p.frames_dropped, 2);
    cr_assert_null(p.failed);

    /* Drain; audio fits again while video still waits for a keyframe. */
    struct sink s;
    sink_init(&s, SIZE_MAX);
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_OK);
    fanout_player_enqueue(&p, aud, 5);
    cr_assert_eq(p.count, 1);
    fanout_player_enqueue(&p, inter, 5);
    cr_assert_eq(p.count, 1, "inter frame queued while waiting for a keyframe");
    cr_assert_eq(p.wait_key, 1);
    fanout_player_enqueue(&p, key, 6);
    cr_assert_eq(p.wait_key, 0);
    cr_assert_eq(p.count, 2);
    cr_assert_eq(p.queued_bytes, aud->rtmp_len + key->rtmp_len);
    cr_assert_eq(p.frames_queued, 2 + 3 + 2);
    /* aud + key + inter is over the limit again. */
    fanout_player_enqueue(&p, inter, 6);
    cr_assert_eq(p.count, 2);
    cr_assert_eq(p.frames_dropped, 3);
    cr_assert_eq(p.wait_key, 1);
    /* A keyframe that does not fit is dropped too and keeps wait_key. */
    fanout_player_enqueue(&p, key, 7);
    cr_assert_eq(p.wait_key, 1);
    cr_assert_eq(p.frames_dropped, 4);
    /* Once drained, the keyframe and the inter frame after it both fit. */
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_OK);
    fanout_player_enqueue(&p, key, 8);
    fanout_player_enqueue(&p, inter, 8);
    cr_assert_eq(p.count, 2);
    cr_assert_eq(p.wait_key, 0);
    cr_assert_eq(p.frames_dropped, 4);

    fanout_player_free(&p);
    buf_free(&s.got);
    struct fanout_frame *all[] = {key, inter, aud, vhdr, ahdr, meta};
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(all[i]->refs, 1, "frame %d leaked a reference", i);
        fanout_frame_unref(all[i]);
    }
    cr_assert_eq(fanout_frame_live_count(), live0);
}

static void fill_and_stall(struct fanout_player *p, struct fanout_frame *a)
{
    while (p->queued_bytes + a->rtmp_len <= p->max_bytes)
        fanout_player_enqueue(p, a, 1);
}

Test(player, behind_timer)
{
    long live0 = fanout_frame_live_count();
    struct fanout_frame *a = mk(FANOUT_AUDIO, 0, 0, 100);
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 64, 3 * a->rtmp_len, 1 << 16, 1000), ST_OK);
    fill_and_stall(&p, a);
    cr_assert_eq(p.count, 3);
    fanout_player_enqueue(&p, a, 100); /* first drop starts the timer */
    cr_assert_eq(p.frames_dropped, 1);
    cr_assert_null(p.failed);
    fanout_player_enqueue(&p, a, 600);
    fanout_player_enqueue(&p, a, 1100); /* exactly max_behind_ms: not yet */
    cr_assert_null(p.failed, "failed before max_behind_ms");
    fanout_player_enqueue(&p, a, 1101);
    cr_assert_not_null(p.failed);
    fanout_player_free(&p);

    /* Draining the queue resets the timer. */
    cr_assert_eq(fanout_player_init(&p, 64, 3 * a->rtmp_len, 1 << 16, 1000), ST_OK);
    fill_and_stall(&p, a);
    fanout_player_enqueue(&p, a, 100);
    fanout_player_enqueue(&p, a, 900);
    struct sink s;
    sink_init(&s, SIZE_MAX);
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_OK);
    cr_assert_eq(p.behind_since_ms, 0);
    fill_and_stall(&p, a);
    fanout_player_enqueue(&p, a, 1500);
    fanout_player_enqueue(&p, a, 2400);
    fanout_player_enqueue(&p, a, 2500);
    cr_assert_null(p.failed, "behind timer not reset by the drain");
    fanout_player_enqueue(&p, a, 2501);
    cr_assert_not_null(p.failed);
    fanout_player_free(&p);
    buf_free(&s.got);

    /* A partial drain is not catching up. */
    cr_assert_eq(fanout_player_init(&p, 64, 3 * a->rtmp_len, 1 << 16, 1000), ST_OK);
    fill_and_stall(&p, a);
    fanout_player_enqueue(&p, a, 100);
    sink_init(&s, a->rtmp_len + 1);
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_AGAIN);
    cr_assert_eq(p.behind_since_ms, 100);
    fanout_player_free(&p);
    buf_free(&s.got);

    fanout_frame_unref(a);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(player, ring_full)
{
    long live0 = fanout_frame_live_count();
    struct fanout_frame *a = mk(FANOUT_AUDIO, 0, 0, 10);
    struct fanout_frame *hdr = mk(FANOUT_AUDIO, FANOUT_FLAG_SEQ_HEADER, 0, 4);
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 4, 1 << 20, 1 << 16, 1000), ST_OK);
    for (int i = 0; i < 4; i++)
        fanout_player_enqueue(&p, a, 1);
    cr_assert_eq(p.count, 4);
    fanout_player_enqueue(&p, a, 1);
    cr_assert_eq(p.count, 4);
    cr_assert_eq(p.frames_dropped, 1);
    cr_assert_null(p.failed);
    /* A codec header that cannot be queued gives up on the player. */
    fanout_player_enqueue(&p, hdr, 1);
    cr_assert_eq(p.count, 4);
    cr_assert_not_null(p.failed);
    cr_assert_eq(hdr->refs, 1);
    /* The ring wraps correctly once drained and refilled. */
    struct sink s;
    sink_init(&s, 2 * a->rtmp_len);
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_AGAIN);
    cr_assert_eq(p.count, 2);
    fanout_player_enqueue(&p, hdr, 1);
    fanout_player_enqueue(&p, a, 1);
    cr_assert_eq(p.count, 4);
    s.budget = SIZE_MAX;
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_OK);
    struct buf e;
    buf_init(&e, 1 << 16);
    for (int i = 0; i < 4; i++)
        expect_append(&e, a->rtmp, a->rtmp_len);
    expect_append(&e, hdr->rtmp, hdr->rtmp_len);
    expect_append(&e, a->rtmp, a->rtmp_len);
    cr_assert_eq(s.got.len, e.len);
    cr_assert_arr_eq(s.got.data, e.data, e.len);
    fanout_player_free(&p);
    buf_free(&e);
    buf_free(&s.got);
    fanout_frame_unref(a);
    fanout_frame_unref(hdr);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(player, drop_queue_keeps_partly_written_head)
{
    long live0 = fanout_frame_live_count();
    struct fanout_frame *fr[3] = {mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 300), mk(FANOUT_AUDIO, 0, 1, 30),
                                  mk(FANOUT_VIDEO, 0, 2, 100)};
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 8, 1 << 20, 1 << 16, 1000), ST_OK);
    for (int i = 0; i < 3; i++)
        fanout_player_enqueue(&p, fr[i], 1);
    struct sink s;
    sink_init(&s, 10);
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_AGAIN);
    cr_assert_eq(p.head_off, 10);
    fanout_player_drop_queue(&p);
    cr_assert_eq(p.count, 1);
    cr_assert_eq(p.queued_bytes, fr[0]->rtmp_len);
    cr_assert_eq(p.wait_key, 1);
    cr_assert_eq(fr[1]->refs, 1);
    cr_assert_eq(fr[2]->refs, 1);
    ctrl(&p, "Z");
    s.budget = SIZE_MAX;
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_OK);
    cr_assert_eq(s.got.len, fr[0]->rtmp_len + 1);
    cr_assert_arr_eq(s.got.data, fr[0]->rtmp, fr[0]->rtmp_len);
    cr_assert_eq(s.got.data[fr[0]->rtmp_len], 'Z');

    /* Nothing partly written: everything goes. */
    for (int i = 0; i < 3; i++)
        fanout_player_enqueue(&p, fr[i], 1);
    cr_assert_eq(p.count, 3);
    fanout_player_drop_queue(&p);
    cr_assert_eq(p.count, 0);
    cr_assert_eq(p.queued_bytes, 0);
    cr_assert_not(fanout_player_pending(&p));
    fanout_player_free(&p);
    buf_free(&s.got);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(fr[i]->refs, 1);
        fanout_frame_unref(fr[i]);
    }
    cr_assert_eq(fanout_frame_live_count(), live0);
}

/* player_max_delay: a player max_queue_ms behind live loses its queued media
 * (not just the newest frame, which would leave it reading ever older
 * frames) and resumes at the next keyframe; codec headers and a partly
 * written head stay, and a partly written head does not count as behind. */
Test(player, time_bound_drops_the_queue)
{
    long live0 = fanout_frame_live_count();
    struct fanout_frame *hdr = mk(FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, 40);
    struct fanout_frame *k0 = mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 300);
    struct fanout_frame *v1 = mk(FANOUT_VIDEO, 0, 500, 100), *a1 = mk(FANOUT_AUDIO, 0, 900, 30);
    struct fanout_frame *v2 = mk(FANOUT_VIDEO, 0, 1001, 100), *a2 = mk(FANOUT_AUDIO, 0, 1020, 30);
    struct fanout_frame *k2 = mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 2000, 300);
    struct fanout_frame *v3 = mk(FANOUT_VIDEO, 0, 2500, 100);
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 64, 1 << 20, 1 << 16, 0), ST_OK);
    p.max_queue_ms = 1000;
    p.blocked = 1; /* the socket is full: the player is behind */
    fanout_player_enqueue(&p, hdr, 1);
    fanout_player_enqueue(&p, k0, 1);
    fanout_player_enqueue(&p, v1, 2);
    fanout_player_enqueue(&p, a1, 2);
    cr_assert_eq(p.count, 4);
    cr_assert_eq(p.frames_dropped, 0);
    /* 1001 ms after the oldest queued media: all media goes, v2 too. */
    fanout_player_enqueue(&p, v2, 3);
    cr_assert_eq(p.count, 1);
    cr_assert_eq(p.ring[p.head], hdr);
    cr_assert_eq(p.queued_bytes, hdr->rtmp_len);
    cr_assert_eq(p.frames_dropped, 4);
    cr_assert_eq(p.wait_key, 1);
    cr_assert_neq(p.behind_since_ms, 0);
    cr_assert_eq(k0->refs, 1);
    /* Audio and the next keyframe go in again. */
    fanout_player_enqueue(&p, a2, 4);
    fanout_player_enqueue(&p, k2, 4);
    cr_assert_eq(p.count, 3);
    cr_assert_eq(p.wait_key, 0);
    /* Write the header, a2 and part of k2: k2 is on its way out. */
    struct sink s;
    sink_init(&s, hdr->rtmp_len + a2->rtmp_len + 10);
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_AGAIN);
    cr_assert_eq(p.count, 1);
    cr_assert_eq(p.head_off, 10);
    /* v3 is 1480 ms after a2 but only 500 after k2, which is partly written
     * and not counted: it is queued. */
    fanout_player_enqueue(&p, v3, 5);
    cr_assert_eq(p.count, 2);
    cr_assert_eq(p.frames_dropped, 4);
    s.budget = SIZE_MAX;
    cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_OK);
    cr_assert_eq(p.count, 0);
    cr_assert_eq(s.got.len, hdr->rtmp_len + a2->rtmp_len + k2->rtmp_len + v3->rtmp_len);
    fanout_player_free(&p);
    buf_free(&s.got);
    struct fanout_frame *all[] = {hdr, k0, v1, a1, v2, a2, k2, v3};
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(all[i]->refs, 1);
        fanout_frame_unref(all[i]);
    }
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(player, want_audio_video)
{
    long live0 = fanout_frame_live_count();
    struct fanout_frame *a = mk(FANOUT_AUDIO, 0, 0, 10), *k = mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 10);
    struct fanout_frame *vh = mk(FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, 10);
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 8, 1 << 20, 1 << 16, 1000), ST_OK);
    p.want_audio = 0;
    fanout_player_enqueue(&p, a, 1);
    cr_assert_eq(p.count, 0);
    fanout_player_enqueue(&p, k, 1);
    cr_assert_eq(p.count, 1);
    p.want_audio = 1;
    p.want_video = 0;
    fanout_player_enqueue(&p, k, 1);
    cr_assert_eq(p.count, 1);
    fanout_player_enqueue(&p, a, 1);
    cr_assert_eq(p.count, 2);
    fanout_player_enqueue(&p, vh, 1); /* headers always go */
    cr_assert_eq(p.count, 3);
    cr_assert_eq(p.frames_dropped, 0);
    fanout_player_free(&p);
    fanout_frame_unref(a);
    fanout_frame_unref(k);
    fanout_frame_unref(vh);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(player, free_releases_references)
{
    long live0 = fanout_frame_live_count();
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 8, 1 << 20, 1 << 16, 1000), ST_OK);
    struct sink s;
    sink_init(&s, 5);
    for (uint32_t i = 0; i < 20; i++) {
        struct fanout_frame *f = mk(FANOUT_AUDIO, 0, i, 40);
        fanout_player_enqueue(&p, f, 1);
        fanout_frame_unref(f);
        if (i == 3)
            cr_assert_eq(fanout_player_flush(&p, sink_writev, &s), ST_AGAIN);
    }
    cr_assert_eq(fanout_frame_live_count(), live0 + 8);
    fanout_player_free(&p);
    buf_free(&s.got);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

/* ---- fanout_frame ---- */

static void check_frame_parse(uint8_t kind, uint32_t ts, uint32_t len, uint32_t chunk)
{
    uint8_t *body = malloc(len ? len : 1);
    for (uint32_t i = 0; i < len; i++)
        body[i] = (uint8_t)(i * 13 + ts);
    struct fanout_frame *f = fanout_frame_new(kind, 0, ts, body, len, chunk);
    cr_assert_not_null(f);
    cr_assert_eq(f->refs, 1);
    cr_assert_eq(f->body_len, len);
    cr_assert_arr_eq(f->body, body, len);

    struct rtmp_chunk_reader r;
    cr_assert_eq(rtmp_chunk_reader_init(&r, 1u << 20, 1u << 24), ST_OK);
    cr_assert_eq(rtmp_chunk_reader_set_chunk_size(&r, chunk), ST_OK);
    struct rtmp_message m;
    size_t used = 0;
    int rc = rtmp_chunk_reader_feed(&r, f->rtmp, f->rtmp_len, &used, &m);
    cr_assert_eq(rc, ST_OK, "kind %u ts %u len %u chunk %u: %s", kind, ts, len, chunk, r.error ? r.error : "");
    cr_assert_eq(used, f->rtmp_len, "trailing bytes in frame->rtmp");
    cr_assert_eq(m.type, kind);
    cr_assert_eq(m.timestamp, ts);
    cr_assert_eq(m.stream_id, RTMP_MEDIA_STREAM_ID);
    cr_assert_eq(m.length, len);
    cr_assert_eq(m.csid, kind == FANOUT_AUDIO ? RTMP_CSID_AUDIO : kind == FANOUT_VIDEO ? RTMP_CSID_VIDEO : RTMP_CSID_AMF);
    if (len)
        cr_assert_arr_eq(m.payload, body, len);
    rtmp_chunk_reader_free(&r);
    fanout_frame_unref(f);
    free(body);
}

Test(frame, rtmp_bytes_parse_back)
{
    long live0 = fanout_frame_live_count();
    static const uint32_t lens[] = {0, 1, 2, 127, 128, 129, 255, 256, 257, 4095, 4096, 4097, 10000, 70000};
    static const uint32_t tss[] = {0, 1, 40, 0xfffffe, 0xffffff, 0x1000000, 0x7fffffff, 0xffffffff};
    static const uint8_t kinds[] = {FANOUT_AUDIO, FANOUT_VIDEO, FANOUT_DATA};
    static const uint32_t chunks[] = {128, 4096};
    for (size_t c = 0; c < 2; c++)
        for (size_t k = 0; k < 3; k++)
            for (size_t t = 0; t < sizeof(tss) / sizeof(tss[0]); t++)
                for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
                    check_frame_parse(kinds[k], tss[t], lens[l], chunks[c]);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(frame, refcount)
{
    long live0 = fanout_frame_live_count();
    struct fanout_frame *f = mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 5, 10);
    cr_assert_eq(fanout_frame_live_count(), live0 + 1);
    cr_assert_eq(fanout_frame_ref(f), f);
    cr_assert_eq(f->refs, 2);
    fanout_frame_unref(f);
    cr_assert_eq(fanout_frame_live_count(), live0 + 1);
    fanout_frame_unref(f);
    cr_assert_eq(fanout_frame_live_count(), live0);
    fanout_frame_unref(NULL);
}

/* A burst queued within one loop turn (a publisher sending its backlog at
 * once) is not a slow player: the time bound waits for a full socket. */
Test(player, time_bound_ignores_bursts_to_a_keeping_up_player)
{
    long live0 = fanout_frame_live_count();
    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 256, 1 << 22, 1 << 16, 0), ST_OK);
    p.max_queue_ms = 1000;
    struct fanout_frame *k = mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 300);
    fanout_player_enqueue(&p, k, 1);
    fanout_frame_unref(k);
    for (uint32_t ts = 40; ts <= 3000; ts += 40) {
        struct fanout_frame *f = mk(FANOUT_VIDEO, 0, ts, 50);
        fanout_player_enqueue(&p, f, 1);
        fanout_frame_unref(f);
    }
    cr_assert_eq(p.frames_dropped, 0, "a 3 s burst to a player whose socket takes it was dropped");
    cr_assert_eq(p.count, 1 + 3000 / 40);
    fanout_player_free(&p);
    cr_assert_eq(fanout_frame_live_count(), live0);
}
