#include "record/flv_file_reader.h"

#include "core/status.h"
#include "media/media_codec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FLV_PREV_LEN 4
#define FLV_TAG_HDR 11
#define FLV_CLASSIFY_BYTES 16
#define FLV_MAX_DATA_OFFSET 65536 /* the header's DataOffset: nobody writes more than 9 */
#define FLV_INITIAL_KEYS 256

static int fail(struct flv_file_reader *r, const char *why, int err)
{
    r->error = why;
    r->err = err;
    return ST_ERROR;
}

/* Copy n bytes at off (in range) from the source. */
static int source_read(struct flv_file_reader *r, uint64_t off, uint8_t *dst, size_t n)
{
    if (r->mem) {
        memcpy(dst, r->mem + off, n);
        return ST_OK;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(r->fd, dst + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return fail(r, "read failed", errno);
        if (k == 0)
            return fail(r, "file shrank while reading", 0);
        got += (size_t)k;
    }
    return ST_OK;
}

/* Point *p at n (<= FLV_FILE_READER_CHUNK) bytes at off, which the caller
 * has checked are inside the source; refills the chunk when needed and adds
 * what it read to *spent. */
static int peek(struct flv_file_reader *r, uint64_t off, size_t n, const uint8_t **p, size_t *spent)
{
    if (r->mem) {
        *p = r->mem + off;
        return ST_OK;
    }
    if (off < r->chunk_off || off + n > r->chunk_off + r->chunk_len) {
        uint64_t left = r->size - off;
        uint32_t len = left < FLV_FILE_READER_CHUNK ? (uint32_t)left : FLV_FILE_READER_CHUNK;
        r->chunk_len = 0;
        if (source_read(r, off, r->chunk, len) != ST_OK)
            return ST_ERROR;
        r->chunk_off = off;
        r->chunk_len = len;
        *spent += len;
    }
    *p = r->chunk + (off - r->chunk_off);
    return ST_OK;
}

static int check_header(struct flv_file_reader *r)
{
    uint8_t h[9];
    if (r->size < 9 + FLV_PREV_LEN)
        return fail(r, "not an FLV file (too short)", 0);
    if (source_read(r, 0, h, 9) != ST_OK)
        return ST_ERROR;
    if (h[0] != 'F' || h[1] != 'L' || h[2] != 'V' || h[3] != 1)
        return fail(r, "not an FLV file (bad signature)", 0);
    uint32_t data_offset = rd_be32(h + 5);
    if (data_offset < 9 || data_offset > FLV_MAX_DATA_OFFSET)
        return fail(r, "not an FLV file (bad data offset)", 0);
    r->has_audio = (h[4] & 4) != 0;
    r->has_video = (h[4] & 1) != 0;
    r->data_start = (uint64_t)data_offset + FLV_PREV_LEN;
    if (r->data_start > r->size)
        return fail(r, "not an FLV file (data offset past the end)", 0);
    r->scan_off = r->end = r->data_start;
    return ST_OK;
}

static int setup(struct flv_file_reader *r, uint32_t max_tag_size, uint32_t max_keys)
{
    r->max_tag_size = max_tag_size;
    r->max_keys = max_keys;
    if (!r->mem) {
        r->chunk = malloc(FLV_FILE_READER_CHUNK);
        if (!r->chunk)
            return fail(r, "out of memory", ENOMEM);
    }
    if (check_header(r) != ST_OK) {
        free(r->chunk);
        r->chunk = NULL;
        return ST_ERROR;
    }
    return ST_OK;
}

int flv_file_reader_open(struct flv_file_reader *r, const char *path, uint32_t max_tag_size, uint32_t max_keys)
{
    memset(r, 0, sizeof(*r));
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return fail(r, "cannot open", errno);
    struct stat st;
    int bad = fstat(r->fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? -1 : 0;
    if (bad) {
        close(r->fd);
        r->fd = -1;
        return bad > 0 ? fail(r, "cannot stat", bad) : fail(r, "not a regular file", 0);
    }
    r->size = (uint64_t)st.st_size;
    if (setup(r, max_tag_size, max_keys) != ST_OK) {
        close(r->fd);
        r->fd = -1;
        return ST_ERROR;
    }
    return ST_OK;
}

int flv_file_reader_open_mem(struct flv_file_reader *r, const uint8_t *data, size_t len, uint32_t max_tag_size,
                             uint32_t max_keys)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->mem = data ? data : (const uint8_t *)"";
    r->size = data ? len : 0;
    return setup(r, max_tag_size, max_keys);
}

void flv_file_reader_close(struct flv_file_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    free(r->chunk);
    free(r->keys);
    r->chunk = NULL;
    r->keys = NULL;
    r->nkeys = r->keys_cap = 0;
}

void flv_file_reader_classify(uint8_t type, const uint8_t *body, uint32_t len, struct flv_file_tag *tag)
{
    static const uint8_t on_meta[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'};
    tag->keyframe = tag->seq_header = tag->metadata = 0;
    const char *err = NULL;
    if (type == 9) {
        struct media_video_info vi;
        if (media_codec_probe_video(body, len, &vi, &err) == ST_OK) {
            tag->seq_header = vi.sequence_header;
            tag->keyframe = vi.keyframe && !vi.sequence_header && !vi.end_of_sequence;
        }
    } else if (type == 8) {
        struct media_audio_info ai;
        if (media_codec_probe_audio(body, len, &ai, &err) == ST_OK)
            tag->seq_header = ai.sequence_header;
    } else if (type == 18) {
        tag->metadata = len >= sizeof(on_meta) && memcmp(body, on_meta, sizeof(on_meta)) == 0;
    }
}

static void add_key(struct flv_file_reader *r, uint32_t ts, uint64_t off)
{
    if (r->nkeys > 0 && ts < r->keys[r->nkeys - 1].timestamp)
        return; /* keep the index sorted for the binary search */
    if (r->nkeys == r->keys_cap) {
        if (r->keys_cap >= r->max_keys)
            return;
        uint32_t cap = r->keys_cap ? r->keys_cap * 2 : FLV_INITIAL_KEYS;
        if (cap > r->max_keys)
            cap = r->max_keys;
        struct flv_file_key *k = realloc(r->keys, cap * sizeof(*k));
        if (!k)
            return; /* a coarser index, not a failure */
        r->keys = k;
        r->keys_cap = cap;
    }
    r->keys[r->nkeys].timestamp = ts;
    r->keys[r->nkeys].offset = off;
    r->nkeys++;
}

/* Record what one complete tag means for the index. */
static void note_tag(struct flv_file_reader *r, uint64_t off, uint8_t type, uint32_t ts, const uint8_t *body,
                     uint32_t len)
{
    struct flv_file_tag t;
    flv_file_reader_classify(type, body, len, &t);
    if (t.metadata && !r->meta_off)
        r->meta_off = off;
    if (t.seq_header && type == 9 && !r->vhdr_off)
        r->vhdr_off = off;
    if (t.seq_header && type == 8 && !r->ahdr_off)
        r->ahdr_off = off;
    if (type == 18 || t.seq_header)
        return;
    if (!r->seen_audio && !r->seen_video)
        r->first_ts = ts;
    if (ts > r->last_ts)
        r->last_ts = ts;
    if (type == 9) {
        if (!r->seen_video) {
            /* Audio points were only a stand-in until video shows up. */
            r->seen_video = 1;
            r->nkeys = 0;
        }
        if (t.keyframe)
            add_key(r, ts, off);
    } else {
        r->seen_audio = 1;
        if (!r->seen_video &&
            (r->nkeys == 0 || ts - r->keys[r->nkeys - 1].timestamp >= FLV_FILE_READER_AUDIO_STEP))
            add_key(r, ts, off);
    }
}

static void stop_scan(struct flv_file_reader *r, const char *why)
{
    r->scan_done = 1;
    r->truncated = why != NULL;
    r->stop_reason = why;
}

int flv_file_reader_scan(struct flv_file_reader *r, size_t budget)
{
    size_t spent = 0;
    while (!r->scan_done) {
        uint64_t off = r->scan_off;
        if (off == r->size) {
            stop_scan(r, NULL);
            break;
        }
        if (r->size - off < FLV_TAG_HDR) {
            stop_scan(r, "truncated tag header");
            break;
        }
        if (budget > 0 && spent >= budget)
            return ST_AGAIN;
        const uint8_t *h;
        uint64_t avail = r->size - off - FLV_TAG_HDR;
        size_t want = FLV_TAG_HDR + (avail < FLV_CLASSIFY_BYTES ? (size_t)avail : FLV_CLASSIFY_BYTES);
        if (peek(r, off, want, &h, &spent) != ST_OK)
            return ST_ERROR;
        uint8_t type = h[0] & 0x1f;
        uint32_t size = rd_be24(h + 1);
        uint32_t ts = rd_be24(h + 4) | (uint32_t)h[7] << 24;
        if (h[0] & 0x20) {
            stop_scan(r, "encrypted tag");
            break;
        }
        if (type != 8 && type != 9 && type != 18) {
            stop_scan(r, "unknown tag type");
            break;
        }
        if (size > r->max_tag_size) {
            stop_scan(r, "tag over max_tag_size");
            break;
        }
        if (avail < (uint64_t)size + FLV_PREV_LEN) {
            stop_scan(r, "truncated tag");
            break;
        }
        uint32_t seen = size < FLV_CLASSIFY_BYTES ? size : FLV_CLASSIFY_BYTES;
        note_tag(r, off, type, ts, h + FLV_TAG_HDR, seen);
        r->tags++;
        r->scan_off = r->end = off + FLV_TAG_HDR + size + FLV_PREV_LEN;
    }
    return ST_OK;
}

int flv_file_reader_read(struct flv_file_reader *r, uint64_t *off, struct flv_file_tag *tag, struct buf *b)
{
    if (*off >= r->end)
        return r->scan_done ? ST_DONE : ST_AGAIN;
    if (r->end - *off < FLV_TAG_HDR + FLV_PREV_LEN)
        return fail(r, "read outside the scanned tags", 0);
    uint8_t h[FLV_TAG_HDR];
    if (source_read(r, *off, h, FLV_TAG_HDR) != ST_OK)
        return ST_ERROR;
    uint32_t size = rd_be24(h + 1);
    uint8_t type = h[0] & 0x1f;
    if ((type != 8 && type != 9 && type != 18) || size > r->max_tag_size ||
        r->end - *off - FLV_TAG_HDR - FLV_PREV_LEN < size)
        return fail(r, "tag does not match the scan (file changed?)", 0);
    buf_reset(b);
    if (buf_reserve(b, size ? size : 1) != ST_OK)
        return fail(r, "out of memory", ENOMEM);
    if (size && source_read(r, *off + FLV_TAG_HDR, b->data, size) != ST_OK)
        return ST_ERROR;
    b->len = size;
    tag->type = type;
    tag->size = size;
    tag->timestamp = rd_be24(h + 4) | (uint32_t)h[7] << 24;
    tag->body = b->data;
    flv_file_reader_classify(type, b->data, size, tag);
    *off += FLV_TAG_HDR + (uint64_t)size + FLV_PREV_LEN;
    return ST_OK;
}

void flv_file_reader_seek(const struct flv_file_reader *r, uint32_t ms, uint64_t *off, uint32_t *ts)
{
    if (r->nkeys == 0) {
        *off = r->data_start;
        *ts = 0;
        return;
    }
    uint32_t lo = 0, hi = r->nkeys; /* first entry with timestamp > ms */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->keys[mid].timestamp <= ms)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct flv_file_key *k = &r->keys[lo > 0 ? lo - 1 : 0];
    *off = k->offset;
    *ts = k->timestamp;
}
