#include "hls/hls_segment_clock.h"

#include <criterion/criterion.h>

static struct fanout_frame *frame(uint8_t kind, uint8_t flags, uint32_t ts)
{
    static const uint8_t body[4] = {0x17, 1, 0, 0};
    struct fanout_frame *f = fanout_frame_new(kind, flags, ts, body, sizeof body, 4096);
    cr_assert_not_null(f);
    return f;
}

/* Stamp and return (segment, seg_start) of one frame. */
static uint32_t stamp(struct hls_segment_clock *c, uint8_t kind, uint8_t flags, uint32_t ts, int *start)
{
    struct fanout_frame *f = frame(kind, flags, ts);
    hls_segment_clock_stamp(c, f, 7, 1700000000123ULL + ts);
    cr_assert_eq(f->epoch, 7);
    cr_assert_eq(f->wall_ms, 1700000000123ULL + ts);
    uint32_t seg = f->segment;
    *start = (f->flags & FANOUT_FLAG_SEG_START) != 0;
    fanout_frame_unref(f);
    return seg;
}

Test(hls_segment_clock, cuts_on_keyframes_after_target)
{
    struct hls_segment_clock c;
    hls_segment_clock_init(&c, 2000);
    int st;
    cr_assert_eq(stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, &st), 0);
    cr_assert_eq(stamp(&c, FANOUT_AUDIO, 0, 0, &st), 0, "audio before the first keyframe has no segment");
    uint32_t s0 = stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_KEY, 40, &st);
    cr_assert(st);
    cr_assert_eq(s0, 1700000000u, "first segment numbered with Unix seconds");
    cr_assert_eq(stamp(&c, FANOUT_VIDEO, 0, 80, &st), s0);
    cr_assert_not(st);
    cr_assert_eq(stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_KEY, 1040, &st), s0, "keyframe before the target: same segment");
    cr_assert_not(st);
    cr_assert_eq(stamp(&c, FANOUT_AUDIO, 0, 2000, &st), s0, "audio never cuts a stream with video");
    cr_assert_eq(stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_KEY, 2040, &st), s0 + 1);
    cr_assert(st);
    cr_assert_eq(stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_KEY, 100, &st), s0 + 2, "timestamps going back cut at once");
    cr_assert(st);
}

Test(hls_segment_clock, audio_only_cuts_on_audio)
{
    struct hls_segment_clock c;
    hls_segment_clock_init(&c, 500); /* raised to the 1 s minimum */
    int st;
    uint32_t s0 = stamp(&c, FANOUT_AUDIO, 0, 0, &st);
    cr_assert(st);
    cr_assert_eq(stamp(&c, FANOUT_AUDIO, 0, 999, &st), s0);
    cr_assert_eq(stamp(&c, FANOUT_AUDIO, 0, 1000, &st), s0 + 1);
    cr_assert(st);
}

Test(hls_segment_clock, new_publisher_continues_numbering)
{
    struct hls_segment_clock c;
    hls_segment_clock_init(&c, 2000);
    int st;
    uint32_t s0 = stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, &st);
    hls_segment_clock_reset(&c);
    cr_assert_eq(stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, &st), s0);
    cr_assert_eq(stamp(&c, FANOUT_AUDIO, 0, 100, &st), s0, "until its first keyframe");
    uint32_t s1 = stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_KEY, 200, &st);
    cr_assert(st, "the new publisher's first keyframe cuts at once");
    cr_assert_eq(s1, s0 + 1, "numbers continue across publishers");
    hls_segment_clock_init(&c, 2000);
    uint32_t s2 = stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_KEY, 5000, &st);
    cr_assert_eq(s2, s0 + 5, "a forgotten stream starts from the wall clock");
}

Test(hls_segment_clock, continues_another_origins_numbering)
{
    struct hls_segment_clock c;
    hls_segment_clock_init(&c, 2000);
    hls_segment_clock_continue(&c, 1800000000u); /* the previous origin's last segment */
    int st;
    cr_assert_eq(stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, &st), 1800000001u, "not the Unix time: the next number");
    cr_assert(st);
    cr_assert_eq(stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_KEY, 2000, &st), 1800000002u);
    /* a number behind this clock's does not take it back */
    hls_segment_clock_continue(&c, 1700000000u);
    cr_assert_eq(stamp(&c, FANOUT_VIDEO, FANOUT_FLAG_KEY, 4000, &st), 1800000003u);
    /* nothing known (0): the clock as it was */
    struct hls_segment_clock fresh;
    hls_segment_clock_init(&fresh, 2000);
    hls_segment_clock_continue(&fresh, 0);
    cr_assert_eq(stamp(&fresh, FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, &st), 1700000000u);
}
