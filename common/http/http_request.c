#include "http/http_request.h"

#include "core/status.h"

#include <stdlib.h>
#include <string.h>

enum {
    S_START,    /* empty lines before the request line */
    S_METHOD,
    S_TARGET,
    S_VERSION,
    S_RL_LF,    /* CR seen at the end of the request line */
    S_HSTART,   /* start of a header line or the blank line */
    S_HNAME,
    S_HVALUE_WS,
    S_HVALUE,
    S_H_LF,     /* CR seen at the end of a header line */
    S_END_LF,   /* CR seen on the blank line */
    S_DONE,
    S_ERROR
};

#define MAX_BLANK_LINES 8

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static int ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static size_t clamp_limit(size_t v, size_t def)
{
    if (v == 0)
        return def;
    return v > HTTP_REQUEST_LIMIT_CAP ? HTTP_REQUEST_LIMIT_CAP : v;
}

int http_request_init(struct http_request *r, const struct http_request_limits *limits)
{
    memset(r, 0, sizeof(*r));
    struct http_request_limits l = limits ? *limits : (struct http_request_limits){0};
    r->limits.max_line = clamp_limit(l.max_line, HTTP_REQUEST_DEFAULT_MAX_LINE);
    r->limits.max_header_bytes = clamp_limit(l.max_header_bytes, HTTP_REQUEST_DEFAULT_MAX_HEADER_BYTES);
    r->limits.max_headers = (unsigned)clamp_limit(l.max_headers, HTTP_REQUEST_DEFAULT_MAX_HEADERS);
    /* The request line is stored once as sent plus once as the path copy;
     * a header line "name:value\n" becomes "name\0value\0", never longer. */
    r->mem_cap = 2 * r->limits.max_line + r->limits.max_header_bytes + 16;
    r->mem = malloc(r->mem_cap);
    r->headers = calloc(r->limits.max_headers, sizeof(*r->headers));
    if (!r->mem || !r->headers) {
        http_request_free(r);
        return ST_ERROR;
    }
    http_request_reset(r);
    return ST_OK;
}

void http_request_free(struct http_request *r)
{
    free(r->mem);
    free(r->headers);
    r->mem = NULL;
    r->headers = NULL;
    r->mem_cap = r->mem_len = 0;
    r->nheaders = 0;
}

void http_request_reset(struct http_request *r)
{
    r->method = r->target = r->path = r->query = NULL;
    r->version = 0;
    r->nheaders = 0;
    r->error = NULL;
    r->status = 0;
    r->mem_len = 0;
    r->state = S_START;
    r->line_len = r->hdr_bytes = 0;
    r->target_off = r->value_off = 0;
    r->blank_lines = r->host_count = r->version_len = 0;
}

static int fail(struct http_request *r, int status, const char *why)
{
    r->state = S_ERROR;
    r->status = status;
    r->error = why;
    return ST_ERROR;
}

/* Store one byte; the block is sized so this cannot overflow within the
 * limits, the check only guards our own arithmetic. */
static int put(struct http_request *r, char c)
{
    if (r->mem_len >= r->mem_cap)
        return fail(r, 431, "request too large");
    r->mem[r->mem_len++] = c;
    return ST_OK;
}

static int put_str(struct http_request *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (put(r, s[i]) != ST_OK)
            return ST_ERROR;
    return put(r, '\0');
}

/* The request line is complete: check the version, split the target. */
static int end_request_line(struct http_request *r)
{
    const char *v = r->version_buf;
    if (r->version_len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return fail(r, 400, "malformed HTTP version");
    if (v[5] != '1')
        return fail(r, 505, "HTTP version not supported");
    r->version = v[7] == '0' ? 10 : 11;

    const char *t = r->mem + r->target_off;
    size_t tlen = strlen(t);
    const char *p = t, *q = NULL;
    size_t plen;
    if (t[0] == '*' && tlen == 1) {
        plen = 1;
    } else {
        if (t[0] != '/') {
            /* absolute-form: keep only the path; the authority is ignored
             * like a Host field would be (we serve one site). */
            size_t skip;
            if (tlen > 7 && ieq(t, 7, "http://", 7))
                skip = 7;
            else if (tlen > 8 && ieq(t, 8, "https://", 8))
                skip = 8;
            else
                return fail(r, 400, "malformed request target");
            p = t + skip + strcspn(t + skip, "/?");
        }
        q = strchr(p, '?');
        plen = q ? (size_t)(q - p) : strlen(p);
    }
    size_t path_off = r->mem_len;
    if (plen == 0) { /* "http://host" or "http://host?q" */
        if (put_str(r, "/", 1) != ST_OK)
            return ST_ERROR;
    } else if (put_str(r, p, plen) != ST_OK) {
        return ST_ERROR;
    }
    /* Pointers are set now: the block never moves. */
    r->method = r->mem;
    r->target = r->mem + r->target_off;
    r->path = r->mem + path_off;
    r->query = q ? q + 1 : r->mem + path_off + strlen(r->mem + path_off); /* "" */
    r->state = S_HSTART;
    return ST_OK;
}

static int digits_only(const char *s, size_t n, int *nonzero)
{
    *nonzero = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        if (s[i] != '0')
            *nonzero = 1;
    }
    return 1;
}

