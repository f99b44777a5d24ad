#include "record/record_mp4.h"

#include "core/buf.h"
#include "core/status.h"
#include "hls/fmp4_muxer.h"
#include "record/flv_file_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Room for one fragment's boxes beyond its sample bytes (trun entries are
 * 16 bytes a sample; the rest is a few hundred bytes). */
#define RECORD_MP4_BOX_SLACK (RECORD_MP4_MAX_FRAGMENT_SAMPLES * 32u + 65536u)

struct conv {
    struct flv_file_reader r;
    int r_open;
    struct buf tag;          /* the tag being read */
    struct buf data;         /* bodies of the fragment being gathered */
    struct buf out;          /* muxer output, written out after each call */
    struct hls_sample *s;    /* RECORD_MP4_MAX_FRAGMENT_SAMPLES */
    size_t *at;              /* offset of s[i]'s body in data (data may move) */
    size_t n;
    uint8_t *vhdr, *ahdr;    /* copies of the first sequence headers */
    struct hls_codec_headers h;
    int fd;
    uint32_t seq;            /* fragments muxed (mfhd sequence numbers from 1) */
    uint32_t frag_start;     /* dts of the fragment's first sample */
    struct record_mp4_result *res;
};

static int fail(struct conv *c, const char *why, int err)
{
    c->res->error = why;
    c->res->err = err;
    return ST_ERROR;
}

int record_mp4_path(const char *flv_path, char *out, size_t len)
{
    size_t n = strlen(flv_path);
    if (n >= 4 && strcmp(flv_path + n - 4, ".flv") == 0)
        n -= 4;
    if (n + 5 > len || n > (size_t)0x7fffffff)
        return ST_ERROR;
    snprintf(out, len, "%.*s.mp4", (int)n, flv_path);
    return ST_OK;
}

static int write_all(struct conv *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(c->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return fail(c, "write failed", errno);
        p += k;
        n -= (size_t)k;
        c->res->bytes += (uint64_t)k;
    }
    return ST_OK;
}

/* Keep a copy of the sequence header at off (0 = none). */
static int copy_header(struct conv *c, uint64_t off, uint8_t **dst, const uint8_t **p, uint32_t *len)
{
    struct flv_file_tag t;
    if (off == 0)
        return ST_OK;
    if (flv_file_reader_read(&c->r, &off, &t, &c->tag) != ST_OK)
        return fail(c, c->r.error ? c->r.error : "cannot read a sequence header", c->r.err);
    *dst = malloc(t.size ? t.size : 1);
    if (!*dst)
        return fail(c, "out of memory", ENOMEM);
    memcpy(*dst, t.body, t.size);
    *p = *dst;
    *len = t.size;
    return ST_OK;
}

/* Pick the tracks fMP4 can carry; their init segment is left in out. */
static int start(struct conv *c)
{
    const char *why = NULL;
    struct hls_codec_headers both = c->h, v = {c->h.video, c->h.video_len, NULL, 0},
                             a = {NULL, 0, c->h.audio, c->h.audio_len};
    if (!c->r.seen_video && !c->r.seen_audio)
        return fail(c, "no audio or video in the recording", 0);
    if ((both.video || both.audio) && fmp4_muxer_init_segment(&c->out, &both, &why) == ST_OK) {
        c->h = both;
    } else if (v.video && fmp4_muxer_init_segment(&c->out, &v, NULL) == ST_OK) {
        c->h = v;
    } else if (a.audio && fmp4_muxer_init_segment(&c->out, &a, NULL) == ST_OK) {
        c->h = a;
    } else {
        return fail(c, why ? why : "no codec fMP4 can carry (it needs H.264, HEVC, AV1 or AAC)", 0);
    }
    if (c->r.seen_video && !c->h.video)
        c->res->warning = "video codec not supported in fMP4: video left out";
    else if (c->r.seen_audio && !c->h.audio)
        c->res->warning = "audio codec not supported in fMP4: audio left out";
    return ST_OK;
}

/* Mux the gathered samples as one fragment and write it. A fragment the
 * muxer refuses (a malformed frame) is left out: the MP4 goes on after it,
 * its tfdt keeps the timeline. */
static int flush(struct conv *c, uint32_t end_dts)
{
    if (c->n == 0)
        return ST_OK;
    for (size_t i = 0; i < c->n; i++)
        c->s[i].body = c->data.data + c->at[i];
    const char *why = NULL;
    if (fmp4_muxer_fragment(&c->out, &c->h, c->seq + 1, c->s, c->n, end_dts, &why) != ST_OK) {
        c->res->warning = "a fragment with a malformed frame was left out";
    } else {
        c->seq++;
        c->res->fragments++;
        c->res->samples += c->n;
    }
    c->n = 0;
    buf_reset(&c->data);
    int rc = write_all(c, c->out.data, c->out.len);
    buf_reset(&c->out);
    return rc;
}

/* Whether a tag carries a frame for the muxer (not configuration, not an
 * end of sequence, not a command frame, not empty). */
static int is_media(const struct flv_file_tag *t)
{
    if (t->seq_header || t->size < 2)
        return 0;
    if (t->type == HLS_SAMPLE_AUDIO)
        return 1; /* the muxer skips what is not a raw AAC frame */
    uint8_t b0 = t->body[0];
    unsigned frame_type = (b0 & 0x80) ? (b0 >> 4) & 7 : b0 >> 4;
    if (frame_type == 5)
        return 0;
    if (!(b0 & 0x80))
        return t->body[1] == 1; /* AVC/HEVC NALUs */
    unsigned pkt = b0 & 0x0f;
    return pkt == 1 || pkt == 3; /* enhanced CodedFrames(X) */
}

