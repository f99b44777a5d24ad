#include "hls/hls_stream.h"

#include "core/log.h"
#include "core/status.h"
#include "hls/fmp4_muxer.h"
#include "media/media_codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Worst-case TS bytes for one sample: Annex B adds an AUD and the SPS/PPS,
 * every 184 payload bytes cost a 188-byte packet, plus PES headers. */
#define TS_NEED(len) ((((size_t)(len) + TS_MUXER_PARAMS_MAX + 64) / 184 + 2) * TS_MUXER_PACKET_SIZE)
#define PART_OVERHEAD 1024 /* moof + mdat headers of one fragment, rough */

/* ---- blobs ---- */

static struct hls_blob *blob_new(const uint8_t *data, size_t len)
{
    struct hls_blob *b = malloc(sizeof(*b) + len);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = len;
    b->data = (uint8_t *)(b + 1);
    b->parent = NULL;
    if (data && len) /* data == NULL: the caller fills it */
        memcpy(b->data, data, len);
    return b;
}

static struct hls_blob *blob_view(struct hls_blob *parent, size_t off, size_t len)
{
    struct hls_blob *b = malloc(sizeof(*b));
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = len;
    b->data = parent->data + off;
    b->parent = hls_blob_ref(parent);
    return b;
}

void hls_blob_unref(struct hls_blob *b)
{
    if (!b || --b->refs > 0)
        return;
    hls_blob_unref(b->parent);
    free(b);
}

/* ---- small helpers ---- */

static void set_frame(struct fanout_frame **slot, struct fanout_frame *f)
{
    if (f)
        fanout_frame_ref(f);
    fanout_frame_unref(*slot);
    *slot = f;
}

static void cur_headers(const struct hls_stream *h, struct hls_codec_headers *hh)
{
    hh->video = h->cur_video ? h->cur_video->body : NULL;
    hh->video_len = h->cur_video ? h->cur_video->body_len : 0;
    hh->audio = h->cur_audio ? h->cur_audio->body : NULL;
    hh->audio_len = h->cur_audio ? h->cur_audio->body_len : 0;
}

static uint64_t fnv(uint64_t x, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x = (x ^ p[i]) * 0x100000001b3ULL;
    return x;
}

/* FNV-1a 64 over presence, length and bytes of both headers: equal ids mean
 * the same init segment, on every node. */
static uint64_t headers_id(const struct fanout_frame *v, const struct fanout_frame *a)
{
    uint64_t x = 0xcbf29ce484222325ULL;
    const struct fanout_frame *fr[2] = {v, a};
    for (int i = 0; i < 2; i++) {
        uint8_t hdr[5] = {fr[i] != NULL, 0, 0, 0, 0};
        if (fr[i])
            wr_be32(hdr + 1, fr[i]->body_len);
        x = fnv(x, hdr, sizeof(hdr));
        if (fr[i])
            x = fnv(x, fr[i]->body, fr[i]->body_len);
    }
    return x;
}

static void mux_warn(struct hls_stream *h, const char *what, const char *err)
{
    h->stats.mux_errors++;
    if (h->warned)
        return;
    h->warned = 1;
    LOG_WARN("hls %s: segment %llu: %s: %s (frame skipped; further errors only counted)", h->name,
             (unsigned long long)h->cur.msn, what, err ? err : "error");
}

static struct hls_seg *seg_at(const struct hls_stream *h, uint32_t i)
{
    return &h->segs[(h->seg_head + i) % h->seg_cap];
}

static void drop_parts(struct hls_seg *s)
{
    for (uint32_t i = 0; i < s->nparts; i++)
        hls_blob_unref(s->parts[i].blob);
    free(s->parts);
    s->parts = NULL;
    s->nparts = s->parts_cap = 0;
}

static void seg_clear(struct hls_seg *s)
{
    drop_parts(s);
    hls_blob_unref(s->blob);
    memset(s, 0, sizeof(*s));
}

static size_t seg_bytes(const struct hls_seg *s)
{
    if (s->blob)
        return s->blob->len;
    size_t n = 0;
    for (uint32_t i = 0; i < s->nparts; i++)
        n += s->parts[i].blob->len;
    return n;
}

