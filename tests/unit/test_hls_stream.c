/*
 * Unit tests for hls_stream: frames are synthesized from the real H.264/AAC
 * sample (tests/data/codec/h264_aac_160x120.flv: one GOP, looped: video every
 * 40 ms with a keyframe every 5th frame, AAC at 22050 Hz every 1024 samples)
 * and stamped here the way hls_segment_clock does (SEG_START on the keyframe
 * that opens a segment, epoch, wall_ms). Checked: exact playlist text (TS,
 * fMP4, low latency), msn advance and window slide, TARGETDURATION, dates,
 * discontinuities and restarts, parts, preload hint, delta updates, ready(),
 * determinism between a node fed from the start and one that joined late,
 * byte bounds, muxer errors, blob lifetimes and frame reference counts.
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/status.h"
#include "fanout/fanout_frame.h"
#include "hls/hls_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#error "SC_TEST_DATA must name tests/data"
#endif

#define WALL0 1795849200123ULL /* 2026-11-28T07:00:00.123Z */
#define MAXB (64u << 20)

/* ---- media from the sample FLV ---- */

struct body {
    const uint8_t *p;
    uint32_t len;
};

static uint8_t *flv;
static struct body vhdr, ahdr, vkey, vinter[4], veos, araw[6];

static void load_media(void)
{
    if (flv)
        return;
    FILE *fp = fopen(SC_TEST_DATA "/codec/h264_aac_160x120.flv", "rb");
    cr_assert_not_null(fp);
    flv = malloc(1 << 16);
    size_t n = fread(flv, 1, 1 << 16, fp);
    fclose(fp);
    size_t p = 9;
    int ni = 0, na = 0;
    while (p + 15 <= n) {
        uint8_t type = flv[p + 4];
        uint32_t size = (uint32_t)flv[p + 5] << 16 | (uint32_t)flv[p + 6] << 8 | flv[p + 7];
        struct body b = {flv + p + 15, size};
        cr_assert_leq(p + 15 + size, n);
        if (type == 9 && b.p[1] == 0)
            vhdr = b;
        else if (type == 9 && b.p[1] == 2)
            veos = b;
        else if (type == 9 && b.p[0] == 0x17)
            vkey = b;
        else if (type == 9 && ni < 4)
            vinter[ni++] = b;
        else if (type == 8 && b.p[1] == 0)
            ahdr = b;
        else if (type == 8 && na < 6)
            araw[na++] = b;
        p += 15 + size;
    }
    cr_assert(vhdr.len && ahdr.len && vkey.len && veos.len && ni == 4 && na == 6, "sample FLV as expected");
}

/* ---- stamped frame lists ---- */

struct ev {
    uint8_t kind, flags;
    uint32_t ts, segment, epoch, len;
    uint64_t wall;
    const uint8_t *body;
};

struct evlist {
    struct ev *v;
    size_t n, cap;
};

static void ev_add(struct evlist *l, struct ev e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        cr_assert_not_null(l->v);
    }
    l->v[l->n++] = e;
}

struct genp {
    uint32_t t0, dur_ms;   /* timeline start, length */
    uint32_t msn0, epoch;  /* first segment number */
    uint64_t wall0;        /* wall clock at t0 */
    int video, audio, headers;
    const uint32_t *lens;  /* minimum length of each segment (cycled), else 2000 */
    size_t nlens;
};

/* Append a stream to l: headers (optional), then interleaved audio/video in
 * dts order, stamped. Returns the number of segments opened. */
static unsigned gen(struct evlist *l, const struct genp *p)
{
    load_media();
    if (p->headers && p->video)
        ev_add(l, (struct ev){FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, p->t0, 0, p->epoch, vhdr.len, p->wall0, vhdr.p});
    if (p->headers && p->audio)
        ev_add(l, (struct ev){FANOUT_AUDIO, FANOUT_FLAG_SEQ_HEADER, p->t0, 0, p->epoch, ahdr.len, p->wall0, ahdr.p});
    uint32_t kv = 0, ka = 0, seg = 0, seg_start = 0, need = 0;
    unsigned nseg = 0;
    for (;;) {
        uint32_t tv = p->video ? kv * 40 : UINT32_MAX;
        uint32_t ta = p->audio ? (uint32_t)((uint64_t)ka * 1024000 / 22050) : UINT32_MAX;
        uint32_t t = tv <= ta ? tv : ta;
        if (t >= p->dur_ms)
            break;
        struct ev e = {0};
        int cut;
        if (tv <= ta) {
            int key = kv % 5 == 0;
            struct body b = key ? vkey : vinter[kv % 5 - 1];
            e = (struct ev){FANOUT_VIDEO, key ? FANOUT_FLAG_KEY : 0, 0, 0, 0, b.len, 0, b.p};
            cut = key;
            kv++;
        } else {
            struct body b = araw[ka % 6];
            e = (struct ev){FANOUT_AUDIO, 0, 0, 0, 0, b.len, 0, b.p};
            cut = !p->video;
            ka++;
        }
        if (cut && (seg == 0 || t - seg_start >= need)) {
            seg = seg ? seg + 1 : p->msn0;
            seg_start = t;
            need = p->lens ? p->lens[nseg % p->nlens] : 2000;
            nseg++;
            e.flags |= FANOUT_FLAG_SEG_START;
        }
        e.ts = p->t0 + t;
        e.segment = seg;
        e.epoch = p->epoch;
        e.wall = p->wall0 + t;
        ev_add(l, e);
    }
    return nseg;
}

static struct genp std_gen(uint32_t dur_ms)
{
    return (struct genp){.t0 = 0, .dur_ms = dur_ms, .msn0 = 100, .epoch = 1, .wall0 = WALL0, .video = 1, .audio = 1,
                         .headers = 1};
}

static struct fanout_frame *mkframe(const struct ev *e)
{
    struct fanout_frame *f = fanout_frame_new(e->kind, e->flags, e->ts, e->body, e->len, 4096);
    cr_assert_not_null(f);
    f->segment = e->segment;
    f->epoch = e->epoch;
    f->wall_ms = e->wall;
    return f;
}

/* Push l[from, to) to up to two streams, the same frame objects to both. */
static unsigned feed2(struct hls_stream *a, struct hls_stream *b, const struct evlist *l, size_t from, size_t to)
{
    unsigned m = 0;
    for (size_t i = from; i < to && i < l->n; i++) {
        struct fanout_frame *f = mkframe(&l->v[i]);
        if (a)
            m |= hls_stream_push(a, f);
        if (b)
            hls_stream_push(b, f);
        fanout_frame_unref(f);
    }
    return m;
}

