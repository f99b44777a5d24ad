#include "live/live_gate.h"

#include "core/log.h"
#include "core/status.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One webhook in flight: what the answer is for. Listed on the gate so
 * live_gate_free can release those whose callback never comes. */
struct live_gate_pending {
    struct live_gate *gate;
    struct live_gate_pending *next, *prev;
    uint64_t id;
    enum live_auth_action act;
    live_gate_cb cb; /* NULL: forgotten, the answer is dropped */
    void *cb_ctx;
};

/* Webhooks in flight at once; beyond it a decision counts as a failed
 * webhook (fail-open policy) and on_done is skipped, so a stalled hook
 * cannot pile up sockets. */
#define LIVE_GATE_MAX_INFLIGHT 4096

static const char *const action_name[2] = {"publish", "play"};

static void pending_unlink(struct live_gate *g, struct live_gate_pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        g->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

/* Everything a config produces, built aside so a reload is all or nothing. */
struct gate_parts {
    struct live_auth_rules rules;
    char *secret[2];
    char *play_apps;
    struct http_client_target hook[2];
    int have_hook[2];
    struct http_client_target done;
    int have_done;
};

static void parts_free(struct gate_parts *p)
{
    live_auth_rules_free(&p->rules);
    for (int i = 0; i < 2; i++) {
        if (p->secret[i])
            OPENSSL_cleanse(p->secret[i], strlen(p->secret[i]));
        free(p->secret[i]);
        p->secret[i] = NULL;
    }
    free(p->play_apps);
    p->play_apps = NULL;
}

/* "a, b c" -> ",a,b,c," so a lookup is one strstr of ",app,". */
static char *app_list(const char *spec)
{
    size_t n = strlen(spec);
    char *out = malloc(n + 3);
    if (!out)
        return NULL;
    size_t k = 0;
    out[k++] = ',';
    for (const char *p = spec; *p; p++) {
        int sep = *p == ',' || *p == ' ' || *p == '\t';
        if (sep && out[k - 1] == ',')
            continue;
        out[k++] = sep ? ',' : *p;
    }
    if (out[k - 1] != ',')
        out[k++] = ',';
    out[k] = '\0';
    return out;
}

/* Whether players of app need a signed key (play_secret_apps). */
static int play_key_required(const struct live_gate *g, const char *app)
{
    if (!g->play_apps)
        return 1;
    char needle[300];
    int n = snprintf(needle, sizeof(needle), ",%s,", app);
    return n > 0 && (size_t)n < sizeof(needle) && strstr(g->play_apps, needle) != NULL;
}

static int parts_build(struct gate_parts *p, const struct live_gate_config *cfg, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    struct live_auth_spec spec = {.publish_allow = cfg->publish_allow,
                                  .publish_deny = cfg->publish_deny,
                                  .play_allow = cfg->play_allow,
                                  .play_deny = cfg->play_deny,
                                  .publish_keys_file = cfg->publish_keys_file};
    if (live_auth_rules_load(&p->rules, &spec, err, errlen) != ST_OK)
        return ST_ERROR;
    if (cfg->play_secret_apps && cfg->play_secret_apps[0] && !(p->play_apps = app_list(cfg->play_secret_apps))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    const char *secrets[2] = {cfg->publish_secret, cfg->play_secret};
    for (int i = 0; i < 2; i++) {
        if (secrets[i] && secrets[i][0] && !(p->secret[i] = strdup(secrets[i]))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    const char *urls[3] = {cfg->on_publish, cfg->on_play, cfg->on_done};
    const char *names[3] = {"on_publish", "on_play", "on_done"};
    struct http_client_target *targets[3] = {&p->hook[0], &p->hook[1], &p->done};
    int *have[3] = {&p->have_hook[0], &p->have_hook[1], &p->have_done};
    for (int i = 0; i < 3; i++) {
        if (!urls[i] || !urls[i][0])
            continue;
        char why[300];
        if (http_client_parse_url(urls[i], targets[i], why, sizeof(why)) != ST_OK) {
            snprintf(err, errlen, "%s: %s", names[i], why);
            goto fail;
        }
        *have[i] = 1;
    }
    return ST_OK;
fail:
    parts_free(p);
    return ST_ERROR;
}

static void parts_adopt(struct live_gate *g, struct gate_parts *p, const struct live_gate_config *cfg)
{
    live_auth_rules_free(&g->rules);
    g->rules = p->rules;
    for (int i = 0; i < 2; i++) {
        free(g->secret[i]);
        g->secret[i] = p->secret[i];
        g->hook[i] = p->hook[i];
        g->have_hook[i] = p->have_hook[i];
    }
    free(g->play_apps);
    g->play_apps = p->play_apps;
    g->done = p->done;
    g->have_done = p->have_done;
    g->timeout = cfg->webhook_timeout > 0 ? cfg->webhook_timeout : 3000;
    g->fail_open = cfg->webhook_fail_open;
}

struct live_gate *live_gate_new(struct ev_loop *loop, const struct live_gate_config *cfg, live_gate_cb cb, void *ctx,
                                char *err, size_t errlen)
{
    struct gate_parts parts;
    if (parts_build(&parts, cfg, err, errlen) != ST_OK)
        return NULL;
    struct live_gate *g = calloc(1, sizeof(*g));
    if (!g) {
        parts_free(&parts);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->loop = loop;
    g->cb = cb;
    g->cb_ctx = ctx;
    http_client_init(&g->http, loop);
    parts_adopt(g, &parts, cfg);
    return g;
}

int live_gate_reload(struct live_gate *g, const struct live_gate_config *cfg, char *err, size_t errlen)
{
    struct gate_parts parts;
    if (parts_build(&parts, cfg, err, errlen) != ST_OK)
        return ST_ERROR;
    parts_adopt(g, &parts, cfg);
    return ST_OK;
}

void live_gate_free(struct live_gate *g)
{
    if (!g)
        return;
    http_client_close(&g->http);
    while (g->pending) {
        struct live_gate_pending *p = g->pending;
        pending_unlink(g, p);
        free(p);
    }
    live_auth_rules_free(&g->rules);
    for (int i = 0; i < 2; i++) {
        if (g->secret[i])
            OPENSSL_cleanse(g->secret[i], strlen(g->secret[i]));
        free(g->secret[i]);
    }
    free(g->play_apps);
    free(g);
}

int live_gate_location_name(const char *location, char *out, size_t cap)
{
    size_t end = strcspn(location, "?#");
    while (end > 0 && location[end - 1] == '/')
        end--; /* "http://x/live/new/" names "new" */
    size_t start = end;
    while (start > 0 && location[start - 1] != '/')
        start--;
    size_t len = end - start;
    if (len == 0 || len >= cap || (start >= 2 && location[start - 2] == '/' && location[start - 1] == '/'))
        return ST_ERROR; /* empty, too long, or the host of "http://host" */
    for (size_t i = start; i < end; i++)
        if ((unsigned char)location[i] <= ' ')
            return ST_ERROR;
    memcpy(out, location + start, len);
    out[len] = '\0';
    return ST_OK;
}

void live_gate_peer_ip(const struct sockaddr *sa, char *out, size_t cap)
{
    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)cap);
}

static int form_for(struct buf *b, const char *call, const struct live_gate_subject *who)
{
    char ip[INET6_ADDRSTRLEN], id[24];
    live_gate_peer_ip(who->peer, ip, sizeof(ip));
    snprintf(id, sizeof(id), "%llu", (unsigned long long)who->id);
    int rc = http_client_form_add(b, "call", call);
    if (strcmp(call, "done") == 0)
        rc |= http_client_form_add(b, "type", action_name[who->act]);
    rc |= http_client_form_add(b, "app", who->app);
    rc |= http_client_form_add(b, "name", who->name);
    rc |= http_client_form_add(b, "addr", ip);
    rc |= http_client_form_add(b, "clientid", id);
    if (strcmp(call, "done") != 0) {
        rc |= http_client_form_add(b, "query", who->query ? who->query : "");
        rc |= http_client_form_add(b, "proto", who->proto ? who->proto : "rtmp");
    }
    return rc ? ST_ERROR : ST_OK;
}

static void webhook_answer(void *ctx, const struct http_client_result *r)
{
    struct live_gate_pending *p = ctx;
    struct live_gate *g = p->gate;
    struct live_gate_verdict v = {.result = LIVE_AUTH_OK, .http_status = r->status};
    uint64_t id = p->id;
    enum live_auth_action act = p->act;
    live_gate_cb cb = p->cb;
    void *cb_ctx = p->cb_ctx;
    pending_unlink(g, p);
    free(p);
    if (r->status >= 200 && r->status < 300) {
        v.result = LIVE_AUTH_OK;
    } else if (r->status >= 300 && r->status < 400 && r->location) {
        if (live_gate_location_name(r->location, v.rename, sizeof(v.rename)) != ST_OK) {
            v.result = LIVE_AUTH_WEBHOOK_DENIED;
            v.detail = "unusable Location";
        }
    } else if (r->status != 0) {
        v.result = LIVE_AUTH_WEBHOOK_DENIED;
    } else {
        g->webhook_errors++;
        v.detail = r->error;
        if (g->fail_open) {
            LOG_WARN("webhook on_%s id=%llu failed (%s); webhook_fail_open is on: allowing", action_name[act],
                     (unsigned long long)id, r->error ? r->error : "?");
            v.result = LIVE_AUTH_OK;
        } else {
            v.result = LIVE_AUTH_WEBHOOK_FAILED;
        }
    }
    if (cb)
        cb(cb_ctx, id, act, &v);
}

void live_gate_forget(struct live_gate *g, void *cb_ctx)
{
    if (!g)
        return;
    for (struct live_gate_pending *p = g->pending; p; p = p->next)
        if (p->cb_ctx == cb_ctx)
            p->cb = NULL;
}

int live_gate_check(struct live_gate *g, const struct live_gate_subject *who, int64_t now, struct live_gate_verdict *v)
{
    memset(v, 0, sizeof(*v));
    const char *secret = g->secret[who->act];
    if (who->act == LIVE_AUTH_PLAY && !play_key_required(g, who->app))
        secret = NULL; /* play_secret_apps leaves this app open */
    v->result = live_auth_check(&g->rules, who->act, secret, who->app, who->name, who->query, who->peer, now);
    if (v->result != LIVE_AUTH_OK)
        return ST_ERROR;
    if (!g->have_hook[who->act])
        return ST_OK;
    struct buf body;
    buf_init(&body, HTTP_CLIENT_MAX_BODY);
    struct live_gate_pending *p = calloc(1, sizeof(*p));
    int rc = ST_ERROR;
    if (p && g->http.inflight < LIVE_GATE_MAX_INFLIGHT && form_for(&body, action_name[who->act], who) == ST_OK) {
        p->gate = g;
        p->id = who->id;
        p->act = who->act;
        p->cb = who->cb ? who->cb : g->cb;
        p->cb_ctx = who->cb ? who->cb_ctx : g->cb_ctx;
        rc = http_client_post(&g->http, &g->hook[who->act], "application/x-www-form-urlencoded",
                              (const char *)body.data, body.len, g->timeout, webhook_answer, p);
    }
    buf_free(&body);
    g->webhook_calls++;
    if (rc != ST_OK) {
        /* Could not even start: the same as a failed webhook. */
        free(p);
        g->webhook_errors++;
        v->detail = "webhook not started";
        if (g->fail_open)
            return ST_OK;
        v->result = LIVE_AUTH_WEBHOOK_FAILED;
        return ST_ERROR;
    }
    p->next = g->pending;
    if (g->pending)
        g->pending->prev = p;
    g->pending = p;
    return ST_AGAIN;
}

void live_gate_done(struct live_gate *g, const struct live_gate_subject *who)
{
    if (!g || !g->have_done)
        return;
    if (g->http.inflight >= LIVE_GATE_MAX_INFLIGHT) {
        g->webhook_errors++;
        return;
    }
    struct buf body;
    buf_init(&body, HTTP_CLIENT_MAX_BODY);
    if (form_for(&body, "done", who) == ST_OK) {
        g->webhook_calls++;
        if (http_client_post(&g->http, &g->done, "application/x-www-form-urlencoded", (const char *)body.data,
                             body.len, g->timeout, NULL, NULL) != ST_OK)
            g->webhook_errors++;
    }
    buf_free(&body);
}
