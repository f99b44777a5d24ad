#include <criterion/criterion.h>

#include "cluster/cluster_wire.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

/* Decode from an exact-size heap copy so ASan catches any read past len. */
static int header_decode_copy(const uint8_t *p, size_t n, size_t payload_len, struct cluster_wire_header *h,
                              const char **err)
{
    uint8_t *copy = malloc(n ? n : 1);
    cr_assert_not_null(copy);
    memcpy(copy, p, n);
    int rc = cluster_wire_header_decode(n ? copy : NULL, n, payload_len, h, err);
    free(copy);
    return rc;
}

static int snap_decode_copy(const uint8_t *p, size_t n, struct cluster_wire_snap_header *h, const char **err)
{
    uint8_t *copy = malloc(n ? n : 1);
    cr_assert_not_null(copy);
    memcpy(copy, p, n);
    int rc = cluster_wire_snap_header_decode(n ? copy : NULL, n, h, err);
    free(copy);
    return rc;
}

static const char *header_err(const uint8_t *p, size_t n, size_t payload_len)
{
    struct cluster_wire_header h;
    const char *err = NULL;
    memset(&h, 0xAA, sizeof h);
    cr_assert_eq(header_decode_copy(p, n, payload_len, &h, &err), ST_ERROR, "len %zu accepted", n);
    cr_assert_not_null(err);
    cr_assert_eq(h.kind, 0); /* cleared on error, never half-filled */
    cr_assert_eq(h.seq, 0);
    return err;
}

static const char *snap_err(const uint8_t *p, size_t n)
{
    struct cluster_wire_snap_header h;
    const char *err = NULL;
    memset(&h, 0xAA, sizeof h);
    cr_assert_eq(snap_decode_copy(p, n, &h, &err), ST_ERROR, "len %zu accepted", n);
    cr_assert_not_null(err);
    cr_assert_eq(h.count, 0);
    cr_assert_eq(h.seq_end, 0);
    return err;
}

/* encode -> decode -> same fields, and re-encode gives the same bytes. */
static void header_round_trip(const struct cluster_wire_header *in)
{
    uint8_t b[CLUSTER_WIRE_HEADER_SIZE], b2[CLUSTER_WIRE_HEADER_SIZE];
    struct cluster_wire_header out;
    const char *err = NULL;
    cluster_wire_header_encode(b, in);
    int rc = header_decode_copy(b, sizeof b, in->length, &out, &err);
    cr_assert_eq(rc, ST_OK, "decode: %s", err ? err : "?");
    cr_assert_eq(out.version, CLUSTER_WIRE_VERSION);
    cr_assert_eq(out.kind, in->kind);
    cr_assert_eq(out.flags, in->flags);
    cr_assert_eq(out.timestamp, in->timestamp);
    cr_assert_eq(out.epoch, in->epoch);
    cr_assert_eq(out.seq, in->seq);
    cr_assert_eq(out.length, in->length);
    cr_assert_eq(out.segment, in->segment);
    cr_assert_eq(out.wall_ms, in->wall_ms);
    cluster_wire_header_encode(b2, &out);
    cr_assert_arr_eq(b, b2, sizeof b);
}

static void valid_header(uint8_t b[CLUSTER_WIRE_HEADER_SIZE], uint32_t length)
{
    struct cluster_wire_header h = {.kind = CLUSTER_KIND_VIDEO, .flags = CLUSTER_FLAG_KEY, .timestamp = 1000,
                                    .epoch = 3, .seq = 42, .length = length};
    cluster_wire_header_encode(b, &h);
}

static void valid_snap(uint8_t b[CLUSTER_WIRE_SNAP_HEADER_SIZE])
{
    struct cluster_wire_snap_header s = {.status = CLUSTER_SNAP_OK, .count = 5, .epoch = 7, .seq_end = 99};
    cluster_wire_snap_header_encode(b, &s);
}

/* ---- header ---- */

Test(cluster_wire, header_golden_bytes)
{
    struct cluster_wire_header h = {.kind = CLUSTER_KIND_VIDEO,
                                    .flags = CLUSTER_FLAG_KEY | CLUSTER_FLAG_SEQ_HEADER,
                                    .timestamp = 0x01020304,
                                    .epoch = 0x05060708,
                                    .seq = 0x090A0B0C0D0E0F10ULL,
                                    .length = 0x11121314,
                                    .segment = 0x15161718,
                                    .wall_ms = 0x191A1B1C1D1E1F20ULL};
    static const uint8_t want[CLUSTER_WIRE_HEADER_SIZE] = {
        2,    9,    3,    0,    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C,
        0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0,    0,    0,    0,
        0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20};
    uint8_t b[CLUSTER_WIRE_HEADER_SIZE];
    memset(b, 0xEE, sizeof b);
    cluster_wire_header_encode(b, &h);
    cr_assert_arr_eq(b, want, sizeof want);
}

