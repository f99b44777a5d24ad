/*
 * record_stream: files start at a keyframe with metadata and both sequence
 * headers at 0 and frames rebased; rotation by duration and by size at
 * keyframes; a full writer queue drops up to the next keyframe (counted
 * once per episode) and the file never holds an undecodable gap; audio-only
 * streams; a failed recording leaves the stream alone; a cleared stream
 * closes its file; no frame reference is leaked.
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "fanout/fanout_stream.h"
#include "record/flv_file_reader.h"
#include "record/record_stream.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static struct record_writer w;
static struct fanout_stream fs;
static long live_before;

static const uint8_t meta_av[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x08, 0, 0, 0, 1,
                                  0x00, 0x0c, 'v', 'i', 'd', 'e', 'o', 'c', 'o', 'd', 'e', 'c', 'i', 'd',
                                  0x00, 0x40, 0x1c, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x09};
static const uint8_t meta_a[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x05};
static const uint8_t vhdr[] = {0x17, 0x00, 0, 0, 0, 1, 0x42, 0, 0x1e};
static const uint8_t ahdr[] = {0xaf, 0x00, 0x12, 0x10};

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_record_stream.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    live_before = fanout_frame_live_count();
    struct record_writer_settings s = {.max_frames = 4096, .max_bytes = 16 << 20};
    cr_assert_eq(record_writer_start(&w, &s), ST_OK);
    cr_assert_eq(fanout_stream_init(&fs, 256, 1 << 20), ST_OK);
}

static void push(uint8_t kind, uint8_t flags, uint32_t ts, const uint8_t *body, uint32_t len)
{
    struct fanout_frame *f = fanout_frame_new(kind, flags, ts, body, len, 4096);
    cr_assert_not_null(f);
    fanout_stream_push(&fs, f, 0);
    fanout_frame_unref(f);
}

static void push_headers(const uint8_t *meta, uint32_t meta_len, int video)
{
    push(FANOUT_DATA, FANOUT_FLAG_METADATA, 0, meta, meta_len);
    push(FANOUT_AUDIO, FANOUT_FLAG_SEQ_HEADER, 0, ahdr, sizeof(ahdr));
    if (video)
        push(FANOUT_VIDEO, FANOUT_FLAG_SEQ_HEADER, 0, vhdr, sizeof(vhdr));
}

static void push_video(uint32_t ts, int key, uint32_t len)
{
    uint8_t body[8192];
    memset(body, 0x11, sizeof(body));
    body[0] = key ? 0x17 : 0x27;
    body[1] = 1;
    push(FANOUT_VIDEO, key ? FANOUT_FLAG_KEY : 0, ts, body, len);
}

static void push_audio(uint32_t ts)
{
    const uint8_t body[] = {0xaf, 0x01, 0x21, 0x10, 0x04};
    push(FANOUT_AUDIO, 0, ts, body, sizeof(body));
}

/* 25 fps video (key every 25 frames) and audio every 40 ms from t0 to t1. */
static void push_media(uint32_t t0, uint32_t t1, uint32_t vlen)
{
    for (uint32_t t = t0; t < t1; t += 40) {
        push_audio(t);
        push_video(t, (t / 40) % 25 == 0, vlen);
    }
}

struct tag {
    uint8_t type;
    uint32_t ts;
    int key, seq, meta;
};

static int read_file(const char *path, struct tag *tags, int max, int *truncated)
{
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open(&r, path, 1 << 20, 4096), ST_OK, "%s", path);
    cr_assert_eq(flv_file_reader_scan(&r, 0), ST_OK);
    *truncated = r.truncated;
    uint64_t off = r.data_start;
    struct flv_file_tag t;
    struct buf b;
    buf_init(&b, 1 << 20);
    int n = 0;
    while (n < max && flv_file_reader_read(&r, &off, &t, &b) == ST_OK)
        tags[n++] = (struct tag){t.type, t.timestamp, t.keyframe, t.seq_header, t.metadata};
    buf_free(&b);
    flv_file_reader_close(&r);
    return n;
}

/* Start order: "x.flv" < "x-1.flv" < "x-2.flv" (same second) < "y.flv". */
static int cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t nx = strlen(x) - 4, ny = strlen(y) - 4;
    int c = strncmp(x, y, nx < ny ? nx : ny);
    return c ? c : (int)nx - (int)ny;
}

