#include "rtsp/rtcp_report.h"
#include "core/status.h"

#include <string.h>

#define NTP_UNIX_OFFSET 2208988800u /* seconds from 1900-01-01 to 1970-01-01 */
#define SR_LEN 28                   /* header, SSRC, sender info, no report blocks */
#define REPORT_BLOCK_LEN 24
#define SDES_CNAME 1

static int fail(const char **err, const char *why)
{
    if (err)
        *err = why;
    return ST_ERROR;
}

int rtcp_report_sender(struct buf *out, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts, uint32_t packets,
                       uint32_t octets, const char *cname)
{
    size_t n = cname ? strlen(cname) : 0;
    if (n == 0 || n > RTCP_REPORT_MAX_CNAME)
        return ST_ERROR;
    /* SDES chunk: SSRC, CNAME type + length + text, END, then zeros to the
     * next 32-bit boundary (at least one END byte always fits). */
    size_t chunk = (4 + 2 + n + 1 + 3) & ~(size_t)3;
    size_t total = SR_LEN + 4 + chunk;
    if (buf_reserve(out, total) != ST_OK)
        return ST_ERROR;

    uint8_t *w = out->data + out->len;
    memset(w, 0, total);
    w[0] = 0x80; /* V=2, P=0, RC=0 */
    w[1] = RTCP_REPORT_PT_SR;
    wr_be16(w + 2, SR_LEN / 4 - 1);
    wr_be32(w + 4, ssrc);
    wr_be32(w + 8, (uint32_t)(ntp >> 32));
    wr_be32(w + 12, (uint32_t)ntp);
    wr_be32(w + 16, rtp_ts);
    wr_be32(w + 20, packets);
    wr_be32(w + 24, octets);
    w += SR_LEN;
    w[0] = 0x81; /* V=2, P=0, SC=1 */
    w[1] = RTCP_REPORT_PT_SDES;
    wr_be16(w + 2, (uint16_t)((4 + chunk) / 4 - 1));
    wr_be32(w + 4, ssrc);
    w[8] = SDES_CNAME;
    w[9] = (uint8_t)n;
    memcpy(w + 10, cname, n);
    out->len += total;
    return ST_OK;
}

uint64_t rtcp_report_ntp_from_unix_ms(uint64_t ms)
{
    uint64_t sec = (ms / 1000 + NTP_UNIX_OFFSET) & 0xffffffffu;
    uint64_t frac = ((ms % 1000) << 32) / 1000;
    return sec << 32 | frac;
}

/* SDES chunks (RFC 3550 6.5): SSRC, items (type, length, text) up to an END
 * item, zero padding to a 32-bit boundary. p/len is the body after the
 * 4-byte header, minus padding. */
static int check_sdes(const uint8_t *p, size_t len, unsigned chunks, const char **err)
{
    size_t off = 0;
    for (unsigned c = 0; c < chunks; c++) {
        if (len - off < 8)
            return fail(err, "truncated SDES chunk");
        off += 4;
        for (;;) {
            if (off >= len)
                return fail(err, "SDES chunk without END");
            if (p[off] == 0)
                break;
            if (len - off < 2 || p[off + 1] > len - off - 2)
                return fail(err, "SDES item overruns packet");
            off += 2 + (size_t)p[off + 1];
        }
        off = (off + 4) & ~(size_t)3; /* END byte plus padding; the body is 32-bit aligned */
        if (off > len)
            return fail(err, "SDES chunk overruns packet");
    }
    if (off != len)
        return fail(err, "bytes after the last SDES chunk");
    return ST_OK;
}

/* One packet's body (after the header, padding removed) against its type. */
static int check_packet(unsigned pt, unsigned count, const uint8_t *body, size_t len, const char **err)
{
    switch (pt) {
    case RTCP_REPORT_PT_SR:
        if (len < SR_LEN - 4 + (size_t)count * REPORT_BLOCK_LEN)
            return fail(err, "truncated sender report");
        return ST_OK;
    case RTCP_REPORT_PT_RR:
        if (len < 4 + (size_t)count * REPORT_BLOCK_LEN)
            return fail(err, "truncated receiver report");
        return ST_OK;
    case RTCP_REPORT_PT_SDES:
        return check_sdes(body, len, count, err);
    case RTCP_REPORT_PT_BYE: {
        size_t off = (size_t)count * 4;
        if (len < off)
            return fail(err, "truncated BYE");
        if (len > off && body[off] > len - off - 1)
            return fail(err, "BYE reason overruns packet");
        return ST_OK;
    }
    case RTCP_REPORT_PT_APP:
        if (len < 8)
            return fail(err, "truncated APP");
        return ST_OK;
    default:
        if (len < 4)
            return fail(err, "truncated RTCP packet");
        return ST_OK;
    }
}

static unsigned kind_of(unsigned pt)
{
    switch (pt) {
    case RTCP_REPORT_PT_SR: return RTCP_REPORT_SR;
    case RTCP_REPORT_PT_RR: return RTCP_REPORT_RR;
    case RTCP_REPORT_PT_SDES: return RTCP_REPORT_SDES;
    case RTCP_REPORT_PT_BYE: return RTCP_REPORT_BYE;
    case RTCP_REPORT_PT_APP: return RTCP_REPORT_APP;
    default: return RTCP_REPORT_OTHER;
    }
}

/* The first packet is not required to be SR/RR (A.2 asks for it): RFC 5506
 * reduced-size RTCP lets a receiver send a lone feedback packet, and a
 * keep-alive that we cannot classify costs nothing. */
int rtcp_report_parse(const uint8_t *p, size_t len, struct rtcp_report_info *out, const char **err)
{
    struct rtcp_report_info info = { 0, 0, 0 };
    size_t off = 0;

    if (len < 4 || len % 4 != 0)
        return fail(err, "RTCP length not a multiple of 4");
    while (off < len) {
        const uint8_t *h = p + off;
        if ((h[0] >> 6) != 2)
            return fail(err, "RTCP version not 2");
        unsigned pt = h[1], count = h[0] & 0x1fu;
        if (pt < 192 || pt > 223)
            return fail(err, "not an RTCP packet type");
        size_t plen = ((size_t)rd_be16(h + 2) + 1) * 4;
        if (plen > len - off)
            return fail(err, "RTCP packet overruns datagram");
        size_t body = plen - 4;
        if (h[0] & 0x20) {
            /* Padding: only the last packet may have it, and its count
             * (the last byte) covers at least itself. */
            if (off + plen != len)
                return fail(err, "RTCP padding before the last packet");
            unsigned pad = h[plen - 1];
            if (pad == 0 || pad > body)
                return fail(err, "bad RTCP padding");
            body -= pad;
        }
        if (check_packet(pt, count, h + 4, body, err) != ST_OK)
            return ST_ERROR;
        /* check_packet guaranteed the SSRC is there (SDES/BYE: if count > 0). */
        int has_ssrc = (pt != RTCP_REPORT_PT_SDES && pt != RTCP_REPORT_PT_BYE) || count > 0;
        if (info.count == 0 && has_ssrc)
            info.ssrc = rd_be32(h + 4);
        info.kinds |= kind_of(pt);
        info.count++;
        off += plen;
    }
    *out = info;
    return ST_OK;
}
