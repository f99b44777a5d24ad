/*
 * live_ipcount: open connections per peer address, for the per-IP
 * connection limit (max_connections_per_ip).
 *
 * Keys are 16-byte addresses: IPv6 as is, IPv4 (and IPv4-mapped IPv6, which
 * a dual-stack listener reports) as ::ffff:a.b.c.d, so one host counts once
 * whichever way it arrives. The table is a fixed array of buckets chained
 * through one small allocation per distinct address; an entry lives while its
 * count is above zero, so the table never holds more entries than there are
 * open connections (which max_connections bounds). The bucket index comes
 * from a hash keyed with a per-table random seed, so a client choosing its
 * addresses (an IPv6 /64) cannot aim them all at one chain.
 *
 * Ownership: the owner embeds struct live_ipcount; init allocates the bucket
 * array, free releases it and every entry. Loop-confined; nothing blocks.
 */
#ifndef SC_LIVE_IPCOUNT_H
#define SC_LIVE_IPCOUNT_H

#include <stdint.h>
#include <sys/socket.h>

struct live_ipcount_key {
    uint8_t addr[16];
};

struct live_ipcount_entry {
    struct live_ipcount_key key;
    uint32_t count;
    struct live_ipcount_entry *next;
};

struct live_ipcount {
    struct live_ipcount_entry **buckets;
    uint32_t mask;     /* bucket count - 1 (a power of two) */
    uint32_t entries;  /* distinct addresses counted */
    uint64_t seed;
};

/* nbuckets is rounded up to a power of two (at least 16). ST_OK or ST_ERROR
 * (allocation). */
int live_ipcount_init(struct live_ipcount *t, uint32_t nbuckets);
/* Free every entry and the buckets; idempotent on a zeroed struct. */
void live_ipcount_free(struct live_ipcount *t);

/* The key of a peer address. ST_OK, or ST_ERROR when it is neither IPv4 nor
 * IPv6 (such a peer is not counted). */
int live_ipcount_key_of(const struct sockaddr_storage *sa, struct live_ipcount_key *k);

/* Open connections counted for k (0 when unknown). */
uint32_t live_ipcount_get(const struct live_ipcount *t, const struct live_ipcount_key *k);

/* Count one more connection from k unless it already has limit (0 = no
 * limit). ST_OK counted; ST_AGAIN at the limit, nothing changed; ST_ERROR out
 * of memory, nothing changed. */
int live_ipcount_add(struct live_ipcount *t, const struct live_ipcount_key *k, uint32_t limit);

/* Count one connection from k less; the entry goes at zero. A key that is
 * not counted is ignored. */
void live_ipcount_remove(struct live_ipcount *t, const struct live_ipcount_key *k);

#endif
