/*
 * rtmp_session: the server side of one RTMP connection as a pure protocol
 * engine: handshake, chunk stream, protocol control, user control and the
 * NetConnection/NetStream commands. No sockets: the owner feeds received
 * bytes with rtmp_session_feed and sends whatever the session appended to
 * its output buffer (replies, control messages, status events).
 *
 * Decisions that are policy (may this client publish this name? is there a
 * stream to play?) are asked of the owner through struct rtmp_session_handler.
 * Media the client publishes is handed to on_media as whole messages.
 *
 * Ownership: the owner embeds the struct and owns the output buffer it passes
 * to init (the session only appends to it). init allocates the chunk reader;
 * rtmp_session_free releases everything the session owns. Strings in the
 * session (app, names) are owned by it and live until free.
 *
 * Errors: feed returns ST_ERROR when the peer broke the protocol or a bound;
 * s->error then holds a static reason for the log, and the owner closes the
 * connection (after the current loop iteration, STYLE.md 9). A command the
 * session does not know gets an `_error` reply and the session goes on.
 *
 * Loop: called only from the loop that owns the connection. Never blocks.
 */
#ifndef SC_RTMP_SESSION_H
#define SC_RTMP_SESSION_H

#include "amf/amf_value.h"
#include "core/buf.h"
#include "rtmp/rtmp_chunk_reader.h"
#include "rtmp/rtmp_handshake.h"

#include <stdint.h>

#define RTMP_SESSION_MAX_NAME 256

struct rtmp_session;

enum rtmp_session_role { RTMP_ROLE_NONE = 0, RTMP_ROLE_PUBLISHER, RTMP_ROLE_PLAYER };

/* What the owner answers to a publish or play request. */
struct rtmp_session_verdict {
    const char *code;        /* status code on refusal, e.g. "NetStream.Publish.BadName" */
    const char *description; /* human-readable reason, sent to the client and logged */
    const char *redirect;    /* connect refusal only: URL of a node to try instead (ex.redirect) */
};

struct rtmp_session_handler {
    /* connect arrived (app, tc_url, connect object filled in). Return ST_OK to
     * accept, ST_ERROR to reject with NetConnection.Connect.Rejected and
     * v->description. May be NULL (accept). */
    int (*on_connect)(struct rtmp_session *s, struct rtmp_session_verdict *v);
    /* publish(name). ST_OK: the session sends NetStream.Publish.Start.
     * ST_ERROR: it sends v->code/description and stays connected.
     * ST_AGAIN: the decision needs a round trip (a directory claim); the
     * owner answers later with rtmp_session_publish_decided. Media arriving
     * meanwhile is dropped (clients wait for Publish.Start anyway). */
    int (*on_publish)(struct rtmp_session *s, const char *name, struct rtmp_session_verdict *v);
    /* play(name). ST_OK: the owner starts delivery (queues frames); the
     * session then sends StreamBegin, Play.Start and |RtmpSampleAccess, which
     * go out before those frames. ST_ERROR: only v->code (e.g.
     * NetStream.Play.StreamNotFound) is sent. ST_AGAIN: the decision needs a
     * round trip (a webhook); the owner answers later with
     * rtmp_session_play_decided, after starting delivery on success, as for
     * ST_OK. Meanwhile the session counts as a player (a second play or a
     * publish is refused) and deleteStream calls on_stop_play. */
    int (*on_play)(struct rtmp_session *s, const char *name, struct rtmp_session_verdict *v);
    /* Audio, video or data message from the publisher (data already stripped
     * of @setDataFrame, so it starts with the handler name such as
     * "onMetaData"). The payload is borrowed for the duration of the call. */
    void (*on_media)(struct rtmp_session *s, uint8_t type, uint32_t timestamp, const uint8_t *payload,
                     uint32_t length);
    /* The publisher stopped (deleteStream/closeStream, or the connection
     * ended); FCUnpublish alone changes nothing, every client follows it
     * with deleteStream. */
    void (*on_unpublish)(struct rtmp_session *s);
    /* The player stopped (deleteStream/closeStream). */
    void (*on_stop_play)(struct rtmp_session *s);
    /* pause(1)/pause(0), receiveAudio/receiveVideo changed. May be NULL. */
    void (*on_play_control)(struct rtmp_session *s);
    /* seek(ms) from a player. ST_OK: the owner repositioned its output
     * (dropping what was queued); the session then sends StreamBegin,
     * NetStream.Seek.Notify and NetStream.Play.Start. ST_ERROR (or NULL: a
     * live stream cannot seek): NetStream.Seek.Failed. */
    int (*on_seek)(struct rtmp_session *s, uint32_t ms);
};