/* ---- init segments ---- */

static void gc_inits(struct hls_stream *h)
{
    uint32_t keep = 0;
    for (uint32_t i = 0; i < h->ninits; i++) {
        int used = h->in_progress && h->cur.init_id == h->inits[i].id;
        for (uint32_t j = 0; j < h->seg_count && !used; j++)
            used = seg_at(h, j)->init_id == h->inits[i].id;
        if (used)
            h->inits[keep++] = h->inits[i];
        else
            hls_blob_unref(h->inits[i].blob);
    }
    h->ninits = keep;
}

/* Make sure the init segment of the current headers exists. */
static int ensure_init(struct hls_stream *h, uint64_t id)
{
    for (uint32_t i = 0; i < h->ninits; i++)
        if (h->inits[i].id == id)
            return ST_OK;
    gc_inits(h);
    if (h->ninits == h->inits_cap)
        return ST_ERROR; /* cannot happen: cap = held segments + 1 */
    struct hls_codec_headers hh;
    cur_headers(h, &hh);
    const char *err = NULL;
    buf_reset(&h->scratch);
    if (fmp4_muxer_init_segment(&h->scratch, &hh, &err) != ST_OK) {
        h->stats.mux_errors++;
        if (!h->warned)
            LOG_WARN("hls %s: no init segment: %s", h->name, err ? err : "error");
        h->warned = 1;
        return ST_ERROR;
    }
    struct hls_blob *b = blob_new(h->scratch.data, h->scratch.len);
    if (!b)
        return ST_ERROR;
    h->inits[h->ninits].id = id;
    h->inits[h->ninits].blob = b;
    h->ninits++;
    return ST_OK;
}

/* ---- held segments ---- */

static void evict_oldest(struct hls_stream *h)
{
    struct hls_seg *s = seg_at(h, 0);
    h->bytes -= seg_bytes(s);
    seg_clear(s);
    h->seg_head = (h->seg_head + 1) % h->seg_cap;
    h->seg_count--;
}

/* Evict the oldest complete segments until `need` more bytes fit; 0 when
 * they do not fit even with nothing held. */
static int make_room(struct hls_stream *h, size_t need)
{
    while (h->bytes + need > h->set.max_bytes && h->seg_count > 0)
        evict_oldest(h);
    return h->bytes + need <= h->set.max_bytes;
}

static void drop_held(struct hls_stream *h)
{
    while (h->seg_count)
        evict_oldest(h);
    gc_inits(h);
}

/* ---- segment in progress ---- */

static void release_part_frames(struct hls_stream *h)
{
    for (uint32_t i = 0; i < h->part_nframes; i++)
        fanout_frame_unref(h->part_frames[i]);
    h->part_nframes = 0;
    h->part_body_bytes = 0;
}

/* Give up the segment in progress; the next SEG_START starts a new run. */
static void abandon(struct hls_stream *h, const char *why)
{
    if (!h->in_progress)
        return;
    if (!h->warned_drop)
        LOG_WARN("hls %s: segment %llu dropped: %s (further drops only counted)", h->name,
                 (unsigned long long)h->cur.msn, why);
    h->warned_drop = 1;
    h->bytes -= h->set.format == HLS_FORMAT_TS ? h->cur_ts.len : seg_bytes(&h->cur);
    buf_reset(&h->cur_ts);
    release_part_frames(h);
    seg_clear(&h->cur);
    h->in_progress = 0;
    h->need_restart = 1;
    h->stats.abandoned++;
    gc_inits(h);
}

/* Whether a frame can go into an fMP4 fragment: the muxer refuses samples of
 * a track the headers lack and fragments without media, so such frames are
 * left out up front (the TS muxer skips them by itself). */
