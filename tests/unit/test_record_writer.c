/*
 * record_writer: the writer thread writes what the loop queues, in order,
 * rotates files, honours its queue bounds (frames and bytes, control
 * operations never refused), counts fsyncs, reports a failure once and only
 * for its channel, drains on stop, and drops every frame reference.
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "fanout/fanout_frame.h"
#include "record/flv_file_reader.h"
#include "record/record_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_record_writer.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_rf(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static struct fanout_frame *frame(uint8_t kind, uint32_t ts, size_t len)
{
    uint8_t body[4096];
    memset(body, (int)ts, sizeof(body));
    body[0] = kind == FANOUT_VIDEO ? 0x27 : 0xaf;
    body[1] = 1;
    return fanout_frame_new(kind, 0, ts, body, (uint32_t)len, 4096);
}

/* Tag timestamps of a finished file, in order; returns the count. */
static int file_tags(const char *path, uint32_t *ts, int max)
{
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open(&r, path, 1 << 20, 64), ST_OK, "%s", path);
    cr_assert_eq(flv_file_reader_scan(&r, 0), ST_OK);
    cr_assert(!r.truncated, "%s: %s", path, r.stop_reason);
    uint64_t off = r.data_start;
    struct flv_file_tag t;
    struct buf b;
    buf_init(&b, 1 << 20);
    int n = 0;
    while (flv_file_reader_read(&r, &off, &t, &b) == ST_OK && n < max)
        ts[n++] = t.timestamp;
    buf_free(&b);
    flv_file_reader_close(&r);
    return n;
}

