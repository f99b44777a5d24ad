#include "rtsp/rtsp_request.h"

#include "core/status.h"

#include <stdlib.h>
#include <string.h>

enum {
    S_START,   /* before a message: empty lines, '$' or a request line */
    S_LINE,    /* request line */
    S_HDR,     /* header lines up to the blank line */
    S_BODY,    /* Content-Length bytes */
    S_IL_HDR,  /* channel and length of a '$' frame */
    S_IL_DATA, /* its payload */
    S_DONE,
    S_ERROR
};

/* CR and LF bytes tolerated before a message (stray line ends after a body
 * or a frame); more is garbage. */
#define MAX_BLANK_BYTES 16
/* CSeq and Content-Length: at most 9 digits (RFC 7826 caps CSeq at 999999999). */
#define MAX_NUMBER_DIGITS 9

/* RFC 2616 token characters (RTSP 1.0 borrows HTTP/1.1's grammar). */
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

static size_t clamp_limit(size_t v, size_t def, size_t cap)
{
    if (v == 0)
        return def;
    return v > cap ? cap : v;
}

int rtsp_request_init(struct rtsp_request *r, const struct rtsp_request_limits *limits)
{
    memset(r, 0, sizeof(*r));
    struct rtsp_request_limits l = limits ? *limits : (struct rtsp_request_limits){0};
    r->limits.max_line = clamp_limit(l.max_line, RTSP_REQUEST_DEFAULT_MAX_LINE, RTSP_REQUEST_LIMIT_CAP);
    r->limits.max_header_bytes =
        clamp_limit(l.max_header_bytes, RTSP_REQUEST_DEFAULT_MAX_HEADER_BYTES, RTSP_REQUEST_LIMIT_CAP);
    r->limits.max_headers = (unsigned)clamp_limit(l.max_headers, RTSP_REQUEST_DEFAULT_MAX_HEADERS, 4096);
    r->limits.max_body = clamp_limit(l.max_body, RTSP_REQUEST_DEFAULT_MAX_BODY, RTSP_REQUEST_LIMIT_CAP);
    r->limits.max_interleaved = clamp_limit(l.max_interleaved, RTSP_REQUEST_DEFAULT_MAX_INTERLEAVED, 65535);
    /* A request is stored as sent (its line ends become NULs): the request
     * line with its CR and LF, the header section, then the body and a NUL.
     * A '$' frame reuses the block from the start. */
    size_t req = r->limits.max_line + 2 + r->limits.max_header_bytes + r->limits.max_body + 1;
    r->mem_cap = req > r->limits.max_interleaved ? req : r->limits.max_interleaved;
    r->mem = malloc(r->mem_cap);
    r->headers = calloc(r->limits.max_headers, sizeof(*r->headers));
    if (!r->mem || !r->headers) {
        rtsp_request_free(r);
        return ST_ERROR;
    }
    rtsp_request_reset(r);
    return ST_OK;
}

void rtsp_request_free(struct rtsp_request *r)
{
    free(r->mem);
    free(r->headers);
    r->mem = NULL;
    r->headers = NULL;
    r->mem_cap = r->mem_len = 0;
    r->nheaders = 0;
}

void rtsp_request_reset(struct rtsp_request *r)
{
    r->kind = RTSP_REQUEST_NONE;
    r->method = r->uri = NULL;
    r->version = 0;
    r->nheaders = 0;
    r->cseq = -1;
    r->body = r->data = NULL;
    r->body_len = r->data_len = 0;
    r->channel = 0;
    r->error = NULL;
    r->status = 0;
    r->mem_len = 0;
    r->state = S_START;
    r->line_start = r->hdr_bytes = r->want = 0;
    r->blank_lines = r->il_have = 0;
    r->have_length = 0;
}

static int fail(struct rtsp_request *r, int status, const char *why)
{
    r->state = S_ERROR;
    r->status = status;
    r->error = why;
    return ST_ERROR;
}

/* Whether s[0..n) has a byte no RTSP line may carry (HT is allowed in
 * values and rejected elsewhere by the grammar). */
static int has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 1;
    }
    return 0;
}

/* Parse 1..9 ASCII digits. ST_OK or ST_ERROR. */
static int parse_number(const char *s, size_t n, long *out)
{
    if (n == 0 || n > MAX_NUMBER_DIGITS)
        return ST_ERROR;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return ST_ERROR;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return ST_OK;
}

