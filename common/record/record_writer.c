#include "record/record_writer.h"

#include "core/log.h"
#include "core/status.h"
#include "record/record_mp4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum record_op_kind { OP_OPEN, OP_FRAME, OP_CLOSE, OP_RELEASE };

struct record_op {
    enum record_op_kind kind;
    struct record_channel *ch;
    struct fanout_frame *frame; /* OP_FRAME: one reference */
    uint32_t ts;
    int has_audio, has_video;   /* OP_OPEN */
    struct record_op *next;
    char path[];                /* OP_OPEN */
};

int record_writer_parse_fsync(const char *s, enum record_fsync *mode, long *ms)
{
    if (strcmp(s, "none") == 0 || strcmp(s, "off") == 0) {
        *mode = RECORD_FSYNC_NONE;
        *ms = 0;
        return ST_OK;
    }
    if (strcmp(s, "rotate") == 0) {
        *mode = RECORD_FSYNC_ROTATE;
        *ms = 0;
        return ST_OK;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno || v < 1)
        return ST_ERROR;
    if (strcmp(end, "s") == 0)
        v = v > 3600 ? 3600001 : v * 1000;
    else if (*end && strcmp(end, "ms") != 0)
        return ST_ERROR;
    if (v > 3600000)
        return ST_ERROR;
    *mode = RECORD_FSYNC_INTERVAL;
    *ms = v;
    return ST_OK;
}

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Log once, count, and stop the channel (thread side). */
static void channel_fail(struct record_writer *w, struct record_channel *ch)
{
    char msg[256];
    const char *text = strerror_r(ch->file.err, msg, sizeof(msg));
    atomic_fetch_add(&w->stats.errors, 1);
    atomic_fetch_add(&ch->errors, 1);
    if (!atomic_exchange(&ch->failed, 1))
        LOG_ERROR("record: %s failed path=%s: %s; this recording stops", ch->file.error ? ch->file.error : "write",
                  ch->file.path, ch->file.err ? text : "error");
    flv_file_writer_close(&ch->file, 0);
    atomic_store(&ch->open, 0);
}

/* The MP4 of a closed file; its failure is the MP4's alone (the FLV and
 * the channel go on). Runs on the converter thread. */
static void make_mp4(struct record_writer *w, const char *path, int sync)
{
    struct record_mp4_result res;
    char msg[256];
    if (record_mp4_convert(path, sync, &res) != ST_OK) {
        atomic_fetch_add(&w->stats.mp4_errors, 1);
        LOG_ERROR("record: mp4 failed path=%s: %s%s%s", path, res.error, res.err ? ": " : "",
                  res.err ? strerror_r(res.err, msg, sizeof(msg)) : "");
        return;
    }
    atomic_fetch_add(&w->stats.mp4_files, 1);
    if (res.warning) { /* an MP4 with less than the FLV: counted as well */
        atomic_fetch_add(&w->stats.mp4_errors, 1);
        LOG_WARN("record: mp4 incomplete path=%s: %s", path, res.warning);
    }
    LOG_INFO("record: mp4 written path=%s fragments=%u samples=%llu bytes=%llu", path, res.fragments,
             (unsigned long long)res.samples, (unsigned long long)res.bytes);
}

/* Hand a closed file to the converter (writer thread). A full queue (the
 * disk is far behind) skips that MP4 with a log line and a count. */
