/*
 * live_gate: the authorization step of publish and play on a live_server
 * loop. It runs the local rules of live_auth (IP lists, signed keys, key
 * lists) and then, when configured, the on_publish / on_play webhook
 * (http_client), and reports on_done when an accepted publisher or player
 * leaves.
 *
 * Webhook semantics (as nginx-rtmp): the gate POSTs a form
 *     call=publish|play&app=..&name=..&addr=<peer ip>&clientid=<id>&query=..&proto=..
 * (query is what followed '?' in the stream name, as sent; proto is rtmp,
 * http or rtsp: how the viewer came, an addition to nginx-rtmp's fields). 2xx allows;
 * 3xx with a Location renames the stream to the last path segment of the
 * Location; anything else refuses. A timeout or a connection error allows
 * when webhook_fail_open is on and refuses otherwise. on_done is
 *     call=done&type=publish|play&app=..&name=..&addr=..&clientid=..
 * fire and forget.
 *
 * Ownership: the server embeds nothing but a pointer; live_gate_new
 * allocates the gate with copies of every setting it needs (secrets
 * included), so settings may change hands on SIGHUP; live_gate_reload swaps
 * all rules at once or none; live_gate_free aborts webhooks in flight
 * without calling back. Loop-confined; only new/reload block (key files,
 * webhook host names resolved once).
 */
#ifndef SC_LIVE_GATE_H
#define SC_LIVE_GATE_H

#include "http/http_client.h"
#include "live/live_auth.h"

#include <ev.h>
#include <stdint.h>

struct live_gate_config {
    const char *publish_secret, *play_secret; /* "" = no signed keys */
    const char *play_secret_apps;             /* apps whose players need a key; "" = every app */
    const char *publish_keys_file;
    const char *publish_allow, *publish_deny, *play_allow, *play_deny;
    const char *on_publish, *on_play, *on_done; /* http:// URLs, "" = none */
    long webhook_timeout;                       /* ms */
    int webhook_fail_open;
};

struct live_gate_verdict;
/* A webhook answered (or failed) for subject id. The verdict is borrowed. */
typedef void (*live_gate_cb)(void *ctx, uint64_t id, enum live_auth_action act, const struct live_gate_verdict *v);

/* Who asks for what. Strings are borrowed for the call. */
struct live_gate_subject {
    enum live_auth_action act;
    uint64_t id;  /* the connection, echoed to the callback */
    const char *app, *name, *query;
    const struct sockaddr *peer;
    const char *peer_s; /* "ip:port" for logs */
    const char *proto;  /* "http", "rtsp"; NULL = "rtmp" */
    /* Where this subject's webhook answer goes; NULL = the gate's callback.
     * An owner that goes away first calls live_gate_forget(cb_ctx). */
    live_gate_cb cb;
    void *cb_ctx;
};

struct live_gate_verdict {
    enum live_auth_result result;
    const char *detail;                 /* static extra reason (webhook error), or NULL */
    int http_status;                    /* webhook answer, 0 = none */
    char rename[LIVE_AUTH_KEY_MAX];     /* new stream name from a 3xx, "" = unchanged */
};

struct live_gate_pending;

struct live_gate {
    struct ev_loop *loop;
    struct live_auth_rules rules;
    char *secret[2]; /* by enum live_auth_action, NULL = none */
    char *play_apps; /* ",app1,app2," of play_secret_apps, NULL = every app */
    struct http_client_target hook[2];
    int have_hook[2];
    struct http_client_target done;
    int have_done;
    long timeout;
    int fail_open;
    struct http_client http;
    struct live_gate_pending *pending;
    live_gate_cb cb;
    void *cb_ctx;
    uint64_t webhook_calls;
    uint64_t webhook_errors; /* timeouts, refused connections, bad answers */
};

/* Build a gate from cfg. NULL on error with "directive: reason" in err. */
struct live_gate *live_gate_new(struct ev_loop *loop, const struct live_gate_config *cfg, live_gate_cb cb, void *ctx,
                                char *err, size_t errlen);
/* Adopt cfg (SIGHUP). ST_OK, or ST_ERROR with err set and the running rules
 * kept. Webhooks in flight finish under the old URL. */
int live_gate_reload(struct live_gate *g, const struct live_gate_config *cfg, char *err, size_t errlen);
void live_gate_free(struct live_gate *g);

/* Decide. ST_OK: allowed now (v->rename is "": only webhooks rename).
 * ST_ERROR: refused, v->result says why. ST_AGAIN: a webhook is in flight;
 * the callback brings the verdict later, never from inside this call. */
int live_gate_check(struct live_gate *g, const struct live_gate_subject *who, int64_t now, struct live_gate_verdict *v);
/* Webhooks in flight for cb_ctx answer nobody (its owner is going away). */
void live_gate_forget(struct live_gate *g, void *cb_ctx);
/* Tell on_done that an accepted publisher or player left. */
void live_gate_done(struct live_gate *g, const struct live_gate_subject *who);

/* The address of sa without the port ("" when not IPv4/IPv6), as the
 * webhook's addr field has it. */
void live_gate_peer_ip(const struct sockaddr *sa, char *out, size_t cap);

/* The last path segment of a Location (query and fragment cut off) into
 * out. ST_OK, or ST_ERROR when empty or too long. Pure. */
int live_gate_location_name(const char *location, char *out, size_t cap);

#endif
