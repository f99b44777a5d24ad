/*
 * rtsp_request: an incremental, pure, bounded parser of what an RTSP client
 * sends on its control connection (STYLE.md 5): RTSP/1.0 requests (RFC 2326,
 * request line, header fields, optional body) and '$'-framed interleaved
 * data (RFC 2326 10.12: '$', channel, 16-bit length, payload; clients send
 * RTCP receiver reports this way over RTP/AVP/TCP). No sockets.
 *
 * Accepted: "METHOD SP Request-URI SP RTSP/1.0" with a token method; lines
 * ending in CRLF or a bare LF; up to 8 empty lines before a request line;
 * a body of Content-Length bytes (GET_PARAMETER / SET_PARAMETER). Every
 * request must carry one numeric CSeq. Rejected with a static reason in
 * r->error and the status to answer in r->status:
 *   400  malformed line or field, NUL or control byte, obs-fold, missing,
 *        duplicate or non-numeric CSeq, bad or duplicate Content-Length,
 *        header section over limits.max_header_bytes, more than
 *        limits.max_headers fields, an interleaved frame over
 *        limits.max_interleaved;
 *   413  Content-Length over limits.max_body;
 *   414  request line longer than limits.max_line;
 *   505  an RTSP version other than 1.0 (RTSP/2.0 clients fall back).
 * After an error the connection cannot be resynchronised: answer (with the
 * CSeq in r->cseq when it was read already) and close it.
 *
 * Memory: per-connection. rtsp_request_init allocates one block sized from
 * the limits and the header table; the parser copies what it keeps, so the
 * caller may discard its input after each call. Every string of a result
 * is NUL-terminated and, like body and data, points into that block until
 * rtsp_request_reset or rtsp_request_free.
 *
 * Return convention of rtsp_request_parse: ST_OK when one message is
 * complete (r->kind says which; *consumed stops right after it, so pipelined
 * bytes stay with the caller); ST_AGAIN when every byte was consumed and
 * more are needed; ST_ERROR as above. Once ST_OK or ST_ERROR is returned,
 * further calls repeat it with *consumed = 0 until rtsp_request_reset. Any
 * thread, one state per thread.
 *
 * The helpers below (header lookup, Transport, URI path) are pure too.
 */
#ifndef SC_RTSP_REQUEST_H
#define SC_RTSP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#define RTSP_REQUEST_DEFAULT_MAX_LINE 4096
#define RTSP_REQUEST_DEFAULT_MAX_HEADER_BYTES 8192
#define RTSP_REQUEST_DEFAULT_MAX_HEADERS 64
#define RTSP_REQUEST_DEFAULT_MAX_BODY 4096
#define RTSP_REQUEST_DEFAULT_MAX_INTERLEAVED 8192
/* Upper bound on any configured limit, so the block stays small. */
#define RTSP_REQUEST_LIMIT_CAP (1u << 20)

struct rtsp_request_limits {
    size_t max_line;         /* request-line bytes, line ending excluded; over: 414 */
    size_t max_header_bytes; /* header section bytes incl. line endings; over: 400 */
    unsigned max_headers;    /* header fields; over: 400 */
    size_t max_body;         /* Content-Length; over: 413 */
    size_t max_interleaved;  /* '$' frame payload bytes (at most 65535); over: 400 */
};

enum rtsp_request_kind {
    RTSP_REQUEST_NONE = 0,
    RTSP_REQUEST_MESSAGE,    /* a request: method, uri, headers, body */
    RTSP_REQUEST_INTERLEAVED /* a '$' frame: channel, data */
};

struct rtsp_header {
    const char *name;  /* as sent (case kept) */
    const char *value; /* leading and trailing SP/HT removed */
    size_t name_len;
    size_t value_len;
};

struct rtsp_request {
    /* Result after ST_OK, valid until reset/free. */
    enum rtsp_request_kind kind;
    const char *method;          /* "OPTIONS", ... (case-sensitive token) */
    const char *uri;             /* Request-URI as sent ("*" or rtsp://...) */
    int version;                 /* 10 */
    struct rtsp_header *headers; /* nheaders entries, in arrival order */
    unsigned nheaders;
    long cseq;                   /* -1 until a valid CSeq was read (also set on
                                    errors after it, to answer with) */
    const uint8_t *body;         /* Content-Length bytes (NUL-terminated), or NULL */
    size_t body_len;
    uint8_t channel;             /* interleaved frame */
    const uint8_t *data;
    size_t data_len;
    /* After ST_ERROR: static reason and the status code to answer. */
    const char *error;
    int status;
    struct rtsp_request_limits limits;
    /* private parse state */
    uint8_t *mem;
    size_t mem_cap, mem_len;
    int state;
    size_t line_start;  /* offset in mem of the line being read */
    size_t hdr_bytes;   /* header-section bytes so far */
    size_t want;        /* body / interleaved bytes still to read */
    unsigned blank_lines;
    unsigned il_have;   /* interleaved header bytes read */
    uint8_t il_hdr[3];
    int have_length;
};

/* Set the limits (NULL or zero fields take the defaults; values above the
 * caps are clamped) and allocate the block. ST_OK or ST_ERROR (allocation). */
int rtsp_request_init(struct rtsp_request *r, const struct rtsp_request_limits *limits);
/* Release the block; init again before reuse. Safe on a zeroed struct. */
void rtsp_request_free(struct rtsp_request *r);
/* Forget the current message (results and error), keep the block and limits. */
void rtsp_request_reset(struct rtsp_request *r);

/* Feed in[0..len). See the return convention above. */
int rtsp_request_parse(struct rtsp_request *r, const uint8_t *in, size_t len, size_t *consumed);

/* First header field named name (ASCII case-insensitive), its value or NULL.
 * Only meaningful after ST_OK on a request. */
const char *rtsp_request_header(const struct rtsp_request *r, const char *name);

/* One transport the client offers in a Transport header (RFC 2326 12.39). */
enum rtsp_lower { RTSP_LOWER_UDP = 1, RTSP_LOWER_TCP };

struct rtsp_transport {
    enum rtsp_lower lower;
    uint16_t client_port[2]; /* UDP: RTP and RTCP ports (RTCP = RTP + 1 when one was given) */
    uint8_t interleaved[2];  /* TCP: RTP and RTCP channels (RTCP = RTP + 1 when one was given) */
    int has_interleaved;     /* TCP: the client chose channels */
};

/* Pick the first transport-spec of a Transport value we can serve: unicast
 * RTP/AVP[/UDP] with client_port, or RTP/AVP/TCP (interleaved optional),
 * mode PLAY (or none). ST_OK with *t filled; ST_DONE when the value is
 * well-formed but offers nothing we serve (answer 461); ST_ERROR when a
 * spec we would serve is malformed (answer 400). */
int rtsp_request_transport(const char *value, struct rtsp_transport *t);

/* The path of a Request-URI: "rtsp://host:port/live/cam/trackID=1?x" gives
 * "live/cam/trackID=1" (no leading '/', query dropped, percent-escapes kept).
 * ST_OK, or ST_ERROR when the URI is not rtsp:// or / based, or the path does
 * not fit out_size (out holds ""). "*" gives "". */
int rtsp_request_uri_path(const char *uri, char *out, size_t out_size);

/* The session id of a Session header value ("ABC123;timeout=60" gives
 * "ABC123"). ST_OK, or ST_ERROR when empty or longer than out_size - 1. */
int rtsp_request_session_id(const char *value, char *out, size_t out_size);

#endif
