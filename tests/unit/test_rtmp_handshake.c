/*
 * Unit tests for rtmp_handshake: simple and digest handshakes against real
 * client captures and constructed C1s, checked with an independent copy of
 * the validation ffmpeg's RTMP player performs on S1/S2 (libavformat
 * rtmp_handshake: S1 digest with the 36-byte FMS key at scheme 1 then 0, S2
 * signed with HMAC(68-byte FMS key, C1 digest)). Every case runs whole, byte
 * by byte and split at every offset.
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/status.h"
#include "rtmp/rtmp_handshake.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#error "SC_TEST_DATA must name the tests/data directory"
#endif

#define HS 1536
#define C0C1 1537
#define S0S1S2 3073
#define OUT_MAX (1u << 16)

/* Keys typed in again here (not shared with the module) so a wrong constant
 * in one place cannot hide itself. */
static const uint8_t fp_const[32] = {0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0,
                                     0xD1, 0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80,
                                     0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE};
static uint8_t player_key[62]; /* "Genuine Adobe Flash Player 001" + fp_const */
static uint8_t server_key[68]; /* "Genuine Adobe Flash Media Server 001" + fp_const */

static void keys_init(void)
{
    memcpy(player_key, "Genuine Adobe Flash Player 001", 30);
    memcpy(player_key + 30, fp_const, 32);
    memcpy(server_key, "Genuine Adobe Flash Media Server 001", 36);
    memcpy(server_key + 36, fp_const, 32);
}

/* ---- helpers: files, PRNG, ffmpeg-style digest math ---------------------- */

