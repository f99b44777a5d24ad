/*
 * record_stream: the recording of one live stream, as a tap on its
 * fanout_stream (fanout_stream.h): decides what goes into which file and
 * hands frames to the writer thread (record_writer.h); never touches a file.
 *
 * Files: each file starts at a video keyframe (an audio-only stream: at an
 * audio frame) with the stream's cached onMetaData, then its audio and video
 * sequence headers, all at timestamp 0; frames follow with timestamps
 * relative to that keyframe, so every file plays on its own from 0. Later
 * onMetaData messages are not written (a demuxer takes metadata at 0 only);
 * sequence headers and other data messages are.
 *
 * Rotation: at a keyframe (audio-only: any frame), once the current file
 * holds max_size bytes or max_duration ms, the file is closed and the next
 * one starts with that keyframe. A file may thus pass the limits by up to
 * one GOP. A stream restarted (caches cleared) closes its file; the next
 * keyframe starts a new one.
 *
 * Overflow: when the writer's queue is full (the disk is slower than the
 * stream), frames are dropped up to the next keyframe (so the file never
 * holds frames that cannot be decoded) and the episode is counted once in
 * `overflows`, every frame in `frames_dropped`.
 *
 * Failure: a channel the writer thread gave up on (logged there) makes the
 * tap ignore the stream; the live stream itself is not affected.
 *
 * Ownership: the caller embeds the struct; start adds the tap, stop removes
 * it (never from inside a tap callback) and releases the writer channel.
 * The fanout_stream, writer and settings are borrowed and must outlive it.
 * Loop-confined.
 */
#ifndef SC_RECORD_STREAM_H
#define SC_RECORD_STREAM_H

#include "fanout/fanout_stream.h"
#include "record/record_path.h"
#include "record/record_writer.h"

#include <stdint.h>

struct record_settings {
    const char *root;      /* record_path */
    uint64_t max_size;     /* bytes per file, 0 = no limit */
    uint32_t max_duration; /* ms per file, 0 = no limit */
};

struct record_stream {
    struct fanout_tap tap;
    struct fanout_stream *fs;
    struct record_writer *w;
    struct record_channel *ch;
    const struct record_settings *cfg;
    char app[RECORD_PATH_COMPONENT_MAX + 1];
    char name[RECORD_PATH_COMPONENT_MAX + 1];
    int active;           /* tap added */
    int in_file;          /* a file is open (on the loop's side) */
    int stopped;          /* the channel failed: frames are ignored */
    int wait_key;         /* dropping up to the next keyframe */
    int headers_missing;  /* the file's codec headers did not fit in the queue */
    uint32_t base_ts;     /* stream timestamp at the start of the file */
    uint64_t file_bytes;  /* bytes queued for the current file */
    uint32_t file_ms;     /* media time queued for the current file */
    uint64_t started_unix_ms; /* when the recording started (wall clock) */
    uint32_t files;       /* files started */
    uint64_t frames_queued;
    uint64_t frames_dropped;
    uint64_t overflows;   /* drop-to-keyframe episodes */
    struct record_stream *next; /* for the owner's list */
};

/* Start recording fs (app/name name the files). ST_OK, or ST_ERROR (no
 * memory for the channel). */
int record_stream_start(struct record_stream *rs, struct record_writer *w, const struct record_settings *cfg,
                        struct fanout_stream *fs, const char *app, const char *name);
/* Stop: remove the tap, close the file (the writer finishes what is
 * queued). Idempotent. */
void record_stream_stop(struct record_stream *rs);
/* Whether the writer gave up on this recording. */
int record_stream_failed(const struct record_stream *rs);

#endif
