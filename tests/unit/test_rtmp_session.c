/*
 * Unit tests for rtmp_session: the real client captures replayed through a
 * session (whole, in random pieces and byte by byte) with a recording handler,
 * the server's output parsed back as a chunk stream, and handcrafted command
 * sequences for the cases the captures do not cover (refusals, unknown
 * commands, AMF3, acknowledgements, bounds, truncation and garbage).
 */
#include <criterion/criterion.h>

#include "amf/amf0.h"
#include "core/buf.h"
#include "core/status.h"
#include "rtmp/rtmp_chunk_reader.h"
#include "rtmp/rtmp_chunk_writer.h"
#include "rtmp/rtmp_message.h"
#include "rtmp/rtmp_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

#define HANDSHAKE_LEN 3073
#define OUT_CAP (16u << 20)

static const struct rtmp_session_limits limits = {
    .out_chunk_size = 4096,
    .max_chunk_size = 65536,
    .max_message_size = 4u << 20,
    .window_ack_size = 5000000,
    .peer_bandwidth = 5000000,
};

/* ---- recording handler ---- */

struct recorder {
    int connects, publishes, plays, unpublishes, stop_plays, play_controls;
    char publish_name[RTMP_SESSION_MAX_NAME], play_name[RTMP_SESSION_MAX_NAME];
    unsigned audio, video, data, data_not_meta;
    int refuse_publish;
};

static struct recorder *rec_of(struct rtmp_session *s) { return s->owner; }

static int rec_connect(struct rtmp_session *s, struct rtmp_session_verdict *v)
{
    rec_of(s)->connects++;
    return ST_OK;
}

static int rec_publish(struct rtmp_session *s, const char *name, struct rtmp_session_verdict *v)
{
    struct recorder *r = rec_of(s);
    r->publishes++;
    snprintf(r->publish_name, sizeof(r->publish_name), "%s", name);
    if (r->refuse_publish) {
        r->refuse_publish--;
        v->code = "NetStream.Publish.BadName";
        v->description = "already publishing";
        return ST_ERROR;
    }
    return ST_OK;
}

static int rec_play(struct rtmp_session *s, const char *name, struct rtmp_session_verdict *v)
{
    struct recorder *r = rec_of(s);
    r->plays++;
    snprintf(r->play_name, sizeof(r->play_name), "%s", name);
    return ST_OK;
}

