#include "rtmp/rtmp_session.h"

#include "amf/amf0.h"
#include "core/log.h"
#include "core/status.h"
#include "rtmp/rtmp_chunk_writer.h"
#include "rtmp/rtmp_message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Commands carry a handful of values; a peer sending more is not a client. */
#define RTMP_SESSION_MAX_COMMAND_VALUES 32
/* Replies are small; this caps one reply's encoding. */
#define RTMP_SESSION_REPLY_MAX 4096

int rtmp_session_init(struct rtmp_session *s, const struct rtmp_session_handler *h, void *owner, struct buf *out,
                      const struct rtmp_session_limits *limits)
{
    memset(s, 0, sizeof(*s));
    s->handler = h;
    s->owner = owner;
    s->out = out;
    s->limits = *limits;
    s->next_stream_id = RTMP_MEDIA_STREAM_ID;
    s->receive_audio = s->receive_video = 1;
    s->handshake = malloc(sizeof(*s->handshake));
    if (!s->handshake)
        return ST_ERROR;
    rtmp_handshake_server_init(s->handshake);
    if (rtmp_chunk_reader_init(&s->reader, limits->max_chunk_size, limits->max_message_size) != ST_OK) {
        free(s->handshake);
        s->handshake = NULL;
        return ST_ERROR;
    }
    return ST_OK;
}

void rtmp_session_free(struct rtmp_session *s)
{
    free(s->handshake);
    s->handshake = NULL;
    rtmp_chunk_reader_free(&s->reader);
}

int rtmp_session_send_message(struct rtmp_session *s, uint32_t csid, uint8_t type, uint32_t timestamp,
                              uint32_t stream_id, const uint8_t *payload, uint32_t length)
{
    struct rtmp_message_header h = {.csid = csid, .type = type, .timestamp = timestamp, .stream_id = stream_id};
    return rtmp_chunk_writer_append(s->out, &h, payload, length, s->limits.out_chunk_size);
}

static int send_control_u32(struct rtmp_session *s, uint8_t type, uint32_t v)
{
    uint8_t p[4];
    wr_be32(p, v);
    return rtmp_session_send_message(s, RTMP_CSID_CONTROL, type, 0, 0, p, 4);
}

int rtmp_session_send_user_control(struct rtmp_session *s, uint16_t event, uint32_t value)
{
    uint8_t p[6];
    wr_be16(p, event);
    wr_be32(p + 2, value);
    return rtmp_session_send_message(s, RTMP_CSID_CONTROL, RTMP_MSG_USER_CONTROL, 0, 0, p, 6);
}

/* Commands are answered in the encoding the client used: type 17 replies
 * carry a leading 0 byte and then AMF0 values, which is what AMF3 clients
 * expect for NetConnection replies. */
static int send_command(struct rtmp_session *s, uint32_t csid, uint32_t stream_id, struct buf *body)
{
    if (s->object_encoding == 3) {
        struct buf b;
        buf_init(&b, RTMP_SESSION_REPLY_MAX + 1);
        int rc = buf_append_u8(&b, 0);
        if (rc == ST_OK)
            rc = buf_append(&b, body->data, body->len);
        if (rc == ST_OK)
            rc = rtmp_session_send_message(s, csid, RTMP_MSG_COMMAND_AMF3, 0, stream_id, b.data, (uint32_t)b.len);
        buf_free(&b);
        return rc;
    }
    return rtmp_session_send_message(s, csid, RTMP_MSG_COMMAND_AMF0, 0, stream_id, body->data, (uint32_t)body->len);
}

static int write_status_object(struct buf *b, const char *level, const char *code, const char *description)
{
    int rc = amf0_write_object_start(b);
    rc |= amf0_write_key(b, "level");
    rc |= amf0_write_cstring(b, level);
    rc |= amf0_write_key(b, "code");
    rc |= amf0_write_cstring(b, code);
    rc |= amf0_write_key(b, "description");
    rc |= amf0_write_cstring(b, description ? description : "");
    return rc;
}