static int fmp4_usable(const struct hls_stream *h, const struct fanout_frame *f)
{
    if (f->body_len == 0)
        return 0;
    if (f->kind == FANOUT_VIDEO) {
        struct media_video_info vi;
        if (!h->cur_video || media_codec_probe_video(f->body, f->body_len, &vi, NULL) != ST_OK)
            return 0;
        return !vi.sequence_header && !vi.end_of_sequence;
    }
    struct media_audio_info ai;
    if (!h->cur_audio || media_codec_probe_audio(f->body, f->body_len, &ai, NULL) != ST_OK)
        return 0;
    return !ai.sequence_header;
}

static void to_sample(const struct fanout_frame *f, struct hls_sample *s)
{
    s->kind = f->kind;
    s->key = (f->flags & FANOUT_FLAG_KEY) != 0;
    s->dts = f->source_ts;
    s->body = f->body;
    s->len = f->body_len;
}

/* Mux the queued frames into one part ending at end_ts. When nothing in it
 * muxes, its frames are dropped and the part stays open (same start), so
 * part numbers stay dense. */
static unsigned close_part(struct hls_stream *h, uint32_t end_ts)
{
    struct hls_codec_headers hh;
    cur_headers(h, &hh);
    size_t n = 0;
    for (uint32_t i = 0; i < h->part_nframes; i++)
        if (fmp4_usable(h, h->part_frames[i]))
            to_sample(h->part_frames[i], &h->samples[n++]);
    uint32_t seq = (uint32_t)(h->cur.msn * 1000 + h->cur.nparts);
    const char *err = NULL;
    buf_reset(&h->scratch);
    int rc = n ? fmp4_muxer_fragment(&h->scratch, &hh, seq, h->samples, n, end_ts, &err) : ST_ERROR;
    if (rc != ST_OK && n) {
        /* Find the frames the muxer refuses on their own, leave them out, retry. */
        size_t keep = 0;
        for (size_t i = 0; i < n; i++) {
            buf_reset(&h->scratch);
            if (fmp4_muxer_fragment(&h->scratch, &hh, seq, &h->samples[i], 1, end_ts, &err) == ST_OK)
                h->samples[keep++] = h->samples[i];
            else
                mux_warn(h, "fragment", err);
        }
        n = keep;
        buf_reset(&h->scratch);
        rc = n ? fmp4_muxer_fragment(&h->scratch, &hh, seq, h->samples, n, end_ts, &err) : ST_ERROR;
        if (rc != ST_OK && n)
            mux_warn(h, "fragment", err);
    }
    if (rc != ST_OK) {
        release_part_frames(h);
        return 0;
    }
    if (h->cur.nparts == HLS_STREAM_MAX_PARTS) {
        release_part_frames(h);
        abandon(h, "too many parts");
        return 0;
    }
    if (h->cur.nparts == h->cur.parts_cap) {
        uint32_t cap = h->cur.parts_cap ? h->cur.parts_cap * 2 : 8;
        if (cap > HLS_STREAM_MAX_PARTS)
            cap = HLS_STREAM_MAX_PARTS;
        struct hls_part *p = realloc(h->cur.parts, cap * sizeof(*p));
        if (!p) {
            abandon(h, "out of memory");
            return 0;
        }
        h->cur.parts = p;
        h->cur.parts_cap = cap;
    }
    if (!make_room(h, h->scratch.len)) {
        abandon(h, "segment larger than max_bytes");
        return 0;
    }
    struct hls_blob *b = blob_new(h->scratch.data, h->scratch.len);
    if (!b) {
        abandon(h, "out of memory");
        return 0;
    }
    int32_t dur = (int32_t)(end_ts - h->part_start_ts);
    struct hls_part *p = &h->cur.parts[h->cur.nparts++];
    p->blob = b;
    p->dur_ms = dur > 0 ? (uint32_t)dur : 0;
    p->independent = h->samples[0].kind == HLS_SAMPLE_VIDEO ? h->samples[0].key : !h->cur_video;
    h->bytes += b->len;
    release_part_frames(h);
    h->part_start_ts = end_ts;
    return HLS_STREAM_NEW_PART;
}

/* Length of the segment in progress when no next SEG_START gives it: up to
 * its last dts plus one frame interval (video, else audio). */
