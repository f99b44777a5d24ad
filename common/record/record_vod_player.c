#include "record/record_vod_player.h"

#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VOD_RETRY_MS 20   /* queue over half full: look again */
#define VOD_MIN_WAIT_MS 5
#define VOD_MAX_WAIT_MS 200
#define VOD_PAUSE_WAIT_MS 250

int record_vod_player_open(struct record_vod_player **out, const char *path, const struct record_vod_options *o,
                           char *err, size_t errlen)
{
    struct record_vod_player *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return ST_ERROR;
    }
    if (flv_file_reader_open(&v->r, path, RECORD_VOD_MAX_TAG, RECORD_VOD_MAX_KEYS) != ST_OK) {
        if (v->r.err)
            snprintf(err, errlen, "%s: %s", v->r.error, strerror(v->r.err));
        else
            snprintf(err, errlen, "%s", v->r.error);
        free(v);
        return ST_ERROR;
    }
    buf_init(&v->tag, RECORD_VOD_MAX_TAG);
    v->opt = *o;
    v->scanning = 1;
    *out = v;
    return ST_OK;
}

void record_vod_player_close(struct record_vod_player *v)
{
    if (!v)
        return;
    flv_file_reader_close(&v->r);
    buf_free(&v->tag);
    free(v);
}

void record_vod_player_seek(struct record_vod_player *v, uint32_t ms)
{
    v->opt.start_ms = ms;
    v->have_pending = 0;
    v->ended = 0;
    v->running = 0;
    if (v->scanning)
        return; /* positioned when the scan ends */
    flv_file_reader_seek(&v->r, ms, &v->off, &v->pos_ts);
    v->need_headers = 1;
}

void record_vod_player_pause(struct record_vod_player *v, int paused, uint64_t now_ms)
{
    if (paused == v->paused)
        return;
    if (!paused && v->running)
        v->base_wall_ms += now_ms - v->last_pump_ms; /* the clock stood still */
    v->paused = paused;
    v->last_pump_ms = now_ms;
}

uint32_t record_vod_player_duration(const struct record_vod_player *v)
{
    return v->r.last_ts > v->r.first_ts ? v->r.last_ts - v->r.first_ts : 0;
}

/* The scan is complete: go to the requested start. */
static void position(struct record_vod_player *v)
{
    if (v->opt.start_ms <= 0) {
        v->off = v->r.data_start;
        v->pos_ts = v->r.first_ts;
    } else {
        flv_file_reader_seek(&v->r, (uint32_t)v->opt.start_ms, &v->off, &v->pos_ts);
    }
    v->need_headers = 1;
}

static int enqueue(struct record_vod_player *v, struct fanout_player *p, const struct flv_file_tag *t, uint32_t ts,
                   uint64_t now_ms)
{
    uint8_t flags = t->metadata ? FANOUT_FLAG_METADATA
                  : t->seq_header ? FANOUT_FLAG_SEQ_HEADER
                  : t->keyframe   ? FANOUT_FLAG_KEY
                                  : 0;
    struct fanout_frame *f = fanout_frame_new(t->type, flags, ts, t->body, t->size, v->opt.chunk_size);
    if (!f) {
        v->error = "out of memory";
        return ST_ERROR;
    }
    fanout_player_enqueue(p, f, now_ms);
    fanout_frame_unref(f);
    v->frames_sent++;
    return ST_OK;
}

/* Send the tag at off (metadata or a sequence header) at timestamp ts. */
static int send_at(struct record_vod_player *v, struct fanout_player *p, uint64_t off, uint32_t ts, uint64_t now_ms)
{
    struct flv_file_tag t;
    struct buf b;
    buf_init(&b, RECORD_VOD_MAX_TAG);
    int rc = flv_file_reader_read(&v->r, &off, &t, &b);
    if (rc == ST_OK)
        rc = enqueue(v, p, &t, ts, now_ms);
    else if (rc == ST_ERROR)
        v->error = v->r.error;
    else
        rc = ST_OK; /* cannot happen: the offset was scanned */
    buf_free(&b);
    return rc;
}

