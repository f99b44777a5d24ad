#include "fanout/fanout_stream.h"

#include "core/status.h"

#include <stdlib.h>
#include <string.h>

int fanout_stream_init(struct fanout_stream *s, uint32_t gop_max_frames, size_t gop_max_bytes)
{
    memset(s, 0, sizeof(*s));
    s->gop = calloc(gop_max_frames ? gop_max_frames : 1, sizeof(*s->gop));
    if (!s->gop)
        return ST_ERROR;
    s->gop_max_frames = gop_max_frames;
    s->gop_max_bytes = gop_max_bytes;
    return ST_OK;
}

static void gop_clear(struct fanout_stream *s)
{
    for (uint32_t i = 0; i < s->gop_count; i++)
        fanout_frame_unref(s->gop[i]);
    s->gop_count = 0;
    s->gop_bytes = 0;
}

void fanout_stream_clear_cache(struct fanout_stream *s)
{
    gop_clear(s);
    fanout_frame_unref(s->metadata);
    fanout_frame_unref(s->video_header);
    fanout_frame_unref(s->audio_header);
    s->metadata = s->video_header = s->audio_header = NULL;
    for (struct fanout_tap *t = s->taps; t; t = t->next)
        if (t->clear)
            t->clear(t);
}

void fanout_stream_free(struct fanout_stream *s)
{
    fanout_stream_clear_cache(s);
    free(s->gop);
    s->gop = NULL;
}

static void replace(struct fanout_frame **slot, struct fanout_frame *f)
{
    fanout_frame_unref(*slot);
    *slot = fanout_frame_ref(f);
}

static void gop_add(struct fanout_stream *s, struct fanout_frame *f)
{
    int key = f->kind == FANOUT_VIDEO && (f->flags & FANOUT_FLAG_KEY);
    if (key) {
        gop_clear(s);
        s->gop_overflow = 0;
    } else if (s->gop_count == 0 || s->gop_overflow) {
        return; /* the cache always starts at a keyframe */
    }
    if (s->gop_count == s->gop_max_frames || s->gop_bytes + f->rtmp_len > s->gop_max_bytes) {
        gop_clear(s);
        s->gop_overflow = 1;
        return;
    }
    s->gop[s->gop_count++] = fanout_frame_ref(f);
    s->gop_bytes += f->rtmp_len;
}

void fanout_stream_push(struct fanout_stream *s, struct fanout_frame *f, uint64_t now_ms)
{
    s->frames_in++;
    s->bytes_in += f->body_len;
    s->last_timestamp = f->timestamp;
    if (f->flags & FANOUT_FLAG_METADATA)
        replace(&s->metadata, f);
    else if (f->flags & FANOUT_FLAG_SEQ_HEADER)
        replace(f->kind == FANOUT_VIDEO ? &s->video_header : &s->audio_header, f);
    else if (f->kind != FANOUT_DATA)
        gop_add(s, f);
    for (struct fanout_tap *t = s->taps; t; t = t->next)
        t->frame(t, f);
    for (struct fanout_player *p = s->players; p; p = p->next)
        fanout_player_enqueue(p, f, now_ms);
}

void fanout_stream_add_player(struct fanout_stream *s, struct fanout_player *p, uint64_t now_ms)
{
    p->stream = s;
    p->prev = NULL;
    p->next = s->players;
    if (s->players)
        s->players->prev = p;
    s->players = p;
    s->nplayers++;
    p->wait_key = 1;
    if (s->metadata)
        fanout_player_enqueue(p, s->metadata, now_ms);
    if (s->audio_header)
        fanout_player_enqueue(p, s->audio_header, now_ms);
    if (s->video_header)
        fanout_player_enqueue(p, s->video_header, now_ms);
    /* Set before queuing the GOP: it must not count against max_queue_ms. */
    p->live_from_set = s->gop_count > 0;
    if (p->live_from_set)
        p->live_from_ts = s->gop[s->gop_count - 1]->timestamp;
    for (uint32_t i = 0; i < s->gop_count; i++)
        fanout_player_enqueue(p, s->gop[i], now_ms);
}

void fanout_stream_remove_player(struct fanout_stream *s, struct fanout_player *p)
{
    if (p->stream != s)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        s->players = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->stream = NULL;
    s->nplayers--;
}

void fanout_stream_add_tap(struct fanout_stream *s, struct fanout_tap *t)
{
    t->next = s->taps;
    s->taps = t;
}

void fanout_stream_remove_tap(struct fanout_stream *s, struct fanout_tap *t)
{
    for (struct fanout_tap **pp = &s->taps; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            t->next = NULL;
            return;
        }
}
