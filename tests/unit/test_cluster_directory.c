/*
 * Unit tests for cluster_directory's pure parts: Redis key building (every
 * capacity around the exact fit), the events channel parser (valid messages,
 * every truncation, malformed and oversized ones, garbage), and argument
 * checks that fail before any connection is made. The Redis-backed behaviour
 * is in test_cluster_directory_redis.c.
 */
#include <criterion/criterion.h>

#include "cluster/cluster_directory.h"
#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- cluster_directory_key ---- */

Test(key, builds_prefix_kind_rest)
{
    char b[64];
    cr_assert_eq(cluster_directory_key(b, sizeof(b), "sc:", "stream", "live/a"), 16);
    cr_assert_str_eq(b, "sc:stream:live/a");
    cr_assert_eq(cluster_directory_key(b, sizeof(b), "sc:", "epoch", "live/a"), 15);
    cr_assert_str_eq(b, "sc:epoch:live/a");
    cr_assert_eq(cluster_directory_key(b, sizeof(b), "x:", "carriers", "app/s p"), 18);
    cr_assert_str_eq(b, "x:carriers:app/s p");
}

Test(key, null_rest_has_no_colon_empty_rest_has_one)
{
    char b[64];
    cr_assert_eq(cluster_directory_key(b, sizeof(b), "sc:", "edges", NULL), 8);
    cr_assert_str_eq(b, "sc:edges");
    cr_assert_eq(cluster_directory_key(b, sizeof(b), "sc:", "node", ""), 8);
    cr_assert_str_eq(b, "sc:node:");
    cr_assert_eq(cluster_directory_key(b, sizeof(b), "", "node", "n1"), 7);
    cr_assert_str_eq(b, "node:n1");
}

Test(key, every_capacity_around_the_fit)
{
    const char *want = "pre:stream:app/name";
    size_t n = strlen(want);
    for (size_t cap = 0; cap <= n + 4; cap++) {
        char b[64];
        memset(b, 'Z', sizeof(b));
        size_t got = cluster_directory_key(b, cap, "pre:", "stream", "app/name");
        if (cap >= n + 1) {
            cr_assert_eq(got, n, "cap %zu", cap);
            cr_assert_str_eq(b, want);
        } else {
            cr_assert_eq(got, 0, "cap %zu", cap);
            if (cap > 0)
                cr_assert_eq(b[0], '\0', "cap %zu: dst not emptied", cap);
            else
                cr_assert_eq(b[0], 'Z', "cap 0 must not write");
            for (size_t i = cap; i < sizeof(b); i++)
                cr_assert_eq(b[i], 'Z', "cap %zu: wrote past the capacity at %zu", cap, i);
        }
    }
}

Test(key, long_rest_does_not_fit)
{
    char rest[1000], b[768];
    memset(rest, 'k', sizeof(rest) - 1);
    rest[sizeof(rest) - 1] = '\0';
    cr_assert_eq(cluster_directory_key(b, sizeof(b), "sc:", "stream", rest), 0);
    cr_assert_eq(b[0], '\0');
}

Test(key, null_arguments)
{
    char b[16];
    cr_assert_eq(cluster_directory_key(NULL, 16, "a", "b", "c"), 0);
    cr_assert_eq(cluster_directory_key(b, sizeof(b), NULL, "b", "c"), 0);
    cr_assert_eq(cluster_directory_key(b, sizeof(b), "a", NULL, "c"), 0);
}

/* ---- cluster_directory_parse_event ---- */

static int parse(const char *msg, size_t len, char type[8], struct cluster_stream_info *info)
{
    return cluster_directory_parse_event(msg, len, type, info);
}

static int parse_s(const char *msg, char type[8], struct cluster_stream_info *info)
{
    return parse(msg, strlen(msg), type, info);
}

Test(event, up_and_down)
{
    char type[8];
    struct cluster_stream_info info;
    cr_assert_eq(parse_s("up live/a origin-1 1", type, &info), ST_OK);
    cr_assert_str_eq(type, "up");
    cr_assert_str_eq(info.key, "live/a");
    cr_assert_str_eq(info.owner, "origin-1");
    cr_assert_eq(info.epoch, 1);
    cr_assert_str_eq(info.pub, "");
    cr_assert_str_eq(info.router, "");

    cr_assert_eq(parse_s("down app/x o2 4294967295", type, &info), ST_OK);
    cr_assert_str_eq(type, "down");
    cr_assert_str_eq(info.key, "app/x");
    cr_assert_str_eq(info.owner, "o2");
    cr_assert_eq(info.epoch, 4294967295u);

    cr_assert_eq(parse_s("up k n 0", type, &info), ST_OK);
    cr_assert_eq(info.epoch, 0);
}