static void rec_media(struct rtmp_session *s, uint8_t type, uint32_t ts, const uint8_t *p, uint32_t len)
{
    static const uint8_t on_meta[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'};
    struct recorder *r = rec_of(s);
    if (type == RTMP_MSG_AUDIO)
        r->audio++;
    else if (type == RTMP_MSG_VIDEO)
        r->video++;
    else if (type == RTMP_MSG_DATA_AMF0) {
        r->data++;
        if (len < sizeof(on_meta) || memcmp(p, on_meta, sizeof(on_meta)) != 0)
            r->data_not_meta++;
    }
}

static void rec_unpublish(struct rtmp_session *s) { rec_of(s)->unpublishes++; }
static void rec_stop_play(struct rtmp_session *s) { rec_of(s)->stop_plays++; }
static void rec_play_control(struct rtmp_session *s) { rec_of(s)->play_controls++; }

static const struct rtmp_session_handler handler = {
    .on_connect = rec_connect,
    .on_publish = rec_publish,
    .on_play = rec_play,
    .on_media = rec_media,
    .on_unpublish = rec_unpublish,
    .on_stop_play = rec_stop_play,
    .on_play_control = rec_play_control,
};

/* ---- captures ---- */

static uint8_t *load(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", SC_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n);
    cr_assert_not_null(d);
    cr_assert_eq(fread(d, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return d;
}

/* ---- the session's output parsed back ---- */

struct omsg {
    uint32_t csid, timestamp, stream_id, length;
    uint8_t type;
    uint8_t *p;
};

struct olist {
    struct omsg *m;
    size_t n;
};

static void olist_free(struct olist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->m[i].p);
    free(l->m);
    memset(l, 0, sizeof(*l));
}

/* Parse out[skip..] as a complete chunk stream, following the session's own
 * Set Chunk Size. Fails the test on a parse error or a trailing partial chunk. */
static void parse_out(const struct buf *out, size_t skip, struct olist *l)
{
    memset(l, 0, sizeof(*l));
    cr_assert_geq(out->len, skip, "output shorter than the handshake reply");
    struct rtmp_chunk_reader r;
    cr_assert_eq(rtmp_chunk_reader_init(&r, 1u << 24, 1u << 24), ST_OK);
    const uint8_t *p = out->data + skip;
    size_t left = out->len - skip;
    while (left > 0) {
        struct rtmp_message m;
        size_t used = 0;
        int rc = rtmp_chunk_reader_feed(&r, p, left, &used, &m);
        cr_assert_neq(rc, ST_ERROR, "output does not parse: %s", r.error);
        p += used;
        left -= used;
        if (rc == ST_AGAIN)
            break;
        l->m = realloc(l->m, (l->n + 1) * sizeof(*l->m));
        struct omsg *o = &l->m[l->n++];
        o->csid = m.csid;
        o->timestamp = m.timestamp;
        o->stream_id = m.stream_id;
        o->length = m.length;
        o->type = m.type;
        o->p = malloc(m.length + 1);
        memcpy(o->p, m.payload, m.length);
        if (m.type == RTMP_MSG_SET_CHUNK_SIZE) {
            cr_assert_eq(m.length, 4);
            cr_assert_eq(rtmp_chunk_reader_set_chunk_size(&r, rd_be32(m.payload)), ST_OK);
        }
    }
    cr_assert_eq(left, 0);
    cr_assert(r.hdr_have == 0 && !r.in_payload, "output ends inside a chunk");
    rtmp_chunk_reader_free(&r);
}

/* Decode a command or data message (AMF0, or type 17/15 with its leading 0). */
static int decode(const struct omsg *m, struct amf_value **v, size_t *n)
{
    const uint8_t *p = m->p;
    size_t len = m->length;
    if (m->type == RTMP_MSG_COMMAND_AMF3 || m->type == RTMP_MSG_DATA_AMF3) {
        if (len < 1 || p[0] != 0)
            return ST_ERROR;
        p++;
        len--;
    } else if (m->type != RTMP_MSG_COMMAND_AMF0 && m->type != RTMP_MSG_DATA_AMF0) {
        return ST_ERROR;
    }
    const char *err = NULL;
    return amf0_decode_all(p, len, 64, v, n, &err);
}

/* Index of the first message at or after `from` that is a command/data
 * message called `name` carrying (when code is set) an object whose "code"
 * is `code`; -1 if none. */
static long find_msg(const struct olist *l, size_t from, const char *name, const char *code)
{
    for (size_t i = from; i < l->n; i++) {
        struct amf_value *v = NULL;
        size_t n = 0;
        if (decode(&l->m[i], &v, &n) != ST_OK)
            continue;
        int hit = n >= 1 && v[0].type == AMF_STRING && strcmp(v[0].str, name) == 0;
        if (hit && code) {
            hit = 0;
            for (size_t k = 1; k < n; k++) {
                const char *c = amf_value_get_string(&v[k], "code");
                if (c && strcmp(c, code) == 0)
                    hit = 1;
            }
        }
        amf_values_free(v, n);
        if (hit)
            return (long)i;
    }
    return -1;
}

/* Index of the first control message of `type` (and, for user control,
 * `event`) at or after from, or -1. */
static long find_ctrl(const struct olist *l, size_t from, uint8_t type, int event)
{
    for (size_t i = from; i < l->n; i++) {
        const struct omsg *m = &l->m[i];
        if (m->type != type)
            continue;
        if (type == RTMP_MSG_USER_CONTROL && (m->length < 2 || rd_be16(m->p) != event))
            continue;
        return (long)i;
    }
    return -1;
}

static unsigned count_type(const struct olist *l, uint8_t type)
{
    unsigned c = 0;
    for (size_t i = 0; i < l->n; i++)
        c += l->m[i].type == type;
    return c;
}

/* ---- replaying a capture ---- */

enum mode { WHOLE, PIECES, BYTES };

struct replay {
    struct rtmp_session s;
    struct buf out;
    struct recorder rec;
    struct olist msgs;
};

static void replay_capture(const char *file, enum mode mode, unsigned seed, struct replay *r)
{
    size_t len;
    uint8_t *d = load(file, &len);
    memset(r, 0, sizeof(*r));
    buf_init(&r->out, OUT_CAP);
    cr_assert_eq(rtmp_session_init(&r->s, &handler, &r->rec, &r->out, &limits), ST_OK);
    size_t off = 0;
    uint32_t x = seed * 2654435761u + 1;
    while (off < len) {
        size_t n = len - off;
        if (mode == BYTES) {
            n = 1;
        } else if (mode == PIECES) {
            x = x * 1103515245u + 12345u;
            size_t want = 1 + (x >> 8) % 5000;
            n = want < n ? want : n;
        }
        int rc = rtmp_session_feed(&r->s, d + off, n);
        cr_assert_eq(rc, ST_OK, "%s: feed failed at %zu: %s", file, off, r->s.error ? r->s.error : "?");
        off += n;
    }
    free(d);
    cr_assert_eq(r->s.bytes_in, len);
    cr_assert(r->s.handshake_done);
    parse_out(&r->out, HANDSHAKE_LEN, &r->msgs);
}

static void replay_free(struct replay *r)
{
    olist_free(&r->msgs);
    rtmp_session_free(&r->s);
    buf_free(&r->out);
}

/* The connect sequence nginx-rtmp sends and every client expects. */
static void check_connect_replies(const struct olist *l)
{
    cr_assert_geq(l->n, 5);
    cr_assert_eq(l->m[0].type, RTMP_MSG_WINDOW_ACK_SIZE);
    cr_assert_eq(rd_be32(l->m[0].p), limits.window_ack_size);
    cr_assert_eq(l->m[1].type, RTMP_MSG_SET_PEER_BANDWIDTH);
    cr_assert_eq(l->m[1].length, 5);
    cr_assert_eq(rd_be32(l->m[1].p), limits.peer_bandwidth);
    cr_assert_eq(l->m[2].type, RTMP_MSG_SET_CHUNK_SIZE);
    cr_assert_eq(rd_be32(l->m[2].p), limits.out_chunk_size);
    long c = find_msg(l, 0, "_result", "NetConnection.Connect.Success");
    cr_assert_eq(c, 3, "connect _result expected as message 3, got %ld", c);

    /* createStream's _result: a number 1 after the null command object. */
    int found = 0;
    for (size_t i = 4; i < l->n && !found; i++) {
        struct amf_value *v = NULL;
        size_t n = 0;
        if (decode(&l->m[i], &v, &n) != ST_OK)
            continue;
        if (n == 4 && v[0].type == AMF_STRING && strcmp(v[0].str, "_result") == 0 && v[2].type == AMF_NULL &&
            v[3].type == AMF_NUMBER && v[3].num == 1)
            found = 1;
        amf_values_free(v, n);
    }
    cr_assert(found, "no createStream _result with stream id 1");
}

struct publish_case {
    const char *file, *name;
    unsigned audio, video, data;
};

static const struct publish_case publish_cases[] = {
    {"publish-ffmpeg.c2s.bin", "pubffmpeg", 175, 102, 1},
    {"publish-obs.c2s.bin", "pubobs", 190, 111, 1},
    {"publish-gst-rtmp2sink.c2s.bin", "pubgst2", 173, 102, 19},
    {"publish-gst-rtmpsink.c2s.bin", "pubgstl", 173, 102, 19},
};

static void check_publish(const struct publish_case *pc, enum mode mode, unsigned seed)
{
    struct replay r;
    replay_capture(pc->file, mode, seed, &r);
    cr_assert_eq(r.rec.connects, 1);
    cr_assert_eq(r.rec.publishes, 1, "%s", pc->file);
    cr_assert_str_eq(r.rec.publish_name, pc->name);
    cr_assert_eq(r.rec.audio, pc->audio, "%s: audio %u", pc->file, r.rec.audio);
    cr_assert_eq(r.rec.video, pc->video, "%s: video %u", pc->file, r.rec.video);
    cr_assert_eq(r.rec.data, pc->data, "%s: data %u", pc->file, r.rec.data);
    cr_assert_eq(r.rec.data_not_meta, 0, "%s: data not starting with onMetaData", pc->file);
    cr_assert_eq(r.rec.unpublishes, 1);
    cr_assert_eq(r.rec.plays, 0);
    cr_assert_eq(r.s.role, RTMP_ROLE_NONE);

    check_connect_replies(&r.msgs);
    long start = find_msg(&r.msgs, 0, "onStatus", "NetStream.Publish.Start");
    cr_assert_geq(start, 0, "%s: no Publish.Start", pc->file);
    cr_assert_eq(r.msgs.m[start].stream_id, 1);
    long last = (long)r.msgs.n - 1;
    cr_assert_eq(find_msg(&r.msgs, (size_t)last, "onStatus", "NetStream.Unpublish.Success"), last,
                 "%s: the last message is not Unpublish.Success", pc->file);
    cr_assert_lt(start, last);
    /* A publisher's session never sends acks at 5 MB windows on < 1 MB. */
    cr_assert_eq(count_type(&r.msgs, RTMP_MSG_ACK), 0);
    replay_free(&r);
}

Test(session_publish, captures_whole)
{
    for (size_t i = 0; i < sizeof(publish_cases) / sizeof(publish_cases[0]); i++)
        check_publish(&publish_cases[i], WHOLE, 0);
}

Test(session_publish, captures_random_pieces)
{
    for (size_t i = 0; i < sizeof(publish_cases) / sizeof(publish_cases[0]); i++)
        for (unsigned seed = 1; seed <= 3; seed++)
            check_publish(&publish_cases[i], PIECES, seed);
}

Test(session_publish, obs_byte_by_byte) { check_publish(&publish_cases[1], BYTES, 0); }
Test(session_publish, gst_rtmpsink_byte_by_byte) { check_publish(&publish_cases[3], BYTES, 0); }

struct play_case {
    const char *file;
    int stops;
};

static const struct play_case play_cases[] = {
    {"play-ffmpeg.c2s.bin", 1},
    {"play-rtmpdump.c2s.bin", 1},
    {"play-gst-rtmp2src.c2s.bin", 0},
};

static void check_play(const struct play_case *pc, enum mode mode, unsigned seed)
{
    struct replay r;
    replay_capture(pc->file, mode, seed, &r);
    cr_assert_eq(r.rec.plays, 1, "%s", pc->file);
    cr_assert_str_eq(r.rec.play_name, "bars");
    cr_assert_eq(r.rec.publishes, 0);
    cr_assert_eq(r.rec.audio + r.rec.video + r.rec.data, 0);
    cr_assert_eq(r.rec.stop_plays, pc->stops, "%s: stop_play %d", pc->file, r.rec.stop_plays);
    cr_assert_eq(r.s.role, pc->stops ? RTMP_ROLE_NONE : RTMP_ROLE_PLAYER);

    check_connect_replies(&r.msgs);
    long begin = find_ctrl(&r.msgs, 0, RTMP_MSG_USER_CONTROL, RTMP_UC_STREAM_BEGIN);
    cr_assert_geq(begin, 0, "%s: no StreamBegin", pc->file);
    cr_assert_eq(rd_be32(r.msgs.m[begin].p + 2), 1);
    long start = find_msg(&r.msgs, (size_t)begin, "onStatus", "NetStream.Play.Start");
    cr_assert_gt(start, begin, "%s: no Play.Start after StreamBegin", pc->file);
    cr_assert_eq(r.msgs.m[start].stream_id, 1);
    long access = find_msg(&r.msgs, (size_t)start, "|RtmpSampleAccess", NULL);
    cr_assert_gt(access, start);
    cr_assert_eq(r.msgs.m[access].type, RTMP_MSG_DATA_AMF0);
    long eof = find_ctrl(&r.msgs, 0, RTMP_MSG_USER_CONTROL, RTMP_UC_STREAM_EOF);
    if (pc->stops) {
        cr_assert_eq(eof, (long)r.msgs.n - 1, "%s: StreamEOF is not the last message", pc->file);
        cr_assert_eq(rd_be32(r.msgs.m[eof].p + 2), 1);
    } else {
        cr_assert_eq(eof, -1);
    }
    replay_free(&r);
}

Test(session_play, captures)
{
    for (size_t i = 0; i < sizeof(play_cases) / sizeof(play_cases[0]); i++) {
        check_play(&play_cases[i], WHOLE, 0);
        check_play(&play_cases[i], BYTES, 0);
        for (unsigned seed = 1; seed <= 4; seed++)
            check_play(&play_cases[i], PIECES, seed);
    }
}

Test(session_play, rtmpdump_buffer_length)
{
    struct replay r;
    replay_capture("play-rtmpdump.c2s.bin", WHOLE, 0, &r);
    cr_assert_eq(r.s.buffer_length_ms, 36000000);
    replay_free(&r);
}

/* ---- handcrafted sessions ---- */

struct fix {
    struct rtmp_session s;
    struct buf out;
    struct recorder rec;
    uint32_t chunk; /* the chunk size we send with */
    struct olist msgs;
};

/* Build a message body from a little format: s string, n number (double),
 * b boolean (int), z null, { object start, k key, } object end. */
static void body_v(struct buf *b, const char *fmt, va_list ap)
{
    for (const char *c = fmt; *c; c++) {
        int rc = ST_ERROR;
        switch (*c) {
        case 's': rc = amf0_write_cstring(b, va_arg(ap, const char *)); break;
        case 'n': rc = amf0_write_number(b, va_arg(ap, double)); break;
        case 'b': rc = amf0_write_bool(b, va_arg(ap, int)); break;
        case 'z': rc = amf0_write_null(b); break;
        case '{': rc = amf0_write_object_start(b); break;
        case 'k': rc = amf0_write_key(b, va_arg(ap, const char *)); break;
        case '}': rc = amf0_write_object_end(b); break;
        default: cr_assert_fail("bad format char %c", *c);
        }
        cr_assert_eq(rc, ST_OK);
    }
}

/* Chunk a message at our chunk size and feed it; returns the feed status. */
static int feed_msg(struct fix *f, uint32_t csid, uint8_t type, uint32_t stream_id, const uint8_t *p, uint32_t len)
{
    struct buf w;
    buf_init(&w, 1u << 24);
    struct rtmp_message_header h = {.csid = csid, .type = type, .timestamp = 0, .stream_id = stream_id};
    cr_assert_eq(rtmp_chunk_writer_append(&w, &h, p, len, f->chunk), ST_OK);
    int rc = rtmp_session_feed(&f->s, w.data, w.len);
    buf_free(&w);
    return rc;
}

/* Feed a command (type 20, or 17 with its leading 0 when amf3 is set). */
static int cmd_ex(struct fix *f, int amf3, uint32_t stream_id, const char *fmt, ...)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    if (amf3)
        buf_append_u8(&b, 0);
    va_list ap;
    va_start(ap, fmt);
    body_v(&b, fmt, ap);
    va_end(ap);
    int rc = feed_msg(f, stream_id ? 8 : 3, amf3 ? RTMP_MSG_COMMAND_AMF3 : RTMP_MSG_COMMAND_AMF0, stream_id, b.data,
                      (uint32_t)b.len);
    buf_free(&b);
    return rc;
}
#define cmd(f, ...) cmd_ex(f, 0, 0, __VA_ARGS__)
#define stream_cmd(f, ...) cmd_ex(f, 0, 1, __VA_ARGS__)

static int control_u32(struct fix *f, uint8_t type, uint32_t v)
{
    uint8_t p[4];
    wr_be32(p, v);
    return feed_msg(f, 2, type, 0, p, 4);
}

static int user_control(struct fix *f, uint16_t ev, const uint8_t *args, size_t n)
{
    uint8_t p[16];
    wr_be16(p, ev);
    memcpy(p + 2, args, n);
    return feed_msg(f, 2, RTMP_MSG_USER_CONTROL, 0, p, (uint32_t)(2 + n));
}

/* A session past a simple handshake (C0 C1 C2 all zero apart from C0). */
static void fix_handshake(struct fix *f)
{
    memset(f, 0, sizeof(*f));
    f->chunk = RTMP_DEFAULT_CHUNK_SIZE;
    buf_init(&f->out, OUT_CAP);
    cr_assert_eq(rtmp_session_init(&f->s, &handler, &f->rec, &f->out, &limits), ST_OK);
    static uint8_t hs[1 + 2 * RTMP_HANDSHAKE_SIZE];
    hs[0] = 3;
    cr_assert_eq(rtmp_session_feed(&f->s, hs, sizeof(hs)), ST_OK);
    cr_assert(f->s.handshake_done);
    cr_assert_eq(f->out.len, HANDSHAKE_LEN);
}

static void fix_connect(struct fix *f)
{
    fix_handshake(f);
    cr_assert_eq(cmd(f, "sn{ksksks}", "connect", 1.0, "app", "live", "tcUrl", "rtmp://127.0.0.1/live", "flashVer",
                     "LNX 9,0,124,2"),
                 ST_OK, "%s", f->s.error);
    cr_assert(f->s.connected);
    cr_assert_str_eq(f->s.app, "live");
    cr_assert_str_eq(f->s.flash_ver, "LNX 9,0,124,2");
    cr_assert_eq(cmd(f, "snz", "createStream", 2.0), ST_OK);
}

static void fix_reparse(struct fix *f)
{
    olist_free(&f->msgs);
    parse_out(&f->out, HANDSHAKE_LEN, &f->msgs);
}

static void fix_free(struct fix *f)
{
    olist_free(&f->msgs);
    rtmp_session_free(&f->s);
    buf_free(&f->out);
}

Test(session_cmd, connect_replies)
{
    struct fix f;
    fix_connect(&f);
    fix_reparse(&f);
    check_connect_replies(&f.msgs);
    cr_assert_eq(f.rec.connects, 1);
    /* objectEncoding 0 echoed in the AMF0 reply. */
    struct amf_value *v;
    size_t n;
    cr_assert_eq(f.msgs.m[3].type, RTMP_MSG_COMMAND_AMF0);
    cr_assert_eq(decode(&f.msgs.m[3], &v, &n), ST_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(v[1].num, 1.0);
    cr_assert_eq(amf_value_get_number(&v[3], "objectEncoding", -1), 0);
    amf_values_free(v, n);
    fix_free(&f);
}

Test(session_cmd, refused_publish_then_accepted)
{
    struct fix f;
    fix_connect(&f);
    f.rec.refuse_publish = 1;
    cr_assert_eq(stream_cmd(&f, "snzss", "publish", 0.0, "taken", "live"), ST_OK);
    cr_assert_eq(f.rec.publishes, 1);
    cr_assert_eq(f.s.role, RTMP_ROLE_NONE);
    fix_reparse(&f);
    cr_assert_geq(find_msg(&f.msgs, 0, "onStatus", "NetStream.Publish.BadName"), 0);
    cr_assert_eq(find_msg(&f.msgs, 0, "onStatus", "NetStream.Publish.Start"), -1);
    /* The session goes on: another name is accepted. */
    cr_assert_eq(stream_cmd(&f, "snzss", "publish", 0.0, "free?token=1", "live"), ST_OK);
    cr_assert_eq(f.rec.publishes, 2);
    cr_assert_str_eq(f.rec.publish_name, "free");
    cr_assert_str_eq(f.s.stream_query, "token=1");
    cr_assert_eq(f.s.role, RTMP_ROLE_PUBLISHER);
    fix_reparse(&f);
    cr_assert_geq(find_msg(&f.msgs, 0, "onStatus", "NetStream.Publish.Start"), 0);
    /* Media and @setDataFrame now reach the handler, stripped. */
    uint8_t audio[] = {0xaf, 0x01, 0x21, 0x00};
    cr_assert_eq(feed_msg(&f, 4, RTMP_MSG_AUDIO, 1, audio, sizeof(audio)), ST_OK);
    struct buf b;
    buf_init(&b, 4096);
    amf0_write_cstring(&b, "@setDataFrame");
    amf0_write_cstring(&b, "onMetaData");
    amf0_write_ecma_array_start(&b, 0);
    amf0_write_object_end(&b);
    cr_assert_eq(feed_msg(&f, 4, RTMP_MSG_DATA_AMF0, 1, b.data, (uint32_t)b.len), ST_OK);
    buf_free(&b);
    cr_assert_eq(f.rec.audio, 1);
    cr_assert_eq(f.rec.data, 1);
    cr_assert_eq(f.rec.data_not_meta, 0);
    fix_free(&f);
}

Test(session_cmd, unknown_command_gets_error_and_continues)
{
    struct fix f;
    fix_connect(&f);
    cr_assert_eq(cmd(&f, "snz", "noSuchThing", 7.0), ST_OK);
    cr_assert_eq(f.s.unknown_commands, 1);
    fix_reparse(&f);
    long e = find_msg(&f.msgs, 0, "_error", "NetConnection.Call.Failed");
    cr_assert_geq(e, 0);
    struct amf_value *v;
    size_t n;
    cr_assert_eq(decode(&f.msgs.m[e], &v, &n), ST_OK);
    cr_assert_eq(v[1].num, 7.0);
    amf_values_free(v, n);
    size_t before = f.msgs.n;
    cr_assert_eq(cmd(&f, "snz", "createStream", 8.0), ST_OK);
    fix_reparse(&f);
    cr_assert_geq(find_msg(&f.msgs, before, "_result", NULL), (long)before);
    fix_free(&f);
}

Test(session_cmd, command_before_connect_is_error)
{
    struct fix f;
    fix_handshake(&f);
    cr_assert_eq(cmd(&f, "snz", "createStream", 2.0), ST_ERROR);
    cr_assert_not_null(f.s.error);
    fix_free(&f);
}

Test(session_cmd, connect_twice_and_bad_connect_are_errors)
{
    struct fix f;
    fix_connect(&f);
    cr_assert_eq(cmd(&f, "sn{ks}", "connect", 3.0, "app", "live"), ST_ERROR);
    fix_free(&f);
    fix_handshake(&f);
    cr_assert_eq(cmd(&f, "snz", "connect", 1.0), ST_ERROR);
    cr_assert_not_null(f.s.error);
    fix_free(&f);
    fix_handshake(&f);
    cr_assert_eq(cmd(&f, "sn{kn}", "connect", 1.0, "app", 5.0), ST_ERROR);
    fix_free(&f);
    /* A command message that is not AMF at all. */
    fix_handshake(&f);
    uint8_t junk[] = {0x02, 0xff, 0xff, 'x'};
    cr_assert_eq(feed_msg(&f, 3, RTMP_MSG_COMMAND_AMF0, 0, junk, sizeof(junk)), ST_ERROR);
    cr_assert_not_null(f.s.error);
    fix_free(&f);
}

Test(session_ctrl, chunk_size_over_max_is_error)
{
    struct fix f;
    fix_connect(&f);
    cr_assert_eq(control_u32(&f, RTMP_MSG_SET_CHUNK_SIZE, limits.max_chunk_size), ST_OK);
    cr_assert_eq(control_u32(&f, RTMP_MSG_SET_CHUNK_SIZE, limits.max_chunk_size + 1), ST_ERROR);
    cr_assert_not_null(f.s.error);
    fix_free(&f);
    fix_handshake(&f);
    cr_assert_eq(control_u32(&f, RTMP_MSG_SET_CHUNK_SIZE, 0), ST_ERROR);
    cr_assert_not_null(f.s.error);
    fix_free(&f);
}

Test(session_ctrl, peer_chunk_size_is_followed)
{
    struct fix f;
    fix_connect(&f);
    cr_assert_eq(control_u32(&f, RTMP_MSG_SET_CHUNK_SIZE, 4096), ST_OK);
    f.chunk = 4096;
    /* A 199-byte name makes a message longer than 128: one chunk at 4096. */
    char name[200];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    cr_assert_eq(stream_cmd(&f, "snzs", "play", 0.0, name), ST_OK, "%s", f.s.error);
    cr_assert_eq(f.rec.plays, 1);
    cr_assert_str_eq(f.rec.play_name, name);
    fix_free(&f);
}

Test(session_ctrl, ping_request_gets_response)
{
    struct fix f;
    fix_connect(&f);
    uint8_t ts[4] = {0x12, 0x34, 0x56, 0x78};
    cr_assert_eq(user_control(&f, RTMP_UC_PING_REQUEST, ts, 4), ST_OK);
    fix_reparse(&f);
    long i = find_ctrl(&f.msgs, 0, RTMP_MSG_USER_CONTROL, RTMP_UC_PING_RESPONSE);
    cr_assert_geq(i, 0);
    cr_assert_eq(f.msgs.m[i].length, 6);
    cr_assert_eq(rd_be32(f.msgs.m[i].p + 2), 0x12345678);
    cr_assert_eq(f.msgs.m[i].stream_id, 0);
    /* A user control message shorter than its event type is an error. */
    uint8_t one = 0;
    cr_assert_eq(feed_msg(&f, 2, RTMP_MSG_USER_CONTROL, 0, &one, 1), ST_ERROR);
    fix_free(&f);
}

Test(session_ctrl, set_buffer_length_accepted)
{
    struct fix f;
    fix_connect(&f);
    uint8_t a[8];
    wr_be32(a, 1);
    wr_be32(a + 4, 36000000);
    cr_assert_eq(user_control(&f, RTMP_UC_SET_BUFFER_LENGTH, a, 8), ST_OK);
    cr_assert_eq(f.s.buffer_length_ms, 36000000);
    fix_free(&f);
}

/* Acks follow a model: after each feed, if the bytes received since the last
 * ack reach the latest window, an ack carrying the total is due. */
Test(session_ctrl, window_ack_size_follows_latest_value)
{
    struct fix f;
    fix_connect(&f);
    cr_assert_eq(control_u32(&f, RTMP_MSG_WINDOW_ACK_SIZE, 4000), ST_OK);
    uint64_t model_last = 0;
    fix_reparse(&f);
    unsigned acks = count_type(&f.msgs, RTMP_MSG_ACK);
    if (acks) {
        /* Handshake and connect already exceed a small window. */
        cr_assert_eq(acks, 1);
        model_last = f.s.bytes_in;
    }
    uint8_t pad[300] = {0};
    uint32_t window = 4000;
    uint64_t prev_ack = model_last;
    int acks_at_2000 = 0;
    for (int i = 0; i < 60; i++) {
        if (i == 30) {
            cr_assert_eq(control_u32(&f, RTMP_MSG_WINDOW_ACK_SIZE, 2000), ST_OK);
            window = 2000;
        } else {
            /* Audio from a non-publisher: ignored, but counted. */
            cr_assert_eq(feed_msg(&f, 4, RTMP_MSG_AUDIO, 1, pad, sizeof(pad)), ST_OK);
        }
        size_t before = f.msgs.n;
        fix_reparse(&f);
        int due = f.s.bytes_in - model_last >= window;
        long a = find_ctrl(&f.msgs, before, RTMP_MSG_ACK, 0);
        if (due) {
            cr_assert_geq(a, (long)before, "ack due after %llu bytes", (unsigned long long)f.s.bytes_in);
            cr_assert_eq(f.msgs.m[a].length, 4);
            cr_assert_eq(f.msgs.m[a].csid, 2);
            cr_assert_eq(f.msgs.m[a].stream_id, 0);
            uint32_t seq = rd_be32(f.msgs.m[a].p);
            cr_assert_eq(seq, (uint32_t)f.s.bytes_in);
            cr_assert_geq(seq - prev_ack, window);
            if (window == 2000) {
                cr_assert_lt(seq - prev_ack, 4000, "still acking at the old window");
                acks_at_2000++;
            }
            prev_ack = seq;
            model_last = f.s.bytes_in;
        } else {
            cr_assert_eq(a, -1, "unexpected ack");
        }
    }
    cr_assert_geq(acks_at_2000, 3);
    fix_free(&f);
}

Test(session_cmd, amf3_connect_gets_amf3_reply)
{
    struct fix f;
    fix_handshake(&f);
    cr_assert_eq(cmd_ex(&f, 1, 0, "sn{ksksknks}", "connect", 1.0, "app", "live", "tcUrl", "rtmp://h/live",
                        "objectEncoding", 3.0, "flashVer", "WIN 32,0,0,1"),
                 ST_OK, "%s", f.s.error);
    cr_assert_eq(f.s.object_encoding, 3);
    fix_reparse(&f);
    long r = find_msg(&f.msgs, 0, "_result", "NetConnection.Connect.Success");
    cr_assert_geq(r, 0);
    cr_assert_eq(f.msgs.m[r].type, RTMP_MSG_COMMAND_AMF3);
    struct amf_value *v;
    size_t n;
    cr_assert_eq(decode(&f.msgs.m[r], &v, &n), ST_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(amf_value_get_number(&v[3], "objectEncoding", -1), 3);
    amf_values_free(v, n);
    /* Later AMF3 commands work too. */
    cr_assert_eq(cmd_ex(&f, 1, 0, "snz", "createStream", 2.0), ST_OK);
    fix_free(&f);
}

static void start_player(struct fix *f, int reset)
{
    fix_connect(f);
    if (reset)
        cr_assert_eq(stream_cmd(f, "snzsnnb", "play", 0.0, "bars", -2.0, -1.0, 1), ST_OK);
    else
        cr_assert_eq(stream_cmd(f, "snzsn", "play", 0.0, "bars", -1000.0), ST_OK);
    cr_assert_eq(f->rec.plays, 1);
    cr_assert_eq(f->s.role, RTMP_ROLE_PLAYER);
}

Test(session_play_cmd, play_reset)
{
    struct fix f;
    start_player(&f, 1);
    fix_reparse(&f);
    long r = find_msg(&f.msgs, 0, "onStatus", "NetStream.Play.Reset");
    long s = find_msg(&f.msgs, 0, "onStatus", "NetStream.Play.Start");
    cr_assert_geq(r, 0);
    cr_assert_gt(s, r);
    fix_free(&f);
    start_player(&f, 0);
    fix_reparse(&f);
    cr_assert_eq(find_msg(&f.msgs, 0, "onStatus", "NetStream.Play.Reset"), -1);
    fix_free(&f);
}

Test(session_play_cmd, pause_unpause)
{
    struct fix f;
    start_player(&f, 0);
    cr_assert_eq(stream_cmd(&f, "snzbn", "pause", 0.0, 1, 1234.0), ST_OK);
    cr_assert_eq(f.s.paused, 1);
    cr_assert_eq(f.rec.play_controls, 1);
    fix_reparse(&f);
    long p = find_msg(&f.msgs, 0, "onStatus", "NetStream.Pause.Notify");
    cr_assert_geq(p, 0);
    cr_assert_eq(stream_cmd(&f, "snzbn", "pause", 0.0, 0, 1234.0), ST_OK);
    cr_assert_eq(f.s.paused, 0);
    cr_assert_eq(f.rec.play_controls, 2);
    fix_reparse(&f);
    cr_assert_gt(find_msg(&f.msgs, 0, "onStatus", "NetStream.Unpause.Notify"), p);
    fix_free(&f);
}

Test(session_play_cmd, receive_audio_video)
{
    struct fix f;
    start_player(&f, 0);
    cr_assert_eq(f.s.receive_audio, 1);
    cr_assert_eq(stream_cmd(&f, "snzb", "receiveAudio", 0.0, 0), ST_OK);
    cr_assert_eq(f.s.receive_audio, 0);
    cr_assert_eq(f.s.receive_video, 1);
    cr_assert_eq(f.rec.play_controls, 1);
    cr_assert_eq(stream_cmd(&f, "snzb", "receiveVideo", 0.0, 0), ST_OK);
    cr_assert_eq(f.s.receive_video, 0);
    cr_assert_eq(stream_cmd(&f, "snzb", "receiveAudio", 0.0, 1), ST_OK);
    cr_assert_eq(f.s.receive_audio, 1);
    cr_assert_eq(f.rec.play_controls, 3);
    fix_free(&f);
}

Test(session_play_cmd, delete_stream_stops_player)
{
    struct fix f;
    start_player(&f, 0);
    cr_assert_eq(cmd(&f, "snzn", "deleteStream", 5.0, 1.0), ST_OK);
    cr_assert_eq(f.rec.stop_plays, 1);
    cr_assert_eq(f.s.role, RTMP_ROLE_NONE);
    /* A second one has nothing to stop. */
    cr_assert_eq(cmd(&f, "snzn", "deleteStream", 6.0, 1.0), ST_OK);
    cr_assert_eq(f.rec.stop_plays, 1);
    fix_free(&f);
}

Test(session_cmd, fcpublish_gets_onfcpublish)
{
    struct fix f;
    fix_connect(&f);
    cr_assert_eq(cmd(&f, "snzs", "FCPublish", 3.0, "cam"), ST_OK);
    fix_reparse(&f);
    cr_assert_geq(find_msg(&f.msgs, 0, "onFCPublish", "NetStream.Publish.Start"), 0);
    fix_free(&f);
}

Test(session_bad, garbage_after_handshake)
{
    struct fix f;
    fix_handshake(&f);
    /* Type-3 chunks on a chunk stream that never had a header. */
    uint8_t g[64];
    memset(g, 0xc3, sizeof(g));
    cr_assert_eq(rtmp_session_feed(&f.s, g, sizeof(g)), ST_ERROR);
    cr_assert_not_null(f.s.error);
    fix_free(&f);

    /* Random garbage: never a crash; an error always has a reason. */
    uint32_t x = 12345;
    for (int round = 0; round < 200; round++) {
        fix_handshake(&f);
        uint8_t r[2048];
        for (size_t i = 0; i < sizeof(r); i++) {
            x = x * 1103515245u + 12345u;
            r[i] = (uint8_t)(x >> 16);
        }
        int rc = rtmp_session_feed(&f.s, r, sizeof(r));
        cr_assert(rc == ST_OK || rc == ST_ERROR);
        if (rc == ST_ERROR)
            cr_assert_not_null(f.s.error);
        fix_free(&f);
    }
}

Test(session_bad, bad_handshake_version)
{
    struct fix f;
    memset(&f, 0, sizeof(f));
    buf_init(&f.out, OUT_CAP);
    cr_assert_eq(rtmp_session_init(&f.s, &handler, &f.rec, &f.out, &limits), ST_OK);
    uint8_t c0 = 6; /* RTMPE */
    cr_assert_eq(rtmp_session_feed(&f.s, &c0, 1), ST_ERROR);
    cr_assert_not_null(f.s.error);
    fix_free(&f);
}

static void feed_prefix(const uint8_t *d, size_t n)
{
    struct buf out;
    struct recorder rec = {0};
    struct rtmp_session s;
    buf_init(&out, OUT_CAP);
    cr_assert_eq(rtmp_session_init(&s, &handler, &rec, &out, &limits), ST_OK);
    int rc = rtmp_session_feed(&s, d, n);
    cr_assert_eq(rc, ST_OK, "prefix %zu: %s", n, s.error ? s.error : "?");
    rtmp_session_free(&s);
    buf_free(&out);
}

Test(session_bad, truncated_captures, .timeout = 60)
{
    static const char *files[] = {"play-ffmpeg.c2s.bin", "publish-obs.c2s.bin", "publish-gst-rtmp2sink.c2s.bin"};
    for (size_t k = 0; k < 3; k++) {
        size_t len;
        uint8_t *d = load(files[k], &len);
        size_t every = len < 4200 ? len : 4200;
        for (size_t n = 0; n <= every; n++)
            feed_prefix(d, n);
        uint32_t x = 777 + (uint32_t)k;
        for (int i = 0; i < 40 && len > every; i++) {
            x = x * 1103515245u + 12345u;
            feed_prefix(d, every + (x >> 4) % (len - every));
        }
        free(d);
    }
}

/* ---- play decided later (on_play answers ST_AGAIN: an auth webhook) ---- */

static int rec_play_later(struct rtmp_session *s, const char *name, struct rtmp_session_verdict *v)
{
    rec_of(s)->plays++;
    return ST_AGAIN;
}

static const struct rtmp_session_handler later_handler = {
    .on_connect = rec_connect,
    .on_publish = rec_publish,
    .on_play = rec_play_later,
    .on_media = rec_media,
    .on_unpublish = rec_unpublish,
    .on_stop_play = rec_stop_play,
};

static void start_pending_player(struct fix *f, int reset)
{
    fix_connect(f);
    f->s.handler = &later_handler;
    if (reset)
        cr_assert_eq(stream_cmd(f, "snzsnnb", "play", 0.0, "bars", -2.0, -1.0, 1), ST_OK);
    else
        cr_assert_eq(stream_cmd(f, "snzsn", "play", 0.0, "bars", -1000.0), ST_OK);
    cr_assert_eq(f->rec.plays, 1);
    cr_assert(f->s.play_pending);
    fix_reparse(f);
    cr_assert_eq(find_msg(&f->msgs, 0, "onStatus", NULL), -1, "status sent before the decision");
}

Test(session_play_later, accepted_sends_start_in_order)
{
    struct fix f;
    start_pending_player(&f, 1);
    /* Busy meanwhile: a second play is a protocol error. */
    struct fix g;
    start_pending_player(&g, 0);
    cr_assert_eq(stream_cmd(&g, "snzsn", "play", 0.0, "other", -1000.0), ST_ERROR);
    fix_free(&g);

    cr_assert_eq(rtmp_session_play_decided(&f.s, 1, NULL), ST_OK);
    cr_assert_eq(f.s.role, RTMP_ROLE_PLAYER);
    cr_assert(!f.s.play_pending);
    fix_reparse(&f);
    long begin = find_ctrl(&f.msgs, 0, RTMP_MSG_USER_CONTROL, RTMP_UC_STREAM_BEGIN);
    long reset = find_msg(&f.msgs, 0, "onStatus", "NetStream.Play.Reset");
    long start = find_msg(&f.msgs, 0, "onStatus", "NetStream.Play.Start");
    long access = find_msg(&f.msgs, 0, "|RtmpSampleAccess", NULL);
    cr_assert(begin >= 0 && reset > begin && start > reset && access > start, "%ld %ld %ld %ld", begin, reset, start,
              access);
    /* Decided once only. */
    size_t len = f.out.len;
    cr_assert_eq(rtmp_session_play_decided(&f.s, 1, NULL), ST_ERROR);
    cr_assert_eq(f.out.len, len);
    fix_free(&f);
}

Test(session_play_later, refused_sends_the_verdict)
{
    struct fix f;
    start_pending_player(&f, 0);
    struct rtmp_session_verdict v = {.code = "NetStream.Play.Failed", .description = "Unauthorized: bad signature"};
    cr_assert_eq(rtmp_session_play_decided(&f.s, 0, &v), ST_OK);
    cr_assert_eq(f.s.role, RTMP_ROLE_NONE);
    fix_reparse(&f);
    cr_assert_geq(find_msg(&f.msgs, 0, "onStatus", "NetStream.Play.Failed"), 0);
    cr_assert_eq(find_msg(&f.msgs, 0, "onStatus", "NetStream.Play.Start"), -1);
    cr_assert_eq(find_ctrl(&f.msgs, 0, RTMP_MSG_USER_CONTROL, RTMP_UC_STREAM_BEGIN), -1);
    fix_free(&f);
}

Test(session_play_later, stopped_before_the_decision)
{
    struct fix f;
    start_pending_player(&f, 0);
    cr_assert_eq(cmd(&f, "snzn", "deleteStream", 5.0, 1.0), ST_OK);
    cr_assert_eq(f.rec.stop_plays, 1);
    cr_assert(!f.s.play_pending);
    cr_assert_eq(f.s.role, RTMP_ROLE_NONE);
    fix_reparse(&f);
    size_t len = f.out.len;
    cr_assert_eq(rtmp_session_play_decided(&f.s, 1, NULL), ST_ERROR);
    cr_assert_eq(f.out.len, len);
    cr_assert_eq(find_msg(&f.msgs, 0, "onStatus", "NetStream.Play.Start"), -1);
    fix_free(&f);
}

/* ---- recordings: play's start argument, app instance, seek ---- */

static uint32_t seek_ms;
static int seeks;

static int rec_seek(struct rtmp_session *s, uint32_t ms)
{
    seeks++;
    seek_ms = ms;
    return ms == 4242 ? ST_ERROR : ST_OK; /* 4242: a position the owner refuses */
}

static const struct rtmp_session_handler seek_handler = {
    .on_connect = rec_connect,
    .on_publish = rec_publish,
    .on_play = rec_play,
    .on_media = rec_media,
    .on_unpublish = rec_unpublish,
    .on_stop_play = rec_stop_play,
    .on_play_control = rec_play_control,
    .on_seek = rec_seek,
};

Test(session_vod, play_start_argument)
{
    struct fix f;
    fix_connect(&f);
    cr_assert_eq(stream_cmd(&f, "snzsn", "play", 0.0, "rec", 2500.0), ST_OK);
    cr_assert_eq(f.s.play_start, 2500.0);
    fix_free(&f);
    fix_connect(&f);
    cr_assert_eq(stream_cmd(&f, "snzs", "play", 0.0, "rec"), ST_OK);
    cr_assert_eq(f.s.play_start, -2000.0, "no start: live or from the beginning");
    fix_free(&f);
    fix_connect(&f);
    cr_assert_eq(stream_cmd(&f, "snz{ksknkn}", "play2", 0.0, "streamName", "rec", "start", 1200.0, "len", -1.0), ST_OK);
    cr_assert_eq(f.s.play_start, 1200.0);
    cr_assert_str_eq(f.rec.play_name, "rec");
    fix_free(&f);
}

Test(session_vod, app_instance_kept)
{
    struct fix f;
    fix_handshake(&f);
    cr_assert_eq(cmd(&f, "sn{ksks}", "connect", 1.0, "app", "vod/live?token=1", "tcUrl", "rtmp://h/vod/live"), ST_OK);
    cr_assert_str_eq(f.s.app, "vod");
    cr_assert_str_eq(f.s.app_instance, "live");
    fix_free(&f);
    fix_connect(&f);
    cr_assert_str_eq(f.s.app_instance, "");
    fix_free(&f);
}

Test(session_vod, seek_on_a_live_stream_fails)
{
    struct fix f;
    start_player(&f, 0);
    cr_assert_eq(stream_cmd(&f, "snzn", "seek", 0.0, 3000.0), ST_OK);
    fix_reparse(&f);
    cr_assert_geq(find_msg(&f.msgs, 0, "onStatus", "NetStream.Seek.Failed"), 0);
    cr_assert_eq(f.s.role, RTMP_ROLE_PLAYER, "the player goes on");
    fix_free(&f);
}

Test(session_vod, seek_notifies_then_restarts)
{
    struct fix f;
    start_player(&f, 0);
    f.s.handler = &seek_handler;
    seeks = 0;
    size_t before = f.out.len;
    cr_assert_eq(stream_cmd(&f, "snzn", "seek", 0.0, 3000.0), ST_OK);
    cr_assert_eq(seeks, 1);
    cr_assert_eq(seek_ms, 3000);
    cr_assert_gt(f.out.len, before);
    fix_reparse(&f);
    long start0 = find_msg(&f.msgs, 0, "onStatus", "NetStream.Play.Start");
    long n = find_msg(&f.msgs, 0, "onStatus", "NetStream.Seek.Notify");
    cr_assert_geq(n, 0);
    cr_assert_gt(find_msg(&f.msgs, (size_t)start0 + 1, "onStatus", "NetStream.Play.Start"), n,
                 "Play.Start follows Seek.Notify");
    /* Refused by the owner, negative, or not a number: Seek.Failed, and the
     * owner is not asked about the bad ones. */
    cr_assert_eq(stream_cmd(&f, "snzn", "seek", 0.0, 4242.0), ST_OK);
    cr_assert_eq(seeks, 2);
    cr_assert_eq(stream_cmd(&f, "snzn", "seek", 0.0, -5.0), ST_OK);
    cr_assert_eq(stream_cmd(&f, "snzs", "seek", 0.0, "10"), ST_OK);
    cr_assert_eq(stream_cmd(&f, "snz", "seek", 0.0), ST_OK);
    cr_assert_eq(stream_cmd(&f, "snzn", "seek", 0.0, 1e12), ST_OK);
    cr_assert_eq(seeks, 2);
    fix_reparse(&f);
    long failed = 0;
    for (size_t i = 0; i < f.msgs.n; i++)
        failed += find_msg(&f.msgs, i, "onStatus", "NetStream.Seek.Failed") == (long)i;
    cr_assert_eq(failed, 5);
    fix_free(&f);
}

Test(session_vod, seek_without_play_is_ignored)
{
    struct fix f;
    fix_connect(&f);
    f.s.handler = &seek_handler;
    seeks = 0;
    size_t before = f.out.len;
    cr_assert_eq(stream_cmd(&f, "snzn", "seek", 0.0, 1000.0), ST_OK);
    cr_assert_eq(seeks, 0);
    cr_assert_eq(f.out.len, before);
    fix_free(&f);
}