Test(cluster_wire, header_encode_ignores_struct_version)
{
    struct cluster_wire_header h = {.version = 77, .kind = CLUSTER_KIND_AUDIO};
    uint8_t b[CLUSTER_WIRE_HEADER_SIZE];
    cluster_wire_header_encode(b, &h);
    cr_assert_eq(b[0], CLUSTER_WIRE_VERSION);
}

Test(cluster_wire, header_round_trip_kinds_flags)
{
    static const uint8_t kinds[] = {CLUSTER_KIND_AUDIO, CLUSTER_KIND_VIDEO, CLUSTER_KIND_DATA, CLUSTER_KIND_EOS};
    for (size_t k = 0; k < sizeof kinds; k++)
        for (uint8_t f = 0; f < 16; f++) {
            struct cluster_wire_header h = {.kind = kinds[k], .flags = f, .timestamp = 40u * f, .epoch = 2,
                                            .seq = 1 + k * 8 + f,
                                            .length = kinds[k] == CLUSTER_KIND_EOS ? 0 : 100u + f};
            header_round_trip(&h);
        }
}

Test(cluster_wire, header_round_trip_extremes)
{
    static const uint32_t ts[] = {0, 0xFFFFFFFFu};
    static const uint64_t seqs[] = {0, 1, UINT64_MAX};
    static const uint32_t epochs[] = {0, UINT32_MAX};
    static const uint32_t lens[] = {0, 16u << 20};
    for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 3; b++)
            for (size_t c = 0; c < 2; c++)
                for (size_t d = 0; d < 2; d++) {
                    struct cluster_wire_header h = {.kind = CLUSTER_KIND_DATA, .flags = CLUSTER_FLAG_METADATA,
                                                    .timestamp = ts[a], .seq = seqs[b], .epoch = epochs[c],
                                                    .length = lens[d]};
                    header_round_trip(&h);
                }
}

Test(cluster_wire, header_wrong_size)
{
    uint8_t b[CLUSTER_WIRE_HEADER_SIZE + 1];
    valid_header(b, 0);
    b[CLUSTER_WIRE_HEADER_SIZE] = 0;
    for (size_t n = 0; n < CLUSTER_WIRE_HEADER_SIZE; n++)
        cr_assert_str_eq(header_err(b, n, 0), "cluster header: wrong size");
    cr_assert_str_eq(header_err(b, CLUSTER_WIRE_HEADER_SIZE + 1, 0), "cluster header: wrong size");
    /* and the exact size of the same bytes is fine */
    struct cluster_wire_header h;
    cr_assert_eq(header_decode_copy(b, CLUSTER_WIRE_HEADER_SIZE, 0, &h, NULL), ST_OK);
}

Test(cluster_wire, header_wrong_version)
{
    static const uint8_t versions[] = {0, 1, 3, 255};
    for (size_t i = 0; i < sizeof versions; i++) {
        uint8_t b[CLUSTER_WIRE_HEADER_SIZE];
        valid_header(b, 10);
        b[0] = versions[i];
        cr_assert_str_eq(header_err(b, sizeof b, 10), "cluster header: wrong version");
    }
}

Test(cluster_wire, header_unknown_kind)
{
    int accepted = 0;
    for (unsigned k = 0; k < 256; k++) {
        uint8_t b[CLUSTER_WIRE_HEADER_SIZE];
        valid_header(b, 0);
        b[1] = (uint8_t)k;
        struct cluster_wire_header h;
        const char *err = NULL;
        if (header_decode_copy(b, sizeof b, 0, &h, &err) == ST_OK) {
            cr_assert(k == 8 || k == 9 || k == 18 || k == 0x40, "kind %u accepted", k);
            accepted++;
        } else {
            cr_assert_str_eq(err, "cluster header: unknown kind", "kind %u", k);
        }
    }
    cr_assert_eq(accepted, 4);
}

