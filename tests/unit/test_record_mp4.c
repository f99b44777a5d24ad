/*
 * record_mp4: FLV recordings turned into fragmented MP4. Files are built
 * from the tags of tests/data/codec/h264_aac_160x120.flv (repeated on a
 * moving timeline), converted, and the MP4 is walked box by box: ftyp,
 * moov, then moof+mdat pairs whose trun sample counts per track equal the
 * FLV's frames. Also: a file cut by a crash at every kind of offset, the
 * fragment cap, a codec change, legacy codecs, and the writer thread.
 */
#include <criterion/criterion.h>

#include "test_data.h"

#include "core/buf.h"
#include "core/status.h"
#include "fanout/fanout_frame.h"
#include "record/flv_file_reader.h"
#include "record/flv_file_writer.h"
#include "record/record_mp4.h"
#include "record/record_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_record_mp4.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_rf(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(record_mp4, .init = make_dir, .fini = rm_rf);

/* The sample file's tags, copied out. */
struct tag {
    uint8_t type;
    uint32_t ts;
    uint8_t *body;
    uint32_t len;
    int key, hdr;
    int frame; /* a picture or an audio frame (not config, not end of sequence) */
};

static int is_frame(uint8_t type, int hdr, const uint8_t *body, uint32_t len)
{
    return !hdr && (type == 8 || (type == 9 && len > 1 && body[1] != 2));
}

static int load_tags(struct tag *out, int max)
{
    size_t n;
    uint8_t *flv = test_data_load("codec/h264_aac_160x120.flv", &n);
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, flv, n, 1 << 20, 64), ST_OK);
    cr_assert_eq(flv_file_reader_scan(&r, 0), ST_OK);
    struct buf b;
    buf_init(&b, 1 << 20);
    uint64_t off = r.data_start;
    struct flv_file_tag t;
    int k = 0;
    while (flv_file_reader_read(&r, &off, &t, &b) == ST_OK && k < max) {
        out[k] = (struct tag){t.type, t.timestamp, malloc(t.size + 1), t.size, t.keyframe, t.seq_header,
                              is_frame(t.type, t.seq_header, t.body, t.size)};
        memcpy(out[k].body, t.body, t.size);
        k++;
    }
    buf_free(&b);
    flv_file_reader_close(&r);
    free(flv);
    return k;
}

static void free_tags(struct tag *t, int n)
{
    for (int i = 0; i < n; i++)
        free(t[i].body);
}

/* What a file should give: media frames per track, keyframes. */
struct want {
    int video, audio, keys;
};

/* Write the headers once, then the media tags `copies` times, each copy
 * 250 ms after the previous one. */
