/*
 * Unit tests for rtmp_client: URL parsing, and the publish state machine
 * driven by server bytes: the s2c halves of the real publisher captures
 * (nginx-rtmp 1.2.2 answering ffmpeg, OBS and rtmp2sink) and replies built
 * here with the chunk writer and the AMF0 encoder (refusals, other stream
 * ids, pings, acks, bad input). What the client sends is decoded back with
 * the chunk reader and checked message by message. Every server input runs
 * whole, one byte at a time and split at every offset.
 */
#include <criterion/criterion.h>

#include "amf/amf0.h"
#include "core/buf.h"
#include "core/status.h"
#include "rtmp/rtmp_chunk_reader.h"
#include "rtmp/rtmp_chunk_writer.h"
#include "rtmp/rtmp_client.h"
#include "rtmp/rtmp_message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#error "SC_TEST_DATA must name the tests/data directory"
#endif

#define HS 1536
#define OUT_MAX (1u << 20)
#define CHUNK 4096

/* ---- helpers ---------------------------------------------------------------- */

static uint8_t *load(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", SC_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n);
    cr_assert_not_null(p);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void client_new(struct rtmp_client *c, struct buf *out, const char *name)
{
    struct rtmp_client_config cfg = {.app = "live", .tc_url = "rtmp://127.0.0.1:1935/live", .name = name,
                                     .chunk_size = CHUNK, .max_message_size = 65536};
    cr_assert_eq(rtmp_client_init(c, &cfg), ST_OK);
    buf_init(out, OUT_MAX);
    cr_assert_eq(rtmp_client_start(c, out), ST_OK);
    cr_assert_eq(out->len, 1 + HS);
    cr_assert_eq(out->data[0], 3);
    /* Simple handshake: zero version field. */
    cr_assert_eq(out->data[5] | out->data[6] | out->data[7] | out->data[8], 0);
}

/* What a run produced: the statuses in order (ST_AGAIN runs collapsed) and
 * where READY happened. */
struct run {
    int results[8];
    int nresults;
    size_t ready_at; /* input offset consumed when READY was reported */
    int ready;
};

static void note(struct run *r, int rc)
{
    if (rc == ST_AGAIN)
        return;
    cr_assert_lt(r->nresults, 8);
    r->results[r->nresults++] = rc;
}

/* Feed in[0..len) in pieces of `step` bytes (0 = whole) or split once at
 * `split`; re-feed what a READY left unconsumed, stop at DONE/ERROR. */
static void drive(struct rtmp_client *c, struct buf *out, const uint8_t *in, size_t len, size_t step, size_t split,
                  struct run *r)
{
    memset(r, 0, sizeof(*r));
    size_t off = 0;
    while (off < len) {
        size_t end = len;
        if (step)
            end = off + step < len ? off + step : len;
        else if (split && off < split)
            end = split;
        while (off < end) {
            size_t used = 0;
            int rc = rtmp_client_feed(c, in + off, end - off, &used, out);
            cr_assert_leq(used, end - off);
            off += used;
            note(r, rc);
            if (rc == ST_OK) {
                r->ready = 1;
                r->ready_at = off;
                cr_assert_eq(c->state, RTMP_CLIENT_READY);
                continue;
            }
            if (rc == ST_AGAIN) {
                cr_assert_eq(off, end, "ST_AGAIN must consume everything");
                continue;
            }
            return; /* DONE or ERROR */
        }
    }
}

struct sent {
    uint8_t type;
    uint32_t stream_id;
    uint32_t csid;
    char name[32];  /* command name, "" for other types */
    double txn;
    char arg[64];   /* first string argument after the null, "" if none */
    double num;     /* first number argument after the null (deleteStream), or a control value */
};

/* Decode what the client wrote after C0+C1 and C2: chunk reader at 128,
 * following our own Set Chunk Size. Returns the message count. */
static size_t decode_sent(const uint8_t *p, size_t len, struct sent *msgs, size_t max)
{
    cr_assert_geq(len, 1 + HS + HS);
    p += 1 + HS + HS;
    len -= 1 + HS + HS;
    struct rtmp_chunk_reader rd;
    cr_assert_eq(rtmp_chunk_reader_init(&rd, 1u << 20, 1u << 20), ST_OK);
    size_t n = 0;
    while (len > 0) {
        struct rtmp_message m;
        size_t used = 0;
        int rc = rtmp_chunk_reader_feed(&rd, p, len, &used, &m);
        cr_assert_neq(rc, ST_ERROR, "our output does not parse: %s", rd.error);
        p += used;
        len -= used;
        if (rc == ST_AGAIN)
            break;
        cr_assert_lt(n, max);
        struct sent *s = &msgs[n++];
        memset(s, 0, sizeof(*s));
        s->type = m.type;
        s->stream_id = m.stream_id;
        s->csid = m.csid;
        if (m.type == RTMP_MSG_SET_CHUNK_SIZE || m.type == RTMP_MSG_ACK) {
            cr_assert_eq(m.length, 4);
            s->num = rd_be32(m.payload);
            if (m.type == RTMP_MSG_SET_CHUNK_SIZE)
                cr_assert_eq(rtmp_chunk_reader_set_chunk_size(&rd, rd_be32(m.payload)), ST_OK);
        } else if (m.type == RTMP_MSG_USER_CONTROL) {
            cr_assert_eq(m.length, 6);
            s->txn = rd_be16(m.payload);
            s->num = rd_be32(m.payload + 2);
        } else if (m.type == RTMP_MSG_COMMAND_AMF0) {
            struct amf_value *v = NULL;
            size_t nv = 0;
            const char *err = NULL;
            cr_assert_eq(amf0_decode_all(m.payload, m.length, 16, &v, &nv, &err), ST_OK);
            cr_assert_geq(nv, 2);
            cr_assert_eq(v[0].type, AMF_STRING);
            snprintf(s->name, sizeof(s->name), "%s", v[0].str);
            s->txn = v[1].num;
            for (size_t i = 2; i < nv; i++) {
                if (v[i].type == AMF_STRING && !s->arg[0])
                    snprintf(s->arg, sizeof(s->arg), "%s", v[i].str);
                if (v[i].type == AMF_NUMBER && s->num == 0)
                    s->num = v[i].num;
            }
            if (strcmp(s->name, "connect") == 0) {
                cr_assert_eq(v[2].type, AMF_OBJECT);
                cr_assert_str_eq(amf_value_get_string(&v[2], "app"), "live");
                cr_assert_str_eq(amf_value_get_string(&v[2], "type"), "nonprivate");
                cr_assert_str_eq(amf_value_get_string(&v[2], "tcUrl"), "rtmp://127.0.0.1:1935/live");
                cr_assert_not_null(amf_value_get_string(&v[2], "flashVer"));
            }
            amf_values_free(v, nv);
        }
    }
    cr_assert_eq(len, 0, "trailing partial message in our output");
    rtmp_chunk_reader_free(&rd);
    return n;
}

static void assert_publish_sequence(const struct sent *m, size_t n, uint32_t stream_id, const char *name)
{
    cr_assert_geq(n, 6);
    cr_assert_eq(m[0].type, RTMP_MSG_SET_CHUNK_SIZE);
    cr_assert_eq(m[0].num, CHUNK);
    const char *want[] = {"connect", "releaseStream", "FCPublish", "createStream", "publish"};
    const double txn[] = {1, 2, 3, 4, 5};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(m[1 + i].type, RTMP_MSG_COMMAND_AMF0, "message %d type %u", 1 + i, m[1 + i].type);
        cr_assert_str_eq(m[1 + i].name, want[i]);
        cr_assert_eq(m[1 + i].txn, txn[i]);
    }
    cr_assert_str_eq(m[2].arg, name);
    cr_assert_str_eq(m[3].arg, name);
    cr_assert_str_eq(m[5].arg, name);
    cr_assert_eq(m[5].stream_id, stream_id, "publish goes on the stream createStream returned");
    for (int i = 0; i < 5; i++)
        cr_assert_eq(m[i].stream_id, 0);
}

