/*
 * http_server: a small HTTP/1.1 server on one libev loop, for the node APIs
 * (/v1/route, /v1/stats, /metrics) and later HTTP-FLV and HLS.
 *
 * Flow: the listener (net_listener) accepts; each connection reads into a
 * bounded buffer, parses heads with http_request, and handles requests
 * strictly in order: while one is being answered (async handler, or more
 * than HTTP_SERVER_HIGH_WATER bytes of output queued) pipelined bytes wait
 * in the read buffer and reading stops when it is full. Requests carry no
 * body (see http_request.h: bodies are refused with 413/501).
 *
 * Routing: exact path, or prefix when the route path ends in '*'
 * ("/hls*" matches "/hls/a.m3u8"); exact routes win over prefixes, a longer
 * prefix over a shorter one. The server answers by itself: 404 (no route,
 * body says which path), 405 with Allow (method not allowed on the route;
 * HEAD is allowed wherever GET is), 501 (unknown method), the parser's status
 * with its reason for a malformed request, 408 when a request is not
 * complete within the timeout, 504 when an async handler has not answered
 * within it, 500 when a handler fails without answering. Every response
 * carries Content-Length (except 204 and 304) and
 * "Access-Control-Allow-Origin: *"; a response that ends the connection
 * carries "Connection: close" and is followed by a lingering close (write
 * side shut, input drained briefly) so the client reads it before any RST.
 * HEAD responses have the headers of the GET response and no body.
 *
 * Timeouts: one ev_timer per connection re-armed with ev_timer_again. It
 * bounds the time from the end of the previous response (or accept) to a
 * complete request head; bytes arriving do not extend it, so a slow drip
 * (slowloris) is cut off. It also bounds an async handler's answer, and a
 * stalled write (any progress re-arms it).
 *
 * Handlers run on the loop, from inside the server's callbacks. A handler
 * either answers during the call with http_server_send and returns ST_OK, or
 * returns HTTP_SERVER_ASYNC and answers later from the same loop:
 *
 *     struct http_server_handle h = http_server_request_handle(req);
 *     ... later, e.g. in a Redis reply callback ...
 *     struct http_server_request *r = http_server_request_lookup(srv, h);
 *     if (r) http_server_send(r, 200, "application/json", body, len, NULL);
 *
 * A handle is a plain value (connection slot + a request generation from a
 * 64-bit counter that is never reused), safe to keep after the connection
 * is gone: lookup then returns NULL (client closed, timed out with 504, or
 * server closed) and the late answer is simply dropped. A request pointer is
 * valid during the handler call and, for an async request, until the answer
 * is sent or a lookup returns NULL; never keep it across loop iterations
 * without a fresh lookup. Its strings (method, path, query, headers) live
 * exactly as long. A handler returning ST_ERROR without having answered gets
 * a 500 sent for it.
 *
 * Large bodies (HLS segments) go out without a copy through
 * http_server_send_shared: the server keeps a pointer and calls release
 * once it is written or the connection goes. Streaming responses (HTTP-FLV)
 * leave the server altogether: http_server_takeover hands the connection's
 * transport to the caller, which then owns the socket.
 *
 * I/O: through net_transport (STYLE.md 8): plain TCP, or TLS (HTTPS) when
 * the config names a net_tls_context; the TLS handshake runs inside the
 * first reads and counts against the idle timeout like a silent client.
 *
 * Memory: boot-time for the server (slot table, route table inside the
 * struct); per-connection for each client (one allocation for the
 * connection with its read buffer, the parser block, the output buffer up
 * to config.max_output), all freed when it closes. The owner embeds struct
 * http_server; http_server_open starts it, http_server_close stops it and
 * closes every connection (never from inside a handler). Loop-confined: all
 * functions must be called on the loop thread.
 */
#ifndef SC_HTTP_SERVER_H
#define SC_HTTP_SERVER_H

#include "core/status.h"
#include "http/http_request.h"
#include "net/net_listener.h"
#include "net/net_transport.h"

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

/* Methods, as a mask for routes. */
enum {
    HTTP_SERVER_GET = 1u << 0,
    HTTP_SERVER_HEAD = 1u << 1,
    HTTP_SERVER_POST = 1u << 2,
    HTTP_SERVER_PUT = 1u << 3,
    HTTP_SERVER_DELETE = 1u << 4,
    HTTP_SERVER_OPTIONS = 1u << 5,
    HTTP_SERVER_PATCH = 1u << 6
};

/* Handler return: the answer will come later through a handle. */
#define HTTP_SERVER_ASYNC ST_AGAIN

#define HTTP_SERVER_MAX_ROUTES 32
#define HTTP_SERVER_MAX_ROUTE_PATH 128
#define HTTP_SERVER_READ_BUF 16384             /* per-connection read buffer */
#define HTTP_SERVER_HIGH_WATER (256u * 1024)   /* stop handling pipelined requests above */
#define HTTP_SERVER_DEFAULT_TIMEOUT_MS 10000
#define HTTP_SERVER_DEFAULT_MAX_OUTPUT (4u << 20)
#define HTTP_SERVER_DEFAULT_MAX_CONNECTIONS 1024

struct http_server;
struct net_tls_context;
struct http_server_request; /* private; see the accessors */

/* A request handler. ST_OK: answered (http_server_send was called).
 * HTTP_SERVER_ASYNC: will answer later. ST_ERROR: failed; the server answers
 * 500 unless the handler already answered. */
typedef int (*http_server_handler_cb)(struct http_server_request *req, void *ctx);

/* Identifies one request for a late answer; see the header comment. */
struct http_server_handle {
    uint32_t slot;
    uint64_t gen;
};

