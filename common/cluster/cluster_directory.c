/*
 * cluster_directory internals (the contract is in the header).
 *
 * Two links to Redis, each with its own reconnect state: "cmd" carries every
 * command, "sub" only SUBSCRIBEs (a subscribed connection accepts nothing
 * else) and exists once an event handler is registered.
 *
 * Every command whose reply matters is a struct dir_req kept on p->pending in
 * send order, so the head is the oldest: a head older than the command
 * timeout means Redis stopped answering, and the link is dropped (hiredis
 * 0.14 has no command timeout of its own). stop() cancels requests by
 * clearing req->p, because hiredis still runs their callbacks (with a NULL
 * reply) when it frees a context, possibly after p is gone.
 *
 * User callbacks are never called from inside hiredis's free/disconnect path:
 * a NULL reply moves the request to p->failq, which a zero-delay timer
 * flushes with CLUSTER_DIR_ERROR on the next loop iteration. A user callback
 * is always the last thing a reply handler does, so a callback may stop (and
 * free) the directory.
 */
#include "cluster/cluster_directory.h"

#include "core/log.h"
#include "core/status.h"

#include <arpa/inet.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR_MAX_OWNED 4096
#define DIR_MAX_CARRIED 4096
#define DIR_MAX_PENDING 16384
#define DIR_KEY_MAX 511    /* stream key bytes (info.key keeps the NUL) */
#define DIR_PREFIX_MAX 64
#define DIR_RKEY_MAX 768   /* prefix + kind + ':' + stream key, with room */
#define DIR_BACKOFF_MIN 0.25 /* s */
#define DIR_BACKOFF_MAX 5.0  /* s */
#define DIR_CONNECT_TIMEOUT 2.0 /* s */
#define DIR_STOP_TIMEOUT 1.0    /* s a stopped directory waits for its last deletes */
#define DIR_VERSION "1"

/* Claim: KEYS stream hash, epoch counter, last HLS segment; ARGV me, pub,
 * router, ttl, now, node key prefix, events channel, stream key. Refused
 * only while another owner's node record is alive. Returns {1, epoch, last
 * segment (0 = none)} or {0, owner's epoch}. */
static const char claim_lua[] =
    "local o = redis.call('HGET', KEYS[1], 'owner')\n"
    "if o and o ~= ARGV[1] and redis.call('EXISTS', ARGV[6] .. o) == 1 then\n"
    "  return {0, tonumber(redis.call('HGET', KEYS[1], 'epoch')) or 0}\n"
    "end\n"
    "local e = redis.call('INCR', KEYS[2])\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'pub', ARGV[2], 'router', ARGV[3], 'epoch', e, 'started', ARGV[5])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "redis.call('PUBLISH', ARGV[7], 'up ' .. ARGV[8] .. ' ' .. ARGV[1] .. ' ' .. e)\n"
    "return {1, e, tonumber(redis.call('GET', KEYS[3])) or 0}\n";

/* Last HLS segment number of a stream, only ever raised: KEYS segment key;
 * ARGV number, ttl (ms). */
static const char segment_lua[] =
    "local c = tonumber(redis.call('GET', KEYS[1])) or 0\n"
    "if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end\n"
    "return 0\n";

/* Hold (refresh, and re-claim after a Redis restart): KEYS stream hash, epoch
 * counter; ARGV me, pub, router, ttl, started, channel, epoch, stream key.
 * Ours: extend. Free and nobody claimed since our epoch: re-create with our
 * epoch (raising the counter, lost in a restart). Else lost (0). */
static const char hold_lua[] =
    "local o = redis.call('HGET', KEYS[1], 'owner')\n"
    "if o == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[4]) return 1 end\n"
    "if o then return 0 end\n"
    "local c = tonumber(redis.call('GET', KEYS[2])) or 0\n"
    "if c > tonumber(ARGV[7]) then return 0 end\n"
    "redis.call('SET', KEYS[2], ARGV[7])\n"
    "redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'pub', ARGV[2], 'router', ARGV[3], 'epoch', ARGV[7], 'started', ARGV[5])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "redis.call('PUBLISH', ARGV[6], 'up ' .. ARGV[8] .. ' ' .. ARGV[1] .. ' ' .. ARGV[7])\n"
    "return 1\n";

/* Release: KEYS stream hash; ARGV me, channel, stream key. */
static const char release_lua[] =
    "if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end\n"
    "local e = redis.call('HGET', KEYS[1], 'epoch') or '0'\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('PUBLISH', ARGV[2], 'down ' .. ARGV[3] .. ' ' .. ARGV[1] .. ' ' .. e)\n"
    "return 1\n";

/* Route: KEYS edges set [, carriers set]; ARGV now, node key prefix, id to
 * skip. A node is alive while its node hash exists; dead members are pruned.
 * Prefers the least-loaded live carrier under its max_players, then the
 * least-loaded live edge under its max, then the least-loaded live edge
 * (everyone full). Returns {node, rtmp, http, carrying} or {}. */
static const char route_lua[] =
    "local function pick(ids, set)\n"
    "  local best, bp, bv, any, ap, av\n"
    "  for _, id in ipairs(ids) do\n"
    "    if id ~= ARGV[3] then\n"
    "      local v = redis.call('HMGET', ARGV[2] .. id, 'players', 'max_players', 'rtmp', 'http')\n"
    "      if v[1] then\n"
    "        local p = tonumber(v[1]) or 0\n"
    "        local m = tonumber(v[2]) or 0\n"
    "        if (m <= 0 or p < m) and (not bp or p < bp) then best, bp, bv = id, p, v end\n"
    "        if not ap or p < ap then any, ap, av = id, p, v end\n"
    "      else\n"
    "        redis.call('ZREM', set, id)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  return best, bv, any, av\n"
    "end\n"
    "if #KEYS > 1 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])\n"
    "  local id, v = pick(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], '+inf'), KEYS[2])\n"
    "  if id then return {id, v[3] or '', v[4] or '', 1} end\n"
    "end\n"
    "local function carries(id)\n"
    "  if #KEYS < 2 then return 0 end\n"
    "  local sc = tonumber(redis.call('ZSCORE', KEYS[2], id))\n"
    "  if sc and sc >= tonumber(ARGV[1]) then return 1 end\n"
    "  return 0\n"
    "end\n"
    "local id, v, any, av = pick(redis.call('ZRANGE', KEYS[1], 0, -1), KEYS[1])\n"
    "if id then return {id, v[3] or '', v[4] or '', carries(id)} end\n"
    "if any then return {any, av[3] or '', av[4] or '', carries(any)} end\n"
    "return {}\n";