static unsigned feed(struct hls_stream *h, const struct evlist *l, size_t from, size_t to)
{
    return feed2(h, NULL, l, from, to);
}

/* Index of the first frame at or after ts. */
static size_t at(const struct evlist *l, uint32_t ts)
{
    for (size_t i = 0; i < l->n; i++)
        if (!(l->v[i].flags & FANOUT_FLAG_SEQ_HEADER) && l->v[i].ts >= ts)
            return i;
    return l->n;
}

static void mk(struct hls_stream *h, int format, int ll, uint32_t window)
{
    struct hls_stream_settings s = {format, ll, window, 500, MAXB};
    cr_assert_eq(hls_stream_init(h, &s, "cam"), ST_OK);
}

/* The playlist as a NUL-terminated string (caller frees). */
static char *playlist(struct hls_stream *h, int skip)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(hls_stream_playlist(h, &b, skip), ST_OK);
    cr_assert_eq(buf_append(&b, "", 1), ST_OK);
    cr_assert_eq(strlen((char *)b.data) + 1, b.len, "no NUL inside the playlist");
    return (char *)b.data;
}

static uint64_t map_id(const char *pl)
{
    const char *m = strstr(pl, "#EXT-X-MAP:URI=\"cam/init-");
    cr_assert_not_null(m);
    return strtoull(m + strlen("#EXT-X-MAP:URI=\"cam/init-"), NULL, 10);
}

/* The documented init id: FNV-1a 64 over, per header (video, audio), a
 * presence byte, the big-endian u32 length and the bytes. */
