/*
 * origin_relay: push sessions per (published stream, destination); see the
 * header for the policy.
 *
 * A session's states: WAIT (backoff timer) -> RESOLVE (background lookup,
 * polled by the timer) -> CONNECT (socket writable) -> SETUP (RTMP
 * handshake .. Publish.Start) -> LIVE. One ev_io and one ev_timer per
 * session; the timer also checks the setup and stall deadlines. Any failure
 * goes back to WAIT through push_fail, which closes the connection but keeps
 * the session (and its stats) until the publisher leaves.
 */
#include "origin_relay.h"

#include "core/log.h"
#include "core/status.h"
#include "fanout/fanout_player.h"
#include "http/http_server.h"
#include "net/net_dial.h"
#include "net/net_tls.h"
#include "net/net_transport.h"
#include "rtmp/rtmp_chunk_writer.h"
#include "rtmp/rtmp_client.h"
#include "rtmp/rtmp_message.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_CTRL_MAX (64 * 1024)  /* handshake + commands + acks of one session */
#define RELAY_READ_BUF 16384
#define RELAY_RESOLVE_POLL 0.02     /* s between polls of a background lookup */
#define RELAY_TICK 0.25             /* s between deadline checks */
#define RELAY_JSON_MAX (1024 * 1024)
#define RELAY_HOPS_TAG "sc-relay-hops="

/* --- configuration -------------------------------------------------------- */

#define R(f) offsetof(struct origin_relay_settings, f)

static const struct config_directive relay_directives[] = {
    {"relay_push", CONFIG_STRING, R(push), "", 0, 0,
     "push streams to other RTMP servers: \"APP=URL, APP/NAME=URL, ...\" (APP: URL/<name>, or {name} in URL)", 0},
    {"relay_reconnect_min", CONFIG_MS, R(reconnect_min), "1s", 100, 3600000,
     "first retry delay of a failed relay push (doubles per failure)", 0},
    {"relay_reconnect_max", CONFIG_MS, R(reconnect_max), "30s", 100, 3600000, "longest retry delay of a relay push",
     0},
    {"relay_queue_bytes", CONFIG_SIZE, R(queue_bytes), "4m", 65536, 1073741824,
     "media queued per relay destination before frames are dropped", 0},
    {"relay_timeout", CONFIG_MS, R(timeout), "10s", 500, 600000,
     "relay connect+publish deadline, and how long a destination may stall or keep dropping", 0},
    {"relay_tls_verify", CONFIG_BOOL, R(tls_verify), "on", 0, 0,
     "rtmps:// relays check the server certificate (system CAs) and host name", 0},
};

int origin_relay_config_append(struct config_directive *table, size_t cap, size_t *n, size_t base)
{
    return config_append_table(table, cap, n, relay_directives, sizeof(relay_directives) / sizeof(relay_directives[0]),
                               base);
}

/* --- types ----------------------------------------------------------------- */

struct origin_relay_rule {
    char pattern[LIVE_KEY_MAX]; /* "app" or "app/name" */
    int whole_key;              /* pattern names one stream */
    char url[RTMP_CLIENT_URL_MAX];
    char dest[RTMP_CLIENT_URL_MAX]; /* its tcUrl, for logs: the URL may hold a stream key */
    int tls;
};

enum push_state { PUSH_WAIT, PUSH_RESOLVE, PUSH_CONNECT, PUSH_SETUP, PUSH_LIVE };

static const char *push_state_name(enum push_state s)
{
    switch (s) {
    case PUSH_WAIT: return "waiting";
    case PUSH_RESOLVE: return "resolving";
    case PUSH_CONNECT: return "connecting";
    case PUSH_SETUP: return "handshaking";
    case PUSH_LIVE: return "live";
    }
    return "?";
}

struct relay_push {
    struct origin_relay *r;
    struct origin_relay_stream *rs;
    struct relay_push *next;
    struct rtmp_client_url url;
    enum push_state state;
    uint64_t state_ms;      /* when state was entered */
    uint64_t live_ms;       /* when it went live */
    uint64_t progress_ms;   /* the socket last took bytes (or had nothing to take) */
    uint32_t fails_in_row;  /* consecutive failures, for the backoff */
    uint32_t retry_ms;      /* current backoff */

    struct net_dial dial;
    struct net_transport t;
    int have_t;
    struct rtmp_client client;
    int have_client;
    struct fanout_player out;
    int have_out;
    int zero_copy;          /* remote stream id 1: write frame->rtmp as it is */
    int read_wants_write;   /* TLS: a read needs the socket writable */
    int flush_wants_read;   /* TLS: a flush needs the socket readable */

    ev_io io;
    int io_events;
    ev_timer timer;

    /* stats, over every connection of this session */
    uint64_t connects, failures;
    uint64_t bytes_done, dropped_done; /* from connections already closed */
    char last_error[RTMP_CLIENT_ERROR_MAX];
};

