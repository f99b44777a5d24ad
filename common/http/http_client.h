/*
 * http_client: a small non-blocking HTTP/1.1 client on libev, for webhooks
 * (on_publish, on_play, on_done). One request per connection
 * ("Connection: close"); only the response head matters: the status code
 * and the Location header. The body is never read.
 *
 * Targets are "http://HOST[:PORT]/path[?query]". HOST may be a numeric
 * IPv4/IPv6 address ([::1]) or a name; a name is resolved once, by
 * http_client_parse_url (blocking getaddrinfo), which is meant to run at
 * config load or SIGHUP, never per request: a webhook host that changes its
 * address needs a reload. https is not supported.
 *
 * Lifetime: the owner embeds struct http_client (one per loop) and calls
 * http_client_close before destroying the loop; that drops every request in
 * flight without calling its callback. Each request is one malloc, freed
 * right after its callback returned. Callbacks run on the loop, never from
 * inside http_client_post.
 *
 * Limits: a total timeout per request (connect, send, response head) and a
 * cap on the response head (HTTP_CLIENT_MAX_HEAD); over the cap is an error.
 */
#ifndef SC_HTTP_CLIENT_H
#define SC_HTTP_CLIENT_H

#include "core/buf.h"

#include <ev.h>
#include <stddef.h>
#include <sys/socket.h>

#define HTTP_CLIENT_MAX_HEAD 8192   /* response status line + headers */
#define HTTP_CLIENT_MAX_LOCATION 1024
#define HTTP_CLIENT_MAX_BODY 65536  /* request body we send */

struct http_client_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char host[288]; /* Host header, as written in the URL (with the port if any) */
    char path[1024];
};

struct http_client_result {
    int status;           /* HTTP status, 0 when no response head arrived */
    const char *error;    /* static reason when status == 0 ("timeout", ...) */
    const char *location; /* Location header or NULL; valid during the callback */
};

typedef void (*http_client_cb)(void *ctx, const struct http_client_result *r);

struct http_client_req;

struct http_client {
    struct ev_loop *loop;
    struct http_client_req *reqs; /* in flight */
    unsigned inflight;
};

/* Parse and resolve url. Blocking (DNS): boot or reload only. ST_OK, or
 * ST_ERROR with a reason in err. */
int http_client_parse_url(const char *url, struct http_client_target *t, char *err, size_t errlen);

/* Parse a response head in buf[0..len). ST_OK when complete (*status, the
 * Location copied into location (empty if none; an over-long one is an
 * error), *head_len = bytes of the head including the blank line);
 * ST_AGAIN when more bytes are needed; ST_ERROR on a malformed head or one
 * longer than HTTP_CLIENT_MAX_HEAD. Pure; accepts LF or CRLF line ends. */
int http_client_parse_head(const char *buf, size_t len, int *status, char *location, size_t loccap,
                           size_t *head_len);

/* Append key=value, form-urlencoded, with a leading '&' unless b is empty. */
int http_client_form_add(struct buf *b, const char *key, const char *value);

void http_client_init(struct http_client *c, struct ev_loop *loop);
/* Start a POST of body (content_type) to t, done within timeout_ms. cb may
 * be NULL (fire and forget). ST_OK: cb will be called exactly once unless
 * http_client_close runs first. ST_ERROR: nothing started (out of memory,
 * no socket), cb is not called. */
int http_client_post(struct http_client *c, const struct http_client_target *t, const char *content_type,
                     const char *body, size_t len, long timeout_ms, http_client_cb cb, void *ctx);
/* Abort every request in flight without calling callbacks. */
void http_client_close(struct http_client *c);

#endif