struct rtmp_session_limits {
    uint32_t out_chunk_size;   /* chunk size we announce and send with */
    uint32_t max_chunk_size;   /* largest Set Chunk Size accepted from the peer */
    uint32_t max_message_size; /* largest message accepted from the peer */
    uint32_t window_ack_size;  /* our Window Acknowledgement Size */
    uint32_t peer_bandwidth;   /* Set Peer Bandwidth we send */
};

struct rtmp_session {
    const struct rtmp_session_handler *handler;
    void *owner;     /* for the handler: the connection that embeds us */
    struct buf *out; /* owner's output buffer */
    struct rtmp_session_limits limits;
    struct rtmp_handshake *handshake; /* only while the handshake runs (1.5 KiB) */
    struct rtmp_chunk_reader reader;
    int handshake_done;
    int connected;
    enum rtmp_session_role role;
    const char *error; /* static reason after ST_ERROR */

    char app[RTMP_SESSION_MAX_NAME];
    char tc_url[RTMP_SESSION_MAX_NAME * 2];
    char flash_ver[64];
    char stream_name[RTMP_SESSION_MAX_NAME]; /* published or played name, no query */
    char stream_query[RTMP_SESSION_MAX_NAME]; /* what followed '?' (tokens), may be empty */
    char app_instance[RTMP_SESSION_MAX_NAME]; /* what followed the first '/' of connect's app
                                                 (ffmpeg sends "vod/live" for .../vod/live/x), may be empty */
    double play_start; /* play's start argument in ms (< 0: live, or from the beginning) */
    int object_encoding;   /* 0 or 3, echoed in the connect reply */
    uint32_t next_stream_id;
    uint32_t media_stream_id; /* message stream of publish/play */
    int publish_pending; /* on_publish answered ST_AGAIN, decision not in yet */
    int play_pending;    /* on_play answered ST_AGAIN, decision not in yet */
    int play_reset;      /* the pending play asked for NetStream.Play.Reset */
    int paused;
    int receive_audio, receive_video;
    uint32_t buffer_length_ms; /* last SetBufferLength */

    uint32_t peer_ack_window; /* ack every this many bytes (peer's WinAckSize), 0 = never */
    uint64_t last_ack_bytes;
    uint64_t bytes_in; /* total bytes received, handshake included */
    uint32_t unknown_commands;
};

/* Prepare a session; out is where replies are appended. ST_OK/ST_ERROR. */
int rtmp_session_init(struct rtmp_session *s, const struct rtmp_session_handler *h, void *owner, struct buf *out,
                      const struct rtmp_session_limits *limits);
void rtmp_session_free(struct rtmp_session *s);

/* Process received bytes (all of them, or fail). ST_OK, or ST_ERROR with
 * s->error set. Handler callbacks run from inside this call. */
int rtmp_session_feed(struct rtmp_session *s, const uint8_t *in, size_t len);

/* Complete a publish that on_publish left pending: ok != 0 makes the
 * session a publisher and sends Publish.Start, else v's status is sent.
 * ST_OK, or ST_ERROR if nothing was pending or the output is full. */
int rtmp_session_publish_decided(struct rtmp_session *s, int ok, const struct rtmp_session_verdict *v);

/* Complete a play that on_play left pending: ok != 0 sends StreamBegin,
 * Play.Start and |RtmpSampleAccess (the owner has started delivery), else
 * v's status (default NetStream.Play.StreamNotFound). ST_OK, or ST_ERROR if
 * nothing was pending (stopped meanwhile) or the output is full. */
int rtmp_session_play_decided(struct rtmp_session *s, int ok, const struct rtmp_session_verdict *v);

/* Send helpers for the owner (append to s->out). */
int rtmp_session_send_status(struct rtmp_session *s, const char *level, const char *code, const char *description);
int rtmp_session_send_user_control(struct rtmp_session *s, uint16_t event, uint32_t value);
/* Encode a message with the session's output chunk size. */
int rtmp_session_send_message(struct rtmp_session *s, uint32_t csid, uint8_t type, uint32_t timestamp,
                              uint32_t stream_id, const uint8_t *payload, uint32_t length);

#endif