static int end_request_line(struct rtsp_request *r, char *line, size_t len)
{
    if (len > r->limits.max_line)
        return fail(r, 414, "request line too long");
    if (has_ctl(line, len) || memchr(line, '\t', len))
        return fail(r, 400, "control character in request line");
    char *sp1 = memchr(line, ' ', len);
    if (!sp1 || sp1 == line)
        return fail(r, 400, "malformed request line");
    for (char *p = line; p < sp1; p++)
        if (!is_tchar((uint8_t)*p))
            return fail(r, 400, "bad character in method");
    char *uri = sp1 + 1;
    char *sp2 = memchr(uri, ' ', len - (size_t)(uri - line));
    if (!sp2 || sp2 == uri)
        return fail(r, 400, "malformed request line");
    char *ver = sp2 + 1;
    size_t vlen = len - (size_t)(ver - line);
    if (memchr(ver, ' ', vlen))
        return fail(r, 400, "malformed request line");
    if (vlen != 8 || memcmp(ver, "RTSP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' || ver[6] != '.' ||
        ver[7] < '0' || ver[7] > '9')
        return fail(r, 400, "malformed RTSP version");
    if (ver[5] != '1' || ver[7] != '0')
        return fail(r, 505, "RTSP version not supported");
    *sp1 = '\0';
    *sp2 = '\0';
    r->method = line;
    r->uri = uri;
    r->version = 10;
    r->state = S_HDR;
    return ST_OK;
}

static void finish(struct rtsp_request *r, enum rtsp_request_kind kind)
{
    r->kind = kind;
    r->state = S_DONE;
}

/* The blank line: the head is complete. */
static int end_head(struct rtsp_request *r)
{
    if (r->cseq < 0)
        return fail(r, 400, "missing CSeq");
    if (r->want > 0) {
        r->body = r->mem + r->mem_len;
        r->state = S_BODY;
        return ST_OK;
    }
    finish(r, RTSP_REQUEST_MESSAGE);
    return ST_OK;
}

static int end_header_line(struct rtsp_request *r, char *line, size_t len)
{
    if (len == 0)
        return end_head(r);
    if (line[0] == ' ' || line[0] == '\t')
        return fail(r, 400, "obsolete header line folding");
    if (has_ctl(line, len))
        return fail(r, 400, "control character in header field");
    char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return fail(r, 400, "header line without name and colon");
    for (char *p = line; p < colon; p++)
        if (!is_tchar((uint8_t)*p))
            return fail(r, 400, "bad character in header name");
    if (r->nheaders >= r->limits.max_headers)
        return fail(r, 400, "too many header fields");
    char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *colon = '\0';
    *end = '\0'; /* within the line: at worst on its terminator */
    struct rtsp_header *h = &r->headers[r->nheaders++];
    h->name = line;
    h->name_len = (size_t)(colon - line);
    h->value = v;
    h->value_len = (size_t)(end - v);

    long n;
    if (ieq(h->name, h->name_len, "cseq", 4)) {
        if (r->cseq >= 0)
            return fail(r, 400, "duplicate CSeq");
        if (parse_number(h->value, h->value_len, &n) != ST_OK)
            return fail(r, 400, "invalid CSeq");
        r->cseq = n;
    } else if (ieq(h->name, h->name_len, "content-length", 14)) {
        if (r->have_length)
            return fail(r, 400, "duplicate Content-Length");
        if (parse_number(h->value, h->value_len, &n) != ST_OK)
            return fail(r, h->value_len > MAX_NUMBER_DIGITS ? 413 : 400, "invalid Content-Length");
        if ((size_t)n > r->limits.max_body)
            return fail(r, 413, "request body too large");
        r->have_length = 1;
        r->want = (size_t)n;
    }
    return ST_OK;
}

/* One byte of a request line or header line. */
static int line_byte(struct rtsp_request *r, uint8_t c)
{
    if (c == 0)
        return fail(r, 400, "NUL byte in request");
    size_t cur = r->mem_len - r->line_start;
    if (r->state == S_HDR) {
        if (++r->hdr_bytes > r->limits.max_header_bytes)
            return fail(r, 400, "header section too large");
    } else if (c != '\n' && cur > r->limits.max_line) {
        /* max_line content bytes plus a CR are stored at most */
        return fail(r, 414, "request line too long");
    }
    if (c != '\n') {
        r->mem[r->mem_len++] = c;
        return ST_OK;
    }
    char *line = (char *)r->mem + r->line_start;
    size_t len = cur;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    r->mem[r->mem_len++] = '\0'; /* the LF's slot: the block never runs short */
    r->line_start = r->mem_len;
    return r->state == S_LINE ? end_request_line(r, line, len) : end_header_line(r, line, len);
}

int rtsp_request_parse(struct rtsp_request *r, const uint8_t *in, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (r->state == S_DONE)
        return ST_OK;
    if (r->state == S_ERROR)
        return ST_ERROR;
    size_t i = 0;
    while (i < len) {
        uint8_t c = in[i];
        switch (r->state) {
        case S_START:
            if (c == '\r' || c == '\n') {
                if (++r->blank_lines > MAX_BLANK_BYTES) {
                    *consumed = i + 1;
                    return fail(r, 400, "too many empty lines before a request");
                }
                i++;
                continue;
            }
            if (c == '$') {
                r->state = S_IL_HDR;
                r->il_have = 0;
                i++;
                continue;
            }
            r->state = S_LINE;
            r->line_start = r->mem_len = 0;
            continue; /* the byte belongs to the request line */
        case S_LINE:
        case S_HDR:
            i++;
            if (line_byte(r, c) != ST_OK) {
                *consumed = i;
                return ST_ERROR;
            }
            break;
        case S_BODY:
        case S_IL_DATA: {
            size_t n = len - i < r->want ? len - i : r->want;
            memcpy(r->mem + r->mem_len, in + i, n);
            r->mem_len += n;
            r->want -= n;
            i += n;
            if (r->want > 0)
                break;
            if (r->state == S_BODY) {
                r->body_len = (size_t)(r->mem + r->mem_len - r->body);
                r->mem[r->mem_len++] = '\0';
                finish(r, RTSP_REQUEST_MESSAGE);
            } else {
                r->data = r->mem;
                r->data_len = r->mem_len;
                finish(r, RTSP_REQUEST_INTERLEAVED);
            }
            break;
        }
        case S_IL_HDR:
            r->il_hdr[r->il_have++] = c;
            i++;
            if (r->il_have < 3)
                break;
            r->channel = r->il_hdr[0];
            r->want = (size_t)r->il_hdr[1] << 8 | r->il_hdr[2];
            if (r->want > r->limits.max_interleaved) {
                *consumed = i;
                return fail(r, 400, "interleaved frame too large");
            }
            r->mem_len = 0;
            r->state = S_IL_DATA;
            if (r->want == 0) {
                r->data = r->mem;
                r->data_len = 0;
                finish(r, RTSP_REQUEST_INTERLEAVED);
            }
            break;
        default:
            *consumed = i;
            return fail(r, 400, "parser misuse");
        }
        if (r->state == S_DONE) {
            *consumed = i;
            return ST_OK;
        }
    }
    *consumed = len;
    return ST_AGAIN;
}

const char *rtsp_request_header(const struct rtsp_request *r, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < r->nheaders; i++)
        if (ieq(r->headers[i].name, r->headers[i].name_len, name, n))
            return r->headers[i].value;
    return NULL;
}

