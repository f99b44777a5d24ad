#include "http/http_client.h"

#include "core/status.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct http_client_req {
    struct http_client *client;
    struct http_client_req *next, *prev;
    http_client_cb cb;
    void *ctx;
    int fd;
    int connected;
    ev_io io;
    ev_timer timer;
    char *out; /* request bytes */
    size_t out_len, out_off;
    char head[HTTP_CLIENT_MAX_HEAD];
    size_t head_len;
};

/* --- URL and response head (pure) --------------------------------------- */

int http_client_parse_url(const char *url, struct http_client_target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "'%s': only http:// URLs are supported", url);
        return ST_ERROR;
    }
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t hostport_len = slash ? (size_t)(slash - h) : strlen(h);
    if (hostport_len == 0 || hostport_len >= sizeof(t->host)) {
        snprintf(err, errlen, "'%s': missing or overlong host", url);
        return ST_ERROR;
    }
    memcpy(t->host, h, hostport_len);
    t->host[hostport_len] = '\0';
    const char *path = slash ? slash : "/";
    if (strlen(path) >= sizeof(t->path) || strpbrk(path, " \r\n#")) {
        snprintf(err, errlen, "'%s': bad path", url);
        return ST_ERROR;
    }
    memcpy(t->path, path, strlen(path) + 1);

    char host[256], port[8] = "80";
    const char *hp = t->host, *colon;
    size_t hlen;
    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');
        if (!end || (end[1] != '\0' && end[1] != ':')) {
            snprintf(err, errlen, "'%s': bad IPv6 host", url);
            return ST_ERROR;
        }
        hlen = (size_t)(end - hp - 1);
        hp++;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strchr(hp, ':');
        hlen = colon ? (size_t)(colon - hp) : strlen(hp);
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        snprintf(err, errlen, "'%s': missing host", url);
        return ST_ERROR;
    }
    memcpy(host, hp, hlen);
    host[hlen] = '\0';
    if (colon) {
        size_t n = strlen(colon + 1);
        if (n == 0 || n > 5 || strspn(colon + 1, "0123456789") != n || atoi(colon + 1) > 65535) {
            snprintf(err, errlen, "'%s': bad port", url);
            return ST_ERROR;
        }
        memcpy(port, colon + 1, n + 1);
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "'%s': cannot resolve %s: %s", url, host, gai_strerror(rc));
        return ST_ERROR;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return ST_OK;
}

/* One header line: Location's value is kept (whitespace trimmed). */
static int take_header(const char *line, size_t len, char *location, size_t loccap)
{
    static const char name[] = "location:";
    if (len < sizeof(name) - 1 || strncasecmp(line, name, sizeof(name) - 1) != 0)
        return ST_OK;
    const char *v = line + sizeof(name) - 1, *e = line + len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if ((size_t)(e - v) >= loccap)
        return ST_ERROR;
    memcpy(location, v, (size_t)(e - v));
    location[e - v] = '\0';
    return ST_OK;
}