int rtmp_session_send_status(struct rtmp_session *s, const char *level, const char *code, const char *description)
{
    struct buf b;
    buf_init(&b, RTMP_SESSION_REPLY_MAX);
    int rc = amf0_write_cstring(&b, "onStatus");
    rc |= amf0_write_number(&b, 0);
    rc |= amf0_write_null(&b);
    rc |= write_status_object(&b, level, code, description);
    rc |= amf0_write_object_end(&b);
    if (rc == ST_OK)
        rc = send_command(s, RTMP_CSID_AMF, s->media_stream_id, &b);
    buf_free(&b);
    return rc ? ST_ERROR : ST_OK;
}

/* `_result` / `_error` with a null (or given) command object and one more value. */
static int send_result(struct rtmp_session *s, const char *name, double txn, const struct amf_value *info)
{
    struct buf b;
    buf_init(&b, RTMP_SESSION_REPLY_MAX);
    int rc = amf0_write_cstring(&b, name);
    rc |= amf0_write_number(&b, txn);
    rc |= amf0_write_null(&b);
    if (info)
        rc |= amf0_write_value(&b, info);
    else
        rc |= amf0_write_undefined(&b);
    if (rc == ST_OK)
        rc = send_command(s, RTMP_CSID_COMMAND, 0, &b);
    buf_free(&b);
    return rc ? ST_ERROR : ST_OK;
}

static int send_result_number(struct rtmp_session *s, double txn, double value)
{
    struct amf_value v = {.type = AMF_NUMBER, .num = value};
    return send_result(s, "_result", txn, &v);
}

static int send_call_error(struct rtmp_session *s, double txn, const char *description)
{
    struct buf b;
    buf_init(&b, RTMP_SESSION_REPLY_MAX);
    int rc = amf0_write_cstring(&b, "_error");
    rc |= amf0_write_number(&b, txn);
    rc |= amf0_write_null(&b);
    rc |= write_status_object(&b, "error", "NetConnection.Call.Failed", description);
    rc |= amf0_write_object_end(&b);
    if (rc == ST_OK)
        rc = send_command(s, RTMP_CSID_COMMAND, 0, &b);
    buf_free(&b);
    return rc ? ST_ERROR : ST_OK;
}

/* Copy a string value into a fixed field; overlong names are refused rather
 * than truncated, so two long keys can never collide. */
static int copy_name(char *dst, size_t cap, const struct amf_value *v)
{
    if (!v || v->type != AMF_STRING || v->len >= cap || memchr(v->str, '\0', v->len))
        return ST_ERROR;
    memcpy(dst, v->str, v->len + 1);
    return ST_OK;
}

/* Split "name?query" into stream_name and stream_query. */
static int set_stream_name(struct rtmp_session *s, const struct amf_value *v)
{
    char full[RTMP_SESSION_MAX_NAME * 2];
    if (copy_name(full, sizeof(full), v) != ST_OK)
        return ST_ERROR;
    char *q = strchr(full, '?');
    s->stream_query[0] = '\0';
    if (q) {
        *q++ = '\0';
        if (strlen(q) >= sizeof(s->stream_query))
            return ST_ERROR;
        memcpy(s->stream_query, q, strlen(q) + 1);
    }
    size_t n = strlen(full);
    if (n == 0 || n >= sizeof(s->stream_name))
        return ST_ERROR;
    memcpy(s->stream_name, full, n + 1);
    return ST_OK;
}