Test(event, key_with_spaces_reads_owner_and_epoch_from_the_right)
{
    char type[8];
    struct cluster_stream_info info;
    cr_assert_eq(parse_s("up live/my stream name node7 12", type, &info), ST_OK);
    cr_assert_str_eq(info.key, "live/my stream name");
    cr_assert_str_eq(info.owner, "node7");
    cr_assert_eq(info.epoch, 12);
}

Test(event, length_limits)
{
    char msg[1200], type[8];
    struct cluster_stream_info info;
    char key[600], owner[200];
    memset(key, 'k', sizeof(key));
    memset(owner, 'o', sizeof(owner));

    snprintf(msg, sizeof(msg), "up %.*s n 3", 511, key);
    cr_assert_eq(parse_s(msg, type, &info), ST_OK);
    cr_assert_eq(strlen(info.key), 511);
    snprintf(msg, sizeof(msg), "up %.*s n 3", 512, key);
    cr_assert_eq(parse_s(msg, type, &info), ST_ERROR);

    snprintf(msg, sizeof(msg), "up k %.*s 3", CLUSTER_ID_MAX - 1, owner);
    cr_assert_eq(parse_s(msg, type, &info), ST_OK);
    cr_assert_eq(strlen(info.owner), CLUSTER_ID_MAX - 1);
    snprintf(msg, sizeof(msg), "up k %.*s 3", CLUSTER_ID_MAX, owner);
    cr_assert_eq(parse_s(msg, type, &info), ST_ERROR);
}

Test(event, malformed)
{
    static const char *bad[] = {
        "",
        "up",
        "up ",
        "up live/a",
        "up live/a node",
        "up live/a node ",
        "upx live/a n 1",
        "UP live/a n 1",
        "Down live/a n 1",
        "sideways live/a n 1",
        " up live/a n 1",
        "up live/a n 01",
        "up live/a n 00",
        "up live/a n 4294967296",
        "up live/a n 99999999999",
        "up live/a n -1",
        "up live/a n +1",
        "up live/a n 1x",
        "up live/a n 0x1",
        "up live/a n 1 ",
        "up  n 1",
        "up live/a  1",
        "up live/a\n n 1",
        "up live/a n\t 1",
        "up live/a n\x7f 1",
        "up\tlive/a n 1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char type[8];
        struct cluster_stream_info info;
        memset(&info, 0xAA, sizeof(info));
        memset(type, 0xAA, sizeof(type));
        cr_assert_eq(parse_s(bad[i], type, &info), ST_ERROR, "accepted \"%s\"", bad[i]);
        for (size_t j = 0; j < sizeof(info); j++)
            cr_assert_eq(((unsigned char *)&info)[j], 0xAA, "\"%s\" touched info on error", bad[i]);
        cr_assert_eq((unsigned char)type[0], 0xAA);
    }
}

Test(event, embedded_nul_and_null_arguments)
{
    char type[8];
    struct cluster_stream_info info;
    static const char with_nul[] = "up live/\0a n 1";
    cr_assert_eq(parse(with_nul, sizeof(with_nul) - 1, type, &info), ST_ERROR);
    static const char nul_epoch[] = "up live/a n 1\0";
    cr_assert_eq(parse(nul_epoch, sizeof(nul_epoch) - 1, type, &info), ST_ERROR);
    cr_assert_eq(parse(NULL, 4, type, &info), ST_ERROR);
    cr_assert_eq(parse("up k n 1", 8, NULL, &info), ST_ERROR);
    cr_assert_eq(parse("up k n 1", 8, type, NULL), ST_ERROR);
}

/* A message is one pub/sub payload, never partial, but a cut one must still
 * be refused unless it happens to be a whole message (a shorter epoch). */
Test(event, every_truncation)
{
    const char *msg = "down live/stream origin-9 123";
    size_t n = strlen(msg), epoch_at = strlen("down live/stream origin-9 ");
    for (size_t len = 0; len < n; len++) {
        char type[8];
        struct cluster_stream_info info;
        char *heap = malloc(len ? len : 1); /* exact length: ASan sees any overread */
        memcpy(heap, msg, len);
        int rc = parse(heap, len, type, &info);
        if (len > epoch_at) {
            char digits[16];
            memcpy(digits, msg + epoch_at, len - epoch_at);
            digits[len - epoch_at] = '\0';
            cr_assert_eq(rc, ST_OK, "len %zu", len);
            cr_assert_str_eq(info.key, "live/stream");
            cr_assert_str_eq(info.owner, "origin-9");
            cr_assert_eq(info.epoch, strtoul(digits, NULL, 10));
        } else {
            cr_assert_eq(rc, ST_ERROR, "len %zu accepted", len);
        }
        free(heap);
    }
}

