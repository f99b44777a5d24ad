#include "live/live_registry.h"

#include "core/status.h"

#include <stdlib.h>
#include <string.h>

static uint32_t key_hash(const char *k)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (uint8_t)*k) * 16777619u;
    return h % LIVE_REGISTRY_BUCKETS;
}

static uint64_t key_hash64(const char *k)
{
    uint64_t h = 14695981039346656037ull;
    for (; *k; k++)
        h = (h ^ (uint8_t)*k) * 1099511628211ull;
    return h ? h : 1;
}

void live_registry_init(struct live_registry *r, uint32_t gop_max_frames, size_t gop_max_bytes)
{
    memset(r, 0, sizeof(*r));
    r->gop_max_frames = gop_max_frames;
    r->gop_max_bytes = gop_max_bytes;
}

void live_registry_free(struct live_registry *r)
{
    for (int i = 0; i < LIVE_REGISTRY_BUCKETS; i++) {
        struct live_stream *s = r->buckets[i];
        while (s) {
            struct live_stream *next = s->next;
            fanout_stream_free(&s->fanout);
            free(s);
            s = next;
        }
        r->buckets[i] = NULL;
    }
    r->count = 0;
}

struct live_stream *live_registry_find(struct live_registry *r, const char *key)
{
    for (struct live_stream *s = r->buckets[key_hash(key)]; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    return NULL;
}

struct live_stream *live_registry_get(struct live_registry *r, const char *key)
{
    struct live_stream *s = live_registry_find(r, key);
    if (s)
        return s;
    if (strlen(key) >= LIVE_KEY_MAX)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (fanout_stream_init(&s->fanout, r->gop_max_frames, r->gop_max_bytes) != ST_OK) {
        free(s);
        return NULL;
    }
    memcpy(s->key, key, strlen(key) + 1); /* length checked above */
    uint64_t kh = key_hash64(key);
    for (uint32_t i = 0; i < LIVE_REGISTRY_RECENT; i++)
        if (r->recent[i].key_hash == kh) {
            s->segclock = r->recent[i].clock;
            hls_segment_clock_reset(&s->segclock);
            r->recent[i].key_hash = 0;
            break;
        }
    uint32_t b = key_hash(key);
    s->next = r->buckets[b];
    r->buckets[b] = s;
    r->count++;
    return s;
}

void live_registry_release(struct live_registry *r, struct live_stream *s)
{
    if (s->publisher || s->source || live_stream_watched(s))
        return;
    struct live_stream **pp = &r->buckets[key_hash(s->key)];
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    if (s->segclock.segment) {
        r->recent[r->recent_next].key_hash = key_hash64(s->key);
        r->recent[r->recent_next].clock = s->segclock;
        r->recent_next = (r->recent_next + 1) % LIVE_REGISTRY_RECENT;
    }
    fanout_stream_free(&s->fanout);
    free(s);
    r->count--;
}