/* ---- URL parsing ------------------------------------------------------------- */

Test(rtmp_client, parse_url_good)
{
    struct rtmp_client_url u;
    const char *err = NULL;
    cr_assert_eq(rtmp_client_parse_url("rtmp://example.com/live/cam1", &u, &err), ST_OK);
    cr_assert_eq(u.tls, 0);
    cr_assert_str_eq(u.host, "example.com");
    cr_assert_eq(u.port, 1935);
    cr_assert_str_eq(u.app, "live");
    cr_assert_str_eq(u.name, "cam1");
    cr_assert_str_eq(u.tc_url, "rtmp://example.com/live");

    cr_assert_eq(rtmp_client_parse_url("RTMPS://a.rtmps.youtube.com/live2/abcd-efgh?x=1", &u, &err), ST_OK);
    cr_assert_eq(u.tls, 1);
    cr_assert_eq(u.port, 443);
    cr_assert_str_eq(u.app, "live2");
    cr_assert_str_eq(u.name, "abcd-efgh?x=1");

    cr_assert_eq(rtmp_client_parse_url("rtmp://[::1]:19350/app/a/b", &u, &err), ST_OK);
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 19350);
    cr_assert_str_eq(u.app, "app");
    cr_assert_str_eq(u.name, "a/b");
    cr_assert_str_eq(u.tc_url, "rtmp://[::1]:19350/app");

    cr_assert_eq(rtmp_client_parse_url("rtmp://10.0.0.1:1/x/y", &u, &err), ST_OK);
    cr_assert_eq(u.port, 1);
    cr_assert_eq(rtmp_client_parse_url("rtmp://h:65535/x/y", &u, &err), ST_OK);
    cr_assert_eq(u.port, 65535);
}

