#include "live/live_server.h"

#include "core/log.h"
#include "core/status.h"
#include "fanout/fanout_player.h"
#include "media/media_codec.h"
#include "net/net_transport.h"
#include "rtmp/rtmp_message.h"
#include "rtmp/rtmp_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Bytes read per read(2); one publisher wake-up reads at most
 * LIVE_READ_BUDGET so a fast publisher cannot starve the loop. */
#define LIVE_READ_CHUNK 16384
#define LIVE_READ_BUDGET (256 * 1024)
/* Private output (handshake, replies, status): small and bounded. */
#define LIVE_CTRL_MAX (256 * 1024)

struct live_conn {
    struct live_server *srv;
    uint64_t id;
    char peer[64];
    ev_io rio;
    ev_io wio;
    struct net_transport transport;
    struct rtmp_session session;
    struct fanout_player out;
    struct live_stream *stream; /* published or played stream */
    enum rtmp_session_role role; /* last role taken, for the end-of-session log */
    int publish_pending; /* publish_check answered ST_AGAIN */
    int publish_active;  /* publish_started hook ran */
    uint64_t started_ms;
    uint64_t last_read_ms;
    const char *close_reason; /* set => closing at the end of the turn */
    int dirty;   /* on srv->dirty */
    int closing; /* on srv->closing */
    struct live_conn *next, *prev; /* srv->conns */
    struct live_conn *dirty_next;
    struct live_conn *closing_next;
};

uint64_t live_server_now_ms(const struct live_server *srv) { return (uint64_t)(ev_now(srv->loop) * 1000.0); }

static void conn_mark_dirty(struct live_conn *c)
{
    if (c->dirty || c->close_reason)
        return;
    c->dirty = 1;
    c->dirty_next = c->srv->dirty;
    c->srv->dirty = c;
}

/* Closing is deferred: callers may be deep inside session or fan-out code
 * that still holds c (STYLE.md 9). The flush pass frees it. */
static void conn_fail(struct live_conn *c, const char *reason)
{
    if (!c->close_reason)
        c->close_reason = reason;
    if (!c->closing) {
        c->closing = 1;
        c->closing_next = c->srv->closing;
        c->srv->closing = c;
    }
}

static int conn_writev(void *ctx, const struct iovec *iov, int iovcnt, size_t *written);

static void player_wake(struct fanout_player *p) { conn_mark_dirty(p->owner); }

static const char *role_name(const struct live_conn *c)
{
    return c->role == RTMP_ROLE_PUBLISHER ? "publisher" : c->role == RTMP_ROLE_PLAYER ? "player" : "none";
}

/* --- stream policy ------------------------------------------------------ */

static void stream_key(const struct live_conn *c, const char *name, char *key, size_t len)
{
    snprintf(key, len, "%s/%s", c->session.app, name);
}

static void notify_players(struct live_stream *st, const char *code, const char *desc)
{
    for (struct fanout_player *p = st->fanout.players; p; p = p->next) {
        struct live_conn *pc = p->owner;
        rtmp_session_send_status(&pc->session, "status", code, desc);
        fanout_player_ctrl_appended(p);
    }
}

void live_server_notify_players(struct live_server *srv, struct live_stream *st, const char *code,
                                const char *description, int close)
{
    for (struct fanout_player *p = st->fanout.players; p; p = p->next) {
        struct live_conn *pc = p->owner;
        rtmp_session_send_status(&pc->session, close ? "error" : "status", code, description);
        fanout_player_ctrl_appended(p);
        if (close) {
            /* Let the status reach the player before the socket closes. */
            fanout_player_flush(&pc->out, conn_writev, pc);
            conn_fail(pc, code);
        }
    }
}

