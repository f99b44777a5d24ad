#include "live/live_ipcount.h"

#include "core/status.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint32_t bucket_of(const struct live_ipcount *t, const struct live_ipcount_key *k)
{
    uint64_t a, b;
    memcpy(&a, k->addr, 8);
    memcpy(&b, k->addr + 8, 8);
    uint64_t h = mix64(t->seed ^ a);
    h = mix64(h ^ b ^ (t->seed << 1));
    return (uint32_t)h & t->mask;
}

int live_ipcount_init(struct live_ipcount *t, uint32_t nbuckets)
{
    memset(t, 0, sizeof(*t));
    uint32_t n = 16;
    while (n < nbuckets && n < (1u << 24))
        n <<= 1;
    t->buckets = calloc(n, sizeof(*t->buckets));
    if (!t->buckets)
        return ST_ERROR;
    t->mask = n - 1;
    /* Not a secret worth blocking for: fall back to time and pid. */
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
        t->seed = mix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)t);
    return ST_OK;
}

void live_ipcount_free(struct live_ipcount *t)
{
    if (t->buckets) {
        for (uint32_t i = 0; i <= t->mask; i++) {
            struct live_ipcount_entry *e = t->buckets[i];
            while (e) {
                struct live_ipcount_entry *next = e->next;
                free(e);
                e = next;
            }
        }
        free(t->buckets);
    }
    memset(t, 0, sizeof(*t));
}

int live_ipcount_key_of(const struct sockaddr_storage *sa, struct live_ipcount_key *k)
{
    memset(k, 0, sizeof(*k));
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        k->addr[10] = 0xff;
        k->addr[11] = 0xff;
        memcpy(k->addr + 12, &in->sin_addr, 4);
        return ST_OK;
    }
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(k->addr, &in6->sin6_addr, 16); /* v4-mapped already has the ::ffff: form */
        return ST_OK;
    }
    return ST_ERROR;
}

static struct live_ipcount_entry **find(const struct live_ipcount *t, const struct live_ipcount_key *k)
{
    struct live_ipcount_entry **pp = &t->buckets[bucket_of(t, k)];
    while (*pp && memcmp((*pp)->key.addr, k->addr, sizeof(k->addr)) != 0)
        pp = &(*pp)->next;
    return pp;
}

uint32_t live_ipcount_get(const struct live_ipcount *t, const struct live_ipcount_key *k)
{
    if (!t->buckets)
        return 0;
    struct live_ipcount_entry *e = *find(t, k);
    return e ? e->count : 0;
}

int live_ipcount_add(struct live_ipcount *t, const struct live_ipcount_key *k, uint32_t limit)
{
    if (!t->buckets)
        return ST_ERROR;
    struct live_ipcount_entry **pp = find(t, k);
    if (*pp) {
        if (limit && (*pp)->count >= limit)
            return ST_AGAIN;
        (*pp)->count++;
        return ST_OK;
    }
    struct live_ipcount_entry *e = malloc(sizeof(*e));
    if (!e)
        return ST_ERROR;
    e->key = *k;
    e->count = 1;
    e->next = NULL;
    *pp = e; /* pp is the chain's NULL tail */
    t->entries++;
    return ST_OK;
}

void live_ipcount_remove(struct live_ipcount *t, const struct live_ipcount_key *k)
{
    if (!t->buckets)
        return;
    struct live_ipcount_entry **pp = find(t, k);
    struct live_ipcount_entry *e = *pp;
    if (!e)
        return;
    if (--e->count == 0) {
        *pp = e->next;
        free(e);
        t->entries--;
    }
}