static uint64_t expected_id(const struct body *v, const struct body *a)
{
    uint64_t x = 0xcbf29ce484222325ULL;
    const struct body *hs[2] = {v, a};
    for (int i = 0; i < 2; i++) {
        uint32_t len = hs[i] ? hs[i]->len : 0;
        uint8_t pre[5] = {hs[i] != NULL, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
        for (int k = 0; k < 5; k++)
            x = (x ^ pre[k]) * 0x100000001b3ULL;
        for (uint32_t k = 0; k < len; k++)
            x = (x ^ hs[i]->p[k]) * 0x100000001b3ULL;
    }
    return x;
}

static long live0;
static void setup(void) { live0 = fanout_frame_live_count(); }
TestSuite(hls_stream, .init = setup);

static void done(struct hls_stream *h, struct evlist *l)
{
    hls_stream_free(h);
    free(l->v);
    cr_assert_eq(fanout_frame_live_count(), live0, "every frame reference released");
}

/* ---- settings ---- */

Test(hls_stream, init_validates_settings_and_name)
{
    struct hls_stream h;
    struct hls_stream_settings ok = {HLS_FORMAT_FMP4, 1, 6, 500, MAXB};
    cr_assert_eq(hls_stream_init(&h, &ok, "cam-1_a.b~c"), ST_OK);
    hls_stream_free(&h);
    const char *bad_names[] = {"", ".", "..", "a/b", "a\"b", "a b", "a%20", "a\\b", "a?b", "a#b", "\x7f"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
        cr_assert_eq(hls_stream_init(&h, &ok, bad_names[i]), ST_ERROR, "name '%s'", bad_names[i]);
    char longname[HLS_STREAM_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    cr_assert_eq(hls_stream_init(&h, &ok, longname), ST_ERROR);
    longname[HLS_STREAM_NAME_MAX] = 0;
    cr_assert_eq(hls_stream_init(&h, &ok, longname), ST_OK);
    hls_stream_free(&h);

    struct hls_stream_settings bad[] = {
        {2, 0, 6, 500, MAXB},                                  /* format */
        {HLS_FORMAT_TS, 1, 6, 500, MAXB},                      /* LL needs fMP4 */
        {HLS_FORMAT_TS, 0, 0, 500, MAXB},                      /* window 0 */
        {HLS_FORMAT_TS, 0, HLS_STREAM_WINDOW_MAX + 1, 500, MAXB},
        {HLS_FORMAT_TS, 0, 6, 500, HLS_STREAM_MIN_BYTES - 1}, /* cap too small */
        {HLS_FORMAT_FMP4, 1, 6, 99, MAXB},                     /* part too short */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(hls_stream_init(&h, &bad[i], "cam"), ST_ERROR, "settings %zu", i);
    struct hls_stream_settings ts = {HLS_FORMAT_TS, 0, 6, 0, HLS_STREAM_MIN_BYTES};
    cr_assert_eq(hls_stream_init(&h, &ts, "cam"), ST_OK, "part_ms is not used by TS");
    hls_stream_free(&h);
}

/* ---- dates ---- */

Test(hls_stream, date_format)
{
    struct {
        uint64_t ms;
        const char *s;
    } t[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {WALL0, "2026-11-28T07:00:00.123Z"},
        {951782400000ULL, "2000-02-29T00:00:00.000Z"},
        {951868799999ULL, "2000-02-29T23:59:59.999Z"},
        {951868800000ULL, "2000-03-01T00:00:00.000Z"},
        {1709164800001ULL, "2024-02-29T00:00:00.001Z"},
        {4107542400000ULL, "2100-03-01T00:00:00.000Z"}, /* 2100 is not a leap year */
        {4107456000000ULL, "2100-02-28T00:00:00.000Z"},
        {1767225599999ULL, "2025-12-31T23:59:59.999Z"},
        {253402300799999ULL, "9999-12-31T23:59:59.999Z"},
        {UINT64_MAX, "9999-12-31T23:59:59.999Z"}, /* clamped */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char out[25];
        memset(out, 'x', sizeof(out));
        hls_stream_format_date(out, t[i].ms);
        cr_assert_str_eq(out, t[i].s, "%llu", (unsigned long long)t[i].ms);
    }
}

/* ---- playlists ---- */

Test(hls_stream, ts_playlist_exact)
{
    struct evlist l = {0};
    struct genp g = std_gen(9000);
    cr_assert_eq(gen(&l, &g), 5);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_TS, 0, 3);
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(hls_stream_playlist(&h, &b, 0), ST_AGAIN);
    cr_assert_eq(feed(&h, &l, 0, at(&l, 1000)), 0);
    cr_assert_eq(hls_stream_playlist(&h, &b, 0), ST_AGAIN, "segment in progress only");
    cr_assert_eq(b.len, 0);
    cr_assert_eq(feed(&h, &l, at(&l, 1000), l.n), HLS_STREAM_NEW_SEGMENT);
    char *pl = playlist(&h, 0);
    cr_assert_str_eq(pl, "#EXTM3U\n"
                         "#EXT-X-VERSION:3\n"
                         "#EXT-X-TARGETDURATION:2\n"
                         "#EXT-X-MEDIA-SEQUENCE:101\n"
                         "#EXT-X-DISCONTINUITY-SEQUENCE:1\n"
                         "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:02.123Z\n"
                         "#EXTINF:2.000,\n"
                         "cam/101.ts\n"
                         "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:04.123Z\n"
                         "#EXTINF:2.000,\n"
                         "cam/102.ts\n"
                         "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:06.123Z\n"
                         "#EXTINF:2.000,\n"
                         "cam/103.ts\n");
    free(pl);
    char *skip = playlist(&h, 1);
    cr_assert_eq(strstr(skip, "SKIP"), NULL, "no delta updates without low latency");
    free(skip);

    /* Segments: window + 2 downloadable; whole TS packets with tables first. */
    for (uint64_t msn = 100; msn <= 103; msn++) {
        struct hls_blob *s = hls_stream_segment(&h, msn);
        cr_assert_not_null(s, "segment %llu", (unsigned long long)msn);
        cr_assert_eq(s->len % 188, 0);
        cr_assert_gt(s->len, 188 * 20);
        cr_assert_eq(s->data[0], 0x47);
        cr_assert_eq(((s->data[1] & 0x1f) << 8) | s->data[2], 0, "PAT first");
        cr_assert_eq(((s->data[189] & 0x1f) << 8) | s->data[190], 0x1000, "then the PMT");
        hls_blob_unref(s);
    }
    cr_assert_null(hls_stream_segment(&h, 104), "in progress");
    cr_assert_null(hls_stream_segment(&h, 99));
    cr_assert_null(hls_stream_part(&h, 103, 0), "TS has no parts");
    cr_assert_null(hls_stream_init_segment(&h, 0));

    struct hls_stream_stats st;
    hls_stream_get_stats(&h, &st);
    cr_assert_eq(st.last_msn, 103);
    cr_assert_eq(st.segments, 4);
    cr_assert_gt(st.bytes, 0);
    cr_assert_leq(st.bytes, MAXB);
    cr_assert_eq(st.mux_errors, 0);
    cr_assert_eq(st.restarts, 0);
    buf_free(&b);
    done(&h, &l);
}

Test(hls_stream, fmp4_playlist_and_init)
{
    struct evlist l = {0};
    struct genp g = std_gen(9000);
    gen(&l, &g);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 0, 2);
    feed(&h, &l, 0, l.n);
    char *pl = playlist(&h, 0);
    uint64_t id = expected_id(&vhdr, &ahdr);
    char want[1024];
    snprintf(want, sizeof(want),
             "#EXTM3U\n"
             "#EXT-X-VERSION:6\n"
             "#EXT-X-TARGETDURATION:2\n"
             "#EXT-X-MEDIA-SEQUENCE:102\n"
             "#EXT-X-DISCONTINUITY-SEQUENCE:1\n"
             "#EXT-X-MAP:URI=\"cam/init-%llu.mp4\"\n"
             "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:04.123Z\n"
             "#EXTINF:2.000,\n"
             "cam/102.m4s\n"
             "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:06.123Z\n"
             "#EXTINF:2.000,\n"
             "cam/103.m4s\n",
             (unsigned long long)id);
    cr_assert_str_eq(pl, want);
    free(pl);

    struct hls_blob *init = hls_stream_init_segment(&h, id);
    cr_assert_not_null(init);
    cr_assert_gt(init->len, 16);
    cr_assert_eq(memcmp(init->data + 4, "ftyp", 4), 0);
    cr_assert_null(hls_stream_init_segment(&h, id + 1));
    struct hls_blob *s = hls_stream_segment(&h, 103);
    cr_assert_not_null(s);
    cr_assert_eq(memcmp(s->data + 4, "moof", 4), 0);
    cr_assert_null(hls_stream_part(&h, 103, 0), "parts are served in low-latency mode only");
    cr_assert_eq(hls_stream_ready(&h, 104, 0), -1);
    hls_blob_unref(s);
    hls_blob_unref(init);
    done(&h, &l);
}

Test(hls_stream, ll_playlist_exact)
{
    struct evlist l = {0};
    struct genp g = std_gen(9000);
    gen(&l, &g);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 1, 3);
    unsigned m = feed(&h, &l, 0, at(&l, 440));
    cr_assert_eq(m, 0, "nothing before the first part closes");
    cr_assert_eq(feed(&h, &l, at(&l, 440), at(&l, 441)), HLS_STREAM_NEW_PART);
    feed(&h, &l, at(&l, 441), l.n);
    char *pl = playlist(&h, 0);
    char want[4096];
    snprintf(want, sizeof(want),
             "#EXTM3U\n"
             "#EXT-X-VERSION:9\n"
             "#EXT-X-TARGETDURATION:2\n"
             "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500,CAN-SKIP-UNTIL=12.000\n"
             "#EXT-X-PART-INF:PART-TARGET=0.500\n"
             "#EXT-X-MEDIA-SEQUENCE:101\n"
             "#EXT-X-DISCONTINUITY-SEQUENCE:1\n"
             "#EXT-X-MAP:URI=\"cam/init-%llu.mp4\"\n"
             "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:02.123Z\n"
             "#EXTINF:2.000,\n"
             "cam/101.m4s\n"
             "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:04.123Z\n"
             "#EXT-X-PART:DURATION=0.440,URI=\"cam/102.0.m4s\",INDEPENDENT=YES\n"
             "#EXT-X-PART:DURATION=0.440,URI=\"cam/102.1.m4s\"\n"
             "#EXT-X-PART:DURATION=0.440,URI=\"cam/102.2.m4s\"\n"
             "#EXT-X-PART:DURATION=0.438,URI=\"cam/102.3.m4s\"\n"
             "#EXT-X-PART:DURATION=0.242,URI=\"cam/102.4.m4s\"\n"
             "#EXTINF:2.000,\n"
             "cam/102.m4s\n"
             "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:06.123Z\n"
             "#EXT-X-PART:DURATION=0.440,URI=\"cam/103.0.m4s\",INDEPENDENT=YES\n"
             "#EXT-X-PART:DURATION=0.440,URI=\"cam/103.1.m4s\"\n"
             "#EXT-X-PART:DURATION=0.440,URI=\"cam/103.2.m4s\"\n"
             "#EXT-X-PART:DURATION=0.440,URI=\"cam/103.3.m4s\"\n"
             "#EXT-X-PART:DURATION=0.240,URI=\"cam/103.4.m4s\"\n"
             "#EXTINF:2.000,\n"
             "cam/103.m4s\n"
             "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:08.123Z\n"
             "#EXT-X-PART:DURATION=0.440,URI=\"cam/104.0.m4s\",INDEPENDENT=YES\n"
             "#EXT-X-PART:DURATION=0.440,URI=\"cam/104.1.m4s\"\n"
             "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"cam/104.2.m4s\"\n",
             (unsigned long long)expected_id(&vhdr, &ahdr));
    cr_assert_str_eq(pl, want);
    free(pl);

    /* A segment is exactly the concatenation of its parts. */
    for (uint64_t msn = 101; msn <= 103; msn++) {
        struct hls_blob *s = hls_stream_segment(&h, msn);
        cr_assert_not_null(s);
        size_t off = 0;
        for (uint32_t p = 0; p < 5; p++) {
            struct hls_blob *pb = hls_stream_part(&h, msn, p);
            cr_assert_not_null(pb, "%llu.%u", (unsigned long long)msn, p);
            cr_assert_eq(memcmp(pb->data + 4, "moof", 4), 0);
            cr_assert_leq(off + pb->len, s->len);
            cr_assert_eq(memcmp(s->data + off, pb->data, pb->len), 0);
            off += pb->len;
            hls_blob_unref(pb);
        }
        cr_assert_eq(off, s->len);
        cr_assert_null(hls_stream_part(&h, msn, 5));
        hls_blob_unref(s);
    }
    struct hls_blob *p = hls_stream_part(&h, 101, 0);
    cr_assert_not_null(p, "parts of the last 3 complete segments are kept");
    hls_blob_unref(p);
    cr_assert_null(hls_stream_part(&h, 100, 0), "older parts are not");
    p = hls_stream_part(&h, 104, 1);
    cr_assert_not_null(p, "parts of the segment in progress");
    hls_blob_unref(p);
    cr_assert_null(hls_stream_part(&h, 104, 2), "not closed yet");
    done(&h, &l);
}

Test(hls_stream, window_slides_and_old_segments_go)
{
    struct evlist l = {0};
    struct genp g = std_gen(40000);
    cr_assert_eq(gen(&l, &g), 20);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 1, 4);
    unsigned segs = 0;
    uint64_t last = 0;
    for (size_t i = 0; i < l.n; i++) {
        unsigned m = feed(&h, &l, i, i + 1);
        if (!(m & HLS_STREAM_NEW_SEGMENT))
            continue;
        segs++;
        struct hls_stream_stats st;
        hls_stream_get_stats(&h, &st);
        cr_assert_eq(st.last_msn, 100 + segs - 1, "msn advances by one per segment");
        cr_assert_gt(st.last_msn, last);
        last = st.last_msn;
        cr_assert_eq(st.segments, segs < 6 ? segs : 6, "window + 2 held");
        char *pl = playlist(&h, 0);
        char seq[64];
        snprintf(seq, sizeof(seq), "#EXT-X-MEDIA-SEQUENCE:%llu\n",
                 (unsigned long long)(segs <= 4 ? 100 : 100 + segs - 4));
        cr_assert_not_null(strstr(pl, seq), "%s", pl);
        unsigned extinf = 0, parted = 0;
        for (const char *q = pl; (q = strstr(q, "#EXTINF:")); q++)
            extinf++;
        cr_assert_eq(extinf, segs < 4 ? segs : 4);
        /* Parts listed only for the last two complete segments (+ in progress). */
        for (uint64_t msn = last - 3; msn <= last + 1; msn++) {
            char u[64];
            snprintf(u, sizeof(u), "URI=\"cam/%llu.0.m4s\"", (unsigned long long)msn);
            if (strstr(pl, u))
                parted++;
            else
                cr_assert(msn + 2 <= last || msn < 100, "parts of %llu missing", (unsigned long long)msn);
        }
        cr_assert_eq(parted, segs < 2 ? segs + 1 : 3);
        free(pl);
    }
    cr_assert_eq(segs, 19);
    cr_assert_null(hls_stream_segment(&h, 100 + 19 - 7), "older than window + 2");
    struct hls_blob *b = hls_stream_segment(&h, 100 + 19 - 6);
    cr_assert_not_null(b);
    hls_blob_unref(b);
    cr_assert_null(hls_stream_part(&h, 100 + 19 - 4, 0), "parts beyond the last 3 complete segments dropped");
    b = hls_stream_part(&h, 100 + 19 - 3, 0);
    cr_assert_not_null(b);
    hls_blob_unref(b);
    done(&h, &l);
}