struct origin_relay_stream {
    struct origin_relay *r;
    struct live_stream *st;
    char flash_ver[64]; /* what our pushes say in connect: the hop count after this one */
    struct fanout_tap tap;
    struct relay_push *pushes;
    struct fanout_frame *meta_src;     /* the stream's metadata frame ... */
    struct fanout_frame *meta_wrapped; /* ... as @setDataFrame, what publishers send */
    struct origin_relay_stream *next;
};

static uint64_t now_ms(const struct origin_relay *r) { return live_server_now_ms(r->srv); }

/* --- frames ------------------------------------------------------------------ */

/* A publisher sends metadata as @setDataFrame(onMetaData, ...); the stream
 * keeps it without the prefix (what players get). Built once per metadata
 * frame and shared by the stream's destinations. */
static struct fanout_frame *wrapped_metadata(struct origin_relay_stream *rs, struct fanout_frame *f)
{
    if (rs->meta_src == f && rs->meta_wrapped)
        return rs->meta_wrapped;
    static const uint8_t prefix[] = {0x02, 0x00, 0x0d, '@', 's', 'e', 't', 'D', 'a', 't', 'a', 'F', 'r', 'a', 'm', 'e'};
    uint8_t *body = malloc(sizeof(prefix) + f->body_len);
    if (!body)
        return NULL;
    memcpy(body, prefix, sizeof(prefix));
    memcpy(body + sizeof(prefix), f->body, f->body_len);
    struct fanout_frame *w = fanout_frame_new(f->kind, f->flags, f->timestamp, body,
                                              (uint32_t)(sizeof(prefix) + f->body_len),
                                              (uint32_t)rs->r->srv->settings->chunk_size);
    free(body);
    if (!w)
        return NULL;
    fanout_frame_unref(rs->meta_src);
    fanout_frame_unref(rs->meta_wrapped);
    rs->meta_src = fanout_frame_ref(f);
    rs->meta_wrapped = w;
    return w;
}

/* The slow path for a remote that gave another stream id: a private copy
 * encoded on that id (same chunk stream, size and layout). */
static struct fanout_frame *copy_for_stream(struct fanout_frame *f, uint32_t stream_id, uint32_t chunk_size)
{
    struct fanout_frame *c = fanout_frame_new(f->kind, f->flags, f->timestamp, f->body, f->body_len, chunk_size);
    if (!c)
        return NULL;
    struct rtmp_message_header h = {
        .csid = c->rtmp[0] & 0x3f, .type = f->kind, .timestamp = f->timestamp, .stream_id = stream_id};
    rtmp_chunk_writer_encode(c->rtmp, &h, c->body, c->body_len, chunk_size);
    return c;
}

static void push_enqueue(struct relay_push *p, struct fanout_frame *f)
{
    if (f->flags & FANOUT_FLAG_METADATA) {
        f = wrapped_metadata(p->rs, f);
        if (!f)
            return;
    }
    uint64_t now = now_ms(p->r);
    if (p->zero_copy) {
        fanout_player_enqueue(&p->out, f, now);
        return;
    }
    struct fanout_frame *c = copy_for_stream(f, p->client.stream_id, (uint32_t)p->r->srv->settings->chunk_size);
    if (!c) {
        p->out.frames_dropped++;
        return;
    }
    fanout_player_enqueue(&p->out, c, now);
    fanout_frame_unref(c);
}

static void tap_frame(struct fanout_tap *t, struct fanout_frame *f)
{
    struct origin_relay_stream *rs = (struct origin_relay_stream *)((char *)t - offsetof(struct origin_relay_stream, tap));
    for (struct relay_push *p = rs->pushes; p; p = p->next)
        if (p->state == PUSH_LIVE)
            push_enqueue(p, f);
}

/* --- connection plumbing ---------------------------------------------------- */

static void push_arm_timer(struct relay_push *p, double after)
{
    ev_timer_stop(p->r->loop, &p->timer);
    ev_timer_set(&p->timer, after, 0.);
    ev_timer_start(p->r->loop, &p->timer);
}

static void push_set_state(struct relay_push *p, enum push_state s)
{
    p->state = s;
    p->state_ms = now_ms(p->r);
}

static void push_watch(struct relay_push *p, int fd, int events)
{
    if (p->io_events == events && p->io.fd == fd && ev_is_active(&p->io))
        return;
    ev_io_stop(p->r->loop, &p->io);
    p->io_events = events;
    if (fd < 0 || events == 0)
        return;
    ev_io_set(&p->io, fd, events);
    ev_io_start(p->r->loop, &p->io);
}

/* Readable always; writable while something waits to go out and the
 * transport is not waiting to read first. */
static void push_update_io(struct relay_push *p)
{
    if (!p->have_t)
        return;
    int want_write = p->read_wants_write ||
                     ((fanout_player_pending(&p->out) || p->t.unsent > 0) && !p->flush_wants_read);
    push_watch(p, p->t.fd, EV_READ | (want_write ? EV_WRITE : 0));
}