static void detach_publisher(struct live_conn *c, const char *why)
{
    struct live_stream *st = c->stream;
    if (!st || st->publisher != c)
        return;
    struct live_server *srv = c->srv;
    st->publisher = NULL;
    st->published_ms = 0;
    st->publisher_peer[0] = '\0';
    c->stream = NULL;
    c->publish_pending = 0;
    if (c->publish_active) {
        c->publish_active = 0;
        LOG_INFO("publish end stream=%s id=%llu reason=\"%s\"", st->key, (unsigned long long)c->id, why);
        if (srv->hooks.publish_stopped)
            srv->hooks.publish_stopped(srv->hooks.ctx, st);
        notify_players(st, "NetStream.Play.UnpublishNotify", st->key);
        /* Players stay attached for a returning publisher; the caches go,
         * since a new publisher may bring other codec headers. */
        fanout_stream_clear_cache(&st->fanout);
    }
    live_registry_release(&srv->registry, st);
}

static void detach_player(struct live_conn *c)
{
    struct live_stream *st = c->stream;
    if (!st)
        return;
    struct live_server *srv = c->srv;
    fanout_stream_remove_player(&st->fanout, &c->out);
    c->stream = NULL;
    if (st->fanout.nplayers == 0 && srv->hooks.stream_unwatched)
        srv->hooks.stream_unwatched(srv->hooks.ctx, st);
    live_registry_release(&srv->registry, st);
}

/* The publisher is in: reset what players had from a previous one. */
static void publish_begin(struct live_conn *c)
{
    struct live_server *srv = c->srv;
    struct live_stream *st = c->stream;
    st->published_ms = st->last_input_ms = live_server_now_ms(srv);
    st->publish_count++;
    snprintf(st->publisher_peer, sizeof(st->publisher_peer), "%s", c->peer);
    c->publish_active = 1;
    fanout_stream_clear_cache(&st->fanout);
    for (struct fanout_player *p = st->fanout.players; p; p = p->next)
        p->wait_key = 1;
    notify_players(st, "NetStream.Play.PublishNotify", st->key);
    srv->stats.publishes++;
    LOG_INFO("publish start stream=%s id=%llu peer=%s epoch=%u", st->key, (unsigned long long)c->id, c->peer,
             st->epoch);
    if (srv->hooks.publish_started)
        srv->hooks.publish_started(srv->hooks.ctx, st);
}