static int handle_connect(struct rtmp_session *s, double txn, const struct amf_value *args, size_t nargs)
{
    const struct amf_value *obj = nargs > 0 ? &args[0] : NULL;
    if (s->connected) {
        s->error = "connect sent twice";
        return ST_ERROR;
    }
    if (!obj || obj->type != AMF_OBJECT) {
        s->error = "connect without a command object";
        return ST_ERROR;
    }
    const struct amf_value *app = amf_value_get(obj, "app");
    if (copy_name(s->app, sizeof(s->app), app) != ST_OK) {
        s->error = "connect: missing or invalid app";
        return ST_ERROR;
    }
    /* Some clients put "app/instance" or a trailing slash; the first segment
     * is the app, the rest is kept (recordings are played as vod/<app>/<file>). */
    char *slash = strchr(s->app, '/');
    if (slash) {
        *slash = '\0';
        memcpy(s->app_instance, slash + 1, strlen(slash + 1) + 1);
        char *q = strchr(s->app_instance, '?');
        if (q)
            *q = '\0';
    }
    /* "app?token=..." (a key pasted into the server URL): the app is what
     * precedes '?', as nginx-rtmp does; the rest never reaches a log. */
    char *query = strchr(s->app, '?');
    if (query)
        *query = '\0';
    const struct amf_value *tc = amf_value_get(obj, "tcUrl");
    if (tc)
        copy_name(s->tc_url, sizeof(s->tc_url), tc);
    const struct amf_value *fv = amf_value_get(obj, "flashVer");
    if (fv)
        copy_name(s->flash_ver, sizeof(s->flash_ver), fv);
    s->object_encoding = amf_value_get_number(obj, "objectEncoding", 0) == 3 ? 3 : 0;

    /* The same sequence nginx-rtmp sends, which every client in CLIENTS.md
     * expects. It goes first even for a refusal: our replies are chunked at
     * out_chunk_size, which the client must know to read them. */
    int rc = send_control_u32(s, RTMP_MSG_WINDOW_ACK_SIZE, s->limits.window_ack_size);
    uint8_t bw[5];
    wr_be32(bw, s->limits.peer_bandwidth);
    bw[4] = 2; /* dynamic */
    rc |= rtmp_session_send_message(s, RTMP_CSID_CONTROL, RTMP_MSG_SET_PEER_BANDWIDTH, 0, 0, bw, 5);
    rc |= send_control_u32(s, RTMP_MSG_SET_CHUNK_SIZE, s->limits.out_chunk_size);

    struct rtmp_session_verdict v = {0};
    if (s->handler->on_connect && s->handler->on_connect(s, &v) != ST_OK) {
        struct buf b;
        buf_init(&b, RTMP_SESSION_REPLY_MAX);
        rc |= amf0_write_cstring(&b, "_error");
        rc |= amf0_write_number(&b, txn);
        rc |= amf0_write_null(&b);
        rc |= write_status_object(&b, "error", v.code ? v.code : "NetConnection.Connect.Rejected",
                                  v.description ? v.description : "connection rejected");
        if (v.redirect) {
            /* The FMS/Wowza convention clients that follow redirects read. */
            rc |= amf0_write_key(&b, "ex");
            rc |= amf0_write_object_start(&b);
            rc |= amf0_write_key(&b, "code");
            rc |= amf0_write_number(&b, 302);
            rc |= amf0_write_key(&b, "redirect");
            rc |= amf0_write_cstring(&b, v.redirect);
            rc |= amf0_write_object_end(&b);
        }
        rc |= amf0_write_object_end(&b);
        if (rc == ST_OK)
            send_command(s, RTMP_CSID_COMMAND, 0, &b);
        buf_free(&b);
        s->error = "connect rejected";
        return ST_ERROR;
    }

    struct buf b;
    buf_init(&b, RTMP_SESSION_REPLY_MAX);
    rc |= amf0_write_cstring(&b, "_result");
    rc |= amf0_write_number(&b, txn);
    rc |= amf0_write_object_start(&b);
    rc |= amf0_write_key(&b, "fmsVer");
    rc |= amf0_write_cstring(&b, "FMS/3,0,1,123");
    rc |= amf0_write_key(&b, "capabilities");
    rc |= amf0_write_number(&b, 31);
    rc |= amf0_write_object_end(&b);
    rc |= write_status_object(&b, "status", "NetConnection.Connect.Success", "Connection succeeded.");
    rc |= amf0_write_key(&b, "objectEncoding");
    rc |= amf0_write_number(&b, s->object_encoding);
    rc |= amf0_write_object_end(&b);
    if (rc == ST_OK)
        rc = send_command(s, RTMP_CSID_COMMAND, 0, &b);
    buf_free(&b);
    s->connected = 1;
    if (rc != ST_OK)
        s->error = "output buffer full";
    return rc ? ST_ERROR : ST_OK;
}

