#include "net/net_listener.h"

#include "core/log.h"
#include "core/status.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int net_parse_address(const char *spec, struct sockaddr_storage *out, socklen_t *len)
{
    char host[96];
    const char *colon;
    memset(out, 0, sizeof(*out));
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
            return ST_ERROR;
        memcpy(host, spec + 1, (size_t)(end - spec - 1));
        host[end - spec - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof(host))
            return ST_ERROR;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
    }
    /* Digits only: strtol alone would take " 80", "+80" and "-0". */
    const char *digits = colon + 1;
    size_t ndigits = strspn(digits, "0123456789");
    if (ndigits == 0 || ndigits > 5 || digits[ndigits] != '\0')
        return ST_ERROR;
    long port = strtol(digits, NULL, 10);
    if (port > 65535)
        return ST_ERROR;
    struct sockaddr_in *in4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    if (host[0] == '\0' || strcmp(host, "*") == 0) {
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof(*in4);
    } else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
    } else {
        return ST_ERROR;
    }
    return ST_OK;
}

int net_resolve_address(const char *spec, char *out, size_t len)
{
    struct sockaddr_storage sa;
    socklen_t slen;
    if (net_parse_address(spec, &sa, &slen) == ST_OK) {
        snprintf(out, len, "%s", spec);
        return ST_OK;
    }
    const char *colon = strrchr(spec, ':');
    char host[256];
    if (!colon || (size_t)(colon - spec) >= sizeof(host) || colon == spec) {
        LOG_ERROR("address '%s': want HOST:PORT", spec);
        return ST_ERROR;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        LOG_ERROR("address '%s': cannot resolve %s: %s", spec, host, gai_strerror(rc));
        return ST_ERROR;
    }
    char ip[INET6_ADDRSTRLEN];
    const void *a = res->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                                              : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
    inet_ntop(res->ai_family, a, ip, sizeof(ip));
    snprintf(out, len, res->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip, colon + 1);
    freeaddrinfo(res);
    return ST_OK;
}

void net_format_address(const struct sockaddr_storage *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
        port = ntohs(in4->sin_port);
        snprintf(buf, len, "%s:%d", ip, port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%d", ip, port);
    } else {
        snprintf(buf, len, "unix");
    }
}

static void listener_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct net_listener *l = (struct net_listener *)w;
    /* Accept a bounded batch per wake-up so one busy listener cannot starve
     * the loop. */
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                LOG_WARN("listener %s: accept: %s", l->addr, strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        l->on_accept(l, fd, &peer);
    }
}

int net_listener_open(struct net_listener *l, struct ev_loop *loop, const char *addr, int reuse_port,
                      net_listener_accept_cb cb, void *owner)
{
    struct sockaddr_storage sa;
    socklen_t slen;
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    snprintf(l->addr, sizeof(l->addr), "%s", addr);
    char resolved[300];
    if (net_resolve_address(addr, resolved, sizeof(resolved)) != ST_OK ||
        net_parse_address(resolved, &sa, &slen) != ST_OK) {
        LOG_ERROR("listener: bad address '%s' (want HOST:PORT)", addr);
        return ST_ERROR;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        LOG_ERROR("listener %s: socket: %s", addr, strerror(errno));
        return ST_ERROR;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuse_port)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, slen) != 0 || listen(fd, 1024) != 0) {
        LOG_ERROR("listener %s: %s", addr, strerror(errno));
        close(fd);
        return ST_ERROR;
    }
    l->fd = fd;
    l->on_accept = cb;
    l->owner = owner;
    ev_io_init(&l->watcher, listener_cb, fd, EV_READ);
    ev_io_start(loop, &l->watcher);
    return ST_OK;
}

void net_listener_close(struct net_listener *l, struct ev_loop *loop)
{
    if (l->fd < 0)
        return;
    ev_io_stop(loop, &l->watcher);
    close(l->fd);
    l->fd = -1;
}

int net_listener_port(const struct net_listener *l)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    if (getsockname(l->fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    if (sa.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&sa)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
}