static uint32_t estimate_end(const struct hls_stream *h)
{
    int32_t step = 0;
    if (h->cur_vcount >= 2)
        step = (int32_t)(h->cur_vlast - h->cur_vprev);
    if (step <= 0 && h->cur_acount >= 2)
        step = (int32_t)(h->cur_alast - h->cur_aprev);
    if (step <= 0 || step > 10000)
        step = 1;
    return h->cur_max_ts + (uint32_t)step;
}

static unsigned complete(struct hls_stream *h, uint32_t end_ts, int have_end)
{
    struct hls_seg *c = &h->cur;
    int32_t dur = have_end ? (int32_t)(end_ts - c->start_ts) : 0;
    if (dur <= 0) {
        end_ts = estimate_end(h);
        dur = (int32_t)(end_ts - c->start_ts);
        if (dur <= 0)
            dur = 1;
        end_ts = c->start_ts + (uint32_t)dur;
    }
    unsigned mask = 0;
    struct hls_blob *b;
    if (h->set.format == HLS_FORMAT_TS) {
        b = blob_new(h->cur_ts.data, h->cur_ts.len);
        if (!b) {
            abandon(h, "out of memory");
            return 0;
        }
        buf_reset(&h->cur_ts);
    } else {
        if (h->part_nframes)
            mask |= close_part(h, end_ts);
        if (!h->in_progress)
            return 0;
        if (c->nparts == 0) {
            abandon(h, "no frame could be muxed");
            return 0;
        }
        size_t total = seg_bytes(c), off = 0;
        b = blob_new(NULL, total);
        if (!b) {
            abandon(h, "out of memory");
            return 0;
        }
        for (uint32_t i = 0; i < c->nparts; i++) {
            memcpy(b->data + off, c->parts[i].blob->data, c->parts[i].blob->len);
            off += c->parts[i].blob->len;
        }
        /* The parts become views into the segment, so their bytes are held once. */
        off = 0;
        for (uint32_t i = 0; i < c->nparts; i++) {
            size_t len = c->parts[i].blob->len;
            struct hls_blob *v = blob_view(b, off, len);
            if (v) { /* else the copy stays, uncounted: only on allocation failure */
                hls_blob_unref(c->parts[i].blob);
                c->parts[i].blob = v;
            }
            off += len;
        }
    }
    c->blob = b;
    c->dur_ms = (uint32_t)dur;
    h->in_progress = 0;
    h->have_last = 1;
    h->last_msn = c->msn;
    h->last_epoch = c->epoch;
    h->last_init_id = c->init_id;
    if (h->seg_count == h->seg_cap)
        evict_oldest(h);
    *seg_at(h, h->seg_count++) = *c;
    memset(c, 0, sizeof(*c));
    if (h->seg_count > HLS_STREAM_PART_SEGMENTS)
        drop_parts(seg_at(h, h->seg_count - 1 - HLS_STREAM_PART_SEGMENTS));
    gc_inits(h);
    return mask | HLS_STREAM_NEW_SEGMENT;
}

static unsigned add_frame(struct hls_stream *h, struct fanout_frame *f)
{
    unsigned mask = 0;
    int32_t ahead = (int32_t)(f->source_ts - h->cur_max_ts);
    if (ahead > 0)
        h->cur_max_ts = f->source_ts;
    if (f->kind == FANOUT_VIDEO) {
        h->cur_vprev = h->cur_vlast;
        h->cur_vlast = f->source_ts;
        h->cur_vcount++;
    } else {
        h->cur_aprev = h->cur_alast;
        h->cur_alast = f->source_ts;
        h->cur_acount++;
    }
    if (h->set.format == HLS_FORMAT_TS) {
        if (!make_room(h, TS_NEED(f->body_len))) {
            abandon(h, "segment larger than max_bytes");
            return 0;
        }
        struct hls_sample s;
        to_sample(f, &s);
        size_t before = h->cur_ts.len;
        const char *err = NULL;
        if (ts_muxer_write_sample(&h->ts, &h->cur_ts, &s, &err) != ST_OK)
            mux_warn(h, "sample", err);
        h->bytes += h->cur_ts.len - before;
        return 0;
    }
    uint32_t threshold = h->set.part_ms - h->set.part_ms / 8;
    if (h->part_nframes &&
        ((int32_t)(f->source_ts - h->part_start_ts) >= (int32_t)threshold || h->part_nframes == HLS_STREAM_PART_FRAMES)) {
        mask |= close_part(h, f->source_ts);
        if (!h->in_progress)
            return mask;
    }
    if (!make_room(h, h->part_body_bytes + f->body_len + PART_OVERHEAD)) {
        abandon(h, "segment larger than max_bytes");
        return mask;
    }
    h->part_frames[h->part_nframes++] = fanout_frame_ref(f);
    h->part_body_bytes += f->body_len;
    return mask;
}