/* Close the connection (not the session): stats of the connection are
 * folded into the session's. */
static void push_close(struct relay_push *p)
{
    ev_io_stop(p->r->loop, &p->io);
    p->io_events = 0;
    net_dial_cancel(&p->dial);
    if (p->have_t)
        net_transport_close(&p->t);
    p->have_t = 0;
    if (p->have_client)
        rtmp_client_free(&p->client);
    p->have_client = 0;
    if (p->have_out) {
        p->bytes_done += p->out.bytes_written;
        p->dropped_done += p->out.frames_dropped;
        p->r->totals.bytes_out += p->out.bytes_written;
        p->r->totals.frames_dropped += p->out.frames_dropped;
        fanout_player_free(&p->out);
    }
    p->have_out = 0;
    p->read_wants_write = p->flush_wants_read = 0;
}

static uint32_t backoff_ms(struct relay_push *p)
{
    const struct origin_relay_settings *cfg = p->r->cfg;
    uint64_t d = (uint64_t)cfg->reconnect_min;
    for (uint32_t i = 0; i < p->fails_in_row && d < (uint64_t)cfg->reconnect_max; i++)
        d *= 2;
    if (d > (uint64_t)cfg->reconnect_max)
        d = (uint64_t)cfg->reconnect_max;
    /* +-10 %: many streams failing together should not retry in lockstep. */
    uint32_t x = p->r->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p->r->rng = x;
    int64_t jitter = (int64_t)(d / 10);
    if (jitter > 0)
        d = (uint64_t)((int64_t)d - jitter + (int64_t)(x % (uint32_t)(2 * jitter + 1)));
    return (uint32_t)d;
}