struct http_server_config {
    const char *listen;        /* "HOST:PORT", port 0 picks one */
    int reuse_port;            /* SO_REUSEPORT on the listener */
    long timeout_ms;           /* request/async/write timeout; 0: default */
    size_t max_output;         /* bytes queued per connection; 0: default; a
                                  response must fit in it whole */
    unsigned max_connections;  /* 0: default; more are accepted and closed */
    struct http_request_limits limits; /* zeros: parser defaults */
    struct net_tls_context *tls; /* HTTPS with this certificate (borrowed; must
                                    outlive the server); NULL = plain HTTP */
};

struct http_server_stats {
    uint64_t accepted;
    uint64_t refused;       /* over max_connections or out of memory */
    uint64_t requests;      /* complete request heads */
    uint64_t bad_requests;  /* parser errors answered */
    uint64_t not_found;     /* 404 */
    uint64_t timeouts;      /* connections ended by the timer (408, 504, idle, stalled) */
    uint64_t tls_handshake_failures; /* HTTPS clients refused by the TLS handshake */
};

struct http_server_route_entry {
    char path[HTTP_SERVER_MAX_ROUTE_PATH]; /* without the trailing '*' */
    size_t len;
    int prefix;
    unsigned methods;
    http_server_handler_cb cb;
    void *ctx;
};

struct http_server_conn; /* private */

struct http_server {
    struct http_server_stats stats;
    /* private */
    struct ev_loop *loop;
    struct net_listener listener;
    long timeout_ms;
    size_t max_output;
    struct http_request_limits limits;
    struct http_server_route_entry routes[HTTP_SERVER_MAX_ROUTES];
    unsigned nroutes;
    struct http_server_conn **slots; /* max_connections entries, NULL when free */
    uint32_t *free_slots;            /* stack of free slot indexes */
    uint32_t nslots, nfree;
    uint64_t gen;                    /* last request generation handed out */
    struct net_tls_context *tls;     /* NULL: plain HTTP */
};

/* Open the listener and start accepting on loop; cfg is copied (listen is
 * used only during the call). ST_OK, or ST_ERROR with a log line. */
int http_server_open(struct http_server *s, struct ev_loop *loop, const struct http_server_config *cfg);
/* Stop listening, close every connection (pending async requests become
 * stale: their lookups return NULL) and free everything. Idempotent. */
void http_server_close(struct http_server *s);
/* Stop listening only (a draining node): open connections, and those taken
 * over, carry on until http_server_close. */
void http_server_stop_accepting(struct http_server *s);
/* The port bound (useful with port 0), -1 if not open. */
int http_server_port(const struct http_server *s);

/* Add a route: path starts with '/', a trailing '*' makes it a prefix;
 * methods is a mask of HTTP_SERVER_*; ctx is passed to cb. Routes are added
 * after open (usually before the loop runs). ST_OK, or ST_ERROR (table full, path too long
 * or not starting with '/', empty mask, same path twice). */
int http_server_route(struct http_server *s, const char *path, unsigned methods, http_server_handler_cb cb,
                      void *ctx);

/* Request accessors; strings are NUL-terminated and live as long as the
 * request (see above). path and query are as sent (not decoded); use
 * http_request_query_param on the query. header is case-insensitive, first
 * match, NULL if absent. peer is "ip:port" for logs. */
const char *http_server_request_method(const struct http_server_request *req);
const char *http_server_request_path(const struct http_server_request *req);
const char *http_server_request_query(const struct http_server_request *req);
const char *http_server_request_header(const struct http_server_request *req, const char *name);
const char *http_server_request_peer(const struct http_server_request *req);
/* The client's address (for address-based authorization). */
const struct sockaddr *http_server_request_peer_addr(const struct http_server_request *req);
/* The server the request came to (to look its handle up later). */
struct http_server *http_server_request_server(const struct http_server_request *req);

/* A handle for answering later (any time during or after the handler). */
struct http_server_handle http_server_request_handle(const struct http_server_request *req);
/* The request a handle names, or NULL if it was answered, its connection
 * closed or the server closed. */
struct http_server_request *http_server_request_lookup(struct http_server *s, struct http_server_handle h);

/* Answer req once: status 200..599 (reason phrase from a built-in table),
 * content_type may be NULL (no Content-Type), body/len the full body (not
 * sent for HEAD, 204 and 304); extra_headers NULL or complete header lines
 * each ending in "\r\n" (e.g. "Cache-Control: no-cache\r\n"), trusted (no
 * validation beyond the final CRLF). The response is queued; it goes out
 * from the loop. ST_OK queued. ST_ERROR: already answered, bad arguments, or
 * the response does not fit in max_output; then a short 500 is queued
 * instead when possible, and the connection closes after it. The body is
 * copied: the caller keeps ownership. */
int http_server_send(struct http_server_request *req, int status, const char *content_type, const void *body,
                     size_t len, const char *extra_headers);

/* Like http_server_send, but the body is not copied: it must stay valid
 * until release(ctx) is called (once, always: after the body is written,
 * when the connection closes first, at once for HEAD or on failure). While
 * it is being written the connection handles no further request. Same
 * returns as http_server_send. */
int http_server_send_shared(struct http_server_request *req, int status, const char *content_type, const void *body,
                            size_t len, const char *extra_headers, void (*release)(void *ctx), void *ctx);

/* Take the connection of req out of the server (during the handler, or
 * when answering an async request; with nothing queued): *t receives its
 * transport (socket, TLS state); the caller now owns and must close it,
 * writes the response itself, and the request counts as answered (req is
 * gone when this returns). Input already read is dropped (streaming
 * clients send nothing more). ST_OK, or ST_ERROR when not possible. */
int http_server_takeover(struct http_server_request *req, struct net_transport *t);

#endif
