/*
 * http_request: an incremental, pure, bounded HTTP/1.x request-head parser
 * (STYLE.md 5): request line, header fields and the blank line; no sockets.
 *
 * Accepted: "METHOD SP target SP HTTP/1.x" with a token method; origin-form
 * ("/path?query"), absolute-form ("http://host/path", reduced to the path)
 * and "*"; HTTP/1.0 and 1.1 (1.2+ is handled as 1.1, RFC 9110 2.5); lines
 * ending in CRLF or a bare LF; up to 8 empty lines before the request line
 * (RFC 9112 2.2). Rejected with a reason in r->error and the status to answer
 * in r->status:
 *   400  malformed line or field, NUL or control byte, obs-fold, space
 *        before a colon, bad or duplicate Host, HTTP/1.1 without Host,
 *        invalid Content-Length;
 *   413  a request body (Content-Length other than 0): we serve no bodies;
 *   414  request line longer than limits.max_line;
 *   431  header section over limits.max_header_bytes or more than
 *        limits.max_headers fields;
 *   501  any Transfer-Encoding (chunked bodies are not supported);
 *   505  HTTP major version other than 1.
 * The request line is limited to max_line bytes (line ending excluded); the
 * header section counts every byte after the request line through the final
 * blank line, line endings included.
 *
 * Memory: per-connection. http_request_init allocates one block sized from
 * the limits (about 2 * max_line + max_header_bytes, plus the field table);
 * the parser copies what it keeps, so the caller's input may be discarded
 * after each call. Every string in the result is NUL-terminated, points into
 * that block and stays valid until http_request_reset or http_request_free.
 * Paths and queries are kept as sent (no percent-decoding, no dot-segment
 * removal); decode with http_request_query_param.
 *
 * Return convention of http_request_parse: ST_OK when the head is complete
 * (*consumed stops right after its blank line, so pipelined bytes stay with
 * the caller); ST_AGAIN when every byte was consumed and more are needed;
 * ST_ERROR with r->error and r->status, after which the connection must be
 * answered and closed. Once ST_OK or ST_ERROR is returned, further calls
 * repeat it with *consumed = 0 until http_request_reset. Any thread, one
 * request state per thread.
 */
#ifndef SC_HTTP_REQUEST_H
#define SC_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_REQUEST_DEFAULT_MAX_LINE 4096
#define HTTP_REQUEST_DEFAULT_MAX_HEADER_BYTES 8192
#define HTTP_REQUEST_DEFAULT_MAX_HEADERS 64
/* Upper bound on any configured limit, so the block stays small. */
#define HTTP_REQUEST_LIMIT_CAP (1u << 20)

struct http_request_limits {
    size_t max_line;         /* request-line bytes, line ending excluded; over: 414 */
    size_t max_header_bytes; /* header section bytes incl. line endings; over: 431 */
    unsigned max_headers;    /* header fields; over: 431 */
};

struct http_header {
    const char *name;  /* as sent (case kept) */
    const char *value; /* leading and trailing SP/HT removed */
    size_t name_len;
    size_t value_len;
};

struct http_request {
    /* Result after ST_OK, valid until reset/free. */
    const char *method;  /* "GET", ... (case-sensitive token) */
    const char *target;  /* request-target as sent */
    const char *path;    /* target up to '?'; "/..." or "*" */
    const char *query;   /* after the first '?', "" if none */
    int version;         /* 10 (HTTP/1.0) or 11 (HTTP/1.1 and later 1.x) */
    struct http_header *headers; /* nheaders entries, in arrival order */
    unsigned nheaders;
    /* After ST_ERROR: static reason and the status code to answer. */
    const char *error;
    int status;
    struct http_request_limits limits;
    /* private parse state */
    char *mem;           /* copied request bytes */
    size_t mem_cap, mem_len;
    int state;
    size_t line_len;     /* request-line bytes so far */
    size_t hdr_bytes;    /* header-section bytes so far */
    size_t target_off, value_off;
    unsigned blank_lines;
    unsigned host_count;
    unsigned version_len;
    char version_buf[8];
};

/* Set the limits (NULL or zero fields take the defaults; values above
 * HTTP_REQUEST_LIMIT_CAP are clamped) and allocate the block. ST_OK or
 * ST_ERROR (allocation). */
int http_request_init(struct http_request *r, const struct http_request_limits *limits);
/* Release the block; init again before reuse. Safe on a zeroed struct. */
void http_request_free(struct http_request *r);
/* Forget the current request (results and error), keep the block and limits:
 * ready for the next request on the same connection. */
void http_request_reset(struct http_request *r);

/* Feed in[0..len). See the return convention above. */
int http_request_parse(struct http_request *r, const uint8_t *in, size_t len, size_t *consumed);

/* First header field named name (ASCII case-insensitive), its value or NULL.
 * Only meaningful after ST_OK. */
const char *http_request_header(const struct http_request *r, const char *name);

/* Whether the connection may stay open after the response: HTTP/1.1 unless a
 * Connection field lists "close"; HTTP/1.0 only if one lists "keep-alive"
 * (and none lists "close"). Tokens are matched case-insensitively in every
 * Connection field. */
int http_request_keep_alive(const struct http_request *r);

/* Find parameter name in a query string ("a=1&b=x%20y+z", no leading '?')
 * and decode its value (%XX and '+' as space) into out as a C string.
 * Keys are decoded the same way before comparing; a key without '=' has the
 * empty value. ST_OK: found, *out_len (may be NULL) bytes written before the
 * NUL. ST_DONE: no such parameter (out holds ""). ST_ERROR: the value has a
 * bad %XX escape, decodes to a NUL byte, or needs more than out_size - 1
 * bytes (out holds ""). The first matching parameter wins. */
int http_request_query_param(const char *query, const char *name, char *out, size_t out_size, size_t *out_len);

#endif
