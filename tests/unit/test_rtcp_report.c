/*
 * rtcp_report: exact SR + SDES bytes, CNAME padding at every length, NTP
 * conversion at known instants (epoch, half seconds, 2026, the 2036 era
 * wrap), and the parser on hand-built RFC 3550 compounds as players send
 * them (RR + SDES, RR + BYE with reason, padding, feedback), every prefix
 * and every split at a packet boundary, malformed packets with their reason,
 * and seeded garbage.
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/status.h"
#include "rtsp/rtcp_report.h"

#include <stdlib.h>
#include <string.h>

/* ---- sender report ---- */

Test(rtcp_report, sender_report_exact_bytes)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(rtcp_report_sender(&b, 0x11223344u, 0x83aa7e8180000000ull, 0xdeadbeefu, 10, 1000, "a@b"), ST_OK);
    static const uint8_t want[] = {
        0x80, 0xc8, 0x00, 0x06, 0x11, 0x22, 0x33, 0x44, /* SR, length 6, SSRC */
        0x83, 0xaa, 0x7e, 0x81, 0x80, 0x00, 0x00, 0x00, /* NTP 1970-01-01T00:00:01.5 */
        0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x0a, /* RTP ts, packets */
        0x00, 0x00, 0x03, 0xe8,                         /* octets */
        0x81, 0xca, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, /* SDES, SC=1, length 3, SSRC */
        0x01, 0x03, 'a',  '@',  'b',  0x00, 0x00, 0x00, /* CNAME "a@b", END, padding */
    };
    cr_assert_eq(b.len, sizeof(want));
    cr_assert_eq(memcmp(b.data, want, sizeof(want)), 0);

    struct rtcp_report_info info;
    const char *err = NULL;
    cr_assert_eq(rtcp_report_parse(b.data, b.len, &info, &err), ST_OK, "%s", err);
    cr_assert_eq(info.kinds, RTCP_REPORT_SR | RTCP_REPORT_SDES);
    cr_assert_eq(info.count, 2);
    cr_assert_eq(info.ssrc, 0x11223344u);
    buf_free(&b);
}

Test(rtcp_report, cname_lengths_and_padding)
{
    char cname[RTCP_REPORT_MAX_CNAME + 2];
    struct buf b;
    buf_init(&b, 4096);
    for (size_t n = 1; n <= RTCP_REPORT_MAX_CNAME; n++) {
        memset(cname, 'x', n);
        cname[n] = 0;
        buf_reset(&b);
        cr_assert_eq(rtcp_report_sender(&b, 1, 2, 3, 4, 5, cname), ST_OK, "cname %zu", n);
        size_t chunk = (4 + 2 + n + 1 + 3) / 4 * 4;
        cr_assert_eq(b.len, 28 + 4 + chunk, "cname %zu", n);
        cr_assert_eq(b.len % 4, 0);
        cr_assert_eq(rd_be16(b.data + 30), (4 + chunk) / 4 - 1);
        cr_assert_eq(b.data[37], n);
        cr_assert_eq(b.data[38 + n], 0, "END item after the text");
        for (size_t i = 38 + n; i < b.len; i++)
            cr_assert_eq(b.data[i], 0, "zero padding");
        struct rtcp_report_info info;
        const char *err = NULL;
        cr_assert_eq(rtcp_report_parse(b.data, b.len, &info, &err), ST_OK, "cname %zu: %s", n, err);
    }
    memset(cname, 'x', RTCP_REPORT_MAX_CNAME + 1);
    cname[RTCP_REPORT_MAX_CNAME + 1] = 0;
    buf_reset(&b);
    cr_assert_eq(rtcp_report_sender(&b, 1, 2, 3, 4, 5, cname), ST_ERROR, "256-byte CNAME");
    cr_assert_eq(rtcp_report_sender(&b, 1, 2, 3, 4, 5, ""), ST_ERROR);
    cr_assert_eq(rtcp_report_sender(&b, 1, 2, 3, 4, 5, NULL), ST_ERROR);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
}

Test(rtcp_report, sender_report_respects_cap)
{
    struct buf b;
    buf_init(&b, 28 + 4 + 12 + 2 - 1);
    cr_assert_eq(buf_append(&b, "xy", 2), ST_OK);
    cr_assert_eq(rtcp_report_sender(&b, 1, 2, 3, 4, 5, "cn"), ST_ERROR);
    cr_assert_eq(b.len, 2);
    b.max++;
    cr_assert_eq(rtcp_report_sender(&b, 1, 2, 3, 4, 5, "cn"), ST_OK);
    cr_assert_eq(b.len, 2 + 44);
    buf_free(&b);
}

