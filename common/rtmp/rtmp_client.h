/*
 * rtmp_client: the publishing side of an RTMP connection, as a pure state
 * machine (no sockets, no loop): the owner moves bytes, this module decides
 * what they mean and what to answer.
 *
 * Sequence (what ffmpeg and OBS do, CLIENTS.md 1): C0+C1 (simple form);
 * once S0+S1+S2 arrived, C2, Set Chunk Size (our output chunk size, so every
 * later message of ours, media included, uses it), connect(app, type
 * nonprivate, flashVer, tcUrl) as transaction 1; on its _result,
 * releaseStream(2) + FCPublish(3) + createStream(4); on createStream's
 * _result, publish(name, "live") on the stream id it returned; on onStatus
 * NetStream.Publish.Start the client is READY and media may flow. The
 * transaction numbers match ffmpeg's, so canned server replies from real
 * captures drive it unchanged.
 *
 * Server messages handled all along: Set Chunk Size and Abort (applied to the
 * reader), Window Acknowledgement Size (acks are sent as the window fills),
 * ping requests (answered), Set Peer Bandwidth and acks (noted, ignored),
 * _result/_error of our transactions (unknown ones ignored: SRS answers
 * releaseStream, nginx-rtmp does not), onStatus. Unknown commands, data and
 * media from the server are ignored, never an error.
 *
 * Errors: a refused connect / createStream (_error) or any onStatus other
 * than Publish.Start while waiting for it is ST_ERROR with the server's code
 * and description in c->error; a bad chunk stream or handshake too. After
 * READY an onStatus with level "error" is ST_ERROR and
 * NetStream.Unpublish.Success (the server ended the publish) is ST_DONE.
 *
 * Bounds (STYLE.md 5): the server's chunk size and message size are capped
 * (rtmp_chunk_reader), a command is decoded with at most
 * RTMP_CLIENT_MAX_VALUES AMF0 values, every reply we encode is capped.
 *
 * Memory: per connection. The owner embeds the struct; init allocates the
 * chunk reader, free releases it (free is safe after a failed init and on a
 * zeroed struct). Output is appended to a caller-owned buf (a relay passes
 * its fanout_player's ctrl buffer); an append over that buf's cap is
 * ST_ERROR. Loop-confined like its owner; nothing here blocks.
 */
#ifndef SC_RTMP_CLIENT_H
#define SC_RTMP_CLIENT_H

#include "core/buf.h"
#include "rtmp/rtmp_chunk_reader.h"
#include "rtmp/rtmp_handshake.h"

#include <stddef.h>
#include <stdint.h>

#define RTMP_CLIENT_MAX_VALUES 16    /* AMF0 values in one server command */
#define RTMP_CLIENT_HOST_MAX 256
#define RTMP_CLIENT_APP_MAX 256
#define RTMP_CLIENT_NAME_MAX 512
#define RTMP_CLIENT_URL_MAX 1024
#define RTMP_CLIENT_ERROR_MAX 256

/* rtmp[s]://host[:port]/app/name split the way every client splits it
 * (CLIENTS.md 2.11): app is the first path segment, name the rest (it may
 * hold further '/' and a query string); tc_url is scheme://host[:port]/app. */
struct rtmp_client_url {
    int tls;                       /* rtmps:// */
    char host[RTMP_CLIENT_HOST_MAX]; /* without IPv6 brackets */
    int port;                      /* 1935 (rtmp) or 443 (rtmps) unless given */
    char app[RTMP_CLIENT_APP_MAX];
    char name[RTMP_CLIENT_NAME_MAX];
    char tc_url[RTMP_CLIENT_URL_MAX];
};

/* Parse url. ST_OK, or ST_ERROR with a static reason in *err (bad scheme,
 * empty host, bad port, no app, no stream name, a part too long). */
int rtmp_client_parse_url(const char *url, struct rtmp_client_url *u, const char **err);

struct rtmp_client_config {
    const char *app, *tc_url, *name; /* copied at init */
    const char *flash_ver;           /* NULL: "FMLE/3.0 (compatible; streamcluster)" */
    uint32_t chunk_size;             /* our output chunk size (Set Chunk Size), 128..0x7fffffff */
    uint32_t max_chunk_size;         /* cap on the server's Set Chunk Size, 0 = 1 MiB */
    uint32_t max_message_size;       /* cap on a server message, 0 = 1 MiB */
};

enum rtmp_client_state {
    RTMP_CLIENT_HANDSHAKE,     /* C0+C1 out, waiting for S0+S1+S2 */
    RTMP_CLIENT_CONNECT,       /* connect out, waiting for its _result */
    RTMP_CLIENT_CREATE_STREAM, /* createStream out, waiting for the stream id */
    RTMP_CLIENT_PUBLISH,       /* publish out, waiting for NetStream.Publish.Start */
    RTMP_CLIENT_READY,         /* publishing: media may be written */
    RTMP_CLIENT_FAILED         /* error or end; c->error says why */
};

struct rtmp_client {
    enum rtmp_client_state state;
    uint32_t stream_id;        /* from createStream; media goes on it */
    uint32_t chunk_size;       /* ours, announced right after the handshake */
    uint32_t ack_window;       /* the server's Window Acknowledgement Size, 0 = none */
    uint64_t last_ack;         /* bytes_in when we last acknowledged */
    uint32_t peer_bandwidth;   /* the server's Set Peer Bandwidth (noted only) */
    uint64_t bytes_in;         /* bytes fed, handshake included */
    char error[RTMP_CLIENT_ERROR_MAX]; /* why FAILED ("" otherwise) */
    /* private */
    struct rtmp_handshake handshake;
    struct rtmp_chunk_reader reader;
    int reader_ready;
    char *app, *tc_url, *name, *flash_ver;
};

/* Copy the config and allocate the reader. ST_OK or ST_ERROR (allocation,
 * bad chunk size; c->error says which). */
int rtmp_client_init(struct rtmp_client *c, const struct rtmp_client_config *cfg);
void rtmp_client_free(struct rtmp_client *c);

/* Append C0+C1 to out. ST_OK or ST_ERROR. */
int rtmp_client_start(struct rtmp_client *c, struct buf *out);

/* Consume server bytes in[0..len); replies go to out.
 *   ST_AGAIN  everything consumed, nothing new for the owner;
 *   ST_OK     the client just became READY; *consumed may be < len: call
 *             again with the rest once the owner queued its start-up media;
 *   ST_DONE   the server ended the publish (NetStream.Unpublish.Success);
 *   ST_ERROR  c->error says why.
 * After ST_DONE or ST_ERROR the client stays FAILED and takes no input. */
int rtmp_client_feed(struct rtmp_client *c, const uint8_t *in, size_t len, size_t *consumed, struct buf *out);

/* Append FCUnpublish + deleteStream (a polite end of a READY publish).
 * ST_OK, or ST_ERROR when not READY or out is full. */
int rtmp_client_unpublish(struct rtmp_client *c, struct buf *out);

/* "handshake", "connect", "createStream", "publish", "publishing", "failed". */
const char *rtmp_client_state_name(enum rtmp_client_state s);

#endif
