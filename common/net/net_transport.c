#include "net/net_transport.h"

#include "core/status.h"

#include <errno.h>
#include <unistd.h>

static int tcp_read(struct net_transport *t, void *buf, size_t len, size_t *nread)
{
    for (;;) {
        ssize_t n = read(t->fd, buf, len);
        if (n > 0) {
            *nread = (size_t)n;
            return ST_OK;
        }
        *nread = 0;
        if (n == 0)
            return ST_DONE;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return ST_AGAIN;
        t->err = errno;
        return ST_ERROR;
    }
}

static int tcp_writev(struct net_transport *t, const struct iovec *iov, int iovcnt, size_t *nwritten)
{
    for (;;) {
        ssize_t n = writev(t->fd, iov, iovcnt);
        if (n >= 0) {
            *nwritten = (size_t)n;
            return ST_OK;
        }
        *nwritten = 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return ST_AGAIN;
        t->err = errno;
        return ST_ERROR;
    }
}

static void tcp_close(struct net_transport *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static const struct net_transport_ops tcp_ops = {.read = tcp_read, .writev = tcp_writev, .close = tcp_close};

void net_transport_tcp_init(struct net_transport *t, int fd)
{
    t->ops = &tcp_ops;
    t->fd = fd;
    t->err = 0;
    t->impl = NULL;
}