static void push_fail(struct relay_push *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log once with the stream, destination and reason; retry later. */
static void push_fail(struct relay_push *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
    va_end(ap);
    uint64_t now = now_ms(p->r);
    if (p->state == PUSH_LIVE && now - p->live_ms >= ORIGIN_RELAY_GOOD_SESSION_MS)
        p->fails_in_row = 0;
    enum push_state was = p->state;
    push_close(p);
    p->failures++;
    p->r->totals.failures++;
    p->retry_ms = backoff_ms(p);
    p->fails_in_row++;
    push_set_state(p, PUSH_WAIT);
    LOG_WARN("relay failed stream=%s dest=%s state=%s reason=\"%s\" retry_in=%ums", p->rs->st->key, p->url.tc_url,
             push_state_name(was), p->last_error, p->retry_ms);
    push_arm_timer(p, p->retry_ms / 1000.0);
}

static void push_go_live(struct relay_push *p)
{
    struct fanout_stream *fs = &p->rs->st->fanout;
    push_set_state(p, PUSH_LIVE);
    p->live_ms = p->progress_ms = p->state_ms;
    p->zero_copy = p->client.stream_id == RTMP_MEDIA_STREAM_ID;
    p->connects++;
    p->r->totals.connects++;
    LOG_INFO("relay live stream=%s dest=%s stream_id=%u%s", p->rs->st->key, p->url.tc_url, p->client.stream_id,
             p->zero_copy ? "" : " (re-encoding frames)");
    /* What a late-joining player gets: metadata, codec headers, the GOP. */
    struct fanout_frame *fixed[3] = {fs->metadata, fs->audio_header, fs->video_header};
    for (int i = 0; i < 3; i++)
        if (fixed[i])
            push_enqueue(p, fixed[i]);
    for (uint32_t i = 0; i < fs->gop_count; i++)
        push_enqueue(p, fs->gop[i]);
}

static void push_wake(struct fanout_player *pl)
{
    push_update_io(pl->owner);
}

static int push_writev(void *ctx, const struct iovec *iov, int iovcnt, size_t *written)
{
    struct relay_push *p = ctx;
    int rc = net_transport_writev(&p->t, iov, iovcnt, written);
    if (*written > 0)
        p->progress_ms = now_ms(p->r);
    return rc == ST_DONE ? ST_ERROR : rc;
}

static const char *transport_reason(const struct net_transport *t)
{
    return t->error ? t->error : t->err ? strerror(t->err) : "connection error";
}

/* The TCP connection is up: wrap it and start the RTMP handshake. */
static void push_connected(struct relay_push *p)
{
    struct origin_relay *r = p->r;
    int fd = net_dial_take(&p->dial);
    /* The same socket bounds as players (live_settings): what the kernel
     * buffers for a stalled destination is not counted by the queue. */
    const struct live_settings *ls = r->srv->settings;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ls->socket_sndbuf) {
        int sz = (int)ls->socket_sndbuf;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    if (ls->socket_notsent_lowat) {
        int lowat = (int)ls->socket_notsent_lowat;
        setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    }
    if (p->url.tls) {
        if (net_tls_client_transport_init(&p->t, fd, r->tls, p->url.host) != ST_OK) {
            close(fd);
            push_fail(p, "out of memory for TLS");
            return;
        }
    } else {
        net_transport_tcp_init(&p->t, fd);
    }
    p->have_t = 1;
    struct rtmp_client_config cc = {.app = p->url.app,
                                    .tc_url = p->url.tc_url,
                                    .name = p->url.name,
                                    .flash_ver = p->rs->flash_ver,
                                    .chunk_size = (uint32_t)ls->chunk_size,
                                    .max_chunk_size = (uint32_t)ls->max_chunk_size,
                                    .max_message_size = 1024 * 1024};
    if (rtmp_client_init(&p->client, &cc) != ST_OK) {
        push_fail(p, "rtmp client: %s", p->client.error);
        return;
    }
    p->have_client = 1;
    uint32_t frames = ls->player_queue_frames > 0 ? (uint32_t)ls->player_queue_frames : 1024;
    if (fanout_player_init(&p->out, frames, r->cfg->queue_bytes, RELAY_CTRL_MAX, (uint32_t)r->cfg->timeout) !=
        ST_OK) {
        push_fail(p, "out of memory for the queue");
        return;
    }
    p->have_out = 1;
    p->out.owner = p;
    p->out.wake = push_wake;
    push_set_state(p, PUSH_SETUP);
    p->progress_ms = p->state_ms;
    if (rtmp_client_start(&p->client, &p->out.ctrl) != ST_OK) {
        push_fail(p, "rtmp client: %s", p->client.error);
        return;
    }
    push_update_io(p);
}

/* Read what the server sent and answer it. ST_OK or ST_ERROR (the session
 * already failed). */
static int push_read(struct relay_push *p)
{
    uint8_t buf[RELAY_READ_BUF];
    p->read_wants_write = 0;
    for (int rounds = 0; rounds < 16; rounds++) {
        size_t n = 0;
        int rc = net_transport_read(&p->t, buf, sizeof(buf), &n);
        if (rc == ST_AGAIN) {
            p->read_wants_write = p->t.want_write;
            return ST_OK;
        }
        if (rc == ST_DONE) {
            push_fail(p, "destination closed the connection%s", p->state == PUSH_SETUP ? " during setup" : "");
            return ST_ERROR;
        }
        if (rc == ST_ERROR) {
            push_fail(p, "read: %s", transport_reason(&p->t));
            return ST_ERROR;
        }
        size_t off = 0;
        while (off < n) {
            size_t used = 0;
            int frc = rtmp_client_feed(&p->client, buf + off, n - off, &used, &p->out.ctrl);
            off += used;
            if (frc == ST_OK) {
                push_go_live(p);
                continue;
            }
            if (frc == ST_AGAIN)
                break;
            push_fail(p, "%s", p->client.error);
            return ST_ERROR;
        }
        fanout_player_ctrl_appended(&p->out);
        if (!p->t.pending && n < sizeof(buf))
            break;
    }
    return ST_OK;
}

static int push_flush(struct relay_push *p)
{
    p->flush_wants_read = 0;
    int rc = fanout_player_flush(&p->out, push_writev, p);
    if (rc == ST_ERROR) {
        push_fail(p, "write: %s", transport_reason(&p->t));
        return ST_ERROR;
    }
    if (rc == ST_AGAIN) {
        p->flush_wants_read = !p->t.want_write;
    } else if (p->t.unsent > 0) {
        /* TLS holds part of a record: an empty writev pushes it. */
        size_t w = 0;
        int trc = net_transport_writev(&p->t, NULL, 0, &w);
        if (trc == ST_ERROR) {
            push_fail(p, "write: %s", transport_reason(&p->t));
            return ST_ERROR;
        }
        if (trc == ST_AGAIN)
            p->flush_wants_read = !p->t.want_write;
    }
    if (!fanout_player_pending(&p->out) && p->t.unsent == 0)
        p->progress_ms = now_ms(p->r); /* nothing owed: not stalled */
    return ST_OK;
}

static void push_start_dial(struct relay_push *p);

static void on_push_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct relay_push *p = w->data;
    if (p->state == PUSH_CONNECT) {
        int rc = net_dial_poll(&p->dial);
        if (rc == ST_OK)
            push_connected(p);
        else if (rc == ST_ERROR)
            push_fail(p, "%s", p->dial.error);
        else
            push_watch(p, p->dial.fd, EV_WRITE); /* maybe the next address */
        return;
    }
    if (p->state != PUSH_SETUP && p->state != PUSH_LIVE)
        return;
    /* TLS may need either direction for either operation. */
    if (((revents & EV_READ) || p->read_wants_write || p->t.pending) && push_read(p) != ST_OK)
        return;
    if ((fanout_player_pending(&p->out) || p->t.unsent) && push_flush(p) != ST_OK)
        return;
    push_update_io(p);
    if (p->t.pending)
        ev_feed_event(loop, &p->io, EV_READ); /* decrypted input the fd will not signal */
}