/* Every node record: SCAN keeps Redis responsive with many keys. */
static const char nodes_lua[] =
    "local out, cursor, n = {}, '0', 0\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    if n < tonumber(ARGV[2]) then\n"
    "      out[#out + 1] = string.sub(k, #ARGV[1] + 1)\n"
    "      out[#out + 1] = redis.call('HGETALL', k)\n"
    "      n = n + 1\n"
    "    end\n"
    "  end\n"
    "until cursor == '0'\n"
    "return out\n";

enum link_state { LINK_IDLE, LINK_WAIT, LINK_CONNECTING, LINK_UP };

struct dir_link {
    struct cluster_directory_private *p;
    redisAsyncContext *ac;
    int state;
    int is_sub;
    double backoff;  /* s before the next attempt */
    ev_timer timer;  /* retry delay, or connect timeout while connecting */
    uint64_t connects;
    int down_logged; /* one warning per outage, not one per attempt */
};

union dir_cb {
    cluster_claim_cb claim;
    cluster_lookup_cb lookup;
    cluster_route_cb route;
    cluster_nodes_cb nodes;
};

enum req_kind { REQ_CLAIM, REQ_HOLD, REQ_LOOKUP, REQ_ROUTE, REQ_BEST, REQ_REGISTER, REQ_NODES };

struct dir_req {
    struct dir_req *prev, *next;
    struct cluster_directory_private *p; /* NULL once cancelled by stop */
    int kind;
    int released;   /* claim: release() came while it was in flight */
    uint32_t epoch; /* hold: the epoch being refreshed */
    ev_tstamp sent;
    union dir_cb cb;
    void *ctx;
    char key[DIR_KEY_MAX + 1];
};

struct dir_owned {
    uint32_t epoch;
    int64_t started; /* ms since epoch */
    char key[DIR_KEY_MAX + 1];
};

struct cluster_directory_private {
    struct cluster_directory *d;
    struct ev_loop *loop;
    char addr[CLUSTER_ADDR_MAX];
    char host[64];
    int port;
    char prefix[DIR_PREFIX_MAX + 1];
    char id[CLUSTER_ID_MAX];
    char role[8];
    char rtmp[CLUSTER_ADDR_MAX], http[CLUSTER_ADDR_MAX];
    char pub[CLUSTER_ADDR_MAX], router[CLUSTER_ADDR_MAX];
    long max_players;
    int is_edge;
    uint64_t players, out_bps;
    double cmd_timeout; /* s */
    char node_key[DIR_RKEY_MAX], node_prefix[DIR_RKEY_MAX];
    char edges_key[DIR_RKEY_MAX], events[DIR_RKEY_MAX];

    struct dir_link cmd, sub;
    ev_timer heartbeat;
    ev_timer kick; /* flushes failq */
    struct dir_req pending; /* sentinel: sent, awaiting a reply, oldest first */
    struct dir_req failq;   /* sentinel: to fail with ERROR from kick */
    size_t nreq;            /* on pending + failq */
    int *gone;              /* set to 1 by stop while kick runs callbacks */

    cluster_lost_cb lost_cb;
    void *lost_ctx;
    cluster_event_cb event_cb;
    void *event_ctx;

    struct cluster_route best;
    int has_best;

    struct dir_owned *owned[DIR_MAX_OWNED];
    size_t nowned;
    char *carried[DIR_MAX_CARRIED];
    size_t ncarried;
};

struct dir_reaper { /* a stopped directory's command link, flushing its deletes */
    ev_timer timer;
    struct ev_loop *loop;
    redisAsyncContext *ac;
};

static int64_t now_ms(void)
{
    return (int64_t)(ev_time() * 1000.0);
}

/* ---- pure helpers ---- */

size_t cluster_directory_key(char *dst, size_t cap, const char *prefix, const char *kind, const char *rest)
{
    if (!dst || !prefix || !kind)
        return 0;
    size_t a = strlen(prefix), b = strlen(kind), c = rest ? strlen(rest) + 1 : 0;
    size_t n = a + b + c;
    if (n < a || n >= cap) { /* n < a: wrapped; n + 1 must fit with the NUL */
        if (cap)
            dst[0] = '\0';
        return 0;
    }
    memcpy(dst, prefix, a);
    memcpy(dst + a, kind, b);
    if (rest) {
        dst[a + b] = ':';
        memcpy(dst + a + b + 1, rest, c - 1);
    }
    dst[n] = '\0';
    return n;
}

static int bytes_printable(const char *s, size_t n, int allow_space)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (c == ' ' && !allow_space))
            return 0;
    }
    return 1;
}

/* Stream keys: 1..511 bytes, no control bytes (spaces are fine: the event
 * parser reads owner and epoch from the right). */
static int key_ok(const char *key)
{
    if (!key)
        return 0;
    size_t n = strnlen(key, DIR_KEY_MAX + 1);
    return n > 0 && n <= DIR_KEY_MAX && bytes_printable(key, n, 1);
}

static int id_ok(const char *id)
{
    if (!id)
        return 0;
    size_t n = strnlen(id, CLUSTER_ID_MAX);
    return n > 0 && n < CLUSTER_ID_MAX && bytes_printable(id, n, 0);
}

/* Decimal u32, no sign, no leading zero (except "0"). */
static int parse_u32(const char *s, size_t n, uint32_t *out)
{
    if (n == 0 || n > 10 || (n > 1 && s[0] == '0'))
        return ST_ERROR;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return ST_ERROR;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return ST_ERROR;
    *out = (uint32_t)v;
    return ST_OK;
}

static const char *last_space(const char *s, size_t n)
{
    while (n > 0) {
        if (s[n - 1] == ' ')
            return s + n - 1;
        n--;
    }
    return NULL;
}

int cluster_directory_parse_event(const char *msg, size_t len, char type[8], struct cluster_stream_info *info)
{
    if (!msg || !type || !info || len == 0)
        return ST_ERROR;
    const char *sp = memchr(msg, ' ', len);
    if (!sp)
        return ST_ERROR;
    size_t tlen = (size_t)(sp - msg);
    if (!((tlen == 2 && memcmp(msg, "up", 2) == 0) || (tlen == 4 && memcmp(msg, "down", 4) == 0)))
        return ST_ERROR;
    const char *rest = sp + 1;
    size_t rlen = len - tlen - 1;
    const char *e = last_space(rest, rlen); /* before the epoch */
    if (!e)
        return ST_ERROR;
    const char *o = last_space(rest, (size_t)(e - rest)); /* before the owner */
    if (!o)
        return ST_ERROR;
    size_t klen = (size_t)(o - rest), olen = (size_t)(e - o - 1), elen = rlen - (size_t)(e - rest) - 1;
    uint32_t epoch;
    if (klen == 0 || klen > DIR_KEY_MAX || !bytes_printable(rest, klen, 1))
        return ST_ERROR;
    if (olen == 0 || olen >= CLUSTER_ID_MAX || !bytes_printable(o + 1, olen, 0))
        return ST_ERROR;
    if (parse_u32(e + 1, elen, &epoch) != ST_OK)
        return ST_ERROR;
    memset(info, 0, sizeof(*info));
    memcpy(info->key, rest, klen);
    memcpy(info->owner, o + 1, olen);
    info->epoch = epoch;
    memset(type, 0, 8);
    memcpy(type, msg, tlen);
    return ST_OK;
}

