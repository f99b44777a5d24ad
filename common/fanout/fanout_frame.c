#include "fanout/fanout_frame.h"

#include "rtmp/rtmp_chunk_writer.h"
#include "rtmp/rtmp_message.h"

#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fanout_frames_live;

static void encode_flv(struct fanout_frame *f)
{
    uint32_t tag = 11 + f->body_len;
    int n = snprintf((char *)f->flv_head, FANOUT_FLV_HEAD_MAX, "%x\r\n", (unsigned)(tag + 4));
    uint8_t *h = f->flv_head + n;
    h[0] = f->kind;
    wr_be24(h + 1, f->body_len);
    wr_be24(h + 4, f->timestamp & 0xffffff);
    h[7] = (uint8_t)(f->timestamp >> 24);
    wr_be24(h + 8, 0);
    f->flv_head_len = (uint8_t)(n + 11);
    wr_be32(f->flv_tail, tag);
    f->flv_tail[4] = '\r';
    f->flv_tail[5] = '\n';
}

struct fanout_frame *fanout_frame_new(uint8_t kind, uint8_t flags, uint32_t timestamp, const uint8_t *body,
                                      uint32_t body_len, uint32_t chunk_size)
{
    uint32_t csid = kind == FANOUT_AUDIO ? RTMP_CSID_AUDIO : kind == FANOUT_VIDEO ? RTMP_CSID_VIDEO : RTMP_CSID_AMF;
    size_t rtmp_len = rtmp_chunk_writer_size(csid, timestamp, body_len, chunk_size);
    struct fanout_frame *f = malloc(sizeof(*f) + body_len + rtmp_len);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->kind = kind;
    f->flags = flags;
    f->timestamp = timestamp;
    f->source_ts = timestamp;
    f->segment = 0;
    f->epoch = 0;
    f->wall_ms = 0;
    f->body_len = body_len;
    f->rtmp_len = (uint32_t)rtmp_len;
    f->body = (uint8_t *)(f + 1);
    f->rtmp = f->body + body_len;
    if (body_len)
        memcpy(f->body, body, body_len);
    struct rtmp_message_header h = {.csid = csid, .type = kind, .timestamp = timestamp, .stream_id = RTMP_MEDIA_STREAM_ID};
    rtmp_chunk_writer_encode(f->rtmp, &h, f->body, body_len, chunk_size);
    encode_flv(f);
    atomic_fetch_add_explicit(&fanout_frames_live, 1, memory_order_relaxed);
    return f;
}

void fanout_frame_unref(struct fanout_frame *f)
{
    if (!f)
        return;
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        atomic_fetch_sub_explicit(&fanout_frames_live, 1, memory_order_relaxed);
        free(f);
    }
}

long fanout_frame_live_count(void) { return atomic_load(&fanout_frames_live); }
