/*
 * Unit tests for rtsp_request: a table of client byte streams (requests as
 * ffmpeg and GStreamer send them, pipelined requests, interleaved RTCP
 * frames), each run whole, one byte at a time and split in two at every
 * offset, with the same messages and the same final status expected every
 * way; every proper prefix of a good stream is incomplete (ST_AGAIN);
 * limits at and one past each bound; the Transport, URI and Session helpers.
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "rtsp/rtsp_request.h"

#include <stdio.h>
#include <string.h>

#define MAX_MSGS 8

/* What one parsed message looked like, copied out before the reset. */
struct got {
    int kind;
    char method[32];
    char uri[128];
    long cseq;
    unsigned nheaders;
    char hvalue[128]; /* value of the header the case asks about, "" if absent */
    char body[64];
    size_t body_len;
    int channel;
    size_t data_len;
    uint8_t data[16];
};

struct run {
    struct got msgs[MAX_MSGS];
    int n;
    int final_rc;    /* ST_AGAIN (input ended cleanly or mid-message) or ST_ERROR */
    int status;
    long err_cseq;
    const char *error;
};

/* Feed in[0..len) as a socket would deliver it: pieces end at the offsets
 * given by step (> 0: every step bytes) or split (step == 0: [0,split),
 * [split,len)). Unconsumed bytes are offered again with the next piece, as a
 * connection's input buffer does. hname names the header to look up. */
static struct run drive(const struct rtsp_request_limits *lim, const uint8_t *in, size_t len, size_t step,
                        size_t split, const char *hname)
{
    struct rtsp_request r;
    cr_assert_eq(rtsp_request_init(&r, lim), ST_OK);
    struct run out;
    memset(&out, 0, sizeof(out));
    out.final_rc = ST_AGAIN;
    size_t off = 0, avail = 0;
    for (;;) {
        if (avail == len && off == len)
            break;
        size_t next = step ? (avail + step < len ? avail + step : len) : (avail < split ? split : len);
        if (off == avail)
            avail = next; /* everything offered was consumed: more bytes arrive */
        size_t used = (size_t)-1;
        int rc = rtsp_request_parse(&r, in + off, avail - off, &used);
        cr_assert_leq(used, avail - off);
        off += used;
        if (rc == ST_AGAIN) {
            cr_assert_eq(off, avail, "ST_AGAIN must consume everything offered");
            if (avail == len)
                break;
            continue;
        }
        if (rc == ST_ERROR) {
            cr_assert_not_null(r.error);
            out.final_rc = ST_ERROR;
            out.status = r.status;
            out.error = r.error;
            out.err_cseq = r.cseq;
            /* the state sticks */
            size_t again = 7;
            cr_assert_eq(rtsp_request_parse(&r, in, len, &again), ST_ERROR);
            cr_assert_eq(again, 0);
            break;
        }
        cr_assert_eq(rc, ST_OK);
        cr_assert_lt(out.n, MAX_MSGS);
        struct got *g = &out.msgs[out.n++];
        g->kind = r.kind;
        if (r.kind == RTSP_REQUEST_MESSAGE) {
            snprintf(g->method, sizeof(g->method), "%s", r.method);
            snprintf(g->uri, sizeof(g->uri), "%s", r.uri);
            g->cseq = r.cseq;
            g->nheaders = r.nheaders;
            const char *v = hname ? rtsp_request_header(&r, hname) : NULL;
            snprintf(g->hvalue, sizeof(g->hvalue), "%s", v ? v : "");
            g->body_len = r.body_len;
            if (r.body) {
                cr_assert_lt(r.body_len, sizeof(g->body));
                memcpy(g->body, r.body, r.body_len);
                cr_assert_eq(r.body[r.body_len], 0, "body is NUL-terminated");
            }
            for (unsigned i = 0; i < r.nheaders; i++) {
                cr_assert_eq(strlen(r.headers[i].name), r.headers[i].name_len);
                cr_assert_eq(strlen(r.headers[i].value), r.headers[i].value_len);
            }
        } else {
            cr_assert_eq(r.kind, RTSP_REQUEST_INTERLEAVED);
            g->channel = r.channel;
            g->data_len = r.data_len;
            memcpy(g->data, r.data, r.data_len < sizeof(g->data) ? r.data_len : sizeof(g->data));
        }
        /* ST_OK repeats until the reset */
        size_t again = 7;
        cr_assert_eq(rtsp_request_parse(&r, in + off, avail - off, &again), ST_OK);
        cr_assert_eq(again, 0);
        rtsp_request_reset(&r);
    }
    rtsp_request_free(&r);
    return out;
}