static void push_start_dial(struct relay_push *p)
{
    push_set_state(p, PUSH_RESOLVE);
    int rc = net_dial_start(&p->dial, p->url.host, p->url.port);
    if (rc == ST_ERROR) {
        push_fail(p, "%s", p->dial.error);
        return;
    }
    if (rc == ST_OK) {
        push_set_state(p, PUSH_CONNECT);
        push_connected(p);
        return;
    }
    if (p->dial.fd >= 0) {
        push_set_state(p, PUSH_CONNECT);
        push_watch(p, p->dial.fd, EV_WRITE);
    }
    push_arm_timer(p, p->dial.fd >= 0 ? RELAY_TICK : RELAY_RESOLVE_POLL);
}

static void on_push_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct relay_push *p = w->data;
    uint64_t now = now_ms(p->r);
    uint64_t limit = (uint64_t)p->r->cfg->timeout;
    switch (p->state) {
    case PUSH_WAIT:
        push_start_dial(p);
        return;
    case PUSH_RESOLVE: {
        int rc = net_dial_poll(&p->dial);
        if (rc == ST_ERROR) {
            push_fail(p, "%s", p->dial.error);
            return;
        }
        if (rc == ST_OK) {
            push_set_state(p, PUSH_CONNECT);
            push_connected(p);
            return;
        }
        if (p->dial.fd >= 0) {
            /* Resolved: the connect deadline starts now. */
            push_set_state(p, PUSH_CONNECT);
            push_watch(p, p->dial.fd, EV_WRITE);
        } else if (now - p->state_ms > limit) {
            push_fail(p, "resolving %s took longer than relay_timeout", p->url.host);
            return;
        }
        push_arm_timer(p, p->dial.fd >= 0 ? RELAY_TICK : RELAY_RESOLVE_POLL);
        return;
    }
    case PUSH_CONNECT:
    case PUSH_SETUP:
        if (now - p->state_ms > limit) {
            push_fail(p, "no answer within relay_timeout (%s%s%s)", push_state_name(p->state),
                      p->state == PUSH_SETUP ? ", rtmp " : "",
                      p->state == PUSH_SETUP ? rtmp_client_state_name(p->client.state) : "");
            return;
        }
        break;
    case PUSH_LIVE:
        if (p->out.failed) {
            push_fail(p, "destination too slow: dropping for longer than relay_timeout");
            return;
        }
        if ((fanout_player_pending(&p->out) || p->t.unsent) && now - p->progress_ms > limit) {
            push_fail(p, "destination stalled: nothing written for relay_timeout");
            return;
        }
        break;
    }
    push_arm_timer(p, RELAY_TICK);
}

/* --- rules ------------------------------------------------------------------- */

/* The destination URL of stream key for a rule; ST_ERROR when too long or
 * the key has no name part. */
static int rule_url(const struct origin_relay_rule *rule, const char *key, char *out, size_t cap)
{
    const char *slash = strchr(key, '/');
    const char *name = slash ? slash + 1 : "";
    if (!name[0])
        return ST_ERROR;
    size_t k = 0;
    const char *u = rule->url;
    if (strstr(u, "{name}")) {
        while (*u) {
            if (strncmp(u, "{name}", 6) == 0) {
                size_t nl = strlen(name);
                if (k + nl >= cap)
                    return ST_ERROR;
                memcpy(out + k, name, nl);
                k += nl;
                u += 6;
            } else {
                if (k + 1 >= cap)
                    return ST_ERROR;
                out[k++] = *u++;
            }
        }
        out[k] = '\0';
        return ST_OK;
    }
    if (rule->whole_key)
        return snprintf(out, cap, "%s", u) < (int)cap ? ST_OK : ST_ERROR;
    size_t ul = strlen(u);
    while (ul > 0 && u[ul - 1] == '/')
        ul--;
    return snprintf(out, cap, "%.*s/%s", (int)ul, u, name) < (int)cap ? ST_OK : ST_ERROR;
}

static int rule_matches(const struct origin_relay_rule *rule, const char *key)
{
    if (rule->whole_key)
        return strcmp(rule->pattern, key) == 0;
    size_t n = strlen(rule->pattern);
    return strncmp(key, rule->pattern, n) == 0 && key[n] == '/';
}