/* A header line is complete: trim, record, apply the message-level rules. */
static int end_header(struct http_request *r)
{
    while (r->mem_len > r->value_off && (r->mem[r->mem_len - 1] == ' ' || r->mem[r->mem_len - 1] == '\t'))
        r->mem_len--;
    struct http_header *h = &r->headers[r->nheaders];
    h->value = r->mem + r->value_off;
    h->value_len = r->mem_len - r->value_off;
    if (put(r, '\0') != ST_OK)
        return ST_ERROR;
    h->name_len = strlen(h->name);
    r->nheaders++;
    r->state = S_HSTART;

    if (ieq(h->name, h->name_len, "content-length", 14)) {
        int nonzero;
        if (!digits_only(h->value, h->value_len, &nonzero))
            return fail(r, 400, "invalid Content-Length");
        if (nonzero)
            return fail(r, 413, "request bodies are not supported");
    } else if (ieq(h->name, h->name_len, "transfer-encoding", 17)) {
        return fail(r, 501, "Transfer-Encoding is not supported");
    } else if (ieq(h->name, h->name_len, "host", 4)) {
        if (++r->host_count > 1)
            return fail(r, 400, "duplicate Host header");
    }
    return ST_OK;
}

static int end_head(struct http_request *r)
{
    if (r->version == 11 && r->host_count == 0)
        return fail(r, 400, "HTTP/1.1 request without Host header");
    r->state = S_DONE;
    return ST_OK;
}

/* One byte of input in the current state. ST_OK to go on (or done when the
 * state becomes S_DONE), ST_ERROR after fail(). */
static int step(struct http_request *r, uint8_t c)
{
    if (c == 0)
        return fail(r, 400, "NUL byte in request");
    switch (r->state) {
    case S_START:
        if (c == '\r' || c == '\n') {
            if (++r->blank_lines > MAX_BLANK_LINES)
                return fail(r, 400, "too many empty lines before the request line");
            return ST_OK;
        }
        r->state = S_METHOD;
        /* fall through */
    case S_METHOD:
        if (++r->line_len > r->limits.max_line)
            return fail(r, 414, "request line too long");
        if (c == ' ') {
            if (r->mem_len == 0)
                return fail(r, 400, "empty method");
            r->target_off = r->mem_len + 1;
            r->state = S_TARGET;
            return put(r, '\0');
        }
        if (!is_tchar(c))
            return fail(r, 400, "bad character in method");
        return put(r, (char)c);
    case S_TARGET:
        if (c == '\r' || c == '\n')
            return fail(r, 400, "missing HTTP version");
        if (++r->line_len > r->limits.max_line)
            return fail(r, 414, "request line too long");
        if (c == ' ') {
            if (r->mem_len == r->target_off)
                return fail(r, 400, "empty request target");
            r->state = S_VERSION;
            return put(r, '\0');
        }
        if (c < 0x21 || c == 0x7f)
            return fail(r, 400, "bad character in request target");
        return put(r, (char)c);
    case S_VERSION:
        if (c == '\r') {
            r->state = S_RL_LF;
            return ST_OK;
        }
        if (c == '\n')
            return end_request_line(r);
        if (++r->line_len > r->limits.max_line)
            return fail(r, 414, "request line too long");
        if (r->version_len >= sizeof(r->version_buf))
            return fail(r, 400, "malformed HTTP version");
        r->version_buf[r->version_len++] = (char)c;
        return ST_OK;
    case S_RL_LF:
        if (c != '\n')
            return fail(r, 400, "CR without LF");
        return end_request_line(r);
    default:
        break;
    }

    /* Header section: every byte counts against the cap. */
    if (++r->hdr_bytes > r->limits.max_header_bytes)
        return fail(r, 431, "header section too large");
    switch (r->state) {
    case S_HSTART:
        if (c == '\r') {
            r->state = S_END_LF;
            return ST_OK;
        }
        if (c == '\n')
            return end_head(r);
        if (c == ' ' || c == '\t')
            return fail(r, 400, "obsolete header line folding");
        if (!is_tchar(c))
            return fail(r, 400, "bad character in header name");
        if (r->nheaders >= r->limits.max_headers)
            return fail(r, 431, "too many header fields");
        r->headers[r->nheaders].name = r->mem + r->mem_len;
        r->state = S_HNAME;
        return put(r, (char)c);
    case S_HNAME:
        if (c == ':') {
            r->value_off = r->mem_len + 1;
            r->state = S_HVALUE_WS;
            return put(r, '\0');
        }
        if (c == ' ' || c == '\t')
            return fail(r, 400, "whitespace in header name");
        if (c == '\r' || c == '\n')
            return fail(r, 400, "header line without colon");
        if (!is_tchar(c))
            return fail(r, 400, "bad character in header name");
        return put(r, (char)c);
    case S_HVALUE_WS:
        if (c == ' ' || c == '\t')
            return ST_OK;
        r->state = S_HVALUE;
        /* fall through */
    case S_HVALUE:
        if (c == '\r') {
            r->state = S_H_LF;
            return ST_OK;
        }
        if (c == '\n')
            return end_header(r);
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(r, 400, "control character in header value");
        return put(r, (char)c);
    case S_H_LF:
        if (c != '\n')
            return fail(r, 400, "CR without LF");
        return end_header(r);
    case S_END_LF:
        if (c != '\n')
            return fail(r, 400, "CR without LF");
        return end_head(r);
    default:
        return fail(r, 400, "parser misuse");
    }
}