/* "a.b.c.d:port" or "[v6]:port", numeric only (no DNS on the loop). */
static int parse_addr(const char *addr, char *host, size_t hcap, int *port)
{
    if (!addr)
        return ST_ERROR;
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return ST_ERROR;
    const char *h = addr;
    size_t hlen = (size_t)(colon - addr);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return ST_ERROR;
        h++;
        hlen -= 2;
    }
    if (hlen >= hcap)
        return ST_ERROR;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    unsigned char tmp[16];
    if (inet_pton(AF_INET, host, tmp) != 1 && inet_pton(AF_INET6, host, tmp) != 1)
        return ST_ERROR;
    uint32_t v;
    if (parse_u32(colon + 1, strlen(colon + 1), &v) != ST_OK || v == 0 || v > 65535)
        return ST_ERROR;
    *port = (int)v;
    return ST_OK;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
    if (!src)
        src = "";
    size_t n = strnlen(src, cap);
    if (n >= cap)
        return ST_ERROR;
    memcpy(dst, src, n + 1);
    return ST_OK;
}

/* ---- requests ---- */

static void req_link(struct dir_req *head, struct dir_req *r)
{
    r->prev = head->prev;
    r->next = head;
    head->prev->next = r;
    head->prev = r;
}

static void req_unlink(struct dir_req *r)
{
    r->prev->next = r->next;
    r->next->prev = r->prev;
    r->prev = r->next = r;
}

static struct dir_req *req_new(struct cluster_directory_private *p, int kind, const char *key)
{
    if (p->nreq >= DIR_MAX_PENDING) {
        LOG_WARN("cluster_directory: %zu requests in flight, refusing more", p->nreq);
        return NULL;
    }
    struct dir_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->p = p;
    r->kind = kind;
    r->prev = r->next = r;
    if (key)
        memcpy(r->key, key, strlen(key) + 1); /* key_ok() checked the length */
    p->nreq++;
    return r;
}

static void req_free(struct dir_req *r)
{
    if (r->p)
        r->p->nreq--;
    free(r);
}

/* Call the user callback of a failed request (if any) and free it. */
static void req_fail(struct dir_req *r)
{
    int kind = r->kind;
    union dir_cb cb = r->cb;
    void *ctx = r->ctx;
    req_free(r);
    if (kind == REQ_CLAIM && cb.claim)
        cb.claim(ctx, CLUSTER_DIR_ERROR, 0, 0);
    else if (kind == REQ_LOOKUP && cb.lookup)
        cb.lookup(ctx, CLUSTER_DIR_ERROR, NULL);
    else if (kind == REQ_ROUTE && cb.route)
        cb.route(ctx, CLUSTER_DIR_ERROR, NULL);
    else if (kind == REQ_NODES && cb.nodes)
        cb.nodes(ctx, CLUSTER_DIR_ERROR, NULL, 0);
}

static void failq_add(struct cluster_directory_private *p, struct dir_req *r)
{
    req_link(&p->failq, r);
    if (!ev_is_active(&p->kick)) {
        ev_timer_set(&p->kick, 0., 0.);
        ev_timer_start(p->loop, &p->kick);
    }
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct cluster_directory_private *p = w->data;
    /* Take the queue as it is now: a callback that retries at once (and
     * fails again) is served on the next iteration, not in a tight loop. */
    struct dir_req batch;
    batch.prev = batch.next = &batch;
    if (p->failq.next != &p->failq) {
        batch.next = p->failq.next;
        batch.prev = p->failq.prev;
        batch.next->prev = &batch;
        batch.prev->next = &batch;
        p->failq.next = p->failq.prev = &p->failq;
    }
    int gone = 0;
    p->gone = &gone;
    while (batch.next != &batch) {
        struct dir_req *r = batch.next;
        req_unlink(r);
        if (gone) { /* stopped by an earlier callback: drop silently */
            free(r);
            continue;
        }
        req_fail(r);
    }
    if (!gone)
        p->gone = NULL;
}

static void reply_cb(redisAsyncContext *ac, void *reply, void *privdata);

/* Commands may be queued while the connect is in flight: hiredis sends them
 * once it completes, or hands them back with NULL replies if it fails. */
static int cmd_ready(const struct cluster_directory_private *p)
{
    return p->cmd.ac && (p->cmd.state == LINK_UP || p->cmd.state == LINK_CONNECTING);
}

/* Send one command; r (may be NULL: fire and forget) gets reply_cb. A
 * request that cannot be sent is failed from the next loop iteration. */
static int dir_send(struct cluster_directory_private *p, struct dir_req *r, int argc, const char **argv)
{
    size_t lens[16];
    for (int i = 0; i < argc && i < 16; i++)
        lens[i] = strlen(argv[i]);
    if (argc <= 16 && cmd_ready(p) &&
        redisAsyncCommandArgv(p->cmd.ac, r ? reply_cb : NULL, r, argc, argv, lens) == REDIS_OK) {
        if (r) {
            r->sent = ev_now(p->loop);
            req_link(&p->pending, r);
        }
        return ST_OK;
    }
    if (r)
        failq_add(p, r);
    return ST_ERROR;
}

/* ---- owned and carried sets ---- */

static struct dir_owned *owned_find(struct cluster_directory_private *p, const char *key, size_t *idx)
{
    for (size_t i = 0; i < p->nowned; i++) {
        if (strcmp(p->owned[i]->key, key) == 0) {
            if (idx)
                *idx = i;
            return p->owned[i];
        }
    }
    return NULL;
}

static void owned_remove(struct cluster_directory_private *p, size_t i)
{
    free(p->owned[i]);
    p->owned[i] = p->owned[--p->nowned];
}

static int carried_find(struct cluster_directory_private *p, const char *key, size_t *idx)
{
    for (size_t i = 0; i < p->ncarried; i++) {
        if (strcmp(p->carried[i], key) == 0) {
            *idx = i;
            return 1;
        }
    }
    return 0;
}

/* ---- commands ---- */

