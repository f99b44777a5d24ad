/*
 * live_http_auth: play authorization of HTTP viewers (HLS, LL-HLS,
 * HTTP-FLV) through the node's live_gate: the local rules (IP lists,
 * signed keys) and, when configured, the on_play webhook.
 *
 * An HLS player makes several requests a second, each one a new question;
 * calling the webhook for each would be a webhook per segment. So a
 * webhook's verdict for (client address, app/name, query) is kept in a
 * hash table (a few probes per key, the oldest entry replaced):
 * LIVE_HTTP_AUTH_ALLOW_MS when allowed (or renamed), LIVE_HTTP_AUTH_DENY_MS
 * when refused. A request that misses
 * waits for the webhook (the HTTP request is async meanwhile) and is then
 * handed back to the resume callback, which handles it again and finds the
 * verdict in the cache. A rename (3xx Location) becomes an HTTP 302 to the
 * same path with the new name, so players follow it as they follow any
 * redirect. Without a webhook nothing is cached: the local rules decide
 * every request at once.
 *
 * Ownership: the owner (live_http) embeds the struct; the cache is
 * allocated on the first webhook use; each waiting request has a small
 * record freed when the answer comes or by live_http_auth_free, which also
 * tells the gate to forget the webhooks in flight. Loop-confined.
 */
#ifndef SC_LIVE_HTTP_AUTH_H
#define SC_LIVE_HTTP_AUTH_H

#include "http/http_server.h"

#include <stdint.h>

#define LIVE_HTTP_AUTH_SLOTS 8192         /* cached verdicts: thousands of HLS viewers per worker */
#define LIVE_HTTP_QUERY_MAX 1024          /* a viewer's query (a signed key, a JWT), LL-HLS directives aside */
#define LIVE_HTTP_AUTH_KEY_MAX (LIVE_HTTP_QUERY_MAX + 2 * 256) /* address + stream + query */
#define LIVE_HTTP_AUTH_ALLOW_MS 30000     /* how long an allowed viewer is not asked again */
#define LIVE_HTTP_AUTH_DENY_MS 5000       /* how long a refusal is repeated without asking */
#define LIVE_HTTP_AUTH_MAX_WAITING 1024   /* requests waiting for a webhook at once */

struct live_gate;
struct live_http_auth_entry; /* private */
struct live_http_auth_wait;  /* private */

/* Handle req again once its webhook answered (the live_http handler). */
typedef int (*live_http_auth_resume_cb)(struct http_server_request *req, void *ctx);

struct live_http_auth_stats {
    uint64_t webhook_asks;   /* webhooks started for HTTP viewers */
    uint64_t cache_hits;     /* requests decided from the cache */
    uint64_t refused;        /* 403 answers */
    uint64_t redirected;     /* 302 answers (webhook renames) */
};

struct live_http_auth {
    struct ev_loop *loop;
    live_http_auth_resume_cb resume;
    void *resume_ctx;
    struct live_http_auth_entry *cache; /* LIVE_HTTP_AUTH_SLOTS, NULL until a webhook is used */
    struct live_http_auth_wait *waiting;
    uint32_t nwaiting;
    uint64_t next_client; /* clientid of the webhook form */
    struct live_http_auth_stats stats;
};

void live_http_auth_init(struct live_http_auth *a, struct ev_loop *loop, live_http_auth_resume_cb resume, void *ctx);
/* Forget the waiting requests (their webhooks answer nobody) and the cache. */
void live_http_auth_free(struct live_http_auth *a, struct live_gate *g);

/* May req (for app/name; query = the viewer's query without the LL-HLS
 * directives) be served? tail is what follows the name in the path
 * (".m3u8", "/123.ts"), for a rename's redirect. ST_OK: serve it.
 * ST_ERROR: answered (403 or 302). ST_AGAIN: waiting for the webhook; the
 * handler returns HTTP_SERVER_ASYNC and resume gets req later. */
int live_http_auth_check(struct live_http_auth *a, struct live_gate *g, struct http_server_request *req,
                         const char *app, const char *name, const char *query, const char *tail);

#endif