static int parse_rules(struct origin_relay *r, const char *spec)
{
    size_t cap = 0;
    for (const char *s = spec; *s; s++)
        cap += *s == ',';
    cap++;
    r->rules = calloc(cap, sizeof(*r->rules));
    if (!r->rules) {
        LOG_ERROR("relay_push: out of memory");
        return ST_ERROR;
    }
    const char *s = spec;
    size_t item = 0;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *a = s, *b = s + len;
        s = end ? end + 1 : s + len;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        item++;
        if (a == b)
            continue; /* "a=x, , b=y" or a trailing comma */
        const char *eq = memchr(a, '=', (size_t)(b - a));
        struct origin_relay_rule *rule = &r->rules[r->nrules];
        const char *why = NULL;
        if (!eq || eq == a)
            why = "want APP=URL or APP/NAME=URL";
        else if ((size_t)(eq - a) >= sizeof(rule->pattern) || (size_t)(b - eq - 1) >= sizeof(rule->url))
            why = "too long";
        if (!why) {
            memcpy(rule->pattern, a, (size_t)(eq - a));
            memcpy(rule->url, eq + 1, (size_t)(b - eq - 1));
            const char *sl = strchr(rule->pattern, '/');
            rule->whole_key = sl != NULL;
            if (strpbrk(rule->pattern, " \t") || (sl && (sl == rule->pattern || !sl[1])))
                why = "bad pattern";
        }
        if (!why) {
            /* Check the URL with a sample name, as a real stream would use it. */
            char url[RTMP_CLIENT_URL_MAX];
            struct rtmp_client_url u;
            const char *key = rule->whole_key ? rule->pattern : "app/sample";
            if (rule_url(rule, key, url, sizeof(url)) != ST_OK)
                why = "URL too long";
            else if (rtmp_client_parse_url(url, &u, &why) == ST_OK) {
                rule->tls = u.tls;
                memcpy(rule->dest, u.tc_url, sizeof(rule->dest));
            }
        }
        if (why) {
            /* The pattern only: the URL may carry a secret stream key. */
            LOG_ERROR("relay_push: item %zu (%.*s): %s", item, eq && eq > a ? (int)(eq - a) : 0, a, why);
            return ST_ERROR;
        }
        r->nrules++;
    }
    return ST_OK;
}

int origin_relay_check(const struct origin_relay_settings *cfg)
{
    struct origin_relay scratch;
    memset(&scratch, 0, sizeof(scratch));
    int rc = parse_rules(&scratch, cfg->push ? cfg->push : "");
    free(scratch.rules);
    return rc;
}

/* --- sessions ------------------------------------------------------------------ */

static void push_free(struct relay_push *p)
{
    struct origin_relay *r = p->r;
    if (p->state == PUSH_LIVE && p->have_out) {
        /* Best effort goodbye: what is queued is dropped, the commands go
         * out if the socket takes them now. */
        fanout_player_drop_queue(&p->out);
        if (rtmp_client_unpublish(&p->client, &p->out.ctrl) == ST_OK)
            fanout_player_flush(&p->out, push_writev, p);
        LOG_INFO("relay end stream=%s dest=%s bytes=%llu dropped=%llu", p->rs->st->key, p->url.tc_url,
                 (unsigned long long)(p->bytes_done + p->out.bytes_written),
                 (unsigned long long)(p->dropped_done + p->out.frames_dropped));
    }
    push_close(p);
    ev_timer_stop(r->loop, &p->timer);
    free(p);
}

static void relay_stream_free(struct origin_relay_stream *rs)
{
    fanout_stream_remove_tap(&rs->st->fanout, &rs->tap);
    while (rs->pushes) {
        struct relay_push *p = rs->pushes;
        rs->pushes = p->next;
        push_free(p);
    }
    fanout_frame_unref(rs->meta_src);
    fanout_frame_unref(rs->meta_wrapped);
    free(rs);
}

/* How many relays (ours) a stream came through: our pushes say
 * "sc-relay-hops=N" in their connect's flashVer. 0 for anything else. */
static int relay_hops(const char *flash_ver)
{
    const char *p = strstr(flash_ver, RELAY_HOPS_TAG);
    if (!p)
        return 0;
    long n = strtol(p + strlen(RELAY_HOPS_TAG), NULL, 10);
    return n > 0 && n < 1000 ? (int)n : 0;
}

void origin_relay_publish_started(struct origin_relay *r, struct live_stream *st)
{
    if (!r->started || r->nrules == 0)
        return;
    origin_relay_publish_stopped(r, st); /* never two sets of sessions */
    int hops = relay_hops(live_server_publisher_flash_ver(st));
    if (hops >= ORIGIN_RELAY_MAX_HOPS) {
        for (size_t i = 0; i < r->nrules; i++) {
            if (rule_matches(&r->rules[i], st->key)) {
                r->totals.loops_stopped++;
                LOG_WARN("relay skipped stream=%s: it came through %d relays already (a relay loop?)", st->key,
                         hops);
                break;
            }
        }
        return;
    }
    struct origin_relay_stream *rs = NULL;
    for (size_t i = 0; i < r->nrules; i++) {
        const struct origin_relay_rule *rule = &r->rules[i];
        if (!rule_matches(rule, st->key))
            continue;
        char url[RTMP_CLIENT_URL_MAX];
        struct rtmp_client_url u;
        const char *why = "URL too long";
        if (rule_url(rule, st->key, url, sizeof(url)) != ST_OK || rtmp_client_parse_url(url, &u, &why) != ST_OK) {
            LOG_WARN("relay skipped stream=%s rule=%s: %s", st->key, rule->pattern, why);
            continue;
        }
        if (!rs) {
            rs = calloc(1, sizeof(*rs));
            if (!rs) {
                LOG_ERROR("relay: out of memory for stream %s", st->key);
                return;
            }
            rs->r = r;
            rs->st = st;
            snprintf(rs->flash_ver, sizeof(rs->flash_ver), "FMLE/3.0 (compatible; streamcluster; %s%d)",
                     RELAY_HOPS_TAG, hops + 1);
            rs->tap.frame = tap_frame;
            fanout_stream_add_tap(&st->fanout, &rs->tap);
            rs->next = r->streams;
            r->streams = rs;
        }
        struct relay_push *p = calloc(1, sizeof(*p));
        if (!p) {
            LOG_ERROR("relay: out of memory for stream %s", st->key);
            continue;
        }
        p->r = r;
        p->rs = rs;
        p->url = u;
        p->dial.fd = -1;
        p->t.fd = -1;
        ev_io_init(&p->io, on_push_io, -1, 0);
        p->io.data = p;
        ev_timer_init(&p->timer, on_push_timer, 0., 0.);
        p->timer.data = p;
        /* Append: /v1/relays lists destinations in rule order. */
        struct relay_push **tail = &rs->pushes;
        while (*tail)
            tail = &(*tail)->next;
        *tail = p;
        r->totals.sessions++;
        LOG_INFO("relay start stream=%s dest=%s", st->key, u.tc_url);
        push_start_dial(p);
    }
}