/* Same bytes as the header in use (a repeat is harmless; a change is not). */
static int same_header(const uint8_t *h, uint32_t hlen, const struct flv_file_tag *t)
{
    return h && hlen == t->size && memcmp(h, t->body, hlen) == 0;
}

static int convert_tags(struct conv *c)
{
    uint64_t off = c->r.data_start;
    uint32_t last_dts = 0;
    for (;;) {
        struct flv_file_tag t;
        int rc = flv_file_reader_read(&c->r, &off, &t, &c->tag);
        if (rc == ST_DONE || rc == ST_AGAIN)
            break;
        if (rc != ST_OK)
            return fail(c, c->r.error ? c->r.error : "read failed", c->r.err);
        int video = t.type == HLS_SAMPLE_VIDEO;
        if (t.type != HLS_SAMPLE_VIDEO && t.type != HLS_SAMPLE_AUDIO)
            continue;
        if (video ? !c->h.video : !c->h.audio)
            continue; /* a track left out */
        if (t.seq_header) {
            if (video ? same_header(c->h.video, c->h.video_len, &t) : same_header(c->h.audio, c->h.audio_len, &t))
                continue;
            c->res->warning = "codec configuration changed: the MP4 ends there";
            break;
        }
        if (!is_media(&t))
            continue;
        int cut = c->n > 0 && (c->n == RECORD_MP4_MAX_FRAGMENT_SAMPLES ||
                               c->data.len + t.size > RECORD_MP4_MAX_FRAGMENT_BYTES ||
                               (c->h.video ? video && t.keyframe
                                           : t.timestamp - c->frag_start >= RECORD_MP4_AUDIO_FRAGMENT_MS));
        if (cut && flush(c, t.timestamp) != ST_OK)
            return ST_ERROR;
        if (c->n == 0)
            c->frag_start = t.timestamp;
        if (buf_append(&c->data, t.body, t.size) != ST_OK)
            return fail(c, "out of memory", ENOMEM);
        c->at[c->n] = c->data.len - t.size;
        c->s[c->n] = (struct hls_sample){.kind = t.type, .key = (uint8_t)t.keyframe, .dts = t.timestamp,
                                         .body = NULL, .len = t.size};
        c->n++;
        if (t.timestamp > last_dts)
            last_dts = t.timestamp;
    }
    return flush(c, last_dts);
}

int record_mp4_convert(const char *flv_path, int sync, struct record_mp4_result *res)
{
    struct conv c;
    char mp4[4096], part[4096 + 8];
    memset(res, 0, sizeof(*res));
    memset(&c, 0, sizeof(c));
    c.res = res;
    c.fd = -1;
    if (record_mp4_path(flv_path, mp4, sizeof(mp4)) != ST_OK)
        return fail(&c, "path too long", ENAMETOOLONG);
    snprintf(part, sizeof(part), "%s.part", mp4);
    buf_init(&c.tag, RECORD_MP4_MAX_TAG);
    buf_init(&c.data, RECORD_MP4_MAX_FRAGMENT_BYTES + RECORD_MP4_MAX_TAG);
    buf_init(&c.out, RECORD_MP4_MAX_FRAGMENT_BYTES + RECORD_MP4_MAX_TAG + RECORD_MP4_BOX_SLACK);
    c.s = calloc(RECORD_MP4_MAX_FRAGMENT_SAMPLES, sizeof(*c.s));
    c.at = calloc(RECORD_MP4_MAX_FRAGMENT_SAMPLES, sizeof(*c.at));
    int rc = ST_ERROR;
    if (!c.s || !c.at) {
        fail(&c, "out of memory", ENOMEM);
        goto out;
    }
    if (flv_file_reader_open(&c.r, flv_path, RECORD_MP4_MAX_TAG, 0) != ST_OK) {
        fail(&c, c.r.error, c.r.err);
        goto out;
    }
    c.r_open = 1;
    /* One pass for the sequence headers and the end of the last whole tag. */
    if (flv_file_reader_scan(&c.r, 0) != ST_OK) {
        fail(&c, c.r.error, c.r.err);
        goto out;
    }
    if (copy_header(&c, c.r.vhdr_off, &c.vhdr, &c.h.video, &c.h.video_len) != ST_OK ||
        copy_header(&c, c.r.ahdr_off, &c.ahdr, &c.h.audio, &c.h.audio_len) != ST_OK)
        goto out;
    if (start(&c) != ST_OK)
        goto out;
    c.fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c.fd < 0) {
        fail(&c, "cannot create the .mp4.part file", errno);
        goto out;
    }
    if (write_all(&c, c.out.data, c.out.len) != ST_OK)
        goto out;
    buf_reset(&c.out);
    if (convert_tags(&c) != ST_OK)
        goto out;
    if (res->fragments == 0) {
        fail(&c, "no frame could be muxed", 0);
        goto out;
    }
    if (sync && fdatasync(c.fd) != 0) {
        fail(&c, "fsync failed", errno);
        goto out;
    }
    int fd = c.fd;
    c.fd = -1;
    if (close(fd) != 0) {
        fail(&c, "close failed", errno);
        goto out;
    }
    if (rename(part, mp4) != 0) {
        fail(&c, "rename failed", errno);
        goto out;
    }
    rc = ST_OK;
out:
    if (c.fd >= 0)
        close(c.fd);
    if (rc != ST_OK)
        unlink(part); /* ENOENT when it was never created: fine */
    if (c.r_open)
        flv_file_reader_close(&c.r);
    buf_free(&c.tag);
    buf_free(&c.data);
    buf_free(&c.out);
    free(c.s);
    free(c.at);
    free(c.vhdr);
    free(c.ahdr);
    return rc;
}