int http_client_parse_head(const char *buf, size_t len, int *status, char *location, size_t loccap,
                           size_t *head_len)
{
    if (loccap > 0)
        location[0] = '\0';
    /* The head ends at the first empty line; find it before parsing so a
     * partial head costs nothing but the scan. */
    size_t end = 0;
    int found = 0;
    for (size_t i = 0; i < len && i < HTTP_CLIENT_MAX_HEAD; i++) {
        if (buf[i] != '\n')
            continue;
        if (i >= 1 && buf[i - 1] == '\n') {
            end = i + 1;
            found = 1;
            break;
        }
        if (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n') {
            end = i + 1;
            found = 1;
            break;
        }
    }
    if (!found)
        return len >= HTTP_CLIENT_MAX_HEAD ? ST_ERROR : ST_AGAIN;
    /* Status line: "HTTP/1.x DDD[ reason]". */
    if (end < 13 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
        return ST_ERROR;
    for (int i = 9; i < 12; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return ST_ERROR;
    if (buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
        return ST_ERROR;
    int code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (code < 100)
        return ST_ERROR;
    const char *p = memchr(buf, '\n', end);
    p++;
    while ((size_t)(p - buf) < end) {
        const char *nl = memchr(p, '\n', end - (size_t)(p - buf));
        size_t l = (size_t)(nl - p);
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (l == 0)
            break;
        if (memchr(p, '\0', l) || (p[0] != ' ' && p[0] != '\t' && !memchr(p, ':', l)))
            return ST_ERROR;
        if (take_header(p, l, location, loccap) != ST_OK)
            return ST_ERROR;
        p = nl + 1;
    }
    *status = code;
    *head_len = end;
    return ST_OK;
}

int http_client_form_add(struct buf *b, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = b->len ? buf_append_u8(b, '&') : ST_OK;
    const char *parts[2] = {key, value ? value : ""};
    for (int k = 0; k < 2 && rc == ST_OK; k++) {
        if (k == 1)
            rc = buf_append_u8(b, '=');
        for (const unsigned char *s = (const unsigned char *)parts[k]; *s && rc == ST_OK; s++) {
            if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
                *s == '_' || *s == '.' || *s == '~') {
                rc = buf_append_u8(b, *s);
            } else if (*s == ' ') {
                rc = buf_append_u8(b, '+');
            } else {
                uint8_t e[3] = {'%', (uint8_t)hex[*s >> 4], (uint8_t)hex[*s & 15]};
                rc = buf_append(b, e, 3);
            }
        }
    }
    return rc;
}

/* --- requests on the loop ------------------------------------------------ */

static void req_free(struct http_client_req *r)
{
    struct http_client *c = r->client;
    ev_io_stop(c->loop, &r->io);
    ev_timer_stop(c->loop, &r->timer);
    if (r->fd >= 0)
        close(r->fd);
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    c->inflight--;
    free(r->out);
    free(r);
}

static void req_finish(struct http_client_req *r, int status, const char *error, const char *location)
{
    struct http_client_result res = {.status = status, .error = error, .location = location};
    /* Unlink first: the callback may start another request or close the client. */
    ev_io_stop(r->client->loop, &r->io);
    ev_timer_stop(r->client->loop, &r->timer);
    http_client_cb cb = r->cb;
    void *ctx = r->ctx;
    char loc[HTTP_CLIENT_MAX_LOCATION];
    if (location) {
        snprintf(loc, sizeof(loc), "%s", location);
        res.location = loc;
    }
    req_free(r);
    if (cb)
        cb(ctx, &res);
}

static void req_read(struct http_client_req *r)
{
    for (;;) {
        if (r->head_len == sizeof(r->head)) {
            req_finish(r, 0, "response head too large", NULL);
            return;
        }
        ssize_t n = recv(r->fd, r->head + r->head_len, sizeof(r->head) - r->head_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            req_finish(r, 0, n == 0 ? "connection closed before a response" : "read error", NULL);
            return;
        }
        r->head_len += (size_t)n;
        int status = 0;
        size_t used = 0;
        char loc[HTTP_CLIENT_MAX_LOCATION];
        int rc = http_client_parse_head(r->head, r->head_len, &status, loc, sizeof(loc), &used);
        if (rc == ST_OK) {
            req_finish(r, status, NULL, loc[0] ? loc : NULL);
            return;
        }
        if (rc == ST_ERROR) {
            req_finish(r, 0, "malformed response", NULL);
            return;
        }
    }
}

static void req_write(struct http_client_req *r)
{
    while (r->out_off < r->out_len) {
        ssize_t n = send(r->fd, r->out + r->out_off, r->out_len - r->out_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n < 0) {
            req_finish(r, 0, "write error", NULL);
            return;
        }
        r->out_off += (size_t)n;
    }
    ev_io_stop(r->client->loop, &r->io);
    ev_io_set(&r->io, r->fd, EV_READ);
    ev_io_start(r->client->loop, &r->io);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct http_client_req *r = w->data;
    if (!r->connected) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            req_finish(r, 0, "connection failed", NULL);
            return;
        }
        r->connected = 1;
    }
    if (r->out_off < r->out_len)
        req_write(r);
    else
        req_read(r);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents) { req_finish(w->data, 0, "timeout", NULL); }

/* A connect that fails at once still reports through the loop, so callers
 * never see their callback from inside http_client_post. */
static void fail_soon_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    req_finish(w->data, 0, "connection failed", NULL);
}

void http_client_init(struct http_client *c, struct ev_loop *loop)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
}

int http_client_post(struct http_client *c, const struct http_client_target *t, const char *content_type,
                     const char *body, size_t len, long timeout_ms, http_client_cb cb, void *ctx)
{
    if (len > HTTP_CLIENT_MAX_BODY)
        return ST_ERROR;
    struct http_client_req *r = calloc(1, sizeof(*r));
    if (!r)
        return ST_ERROR;
    size_t cap = len + strlen(t->path) + strlen(t->host) + strlen(content_type) + 160;
    r->out = malloc(cap);
    if (!r->out) {
        free(r);
        return ST_ERROR;
    }
    int n = snprintf(r->out, cap,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: streamcluster\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     t->path, t->host, content_type, len);
    if (n < 0 || (size_t)n + len > cap) {
        free(r->out);
        free(r);
        return ST_ERROR;
    }
    memcpy(r->out + n, body, len);
    r->out_len = (size_t)n + len;
    r->fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->fd < 0) {
        free(r->out);
        free(r);
        return ST_ERROR;
    }
    r->client = c;
    r->cb = cb;
    r->ctx = ctx;
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    c->inflight++;
    ev_io_init(&r->io, io_cb, r->fd, EV_WRITE);
    r->io.data = r;
    r->timer.data = r;
    if (connect(r->fd, (const struct sockaddr *)&t->addr, t->addrlen) != 0 && errno != EINPROGRESS) {
        ev_timer_init(&r->timer, fail_soon_cb, 0, 0);
        ev_timer_start(c->loop, &r->timer);
        return ST_OK;
    }
    ev_timer_init(&r->timer, timer_cb, timeout_ms / 1000.0, 0);
    ev_timer_start(c->loop, &r->timer);
    ev_io_start(c->loop, &r->io);
    return ST_OK;
}

void http_client_close(struct http_client *c)
{
    while (c->reqs)
        req_free(c->reqs);
}