int http_request_parse(struct http_request *r, const uint8_t *in, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (r->state == S_DONE)
        return ST_OK;
    if (r->state == S_ERROR)
        return ST_ERROR;
    for (size_t i = 0; i < len; i++) {
        if (step(r, in[i]) != ST_OK) {
            *consumed = i + 1;
            return ST_ERROR;
        }
        if (r->state == S_DONE) {
            *consumed = i + 1;
            return ST_OK;
        }
    }
    *consumed = len;
    return ST_AGAIN;
}

const char *http_request_header(const struct http_request *r, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < r->nheaders; i++)
        if (ieq(r->headers[i].name, r->headers[i].name_len, name, n))
            return r->headers[i].value;
    return NULL;
}

int http_request_keep_alive(const struct http_request *r)
{
    int close = 0, keep = 0;
    for (unsigned i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (!ieq(h->name, h->name_len, "connection", 10))
            continue;
        /* A comma-separated token list, optional whitespace around items. */
        const char *p = h->value, *end = h->value + h->value_len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
                p++;
            const char *s = p;
            while (p < end && *p != ',')
                p++;
            const char *e = p;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (ieq(s, (size_t)(e - s), "close", 5))
                close = 1;
            else if (ieq(s, (size_t)(e - s), "keep-alive", 10))
                keep = 1;
        }
    }
    if (close)
        return 0;
    return r->version >= 11 ? 1 : keep;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decode one form-encoded byte at *p (before end); -1 on a bad escape. */
static int decode_at(const char **p, const char *end)
{
    const char *s = *p;
    if (*s == '+') {
        *p = s + 1;
        return ' ';
    }
    if (*s != '%') {
        *p = s + 1;
        return (unsigned char)*s;
    }
    if (end - s < 3 || hexval((unsigned char)s[1]) < 0 || hexval((unsigned char)s[2]) < 0)
        return -1;
    *p = s + 3;
    return hexval((unsigned char)s[1]) << 4 | hexval((unsigned char)s[2]);
}

static int key_matches(const char *k, const char *kend, const char *name)
{
    while (k < kend) {
        int c = decode_at(&k, kend);
        if (c < 0 || *name == '\0' || c != (unsigned char)*name)
            return 0;
        name++;
    }
    return *name == '\0';
}

int http_request_query_param(const char *query, const char *name, char *out, size_t out_size, size_t *out_len)
{
    if (out_len)
        *out_len = 0;
    if (out_size == 0)
        return ST_ERROR;
    out[0] = '\0';
    const char *p = query;
    while (*p) {
        const char *pend = p + strcspn(p, "&");
        const char *eq = memchr(p, '=', (size_t)(pend - p));
        const char *kend = eq ? eq : pend;
        if (kend > p && key_matches(p, kend, name)) {
            size_t n = 0;
            for (const char *v = eq ? eq + 1 : pend; v < pend;) {
                int c = decode_at(&v, pend);
                if (c <= 0 || n + 1 >= out_size) {
                    out[0] = '\0';
                    return ST_ERROR;
                }
                out[n++] = (char)c;
            }
            out[n] = '\0';
            if (out_len)
                *out_len = n;
            return ST_OK;
        }
        p = *pend ? pend + 1 : pend;
    }
    return ST_DONE;
}