static void write_flv(const char *path, const struct tag *t, int n, int copies, struct want *w)
{
    struct flv_file_writer fw;
    flv_file_writer_init(&fw);
    cr_assert_eq(flv_file_writer_open(&fw, path, 1, 1), ST_OK, "%s", path);
    memset(w, 0, sizeof(*w));
    for (int i = 0; i < n; i++)
        if (t[i].hdr || t[i].type == 18)
            cr_assert_eq(flv_file_writer_write(&fw, t[i].type, 0, t[i].body, t[i].len), ST_OK);
    for (int c = 0; c < copies; c++)
        for (int i = 0; i < n; i++) {
            if (t[i].hdr || t[i].type == 18)
                continue;
            cr_assert_eq(flv_file_writer_write(&fw, t[i].type, t[i].ts + (uint32_t)c * 250, t[i].body, t[i].len),
                         ST_OK);
            if (!t[i].frame)
                continue;
            if (t[i].type == 9)
                w->video++;
            else
                w->audio++;
            w->keys += t[i].key;
        }
    cr_assert_eq(flv_file_writer_close(&fw, 0), ST_OK);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    cr_assert_not_null(p);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* What the MP4 holds, box by box. */
struct mp4 {
    int ftyp_first, moov_second, pairs, stray;
    uint32_t video, audio; /* trun sample counts per track */
    uint32_t seq_ok;       /* mfhd sequence numbers 1, 2, 3... */
};

static void walk_traf(const uint8_t *p, size_t len, struct mp4 *m)
{
    uint32_t track = 0;
    size_t off = 0;
    while (off + 8 <= len) {
        uint32_t size = rd_be32(p + off);
        cr_assert(size >= 8 && size <= len - off, "bad box size in traf");
        if (memcmp(p + off + 4, "tfhd", 4) == 0)
            track = rd_be32(p + off + 12);
        if (memcmp(p + off + 4, "trun", 4) == 0) {
            uint32_t count = rd_be32(p + off + 12);
            cr_assert(track == 1 || track == 2, "trun before tfhd");
            if (track == 1)
                m->video += count;
            else
                m->audio += count;
        }
        off += size;
    }
    cr_assert_eq(off, len);
}

static void walk(const uint8_t *p, size_t len, struct mp4 *m)
{
    memset(m, 0, sizeof(*m));
    m->seq_ok = 1;
    size_t off = 0;
    int i = 0, last_moof = 0;
    uint32_t seq = 0;
    while (off < len) {
        cr_assert(len - off >= 8, "trailing bytes");
        uint32_t size = rd_be32(p + off);
        cr_assert(size >= 8 && size <= len - off, "bad box size %u at %zu", size, off);
        const uint8_t *type = p + off + 4;
        if (i == 0)
            m->ftyp_first = memcmp(type, "ftyp", 4) == 0;
        else if (i == 1)
            m->moov_second = memcmp(type, "moov", 4) == 0;
        else if (memcmp(type, "moof", 4) == 0 && !last_moof) {
            last_moof = 1;
            size_t o = off + 8;
            while (o < off + size) {
                uint32_t s = rd_be32(p + o);
                cr_assert(s >= 8 && o + s <= off + size);
                if (memcmp(p + o + 4, "mfhd", 4) == 0 && rd_be32(p + o + 12) != ++seq)
                    m->seq_ok = 0;
                if (memcmp(p + o + 4, "traf", 4) == 0)
                    walk_traf(p + o + 8, s - 8, m);
                o += s;
            }
        } else if (memcmp(type, "mdat", 4) == 0 && last_moof) {
            last_moof = 0;
            m->pairs++;
        } else {
            m->stray++;
        }
        off += size;
        i++;
    }
    if (last_moof)
        m->stray++;
}

static void convert_and_walk(const char *flv, struct record_mp4_result *res, struct mp4 *m)
{
    char mp4[256], part[264];
    cr_assert_eq(record_mp4_path(flv, mp4, sizeof(mp4)), ST_OK);
    snprintf(part, sizeof(part), "%s.part", mp4);
    int rc = record_mp4_convert(flv, 1, res);
    cr_assert_eq(rc, ST_OK, "%s: %s", flv, res->error);
    cr_assert(!exists(part), ".part left behind");
    size_t len;
    uint8_t *p = read_file(mp4, &len);
    cr_assert_eq(len, res->bytes);
    walk(p, len, m);
    free(p);
    cr_assert(m->ftyp_first && m->moov_second, "ftyp, moov first");
    cr_assert_eq(m->stray, 0, "only moof+mdat pairs after moov");
    cr_assert(m->seq_ok, "fragment sequence numbers");
    cr_assert_eq((uint32_t)m->pairs, res->fragments);
}

Test(record_mp4, path_names)
{
    char out[32];
    cr_assert_eq(record_mp4_path("/r/live/cam-20240101-000000.flv", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "/r/live/cam-20240101-000000.mp4");
    cr_assert_eq(record_mp4_path("/r/x", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "/r/x.mp4");
    cr_assert_eq(record_mp4_path("/r/abc.flv", out, 11), ST_OK);
    cr_assert_str_eq(out, "/r/abc.mp4");
    cr_assert_eq(record_mp4_path("/r/abc.flv", out, 10), ST_ERROR);
}

Test(record_mp4, sample_file_as_recorded)
{
    struct tag t[64];
    int n = load_tags(t, 64);
    char flv[128];
    snprintf(flv, sizeof(flv), "%s/cam-1.flv", dir);
    struct want w;
    write_flv(flv, t, n, 8, &w);
    cr_assert(w.video >= 8 && w.audio >= 8 && w.keys == 8, "sample file: %d video %d audio %d keys", w.video,
              w.audio, w.keys);
    struct record_mp4_result res;
    struct mp4 m;
    convert_and_walk(flv, &res, &m);
    cr_assert_eq(m.video, (uint32_t)w.video);
    cr_assert_eq(m.audio, (uint32_t)w.audio);
    cr_assert_eq(res.samples, (uint64_t)(w.video + w.audio));
    /* One fragment per keyframe interval (audio ahead of the first key
     * makes one more). */
    cr_assert(m.pairs == w.keys || m.pairs == w.keys + 1, "%d fragments for %d keyframes", m.pairs, w.keys);
    cr_assert_null(res.warning, "%s", res.warning);
    /* The FLV is untouched; converting again replaces the MP4. */
    size_t len;
    free(read_file(flv, &len));
    struct record_mp4_result again;
    convert_and_walk(flv, &again, &m);
    cr_assert_eq(again.bytes, res.bytes);
    free_tags(t, n);
}

Test(record_mp4, the_data_file_itself)
{
    struct record_mp4_result res;
    struct mp4 m;
    char flv[128];
    size_t len;
    uint8_t *p = test_data_load("codec/h264_aac_160x120.flv", &len);
    snprintf(flv, sizeof(flv), "%s/copy.flv", dir);
    FILE *f = fopen(flv, "wb");
    cr_assert_eq(fwrite(p, 1, len, f), len);
    fclose(f);
    free(p);
    convert_and_walk(flv, &res, &m);
    cr_assert_eq(m.video, 5); /* ffprobe -count_packets: 5 video, 6 audio */
    cr_assert_eq(m.audio, 6);
}

/* A recording cut by a crash at any offset converts up to its last whole
 * tag, with exactly the frames a reader finds before the cut. */
Test(record_mp4, truncated_files)
{
    struct tag t[64];
    int n = load_tags(t, 64);
    char flv[128], cut[128];
    snprintf(flv, sizeof(flv), "%s/full.flv", dir);
    snprintf(cut, sizeof(cut), "%s/cut.flv", dir);
    struct want w;
    write_flv(flv, t, n, 3, &w);
    size_t len;
    uint8_t *p = read_file(flv, &len);
    int converted = 0;
    for (size_t at = 13; at < len; at += 97) {
        /* frames the reader sees in the first `at` bytes */
        struct flv_file_reader r;
        cr_assert_eq(flv_file_reader_open_mem(&r, p, at, 1 << 20, 0), ST_OK);
        cr_assert_eq(flv_file_reader_scan(&r, 0), ST_OK);
        struct buf b;
        buf_init(&b, 1 << 20);
        uint64_t off = r.data_start;
        struct flv_file_tag tag;
        uint32_t video = 0, audio = 0;
        while (flv_file_reader_read(&r, &off, &tag, &b) == ST_OK)
            if (is_frame(tag.type, tag.seq_header, tag.body, tag.size))
                *(tag.type == 9 ? &video : &audio) += 1;
        buf_free(&b);
        flv_file_reader_close(&r);

        FILE *f = fopen(cut, "wb");
        cr_assert_eq(fwrite(p, 1, at, f), at);
        fclose(f);
        struct record_mp4_result res;
        if (video + audio == 0) {
            cr_assert_eq(record_mp4_convert(cut, 0, &res), ST_ERROR, "at %zu", at);
            cr_assert_not_null(res.error);
            continue;
        }
        struct mp4 m;
        convert_and_walk(cut, &res, &m);
        cr_assert_eq(m.video, video, "cut at %zu", at);
        cr_assert_eq(m.audio, audio, "cut at %zu", at);
        converted++;
    }
    cr_assert_gt(converted, 10);
    free(p);
    free_tags(t, n);
}

/* A long run without keyframes is cut at the sample cap. */
Test(record_mp4, fragment_sample_cap)
{
    struct tag t[64];
    int n = load_tags(t, 64);
    int vhdr = -1, key = -1, inter = -1;
    for (int i = 0; i < n; i++) {
        if (t[i].type != 9)
            continue;
        if (t[i].hdr && vhdr < 0)
            vhdr = i;
        else if (t[i].key && key < 0)
            key = i;
        else if (!t[i].hdr && !t[i].key && inter < 0)
            inter = i;
    }
    cr_assert(vhdr >= 0 && key >= 0 && inter >= 0);
    char flv[128];
    snprintf(flv, sizeof(flv), "%s/long-gop.flv", dir);
    struct flv_file_writer fw;
    flv_file_writer_init(&fw);
    cr_assert_eq(flv_file_writer_open(&fw, flv, 0, 1), ST_OK);
    cr_assert_eq(flv_file_writer_write(&fw, 9, 0, t[vhdr].body, t[vhdr].len), ST_OK);
    cr_assert_eq(flv_file_writer_write(&fw, 9, 0, t[key].body, t[key].len), ST_OK);
    int frames = RECORD_MP4_MAX_FRAGMENT_SAMPLES + 500;
    for (int i = 1; i < frames; i++)
        cr_assert_eq(flv_file_writer_write(&fw, 9, (uint32_t)i * 40, t[inter].body, t[inter].len), ST_OK);
    cr_assert_eq(flv_file_writer_close(&fw, 0), ST_OK);
    struct record_mp4_result res;
    struct mp4 m;
    convert_and_walk(flv, &res, &m);
    cr_assert_eq(m.pairs, 2);
    cr_assert_eq(m.video, (uint32_t)frames);
    cr_assert_eq(m.audio, 0);
    free_tags(t, n);
}

/* A new, different video sequence header ends the MP4 there (a warning). */
Test(record_mp4, codec_change_ends_the_mp4)
{
    struct tag t[64];
    int n = load_tags(t, 64);
    char flv[128];
    snprintf(flv, sizeof(flv), "%s/change.flv", dir);
    struct flv_file_writer fw;
    flv_file_writer_init(&fw);
    int vhdr = -1;
    for (int i = 0; i < n && vhdr < 0; i++)
        if (t[i].type == 9 && t[i].hdr)
            vhdr = i;
    cr_assert(vhdr >= 0);
    cr_assert_eq(flv_file_writer_open(&fw, flv, 1, 1), ST_OK);
    for (int i = 0; i < n; i++)
        if (t[i].hdr)
            cr_assert_eq(flv_file_writer_write(&fw, t[i].type, 0, t[i].body, t[i].len), ST_OK);
    uint32_t before = 0;
    for (int i = 0; i < n; i++)
        if (!t[i].hdr && t[i].type != 18) {
            cr_assert_eq(flv_file_writer_write(&fw, t[i].type, t[i].ts, t[i].body, t[i].len), ST_OK);
            before += t[i].frame;
        }
    /* the same header again is harmless */
    cr_assert_eq(flv_file_writer_write(&fw, 9, 300, t[vhdr].body, t[vhdr].len), ST_OK);
    for (int i = 0; i < n; i++)
        if (!t[i].hdr && t[i].type != 18) {
            cr_assert_eq(flv_file_writer_write(&fw, t[i].type, t[i].ts + 300, t[i].body, t[i].len), ST_OK);
            before += t[i].frame;
        }
    t[vhdr].body[t[vhdr].len - 1] ^= 0x01;
    cr_assert_eq(flv_file_writer_write(&fw, 9, 600, t[vhdr].body, t[vhdr].len), ST_OK);
    for (int i = 0; i < n; i++)
        if (!t[i].hdr && t[i].type != 18)
            cr_assert_eq(flv_file_writer_write(&fw, t[i].type, t[i].ts + 600, t[i].body, t[i].len), ST_OK);
    cr_assert_eq(flv_file_writer_close(&fw, 0), ST_OK);
    struct record_mp4_result res;
    struct mp4 m;
    convert_and_walk(flv, &res, &m);
    cr_assert_eq(m.video + m.audio, before);
    cr_assert_not_null(res.warning);
    cr_assert(strstr(res.warning, "changed"), "%s", res.warning);
    free_tags(t, n);
}

/* Legacy codecs have no fMP4 form: an error and no file; a legacy audio
 * track beside H.264 is left out with a warning. */
Test(record_mp4, legacy_codecs)
{
    char flv[128], mp4[128];
    snprintf(flv, sizeof(flv), "%s/mp3.flv", dir);
    struct flv_file_writer fw;
    flv_file_writer_init(&fw);
    cr_assert_eq(flv_file_writer_open(&fw, flv, 1, 0), ST_OK);
    uint8_t mp3[64];
    memset(mp3, 0x55, sizeof(mp3));
    mp3[0] = 0x2f; /* MP3, 44 kHz, 16 bit, stereo */
    for (uint32_t i = 0; i < 20; i++)
        cr_assert_eq(flv_file_writer_write(&fw, 8, i * 26, mp3, sizeof(mp3)), ST_OK);
    cr_assert_eq(flv_file_writer_close(&fw, 0), ST_OK);
    struct record_mp4_result res;
    cr_assert_eq(record_mp4_convert(flv, 0, &res), ST_ERROR);
    cr_assert_not_null(res.error);
    cr_assert_eq(record_mp4_path(flv, mp4, sizeof(mp4)), ST_OK);
    cr_assert(!exists(mp4));
    char part[140];
    snprintf(part, sizeof(part), "%s.part", mp4);
    cr_assert(!exists(part));

    /* H.264 + MP3: video only. */
    struct tag t[64];
    int n = load_tags(t, 64);
    snprintf(flv, sizeof(flv), "%s/h264-mp3.flv", dir);
    cr_assert_eq(flv_file_writer_open(&fw, flv, 1, 1), ST_OK);
    uint32_t video = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].type == 9) {
            cr_assert_eq(flv_file_writer_write(&fw, 9, t[i].ts, t[i].body, t[i].len), ST_OK);
            video += t[i].frame;
        } else if (t[i].type == 8 && !t[i].hdr) {
            cr_assert_eq(flv_file_writer_write(&fw, 8, t[i].ts, mp3, sizeof(mp3)), ST_OK);
        }
    }
    cr_assert_eq(flv_file_writer_close(&fw, 0), ST_OK);
    struct mp4 m;
    convert_and_walk(flv, &res, &m);
    cr_assert_eq(m.video, video);
    cr_assert_eq(m.audio, 0);
    cr_assert_not_null(res.warning);
    free_tags(t, n);

    /* Not an FLV at all. */
    snprintf(flv, sizeof(flv), "%s/garbage.flv", dir);
    FILE *f = fopen(flv, "wb");
    fputs("this is not an flv file at all", f);
    fclose(f);
    cr_assert_eq(record_mp4_convert(flv, 0, &res), ST_ERROR);
    snprintf(flv, sizeof(flv), "%s/missing.flv", dir);
    cr_assert_eq(record_mp4_convert(flv, 0, &res), ST_ERROR);
    cr_assert_neq(res.err, 0);
}