/* "a" or "a-b" with a, b in [0, max]; *has2 says whether b was given. */
static int parse_range(const char *s, size_t n, long max, long *a, long *b, int *has2)
{
    const char *dash = memchr(s, '-', n);
    size_t alen = dash ? (size_t)(dash - s) : n;
    if (parse_number(s, alen, a) != ST_OK || *a > max)
        return ST_ERROR;
    *has2 = dash != NULL;
    if (!dash)
        return ST_OK;
    if (parse_number(dash + 1, n - alen - 1, b) != ST_OK || *b > max)
        return ST_ERROR;
    return ST_OK;
}

/* One transport-spec s[0..n): ST_OK (served, *t filled), ST_DONE (not
 * something we serve) or ST_ERROR (ours but malformed). */
static int transport_spec(const char *s, size_t n, struct rtsp_transport *t)
{
    memset(t, 0, sizeof(*t));
    const char *end = s + n;
    const char *p = s;
    int first = 1, unicast = 1, have_client_port = 0;
    while (p <= end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *e = semi ? semi : end;
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        size_t len = (size_t)(b - a);
        const char *eq = memchr(a, '=', len);
        size_t klen = eq ? (size_t)(eq - a) : len;
        const char *val = eq ? eq + 1 : b;
        size_t vlen = (size_t)(b - val);
        if (first) {
            /* transport/profile[/lower-transport] */
            if (ieq(a, len, "RTP/AVP", 7) || ieq(a, len, "RTP/AVP/UDP", 11))
                t->lower = RTSP_LOWER_UDP;
            else if (ieq(a, len, "RTP/AVP/TCP", 11))
                t->lower = RTSP_LOWER_TCP;
            else
                return ST_DONE;
            first = 0;
        } else if (ieq(a, klen, "multicast", 9)) {
            unicast = 0;
        } else if (ieq(a, klen, "client_port", 11) && eq) {
            long lo, hi = 0;
            int has2;
            if (parse_range(val, vlen, 65535, &lo, &hi, &has2) != ST_OK || lo == 0 || (has2 && hi == 0))
                return ST_ERROR;
            t->client_port[0] = (uint16_t)lo;
            t->client_port[1] = (uint16_t)(has2 ? hi : (lo == 65535 ? 0 : lo + 1));
            have_client_port = 1;
        } else if (ieq(a, klen, "interleaved", 11) && eq) {
            long lo, hi = 0;
            int has2;
            if (parse_range(val, vlen, 255, &lo, &hi, &has2) != ST_OK)
                return ST_ERROR;
            t->interleaved[0] = (uint8_t)lo;
            t->interleaved[1] = (uint8_t)(has2 ? hi : (lo + 1) & 0xff);
            t->has_interleaved = 1;
        } else if (ieq(a, klen, "mode", 4) && eq) {
            const char *m = val;
            size_t mlen = vlen;
            if (mlen >= 2 && m[0] == '"' && m[mlen - 1] == '"') {
                m++;
                mlen -= 2;
            }
            if (!ieq(m, mlen, "PLAY", 4))
                return ST_DONE;
        }
        /* unicast, ttl, ssrc, destination, source, append, ...: ignored */
        if (!semi)
            break;
        p = semi + 1;
    }
    if (!unicast)
        return ST_DONE;
    if (t->lower == RTSP_LOWER_UDP && (!have_client_port || t->client_port[1] == 0))
        return have_client_port ? ST_ERROR : ST_DONE;
    return ST_OK;
}