static void same_run(const struct run *a, const struct run *b, const char *name, const char *how)
{
    cr_assert_eq(a->n, b->n, "%s (%s): %d messages, want %d", name, how, b->n, a->n);
    cr_assert_eq(a->final_rc, b->final_rc, "%s (%s): final rc", name, how);
    cr_assert_eq(a->status, b->status, "%s (%s): status", name, how);
    cr_assert_eq(a->err_cseq, b->err_cseq, "%s (%s): cseq at the error", name, how);
    for (int i = 0; i < a->n; i++)
        cr_assert(memcmp(&a->msgs[i], &b->msgs[i], sizeof(a->msgs[i])) == 0, "%s (%s): message %d differs", name,
                  how, i);
}

/* Run whole, byte by byte and split at every offset; all must agree. */
static struct run drive_all(const struct rtsp_request_limits *lim, const uint8_t *in, size_t len, const char *hname,
                            const char *name)
{
    struct run whole = drive(lim, in, len, 0, len, hname);
    struct run bytes = drive(lim, in, len, 1, 0, hname);
    same_run(&whole, &bytes, name, "byte by byte");
    for (size_t cut = 0; cut <= len; cut++) {
        struct run s = drive(lim, in, len, 0, cut, hname);
        char how[32];
        snprintf(how, sizeof(how), "split at %zu", cut);
        same_run(&whole, &s, name, how);
    }
    return whole;
}

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* ---- requests as real clients send them ---- */

static const char FFMPEG_OPTIONS[] = "OPTIONS rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\n"
                                     "CSeq: 1\r\n"
                                     "User-Agent: Lavf59.27.100\r\n"
                                     "\r\n";

static const char FFMPEG_SETUP[] = "SETUP rtsp://127.0.0.1:8554/live/cam/trackID=0 RTSP/1.0\r\n"
                                   "Transport: RTP/AVP/UDP;unicast;client_port=31180-31181\r\n"
                                   "CSeq: 3\r\n"
                                   "User-Agent: Lavf59.27.100\r\n"
                                   "\r\n";

static const char GST_DESCRIBE[] = "DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\n"
                                   "CSeq: 2\r\n"
                                   "User-Agent: GStreamer/1.22.0\r\n"
                                   "Accept: application/sdp\r\n"
                                   "Date: Sat, 28 Nov 2026 04:00:00 GMT\r\n"
                                   "\r\n";

Test(rtsp_request, ffmpeg_options)
{
    struct run r = drive_all(NULL, S(FFMPEG_OPTIONS), "user-agent", "ffmpeg OPTIONS");
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.final_rc, ST_AGAIN);
    cr_assert_eq(r.msgs[0].kind, RTSP_REQUEST_MESSAGE);
    cr_assert_str_eq(r.msgs[0].method, "OPTIONS");
    cr_assert_str_eq(r.msgs[0].uri, "rtsp://127.0.0.1:8554/live/cam");
    cr_assert_eq(r.msgs[0].cseq, 1);
    cr_assert_eq(r.msgs[0].nheaders, 2);
    cr_assert_str_eq(r.msgs[0].hvalue, "Lavf59.27.100");
    cr_assert_eq(r.msgs[0].body_len, 0);
}