Test(hls_stream, target_duration_follows_listed_segments)
{
    static const uint32_t lens[] = {2000, 3400, 2000, 2000, 2000, 2000};
    struct evlist l = {0};
    struct genp g = std_gen(17000);
    g.lens = lens;
    g.nlens = 6;
    gen(&l, &g);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_TS, 0, 3);
    feed(&h, &l, 0, at(&l, 7401)); /* 100 [0,2000) 101 [2000,5400) 102 [5400,7400) */
    char *pl = playlist(&h, 0);
    cr_assert_not_null(strstr(pl, "#EXT-X-TARGETDURATION:4\n"), "%s", pl);
    cr_assert_not_null(strstr(pl, "#EXTINF:3.400,\ncam/101.ts\n"), "%s", pl);
    cr_assert_not_null(strstr(pl, "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:05.523Z\n#EXTINF:2.000,\ncam/102.ts"));
    free(pl);
    feed(&h, &l, at(&l, 7401), at(&l, 13401)); /* 101 slides out */
    pl = playlist(&h, 0);
    cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:103\n"), "%s", pl);
    cr_assert_not_null(strstr(pl, "#EXT-X-TARGETDURATION:2\n"), "%s", pl);
    free(pl);
    done(&h, &l);
}

/* ---- continuity ---- */

