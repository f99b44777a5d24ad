/*
 * Unit tests for fanout_stream: what a late joiner receives (metadata, codec
 * headers, then the GOP from its keyframe), GOP reset and overflow, delivery
 * of pushed frames to every player exactly once, clear_cache, remove_player,
 * and metadata replacement. Reference counts are checked throughout.
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "fanout/fanout_frame.h"
#include "fanout/fanout_player.h"
#include "fanout/fanout_stream.h"

#include <stdlib.h>
#include <string.h>

static long live0;

static void setup(void) { live0 = fanout_frame_live_count(); }

TestSuite(stream, .init = setup);

static struct fanout_frame *mk(uint8_t kind, uint8_t flags, uint32_t ts, uint32_t len)
{
    uint8_t body[512];
    cr_assert_leq(len, sizeof(body));
    memset(body, (int)ts, len);
    struct fanout_frame *f = fanout_frame_new(kind, flags, ts, body, len, 4096);
    cr_assert_not_null(f);
    return f;
}

/* Push and drop the caller's reference (the stream and players keep theirs). */
static struct fanout_frame *push(struct fanout_stream *s, uint8_t kind, uint8_t flags, uint32_t ts, uint32_t len)
{
    struct fanout_frame *f = mk(kind, flags, ts, len);
    fanout_stream_push(s, f, 1);
    fanout_frame_unref(f);
    return f; /* valid only while someone holds it */
}

static struct fanout_frame *queued(const struct fanout_player *p, uint32_t i)
{
    cr_assert_lt(i, p->count);
    return p->ring[(p->head + i) % p->ring_cap];
}

static void player(struct fanout_player *p) { cr_assert_eq(fanout_player_init(p, 256, 1 << 24, 1 << 16, 5000), ST_OK); }

