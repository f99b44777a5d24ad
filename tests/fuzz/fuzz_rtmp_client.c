/*
 * libFuzzer driver for rtmp_client (the publish state machine).
 *
 * Input: byte 0 bit 0 set = prepend a synthetic S0+S1+S2 (so mutations
 * spend their effort on the chunk stream, not the handshake), bits 1-3 a
 * piece size (0 = whole); the rest is what the server sends. The input runs
 * once whole and once in pieces: the sequence of statuses, the consumed
 * count, the state, the stream id and (without acks) the output must match. Invariants:
 * ST_AGAIN consumes everything, ST_ERROR/ST_DONE leave a reason, READY is
 * reported once, and after READY an unpublish can be appended.
 */
#include "core/buf.h"
#include "core/status.h"
#include "rtmp/rtmp_client.h"

#include <stdlib.h>
#include <string.h>

#define FZ_HS (1 + 2 * 1536)

struct fz_run {
    int results[4];
    int nresults;
    size_t consumed;
    enum rtmp_client_state state;
    uint32_t stream_id;
    int acked; /* the server set a window at some point: acks were due */
    size_t out_len;
    uint8_t *out; /* output after C0+C1 (C1 is random) */
};

static void fz_drive(struct fz_run *r, const uint8_t *in, size_t len, size_t step)
{
    struct rtmp_client c;
    struct rtmp_client_config cfg = {.app = "live", .tc_url = "rtmp://h/live", .name = "fz", .chunk_size = 4096,
                                     .max_message_size = 1 << 16};
    if (rtmp_client_init(&c, &cfg) != ST_OK)
        abort();
    struct buf out;
    buf_init(&out, 1u << 20);
    if (rtmp_client_start(&c, &out) != ST_OK)
        abort();
    memset(r, 0, sizeof(*r));
    size_t off = 0;
    int ended = 0;
    while (off < len && !ended) {
        size_t n = step && step < len - off ? step : len - off;
        size_t end = off + n;
        while (off < end) {
            size_t used = (size_t)-1;
            int rc = rtmp_client_feed(&c, in + off, end - off, &used, &out);
            if (used > end - off)
                abort();
            r->acked |= c.ack_window != 0;
            off += used;
            if (rc == ST_AGAIN) {
                if (off != end)
                    abort();
                continue;
            }
            if (r->nresults == 4)
                abort();
            r->results[r->nresults++] = rc;
            if (rc == ST_OK) {
                if (c.state != RTMP_CLIENT_READY || r->nresults != 1)
                    abort();
                continue;
            }
            if ((rc != ST_ERROR && rc != ST_DONE) || !c.error[0] || c.state != RTMP_CLIENT_FAILED)
                abort();
            ended = 1;
            break;
        }
    }
    if (c.state == RTMP_CLIENT_READY && rtmp_client_unpublish(&c, &out) != ST_OK)
        abort();
    r->consumed = off;
    r->state = c.state;
    r->stream_id = c.stream_id;
    r->out_len = out.len > 1537 ? out.len - 1537 : 0;
    r->out = malloc(r->out_len + 1);
    if (!r->out)
        abort();
    if (r->out_len)
        memcpy(r->out, out.data + 1537, r->out_len);
    buf_free(&out);
    rtmp_client_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (data[0] >> 1) & 7;
    const uint8_t *body = data + 1;
    size_t blen = size - 1;
    uint8_t *in = NULL;
    size_t len = blen;
    if (data[0] & 1) {
        len = FZ_HS + blen;
        in = malloc(len ? len : 1);
        if (!in)
            return 0;
        in[0] = 3;
        for (size_t i = 1; i < FZ_HS; i++)
            in[i] = (uint8_t)(i * 31);
        memcpy(in + FZ_HS, body, blen);
        body = in;
    }
    struct fz_run a, b;
    fz_drive(&a, body, len, 0);
    fz_drive(&b, body, len, step ? step : 1);
    if (a.nresults != b.nresults || memcmp(a.results, b.results, sizeof(a.results[0]) * (size_t)a.nresults) != 0 ||
        a.consumed != b.consumed || a.state != b.state || a.stream_id != b.stream_id)
        abort();
    /* Acks depend on where reads end (as with any client): compare the
     * output only when the server asked for none. */
    if (!a.acked && !b.acked && (a.out_len != b.out_len || memcmp(a.out, b.out, a.out_len) != 0))
        abort();
    free(a.out);
    free(b.out);
    free(in);
    return 0;
}
