/*
 * record_writer: the thread that writes recordings, so the event loop never
 * touches a file (STYLE.md 7: no blocking call, no fsync on a loop).
 *
 * The loop queues operations on channels; the thread performs them in order.
 * A channel is one recording: a sequence of files (open, tags, close, open
 * the next one on rotation...). Frames travel as references (fanout_frame
 * has an atomic count): the loop takes one when queueing and the thread
 * drops it once the tag is written, so nothing is copied.
 *
 * Bounds: queued frames are capped by count and by body bytes over all
 * channels (settings); a frame over either cap is refused with ST_AGAIN and
 * the caller (record_stream) drops to the next keyframe. Control operations
 * (open, close, release) are never refused, so a channel always ends.
 * Each operation is one small malloc (a node of the queue).
 *
 * Errors: a failed open/write/fsync is logged once by the thread with the
 * path and the errno text, counted (stats.errors and the channel's), and
 * stops that channel only: its later operations are skipped and queueing
 * on it returns ST_ERROR. Other channels go on.
 *
 * MP4: with settings.mp4, each file closed cleanly (rotation, close,
 * release, stop) is then converted to "<name>.mp4" by a second thread
 * (record_mp4.h: bounded memory, written as .part and renamed), so a long
 * conversion never holds up the writing of live recordings; at most
 * RECORD_MP4_QUEUE closed files wait for it (more are skipped, logged and
 * counted). A failed (or incomplete: a track fMP4 cannot carry) conversion
 * is logged once with the path and counted in stats.mp4_errors; it never
 * touches the FLV nor stops the channel. Stop waits for the queued ones.
 *
 * fsync policy: RECORD_FSYNC_NONE (the kernel decides), RECORD_FSYNC_ROTATE
 * (each file is fsynced when it is closed), or RECORD_FSYNC_INTERVAL (also
 * after a write that comes fsync_ms or more after the file's last fsync,
 * and on close: a stalled stream's last tags wait for the close).
 *
 * Threads: start/stop, channel_new and the queueing calls belong to one
 * loop thread; the stats and channel status readers may run anywhere.
 * Ownership: the owner embeds struct record_writer; a channel is created by
 * channel_new and given up with channel_release (the thread frees it after
 * closing its file); the owner must not touch it afterwards. stop drains
 * the queue (every queued tag is written, every file closed) and joins.
 */
#ifndef SC_RECORD_WRITER_H
#define SC_RECORD_WRITER_H

#include "fanout/fanout_frame.h"
#include "record/flv_file_writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct record_op; /* private queue node */

enum record_fsync { RECORD_FSYNC_NONE = 0, RECORD_FSYNC_ROTATE, RECORD_FSYNC_INTERVAL };

struct record_writer_settings {
    uint32_t max_frames;   /* frames queued at most (all channels) */
    size_t max_bytes;      /* frame body bytes queued at most */
    enum record_fsync fsync;
    long fsync_ms;         /* RECORD_FSYNC_INTERVAL period */
    int mp4;               /* also make <name>.mp4 of each closed file */
};

struct record_writer_stats {
    atomic_ullong files_opened;
    atomic_ullong files_closed;
    atomic_ullong bytes_written;
    atomic_ullong tags_written;
    atomic_ullong errors;   /* failed open/write/fsync/close (each logged) */
    atomic_ullong fsyncs;
    atomic_ullong mp4_files;  /* MP4s made of closed files */
    atomic_ullong mp4_errors; /* conversions failed or incomplete (each logged) */
};

/* One recording as both sides see it. The loop reads the atomics; path is
 * the file being written (guarded by the writer's mutex: read it with
 * record_writer_channel_path). */
struct record_channel {
    struct flv_file_writer file; /* thread only */
    uint64_t last_sync_ms;       /* thread only */
    atomic_int failed;           /* set by the thread on an error */
    atomic_int open;             /* a file is open */
    atomic_ullong bytes;         /* written to all its files */
    atomic_uint files;           /* files opened */
    atomic_uint errors;
    char path[RECORD_PATH_MAX + 8];
    struct record_op *end_op;    /* the release, allocated up front */
};

/* Closed files waiting for their MP4 (a converter thread of their own, so a
 * long conversion never holds up the FLV writing). */
#define RECORD_MP4_QUEUE 16

struct record_writer {
    struct record_writer_settings cfg;
    struct record_writer_stats stats;
    pthread_t thread;
    pthread_t mp4_thread;
    pthread_cond_t mp4_cv;
    char mp4_paths[RECORD_MP4_QUEUE][RECORD_PATH_MAX + 8]; /* guarded by mu */
    int mp4_sync[RECORD_MP4_QUEUE];
    uint32_t mp4_head, mp4_count;  /* guarded by mu */
    int mp4_stopping;              /* guarded by mu */
    int mp4_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct record_op *head, *tail; /* guarded by mu */
    uint32_t queued_frames;        /* guarded by mu */
    size_t queued_bytes;           /* guarded by mu */
    int paused;                    /* guarded by mu */
    int stopping;                  /* guarded by mu */
    int started;
};

/* Parse a record_fsync value: "none", "rotate", or an interval ("500",
 * "500ms", "2s"; 1 ms .. 1 h). ST_OK or ST_ERROR. */
int record_writer_parse_fsync(const char *s, enum record_fsync *mode, long *ms);

/* Start the thread. ST_OK or ST_ERROR (logged). */
int record_writer_start(struct record_writer *w, const struct record_writer_settings *s);
/* Finish everything queued, close every file, join the thread. Release
 * every channel first (a channel never released is leaked). Idempotent. */
void record_writer_stop(struct record_writer *w);

/* A new channel (no file yet). NULL on allocation failure. */
struct record_channel *record_writer_channel_new(struct record_writer *w);
/* Queue: close the current file if any, then create path and write the FLV
 * header. ST_OK, or ST_ERROR when the channel has failed (or no memory). */
int record_writer_open(struct record_writer *w, struct record_channel *ch, const char *path, int has_audio,
                       int has_video);
/* Queue one tag: f's body at timestamp ts (the file's timeline). Takes its
 * own reference. ST_OK; ST_AGAIN over a queue bound (not queued); ST_ERROR
 * when the channel has failed. */
int record_writer_frame(struct record_writer *w, struct record_channel *ch, struct fanout_frame *f, uint32_t ts);
/* Queue: close the current file (rotation, fsynced per policy). */
int record_writer_close(struct record_writer *w, struct record_channel *ch);
/* Queue the end of the channel: its file is closed and it is freed by the
 * thread. The caller forgets ch. */
void record_writer_channel_release(struct record_writer *w, struct record_channel *ch);

/* The file a channel writes (or last wrote), "" before the first open. */
void record_writer_channel_path(struct record_writer *w, struct record_channel *ch, char *out, size_t len);

/* Stop / resume taking operations off the queue (queueing goes on up to the
 * bounds): for tests of a slow disk, and for an operator's maintenance. */
void record_writer_pause(struct record_writer *w, int paused);

#endif
