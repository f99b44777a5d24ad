/*
 * flv_file_reader: random access to an FLV file (a recording): one scan
 * builds an index of random-access points, then tags are read at any offset.
 *
 * Scan: flv_file_reader_scan walks the tag headers from the start, reading
 * the file in bounded chunks (FLV_FILE_READER_CHUNK bytes per pread) and at
 * most `budget` bytes per call, so a caller on an event loop spreads a big
 * file over several loop turns (the reads are preads of a local file: short,
 * bounded, acceptable on a loop; nothing else here blocks). It notes the
 * first onMetaData and the first audio/video sequence headers, and indexes
 * video keyframes (for an audio-only file: one audio tag every
 * FLV_FILE_READER_AUDIO_STEP ms). The scan ends at the end of the file or at
 * the first tag that is incomplete (a recording cut by a crash), oversized
 * (over max_tag_size), encrypted or of an unknown type (garbage): everything
 * before it stays readable and `end` marks where it stopped. Previous-tag
 * sizes are not checked (real muxers get them wrong), only present.
 *
 * Index bounds: at most max_keys entries (later ones are not indexed: seeking
 * gets coarser, nothing fails); entries are kept in timestamp order (a key
 * whose timestamp goes backwards is not indexed).
 *
 * Sources: a file (path; the size is taken at open, so a file still being
 * written is read up to that size) or a memory block (tests, fuzzing).
 *
 * Ownership: the caller embeds the struct; open allocates the chunk buffer
 * and index, close frees them and the fd. Not thread-safe; one user at a time.
 * Errors: ST_ERROR with a static reason in r->error (and r->err, the errno,
 * for I/O failures).
 */
#ifndef SC_FLV_FILE_READER_H
#define SC_FLV_FILE_READER_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

#define FLV_FILE_READER_CHUNK 65536
#define FLV_FILE_READER_AUDIO_STEP 500 /* ms between index entries of an audio-only file */

struct flv_file_key {
    uint32_t timestamp; /* ms */
    uint64_t offset;    /* of the tag header */
};

/* One tag read by flv_file_reader_read. */
struct flv_file_tag {
    uint8_t type;        /* 8 audio, 9 video, 18 script */
    uint32_t timestamp;  /* ms, extended byte applied */
    uint32_t size;       /* body bytes */
    const uint8_t *body; /* inside the caller's buf, valid until it changes */
    int keyframe;        /* video keyframe (not a sequence header or end of sequence) */
    int seq_header;      /* audio/video codec configuration */
    int metadata;        /* onMetaData */
};

struct flv_file_reader {
    int fd;             /* -1 for a memory source */
    const uint8_t *mem; /* memory source (borrowed), else NULL */
    uint64_t size;      /* source bytes (at open) */
    uint32_t max_tag_size;
    uint32_t max_keys;
    int has_audio, has_video; /* header flags (informative only) */
    uint64_t data_start;      /* offset of the first tag */

    /* scan results */
    uint64_t scan_off;  /* next tag header to look at */
    int scan_done;
    int truncated;      /* the scan stopped before the end of the source */
    const char *stop_reason; /* why it stopped early (static), NULL at a clean end */
    uint64_t end;       /* offset after the last complete tag scanned */
    uint64_t tags;      /* complete tags scanned */
    uint32_t first_ts;  /* of the first audio/video tag */
    uint32_t last_ts;   /* highest audio/video timestamp seen */
    int seen_video, seen_audio;
    uint64_t meta_off;  /* first onMetaData tag, 0 = none (0 is never a tag) */
    uint64_t vhdr_off;  /* first video sequence header, 0 = none */
    uint64_t ahdr_off;  /* first audio sequence header, 0 = none */
    struct flv_file_key *keys;
    uint32_t nkeys, keys_cap;

    /* read-ahead for scanning (private) */
    uint8_t *chunk;
    uint64_t chunk_off;
    uint32_t chunk_len;

    const char *error; /* static reason after ST_ERROR */
    int err;           /* errno of an I/O failure, else 0 */
};

/* Open a file and check the FLV header. ST_OK, or ST_ERROR (r->error,
 * r->err; nothing to close). */
int flv_file_reader_open(struct flv_file_reader *r, const char *path, uint32_t max_tag_size, uint32_t max_keys);
/* The same over len bytes at data (borrowed until close). */
int flv_file_reader_open_mem(struct flv_file_reader *r, const uint8_t *data, size_t len, uint32_t max_tag_size,
                             uint32_t max_keys);
void flv_file_reader_close(struct flv_file_reader *r);

/* Scan on, reading at most about budget bytes (at least one chunk; 0 = no
 * limit; a memory source reads nothing and finishes in one call). ST_OK:
 * the scan is complete; ST_AGAIN: call again; ST_ERROR: an I/O error
 * (r->error). A truncated or garbage tail is not an error (see above). */
int flv_file_reader_scan(struct flv_file_reader *r, size_t budget);

/* Read the tag at *off (a tag boundary: data_start, an index offset, a
 * previous read's *off) into b (reset first; grows up to the tag size) and
 * advance *off past it. ST_OK; ST_DONE at `end` once the scan is complete;
 * ST_AGAIN at `end` while the scan is still running; ST_ERROR on an I/O
 * error or a tag that no longer matches the scan (the file changed). */
int flv_file_reader_read(struct flv_file_reader *r, uint64_t *off, struct flv_file_tag *tag, struct buf *b);

/* The random-access point to start at for time ms: the last index entry at
 * or before ms, else the first one, else data_start (no index). */
void flv_file_reader_seek(const struct flv_file_reader *r, uint32_t ms, uint64_t *off, uint32_t *ts);

/* Classify a tag from its type and first body bytes (at least the first
 * min(size, 16) of them): keyframe / sequence header / metadata flags. */
void flv_file_reader_classify(uint8_t type, const uint8_t *body, uint32_t len, struct flv_file_tag *tag);

#endif