static void send_hold(struct cluster_directory_private *p, const struct dir_owned *o)
{
    char skey[DIR_RKEY_MAX], ekey[DIR_RKEY_MAX], ttl[24], started[24], epoch[16];
    cluster_directory_key(skey, sizeof(skey), p->prefix, "stream", o->key);
    cluster_directory_key(ekey, sizeof(ekey), p->prefix, "epoch", o->key);
    snprintf(ttl, sizeof(ttl), "%ld", p->d->settings.claim_ttl);
    snprintf(started, sizeof(started), "%" PRId64, o->started);
    snprintf(epoch, sizeof(epoch), "%" PRIu32, o->epoch);
    struct dir_req *r = req_new(p, REQ_HOLD, o->key);
    if (!r)
        return;
    r->epoch = o->epoch;
    const char *argv[] = {"EVAL", hold_lua, "2", skey, ekey, p->id, p->pub, p->router,
                          ttl, started, p->events, epoch, o->key};
    dir_send(p, r, (int)(sizeof(argv) / sizeof(argv[0])), argv);
}

static void send_release(struct cluster_directory_private *p, const char *key)
{
    char skey[DIR_RKEY_MAX];
    cluster_directory_key(skey, sizeof(skey), p->prefix, "stream", key);
    const char *argv[] = {"EVAL", release_lua, "1", skey, p->id, p->events, key};
    dir_send(p, NULL, 7, argv);
}

static void send_carry(struct cluster_directory_private *p, const char *key, int carrying)
{
    char ckey[DIR_RKEY_MAX], score[24], ttl[24];
    cluster_directory_key(ckey, sizeof(ckey), p->prefix, "carriers", key);
    if (!carrying) {
        const char *argv[] = {"ZREM", ckey, p->id};
        dir_send(p, NULL, 3, argv);
        return;
    }
    long nt = p->d->settings.node_ttl;
    snprintf(score, sizeof(score), "%" PRId64, now_ms() + nt);
    snprintf(ttl, sizeof(ttl), "%ld", nt * 2); /* the set outlives one missed beat */
    const char *zadd[] = {"ZADD", ckey, score, p->id};
    const char *exp[] = {"PEXPIRE", ckey, ttl};
    dir_send(p, NULL, 4, zadd);
    dir_send(p, NULL, 3, exp);
}

static void send_route(struct cluster_directory_private *p, struct dir_req *r, const char *key, const char *skip)
{
    char ckey[DIR_RKEY_MAX], now[24];
    snprintf(now, sizeof(now), "%" PRId64, now_ms());
    if (key) {
        cluster_directory_key(ckey, sizeof(ckey), p->prefix, "carriers", key);
        const char *argv[] = {"EVAL", route_lua, "2", p->edges_key, ckey, now, p->node_prefix, skip};
        dir_send(p, r, 8, argv);
    } else {
        const char *argv[] = {"EVAL", route_lua, "1", p->edges_key, now, p->node_prefix, skip};
        dir_send(p, r, 7, argv);
    }
}

/* Register the node, refresh carried and owned keys, refresh best_edge. */
static void heartbeat_run(struct cluster_directory_private *p)
{
    if (p->cmd.state != LINK_UP)
        return;
    struct cluster_directory *d = p->d;
    char players[24], maxp[24], bps[24], updated[24], ttl[24];
    snprintf(players, sizeof(players), "%" PRIu64, p->players);
    snprintf(maxp, sizeof(maxp), "%ld", p->max_players);
    snprintf(bps, sizeof(bps), "%" PRIu64, p->out_bps);
    snprintf(updated, sizeof(updated), "%" PRId64, now_ms());
    snprintf(ttl, sizeof(ttl), "%ld", d->settings.node_ttl);
    const char *hset[] = {"HSET", p->node_key, "role", p->role, "rtmp", p->rtmp, "http", p->http,
                          "pub", p->pub, "router", p->router, "players", players,
                          "max_players", maxp};
    const char *hset2[] = {"HSET", p->node_key, "out_bps", bps, "version", DIR_VERSION, "updated", updated};
    const char *exp[] = {"PEXPIRE", p->node_key, ttl};
    dir_send(p, NULL, (int)(sizeof(hset) / sizeof(hset[0])), hset);
    dir_send(p, NULL, (int)(sizeof(hset2) / sizeof(hset2[0])), hset2);
    struct dir_req *reg = req_new(p, REQ_REGISTER, NULL);
    if (reg)
        dir_send(p, reg, 3, exp);
    if (p->is_edge) {
        const char *zadd[] = {"ZADD", p->edges_key, players, p->id};
        dir_send(p, NULL, 4, zadd);
    }
    for (size_t i = 0; i < p->ncarried; i++)
        send_carry(p, p->carried[i], 1);
    for (size_t i = 0; i < p->nowned; i++)
        send_hold(p, p->owned[i]);
    struct dir_req *best = req_new(p, REQ_BEST, NULL);
    if (best)
        send_route(p, best, NULL, p->id);
}

/* ---- links ---- */

static void link_connect(struct dir_link *l);

static void link_retry(struct dir_link *l)
{
    struct cluster_directory_private *p = l->p;
    l->state = LINK_WAIT;
    ev_timer_stop(p->loop, &l->timer);
    ev_timer_set(&l->timer, l->backoff, 0.);
    ev_timer_start(p->loop, &l->timer);
    l->backoff = l->backoff * 2 > DIR_BACKOFF_MAX ? DIR_BACKOFF_MAX : l->backoff * 2;
}

static void link_lost(struct dir_link *l, const char *why)
{
    struct cluster_directory_private *p = l->p;
    if (!l->is_sub)
        p->d->connected = 0;
    if (!l->down_logged) {
        LOG_WARN("cluster_directory: redis %s %s link: %s; reconnecting", p->addr, l->is_sub ? "events" : "command",
                 why);
        l->down_logged = 1;
    }
    link_retry(l);
}

/* Drop the context ourselves (never from inside a hiredis callback of it):
 * its pending requests come back with NULL replies and go to failq. */
static void link_drop(struct dir_link *l, const char *why)
{
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    l->state = LINK_IDLE;
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    link_lost(l, why);
}

static void sub_msg_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    struct dir_link *l = ac->data;
    redisReply *r = reply;
    if (!l || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return;
    struct cluster_directory_private *p = l->p;
    redisReply *kind = r->element[0], *msg = r->element[2];
    if (kind->type != REDIS_REPLY_STRING || strcmp(kind->str, "message") != 0 || msg->type != REDIS_REPLY_STRING)
        return;
    char type[8];
    struct cluster_stream_info info;
    if (cluster_directory_parse_event(msg->str, msg->len, type, &info) != ST_OK) {
        LOG_WARN("cluster_directory: malformed event on %s (%zu bytes)", p->events, (size_t)msg->len);
        return;
    }
    if (p->event_cb)
        p->event_cb(p->event_ctx, type, &info);
}

