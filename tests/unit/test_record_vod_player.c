/*
 * record_vod_player: what a player of a recording receives and when:
 * metadata once at 0, headers at the start point, tags paced by their
 * timestamps against a simulated clock, start offsets and seeks landing on
 * the keyframe at or before, pause, a slow reader holding the clock, queue
 * room respected, the end (also of a file cut by a crash), open errors.
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/status.h"
#include "fanout/fanout_player.h"
#include "flv/flv_tag.h"
#include "record/record_vod_player.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint8_t meta[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x05};
static const uint8_t vhdr[] = {0x17, 0x00, 0, 0, 0, 1, 0x42, 0, 0x1e};
static const uint8_t ahdr[] = {0xaf, 0x00, 0x12, 0x10};
static const uint8_t key[] = {0x17, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88};
static const uint8_t inter[] = {0x27, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a};
static const uint8_t aac[] = {0xaf, 0x01, 0x21, 0x10, 0x04};

static char path[64];
static struct fanout_player pl;

struct got {
    uint8_t kind, flags;
    uint32_t ts;
};

/* A recording: metadata, headers, then 5 s of video (key each second) and
 * audio, both every 40 ms. Returns its size. */
static size_t write_recording(uint32_t ms, size_t cut)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    flv_tag_write_header(&b, 1, 1);
    flv_tag_write(&b, 18, 0, meta, sizeof(meta));
    flv_tag_write(&b, 8, 0, ahdr, sizeof(ahdr));
    flv_tag_write(&b, 9, 0, vhdr, sizeof(vhdr));
    for (uint32_t t = 0; t < ms; t += 40) {
        flv_tag_write(&b, 9, t, t % 1000 ? inter : key, sizeof(key));
        flv_tag_write(&b, 8, t, aac, sizeof(aac));
    }
    snprintf(path, sizeof(path), "/tmp/test_record_vod_player.XXXXXX");
    int fd = mkstemp(path);
    size_t n = cut && cut < b.len ? cut : b.len;
    cr_assert_eq(write(fd, b.data, n), (ssize_t)n);
    close(fd);
    buf_free(&b);
    return n;
}

static void setup(void)
{
    cr_assert_eq(fanout_player_init(&pl, 1024, 2 << 20, 65536, 0), ST_OK);
}

static void teardown(void)
{
    fanout_player_free(&pl);
    if (path[0])
        unlink(path);
}

static int accept_all(void *ctx, const struct iovec *iov, int n, size_t *written)
{
    (void)ctx;
    *written = 0;
    for (int i = 0; i < n; i++)
        *written += iov[i].iov_len;
    return ST_OK;
}

/* Take what is queued (as a reader that keeps up). */
static int drain(struct got *out, int max)
{
    int n = 0;
    for (uint32_t i = 0; i < pl.count && n < max; i++) {
        struct fanout_frame *f = pl.ring[(pl.head + i) % pl.ring_cap];
        out[n++] = (struct got){f->kind, f->flags, f->timestamp};
    }
    cr_assert_eq(fanout_player_flush(&pl, accept_all, NULL), ST_OK);
    return n;
}

static struct record_vod_player *open_player(int64_t start, uint32_t lead)
{
    struct record_vod_options o = {.chunk_size = 4096, .lead_ms = lead, .start_ms = start};
    struct record_vod_player *v = NULL;
    char err[128];
    cr_assert_eq(record_vod_player_open(&v, path, &o, err, sizeof(err)), ST_OK, "%s", err);
    return v;
}

/* Pump at now until it asks for a later call; returns the last status. */
static int pump(struct record_vod_player *v, uint64_t now, uint64_t *next)
{
    int rc;
    for (int i = 0; i < 100; i++) {
        rc = record_vod_player_pump(v, &pl, now, next);
        if (rc != ST_OK || *next > 0)
            return rc;
    }
    cr_assert_fail("pump never settled");
    return ST_ERROR;
}

static uint32_t max_media_ts(const struct got *g, int n)
{
    uint32_t m = 0;
    for (int i = 0; i < n; i++)
        if (!(g[i].flags & (FANOUT_FLAG_SEQ_HEADER | FANOUT_FLAG_METADATA)) && g[i].ts > m)
            m = g[i].ts;
    return m;
}

