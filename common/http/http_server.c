#include "http/http_server.h"

#include "core/buf.h"
#include "core/log.h"
#include "net/net_tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINGER_MS 2000
#define LINGER_MAX_BYTES (64 * 1024)
#define OUT_KEEP_CAP (64 * 1024) /* free a drained output buffer above this */

enum conn_phase {
    PH_READING, /* waiting for / parsing a request head */
    PH_HANDLER, /* inside the handler call */
    PH_ASYNC,   /* handler answers later through a handle */
    PH_CLOSING, /* last response queued: flush, then linger */
    PH_LINGER,  /* write side shut: drain input briefly, then close */
    PH_TAKEN    /* handed over by http_server_takeover: freed by conn_run */
};

struct http_server_request {
    struct http_server_conn *conn;
    uint64_t gen;  /* matches handles issued for this request */
    int head;      /* HEAD: headers only */
    int answered;
};

struct http_server_conn {
    ev_io io; /* first: the callbacks cast back from it */
    ev_timer timer;
    struct http_server *srv;
    int fd;
    uint32_t slot;
    int io_events; /* events io runs with, 0 when stopped */
    struct net_transport transport; /* TCP or TLS over fd */
    int read_wants_write; /* TLS read blocked until writable */
    int write_wants_read; /* TLS write blocked until readable */
    enum conn_phase phase;
    int keep_alive; /* of the request being answered */
    int started;    /* bytes of the next request already seen */
    struct http_server_request req;
    struct http_request msg;
    struct buf out;
    size_t out_off; /* bytes of out already sent */
    /* A shared body sent after out without a copy (http_server_send_shared):
     * while it is pending no further request is handled, so responses keep
     * their order. */
    const uint8_t *ref;
    size_t ref_len, ref_off;
    void (*ref_release)(void *ctx);
    void *ref_ctx;
    size_t lingered;
    size_t in_off, in_len; /* unparsed input is in[in_off..in_len) */
    char peer[64];
    struct sockaddr_storage peer_addr;
    uint8_t in[HTTP_SERVER_READ_BUF];
};

static const struct {
    const char *name;
    unsigned bit;
} methods[] = {
    {"GET", HTTP_SERVER_GET},   {"HEAD", HTTP_SERVER_HEAD},       {"POST", HTTP_SERVER_POST},
    {"PUT", HTTP_SERVER_PUT},   {"DELETE", HTTP_SERVER_DELETE},   {"OPTIONS", HTTP_SERVER_OPTIONS},
    {"PATCH", HTTP_SERVER_PATCH},
};

static unsigned method_bit(const char *m)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(m, methods[i].name) == 0)
            return methods[i].bit;
    return 0;
}

static const char *status_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
    }
}

static size_t out_pending(const struct http_server_conn *c)
{
    return c->out.len - c->out_off + (c->ref_len - c->ref_off);
}

static void ref_drop(struct http_server_conn *c)
{
    if (c->ref_release)
        c->ref_release(c->ref_ctx);
    c->ref = NULL;
    c->ref_len = c->ref_off = 0;
    c->ref_release = NULL;
    c->ref_ctx = NULL;
}

static void timer_restart(struct http_server_conn *c, long ms)
{
    c->timer.repeat = (ev_tstamp)ms / 1000.0;
    ev_timer_again(c->srv->loop, &c->timer);
}

/* Release the slot and memory; the transport is closed or handed over. */
static void conn_free(struct http_server_conn *c)
{
    struct http_server *s = c->srv;
    ref_drop(c);
    s->slots[c->slot] = NULL;
    s->free_slots[s->nfree++] = c->slot;
    http_request_free(&c->msg);
    buf_free(&c->out);
    free(c);
}

static void conn_close(struct http_server_conn *c, const char *why)
{
    struct http_server *s = c->srv;
    LOG_DEBUG("http close peer=%s reason=\"%s\"", c->peer, why);
    ev_io_stop(s->loop, &c->io);
    ev_timer_stop(s->loop, &c->timer);
    net_transport_close(&c->transport);
    conn_free(c);
}

/* Watch for what the phase needs: input while there is room (also to see a
 * client leave during an async request), output while any is queued. */
