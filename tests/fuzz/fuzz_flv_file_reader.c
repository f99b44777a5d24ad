/*
 * libFuzzer driver for the recording reader: the input is an FLV file. It is
 * scanned (index, headers), every scanned tag is read back in order, seeks
 * land on index entries, and the HLS VOD views of it (playlist, first and
 * last segment muxed to MPEG-TS) are built; invariants abort on violation.
 */
#include "core/status.h"
#include "record/flv_file_reader.h"
#include "record/record_hls.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TAG (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flv_file_reader r;
    if (flv_file_reader_open_mem(&r, data, size, MAX_TAG, 64) != ST_OK)
        return 0;
    if (flv_file_reader_scan(&r, 0) != ST_OK || !r.scan_done)
        abort();
    if (r.end > size || r.end < r.data_start || (r.truncated != (r.end != size)))
        abort();
    for (uint32_t i = 0; i < r.nkeys; i++) {
        if (r.keys[i].offset < r.data_start || r.keys[i].offset >= r.end)
            abort();
        if (i && r.keys[i].timestamp < r.keys[i - 1].timestamp)
            abort();
    }
    /* Every scanned tag reads back, and the walk ends exactly at end. */
    struct buf b;
    buf_init(&b, MAX_TAG);
    uint64_t off = r.data_start, n = 0;
    struct flv_file_tag t;
    int rc;
    while ((rc = flv_file_reader_read(&r, &off, &t, &b)) == ST_OK) {
        if (t.size > MAX_TAG || (t.type != 8 && t.type != 9 && t.type != 18))
            abort();
        n++;
    }
    if (rc != ST_DONE || off != r.end || n != r.tags)
        abort();
    uint32_t probes[] = {0, 1, 1000, r.last_ts, UINT32_MAX};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        uint32_t ts;
        flv_file_reader_seek(&r, probes[i], &off, &ts);
        if (off < r.data_start || off > r.end)
            abort();
    }
    buf_free(&b);

    uint32_t count = record_hls_count(&r, 2000);
    buf_init(&b, 1 << 20);
    if (record_hls_playlist(&r, 2000, "x/", &b) != ST_OK)
        abort();
    buf_free(&b);
    uint32_t segs[2] = {0, count ? count - 1 : 0};
    for (int i = 0; i < 2; i++) {
        const char *err = NULL;
        buf_init(&b, 8u << 20);
        rc = record_hls_segment(&r, 2000, segs[i], &b, &err);
        if ((rc == ST_DONE) != (count == 0) || (rc == ST_ERROR && !err) || b.len % 188 != 0)
            abort();
        buf_free(&b);
    }
    flv_file_reader_close(&r);
    return 0;
}
