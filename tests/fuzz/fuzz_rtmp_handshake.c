/*
 * libFuzzer driver for rtmp_handshake.
 *
 * Input: byte 0 bit 0 picks the side (0 server, 1 client), byte 1 a piece
 * size (0 means one byte); the rest is the peer's byte stream. It is fed once
 * whole and once in pieces; status, consumed count, output length and the
 * digest decision must match (only random bytes may differ).
 */
#include "core/buf.h"
#include "core/status.h"
#include "rtmp/rtmp_handshake.h"

#include <stdlib.h>

struct fz_run {
    int rc;
    size_t consumed;
    size_t out_len;
    struct rtmp_handshake h;
};

static void fz_drive(struct fz_run *r, int client, const uint8_t *in, size_t len, size_t step)
{
    struct buf out;
    buf_init(&out, 1u << 16);
    if (client) {
        if (rtmp_handshake_client_start(&r->h, &out) != ST_OK)
            abort();
    } else {
        rtmp_handshake_server_init(&r->h);
    }
    size_t off = 0;
    r->rc = ST_AGAIN;
    while (r->rc == ST_AGAIN && off < len) {
        size_t n = step && step < len - off ? step : len - off;
        size_t used = (size_t)-1;
        r->rc = rtmp_handshake_feed(&r->h, in + off, n, &used, &out);
        if (used > n || (r->rc == ST_AGAIN && used != n))
            abort();
        if (r->rc == ST_ERROR && !r->h.error)
            abort();
        off += used;
    }
    r->consumed = off;
    r->out_len = out.len;
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int client = data[0] & 1;
    size_t step = data[1] ? data[1] : 1;
    data += 2;
    size -= 2;

    struct fz_run whole, split;
    fz_drive(&whole, client, data, size, 0);
    fz_drive(&split, client, data, size, step);
    if (whole.rc != split.rc || whole.consumed != split.consumed || whole.out_len != split.out_len ||
        whole.h.complex != split.h.complex || whole.h.scheme != split.h.scheme ||
        whole.h.error != split.h.error)
        abort();
    /* Server output is all or nothing; done means exactly the handshake. */
    if (!client && whole.out_len != 0 && whole.out_len != 1 + 2 * RTMP_HANDSHAKE_SIZE)
        abort();
    if (whole.rc == ST_DONE && whole.consumed != 1 + 2 * RTMP_HANDSHAKE_SIZE)
        abort();
    return 0;
}
