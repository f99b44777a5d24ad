/*
 * record_hls: HLS video on demand from a scanned recording
 * (flv_file_reader.h): the playlist and each MPEG-TS segment (ts_muxer.h),
 * made on request from the file's index.
 *
 * Segments: they start at index entries (keyframes; audio-only files: the
 * index's audio points) and a new one starts at the first entry at least
 * target_ms after the current one's start, so every segment decodes on its
 * own and lasts about target_ms (more when keyframes are sparse). The last
 * one ends where the scan ended (a truncated tail is left out). A file with
 * no index entry has no segments.
 *
 * Playlist: #EXT-X-PLAYLIST-TYPE:VOD, #EXT-X-TARGETDURATION (the longest
 * segment, rounded up), #EXTINF per segment, #EXT-X-ENDLIST; segment URIs
 * are "<prefix><n>.ts", relative to the playlist.
 *
 * Pure over the reader (reads its file with bounded preads: one segment's
 * tags); output into a caller buf whose cap bounds it. Not thread-safe.
 * ST_OK, ST_DONE (no such segment), or ST_ERROR with a static reason.
 */
#ifndef SC_RECORD_HLS_H
#define SC_RECORD_HLS_H

#include "core/buf.h"
#include "record/flv_file_reader.h"

#include <stdint.h>

#define RECORD_HLS_MAX_TAG (16u << 20) /* largest tag muxed */

struct record_hls_segment {
    uint64_t start, end; /* tag offsets [start, end) */
    uint32_t ts;         /* first timestamp (ms) */
    uint32_t duration;   /* ms */
};

/* Segment n of the scanned file. ST_OK, or ST_DONE when n is past the last. */
int record_hls_segment_at(const struct flv_file_reader *r, uint32_t target_ms, uint32_t n,
                          struct record_hls_segment *seg);
/* How many segments the file has. */
uint32_t record_hls_count(const struct flv_file_reader *r, uint32_t target_ms);

/* Append the playlist. ST_OK or ST_ERROR (out's cap). */
int record_hls_playlist(const struct flv_file_reader *r, uint32_t target_ms, const char *prefix, struct buf *out);

/* Append segment n as MPEG-TS. ST_OK, ST_DONE (no segment n), ST_ERROR
 * (read error, codec headers the muxer refuses, out's cap; *err says). */
int record_hls_segment(struct flv_file_reader *r, uint32_t target_ms, uint32_t n, struct buf *out, const char **err);

#endif