Test(rtcp_report, ntp_known_values)
{
    cr_assert_eq(rtcp_report_ntp_from_unix_ms(0), 0x83aa7e8000000000ull, "1970 = 2208988800 s after 1900");
    cr_assert_eq(rtcp_report_ntp_from_unix_ms(500), 0x83aa7e8080000000ull);
    cr_assert_eq(rtcp_report_ntp_from_unix_ms(1250), 0x83aa7e8140000000ull);
    cr_assert_eq(rtcp_report_ntp_from_unix_ms(1), 0x83aa7e8000418937ull, "2^32 / 1000 truncated");
    cr_assert_eq(rtcp_report_ntp_from_unix_ms(999), 0x83aa7e80ffbe76c8ull);
    /* 2026-11-28T04:00:00.123Z */
    cr_assert_eq(rtcp_report_ntp_from_unix_ms(1795838400123ull), 0xeeb4d0401f7ced91ull);
    /* NTP era 0 ends 2036-02-07T06:28:16Z: the seconds wrap to 0. */
    cr_assert_eq(rtcp_report_ntp_from_unix_ms(2085978496000ull), 0);
    cr_assert_eq(rtcp_report_ntp_from_unix_ms(2085978495500ull), 0xffffffff80000000ull);
}

/* ---- parser ---- */

static int parse(const uint8_t *p, size_t n, struct rtcp_report_info *info, const char **err)
{
    /* Exact-size heap copy: ASan catches any read past n. */
    uint8_t *c = malloc(n ? n : 1);
    cr_assert_not_null(c);
    if (n)
        memcpy(c, p, n);
    *err = NULL;
    int rc = rtcp_report_parse(c, n, info, err);
    free(c);
    return rc;
}

/* RR with one report block + SDES CNAME, as ffmpeg/VLC/GStreamer send. */
static const uint8_t rr_sdes[] = {
    0x81, 0xc9, 0x00, 0x07, 0xca, 0xfe, 0xba, 0xbe,                         /* RR, RC=1 */
    0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34, /* block: SSRC, lost, ext seq */
    0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* jitter, LSR, DLSR */
    0x81, 0xca, 0x00, 0x04, 0xca, 0xfe, 0xba, 0xbe,                         /* SDES */
    0x01, 0x06, 'p',  'l',  'a',  'y',  'e',  'r',  0x00, 0x00, 0x00, 0x00, /* CNAME, END + pad */
};

/* RR (no blocks) + BYE with a reason, padded by 4 bytes. */
static const uint8_t rr_bye_padded[] = {
    0x80, 0xc9, 0x00, 0x01, 0xca, 0xfe, 0xba, 0xbe, /* RR, RC=0 */
    0xa1, 0xcb, 0x00, 0x03, 0xca, 0xfe, 0xba, 0xbe, /* BYE, P, SC=1 */
    0x03, 'b',  'y',  'e',  0x00, 0x00, 0x00, 0x04, /* reason "bye", padding (count 4) */
};

struct parse_case {
    const char *what;
    uint8_t p[64];
    size_t len;
    int rc;
    unsigned kinds, count;
    uint32_t ssrc;
    const char *why;
};