/* The writer thread makes the MP4 of each file it closes when asked to. */
Test(record_mp4, writer_makes_mp4_on_close)
{
    struct tag t[64];
    int n = load_tags(t, 64);
    struct record_writer w;
    struct record_writer_settings s = {.max_frames = 1000, .max_bytes = 1 << 20, .mp4 = 1};
    cr_assert_eq(record_writer_start(&w, &s), ST_OK);
    struct record_channel *ch = record_writer_channel_new(&w);
    cr_assert_not_null(ch);
    char flv[2][128];
    uint32_t frames = 0;
    for (int file = 0; file < 2; file++) {
        snprintf(flv[file], sizeof(flv[file]), "%s/live/w-%d.flv", dir, file);
        cr_assert_eq(record_writer_open(&w, ch, flv[file], 1, 1), ST_OK);
        for (int i = 0; i < n; i++) {
            struct fanout_frame *f = fanout_frame_new(t[i].type, 0, t[i].ts, t[i].body, t[i].len, 4096);
            cr_assert_not_null(f);
            cr_assert_eq(record_writer_frame(&w, ch, f, t[i].ts), ST_OK);
            fanout_frame_unref(f);
            frames += file == 0 && t[i].frame;
        }
    }
    record_writer_channel_release(&w, ch); /* closes the second file */
    record_writer_stop(&w);
    cr_assert_eq(atomic_load(&w.stats.mp4_files), 2);
    cr_assert_eq(atomic_load(&w.stats.mp4_errors), 0);
    for (int file = 0; file < 2; file++) {
        char mp4[160];
        cr_assert_eq(record_mp4_path(flv[file], mp4, sizeof(mp4)), ST_OK);
        cr_assert(exists(mp4), "%s not made by the writer", mp4);
        struct record_mp4_result res;
        struct mp4 m;
        convert_and_walk(flv[file], &res, &m);
        cr_assert_eq(m.video + m.audio, frames);
    }
    free_tags(t, n);
}