static int send_start(struct record_vod_player *v, struct fanout_player *p, uint64_t now_ms)
{
    if (!v->meta_sent && v->r.meta_off && send_at(v, p, v->r.meta_off, 0, now_ms) != ST_OK)
        return ST_ERROR;
    v->meta_sent = 1;
    if (v->r.ahdr_off && send_at(v, p, v->r.ahdr_off, v->pos_ts, now_ms) != ST_OK)
        return ST_ERROR;
    if (v->r.vhdr_off && send_at(v, p, v->r.vhdr_off, v->pos_ts, now_ms) != ST_OK)
        return ST_ERROR;
    v->need_headers = 0;
    return ST_OK;
}

/* Whether the player's queue has room for more without nearing its bounds. */
static int room(const struct fanout_player *p)
{
    return p->queued_bytes < p->max_bytes / 2 && p->count + 4 < p->ring_max / 2 + 1;
}

int record_vod_player_pump(struct record_vod_player *v, struct fanout_player *p, uint64_t now_ms,
                           uint64_t *next_ms)
{
    *next_ms = VOD_MAX_WAIT_MS;
    if (v->scanning) {
        int rc = flv_file_reader_scan(&v->r, RECORD_VOD_SCAN_BUDGET);
        if (rc == ST_ERROR) {
            v->error = v->r.error;
            return ST_ERROR;
        }
        if (rc == ST_AGAIN) {
            *next_ms = 0;
            return ST_OK;
        }
        v->scanning = 0;
        position(v);
    }
    if (v->paused) {
        *next_ms = VOD_PAUSE_WAIT_MS;
        return ST_OK;
    }
    if (v->ended)
        return ST_DONE;
    if (v->need_headers && send_start(v, p, now_ms) != ST_OK)
        return ST_ERROR;
    if (!v->running) {
        v->running = 1;
        v->base_ts = v->pos_ts;
        v->base_wall_ms = now_ms;
    } else if (p->blocked && p->count > 0) {
        v->base_wall_ms += now_ms - v->last_pump_ms; /* the reader is behind: hold the clock */
    }
    v->last_pump_ms = now_ms;
    uint64_t horizon = (uint64_t)v->base_ts + (now_ms - v->base_wall_ms) + v->opt.lead_ms;
    size_t read = 0;
    for (int n = 0; n < RECORD_VOD_MAX_TAGS && read < RECORD_VOD_READ_BUDGET; n++) {
        if (!room(p)) {
            *next_ms = VOD_RETRY_MS;
            return ST_OK;
        }
        if (!v->have_pending) {
            uint64_t at = v->off;
            int rc = flv_file_reader_read(&v->r, &v->off, &v->pending, &v->tag);
            if (rc == ST_DONE || rc == ST_AGAIN) {
                v->ended = 1;
                return ST_DONE;
            }
            if (rc == ST_ERROR) {
                v->error = v->r.error;
                return ST_ERROR;
            }
            read += v->pending.size;
            /* Already sent by send_start, or metadata past the start. */
            if (v->pending.metadata || at == v->r.ahdr_off || at == v->r.vhdr_off)
                continue;
            v->have_pending = 1;
        }
        uint32_t ts = v->pending.timestamp;
        if ((uint64_t)ts > horizon && (int32_t)(ts - v->base_ts) > 0) {
            uint64_t due = v->base_wall_ms + (ts - v->base_ts) - v->opt.lead_ms;
            uint64_t wait = due > now_ms ? due - now_ms : 0;
            *next_ms = wait < VOD_MIN_WAIT_MS ? VOD_MIN_WAIT_MS : wait > VOD_MAX_WAIT_MS ? VOD_MAX_WAIT_MS : wait;
            return ST_OK;
        }
        v->have_pending = 0;
        if (enqueue(v, p, &v->pending, ts, now_ms) != ST_OK)
            return ST_ERROR;
    }
    *next_ms = 0; /* budget used up: go on next turn */
    return ST_OK;
}
