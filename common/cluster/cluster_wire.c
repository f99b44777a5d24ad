/*
 * cluster_wire: fixed headers and topic of the origin -> edge replication
 * format (layout in cluster_wire.h).
 *
 * Decoders are strict: besides size, version, kind and length, they reject
 * non-zero reserved bytes, unknown flag bits, an EOS carrying a payload, an
 * unknown snapshot status and a NOT_FOUND reply that announces messages.
 * Nothing sends those today, so accepting them would only hide a broken or
 * mismatched peer; a future extension must bump CLUSTER_WIRE_VERSION (which
 * a receiver rejects loudly) rather than reuse reserved space silently.
 *
 * Encoders always write CLUSTER_WIRE_VERSION and zero reserved bytes,
 * whatever the struct's version field holds, so a zero-initialised struct
 * filled in by a caller still produces a header every receiver accepts.
 */
#include "cluster/cluster_wire.h"

#include "core/status.h"

#include <string.h>

#define CLUSTER_WIRE_FLAGS_KNOWN                                                                                \
    (CLUSTER_FLAG_KEY | CLUSTER_FLAG_SEQ_HEADER | CLUSTER_FLAG_METADATA | CLUSTER_FLAG_SEG_START)

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static int fail(const char **err, const char *why)
{
    if (err)
        *err = why;
    return ST_ERROR;
}

/* A C string cannot carry an embedded NUL, so "key contains a NUL" reduces to
 * the key ending there: "live\0x" encodes as the topic of "live". The scan is
 * bounded so an unterminated or huge key costs at most TOPIC_MAX bytes. */
size_t cluster_wire_topic(char *dst, size_t cap, const char *key)
{
    if (!dst || !key)
        return 0;
    size_t limit = cap < CLUSTER_WIRE_TOPIC_MAX ? cap : CLUSTER_WIRE_TOPIC_MAX;
    size_t n = strnlen(key, limit);
    if (n == 0 || n + 1 > limit)
        return 0;
    memcpy(dst, key, n);
    dst[n] = '\0';
    return n + 1;
}

const char *cluster_wire_topic_key(const void *frame, size_t len)
{
    const char *p = frame;
    if (!p || len < 2 || len > CLUSTER_WIRE_TOPIC_MAX || p[len - 1] != '\0')
        return NULL;
    if (memchr(p, '\0', len - 1)) /* NUL inside the key, or an empty key */
        return NULL;
    return p;
}

void cluster_wire_header_encode(uint8_t dst[CLUSTER_WIRE_HEADER_SIZE], const struct cluster_wire_header *h)
{
    memset(dst, 0, CLUSTER_WIRE_HEADER_SIZE);
    dst[0] = CLUSTER_WIRE_VERSION;
    dst[1] = h->kind;
    dst[2] = h->flags;
    put_u32(dst + 4, h->timestamp);
    put_u32(dst + 8, h->epoch);
    put_u64(dst + 12, h->seq);
    put_u32(dst + 20, h->length);
    put_u32(dst + 24, h->segment);
    put_u64(dst + 32, h->wall_ms);
}

int cluster_wire_header_decode(const void *src, size_t len, size_t payload_len, struct cluster_wire_header *h,
                               const char **err)
{
    const uint8_t *p = src;
    memset(h, 0, sizeof *h);
    if (!p || len != CLUSTER_WIRE_HEADER_SIZE)
        return fail(err, "cluster header: wrong size");
    if (p[0] != CLUSTER_WIRE_VERSION)
        return fail(err, "cluster header: wrong version");
    uint8_t kind = p[1];
    if (kind != CLUSTER_KIND_AUDIO && kind != CLUSTER_KIND_VIDEO && kind != CLUSTER_KIND_DATA &&
        kind != CLUSTER_KIND_EOS)
        return fail(err, "cluster header: unknown kind");
    if (p[2] & ~CLUSTER_WIRE_FLAGS_KNOWN)
        return fail(err, "cluster header: unknown flags");
    if (p[3] || !all_zero(p + 28, 4))
        return fail(err, "cluster header: reserved bytes not zero");
    uint32_t length = get_u32(p + 20);
    if ((uint64_t)length != (uint64_t)payload_len)
        return fail(err, "cluster header: length mismatch");
    if (kind == CLUSTER_KIND_EOS && length != 0)
        return fail(err, "cluster header: end of stream with a payload");
    h->version = p[0];
    h->kind = kind;
    h->flags = p[2];
    h->timestamp = get_u32(p + 4);
    h->epoch = get_u32(p + 8);
    h->seq = get_u64(p + 12);
    h->length = length;
    h->segment = get_u32(p + 24);
    h->wall_ms = get_u64(p + 32);
    return ST_OK;
}

void cluster_wire_snap_header_encode(uint8_t dst[CLUSTER_WIRE_SNAP_HEADER_SIZE],
                                     const struct cluster_wire_snap_header *h)
{
    memset(dst, 0, CLUSTER_WIRE_SNAP_HEADER_SIZE);
    dst[0] = CLUSTER_WIRE_VERSION;
    dst[1] = h->status;
    put_u16(dst + 2, h->count);
    put_u32(dst + 4, h->epoch);
    put_u64(dst + 8, h->seq_end);
}

int cluster_wire_snap_header_decode(const void *src, size_t len, struct cluster_wire_snap_header *h,
                                    const char **err)
{
    const uint8_t *p = src;
    memset(h, 0, sizeof *h);
    if (!p || len != CLUSTER_WIRE_SNAP_HEADER_SIZE)
        return fail(err, "snapshot header: wrong size");
    if (p[0] != CLUSTER_WIRE_VERSION)
        return fail(err, "snapshot header: wrong version");
    if (p[1] != CLUSTER_SNAP_OK && p[1] != CLUSTER_SNAP_NOT_FOUND)
        return fail(err, "snapshot header: unknown status");
    if (!all_zero(p + 16, 8))
        return fail(err, "snapshot header: reserved bytes not zero");
    uint16_t count = get_u16(p + 2);
    if (p[1] == CLUSTER_SNAP_NOT_FOUND && count != 0)
        return fail(err, "snapshot header: not found with messages");
    h->version = p[0];
    h->status = p[1];
    h->count = count;
    h->epoch = get_u32(p + 4);
    h->seq_end = get_u64(p + 8);
    return ST_OK;
}