Test(record_vod_player, from_start_paced, .init = setup, .fini = teardown)
{
    write_recording(5000, 0);
    struct record_vod_player *v = open_player(-2000, 500);
    struct got g[512];
    uint64_t next;
    cr_assert_eq(pump(v, 10000, &next), ST_OK);
    int n = drain(g, 512);
    cr_assert_geq(n, 5);
    cr_assert(g[0].kind == FANOUT_DATA && (g[0].flags & FANOUT_FLAG_METADATA) && g[0].ts == 0);
    cr_assert(g[1].kind == FANOUT_AUDIO && (g[1].flags & FANOUT_FLAG_SEQ_HEADER));
    cr_assert(g[2].kind == FANOUT_VIDEO && (g[2].flags & FANOUT_FLAG_SEQ_HEADER));
    cr_assert(g[3].kind == FANOUT_VIDEO && (g[3].flags & FANOUT_FLAG_KEY) && g[3].ts == 0);
    cr_assert_eq(max_media_ts(g, n), 480, "only lead_ms (500) ahead of the clock");
    cr_assert_geq(next, 5);
    cr_assert_leq(next, 200);
    int headers = 0;
    uint64_t now = 10000;
    int rc = ST_OK;
    uint32_t last = 500;
    while (rc == ST_OK && now < 20000) {
        now += 100;
        rc = pump(v, now, &next);
        n = drain(g, 512);
        for (int i = 0; i < n; i++)
            headers += (g[i].flags & (FANOUT_FLAG_SEQ_HEADER | FANOUT_FLAG_METADATA)) != 0;
        if (n && rc == ST_OK) {
            last = max_media_ts(g, n);
            cr_assert_leq(last, now - 10000 + 500, "ahead of the clock at %llu", (unsigned long long)now);
            cr_assert_geq(last + 100, now - 10000 + 500, "behind the clock at %llu", (unsigned long long)now);
        }
    }
    cr_assert_eq(rc, ST_DONE);
    cr_assert_eq(headers, 0, "metadata and headers are not repeated");
    cr_assert_geq(now, 14500, "played in about real time");
    cr_assert_leq(now, 14700);
    cr_assert_eq(pl.frames_dropped, 0);
    cr_assert_eq(v->frames_sent, 3 + 2 * 125);
    cr_assert_eq(record_vod_player_duration(v), 4960);
    cr_assert_eq(record_vod_player_pump(v, &pl, now + 1000, &next), ST_DONE, "stays done");
    record_vod_player_close(v);
}

Test(record_vod_player, start_offset, .init = setup, .fini = teardown)
{
    write_recording(5000, 0);
    uint32_t cases[][2] = {{2000, 2000}, {2500, 2000}, {2999, 2000}, {0, 0}, {99999, 4000}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct record_vod_player *v = open_player(cases[k][0], 300);
        struct got g[512];
        uint64_t next;
        pump(v, 500, &next);
        int n = drain(g, 512);
        cr_assert_geq(n, 4);
        cr_assert(g[0].flags & FANOUT_FLAG_METADATA);
        cr_assert_eq(g[0].ts, 0, "metadata at 0 whatever the start");
        cr_assert_eq(g[1].ts, cases[k][1]);
        cr_assert_eq(g[2].ts, cases[k][1]);
        cr_assert(g[3].kind == FANOUT_VIDEO && (g[3].flags & FANOUT_FLAG_KEY), "start %u", cases[k][0]);
        cr_assert_eq(g[3].ts, cases[k][1], "start %u", cases[k][0]);
        cr_assert_eq(max_media_ts(g, n), cases[k][1] + 280, "start %u", cases[k][0]);
        record_vod_player_close(v);
    }
}