int rtsp_request_transport(const char *value, struct rtsp_transport *t)
{
    int rc = ST_DONE;
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int one = transport_spec(p, n, t);
        if (one == ST_OK)
            return ST_OK;
        if (one == ST_ERROR)
            rc = ST_ERROR;
        if (!comma)
            break;
        p = comma + 1;
    }
    memset(t, 0, sizeof(*t));
    return rc;
}

int rtsp_request_uri_path(const char *uri, char *out, size_t out_size)
{
    if (out_size == 0)
        return ST_ERROR;
    out[0] = '\0';
    const char *p = uri;
    if (strcmp(uri, "*") == 0)
        return ST_OK;
    size_t slen = strlen(uri);
    if (slen >= 7 && (ieq(uri, 7, "rtsp://", 7))) {
        p = uri + 7;
    } else if (slen >= 8 && (ieq(uri, 8, "rtsps://", 8) || ieq(uri, 8, "rtspu://", 8))) {
        p = uri + 8;
    } else if (uri[0] != '/') {
        return ST_ERROR;
    }
    if (p != uri)
        p += strcspn(p, "/?#"); /* skip the authority */
    while (*p == '/')
        p++;
    size_t n = strcspn(p, "?#");
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n >= out_size)
        return ST_ERROR;
    memcpy(out, p, n);
    out[n] = '\0';
    return ST_OK;
}

int rtsp_request_session_id(const char *value, char *out, size_t out_size)
{
    if (out_size == 0)
        return ST_ERROR;
    out[0] = '\0';
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strcspn(value, "; \t");
    if (n == 0 || n >= out_size)
        return ST_ERROR;
    memcpy(out, value, n);
    out[n] = '\0';
    return ST_OK;
}