void origin_relay_publish_stopped(struct origin_relay *r, struct live_stream *st)
{
    for (struct origin_relay_stream **pp = &r->streams; *pp; pp = &(*pp)->next) {
        if ((*pp)->st == st) {
            struct origin_relay_stream *rs = *pp;
            *pp = rs->next;
            relay_stream_free(rs);
            return;
        }
    }
}

int origin_relay_start(struct origin_relay *r, struct ev_loop *loop, struct live_server *srv,
                       const struct origin_relay_settings *cfg)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->srv = srv;
    r->cfg = cfg;
    r->rng = (uint32_t)(uintptr_t)r ^ (uint32_t)ev_time() ^ 0x9e3779b9u;
    if (!r->rng)
        r->rng = 1;
    if (cfg->reconnect_max < cfg->reconnect_min) {
        LOG_ERROR("relay_reconnect_max (%ld ms) is below relay_reconnect_min (%ld ms)", cfg->reconnect_max,
                  cfg->reconnect_min);
        return ST_ERROR;
    }
    if (parse_rules(r, cfg->push ? cfg->push : "") != ST_OK) {
        free(r->rules);
        r->rules = NULL;
        return ST_ERROR;
    }
    int tls = 0;
    for (size_t i = 0; i < r->nrules; i++)
        tls |= r->rules[i].tls;
    if (tls) {
        char err[256];
        if (net_tls_client_context_new(&r->tls, cfg->tls_verify, err, sizeof(err)) != ST_OK) {
            LOG_ERROR("relay_push: %s", err);
            free(r->rules);
            r->rules = NULL;
            return ST_ERROR;
        }
    }
    for (size_t i = 0; i < r->nrules; i++)
        LOG_INFO("relay rule %s -> %s%s", r->rules[i].pattern, r->rules[i].dest, r->rules[i].tls ? " (tls)" : "");
    r->started = 1;
    return ST_OK;
}

void origin_relay_stop(struct origin_relay *r)
{
    while (r->streams) {
        struct origin_relay_stream *rs = r->streams;
        r->streams = rs->next;
        relay_stream_free(rs);
    }
    free(r->rules);
    r->rules = NULL;
    r->nrules = 0;
    net_tls_context_free(r->tls);
    r->tls = NULL;
    r->started = 0;
}

/* --- stats ------------------------------------------------------------------------ */

static uint64_t push_bytes(const struct relay_push *p)
{
    return p->bytes_done + (p->have_out ? p->out.bytes_written : 0);
}

static uint64_t push_dropped(const struct relay_push *p)
{
    return p->dropped_done + (p->have_out ? p->out.frames_dropped : 0);
}