Test(record_vod_player, seek_and_pause, .init = setup, .fini = teardown)
{
    write_recording(5000, 0);
    struct record_vod_player *v = open_player(-1, 200);
    struct got g[512];
    uint64_t next;
    pump(v, 0, &next);
    drain(g, 512);
    pump(v, 1000, &next);
    drain(g, 512);
    /* Seek back to 3.5 s: headers again at the keyframe at 3000, no metadata. */
    fanout_player_drop_queue(&pl);
    record_vod_player_seek(v, 3500);
    pump(v, 1000, &next);
    int n = drain(g, 512);
    cr_assert_geq(n, 3);
    cr_assert(g[0].kind == FANOUT_AUDIO && (g[0].flags & FANOUT_FLAG_SEQ_HEADER) && g[0].ts == 3000);
    cr_assert(g[1].kind == FANOUT_VIDEO && (g[1].flags & FANOUT_FLAG_SEQ_HEADER) && g[1].ts == 3000);
    cr_assert(g[2].kind == FANOUT_VIDEO && (g[2].flags & FANOUT_FLAG_KEY) && g[2].ts == 3000);
    cr_assert_eq(max_media_ts(g, n), 3200);
    /* Pause 10 s: nothing flows, and the clock resumes where it stopped. */
    record_vod_player_pause(v, 1, 1000);
    cr_assert_eq(pump(v, 5000, &next), ST_OK);
    cr_assert_eq(drain(g, 512), 0);
    record_vod_player_pause(v, 0, 11000);
    pump(v, 11400, &next);
    n = drain(g, 512);
    cr_assert_eq(max_media_ts(g, n), 3600);
    record_vod_player_close(v);
}

Test(record_vod_player, slow_reader_holds_clock_and_room, .init = setup, .fini = teardown)
{
    write_recording(5000, 0);
    struct record_vod_player *v = open_player(-1, 200);
    struct got g[512];
    uint64_t next;
    pump(v, 0, &next);
    drain(g, 512);
    /* The socket is full with frames queued: the clock holds. */
    pump(v, 100, &next);
    cr_assert_gt(pl.count, 0);
    uint32_t queued = pl.count;
    pl.blocked = 1;
    pump(v, 3000, &next);
    cr_assert_eq(pl.count, queued, "nothing more while the reader is blocked");
    pl.blocked = 0;
    pump(v, 3100, &next);
    int n = drain(g, 512);
    cr_assert_eq(max_media_ts(g, n), 400, "resumed where the clock stood (+100 ms)");
    record_vod_player_close(v);
    /* A small queue: the player keeps under half of it. */
    fanout_player_free(&pl);
    cr_assert_eq(fanout_player_init(&pl, 20, 2 << 20, 65536, 0), ST_OK);
    v = open_player(-1, 5000);
    pump(v, 0, &next);
    cr_assert_leq(pl.count, 11);
    cr_assert_eq(next, 20, "looks again soon");
    cr_assert_eq(pl.frames_dropped, 0);
    record_vod_player_close(v);
}

Test(record_vod_player, truncated_file_ends_cleanly, .init = setup, .fini = teardown)
{
    size_t full = write_recording(2000, 0);
    unlink(path);
    write_recording(2000, full - 9); /* cut inside the last tag */
    struct record_vod_player *v = open_player(-1, 100000);
    struct got g[512];
    uint64_t next;
    int rc = pump(v, 0, &next);
    int n = drain(g, 512);
    cr_assert_eq(rc, ST_DONE);
    cr_assert_eq(n, 3 + 2 * 50 - 1, "everything but the cut tag");
    record_vod_player_close(v);
}

Test(record_vod_player, open_errors, .init = setup, .fini = teardown)
{
    struct record_vod_options o = {.chunk_size = 4096, .lead_ms = 100, .start_ms = -1};
    struct record_vod_player *v = NULL;
    char err[128];
    cr_assert_eq(record_vod_player_open(&v, "/nonexistent/x.flv", &o, err, sizeof(err)), ST_ERROR);
    cr_assert_not_null(strstr(err, "No such file"), "%s", err);
    snprintf(path, sizeof(path), "/tmp/test_record_vod_player.XXXXXX");
    int fd = mkstemp(path);
    cr_assert_eq(write(fd, "not an flv file at all", 22), 22);
    close(fd);
    cr_assert_eq(record_vod_player_open(&v, path, &o, err, sizeof(err)), ST_ERROR);
    cr_assert_not_null(strstr(err, "not an FLV file"), "%s", err);
    cr_assert_null(v);
}
