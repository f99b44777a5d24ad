/*
 * rtsp_server: live streams to RTSP players (RFC 2326; the RFC 7826 parts
 * clients use) as RTP over UDP or interleaved in the RTSP TCP connection,
 * with RTCP sender reports, on the live_server's loop (origin and edge).
 *
 * Methods: OPTIONS, DESCRIBE (SDP of rtsp_sdp.h, Content-Base), SETUP
 * (RTP/AVP[/UDP];unicast;client_port=a-b gets two bound UDP sockets per
 * track, server_port=c-d; RTP/AVP/TCP;interleaved=a-b), PLAY (Range npt=0-,
 * RTP-Info), PAUSE, TEARDOWN, GET_PARAMETER and SET_PARAMETER (keep-alive).
 * Answers 404 (unknown stream, or no codec headers within
 * RTSP_SERVER_DESCRIBE_WAIT_MS), 403 (play authorization), 454 (unknown
 * session), 455 (wrong state), 459 (a second stream on one connection),
 * 461 (no transport we serve), 400 on a malformed request (logged, that
 * connection alone is closed after the answer).
 *
 * Streams: the first DESCRIBE or SETUP of "app/name" holds the live stream
 * (live_server_hold: an edge subscribes upstream) and hangs one
 * rtsp_stream on it as a fanout tap. That object packetizes every frame
 * ONCE (rtp_packetizer; random SSRC, first sequence number and timestamp
 * base per track) into a refcounted blob, keeps the blobs since the last
 * keyframe (a new PLAY starts there) and queues a reference to every
 * PLAYING session. The last session or waiting DESCRIBE of a stream gone,
 * the tap is removed and the stream unheld.
 *
 * Sessions: one per control connection, destroyed with it (and on TEARDOWN,
 * and when neither a request nor RTCP arrived for settings->session_timeout:
 * logged "session ... timed out", counted). A session's queue is a bounded
 * ring of blob references (live_settings player_queue_frames slots,
 * player_max_queue bytes): when full, video drops to the next keyframe
 * (counted), and a session that keeps dropping for player_max_behind is
 * closed. UDP is sent with sendmmsg, at most RTSP_SERVER_UDP_TURN_BYTES per
 * session per loop turn (the rest waits a few ms), a packet the kernel
 * refuses (EAGAIN) is dropped and counted; TCP with writev, the interleaved
 * header coming from the session's own storage. RTCP SR go out at PLAY and
 * every RTSP_SERVER_SR_INTERVAL_MS per track, mapping RTP time to wall
 * clock through one clock per stream (struct rtsp_server_clock) so audio
 * and video stay in sync. RTCP from a player (UDP or an odd interleaved
 * channel) counts as keep-alive.
 *
 * Ownership: the owner embeds struct rtsp_server and the settings (both
 * outlive it); rtsp_server_start allocates per connection (one block, freed
 * on close), per stream and per blob (freed with the last reference).
 * Connections are closed at the end of a loop turn, never inside a callback
 * that still uses them. Loop-confined (the live_server's loop); nothing
 * blocks. rtsp_server_stop must run before live_server_stop.
 */
#ifndef SC_RTSP_SERVER_H
#define SC_RTSP_SERVER_H

#include "core/config.h"
#include "net/net_listener.h"

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#define RTSP_SERVER_DESCRIBE_WAIT_MS 5000 /* DESCRIBE of a stream without codec headers yet */
#define RTSP_SERVER_SR_INTERVAL_MS 5000
#define RTSP_SERVER_UDP_TURN_BYTES (64 * 1024)
/* Media time and wall clock further apart than this re-anchor a stream's
 * clock (new publisher, timeline jump). */
#define RTSP_SERVER_CLOCK_RESYNC_MS 1000

struct rtsp_settings {
    char *listen;           /* rtsp_listen "HOST:PORT", "" = off */
    long session_timeout;   /* ms without a request or RTCP before a session is destroyed */
    char *udp_port_range;   /* "LOW-HIGH" for the server's RTP/RTCP port pairs, "" = any */
};

/* Append the rtsp_* directives (settings embedded at base in the
 * process's settings struct). ST_OK or ST_ERROR (table full). */
int rtsp_server_config_append(struct config_directive *table, size_t cap, size_t *n, size_t base);

