#include "rtmp/rtmp_handshake.h"
#include "core/status.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include <time.h>

#define HS_C0C1_SIZE (1 + RTMP_HANDSHAKE_SIZE)
#define HS_DIGEST_LEN 32
#define HS_VERSION 3
#define HS_VERSION_RTMPE 6

/*
 * The Flash handshake keys: a public text part followed by the same 32-byte
 * constant. The text alone signs digests in C1/S1; the full key derives the
 * per-session key that signs S2 (server) and C2 (player).
 */
#define HS_PLAYER_TEXT_LEN 30 /* "Genuine Adobe Flash Player 001" */
#define HS_SERVER_TEXT_LEN 36 /* "Genuine Adobe Flash Media Server 001" */

static const uint8_t hs_player_key[HS_PLAYER_TEXT_LEN] = "Genuine Adobe Flash Player 001";

static const uint8_t hs_server_key[HS_SERVER_TEXT_LEN + 32] = {
    'G', 'e', 'n', 'u', 'i', 'n', 'e', ' ', 'A', 'd', 'o', 'b', 'e', ' ', 'F', 'l', 'a', 's',
    'h', ' ', 'M', 'e', 'd', 'i', 'a', ' ', 'S', 'e', 'r', 'v', 'e', 'r', ' ', '0', '0', '1',
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE};

/* S1 version field in the digest handshake, as nginx-rtmp sends it; ffmpeg
 * players only validate S1/S2 when its first byte is >= 3. */
static const uint8_t hs_server_version[4] = {0x0d, 0x0e, 0x0a, 0x0d};
static const uint8_t hs_zero_version[4] = {0, 0, 0, 0}; /* simple handshake */

/* Offset of the 32-byte digest in a 1536-byte C1/S1. Scheme 0 derives it from
 * bytes 8..11, scheme 1 from bytes 772..775; both land in [12, 1504]. */
static size_t hs_digest_pos(const uint8_t *p, int scheme)
{
    size_t base = scheme ? 772 : 8;
    unsigned sum = (unsigned)p[base] + p[base + 1] + p[base + 2] + p[base + 3];
    return sum % 728 + base + 4;
}

static int hs_hmac(const void *key, size_t keylen, const uint8_t *data, size_t len,
                   uint8_t out[HS_DIGEST_LEN])
{
    unsigned outlen = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) || outlen != HS_DIGEST_LEN)
        return ST_ERROR;
    return ST_OK;
}

/* HMAC over a 1536-byte packet with the digest slot at pos left out. */
static int hs_digest(const uint8_t *p, size_t pos, const uint8_t *key, size_t keylen,
                     uint8_t out[HS_DIGEST_LEN])
{
    uint8_t tmp[RTMP_HANDSHAKE_SIZE - HS_DIGEST_LEN];
    memcpy(tmp, p, pos);
    memcpy(tmp + pos, p + pos + HS_DIGEST_LEN, RTMP_HANDSHAKE_SIZE - pos - HS_DIGEST_LEN);
    return hs_hmac(key, keylen, tmp, sizeof tmp, out);
}

/* Scheme (0/1) whose slot holds a valid player digest, -1 for none. */
static int hs_find_client_digest(const uint8_t *c1, size_t *pos)
{
    for (int scheme = 0; scheme < 2; scheme++) {
        uint8_t d[HS_DIGEST_LEN];
        size_t at = hs_digest_pos(c1, scheme);
        if (hs_digest(c1, at, hs_player_key, sizeof hs_player_key, d) != ST_OK)
            return -1;
        if (memcmp(d, c1 + at, HS_DIGEST_LEN) == 0) {
            *pos = at;
            return scheme;
        }
    }
    return -1;
}

static uint32_t hs_time_ms(void)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
        return 0;
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

/* Time, the given version field, then random filler. */
static int hs_fill_packet(uint8_t *p, const uint8_t version[4])
{
    wr_be32(p, hs_time_ms());
    memcpy(p + 4, version, 4);
    return RAND_bytes(p + 8, RTMP_HANDSHAKE_SIZE - 8) == 1 ? ST_OK : ST_ERROR;
}

static int hs_fail(struct rtmp_handshake *h, const char *why)
{
    h->error = why;
    return ST_ERROR;
}

/* Build S0+S1+S2 for the C0+C1 in h->peer and append it in one piece, so a
 * full output buffer leaves nothing half-written. */