Test(event, garbage_never_crashes_and_results_are_bounded)
{
    uint32_t x = 12345;
    for (int round = 0; round < 20000; round++) {
        char buf[96], type[8];
        struct cluster_stream_info info;
        size_t len = (x >> 8) % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            /* mostly the alphabet of real messages, so some parse */
            static const char alpha[] = "updown 0123456789ab/\n";
            buf[i] = (x >> 16) % 4 ? alpha[(x >> 20) % (sizeof(alpha) - 1)] : (char)(x >> 24);
        }
        x = x * 1103515245u + 12345u;
        if (parse(buf, len, type, &info) == ST_OK) {
            cr_assert(strcmp(type, "up") == 0 || strcmp(type, "down") == 0);
            cr_assert(strlen(info.key) > 0 && strlen(info.owner) > 0);
            cr_assert(strchr(info.owner, ' ') == NULL);
        }
    }
}

/* ---- argument checks (fail before connecting) ---- */

static const struct cluster_node_info origin = {"o1", "origin", "", "", "tcp://127.0.0.1:5555", "", 0};

static int try_start(const char *addr, const char *prefix, const struct cluster_node_info *self)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct cluster_directory d;
    struct cluster_directory_settings s = {(char *)addr, (char *)prefix, 1000, 1000, 100};
    int rc = cluster_directory_start(&d, loop, &s, self);
    if (rc == ST_OK)
        cluster_directory_stop(&d);
    ev_loop_destroy(loop);
    return rc;
}

Test(args, start_rejects_bad_settings)
{
    cr_assert_eq(try_start("localhost:6379", "sc:", &origin), ST_ERROR, "DNS names would block");
    cr_assert_eq(try_start("127.0.0.1", "sc:", &origin), ST_ERROR);
    cr_assert_eq(try_start("127.0.0.1:", "sc:", &origin), ST_ERROR);
    cr_assert_eq(try_start("127.0.0.1:0", "sc:", &origin), ST_ERROR);
    cr_assert_eq(try_start("127.0.0.1:65536", "sc:", &origin), ST_ERROR);
    cr_assert_eq(try_start("127.0.0.1:12x", "sc:", &origin), ST_ERROR);
    cr_assert_eq(try_start(NULL, "sc:", &origin), ST_ERROR);
    cr_assert_eq(try_start("127.0.0.1:1", "s c:", &origin), ST_ERROR);

    struct cluster_node_info bad = origin;
    bad.role = "relay";
    cr_assert_eq(try_start("127.0.0.1:1", "sc:", &bad), ST_ERROR);
    bad = origin;
    bad.id = "has space";
    cr_assert_eq(try_start("127.0.0.1:1", "sc:", &bad), ST_ERROR);
    bad.id = "";
    cr_assert_eq(try_start("127.0.0.1:1", "sc:", &bad), ST_ERROR);

    cr_assert_eq(try_start("127.0.0.1:1", "sc:", &origin), ST_OK);
    cr_assert_eq(try_start("[::1]:1", NULL, &origin), ST_OK);
}

static void never_claim(void *ctx, int result, uint32_t epoch, uint32_t last_segment)
{
    (void)ctx;
    (void)result;
    (void)epoch;
    cr_assert_fail("callback of a refused request ran");
}

static void never_lookup(void *ctx, int result, const struct cluster_stream_info *info)
{
    (void)ctx;
    (void)result;
    (void)info;
    cr_assert_fail("callback of a refused request ran");
}

Test(args, bad_keys_are_refused_without_a_callback)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct cluster_directory d;
    struct cluster_directory_settings s = {"127.0.0.1:1", "sc:", 1000, 1000, 100};
    cr_assert_eq(cluster_directory_start(&d, loop, &s, &origin), ST_OK);
    char longkey[600];
    memset(longkey, 'a', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    cr_assert_eq(cluster_directory_claim(&d, longkey, never_claim, NULL), ST_ERROR);
    cr_assert_eq(cluster_directory_claim(&d, "", never_claim, NULL), ST_ERROR);
    cr_assert_eq(cluster_directory_claim(&d, "live/a\nb", never_claim, NULL), ST_ERROR);
    cr_assert_eq(cluster_directory_claim(&d, NULL, never_claim, NULL), ST_ERROR);
    cr_assert_eq(cluster_directory_claim(&d, "live/a", NULL, NULL), ST_ERROR);
    cr_assert_eq(cluster_directory_lookup(&d, longkey, never_lookup, NULL), ST_ERROR);
    longkey[511] = '\0';
    cr_assert_eq(cluster_directory_lookup(&d, longkey, never_lookup, NULL), ST_OK, "511 bytes is allowed");
    cluster_directory_stop(&d);
    ev_run(loop, EVRUN_NOWAIT);
    cluster_directory_stop(&d); /* twice is harmless */
    ev_loop_destroy(loop);
}
