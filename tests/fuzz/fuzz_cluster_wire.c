/*
 * fuzz_cluster_wire: arbitrary bytes as a live header, a snapshot header and
 * a topic frame. Whatever decodes must re-encode to the very same bytes (the
 * format has exactly one encoding per value), and a decoded topic key must
 * rebuild the same frame. The first 8 bytes, when present, also pick the
 * payload length handed to the header decoder, so the length-equality path
 * is reached both ways.
 */
#include "cluster/cluster_wire.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void header_case(const uint8_t *p, size_t n, size_t payload_len)
{
    struct cluster_wire_header h;
    const char *err = NULL;
    if (cluster_wire_header_decode(p, n, payload_len, &h, &err) != ST_OK) {
        if (!err)
            __builtin_trap();
        return;
    }
    uint8_t out[CLUSTER_WIRE_HEADER_SIZE];
    cluster_wire_header_encode(out, &h);
    if (n != CLUSTER_WIRE_HEADER_SIZE || h.length != payload_len || memcmp(out, p, n) != 0)
        __builtin_trap();
}

static void snap_case(const uint8_t *p, size_t n)
{
    struct cluster_wire_snap_header s;
    const char *err = NULL;
    if (cluster_wire_snap_header_decode(p, n, &s, &err) != ST_OK) {
        if (!err)
            __builtin_trap();
        return;
    }
    uint8_t out[CLUSTER_WIRE_SNAP_HEADER_SIZE];
    cluster_wire_snap_header_encode(out, &s);
    if (n != CLUSTER_WIRE_SNAP_HEADER_SIZE || memcmp(out, p, n) != 0)
        __builtin_trap();
}

static void topic_case(const uint8_t *p, size_t n)
{
    const char *key = cluster_wire_topic_key(p, n);
    if (!key)
        return;
    if ((const void *)key != (const void *)p || strlen(key) + 1 != n)
        __builtin_trap();
    char out[CLUSTER_WIRE_TOPIC_MAX];
    if (cluster_wire_topic(out, sizeof out, key) != n || memcmp(out, p, n) != 0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size heap copy: ASan must see any read past size. */
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);

    /* The whole input as each kind of frame. */
    header_case(p, size, size >= 24 ? (size_t)p[20] << 24 | (size_t)p[21] << 16 | (size_t)p[22] << 8 | p[23] : 0);
    header_case(p, size, size);
    snap_case(p, size);
    topic_case(p, size);

    /* Topic frames are NUL-terminated by design, which random bytes rarely
     * are: also try the input with a NUL appended. */
    uint8_t *t = malloc(size + 1);
    if (t) {
        memcpy(t, data, size);
        t[size] = 0;
        topic_case(t, size + 1);
        /* and as a key for the encoder (bounded scan, any content) */
        char out[CLUSTER_WIRE_TOPIC_MAX];
        size_t n = cluster_wire_topic(out, sizeof out, (const char *)t);
        if (n && (n > sizeof out || out[n - 1] != 0 || !cluster_wire_topic_key(out, n)))
            __builtin_trap();
        free(t);
    }
    free(p);
    return 0;
}