Test(rtmp_client, parse_url_bad)
{
    static const char *bad[] = {
        "",
        "http://h/live/x",
        "rtmp:/h/live/x",
        "rtmp://",
        "rtmp:///live/x",
        "rtmp://h",
        "rtmp://h/",
        "rtmp://h/live",
        "rtmp://h/live/",
        "rtmp://h//x",
        "rtmp://h:0/live/x",
        "rtmp://h:65536/live/x",
        "rtmp://h:99999999999999999999/live/x",
        "rtmp://h:/live/x",
        "rtmp://h:12a/live/x",
        "rtmp://::1/live/x",
        "rtmp://[::1/live/x",
        "rtmp://[::1]x/live/x",
        "rtmp://user:pw@h/live/x",
        "rtmp://h/live/x y",
        "rtmp://h/live/x\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rtmp_client_url u;
        const char *err = NULL;
        cr_assert_eq(rtmp_client_parse_url(bad[i], &u, &err), ST_ERROR, "accepted %s", bad[i]);
        cr_assert_not_null(err);
    }
    /* Oversized parts. */
    char big[4096];
    memset(big, 'a', sizeof(big));
    memcpy(big, "rtmp://", 7);
    big[sizeof(big) - 1] = '\0';
    struct rtmp_client_url u;
    const char *err = NULL;
    cr_assert_eq(rtmp_client_parse_url(big, &u, &err), ST_ERROR);
    snprintf(big, sizeof(big), "rtmp://h/live/%0*d", 600, 0);
    cr_assert_eq(rtmp_client_parse_url(big, &u, &err), ST_ERROR);
}

/* ---- real captures ---------------------------------------------------------- */