Test(hls_stream, discontinuity_on_epoch_change)
{
    struct evlist l = {0};
    struct genp g = std_gen(5900); /* 100, 101, 102 (cut by the epoch change) */
    gen(&l, &g);
    size_t epoch2 = l.n;
    struct genp g2 = std_gen(8000);
    g2.t0 = 50000; /* the new origin has its own timeline */
    g2.msn0 = 103;
    g2.epoch = 2;
    g2.wall0 = WALL0 + 7000;
    gen(&l, &g2);
    /* Frames of the new epoch before its first SEG_START are ignored. */
    struct ev early = l.v[epoch2 + 2];
    early.flags = 0;
    early.segment = 102;
    early.ts = 49990;
    struct evlist pre = {0};
    ev_add(&pre, early);

    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 1, 6);
    feed(&h, &l, 0, epoch2);
    unsigned m = feed(&h, &pre, 0, 1);
    cr_assert(m & HLS_STREAM_NEW_SEGMENT, "a frame of a new epoch completes the segment");
    feed(&h, &l, epoch2, at(&l, 50000 + 6000));
    char *pl = playlist(&h, 0);
    /* 102 ran [4000, 5900): last dts 5897 (audio), + one video interval (40 ms) = 1.937 s. */
    cr_assert_not_null(strstr(pl, "#EXTINF:1.937,\ncam/102.m4s\n#EXT-X-DISCONTINUITY\n"
                                  "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:07.123Z\n"),
                       "%s", pl);
    cr_assert_not_null(strstr(pl, "#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
    const char *map2 = strstr(strstr(pl, "#EXT-X-MAP") + 1, "#EXT-X-MAP");
    cr_assert_null(map2, "same headers: one MAP");
    free(pl);
    struct hls_stream_stats st;
    hls_stream_get_stats(&h, &st);
    cr_assert_eq(st.restarts, 0);
    cr_assert_eq(st.segments, 5, "100..104");

    /* Once the last epoch-1 segment slides out, the sequence is the epoch and the tag goes. */
    feed(&h, &l, at(&l, 56000), l.n);
    struct evlist more = {0};
    struct genp g3 = std_gen(12000);
    g3.t0 = 58000;
    g3.msn0 = 107;
    g3.epoch = 2;
    g3.headers = 0;
    gen(&more, &g3);
    feed(&h, &more, 0, at(&more, 62001)); /* up to 108: 103..108 listed */
    pl = playlist(&h, 0);
    cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:103\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n"), "%s", pl);
    cr_assert_null(strstr(pl, "#EXT-X-DISCONTINUITY\n"), "%s", pl);
    free(pl);
    feed(&h, &more, at(&more, 62001), more.n);
    pl = playlist(&h, 0);
    cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:106\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n"), "%s", pl);
    cr_assert_null(strstr(pl, "#EXT-X-DISCONTINUITY\n"));
    free(pl);
    free(more.v);
    free(pre.v);
    done(&h, &l);
}

Test(hls_stream, gap_and_backwards_restart)
{
    struct evlist l = {0};
    struct genp g = std_gen(6100);
    gen(&l, &g); /* 100..103 (103 in progress) */
    struct genp g2 = std_gen(4100);
    g2.t0 = 6200;
    g2.msn0 = 200; /* gap */
    g2.headers = 0;
    size_t second = l.n;
    gen(&l, &g2);
    size_t third = l.n;
    struct genp g3 = std_gen(4100);
    g3.t0 = 10400;
    g3.msn0 = 50; /* backwards */
    g3.headers = 0;
    gen(&l, &g3);

    struct hls_stream h;
    mk(&h, HLS_FORMAT_TS, 0, 6);
    feed(&h, &l, 0, second);
    char *pl = playlist(&h, 0);
    cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:100\n"));
    free(pl);
    feed(&h, &l, second, second + 1);
    cr_assert_eq(hls_stream_playlist(&h, &(struct buf){0}, 0), ST_AGAIN, "everything dropped");
    cr_assert_null(hls_stream_segment(&h, 100));
    cr_assert_eq(hls_stream_ready(&h, 200, -1), 0);
    cr_assert_eq(hls_stream_ready(&h, 101, -1), 0, "older whole segment: wait for the next playlist");
    feed(&h, &l, second + 1, third);
    pl = playlist(&h, 0);
    cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:200\n"), "%s", pl);
    cr_assert_not_null(strstr(pl, "#EXTINF:2.000,\ncam/201.ts\n"), "%s", pl);
    free(pl);
    feed(&h, &l, third, l.n);
    pl = playlist(&h, 0);
    cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:50\n"), "%s", pl);
    cr_assert_null(strstr(pl, "cam/20"));
    free(pl);
    struct hls_stream_stats st;
    hls_stream_get_stats(&h, &st);
    cr_assert_eq(st.restarts, 2);
    done(&h, &l);
}

Test(hls_stream, codec_change_in_epoch_restarts_and_next_epoch_maps)
{
    load_media();
    struct evlist l = {0};
    struct genp g = std_gen(4100);
    gen(&l, &g); /* 100, 101, 102 in progress */
    /* Same epoch, different AAC header (mono): a restart with a new init. */
    static const uint8_t mono[4] = {0xaf, 0x00, 0x13, 0x88};
    ev_add(&l, (struct ev){FANOUT_AUDIO, FANOUT_FLAG_SEQ_HEADER, 4150, 102, 1, sizeof(mono), WALL0 + 4150, mono});
    struct genp g2 = std_gen(4100);
    g2.t0 = 4200;
    g2.msn0 = 103;
    g2.wall0 = WALL0 + 4200;
    g2.headers = 0;
    gen(&l, &g2); /* 103, 104, 105 in progress */
    size_t e2 = l.n;
    /* Next epoch, consecutive number, original headers again: DISCONTINUITY + MAP. */
    struct genp g3 = std_gen(4100);
    g3.t0 = 9000;
    g3.msn0 = 106;
    g3.epoch = 2;
    g3.wall0 = WALL0 + 9000;
    gen(&l, &g3);

    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 0, 6);
    feed(&h, &l, 0, e2);
    char *pl = playlist(&h, 0);
    uint64_t id1 = expected_id(&vhdr, &ahdr);
    struct body mb = {mono, sizeof(mono)};
    uint64_t id2 = expected_id(&vhdr, &mb);
    cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:103\n"), "%s", pl);
    cr_assert_eq(map_id(pl), id2);
    free(pl);
    struct hls_blob *i1 = hls_stream_init_segment(&h, id1);
    cr_assert_null(i1, "the old init went with its segments");
    feed(&h, &l, e2, l.n);
    pl = playlist(&h, 0);
    char want[256];
    snprintf(want, sizeof(want), "cam/105.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"cam/init-%llu.mp4\"\n",
             (unsigned long long)id1);
    cr_assert_not_null(strstr(pl, want), "%s", pl);
    free(pl);
    struct hls_blob *a = hls_stream_init_segment(&h, id1), *b = hls_stream_init_segment(&h, id2);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert(a->len != b->len || memcmp(a->data, b->data, a->len), "different headers, different init");
    hls_blob_unref(a);
    hls_blob_unref(b);
    struct hls_stream_stats st;
    hls_stream_get_stats(&h, &st);
    cr_assert_eq(st.restarts, 1);
    done(&h, &l);
}

