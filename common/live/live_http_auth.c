#include "live/live_http_auth.h"

#include "core/log.h"
#include "core/status.h"
#include "live/live_gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Open addressing over a few neighbouring slots: a viewer's entry is not
 * evicted by the one viewer that happens to hash next to it. */
#define AUTH_PROBE 8
#define AUTH_STREAM_MAX (LIVE_HTTP_AUTH_KEY_MAX / 2) /* "app/name", for logs */

struct live_http_auth_entry {
    uint64_t until_ms; /* 0 = empty */
    uint64_t hash;
    int allowed;
    char *key;    /* owned */
    char *rename; /* owned, NULL = the name as asked */
};

struct live_http_auth_wait {
    struct live_http_auth *a;
    struct live_http_auth_wait *next, *prev;
    struct http_server *http;
    struct http_server_handle handle;
    char key[LIVE_HTTP_AUTH_KEY_MAX];
    char stream[AUTH_STREAM_MAX];
};

static uint64_t now_ms(const struct live_http_auth *a) { return (uint64_t)(ev_now(a->loop) * 1000.0); }

static uint64_t key_hash(const char *k)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (uint8_t)*k) * 1099511628211ull;
    return h;
}

static void entry_clear(struct live_http_auth_entry *e)
{
    free(e->key);
    free(e->rename);
    memset(e, 0, sizeof(*e));
}

static struct live_http_auth_entry *cache_find(struct live_http_auth *a, const char *key, uint64_t now)
{
    uint64_t h = key_hash(key);
    for (unsigned i = 0; i < AUTH_PROBE; i++) {
        struct live_http_auth_entry *e = &a->cache[(h + i) % LIVE_HTTP_AUTH_SLOTS];
        if (e->until_ms > now && e->hash == h && strcmp(e->key, key) == 0)
            return e;
    }
    return NULL;
}

static void cache_store(struct live_http_auth *a, const char *key, int allowed, const char *rename, uint64_t now)
{
    uint64_t h = key_hash(key);
    struct live_http_auth_entry *victim = NULL;
    for (unsigned i = 0; i < AUTH_PROBE; i++) {
        struct live_http_auth_entry *e = &a->cache[(h + i) % LIVE_HTTP_AUTH_SLOTS];
        if (e->key && e->hash == h && strcmp(e->key, key) == 0) {
            victim = e; /* the same viewer again: replace its verdict */
            break;
        }
        if (!victim || e->until_ms < victim->until_ms)
            victim = e; /* else the emptiest (or soonest to expire) */
    }
    entry_clear(victim);
    victim->key = strdup(key);
    victim->rename = rename && rename[0] ? strdup(rename) : NULL;
    if (!victim->key || (rename && rename[0] && !victim->rename)) {
        entry_clear(victim); /* out of memory: not cached, asked again next time */
        return;
    }
    victim->hash = h;
    victim->allowed = allowed;
    victim->until_ms = now + (allowed ? LIVE_HTTP_AUTH_ALLOW_MS : LIVE_HTTP_AUTH_DENY_MS);
}

void live_http_auth_init(struct live_http_auth *a, struct ev_loop *loop, live_http_auth_resume_cb resume, void *ctx)
{
    memset(a, 0, sizeof(*a));
    a->loop = loop;
    a->resume = resume;
    a->resume_ctx = ctx;
}

static void wait_unlink(struct live_http_auth *a, struct live_http_auth_wait *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        a->waiting = w->next;
    if (w->next)
        w->next->prev = w->prev;
    a->nwaiting--;
}

void live_http_auth_free(struct live_http_auth *a, struct live_gate *g)
{
    while (a->waiting) {
        struct live_http_auth_wait *w = a->waiting;
        live_gate_forget(g, w);
        wait_unlink(a, w);
        free(w);
    }
    if (a->cache) {
        for (unsigned i = 0; i < LIVE_HTTP_AUTH_SLOTS; i++)
            entry_clear(&a->cache[i]);
        free(a->cache);
        a->cache = NULL;
    }
}

static void send_plain(struct http_server_request *req, int status, const char *extra, const char *msg)
{
    char hdr[LIVE_HTTP_AUTH_KEY_MAX + 128];
    snprintf(hdr, sizeof(hdr), "Cache-Control: no-cache\r\n%s", extra ? extra : "");
    http_server_send(req, status, "text/plain; charset=utf-8", msg, strlen(msg), hdr);
}

/* 403. stream ("app/name") names it in the log; NULL: not logged (a cached
 * refusal repeated). */
static int refuse(struct live_http_auth *a, struct http_server_request *req, const char *stream, const char *reason)
{
    a->stats.refused++;
    if (stream)
        LOG_INFO("http play refused stream=%s peer=%s reason=\"%s\"", stream, http_server_request_peer(req), reason);
    char msg[160];
    snprintf(msg, sizeof(msg), "forbidden: %s\n", reason);
    send_plain(req, 403, NULL, msg);
    return ST_ERROR;
}