static void conn_update_io(struct http_server_conn *c)
{
    int ev = 0;
    if (c->phase == PH_LINGER || c->write_wants_read ||
        (c->phase != PH_CLOSING && c->in_len - c->in_off < sizeof(c->in)))
        ev |= EV_READ;
    if (c->read_wants_write || ((out_pending(c) || c->transport.unsent) && !c->write_wants_read))
        ev |= EV_WRITE;
    if (ev == c->io_events)
        return;
    ev_io_stop(c->srv->loop, &c->io);
    if (ev) {
        ev_io_set(&c->io, c->fd, ev);
        ev_io_start(c->srv->loop, &c->io);
    }
    c->io_events = ev;
}

/* Queue one whole response or nothing. */
static int queue_response(struct http_server_conn *c, int status, const char *content_type, const void *body,
                          size_t len, const char *extra, int shared)
{
    char line[64], clen[48];
    const char *conn_hdr = "";
    int no_body = status == 204 || status == 304;
    if (content_type && strpbrk(content_type, "\r\n"))
        return ST_ERROR;
    size_t elen = extra ? strlen(extra) : 0;
    if (elen && (elen < 2 || memcmp(extra + elen - 2, "\r\n", 2) != 0))
        return ST_ERROR;
    snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, status_reason(status));
    clen[0] = '\0';
    if (!no_body) /* a 304's length would have to be the 200's: leave it out */
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", len);
    if (!c->keep_alive)
        conn_hdr = "Connection: close\r\n";
    else if (c->msg.version == 10)
        conn_hdr = "Connection: keep-alive\r\n";
    static const char cors[] = "Access-Control-Allow-Origin: *\r\n";
    size_t blen = c->req.head || no_body || shared ? 0 : len;
    size_t tlen = strlen(content_type ? content_type : "");
    size_t total = strlen(line) + (content_type ? 14 + tlen + 2 : 0) + strlen(clen) + sizeof(cors) - 1 +
                   strlen(conn_hdr) + elen + 2 + blen;

    /* Sent bytes are dropped only here, so a large response drains without
     * a memmove per partial write. */
    if (c->out_off) {
        buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    if (buf_reserve(&c->out, total) != ST_OK)
        return ST_ERROR;
    buf_append(&c->out, line, strlen(line));
    if (content_type) {
        buf_append(&c->out, "Content-Type: ", 14);
        buf_append(&c->out, content_type, tlen);
        buf_append(&c->out, "\r\n", 2);
    }
    buf_append(&c->out, clen, strlen(clen));
    buf_append(&c->out, cors, sizeof(cors) - 1);
    buf_append(&c->out, conn_hdr, strlen(conn_hdr));
    buf_append(&c->out, extra, elen);
    buf_append(&c->out, "\r\n", 2);
    buf_append(&c->out, body, blen);
    return ST_OK;
}

/* The current request is answered: next request, or close after flushing. */
static void conn_finish(struct http_server_conn *c)
{
    c->req.answered = 1;
    if (!c->keep_alive) {
        c->phase = PH_CLOSING;
    } else {
        c->phase = PH_READING;
        http_request_reset(&c->msg);
        c->started = 0;
        timer_restart(c, c->srv->timeout_ms);
    }
    conn_update_io(c);
}