static void restart(struct hls_stream *h)
{
    if (h->seg_count || h->have_last || h->need_restart)
        h->stats.restarts++;
    drop_held(h);
    h->have_last = 0;
    h->need_restart = 0;
}

static unsigned open_segment(struct hls_stream *h, struct fanout_frame *f)
{
    if (f->segment == 0)
        return 0;
    uint64_t id = headers_id(h->pend_video, h->pend_audio);
    int cont = h->have_last && !h->need_restart && f->segment == h->last_msn + 1 &&
               ((f->epoch == h->last_epoch && id == h->last_init_id) || f->epoch == h->last_epoch + 1);
    if (!cont)
        restart(h);
    set_frame(&h->cur_video, h->pend_video);
    set_frame(&h->cur_audio, h->pend_audio);
    struct hls_seg *c = &h->cur;
    memset(c, 0, sizeof(*c));
    c->msn = f->segment;
    c->epoch = f->epoch;
    c->start_ts = f->source_ts;
    c->wall_ms = f->wall_ms;
    c->init_id = id;
    c->disc = cont && f->epoch != h->last_epoch;
    h->cur_max_ts = f->source_ts;
    h->cur_vcount = h->cur_acount = 0;
    h->in_progress = 1;
    if (h->set.format == HLS_FORMAT_FMP4) {
        if (ensure_init(h, id) != ST_OK) {
            h->in_progress = 0;
            h->need_restart = 1;
            h->stats.abandoned++;
            return 0;
        }
        h->part_start_ts = f->source_ts;
    } else {
        struct hls_codec_headers hh;
        cur_headers(h, &hh);
        const char *err = NULL;
        buf_reset(&h->cur_ts);
        if (ts_muxer_begin(&h->ts, &hh, &err) != ST_OK)
            mux_warn(h, "codec headers", err);
        if (!make_room(h, 2 * TS_MUXER_PACKET_SIZE) || ts_muxer_write_tables(&h->ts, &h->cur_ts) != ST_OK) {
            abandon(h, "no room for the tables");
            return 0;
        }
        h->bytes += h->cur_ts.len;
    }
    return add_frame(h, f);
}

/* ---- public ---- */

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > HLS_STREAM_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        /* RFC 3986 pchar without '%': nothing to escape in a URI or a quoted attribute. */
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("-._~!$&'()*+,;=:@", ch)))
            return 0;
    }
    return 1;
}

int hls_stream_init(struct hls_stream *h, const struct hls_stream_settings *s, const char *name)
{
    memset(h, 0, sizeof(*h));
    if ((s->format != HLS_FORMAT_TS && s->format != HLS_FORMAT_FMP4) || s->window < 1 ||
        s->window > HLS_STREAM_WINDOW_MAX || s->max_bytes < HLS_STREAM_MIN_BYTES || !name || !name_ok(name) ||
        (s->format == HLS_FORMAT_FMP4 && (s->part_ms < 100 || s->part_ms > 60000)) ||
        (s->low_latency && s->format != HLS_FORMAT_FMP4))
        return ST_ERROR;
    h->set = *s;
    h->set.low_latency = s->low_latency != 0;
    memcpy(h->name, name, strlen(name) + 1);
    h->seg_cap = s->window + 2;
    h->inits_cap = h->seg_cap + 1;
    h->segs = calloc(h->seg_cap, sizeof(*h->segs));
    h->inits = calloc(h->inits_cap, sizeof(*h->inits));
    buf_init(&h->cur_ts, s->max_bytes);
    buf_init(&h->scratch, s->max_bytes);
    if (s->format == HLS_FORMAT_FMP4) {
        h->part_frames = calloc(HLS_STREAM_PART_FRAMES, sizeof(*h->part_frames));
        h->samples = calloc(HLS_STREAM_PART_FRAMES, sizeof(*h->samples));
    }
    if (!h->segs || !h->inits || (s->format == HLS_FORMAT_FMP4 && (!h->part_frames || !h->samples))) {
        hls_stream_free(h);
        return ST_ERROR;
    }
    return ST_OK;
}

