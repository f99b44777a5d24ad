/*
 * rtmp_client: publish-side RTMP state machine (see the header for the
 * sequence and the return convention).
 */
#include "rtmp/rtmp_client.h"

#include "amf/amf0.h"
#include "core/status.h"
#include "rtmp/rtmp_chunk_writer.h"
#include "rtmp/rtmp_message.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Transaction ids: the ones ffmpeg uses, so nginx-rtmp's replies in the
 * captures (createStream answered as 4) match ours. */
enum { TXN_CONNECT = 1, TXN_RELEASE = 2, TXN_FCPUBLISH = 3, TXN_CREATE = 4, TXN_PUBLISH = 5,
       TXN_FCUNPUBLISH = 6, TXN_DELETE = 7 };

/* Stream-level commands (publish) travel on their own chunk stream, as
 * ffmpeg's do; every message we send starts with a type-0 header, so sharing
 * a csid with media would be harmless too. */
#define CSID_STREAM_COMMAND 8
#define COMMAND_MAX 8192 /* one encoded command of ours */
#define DEFAULT_CAP (1024 * 1024)
#define DEFAULT_FLASH_VER "FMLE/3.0 (compatible; streamcluster)"

/* --- URL ------------------------------------------------------------------ */

static int copy_part(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        return ST_ERROR;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return ST_OK;
}

int rtmp_client_parse_url(const char *url, struct rtmp_client_url *u, const char **err)
{
    memset(u, 0, sizeof(*u));
    size_t skip;
    if (strncasecmp(url, "rtmp://", 7) == 0) {
        skip = 7;
    } else if (strncasecmp(url, "rtmps://", 8) == 0) {
        skip = 8;
        u->tls = 1;
    } else {
        *err = "scheme must be rtmp:// or rtmps://";
        return ST_ERROR;
    }
    const char *auth = url + skip;
    const char *slash = strchr(auth, '/');
    size_t alen = slash ? (size_t)(slash - auth) : strlen(auth);
    if (memchr(auth, '@', alen)) {
        *err = "credentials in the URL are not supported";
        return ST_ERROR;
    }
    const char *host = auth, *port = NULL;
    size_t hlen;
    if (alen > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close) {
            *err = "unterminated [IPv6] host";
            return ST_ERROR;
        }
        host = auth + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < auth + alen) {
            if (close[1] != ':') {
                *err = "junk after [IPv6] host";
                return ST_ERROR;
            }
            port = close + 2;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        hlen = colon ? (size_t)(colon - auth) : alen;
        if (colon) {
            if (memchr(colon + 1, ':', (size_t)(auth + alen - colon - 1))) {
                *err = "IPv6 hosts need [brackets]";
                return ST_ERROR;
            }
            port = colon + 1;
        }
    }
    if (hlen == 0) {
        *err = "empty host";
        return ST_ERROR;
    }
    if (copy_part(u->host, sizeof(u->host), host, hlen) != ST_OK) {
        *err = "host too long";
        return ST_ERROR;
    }
    u->port = u->tls ? 443 : 1935;
    if (port) {
        long v = 0;
        const char *p = port;
        for (; p < auth + alen; p++) {
            if (!isdigit((unsigned char)*p) || v > 65535) {
                *err = "bad port";
                return ST_ERROR;
            }
            v = v * 10 + (*p - '0');
        }
        if (p == port || v < 1 || v > 65535) {
            *err = "bad port";
            return ST_ERROR;
        }
        u->port = (int)v;
    }
    if (!slash || slash[1] == '\0' || slash[1] == '/') {
        *err = "no application in the URL path";
        return ST_ERROR;
    }
    const char *app = slash + 1;
    const char *app_end = strchr(app, '/');
    if (!app_end || app_end[1] == '\0') {
        *err = "no stream name in the URL path";
        return ST_ERROR;
    }
    if (copy_part(u->app, sizeof(u->app), app, (size_t)(app_end - app)) != ST_OK) {
        *err = "application name too long";
        return ST_ERROR;
    }
    if (copy_part(u->name, sizeof(u->name), app_end + 1, strlen(app_end + 1)) != ST_OK) {
        *err = "stream name too long";
        return ST_ERROR;
    }
    if (copy_part(u->tc_url, sizeof(u->tc_url), url, (size_t)(app_end - url)) != ST_OK) {
        *err = "URL too long";
        return ST_ERROR;
    }
    for (const char *p = url; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            *err = "space or control character in the URL";
            return ST_ERROR;
        }
    }
    return ST_OK;
}