Test(rtsp_request, gst_describe_and_ffmpeg_setup_pipelined)
{
    char in[1024];
    snprintf(in, sizeof(in), "%s%s", GST_DESCRIBE, FFMPEG_SETUP);
    struct run r = drive_all(NULL, (const uint8_t *)in, strlen(in), "TRANSPORT", "pipelined");
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.msgs[0].method, "DESCRIBE");
    cr_assert_eq(r.msgs[0].cseq, 2);
    cr_assert_eq(r.msgs[0].nheaders, 4);
    cr_assert_str_eq(r.msgs[0].hvalue, "");
    cr_assert_str_eq(r.msgs[1].method, "SETUP");
    cr_assert_str_eq(r.msgs[1].uri, "rtsp://127.0.0.1:8554/live/cam/trackID=0");
    cr_assert_eq(r.msgs[1].cseq, 3);
    cr_assert_str_eq(r.msgs[1].hvalue, "RTP/AVP/UDP;unicast;client_port=31180-31181");
}

Test(rtsp_request, body_interleaved_and_requests_mixed)
{
    /* What a TCP-interleaved client sends while playing: RTCP receiver
     * reports on odd channels between keep-alives; a zero-length frame too. */
    static const uint8_t in[] = "$\x01\x00\x08\x81\xc9\x00\x01\x12\x34\x56\x78"
                                "GET_PARAMETER rtsp://h/live/cam RTSP/1.0\r\n"
                                "CSeq: 7\r\n"
                                "Session: 1A2B3C\r\n"
                                "Content-Type: text/parameters\r\n"
                                "Content-Length: 9\r\n"
                                "\r\n"
                                "position\n"
                                "$\x03\x00\x00"
                                "\r\n"
                                "TEARDOWN rtsp://h/live/cam RTSP/1.0\nCSeq:8\nSession:  1A2B3C  \n\n";
    struct run r = drive_all(NULL, in, sizeof(in) - 1, "session", "mixed");
    cr_assert_eq(r.final_rc, ST_AGAIN);
    cr_assert_eq(r.n, 4);
    cr_assert_eq(r.msgs[0].kind, RTSP_REQUEST_INTERLEAVED);
    cr_assert_eq(r.msgs[0].channel, 1);
    cr_assert_eq(r.msgs[0].data_len, 8);
    cr_assert_eq(memcmp(r.msgs[0].data, "\x81\xc9\x00\x01\x12\x34\x56\x78", 8), 0);
    cr_assert_str_eq(r.msgs[1].method, "GET_PARAMETER");
    cr_assert_eq(r.msgs[1].body_len, 9);
    cr_assert_str_eq(r.msgs[1].body, "position\n");
    cr_assert_str_eq(r.msgs[1].hvalue, "1A2B3C");
    cr_assert_eq(r.msgs[2].kind, RTSP_REQUEST_INTERLEAVED);
    cr_assert_eq(r.msgs[2].channel, 3);
    cr_assert_eq(r.msgs[2].data_len, 0);
    cr_assert_str_eq(r.msgs[3].method, "TEARDOWN");
    cr_assert_eq(r.msgs[3].cseq, 8);
    cr_assert_str_eq(r.msgs[3].hvalue, "1A2B3C", "value trimmed both sides");
}

Test(rtsp_request, leading_empty_lines_and_bare_lf)
{
    struct run r = drive_all(NULL, S("\r\n\r\n\nPLAY * RTSP/1.0\nCSeq: 0\nRange: npt=0.000-\n\n"), "range", "lf");
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.msgs[0].uri, "*");
    cr_assert_eq(r.msgs[0].cseq, 0);
    cr_assert_str_eq(r.msgs[0].hvalue, "npt=0.000-");
}

Test(rtsp_request, every_prefix_is_incomplete)
{
    const char *good[] = {FFMPEG_OPTIONS, FFMPEG_SETUP, GST_DESCRIBE,
                          "SET_PARAMETER * RTSP/1.0\r\nCSeq: 9\r\nContent-Length: 3\r\n\r\nabc"};
    for (size_t g = 0; g < sizeof(good) / sizeof(good[0]); g++) {
        size_t len = strlen(good[g]);
        for (size_t n = 0; n < len; n++) {
            struct run r = drive(NULL, (const uint8_t *)good[g], n, 0, n, NULL);
            cr_assert_eq(r.n, 0, "case %zu truncated at %zu gave a message", g, n);
            cr_assert_eq(r.final_rc, ST_AGAIN, "case %zu truncated at %zu: %s", g, n, r.error ? r.error : "-");
        }
        struct run r = drive(NULL, (const uint8_t *)good[g], len, 0, len, NULL);
        cr_assert_eq(r.n, 1);
    }
    /* a frame header cut short */
    struct run r = drive_all(NULL, S("$\x00\x01"), NULL, "frame head");
    cr_assert_eq(r.n, 0);
    cr_assert_eq(r.final_rc, ST_AGAIN);
    r = drive_all(NULL, S("$\x00\x00\x05" "abcd"), NULL, "frame body");
    cr_assert_eq(r.n, 0);
    cr_assert_eq(r.final_rc, ST_AGAIN);
}

