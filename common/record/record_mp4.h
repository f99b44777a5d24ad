/*
 * record_mp4: turn a closed FLV recording into a fragmented MP4 next to it
 * ("<dir>/<name>.flv" -> "<dir>/<name>.mp4"), with our own muxer
 * (fmp4_muxer.h): the init segment, then one moof+mdat per keyframe
 * interval (per RECORD_MP4_AUDIO_FRAGMENT_MS of an audio-only file).
 *
 * Blocking file I/O: for the recording writer thread (record_writer.h) or a
 * tool, never for an event loop. The FLV is read back tag by tag
 * (flv_file_reader.h), so memory is bounded by one fragment: a fragment is
 * cut early once it holds RECORD_MP4_MAX_FRAGMENT_BYTES of tag bodies or
 * RECORD_MP4_MAX_FRAGMENT_SAMPLES samples. A recording cut by a crash
 * converts up to its last whole tag.
 *
 * Crash safety: the MP4 is written to "<name>.mp4.part" (fsynced when sync
 * is set) and renamed to "<name>.mp4" only once complete; on any failure the
 * .part is removed, so a half MP4 never carries the final name.
 *
 * Codecs: the first video and audio sequence headers of the file configure
 * the tracks (H.264, HEVC, AV1, AAC). A track whose codec fMP4 cannot carry
 * (legacy codecs, no sequence header) is left out and reported in
 * res->warning; with no track left the conversion fails. A later sequence
 * header that differs from the first (the publisher changed its encoder)
 * ends the MP4 there, also with a warning.
 *
 * Returns ST_OK (res->fragments, res->samples filled) or ST_ERROR with a
 * static reason in res->error and the errno of an I/O failure in res->err.
 * Nothing is logged: the caller logs once with the path.
 */
#ifndef SC_RECORD_MP4_H
#define SC_RECORD_MP4_H

#include <stddef.h>
#include <stdint.h>

#define RECORD_MP4_MAX_FRAGMENT_BYTES (8u << 20)
#define RECORD_MP4_MAX_FRAGMENT_SAMPLES 2000
#define RECORD_MP4_AUDIO_FRAGMENT_MS 2000
#define RECORD_MP4_MAX_TAG (16u << 20) /* a bigger tag ends the FLV (flv_file_reader) */

struct record_mp4_result {
    uint32_t fragments;  /* moof+mdat pairs written */
    uint64_t samples;    /* media samples written */
    uint64_t bytes;      /* size of the MP4 */
    const char *warning; /* static: a track left out, or an early end; NULL when none */
    const char *error;   /* static reason after ST_ERROR */
    int err;             /* errno of an I/O failure, else 0 */
};

/* The MP4 name for an FLV path: the trailing ".flv" (if any) replaced by
 * ".mp4". ST_OK, or ST_ERROR when out is too small. */
int record_mp4_path(const char *flv_path, char *out, size_t len);

/* Convert flv_path to its MP4 (see above); an existing MP4 of that name is
 * replaced. sync: fsync the MP4 before the rename. */
int record_mp4_convert(const char *flv_path, int sync, struct record_mp4_result *res);

#endif
