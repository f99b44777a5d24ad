/*
 * net_transport: how a connection moves bytes, as a small ops table
 * (STYLE.md 8): plain TCP here; TLS implements the same ops so protocol code
 * never calls a socket or SSL function directly.
 *
 * All ops are non-blocking and return ST_OK with a byte count, ST_AGAIN
 * (would block), ST_DONE (peer closed, read only) or ST_ERROR (errno-style
 * reason in t->error). The owner embeds the struct; net_transport_close
 * closes the descriptor. Loop-confined.
 */
#ifndef SC_NET_TRANSPORT_H
#define SC_NET_TRANSPORT_H

#include <stddef.h>
#include <sys/uio.h>

struct net_transport;

struct net_transport_ops {
    int (*read)(struct net_transport *t, void *buf, size_t len, size_t *nread);
    int (*writev)(struct net_transport *t, const struct iovec *iov, int iovcnt, size_t *nwritten);
    void (*close)(struct net_transport *t);
};

struct net_transport {
    const struct net_transport_ops *ops;
    int fd;
    int err;          /* errno of the last ST_ERROR */
    void *impl;       /* TLS state, NULL for TCP */
};

/* Wrap an accepted, already non-blocking TCP socket. */
void net_transport_tcp_init(struct net_transport *t, int fd);

static inline int net_transport_read(struct net_transport *t, void *buf, size_t len, size_t *nread)
{
    return t->ops->read(t, buf, len, nread);
}
static inline int net_transport_writev(struct net_transport *t, const struct iovec *iov, int iovcnt, size_t *n)
{
    return t->ops->writev(t, iov, iovcnt, n);
}
static inline void net_transport_close(struct net_transport *t)
{
    if (t->ops)
        t->ops->close(t);
}

#endif
