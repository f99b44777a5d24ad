/*
 * libFuzzer driver for rtsp_request.
 *
 * Input: byte 0 picks a piece size (0 means one byte) and byte 1 small limits
 * (odd: tight limits, so every cap is reached often); the rest is what a
 * client sends on its control connection (requests and '$' frames). The
 * stream is parsed message after message, once whole and once in pieces;
 * statuses, consumed counts, reasons and parsed fields must match. Every
 * request's Request-URI, Transport and Session values go through the
 * helpers, whose outputs must stay in bounds.
 */
#include "core/status.h"
#include "rtsp/rtsp_request.h"

#include <stdlib.h>
#include <string.h>

#define FZ_MAX_MESSAGES 64

struct fz_msg {
    int rc;
    size_t end; /* stream offset after this message */
    int status;
    const char *error;
    long cseq;
    int kind;
    unsigned nheaders;
    size_t len; /* body or data bytes */
    uint64_t hash;
};

static uint64_t fz_hash(uint64_t h, const void *p, size_t n)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

static void fz_helpers(const struct rtsp_request *r)
{
    char path[24];
    int rc = rtsp_request_uri_path(r->uri, path, sizeof(path));
    if (strlen(path) >= sizeof(path) || (rc != ST_OK && path[0] != '\0'))
        abort();
    const char *tv = rtsp_request_header(r, "transport");
    if (tv) {
        struct rtsp_transport t;
        rc = rtsp_request_transport(tv, &t);
        if (rc == ST_OK && t.lower != RTSP_LOWER_UDP && t.lower != RTSP_LOWER_TCP)
            abort();
        if (rc == ST_OK && t.lower == RTSP_LOWER_UDP && (t.client_port[0] == 0 || t.client_port[1] == 0))
            abort();
        if (rc != ST_OK && t.lower != 0)
            abort();
    }
    const char *sv = rtsp_request_header(r, "session");
    if (sv) {
        char id[9];
        rc = rtsp_request_session_id(sv, id, sizeof(id));
        if (rc == ST_OK && (id[0] == '\0' || strlen(id) >= sizeof(id) || strchr(id, ';')))
            abort();
    }
}

static void fz_check(const struct rtsp_request *r, struct fz_msg *o)
{
    uint64_t h = 1469598103934665603ull;
    o->kind = r->kind;
    o->cseq = r->cseq;
    if (r->kind == RTSP_REQUEST_INTERLEAVED) {
        if (r->data_len > r->limits.max_interleaved || (r->data_len && !r->data))
            abort();
        o->len = r->data_len;
        h = fz_hash(h, &r->channel, 1);
        o->hash = fz_hash(h, r->data, r->data_len);
        return;
    }
    if (r->kind != RTSP_REQUEST_MESSAGE || !r->method || !r->uri || r->version != 10 || r->cseq < 0)
        abort();
    if (r->nheaders > r->limits.max_headers || r->body_len > r->limits.max_body)
        abort();
    if (r->body && r->body[r->body_len] != 0)
        abort();
    h = fz_hash(h, r->method, strlen(r->method));
    h = fz_hash(h, r->uri, strlen(r->uri));
    for (unsigned i = 0; i < r->nheaders; i++) {
        const struct rtsp_header *f = &r->headers[i];
        if (strlen(f->name) != f->name_len || strlen(f->value) != f->value_len || f->name_len == 0)
            abort();
        if (!rtsp_request_header(r, f->name))
            abort();
        h = fz_hash(h, f->name, f->name_len);
        h = fz_hash(h, f->value, f->value_len);
    }
    if (r->body)
        h = fz_hash(h, r->body, r->body_len);
    o->hash = h;
    o->nheaders = r->nheaders;
    o->len = r->body_len;
    fz_helpers(r);
}

static size_t fz_run(const uint8_t *in, size_t len, size_t step, const struct rtsp_request_limits *lim,
                     struct fz_msg *out)
{
    struct rtsp_request r;
    if (rtsp_request_init(&r, lim) != ST_OK)
        abort();
    size_t n = 0, off = 0, end = 0;
    while (n < FZ_MAX_MESSAGES) {
        /* The caller keeps unconsumed bytes and offers them again. */
        if (end < off)
            end = off;
        end = step && end + step < len ? end + step : len;
        size_t used = (size_t)-1;
        int rc = rtsp_request_parse(&r, in + off, end - off, &used);
        if (used > end - off || (rc == ST_AGAIN && used != end - off))
            abort();
        off += used;
        if (rc == ST_AGAIN) {
            if (end == len)
                break;
            continue;
        }
        struct fz_msg *o = &out[n++];
        memset(o, 0, sizeof(*o));
        o->rc = rc;
        o->end = off;
        if (rc == ST_ERROR) {
            if (!r.error || r.status < 400 || r.status > 505)
                abort();
            o->status = r.status;
            o->error = r.error;
            o->cseq = r.cseq;
            break;
        }
        if (rc != ST_OK)
            abort();
        fz_check(&r, o);
        rtsp_request_reset(&r);
    }
    rtsp_request_free(&r);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t step = data[0] ? data[0] : 1;
    struct rtsp_request_limits lim = {0};
    if (data[1] & 1) {
        lim.max_line = 8 + (data[1] >> 1);
        lim.max_header_bytes = 16 + (size_t)data[1];
        lim.max_headers = 1 + (data[1] >> 4);
        lim.max_body = data[1] >> 2;
        lim.max_interleaved = 1 + (data[1] >> 3);
    }
    data += 2;
    size -= 2;
    static struct fz_msg whole[FZ_MAX_MESSAGES], split[FZ_MAX_MESSAGES];
    size_t nw = fz_run(data, size, 0, &lim, whole);
    size_t ns = fz_run(data, size, step, &lim, split);
    if (nw != ns || memcmp(whole, split, nw * sizeof(whole[0])) != 0)
        abort();
    return 0;
}
