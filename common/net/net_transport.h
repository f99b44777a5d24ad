/*
 * net_transport: how a connection moves bytes, as a small ops table
 * (STYLE.md 8): plain TCP here; TLS implements the same ops so protocol code
 * never calls a socket or SSL function directly.
 *
 * All ops are non-blocking and return ST_OK with a byte count, ST_AGAIN
 * (would block), ST_DONE (peer closed, read only) or ST_ERROR (errno-style
 * reason in t->err). The owner embeds the struct; net_transport_close
 * closes the descriptor. Loop-confined.
 *
 * After ST_AGAIN, want_write says what to wait for: 1 = the fd writable,
 * 0 = readable. For TCP that is always the op's own direction; TLS (see
 * net_tls.h) may need to write from a read or read from a writev, may
 * return ST_AGAIN from writev with *nwritten > 0, holds `unsent` bytes that
 * only a later writev (iovcnt 0 is fine) pushes out, and sets `pending`
 * while decrypted input waits inside it. TCP leaves unsent/pending at 0.
 */
#ifndef SC_NET_TRANSPORT_H
#define SC_NET_TRANSPORT_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct net_transport;

struct net_transport_ops {
    int (*read)(struct net_transport *t, void *buf, size_t len, size_t *nread);
    int (*writev)(struct net_transport *t, const struct iovec *iov, int iovcnt, size_t *nwritten);
    void (*close)(struct net_transport *t);
    /* Optional: end the write side (TLS sends close_notify first); NULL =
     * shutdown(fd, SHUT_WR). */
    void (*shutdown)(struct net_transport *t);
};

struct net_transport {
    const struct net_transport_ops *ops;
    int fd;
    int err;          /* errno of the last ST_ERROR */
    void *impl;       /* TLS state, NULL for TCP */
    int want_write;   /* after ST_AGAIN: 1 wait for writable, 0 for readable */
    size_t unsent;    /* bytes accepted by writev, not yet on the socket (TLS) */
    int pending;      /* input buffered above the fd: read without waiting (TLS) */
    const char *error; /* reason of the last ST_ERROR when errno says too little (TLS), else NULL */
};

/* Wrap an accepted, already non-blocking TCP socket (writes never raise
 * SIGPIPE). */
void net_transport_tcp_init(struct net_transport *t, int fd);

static inline int net_transport_read(struct net_transport *t, void *buf, size_t len, size_t *nread)
{
    return t->ops->read(t, buf, len, nread);
}
static inline int net_transport_writev(struct net_transport *t, const struct iovec *iov, int iovcnt, size_t *n)
{
    return t->ops->writev(t, iov, iovcnt, n);
}
static inline void net_transport_shutdown(struct net_transport *t)
{
    if (t->ops && t->ops->shutdown)
        t->ops->shutdown(t);
    else
        shutdown(t->fd, SHUT_WR);
}
static inline void net_transport_close(struct net_transport *t)
{
    if (t->ops)
        t->ops->close(t);
}

#endif
