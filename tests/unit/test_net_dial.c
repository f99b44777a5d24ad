/*
 * Unit tests for net_dial: numeric and localhost dials to a listening
 * socket, a refused port, bad arguments, and a background lookup of this
 * host's own name (through getaddrinfo_a). Every wait is bounded.
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "net/net_dial.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int listener(int *port, int any)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 8), 0);
    socklen_t len = sizeof(a);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Poll until the dial settles (5 s at most). */
static int settle(struct net_dial *d, int rc)
{
    for (int i = 0; i < 500 && rc == ST_AGAIN; i++) {
        if (d->fd >= 0) {
            struct pollfd p = {.fd = d->fd, .events = POLLOUT};
            poll(&p, 1, 10);
        } else {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        rc = net_dial_poll(d);
    }
    return rc;
}

static void dial_ok(const char *host)
{
    int port;
    int lfd = listener(&port, 0);
    struct net_dial d;
    int rc = settle(&d, net_dial_start(&d, host, port));
    cr_assert_eq(rc, ST_OK, "%s: %s", host, d.error);
    int fd = net_dial_take(&d);
    cr_assert_geq(fd, 0);
    cr_assert_eq(d.fd, -1);
    cr_assert_eq(strncmp(d.peer, "127.0.0.1:", 10), 0, "%s", d.peer);
    int a = accept(lfd, NULL, NULL);
    cr_assert_geq(a, 0);
    cr_assert_eq(write(fd, "x", 1), 1);
    char c = 0;
    cr_assert_eq(read(a, &c, 1), 1);
    cr_assert_eq(c, 'x');
    net_dial_cancel(&d); /* harmless after take */
    close(a);
    close(fd);
    close(lfd);
}

Test(net_dial, numeric_and_localhost)
{
    dial_ok("127.0.0.1");
    dial_ok("localhost");
}

Test(net_dial, refused_port)
{
    int port;
    int lfd = listener(&port, 0);
    close(lfd); /* nothing listens there now */
    struct net_dial d;
    int rc = settle(&d, net_dial_start(&d, "127.0.0.1", port));
    cr_assert_eq(rc, ST_ERROR);
    cr_assert(strstr(d.error, "refused"), "%s", d.error);
    cr_assert_eq(d.fd, -1);
}

Test(net_dial, bad_arguments)
{
    struct net_dial d;
    cr_assert_eq(net_dial_start(&d, "", 1935), ST_ERROR);
    cr_assert_eq(net_dial_start(&d, "127.0.0.1", 0), ST_ERROR);
    cr_assert_eq(net_dial_start(&d, "127.0.0.1", 70000), ST_ERROR);
    char big[400];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(net_dial_start(&d, big, 1935), ST_ERROR);
    cr_assert_eq(net_dial_start(&d, "300.1.1.1", 1935) == ST_ERROR || d.fd < 0, 1);
    net_dial_cancel(&d);
}

Test(net_dial, cancel_while_connecting)
{
    int port;
    int lfd = listener(&port, 0);
    struct net_dial d;
    int rc = net_dial_start(&d, "127.0.0.1", port);
    cr_assert(rc == ST_AGAIN || rc == ST_OK);
    net_dial_cancel(&d);
    cr_assert_eq(d.fd, -1);
    close(lfd);
}

Test(net_dial, background_lookup_of_own_name)
{
    char name[256];
    cr_assert_eq(gethostname(name, sizeof(name)), 0);
    /* The host name resolves locally (/etc/hosts) where these tests run;
     * anything that does not is not this module's failure. */
    int port;
    int lfd = listener(&port, 1);
    struct net_dial d;
    int rc = net_dial_start(&d, name, port);
    cr_assert(rc == ST_AGAIN || rc == ST_ERROR);
    rc = settle(&d, rc);
    if (rc == ST_OK)
        close(net_dial_take(&d));
    else
        cr_log_warn("own host name %s did not connect: %s", name, d.error);
    net_dial_cancel(&d);
    close(lfd);
}