/* Parse udp_port_range: "" gives 0-0 (any), "LOW-HIGH" an inclusive range
 * holding at least one even/odd pair with 1024 <= LOW <= HIGH <= 65535.
 * ST_OK or ST_ERROR. Pure. */
int rtsp_server_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi);
/* The checks of settings the config types cannot express (the port range,
 * also while rtsp_listen is off). ST_OK, or ST_ERROR with a log line. */
int rtsp_settings_check(const struct rtsp_settings *s);

/* One stream's media time against the wall clock, shared by its tracks:
 * a sender report says "RTP time of media ms M was sampled at wall time W"
 * with M = media_at(W), so both tracks name the same instant. */
struct rtsp_server_clock {
    int set;
    int64_t media_ms; /* media time of the anchor frame */
    uint64_t wall_ms; /* Unix ms it arrived at */
};

/* A frame of media time media_ms arrived at wall_ms: anchor the clock when
 * unset or when media_at(wall_ms) is off by more than
 * RTSP_SERVER_CLOCK_RESYNC_MS. Returns 1 when it (re)anchored. Pure. */
int rtsp_server_clock_note(struct rtsp_server_clock *c, int64_t media_ms, uint64_t wall_ms);
/* Media time (ms) at wall time wall_ms; the clock must be set. Pure. */
int64_t rtsp_server_clock_media_at(const struct rtsp_server_clock *c, uint64_t wall_ms);

struct rtsp_server_stats {
    uint64_t connections_total;
    uint64_t connections_refused; /* over the live server's max_connections */
    uint64_t bad_requests;        /* malformed requests: answered, connection closed */
    uint64_t sessions_total;
    uint64_t sessions_udp;        /* sessions set up over UDP / TCP interleaved */
    uint64_t sessions_tcp;
    uint64_t sessions_timed_out;
    uint64_t sessions_dropped_slow; /* closed by the drop policy */
    uint64_t not_found;           /* 404: unknown stream or no codec headers in time */
    uint64_t auth_refused;        /* 403 */
    uint64_t packets_out;         /* RTP packets sent */
    uint64_t bytes_out;           /* RTP/RTCP/RTSP bytes sent */
    uint64_t packets_dropped;     /* UDP packets the kernel refused */
    uint64_t frames_dropped;      /* blobs not queued to a full session */
    uint64_t frames_failed;       /* frames the packetizer rejected */
    uint64_t rtcp_in;             /* RTCP packets received */
    uint64_t sender_reports;      /* RTCP SR sent */
    uint32_t connections;         /* now */
    uint32_t sessions;            /* now */
    uint32_t streams;             /* now */
};

struct live_server;
struct rtsp_conn;
struct rtsp_stream;

struct rtsp_server {
    struct ev_loop *loop;
    const struct rtsp_settings *settings;
    struct live_server *live;
    struct net_listener listener;
    struct rtsp_conn *conns;   /* all connections */
    struct rtsp_conn *dirty;   /* connections with output for this turn's flush */
    struct rtsp_conn *closing; /* connections to free at the end of this turn */
    struct rtsp_stream *streams;
    ev_prepare flush_watcher;
    ev_timer tick;             /* timeouts, DESCRIBE deadlines, sender reports */
    ev_timer pace;             /* UDP sessions over their per-turn budget */
    uint16_t port_lo, port_hi, port_next;
    struct rtsp_server_stats stats;
    uint64_t auth_ids; /* clientid of on_play webhook calls */
    int running;
};

/* Listen on settings->listen and serve streams of live (which must run on
 * loop). An empty listen address leaves the server off and returns ST_OK.
 * ST_ERROR (logged): bad port range, or the listener cannot open. */
int rtsp_server_start(struct rtsp_server *srv, struct ev_loop *loop, const struct rtsp_settings *settings,
                      struct live_server *live, int reuse_port);
/* Close the listener (drain): sessions go on. */
void rtsp_server_stop_accepting(struct rtsp_server *srv);
/* Close every connection and session, unhold every stream. Safe when off. */
void rtsp_server_stop(struct rtsp_server *srv);
/* The bound port, -1 when off. */
int rtsp_server_port(const struct rtsp_server *srv);

#endif