Test(hls_stream, identical_headers_resent_change_nothing)
{
    load_media();
    struct evlist l = {0};
    struct genp g = std_gen(4100);
    gen(&l, &g);
    ev_add(&l, (struct ev){FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 4150, 102, 1, vhdr.len, WALL0, vhdr.p});
    ev_add(&l, (struct ev){FANOUT_DATA, FANOUT_FLAG_METADATA, 4150, 102, 1, 3, WALL0, (const uint8_t *)"\x02\x00\x00"});
    struct genp g2 = std_gen(4100);
    g2.t0 = 4200;
    g2.msn0 = 103;
    g2.headers = 0;
    gen(&l, &g2);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 0, 6);
    feed(&h, &l, 0, l.n);
    char *pl = playlist(&h, 0);
    cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:100\n"), "%s", pl);
    cr_assert_not_null(strstr(pl, "#EXTINF:0.200,\ncam/102.m4s\n#EXT-X-PROGRAM"), "%s", pl);
    free(pl);
    done(&h, &l);
}

Test(hls_stream, missed_seg_start_abandons_then_restarts)
{
    struct evlist l = {0};
    struct genp g = std_gen(8100);
    gen(&l, &g);
    size_t lost = at(&l, 4000); /* SEG_START of 102 */
    cr_assert(l.v[lost].flags & FANOUT_FLAG_SEG_START);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_TS, 0, 6);
    feed(&h, &l, 0, lost);
    feed(&h, &l, lost + 1, l.n);
    struct hls_stream_stats st;
    hls_stream_get_stats(&h, &st);
    cr_assert_eq(st.abandoned, 1, "101 never saw its end");
    cr_assert_eq(st.restarts, 1);
    char *pl = playlist(&h, 0);
    cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:103\n"), "%s", pl);
    free(pl);
    done(&h, &l);
}

/* ---- low latency ---- */

Test(hls_stream, ll_skip_delta_update)
{
    struct evlist l = {0};
    struct genp g = std_gen(24100);
    gen(&l, &g); /* 100..111 complete, 112 in progress */
    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 1, 10);
    feed(&h, &l, 0, l.n);
    char *full = playlist(&h, 0);
    char *delta = playlist(&h, 1);
    cr_assert_not_null(strstr(full, "#EXT-X-MEDIA-SEQUENCE:102\n"));
    cr_assert_null(strstr(full, "SKIP:"));
    /* 102..111 listed; CAN-SKIP-UNTIL 12 s: 102..105 end >= 12 s before the end. */
    char want[512];
    snprintf(want, sizeof(want),
             "#EXT-X-MEDIA-SEQUENCE:102\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n"
             "#EXT-X-MAP:URI=\"cam/init-%llu.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-11-28T07:00:12.123Z\n"
             "#EXTINF:2.000,\ncam/106.m4s\n",
             (unsigned long long)expected_id(&vhdr, &ahdr));
    cr_assert_not_null(strstr(delta, want), "%s", delta);
    cr_assert_null(strstr(delta, "cam/105.m4s"));
    cr_assert_not_null(strstr(delta, "#EXT-X-VERSION:9\n"));
    /* The delta is the full playlist with the skipped lines replaced. */
    const char *tail_full = strstr(full, "#EXTINF:2.000,\ncam/106.m4s");
    const char *tail_delta = strstr(delta, "#EXTINF:2.000,\ncam/106.m4s");
    cr_assert_str_eq(tail_full, tail_delta);
    free(full);
    free(delta);
    done(&h, &l);
}

Test(hls_stream, ready_answers)
{
    struct evlist l = {0};
    struct genp g = std_gen(9000);
    gen(&l, &g);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 1, 3);
    cr_assert_eq(hls_stream_ready(&h, 100, -1), 0, "nothing seen: wait");
    feed(&h, &l, 0, at(&l, 500)); /* 100 in progress, part 0 closed at 440 */
    cr_assert_eq(hls_stream_ready(&h, 100, 0), 1);
    cr_assert_eq(hls_stream_ready(&h, 100, 1), 0);
    cr_assert_eq(hls_stream_ready(&h, 100, -1), 0);
    cr_assert_eq(hls_stream_ready(&h, 101, -1), 0);
    cr_assert_eq(hls_stream_ready(&h, 101, 0), 0);
    cr_assert_eq(hls_stream_ready(&h, 102, -1), -1);
    cr_assert_eq(hls_stream_ready(&h, 99, 0), -1, "a part before anything this node has");
    feed(&h, &l, at(&l, 500), l.n); /* 100..103 complete, 104 with parts 0, 1 */
    cr_assert_eq(hls_stream_ready(&h, 103, -1), 1);
    cr_assert_eq(hls_stream_ready(&h, 103, 4), 1);
    cr_assert_eq(hls_stream_ready(&h, 50, -1), 1, "reached long ago: reload answers at once");
    cr_assert_eq(hls_stream_ready(&h, 104, 1), 1);
    cr_assert_eq(hls_stream_ready(&h, 104, 2), 0);
    cr_assert_eq(hls_stream_ready(&h, 104, -1), 0);
    cr_assert_eq(hls_stream_ready(&h, 105, -1), 0);
    cr_assert_eq(hls_stream_ready(&h, 105, 3), 0);
    cr_assert_eq(hls_stream_ready(&h, 106, -1), -1, "more than two ahead: 400");
    cr_assert_eq(hls_stream_ready(&h, 104, HLS_STREAM_MAX_PARTS), -1);
    struct hls_stream t;
    mk(&t, HLS_FORMAT_TS, 0, 3);
    feed(&t, &l, 0, l.n);
    cr_assert_eq(hls_stream_ready(&t, 104, 0), -1, "no parts in TS");
    cr_assert_eq(hls_stream_ready(&t, 104, -1), 0);
    cr_assert_eq(hls_stream_ready(&t, 103, -1), 1);
    hls_stream_free(&t);
    done(&h, &l);
}

Test(hls_stream, audio_only_parts_are_independent)
{
    struct evlist l = {0};
    struct genp g = std_gen(5000);
    g.video = 0;
    gen(&l, &g);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 1, 3);
    feed(&h, &l, 0, l.n);
    char *pl = playlist(&h, 0);
    cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:100\n"), "%s", pl);
    unsigned parts = 0, indep = 0;
    for (const char *q = pl; (q = strstr(q, "#EXT-X-PART:")); q++) {
        parts++;
        const char *eol = strchr(q, '\n');
        const char *y = strstr(q, "INDEPENDENT=YES");
        if (y && y < eol)
            indep++;
    }
    cr_assert_gt(parts, 4);
    cr_assert_eq(indep, parts);
    cr_assert_eq(map_id(pl), expected_id(NULL, &ahdr));
    free(pl);
    done(&h, &l);
}

