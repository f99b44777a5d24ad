/*
 * flv_file_writer: byte layout (header, whole tags), directories created,
 * unique names, sync/close, and the failures a recorder meets: a path that
 * cannot be created, and a full disk (RLIMIT_FSIZE: works as root too),
 * after which the file still ends at a tag boundary and reads back whole.
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/status.h"
#include "flv/flv_tag.h"
#include "record/flv_file_reader.h"
#include "record/flv_file_writer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_flv_file_writer.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(len ? (size_t)len : 1);
    cr_assert_eq(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

static void rm_rf(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    cr_assert_eq(system(cmd), 0);
}

Test(flv_file_writer, layout_matches_flv_tag)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s/live/deep/er/cam.flv", dir);
    struct flv_file_writer w;
    cr_assert_eq(flv_file_writer_open(&w, path, 1, 1), ST_OK);
    cr_assert_str_eq(w.path, path);
    const uint8_t body[] = {0x17, 1, 0, 0, 0, 0xaa, 0xbb};
    cr_assert_eq(flv_file_writer_write(&w, 9, 0x01020304, body, sizeof(body)), ST_OK);
    cr_assert_eq(flv_file_writer_write(&w, 18, 0, NULL, 0), ST_OK);
    cr_assert_eq(w.bytes, 13 + 15 + sizeof(body) + 15);
    cr_assert_eq(flv_file_writer_sync(&w), ST_OK);
    cr_assert_eq(w.synced, w.bytes);
    cr_assert_eq(flv_file_writer_close(&w, 1), ST_OK);
    cr_assert_eq(w.fd, -1);
    cr_assert_eq(flv_file_writer_close(&w, 1), ST_OK, "closing twice is a no-op");
    struct buf want;
    buf_init(&want, 4096);
    flv_tag_write_header(&want, 1, 1);
    flv_tag_write(&want, 9, 0x01020304, body, sizeof(body));
    flv_tag_write(&want, 18, 0, NULL, 0);
    size_t n;
    uint8_t *got = slurp(path, &n);
    cr_assert_eq(n, want.len);
    cr_assert_eq(memcmp(got, want.data, n), 0);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
    free(got);
    buf_free(&want);
    rm_rf(dir);
}

Test(flv_file_writer, unique_names)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s/cam-20240101-000000.flv", dir);
    struct flv_file_writer w[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(flv_file_writer_open(&w[i], path, 1, 1), ST_OK);
    cr_assert_str_eq(w[0].path, path);
    char want[160];
    snprintf(want, sizeof(want), "%s/cam-20240101-000000-1.flv", dir);
    cr_assert_str_eq(w[1].path, want);
    snprintf(want, sizeof(want), "%s/cam-20240101-000000-2.flv", dir);
    cr_assert_str_eq(w[2].path, want);
    for (int i = 0; i < 3; i++)
        flv_file_writer_close(&w[i], 0);
    rm_rf(dir);
}

Test(flv_file_writer, cannot_create)
{
    make_dir();
    char file[128], path[160];
    snprintf(file, sizeof(file), "%s/plain", dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    /* A component that is a file: mkdir fails even for root. */
    snprintf(path, sizeof(path), "%s/sub/cam.flv", file);
    struct flv_file_writer w;
    cr_assert_eq(flv_file_writer_open(&w, path, 1, 1), ST_ERROR);
    cr_assert_str_eq(w.error, "mkdir");
    cr_assert_eq(w.err, ENOTDIR);
    cr_assert_eq(w.fd, -1);
    snprintf(path, sizeof(path), "%s/cam.flv", file);
    cr_assert_eq(flv_file_writer_open(&w, path, 1, 1), ST_ERROR);
    cr_assert_eq(w.err, ENOTDIR);
    cr_assert_eq(flv_file_writer_write(&w, 9, 0, (const uint8_t *)"x", 1), ST_ERROR, "write on a closed writer");
    rm_rf(dir);
}

/* The disk fills up in the middle of a tag: the partial tag is cut off, the
 * error is EFBIG/ENOSPC, and the file reads back to its last whole tag. */
Test(flv_file_writer, disk_full_leaves_whole_tags)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s/full.flv", dir);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {5000, 5000};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    struct flv_file_writer w;
    cr_assert_eq(flv_file_writer_open(&w, path, 1, 1), ST_OK);
    uint8_t body[700];
    memset(body, 0x5a, sizeof(body));
    body[0] = 0x17;
    body[1] = 1;
    int written = 0, rc = ST_OK;
    for (int i = 0; i < 20 && rc == ST_OK; i++) {
        rc = flv_file_writer_write(&w, 9, (uint32_t)i * 40, body, sizeof(body));
        written += rc == ST_OK;
    }
    cr_assert_eq(rc, ST_ERROR);
    cr_assert_str_eq(w.error, "write");
    cr_assert(w.err == EFBIG || w.err == ENOSPC, "errno %d", w.err);
    cr_assert_eq(written, (5000 - 13) / (15 + 700));
    flv_file_writer_close(&w, 0);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq((size_t)st.st_size, 13 + (size_t)written * (15 + 700), "partial tag not cut off");
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open(&r, path, 1 << 20, 16), ST_OK);
    cr_assert_eq(flv_file_reader_scan(&r, 0), ST_OK);
    cr_assert_eq(r.tags, (uint64_t)written);
    cr_assert(!r.truncated);
    flv_file_reader_close(&r);
    rm_rf(dir);
}

Test(flv_file_writer, mkdirs)
{
    make_dir();
    char path[160];
    snprintf(path, sizeof(path), "%s/a/b/c/file.flv", dir);
    cr_assert_eq(flv_file_writer_mkdirs(path), ST_OK);
    cr_assert_eq(flv_file_writer_mkdirs(path), ST_OK, "existing directories are fine");
    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(flv_file_writer_mkdirs("relative.flv"), ST_OK, "no directory part");
    rm_rf(dir);
}
