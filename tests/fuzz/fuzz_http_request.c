/*
 * libFuzzer driver for http_request.
 *
 * Input: byte 0 picks a piece size (0 means one byte) and byte 1 small limits
 * (odd: tight limits, so the caps are reached often); the rest is a byte
 * stream of pipelined requests. The stream is parsed request after request,
 * once whole and once in pieces; statuses, consumed counts, error reasons and
 * the parsed fields must match. Every parsed request goes through the lookup,
 * keep-alive and query helpers.
 */
#include "core/status.h"
#include "http/http_request.h"

#include <stdlib.h>
#include <string.h>

#define FZ_MAX_REQUESTS 64

struct fz_req {
    int rc;
    size_t end;      /* stream offset after this request */
    int status;
    const char *error;
    unsigned nheaders;
    int version, keep_alive;
    uint64_t hash;   /* over method, path, query and header fields */
};

static uint64_t fz_hash(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

static void fz_check_request(const struct http_request *r, struct fz_req *o)
{
    if (!r->method || !r->path || !r->query || !r->target || (r->version != 10 && r->version != 11))
        abort();
    if (r->path[0] != '/' && strcmp(r->path, "*") != 0)
        abort();
    if (r->nheaders > r->limits.max_headers)
        abort();
    uint64_t h = 1469598103934665603ull;
    h = fz_hash(h, r->method, strlen(r->method));
    h = fz_hash(h, r->path, strlen(r->path));
    h = fz_hash(h, r->query, strlen(r->query));
    for (unsigned i = 0; i < r->nheaders; i++) {
        const struct http_header *f = &r->headers[i];
        if (strlen(f->name) != f->name_len || strlen(f->value) != f->value_len || f->name_len == 0)
            abort();
        if (http_request_header(r, f->name) == NULL)
            abort();
        h = fz_hash(h, f->name, f->name_len);
        h = fz_hash(h, f->value, f->value_len);
    }
    o->hash = h;
    o->nheaders = r->nheaders;
    o->version = r->version;
    o->keep_alive = http_request_keep_alive(r);
    /* Query helper with each header name as parameter name and tiny outputs. */
    char out[8];
    for (unsigned i = 0; i < r->nheaders && i < 4; i++) {
        size_t n = 0;
        int rc = http_request_query_param(r->query, r->headers[i].name, out, (i % 3) + 1 + i, &n);
        if (rc == ST_OK && (n >= (i % 3) + 1 + i || strlen(out) != n))
            abort();
        if (rc != ST_OK && out[0] != '\0')
            abort();
    }
}

static size_t fz_run(const uint8_t *in, size_t len, size_t step, const struct http_request_limits *lim,
                     struct fz_req *out)
{
    struct http_request r;
    if (http_request_init(&r, lim) != ST_OK)
        abort();
    size_t n = 0, off = 0, end = 0;
    while (n < FZ_MAX_REQUESTS) {
        /* The caller keeps unconsumed bytes and offers them again. */
        if (end < off)
            end = off;
        end = step && end + step < len ? end + step : len;
        size_t used = (size_t)-1;
        int rc = http_request_parse(&r, in + off, end - off, &used);
        if (used > end - off || (rc == ST_AGAIN && used != end - off))
            abort();
        off += used;
        if (rc == ST_AGAIN) {
            if (end == len)
                break;
            continue;
        }
        struct fz_req *o = &out[n++];
        memset(o, 0, sizeof(*o));
        o->rc = rc;
        o->end = off;
        if (rc == ST_ERROR) {
            if (!r.error || r.status < 400 || r.status > 505)
                abort();
            o->status = r.status;
            o->error = r.error;
            break;
        }
        if (rc != ST_OK)
            abort();
        fz_check_request(&r, o);
        http_request_reset(&r);
    }
    http_request_free(&r);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t step = data[0] ? data[0] : 1;
    struct http_request_limits lim = {0};
    if (data[1] & 1) {
        lim.max_line = 8 + (data[1] >> 1);
        lim.max_header_bytes = 16 + (size_t)data[1];
        lim.max_headers = 1 + (data[1] >> 4);
    }
    data += 2;
    size -= 2;
    static struct fz_req whole[FZ_MAX_REQUESTS], split[FZ_MAX_REQUESTS];
    size_t nw = fz_run(data, size, 0, &lim, whole);
    size_t ns = fz_run(data, size, step, &lim, split);
    if (nw != ns || memcmp(whole, split, nw * sizeof(whole[0])) != 0)
        abort();
    return 0;
}
