#include "record/record_hls.h"

#include "core/status.h"
#include "hls/ts_muxer.h"

#include <stdio.h>
#include <string.h>

typedef int (*segment_cb)(void *ctx, uint32_t n, const struct record_hls_segment *s);

/* Visit the segments in order until cb returns non-zero; returns how many
 * were visited (all of them when cb never stops the walk). */
static uint32_t walk(const struct flv_file_reader *r, uint32_t target_ms, segment_cb cb, void *ctx)
{
    uint32_t count = 0, first = 0;
    for (uint32_t i = 1; i <= r->nkeys; i++) {
        int last = i == r->nkeys;
        if (!last && r->keys[i].timestamp - r->keys[first].timestamp < target_ms)
            continue;
        struct record_hls_segment s = {
            .start = r->keys[first].offset,
            .end = last ? r->end : r->keys[i].offset,
            .ts = r->keys[first].timestamp,
        };
        uint32_t end_ts = last ? r->last_ts : r->keys[i].timestamp;
        s.duration = end_ts > s.ts ? end_ts - s.ts : 1;
        count++;
        if (cb && cb(ctx, count - 1, &s))
            break;
        first = i;
    }
    return count;
}

struct find_ctx {
    uint32_t n;
    struct record_hls_segment *seg;
};

static int find_cb(void *ctx, uint32_t n, const struct record_hls_segment *s)
{
    struct find_ctx *f = ctx;
    if (n != f->n)
        return 0;
    *f->seg = *s;
    return 1;
}

int record_hls_segment_at(const struct flv_file_reader *r, uint32_t target_ms, uint32_t n,
                          struct record_hls_segment *seg)
{
    struct find_ctx f = {n, seg};
    return n < UINT32_MAX && walk(r, target_ms, find_cb, &f) == n + 1 ? ST_OK : ST_DONE;
}

uint32_t record_hls_count(const struct flv_file_reader *r, uint32_t target_ms)
{
    return walk(r, target_ms, NULL, NULL);
}

static int longest_cb(void *ctx, uint32_t n, const struct record_hls_segment *s)
{
    (void)n;
    uint32_t *longest = ctx;
    if (s->duration > *longest)
        *longest = s->duration;
    return 0;
}

struct list_ctx {
    struct buf *out;
    const char *prefix;
    int rc;
};

static int list_cb(void *ctx, uint32_t n, const struct record_hls_segment *s)
{
    struct list_ctx *l = ctx;
    char line[512];
    int k = snprintf(line, sizeof(line), "#EXTINF:%u.%03u,\n%s%u.ts\n", s->duration / 1000, s->duration % 1000,
                     l->prefix, n);
    l->rc = k > 0 && (size_t)k < sizeof(line) ? buf_append(l->out, line, (size_t)k) : ST_ERROR;
    return l->rc != ST_OK;
}

int record_hls_playlist(const struct flv_file_reader *r, uint32_t target_ms, const char *prefix, struct buf *out)
{
    char head[256];
    uint32_t longest = 0;
    walk(r, target_ms, longest_cb, &longest);
    uint32_t target_s = (longest + 999) / 1000;
    int k = snprintf(head, sizeof(head),
                     "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:%u\n"
                     "#EXT-X-MEDIA-SEQUENCE:0\n",
                     target_s ? target_s : 1);
    struct list_ctx l = {out, prefix, buf_append(out, head, (size_t)k)};
    if (l.rc == ST_OK)
        walk(r, target_ms, list_cb, &l);
    if (l.rc == ST_OK)
        l.rc = buf_append(out, "#EXT-X-ENDLIST\n", 15);
    return l.rc;
}

/* Read the tag at off (a sequence header) into b. */
static int read_header(struct flv_file_reader *r, uint64_t off, struct buf *b, const uint8_t **body, uint32_t *len,
                       const char **err)
{
    struct flv_file_tag t;
    *body = NULL;
    *len = 0;
    if (!off)
        return ST_OK;
    if (flv_file_reader_read(r, &off, &t, b) != ST_OK) {
        *err = r->error ? r->error : "cannot read a codec header";
        return ST_ERROR;
    }
    *body = t.body;
    *len = t.size;
    return ST_OK;
}

int record_hls_segment(struct flv_file_reader *r, uint32_t target_ms, uint32_t n, struct buf *out, const char **err)
{
    struct record_hls_segment seg;
    *err = NULL;
    if (record_hls_segment_at(r, target_ms, n, &seg) != ST_OK)
        return ST_DONE;
    struct buf vh, ah, tag;
    buf_init(&vh, RECORD_HLS_MAX_TAG);
    buf_init(&ah, RECORD_HLS_MAX_TAG);
    buf_init(&tag, RECORD_HLS_MAX_TAG);
    struct hls_codec_headers h = {0};
    struct ts_muxer m;
    int rc = read_header(r, r->vhdr_off, &vh, &h.video, &h.video_len, err);
    if (rc == ST_OK)
        rc = read_header(r, r->ahdr_off, &ah, &h.audio, &h.audio_len, err);
    if (rc == ST_OK)
        rc = ts_muxer_begin(&m, &h, err);
    if (rc == ST_OK)
        rc = ts_muxer_write_tables(&m, out);
    uint64_t off = seg.start;
    while (rc == ST_OK && off < seg.end) {
        struct flv_file_tag t;
        int rr = flv_file_reader_read(r, &off, &t, &tag);
        if (rr != ST_OK) {
            *err = rr == ST_ERROR && r->error ? r->error : "segment past the end of the file";
            rc = ST_ERROR;
            break;
        }
        if ((t.type != 8 && t.type != 9) || t.seq_header)
            continue;
        struct hls_sample s = {.kind = t.type, .key = (uint8_t)t.keyframe, .dts = t.timestamp, .body = t.body,
                               .len = t.size};
        rc = ts_muxer_write_sample(&m, out, &s, err);
    }
    if (rc != ST_OK && !*err)
        *err = "segment larger than the output limit";
    buf_free(&vh);
    buf_free(&ah);
    buf_free(&tag);
    return rc;
}