static void capture_case(const char *file, size_t step, size_t split)
{
    size_t len;
    uint8_t *in = load(file, &len);
    struct rtmp_client c;
    struct buf out;
    client_new(&c, &out, "bars");
    struct run r;
    drive(&c, &out, in, len, step, split, &r);
    /* READY on Publish.Start, then DONE on the Unpublish.Success that
     * closes every capture. */
    cr_assert_eq(r.nresults, 2, "%s step %zu split %zu: %d results (%s)", file, step, split, r.nresults, c.error);
    cr_assert_eq(r.results[0], ST_OK);
    cr_assert_eq(r.results[1], ST_DONE);
    cr_assert(r.ready_at < len);
    cr_assert_eq(c.state, RTMP_CLIENT_FAILED);
    cr_assert(strstr(c.error, "Unpublish.Success"), "%s", c.error);
    cr_assert_eq(c.stream_id, 1);
    cr_assert_eq(c.ack_window, 5000000);
    cr_assert_eq(c.peer_bandwidth, 5000000);
    cr_assert_eq(c.reader.chunk_size, 4096);
    /* C2 echoes S1. */
    cr_assert_eq(memcmp(out.data + 1 + HS, in + 1, HS), 0);
    struct sent m[16];
    size_t n = decode_sent(out.data, out.len, m, 16);
    cr_assert_eq(n, 6);
    assert_publish_sequence(m, n, 1, "bars");
    /* Nothing more is accepted. */
    size_t used = 1;
    cr_assert_eq(rtmp_client_feed(&c, in, 1, &used, &out), ST_ERROR);
    cr_assert_eq(used, 0);
    rtmp_client_free(&c);
    buf_free(&out);
    free(in);
}

/* rtmp2sink numbered its createStream 2, so its capture answers a call we
 * never make: see foreign_transaction_ids. */
static const char *captures[] = {"publish-ffmpeg.s2c.bin", "publish-obs.s2c.bin", "publish-gst-rtmpsink.s2c.bin"};

Test(rtmp_client, captures_whole_and_bytewise)
{
    for (size_t i = 0; i < sizeof(captures) / sizeof(captures[0]); i++) {
        capture_case(captures[i], 0, 0);
        capture_case(captures[i], 1, 0);
        capture_case(captures[i], 7, 0);
    }
}

Test(rtmp_client, capture_split_everywhere)
{
    size_t len;
    uint8_t *in = load("publish-ffmpeg.s2c.bin", &len);
    free(in);
    for (size_t split = 1; split < len; split++)
        capture_case("publish-ffmpeg.s2c.bin", 0, split);
}

Test(rtmp_client, capture_truncated_never_ready)
{
    size_t len;
    uint8_t *in = load("publish-obs.s2c.bin", &len);
    /* Publish.Start is the 6th message: any prefix that ends before it
     * completes leaves the client waiting, without error. */
    struct rtmp_client c;
    struct buf out;
    client_new(&c, &out, "bars");
    struct run full;
    drive(&c, &out, in, len, 0, 0, &full);
    size_t ready_at = full.ready_at;
    rtmp_client_free(&c);
    buf_free(&out);
    for (size_t cut = 0; cut < ready_at; cut++) {
        client_new(&c, &out, "bars");
        struct run r;
        drive(&c, &out, in, cut, 0, 0, &r);
        cr_assert_eq(r.nresults, 0, "cut %zu", cut);
        cr_assert_neq(c.state, RTMP_CLIENT_READY);
        cr_assert_neq(c.state, RTMP_CLIENT_FAILED);
        rtmp_client_free(&c);
        buf_free(&out);
    }
    free(in);
}

Test(rtmp_client, foreign_transaction_ids)
{
    /* The rtmp2sink capture answers createStream as transaction 2 (our
     * releaseStream): not ours to take, so the client keeps waiting (the
     * relay's setup timeout ends it) instead of publishing on a guess. */
    size_t len;
    uint8_t *in = load("publish-gst-rtmp2sink.s2c.bin", &len);
    for (size_t step = 0; step < 2; step++) {
        struct rtmp_client c;
        struct buf out;
        client_new(&c, &out, "bars");
        struct run r;
        drive(&c, &out, in, len, step, 0, &r);
        cr_assert_eq(r.nresults, 0);
        cr_assert_eq(c.state, RTMP_CLIENT_CREATE_STREAM);
        struct sent m[16];
        cr_assert_eq(decode_sent(out.data, out.len, m, 16), 5);
        rtmp_client_free(&c);
        buf_free(&out);
    }
    free(in);
}

/* ---- built server replies --------------------------------------------------- */

