#include "live/live_server.h"

#include "core/log.h"
#include "core/status.h"
#include "fanout/fanout_player.h"
#include "live/live_gate.h"
#include "media/media_codec.h"
#include "net/net_tls.h"
#include "net/net_transport.h"
#include "record/record_vod_player.h"
#include "rtmp/rtmp_message.h"
#include "rtmp/rtmp_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

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
    int auth_pending;    /* the authorization webhook has not answered yet */
    int play_active;     /* attached as a player (on_done is due) */
    struct record_vod_player *vod; /* playing a recording (then stream is NULL) */
    ev_timer vod_timer;  /* paces vod */
    int vod_ended;       /* vod reached the end: Play.Stop once the queue drains */
    struct sockaddr_storage peer_addr; /* for the allow/deny lists */
    char auth_reason[128];             /* refusal text sent with the status */
    uint64_t started_ms;
    uint64_t last_read_ms;
    struct live_ipcount_key ipkey;
    int ip_counted;       /* ipkey is counted in srv->ipcount */
    uint64_t tokens;      /* player_max_bitrate: bytes that may be written now */
    uint64_t refill_ms;   /* when tokens were last topped up, 0 = never */
    int throttled;        /* bucket ran dry: the sweep resumes it, not EV_WRITE */
    int tls;              /* accepted on rtmps_listen */
    int read_wants_write; /* TLS read blocked until the socket is writable: rio off, wio on */
    int write_wants_read; /* TLS write blocked until input arrives: read_cb retries the flush */
    const char *close_reason; /* set => closing at the end of the turn */
    int dirty;   /* on srv->dirty */
    int merged;  /* on srv->merged */
    struct live_conn *merge_next;
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

/* Live media waits for the merge timer, so a player gets one writev per
 * merge_interval instead of one per message; replies and a new player's
 * start-up frames are marked dirty directly by the read path and go at once. */
static void player_wake(struct fanout_player *p)
{
    struct live_conn *c = p->owner;
    if (c->srv->settings->merge_interval <= 0) {
        conn_mark_dirty(c);
        return;
    }
    if (c->merged || c->dirty || c->close_reason)
        return;
    c->merged = 1;
    c->merge_next = c->srv->merged;
    c->srv->merged = c;
}

static void merge_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct live_server *srv = w->data;
    struct live_conn *list = srv->merged;
    srv->merged = NULL;
    for (struct live_conn *c = list, *next; c; c = next) {
        next = c->merge_next;
        c->merged = 0;
        c->merge_next = NULL;
        conn_mark_dirty(c);
    }
    /* Follow a reload of merge_interval. */
    if (srv->settings->merge_interval > 0) {
        w->repeat = srv->settings->merge_interval / 1000.0;
        ev_timer_again(loop, w);
    } else {
        ev_timer_stop(loop, w);
    }
}

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

static void subject_of(struct live_conn *c, enum live_auth_action act, struct live_gate_subject *who)
{
    memset(who, 0, sizeof(*who));
    who->act = act;
    who->id = c->id;
    who->app = c->session.app;
    who->name = c->session.stream_name;
    who->query = c->session.stream_query;
    who->peer = (const struct sockaddr *)&c->peer_addr;
    who->peer_s = c->peer;
}

/* An accepted publisher or player left: tell on_done (if configured). */
static void gate_done(struct live_conn *c, enum live_auth_action act)
{
    struct live_gate_subject who;
    subject_of(c, act, &who);
    live_gate_done(c->srv->gate, &who);
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
        gate_done(c, LIVE_AUTH_PUBLISH);
        if (srv->hooks.publish_stopped)
            srv->hooks.publish_stopped(srv->hooks.ctx, st);
        /* Players stay attached, and are not told yet: ffmpeg-based players
         * stop on UnpublishNotify, which would turn an encoder's reconnect
         * into a player reconnect. The sweep tells them after
         * unpublish_wait. The caches go: a new publisher may bring other
         * codec headers. */
        live_server_mark_unpublished(srv, st);
        fanout_stream_clear_cache(&st->fanout);
    }
    live_registry_release(&srv->registry, st);
}

static void vod_close(struct live_conn *c);

static void detach_player(struct live_conn *c)
{
    struct live_stream *st = c->stream;
    vod_close(c);
    if (!st)
        return;
    struct live_server *srv = c->srv;
    fanout_stream_remove_player(&st->fanout, &c->out);
    c->stream = NULL;
    if (c->play_active) {
        c->play_active = 0;
        gate_done(c, LIVE_AUTH_PLAY);
    }
    if (!live_stream_watched(st) && srv->hooks.stream_unwatched)
        srv->hooks.stream_unwatched(srv->hooks.ctx, st);
    live_registry_release(&srv->registry, st);
}

struct live_stream *live_server_hold(struct live_server *srv, const char *key)
{
    struct live_stream *st = live_registry_get(&srv->registry, key);
    if (!st)
        return NULL;
    st->holds++;
    if (srv->hooks.play_started)
        srv->hooks.play_started(srv->hooks.ctx, st);
    return st;
}