static struct live_conn *find_conn(struct live_server *srv, uint64_t id)
{
    for (struct live_conn *c = srv->conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

int live_server_publish_decided(struct live_server *srv, uint64_t conn_id, int ok, const char *code,
                                const char *description)
{
    struct live_conn *c = find_conn(srv, conn_id);
    if (!c || !c->publish_pending || c->close_reason || !c->stream)
        return ST_ERROR;
    c->publish_pending = 0;
    struct rtmp_session_verdict v = {.code = code, .description = description};
    if (ok) {
        publish_begin(c);
    } else {
        srv->stats.publish_refused++;
        LOG_WARN("publish refused stream=%s id=%llu peer=%s reason=\"%s\"", c->stream->key,
                 (unsigned long long)c->id, c->peer, description ? description : "refused");
        detach_publisher(c, "refused");
    }
    rtmp_session_publish_decided(&c->session, ok, &v);
    conn_mark_dirty(c);
    return ST_OK;
}

void live_server_kick_publisher(struct live_server *srv, struct live_stream *st, const char *reason)
{
    struct live_conn *c = st->publisher;
    if (!c)
        return;
    rtmp_session_send_status(&c->session, "error", "NetStream.Publish.BadName", reason);
    fanout_player_ctrl_appended(&c->out);
    detach_publisher(c, reason);
    conn_fail(c, reason);
}

void live_server_push(struct live_server *srv, struct live_stream *st, struct fanout_frame *f)
{
    fanout_stream_push(&st->fanout, f, live_server_now_ms(srv));
}

uint32_t live_server_players(const struct live_server *srv) { return srv->nconns; }

void live_server_stop_accepting(struct live_server *srv) { net_listener_close(&srv->listener, srv->loop); }

static int on_publish(struct rtmp_session *s, const char *name, struct rtmp_session_verdict *v)
{
    struct live_conn *c = s->owner;
    struct live_server *srv = c->srv;
    char key[LIVE_KEY_MAX];
    stream_key(c, name, key, sizeof(key));
    if (!srv->settings->allow_publish) {
        v->code = "NetStream.Publish.Denied";
        v->description = "this node does not accept publishers";
        return ST_ERROR;
    }
    struct live_stream *st = live_registry_get(&srv->registry, key);
    if (!st) {
        v->code = "NetStream.Publish.Failed";
        v->description = "out of memory";
        return ST_ERROR;
    }
    uint64_t now = live_server_now_ms(srv);
    if (st->publisher && st->publisher != c) {
        struct live_conn *old = st->publisher;
        if (now - st->last_input_ms < (uint64_t)srv->settings->publish_takeover_idle) {
            srv->stats.publish_refused++;
            LOG_WARN("publish refused stream=%s id=%llu peer=%s reason=\"already publishing\" (id=%llu)", key,
                     (unsigned long long)c->id, c->peer, (unsigned long long)old->id);
            v->code = "NetStream.Publish.BadName";
            v->description = "Already publishing";
            return ST_ERROR;
        }
        /* The old session went silent: its TCP connection is probably dead
         * (encoder crashed, cable pulled). Let the new publisher have it. */
        LOG_WARN("publish takeover stream=%s id=%llu peer=%s old_id=%llu silent_ms=%llu", key,
                 (unsigned long long)c->id, c->peer, (unsigned long long)old->id,
                 (unsigned long long)(now - st->last_input_ms));
        detach_publisher(old, "taken over by a new publisher");
        conn_fail(old, "taken over by a new publisher");
        st = live_registry_get(&srv->registry, key);
        if (!st) {
            v->code = "NetStream.Publish.Failed";
            v->description = "out of memory";
            return ST_ERROR;
        }
    }
    st->publisher = c;
    c->role = RTMP_ROLE_PUBLISHER;
    c->stream = st;
    st->last_input_ms = now;
    if (srv->hooks.publish_check) {
        int rc = srv->hooks.publish_check(srv->hooks.ctx, srv, c->id, key, v);
        if (rc == ST_AGAIN) {
            c->publish_pending = 1;
            return ST_AGAIN;
        }
        if (rc != ST_OK) {
            srv->stats.publish_refused++;
            LOG_WARN("publish refused stream=%s id=%llu peer=%s reason=\"%s\"", key, (unsigned long long)c->id,
                     c->peer, v->description ? v->description : "refused");
            detach_publisher(c, "refused");
            return ST_ERROR;
        }
    }
    publish_begin(c);
    return ST_OK;
}

static int on_play(struct rtmp_session *s, const char *name, struct rtmp_session_verdict *v)
{
    struct live_conn *c = s->owner;
    struct live_server *srv = c->srv;
    char key[LIVE_KEY_MAX];
    stream_key(c, name, key, sizeof(key));
    if (!srv->settings->allow_play) {
        v->code = "NetStream.Play.Failed";
        v->description = "this node does not serve players (standalone play is off)";
        return ST_ERROR;
    }
    struct live_stream *st = live_registry_get(&srv->registry, key);
    if (!st) {
        v->code = "NetStream.Play.Failed";
        v->description = "out of memory";
        return ST_ERROR;
    }
    c->stream = st;
    c->role = RTMP_ROLE_PLAYER;
    /* Status went into out.ctrl already; the start-up frames queue behind it. */
    fanout_stream_add_player(&st->fanout, &c->out, live_server_now_ms(srv));
    srv->stats.plays++;
    LOG_INFO("play start stream=%s id=%llu peer=%s publisher=%s", key, (unsigned long long)c->id, c->peer,
             st->publisher || st->source ? "yes" : "waiting");
    if (srv->hooks.play_started)
        srv->hooks.play_started(srv->hooks.ctx, st);
    return ST_OK;
}

static int data_is_metadata(const uint8_t *p, uint32_t len)
{
    static const uint8_t on_meta[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'};
    return len >= sizeof(on_meta) && memcmp(p, on_meta, sizeof(on_meta)) == 0;
}

void live_server_note_codec(struct live_stream *st, uint8_t type, const uint8_t *body, uint32_t len)
{
    const char *err = NULL;
    if (type == RTMP_MSG_VIDEO) {
        if (media_codec_parse_video_config(body, len, &st->video, &err) == ST_OK)
            LOG_INFO("stream %s video %s %ux%u profile=%u level=%u", st->key, media_codec_video_name(st->video.codec),
                     st->video.width, st->video.height, st->video.profile, st->video.level);
        else
            LOG_WARN("stream %s: video sequence header not understood (%s); passing it through", st->key,
                     err ? err : "?");
    } else if (type == RTMP_MSG_AUDIO) {
        if (media_codec_parse_audio_config(body, len, &st->audio, &err) == ST_OK)
            LOG_INFO("stream %s audio %s %u Hz %u ch", st->key, media_codec_audio_name(st->audio.codec),
                     st->audio.sample_rate, st->audio.channels);
    }
}

static void on_media(struct rtmp_session *s, uint8_t type, uint32_t ts, const uint8_t *payload, uint32_t len)
{
    struct live_conn *c = s->owner;
    struct live_stream *st = c->stream;
    if (!st || st->publisher != c || !c->publish_active)
        return;
    uint64_t now = live_server_now_ms(c->srv);
    st->last_input_ms = now;
    uint8_t flags = 0;
    const char *err = NULL;
    if (type == RTMP_MSG_VIDEO) {
        struct media_video_info vi;
        if (media_codec_probe_video(payload, len, &vi, &err) != ST_OK)
            return;
        if (vi.sequence_header) {
            flags |= FANOUT_FLAG_SEQ_HEADER;
            live_server_note_codec(st, type, payload, len);
        } else if (vi.keyframe) {
            flags |= FANOUT_FLAG_KEY;
        }
    } else if (type == RTMP_MSG_AUDIO) {
        struct media_audio_info ai;
        if (media_codec_probe_audio(payload, len, &ai, &err) != ST_OK)
            return;
        if (ai.sequence_header) {
            flags |= FANOUT_FLAG_SEQ_HEADER;
            live_server_note_codec(st, type, payload, len);
        }
    } else if (data_is_metadata(payload, len)) {
        flags |= FANOUT_FLAG_METADATA;
        /* Players' FLV demuxers (libavformat) skip onMetaData only at
         * timestamp 0; at any other time it becomes a bogus text stream.
         * nginx-rtmp sends it at 0 as well. */
        ts = 0;
    }
    struct fanout_frame *f =
        fanout_frame_new(type, flags, ts, payload, len, (uint32_t)c->srv->settings->chunk_size);
    if (!f) {
        conn_fail(c, "out of memory for a frame");
        return;
    }
    if (c->srv->hooks.frame)
        c->srv->hooks.frame(c->srv->hooks.ctx, st, f);
    fanout_stream_push(&st->fanout, f, now);
    fanout_frame_unref(f);
}

static int on_connect(struct rtmp_session *s, struct rtmp_session_verdict *v)
{
    struct live_conn *c = s->owner;
    if (c->srv->hooks.connect_check)
        return c->srv->hooks.connect_check(c->srv->hooks.ctx, s, v);
    return ST_OK;
}

static void on_unpublish(struct rtmp_session *s) { detach_publisher(s->owner, "unpublished"); }

static void on_stop_play(struct rtmp_session *s) { detach_player(s->owner); }

static void on_play_control(struct rtmp_session *s)
{
    struct live_conn *c = s->owner;
    c->out.want_audio = s->receive_audio && !s->paused;
    c->out.want_video = s->receive_video && !s->paused;
    if (s->paused)
        fanout_player_drop_queue(&c->out); /* live: resume at the next keyframe */
}

static const struct rtmp_session_handler live_handler = {
    .on_connect = on_connect,
    .on_publish = on_publish,
    .on_play = on_play,
    .on_media = on_media,
    .on_unpublish = on_unpublish,
    .on_stop_play = on_stop_play,
    .on_play_control = on_play_control,
};

/* --- connection I/O ----------------------------------------------------- */

static int conn_writev(void *ctx, const struct iovec *iov, int iovcnt, size_t *written)
{
    struct live_conn *c = ctx;
    int rc = net_transport_writev(&c->transport, iov, iovcnt, written);
    c->srv->stats.bytes_out += *written;
    return rc;
}

static void conn_free(struct live_conn *c)
{
    struct live_server *srv = c->srv;
    if (c->role == RTMP_ROLE_PUBLISHER)
        detach_publisher(c, c->close_reason ? c->close_reason : "closed");
    else
        detach_player(c);
    uint64_t now = live_server_now_ms(srv);
    LOG_INFO("session end id=%llu peer=%s stream=%s/%s role=%s reason=\"%s\" in=%llu out=%llu dropped=%llu "
             "duration_ms=%llu",
             (unsigned long long)c->id, c->peer, c->session.app[0] ? c->session.app : "-",
             c->session.stream_name[0] ? c->session.stream_name : "-", role_name(c),
             c->close_reason ? c->close_reason : "closed", (unsigned long long)c->session.bytes_in,
             (unsigned long long)c->out.bytes_written, (unsigned long long)c->out.frames_dropped,
             (unsigned long long)(now - c->started_ms));
    if (c->dirty) {
        /* Rare: marked for a flush before it failed. */
        struct live_conn **pp = &srv->dirty;
        while (*pp && *pp != c)
            pp = &(*pp)->dirty_next;
        if (*pp)
            *pp = c->dirty_next;
    }
    /* Last words (a refusal, an error status) go out if the socket takes
     * them now; a broken or full socket just loses them. */
    if (c->transport.err == 0)
        fanout_player_flush(&c->out, conn_writev, c);
    ev_io_stop(srv->loop, &c->rio);
    ev_io_stop(srv->loop, &c->wio);
    net_transport_close(&c->transport);
    rtmp_session_free(&c->session);
    fanout_player_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    free(c);
}

static void conn_flush(struct live_conn *c)
{
    if (c->close_reason)
        return;
    if (c->out.failed) {
        c->srv->stats.players_dropped_slow++;
        conn_fail(c, c->out.failed);
        return;
    }
    int rc = fanout_player_flush(&c->out, conn_writev, c);
    if (rc == ST_ERROR) {
        conn_fail(c, c->transport.err == EPIPE || c->transport.err == ECONNRESET ? "peer closed" : "write error");
    } else if (rc == ST_AGAIN) {
        ev_io_start(c->srv->loop, &c->wio);
    } else {
        ev_io_stop(c->srv->loop, &c->wio);
    }
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct live_conn *c = w->data;
    uint8_t buf[LIVE_READ_CHUNK];
    size_t total = 0;
    while (!c->close_reason && total < LIVE_READ_BUDGET) {
        size_t n = 0;
        int rc = net_transport_read(&c->transport, buf, sizeof(buf), &n);
        if (rc == ST_AGAIN)
            break;
        if (rc == ST_DONE) {
            conn_fail(c, "peer closed");
            break;
        }
        if (rc == ST_ERROR) {
            conn_fail(c, "read error");
            break;
        }
        total += n;
        c->srv->stats.bytes_in += n;
        c->last_read_ms = live_server_now_ms(c->srv);
        if (rtmp_session_feed(&c->session, buf, n) != ST_OK) {
            c->srv->stats.protocol_errors++;
            LOG_WARN("rtmp protocol error id=%llu peer=%s: %s", (unsigned long long)c->id, c->peer,
                     c->session.error ? c->session.error : "?");
            conn_fail(c, c->session.error ? c->session.error : "protocol error");
            break;
        }
        if (n < sizeof(buf))
            break;
    }
    if (fanout_player_pending(&c->out))
        conn_mark_dirty(c);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents) { conn_flush(w->data); }

/* Once per loop turn, before blocking: one writev pass per connection with
 * new output, then the deferred closes. Closing can queue status for other
 * connections (a publisher's players), so repeat until both lists are empty. */
static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct live_server *srv = w->data;
    while (srv->dirty || srv->closing) {
        struct live_conn *list = srv->dirty;
        srv->dirty = NULL;
        for (struct live_conn *c = list; c; c = c->dirty_next)
            conn_flush(c);
        for (struct live_conn *c = list, *next; c; c = next) {
            next = c->dirty_next;
            c->dirty = 0;
            c->dirty_next = NULL;
        }
        struct live_conn *dead = srv->closing;
        srv->closing = NULL;
        for (struct live_conn *c = dead, *next; c; c = next) {
            next = c->closing_next;
            conn_free(c);
        }
    }
}

/* Input bitrate per stream, measured over about a second, for the API. */
static void update_bitrates(struct live_server *srv, uint64_t now)
{
    for (int b = 0; b < LIVE_REGISTRY_BUCKETS; b++) {
        for (struct live_stream *st = srv->registry.buckets[b]; st; st = st->next) {
            if (st->rate_mark_ms == 0) {
                st->rate_mark_ms = now;
                st->rate_mark_bytes = st->fanout.bytes_in;
            } else if (now - st->rate_mark_ms >= 1000) {
                st->bitrate_bps = (st->fanout.bytes_in - st->rate_mark_bytes) * 8000 / (now - st->rate_mark_ms);
                st->rate_mark_ms = now;
                st->rate_mark_bytes = st->fanout.bytes_in;
            }
        }
    }
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct live_server *srv = w->data;
    uint64_t now = live_server_now_ms(srv);
    const struct live_settings *cfg = srv->settings;
    update_bitrates(srv, now);
    for (struct live_conn *c = srv->conns; c; c = c->next) {
        if (c->close_reason)
            continue;
        if (!c->session.connected && now - c->started_ms > (uint64_t)cfg->handshake_timeout) {
            LOG_WARN("rtmp timeout id=%llu peer=%s: handshake/connect not done in %ld ms", (unsigned long long)c->id,
                     c->peer, cfg->handshake_timeout);
            conn_fail(c, "handshake timeout");
        } else if (c->session.role == RTMP_ROLE_PUBLISHER && c->stream &&
                   now - c->stream->last_input_ms > (uint64_t)cfg->publish_idle_timeout) {
            LOG_WARN("rtmp timeout id=%llu peer=%s: publisher silent for %ld ms", (unsigned long long)c->id, c->peer,
                     cfg->publish_idle_timeout);
            conn_fail(c, "publisher idle timeout");
        } else if (c->out.failed) {
            conn_fail(c, c->out.failed);
        }
    }
}

static void on_accept(struct net_listener *l, int fd, const struct sockaddr_storage *peer)
{
    struct live_server *srv = l->owner;
    char peer_s[64];
    net_format_address(peer, peer_s, sizeof(peer_s));
    if (srv->stopping || (srv->settings->max_connections > 0 && srv->nconns >= srv->settings->max_connections)) {
        srv->stats.connections_refused++;
        LOG_WARN("connection refused peer=%s reason=\"%s\"", peer_s,
                 srv->stopping ? "shutting down" : "max_connections reached");
        close(fd);
        return;
    }
    struct live_conn *c = calloc(1, sizeof(*c));
    const struct live_settings *cfg = srv->settings;
    struct rtmp_session_limits lim = {
        .out_chunk_size = (uint32_t)cfg->chunk_size,
        .max_chunk_size = (uint32_t)cfg->max_chunk_size,
        .max_message_size = (uint32_t)cfg->max_message_size,
        .window_ack_size = 5000000,
        .peer_bandwidth = 5000000,
    };
    if (!c || fanout_player_init(&c->out, (uint32_t)cfg->player_queue_frames, cfg->player_max_queue, LIVE_CTRL_MAX,
                                 (uint32_t)cfg->player_max_behind) != ST_OK) {
        LOG_ERROR("connection refused peer=%s reason=\"out of memory\"", peer_s);
        free(c);
        close(fd);
        return;
    }
    if (rtmp_session_init(&c->session, &live_handler, c, &c->out.ctrl, &lim) != ST_OK) {
        LOG_ERROR("connection refused peer=%s reason=\"out of memory\"", peer_s);
        fanout_player_free(&c->out);
        free(c);
        close(fd);
        return;
    }
    if (cfg->socket_sndbuf > 0) {
        /* Cap what the kernel buffers for a slow reader, so our drop policy
         * (not a multi-megabyte socket buffer) decides how far behind it gets. */
        int sz = (int)cfg->socket_sndbuf;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    c->srv = srv;
    c->id = ++srv->next_conn_id;
    snprintf(c->peer, sizeof(c->peer), "%s", peer_s);
    c->out.owner = c;
    c->out.wake = player_wake;
    c->started_ms = c->last_read_ms = live_server_now_ms(srv);
    net_transport_tcp_init(&c->transport, fd);
    ev_io_init(&c->rio, read_cb, fd, EV_READ);
    ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
    c->rio.data = c->wio.data = c;
    ev_io_start(srv->loop, &c->rio);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    srv->stats.connections_total++;
    LOG_INFO("session start id=%llu peer=%s", (unsigned long long)c->id, c->peer);
}

int live_server_start(struct live_server *srv, struct ev_loop *loop, const struct live_settings *settings,
                      const struct live_hooks *hooks)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->settings = settings;
    if (hooks)
        srv->hooks = *hooks;
    live_registry_init(&srv->registry, (uint32_t)settings->gop_cache_frames, settings->gop_cache_bytes);
    if (net_listener_open(&srv->listener, loop, settings->rtmp_listen, settings->reuse_port, on_accept, srv) != ST_OK)
        return ST_ERROR;
    ev_prepare_init(&srv->flush_watcher, flush_cb);
    srv->flush_watcher.data = srv;
    ev_prepare_start(loop, &srv->flush_watcher);
    ev_timer_init(&srv->sweep_timer, sweep_cb, 0.5, 0.5);
    srv->sweep_timer.data = srv;
    ev_timer_start(loop, &srv->sweep_timer);
    return ST_OK;
}

void live_server_stop(struct live_server *srv)
{
    srv->stopping = 1;
    net_listener_close(&srv->listener, srv->loop);
    /* Players first, so a publisher's end does not queue status for them. */
    for (int pass = 0; pass < 2; pass++) {
        struct live_conn *c = srv->conns;
        while (c) {
            struct live_conn *next = c->next;
            if ((pass == 0) == (c->role != RTMP_ROLE_PUBLISHER)) {
                if (!c->close_reason)
                    c->close_reason = "server shutting down";
                c->dirty = 0;
                conn_free(c);
            }
            c = next;
        }
    }
    srv->dirty = NULL;
    srv->closing = NULL;
    ev_prepare_stop(srv->loop, &srv->flush_watcher);
    ev_timer_stop(srv->loop, &srv->sweep_timer);
    live_registry_free(&srv->registry);
}

int live_server_port(const struct live_server *srv) { return net_listener_port(&srv->listener); }