static uint8_t *load(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", SC_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    cr_assert(n > S0S1S2 + 100, "%s too short", path);
    uint8_t *p = malloc((size_t)n);
    cr_assert_not_null(p);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static uint32_t rng_state = 0x12345678;
static uint8_t rng8(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (uint8_t)(rng_state >> 24);
}

/* ff_rtmp_calc_digest_pos(buf, base, 728, base + 4) */
static size_t t_pos(const uint8_t *p, size_t base)
{
    return ((size_t)p[base] + p[base + 1] + p[base + 2] + p[base + 3]) % 728 + base + 4;
}

static void t_hmac(const uint8_t *key, size_t keylen, const uint8_t *d, size_t n, uint8_t out[32])
{
    unsigned olen = 0;
    cr_assert_not_null(HMAC(EVP_sha256(), key, (int)keylen, d, n, out, &olen));
    cr_assert_eq(olen, 32u);
}

/* ff_rtmp_calc_digest with a gap: HMAC of the packet without [gap, gap+32). */
static void t_gap_hmac(const uint8_t *p, size_t gap, const uint8_t *key, size_t keylen, uint8_t out[32])
{
    uint8_t tmp[HS - 32];
    memcpy(tmp, p, gap);
    memcpy(tmp + gap, p + gap + 32, HS - gap - 32);
    t_hmac(key, keylen, tmp, sizeof tmp, out);
}

/* Position of a valid digest in a 1536-byte packet at base 8 or 772, 0 if none. */
static size_t t_find(const uint8_t *p, size_t base, const uint8_t *key, size_t keylen)
{
    uint8_t d[32];
    size_t at = t_pos(p, base);
    t_gap_hmac(p, at, key, keylen, d);
    return memcmp(d, p + at, 32) == 0 ? at : 0;
}

/*
 * What an ffmpeg player does with S0+S1+S2 after sending a digest C1 whose
 * digest is c1_digest: validate only when S1 byte 4 >= 3; then look for the
 * S1 digest at scheme 1 first, then scheme 0, and check the S2 signature.
 * Returns 0 when accepted, 1 when not validated at all, -1 when rejected.
 * *s1_pos receives the S1 digest position.
 */
static int ffmpeg_check(const uint8_t *s, const uint8_t *c1_digest, size_t *s1_pos)
{
    const uint8_t *s1 = s + 1, *s2 = s + C0C1;
    if (s1[4] < 3)
        return 1;
    size_t pos = t_find(s1, 772, server_key, 36);
    if (!pos)
        pos = t_find(s1, 8, server_key, 36);
    if (!pos)
        return -1; /* "Server response validating failed" */
    uint8_t key[32], sig[32];
    t_hmac(server_key, sizeof server_key, c1_digest, 32, key);
    t_hmac(key, 32, s2, HS - 32, sig);
    if (memcmp(sig, s2 + HS - 32, 32) != 0)
        return -1; /* "Signature mismatch" */
    if (s1_pos)
        *s1_pos = pos;
    return 0;
}

/* C0+C1 the way a Flash-style client builds it, digest at the given scheme. */
static void make_c0c1(uint8_t *c, int scheme, int version_nonzero)
{
    c[0] = 3;
    memset(c + 1, 0, 4);
    if (version_nonzero) {
        c[5] = 9; c[6] = 0; c[7] = 124; c[8] = 2;
    } else {
        memset(c + 5, 0, 4);
    }
    for (size_t i = 9; i < C0C1; i++)
        c[i] = rng8();
    size_t at = t_pos(c + 1, scheme ? 772 : 8);
    t_gap_hmac(c + 1, at, player_key, 30, c + 1 + at);
}

/* ---- driver: feed in pieces, check the contract on every call ------------ */

struct run {
    int rc;
    size_t consumed;
    struct buf out;
    struct rtmp_handshake h;
};

/*
 * Feed in[0..len) to a fresh server (or client when client != 0): first
 * in[0..first), then the rest in pieces of step bytes (0: all at once).
 * Stops at the first status other than ST_AGAIN.
 */
static void drive(struct run *r, int client, const uint8_t *in, size_t len, size_t first, size_t step)
{
    buf_init(&r->out, OUT_MAX);
    if (client) {
        cr_assert_eq(rtmp_handshake_client_start(&r->h, &r->out), ST_OK);
        cr_assert_eq(r->out.len, (size_t)C0C1);
    } else {
        rtmp_handshake_server_init(&r->h);
    }
    size_t base_out = r->out.len;
    size_t off = 0;
    r->rc = ST_AGAIN;
    while (r->rc == ST_AGAIN && off < len) {
        size_t n = off == 0 && first ? first : (step ? step : len - off);
        if (n > len - off)
            n = len - off;
        size_t used = (size_t)-1;
        r->rc = rtmp_handshake_feed(&r->h, in + off, n, &used, &r->out);
        cr_assert(used <= n);
        if (r->rc == ST_AGAIN)
            cr_assert_eq(used, n, "ST_AGAIN must consume everything");
        off += used;
        if (!client && r->rc == ST_AGAIN && off < C0C1)
            cr_assert_eq(r->out.len, base_out, "output before C0+C1 complete");
    }
    r->consumed = off;
}

/* Every split must give the same status, counts and deterministic bytes. */
static void same_run(const struct run *a, const struct run *b, const char *what, size_t at)
{
    cr_assert_eq(a->rc, b->rc, "%s @%zu: rc", what, at);
    cr_assert_eq(a->consumed, b->consumed, "%s @%zu: consumed", what, at);
    cr_assert_eq(a->out.len, b->out.len, "%s @%zu: out.len", what, at);
    cr_assert_eq(a->h.complex, b->h.complex, "%s @%zu: complex", what, at);
    cr_assert_eq(a->h.scheme, b->h.scheme, "%s @%zu: scheme", what, at);
    cr_assert_eq(a->h.error, b->h.error, "%s @%zu: error", what, at);
}

/* Check a server reply to C0+C1 c: simple (echo) or accepted by ffmpeg. */
static void check_reply(const uint8_t *c, const uint8_t *s, int complex, int scheme)
{
    cr_assert_eq(s[0], 3);
    if (!complex) {
        cr_assert(s[5] == 0 && s[6] == 0 && s[7] == 0 && s[8] == 0, "simple S1 needs zero version");
        cr_assert(memcmp(s + C0C1, c + 1, HS) == 0, "simple S2 must echo C1");
        return;
    }
    size_t c1_pos = t_pos(c + 1, scheme ? 772 : 8), s1_pos = 0;
    cr_assert_neq(t_find(c + 1, scheme ? 772 : 8, player_key, 30), 0u);
    cr_assert_eq(ffmpeg_check(s, c + 1 + c1_pos, &s1_pos), 0, "ffmpeg would reject S1/S2");
    cr_assert_eq(s1_pos, t_pos(s + 1, scheme ? 772 : 8), "S1 digest not at the C1 scheme");
}

static void free_run(struct run *r) { buf_free(&r->out); }

/* Whole, byte by byte, and split at every offset; returns the whole run. */
static void all_splits(struct run *whole, int client, const uint8_t *in, size_t len)
{
    drive(whole, client, in, len, 0, 0);
    struct run r;
    drive(&r, client, in, len, 0, 1);
    same_run(whole, &r, "byte-by-byte", 0);
    if (!client && r.out.len == S0S1S2)
        check_reply(in, r.out.data, r.h.complex, r.h.scheme);
    free_run(&r);
    for (size_t k = 1; k < len; k++) {
        drive(&r, client, in, len, k, 0);
        same_run(whole, &r, "split", k);
        if (!client && r.out.len == S0S1S2)
            check_reply(in, r.out.data, r.h.complex, r.h.scheme);
        free_run(&r);
    }
}

TestSuite(rtmp_handshake, .init = keys_init);

/* ---- the test helpers themselves, against the real ffmpeg/nginx session -- */

Test(rtmp_handshake, helper_matches_real_ffmpeg_and_nginx)
{
    size_t clen, slen;
    uint8_t *c = load("play-ffmpeg.c2s.bin", &clen);
    uint8_t *s = load("play-ffmpeg.s2c.bin", &slen);
    /* ffmpeg's C1: digest at scheme 0 only. */
    size_t c1_pos = t_find(c + 1, 8, player_key, 30);
    cr_assert_neq(c1_pos, 0u);
    cr_assert_eq(t_find(c + 1, 772, player_key, 30), 0u);
    /* nginx-rtmp's S1/S2 pass our copy of ffmpeg's check... */
    size_t s1_pos = 0;
    cr_assert_eq(ffmpeg_check(s, c + 1 + c1_pos, &s1_pos), 0);
    /* ...and ffmpeg's C2 is signed with HMAC(62-byte player key, S1 digest),
     * which pins down the shared 32-byte constant. */
    uint8_t key[32], sig[32];
    t_hmac(player_key, sizeof player_key, s + 1 + s1_pos, 32, key);
    t_hmac(key, 32, c + C0C1, HS - 32, sig);
    cr_assert(memcmp(sig, c + C0C1 + HS - 32, 32) == 0);
    /* A corrupted S2 must be rejected, so the check can fail. */
    s[C0C1 + 100] ^= 1;
    cr_assert_eq(ffmpeg_check(s, c + 1 + c1_pos, NULL), -1);
    free(c);
    free(s);
}

/* ---- server: real captures ----------------------------------------------- */

Test(rtmp_handshake, ffmpeg_player_gets_digest_handshake)
{
    size_t len;
    uint8_t *c = load("play-ffmpeg.c2s.bin", &len);
    struct run w;
    all_splits(&w, 0, c, len);
    cr_assert_eq(w.rc, ST_DONE);
    cr_assert_eq(w.consumed, (size_t)S0S1S2, "chunk data after C2 must stay unconsumed");
    cr_assert_eq(w.out.len, (size_t)S0S1S2);
    cr_assert_eq(w.h.complex, 1);
    cr_assert_eq(w.h.scheme, 0);
    cr_assert_eq(w.h.state, RTMP_HS_DONE);
    cr_assert_geq(w.out.data[5], 3, "ffmpeg validates only when S1[4] >= 3");
    check_reply(c, w.out.data, 1, 0);
    free_run(&w);
    free(c);
}

static void simple_capture(const char *name)
{
    size_t len;
    uint8_t *c = load(name, &len);
    cr_assert_eq(rd_be32(c + 5), 0u, "%s: expected a simple C1", name);
    struct run w;
    all_splits(&w, 0, c, S0S1S2 + 64); /* handshake plus the first chunk bytes */
    cr_assert_eq(w.rc, ST_DONE);
    cr_assert_eq(w.consumed, (size_t)S0S1S2);
    cr_assert_eq(w.h.complex, 0);
    cr_assert_eq(w.h.scheme, -1);
    check_reply(c, w.out.data, 0, -1);
    free_run(&w);
    free(c);
}

Test(rtmp_handshake, obs_publisher_simple) { simple_capture("publish-obs.c2s.bin"); }
Test(rtmp_handshake, rtmpdump_player_simple) { simple_capture("play-rtmpdump.c2s.bin"); }
Test(rtmp_handshake, gst_rtmp2_clients_simple)
{
    simple_capture("play-gst-rtmp2src.c2s.bin");
    simple_capture("publish-gst-rtmp2sink.c2s.bin");
}

Test(rtmp_handshake, ffmpeg_publisher_digest)
{
    size_t len;
    uint8_t *c = load("publish-ffmpeg.c2s.bin", &len);
    struct run w;
    drive(&w, 0, c, len, 0, 0);
    cr_assert_eq(w.rc, ST_DONE);
    cr_assert_eq(w.consumed, (size_t)S0S1S2);
    cr_assert_eq(w.h.complex, 1);
    check_reply(c, w.out.data, 1, w.h.scheme);
    free_run(&w);
    free(c);
}

/* ---- server: constructed C1s --------------------------------------------- */

static void constructed(int scheme)
{
    uint8_t in[S0S1S2 + 40];
    make_c0c1(in, scheme, 1);
    for (size_t i = C0C1; i < sizeof in; i++)
        in[i] = rng8();
    struct run w;
    all_splits(&w, 0, in, sizeof in);
    cr_assert_eq(w.rc, ST_DONE);
    cr_assert_eq(w.consumed, (size_t)S0S1S2);
    cr_assert_eq(w.h.complex, 1);
    cr_assert_eq(w.h.scheme, scheme);
    check_reply(in, w.out.data, 1, scheme);
    free_run(&w);
}

Test(rtmp_handshake, digest_scheme0) { constructed(0); }
Test(rtmp_handshake, digest_scheme1) { constructed(1); }

Test(rtmp_handshake, many_digest_c1s_all_accepted)
{
    /* Different random bytes move the digest slots around. */
    for (int i = 0; i < 200; i++) {
        uint8_t in[S0S1S2];
        make_c0c1(in, i & 1, 1);
        memset(in + C0C1, 0, HS);
        struct run w;
        drive(&w, 0, in, sizeof in, 0, 0);
        cr_assert_eq(w.rc, ST_DONE);
        cr_assert_eq(w.h.scheme, i & 1);
        check_reply(in, w.out.data, 1, i & 1);
        free_run(&w);
    }
}

Test(rtmp_handshake, wrong_digest_falls_back_to_simple)
{
    uint8_t in[S0S1S2];
    make_c0c1(in, 1, 1);
    memset(in + C0C1, 0, HS);
    in[1 + t_pos(in + 1, 772) + 7] ^= 0x40; /* corrupt the digest */
    struct run w;
    all_splits(&w, 0, in, sizeof in);
    cr_assert_eq(w.rc, ST_DONE);
    cr_assert_eq(w.h.complex, 0);
    cr_assert_eq(w.h.scheme, -1);
    check_reply(in, w.out.data, 0, -1);
    free_run(&w);

    /* A digest made with the wrong key does not count either. */
    make_c0c1(in, 0, 1);
    size_t at = t_pos(in + 1, 8);
    t_gap_hmac(in + 1, at, server_key, 36, in + 1 + at);
    drive(&w, 0, in, sizeof in, 0, 0);
    cr_assert_eq(w.h.complex, 0);
    check_reply(in, w.out.data, 0, -1);
    free_run(&w);
}

Test(rtmp_handshake, zero_version_with_digest_is_simple)
{
    uint8_t in[S0S1S2];
    make_c0c1(in, 0, 0);
    memset(in + C0C1, 0, HS);
    struct run w;
    drive(&w, 0, in, sizeof in, 0, 0);
    cr_assert_eq(w.rc, ST_DONE);
    cr_assert_eq(w.h.complex, 0);
    check_reply(in, w.out.data, 0, -1);
    free_run(&w);
}

/* ---- server: truncated, bad, oversized ----------------------------------- */

Test(rtmp_handshake, truncated_waits_without_output)
{
    uint8_t in[S0S1S2];
    make_c0c1(in, 0, 1);
    memset(in + C0C1, 0, HS);
    struct rtmp_handshake h;
    struct buf out;
    buf_init(&out, OUT_MAX);
    rtmp_handshake_server_init(&h);
    size_t used;
    cr_assert_eq(rtmp_handshake_feed(&h, in, 0, &used, &out), ST_AGAIN);
    cr_assert_eq(used, 0u);
    cr_assert_eq(rtmp_handshake_feed(&h, in, C0C1 - 1, &used, &out), ST_AGAIN);
    cr_assert_eq(used, (size_t)C0C1 - 1);
    cr_assert_eq(out.len, 0u);
    cr_assert_eq(h.state, RTMP_HS_WAIT_C0C1);
    cr_assert_eq(rtmp_handshake_feed(&h, in + C0C1 - 1, 1, &used, &out), ST_AGAIN);
    cr_assert_eq(used, 1u);
    cr_assert_eq(out.len, (size_t)S0S1S2);
    cr_assert_eq(h.state, RTMP_HS_WAIT_C2);
    cr_assert_eq(rtmp_handshake_feed(&h, in + C0C1, HS - 1, &used, &out), ST_AGAIN);
    cr_assert_eq(used, (size_t)HS - 1);
    cr_assert_eq(out.len, (size_t)S0S1S2, "no more output while waiting for C2");
    cr_assert_eq(rtmp_handshake_feed(&h, in + S0S1S2 - 1, 1, &used, &out), ST_DONE);
    cr_assert_eq(used, 1u);
    /* Once done, nothing more is taken. */
    cr_assert_eq(rtmp_handshake_feed(&h, in, 10, &used, &out), ST_DONE);
    cr_assert_eq(used, 0u);
    cr_assert_eq(out.len, (size_t)S0S1S2);
    buf_free(&out);
}

static void bad_first_byte(uint8_t v, const char *why)
{
    uint8_t in[C0C1 + 10];
    make_c0c1(in, 0, 1);
    in[0] = v;
    struct run w;
    all_splits(&w, 0, in, sizeof in);
    cr_assert_eq(w.rc, ST_ERROR);
    cr_assert_eq(w.consumed, 1u);
    cr_assert_eq(w.out.len, 0u);
    cr_assert_str_eq(w.h.error, why);
    /* Sticky: later calls fail too and take nothing. */
    size_t used = 99;
    cr_assert_eq(rtmp_handshake_feed(&w.h, in, sizeof in, &used, &w.out), ST_ERROR);
    cr_assert_eq(used, 0u);
    free_run(&w);
}

Test(rtmp_handshake, bad_version)
{
    bad_first_byte(0, "unsupported RTMP version");
    bad_first_byte(4, "unsupported RTMP version");
    bad_first_byte(0xff, "unsupported RTMP version");
    bad_first_byte('G', "unsupported RTMP version"); /* HTTP on the RTMP port */
    bad_first_byte(6, "RTMPE not supported");
}

Test(rtmp_handshake, garbage_c1_still_answered)
{
    /* C1 content is opaque: all-0xff with a non-zero version is simple. */
    uint8_t in[S0S1S2 + 5];
    memset(in, 0xff, sizeof in);
    in[0] = 3;
    struct run w;
    all_splits(&w, 0, in, sizeof in);
    cr_assert_eq(w.rc, ST_DONE);
    cr_assert_eq(w.consumed, (size_t)S0S1S2);
    cr_assert_eq(w.h.complex, 0);
    check_reply(in, w.out.data, 0, -1);
    free_run(&w);
}

Test(rtmp_handshake, output_cap_is_an_error)
{
    uint8_t in[C0C1];
    make_c0c1(in, 0, 1);
    struct rtmp_handshake h;
    struct buf out;
    buf_init(&out, S0S1S2 - 1);
    rtmp_handshake_server_init(&h);
    size_t used;
    cr_assert_eq(rtmp_handshake_feed(&h, in, sizeof in, &used, &out), ST_ERROR);
    cr_assert_eq(out.len, 0u, "nothing half-written");
    cr_assert_str_eq(h.error, "output buffer full");
    buf_free(&out);
}

/* ---- client --------------------------------------------------------------- */

Test(rtmp_handshake, client_against_nginx_capture)
{
    size_t len;
    uint8_t *s = load("play-rtmpdump.s2c.bin", &len);
    struct run w;
    all_splits(&w, 1, s, S0S1S2 + 50);
    cr_assert_eq(w.rc, ST_DONE);
    cr_assert_eq(w.consumed, (size_t)S0S1S2);
    cr_assert_eq(w.out.len, (size_t)C0C1 + HS);
    const uint8_t *c = w.out.data;
    cr_assert_eq(c[0], 3);
    cr_assert_eq(rd_be32(c + 5), 0u, "client sends the simple form");
    cr_assert(memcmp(c + C0C1, s + 1, HS) == 0, "C2 must echo S1");
    free_run(&w);
    free(s);
}

Test(rtmp_handshake, client_truncated_and_bad)
{
    struct rtmp_handshake h;
    struct buf out;
    buf_init(&out, OUT_MAX);
    cr_assert_eq(rtmp_handshake_client_start(&h, &out), ST_OK);
    uint8_t s[S0S1S2];
    memset(s, 0x5a, sizeof s);
    s[0] = 3;
    size_t used;
    cr_assert_eq(rtmp_handshake_feed(&h, s, S0S1S2 - 1, &used, &out), ST_AGAIN);
    cr_assert_eq(used, (size_t)S0S1S2 - 1);
    cr_assert_eq(out.len, (size_t)C0C1, "no C2 before S2 is complete");
    cr_assert_eq(rtmp_handshake_feed(&h, s + S0S1S2 - 1, 1, &used, &out), ST_DONE);
    cr_assert_eq(out.len, (size_t)C0C1 + HS);
    buf_free(&out);

    buf_init(&out, OUT_MAX);
    cr_assert_eq(rtmp_handshake_client_start(&h, &out), ST_OK);
    s[0] = 6;
    cr_assert_eq(rtmp_handshake_feed(&h, s, sizeof s, &used, &out), ST_ERROR);
    cr_assert_eq(used, 1u);
    cr_assert_str_eq(h.error, "RTMPE not supported");
    buf_free(&out);

    buf_init(&out, 100);
    cr_assert_eq(rtmp_handshake_client_start(&h, &out), ST_ERROR);
    cr_assert_str_eq(h.error, "output buffer full");
    buf_free(&out);
}

Test(rtmp_handshake, client_server_round_trip)
{
    for (size_t step = 1; step <= 4097; step = step * 3 + 1) {
        struct rtmp_handshake cli, srv;
        struct buf c2s, s2c;
        buf_init(&c2s, OUT_MAX);
        buf_init(&s2c, OUT_MAX);
        rtmp_handshake_server_init(&srv);
        cr_assert_eq(rtmp_handshake_client_start(&cli, &c2s), ST_OK);
        int crc = ST_AGAIN, src = ST_AGAIN;
        /* Exchange in step-sized pieces until both sides are done. */
        for (int rounds = 0; (crc != ST_DONE || src != ST_DONE) && rounds < 20000; rounds++) {
            size_t used, n;
            if (src != ST_DONE && c2s.len) {
                n = c2s.len < step ? c2s.len : step;
                src = rtmp_handshake_feed(&srv, c2s.data, n, &used, &s2c);
                cr_assert_neq(src, ST_ERROR);
                buf_consume(&c2s, used);
            }
            if (crc != ST_DONE && s2c.len) {
                n = s2c.len < step ? s2c.len : step;
                crc = rtmp_handshake_feed(&cli, s2c.data, n, &used, &c2s);
                cr_assert_neq(crc, ST_ERROR);
                buf_consume(&s2c, used);
            }
        }
        cr_assert_eq(crc, ST_DONE, "step %zu", step);
        cr_assert_eq(src, ST_DONE, "step %zu", step);
        cr_assert_eq(srv.complex, 0);
        cr_assert_eq(c2s.len, 0u);
        cr_assert_eq(s2c.len, 0u);
        buf_free(&c2s);
        buf_free(&s2c);
    }
}

Test(rtmp_handshake, replies_are_random)
{
    uint8_t in[C0C1];
    make_c0c1(in, 0, 1);
    struct run a, b;
    drive(&a, 0, in, sizeof in, 0, 0);
    drive(&b, 0, in, sizeof in, 0, 0);
    cr_assert_eq(a.out.len, (size_t)S0S1S2);
    cr_assert(memcmp(a.out.data + 9, b.out.data + 9, 64) != 0, "S1 filler must be random");
    free_run(&a);
    free_run(&b);
}