/* A server-generated plain-text answer. */
static void conn_respond_text(struct http_server_conn *c, int status, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void conn_respond_text(struct http_server_conn *c, int status, const char *extra, const char *fmt, ...)
{
    char body[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1;
    if (queue_response(c, status, "text/plain; charset=utf-8", body, len, extra, 0) != ST_OK) {
        c->keep_alive = 0; /* output full: give up on this connection */
    }
    conn_finish(c);
}

static const struct http_server_route_entry *route_find(const struct http_server *s, const char *path)
{
    const struct http_server_route_entry *best = NULL;
    for (unsigned i = 0; i < s->nroutes; i++) {
        const struct http_server_route_entry *rt = &s->routes[i];
        if (!rt->prefix) {
            if (strcmp(rt->path, path) == 0)
                return rt;
        } else if (strncmp(path, rt->path, rt->len) == 0 && (!best || rt->len > best->len)) {
            best = rt;
        }
    }
    return best;
}

static void conn_dispatch(struct http_server_conn *c)
{
    struct http_server *s = c->srv;
    const struct http_request *m = &c->msg;
    s->stats.requests++;
    c->req.gen = ++s->gen;
    c->req.answered = 0;
    c->req.head = strcmp(m->method, "HEAD") == 0;
    c->keep_alive = http_request_keep_alive(m);
    c->phase = PH_HANDLER;
    timer_restart(c, s->timeout_ms); /* now bounds the answer */

    const struct http_server_route_entry *rt = route_find(s, m->path);
    if (!rt) {
        s->stats.not_found++;
        conn_respond_text(c, 404, NULL, "not found: no handler for %s\n", m->path);
        return;
    }
    unsigned bit = method_bit(m->method);
    if (!bit) {
        conn_respond_text(c, 501, NULL, "method %s is not implemented\n", m->method);
        return;
    }
    unsigned allowed = rt->methods | (rt->methods & HTTP_SERVER_GET ? HTTP_SERVER_HEAD : 0);
    if (!(bit & allowed)) {
        char allow[96] = "Allow: ";
        size_t n = strlen(allow);
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
            if (allowed & methods[i].bit)
                n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s", n > 7 ? ", " : "", methods[i].name);
        snprintf(allow + n, sizeof(allow) - n, "\r\n");
        conn_respond_text(c, 405, allow, "method %s not allowed on %s\n", m->method, m->path);
        return;
    }
    int rc = rt->cb(&c->req, rt->ctx);
    if (c->req.answered)
        return;
    if (rc == HTTP_SERVER_ASYNC) {
        c->phase = PH_ASYNC;
        return;
    }
    if (rc == ST_OK)
        LOG_WARN("http handler for %s returned without answering peer=%s", m->path, c->peer);
    c->keep_alive = 0;
    conn_respond_text(c, 500, NULL, "internal error\n");
}

/* Parse and handle buffered requests in order while nothing is in flight. */
static void conn_process(struct http_server_conn *c)
{
    while (c->phase == PH_READING && c->in_off < c->in_len && out_pending(c) < HTTP_SERVER_HIGH_WATER && !c->ref) {
        size_t used = 0;
        int rc = http_request_parse(&c->msg, c->in + c->in_off, c->in_len - c->in_off, &used);
        c->in_off += used;
        if (used)
            c->started = 1;
        if (rc == ST_AGAIN)
            break;
        if (rc == ST_ERROR) {
            c->srv->stats.bad_requests++;
            LOG_INFO("http bad request peer=%s status=%d reason=\"%s\"", c->peer, c->msg.status, c->msg.error);
            c->keep_alive = 0;
            c->req.head = 0;
            c->in_off = c->in_len = 0;
            conn_respond_text(c, c->msg.status, NULL, "%s\n", c->msg.error);
            break;
        }
        conn_dispatch(c);
    }
}

static int conn_flush(struct http_server_conn *c)
{
    int progress = 0;
    c->write_wants_read = 0;
    /* TLS may still hold the tail of a record after out is drained. */
    while (out_pending(c) || c->transport.unsent) {
        struct iovec iov[2];
        int cnt = 0;
        size_t head = c->out.len - c->out_off;
        if (head)
            iov[cnt++] = (struct iovec){c->out.data + c->out_off, head};
        if (c->ref_len > c->ref_off)
            iov[cnt++] = (struct iovec){(void *)(c->ref + c->ref_off), c->ref_len - c->ref_off};
        size_t offered = head + (c->ref_len - c->ref_off);
        size_t n = 0;
        int rc = net_transport_writev(&c->transport, iov, cnt, &n);
        size_t from_out = n < head ? n : head;
        c->out_off += from_out;
        c->ref_off += n - from_out;
        if (c->ref && c->ref_off == c->ref_len)
            ref_drop(c);
        progress |= n > 0;
        if (rc == ST_AGAIN) {
            c->write_wants_read = !c->transport.want_write;
            break;
        }
        if (rc != ST_OK)
            return ST_ERROR;
        if (n == 0 && offered)
            break;
    }
    if (c->out_off == c->out.len) {
        c->out_off = 0;
        if (c->out.cap > OUT_KEEP_CAP)
            buf_free(&c->out); /* keeps max: usable again as is */
        c->out.len = 0;
    }
    if (progress)
        ev_timer_again(c->srv->loop, &c->timer);
    return ST_OK;
}

/* Everything a wake-up may lead to, ending in the watcher update. It is
 * called only from this connection's own callbacks, so closing here is safe. */
static void conn_run(struct http_server_conn *c)
{
    for (;;) {
        conn_process(c);
        if (c->phase == PH_TAKEN) {
            conn_free(c); /* its transport lives on with the taker */
            return;
        }
        if ((out_pending(c) || c->transport.unsent) && conn_flush(c) != ST_OK) {
            conn_close(c, c->transport.error ? c->transport.error : strerror(c->transport.err));
            return;
        }
        /* Flushing may have made room for more pipelined requests. */
        if (!(c->phase == PH_READING && c->in_off < c->in_len && out_pending(c) < HTTP_SERVER_HIGH_WATER && !c->ref))
            break;
    }
    if (c->phase == PH_CLOSING && !out_pending(c) && !c->transport.unsent) {
        /* Shut the write side (TLS: after close_notify) and drain what the
         * client still sends, so our last response is read before the
         * kernel could answer RST. */
        net_transport_shutdown(&c->transport);
        c->phase = PH_LINGER;
        timer_restart(c, c->srv->timeout_ms < LINGER_MS ? c->srv->timeout_ms : LINGER_MS);
    }
    conn_update_io(c);
    /* TLS may hold decrypted input the fd will not signal again. */
    if (c->transport.pending && (c->io_events & EV_READ) && c->phase != PH_LINGER &&
        c->in_len - c->in_off < sizeof(c->in))
        ev_feed_event(c->srv->loop, &c->io, EV_READ);
}

static int conn_read(struct http_server_conn *c)
{
    if (c->in_off) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_len == sizeof(c->in))
        return ST_OK;
    size_t n = 0;
    c->read_wants_write = 0;
    int rc = net_transport_read(&c->transport, c->in + c->in_len, sizeof(c->in) - c->in_len, &n);
    c->in_len += n;
    if (rc == ST_AGAIN) {
        c->read_wants_write = c->transport.want_write; /* TLS handshake output first */
        return ST_OK;
    }
    return rc;
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct http_server_conn *c = (struct http_server_conn *)w;
    (void)loop;
    if ((revents & EV_READ) || ((revents & EV_WRITE) && c->read_wants_write)) {
        if (c->phase == PH_LINGER) {
            uint8_t tmp[4096];
            size_t n = 0;
            int rc = net_transport_read(&c->transport, tmp, sizeof(tmp), &n);
            if (rc == ST_OK && (c->lingered += n) <= LINGER_MAX_BYTES)
                return;
            if (rc == ST_AGAIN)
                return;
            conn_close(c, "closed after last response");
            return;
        }
        int rc = conn_read(c);
        if (rc != ST_OK) {
            if (rc == ST_ERROR && c->srv->tls && !net_tls_handshake_done(&c->transport)) {
                c->srv->stats.tls_handshake_failures++;
                LOG_INFO("https handshake failed peer=%s reason=\"%s\"", c->peer,
                         c->transport.error ? c->transport.error : strerror(c->transport.err));
            }
            /* A client leaving is routine: pending pipelined or async
             * answers have no one to go to. */
            conn_close(c, rc == ST_DONE ? "peer closed"
                          : c->transport.error ? c->transport.error : strerror(c->transport.err));
            return;
        }
    }
    conn_run(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct http_server_conn *c = (struct http_server_conn *)((char *)w - offsetof(struct http_server_conn, timer));
    (void)loop;
    (void)revents;
    struct http_server *s = c->srv;
    switch (c->phase) {
    case PH_READING:
        s->stats.timeouts++;
        if (out_pending(c)) {
            conn_close(c, "write stalled");
            return;
        }
        if (!c->started) {
            conn_close(c, "idle timeout");
            return;
        }
        LOG_INFO("http request timeout peer=%s after %ld ms", c->peer, s->timeout_ms);
        c->keep_alive = 0;
        c->req.head = 0;
        c->in_off = c->in_len = 0;
        conn_respond_text(c, 408, NULL, "request not complete within %ld ms\n", s->timeout_ms);
        break;
    case PH_HANDLER: /* cannot fire during a synchronous call */
    case PH_ASYNC:
        s->stats.timeouts++;
        LOG_WARN("http handler timeout peer=%s path=%s after %ld ms", c->peer, c->msg.path, s->timeout_ms);
        c->keep_alive = 0;
        conn_respond_text(c, 504, NULL, "no answer within %ld ms\n", s->timeout_ms);
        break;
    case PH_CLOSING:
        s->stats.timeouts++;
        conn_close(c, "write stalled");
        return;
    case PH_LINGER:
        conn_close(c, "closed after last response");
        return;
    case PH_TAKEN: /* cannot fire: the timer stopped at the takeover */
        return;
    }
    conn_run(c);
}

static void on_accept(struct net_listener *l, int fd, const struct sockaddr_storage *peer)
{
    struct http_server *s = l->owner;
    char peer_s[64];
    net_format_address(peer, peer_s, sizeof(peer_s));
    if (s->nfree == 0) {
        s->stats.refused++;
        LOG_WARN("http connection refused peer=%s reason=\"too many connections\"", peer_s);
        close(fd);
        return;
    }
    struct http_server_conn *c = calloc(1, sizeof(*c));
    if (!c || http_request_init(&c->msg, &s->limits) != ST_OK) {
        s->stats.refused++;
        LOG_ERROR("http connection refused peer=%s reason=\"out of memory\"", peer_s);
        free(c);
        close(fd);
        return;
    }
    int trc = ST_OK;
    if (s->tls)
        trc = net_tls_transport_init(&c->transport, fd, s->tls);
    else
        net_transport_tcp_init(&c->transport, fd);
    if (trc != ST_OK) {
        s->stats.refused++;
        LOG_ERROR("http connection refused peer=%s reason=\"out of memory (tls)\"", peer_s);
        http_request_free(&c->msg);
        free(c);
        close(fd);
        return;
    }
    s->stats.accepted++;
    c->srv = s;
    c->fd = fd;
    c->slot = s->free_slots[--s->nfree];
    s->slots[c->slot] = c;
    c->phase = PH_READING;
    c->keep_alive = 1;
    c->req.conn = c;
    buf_init(&c->out, s->max_output);
    snprintf(c->peer, sizeof(c->peer), "%s", peer_s);
    c->peer_addr = *peer;
    ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
    ev_io_start(s->loop, &c->io);
    c->io_events = EV_READ;
    ev_init(&c->timer, conn_timer_cb);
    timer_restart(c, s->timeout_ms);
    LOG_DEBUG("http accept peer=%s slot=%u", c->peer, c->slot);
}

int http_server_open(struct http_server *s, struct ev_loop *loop, const struct http_server_config *cfg)
{
    memset(s, 0, sizeof(*s));
    s->listener.fd = -1;
    s->loop = loop;
    s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : HTTP_SERVER_DEFAULT_TIMEOUT_MS;
    s->max_output = cfg->max_output ? cfg->max_output : HTTP_SERVER_DEFAULT_MAX_OUTPUT;
    s->limits = cfg->limits;
    s->tls = cfg->tls;
    s->nslots = cfg->max_connections ? cfg->max_connections : HTTP_SERVER_DEFAULT_MAX_CONNECTIONS;
    s->slots = calloc(s->nslots, sizeof(*s->slots));
    s->free_slots = malloc(s->nslots * sizeof(*s->free_slots));
    if (!s->slots || !s->free_slots) {
        LOG_ERROR("http server %s: out of memory", cfg->listen);
        goto fail;
    }
    for (uint32_t i = 0; i < s->nslots; i++)
        s->free_slots[i] = s->nslots - 1 - i; /* slot 0 first */
    s->nfree = s->nslots;
    if (net_listener_open(&s->listener, loop, cfg->listen, cfg->reuse_port, on_accept, s) != ST_OK)
        goto fail;
    LOG_INFO("%s listening on %s port=%d", s->tls ? "https" : "http", cfg->listen, net_listener_port(&s->listener));
    return ST_OK;
fail:
    free(s->slots);
    free(s->free_slots);
    s->slots = NULL;
    s->free_slots = NULL;
    return ST_ERROR;
}

void http_server_close(struct http_server *s)
{
    if (!s->slots)
        return;
    for (uint32_t i = 0; i < s->nslots; i++)
        if (s->slots[i])
            conn_close(s->slots[i], "server closing");
    net_listener_close(&s->listener, s->loop);
    free(s->slots);
    free(s->free_slots);
    s->slots = NULL;
    s->free_slots = NULL;
    s->nslots = s->nfree = 0;
}

void http_server_stop_accepting(struct http_server *s)
{
    if (s->slots)
        net_listener_close(&s->listener, s->loop);
}

int http_server_port(const struct http_server *s)
{
    return s->slots ? net_listener_port(&s->listener) : -1;
}

int http_server_route(struct http_server *s, const char *path, unsigned methods_mask, http_server_handler_cb cb,
                      void *ctx)
{
    size_t len = strlen(path);
    int prefix = len > 0 && path[len - 1] == '*';
    if (prefix)
        len--;
    if (s->nroutes >= HTTP_SERVER_MAX_ROUTES || path[0] != '/' || len >= HTTP_SERVER_MAX_ROUTE_PATH ||
        !methods_mask || !cb)
        return ST_ERROR;
    for (unsigned i = 0; i < s->nroutes; i++)
        if (s->routes[i].prefix == prefix && s->routes[i].len == len && memcmp(s->routes[i].path, path, len) == 0)
            return ST_ERROR;
    struct http_server_route_entry *rt = &s->routes[s->nroutes++];
    memcpy(rt->path, path, len);
    rt->path[len] = '\0';
    rt->len = len;
    rt->prefix = prefix;
    rt->methods = methods_mask;
    rt->cb = cb;
    rt->ctx = ctx;
    return ST_OK;
}

const char *http_server_request_method(const struct http_server_request *req) { return req->conn->msg.method; }
const char *http_server_request_path(const struct http_server_request *req) { return req->conn->msg.path; }
const char *http_server_request_query(const struct http_server_request *req) { return req->conn->msg.query; }
const char *http_server_request_peer(const struct http_server_request *req) { return req->conn->peer; }
struct http_server *http_server_request_server(const struct http_server_request *req) { return req->conn->srv; }
const struct sockaddr *http_server_request_peer_addr(const struct http_server_request *req)
{
    return (const struct sockaddr *)&req->conn->peer_addr;
}

const char *http_server_request_header(const struct http_server_request *req, const char *name)
{
    return http_request_header(&req->conn->msg, name);
}

struct http_server_handle http_server_request_handle(const struct http_server_request *req)
{
    return (struct http_server_handle){.slot = req->conn->slot, .gen = req->gen};
}

struct http_server_request *http_server_request_lookup(struct http_server *s, struct http_server_handle h)
{
    if (!s->slots || h.slot >= s->nslots || !s->slots[h.slot])
        return NULL;
    struct http_server_conn *c = s->slots[h.slot];
    if (c->req.gen != h.gen || c->req.answered || (c->phase != PH_HANDLER && c->phase != PH_ASYNC))
        return NULL;
    return &c->req;
}

int http_server_send(struct http_server_request *req, int status, const char *content_type, const void *body,
                     size_t len, const char *extra_headers)
{
    struct http_server_conn *c = req->conn;
    if (req->answered || (c->phase != PH_HANDLER && c->phase != PH_ASYNC))
        return ST_ERROR;
    if (status >= 200 && status <= 599 &&
        queue_response(c, status, content_type, body, len, extra_headers, 0) == ST_OK) {
        conn_finish(c);
        return ST_OK;
    }
    LOG_WARN("http response dropped peer=%s path=%s status=%d len=%zu: invalid or over %zu bytes", c->peer,
             c->msg.path, status, len, c->srv->max_output);
    c->keep_alive = 0;
    conn_respond_text(c, 500, NULL, "response could not be sent\n");
    return ST_ERROR;
}

int http_server_send_shared(struct http_server_request *req, int status, const char *content_type, const void *body,
                            size_t len, const char *extra_headers, void (*release)(void *ctx), void *ctx)
{
    struct http_server_conn *c = req->conn;
    if (req->answered || (c->phase != PH_HANDLER && c->phase != PH_ASYNC) || c->ref || status < 200 ||
        status > 599 || queue_response(c, status, content_type, body, len, extra_headers, 1) != ST_OK) {
        if (release)
            release(ctx);
        if (req->answered || (c->phase != PH_HANDLER && c->phase != PH_ASYNC))
            return ST_ERROR;
        c->keep_alive = 0;
        conn_respond_text(c, 500, NULL, "response could not be sent\n");
        return ST_ERROR;
    }
    if (c->req.head || status == 204 || status == 304 || len == 0) {
        if (release)
            release(ctx);
    } else {
        c->ref = body;
        c->ref_len = len;
        c->ref_off = 0;
        c->ref_release = release;
        c->ref_ctx = ctx;
    }
    conn_finish(c);
    return ST_OK;
}

int http_server_takeover(struct http_server_request *req, struct net_transport *t)
{
    struct http_server_conn *c = req->conn;
    if (req->answered || (c->phase != PH_HANDLER && c->phase != PH_ASYNC) || out_pending(c) || c->transport.unsent)
        return ST_ERROR;
    ev_io_stop(c->srv->loop, &c->io);
    ev_timer_stop(c->srv->loop, &c->timer);
    c->io_events = 0;
    *t = c->transport;
    req->answered = 1;
    c->transport.ops = NULL;
    if (c->phase == PH_ASYNC) {
        /* A late answer comes from elsewhere on the loop, never from this
         * connection's own callbacks: nothing holds c, free it now. */
        conn_free(c);
        return ST_OK;
    }
    c->phase = PH_TAKEN; /* the dispatcher still holds c: conn_run frees it */
    return ST_OK;
}