static int handle_publish(struct rtmp_session *s, double txn, const struct amf_value *args, size_t nargs)
{
    if (s->role != RTMP_ROLE_NONE) {
        s->error = "publish on a session that already publishes or plays";
        return ST_ERROR;
    }
    s->media_stream_id = s->media_stream_id ? s->media_stream_id : RTMP_MEDIA_STREAM_ID;
    if (nargs < 2 || set_stream_name(s, &args[1]) != ST_OK)
        return rtmp_session_send_status(s, "error", "NetStream.Publish.BadName", "invalid stream name");
    if (s->publish_pending) {
        s->error = "publish while another publish is pending";
        return ST_ERROR;
    }
    struct rtmp_session_verdict v = {0};
    int rc = s->handler->on_publish(s, s->stream_name, &v);
    if (rc == ST_AGAIN) {
        s->publish_pending = 1;
        return ST_OK;
    }
    s->publish_pending = 1;
    return rtmp_session_publish_decided(s, rc == ST_OK, &v);
}

int rtmp_session_publish_decided(struct rtmp_session *s, int ok, const struct rtmp_session_verdict *v)
{
    if (!s->publish_pending)
        return ST_ERROR;
    s->publish_pending = 0;
    if (!ok)
        return rtmp_session_send_status(s, "error", v && v->code ? v->code : "NetStream.Publish.BadName",
                                        v && v->description ? v->description : "publish refused");
    s->role = RTMP_ROLE_PUBLISHER;
    char desc[RTMP_SESSION_MAX_NAME + 32];
    snprintf(desc, sizeof(desc), "%s is now published.", s->stream_name);
    return rtmp_session_send_status(s, "status", "NetStream.Publish.Start", desc);
}

static int start_play(struct rtmp_session *s, int reset)
{
    struct rtmp_session_verdict v = {0};
    /* Ask first, so a refused player never sees Play.Start. The owner's
     * start-up frames queue behind our private bytes, which the output
     * queue always sends first, so the status still precedes the media.
     * The role is taken while the owner decides, so a second play or a
     * publish meanwhile is refused and deleteStream reaches on_stop_play. */
    s->role = RTMP_ROLE_PLAYER;
    s->play_pending = 1;
    s->play_reset = reset;
    int rc = s->handler->on_play(s, s->stream_name, &v);
    if (rc == ST_AGAIN)
        return ST_OK;
    return rtmp_session_play_decided(s, rc == ST_OK, &v);
}

int rtmp_session_play_decided(struct rtmp_session *s, int ok, const struct rtmp_session_verdict *v)
{
    char desc[RTMP_SESSION_MAX_NAME + 32];
    if (!s->play_pending)
        return ST_ERROR;
    s->play_pending = 0;
    if (!ok) {
        s->role = RTMP_ROLE_NONE;
        return rtmp_session_send_status(s, "error", v && v->code ? v->code : "NetStream.Play.StreamNotFound",
                                        v && v->description ? v->description : "stream not found");
    }
    s->role = RTMP_ROLE_PLAYER;
    int rc = rtmp_session_send_user_control(s, RTMP_UC_STREAM_BEGIN, s->media_stream_id);
    if (s->play_reset) {
        snprintf(desc, sizeof(desc), "Playing and resetting %s.", s->stream_name);
        rc |= rtmp_session_send_status(s, "status", "NetStream.Play.Reset", desc);
    }
    snprintf(desc, sizeof(desc), "Started playing %s.", s->stream_name);
    rc |= rtmp_session_send_status(s, "status", "NetStream.Play.Start", desc);
    struct buf b;
    buf_init(&b, RTMP_SESSION_REPLY_MAX);
    rc |= amf0_write_cstring(&b, "|RtmpSampleAccess");
    rc |= amf0_write_bool(&b, 1);
    rc |= amf0_write_bool(&b, 1);
    if (rc == ST_OK)
        rc = rtmp_session_send_message(s, RTMP_CSID_AMF, RTMP_MSG_DATA_AMF0, 0, s->media_stream_id, b.data,
                                       (uint32_t)b.len);
    buf_free(&b);
    if (rc != ST_OK) {
        s->error = "output buffer full";
        return ST_ERROR;
    }
    return ST_OK;
}