Test(cluster_wire, header_unknown_flags)
{
    for (unsigned bit = 4; bit < 8; bit++) {
        uint8_t b[CLUSTER_WIRE_HEADER_SIZE];
        valid_header(b, 0);
        b[2] |= (uint8_t)(1u << bit);
        cr_assert_str_eq(header_err(b, sizeof b, 0), "cluster header: unknown flags");
    }
}

Test(cluster_wire, header_reserved_not_zero)
{
    static const size_t reserved[] = {3, 28, 29, 30, 31};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        uint8_t b[CLUSTER_WIRE_HEADER_SIZE];
        valid_header(b, 0);
        b[reserved[i]] = 0x01;
        cr_assert_str_eq(header_err(b, sizeof b, 0), "cluster header: reserved bytes not zero", "byte %zu",
                         reserved[i]);
        b[reserved[i]] = 0x80;
        cr_assert_str_eq(header_err(b, sizeof b, 0), "cluster header: reserved bytes not zero");
    }
}

Test(cluster_wire, header_length_mismatch)
{
    uint8_t b[CLUSTER_WIRE_HEADER_SIZE];
    valid_header(b, 100);
    cr_assert_str_eq(header_err(b, sizeof b, 99), "cluster header: length mismatch");
    cr_assert_str_eq(header_err(b, sizeof b, 101), "cluster header: length mismatch");
    cr_assert_str_eq(header_err(b, sizeof b, 0), "cluster header: length mismatch");
    /* a payload frame bigger than u32 must not wrap onto the field */
    if (sizeof(size_t) > 4)
        cr_assert_str_eq(header_err(b, sizeof b, (size_t)((uint64_t)1 << 32) + 100),
                         "cluster header: length mismatch");
    struct cluster_wire_header h;
    cr_assert_eq(header_decode_copy(b, sizeof b, 100, &h, NULL), ST_OK);
    cr_assert_eq(h.length, 100);
}

Test(cluster_wire, header_eos_with_payload)
{
    struct cluster_wire_header h = {.kind = CLUSTER_KIND_EOS, .epoch = 1, .seq = 9, .length = 4};
    uint8_t b[CLUSTER_WIRE_HEADER_SIZE];
    cluster_wire_header_encode(b, &h);
    cr_assert_str_eq(header_err(b, sizeof b, 4), "cluster header: end of stream with a payload");
}

Test(cluster_wire, header_err_may_be_null)
{
    uint8_t b[CLUSTER_WIRE_HEADER_SIZE];
    valid_header(b, 0);
    b[0] = 1; /* version 1 (before the HLS stamps) is refused */
    struct cluster_wire_header h;
    cr_assert_eq(cluster_wire_header_decode(b, sizeof b, 0, &h, NULL), ST_ERROR);
    cr_assert_eq(cluster_wire_header_decode(NULL, 0, 0, &h, NULL), ST_ERROR);
}

/* ---- snapshot header ---- */

Test(cluster_wire, snap_golden_bytes)
{
    struct cluster_wire_snap_header s = {
        .status = CLUSTER_SNAP_OK, .count = 0x0102, .epoch = 0x03040506, .seq_end = 0x0708090A0B0C0D0EULL};
    static const uint8_t want[CLUSTER_WIRE_SNAP_HEADER_SIZE] = {2,    0,    0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                                                                0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E,
                                                                0,    0,    0,    0,    0,    0,    0,    0};
    uint8_t b[CLUSTER_WIRE_SNAP_HEADER_SIZE];
    memset(b, 0xEE, sizeof b);
    s.version = 9; /* ignored: encode always writes the current version */
    cluster_wire_snap_header_encode(b, &s);
    cr_assert_arr_eq(b, want, sizeof want);
}

Test(cluster_wire, snap_round_trip)
{
    static const uint16_t counts[] = {0, 1, UINT16_MAX};
    static const uint32_t epochs[] = {0, 1, UINT32_MAX};
    static const uint64_t seqs[] = {0, 1, UINT64_MAX};
    for (size_t st = 0; st < 2; st++)
        for (size_t c = 0; c < 3; c++)
            for (size_t e = 0; e < 3; e++)
                for (size_t q = 0; q < 3; q++) {
                    struct cluster_wire_snap_header in = {.status = (uint8_t)st,
                                                          .count = st == CLUSTER_SNAP_OK ? counts[c] : 0,
                                                          .epoch = epochs[e], .seq_end = seqs[q]};
                    uint8_t b[CLUSTER_WIRE_SNAP_HEADER_SIZE], b2[CLUSTER_WIRE_SNAP_HEADER_SIZE];
                    struct cluster_wire_snap_header out;
                    const char *err = NULL;
                    cluster_wire_snap_header_encode(b, &in);
                    cr_assert_eq(snap_decode_copy(b, sizeof b, &out, &err), ST_OK, "%s", err ? err : "?");
                    cr_assert_eq(out.version, CLUSTER_WIRE_VERSION);
                    cr_assert_eq(out.status, in.status);
                    cr_assert_eq(out.count, in.count);
                    cr_assert_eq(out.epoch, in.epoch);
                    cr_assert_eq(out.seq_end, in.seq_end);
                    cluster_wire_snap_header_encode(b2, &out);
                    cr_assert_arr_eq(b, b2, sizeof b);
                }
}