/* ---- rejected input ---- */

struct bad {
    const char *name;
    const uint8_t *in;
    size_t len;
    int status;
    long cseq; /* CSeq known at the error, -1 if none */
    int before; /* good messages before the error */
};

#define B(name, lit, status, cseq, before) {name, (const uint8_t *)(lit), sizeof(lit) - 1, status, cseq, before}

static const struct bad BAD[] = {
    B("missing CSeq", "OPTIONS * RTSP/1.0\r\nUser-Agent: x\r\n\r\n", 400, -1, 0),
    B("duplicate CSeq", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nCSeq: 2\r\n\r\n", 400, 1, 0),
    B("CSeq not a number", "OPTIONS * RTSP/1.0\r\nCSeq: one\r\n\r\n", 400, -1, 0),
    B("CSeq negative", "OPTIONS * RTSP/1.0\r\nCSeq: -1\r\n\r\n", 400, -1, 0),
    B("CSeq ten digits", "OPTIONS * RTSP/1.0\r\nCSeq: 1234567890\r\n\r\n", 400, -1, 0),
    B("CSeq empty", "OPTIONS * RTSP/1.0\r\nCSeq:\r\n\r\n", 400, -1, 0),
    B("RTSP/2.0", "OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n", 505, -1, 0),
    B("HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, -1, 0),
    B("version garbage", "OPTIONS * RTSP/1.x\r\nCSeq: 1\r\n\r\n", 400, -1, 0),
    B("no version", "OPTIONS *\r\nCSeq: 1\r\n\r\n", 400, -1, 0),
    B("empty uri", "OPTIONS  RTSP/1.0\r\n", 400, -1, 0),
    B("extra field", "OPTIONS * RTSP/1.0 x\r\n", 400, -1, 0),
    B("leading space", " OPTIONS * RTSP/1.0\r\n", 400, -1, 0),
    B("bad method char", "OPT(IONS * RTSP/1.0\r\n", 400, -1, 0),
    B("tab in request line", "OPTIONS\t* RTSP/1.0\r\n", 400, -1, 0),
    B("NUL in line", "OPTIONS *\0 RTSP/1.0\r\n", 400, -1, 0),
    B("NUL in header", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: a\0b\r\n\r\n", 400, 1, 0),
    B("control char in value", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: a\x01\r\n\r\n", 400, 1, 0),
    B("lone CR in value", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: a\rb\r\n\r\n", 400, 1, 0),
    B("obs-fold", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: a\r\n b\r\n\r\n", 400, 1, 0),
    B("no colon", "OPTIONS * RTSP/1.0\r\nCSeq: 5\r\nBad Header\r\n\r\n", 400, 5, 0),
    B("space before colon", "OPTIONS * RTSP/1.0\r\nCSeq : 1\r\n\r\n", 400, -1, 0),
    B("empty name", "OPTIONS * RTSP/1.0\r\n: x\r\n\r\n", 400, -1, 0),
    B("bad Content-Length", "SET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 1x\r\n\r\n", 400, 1, 0),
    B("duplicate Content-Length",
      "SET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400, 1, 0),
    B("huge Content-Length", "SET_PARAMETER * RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 99999999999\r\n\r\n", 413, 2,
      0),
    B("body over max_body", "SET_PARAMETER * RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 4097\r\n\r\n", 413, 2, 0),
    B("frame over max_interleaved", "$\x01\x20\x01", 400, -1, 0),
    B("too many empty lines", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n", 400, -1, 0),
    B("binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, -1, 0),
    B("good then garbage", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n\x80\x81\x82\r\n", 400, -1, 1),
    B("frame then RTSP/2.0", "$\x00\x00\x01zDESCRIBE * RTSP/2.0\r\nCSeq: 4\r\n\r\n", 505, -1, 1),
};

Test(rtsp_request, rejected)
{
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        const struct bad *b = &BAD[i];
        struct run r = drive_all(NULL, b->in, b->len, NULL, b->name);
        cr_assert_eq(r.final_rc, ST_ERROR, "%s: accepted", b->name);
        cr_assert_eq(r.status, b->status, "%s: status %d want %d (%s)", b->name, r.status, b->status, r.error);
        cr_assert_eq(r.err_cseq, b->cseq, "%s: cseq %ld want %ld", b->name, r.err_cseq, b->cseq);
        cr_assert_eq(r.n, b->before, "%s: %d messages before the error", b->name, r.n);
    }
}

/* Every byte of a long garbage stream without a line end stops at the cap,
 * never later: bounded memory whatever the input. */
Test(rtsp_request, oversized_request_line_and_header_section)
{
    static uint8_t junk[20000];
    memset(junk, 'A', sizeof(junk));
    struct rtsp_request r;
    cr_assert_eq(rtsp_request_init(&r, NULL), ST_OK);
    size_t used;
    cr_assert_eq(rtsp_request_parse(&r, junk, sizeof(junk), &used), ST_ERROR);
    cr_assert_eq(r.status, 414);
    cr_assert_leq(used, RTSP_REQUEST_DEFAULT_MAX_LINE + 2);
    rtsp_request_free(&r);

    /* a big header section: 400 once past max_header_bytes */
    static char big[12000];
    int n = snprintf(big, sizeof(big), "DESCRIBE rtsp://h/live/a RTSP/1.0\r\nCSeq: 3\r\nX-Pad: ");
    memset(big + n, 'b', sizeof(big) - (size_t)n - 5);
    memcpy(big + sizeof(big) - 5, "\r\n\r\n", 4);
    cr_assert_eq(rtsp_request_init(&r, NULL), ST_OK);
    cr_assert_eq(rtsp_request_parse(&r, (const uint8_t *)big, sizeof(big) - 1, &used), ST_ERROR);
    cr_assert_eq(r.status, 400);
    cr_assert_eq(r.cseq, 3, "CSeq known before the overflow, to answer with");
    cr_assert_str_eq(r.error, "header section too large");
    rtsp_request_free(&r);
}

/* Limits exactly at and one past each bound. */
Test(rtsp_request, limits_at_the_bounds)
{
    struct rtsp_request_limits lim = {.max_line = 30, .max_header_bytes = 40, .max_headers = 3, .max_body = 5,
                                      .max_interleaved = 4};
    /* request line of exactly 30 bytes: "OPTIONS " (8) + uri (14) + " RTSP/1.0" (9) = 31 -> uri of 13 */
    const char *line30 = "OPTIONS rtsp://h/abcd RTSP/1.0\r\n";
    cr_assert_eq(strlen(line30) - 2, 30);
    char in[256];
    /* header section: "CSeq: 1\r\n" (9) + "A: " 24 digits "\r\n" (29) + "\r\n" (2) = 40 */
    snprintf(in, sizeof(in), "%sCSeq: 1\r\nA: 123456789012345678901234\r\n\r\n", line30);
    struct run r = drive_all(&lim, (const uint8_t *)in, strlen(in), "a", "at max");
    cr_assert_eq(r.n, 1, "%s", r.error ? r.error : "-");
    snprintf(in, sizeof(in), "%sCSeq: 1\r\nA: 1234567890123456789012345\r\n\r\n", line30);
    r = drive_all(&lim, (const uint8_t *)in, strlen(in), "a", "header one past");
    cr_assert_eq(r.final_rc, ST_ERROR);
    cr_assert_eq(r.status, 400);
    r = drive_all(&lim, S("OPTIONS rtsp://h/abcde RTSP/1.0\r\nCSeq: 1\r\n\r\n"), NULL, "line one past");
    cr_assert_eq(r.status, 414);
    /* header count */
    r = drive_all(&lim, S("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nA: 1\r\nB: 2\r\n\r\n"), NULL, "3 headers");
    cr_assert_eq(r.n, 1);
    r = drive_all(&lim, S("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), NULL, "4 headers");
    cr_assert_eq(r.status, 400);
    /* body */
    r = drive_all(&lim, S("SET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 5\r\n\r\nabcde"), NULL, "body 5");
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.msgs[0].body, "abcde");
    r = drive_all(&lim, S("SET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 6\r\n\r\nabcdef"), NULL, "body 6");
    cr_assert_eq(r.status, 413);
    /* interleaved payload */
    r = drive_all(&lim, S("$\x01\x00\x04" "abcd"), NULL, "frame 4");
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.msgs[0].data_len, 4);
    r = drive_all(&lim, S("$\x01\x00\x05" "abcde"), NULL, "frame 5");
    cr_assert_eq(r.status, 400);
}

/* A connection that keeps sending good messages reuses the same block: no
 * growth, and results never leak from one message into the next. */
Test(rtsp_request, many_messages_reuse_the_block)
{
    struct rtsp_request r;
    cr_assert_eq(rtsp_request_init(&r, NULL), ST_OK);
    uint8_t *block = r.mem;
    for (int i = 0; i < 1000; i++) {
        char in[128];
        int n = i % 2 ? snprintf(in, sizeof(in), "GET_PARAMETER * RTSP/1.0\r\nCSeq: %d\r\n\r\n", i)
                      : snprintf(in, sizeof(in), "$%c%c%cxy", 1, 0, 2);
        size_t used;
        cr_assert_eq(rtsp_request_parse(&r, (const uint8_t *)in, (size_t)n, &used), ST_OK);
        cr_assert_eq(used, (size_t)n);
        if (i % 2) {
            cr_assert_eq(r.cseq, i);
            cr_assert_null(r.body);
        } else {
            cr_assert_eq(r.kind, RTSP_REQUEST_INTERLEAVED);
            cr_assert_eq(r.cseq, -1);
        }
        rtsp_request_reset(&r);
    }
    cr_assert_eq(r.mem, block);
    rtsp_request_free(&r);
    rtsp_request_free(&r); /* idempotent */
}

/* ---- helpers ---- */

Test(rtsp_request, transport)
{
    struct rtsp_transport t;
    cr_assert_eq(rtsp_request_transport("RTP/AVP;unicast;client_port=5000-5001", &t), ST_OK);
    cr_assert_eq(t.lower, RTSP_LOWER_UDP);
    cr_assert_eq(t.client_port[0], 5000);
    cr_assert_eq(t.client_port[1], 5001);
    cr_assert_eq(rtsp_request_transport("RTP/AVP/UDP;unicast;client_port=31180-31181", &t), ST_OK);
    cr_assert_eq(t.client_port[0], 31180);
    cr_assert_eq(rtsp_request_transport("RTP/AVP;unicast;client_port=6000", &t), ST_OK);
    cr_assert_eq(t.client_port[1], 6001, "RTCP port defaults to RTP + 1");
    cr_assert_eq(rtsp_request_transport("RTP/AVP/TCP;unicast;interleaved=2-3", &t), ST_OK);
    cr_assert_eq(t.lower, RTSP_LOWER_TCP);
    cr_assert(t.has_interleaved);
    cr_assert_eq(t.interleaved[0], 2);
    cr_assert_eq(t.interleaved[1], 3);
    cr_assert_eq(rtsp_request_transport("RTP/AVP/TCP;unicast", &t), ST_OK);
    cr_assert_not(t.has_interleaved);
    cr_assert_eq(rtsp_request_transport("rtp/avp/tcp;interleaved=4;mode=\"PLAY\"", &t), ST_OK);
    cr_assert_eq(t.interleaved[1], 5);
    /* GStreamer offers several; we take the first we serve */
    cr_assert_eq(rtsp_request_transport("RTP/SAVP;unicast;client_port=1-2, RTP/AVP;multicast;port=5-6,"
                                        "RTP/AVP;unicast;client_port=7000-7001;ssrc=1234",
                                        &t),
                 ST_OK);
    cr_assert_eq(t.client_port[0], 7000);
    /* nothing we serve: 461 */
    cr_assert_eq(rtsp_request_transport("RTP/AVP;multicast", &t), ST_DONE);
    cr_assert_eq(rtsp_request_transport("RAW/RAW/UDP;unicast;client_port=1-2", &t), ST_DONE);
    cr_assert_eq(rtsp_request_transport("RTP/AVP;unicast", &t), ST_DONE, "UDP without client_port");
    cr_assert_eq(rtsp_request_transport("RTP/AVP/TCP;interleaved=0-1;mode=record", &t), ST_DONE);
    cr_assert_eq(rtsp_request_transport("", &t), ST_DONE);
    /* ours but malformed: 400 */
    cr_assert_eq(rtsp_request_transport("RTP/AVP;unicast;client_port=abc", &t), ST_ERROR);
    cr_assert_eq(rtsp_request_transport("RTP/AVP;unicast;client_port=70000-70001", &t), ST_ERROR);
    cr_assert_eq(rtsp_request_transport("RTP/AVP;unicast;client_port=0-1", &t), ST_ERROR);
    cr_assert_eq(rtsp_request_transport("RTP/AVP;unicast;client_port=65535", &t), ST_ERROR);
    cr_assert_eq(rtsp_request_transport("RTP/AVP/TCP;interleaved=256-257", &t), ST_ERROR);
    cr_assert_eq(rtsp_request_transport("RTP/AVP/TCP;interleaved=1-", &t), ST_ERROR);
    /* a malformed spec does not hide a good one after it */
    cr_assert_eq(rtsp_request_transport("RTP/AVP;client_port=x,RTP/AVP/TCP;interleaved=0-1", &t), ST_OK);
    cr_assert_eq(t.lower, RTSP_LOWER_TCP);
}

Test(rtsp_request, uri_path)
{
    char out[64];
    cr_assert_eq(rtsp_request_uri_path("rtsp://127.0.0.1:8554/live/cam", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "live/cam");
    cr_assert_eq(rtsp_request_uri_path("rtsp://[::1]:554/live/cam/trackID=1?token=x", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "live/cam/trackID=1");
    cr_assert_eq(rtsp_request_uri_path("RTSP://host/live/cam/", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "live/cam", "trailing slash of a Content-Base dropped");
    cr_assert_eq(rtsp_request_uri_path("/live/cam", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "live/cam");
    cr_assert_eq(rtsp_request_uri_path("rtsp://host", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "");
    cr_assert_eq(rtsp_request_uri_path("*", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "");
    cr_assert_eq(rtsp_request_uri_path("http://host/live/cam", out, sizeof(out)), ST_ERROR);
    cr_assert_eq(rtsp_request_uri_path("live/cam", out, sizeof(out)), ST_ERROR);
    cr_assert_eq(rtsp_request_uri_path("rtsp://h/0123456789", out, 10), ST_ERROR);
    cr_assert_str_eq(out, "");
    cr_assert_eq(rtsp_request_uri_path("rtsp://h/012345678", out, 10), ST_OK);
    cr_assert_str_eq(out, "012345678");
}

Test(rtsp_request, session_id)
{
    char out[16];
    cr_assert_eq(rtsp_request_session_id("ABC123;timeout=60", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "ABC123");
    cr_assert_eq(rtsp_request_session_id("  xyz", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "xyz");
    cr_assert_eq(rtsp_request_session_id("", out, sizeof(out)), ST_ERROR);
    cr_assert_eq(rtsp_request_session_id(";timeout=5", out, sizeof(out)), ST_ERROR);
    cr_assert_eq(rtsp_request_session_id("0123456789abcdef", out, sizeof(out)), ST_ERROR);
    cr_assert_eq(rtsp_request_session_id("0123456789abcde", out, sizeof(out)), ST_OK);
}
