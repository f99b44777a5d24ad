/*
 * Unit tests for live_registry: find/get/release, whole-key comparison (keys
 * sharing a prefix), streams kept alive by a publisher or players, overlong
 * keys, and many keys (every bucket chained several deep).
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "fanout/fanout_player.h"
#include "live/live_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct live_registry reg;

static void setup(void) { live_registry_init(&reg, 100, 1 << 20); }
static void teardown(void) { live_registry_free(&reg); }

TestSuite(registry, .init = setup, .fini = teardown);

Test(registry, find_get_release)
{
    cr_assert_null(live_registry_find(&reg, "live/a"));
    struct live_stream *s = live_registry_get(&reg, "live/a");
    cr_assert_not_null(s);
    cr_assert_str_eq(s->key, "live/a");
    cr_assert_eq(reg.count, 1);
    cr_assert_eq(live_registry_get(&reg, "live/a"), s, "get must find, not create twice");
    cr_assert_eq(live_registry_find(&reg, "live/a"), s);
    cr_assert_eq(reg.count, 1);
    cr_assert_null(s->publisher);
    cr_assert_eq(s->fanout.nplayers, 0);
    cr_assert_eq(s->fanout.gop_max_frames, 100);
    cr_assert_eq(s->fanout.gop_max_bytes, (size_t)1 << 20);
    live_registry_release(&reg, s);
    cr_assert_null(live_registry_find(&reg, "live/a"));
    cr_assert_eq(reg.count, 0);
}

Test(registry, prefix_keys_are_distinct)
{
    static const char *keys[] = {"live/a", "live/ab", "live/", "live", "live/a/b", "live/A", "live/a "};
    struct live_stream *s[7];
    for (int i = 0; i < 7; i++) {
        s[i] = live_registry_get(&reg, keys[i]);
        cr_assert_not_null(s[i]);
        for (int j = 0; j < i; j++)
            cr_assert_neq(s[i], s[j], "%s and %s share a stream", keys[i], keys[j]);
    }
    cr_assert_eq(reg.count, 7);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(live_registry_find(&reg, keys[i]), s[i]);
    cr_assert_null(live_registry_find(&reg, "live/abc"));
    live_registry_release(&reg, s[0]);
    cr_assert_null(live_registry_find(&reg, "live/a"));
    cr_assert_eq(live_registry_find(&reg, "live/ab"), s[1]);
    cr_assert_eq(reg.count, 6);
}

Test(registry, release_keeps_stream_in_use)
{
    struct live_stream *s = live_registry_get(&reg, "live/x");
    int pub;
    s->publisher = &pub;
    live_registry_release(&reg, s);
    cr_assert_eq(live_registry_find(&reg, "live/x"), s, "freed with a publisher");
    s->publisher = NULL;

    struct fanout_player p;
    cr_assert_eq(fanout_player_init(&p, 8, 1 << 16, 1 << 12, 1000), ST_OK);
    fanout_stream_add_player(&s->fanout, &p, 1);
    live_registry_release(&reg, s);
    cr_assert_eq(live_registry_find(&reg, "live/x"), s, "freed with a player");
    fanout_stream_remove_player(&s->fanout, &p);
    fanout_player_free(&p);
    live_registry_release(&reg, s);
    cr_assert_null(live_registry_find(&reg, "live/x"));
    cr_assert_eq(reg.count, 0);
}

Test(registry, key_length_bound)
{
    char k[LIVE_KEY_MAX + 1];
    memset(k, 'k', sizeof(k));
    k[LIVE_KEY_MAX] = '\0';
    cr_assert_null(live_registry_get(&reg, k));
    k[LIVE_KEY_MAX - 1] = '\0';
    struct live_stream *s = live_registry_get(&reg, k);
    cr_assert_not_null(s);
    cr_assert_str_eq(s->key, k);
    cr_assert_eq(reg.count, 1);
}

#define MANY 5000

Test(registry, many_keys)
{
    static struct live_stream *s[MANY];
    char k[64];
    for (int i = 0; i < MANY; i++) {
        snprintf(k, sizeof(k), "live/s%d", i);
        s[i] = live_registry_get(&reg, k);
        cr_assert_not_null(s[i]);
    }
    cr_assert_eq(reg.count, MANY);
    for (int i = 0; i < MANY; i++) {
        snprintf(k, sizeof(k), "live/s%d", i);
        cr_assert_eq(live_registry_find(&reg, k), s[i], "%s", k);
    }
    /* Release every third (heads, middles and tails of chains), then check the rest. */
    for (int i = 0; i < MANY; i += 3)
        live_registry_release(&reg, s[i]);
    for (int i = 0; i < MANY; i++) {
        snprintf(k, sizeof(k), "live/s%d", i);
        if (i % 3 == 0)
            cr_assert_null(live_registry_find(&reg, k), "%s still found", k);
        else
            cr_assert_eq(live_registry_find(&reg, k), s[i], "%s", k);
    }
    cr_assert_eq(reg.count, MANY - (MANY + 2) / 3);
    /* Recreate some: new entries, found again. */
    for (int i = 0; i < MANY; i += 3) {
        snprintf(k, sizeof(k), "live/s%d", i);
        s[i] = live_registry_get(&reg, k);
        cr_assert_not_null(s[i]);
    }
    cr_assert_eq(reg.count, MANY);
    for (int i = MANY - 1; i >= 0; i--)
        live_registry_release(&reg, s[i]);
    cr_assert_eq(reg.count, 0);
    for (int b = 0; b < LIVE_REGISTRY_BUCKETS; b++)
        cr_assert_null(reg.buckets[b]);
}

Test(registry, forgotten_stream_keeps_its_segment_numbers)
{
    struct live_stream *s = live_registry_get(&reg, "live/seg");
    hls_segment_clock_init(&s->segclock, 2000);
    s->segclock.segment = 1000;
    live_registry_release(&reg, s);
    struct live_stream *other = live_registry_get(&reg, "live/other");
    cr_assert_eq(other->segclock.segment, 0, "another key starts fresh");
    s = live_registry_get(&reg, "live/seg");
    cr_assert_eq(s->segclock.segment, 1000, "the same key continues its numbering");
    cr_assert(s->segclock.restart, "and cuts at its first keyframe");
    cr_assert_eq(s->segclock.target_ms, 2000);
    live_registry_release(&reg, s);
    live_registry_release(&reg, other);
    /* remembered once: a stream that never had a segment leaves nothing */
    s = live_registry_get(&reg, "live/seg");
    cr_assert_eq(s->segclock.segment, 1000);
    s->segclock.segment = 0;
    live_registry_release(&reg, s);
    s = live_registry_get(&reg, "live/seg");
    cr_assert_eq(s->segclock.segment, 0);
    live_registry_release(&reg, s);
}
