#include "hls/hls_segment_clock.h"

void hls_segment_clock_init(struct hls_segment_clock *c, uint32_t target_ms)
{
    c->target_ms = target_ms < 1000 ? 1000 : target_ms;
    c->segment = 0;
    c->start_ts = 0;
    c->has_video = 0;
    c->restart = 0;
}

void hls_segment_clock_reset(struct hls_segment_clock *c)
{
    c->has_video = 0;
    c->restart = 1;
}

void hls_segment_clock_continue(struct hls_segment_clock *c, uint32_t last)
{
    if (last > c->segment) {
        c->segment = last;
        c->restart = 1;
    }
}

void hls_segment_clock_stamp(struct hls_segment_clock *c, struct fanout_frame *f, uint32_t epoch, uint64_t wall_ms)
{
    f->epoch = epoch;
    f->wall_ms = wall_ms;
    int cut_point = 0;
    if (f->kind == FANOUT_VIDEO) {
        c->has_video = 1;
        cut_point = (f->flags & FANOUT_FLAG_KEY) && !(f->flags & FANOUT_FLAG_SEQ_HEADER);
    } else if (f->kind == FANOUT_AUDIO) {
        cut_point = !c->has_video && !(f->flags & FANOUT_FLAG_SEQ_HEADER);
    }
    if (cut_point) {
        int32_t span = (int32_t)(f->source_ts - c->start_ts);
        if (c->segment == 0 || c->restart || span < 0 || (uint32_t)span >= c->target_ms) {
            c->restart = 0;
            uint32_t first = (uint32_t)(wall_ms / 1000);
            c->segment = c->segment == 0 ? (first ? first : 1) : c->segment + 1;
            c->start_ts = f->source_ts;
            f->flags |= FANOUT_FLAG_SEG_START;
        }
    }
    f->segment = c->segment;
}