void hls_stream_free(struct hls_stream *h)
{
    if (h->segs)
        drop_held(h);
    release_part_frames(h);
    seg_clear(&h->cur);
    h->in_progress = 0;
    for (uint32_t i = 0; i < h->ninits; i++)
        hls_blob_unref(h->inits[i].blob);
    h->ninits = 0;
    set_frame(&h->pend_video, NULL);
    set_frame(&h->pend_audio, NULL);
    set_frame(&h->cur_video, NULL);
    set_frame(&h->cur_audio, NULL);
    free(h->segs);
    free(h->inits);
    free(h->part_frames);
    free(h->samples);
    h->segs = NULL;
    h->inits = NULL;
    h->part_frames = NULL;
    h->samples = NULL;
    buf_free(&h->cur_ts);
    buf_free(&h->scratch);
    h->bytes = 0;
}

unsigned hls_stream_push(struct hls_stream *h, struct fanout_frame *f)
{
    if (f->kind != FANOUT_AUDIO && f->kind != FANOUT_VIDEO)
        return 0;
    if (f->flags & FANOUT_FLAG_SEQ_HEADER) {
        /* Headers are not checked for an epoch change: a re-sent cached header
         * may carry an older stamp; the next media frame decides. */
        set_frame(f->kind == FANOUT_VIDEO ? &h->pend_video : &h->pend_audio, f);
        return 0;
    }
    unsigned mask = 0;
    if (h->in_progress && f->epoch != h->cur.epoch)
        mask |= complete(h, 0, 0);
    if (f->flags & FANOUT_FLAG_SEG_START) {
        if (h->in_progress)
            mask |= complete(h, f->source_ts, 1);
        return mask | open_segment(h, f);
    }
    if (!h->in_progress)
        return mask;
    if (f->segment && (int32_t)(f->segment - (uint32_t)h->cur.msn) > 0) {
        abandon(h, "its end was not seen (missed SEG_START)");
        return mask;
    }
    return mask | add_frame(h, f);
}

struct hls_blob *hls_stream_segment(struct hls_stream *h, uint64_t msn)
{
    if (!h->seg_count || msn < seg_at(h, 0)->msn)
        return NULL;
    uint64_t i = msn - seg_at(h, 0)->msn;
    return i < h->seg_count ? hls_blob_ref(seg_at(h, (uint32_t)i)->blob) : NULL;
}

struct hls_blob *hls_stream_part(struct hls_stream *h, uint64_t msn, uint32_t part)
{
    if (!h->set.low_latency)
        return NULL;
    const struct hls_seg *s = NULL;
    if (h->in_progress && h->cur.msn == msn)
        s = &h->cur;
    else if (h->seg_count && msn >= seg_at(h, 0)->msn && msn - seg_at(h, 0)->msn < h->seg_count)
        s = seg_at(h, (uint32_t)(msn - seg_at(h, 0)->msn));
    return s && part < s->nparts ? hls_blob_ref(s->parts[part].blob) : NULL;
}

struct hls_blob *hls_stream_init_segment(struct hls_stream *h, uint64_t init_id)
{
    for (uint32_t i = 0; i < h->ninits; i++)
        if (h->inits[i].id == init_id)
            return hls_blob_ref(h->inits[i].blob);
    return NULL;
}