static void srv_msg(struct buf *b, uint32_t csid, uint8_t type, uint32_t sid, const struct buf *body, uint32_t chunk)
{
    struct rtmp_message_header h = {.csid = csid, .type = type, .timestamp = 0, .stream_id = sid};
    cr_assert_eq(rtmp_chunk_writer_append(b, &h, body->data, (uint32_t)body->len, chunk), ST_OK);
}

static void srv_u32(struct buf *b, uint8_t type, uint32_t v)
{
    struct buf body;
    buf_init(&body, 16);
    buf_append_be32(&body, v);
    srv_msg(b, 2, type, 0, &body, 128);
    buf_free(&body);
}

static void srv_handshake(struct buf *b)
{
    buf_append_u8(b, 3);
    for (int i = 0; i < 2 * HS; i++)
        buf_append_u8(b, (uint8_t)(i * 7));
}

/* _result / _error (txn, null, arg) where arg is a number, a status object
 * (code/level/description) or nothing. */
static void srv_reply(struct buf *b, const char *name, double txn, int with_num, double num, const char *level,
                      const char *code, const char *desc)
{
    struct buf body;
    buf_init(&body, 4096);
    amf0_write_cstring(&body, name);
    amf0_write_number(&body, txn);
    amf0_write_null(&body);
    if (with_num)
        amf0_write_number(&body, num);
    if (code) {
        amf0_write_object_start(&body);
        amf0_write_key(&body, "level");
        amf0_write_cstring(&body, level);
        amf0_write_key(&body, "code");
        amf0_write_cstring(&body, code);
        amf0_write_key(&body, "description");
        amf0_write_cstring(&body, desc);
        amf0_write_object_end(&body);
    }
    srv_msg(b, strcmp(name, "onStatus") == 0 ? 5 : 3, RTMP_MSG_COMMAND_AMF0, strcmp(name, "onStatus") == 0 ? 1 : 0,
            &body, 128);
    buf_free(&body);
}

/* The usual successful exchange up to Publish.Start (createStream -> id). */
static void srv_success(struct buf *b, double id)
{
    srv_handshake(b);
    srv_reply(b, "_result", 1, 0, 0, "status", "NetConnection.Connect.Success", "ok");
    srv_reply(b, "_result", 2, 0, 0, NULL, NULL, NULL); /* SRS answers releaseStream */
    srv_reply(b, "onFCPublish", 0, 0, 0, "status", "NetStream.Publish.Start", "FCPublish");
    srv_reply(b, "_result", 4, 1, id, NULL, NULL, NULL);
    srv_reply(b, "onStatus", 0, 0, 0, "status", "NetStream.Publish.Start", "go");
}

/* Run `in` whole, byte by byte and split at every offset; each run must end
 * with the same result list; returns the last client (caller frees). */
static void run_all_ways(const struct buf *in, const int *want, int nwant, const char *error_has,
                         void (*check)(struct rtmp_client *c, struct buf *out))
{
    for (size_t mode = 0; mode < in->len + 2; mode++) {
        size_t step = mode == 0 ? 0 : mode == 1 ? 1 : 0;
        size_t split = mode >= 2 ? mode - 1 : 0;
        struct rtmp_client c;
        struct buf out;
        client_new(&c, &out, "cam");
        struct run r;
        drive(&c, &out, in->data, in->len, step, split, &r);
        cr_assert_eq(r.nresults, nwant, "mode %zu: %d results, error '%s'", mode, r.nresults, c.error);
        for (int i = 0; i < nwant; i++)
            cr_assert_eq(r.results[i], want[i], "mode %zu result %d", mode, i);
        if (error_has)
            cr_assert(strstr(c.error, error_has), "mode %zu: error '%s' lacks '%s'", mode, c.error, error_has);
        if (check)
            check(&c, &out);
        rtmp_client_free(&c);
        buf_free(&out);
    }
}

static void check_stream7(struct rtmp_client *c, struct buf *out)
{
    cr_assert_eq(c->stream_id, 7);
    struct sent m[16];
    size_t n = decode_sent(out->data, out->len, m, 16);
    cr_assert_eq(n, 6);
    assert_publish_sequence(m, n, 7, "cam");
}

