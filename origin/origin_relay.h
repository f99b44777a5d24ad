/*
 * origin_relay: push (restream) of the streams published to this origin to
 * external RTMP/RTMPS servers: YouTube, Twitch, an nginx-rtmp, another
 * origin of ours.
 *
 * Policy (directive relay_push): a list of "PATTERN=URL" items. PATTERN is
 * an application ("live": every stream published under live/) or one
 * stream key ("live/cam1"). For an application, live/<name> goes to
 * URL/<name>; a URL containing "{name}" gets the name substituted instead;
 * for a single stream the URL is used as it is (it names the remote stream,
 * often a secret stream key). Every matching item is one destination; each
 * published stream gets its own push session per destination.
 *
 * A push session: resolve (net_dial, in the background), TCP or TLS
 * (net_tls client, relay_tls_verify), RTMP publish (rtmp_client), then
 * metadata, codec headers and the cached GOP from the stream, then every
 * frame the stream's tap sees. Frames are queued by reference in a
 * fanout_player (bounded by relay_queue_bytes: over it video drops to the
 * next keyframe, counted), flushed with writev when the socket is writable:
 * a slow destination only ever loses its own frames. When the remote gave
 * stream id 1, the frames' shared RTMP bytes go out as they are (zero
 * copy); any other id costs one re-encoded copy per frame.
 *
 * Failures (refused, closed, stalled for relay_timeout, dropping for
 * relay_timeout, setup not done within relay_timeout) close the session and
 * retry after an exponential backoff from relay_reconnect_min to
 * relay_reconnect_max (with +-10 % jitter), reset once a session stayed up
 * for ORIGIN_RELAY_GOOD_SESSION_MS. The session ends when the publisher
 * does (FCUnpublish + deleteStream, best effort).
 *
 * Loops: our pushes say how many of our relays the stream came through
 * ("sc-relay-hops=N" in connect's flashVer), and a stream that arrives
 * after ORIGIN_RELAY_MAX_HOPS of them is not pushed further (logged,
 * counted), so rules that feed each other (live -> live/{name}x on the same
 * origin, or A -> B -> A under other names) stop instead of chaining
 * forever. A relay through another product in between resets the count.
 *
 * Stats per session (state, connects, failures, bytes, frames dropped, last
 * error) are served as JSON on GET /v1/relays and as sc_relay_* metrics.
 * Stream names of the remote side never appear there or in logs: for
 * services they are secret keys; the destination shows as its tcUrl.
 *
 * Memory: the rules and the TLS client context are boot-time (start/stop);
 * each published stream with a destination gets one small record, each
 * session one allocation (queue slots and OpenSSL buffers as it runs), all
 * freed when the publisher leaves. Loop-confined; nothing here blocks.
 */
#ifndef SC_ORIGIN_RELAY_H
#define SC_ORIGIN_RELAY_H

#include "core/buf.h"
#include "core/config.h"
#include "live/live_api.h"
#include "live/live_server.h"

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#define ORIGIN_RELAY_GOOD_SESSION_MS 10000 /* up this long: the next failure retries at the minimum */
#define ORIGIN_RELAY_MAX_HOPS 4            /* relays of ours a stream may come through and still be pushed */

struct origin_relay_settings {
    char *push;          /* relay_push: "PATTERN=URL, ..." ("" = no relays) */
    long reconnect_min;  /* ms before the first retry */
    long reconnect_max;  /* ms, cap of the doubling */
    size_t queue_bytes;  /* media queued per destination */
    long timeout;        /* ms: connect+publish setup, a stalled socket, continuous dropping */
    int tls_verify;      /* rtmps://: verify the certificate chain and host name */
};

/* Append the relay_* directives (base = offset of the settings struct in
 * the process's settings). ST_OK or ST_ERROR (table full). */
int origin_relay_config_append(struct config_directive *table, size_t cap, size_t *n, size_t base);

struct origin_relay_rule;   /* private */
struct origin_relay_stream; /* private: one published stream with destinations */

struct origin_relay_totals {
    uint64_t sessions;       /* push sessions created (stream x destination) */
    uint64_t connects;       /* times a session reached publishing */
    uint64_t failures;       /* sessions that failed (each retried) */
    uint64_t bytes_out;      /* written to destinations, ended sessions included */
    uint64_t frames_dropped; /* dropped by full destination queues */
    uint64_t loops_stopped;  /* streams not pushed: over ORIGIN_RELAY_MAX_HOPS relays already */
};

struct origin_relay {
    struct ev_loop *loop;
    struct live_server *srv;
    const struct origin_relay_settings *cfg;
    struct origin_relay_rule *rules;
    size_t nrules;
    struct origin_relay_stream *streams;
    struct net_tls_context *tls; /* client context when a rule is rtmps://, else NULL */
    struct origin_relay_totals totals;
    uint32_t rng;                /* backoff jitter */
    int started;
};

/* Parse relay_push only (--check-config, reload). ST_OK or ST_ERROR (logged
 * as origin_relay_start does). */
int origin_relay_check(const struct origin_relay_settings *cfg);
/* Parse relay_push and get ready. ST_OK (also with no rules) or ST_ERROR
 * (a bad item, logged as "relay_push: item N ...: reason"). */
int origin_relay_start(struct origin_relay *r, struct ev_loop *loop, struct live_server *srv,
                       const struct origin_relay_settings *cfg);
/* End every session and free everything. Call before live_server_stop:
 * the streams' taps must go while the streams exist. */
void origin_relay_stop(struct origin_relay *r);

/* live_server hooks (chained by the process): start the sessions of a
 * newly published stream / end them. Ignored when not started. */
void origin_relay_publish_started(struct origin_relay *r, struct live_stream *st);
void origin_relay_publish_stopped(struct origin_relay *r, struct live_stream *st);

/* Serve GET /v1/relays on api and add the sc_relay_* lines to its
 * /metrics. The relay must outlive api. ST_OK or ST_ERROR (route table
 * full). */
int origin_relay_attach_api(struct origin_relay *r, struct live_api *api);

/* The /v1/relays document: {"totals":{...},"relays":[{...}, ...]}. */
void origin_relay_json(const struct origin_relay *r, struct buf *b);

#endif