int hls_stream_ready(const struct hls_stream *h, uint64_t msn, int32_t part)
{
    if (part >= 0 && (!h->set.low_latency || part >= HLS_STREAM_MAX_PARTS))
        return -1;
    if (h->have_last) {
        if (msn <= h->last_msn)
            return 1;
        if (msn == h->last_msn + 1 && h->in_progress && h->cur.msn == msn && part >= 0 &&
            (uint32_t)part < h->cur.nparts)
            return 1;
        return msn <= h->last_msn + 2 ? 0 : -1;
    }
    if (!h->in_progress)
        return 0; /* nothing seen yet in this run */
    if (msn < h->cur.msn)
        return part < 0 ? 0 : -1;
    if (msn == h->cur.msn)
        return part >= 0 && (uint32_t)part < h->cur.nparts ? 1 : 0;
    return msn == h->cur.msn + 1 ? 0 : -1;
}

void hls_stream_get_stats(const struct hls_stream *h, struct hls_stream_stats *out)
{
    *out = h->stats;
    out->segments = h->seg_count;
    out->last_msn = h->seg_count ? seg_at(h, h->seg_count - 1)->msn : 0;
    out->bytes = h->bytes;
}

/* ---- playlist ---- */

void hls_stream_format_date(char out[25], uint64_t unix_ms)
{
    if (unix_ms > 253402300799999ULL) /* 9999-12-31T23:59:59.999Z keeps the width fixed */
        unix_ms = 253402300799999ULL;
    uint64_t secs = unix_ms / 1000, days = secs / 86400;
    unsigned sod = (unsigned)(secs % 86400);
    /* Civil date from days since 1970-01-01, counted in 400-year eras that
     * start on March 1st so the leap day falls at the end of a year. */
    uint64_t z = days + 719468;
    uint64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                           /* day of era, 0..146096 */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* year of era, 0..399 */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* day of March-based year */
    unsigned mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    unsigned day = doy - (153 * mp + 2) / 5 + 1;
    unsigned month = mp < 10 ? mp + 3 : mp - 9;
    unsigned year = (unsigned)(era * 400 + yoe) + (month <= 2);
    const unsigned v[7] = {year, month, day, sod / 3600, sod / 60 % 60, sod % 60, (unsigned)(unix_ms % 1000)};
    static const char width[7] = {4, 2, 2, 2, 2, 2, 3}, sep[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
    char *p = out;
    for (int i = 0; i < 7; i++) {
        for (int d = width[i] - 1; d >= 0; d--) {
            unsigned x = v[i];
            for (int k = 0; k < d; k++)
                x /= 10;
            *p++ = (char)('0' + x % 10);
        }
        *p++ = sep[i];
    }
    *p = '\0';
}

static int pl(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int pl(struct buf *out, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line))
        return ST_ERROR;
    return buf_append(out, line, (size_t)n);
}

#define SECS(ms) (unsigned)((ms) / 1000), (unsigned)((ms) % 1000)

/* Tags, parts and (when complete) URI of one segment. */
static int render_seg(const struct hls_stream *h, struct buf *out, const struct hls_seg *s, int tag_disc, int tag_map,
                      int with_parts)
{
    const char *ext = h->set.format == HLS_FORMAT_TS ? "ts" : "m4s";
    char date[25];
    hls_stream_format_date(date, s->wall_ms);
    if (tag_disc && pl(out, "#EXT-X-DISCONTINUITY\n"))
        return ST_ERROR;
    if (tag_map && pl(out, "#EXT-X-MAP:URI=\"%s/init-%llu.mp4\"\n", h->name, (unsigned long long)s->init_id))
        return ST_ERROR;
    if (pl(out, "#EXT-X-PROGRAM-DATE-TIME:%s\n", date))
        return ST_ERROR;
    for (uint32_t i = 0; with_parts && i < s->nparts; i++)
        if (pl(out, "#EXT-X-PART:DURATION=%u.%03u,URI=\"%s/%llu.%u.m4s\"%s\n", SECS(s->parts[i].dur_ms), h->name,
               (unsigned long long)s->msn, i, s->parts[i].independent ? ",INDEPENDENT=YES" : ""))
            return ST_ERROR;
    if (s->blob && pl(out, "#EXTINF:%u.%03u,\n%s/%llu.%s\n", SECS(s->dur_ms), h->name, (unsigned long long)s->msn, ext))
        return ST_ERROR;
    return ST_OK;
}