/* The .flv files under dir/live, sorted by name (= start order). */
static int list_files(char names[][256], int max)
{
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/live", dir);
    DIR *d = opendir(sub);
    if (!d)
        return 0;
    char *found[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (strstr(e->d_name, ".flv"))
            found[n++] = strdup(e->d_name);
    closedir(d);
    qsort(found, (size_t)n, sizeof(found[0]), cmp);
    for (int i = 0; i < n && i < max; i++) {
        snprintf(names[i], 256, "%s/%s", sub, found[i]);
        free(found[i]);
    }
    return n;
}

static void finish(struct record_stream *rs)
{
    record_stream_stop(rs);
    record_writer_stop(&w);
    fanout_stream_free(&fs);
    cr_assert_eq(fanout_frame_live_count(), live_before, "frame references leaked");
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Every file: metadata, audio and video headers at 0, then a keyframe at 0,
 * timestamps never before 0, no video before the keyframe. */
static void assert_file_starts_right(const char *path, int video)
{
    struct tag t[2048];
    int trunc;
    int n = read_file(path, t, 2048, &trunc);
    cr_assert(!trunc, "%s", path);
    cr_assert_geq(n, 4, "%s", path);
    cr_assert(t[0].meta && t[0].ts == 0, "%s: metadata first", path);
    cr_assert(t[1].type == 8 && t[1].seq && t[1].ts == 0, "%s: audio header", path);
    int i = 2;
    if (video) {
        cr_assert(t[2].type == 9 && t[2].seq && t[2].ts == 0, "%s: video header", path);
        cr_assert(t[3].type == 9 && t[3].key && t[3].ts == 0, "%s: keyframe at 0", path);
        i = 4;
    }
    for (; i < n; i++)
        cr_assert(!t[i].meta, "%s: repeated metadata", path);
}

Test(record_stream, starts_at_keyframe_rebased, .init = setup, .fini = cleanup)
{
    struct record_stream rs;
    struct record_settings cfg = {.root = dir};
    cr_assert_eq(record_stream_start(&rs, &w, &cfg, &fs, "live", "cam"), ST_OK);
    push_headers(meta_av, sizeof(meta_av), 1);
    push_audio(960);
    push_video(960, 0, 100); /* before the first keyframe: not recorded */
    push_media(1000, 2000, 100);
    push(FANOUT_DATA, FANOUT_FLAG_METADATA, 0, meta_av, sizeof(meta_av)); /* repeated: not written */
    push_media(2000, 2400, 100);
    cr_assert_eq(rs.files, 1);
    cr_assert(!record_stream_failed(&rs));
    finish(&rs);
    char names[8][256];
    cr_assert_eq(list_files(names, 8), 1);
    cr_assert_not_null(strstr(names[0], "/live/cam-"));
    assert_file_starts_right(names[0], 1);
    struct tag t[256];
    int trunc, n = read_file(names[0], t, 256, &trunc);
    /* The audio at 1000 came just before the keyframe: not in the file. */
    cr_assert_eq(n, 3 + 2 * 35 - 1);
    cr_assert_eq(t[4].type, 8);
    cr_assert_eq(t[4].ts, 40, "frames rebased on the keyframe");
    int last_v = -1;
    for (int i = 4; i < n; i++)
        if (t[i].type == 9) {
            cr_assert_gt((int)t[i].ts, last_v);
            last_v = (int)t[i].ts;
        }
    cr_assert_eq(last_v, 1360);
}

Test(record_stream, rotation_by_duration, .init = setup, .fini = cleanup)
{
    struct record_stream rs;
    struct record_settings cfg = {.root = dir, .max_duration = 2000};
    cr_assert_eq(record_stream_start(&rs, &w, &cfg, &fs, "live", "cam"), ST_OK);
    push_headers(meta_av, sizeof(meta_av), 1);
    push_media(0, 7000, 100); /* keys at 0,1000,...: new files at 2000, 4000, 6000 */
    cr_assert_eq(rs.files, 4);
    finish(&rs);
    char names[8][256];
    cr_assert_eq(list_files(names, 8), 4);
    for (int i = 0; i < 4; i++) {
        assert_file_starts_right(names[i], 1);
        struct tag t[256];
        int trunc, n = read_file(names[i], t, 256, &trunc);
        uint32_t max_ts = 0;
        for (int k = 0; k < n; k++)
            max_ts = t[k].ts > max_ts ? t[k].ts : max_ts;
        /* The audio at 2000 precedes the keyframe that starts the next file. */
        cr_assert_leq(max_ts, i < 3 ? 2000u : 960u, "%s: %u", names[i], max_ts);
    }
}

Test(record_stream, rotation_by_size, .init = setup, .fini = cleanup)
{
    struct record_stream rs;
    struct record_settings cfg = {.root = dir, .max_size = 100000};
    cr_assert_eq(record_stream_start(&rs, &w, &cfg, &fs, "live", "cam"), ST_OK);
    push_headers(meta_av, sizeof(meta_av), 1);
    push_media(0, 5000, 3000); /* ~77 KB per second: a new file every 2 s */
    cr_assert_eq(rs.files, 3);
    finish(&rs);
    char names[8][256];
    cr_assert_eq(list_files(names, 8), 3);
    for (int i = 0; i < 3; i++) {
        assert_file_starts_right(names[i], 1);
        FILE *f = fopen(names[i], "rb");
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        if (i < 2)
            cr_assert(size >= 100000 && size < 100000 + 80000, "%s: %ld bytes", names[i], size);
    }
}

Test(record_stream, overflow_drops_to_keyframe, .init = setup, .fini = cleanup)
{
    record_writer_stop(&w);
    struct record_writer_settings s = {.max_frames = 30, .max_bytes = 16 << 20};
    cr_assert_eq(record_writer_start(&w, &s), ST_OK);
    struct record_stream rs;
    struct record_settings cfg = {.root = dir};
    cr_assert_eq(record_stream_start(&rs, &w, &cfg, &fs, "live", "cam"), ST_OK);
    push_headers(meta_av, sizeof(meta_av), 1);
    record_writer_pause(&w, 1); /* the disk stalls */
    push_media(0, 1000, 100);   /* 50 frames into a 30-frame queue */
    cr_assert_eq(rs.overflows, 1, "one episode");
    /* The file starts at the keyframe at 0 (the audio at 0 came before it):
     * 3 headers + 49 frames want in, 30 fit. */
    cr_assert_eq(rs.frames_dropped, 3 + 49 - 30);
    record_writer_pause(&w, 0);
    for (int i = 0; i < 2000 && w.queued_frames; i++)
        usleep(1000);
    push_media(1000, 1400, 100); /* resumes at the keyframe at 1000; 20 frames fit even unwritten */
    cr_assert_eq(rs.overflows, 1);
    cr_assert_eq(rs.frames_dropped, 23, "only the audio before the keyframe at 1000 once the queue drained");
    finish(&rs);
    char names[8][256];
    cr_assert_eq(list_files(names, 8), 1);
    struct tag t[256];
    int trunc, n = read_file(names[0], t, 256, &trunc);
    /* After the gap, the first video is the keyframe at 1000. */
    int gap = 0;
    uint32_t prev = 0;
    for (int i = 3; i < n; i++) {
        if (t[i].ts > prev + 100) {
            gap = 1;
            cr_assert(t[i].ts == 1000, "resumed at %u", t[i].ts);
        }
        if (gap && t[i].type == 9) {
            cr_assert(t[i].key, "first video after the gap must be a keyframe");
            break;
        }
        prev = t[i].ts;
    }
    cr_assert(gap);
}

Test(record_stream, audio_only, .init = setup, .fini = cleanup)
{
    struct record_stream rs;
    struct record_settings cfg = {.root = dir, .max_duration = 1000};
    cr_assert_eq(record_stream_start(&rs, &w, &cfg, &fs, "live", "radio"), ST_OK);
    push_headers(meta_a, sizeof(meta_a), 0);
    for (uint32_t t = 500; t < 2500; t += 23)
        push_audio(t); /* a new file at the first frame 1000 ms in: 1512 */
    cr_assert_eq(rs.files, 2, "rotation at any audio frame");
    finish(&rs);
    char names[8][256];
    cr_assert_eq(list_files(names, 8), 2);
    assert_file_starts_right(names[0], 0);
    struct tag t[256];
    int trunc, n = read_file(names[0], t, 256, &trunc);
    cr_assert_eq(t[2].ts, 0, "first audio rebased to 0");
    cr_assert_eq(t[n - 1].ts, 989);
}

Test(record_stream, failure_leaves_stream_alone, .init = setup, .fini = cleanup)
{
    char file[128];
    snprintf(file, sizeof(file), "%s/plain", dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    struct record_stream rs;
    struct record_settings cfg = {.root = file};
    cr_assert_eq(record_stream_start(&rs, &w, &cfg, &fs, "live", "cam"), ST_OK);
    push_headers(meta_av, sizeof(meta_av), 1);
    push_media(0, 200, 100);
    for (int i = 0; i < 2000 && !atomic_load(&rs.ch->failed); i++)
        usleep(1000);
    cr_assert(record_stream_failed(&rs));
    uint64_t queued = rs.frames_queued;
    push_media(200, 2000, 100);
    cr_assert_eq(rs.frames_queued, queued, "a failed recording takes no more frames");
    cr_assert_eq(fs.frames_in, 3 + 100, "the stream itself goes on");
    cr_assert_eq(atomic_load(&w.stats.errors), 1);
    finish(&rs);
}

Test(record_stream, cleared_stream_closes_file, .init = setup, .fini = cleanup)
{
    struct record_stream rs;
    struct record_settings cfg = {.root = dir};
    cr_assert_eq(record_stream_start(&rs, &w, &cfg, &fs, "live", "cam"), ST_OK);
    push_headers(meta_av, sizeof(meta_av), 1);
    push_media(0, 1000, 100);
    fanout_stream_clear_cache(&fs); /* publisher replaced */
    cr_assert(!rs.in_file);
    push_headers(meta_av, sizeof(meta_av), 1);
    push_media(5000, 6000, 100);
    cr_assert_eq(rs.files, 2);
    finish(&rs);
    char names[8][256];
    cr_assert_eq(list_files(names, 8), 2);
    assert_file_starts_right(names[0], 1);
    assert_file_starts_right(names[1], 1);
}

Test(record_stream, names_are_sanitized, .init = setup, .fini = cleanup)
{
    struct record_stream rs;
    struct record_settings cfg = {.root = dir};
    cr_assert_eq(record_stream_start(&rs, &w, &cfg, &fs, "live", "../../evil/name"), ST_OK);
    push_headers(meta_av, sizeof(meta_av), 1);
    push_media(0, 200, 100);
    finish(&rs);
    char names[8][256];
    cr_assert_eq(list_files(names, 8), 1);
    cr_assert_not_null(strstr(names[0], "/live/_._.._evil_name-"), "%s", names[0]);
}
