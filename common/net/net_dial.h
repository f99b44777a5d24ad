/*
 * net_dial: an outgoing TCP connection that never blocks the loop: the host
 * name is resolved in the background (glibc getaddrinfo_a, which runs the
 * lookup on its own helper thread), then a non-blocking connect() runs; the
 * owner polls.
 *
 * Use: net_dial_start, then net_dial_poll whenever d->fd becomes writable
 * (d->fd >= 0: connecting) or after a short timer (d->fd < 0: still
 * resolving; nothing to watch). After ST_OK the caller takes the connected,
 * non-blocking socket with net_dial_take (SIGPIPE-free writes are the
 * transport's job).
 * Numeric addresses and "localhost" skip the resolver.
 *
 * Each resolved address is tried in turn (IPv4 and IPv6 as the resolver
 * orders them) until one connects.
 *
 * Lifetime: the owner embeds struct net_dial and calls net_dial_cancel when
 * it gives up (a finished or failed dial needs nothing). A lookup still
 * running on the resolver thread when cancelled cannot be freed yet: it is
 * parked and reaped by a later start/poll/cancel (or left to process exit),
 * so the owner may free its struct at once. Loop-confined (the parked list
 * is process-wide and not locked).
 *
 * Returns: ST_OK / ST_AGAIN / ST_ERROR with a reason in d->error.
 */
#ifndef SC_NET_DIAL_H
#define SC_NET_DIAL_H

#include <sys/socket.h>

#define NET_DIAL_HOST_MAX 256

struct net_dial_lookup; /* private: the background lookup */

struct net_dial {
    int fd;                         /* the connecting / connected socket, -1 */
    char host[NET_DIAL_HOST_MAX];
    int port;
    char error[192];                /* why ST_ERROR */
    char peer[64];                  /* "ip:port" being tried / connected */
    /* private */
    struct net_dial_lookup *lookup; /* while resolving or trying addresses */
    int next_addr;                  /* index of the next address to try */
};

/* Begin dialing host:port (host without brackets). ST_AGAIN (poll later),
 * ST_OK (already connected: rare, loopback) or ST_ERROR. */
int net_dial_start(struct net_dial *d, const char *host, int port);
/* Advance. ST_OK: connected (net_dial_take). ST_AGAIN: still going
 * (watch d->fd for writability when >= 0, else poll again soon). ST_ERROR:
 * every address failed; nothing is left open. */
int net_dial_poll(struct net_dial *d);
/* The connected socket after ST_OK; the dial forgets it (d->fd = -1). */
int net_dial_take(struct net_dial *d);
/* Abandon a dial in progress (closes the socket, parks the lookup). */
void net_dial_cancel(struct net_dial *d);

#endif