static int handle_play(struct rtmp_session *s, const struct amf_value *args, size_t nargs)
{
    if (s->role != RTMP_ROLE_NONE || s->publish_pending) {
        s->error = "play on a session that already publishes or plays";
        return ST_ERROR;
    }
    s->media_stream_id = s->media_stream_id ? s->media_stream_id : RTMP_MEDIA_STREAM_ID;
    if (nargs < 2 || set_stream_name(s, &args[1]) != ST_OK)
        return rtmp_session_send_status(s, "error", "NetStream.Play.StreamNotFound", "invalid stream name");
    /* start (-2 live-or-recorded, -1 live, >=0 recorded offset; ms, as
     * ffmpeg and librtmp send it) matters only for recordings; duration is
     * ignored; reset asks for Play.Reset. */
    s->play_start = nargs >= 3 && args[2].type == AMF_NUMBER ? args[2].num : -2000;
    int reset = nargs >= 5 && args[4].type == AMF_BOOLEAN ? args[4].boolean : 0;
    return start_play(s, reset);
}

static int handle_play2(struct rtmp_session *s, const struct amf_value *args, size_t nargs)
{
    const struct amf_value *params = nargs >= 2 ? &args[1] : NULL;
    const struct amf_value *name = params ? amf_value_get(params, "streamName") : NULL;
    if (s->role == RTMP_ROLE_PLAYER && name && name->type == AMF_STRING) {
        /* play2 on a playing stream switches to another name (bitrate switch). */
        s->play_pending = 0; /* a decision still due is dropped by the owner */
        if (s->handler->on_stop_play)
            s->handler->on_stop_play(s);
        s->role = RTMP_ROLE_NONE;
    }
    if (s->role != RTMP_ROLE_NONE || !name) {
        s->error = "play2 without streamName";
        return ST_ERROR;
    }
    s->media_stream_id = s->media_stream_id ? s->media_stream_id : RTMP_MEDIA_STREAM_ID;
    if (set_stream_name(s, name) != ST_OK)
        return rtmp_session_send_status(s, "error", "NetStream.Play.StreamNotFound", "invalid stream name");
    s->play_start = amf_value_get_number(params, "start", -2000);
    return start_play(s, 0);
}

/* seek(ms) on a playing stream (recordings); ignored when nothing plays. */
static int handle_seek(struct rtmp_session *s, const struct amf_value *args, size_t nargs)
{
    if (s->role != RTMP_ROLE_PLAYER || s->play_pending)
        return ST_OK;
    double ms = nargs >= 2 && args[1].type == AMF_NUMBER ? args[1].num : -1;
    if (!(ms >= 0 && ms <= 4294967295.0) || !s->handler->on_seek || s->handler->on_seek(s, (uint32_t)ms) != ST_OK)
        return rtmp_session_send_status(s, "error", "NetStream.Seek.Failed",
                                        "Seek failed: not a recording, or no such position.");
    char desc[RTMP_SESSION_MAX_NAME + 32];
    snprintf(desc, sizeof(desc), "Seeking %u (stream ID: %u).", (uint32_t)ms, s->media_stream_id);
    int rc = rtmp_session_send_user_control(s, RTMP_UC_STREAM_BEGIN, s->media_stream_id);
    rc |= rtmp_session_send_status(s, "status", "NetStream.Seek.Notify", desc);
    snprintf(desc, sizeof(desc), "Started playing %s.", s->stream_name);
    rc |= rtmp_session_send_status(s, "status", "NetStream.Play.Start", desc);
    if (rc != ST_OK)
        s->error = "output buffer full";
    return rc ? ST_ERROR : ST_OK;
}