Test(cluster_wire, snap_wrong_size)
{
    uint8_t b[CLUSTER_WIRE_HEADER_SIZE + 2];
    memset(b, 0, sizeof b);
    valid_snap(b);
    for (size_t n = 0; n < CLUSTER_WIRE_SNAP_HEADER_SIZE; n++)
        cr_assert_str_eq(snap_err(b, n), "snapshot header: wrong size");
    for (size_t n = CLUSTER_WIRE_SNAP_HEADER_SIZE + 1; n <= sizeof b; n++)
        cr_assert_str_eq(snap_err(b, n), "snapshot header: wrong size");
    struct cluster_wire_snap_header s;
    cr_assert_eq(snap_decode_copy(b, CLUSTER_WIRE_SNAP_HEADER_SIZE, &s, NULL), ST_OK);
}

Test(cluster_wire, snap_wrong_version)
{
    static const uint8_t versions[] = {0, 1, 3, 255};
    for (size_t i = 0; i < sizeof versions; i++) {
        uint8_t b[CLUSTER_WIRE_SNAP_HEADER_SIZE];
        valid_snap(b);
        b[0] = versions[i];
        cr_assert_str_eq(snap_err(b, sizeof b), "snapshot header: wrong version");
    }
}

Test(cluster_wire, snap_unknown_status)
{
    for (unsigned st = 2; st < 256; st++) {
        uint8_t b[CLUSTER_WIRE_SNAP_HEADER_SIZE];
        valid_snap(b);
        b[1] = (uint8_t)st;
        cr_assert_str_eq(snap_err(b, sizeof b), "snapshot header: unknown status");
    }
}

Test(cluster_wire, snap_reserved_not_zero)
{
    for (size_t i = 16; i < CLUSTER_WIRE_SNAP_HEADER_SIZE; i++) {
        uint8_t b[CLUSTER_WIRE_SNAP_HEADER_SIZE];
        valid_snap(b);
        b[i] = 0x10;
        cr_assert_str_eq(snap_err(b, sizeof b), "snapshot header: reserved bytes not zero", "byte %zu", i);
    }
}

Test(cluster_wire, snap_not_found_with_messages)
{
    struct cluster_wire_snap_header s = {.status = CLUSTER_SNAP_NOT_FOUND, .count = 1};
    uint8_t b[CLUSTER_WIRE_SNAP_HEADER_SIZE];
    cluster_wire_snap_header_encode(b, &s);
    cr_assert_str_eq(snap_err(b, sizeof b), "snapshot header: not found with messages");
}

/* ---- topic ---- */

Test(cluster_wire, topic_basic)
{
    char t[CLUSTER_WIRE_TOPIC_MAX];
    memset(t, 'x', sizeof t);
    cr_assert_eq(cluster_wire_topic(t, sizeof t, "live/a"), 7);
    cr_assert_arr_eq(t, "live/a\0", 7);
    cr_assert_str_eq(cluster_wire_topic_key(t, 7), "live/a");
    cr_assert_eq((const void *)cluster_wire_topic_key(t, 7), (const void *)t); /* borrowed, not copied */
}

Test(cluster_wire, topic_rejects)
{
    char t[16];
    cr_assert_eq(cluster_wire_topic(t, sizeof t, ""), 0);
    cr_assert_eq(cluster_wire_topic(t, sizeof t, NULL), 0);
    cr_assert_eq(cluster_wire_topic(NULL, 16, "live/a"), 0);
    cr_assert_eq(cluster_wire_topic(t, 0, "live/a"), 0);
    /* fits exactly: 15 chars + NUL in 16; one more does not */
    cr_assert_eq(cluster_wire_topic(t, sizeof t, "live/0123456789"), 16);
    cr_assert_eq(cluster_wire_topic(t, sizeof t, "live/0123456789a"), 0);
    cr_assert_eq(cluster_wire_topic(t, 6, "live/a"), 0);
    cr_assert_eq(cluster_wire_topic(t, 7, "live/a"), 7);
}