/* ---- determinism ---- */

static void check_same(struct hls_stream *a, struct hls_stream *b, int ll)
{
    char *pa = playlist(a, 0), *pb = playlist(b, 0);
    cr_assert_str_eq(pa, pb);
    free(pa);
    free(pb);
    if (ll) {
        pa = playlist(a, 1);
        pb = playlist(b, 1);
        cr_assert_str_eq(pa, pb);
        free(pa);
        free(pb);
    }
    struct hls_stream_stats sb;
    hls_stream_get_stats(b, &sb);
    for (uint64_t msn = sb.last_msn - sb.segments + 1; msn <= sb.last_msn + 1; msn++) {
        struct hls_blob *x = hls_stream_segment(a, msn), *y = hls_stream_segment(b, msn);
        cr_assert_eq(!x, !y, "segment %llu", (unsigned long long)msn);
        if (x) {
            cr_assert_eq(x->len, y->len);
            cr_assert_eq(memcmp(x->data, y->data, x->len), 0, "segment %llu bytes", (unsigned long long)msn);
        }
        hls_blob_unref(x);
        hls_blob_unref(y);
        for (uint32_t p = 0; ll && p < 8; p++) {
            x = hls_stream_part(a, msn, p);
            y = hls_stream_part(b, msn, p);
            cr_assert_eq(!x, !y, "part %llu.%u", (unsigned long long)msn, p);
            if (x)
                cr_assert(x->len == y->len && !memcmp(x->data, y->data, x->len), "part bytes");
            hls_blob_unref(x);
            hls_blob_unref(y);
        }
    }
}

static void late_joiner(int format, int ll, uint32_t late_ts)
{
    struct evlist l = {0};
    struct genp g = std_gen(30000);
    gen(&l, &g);
    struct hls_stream a, b;
    mk(&a, format, ll, 4);
    mk(&b, format, ll, 4);
    size_t k = at(&l, late_ts);
    feed(&a, &l, 0, k);
    /* A late joiner gets the cached codec headers first (fanout_stream), then the live frames. */
    feed(&b, &l, 0, 2);
    size_t full_at = 0;
    for (size_t i = k; i < l.n; i++) {
        feed2(&a, &b, &l, i, i + 1);
        struct hls_stream_stats sb;
        hls_stream_get_stats(&b, &sb);
        /* Once b holds window segments it saw whole, everything must agree. */
        uint64_t first_whole = (late_ts + 1999) / 2000 + 100;
        if (sb.segments >= 4 && sb.last_msn - 3 >= first_whole) {
            if (!full_at)
                full_at = i;
            if ((i - full_at) % 37 == 0)
                check_same(&a, &b, ll);
        }
    }
    cr_assert(full_at, "b filled its window");
    check_same(&a, &b, ll);
    if (format == HLS_FORMAT_FMP4) {
        uint64_t id = expected_id(&vhdr, &ahdr);
        struct hls_blob *x = hls_stream_init_segment(&a, id), *y = hls_stream_init_segment(&b, id);
        cr_assert(x && y && x->len == y->len && !memcmp(x->data, y->data, x->len));
        hls_blob_unref(x);
        hls_blob_unref(y);
    }
    hls_stream_free(&b);
    done(&a, &l);
}

Test(hls_stream, late_joiner_identical_ts) { late_joiner(HLS_FORMAT_TS, 0, 3333); }
Test(hls_stream, late_joiner_identical_fmp4) { late_joiner(HLS_FORMAT_FMP4, 0, 4000); }
Test(hls_stream, late_joiner_identical_ll)
{
    static const uint32_t starts[] = {1, 2440, 3999, 4001, 7777};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
        late_joiner(HLS_FORMAT_FMP4, 1, starts[i]);
}

/* ---- bounds, errors, lifetimes ---- */

Test(hls_stream, max_bytes_evicts_oldest)
{
    struct evlist l = {0};
    struct genp g = std_gen(30000);
    gen(&l, &g);
    /* Measure one segment, then cap to about 2.5 of them (plus the one in progress). */
    struct hls_stream h;
    mk(&h, HLS_FORMAT_TS, 0, 6);
    feed(&h, &l, 0, at(&l, 2001));
    struct hls_blob *one = hls_stream_segment(&h, 100);
    cr_assert_not_null(one);
    size_t seg = one->len;
    hls_blob_unref(one);
    hls_stream_free(&h);

    size_t cap = seg * 7 / 2 > HLS_STREAM_MIN_BYTES ? seg * 7 / 2 : HLS_STREAM_MIN_BYTES;
    struct hls_stream_settings s = {HLS_FORMAT_TS, 0, 6, 500, cap};
    cr_assert_eq(hls_stream_init(&h, &s, "cam"), ST_OK);
    struct hls_blob *kept = NULL;
    for (size_t i = 0; i < l.n; i++) {
        feed(&h, &l, i, i + 1);
        struct hls_stream_stats st;
        hls_stream_get_stats(&h, &st);
        cr_assert_leq(st.bytes, cap, "frame %zu", i);
        if (!kept && st.last_msn == 101)
            kept = hls_stream_segment(&h, 101);
    }
    struct hls_stream_stats st;
    hls_stream_get_stats(&h, &st);
    cr_assert_lt(st.segments, 6, "the byte cap binds before the segment count");
    cr_assert_geq(st.segments, 1);
    cr_assert_eq(st.restarts, 0);
    cr_assert_null(hls_stream_segment(&h, 101));
    cr_assert_not_null(kept, "a blob held by a reader outlives eviction");
    cr_assert_eq(kept->data[0], 0x47);
    cr_assert_eq(kept->len % 188, 0);
    char *pl = playlist(&h, 0);
    unsigned n = 0;
    for (const char *q = pl; (q = strstr(q, "#EXTINF")); q++)
        n++;
    cr_assert_eq(n, st.segments, "only what is held is listed");
    free(pl);
    hls_stream_free(&h);
    cr_assert_eq(kept->data[188], 0x47, "still valid after free");
    hls_blob_unref(kept);
    done(&h, &l);
}

