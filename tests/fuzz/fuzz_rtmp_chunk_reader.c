/*
 * libFuzzer driver for rtmp_chunk_reader (and, through round trips, the
 * writer). Input: one config byte, then a chunk stream as sent after the
 * handshake. The stream is parsed twice, whole and cut into small pieces
 * whose sizes come from the config byte; both runs must give the same
 * messages and the same outcome. Every message is re-encoded with
 * rtmp_chunk_writer and must decode back to itself.
 *
 * Config byte: bit 0 small caps (max message 4 KiB, max chunk 256) instead of
 * large ones (1 MiB / 64 KiB); bits 1-7 the piece size seed.
 */
#include "core/buf.h"
#include "core/status.h"
#include "rtmp/rtmp_chunk_reader.h"
#include "rtmp/rtmp_chunk_writer.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MSGS 4096

struct digest {
    uint32_t csid, type, length, timestamp, stream_id;
    uint32_t sum; /* cheap payload checksum */
};

static uint32_t checksum(const uint8_t *p, uint32_t n)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void roundtrip(const struct rtmp_message *m, uint32_t chunk_size)
{
    struct rtmp_message_header h = {m->csid, m->type, m->timestamp, m->stream_id};
    struct buf b;
    buf_init(&b, (size_t)m->length * 2 + 4096 + (size_t)m->length / chunk_size * 7);
    if (rtmp_chunk_writer_append(&b, &h, m->payload, m->length, chunk_size) != ST_OK)
        abort();
    if (b.len != rtmp_chunk_writer_size(m->csid, m->timestamp, m->length, chunk_size))
        abort();
    struct rtmp_chunk_reader r;
    if (rtmp_chunk_reader_init(&r, 0x7fffffff, m->length) != ST_OK)
        abort();
    if (rtmp_chunk_reader_set_chunk_size(&r, chunk_size) != ST_OK)
        abort();
    size_t used;
    struct rtmp_message out;
    if (rtmp_chunk_reader_feed(&r, b.data, b.len, &used, &out) != ST_OK || used != b.len)
        abort();
    if (out.csid != m->csid || out.type != m->type || out.timestamp != m->timestamp ||
        out.stream_id != m->stream_id || out.length != m->length ||
        (m->length && memcmp(out.payload, m->payload, m->length) != 0))
        abort();
    rtmp_chunk_reader_free(&r);
    buf_free(&b);
}

/* Returns the final status; fills d[0..*n). */
static int parse(const uint8_t *in, size_t len, int small, unsigned piece_seed, struct digest *d, size_t *n,
                 int check)
{
    struct rtmp_chunk_reader r;
    uint32_t max_msg = small ? 4096 : 1 << 20;
    if (rtmp_chunk_reader_init(&r, small ? 256 : 65536, max_msg) != ST_OK)
        abort();
    int rc = ST_AGAIN;
    size_t off = 0;
    uint32_t x = piece_seed;
    *n = 0;
    while (off < len && rc != ST_ERROR) {
        size_t end = len;
        if (piece_seed) {
            x = x * 1103515245u + 12345u;
            size_t piece = 1 + (x >> 16) % (piece_seed & 0x3f ? (piece_seed & 0x3f) : 1);
            end = len - off > piece ? off + piece : len;
        }
        while (off < end) {
            size_t used;
            struct rtmp_message m;
            rc = rtmp_chunk_reader_feed(&r, in + off, end - off, &used, &m);
            if (used > end - off)
                abort();
            off += used;
            if (rc == ST_ERROR)
                break;
            if (rc == ST_AGAIN) {
                if (off != end)
                    abort();
                break;
            }
            if (m.length > max_msg || !m.payload)
                abort();
            if (*n < MAX_MSGS)
                d[(*n)++] = (struct digest){m.csid, m.type, m.length, m.timestamp, m.stream_id,
                                            checksum(m.payload, m.length)};
            if (check)
                roundtrip(&m, r.chunk_size);
            if (m.type == 1 && m.length >= 4) {
                if (rtmp_chunk_reader_set_chunk_size(&r, rd_be32(m.payload)) != ST_OK) {
                    rc = ST_ERROR;
                    break;
                }
            } else if (m.type == 2 && m.length >= 4) {
                rtmp_chunk_reader_abort(&r, rd_be32(m.payload));
            }
        }
    }
    if (rc != ST_ERROR && r.bytes_in != len)
        abort();
    rtmp_chunk_reader_free(&r);
    return rc == ST_ERROR ? ST_ERROR : ST_AGAIN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct digest a[MAX_MSGS], b[MAX_MSGS];
    if (size < 1)
        return 0;
    int small = data[0] & 1;
    unsigned seed = (data[0] >> 1) | 1;
    size_t na, nb;
    int ra = parse(data + 1, size - 1, small, 0, a, &na, 1);
    int rb = parse(data + 1, size - 1, small, seed, b, &nb, 0);
    if (ra != rb || na != nb || memcmp(a, b, na * sizeof(a[0])) != 0)
        abort();
    return 0;
}