void live_server_unhold(struct live_server *srv, struct live_stream *st)
{
    if (st->holds > 0)
        st->holds--;
    if (!live_stream_watched(st) && srv->hooks.stream_unwatched && !srv->stopping)
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
    if (st->segclock.target_ms == 0)
        hls_segment_clock_init(&st->segclock, (uint32_t)srv->settings->hls_segment_duration);
    else
        hls_segment_clock_reset(&st->segclock);
    for (struct fanout_player *p = st->fanout.players; p; p = p->next) {
        p->wait_key = 1;
        p->live_from_set = 0; /* a new publisher's clock may start anywhere */
    }
    live_server_mark_published(srv, st);
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

const char *live_server_publisher_flash_ver(const struct live_stream *st)
{
    const struct live_conn *c = st->publisher;
    return c ? c->session.flash_ver : "";
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

void live_server_stop_accepting(struct live_server *srv)
{
    net_listener_close(&srv->listener, srv->loop);
    net_listener_close(&srv->tls_listener, srv->loop);
}

/* Streams with a local publisher (or one being decided), for max_streams. */
static uint64_t count_published(const struct live_server *srv)
{
    uint64_t n = 0;
    for (int b = 0; b < LIVE_REGISTRY_BUCKETS; b++)
        for (const struct live_stream *st = srv->registry.buckets[b]; st; st = st->next)
            n += st->publisher != NULL;
    return n;
}

/* --- authorization (before any claim) ----------------------------------- */

/* Log once, count by reason, fill the status and close after it is sent:
 * a refused client gets no second try on the same connection. */
static void auth_refuse(struct live_conn *c, enum live_auth_action act, const struct live_gate_verdict *gv,
                        struct rtmp_session_verdict *v)
{
    struct live_server *srv = c->srv;
    struct live_server_stats *st = &srv->stats;
    switch (gv->result) {
    case LIVE_AUTH_IP_DENIED: st->auth_refused_ip++; break;
    case LIVE_AUTH_MISSING: st->auth_refused_missing++; break;
    case LIVE_AUTH_MALFORMED: st->auth_refused_malformed++; break;
    case LIVE_AUTH_BAD_SIGNATURE: st->auth_refused_signature++; break;
    case LIVE_AUTH_EXPIRED: st->auth_refused_expired++; break;
    case LIVE_AUTH_UNKNOWN_KEY: st->auth_refused_key++; break;
    default: st->auth_refused_webhook++; break;
    }
    if (act == LIVE_AUTH_PUBLISH)
        st->publish_refused++;
    else
        st->plays_refused++;
    char detail[64] = "";
    if (gv->http_status)
        snprintf(detail, sizeof(detail), " (HTTP %d)", gv->http_status);
    else if (gv->detail)
        snprintf(detail, sizeof(detail), " (%s)", gv->detail);
    snprintf(c->auth_reason, sizeof(c->auth_reason), "%s%s%s", act == LIVE_AUTH_PLAY ? "Unauthorized: " : "",
             live_auth_reason(gv->result), detail);
    char query[RTMP_SESSION_MAX_NAME + 16];
    live_auth_redact_query(c->session.stream_query, query, sizeof(query));
    LOG_WARN("%s refused stream=%s/%s id=%llu peer=%s query=\"%s\" reason=\"%s%s\"",
             act == LIVE_AUTH_PUBLISH ? "publish" : "play", c->session.app, c->session.stream_name,
             (unsigned long long)c->id, c->peer, query, live_auth_reason(gv->result), detail);
    v->code = act == LIVE_AUTH_PUBLISH ? "NetStream.Publish.Unauthorized" : "NetStream.Play.Failed";
    v->description = c->auth_reason;
    c->role = RTMP_ROLE_NONE;
    conn_fail(c, "unauthorized");
}

/* ST_OK: go on now. ST_ERROR: refused (v filled). ST_AGAIN: a webhook is
 * asked; gate_answer continues. */
static int auth_start(struct live_conn *c, enum live_auth_action act, struct rtmp_session_verdict *v)
{
    struct live_gate_subject who;
    struct live_gate_verdict gv;
    if (!c->srv->gate)
        return ST_OK;
    subject_of(c, act, &who);
    int rc = live_gate_check(c->srv->gate, &who, (int64_t)time(NULL), &gv);
    if (rc == ST_AGAIN) {
        c->auth_pending = 1;
        /* Counts as busy for idle_timeout while the webhook thinks. */
        c->role = act == LIVE_AUTH_PUBLISH ? RTMP_ROLE_PUBLISHER : RTMP_ROLE_PLAYER;
    } else if (rc != ST_OK) {
        auth_refuse(c, act, &gv, v);
    }
    return rc;
}

/* A webhook renamed the stream (3xx Location): the new name is what gets
 * claimed or played, and what logs and Publish.Start show. */
static void auth_rename(struct live_conn *c, enum live_auth_action act, const char *name)
{
    if (!name[0] || strcmp(name, c->session.stream_name) == 0)
        return;
    LOG_INFO("%s renamed by webhook id=%llu peer=%s %s/%s -> %s/%s", act == LIVE_AUTH_PUBLISH ? "publish" : "play",
             (unsigned long long)c->id, c->peer, c->session.app, c->session.stream_name, c->session.app, name);
    snprintf(c->session.stream_name, sizeof(c->session.stream_name), "%s", name);
}

static int publish_claim(struct live_conn *c, struct rtmp_session_verdict *v);
static int play_attach(struct live_conn *c, struct rtmp_session_verdict *v);

static void gate_answer(void *ctx, uint64_t id, enum live_auth_action act, const struct live_gate_verdict *gv)
{
    struct live_server *srv = ctx;
    struct live_conn *c = find_conn(srv, id);
    if (!c || !c->auth_pending || c->close_reason)
        return; /* gone, or stopped before the answer */
    c->auth_pending = 0;
    c->role = RTMP_ROLE_NONE;
    struct rtmp_session_verdict v = {0};
    int rc = ST_ERROR;
    if (gv->result != LIVE_AUTH_OK) {
        auth_refuse(c, act, gv, &v);
    } else {
        auth_rename(c, act, gv->rename);
        rc = act == LIVE_AUTH_PUBLISH ? publish_claim(c, &v) : play_attach(c, &v);
    }
    if (act == LIVE_AUTH_PUBLISH && rc != ST_AGAIN)
        rtmp_session_publish_decided(&c->session, rc == ST_OK, &v);
    else if (act == LIVE_AUTH_PLAY && rtmp_session_play_decided(&c->session, rc == ST_OK, &v) != ST_OK &&
             rc == ST_OK)
        conn_fail(c, "output buffer full");
    conn_mark_dirty(c);
}

int live_server_play_decided(struct live_server *srv, uint64_t conn_id, int ok, const char *code,
                             const char *description)
{
    struct live_conn *c = find_conn(srv, conn_id);
    if (!c || !c->auth_pending || c->close_reason || !c->session.play_pending)
        return ST_ERROR;
    c->auth_pending = 0;
    c->role = RTMP_ROLE_NONE;
    struct rtmp_session_verdict v = {.code = code, .description = description};
    int rc = ok ? play_attach(c, &v) : ST_ERROR;
    if (rtmp_session_play_decided(&c->session, rc == ST_OK, &v) != ST_OK && rc == ST_OK)
        conn_fail(c, "output buffer full");
    conn_mark_dirty(c);
    return ST_OK;
}

static struct live_gate_config gate_config(const struct live_settings *s)
{
    struct live_gate_config g = {
        .publish_secret = s->publish_secret,
        .play_secret = s->play_secret,
        .play_secret_apps = s->play_secret_apps,
        .publish_keys_file = s->publish_keys_file,
        .publish_allow = s->publish_allow,
        .publish_deny = s->publish_deny,
        .play_allow = s->play_allow,
        .play_deny = s->play_deny,
        .on_publish = s->allow_publish ? s->on_publish : NULL,
        .on_play = s->on_play,
        .on_done = s->on_done,
        .webhook_timeout = s->webhook_timeout,
        .webhook_fail_open = s->webhook_fail_open,
    };
    return g;
}

int live_server_reload(struct live_server *srv)
{
    char err[512];
    struct live_gate_config gc = gate_config(srv->settings);
    if (!srv->gate || live_gate_reload(srv->gate, &gc, err, sizeof(err)) != ST_OK) {
        LOG_ERROR("config reload: %s; keeping the previous authorization rules", srv->gate ? err : "no gate");
        return ST_ERROR;
    }
    return ST_OK;
}

static int on_publish(struct rtmp_session *s, const char *name, struct rtmp_session_verdict *v)
{
    struct live_conn *c = s->owner;
    if (!c->srv->settings->allow_publish) {
        v->code = "NetStream.Publish.Denied";
        v->description = "this node does not accept publishers";
        return ST_ERROR;
    }
    int rc = auth_start(c, LIVE_AUTH_PUBLISH, v);
    return rc == ST_OK ? publish_claim(c, v) : rc;
}

/* Authorized: take the key (one publisher per key, takeover of a silent
 * one, max_streams), then the owner's publish_check (a directory claim). */
static int publish_claim(struct live_conn *c, struct rtmp_session_verdict *v)
{
    struct live_server *srv = c->srv;
    char key[LIVE_KEY_MAX];
    stream_key(c, c->session.stream_name, key, sizeof(key));
    struct live_stream *st = live_registry_get(&srv->registry, key);
    if (!st) {
        v->code = "NetStream.Publish.Failed";
        v->description = "out of memory";
        return ST_ERROR;
    }
    uint64_t now = live_server_now_ms(srv);
    if (!st->publisher && srv->settings->max_streams > 0 &&
        count_published(srv) >= (uint64_t)srv->settings->max_streams) {
        srv->stats.publish_refused++;
        srv->stats.refused_max_streams++;
        LOG_WARN("publish refused stream=%s id=%llu peer=%s reason=\"max_streams reached (%ld)\"", key,
                 (unsigned long long)c->id, c->peer, srv->settings->max_streams);
        live_registry_release(&srv->registry, st);
        v->code = "NetStream.Publish.Failed";
        v->description = "too many streams on this server (max_streams)";
        return ST_ERROR;
    }
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
    if (!c->srv->settings->allow_play) {
        v->code = "NetStream.Play.Failed";
        v->description = "this node does not serve players (standalone play is off)";
        return ST_ERROR;
    }
    int rc = auth_start(c, LIVE_AUTH_PLAY, v);
    return rc == ST_OK ? play_attach(c, v) : rc;
}

/* --- recordings (video on demand) ------------------------------------- */

static void vod_schedule(struct live_conn *c, uint64_t ms)
{
    ev_timer_stop(c->srv->loop, &c->vod_timer);
    ev_timer_set(&c->vod_timer, ms / 1000.0, 0);
    ev_timer_start(c->srv->loop, &c->vod_timer);
}

/* Queue what is due; at the end, once the queue has drained (status would
 * overtake queued frames), StreamEOF and NetStream.Play.Stop. */
static void vod_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct live_conn *c = w->data;
    uint64_t next = 0;
    if (c->close_reason || !c->vod)
        return;
    int rc = c->vod_ended ? ST_DONE : record_vod_player_pump(c->vod, &c->out, live_server_now_ms(c->srv), &next);
    if (rc == ST_ERROR) {
        LOG_WARN("play of a recording stopped id=%llu peer=%s name=%s reason=\"%s\"", (unsigned long long)c->id,
                 c->peer, c->session.stream_name, c->vod->error ? c->vod->error : "?");
        rc = ST_DONE;
    }
    if (rc == ST_DONE) {
        c->vod_ended = 1;
        if (c->out.count > 0) {
            vod_schedule(c, 50);
            return;
        }
        char desc[RTMP_SESSION_MAX_NAME + 32];
        snprintf(desc, sizeof(desc), "Stopped playing %s.", c->session.stream_name);
        rtmp_session_send_user_control(&c->session, RTMP_UC_STREAM_EOF, c->session.media_stream_id);
        rtmp_session_send_status(&c->session, "status", "NetStream.Play.Stop", desc);
        fanout_player_ctrl_appended(&c->out);
        return; /* a seek starts it again */
    }
    vod_schedule(c, next);
}

static void vod_close(struct live_conn *c)
{
    if (!c->vod)
        return;
    ev_timer_stop(c->srv->loop, &c->vod_timer);
    record_vod_player_close(c->vod);
    c->vod = NULL;
    if (c->play_active) {
        c->play_active = 0;
        gate_done(c, LIVE_AUTH_PLAY);
    }
}

/* ST_DONE: not a recording (play live); else the play's verdict. */
static int vod_attach(struct live_conn *c, struct rtmp_session_verdict *v)
{
    struct live_server *srv = c->srv;
    const struct live_settings *cfg = srv->settings;
    char path[1280], err[256];
    int rc = srv->hooks.vod_path(srv->hooks.ctx, &c->session, path, sizeof(path), v);
    if (rc != ST_OK) {
        if (rc == ST_ERROR)
            srv->stats.plays_refused++;
        return rc;
    }
    double start = c->session.play_start;
    struct record_vod_options o = {
        .chunk_size = (uint32_t)cfg->chunk_size,
        /* Ahead of the clock by half of what the drop policy tolerates. */
        .lead_ms = cfg->player_max_delay > 0 && cfg->player_max_delay < 2000 ? (uint32_t)cfg->player_max_delay / 2
                                                                             : 1000,
        .start_ms = start >= 0 && start < 4294967295.0 ? (int64_t)start : start >= 0 ? 4294967295LL : -1,
    };
    if (record_vod_player_open(&c->vod, path, &o, err, sizeof(err)) != ST_OK) {
        srv->stats.plays_refused++;
        LOG_WARN("play refused recording=%s id=%llu peer=%s reason=\"%s\"", path, (unsigned long long)c->id, c->peer,
                 err);
        v->code = "NetStream.Play.StreamNotFound";
        v->description = "no such recording";
        return ST_ERROR;
    }
    c->role = RTMP_ROLE_PLAYER;
    c->play_active = 1;
    c->vod_ended = 0;
    ev_timer_init(&c->vod_timer, vod_timer_cb, 0, 0);
    c->vod_timer.data = c;
    vod_schedule(c, 0);
    srv->stats.plays++;
    LOG_INFO("play start recording=%s id=%llu peer=%s start_ms=%lld", path, (unsigned long long)c->id, c->peer,
             (long long)o.start_ms);
    return ST_OK;
}

static int on_seek(struct rtmp_session *s, uint32_t ms)
{
    struct live_conn *c = s->owner;
    if (!c->vod)
        return ST_ERROR; /* live streams do not seek */
    fanout_player_drop_queue(&c->out);
    record_vod_player_seek(c->vod, ms);
    c->vod_ended = 0;
    vod_schedule(c, 0);
    LOG_INFO("play seek id=%llu peer=%s name=%s ms=%u", (unsigned long long)c->id, c->peer, s->stream_name, ms);
    return ST_OK;
}

/* Authorized: join the stream's players (start-up frames queue now), or
 * play a recording. */
static int play_attach(struct live_conn *c, struct rtmp_session_verdict *v)
{
    struct live_server *srv = c->srv;
    if (srv->hooks.vod_path) {
        int rc = vod_attach(c, v);
        if (rc != ST_DONE)
            return rc;
    }
    char key[LIVE_KEY_MAX];
    stream_key(c, c->session.stream_name, key, sizeof(key));
    struct live_stream *st = live_registry_get(&srv->registry, key);
    if (!st) {
        v->code = "NetStream.Play.Failed";
        v->description = "out of memory";
        return ST_ERROR;
    }
    c->stream = st;
    c->role = RTMP_ROLE_PLAYER;
    c->play_active = 1;
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
    /* Standalone nodes have no claim epochs: each publisher is one. */
    hls_segment_clock_stamp(&st->segclock, f, st->epoch ? st->epoch : st->publish_count,
                            (uint64_t)(ev_now(c->srv->loop) * 1000.0));
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

/* Stopped while the webhook thinks: its answer is dropped when it comes. */
static void auth_cancel(struct live_conn *c)
{
    if (!c->auth_pending)
        return;
    c->auth_pending = 0;
    c->role = RTMP_ROLE_NONE;
}

static void on_unpublish(struct rtmp_session *s)
{
    auth_cancel(s->owner);
    detach_publisher(s->owner, "unpublished");
}

static void on_stop_play(struct rtmp_session *s)
{
    auth_cancel(s->owner);
    detach_player(s->owner);
}

static void on_play_control(struct rtmp_session *s)
{
    struct live_conn *c = s->owner;
    if (c->vod) {
        /* A recording keeps its queue on pause and resumes where it was. */
        c->out.want_audio = s->receive_audio;
        c->out.want_video = s->receive_video;
        record_vod_player_pause(c->vod, s->paused, live_server_now_ms(c->srv));
        if (!s->paused && !c->vod_ended)
            vod_schedule(c, 0);
        return;
    }
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
    .on_seek = on_seek,
};

/* --- connection I/O ----------------------------------------------------- */

/* player_max_bitrate: bytes a player may be sent now. The bucket holds one
 * second's worth and is topped up lazily from the loop clock, so no timer is
 * needed per player; SIZE_MAX when there is no cap. */
static size_t conn_budget(struct live_conn *c)
{
    long bps = c->srv->settings->player_max_bitrate;
    if (bps <= 0 || c->role != RTMP_ROLE_PLAYER)
        return SIZE_MAX;
    uint64_t now = live_server_now_ms(c->srv);
    uint64_t burst = (uint64_t)bps / 8 > 4096 ? (uint64_t)bps / 8 : 4096;
    if (c->refill_ms == 0) {
        c->tokens = burst;
    } else if (now > c->refill_ms) {
        uint64_t elapsed = now - c->refill_ms < 10000 ? now - c->refill_ms : 10000;
        c->tokens += elapsed * (uint64_t)bps / 8000;
    }
    if (c->tokens > burst)
        c->tokens = burst;
    c->refill_ms = now;
    return c->tokens < SIZE_MAX ? (size_t)c->tokens : SIZE_MAX;
}

static void conn_throttle(struct live_conn *c)
{
    if (!c->throttled)
        c->srv->stats.players_throttled++;
    c->throttled = 1;
}

static int conn_writev(void *ctx, const struct iovec *iov, int iovcnt, size_t *written)
{
    struct live_conn *c = ctx;
    size_t budget = conn_budget(c);
    struct iovec cut[16];
    if (budget != SIZE_MAX) {
        /* Offer only what the bucket holds: the caller sees a short write. */
        if (budget == 0) {
            *written = 0;
            conn_throttle(c);
            return ST_AGAIN;
        }
        int n = 0;
        for (size_t left = budget; n < iovcnt && n < (int)(sizeof(cut) / sizeof(cut[0])) && left > 0; n++) {
            cut[n] = iov[n];
            if (cut[n].iov_len > left)
                cut[n].iov_len = left;
            left -= cut[n].iov_len;
        }
        iov = cut;
        iovcnt = n;
    }
    int rc = net_transport_writev(&c->transport, iov, iovcnt, written);
    c->write_wants_read = rc == ST_AGAIN && !c->transport.want_write;
    c->srv->stats.bytes_out += *written;
    if (budget != SIZE_MAX) {
        c->tokens -= *written < c->tokens ? *written : c->tokens;
        if (c->tokens == 0 && rc != ST_ERROR)
            conn_throttle(c);
    }
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
    if (c->merged) {
        struct live_conn **pp = &srv->merged;
        while (*pp && *pp != c)
            pp = &(*pp)->merge_next;
        if (*pp)
            *pp = c->merge_next;
    }
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
    if (c->ip_counted)
        live_ipcount_remove(&srv->ipcount, &c->ipkey);
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
    if (rc == ST_OK && c->transport.unsent) {
        /* TLS still holds part of a record: push it before going idle. */
        size_t n = 0;
        rc = net_transport_writev(&c->transport, NULL, 0, &n);
        c->write_wants_read = rc == ST_AGAIN && !c->transport.want_write;
    }
    if (rc == ST_ERROR) {
        conn_fail(c, c->transport.err == EPIPE || c->transport.err == ECONNRESET ? "peer closed" : "write error");
    } else if (rc == ST_AGAIN && c->write_wants_read) {
        /* TLS needs input first: read_cb retries; EV_WRITE would spin. */
        if (!c->read_wants_write)
            ev_io_stop(c->srv->loop, &c->wio);
    } else if (rc == ST_AGAIN && !c->throttled) {
        ev_io_start(c->srv->loop, &c->wio);
    } else if (!c->read_wants_write) {
        /* Done, or out of tokens: the sweep marks a throttled player dirty
         * again; meanwhile new frames queue under the drop policy. */
        ev_io_stop(c->srv->loop, &c->wio);
    }
}

/* Protocol errors that are limits (max_chunk_size, max_message_size) get
 * their own counters; the reasons are the chunk reader's and session's. */
static void count_limit_error(struct live_server *srv, const char *err)
{
    if (!err)
        return;
    if (strstr(err, "chunk size"))
        srv->stats.closed_chunk_size++;
    else if (strstr(err, "maximum message size") || strstr(err, "memory budget"))
        srv->stats.closed_message_size++;
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct live_conn *c = w->data;
    uint8_t buf[LIVE_READ_CHUNK];
    size_t total = 0;
    while (!c->close_reason && total < LIVE_READ_BUDGET) {
        size_t n = 0;
        int rc = net_transport_read(&c->transport, buf, sizeof(buf), &n);
        if (rc == ST_AGAIN) {
            if (c->transport.want_write && !c->read_wants_write) {
                /* TLS must send (handshake, tickets) before reading on. */
                c->read_wants_write = 1;
                ev_io_stop(loop, &c->rio);
                ev_io_start(loop, &c->wio);
            }
            break;
        }
        if (rc == ST_DONE) {
            conn_fail(c, "peer closed");
            break;
        }
        if (rc == ST_ERROR) {
            if (c->tls && !net_tls_handshake_done(&c->transport)) {
                /* A plain RTMP client, a scanner or an old TLS version. */
                c->srv->stats.tls_handshake_failures++;
                LOG_WARN("rtmps handshake failed id=%llu peer=%s reason=\"%s\"", (unsigned long long)c->id, c->peer,
                         c->transport.error ? c->transport.error : strerror(c->transport.err));
                conn_fail(c, "tls handshake failed");
            } else {
                conn_fail(c, c->transport.error ? c->transport.error : "read error");
            }
            break;
        }
        total += n;
        c->srv->stats.bytes_in += n;
        c->last_read_ms = live_server_now_ms(c->srv);
        if (rtmp_session_feed(&c->session, buf, n) != ST_OK) {
            c->srv->stats.protocol_errors++;
            count_limit_error(c->srv, c->session.error);
            LOG_WARN("rtmp protocol error id=%llu peer=%s: %s", (unsigned long long)c->id, c->peer,
                     c->session.error ? c->session.error : "?");
            conn_fail(c, c->session.error ? c->session.error : "protocol error");
            break;
        }
        if (n < sizeof(buf))
            break;
    }
    if (fanout_player_pending(&c->out) || (c->write_wants_read && !c->close_reason))
        conn_mark_dirty(c);
    /* TLS may hold decrypted input the fd will not signal again. */
    if (c->transport.pending && !c->close_reason && !c->read_wants_write)
        ev_feed_event(loop, &c->rio, EV_READ);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct live_conn *c = w->data;
    if (c->read_wants_write) {
        c->read_wants_write = 0;
        ev_io_start(loop, &c->rio);
        read_cb(loop, &c->rio, EV_READ);
    }
    conn_flush(c);
}

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
void live_server_mark_unpublished(struct live_server *srv, struct live_stream *st)
{
    st->unpublished_ms = live_server_now_ms(srv);
    st->unpublish_notified = 0;
}

void live_server_mark_published(struct live_server *srv, struct live_stream *st)
{
    st->unpublished_ms = 0;
    st->unpublish_notified = 0;
}

/* Per stream, twice a second: input bitrate (for the API) and the players'
 * UnpublishNotify once the publisher has been gone for unpublish_wait. */
static void update_bitrates(struct live_server *srv, uint64_t now)
{
    for (int b = 0; b < LIVE_REGISTRY_BUCKETS; b++) {
        for (struct live_stream *st = srv->registry.buckets[b]; st; st = st->next) {
            if (st->unpublished_ms && !st->unpublish_notified &&
                now - st->unpublished_ms >= (uint64_t)srv->settings->unpublish_wait) {
                st->unpublish_notified = 1;
                if (st->fanout.nplayers)
                    LOG_INFO("stream %s: no publisher for %ld ms; telling %u players", st->key,
                             srv->settings->unpublish_wait, st->fanout.nplayers);
                notify_players(st, "NetStream.Play.UnpublishNotify", st->key);
            }
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
    if (cfg->merge_interval > 0 && !ev_is_active(&srv->merge_timer)) {
        srv->merge_timer.repeat = cfg->merge_interval / 1000.0;
        ev_timer_again(loop, &srv->merge_timer);
    }
    for (struct live_conn *c = srv->conns; c; c = c->next) {
        if (c->close_reason)
            continue;
        if (c->throttled) {
            c->throttled = 0; /* conn_budget tops the bucket up on the next write */
            conn_mark_dirty(c);
        }
        if (!c->session.connected && now - c->started_ms > (uint64_t)cfg->handshake_timeout) {
            srv->stats.closed_handshake_timeout++;
            LOG_WARN("rtmp timeout id=%llu peer=%s: handshake/connect not done in %ld ms", (unsigned long long)c->id,
                     c->peer, cfg->handshake_timeout);
            conn_fail(c, "handshake timeout");
        } else if (cfg->idle_timeout > 0 && c->session.connected && c->role == RTMP_ROLE_NONE && !c->stream &&
                   now - c->started_ms > (uint64_t)cfg->idle_timeout) {
            srv->stats.closed_idle_timeout++;
            LOG_WARN("rtmp timeout id=%llu peer=%s: connected but no publish or play in %ld ms",
                     (unsigned long long)c->id, c->peer, cfg->idle_timeout);
            conn_fail(c, "idle timeout");
        } else if (c->session.role == RTMP_ROLE_PUBLISHER && c->stream &&
                   now - c->stream->last_input_ms > (uint64_t)cfg->publish_idle_timeout) {
            LOG_WARN("rtmp timeout id=%llu peer=%s: publisher silent for %ld ms", (unsigned long long)c->id, c->peer,
                     cfg->publish_idle_timeout);
            conn_fail(c, "publisher idle timeout");
        } else if (c->out.failed) {
            c->srv->stats.players_dropped_slow++; /* a reader that never reads is caught here, not in a flush */
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
        if (!srv->stopping)
            srv->stats.refused_max_connections++;
        LOG_WARN("connection refused peer=%s reason=\"%s\"", peer_s,
                 srv->stopping ? "shutting down" : "max_connections reached");
        close(fd);
        return;
    }
    struct live_ipcount_key ipkey;
    int ip_counted = 0;
    if (live_ipcount_key_of(peer, &ipkey) == ST_OK) {
        long per_ip = srv->settings->max_connections_per_ip;
        int rc = live_ipcount_add(&srv->ipcount, &ipkey, per_ip > 0 ? (uint32_t)per_ip : 0);
        if (rc == ST_AGAIN) {
            srv->stats.connections_refused++;
            srv->stats.refused_per_ip++;
            LOG_WARN("connection refused peer=%s reason=\"max_connections_per_ip reached (%ld)\"", peer_s, per_ip);
            close(fd);
            return;
        }
        ip_counted = rc == ST_OK;
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
        if (ip_counted)
            live_ipcount_remove(&srv->ipcount, &ipkey);
        return;
    }
    if (rtmp_session_init(&c->session, &live_handler, c, &c->out.ctrl, &lim) != ST_OK) {
        LOG_ERROR("connection refused peer=%s reason=\"out of memory\"", peer_s);
        fanout_player_free(&c->out);
        free(c);
        close(fd);
        if (ip_counted)
            live_ipcount_remove(&srv->ipcount, &ipkey);
        return;
    }
    if (l == &srv->tls_listener) {
        if (net_tls_transport_init(&c->transport, fd, srv->tls) != ST_OK) {
            LOG_ERROR("connection refused peer=%s reason=\"out of memory (tls)\"", peer_s);
            rtmp_session_free(&c->session);
            fanout_player_free(&c->out);
            free(c);
            close(fd);
            if (ip_counted)
                live_ipcount_remove(&srv->ipcount, &ipkey);
            return;
        }
        c->tls = 1;
    } else {
        net_transport_tcp_init(&c->transport, fd);
    }
    if (cfg->socket_sndbuf > 0) {
        /* Cap what the kernel buffers for a slow reader, so our drop policy
         * (not a multi-megabyte socket buffer) decides how far behind it gets. */
        int sz = (int)cfg->socket_sndbuf;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    if (cfg->socket_notsent_lowat > 0) {
        /* Bounds the unsent backlog without limiting what is in flight, so
         * a fast player over a long path keeps its throughput while a slow
         * one blocks early and meets our drop policy. */
        int lowat = (int)cfg->socket_notsent_lowat;
        setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    }
    c->srv = srv;
    c->out.max_queue_ms = (uint32_t)cfg->player_max_delay;
    c->ipkey = ipkey;
    c->ip_counted = ip_counted;
    c->peer_addr = *peer;
    c->id = ++srv->next_conn_id;
    snprintf(c->peer, sizeof(c->peer), "%s", peer_s);
    c->out.owner = c;
    c->out.wake = player_wake;
    c->started_ms = c->last_read_ms = live_server_now_ms(srv);
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
    LOG_INFO("session start id=%llu peer=%s%s", (unsigned long long)c->id, c->peer, c->tls ? " transport=tls" : "");
}

/* The TLS context (tls_cert set: RTMPS and/or HTTPS) and the RTMPS listener. */
static int tls_open(struct live_server *srv)
{
    const struct live_settings *cfg = srv->settings;
    int rtmps = cfg->rtmps_listen && cfg->rtmps_listen[0];
    if (cfg->tls_cert && cfg->tls_cert[0]) {
        char err[512];
        if (net_tls_context_new(&srv->tls, cfg->tls_cert, cfg->tls_key, err, sizeof(err)) != ST_OK) {
            LOG_ERROR("live server: %s", err);
            return ST_ERROR;
        }
        LOG_INFO("tls certificate loaded cert=%s key=%s", cfg->tls_cert, cfg->tls_key);
    } else if (rtmps) {
        LOG_ERROR("live server: rtmps_listen %s needs tls_cert and tls_key", cfg->rtmps_listen);
        return ST_ERROR;
    }
    if (!rtmps)
        return ST_OK;
    if (net_listener_open(&srv->tls_listener, srv->loop, cfg->rtmps_listen, cfg->reuse_port, on_accept, srv) !=
        ST_OK) {
        net_tls_context_free(srv->tls);
        srv->tls = NULL;
        return ST_ERROR;
    }
    LOG_INFO("rtmps listening on %s port=%d", cfg->rtmps_listen, net_listener_port(&srv->tls_listener));
    return ST_OK;
}

int live_server_reload_tls(struct live_server *srv)
{
    const struct live_settings *cfg = srv->settings;
    if (!srv->tls)
        return ST_OK; /* TLS was off at start; listeners are not added at run time */
    if (!net_tls_context_changed(srv->tls, cfg->tls_cert, cfg->tls_key))
        return ST_OK;
    char err[512];
    if (net_tls_context_reload(srv->tls, cfg->tls_cert, cfg->tls_key, err, sizeof(err)) != ST_OK) {
        LOG_ERROR("tls reload failed, keeping the previous certificate: %s", err);
        return ST_ERROR;
    }
    LOG_INFO("tls certificate reloaded cert=%s key=%s generation=%u (new connections use it)", cfg->tls_cert,
             cfg->tls_key, net_tls_context_generation(srv->tls));
    return ST_OK;
}

int live_server_tls_port(const struct live_server *srv)
{
    return srv->tls_listener.fd >= 0 ? net_listener_port(&srv->tls_listener) : -1;
}

int live_server_start(struct live_server *srv, struct ev_loop *loop, const struct live_settings *settings,
                      const struct live_hooks *hooks)
{
    memset(srv, 0, sizeof(*srv));
    srv->tls_listener.fd = -1;
    srv->loop = loop;
    srv->settings = settings;
    if (hooks)
        srv->hooks = *hooks;
    live_registry_init(&srv->registry, (uint32_t)settings->gop_cache_frames, settings->gop_cache_bytes);
    char err[512];
    struct live_gate_config gc = gate_config(settings);
    srv->gate = live_gate_new(loop, &gc, gate_answer, srv, err, sizeof(err));
    if (!srv->gate) {
        LOG_ERROR("config: %s", err);
        return ST_ERROR;
    }
    if (live_ipcount_init(&srv->ipcount, 4096) != ST_OK) {
        LOG_ERROR("live server: out of memory");
        live_gate_free(srv->gate);
        return ST_ERROR;
    }
    if (net_listener_open(&srv->listener, loop, settings->rtmp_listen, settings->reuse_port, on_accept, srv) != ST_OK) {
        live_ipcount_free(&srv->ipcount);
        live_gate_free(srv->gate);
        return ST_ERROR;
    }
    if (tls_open(srv) != ST_OK) {
        net_listener_close(&srv->listener, loop);
        live_ipcount_free(&srv->ipcount);
        live_gate_free(srv->gate);
        return ST_ERROR;
    }
    ev_prepare_init(&srv->flush_watcher, flush_cb);
    srv->flush_watcher.data = srv;
    ev_prepare_start(loop, &srv->flush_watcher);
    ev_timer_init(&srv->sweep_timer, sweep_cb, 0.5, 0.5);
    srv->sweep_timer.data = srv;
    ev_timer_start(loop, &srv->sweep_timer);
    ev_init(&srv->merge_timer, merge_cb);
    srv->merge_timer.data = srv;
    if (settings->merge_interval > 0) {
        srv->merge_timer.repeat = settings->merge_interval / 1000.0;
        ev_timer_again(loop, &srv->merge_timer);
    }
    return ST_OK;
}

void live_server_stop(struct live_server *srv)
{
    srv->stopping = 1;
    net_listener_close(&srv->listener, srv->loop);
    net_listener_close(&srv->tls_listener, srv->loop);
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
    ev_timer_stop(srv->loop, &srv->merge_timer);
    srv->merged = NULL;
    live_registry_free(&srv->registry);
    live_ipcount_free(&srv->ipcount);
    live_gate_free(srv->gate);
    srv->gate = NULL;
    net_tls_context_free(srv->tls); /* SSLs of closed sessions are gone; the HTTPS API stopped first */
    srv->tls = NULL;
}

int live_server_port(const struct live_server *srv) { return net_listener_port(&srv->listener); }