static int render(const struct hls_stream *h, struct buf *out, int skip)
{
    uint32_t n = h->seg_count < h->set.window ? h->seg_count : h->set.window;
    uint32_t base = h->seg_count - n; /* ring index of the first listed segment */
    int ll = h->set.low_latency;
    uint32_t max_dur = 0;
    for (uint32_t i = 0; i < n; i++)
        if (seg_at(h, base + i)->dur_ms > max_dur)
            max_dur = seg_at(h, base + i)->dur_ms;
    unsigned target = (unsigned)((max_dur + 999) / 1000);
    if (target < 1)
        target = 1;
    uint64_t skip_until = (uint64_t)target * 6000;
    int version = h->set.format == HLS_FORMAT_TS ? 3 : ll ? 9 : 6;
    const struct hls_seg *first = seg_at(h, base);

    if (pl(out, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%u\n", version, target))
        return ST_ERROR;
    if (ll && (pl(out, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%u.%03u,CAN-SKIP-UNTIL=%u.%03u\n",
                  SECS(3 * (uint64_t)h->set.part_ms), SECS(skip_until)) ||
               pl(out, "#EXT-X-PART-INF:PART-TARGET=%u.%03u\n", SECS(h->set.part_ms))))
        return ST_ERROR;
    if (pl(out, "#EXT-X-MEDIA-SEQUENCE:%llu\n#EXT-X-DISCONTINUITY-SEQUENCE:%u\n", (unsigned long long)first->msn,
           first->epoch))
        return ST_ERROR;

    /* Delta update: skip the oldest segments that end at least CAN-SKIP-UNTIL
     * before the end of the last complete one. */
    uint32_t skipped = 0;
    if (skip && ll) {
        uint64_t tail = 0;
        for (uint32_t i = 0; i < n; i++)
            tail += seg_at(h, base + i)->dur_ms;
        for (uint32_t i = 0; i < n; i++) {
            tail -= seg_at(h, base + i)->dur_ms; /* duration after segment i */
            if (tail < skip_until)
                break;
            skipped++;
        }
        if (skipped && pl(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS=%u\n", skipped))
            return ST_ERROR;
    }
    uint64_t prev_init = 0;
    for (uint32_t i = skipped; i < n; i++) {
        const struct hls_seg *s = seg_at(h, base + i);
        int parts = ll && i + HLS_STREAM_PART_SEGMENTS > n; /* the last PART_SEGMENTS - 1 complete ones */
        /* No DISCONTINUITY tag on the first listed segment: its number is
         * the DISCONTINUITY-SEQUENCE itself (see the header). */
        int map = h->set.format == HLS_FORMAT_FMP4 && (i == skipped || s->init_id != prev_init);
        if (render_seg(h, out, s, s->disc && i > 0, map, parts))
            return ST_ERROR;
        prev_init = s->init_id;
    }
    if (!ll)
        return ST_OK;
    const struct hls_seg *last = seg_at(h, h->seg_count - 1);
    if (h->in_progress && h->cur.msn == last->msn + 1) {
        if (render_seg(h, out, &h->cur, h->cur.disc, h->cur.init_id != prev_init, 1)) /* ll: always fMP4 */
            return ST_ERROR;
        return pl(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s/%llu.%u.m4s\"\n", h->name,
                  (unsigned long long)h->cur.msn, h->cur.nparts);
    }
    return pl(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s/%llu.0.m4s\"\n", h->name,
              (unsigned long long)last->msn + 1);
}

int hls_stream_playlist(struct hls_stream *h, struct buf *out, int skip)
{
    if (h->seg_count == 0)
        return ST_AGAIN;
    size_t len0 = out->len;
    if (render(h, out, skip) != ST_OK) {
        out->len = len0;
        return ST_ERROR;
    }
    return ST_OK;
}