void origin_relay_json(const struct origin_relay *r, struct buf *b)
{
    const struct origin_relay_totals *t = &r->totals;
    uint64_t now = r->srv ? live_server_now_ms(r->srv) : 0;
    uint64_t bytes = t->bytes_out, dropped = t->frames_dropped;
    for (const struct origin_relay_stream *rs = r->streams; rs; rs = rs->next)
        for (const struct relay_push *p = rs->pushes; p; p = p->next)
            if (p->have_out) {
                bytes += p->out.bytes_written;
                dropped += p->out.frames_dropped;
            }
    buf_appendf(b,
            "{\"rules\":%zu,\"totals\":{\"sessions\":%llu,\"connects\":%llu,\"failures\":%llu,\"bytes\":%llu,"
            "\"frames_dropped\":%llu,\"loops_stopped\":%llu},\"relays\":[",
            r->nrules, (unsigned long long)t->sessions, (unsigned long long)t->connects,
            (unsigned long long)t->failures, (unsigned long long)bytes, (unsigned long long)dropped,
            (unsigned long long)t->loops_stopped);
    int first = 1;
    for (const struct origin_relay_stream *rs = r->streams; rs; rs = rs->next) {
        for (const struct relay_push *p = rs->pushes; p; p = p->next) {
            buf_appendf(b, "%s{\"stream\":", first ? "" : ",");
            first = 0;
            buf_append_json_string(b, rs->st->key);
            buf_appendf(b, ",\"dest\":");
            buf_append_json_string(b, p->url.tc_url);
            buf_appendf(b,
                    ",\"state\":\"%s\",\"tls\":%s,\"zero_copy\":%s,\"connects\":%llu,\"failures\":%llu,"
                    "\"bytes\":%llu,\"frames_dropped\":%llu,\"queued_bytes\":%zu,\"uptime_ms\":%llu,"
                    "\"retry_in_ms\":%llu,\"last_error\":",
                    push_state_name(p->state), p->url.tls ? "true" : "false",
                    p->state == PUSH_LIVE && p->zero_copy ? "true" : "false", (unsigned long long)p->connects,
                    (unsigned long long)p->failures, (unsigned long long)push_bytes(p),
                    (unsigned long long)push_dropped(p), p->have_out ? p->out.queued_bytes : (size_t)0,
                    (unsigned long long)(p->state == PUSH_LIVE ? now - p->live_ms : 0),
                    (unsigned long long)(p->state == PUSH_WAIT && ev_is_active(&p->timer)
                                             ? (uint64_t)(ev_timer_remaining(r->loop, (ev_timer *)&p->timer) * 1000)
                                             : 0));
            buf_append_json_string(b, p->last_error);
            buf_appendf(b, "}");
        }
    }
    buf_appendf(b, "]}\n");
}

static int handle_relays(struct http_server_request *req, void *ctx)
{
    struct origin_relay *r = ctx;
    struct buf b;
    buf_init(&b, RELAY_JSON_MAX);
    origin_relay_json(r, &b);
    int rc = http_server_send(req, 200, "application/json", b.data, b.len, "Cache-Control: no-cache\r\n");
    buf_free(&b);
    return rc == ST_OK ? ST_OK : ST_ERROR;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label_value(const char *in, char *out, size_t cap)
{
    size_t k = 0;
    for (; *in && k + 3 < cap; in++) {
        if (*in == '\\' || *in == '"' || *in == '\n') {
            out[k++] = '\\';
            out[k++] = *in == '\n' ? 'n' : *in;
        } else {
            out[k++] = *in;
        }
    }
    out[k] = '\0';
}

static void relay_metrics(void *ctx, struct buf *b, const char *node, int worker)
{
    const struct origin_relay *r = ctx;
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"sc_relay_up", "gauge", "1 while a relay push is publishing to its destination"},
        {"sc_relay_connects_total", "counter", "times a relay push reached publishing"},
        {"sc_relay_failures_total", "counter", "relay push connections that failed (each retried)"},
        {"sc_relay_bytes_total", "counter", "bytes written to a relay destination"},
        {"sc_relay_frames_dropped_total", "counter", "frames dropped by a full relay destination queue"},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", m[i].name, m[i].help, m[i].name, m[i].type);
        for (const struct origin_relay_stream *rs = r->streams; rs; rs = rs->next) {
            for (const struct relay_push *p = rs->pushes; p; p = p->next) {
                char key[LIVE_KEY_MAX * 2], dest[RTMP_CLIENT_URL_MAX * 2];
                label_value(rs->st->key, key, sizeof(key));
                label_value(p->url.tc_url, dest, sizeof(dest));
                uint64_t v = i == 0 ? p->state == PUSH_LIVE
                           : i == 1 ? p->connects
                           : i == 2 ? p->failures
                           : i == 3 ? push_bytes(p)
                                    : push_dropped(p);
                buf_appendf(b, "%s{node=\"%s\",worker=\"%d\",stream=\"%s\",dest=\"%s\"} %llu\n", m[i].name, node, worker,
                        key, dest, (unsigned long long)v);
            }
        }
    }
    buf_appendf(b,
                "# HELP sc_relay_loops_stopped_total streams not pushed: they came through ORIGIN_RELAY_MAX_HOPS "
                "relays already\n# TYPE sc_relay_loops_stopped_total counter\n"
                "sc_relay_loops_stopped_total{node=\"%s\",worker=\"%d\"} %llu\n",
                node, worker, (unsigned long long)r->totals.loops_stopped);
}

int origin_relay_attach_api(struct origin_relay *r, struct live_api *api)
{
    if (!api->started)
        return ST_OK;
    if (http_server_route(&api->http, "/v1/relays", HTTP_SERVER_GET | HTTP_SERVER_HEAD, handle_relays, r) != ST_OK)
        return ST_ERROR;
    api->metrics_hook = relay_metrics;
    api->metrics_ctx = r;
    return ST_OK;
}