static const struct parse_case cases[] = {
    { "SR alone",
      { 0x80, 0xc8, 0, 6, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 }, 28,
      ST_OK, RTCP_REPORT_SR, 1, 9, NULL },
    { "BYE alone, SC=0", { 0x80, 0xcb, 0, 0 }, 4, ST_OK, RTCP_REPORT_BYE, 1, 0, NULL },
    { "BYE two sources", { 0x82, 0xcb, 0, 2, 0, 0, 0, 5, 0, 0, 0, 6 }, 12, ST_OK, RTCP_REPORT_BYE, 1, 5, NULL },
    { "PLI (reduced size)", { 0x81, 0xce, 0, 2, 0, 0, 0, 7, 0, 0, 0, 8 }, 12, ST_OK, RTCP_REPORT_OTHER, 1, 7, NULL },
    { "APP", { 0x80, 0xcc, 0, 2, 0, 0, 0, 3, 'n', 'a', 'm', 'e' }, 12, ST_OK, RTCP_REPORT_APP, 1, 3, NULL },
    { "SDES SC=0", { 0x80, 0xca, 0, 0 }, 4, ST_OK, RTCP_REPORT_SDES, 1, 0, NULL },
    { "SDES two items", { 0x81, 0xca, 0, 3, 0, 0, 0, 1, 1, 1, 'a', 6, 2, 't', 'o', 0 }, 16, ST_OK,
      RTCP_REPORT_SDES, 1, 1, NULL },

    { "empty", { 0 }, 0, ST_ERROR, 0, 0, 0, "RTCP length not a multiple of 4" },
    { "odd length", { 0x80, 0xc9, 0, 1, 0, 0, 0, 1, 0 }, 9, ST_ERROR, 0, 0, 0, "RTCP length not a multiple of 4" },
    { "version 1", { 0x40, 0xc9, 0, 1, 0, 0, 0, 1 }, 8, ST_ERROR, 0, 0, 0, "RTCP version not 2" },
    { "RTP packet", { 0x80, 0x60, 0, 1, 0, 0, 0, 1 }, 8, ST_ERROR, 0, 0, 0, "not an RTCP packet type" },
    { "RTP with marker", { 0x80, 0xe0, 0, 1, 0, 0, 0, 1 }, 8, ST_ERROR, 0, 0, 0, "not an RTCP packet type" },
    { "overrun", { 0x80, 0xc9, 0, 2, 0, 0, 0, 1 }, 8, ST_ERROR, 0, 0, 0, "RTCP packet overruns datagram" },
    { "padding not last", { 0xa0, 0xc9, 0, 1, 0, 0, 0, 4, 0x80, 0xcb, 0, 0 }, 12, ST_ERROR, 0, 0, 0,
      "RTCP padding before the last packet" },
    { "padding zero", { 0xa0, 0xc9, 0, 1, 0, 0, 0, 0 }, 8, ST_ERROR, 0, 0, 0, "bad RTCP padding" },
    { "padding too big", { 0xa0, 0xc9, 0, 1, 0, 0, 0, 5 }, 8, ST_ERROR, 0, 0, 0, "bad RTCP padding" },
    { "padding eats the SSRC", { 0xa0, 0xc9, 0, 1, 0, 0, 0, 4 }, 8, ST_ERROR, 0, 0, 0, "truncated receiver report" },
    { "RR block missing", { 0x81, 0xc9, 0, 1, 0, 0, 0, 1 }, 8, ST_ERROR, 0, 0, 0, "truncated receiver report" },
    { "SR short", { 0x80, 0xc8, 0, 1, 0, 0, 0, 1 }, 8, ST_ERROR, 0, 0, 0, "truncated sender report" },
    { "SR block missing",
      { 0x81, 0xc8, 0, 6, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 }, 28,
      ST_ERROR, 0, 0, 0, "truncated sender report" },
    { "BYE source missing", { 0x82, 0xcb, 0, 1, 0, 0, 0, 5 }, 8, ST_ERROR, 0, 0, 0, "truncated BYE" },
    { "BYE reason overrun", { 0x81, 0xcb, 0, 2, 0, 0, 0, 5, 4, 'a', 'b', 'c' }, 12, ST_ERROR, 0, 0, 0,
      "BYE reason overruns packet" },
    { "SDES without END", { 0x81, 0xca, 0, 2, 0, 0, 0, 1, 1, 2, 'a', 'b' }, 12, ST_ERROR, 0, 0, 0,
      "SDES chunk without END" },
    { "SDES item overrun", { 0x81, 0xca, 0, 2, 0, 0, 0, 1, 1, 9, 'a', 'b' }, 12, ST_ERROR, 0, 0, 0,
      "SDES item overruns packet" },
    { "SDES chunk missing", { 0x82, 0xca, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0 }, 12, ST_ERROR, 0, 0, 0,
      "truncated SDES chunk" },
    { "SDES trailing bytes", { 0x81, 0xca, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4 }, 16, ST_ERROR, 0, 0, 0,
      "bytes after the last SDES chunk" },
    { "APP short", { 0x80, 0xcc, 0, 1, 0, 0, 0, 3 }, 8, ST_ERROR, 0, 0, 0, "truncated APP" },
    { "feedback without SSRC", { 0x81, 0xcd, 0, 0 }, 4, ST_ERROR, 0, 0, 0, "truncated RTCP packet" },
    { "good then garbage", { 0x80, 0xc9, 0, 1, 0, 0, 0, 1, 0x00, 0xc9, 0, 1, 0, 0, 0, 1 }, 16, ST_ERROR, 0, 0, 0,
      "RTCP version not 2" },
};

