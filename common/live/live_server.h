/*
 * live_server: an RTMP server on one libev loop: the listener, every
 * connection (handshake, session, output queue), the stream registry and
 * the policies that decide publish/play (one publisher per key, takeover of a
 * dead publisher, players wait for a publisher).
 *
 * Flow: reads feed rtmp_session; a publisher's media become shared frames
 * pushed to the stream's players; players' queues are flushed once per loop
 * turn (ev_prepare) with one writev per player. Connections that fail are
 * closed at the end of the turn, never inside a callback that still uses them.
 *
 * Ownership: the owner (origin or edge process) embeds struct live_server
 * and the settings; live_server_start allocates per-connection state as
 * clients arrive (one malloc each, freed on close); live_server_stop closes
 * everything. Loop-confined; nothing here blocks.
 */
#ifndef SC_LIVE_SERVER_H
#define SC_LIVE_SERVER_H

#include "live/live_ipcount.h"
#include "live/live_registry.h"
#include "net/net_listener.h"

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

struct live_settings {
    char *rtmp_listen;          /* "HOST:PORT" */
    char *rtmps_listen;         /* RTMP over TLS "HOST:PORT", empty = off */
    char *tls_cert;             /* PEM certificate (chain) for RTMPS and HTTPS */
    char *tls_key;              /* PEM private key */
    long chunk_size;            /* our output chunk size */
    long max_chunk_size;        /* largest peer chunk size */
    size_t max_message_size;    /* largest peer message */
    long handshake_timeout;     /* ms until handshake+connect must be done */
    long publish_idle_timeout;  /* ms of publisher silence before closing it */
    long publish_takeover_idle; /* ms of silence after which a new publisher takes the key */
    size_t player_max_queue;    /* bytes queued per player before dropping */
    long player_queue_frames;   /* frame slots per player */
    long player_max_behind;     /* ms of continuous dropping before disconnecting */
    size_t socket_sndbuf;       /* SO_SNDBUF per connection, 0 = kernel default */
    size_t socket_notsent_lowat; /* TCP_NOTSENT_LOWAT per connection, 0 = kernel default */
    long player_max_delay;      /* ms of media queued per player before dropping, 0 = bytes only */
    long merge_interval;        /* ms between flushes of live media, 0 = every loop turn */
    long unpublish_wait;        /* ms players wait for a returning publisher before UnpublishNotify */
    long gop_cache_frames;      /* frames in the GOP cache, 0 = no GOP cache */
    size_t gop_cache_bytes;
    long max_connections;       /* total connections accepted */
    long max_connections_per_ip; /* open connections per peer address, 0 = no limit */
    long max_streams;           /* streams published here at once, 0 = no limit */
    long player_max_bitrate;    /* bits/s written to one player, 0 = no cap */
    long idle_timeout;          /* ms a connected client may neither publish nor play, 0 = off */
    long http_timeout;          /* ms for an HTTP request head (slowloris), an async answer, a stalled write */
    size_t http_max_header_bytes; /* HTTP header section cap (431 above) */
    long http_max_headers;      /* HTTP header field count cap (431 above) */
    /* Authorization (live_gate.h, live_auth.h); strings "" = off. */
    char *publish_secret;       /* HMAC key of signed publish keys */
    char *play_secret;          /* HMAC key of signed play keys */
    char *play_secret_apps;     /* apps where play_secret applies, "" = all */
    char *publish_keys_file;    /* "app=path, ..." or "path": static key lists */
    char *publish_allow, *publish_deny; /* CIDR lists */
    char *play_allow, *play_deny;
    char *on_publish, *on_play, *on_done; /* webhook URLs */
    long webhook_timeout;       /* ms */
    int webhook_fail_open;      /* a failed webhook allows */
    /* HTTP delivery (live_http.h) and HLS (hls_segment_clock.h, hls_stream.h). */
    int http_delivery;          /* serve HTTP-FLV/HLS/status page */
    long hls_segment_duration;  /* ms, segment cut target where ingested */
    long hls_part_duration;     /* ms, LL-HLS part target */
    long hls_window;            /* segments listed */
    size_t hls_max_bytes;       /* per stream and format */
    long hls_idle_timeout;      /* ms without requests before a rendition goes */
    long http_flv_max_players;  /* 0 = no own limit */
    int reuse_port;             /* SO_REUSEPORT on the listener */
    int allow_publish;          /* accept publishers (origin) */
    int allow_play;             /* accept players (edge; origin standalone play) */
};

