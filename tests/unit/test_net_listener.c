/*
 * Unit tests for net_listener: address parsing and formatting (IPv4, [IPv6],
 * ":port", "*:port", and what must be refused: no port, out-of-range or
 * non-numeric ports, host names, overlong hosts), and a real listener on
 * 127.0.0.1:0 accepting one connection through a libev loop.
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "net/net_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void roundtrip(const char *spec, int family, const char *formatted)
{
    struct sockaddr_storage sa;
    socklen_t len = 0;
    cr_assert_eq(net_parse_address(spec, &sa, &len), ST_OK, "'%s' refused", spec);
    cr_assert_eq(sa.ss_family, family, "'%s'", spec);
    cr_assert_eq(len, family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    char out[128];
    net_format_address(&sa, out, sizeof(out));
    cr_assert_str_eq(out, formatted, "'%s' formats as '%s'", spec, out);
}

Test(address, good)
{
    roundtrip("127.0.0.1:1935", AF_INET, "127.0.0.1:1935");
    roundtrip("0.0.0.0:0", AF_INET, "0.0.0.0:0");
    roundtrip("10.1.2.3:65535", AF_INET, "10.1.2.3:65535");
    roundtrip(":1935", AF_INET, "0.0.0.0:1935");
    roundtrip("*:1936", AF_INET, "0.0.0.0:1936");
    roundtrip("[::1]:1935", AF_INET6, "[::1]:1935");
    roundtrip("[::]:80", AF_INET6, "[::]:80");
    roundtrip("[2001:db8::7]:443", AF_INET6, "[2001:db8::7]:443");
    roundtrip("[::ffff:1.2.3.4]:5", AF_INET6, "[::ffff:1.2.3.4]:5");
}

Test(address, bad)
{
    static const char *bad[] = {
        "",
        "127.0.0.1",        /* no port */
        "127.0.0.1:",       /* empty port */
        ":",
        "127.0.0.1:70000",  /* out of range */
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "127.0.0.1:-0",
        "127.0.0.1:+80",
        "127.0.0.1: 80",
        "127.0.0.1:80 ",
        "127.0.0.1:8o",
        "127.0.0.1:99999999999999999999",
        "localhost:1935",   /* no DNS on a loop */
        "example.com:80",
        "256.0.0.1:80",
        "1.2.3:80",
        "[::1]",            /* bracketed, no port */
        "[::1]:",
        "[::1]80",
        "[::1:80",
        "[nothost]:80",
        "[1.2.3.4]:80x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sockaddr_storage sa;
        socklen_t len = 0;
        cr_assert_eq(net_parse_address(bad[i], &sa, &len), ST_ERROR, "'%s' accepted", bad[i]);
    }
}

Test(address, overlong_host)
{
    char spec[400];
    memset(spec, '1', sizeof(spec));
    memcpy(spec + 300, ":80", 4);
    struct sockaddr_storage sa;
    socklen_t len;
    cr_assert_eq(net_parse_address(spec, &sa, &len), ST_ERROR);
    spec[0] = '[';
    memcpy(spec + 299, "]:80", 5);
    cr_assert_eq(net_parse_address(spec, &sa, &len), ST_ERROR);
    /* Long port digits do not overflow anything either. */
    memset(spec, '9', 390);
    memcpy(spec, "1.2.3.4:", 8);
    spec[390] = '\0';
    cr_assert_eq(net_parse_address(spec, &sa, &len), ST_ERROR);
}

Test(address, format_small_buffer)
{
    struct sockaddr_storage sa;
    socklen_t len;
    cr_assert_eq(net_parse_address("[2001:db8::7]:443", &sa, &len), ST_OK);
    char out[8];
    memset(out, 'x', sizeof(out));
    net_format_address(&sa, out, sizeof(out));
    cr_assert_eq(out[sizeof(out) - 1], '\0', "not terminated");
    cr_assert_eq(strlen(out), sizeof(out) - 1);
}

static int accepted_fd = -1;
static int accepts;
static struct sockaddr_storage accepted_peer;