static void wait_until(atomic_int *flag)
{
    for (int i = 0; i < 2000 && !atomic_load(flag); i++) {
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
}

static const struct record_writer_settings plenty = {.max_frames = 1000, .max_bytes = 1 << 20};

Test(record_writer, parse_fsync)
{
    enum record_fsync m;
    long ms;
    cr_assert_eq(record_writer_parse_fsync("none", &m, &ms), ST_OK);
    cr_assert_eq(m, RECORD_FSYNC_NONE);
    cr_assert_eq(record_writer_parse_fsync("rotate", &m, &ms), ST_OK);
    cr_assert_eq(m, RECORD_FSYNC_ROTATE);
    cr_assert_eq(record_writer_parse_fsync("250", &m, &ms), ST_OK);
    cr_assert_eq(m, RECORD_FSYNC_INTERVAL);
    cr_assert_eq(ms, 250);
    cr_assert_eq(record_writer_parse_fsync("250ms", &m, &ms), ST_OK);
    cr_assert_eq(ms, 250);
    cr_assert_eq(record_writer_parse_fsync("2s", &m, &ms), ST_OK);
    cr_assert_eq(ms, 2000);
    cr_assert_eq(record_writer_parse_fsync("3600s", &m, &ms), ST_OK);
    const char *bad[] = {"", "0", "-5", "1x", "2m", "fast", "3601s", "99999999999999999999", "1 s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(record_writer_parse_fsync(bad[i], &m, &ms), ST_ERROR, "accepted \"%s\"", bad[i]);
}

Test(record_writer, writes_in_order_and_rotates)
{
    make_dir();
    long live = fanout_frame_live_count();
    struct record_writer w;
    struct record_writer_settings s = plenty;
    s.fsync = RECORD_FSYNC_ROTATE;
    cr_assert_eq(record_writer_start(&w, &s), ST_OK);
    struct record_channel *ch = record_writer_channel_new(&w);
    cr_assert_not_null(ch);
    char a[128], b[128];
    snprintf(a, sizeof(a), "%s/live/a.flv", dir);
    snprintf(b, sizeof(b), "%s/live/b.flv", dir);
    cr_assert_eq(record_writer_open(&w, ch, a, 1, 1), ST_OK);
    for (uint32_t i = 0; i < 10; i++) {
        struct fanout_frame *f = frame(i % 2 ? FANOUT_AUDIO : FANOUT_VIDEO, i * 10, 100);
        cr_assert_eq(record_writer_frame(&w, ch, f, i * 10), ST_OK);
        fanout_frame_unref(f);
    }
    cr_assert_eq(record_writer_open(&w, ch, b, 1, 1), ST_OK, "open closes the previous file");
    for (uint32_t i = 0; i < 5; i++) {
        struct fanout_frame *f = frame(FANOUT_VIDEO, 1000 + i, 50);
        cr_assert_eq(record_writer_frame(&w, ch, f, i), ST_OK);
        fanout_frame_unref(f);
    }
    record_writer_channel_release(&w, ch);
    record_writer_stop(&w);
    uint32_t ts[64];
    cr_assert_eq(file_tags(a, ts, 64), 10);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(ts[i], (uint32_t)i * 10);
    cr_assert_eq(file_tags(b, ts, 64), 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ts[i], (uint32_t)i);
    cr_assert_eq(atomic_load(&w.stats.files_opened), 2);
    cr_assert_eq(atomic_load(&w.stats.files_closed), 2);
    cr_assert_eq(atomic_load(&w.stats.tags_written), 15);
    cr_assert_eq(atomic_load(&w.stats.fsyncs), 2, "rotate: one fsync per closed file");
    cr_assert_eq(atomic_load(&w.stats.errors), 0);
    cr_assert_eq(atomic_load(&w.stats.bytes_written), 2 * 13 + 10 * 115 + 5 * 65);
    cr_assert_eq(fanout_frame_live_count(), live, "frame references leaked");
    rm_rf();
}

Test(record_writer, queue_bounds)
{
    make_dir();
    long live = fanout_frame_live_count();
    struct record_writer w;
    struct record_writer_settings s = {.max_frames = 8, .max_bytes = 1000};
    cr_assert_eq(record_writer_start(&w, &s), ST_OK);
    record_writer_pause(&w, 1);
    struct record_channel *ch = record_writer_channel_new(&w);
    char a[128];
    snprintf(a, sizeof(a), "%s/x.flv", dir);
    cr_assert_eq(record_writer_open(&w, ch, a, 1, 1), ST_OK);
    int queued = 0, refused = 0;
    for (uint32_t i = 0; i < 20; i++) {
        struct fanout_frame *f = frame(FANOUT_VIDEO, i, 100);
        int rc = record_writer_frame(&w, ch, f, i);
        cr_assert(rc == ST_OK || rc == ST_AGAIN);
        queued += rc == ST_OK;
        refused += rc == ST_AGAIN;
        fanout_frame_unref(f);
    }
    cr_assert_eq(queued, 8, "frame count bound");
    cr_assert_eq(refused, 12);
    /* Bytes bound: the queue is full by count; after draining, by bytes. */
    record_writer_pause(&w, 0);
    for (int i = 0; i < 2000 && w.queued_frames; i++)
        usleep(1000);
    record_writer_pause(&w, 1);
    struct fanout_frame *big = frame(FANOUT_VIDEO, 100, 600);
    cr_assert_eq(record_writer_frame(&w, ch, big, 100), ST_OK);
    cr_assert_eq(record_writer_frame(&w, ch, big, 101), ST_AGAIN, "byte bound");
    fanout_frame_unref(big);
    /* Control operations are never refused. */
    cr_assert_eq(record_writer_close(&w, ch), ST_OK);
    record_writer_channel_release(&w, ch);
    record_writer_pause(&w, 0);
    record_writer_stop(&w);
    uint32_t ts[64];
    cr_assert_eq(file_tags(a, ts, 64), 9);
    cr_assert_eq(fanout_frame_live_count(), live);
    rm_rf();
}

Test(record_writer, failure_stops_only_its_channel)
{
    make_dir();
    long live = fanout_frame_live_count();
    struct record_writer w;
    cr_assert_eq(record_writer_start(&w, &plenty), ST_OK);
    char file[128], bad[160], good[128];
    snprintf(file, sizeof(file), "%s/plain", dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(bad, sizeof(bad), "%s/live/x.flv", file);
    snprintf(good, sizeof(good), "%s/live/y.flv", dir);
    struct record_channel *c1 = record_writer_channel_new(&w), *c2 = record_writer_channel_new(&w);
    cr_assert_eq(record_writer_open(&w, c1, bad, 1, 1), ST_OK, "queued; fails on the thread");
    cr_assert_eq(record_writer_open(&w, c2, good, 1, 1), ST_OK);
    wait_until(&c1->failed);
    cr_assert(atomic_load(&c1->failed));
    struct fanout_frame *fr = frame(FANOUT_VIDEO, 5, 40);
    cr_assert_eq(record_writer_frame(&w, c1, fr, 5), ST_ERROR, "a failed channel refuses frames");
    cr_assert_eq(record_writer_open(&w, c1, good, 1, 1), ST_ERROR);
    cr_assert_eq(record_writer_frame(&w, c2, fr, 5), ST_OK, "the other channel goes on");
    fanout_frame_unref(fr);
    char p[256];
    record_writer_channel_path(&w, c1, p, sizeof(p));
    cr_assert_str_eq(p, bad);
    cr_assert_eq(atomic_load(&c1->errors), 1);
    record_writer_channel_release(&w, c1);
    record_writer_channel_release(&w, c2);
    record_writer_stop(&w);
    cr_assert_eq(atomic_load(&w.stats.errors), 1, "logged and counted once");
    uint32_t ts[4];
    cr_assert_eq(file_tags(good, ts, 4), 1);
    cr_assert_eq(fanout_frame_live_count(), live);
    rm_rf();
}

Test(record_writer, fsync_interval)
{
    make_dir();
    struct record_writer w;
    struct record_writer_settings s = plenty;
    s.fsync = RECORD_FSYNC_INTERVAL;
    s.fsync_ms = 5;
    cr_assert_eq(record_writer_start(&w, &s), ST_OK);
    struct record_channel *ch = record_writer_channel_new(&w);
    char a[128];
    snprintf(a, sizeof(a), "%s/x.flv", dir);
    record_writer_open(&w, ch, a, 1, 1);
    for (uint32_t i = 0; i < 4; i++) {
        usleep(20000);
        struct fanout_frame *f = frame(FANOUT_AUDIO, i, 30);
        record_writer_frame(&w, ch, f, i);
        fanout_frame_unref(f);
    }
    record_writer_channel_release(&w, ch);
    record_writer_stop(&w);
    cr_assert_geq(atomic_load(&w.stats.fsyncs), 4, "every write 5 ms after the last sync, and the close");
    rm_rf();
}

Test(record_writer, none_never_syncs_and_stop_drains)
{
    make_dir();
    struct record_writer w;
    cr_assert_eq(record_writer_start(&w, &plenty), ST_OK);
    record_writer_pause(&w, 1);
    struct record_channel *ch = record_writer_channel_new(&w);
    char a[128];
    snprintf(a, sizeof(a), "%s/x.flv", dir);
    record_writer_open(&w, ch, a, 1, 1);
    for (uint32_t i = 0; i < 100; i++) {
        struct fanout_frame *f = frame(FANOUT_AUDIO, i, 30);
        cr_assert_eq(record_writer_frame(&w, ch, f, i), ST_OK);
        fanout_frame_unref(f);
    }
    record_writer_channel_release(&w, ch);
    record_writer_stop(&w); /* paused: stop must still drain */
    record_writer_stop(&w);
    uint32_t ts[128];
    cr_assert_eq(file_tags(a, ts, 128), 100);
    cr_assert_eq(atomic_load(&w.stats.fsyncs), 0);
    rm_rf();
}