static void queue_mp4(struct record_writer *w, const char *path, int sync)
{
    pthread_mutex_lock(&w->mu);
    int full = !w->mp4_started || w->mp4_count == RECORD_MP4_QUEUE;
    if (!full) {
        uint32_t i = (w->mp4_head + w->mp4_count) % RECORD_MP4_QUEUE;
        snprintf(w->mp4_paths[i], sizeof(w->mp4_paths[i]), "%s", path);
        w->mp4_sync[i] = sync;
        w->mp4_count++;
        pthread_cond_signal(&w->mp4_cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (full) {
        atomic_fetch_add(&w->stats.mp4_errors, 1);
        LOG_ERROR("record: mp4 skipped path=%s: %d conversions already waiting", path, RECORD_MP4_QUEUE);
    }
}

static void *mp4_main(void *arg)
{
    struct record_writer *w = arg;
    char path[RECORD_PATH_MAX + 8];
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->mp4_count && !w->mp4_stopping)
            pthread_cond_wait(&w->mp4_cv, &w->mu);
        if (!w->mp4_count)
            break; /* stopping and drained */
        uint32_t i = w->mp4_head;
        memcpy(path, w->mp4_paths[i], sizeof(path));
        int sync = w->mp4_sync[i];
        w->mp4_head = (w->mp4_head + 1) % RECORD_MP4_QUEUE;
        w->mp4_count--;
        pthread_mutex_unlock(&w->mu);
        make_mp4(w, path, sync);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void file_close(struct record_writer *w, struct record_channel *ch)
{
    if (ch->file.fd < 0)
        return;
    int sync = w->cfg.fsync != RECORD_FSYNC_NONE;
    int rc = flv_file_writer_close(&ch->file, sync);
    atomic_store(&ch->open, 0);
    if (rc != ST_OK) {
        channel_fail(w, ch);
        return;
    }
    if (sync)
        atomic_fetch_add(&w->stats.fsyncs, 1);
    atomic_fetch_add(&w->stats.files_closed, 1);
    if (w->cfg.mp4)
        queue_mp4(w, ch->file.path, sync);
}

static void do_open(struct record_writer *w, struct record_op *op)
{
    struct record_channel *ch = op->ch;
    file_close(w, ch);
    if (atomic_load(&ch->failed))
        return;
    int rc = flv_file_writer_open(&ch->file, op->path, op->has_audio, op->has_video);
    pthread_mutex_lock(&w->mu);
    snprintf(ch->path, sizeof(ch->path), "%s", ch->file.path);
    pthread_mutex_unlock(&w->mu);
    if (rc != ST_OK) {
        channel_fail(w, ch);
        return;
    }
    atomic_store(&ch->open, 1);
    atomic_fetch_add(&ch->files, 1);
    atomic_fetch_add(&ch->bytes, ch->file.bytes);
    atomic_fetch_add(&w->stats.files_opened, 1);
    atomic_fetch_add(&w->stats.bytes_written, ch->file.bytes);
    ch->last_sync_ms = mono_ms();
    LOG_INFO("record: writing %s", ch->file.path);
}

static void do_frame(struct record_writer *w, struct record_op *op)
{
    struct record_channel *ch = op->ch;
    struct fanout_frame *f = op->frame;
    if (atomic_load(&ch->failed) || ch->file.fd < 0)
        return;
    uint64_t before = ch->file.bytes;
    if (flv_file_writer_write(&ch->file, f->kind, op->ts, f->body, f->body_len) != ST_OK) {
        channel_fail(w, ch);
        return;
    }
    atomic_fetch_add(&ch->bytes, ch->file.bytes - before);
    atomic_fetch_add(&w->stats.bytes_written, ch->file.bytes - before);
    atomic_fetch_add(&w->stats.tags_written, 1);
    if (w->cfg.fsync == RECORD_FSYNC_INTERVAL) {
        uint64_t now = mono_ms();
        if (now - ch->last_sync_ms >= (uint64_t)w->cfg.fsync_ms) {
            ch->last_sync_ms = now;
            if (flv_file_writer_sync(&ch->file) != ST_OK)
                channel_fail(w, ch);
            else
                atomic_fetch_add(&w->stats.fsyncs, 1);
        }
    }
}

static void perform(struct record_writer *w, struct record_op *op)
{
    switch (op->kind) {
    case OP_OPEN:
        do_open(w, op);
        break;
    case OP_FRAME:
        do_frame(w, op);
        fanout_frame_unref(op->frame);
        break;
    case OP_CLOSE:
        file_close(w, op->ch);
        break;
    case OP_RELEASE:
        file_close(w, op->ch);
        free(op->ch);
        break;
    }
    free(op);
}

static void *writer_main(void *arg)
{
    struct record_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while ((!w->head || w->paused) && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        struct record_op *op = w->head;
        if (!op)
            break; /* stopping and drained */
        w->head = op->next;
        if (!w->head)
            w->tail = NULL;
        if (op->kind == OP_FRAME) {
            w->queued_frames--;
            w->queued_bytes -= op->frame->body_len;
        }
        pthread_mutex_unlock(&w->mu);
        perform(w, op);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Let the converter finish what is queued, then join it. */
static void stop_mp4(struct record_writer *w)
{
    if (!w->mp4_started)
        return;
    pthread_mutex_lock(&w->mu);
    w->mp4_stopping = 1;
    pthread_cond_signal(&w->mp4_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->mp4_thread, NULL);
    w->mp4_started = 0;
}

int record_writer_start(struct record_writer *w, const struct record_writer_settings *s)
{
    memset(w, 0, sizeof(*w));
    w->cfg = *s;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return ST_ERROR;
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        return ST_ERROR;
    }
    if (pthread_cond_init(&w->mp4_cv, NULL) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return ST_ERROR;
    }
    int e = w->cfg.mp4 ? pthread_create(&w->mp4_thread, NULL, mp4_main, w) : 0;
    if (e != 0)
        LOG_ERROR("record: cannot start the mp4 thread: %s; recordings stay FLV only", strerror(e));
    w->mp4_started = w->cfg.mp4 && e == 0;
    e = pthread_create(&w->thread, NULL, writer_main, w);
    if (e != 0) {
        LOG_ERROR("record: cannot start the writer thread: %s", strerror(e));
        stop_mp4(w);
        pthread_cond_destroy(&w->mp4_cv);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return ST_ERROR;
    }
    w->started = 1;
    return ST_OK;
}

void record_writer_stop(struct record_writer *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    w->paused = 0;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    stop_mp4(w); /* after the writer: its last closes queue conversions */
    pthread_cond_destroy(&w->mp4_cv);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->started = 0;
}

struct record_channel *record_writer_channel_new(struct record_writer *w)
{
    (void)w;
    struct record_channel *ch = calloc(1, sizeof(*ch));
    struct record_op *end = calloc(1, sizeof(*end));
    if (!ch || !end) {
        free(ch);
        free(end);
        return NULL;
    }
    end->kind = OP_RELEASE;
    end->ch = ch;
    ch->end_op = end;
    flv_file_writer_init(&ch->file);
    return ch;
}

static void push(struct record_writer *w, struct record_op *op)
{
    op->next = NULL;
    if (w->tail)
        w->tail->next = op;
    else
        w->head = op;
    w->tail = op;
    pthread_cond_signal(&w->cv);
}

static int push_control(struct record_writer *w, struct record_channel *ch, enum record_op_kind kind,
                        const char *path, int has_audio, int has_video)
{
    size_t plen = path ? strlen(path) + 1 : 0;
    struct record_op *op = malloc(sizeof(*op) + plen);
    if (!op)
        return ST_ERROR;
    op->kind = kind;
    op->ch = ch;
    op->frame = NULL;
    op->ts = 0;
    op->has_audio = has_audio;
    op->has_video = has_video;
    if (plen)
        memcpy(op->path, path, plen);
    pthread_mutex_lock(&w->mu);
    push(w, op);
    pthread_mutex_unlock(&w->mu);
    return ST_OK;
}

int record_writer_open(struct record_writer *w, struct record_channel *ch, const char *path, int has_audio,
                       int has_video)
{
    if (atomic_load(&ch->failed))
        return ST_ERROR;
    return push_control(w, ch, OP_OPEN, path, has_audio, has_video);
}

int record_writer_frame(struct record_writer *w, struct record_channel *ch, struct fanout_frame *f, uint32_t ts)
{
    if (atomic_load(&ch->failed))
        return ST_ERROR;
    struct record_op *op = malloc(sizeof(*op));
    if (!op)
        return ST_AGAIN; /* treated like a full queue: drop to the next keyframe */
    op->kind = OP_FRAME;
    op->ch = ch;
    op->frame = f;
    op->ts = ts;
    pthread_mutex_lock(&w->mu);
    if (w->queued_frames + 1 > w->cfg.max_frames || w->queued_bytes + f->body_len > w->cfg.max_bytes) {
        pthread_mutex_unlock(&w->mu);
        free(op);
        return ST_AGAIN;
    }
    fanout_frame_ref(f);
    w->queued_frames++;
    w->queued_bytes += f->body_len;
    push(w, op);
    pthread_mutex_unlock(&w->mu);
    return ST_OK;
}

int record_writer_close(struct record_writer *w, struct record_channel *ch)
{
    if (atomic_load(&ch->failed))
        return ST_ERROR;
    return push_control(w, ch, OP_CLOSE, NULL, 0, 0);
}

void record_writer_channel_release(struct record_writer *w, struct record_channel *ch)
{
    if (!ch)
        return;
    struct record_op *op = ch->end_op; /* allocated with the channel: the end cannot fail */
    ch->end_op = NULL;
    pthread_mutex_lock(&w->mu);
    push(w, op);
    pthread_mutex_unlock(&w->mu);
}

void record_writer_channel_path(struct record_writer *w, struct record_channel *ch, char *out, size_t len)
{
    pthread_mutex_lock(&w->mu);
    snprintf(out, len, "%s", ch->path);
    pthread_mutex_unlock(&w->mu);
}

void record_writer_pause(struct record_writer *w, int paused)
{
    pthread_mutex_lock(&w->mu);
    w->paused = paused;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}