static void stop_role(struct rtmp_session *s)
{
    if (s->publish_pending) {
        /* Stopped before the decision: the owner drops it when it arrives. */
        s->publish_pending = 0;
        if (s->handler->on_unpublish)
            s->handler->on_unpublish(s);
    }
    if (s->role == RTMP_ROLE_PUBLISHER) {
        s->role = RTMP_ROLE_NONE;
        if (s->handler->on_unpublish)
            s->handler->on_unpublish(s);
        char desc[RTMP_SESSION_MAX_NAME + 32];
        snprintf(desc, sizeof(desc), "%s is now unpublished.", s->stream_name);
        rtmp_session_send_status(s, "status", "NetStream.Unpublish.Success", desc);
    } else if (s->role == RTMP_ROLE_PLAYER) {
        s->role = RTMP_ROLE_NONE;
        s->play_pending = 0; /* stopped before the decision: the owner drops it */
        if (s->handler->on_stop_play)
            s->handler->on_stop_play(s);
        rtmp_session_send_user_control(s, RTMP_UC_STREAM_EOF, s->media_stream_id);
    }
}

static int handle_command(struct rtmp_session *s, const uint8_t *p, uint32_t len)
{
    struct amf_value *vals = NULL;
    size_t n = 0;
    const char *err = NULL;
    if (amf0_decode_all(p, len, RTMP_SESSION_MAX_COMMAND_VALUES, &vals, &n, &err) != ST_OK) {
        LOG_WARN("rtmp: bad AMF in command: %s", err ? err : "?");
        s->error = "malformed AMF command";
        return ST_ERROR;
    }
    int rc = ST_OK;
    if (n < 2 || vals[0].type != AMF_STRING || vals[1].type != AMF_NUMBER) {
        s->error = "command without name and transaction id";
        rc = ST_ERROR;
        goto out;
    }
    const char *name = vals[0].str;
    double txn = vals[1].num;
    const struct amf_value *args = vals + 2; /* args[0] is the command object (often null) */
    size_t nargs = n - 2;

    if (!s->connected && strcmp(name, "connect") != 0) {
        s->error = "command before connect";
        rc = ST_ERROR;
        goto out;
    }
    if (strcmp(name, "connect") == 0) {
        rc = handle_connect(s, txn, args, nargs);
    } else if (strcmp(name, "createStream") == 0) {
        /* One media stream per connection is what every client uses; ids
         * still count up so a second createStream gets a distinct one. */
        rc = send_result_number(s, txn, s->next_stream_id++);
    } else if (strcmp(name, "releaseStream") == 0 || strcmp(name, "FCPublish") == 0 ||
               strcmp(name, "FCUnpublish") == 0) {
        /* Publishers send these around publish; none waits for an answer,
         * but FMS answered them and some encoders log a missing reply. */
        if (strcmp(name, "FCPublish") == 0 && nargs >= 2 && args[1].type == AMF_STRING) {
            struct buf b;
            buf_init(&b, RTMP_SESSION_REPLY_MAX);
            int r = amf0_write_cstring(&b, "onFCPublish");
            r |= amf0_write_number(&b, 0);
            r |= amf0_write_null(&b);
            r |= write_status_object(&b, "status", "NetStream.Publish.Start", args[1].str);
            r |= amf0_write_object_end(&b);
            if (r == ST_OK)
                send_command(s, RTMP_CSID_COMMAND, 0, &b);
            buf_free(&b);
        }
        if (txn > 0)
            rc = send_result(s, "_result", txn, NULL);
    } else if (strcmp(name, "publish") == 0) {
        rc = handle_publish(s, txn, args, nargs);
    } else if (strcmp(name, "play") == 0) {
        rc = handle_play(s, args, nargs);
    } else if (strcmp(name, "play2") == 0) {
        rc = handle_play2(s, args, nargs);
    } else if (strcmp(name, "seek") == 0) {
        rc = handle_seek(s, args, nargs);
    } else if (strcmp(name, "deleteStream") == 0 || strcmp(name, "closeStream") == 0) {
        stop_role(s);
    } else if (strcmp(name, "pause") == 0 || strcmp(name, "pauseRaw") == 0) {
        int pause = nargs >= 2 && args[1].type == AMF_BOOLEAN ? args[1].boolean : !s->paused;
        if (s->role == RTMP_ROLE_PLAYER) {
            s->paused = pause;
            rc = rtmp_session_send_status(s, "status", pause ? "NetStream.Pause.Notify" : "NetStream.Unpause.Notify",
                                          pause ? "Paused live stream." : "Unpaused live stream.");
            if (s->handler->on_play_control)
                s->handler->on_play_control(s);
        }
    } else if (strcmp(name, "receiveAudio") == 0 || strcmp(name, "receiveVideo") == 0) {
        int on = nargs >= 2 && args[1].type == AMF_BOOLEAN ? args[1].boolean : 1;
        if (name[7] == 'A')
            s->receive_audio = on;
        else
            s->receive_video = on;
        if (s->handler->on_play_control)
            s->handler->on_play_control(s);
    } else if (strcmp(name, "getStreamLength") == 0 || strcmp(name, "FCSubscribe") == 0 ||
               strcmp(name, "FCUnsubscribe") == 0 || strcmp(name, "_checkbw") == 0 ||
               strcmp(name, "_result") == 0 || strcmp(name, "_error") == 0 || strcmp(name, "onBWDone") == 0) {
        /* Sent by libavformat/librtmp players ahead of play; a live stream has
         * no length and nginx-rtmp answers none of these, so neither do we. */
    } else {
        s->unknown_commands++;
        LOG_DEBUG("rtmp: unknown command '%s' from app=%s", name, s->app);
        char desc[128];
        snprintf(desc, sizeof(desc), "unknown command %.64s", name);
        rc = send_call_error(s, txn, desc);
    }
out:
    amf_values_free(vals, n);
    return rc;
}