Test(rtcp_report, parse_table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rtcp_report_info info = { 77, 77, 77 };
        const char *err;
        int rc = parse(cases[i].p, cases[i].len, &info, &err);
        cr_assert_eq(rc, cases[i].rc, "%s: %s", cases[i].what, err ? err : "");
        if (rc == ST_OK) {
            cr_assert_eq(info.kinds, cases[i].kinds, "%s", cases[i].what);
            cr_assert_eq(info.count, cases[i].count, "%s", cases[i].what);
            cr_assert_eq(info.ssrc, cases[i].ssrc, "%s", cases[i].what);
        } else {
            cr_assert_str_eq(err, cases[i].why, "%s: %s", cases[i].what, err);
            cr_assert_eq(info.kinds, 77, "%s: out untouched on error", cases[i].what);
        }
    }
    /* err may be NULL. */
    struct rtcp_report_info info;
    cr_assert_eq(rtcp_report_parse(cases[9].p, cases[9].len, &info, NULL), ST_ERROR);
}

/* Packet boundaries of a valid compound (offsets where a packet starts). */
static int is_boundary(const uint8_t *p, size_t len, size_t k)
{
    for (size_t off = 0; off < len; off += ((size_t)rd_be16(p + off + 2) + 1) * 4)
        if (off == k)
            return 1;
    return k == len;
}

/* Whole, then every prefix and the suffix after every split: valid exactly
 * when the split falls on a packet boundary (a compound is a list of whole
 * packets), and never reading outside the given bytes. */
static void run_splits(const uint8_t *p, size_t len, unsigned kinds, unsigned count, uint32_t ssrc)
{
    struct rtcp_report_info info;
    const char *err;
    cr_assert_eq(parse(p, len, &info, &err), ST_OK, "%s", err);
    cr_assert_eq(info.kinds, kinds);
    cr_assert_eq(info.count, count);
    cr_assert_eq(info.ssrc, ssrc);
    for (size_t k = 0; k < len; k++) {
        int b = is_boundary(p, len, k) && k > 0;
        cr_assert_eq(parse(p, k, &info, &err), b ? ST_OK : ST_ERROR, "prefix %zu", k);
        if (!b)
            cr_assert_not_null(err);
        cr_assert_eq(parse(p + k, len - k, &info, &err), is_boundary(p, len, k) ? ST_OK : ST_ERROR, "suffix %zu",
                     k);
    }
}

Test(rtcp_report, player_compounds_whole_and_split)
{
    run_splits(rr_sdes, sizeof(rr_sdes), RTCP_REPORT_RR | RTCP_REPORT_SDES, 2, 0xcafebabeu);
    run_splits(rr_bye_padded, sizeof(rr_bye_padded), RTCP_REPORT_RR | RTCP_REPORT_BYE, 2, 0xcafebabeu);

    /* RR + SDES + BYE in one datagram (live555 on teardown). */
    uint8_t all[sizeof(rr_sdes) + 12];
    memcpy(all, rr_sdes, sizeof(rr_sdes));
    static const uint8_t bye[12] = { 0x81, 0xcb, 0, 2, 0xca, 0xfe, 0xba, 0xbe, 2, 'o', 'k', 0 };
    memcpy(all + sizeof(rr_sdes), bye, sizeof(bye));
    run_splits(all, sizeof(all), RTCP_REPORT_RR | RTCP_REPORT_SDES | RTCP_REPORT_BYE, 3, 0xcafebabeu);

    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(rtcp_report_sender(&b, 42, 1, 2, 3, 4, "server@example"), ST_OK);
    run_splits(b.data, b.len, RTCP_REPORT_SR | RTCP_REPORT_SDES, 2, 42);
    buf_free(&b);
}

/* Seeded garbage, half of it behind a valid-looking first header: never a
 * crash; an accepted input always has a consistent classification. */
Test(rtcp_report, garbage)
{
    uint8_t p[96];
    uint32_t x = 88172645u;
    int ok = 0;
    for (int iter = 0; iter < 200000; iter++) {
        for (size_t i = 0; i < sizeof(p); i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            p[i] = (uint8_t)x;
        }
        size_t n = (x >> 8) % (sizeof(p) + 1);
        if (iter & 1) {
            p[0] = (uint8_t)(0x80 | (p[0] & 0x3f));
            p[1] = (uint8_t)(200 + p[1] % 8);
            p[2] = 0;
            p[3] = (uint8_t)(p[3] % 8);
            n &= ~(size_t)3;
        }
        struct rtcp_report_info info;
        const char *err;
        if (parse(p, n, &info, &err) == ST_OK) {
            ok++;
            cr_assert_eq(n % 4, 0);
            cr_assert_geq(info.count, 1);
            cr_assert_leq(info.count, n / 4);
            cr_assert_neq(info.kinds, 0);
        } else {
            cr_assert_not_null(err);
        }
    }
    cr_assert_gt(ok, 100, "some garbage is valid RTCP (%d)", ok);
}