/* A webhook renamed the stream: the same request under the new name. */
static int redirect(struct live_http_auth *a, struct http_server_request *req, const char *app, const char *rename,
                    const char *tail, const char *query, const char *stream)
{
    char loc[LIVE_HTTP_AUTH_KEY_MAX + 48];
    int n = snprintf(loc, sizeof(loc), "Location: /%s/%s%s%s%s\r\n", app, rename, tail, query[0] ? "?" : "", query);
    if (n < 0 || (size_t)n >= sizeof(loc))
        return refuse(a, req, stream, "renamed stream path too long");
    a->stats.redirected++;
    send_plain(req, 302, loc, "renamed by the on_play webhook\n");
    return ST_ERROR;
}

static void webhook_answer(void *ctx, uint64_t id, enum live_auth_action act, const struct live_gate_verdict *v)
{
    (void)id;
    (void)act;
    struct live_http_auth_wait *w = ctx;
    struct live_http_auth *a = w->a;
    wait_unlink(a, w);
    cache_store(a, w->key, v->result == LIVE_AUTH_OK, v->rename, now_ms(a));
    struct http_server_request *req = http_server_request_lookup(w->http, w->handle);
    char stream[sizeof(w->stream)];
    memcpy(stream, w->stream, sizeof(stream));
    free(w);
    if (!req)
        return; /* the viewer went away meanwhile */
    if (v->result != LIVE_AUTH_OK && !v->rename[0]) {
        /* Answered here: the cache may not have kept the verdict. */
        char reason[128];
        snprintf(reason, sizeof(reason), "%s%s%s", live_auth_reason(v->result), v->detail ? ": " : "",
                 v->detail ? v->detail : "");
        refuse(a, req, stream, reason);
        return;
    }
    /* Allowed or renamed: the handler runs again and finds the verdict. If
     * the cache could not keep it, that asks once more (bounded by the
     * number of waiting requests). */
    if (a->resume(req, a->resume_ctx) == ST_ERROR)
        send_plain(req, 500, NULL, "internal error\n");
}

int live_http_auth_check(struct live_http_auth *a, struct live_gate *g, struct http_server_request *req,
                         const char *app, const char *name, const char *query, const char *tail)
{
    if (!g)
        return ST_OK;
    char stream[AUTH_STREAM_MAX];
    snprintf(stream, sizeof(stream), "%s/%s", app, name);
    struct live_gate_subject who = {.act = LIVE_AUTH_PLAY,
                                    .app = app,
                                    .name = name,
                                    .query = query,
                                    .peer = http_server_request_peer_addr(req),
                                    .peer_s = http_server_request_peer(req),
                                    .proto = "http"};
    struct live_gate_verdict v;
    if (!g->have_hook[LIVE_AUTH_PLAY]) {
        if (live_gate_check(g, &who, (int64_t)time(NULL), &v) == ST_OK)
            return ST_OK;
        return refuse(a, req, stream, live_auth_reason(v.result));
    }
    char ip[64], key[LIVE_HTTP_AUTH_KEY_MAX];
    live_gate_peer_ip(who.peer, ip, sizeof(ip));
    int n = snprintf(key, sizeof(key), "%s\n%s/%s\n%s", ip, app, name, query);
    if (n < 0 || (size_t)n >= sizeof(key))
        return refuse(a, req, stream, "query too long to authorize");
    if (!a->cache && !(a->cache = calloc(LIVE_HTTP_AUTH_SLOTS, sizeof(*a->cache)))) {
        send_plain(req, 503, "Retry-After: 1\r\n", "out of memory\n");
        return ST_ERROR;
    }
    uint64_t now = now_ms(a);
    struct live_http_auth_entry *e = cache_find(a, key, now);
    if (e) {
        a->stats.cache_hits++;
        if (!e->allowed)
            return refuse(a, req, NULL, "refused by webhook");
        if (e->rename)
            return redirect(a, req, app, e->rename, tail, query, stream);
        return ST_OK;
    }
    struct live_http_auth_wait *w =
        a->nwaiting < LIVE_HTTP_AUTH_MAX_WAITING ? calloc(1, sizeof(*w)) : NULL;
    if (!w) {
        send_plain(req, 503, "Retry-After: 1\r\n", "too many viewers waiting for authorization\n");
        return ST_ERROR;
    }
    w->a = a;
    w->http = http_server_request_server(req);
    w->handle = http_server_request_handle(req);
    memcpy(w->key, key, (size_t)n + 1);
    memcpy(w->stream, stream, sizeof(w->stream));
    /* Ids of HTTP viewers stay clear of RTMP connection ids in webhook logs. */
    who.id = (1ull << 62) | ++a->next_client;
    who.cb = webhook_answer;
    who.cb_ctx = w;
    int rc = live_gate_check(g, &who, (int64_t)time(NULL), &v);
    if (rc == ST_AGAIN) {
        w->next = a->waiting;
        if (a->waiting)
            a->waiting->prev = w;
        a->waiting = w;
        a->nwaiting++;
        a->stats.webhook_asks++;
        return ST_AGAIN;
    }
    free(w);
    if (rc == ST_OK)
        return ST_OK; /* the webhook could not start and webhook_fail_open is on */
    return refuse(a, req, stream, live_auth_reason(v.result));
}