Test(hls_stream, oversized_segment_is_abandoned)
{
    struct evlist l = {0};
    static const uint32_t lens[] = {2000, 20000, 2000};
    struct genp g = std_gen(40000);
    g.lens = lens;
    g.nlens = 3;
    gen(&l, &g);
    struct hls_stream h;
    size_t cap = 4 * HLS_STREAM_MIN_BYTES; /* a 2 s segment is about 65 KB */
    struct hls_stream_settings s = {HLS_FORMAT_FMP4, 1, 3, 500, cap};
    cr_assert_eq(hls_stream_init(&h, &s, "cam"), ST_OK);
    /* 100 [0,2) 101 [2,22) 102 [22,24) 103 [24,26) 104 [26,40+) s */
    int seen103 = 0;
    for (size_t i = 0; i < l.n; i++) {
        unsigned m = feed(&h, &l, i, i + 1);
        struct hls_stream_stats st;
        hls_stream_get_stats(&h, &st);
        cr_assert_leq(st.bytes, cap);
        if ((m & HLS_STREAM_NEW_SEGMENT) && st.last_msn == 103) {
            seen103 = 1;
            cr_assert_eq(st.abandoned, 1, "a 20 s segment does not fit in 256 KiB");
            cr_assert_eq(st.restarts, 1);
            char *pl = playlist(&h, 0);
            cr_assert_null(strstr(pl, "cam/101"), "%s", pl);
            cr_assert_not_null(strstr(pl, "#EXT-X-MEDIA-SEQUENCE:102\n"), "%s", pl);
            free(pl);
            cr_assert_eq(hls_stream_ready(&h, 101, -1), 1, "passed, never listed");
            cr_assert_null(hls_stream_segment(&h, 101));
        }
    }
    cr_assert(seen103);
    struct hls_stream_stats st;
    hls_stream_get_stats(&h, &st);
    cr_assert_eq(st.abandoned, 2, "104 too; it evicted the older ones first");
    cr_assert_eq(hls_stream_playlist(&h, &(struct buf){0}, 0), ST_AGAIN);
    done(&h, &l);
}

Test(hls_stream, muxer_errors_skip_frames)
{
    load_media();
    /* A video frame whose NAL length runs past its body. */
    static uint8_t bad[16] = {0x27, 0x01, 0, 0, 0, 0, 0, 0x7f, 0xff, 0x65, 1, 2, 3, 4, 5, 6};
    for (int format = HLS_FORMAT_TS; format <= HLS_FORMAT_FMP4; format++) {
        struct evlist l = {0};
        struct genp g = std_gen(6100);
        gen(&l, &g);
        for (size_t i = 0; i < l.n; i++)
            if (l.v[i].kind == FANOUT_VIDEO && l.v[i].ts % 1000 == 120) {
                l.v[i].body = bad;
                l.v[i].len = sizeof(bad);
            }
        struct hls_stream h, ref;
        mk(&h, format, format == HLS_FORMAT_FMP4, 3);
        mk(&ref, format, format == HLS_FORMAT_FMP4, 3);
        feed(&h, &l, 0, l.n);
        /* The reference gets the same stream without the bad frames. */
        for (size_t i = 0; i < l.n; i++)
            if (l.v[i].body != bad)
                feed(&ref, &l, i, i + 1);
        struct hls_stream_stats st;
        hls_stream_get_stats(&h, &st);
        cr_assert_geq(st.mux_errors, 3, "format %d", format);
        cr_assert_eq(st.abandoned, 0);
        check_same(&h, &ref, format == HLS_FORMAT_FMP4);
        hls_stream_free(&ref);
        done(&h, &l);
    }
}

Test(hls_stream, playlist_cap_rolls_back)
{
    struct evlist l = {0};
    struct genp g = std_gen(9000);
    gen(&l, &g);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 1, 3);
    feed(&h, &l, 0, l.n);
    struct buf b;
    buf_init(&b, 300);
    cr_assert_eq(buf_append(&b, "x", 1), ST_OK);
    cr_assert_eq(hls_stream_playlist(&h, &b, 0), ST_ERROR);
    cr_assert_eq(b.len, 1);
    buf_free(&b);
    done(&h, &l);
}

Test(hls_stream, blobs_outlive_the_stream)
{
    struct evlist l = {0};
    struct genp g = std_gen(5000);
    gen(&l, &g);
    struct hls_stream h;
    mk(&h, HLS_FORMAT_FMP4, 1, 3);
    feed(&h, &l, 0, at(&l, 1000));
    struct hls_blob *part = hls_stream_part(&h, 100, 0); /* a part of the segment in progress */
    cr_assert_not_null(part);
    uint8_t *copy = malloc(part->len);
    memcpy(copy, part->data, part->len);
    size_t len = part->len;
    feed(&h, &l, at(&l, 1000), l.n); /* completes 100: its parts become views */
    struct hls_blob *view = hls_stream_part(&h, 100, 0);
    cr_assert_not_null(view);
    cr_assert_not_null(view->parent, "a complete segment's part is a view");
    cr_assert_eq(view->len, len);
    cr_assert_eq(memcmp(view->data, copy, len), 0);
    uint64_t id = expected_id(&vhdr, &ahdr);
    struct hls_blob *init = hls_stream_init_segment(&h, id);
    hls_stream_free(&h);
    cr_assert_eq(memcmp(part->data, copy, len), 0);
    cr_assert_eq(memcmp(view->data, copy, len), 0);
    cr_assert_eq(memcmp(init->data + 4, "ftyp", 4), 0);
    hls_blob_unref(part);
    hls_blob_unref(view);
    hls_blob_unref(init);
    hls_blob_unref(NULL);
    free(copy);
    done(&h, &l);
}

Test(hls_stream, ignores_frames_before_first_seg_start_and_data)
{
    struct evlist l = {0};
    struct genp g = std_gen(7000);
    gen(&l, &g);
    struct hls_stream a, b;
    mk(&a, HLS_FORMAT_TS, 0, 6);
    mk(&b, HLS_FORMAT_TS, 0, 6);
    /* b also sees unstamped and data frames before the first segment. */
    struct evlist junk = {0};
    ev_add(&junk, (struct ev){FANOUT_VIDEO, FANOUT_FLAG_KEY, 0, 0, 1, vkey.len, WALL0, vkey.p});
    ev_add(&junk, (struct ev){FANOUT_AUDIO, 0, 0, 0, 1, araw[0].len, WALL0, araw[0].p});
    ev_add(&junk, (struct ev){FANOUT_DATA, FANOUT_FLAG_METADATA | FANOUT_FLAG_SEG_START, 0, 99, 1, 3, WALL0,
                              (const uint8_t *)"\x02\x00\x00"});
    cr_assert_eq(feed(&b, &junk, 0, junk.n), 0);
    feed2(&a, &b, &l, 0, l.n);
    check_same(&a, &b, 0);
    free(junk.v);
    hls_stream_free(&b);
    done(&a, &l);
}
