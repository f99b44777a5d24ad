#include "record/record_stream.h"

#include "core/log.h"
#include "core/status.h"

#include <stddef.h>
#include <string.h>
#include <sys/time.h>

#define FLV_FILE_HEADER_BYTES 13 /* header + PreviousTagSize0 */
#define FLV_TAG_OVERHEAD 15      /* tag header + previous tag size */

static struct record_stream *of_tap(struct fanout_tap *t)
{
    return (struct record_stream *)((char *)t - offsetof(struct record_stream, tap));
}

/* Whether the stream will carry video: a video sequence header was seen,
 * or the metadata announces a video codec. */
static int expects_video(const struct fanout_stream *fs)
{
    static const char key[] = "videocodecid";
    const struct fanout_frame *m = fs->metadata;
    if (fs->video_header)
        return 1;
    if (!m)
        return 0;
    return memmem(m->body, m->body_len, key, sizeof(key) - 1) != NULL;
}

static uint32_t rel_ts(const struct record_stream *rs, uint32_t ts)
{
    int32_t d = (int32_t)(ts - rs->base_ts);
    return d < 0 ? 0 : (uint32_t)d;
}

/* Queue one frame at file time ts. 0 queued, -1 not (dropped or stopped). */
static int queue(struct record_stream *rs, struct fanout_frame *f, uint32_t ts)
{
    int rc = record_writer_frame(rs->w, rs->ch, f, ts);
    if (rc == ST_OK) {
        rs->frames_queued++;
        rs->file_bytes += FLV_TAG_OVERHEAD + f->body_len;
        return 0;
    }
    if (rc == ST_ERROR) {
        rs->stopped = 1;
        return -1;
    }
    rs->frames_dropped++;
    if (!rs->wait_key) {
        rs->wait_key = 1;
        rs->overflows++;
        LOG_WARN("record %s/%s: writer queue full (disk slower than the stream); dropping to the next keyframe",
                 rs->app, rs->name);
    }
    return -1;
}

/* The codec headers, at file time ts; a file whose headers did not fit in
 * the queue gets them again before its next keyframe. */
static void queue_headers(struct record_stream *rs, uint32_t ts)
{
    struct fanout_frame *h[2] = {rs->fs->audio_header, rs->fs->video_header};
    for (int i = 0; i < 2; i++)
        if (h[i] && queue(rs, h[i], ts) != 0)
            return;
    rs->headers_missing = 0;
}

static void start_file(struct record_stream *rs)
{
    char path[RECORD_PATH_MAX];
    struct fanout_stream *fs = rs->fs;
    if (rs->in_file) {
        record_writer_close(rs->w, rs->ch);
        rs->in_file = 0;
    }
    if (record_path_build(path, sizeof(path), rs->cfg->root, rs->app, rs->name, time(NULL)) != ST_OK) {
        LOG_ERROR("record %s/%s: file name too long under %s; not recording", rs->app, rs->name, rs->cfg->root);
        rs->stopped = 1;
        return;
    }
    int video = expects_video(fs);
    if (record_writer_open(rs->w, rs->ch, path, fs->audio_header != NULL || !video, video) != ST_OK) {
        rs->stopped = 1;
        return;
    }
    rs->in_file = 1;
    rs->files++;
    rs->file_bytes = FLV_FILE_HEADER_BYTES;
    rs->file_ms = 0;
    rs->wait_key = 0;
    rs->headers_missing = 1;
    if (!fs->metadata || queue(rs, fs->metadata, 0) == 0)
        queue_headers(rs, 0);
}

static int over_limits(const struct record_stream *rs, uint32_t ts)
{
    return (rs->cfg->max_size && rs->file_bytes >= rs->cfg->max_size) ||
           (rs->cfg->max_duration && ts >= rs->cfg->max_duration);
}

static void on_frame(struct fanout_tap *t, struct fanout_frame *f)
{
    struct record_stream *rs = of_tap(t);
    if (rs->stopped || atomic_load(&rs->ch->failed)) {
        rs->stopped = 1;
        return;
    }
    if (f->flags & FANOUT_FLAG_METADATA)
        return; /* taken from the cache when a file starts */
    if ((f->flags & FANOUT_FLAG_SEQ_HEADER) || f->kind == FANOUT_DATA) {
        if (rs->in_file && !rs->wait_key)
            queue(rs, f, rel_ts(rs, f->timestamp));
        return;
    }
    int boundary = (f->kind == FANOUT_VIDEO && (f->flags & FANOUT_FLAG_KEY)) ||
                   (f->kind == FANOUT_AUDIO && !expects_video(rs->fs));
    if (!rs->in_file || (boundary && over_limits(rs, rel_ts(rs, f->timestamp)))) {
        if (!boundary)
            return;
        rs->base_ts = f->timestamp;
        start_file(rs);
        if (!rs->in_file || rs->wait_key)
            return;
    } else if (rs->wait_key) {
        if (!boundary) {
            rs->frames_dropped++;
            return;
        }
        rs->wait_key = 0;
        if (rs->headers_missing) {
            queue_headers(rs, rel_ts(rs, f->timestamp));
            if (rs->wait_key)
                return;
        }
    }
    uint32_t ts = rel_ts(rs, f->timestamp);
    if (queue(rs, f, ts) == 0 && ts > rs->file_ms)
        rs->file_ms = ts;
}

/* The publisher changed (caches cleared): its next keyframe starts a new
 * file, with the new codec headers. */
static void on_clear(struct fanout_tap *t)
{
    struct record_stream *rs = of_tap(t);
    if (rs->in_file && !rs->stopped)
        record_writer_close(rs->w, rs->ch);
    rs->in_file = 0;
}

int record_stream_start(struct record_stream *rs, struct record_writer *w, const struct record_settings *cfg,
                        struct fanout_stream *fs, const char *app, const char *name)
{
    memset(rs, 0, sizeof(*rs));
    rs->ch = record_writer_channel_new(w);
    if (!rs->ch)
        return ST_ERROR;
    rs->w = w;
    rs->cfg = cfg;
    rs->fs = fs;
    record_path_sanitize(app, rs->app, sizeof(rs->app));
    record_path_sanitize(name, rs->name, sizeof(rs->name));
    struct timeval tv;
    gettimeofday(&tv, NULL);
    rs->started_unix_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    rs->tap.frame = on_frame;
    rs->tap.clear = on_clear;
    fanout_stream_add_tap(fs, &rs->tap);
    rs->active = 1;
    return ST_OK;
}

void record_stream_stop(struct record_stream *rs)
{
    if (!rs->active)
        return;
    fanout_stream_remove_tap(rs->fs, &rs->tap);
    record_writer_channel_release(rs->w, rs->ch);
    rs->ch = NULL;
    rs->active = 0;
    rs->in_file = 0;
}

int record_stream_failed(const struct record_stream *rs)
{
    return rs->stopped || (rs->ch && atomic_load(&rs->ch->failed));
}