/* --- state ---------------------------------------------------------------- */

const char *rtmp_client_state_name(enum rtmp_client_state s)
{
    switch (s) {
    case RTMP_CLIENT_HANDSHAKE: return "handshake";
    case RTMP_CLIENT_CONNECT: return "connect";
    case RTMP_CLIENT_CREATE_STREAM: return "createStream";
    case RTMP_CLIENT_PUBLISH: return "publish";
    case RTMP_CLIENT_READY: return "publishing";
    case RTMP_CLIENT_FAILED: return "failed";
    }
    return "?";
}

static int fail(struct rtmp_client *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record why and stop taking input. Server text ends up in logs: control
 * characters are replaced. Returns rc (ST_ERROR or ST_DONE). */
static int fail(struct rtmp_client *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    for (char *p = c->error; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    c->state = RTMP_CLIENT_FAILED;
    return rc;
}

static char *dup_or_null(const char *s, int *bad)
{
    char *d = strdup(s ? s : "");
    if (!d)
        *bad = 1;
    return d;
}

int rtmp_client_init(struct rtmp_client *c, const struct rtmp_client_config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->state = RTMP_CLIENT_HANDSHAKE;
    if (cfg->chunk_size < 128 || cfg->chunk_size > 0x7fffffffu)
        return fail(c, ST_ERROR, "chunk size %u out of range", cfg->chunk_size);
    c->chunk_size = cfg->chunk_size;
    int bad = 0;
    c->app = dup_or_null(cfg->app, &bad);
    c->tc_url = dup_or_null(cfg->tc_url, &bad);
    c->name = dup_or_null(cfg->name, &bad);
    c->flash_ver = dup_or_null(cfg->flash_ver ? cfg->flash_ver : DEFAULT_FLASH_VER, &bad);
    if (bad || rtmp_chunk_reader_init(&c->reader, cfg->max_chunk_size ? cfg->max_chunk_size : DEFAULT_CAP,
                                      cfg->max_message_size ? cfg->max_message_size : DEFAULT_CAP) != ST_OK) {
        rtmp_client_free(c);
        return fail(c, ST_ERROR, "out of memory");
    }
    c->reader_ready = 1;
    return ST_OK;
}

void rtmp_client_free(struct rtmp_client *c)
{
    if (c->reader_ready)
        rtmp_chunk_reader_free(&c->reader);
    c->reader_ready = 0;
    free(c->app);
    free(c->tc_url);
    free(c->name);
    free(c->flash_ver);
    c->app = c->tc_url = c->name = c->flash_ver = NULL;
}

int rtmp_client_start(struct rtmp_client *c, struct buf *out)
{
    if (c->state != RTMP_CLIENT_HANDSHAKE || !c->reader_ready)
        return ST_ERROR;
    if (rtmp_handshake_client_start(&c->handshake, out) != ST_OK)
        return fail(c, ST_ERROR, "handshake: %s", c->handshake.error ? c->handshake.error : "cannot start");
    return ST_OK;
}

/* --- output --------------------------------------------------------------- */

static int send_message(struct rtmp_client *c, struct buf *out, uint32_t csid, uint8_t type, uint32_t stream_id,
                        const struct buf *body)
{
    struct rtmp_message_header h = {.csid = csid, .type = type, .timestamp = 0, .stream_id = stream_id};
    return rtmp_chunk_writer_append(out, &h, body->data, (uint32_t)body->len, c->chunk_size);
}

static int send_control(struct buf *out, uint8_t type, const uint8_t *p, uint32_t len)
{
    struct rtmp_message_header h = {.csid = RTMP_CSID_CONTROL, .type = type, .timestamp = 0, .stream_id = 0};
    /* Control messages fit one chunk at any size; Set Chunk Size itself must
     * go at the size the server still reads with. */
    return rtmp_chunk_writer_append(out, &h, p, len, RTMP_DEFAULT_CHUNK_SIZE);
}

/* "name", txn, null, then the caller's arguments. */
static int command_head(struct buf *b, const char *name, double txn)
{
    int rc = amf0_write_cstring(b, name);
    rc |= amf0_write_number(b, txn);
    rc |= amf0_write_null(b);
    return rc ? ST_ERROR : ST_OK;
}

static int send_connect(struct rtmp_client *c, struct buf *out)
{
    uint8_t cs[4];
    wr_be32(cs, c->chunk_size);
    if (send_control(out, RTMP_MSG_SET_CHUNK_SIZE, cs, 4) != ST_OK)
        return ST_ERROR;
    struct buf b;
    buf_init(&b, COMMAND_MAX);
    int rc = amf0_write_cstring(&b, "connect");
    rc |= amf0_write_number(&b, TXN_CONNECT);
    rc |= amf0_write_object_start(&b);
    rc |= amf0_write_key(&b, "app");
    rc |= amf0_write_cstring(&b, c->app);
    rc |= amf0_write_key(&b, "type");
    rc |= amf0_write_cstring(&b, "nonprivate");
    rc |= amf0_write_key(&b, "flashVer");
    rc |= amf0_write_cstring(&b, c->flash_ver);
    rc |= amf0_write_key(&b, "tcUrl");
    rc |= amf0_write_cstring(&b, c->tc_url);
    rc |= amf0_write_object_end(&b);
    if (rc == ST_OK)
        rc = send_message(c, out, RTMP_CSID_COMMAND, RTMP_MSG_COMMAND_AMF0, 0, &b);
    buf_free(&b);
    return rc ? ST_ERROR : ST_OK;
}

/* releaseStream + FCPublish + createStream in one write, as ffmpeg does. */
static int send_create_stream(struct rtmp_client *c, struct buf *out)
{
    static const struct {
        const char *name;
        int txn;
        int with_name;
    } cmds[] = {{"releaseStream", TXN_RELEASE, 1}, {"FCPublish", TXN_FCPUBLISH, 1}, {"createStream", TXN_CREATE, 0}};
    struct buf b;
    buf_init(&b, COMMAND_MAX);
    int rc = ST_OK;
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && rc == ST_OK; i++) {
        buf_reset(&b);
        rc = command_head(&b, cmds[i].name, cmds[i].txn);
        if (cmds[i].with_name)
            rc |= amf0_write_cstring(&b, c->name);
        if (rc == ST_OK)
            rc = send_message(c, out, RTMP_CSID_COMMAND, RTMP_MSG_COMMAND_AMF0, 0, &b);
    }
    buf_free(&b);
    return rc ? ST_ERROR : ST_OK;
}

static int send_publish(struct rtmp_client *c, struct buf *out)
{
    struct buf b;
    buf_init(&b, COMMAND_MAX);
    int rc = command_head(&b, "publish", TXN_PUBLISH);
    rc |= amf0_write_cstring(&b, c->name);
    rc |= amf0_write_cstring(&b, "live");
    if (rc == ST_OK)
        rc = send_message(c, out, CSID_STREAM_COMMAND, RTMP_MSG_COMMAND_AMF0, c->stream_id, &b);
    buf_free(&b);
    return rc ? ST_ERROR : ST_OK;
}

int rtmp_client_unpublish(struct rtmp_client *c, struct buf *out)
{
    if (c->state != RTMP_CLIENT_READY)
        return ST_ERROR;
    struct buf b;
    buf_init(&b, COMMAND_MAX);
    int rc = command_head(&b, "FCUnpublish", TXN_FCUNPUBLISH);
    rc |= amf0_write_cstring(&b, c->name);
    if (rc == ST_OK)
        rc = send_message(c, out, RTMP_CSID_COMMAND, RTMP_MSG_COMMAND_AMF0, 0, &b);
    buf_reset(&b);
    if (rc == ST_OK) {
        rc = command_head(&b, "deleteStream", TXN_DELETE);
        rc |= amf0_write_number(&b, c->stream_id);
    }
    if (rc == ST_OK)
        rc = send_message(c, out, RTMP_CSID_COMMAND, RTMP_MSG_COMMAND_AMF0, 0, &b);
    buf_free(&b);
    return rc ? ST_ERROR : ST_OK;
}

/* --- input ---------------------------------------------------------------- */

static const char *info_string(const struct amf_value *info, const char *key)
{
    const char *s = info ? amf_value_get_string(info, key) : NULL;
    return s ? s : "";
}

/* Our replies must fit the owner's buffer; when they do not, the connection
 * is as good as broken. */
static int out_full(struct rtmp_client *c) { return fail(c, ST_ERROR, "output buffer full"); }

static int on_result(struct rtmp_client *c, double txn, const struct amf_value *args, size_t nargs,
                     struct buf *out)
{
    if (txn == TXN_CONNECT && c->state == RTMP_CLIENT_CONNECT) {
        if (send_create_stream(c, out) != ST_OK)
            return out_full(c);
        c->state = RTMP_CLIENT_CREATE_STREAM;
    } else if (txn == TXN_CREATE && c->state == RTMP_CLIENT_CREATE_STREAM) {
        /* _result(txn, null, id): the id is the first number after txn. */
        const struct amf_value *id = NULL;
        for (size_t i = 0; i < nargs && !id; i++)
            if (args[i].type == AMF_NUMBER)
                id = &args[i];
        if (!id || !(id->num >= 1 && id->num <= 0xFFFFFFFFu) || floor(id->num) != id->num)
            return fail(c, ST_ERROR, "createStream returned no usable stream id");
        c->stream_id = (uint32_t)id->num;
        if (send_publish(c, out) != ST_OK)
            return out_full(c);
        c->state = RTMP_CLIENT_PUBLISH;
    }
    /* Anything else answers a call we do not track (releaseStream, FCPublish). */
    return ST_AGAIN;
}

static const struct amf_value *first_object(const struct amf_value *args, size_t nargs)
{
    for (size_t i = 0; i < nargs; i++)
        if (args[i].type == AMF_OBJECT || args[i].type == AMF_ECMA_ARRAY)
            return &args[i];
    return NULL;
}

static int on_error(struct rtmp_client *c, double txn, const struct amf_value *args, size_t nargs)
{
    const struct amf_value *info = first_object(args, nargs);
    const char *what = NULL;
    if (txn == TXN_CONNECT && c->state == RTMP_CLIENT_CONNECT)
        what = "connect";
    else if (txn == TXN_CREATE && c->state == RTMP_CLIENT_CREATE_STREAM)
        what = "createStream";
    else if (txn == TXN_PUBLISH && c->state == RTMP_CLIENT_PUBLISH)
        what = "publish";
    if (!what)
        return ST_AGAIN; /* releaseStream/FCPublish refused: some servers do, harmless */
    return fail(c, ST_ERROR, "%s refused: %s: %s", what, info_string(info, "code"), info_string(info, "description"));
}

static int on_status(struct rtmp_client *c, const struct amf_value *args, size_t nargs)
{
    const struct amf_value *info = first_object(args, nargs);
    const char *code = info_string(info, "code"), *level = info_string(info, "level");
    const char *desc = info_string(info, "description");
    if (c->state == RTMP_CLIENT_PUBLISH) {
        if (strcmp(code, "NetStream.Publish.Start") == 0) {
            c->state = RTMP_CLIENT_READY;
            return ST_OK;
        }
        return fail(c, ST_ERROR, "publish refused: %s: %s", code[0] ? code : "(no code)", desc);
    }
    if (strcmp(level, "error") == 0)
        return fail(c, ST_ERROR, "server error: %s: %s", code, desc);
    if (c->state == RTMP_CLIENT_READY && strcmp(code, "NetStream.Unpublish.Success") == 0)
        return fail(c, ST_DONE, "server ended the publish: %s", code);
    return ST_AGAIN;
}

static int handle_command(struct rtmp_client *c, const uint8_t *p, uint32_t len, struct buf *out)
{
    struct amf_value *vals = NULL;
    size_t n = 0;
    const char *err = NULL;
    if (amf0_decode_all(p, len, RTMP_CLIENT_MAX_VALUES, &vals, &n, &err) != ST_OK)
        return fail(c, ST_ERROR, "bad command from the server: %s", err ? err : "AMF0");
    int rc = ST_AGAIN;
    if (n >= 1 && vals[0].type == AMF_STRING) {
        const char *name = vals[0].str;
        double txn = n >= 2 && vals[1].type == AMF_NUMBER ? vals[1].num : 0;
        const struct amf_value *args = n > 2 ? vals + 2 : NULL;
        size_t nargs = n > 2 ? n - 2 : 0;
        if (strcmp(name, "_result") == 0)
            rc = on_result(c, txn, args, nargs, out);
        else if (strcmp(name, "_error") == 0)
            rc = on_error(c, txn, args, nargs);
        else if (strcmp(name, "onStatus") == 0)
            rc = on_status(c, args, nargs);
        else if (strcmp(name, "close") == 0)
            rc = fail(c, ST_DONE, "server closed the connection (close command)");
        /* onBWDone, onFCPublish, _checkbw...: nothing to do. */
    }
    amf_values_free(vals, n);
    return rc;
}

static int handle_user_control(struct rtmp_client *c, const uint8_t *p, uint32_t len, struct buf *out)
{
    if (len >= 6 && rd_be16(p) == RTMP_UC_PING_REQUEST) {
        uint8_t pong[6];
        wr_be16(pong, RTMP_UC_PING_RESPONSE);
        memcpy(pong + 2, p + 2, 4);
        if (send_control(out, RTMP_MSG_USER_CONTROL, pong, sizeof(pong)) != ST_OK)
            return out_full(c);
    }
    return ST_AGAIN; /* StreamBegin and the rest: informational */
}

/* ST_AGAIN (carry on), ST_OK (became READY), ST_DONE or ST_ERROR. */
static int handle_message(struct rtmp_client *c, const struct rtmp_message *m, struct buf *out)
{
    const uint8_t *p = m->payload;
    switch (m->type) {
    case RTMP_MSG_SET_CHUNK_SIZE:
        if (m->length < 4)
            return fail(c, ST_ERROR, "short Set Chunk Size from the server");
        if (rtmp_chunk_reader_set_chunk_size(&c->reader, rd_be32(p)) != ST_OK)
            return fail(c, ST_ERROR, "server chunk size %u out of range", rd_be32(p));
        return ST_AGAIN;
    case RTMP_MSG_ABORT:
        if (m->length >= 4)
            rtmp_chunk_reader_abort(&c->reader, rd_be32(p));
        return ST_AGAIN;
    case RTMP_MSG_WINDOW_ACK_SIZE:
        if (m->length >= 4)
            c->ack_window = rd_be32(p);
        return ST_AGAIN;
    case RTMP_MSG_SET_PEER_BANDWIDTH:
        if (m->length >= 4)
            c->peer_bandwidth = rd_be32(p);
        return ST_AGAIN;
    case RTMP_MSG_USER_CONTROL:
        return handle_user_control(c, p, m->length, out);
    case RTMP_MSG_COMMAND_AMF0:
        return handle_command(c, p, m->length, out);
    case RTMP_MSG_COMMAND_AMF3:
        /* A format byte, then AMF0 (what servers answer AMF3 clients with). */
        return m->length > 1 ? handle_command(c, p + 1, m->length - 1, out) : ST_AGAIN;
    default:
        return ST_AGAIN; /* acks, data (|RtmpSampleAccess), media: not for a publisher */
    }
}

static int maybe_ack(struct rtmp_client *c, struct buf *out)
{
    if (c->ack_window == 0 || c->bytes_in - c->last_ack < c->ack_window)
        return ST_OK;
    c->last_ack = c->bytes_in;
    uint8_t seq[4];
    wr_be32(seq, (uint32_t)c->bytes_in); /* modulo 2^32 by definition */
    return send_control(out, RTMP_MSG_ACK, seq, 4);
}

int rtmp_client_feed(struct rtmp_client *c, const uint8_t *in, size_t len, size_t *consumed, struct buf *out)
{
    size_t used = 0;
    int rc = ST_AGAIN;
    *consumed = 0;
    if (c->state == RTMP_CLIENT_FAILED || !c->reader_ready)
        return ST_ERROR;
    while (used < len && rc == ST_AGAIN) {
        size_t n = 0;
        if (c->state == RTMP_CLIENT_HANDSHAKE) {
            int hrc = rtmp_handshake_feed(&c->handshake, in + used, len - used, &n, out);
            used += n;
            c->bytes_in += n;
            if (hrc == ST_ERROR) {
                rc = fail(c, ST_ERROR, "handshake: %s", c->handshake.error ? c->handshake.error : "failed");
            } else if (hrc == ST_DONE) {
                if (send_connect(c, out) != ST_OK)
                    rc = out_full(c);
                else
                    c->state = RTMP_CLIENT_CONNECT;
            }
            continue;
        }
        struct rtmp_message m;
        int mrc = rtmp_chunk_reader_feed(&c->reader, in + used, len - used, &n, &m);
        used += n;
        c->bytes_in += n;
        if (mrc == ST_ERROR)
            rc = fail(c, ST_ERROR, "bad chunk stream from the server: %s", c->reader.error ? c->reader.error : "?");
        else if (mrc == ST_OK)
            rc = handle_message(c, &m, out);
    }
    if ((rc == ST_AGAIN || rc == ST_OK) && maybe_ack(c, out) != ST_OK)
        rc = out_full(c);
    *consumed = used;
    return rc;
}