struct live_conn;
struct live_gate;
struct live_http;
struct rtsp_server_stats;
struct live_server;
struct net_tls_context;
struct rtmp_session;
struct rtmp_session_verdict;

/* What the process (origin or edge) adds to the generic server. Every hook
 * may be NULL. They run on the server's loop, from inside its callbacks. */
struct live_hooks {
    void *ctx;
    /* A client may connect (edges refuse when over their load limit). */
    int (*connect_check)(void *ctx, struct rtmp_session *s, struct rtmp_session_verdict *v);
    /* A publish passed the local checks. ST_OK accepts now, ST_ERROR refuses
     * (fill v), ST_AGAIN decides later via live_server_publish_decided. */
    int (*publish_check)(void *ctx, struct live_server *srv, uint64_t conn_id, const char *key,
                         struct rtmp_session_verdict *v);
    void (*publish_started)(void *ctx, struct live_stream *st);
    void (*publish_stopped)(void *ctx, struct live_stream *st);
    /* Every frame a local publisher sends, before players get it. */
    void (*frame)(void *ctx, struct live_stream *st, struct fanout_frame *f);
    /* A player attached (st->publisher and st->source may both be NULL). */
    void (*play_started)(void *ctx, struct live_stream *st);
    /* The last player of st left. */
    void (*stream_unwatched)(void *ctx, struct live_stream *st);
    /* A play, before it joins a live stream: is it a recording? ST_OK: path
     * (len bytes) is the FLV file to play (record_vod_player.h: paced,
     * seekable, pausable); ST_DONE: not a recording, play live; ST_ERROR:
     * refused (fill v). NULL: every play is live. */
    int (*vod_path)(void *ctx, const struct rtmp_session *s, char *path, size_t len,
                    struct rtmp_session_verdict *v);
};

struct live_server_stats {
    uint64_t connections_total;
    uint64_t connections_refused;
    uint64_t protocol_errors;
    uint64_t publishes;
    uint64_t publish_refused;
    uint64_t plays;
    uint64_t players_dropped_slow;
    uint64_t bytes_out; /* written to clients */
    uint64_t bytes_in;  /* read from clients */
    /* Limits, one counter per reason (each also logs once with the peer). */
    uint64_t refused_max_connections;  /* over max_connections */
    uint64_t refused_per_ip;           /* over max_connections_per_ip */
    uint64_t refused_max_streams;      /* publish of a new key over max_streams */
    uint64_t closed_handshake_timeout; /* handshake+connect not done in handshake_timeout */
    uint64_t closed_idle_timeout;      /* connected, no publish/play within idle_timeout */
    uint64_t closed_chunk_size;        /* Set Chunk Size over max_chunk_size (or invalid) */
    uint64_t closed_message_size;      /* message over max_message_size */
    uint64_t players_throttled;        /* times a player's player_max_bitrate bucket ran dry */
    /* Authorization refusals by reason (publish and play together). */
    uint64_t auth_refused_ip;        /* publish_/play_ allow/deny lists */
    uint64_t auth_refused_missing;   /* no signed key where one is required */
    uint64_t auth_refused_malformed; /* exp/sig unreadable */
    uint64_t auth_refused_signature; /* wrong signature (or tampered name) */
    uint64_t auth_refused_expired;   /* genuine signed key past its exp */
    uint64_t auth_refused_key;       /* not in the static key list */
    uint64_t auth_refused_webhook;   /* webhook said no, or failed with fail-open off */
    uint64_t plays_refused;
    uint64_t tls_handshake_failures;   /* RTMPS clients refused by the TLS handshake */
    /* Replication from the origin (edges): losses filled from a snapshot,
     * and losses that could not be (players then wait for a keyframe). */
    uint64_t cluster_repairs;
    uint64_t cluster_gaps;
};

struct live_server {
    struct ev_loop *loop;
    const struct live_settings *settings;
    struct net_listener listener;
    struct net_listener tls_listener; /* rtmps_listen; fd -1 when off */
    struct net_tls_context *tls;      /* from tls_cert/tls_key, NULL when unset;
                                         borrowed by the HTTPS API */
    struct live_registry registry;
    struct live_conn *conns;      /* all connections */
    struct live_conn *dirty;      /* connections with output to flush this turn */
    struct live_conn *closing;    /* connections to free at the end of this turn */
    struct live_conn *merged;     /* connections with live media waiting for the merge timer */
    ev_timer merge_timer;
    uint32_t nconns;
    uint64_t next_conn_id;
    ev_prepare flush_watcher;
    ev_timer sweep_timer;
    struct live_server_stats stats;
    struct live_hooks hooks;
    struct live_ipcount ipcount;  /* open connections per peer address */
    struct live_gate *gate;       /* authorization and webhooks */
    struct live_http *http_delivery; /* HTTP-FLV/HLS state (live_http.h), NULL until an API listener starts it */
    const struct rtsp_server_stats *rtsp_stats; /* the process's RTSP server (set by its owner), NULL = none */
    int stopping;
};