Test(rtmp_client, other_stream_id)
{
    struct buf in;
    buf_init(&in, OUT_MAX);
    srv_success(&in, 7);
    int want[] = {ST_OK};
    run_all_ways(&in, want, 1, NULL, check_stream7);
    buf_free(&in);
}

Test(rtmp_client, connect_refused)
{
    struct buf in;
    buf_init(&in, OUT_MAX);
    srv_handshake(&in);
    srv_reply(&in, "_error", 1, 0, 0, "error", "NetConnection.Connect.Rejected", "bad app");
    int want[] = {ST_ERROR};
    run_all_ways(&in, want, 1, "bad app", NULL);
    buf_free(&in);
}

Test(rtmp_client, publish_refused)
{
    struct buf in;
    buf_init(&in, OUT_MAX);
    srv_handshake(&in);
    srv_reply(&in, "_result", 1, 0, 0, "status", "NetConnection.Connect.Success", "ok");
    srv_reply(&in, "_error", 3, 0, 0, "error", "x", "FCPublish not known"); /* ignored */
    srv_reply(&in, "_result", 4, 1, 1, NULL, NULL, NULL);
    srv_reply(&in, "onStatus", 0, 0, 0, "error", "NetStream.Publish.BadName", "Already publishing");
    int want[] = {ST_ERROR};
    run_all_ways(&in, want, 1, "NetStream.Publish.BadName: Already publishing", NULL);
    buf_free(&in);
}

Test(rtmp_client, create_stream_refused_and_bad_id)
{
    struct buf in;
    buf_init(&in, OUT_MAX);
    srv_handshake(&in);
    srv_reply(&in, "_result", 1, 0, 0, "status", "NetConnection.Connect.Success", "ok");
    srv_reply(&in, "_error", 4, 0, 0, "error", "NetConnection.Call.Failed", "no streams");
    int want[] = {ST_ERROR};
    run_all_ways(&in, want, 1, "createStream refused", NULL);
    buf_free(&in);

    double ids[] = {0, -1, 1.5, 4294967296.0};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        buf_init(&in, OUT_MAX);
        srv_handshake(&in);
        srv_reply(&in, "_result", 1, 0, 0, "status", "NetConnection.Connect.Success", "ok");
        srv_reply(&in, "_result", 4, 1, ids[i], NULL, NULL, NULL);
        struct rtmp_client c;
        struct buf out;
        client_new(&c, &out, "cam");
        struct run r;
        drive(&c, &out, in.data, in.len, 0, 0, &r);
        cr_assert_eq(r.nresults, 1);
        cr_assert_eq(r.results[0], ST_ERROR, "id %g accepted", ids[i]);
        rtmp_client_free(&c);
        buf_free(&out);
        buf_free(&in);
    }
}

static void check_pong_and_ack(struct rtmp_client *c, struct buf *out)
{
    struct sent m[32];
    size_t n = decode_sent(out->data, out->len, m, 32);
    int pongs = 0, acks = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].type == RTMP_MSG_USER_CONTROL) {
            cr_assert_eq(m[i].txn, RTMP_UC_PING_RESPONSE);
            cr_assert_eq(m[i].num, 0xdeadbeef);
            pongs++;
        }
        if (m[i].type == RTMP_MSG_ACK) {
            cr_assert_geq(m[i].num, 100);
            acks++;
        }
    }
    cr_assert_eq(pongs, 1);
    cr_assert_geq(acks, 1);
    cr_assert_eq(c->state, RTMP_CLIENT_READY);
}