/* A data message from a publisher: @setDataFrame(onMetaData, obj) is stored
 * as onMetaData(obj), as FMS does, so players see what they expect. */
static int handle_data(struct rtmp_session *s, uint32_t ts, const uint8_t *p, uint32_t len)
{
    if (s->role != RTMP_ROLE_PUBLISHER)
        return ST_OK; /* players may send data (e.g. |RtmpSampleAccess): nothing to do */
    static const uint8_t set_data_frame[] = {0x02, 0x00, 0x0d, '@', 's', 'e', 't', 'D', 'a', 't', 'a', 'F', 'r', 'a', 'm', 'e'};
    if (len >= sizeof(set_data_frame) && memcmp(p, set_data_frame, sizeof(set_data_frame)) == 0) {
        p += sizeof(set_data_frame);
        len -= (uint32_t)sizeof(set_data_frame);
    }
    if (len == 0)
        return ST_OK;
    s->handler->on_media(s, RTMP_MSG_DATA_AMF0, ts, p, len);
    return ST_OK;
}

static int handle_user_control(struct rtmp_session *s, const uint8_t *p, uint32_t len)
{
    if (len < 2) {
        s->error = "short user control message";
        return ST_ERROR;
    }
    uint16_t ev = rd_be16(p);
    switch (ev) {
    case RTMP_UC_SET_BUFFER_LENGTH:
        /* Any value is fine: rtmpdump --live sends 36,000,000 ms. */
        if (len >= 10)
            s->buffer_length_ms = rd_be32(p + 6);
        break;
    case RTMP_UC_PING_REQUEST:
        if (len >= 6)
            return rtmp_session_send_user_control(s, RTMP_UC_PING_RESPONSE, rd_be32(p + 2));
        break;
    default:
        break; /* PingResponse, StreamBegin from clients...: nothing to do */
    }
    return ST_OK;
}