static void link_on_connect(const redisAsyncContext *cac, int status)
{
    struct dir_link *l = cac->data;
    if (!l)
        return;
    struct cluster_directory_private *p = l->p;
    ev_timer_stop(p->loop, &l->timer);
    if (status != REDIS_OK) {
        l->ac = NULL; /* hiredis frees it after this callback */
        l->state = LINK_IDLE;
        LOG_DEBUG("cluster_directory: connect to redis %s failed: %s", p->addr, cac->errstr);
        link_lost(l, cac->errstr);
        return;
    }
    l->state = LINK_UP;
    l->backoff = DIR_BACKOFF_MIN;
    l->connects++;
    if (l->down_logged || l->connects > 1)
        LOG_INFO("cluster_directory: redis %s %s link back", p->addr, l->is_sub ? "events" : "command");
    l->down_logged = 0;
    if (l->is_sub) {
        const char *argv[] = {"SUBSCRIBE", p->events};
        size_t lens[] = {9, strlen(p->events)};
        redisAsyncCommandArgv(l->ac, sub_msg_cb, NULL, 2, argv, lens);
        return;
    }
    if (l->connects > 1)
        p->d->reconnects++;
    for (struct dir_req *r = p->pending.next; r != &p->pending; r = r->next)
        r->sent = ev_now(p->loop); /* queued while connecting: time them from now */
    heartbeat_run(p);
}

static void link_on_disconnect(const redisAsyncContext *cac, int status)
{
    (void)status;
    struct dir_link *l = cac->data;
    if (!l)
        return;
    l->ac = NULL; /* hiredis frees it after this callback */
    l->state = LINK_IDLE;
    link_lost(l, cac->err ? cac->errstr : "connection closed");
}

static void link_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct dir_link *l = w->data;
    if (l->state == LINK_WAIT)
        link_connect(l);
    else if (l->state == LINK_CONNECTING)
        link_drop(l, "connect timeout");
}

static void link_connect(struct dir_link *l)
{
    struct cluster_directory_private *p = l->p;
    redisAsyncContext *ac = redisAsyncConnect(p->host, p->port);
    if (!ac || ac->err) {
        const char *why = ac ? ac->errstr : "out of memory";
        l->state = LINK_IDLE;
        link_lost(l, why);
        if (ac)
            redisAsyncFree(ac);
        return;
    }
    ac->data = l;
    if (redisLibevAttach(p->loop, ac) != REDIS_OK) {
        redisAsyncFree(ac);
        l->state = LINK_IDLE;
        link_lost(l, "cannot attach to the loop");
        return;
    }
    l->ac = ac;
    l->state = LINK_CONNECTING;
    redisAsyncSetConnectCallback(ac, link_on_connect); /* must follow attach: it arms the write watcher */
    redisAsyncSetDisconnectCallback(ac, link_on_disconnect);
    ev_timer_stop(p->loop, &l->timer);
    ev_timer_set(&l->timer, DIR_CONNECT_TIMEOUT, 0.);
    ev_timer_start(p->loop, &l->timer);
}

static void heartbeat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct cluster_directory_private *p = w->data;
    struct dir_req *oldest = p->pending.next;
    if (p->cmd.state == LINK_UP && oldest != &p->pending && ev_now(p->loop) - oldest->sent > p->cmd_timeout) {
        link_drop(&p->cmd, "command timeout");
        return;
    }
    heartbeat_run(p);
}

/* ---- replies ---- */

static int reply_u32(const redisReply *r, uint32_t *out)
{
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer < 0 || r->integer > (long long)UINT32_MAX)
        return ST_ERROR;
    *out = (uint32_t)r->integer;
    return ST_OK;
}

static int reply_copy(char *dst, size_t cap, const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING || r->len >= cap || memchr(r->str, '\0', r->len))
        return ST_ERROR;
    memcpy(dst, r->str, r->len);
    dst[r->len] = '\0';
    return ST_OK;
}

/* {node, rtmp, http, carrying} or {} */
static int parse_route(const redisReply *r, struct cluster_route *out)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return CLUSTER_DIR_ERROR;
    if (r->elements == 0)
        return CLUSTER_DIR_NOT_FOUND;
    memset(out, 0, sizeof(*out));
    if (r->elements != 4 || reply_copy(out->node, sizeof(out->node), r->element[0]) != ST_OK ||
        reply_copy(out->rtmp, sizeof(out->rtmp), r->element[1]) != ST_OK ||
        reply_copy(out->http, sizeof(out->http), r->element[2]) != ST_OK ||
        r->element[3]->type != REDIS_REPLY_INTEGER)
        return CLUSTER_DIR_ERROR;
    out->carrying = r->element[3]->integer != 0;
    return CLUSTER_DIR_OK;
}

/* HGETALL of a stream hash. */
static int parse_stream(const redisReply *r, const char *key, struct cluster_stream_info *out)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
        return CLUSTER_DIR_ERROR;
    if (r->elements == 0)
        return CLUSTER_DIR_NOT_FOUND;
    memset(out, 0, sizeof(*out));
    memcpy(out->key, key, strlen(key) + 1);
    int have_epoch = 0;
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return CLUSTER_DIR_ERROR;
        int rc = ST_OK;
        if (strcmp(f->str, "owner") == 0)
            rc = reply_copy(out->owner, sizeof(out->owner), v);
        else if (strcmp(f->str, "pub") == 0)
            rc = reply_copy(out->pub, sizeof(out->pub), v);
        else if (strcmp(f->str, "router") == 0)
            rc = reply_copy(out->router, sizeof(out->router), v);
        else if (strcmp(f->str, "epoch") == 0) {
            rc = parse_u32(v->str, v->len, &out->epoch);
            have_epoch = 1;
        }
        if (rc != ST_OK)
            return CLUSTER_DIR_ERROR;
    }
    return out->owner[0] && have_epoch ? CLUSTER_DIR_OK : CLUSTER_DIR_ERROR;
}