Test(rtmp_client, ping_ack_chunk_size_after_ready)
{
    struct buf in;
    buf_init(&in, OUT_MAX);
    srv_handshake(&in);
    srv_u32(&in, RTMP_MSG_WINDOW_ACK_SIZE, 100);
    srv_u32(&in, RTMP_MSG_SET_PEER_BANDWIDTH, 100);
    srv_u32(&in, RTMP_MSG_SET_CHUNK_SIZE, 60000); /* SRS's */
    srv_reply(&in, "_result", 1, 0, 0, "status", "NetConnection.Connect.Success", "ok");
    srv_reply(&in, "_result", 4, 1, 1, NULL, NULL, NULL);
    srv_reply(&in, "onStatus", 0, 0, 0, "status", "NetStream.Publish.Start", "go");
    /* After READY: a ping, a harmless status, data and an unknown command. */
    struct buf body;
    buf_init(&body, 64);
    buf_append_be16(&body, RTMP_UC_PING_REQUEST);
    buf_append_be32(&body, 0xdeadbeef);
    srv_msg(&in, 2, RTMP_MSG_USER_CONTROL, 0, &body, 128);
    buf_free(&body);
    srv_reply(&in, "onStatus", 0, 0, 0, "status", "NetStream.Data.Start", "");
    srv_reply(&in, "onBWDone", 0, 0, 0, NULL, NULL, NULL);
    buf_init(&body, 64);
    amf0_write_cstring(&body, "|RtmpSampleAccess");
    amf0_write_bool(&body, 1);
    srv_msg(&in, 5, RTMP_MSG_DATA_AMF0, 1, &body, 128);
    buf_free(&body);
    int want[] = {ST_OK};
    run_all_ways(&in, want, 1, NULL, check_pong_and_ack);
    buf_free(&in);
}

Test(rtmp_client, error_status_after_ready)
{
    struct buf in;
    buf_init(&in, OUT_MAX);
    srv_success(&in, 1);
    srv_reply(&in, "onStatus", 0, 0, 0, "error", "NetStream.Publish.Denied", "kicked");
    int want[] = {ST_OK, ST_ERROR};
    run_all_ways(&in, want, 2, "kicked", NULL);
    buf_free(&in);

    buf_init(&in, OUT_MAX);
    srv_success(&in, 1);
    srv_reply(&in, "close", 0, 0, 0, NULL, NULL, NULL);
    int want2[] = {ST_OK, ST_DONE};
    run_all_ways(&in, want2, 2, "close", NULL);
    buf_free(&in);
}

Test(rtmp_client, unpublish)
{
    struct buf in;
    buf_init(&in, OUT_MAX);
    srv_success(&in, 3);
    struct rtmp_client c;
    struct buf out;
    client_new(&c, &out, "cam");
    cr_assert_eq(rtmp_client_unpublish(&c, &out), ST_ERROR, "not READY yet");
    struct run r;
    drive(&c, &out, in.data, in.len, 0, 0, &r);
    cr_assert(r.ready);
    cr_assert_eq(rtmp_client_unpublish(&c, &out), ST_OK);
    struct sent m[16];
    size_t n = decode_sent(out.data, out.len, m, 16);
    cr_assert_eq(n, 8);
    cr_assert_str_eq(m[6].name, "FCUnpublish");
    cr_assert_str_eq(m[6].arg, "cam");
    cr_assert_str_eq(m[7].name, "deleteStream");
    cr_assert_eq(m[7].num, 3);
    rtmp_client_free(&c);
    buf_free(&out);
    buf_free(&in);
}

/* ---- hostile input ---------------------------------------------------------- */

Test(rtmp_client, bad_version_byte)
{
    struct buf in;
    buf_init(&in, 16);
    buf_append_u8(&in, 6); /* RTMPE */
    int want[] = {ST_ERROR};
    run_all_ways(&in, want, 1, "handshake", NULL);
    buf_free(&in);
}