static int hs_server_reply(struct rtmp_handshake *h, struct buf *out)
{
    const uint8_t *c1 = h->peer + 1;
    uint8_t reply[1 + 2 * RTMP_HANDSHAKE_SIZE];
    uint8_t *s1 = reply + 1, *s2 = reply + 1 + RTMP_HANDSHAKE_SIZE;
    size_t c1_pos = 0;

    h->scheme = rd_be32(c1 + 4) != 0 ? hs_find_client_digest(c1, &c1_pos) : -1;
    h->complex = h->scheme >= 0;
    reply[0] = HS_VERSION;

    if (!h->complex) {
        if (hs_fill_packet(s1, hs_zero_version) != ST_OK)
            return hs_fail(h, "random source failed");
        memcpy(s2, c1, RTMP_HANDSHAKE_SIZE);
    } else {
        uint8_t key[HS_DIGEST_LEN];
        size_t s1_pos;
        if (hs_fill_packet(s1, hs_server_version) != ST_OK ||
            RAND_bytes(s2, RTMP_HANDSHAKE_SIZE - HS_DIGEST_LEN) != 1)
            return hs_fail(h, "random source failed");
        /* The slot position depends on S1's random bytes, so compute it
         * only after filling. */
        s1_pos = hs_digest_pos(s1, h->scheme);
        if (hs_digest(s1, s1_pos, hs_server_key, HS_SERVER_TEXT_LEN, s1 + s1_pos) != ST_OK ||
            hs_hmac(hs_server_key, sizeof hs_server_key, c1 + c1_pos, HS_DIGEST_LEN, key) != ST_OK ||
            hs_hmac(key, sizeof key, s2, RTMP_HANDSHAKE_SIZE - HS_DIGEST_LEN,
                    s2 + RTMP_HANDSHAKE_SIZE - HS_DIGEST_LEN) != ST_OK)
            return hs_fail(h, "HMAC failed");
    }
    if (buf_append(out, reply, sizeof reply) != ST_OK)
        return hs_fail(h, "output buffer full");
    return ST_OK;
}

void rtmp_handshake_server_init(struct rtmp_handshake *h)
{
    memset(h, 0, sizeof *h);
    h->state = RTMP_HS_WAIT_C0C1;
    h->scheme = -1;
}

int rtmp_handshake_client_start(struct rtmp_handshake *h, struct buf *out)
{
    uint8_t c0c1[HS_C0C1_SIZE];

    memset(h, 0, sizeof *h);
    h->state = RTMP_HS_CLIENT_WAIT_S0S1S2;
    h->scheme = -1;
    c0c1[0] = HS_VERSION;
    if (hs_fill_packet(c0c1 + 1, hs_zero_version) != ST_OK)
        return hs_fail(h, "random source failed");
    if (buf_append(out, c0c1, sizeof c0c1) != ST_OK)
        return hs_fail(h, "output buffer full");
    return ST_OK;
}

/* Check C0/S0 as soon as it arrives, so a non-RTMP peer fails after one byte
 * whatever the read boundaries. */
static int hs_check_version(struct rtmp_handshake *h, uint8_t v)
{
    if (v == HS_VERSION)
        return ST_OK;
    return hs_fail(h, v == HS_VERSION_RTMPE ? "RTMPE not supported" : "unsupported RTMP version");
}

int rtmp_handshake_feed(struct rtmp_handshake *h, const uint8_t *in, size_t len, size_t *consumed,
                        struct buf *out)
{
    size_t used = 0;
    int rc = ST_AGAIN;

    if (h->error) {
        *consumed = 0;
        return ST_ERROR;
    }
    while (rc == ST_AGAIN && used < len) {
        const uint8_t *p = in + used;
        size_t n = len - used;

        switch (h->state) {
        case RTMP_HS_WAIT_C0C1:
            if (h->have == 0 && hs_check_version(h, p[0]) != ST_OK) {
                used++;
                rc = ST_ERROR;
                break;
            }
            if (n > HS_C0C1_SIZE - h->have)
                n = HS_C0C1_SIZE - h->have;
            memcpy(h->peer + h->have, p, n);
            h->have += n;
            used += n;
            if (h->have == HS_C0C1_SIZE) {
                if (hs_server_reply(h, out) != ST_OK) {
                    rc = ST_ERROR;
                    break;
                }
                h->state = RTMP_HS_WAIT_C2;
                h->have = 0;
            }
            break;

        case RTMP_HS_WAIT_C2:
            /* C2 content is not checked: ffmpeg players send a signed C2,
             * rtmp2 rewrites the time, the rest echo S1 (CLIENTS.md). */
            if (n > RTMP_HANDSHAKE_SIZE - h->have)
                n = RTMP_HANDSHAKE_SIZE - h->have;
            h->have += n;
            used += n;
            if (h->have == RTMP_HANDSHAKE_SIZE) {
                h->state = RTMP_HS_DONE;
                rc = ST_DONE;
            }
            break;

        case RTMP_HS_CLIENT_WAIT_S0S1S2:
            /* S0+S1 are kept for the C2 echo; S2 is only counted. */
            if (h->have == 0 && hs_check_version(h, p[0]) != ST_OK) {
                used++;
                rc = ST_ERROR;
                break;
            }
            if (n > HS_C0C1_SIZE + RTMP_HANDSHAKE_SIZE - h->have)
                n = HS_C0C1_SIZE + RTMP_HANDSHAKE_SIZE - h->have;
            if (h->have < HS_C0C1_SIZE) {
                size_t k = n < HS_C0C1_SIZE - h->have ? n : HS_C0C1_SIZE - h->have;
                memcpy(h->peer + h->have, p, k);
            }
            h->have += n;
            used += n;
            if (h->have == HS_C0C1_SIZE + RTMP_HANDSHAKE_SIZE) {
                if (buf_append(out, h->peer + 1, RTMP_HANDSHAKE_SIZE) != ST_OK) {
                    rc = hs_fail(h, "output buffer full");
                    break;
                }
                h->state = RTMP_HS_DONE;
                rc = ST_DONE;
            }
            break;

        case RTMP_HS_DONE:
            rc = ST_DONE;
            break;
        }
    }
    if (rc == ST_AGAIN && h->state == RTMP_HS_DONE)
        rc = ST_DONE;
    *consumed = used;
    return rc;
}