static void on_claim(struct cluster_directory_private *p, struct dir_req *r, const redisReply *reply)
{
    int res = CLUSTER_DIR_ERROR;
    uint32_t status = 0, epoch = 0, segment = 0;
    if (reply->type == REDIS_REPLY_ARRAY && (reply->elements == 2 || reply->elements == 3) &&
        reply_u32(reply->element[0], &status) == ST_OK && reply_u32(reply->element[1], &epoch) == ST_OK &&
        (reply->elements == 2 || reply_u32(reply->element[2], &segment) == ST_OK) && status <= 1) {
        res = status == 1 ? CLUSTER_DIR_OK : CLUSTER_DIR_HELD;
    } else {
        LOG_WARN("cluster_directory: claim %s: bad reply%s%s", r->key, reply->type == REDIS_REPLY_ERROR ? ": " : "",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    }
    if (res == CLUSTER_DIR_OK && r->released) {
        send_release(p, r->key); /* release() came while in flight: it must not stick */
        res = CLUSTER_DIR_ERROR;
    } else if (res == CLUSTER_DIR_OK) {
        struct dir_owned *o = owned_find(p, r->key, NULL);
        if (!o && p->nowned < DIR_MAX_OWNED && (o = calloc(1, sizeof(*o))) != NULL) {
            memcpy(o->key, r->key, sizeof(o->key));
            p->owned[p->nowned++] = o;
        }
        if (o) {
            o->epoch = epoch;
            o->started = now_ms();
        } else {
            LOG_WARN("cluster_directory: claim %s: owned set full, releasing", r->key);
            send_release(p, r->key);
            res = CLUSTER_DIR_ERROR;
        }
    }
    if (res != CLUSTER_DIR_OK)
        segment = 0;
    if (res == CLUSTER_DIR_ERROR)
        epoch = 0;
    cluster_claim_cb cb = r->cb.claim;
    void *ctx = r->ctx;
    req_free(r);
    cb(ctx, res, epoch, segment);
}

static void on_hold(struct cluster_directory_private *p, struct dir_req *r, const redisReply *reply)
{
    size_t i;
    struct dir_owned *o;
    if (reply->type != REDIS_REPLY_INTEGER) {
        LOG_WARN("cluster_directory: refresh %s: %s", r->key,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "bad reply");
        req_free(r);
        return;
    }
    if (reply->integer == 1 || !(o = owned_find(p, r->key, &i)) || o->epoch != r->epoch) {
        req_free(r); /* still ours, or no longer tracked under that epoch */
        return;
    }
    owned_remove(p, i);
    LOG_WARN("cluster_directory: claim on %s (epoch %" PRIu32 ") lost", r->key, r->epoch);
    char key[DIR_KEY_MAX + 1];
    memcpy(key, r->key, sizeof(key));
    req_free(r);
    if (p->lost_cb)
        p->lost_cb(p->lost_ctx, key);
}

/* Parse [id, [field, value, ...], ...] into records; one bad entry is
 * skipped rather than failing the whole list. */
static void on_nodes(const redisReply *rep, cluster_nodes_cb cb, void *ctx)
{
    if (rep->type != REDIS_REPLY_ARRAY) {
        cb(ctx, CLUSTER_DIR_ERROR, NULL, 0);
        return;
    }
    struct cluster_node_record *nodes = calloc(CLUSTER_NODES_MAX, sizeof(*nodes));
    if (!nodes) {
        cb(ctx, CLUSTER_DIR_ERROR, NULL, 0);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i + 1 < rep->elements && n < CLUSTER_NODES_MAX; i += 2) {
        const redisReply *id = rep->element[i], *h = rep->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || h->type != REDIS_REPLY_ARRAY ||
            reply_copy(nodes[n].id, sizeof(nodes[n].id), id) != ST_OK)
            continue;
        for (size_t j = 0; j + 1 < h->elements; j += 2) {
            const redisReply *f = h->element[j], *v = h->element[j + 1];
            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            if (strcmp(f->str, "role") == 0)
                reply_copy(nodes[n].role, sizeof(nodes[n].role), v);
            else if (strcmp(f->str, "rtmp") == 0)
                reply_copy(nodes[n].rtmp, sizeof(nodes[n].rtmp), v);
            else if (strcmp(f->str, "http") == 0)
                reply_copy(nodes[n].http, sizeof(nodes[n].http), v);
            else if (strcmp(f->str, "players") == 0)
                nodes[n].players = strtoull(v->str, NULL, 10);
            else if (strcmp(f->str, "out_bps") == 0)
                nodes[n].out_bps = strtoull(v->str, NULL, 10);
            else if (strcmp(f->str, "max_players") == 0)
                nodes[n].max_players = strtoull(v->str, NULL, 10);
        }
        n++;
    }
    cb(ctx, CLUSTER_DIR_OK, nodes, n);
    free(nodes);
}

static void reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct dir_req *r = privdata;
    struct cluster_directory_private *p = r->p;
    if (!p) { /* cancelled by stop */
        free(r);
        return;
    }
    req_unlink(r);
    redisReply *rep = reply;
    if (!rep) { /* context going away: fail from the loop, not from here */
        failq_add(p, r);
        return;
    }
    switch (r->kind) {
    case REQ_CLAIM:
        on_claim(p, r, rep);
        return;
    case REQ_HOLD:
        on_hold(p, r, rep);
        return;
    case REQ_REGISTER:
        if (rep->type == REDIS_REPLY_INTEGER)
            p->d->connected = 1;
        else
            LOG_WARN("cluster_directory: node registration failed: %s",
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
        req_free(r);
        return;
    case REQ_BEST: {
        struct cluster_route route;
        int res = parse_route(rep, &route);
        if (res == CLUSTER_DIR_OK) {
            p->best = route;
            p->has_best = 1;
        } else if (res == CLUSTER_DIR_NOT_FOUND) {
            p->has_best = 0;
        }
        req_free(r);
        return;
    }
    case REQ_ROUTE: {
        struct cluster_route route;
        int res = parse_route(rep, &route);
        cluster_route_cb cb = r->cb.route;
        void *ctx = r->ctx;
        req_free(r);
        cb(ctx, res, res == CLUSTER_DIR_OK ? &route : NULL);
        return;
    }
    case REQ_NODES: {
        cluster_nodes_cb cb = r->cb.nodes;
        void *ctx = r->ctx;
        req_free(r);
        on_nodes(rep, cb, ctx);
        return;
    }
    case REQ_LOOKUP: {
        struct cluster_stream_info info;
        int res = parse_stream(rep, r->key, &info);
        cluster_lookup_cb cb = r->cb.lookup;
        void *ctx = r->ctx;
        req_free(r);
        cb(ctx, res, res == CLUSTER_DIR_OK ? &info : NULL);
        return;
    }
    default:
        req_free(r);
        return;
    }
}

/* ---- stop ---- */

static void reaper_on_disconnect(const redisAsyncContext *cac, int status)
{
    (void)status;
    struct dir_reaper *rp = cac->data;
    if (!rp)
        return;
    ev_timer_stop(rp->loop, &rp->timer);
    free(rp);
}

static void reaper_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct dir_reaper *rp = w->data;
    redisAsyncContext *ac = rp->ac;
    ev_timer_stop(rp->loop, &rp->timer);
    free(rp);
    ac->data = NULL;
    redisAsyncFree(ac);
}

/* Hand the command context to a reaper that lets queued deletes reach Redis,
 * bounded by DIR_STOP_TIMEOUT. */