static int handle_message(struct rtmp_session *s, const struct rtmp_message *m)
{
    const uint8_t *p = m->payload;
    switch (m->type) {
    case RTMP_MSG_SET_CHUNK_SIZE:
        if (m->length < 4) {
            s->error = "short Set Chunk Size";
            return ST_ERROR;
        }
        if (rtmp_chunk_reader_set_chunk_size(&s->reader, rd_be32(p)) != ST_OK) {
            s->error = "peer chunk size out of range";
            return ST_ERROR;
        }
        return ST_OK;
    case RTMP_MSG_ABORT:
        if (m->length >= 4)
            rtmp_chunk_reader_abort(&s->reader, rd_be32(p));
        return ST_OK;
    case RTMP_MSG_ACK:
    case RTMP_MSG_SET_PEER_BANDWIDTH:
        return ST_OK;
    case RTMP_MSG_WINDOW_ACK_SIZE:
        /* Follow the latest value: rtmp2src sends two (CLIENTS.md 2.4). */
        if (m->length >= 4)
            s->peer_ack_window = rd_be32(p);
        return ST_OK;
    case RTMP_MSG_USER_CONTROL:
        return handle_user_control(s, p, m->length);
    case RTMP_MSG_AUDIO:
    case RTMP_MSG_VIDEO:
        if (s->role == RTMP_ROLE_PUBLISHER && m->length > 0)
            s->handler->on_media(s, m->type, m->timestamp, p, m->length);
        return ST_OK;
    case RTMP_MSG_DATA_AMF0:
        return handle_data(s, m->timestamp, p, m->length);
    case RTMP_MSG_DATA_AMF3:
        /* AMF3 data messages start with a format byte, then AMF0. */
        return m->length > 1 ? handle_data(s, m->timestamp, p + 1, m->length - 1) : ST_OK;
    case RTMP_MSG_COMMAND_AMF0:
        return handle_command(s, p, m->length);
    case RTMP_MSG_COMMAND_AMF3:
        if (m->length < 1) {
            s->error = "empty AMF3 command";
            return ST_ERROR;
        }
        if (s->object_encoding == 0 && !s->connected)
            s->object_encoding = 3;
        return handle_command(s, p + 1, m->length - 1);
    case RTMP_MSG_AGGREGATE:
    case RTMP_MSG_SHARED_OBJECT_AMF0:
    case RTMP_MSG_SHARED_OBJECT_AMF3:
    default:
        /* Not used by any client in CLIENTS.md; ignoring keeps the session. */
        LOG_DEBUG("rtmp: ignoring message type %u (%u bytes)", m->type, m->length);
        return ST_OK;
    }
}

static int maybe_ack(struct rtmp_session *s)
{
    if (s->peer_ack_window == 0 || s->bytes_in - s->last_ack_bytes < s->peer_ack_window)
        return ST_OK;
    s->last_ack_bytes = s->bytes_in;
    /* The sequence number is the byte count modulo 2^32. */
    return send_control_u32(s, RTMP_MSG_ACK, (uint32_t)s->bytes_in);
}

int rtmp_session_feed(struct rtmp_session *s, const uint8_t *in, size_t len)
{
    s->bytes_in += len;
    while (len > 0 && !s->handshake_done) {
        size_t used = 0;
        int rc = rtmp_handshake_feed(s->handshake, in, len, &used, s->out);
        if (rc == ST_ERROR) {
            s->error = s->handshake->error ? s->handshake->error : "handshake failed";
            return ST_ERROR;
        }
        in += used;
        len -= used;
        if (rc != ST_DONE)
            return ST_OK;
        s->handshake_done = 1;
        free(s->handshake); /* a long-lived player should not carry it */
        s->handshake = NULL;
    }
    while (len > 0) {
        struct rtmp_message m;
        size_t used = 0;
        int rc = rtmp_chunk_reader_feed(&s->reader, in, len, &used, &m);
        if (rc == ST_ERROR) {
            s->error = s->reader.error ? s->reader.error : "chunk stream error";
            return ST_ERROR;
        }
        in += used;
        len -= used;
        if (rc == ST_AGAIN)
            break;
        if (handle_message(s, &m) != ST_OK) {
            if (!s->error)
                s->error = "output buffer full";
            return ST_ERROR;
        }
    }
    return maybe_ack(s);
}
