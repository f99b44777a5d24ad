/*
 * net_dial: background name resolution (getaddrinfo_a, polled) and a
 * non-blocking connect over each resolved address in turn.
 */
#include "net/net_dial.h"

#include "core/status.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct net_dial_lookup {
    struct gaicb cb;          /* getaddrinfo_a request (async lookups only) */
    struct addrinfo hints;
    char host[NET_DIAL_HOST_MAX];
    char port[8];
    int async;                /* cb is (or was) with the resolver thread */
    struct addrinfo *list;    /* resolved addresses, NULL while resolving */
    struct net_dial_lookup *next; /* parked list */
};

/* Cancelled lookups the resolver thread still owns. */
static struct net_dial_lookup *parked;

static void lookup_free(struct net_dial_lookup *l)
{
    if (l->list)
        freeaddrinfo(l->list);
    free(l);
}

static void reap_parked(void)
{
    struct net_dial_lookup **pp = &parked;
    while (*pp) {
        struct net_dial_lookup *l = *pp;
        if (gai_error(&l->cb) == EAI_INPROGRESS) {
            pp = &l->next;
            continue;
        }
        *pp = l->next;
        l->list = l->cb.ar_result;
        lookup_free(l);
    }
}

/* Release a lookup whatever its state; one still running gets parked. */
static void lookup_drop(struct net_dial_lookup *l)
{
    if (!l)
        return;
    if (l->async && !l->list) {
        int rc = gai_cancel(&l->cb);
        if (rc == EAI_NOTCANCELED) {
            l->next = parked;
            parked = l;
            return;
        }
        if (rc == EAI_ALLDONE)
            l->list = l->cb.ar_result;
    }
    lookup_free(l);
}

static void set_error(struct net_dial *d, const char *what, const char *why)
{
    snprintf(d->error, sizeof(d->error), "%s %.64s:%d: %.100s", what, d->host, d->port, why);
}

/* The address tried is worth naming only when the host was a name. */
static void set_connect_error(struct net_dial *d, int err)
{
    char why[128];
    if (strncmp(d->peer, d->host, strlen(d->host)) == 0 || (d->peer[0] == '[' && strstr(d->peer, d->host)))
        snprintf(why, sizeof(why), "%s", strerror(err));
    else
        snprintf(why, sizeof(why), "%s (%s)", strerror(err), d->peer);
    set_error(d, "connect to", why);
}

static void format_peer(const struct addrinfo *ai, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ai->ai_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ai->ai_addr;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        port = ntohs(s->sin_port);
        snprintf(out, len, "%s:%d", ip, port);
    } else if (ai->ai_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ai->ai_addr;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        port = ntohs(s->sin6_port);
        snprintf(out, len, "[%s]:%d", ip, port);
    } else {
        snprintf(out, len, "?");
    }
}

/* Start connecting to the next address. ST_AGAIN (in progress, d->fd set),
 * ST_OK (connected at once) or ST_ERROR (none left; d->error says why). */
static int try_next(struct net_dial *d)
{
    int i = 0;
    for (struct addrinfo *ai = d->lookup->list; ai; ai = ai->ai_next, i++) {
        if (i < d->next_addr)
            continue;
        d->next_addr = i + 1;
        format_peer(ai, d->peer, sizeof(d->peer));
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            set_error(d, "socket for", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            d->fd = fd;
            return ST_OK;
        }
        if (errno == EINPROGRESS) {
            d->fd = fd;
            return ST_AGAIN;
        }
        set_connect_error(d, errno);
        close(fd);
    }
    if (!d->error[0])
        set_error(d, "connect to", "no usable address");
    return ST_ERROR;
}

static int finish(struct net_dial *d, int rc)
{
    if (rc != ST_AGAIN) {
        lookup_drop(d->lookup);
        d->lookup = NULL;
    }
    return rc;
}

int net_dial_start(struct net_dial *d, const char *host, int port)
{
    reap_parked();
    memset(d, 0, sizeof(*d));
    d->fd = -1;
    d->port = port;
    if (snprintf(d->host, sizeof(d->host), "%s", host) >= (int)sizeof(d->host) || !host[0] || port < 1 ||
        port > 65535) {
        snprintf(d->error, sizeof(d->error), "bad address %.64s:%d", host, port);
        return ST_ERROR;
    }
    struct net_dial_lookup *l = calloc(1, sizeof(*l));
    if (!l) {
        set_error(d, "dial", "out of memory");
        return ST_ERROR;
    }
    d->lookup = l;
    /* "localhost" is what tests and single-host setups use: no resolver. */
    snprintf(l->host, sizeof(l->host), "%s", strcmp(host, "localhost") == 0 ? "127.0.0.1" : host);
    snprintf(l->port, sizeof(l->port), "%d", port);
    l->hints.ai_family = AF_UNSPEC;
    l->hints.ai_socktype = SOCK_STREAM;
    l->hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    unsigned char tmp[16];
    if (inet_pton(AF_INET, l->host, tmp) == 1 || inet_pton(AF_INET6, l->host, tmp) == 1) {
        /* Numeric: getaddrinfo only parses, it never asks DNS. */
        l->hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
        int rc = getaddrinfo(l->host, l->port, &l->hints, &l->list);
        if (rc != 0) {
            set_error(d, "resolve", gai_strerror(rc));
            return finish(d, ST_ERROR);
        }
        return finish(d, try_next(d));
    }
    l->cb.ar_name = l->host;
    l->cb.ar_service = l->port;
    l->cb.ar_request = &l->hints;
    struct gaicb *list[1] = {&l->cb};
    int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    if (rc != 0) {
        set_error(d, "resolve", gai_strerror(rc));
        return finish(d, ST_ERROR);
    }
    l->async = 1;
    return ST_AGAIN;
}

int net_dial_poll(struct net_dial *d)
{
    reap_parked();
    if (!d->lookup)
        return d->fd >= 0 ? ST_OK : ST_ERROR;
    struct net_dial_lookup *l = d->lookup;
    if (!l->list) {
        int rc = gai_error(&l->cb);
        if (rc == EAI_INPROGRESS)
            return ST_AGAIN;
        if (rc != 0) {
            set_error(d, "resolve", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
            return finish(d, ST_ERROR);
        }
        l->list = l->cb.ar_result;
        if (!l->list) {
            set_error(d, "resolve", "no address");
            return finish(d, ST_ERROR);
        }
        return finish(d, try_next(d));
    }
    if (d->fd < 0)
        return finish(d, try_next(d));
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getpeername(d->fd, (struct sockaddr *)&ss, &sl) == 0)
            return finish(d, ST_OK);
        if (errno == ENOTCONN)
            return ST_AGAIN; /* polled before the socket became writable */
        err = errno;
    }
    set_connect_error(d, err);
    close(d->fd);
    d->fd = -1;
    return finish(d, try_next(d));
}

int net_dial_take(struct net_dial *d)
{
    int fd = d->fd;
    d->fd = -1;
    return fd;
}

void net_dial_cancel(struct net_dial *d)
{
    reap_parked();
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    lookup_drop(d->lookup);
    d->lookup = NULL;
}