static void on_accept(struct net_listener *l, int fd, const struct sockaddr_storage *peer)
{
    accepts++;
    accepted_fd = fd;
    accepted_peer = *peer;
    cr_assert_eq(*(int *)l->owner, 42);
}

static int connect_to(int port)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
    return c;
}

Test(listener, accepts_on_loopback, .timeout = 10)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_not_null(loop);
    struct net_listener l;
    int owner = 42;
    cr_assert_eq(net_listener_open(&l, loop, "127.0.0.1:0", 0, on_accept, &owner), ST_OK);
    int port = net_listener_port(&l);
    cr_assert_gt(port, 0);
    cr_assert_str_eq(l.addr, "127.0.0.1:0");

    int c = connect_to(port);
    accepts = 0;
    accepted_fd = -1;
    ev_run(loop, EVRUN_ONCE);
    cr_assert_eq(accepts, 1);
    cr_assert_geq(accepted_fd, 0);
    cr_assert(fcntl(accepted_fd, F_GETFL) & O_NONBLOCK, "accepted fd is blocking");
    char peer[64];
    net_format_address(&accepted_peer, peer, sizeof(peer));
    cr_assert_eq(strncmp(peer, "127.0.0.1:", 10), 0, "peer %s", peer);
    /* The accepted fd is really the other end of c. */
    cr_assert_eq(write(c, "hi", 2), 2);
    char got[2];
    for (int tries = 0; tries < 1000; tries++) {
        if (read(accepted_fd, got, 2) == 2)
            break;
        usleep(1000);
    }
    cr_assert_arr_eq(got, "hi", 2);
    close(accepted_fd);
    close(c);

    /* Several waiting connections are all accepted in one wake-up. */
    int cs[5];
    for (int i = 0; i < 5; i++)
        cs[i] = connect_to(port);
    accepts = 0;
    ev_run(loop, EVRUN_ONCE);
    cr_assert_eq(accepts, 5);
    for (int i = 0; i < 5; i++)
        close(cs[i]);
    close(accepted_fd);

    net_listener_close(&l, loop);
    cr_assert_eq(l.fd, -1);
    net_listener_close(&l, loop); /* twice is harmless */
    ev_loop_destroy(loop);
}

Test(listener, reuse_port_and_errors, .timeout = 10)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_not_null(loop);
    struct net_listener a, b;
    int owner = 42;
    cr_assert_eq(net_listener_open(&a, loop, "127.0.0.1:0", 1, on_accept, &owner), ST_OK);
    char spec[64];
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", net_listener_port(&a));
    cr_assert_eq(net_listener_open(&b, loop, spec, 1, on_accept, &owner), ST_OK, "SO_REUSEPORT bind failed");
    net_listener_close(&b, loop);
    /* Without reuse_port the port is taken. */
    cr_assert_eq(net_listener_open(&b, loop, spec, 0, on_accept, &owner), ST_ERROR);
    cr_assert_eq(b.fd, -1);
    /* Host names resolve at open (boot time); an unresolvable one fails. */
    cr_assert_eq(net_listener_open(&b, loop, "no-such-host.invalid:1935", 0, on_accept, &owner), ST_ERROR);
    net_listener_close(&b, loop);
    net_listener_close(&a, loop);
    ev_loop_destroy(loop);
}

Test(listener, resolve_address)
{
    char out[128];
    cr_assert_eq(net_resolve_address("127.0.0.1:1935", out, sizeof(out)), ST_OK);
    cr_assert_str_eq(out, "127.0.0.1:1935");
    cr_assert_eq(net_resolve_address("localhost:6379", out, sizeof(out)), ST_OK);
    cr_assert(strcmp(out, "127.0.0.1:6379") == 0 || strcmp(out, "[::1]:6379") == 0, "got %s", out);
    cr_assert_eq(net_resolve_address("no-such-host.invalid:1", out, sizeof(out)), ST_ERROR);
    cr_assert_eq(net_resolve_address("nocolon", out, sizeof(out)), ST_ERROR);
}