Test(cluster_wire, topic_key_with_nul)
{
    /* A C string ends at its first NUL, so the key is what precedes it: an
     * embedded NUL can never leak into the topic and break the prefix rule. */
    static const char key[] = "live\0a";
    char t[16];
    memset(t, 'x', sizeof t);
    cr_assert_eq(cluster_wire_topic(t, sizeof t, key), 5);
    cr_assert_arr_eq(t, "live\0", 5);
    cr_assert_eq(cluster_wire_topic(t, sizeof t, "\0live"), 0);
}

Test(cluster_wire, topic_max)
{
    /* TOPIC_MAX caps the topic even when dst is larger. */
    size_t cap = CLUSTER_WIRE_TOPIC_MAX * 2;
    char *key = malloc(cap), *t = malloc(cap);
    cr_assert(key && t);
    memset(key, 'k', CLUSTER_WIRE_TOPIC_MAX - 1);
    key[CLUSTER_WIRE_TOPIC_MAX - 1] = '\0';
    cr_assert_eq(cluster_wire_topic(t, cap, key), CLUSTER_WIRE_TOPIC_MAX);
    cr_assert_not_null(cluster_wire_topic_key(t, CLUSTER_WIRE_TOPIC_MAX));
    memset(key, 'k', CLUSTER_WIRE_TOPIC_MAX);
    key[CLUSTER_WIRE_TOPIC_MAX] = '\0';
    cr_assert_eq(cluster_wire_topic(t, cap, key), 0);
    t[CLUSTER_WIRE_TOPIC_MAX] = '\0';
    memset(t, 'k', CLUSTER_WIRE_TOPIC_MAX);
    cr_assert_null(cluster_wire_topic_key(t, CLUSTER_WIRE_TOPIC_MAX + 1));
    free(key);
    free(t);
}

Test(cluster_wire, topic_key_rejects)
{
    cr_assert_null(cluster_wire_topic_key("live/a", 6));    /* no NUL */
    cr_assert_null(cluster_wire_topic_key("live\0a\0", 7)); /* NUL inside the key */
    cr_assert_null(cluster_wire_topic_key("live/a\0x", 8)); /* NUL not at the end */
    cr_assert_null(cluster_wire_topic_key("\0", 1));        /* empty key */
    cr_assert_null(cluster_wire_topic_key("\0\0", 2));
    cr_assert_null(cluster_wire_topic_key("", 0));
    cr_assert_null(cluster_wire_topic_key(NULL, 0));
    cr_assert_null(cluster_wire_topic_key(NULL, 7));
    cr_assert_str_eq(cluster_wire_topic_key("a\0", 2), "a");
}

Test(cluster_wire, topic_key_every_length)
{
    /* Every prefix of a valid topic but the whole is rejected; exact-size
     * copies let ASan see any read past len. */
    static const char topic[] = "live/stream1"; /* sizeof includes the NUL */
    for (size_t n = 0; n <= sizeof topic; n++) {
        char *copy = malloc(n ? n : 1);
        cr_assert_not_null(copy);
        memcpy(copy, topic, n < sizeof topic ? n : sizeof topic);
        if (n == sizeof topic)
            cr_assert_str_eq(cluster_wire_topic_key(copy, n), "live/stream1");
        else
            cr_assert_null(cluster_wire_topic_key(copy, n), "len %zu", n);
        free(copy);
    }
}

Test(cluster_wire, topic_prefix_free)
{
    static const char *pairs[][2] = {
        {"live/a", "live/ab"}, {"live/a", "live/a/b"}, {"app/s", "app/s1"}, {"l/x", "l/xx"}, {"a", "ab"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char s[64], l[64];
        size_t ns = cluster_wire_topic(s, sizeof s, pairs[i][0]);
        size_t nl = cluster_wire_topic(l, sizeof l, pairs[i][1]);
        cr_assert(ns > 0 && nl > ns);
        /* the raw keys are prefixes; the topics (what SUB matches) are not */
        cr_assert_eq(memcmp(pairs[i][0], pairs[i][1], ns - 1), 0);
        cr_assert_neq(memcmp(s, l, ns), 0, "%s is a prefix of %s", pairs[i][0], pairs[i][1]);
    }
}