static void reap_gracefully(struct cluster_directory_private *p, redisAsyncContext *ac)
{
    struct dir_reaper *rp = malloc(sizeof(*rp));
    if (!rp) {
        ac->data = NULL;
        redisAsyncFree(ac);
        return;
    }
    rp->loop = p->loop;
    rp->ac = ac;
    ev_timer_init(&rp->timer, reaper_timeout, DIR_STOP_TIMEOUT, 0.);
    rp->timer.data = rp;
    ev_timer_start(p->loop, &rp->timer);
    ac->data = rp;
    ac->onDisconnect = reaper_on_disconnect; /* the setter refuses to replace one */
    redisAsyncDisconnect(ac); /* may free ac and rp at once */
}

void cluster_directory_stop(struct cluster_directory *d)
{
    struct cluster_directory_private *p = d ? d->p : NULL;
    if (!p)
        return;
    if (p->gone)
        *p->gone = 1;
    ev_timer_stop(p->loop, &p->heartbeat);
    ev_timer_stop(p->loop, &p->kick);
    ev_timer_stop(p->loop, &p->cmd.timer);
    ev_timer_stop(p->loop, &p->sub.timer);

    int graceful = p->cmd.state == LINK_UP && p->cmd.ac;
    if (graceful) {
        const char *del[] = {"DEL", p->node_key};
        dir_send(p, NULL, 2, del);
        if (p->is_edge) {
            const char *zrem[] = {"ZREM", p->edges_key, p->id};
            dir_send(p, NULL, 3, zrem);
        }
        for (size_t i = 0; i < p->ncarried; i++)
            send_carry(p, p->carried[i], 0);
        for (size_t i = 0; i < p->nowned; i++)
            send_release(p, p->owned[i]->key);
    }
    /* Cancel before any context is freed: their callbacks then only free. */
    while (p->pending.next != &p->pending) {
        struct dir_req *r = p->pending.next;
        req_unlink(r);
        r->p = NULL;
    }
    while (p->failq.next != &p->failq) {
        struct dir_req *r = p->failq.next;
        req_unlink(r);
        free(r);
    }
    if (p->cmd.ac) {
        redisAsyncContext *ac = p->cmd.ac;
        p->cmd.ac = NULL;
        if (graceful) {
            reap_gracefully(p, ac);
        } else {
            ac->data = NULL;
            redisAsyncFree(ac);
        }
    }
    if (p->sub.ac) {
        redisAsyncContext *ac = p->sub.ac;
        p->sub.ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    for (size_t i = 0; i < p->nowned; i++)
        free(p->owned[i]);
    for (size_t i = 0; i < p->ncarried; i++)
        free(p->carried[i]);
    free(p);
    d->p = NULL;
    d->connected = 0;
}

/* ---- public API ---- */

int cluster_directory_start(struct cluster_directory *d, struct ev_loop *loop,
                            const struct cluster_directory_settings *settings, const struct cluster_node_info *self)
{
    if (!d || !loop || !settings || !self)
        return ST_ERROR;
    memset(d, 0, sizeof(*d));
    if (settings->claim_ttl <= 0 || settings->node_ttl <= 0 || settings->heartbeat <= 0) {
        LOG_ERROR("cluster_directory: claim_ttl, node_ttl and heartbeat must be > 0");
        return ST_ERROR;
    }
    if (!id_ok(self->id) || !self->role || (strcmp(self->role, "origin") != 0 && strcmp(self->role, "edge") != 0)) {
        LOG_ERROR("cluster_directory: bad node id or role (role is \"origin\" or \"edge\")");
        return ST_ERROR;
    }
    struct cluster_directory_private *p = calloc(1, sizeof(*p));
    if (!p)
        return ST_ERROR;
    const char *prefix = settings->prefix ? settings->prefix : "sc:";
    if (copy_str(p->addr, sizeof(p->addr), settings->redis_addr) != ST_OK ||
        parse_addr(p->addr, p->host, sizeof(p->host), &p->port) != ST_OK) {
        LOG_ERROR("cluster_directory: bad redis address \"%s\" (want numeric HOST:PORT)",
                  settings->redis_addr ? settings->redis_addr : "");
        goto fail;
    }
    if (copy_str(p->prefix, sizeof(p->prefix), prefix) != ST_OK || !bytes_printable(prefix, strlen(prefix), 0)) {
        LOG_ERROR("cluster_directory: bad key prefix (at most %d bytes, no spaces)", DIR_PREFIX_MAX);
        goto fail;
    }
    if (copy_str(p->id, sizeof(p->id), self->id) != ST_OK || copy_str(p->role, sizeof(p->role), self->role) != ST_OK ||
        copy_str(p->rtmp, sizeof(p->rtmp), self->rtmp) != ST_OK ||
        copy_str(p->http, sizeof(p->http), self->http) != ST_OK ||
        copy_str(p->pub, sizeof(p->pub), self->pub) != ST_OK ||
        copy_str(p->router, sizeof(p->router), self->router) != ST_OK) {
        LOG_ERROR("cluster_directory: node address too long (max %d bytes)", CLUSTER_ADDR_MAX - 1);
        goto fail;
    }
    p->d = d;
    p->loop = loop;
    p->is_edge = strcmp(p->role, "edge") == 0;
    p->max_players = self->max_players > 0 ? self->max_players : 0;
    cluster_directory_key(p->node_key, sizeof(p->node_key), p->prefix, "node", p->id);
    cluster_directory_key(p->node_prefix, sizeof(p->node_prefix), p->prefix, "node", "");
    cluster_directory_key(p->edges_key, sizeof(p->edges_key), p->prefix, "edges", NULL);
    cluster_directory_key(p->events, sizeof(p->events), p->prefix, "events", NULL);
    double hb = (double)settings->heartbeat / 1000.0;
    p->cmd_timeout = hb * 2 > 1.0 ? hb * 2 : 1.0;

    p->pending.prev = p->pending.next = &p->pending;
    p->failq.prev = p->failq.next = &p->failq;
    ev_timer_init(&p->kick, kick_cb, 0., 0.);
    p->kick.data = p;
    ev_timer_init(&p->heartbeat, heartbeat_cb, hb, hb);
    p->heartbeat.data = p;
    struct dir_link *links[] = {&p->cmd, &p->sub};
    for (int i = 0; i < 2; i++) {
        links[i]->p = p;
        links[i]->is_sub = i == 1;
        links[i]->backoff = DIR_BACKOFF_MIN;
        links[i]->state = LINK_IDLE;
        ev_timer_init(&links[i]->timer, link_timer_cb, 0., 0.);
        links[i]->timer.data = links[i];
    }

    d->loop = loop;
    d->settings = *settings;
    d->settings.redis_addr = p->addr;
    d->settings.prefix = p->prefix;
    d->p = p;
    ev_timer_start(loop, &p->heartbeat);
    link_connect(&p->cmd);
    return ST_OK;
fail:
    free(p);
    return ST_ERROR;
}

void cluster_directory_set_load(struct cluster_directory *d, uint64_t players, uint64_t out_bps)
{
    if (!d || !d->p)
        return;
    d->p->players = players;
    d->p->out_bps = out_bps;
}

int cluster_directory_claim(struct cluster_directory *d, const char *key, cluster_claim_cb cb, void *ctx)
{
    struct cluster_directory_private *p = d ? d->p : NULL;
    if (!p || !cb || !key_ok(key))
        return ST_ERROR;
    if (p->nowned >= DIR_MAX_OWNED && !owned_find(p, key, NULL)) {
        LOG_WARN("cluster_directory: claim %s refused: %d streams owned already", key, DIR_MAX_OWNED);
        return ST_ERROR;
    }
    struct dir_req *r = req_new(p, REQ_CLAIM, key);
    if (!r)
        return ST_ERROR;
    r->cb.claim = cb;
    r->ctx = ctx;
    char skey[DIR_RKEY_MAX], ekey[DIR_RKEY_MAX], gkey[DIR_RKEY_MAX], ttl[24], now[24];
    cluster_directory_key(skey, sizeof(skey), p->prefix, "stream", key);
    cluster_directory_key(ekey, sizeof(ekey), p->prefix, "epoch", key);
    cluster_directory_key(gkey, sizeof(gkey), p->prefix, "segment", key);
    snprintf(ttl, sizeof(ttl), "%ld", d->settings.claim_ttl);
    snprintf(now, sizeof(now), "%" PRId64, now_ms());
    const char *argv[] = {"EVAL", claim_lua, "3", skey, ekey, gkey, p->id, p->pub, p->router,
                          ttl, now, p->node_prefix, p->events, key};
    dir_send(p, r, (int)(sizeof(argv) / sizeof(argv[0])), argv);
    return ST_OK;
}

void cluster_directory_note_segment(struct cluster_directory *d, const char *key, uint32_t segment)
{
    struct cluster_directory_private *p = d ? d->p : NULL;
    if (!p || segment == 0 || !key_ok(key) || !owned_find(p, key, NULL))
        return;
    char gkey[DIR_RKEY_MAX], num[16], ttl[24];
    cluster_directory_key(gkey, sizeof(gkey), p->prefix, "segment", key);
    snprintf(num, sizeof(num), "%" PRIu32, segment);
    snprintf(ttl, sizeof(ttl), "%d", CLUSTER_SEGMENT_TTL_MS);
    const char *argv[] = {"EVAL", segment_lua, "1", gkey, num, ttl};
    dir_send(p, NULL, (int)(sizeof(argv) / sizeof(argv[0])), argv);
}

void cluster_directory_release(struct cluster_directory *d, const char *key)
{
    struct cluster_directory_private *p = d ? d->p : NULL;
    size_t i;
    if (!p || !key_ok(key))
        return;
    if (owned_find(p, key, &i))
        owned_remove(p, i);
    for (struct dir_req *r = p->pending.next; r != &p->pending; r = r->next)
        if (r->kind == REQ_CLAIM && strcmp(r->key, key) == 0)
            r->released = 1;
    if (cmd_ready(p))
        send_release(p, key);
}

void cluster_directory_on_lost(struct cluster_directory *d, cluster_lost_cb cb, void *ctx)
{
    if (!d || !d->p)
        return;
    d->p->lost_cb = cb;
    d->p->lost_ctx = ctx;
}

int cluster_directory_lookup(struct cluster_directory *d, const char *key, cluster_lookup_cb cb, void *ctx)
{
    struct cluster_directory_private *p = d ? d->p : NULL;
    if (!p || !cb || !key_ok(key))
        return ST_ERROR;
    struct dir_req *r = req_new(p, REQ_LOOKUP, key);
    if (!r)
        return ST_ERROR;
    r->cb.lookup = cb;
    r->ctx = ctx;
    char skey[DIR_RKEY_MAX];
    cluster_directory_key(skey, sizeof(skey), p->prefix, "stream", key);
    const char *argv[] = {"HGETALL", skey};
    dir_send(p, r, 2, argv);
    return ST_OK;
}

void cluster_directory_on_event(struct cluster_directory *d, cluster_event_cb cb, void *ctx)
{
    struct cluster_directory_private *p = d ? d->p : NULL;
    if (!p)
        return;
    p->event_cb = cb;
    p->event_ctx = ctx;
    if (cb && p->sub.state == LINK_IDLE && !ev_is_active(&p->sub.timer))
        link_connect(&p->sub);
}

void cluster_directory_carry(struct cluster_directory *d, const char *key, int carrying)
{
    struct cluster_directory_private *p = d ? d->p : NULL;
    size_t i;
    if (!p || !key_ok(key))
        return;
    int have = carried_find(p, key, &i);
    if (carrying && !have) {
        if (p->ncarried >= DIR_MAX_CARRIED) {
            LOG_WARN("cluster_directory: carry %s ignored: %d streams carried already", key, DIR_MAX_CARRIED);
            return;
        }
        char *k = strdup(key);
        if (!k)
            return;
        p->carried[p->ncarried++] = k;
    } else if (!carrying && have) {
        free(p->carried[i]);
        p->carried[i] = p->carried[--p->ncarried];
    } else if (!carrying) {
        return;
    }
    if (cmd_ready(p))
        send_carry(p, key, carrying);
}

int cluster_directory_route(struct cluster_directory *d, const char *key, cluster_route_cb cb, void *ctx)
{
    struct cluster_directory_private *p = d ? d->p : NULL;
    if (!p || !cb || !key_ok(key))
        return ST_ERROR;
    struct dir_req *r = req_new(p, REQ_ROUTE, key);
    if (!r)
        return ST_ERROR;
    r->cb.route = cb;
    r->ctx = ctx;
    send_route(p, r, key, "");
    return ST_OK;
}

const struct cluster_route *cluster_directory_best_edge(const struct cluster_directory *d)
{
    return d && d->p && d->p->has_best ? &d->p->best : NULL;
}

int cluster_directory_nodes(struct cluster_directory *d, cluster_nodes_cb cb, void *ctx)
{
    struct cluster_directory_private *p = d ? d->p : NULL;
    if (!p || !cb)
        return ST_ERROR;
    struct dir_req *r = req_new(p, REQ_NODES, NULL);
    if (!r)
        return ST_ERROR;
    r->cb.nodes = cb;
    r->ctx = ctx;
    char max[16];
    snprintf(max, sizeof(max), "%d", CLUSTER_NODES_MAX);
    const char *argv[] = {"EVAL", nodes_lua, "0", p->node_prefix, max};
    dir_send(p, r, 5, argv);
    return ST_OK;
}
