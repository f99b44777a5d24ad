/*
 * libFuzzer driver for the FLV reader: the input is read whole and again in
 * chunks whose sizes come from the input itself; both runs must deliver the
 * same tags (type, timestamp, size, body checksum) and end the same way.
 * Delivered tags are re-encoded with the writer and read back.
 */
#include "core/status.h"
#include "flv/flv_tag.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TAG 4096

struct summary {
    unsigned tags;
    uint64_t hash;
    int rc;
    const char *error;
};

static void add_tag(struct summary *s, const struct flv_tag *t)
{
    if (t->size > MAX_TAG || (t->type != 8 && t->type != 9 && t->type != 18))
        abort();
    s->tags++;
    s->hash = s->hash * 1000003u ^ t->type ^ (uint64_t)t->timestamp << 8 ^ (uint64_t)t->size << 40;
    for (uint32_t i = 0; i < t->size; i++)
        s->hash = s->hash * 31u + t->body[i];
}

static int feed(struct flv_reader *r, const uint8_t *p, size_t n, struct summary *s)
{
    size_t off = 0;
    for (;;) {
        size_t used;
        struct flv_tag t;
        int rc = flv_reader_feed(r, p + off, n - off, &used, &t);
        if (used > n - off)
            abort();
        off += used;
        if (rc == ST_OK) {
            add_tag(s, &t);
            continue;
        }
        s->rc = rc;
        s->error = r->error;
        if (rc == ST_AGAIN && off != n)
            abort();
        return rc;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flv_reader r;
    struct summary whole = { 0, 0, ST_AGAIN, NULL }, chunked = { 0, 0, ST_AGAIN, NULL };

    if (flv_reader_init(&r, MAX_TAG) != ST_OK)
        abort();
    feed(&r, data, size, &whole);
    flv_reader_free(&r);

    if (flv_reader_init(&r, MAX_TAG) != ST_OK)
        abort();
    size_t off = 0, k = 0;
    while (off < size) {
        size_t n = size ? (size_t)data[k++ % size] % 17 + 1 : 1;
        if (n > size - off)
            n = size - off;
        /* An exact-size copy: the reader must not keep pointers into input. */
        uint8_t *c = malloc(n);
        if (!c)
            abort();
        memcpy(c, data + off, n);
        int rc = feed(&r, c, n, &chunked);
        free(c);
        off += n;
        if (rc == ST_ERROR)
            break;
    }
    flv_reader_free(&r);

    if (whole.tags != chunked.tags || whole.hash != chunked.hash || whole.rc != chunked.rc ||
        (whole.rc == ST_ERROR && strcmp(whole.error, chunked.error) != 0))
        abort();

    /* Writer round trip on a synthetic tag derived from the input. */
    struct buf b;
    buf_init(&b, 1 << 16);
    uint32_t ts = size >= 4 ? (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3] : 0;
    size_t body = size > MAX_TAG ? MAX_TAG : size;
    if (flv_tag_write_header(&b, 1, 1) != ST_OK || flv_tag_write(&b, FLV_TAG_VIDEO, ts, data, (uint32_t)body) != ST_OK)
        abort();
    struct summary back = { 0, 0, ST_AGAIN, NULL };
    if (flv_reader_init(&r, MAX_TAG) != ST_OK)
        abort();
    feed(&r, b.data, b.len, &back);
    flv_reader_free(&r);
    if (back.tags != 1 || back.rc != ST_AGAIN)
        abort();
    buf_free(&b);
    return 0;
}