Test(stream, late_joiner_gets_headers_then_gop)
{
    struct fanout_stream s;
    cr_assert_eq(fanout_stream_init(&s, 100, 1 << 20), ST_OK);
    push(&s, FANOUT_AUDIO, 0, 0, 10); /* before any header: not cached */
    struct fanout_frame *meta = push(&s, FANOUT_DATA, FANOUT_FLAG_METADATA, 0, 50);
    struct fanout_frame *vh = push(&s, FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, 30);
    struct fanout_frame *ah = push(&s, FANOUT_AUDIO, FANOUT_FLAG_SEQ_HEADER, 0, 4);
    push(&s, FANOUT_VIDEO, 0, 1, 20); /* inter frame before the first keyframe */
    push(&s, FANOUT_AUDIO, 0, 2, 10);
    struct fanout_frame *gop[4];
    gop[0] = push(&s, FANOUT_VIDEO, FANOUT_FLAG_KEY, 40, 100);
    gop[1] = push(&s, FANOUT_AUDIO, 0, 41, 10);
    gop[2] = push(&s, FANOUT_VIDEO, 0, 80, 20);
    gop[3] = push(&s, FANOUT_DATA, 0, 81, 8); /* a data message that is not metadata */
    cr_assert_eq(s.gop_count, 3, "only audio/video from the keyframe on are cached");
    cr_assert_eq(fanout_frame_live_count(), live0 + 6);

    struct fanout_player p;
    player(&p);
    fanout_stream_add_player(&s, &p, 1);
    cr_assert_eq(s.nplayers, 1);
    cr_assert_eq(p.stream, &s);
    cr_assert_eq(p.count, 6);
    cr_assert_eq(queued(&p, 0), meta);
    cr_assert_eq(queued(&p, 1), ah);
    cr_assert_eq(queued(&p, 2), vh);
    cr_assert_eq(queued(&p, 3), gop[0]);
    cr_assert_eq(queued(&p, 4), gop[1]);
    cr_assert_eq(queued(&p, 5), gop[2]);
    cr_assert_eq(p.wait_key, 0);
    cr_assert_eq(meta->refs, 2);
    cr_assert_eq(gop[0]->refs, 2);
    (void)gop[3];

    /* Live frames follow. */
    struct fanout_frame *v = mk(FANOUT_VIDEO, 0, 120, 20);
    fanout_stream_push(&s, v, 2);
    cr_assert_eq(queued(&p, 6), v);
    cr_assert_eq(v->refs, 3); /* ours, GOP, player */
    fanout_frame_unref(v);

    fanout_stream_remove_player(&s, &p);
    fanout_player_free(&p);
    fanout_stream_free(&s);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(stream, joiner_without_gop_waits_for_keyframe)
{
    struct fanout_stream s;
    cr_assert_eq(fanout_stream_init(&s, 100, 1 << 20), ST_OK);
    push(&s, FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, 30);
    push(&s, FANOUT_VIDEO, 0, 1, 20);
    struct fanout_player p;
    player(&p);
    fanout_stream_add_player(&s, &p, 1);
    cr_assert_eq(p.count, 1);
    cr_assert_eq(p.wait_key, 1);
    push(&s, FANOUT_VIDEO, 0, 2, 20);
    push(&s, FANOUT_AUDIO, 0, 3, 10);
    cr_assert_eq(p.count, 2, "audio flows, video waits");
    struct fanout_frame *k = push(&s, FANOUT_VIDEO, FANOUT_FLAG_KEY, 4, 20);
    cr_assert_eq(queued(&p, 2), k);
    fanout_stream_remove_player(&s, &p);
    fanout_player_free(&p);
    fanout_stream_free(&s);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(stream, gop_resets_on_keyframe)
{
    struct fanout_stream s;
    cr_assert_eq(fanout_stream_init(&s, 100, 1 << 20), ST_OK);
    struct fanout_frame *k1 = mk(FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 50);
    fanout_stream_push(&s, k1, 1);
    push(&s, FANOUT_AUDIO, 0, 1, 10);
    push(&s, FANOUT_VIDEO, 0, 40, 20);
    cr_assert_eq(s.gop_count, 3);
    cr_assert_eq(k1->refs, 2);
    struct fanout_frame *k2 = push(&s, FANOUT_VIDEO, FANOUT_FLAG_KEY, 80, 50);
    struct fanout_frame *a = push(&s, FANOUT_AUDIO, 0, 81, 10);
    cr_assert_eq(s.gop_count, 2);
    cr_assert_eq(s.gop[0], k2);
    cr_assert_eq(s.gop[1], a);
    cr_assert_eq(s.gop_bytes, k2->rtmp_len + a->rtmp_len);
    cr_assert_eq(k1->refs, 1, "old GOP still referenced");
    fanout_frame_unref(k1);
    cr_assert_eq(fanout_frame_live_count(), live0 + 2);
    fanout_stream_free(&s);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

static void check_overflow(uint32_t max_frames, size_t max_bytes)
{
    struct fanout_stream s;
    cr_assert_eq(fanout_stream_init(&s, max_frames, max_bytes), ST_OK);
    push(&s, FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, 30);
    push(&s, FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 100);
    uint32_t ts = 1;
    while (!s.gop_overflow) {
        push(&s, FANOUT_VIDEO, 0, ts++, 100);
        cr_assert_lt(ts, 1000);
    }
    cr_assert_eq(s.gop_count, 0);
    cr_assert_eq(s.gop_bytes, 0);
    /* Nothing more is cached until the next keyframe. */
    push(&s, FANOUT_VIDEO, 0, ts++, 10);
    push(&s, FANOUT_AUDIO, 0, ts++, 10);
    cr_assert_eq(s.gop_count, 0);
    cr_assert_eq(fanout_frame_live_count(), live0 + 1);
    /* A joiner now gets the header and waits for a keyframe. */
    struct fanout_player p;
    player(&p);
    fanout_stream_add_player(&s, &p, 1);
    cr_assert_eq(p.count, 1);
    cr_assert_eq(p.wait_key, 1);
    struct fanout_frame *k = push(&s, FANOUT_VIDEO, FANOUT_FLAG_KEY, ts++, 100);
    cr_assert_eq(s.gop_overflow, 0);
    cr_assert_eq(s.gop_count, 1);
    cr_assert_eq(s.gop[0], k);
    cr_assert_eq(queued(&p, 1), k);
    fanout_stream_remove_player(&s, &p);
    fanout_player_free(&p);
    fanout_stream_free(&s);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(stream, gop_overflow_frames) { check_overflow(5, 1 << 20); }
Test(stream, gop_overflow_bytes) { check_overflow(1000, 700); }

Test(stream, gop_cache_disabled)
{
    /* A zero-sized cache caches nothing and never crashes. */
    struct fanout_stream s;
    cr_assert_eq(fanout_stream_init(&s, 0, 0), ST_OK);
    push(&s, FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 100);
    push(&s, FANOUT_VIDEO, 0, 1, 100);
    cr_assert_eq(s.gop_count, 0);
    fanout_stream_free(&s);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(stream, frames_reach_every_player_once)
{
    struct fanout_stream s;
    cr_assert_eq(fanout_stream_init(&s, 1000, 1 << 24), ST_OK);
    struct fanout_player p[3];
    for (int i = 0; i < 3; i++) {
        player(&p[i]);
        fanout_stream_add_player(&s, &p[i], 1);
    }
    cr_assert_eq(s.nplayers, 3);
    struct fanout_frame *f[20];
    for (uint32_t i = 0; i < 20; i++) {
        f[i] = mk(i % 2 ? FANOUT_AUDIO : FANOUT_VIDEO, i == 0 ? FANOUT_FLAG_KEY : 0, i, 10 + i);
        fanout_stream_push(&s, f[i], 1);
    }
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(p[k].count, 20);
        for (uint32_t i = 0; i < 20; i++)
            cr_assert_eq(queued(&p[k], i), f[i]);
    }
    for (uint32_t i = 0; i < 20; i++)
        cr_assert_eq(f[i]->refs, 1 + 3 + 1, "frame %u: ours, three players, the GOP", i);
    cr_assert_eq(s.frames_in, 20);
    for (int i = 0; i < 3; i++) {
        fanout_stream_remove_player(&s, &p[i]);
        fanout_player_free(&p[i]);
    }
    for (uint32_t i = 0; i < 20; i++)
        cr_assert_eq(f[i]->refs, 2);
    fanout_stream_free(&s);
    for (uint32_t i = 0; i < 20; i++) {
        cr_assert_eq(f[i]->refs, 1);
        fanout_frame_unref(f[i]);
    }
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(stream, clear_cache)
{
    struct fanout_stream s;
    cr_assert_eq(fanout_stream_init(&s, 100, 1 << 20), ST_OK);
    push(&s, FANOUT_DATA, FANOUT_FLAG_METADATA, 0, 50);
    push(&s, FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, 30);
    push(&s, FANOUT_AUDIO, FANOUT_FLAG_SEQ_HEADER, 0, 4);
    push(&s, FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 100);
    struct fanout_player p;
    player(&p);
    fanout_stream_add_player(&s, &p, 1);
    cr_assert_eq(p.count, 4);
    fanout_stream_clear_cache(&s);
    cr_assert_null(s.metadata);
    cr_assert_null(s.video_header);
    cr_assert_null(s.audio_header);
    cr_assert_eq(s.gop_count, 0);
    cr_assert_eq(s.nplayers, 1, "players stay");
    cr_assert_eq(fanout_frame_live_count(), live0 + 4, "only the player's references are left");
    struct fanout_player q;
    player(&q);
    fanout_stream_add_player(&s, &q, 1);
    cr_assert_eq(q.count, 0);
    /* The cache fills again after a clear. */
    push(&s, FANOUT_VIDEO, FANOUT_FLAG_KEY, 200, 100);
    cr_assert_eq(s.gop_count, 1);
    cr_assert_eq(q.count, 1);
    fanout_stream_remove_player(&s, &p);
    fanout_stream_remove_player(&s, &q);
    fanout_player_free(&p);
    fanout_player_free(&q);
    fanout_stream_free(&s);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(stream, remove_player)
{
    struct fanout_stream s;
    cr_assert_eq(fanout_stream_init(&s, 100, 1 << 20), ST_OK);
    struct fanout_player p[4];
    for (int i = 0; i < 4; i++) {
        player(&p[i]);
        fanout_stream_add_player(&s, &p[i], 1);
    }
    push(&s, FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 10);
    /* Remove one from the middle, the list head and the tail. */
    int order[4] = {1, 3, 0, 2};
    for (int r = 0; r < 4; r++) {
        fanout_stream_remove_player(&s, &p[order[r]]);
        cr_assert_eq(s.nplayers, (uint32_t)(3 - r));
        cr_assert_null(p[order[r]].stream);
        /* Removing twice, or from a stream it is not in, changes nothing. */
        fanout_stream_remove_player(&s, &p[order[r]]);
        cr_assert_eq(s.nplayers, (uint32_t)(3 - r));
        push(&s, FANOUT_AUDIO, 0, (uint32_t)r + 1, 10);
        unsigned seen = 0;
        for (struct fanout_player *it = s.players; it; it = it->next) {
            seen++;
            cr_assert_neq(it, &p[order[r]]);
            if (it->next)
                cr_assert_eq(it->next->prev, it);
        }
        cr_assert_eq(seen, s.nplayers);
    }
    cr_assert_null(s.players);
    /* Each got the frames pushed while it was attached: 1 + its position in order. */
    for (int r = 0; r < 4; r++)
        cr_assert_eq(p[order[r]].count, (uint32_t)(1 + r), "player %d", order[r]);
    for (int i = 0; i < 4; i++)
        fanout_player_free(&p[i]);
    fanout_stream_free(&s);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

Test(stream, metadata_replaced_by_latest)
{
    struct fanout_stream s;
    cr_assert_eq(fanout_stream_init(&s, 100, 1 << 20), ST_OK);
    struct fanout_frame *m1 = mk(FANOUT_DATA, FANOUT_FLAG_METADATA, 0, 40);
    struct fanout_frame *m2 = mk(FANOUT_DATA, FANOUT_FLAG_METADATA, 1000, 41);
    fanout_stream_push(&s, m1, 1);
    cr_assert_eq(s.metadata, m1);
    fanout_stream_push(&s, m2, 1);
    cr_assert_eq(s.metadata, m2);
    cr_assert_eq(m1->refs, 1);
    cr_assert_eq(m2->refs, 2);
    /* The same for codec headers (a publisher may change resolution). */
    struct fanout_frame *h1 = mk(FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, 30);
    struct fanout_frame *h2 = mk(FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 5, 31);
    fanout_stream_push(&s, h1, 1);
    fanout_stream_push(&s, h2, 1);
    cr_assert_eq(s.video_header, h2);
    cr_assert_null(s.audio_header);
    cr_assert_eq(h1->refs, 1);
    struct fanout_player p;
    player(&p);
    fanout_stream_add_player(&s, &p, 1);
    cr_assert_eq(p.count, 2);
    cr_assert_eq(queued(&p, 0), m2);
    cr_assert_eq(queued(&p, 1), h2);
    fanout_stream_remove_player(&s, &p);
    fanout_player_free(&p);
    fanout_stream_free(&s);
    fanout_frame_unref(m1);
    fanout_frame_unref(m2);
    fanout_frame_unref(h1);
    fanout_frame_unref(h2);
    cr_assert_eq(fanout_frame_live_count(), live0);
}

/* A late joiner's start-up GOP is behind live by design: it must not count
 * against player_max_delay, or a long GOP would be dropped on the first live
 * frame and fast start lost; frames that arrive live afterwards do count. */
Test(stream, startup_gop_exempt_from_time_bound)
{
    struct fanout_stream s;
    cr_assert_eq(fanout_stream_init(&s, 1000, 1 << 22), ST_OK);
    push(&s, FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, 30);
    push(&s, FANOUT_VIDEO, FANOUT_FLAG_KEY, 1000, 100);
    for (uint32_t ts = 1040; ts <= 6000; ts += 40)
        push(&s, FANOUT_VIDEO, 0, ts, 20); /* a 5 s GOP */
    struct fanout_player p;
    player(&p);
    p.max_queue_ms = 1000;
    fanout_stream_add_player(&s, &p, 1);
    uint32_t startup = p.count;
    cr_assert_gt(startup, 100);
    push(&s, FANOUT_VIDEO, 0, 6040, 20); /* first live frame: 5 s after the keyframe */
    cr_assert_eq(p.count, startup + 1, "the start-up GOP was dropped");
    cr_assert_eq(p.frames_dropped, 0);
    /* Live frames piling up for more than max_queue_ms do trigger the drop,
     * once the player's socket is full (a burst in one turn does not). */
    p.blocked = 1;
    for (uint32_t ts = 6080; ts <= 7200; ts += 40)
        push(&s, FANOUT_VIDEO, 0, ts, 20);
    cr_assert_gt(p.frames_dropped, 0, "live backlog over max_queue_ms not dropped");
    fanout_stream_remove_player(&s, &p);
    fanout_player_free(&p);
    fanout_stream_free(&s);
    cr_assert_eq(fanout_frame_live_count(), live0);
}
