/*
 * net_listener: a listening TCP socket on a libev loop that hands each
 * accepted, non-blocking connection to a callback.
 *
 * Addresses are "HOST:PORT", "[V6]:PORT" or ":PORT" (all IPv4 interfaces);
 * a host name is resolved once when the listener opens (boot time). With reuse_port set, several processes can
 * bind the same port (SO_REUSEPORT) and the kernel spreads connections.
 * The owner embeds the struct; net_listener_close stops and closes it. The
 * accept callback owns the fd it is given. Loop-confined.
 */
#ifndef SC_NET_LISTENER_H
#define SC_NET_LISTENER_H

#include <ev.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct net_listener;
typedef void (*net_listener_accept_cb)(struct net_listener *l, int fd, const struct sockaddr_storage *peer);

struct net_listener {
    ev_io watcher;
    int fd;
    net_listener_accept_cb on_accept;
    void *owner;
    char addr[128]; /* as configured, for logs */
};

/* Parse "HOST:PORT" into a sockaddr. ST_OK or ST_ERROR. */
int net_parse_address(const char *spec, struct sockaddr_storage *out, socklen_t *len);
/* Turn "HOST:PORT" with a host name into "IP:PORT" (numeric hosts are
 * copied as they are). Blocks on DNS: boot time only, never on a loop that
 * serves clients. ST_OK or ST_ERROR (logged). */
int net_resolve_address(const char *spec, char *out, size_t len);

/* "ip:port" of an address, for logs. */
void net_format_address(const struct sockaddr_storage *sa, char *buf, size_t len);

/* Bind, listen and start accepting. ST_OK, or ST_ERROR with a log line. */
int net_listener_open(struct net_listener *l, struct ev_loop *loop, const char *addr, int reuse_port,
                      net_listener_accept_cb cb, void *owner);
void net_listener_close(struct net_listener *l, struct ev_loop *loop);
/* The port actually bound (useful with port 0). */
int net_listener_port(const struct net_listener *l);

#endif
