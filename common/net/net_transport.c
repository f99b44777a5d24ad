#include "net/net_transport.h"

#include "core/status.h"

#include <errno.h>
#include <sys/socket.h>
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
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            t->want_write = 0;
            return ST_AGAIN;
        }
        t->err = errno;
        return ST_ERROR;
    }
}

static int tcp_writev(struct net_transport *t, const struct iovec *iov, int iovcnt, size_t *nwritten)
{
    for (;;) {
        /* sendmsg = writev on a socket, with MSG_NOSIGNAL: a peer that left
         * is EPIPE, not SIGPIPE, even where the process keeps the default. */
        struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
        ssize_t n = sendmsg(t->fd, &mh, MSG_NOSIGNAL);
        if (n >= 0) {
            *nwritten = (size_t)n;
            return ST_OK;
        }
        *nwritten = 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            t->want_write = 1;
            return ST_AGAIN;
        }
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
    t->want_write = 0;
    t->unsent = 0;
    t->pending = 0;
    t->error = NULL;
}
