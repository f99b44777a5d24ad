/* live_ipcount: per-address counting, limits, IPv4/IPv6 keys, and that
 * entries go away at zero (the table stays bounded by open connections). */
#include "core/status.h"
#include "live/live_ipcount.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

static struct live_ipcount_key key4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(1234);
    cr_assert_eq(inet_pton(AF_INET, ip, &in->sin_addr), 1);
    struct live_ipcount_key k;
    cr_assert_eq(live_ipcount_key_of(&ss, &k), ST_OK);
    return k;
}

static struct live_ipcount_key key6(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    cr_assert_eq(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    struct live_ipcount_key k;
    cr_assert_eq(live_ipcount_key_of(&ss, &k), ST_OK);
    return k;
}

Test(live_ipcount, counts_up_to_the_limit_and_down_to_zero)
{
    struct live_ipcount t;
    cr_assert_eq(live_ipcount_init(&t, 64), ST_OK);
    struct live_ipcount_key a = key4("10.0.0.1"), b = key4("10.0.0.2");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(live_ipcount_add(&t, &a, 3), ST_OK);
    cr_assert_eq(live_ipcount_add(&t, &a, 3), ST_AGAIN);
    cr_assert_eq(live_ipcount_get(&t, &a), 3);
    cr_assert_eq(live_ipcount_add(&t, &b, 3), ST_OK, "another address has its own count");
    cr_assert_eq(live_ipcount_get(&t, &b), 1);
    cr_assert_eq(t.entries, 2);
    live_ipcount_remove(&t, &a);
    cr_assert_eq(live_ipcount_add(&t, &a, 3), ST_OK, "room again after one left");
    for (int i = 0; i < 3; i++)
        live_ipcount_remove(&t, &a);
    cr_assert_eq(live_ipcount_get(&t, &a), 0);
    cr_assert_eq(t.entries, 1, "an address at zero is forgotten");
    live_ipcount_remove(&t, &a); /* not counted: ignored */
    cr_assert_eq(live_ipcount_get(&t, &b), 1);
    live_ipcount_free(&t);
    live_ipcount_free(&t); /* idempotent */
}

Test(live_ipcount, zero_limit_means_unlimited)
{
    struct live_ipcount t;
    cr_assert_eq(live_ipcount_init(&t, 16), ST_OK);
    struct live_ipcount_key a = key4("192.0.2.7");
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(live_ipcount_add(&t, &a, 0), ST_OK);
    cr_assert_eq(live_ipcount_get(&t, &a), 1000);
    cr_assert_eq(live_ipcount_add(&t, &a, 1000), ST_AGAIN);
    live_ipcount_free(&t);
}

Test(live_ipcount, ipv4_and_v4_mapped_ipv6_are_one_host)
{
    struct live_ipcount t;
    cr_assert_eq(live_ipcount_init(&t, 16), ST_OK);
    struct live_ipcount_key v4 = key4("127.0.0.1"), mapped = key6("::ffff:127.0.0.1", 80);
    cr_assert_eq(memcmp(&v4, &mapped, sizeof(v4)), 0);
    cr_assert_eq(live_ipcount_add(&t, &v4, 2), ST_OK);
    cr_assert_eq(live_ipcount_add(&t, &mapped, 2), ST_OK);
    cr_assert_eq(live_ipcount_add(&t, &v4, 2), ST_AGAIN);
    live_ipcount_free(&t);
}

Test(live_ipcount, ipv6_whole_address_port_ignored)
{
    struct live_ipcount t;
    cr_assert_eq(live_ipcount_init(&t, 16), ST_OK);
    struct live_ipcount_key a1 = key6("2001:db8::1", 1000), a2 = key6("2001:db8::1", 2000);
    struct live_ipcount_key b = key6("2001:db8::2", 1000);
    cr_assert_eq(live_ipcount_add(&t, &a1, 1), ST_OK);
    cr_assert_eq(live_ipcount_add(&t, &a2, 1), ST_AGAIN, "same address, other port: same host");
    cr_assert_eq(live_ipcount_add(&t, &b, 1), ST_OK);
    live_ipcount_free(&t);
}

Test(live_ipcount, non_ip_peer_is_not_counted)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    struct live_ipcount_key k;
    cr_assert_eq(live_ipcount_key_of(&ss, &k), ST_ERROR);
}

Test(live_ipcount, many_addresses_in_few_buckets)
{
    /* Long chains (16 buckets, 5000 addresses) still count each exactly. */
    struct live_ipcount t;
    cr_assert_eq(live_ipcount_init(&t, 1), ST_OK);
    cr_assert_eq(t.mask, 15);
    char ip[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(ip, sizeof(ip), "2001:db8::%x:%x", i >> 8, i & 0xff);
        struct live_ipcount_key k = key6(ip, 1);
        cr_assert_eq(live_ipcount_add(&t, &k, 2), ST_OK);
        cr_assert_eq(live_ipcount_add(&t, &k, 2), ST_OK);
    }
    cr_assert_eq(t.entries, 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(ip, sizeof(ip), "2001:db8::%x:%x", i >> 8, i & 0xff);
        struct live_ipcount_key k = key6(ip, 1);
        cr_assert_eq(live_ipcount_add(&t, &k, 2), ST_AGAIN);
        cr_assert_eq(live_ipcount_get(&t, &k), 2);
        live_ipcount_remove(&t, &k);
        live_ipcount_remove(&t, &k);
    }
    cr_assert_eq(t.entries, 0);
    for (uint32_t i = 0; i <= t.mask; i++)
        cr_assert_null(t.buckets[i]);
    live_ipcount_free(&t);
}