/* Open the listener and start serving. hooks may be NULL. ST_OK or
 * ST_ERROR (logged). */
int live_server_start(struct live_server *srv, struct ev_loop *loop, const struct live_settings *settings,
                      const struct live_hooks *hooks);

/* Answer a publish_check that returned ST_AGAIN. ST_OK when the publisher
 * was still waiting; ST_ERROR when it is gone (the caller undoes what it
 * granted, e.g. releases a claim). */
int live_server_publish_decided(struct live_server *srv, uint64_t conn_id, int ok, const char *code,
                                const char *description);

/* Answer a play that the authorization webhook left pending (the mirror
 * of live_server_publish_decided): ok attaches the player and sends
 * Play.Start, else code/description are sent. ST_OK, or ST_ERROR when the
 * player is gone or was not waiting. */
int live_server_play_decided(struct live_server *srv, uint64_t conn_id, int ok, const char *code,
                             const char *description);

/* SIGHUP: rebuild the authorization rules from the (reloaded) settings.
 * ST_OK, or ST_ERROR (logged) with the previous rules kept. */
int live_server_reload(struct live_server *srv);

/* Close a local publisher (its claim was lost to another node). */
void live_server_kick_publisher(struct live_server *srv, struct live_stream *st, const char *reason);
/* The flashVer the stream's publisher sent in connect ("" without a
 * publisher); relays mark their hop count there (origin_relay.h). */
const char *live_server_publisher_flash_ver(const struct live_stream *st);

/* Send every player of st a status event and, when close is set, close
 * them (e.g. NetStream.Play.StreamNotFound after the wait). */
void live_server_notify_players(struct live_server *srv, struct live_stream *st, const char *code,
                                const char *description, int close);

/* Record the codec configuration of a sequence header (type 8 or 9 FLV
 * body) in st->video / st->audio, for the API and logs. */
void live_server_note_codec(struct live_stream *st, uint8_t type, const uint8_t *body, uint32_t len);

/* The stream's publisher left / a publisher (or upstream epoch) is back:
 * players hear NetStream.Play.UnpublishNotify only if it stays gone for
 * unpublish_wait (checked by the server's sweep). */
void live_server_mark_unpublished(struct live_server *srv, struct live_stream *st);
void live_server_mark_published(struct live_server *srv, struct live_stream *st);

/* Deliver a frame from an upstream source (edge) to st's players. */
void live_server_push(struct live_server *srv, struct live_stream *st, struct fanout_frame *f);

/* Keep the stream `key` ("app/name") alive for a viewer that is not an RTMP
 * player (HLS, HTTP-FLV, RTSP, a recorder, a relay): it exists and is fed
 * (an edge subscribes upstream, as for a player: the play_started hook
 * runs) until the matching unhold. NULL on allocation failure. The pointer
 * stays valid until that unhold. */
struct live_stream *live_server_hold(struct live_server *srv, const char *key);
void live_server_unhold(struct live_server *srv, struct live_stream *st);

/* Stop accepting connections (drain); existing sessions go on. */
void live_server_stop_accepting(struct live_server *srv);

/* Connected players and publishers, for load reports. */
uint32_t live_server_players(const struct live_server *srv);
/* Close every connection and the listener; free the registry. */
void live_server_stop(struct live_server *srv);
/* The bound RTMP port. */
int live_server_port(const struct live_server *srv);
/* The bound RTMPS port, -1 when rtmps_listen is off. */
int live_server_tls_port(const struct live_server *srv);
/* SIGHUP, after the settings were reloaded: when tls_cert/tls_key name
 * other files or the files' contents changed, load them for new TLS
 * connections (RTMPS and HTTPS); sessions already up keep the old
 * certificate. ST_OK (reloaded or unchanged) or ST_ERROR (logged; the
 * previous certificate stays). */
int live_server_reload_tls(struct live_server *srv);

/* Monotonic milliseconds (loop time is cached per iteration: cheap). */
uint64_t live_server_now_ms(const struct live_server *srv);

#endif