Test(rtmp_client, server_chunk_size_zero_and_oversized_message)
{
    struct buf in;
    buf_init(&in, OUT_MAX);
    srv_handshake(&in);
    srv_u32(&in, RTMP_MSG_SET_CHUNK_SIZE, 0);
    int want[] = {ST_ERROR};
    run_all_ways(&in, want, 1, "chunk size", NULL);
    buf_free(&in);

    /* A 16 MiB message header: over the 64 KiB cap given at init. */
    buf_init(&in, OUT_MAX);
    srv_handshake(&in);
    const uint8_t hdr[] = {0x03, 0, 0, 0, 0xff, 0xff, 0xff, 20, 0, 0, 0, 0};
    buf_append(&in, hdr, sizeof(hdr));
    run_all_ways(&in, want, 1, "chunk stream", NULL);
    buf_free(&in);

    /* A command that is not AMF0. */
    buf_init(&in, OUT_MAX);
    srv_handshake(&in);
    struct buf body;
    buf_init(&body, 64);
    const uint8_t junk[] = {0x02, 0x00, 0x40, 'x'};
    buf_append(&body, junk, sizeof(junk));
    srv_msg(&in, 3, RTMP_MSG_COMMAND_AMF0, 0, &body, 128);
    buf_free(&body);
    run_all_ways(&in, want, 1, "bad command", NULL);
    buf_free(&in);
}

static void check_acks_parse(struct rtmp_client *c, struct buf *out)
{
    struct sent m[32];
    size_t n = decode_sent(out->data, out->len, m, 32);
    for (size_t i = 0; i < n; i++)
        if (m[i].type == RTMP_MSG_ACK)
            cr_assert_leq(m[i].num, c->bytes_in);
}

/* Found by fuzz_rtmp_client (a driver assumption, kept as a case): the
 * window is set, reset to 0 by a later Window Ack Size, then an oversized
 * message header ends the session. */
Test(rtmp_client, window_reset_then_oversized)
{
    static const uint8_t tail[] = {
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, 0x02,
        0x00, 0x3d, 0x00, 0x00, 0x00, 0x27, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, 0x02,
        0x01, 0x02, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x02, 0x00, 0x00, 0x00, 0x64, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4e, 0x14, 0x00, 0x00, 0x00,
        0x00, 0x02, 0x00, 0x07, 0x5f, 0x72, 0x65, 0x73, 0x75, 0x6c, 0x74, 0x00, 0x3f, 0xf0, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x4e, 0x0f, 0x0f, 0x14, 0x0f};
    struct buf in;
    buf_init(&in, OUT_MAX);
    srv_handshake(&in);
    buf_append(&in, tail, sizeof(tail));
    int want[] = {ST_ERROR};
    run_all_ways(&in, want, 1, "maximum message size", check_acks_parse);
    buf_free(&in);
}

Test(rtmp_client, garbage_after_handshake_never_crashes)
{
    uint32_t s = 0xC0FFEE;
    for (int round = 0; round < 300; round++) {
        struct buf in;
        buf_init(&in, OUT_MAX);
        srv_handshake(&in);
        size_t n = 1 + (size_t)(round * 37) % 3000;
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            buf_append_u8(&in, (uint8_t)s);
        }
        struct rtmp_client c;
        struct buf out;
        client_new(&c, &out, "cam");
        struct run r;
        drive(&c, &out, in.data, in.len, round % 2 ? 1 : 0, 0, &r);
        /* Random bytes never make it READY (no _result/onStatus by chance). */
        cr_assert_neq(c.state, RTMP_CLIENT_READY);
        rtmp_client_free(&c);
        buf_free(&out);
        buf_free(&in);
    }
}

Test(rtmp_client, output_cap_is_an_error)
{
    struct buf in;
    buf_init(&in, OUT_MAX);
    srv_handshake(&in);
    struct rtmp_client_config cfg = {.app = "live", .tc_url = "rtmp://h/live", .name = "x", .chunk_size = CHUNK};
    struct rtmp_client c;
    cr_assert_eq(rtmp_client_init(&c, &cfg), ST_OK);
    struct buf out;
    buf_init(&out, 1 + HS + 10); /* C0+C1 fits, C2 does not */
    cr_assert_eq(rtmp_client_start(&c, &out), ST_OK);
    size_t used;
    cr_assert_eq(rtmp_client_feed(&c, in.data, in.len, &used, &out), ST_ERROR);
    cr_assert_eq(c.state, RTMP_CLIENT_FAILED);
    rtmp_client_free(&c);
    buf_free(&out);
    buf_free(&in);

    cfg.chunk_size = 10;
    cr_assert_eq(rtmp_client_init(&c, &cfg), ST_ERROR);
    rtmp_client_free(&c);
}
