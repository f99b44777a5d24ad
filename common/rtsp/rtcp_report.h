/*
 * rtcp_report: the RTCP (RFC 3550 section 6) an RTSP server needs.
 *
 * Out: a compound Sender Report (PT 200, no report blocks) + SDES (PT 202)
 * with one CNAME item, which tells receivers which wall-clock time an RTP
 * timestamp of the stream corresponds to (lip sync across tracks):
 *
 *   SR    V=2 RC=0 PT=200 length=6 | SSRC | NTP 32.32 | RTP ts | packets | octets
 *   SDES  V=2 SC=1 PT=202 length   | SSRC | CNAME=1 len text | END=0, zero padding to 32 bits
 *
 * In: receiver reports, BYE and whatever else a player sends, validated
 * (RFC 3550 A.2: version 2, every length in 32-bit words adding up exactly
 * to the datagram, padding only on the last packet, per-type minimum
 * sizes, SDES chunks walked) and classified so the server can take RR/SDES
 * as keep-alive and BYE as teardown. Report contents are not returned.
 *
 * Pure functions; the sender report is appended to a caller-owned buf; the
 * parser reads a complete RTCP datagram or interleaved frame (RTCP is never
 * split, so it is not incremental) and keeps no pointer into it.
 * ST_OK or ST_ERROR (builder: out unchanged; parser: static reason in *err).
 */
#ifndef SC_RTCP_REPORT_H
#define SC_RTCP_REPORT_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

enum {
    RTCP_REPORT_PT_SR = 200,
    RTCP_REPORT_PT_RR = 201,
    RTCP_REPORT_PT_SDES = 202,
    RTCP_REPORT_PT_BYE = 203,
    RTCP_REPORT_PT_APP = 204
};

/* Kinds seen in a compound packet (bits of rtcp_report_info.kinds). */
#define RTCP_REPORT_SR 0x01u
#define RTCP_REPORT_RR 0x02u
#define RTCP_REPORT_SDES 0x04u
#define RTCP_REPORT_BYE 0x08u
#define RTCP_REPORT_APP 0x10u
#define RTCP_REPORT_OTHER 0x20u /* feedback (205, 206), XR (207), anything else in 192..223 */

#define RTCP_REPORT_MAX_CNAME 255

struct rtcp_report_info {
    unsigned kinds;  /* RTCP_REPORT_* bits */
    unsigned count;  /* RTCP packets in the compound */
    uint32_t ssrc;   /* SSRC of the first packet (the sender for SR/RR; the first source for BYE; 0 if SC=0) */
};

/* Append SR + SDES CNAME. ntp is 32.32 fixed point seconds since 1900 for the
 * instant rtp_ts was (or would have been) sampled; packets/octets are the
 * sender's counts (RTP payload octets). cname: 1..255 bytes. */
int rtcp_report_sender(struct buf *out, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts, uint32_t packets,
                       uint32_t octets, const char *cname);

/* Unix time in ms -> NTP 32.32 (seconds since 1900-01-01; wraps in 2036 as
 * NTP era 0 does, which RTCP tolerates: only differences matter). */
uint64_t rtcp_report_ntp_from_unix_ms(uint64_t ms);

/* Validate and classify one compound RTCP packet of exactly len bytes. */
int rtcp_report_parse(const uint8_t *p, size_t len, struct rtcp_report_info *out, const char **err);

#endif
