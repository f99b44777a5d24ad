/*
 * rtp_packetizer: turns one FLV audio/video tag body (struct hls_sample) into
 * the RTP packets of that frame, for the RTSP output.
 *
 *   header  RFC 3550: V=2, no padding/extension/CSRC, 12 bytes.
 *   H.264   RFC 6184 packetization-mode=1: single NAL unit packets, FU-A
 *           (type 28) for NAL units larger than the payload limit.
 *   HEVC    RFC 7798: single NAL unit packets, FU (type 49), no DONL.
 *   AAC     RFC 3640 mpeg4-generic, mode AAC-hbr: AU-headers-length = 16,
 *           one AU-header (13-bit size, 3-bit index 0), one AU per packet; an
 *           AU larger than the payload limit is fragmented (3.2.3), every
 *           fragment carrying the AU-header with the whole AU size.
 *
 * Timestamps come from absolute milliseconds, so they never drift:
 *   video  ts_base + pts_ms * clock / 1000   (pts = dts + cts of the body)
 *   audio  ts_base + dts_ms * clock / 1000   (clock = the AAC sample rate)
 * The marker bit is set on the last packet of a video access unit and on
 * every audio packet that ends an AU. Before an access unit that holds an
 * IDR (H.264 type 5) or IRAP (HEVC types 16..21) NAL, or that the body marks
 * as a keyframe, the parameter sets of the codec configuration record
 * (H.264: SPS, PPS; HEVC: VPS, SPS, PPS) are sent, after a leading access
 * unit delimiter if there is one.
 *
 * Output: every packet of one call lands in ONE contiguous buffer
 * (struct rtp_packet_list) so a frame is built once and its bytes shared by
 * every player. Layout, with H = RTP_PACKET_HEADROOM (4) spare bytes:
 *
 *   data: [H][RTP hdr + payload 0][H][RTP hdr + payload 1] ... [H][... n-1]
 *             ^offsets[0]            ^offsets[1]                   ^offsets[n-1]
 *
 * offsets[i] points at the RTP header of packet i; offsets[count] is where
 * the next packet's header would go, so packet i is always
 * offsets[i+1] - offsets[i] - H bytes long (rtp_packet_list_size). The H
 * bytes before each packet belong to that packet: an RTSP-over-TCP sender
 * may write the interleaved frame header ('$', channel, be16 length) there
 * (rtp_packet_list_interleave) and send header and packet as one range,
 * without copying. The bytes are shared by everyone holding the list, so
 * do that only where every TCP player of the track uses the same channel
 * (or before the list is published); otherwise send the 4 bytes from the
 * player's own storage.
 *
 * Memory: the list owns data and offsets (malloc'd, grown geometrically up to
 * a hard cap given at init, never shrunk until rtp_packet_list_free). The
 * packetizer owns nothing; bodies and headers are borrowed for the call.
 * Appending invalidates pointers into data. One loop at a time per object.
 *
 * Errors: the packetize calls return ST_OK (packets appended; zero packets
 * for sequence headers and end-of-sequence bodies), or ST_ERROR with a
 * static reason in *err for malformed or unsupported bodies and for a frame
 * over the list's cap; on ST_ERROR neither the list nor the packetizer (seq,
 * counters) is changed.
 */
#ifndef SC_RTP_PACKETIZER_H
#define SC_RTP_PACKETIZER_H

#include "hls/hls_sample.h"

#include <stddef.h>
#include <stdint.h>

#define RTP_HEADER_LEN 12
#define RTP_PACKET_HEADROOM 4 /* '$' + channel + be16 length (RFC 2326 10.12) */
/* Payload limits the packetizer clamps max_payload to: the low bound keeps
 * FU fragments and AAC AU-headers meaningful, the high bound keeps a packet
 * within one interleaved frame (be16 length) and one UDP datagram. */
#define RTP_PACKETIZER_MIN_PAYLOAD 16
#define RTP_PACKETIZER_MAX_PAYLOAD 65000

struct rtp_packet_list {
    uint8_t *data;      /* packets with headroom, see the layout above */
    size_t len;         /* bytes used in data */
    uint32_t count;     /* packets */
    uint32_t *offsets;  /* count + 1 entries once count > 0 */
    size_t cap;         /* allocated bytes of data */
    uint32_t offsets_cap; /* allocated entries of offsets */
    size_t max;         /* hard cap on len */
};

/* The parameter sets of a video configuration record, borrowed from it. */
#define RTP_PACKETIZER_MAX_PARAMS 64 /* per record; real ones hold 2-3 */
struct rtp_packetizer_params {
    int hevc;             /* 0: H.264 (SPS..., PPS...), 1: HEVC (VPS..., SPS..., PPS...) */
    unsigned length_size; /* NAL length prefix bytes in coded frames, 1..4 */
    unsigned n;
    const uint8_t *nal[RTP_PACKETIZER_MAX_PARAMS]; /* NAL units, header included */
    size_t len[RTP_PACKETIZER_MAX_PARAMS];         /* never 0 */
};

struct rtp_packetizer {
    uint8_t payload_type; /* 0..127 */
    uint32_t ssrc;
    uint16_t seq;         /* sequence number of the next packet */
    uint32_t ts_base;     /* RTP timestamp of media time 0 */
    uint32_t clock;       /* RTP clock rate, Hz (90000 for video) */
    size_t mtu;           /* max RTP payload bytes per packet (header excluded) */
    uint32_t packets;     /* packets produced (RTCP SR sender's packet count) */
    uint32_t octets;      /* payload octets produced (RTCP SR sender's octet count) */
};

/* Start empty with no storage; max caps len (RTP_PACKET_HEADROOM and
 * headers included). */
void rtp_packet_list_init(struct rtp_packet_list *l, size_t max);
/* Release storage; the list may be reused after rtp_packet_list_init. */
void rtp_packet_list_free(struct rtp_packet_list *l);
/* Forget the packets, keep the storage. */
void rtp_packet_list_reset(struct rtp_packet_list *l);

/* Packet i (< count): its RTP header, and its length in *len. */
static inline uint8_t *rtp_packet_list_packet(const struct rtp_packet_list *l, uint32_t i, size_t *len)
{
    *len = (size_t)(l->offsets[i + 1] - l->offsets[i]) - RTP_PACKET_HEADROOM;
    return l->data + l->offsets[i];
}

/* Write the RTSP interleaved header ('$', channel, be16 length) into the
 * headroom of packet i and return its start; *len gets 4 + the packet size.
 * See the sharing caveat above. */
uint8_t *rtp_packet_list_interleave(struct rtp_packet_list *l, uint32_t i, uint8_t channel, size_t *len);

/* Set up a packetizer. max_payload (e.g. 1400) is clamped to
 * [RTP_PACKETIZER_MIN_PAYLOAD, RTP_PACKETIZER_MAX_PAYLOAD]; payload_type is
 * masked to 7 bits. */
void rtp_packetizer_init(struct rtp_packetizer *p, uint8_t payload_type, uint32_t clock_rate, uint32_t ssrc,
                         uint16_t first_seq, uint32_t ts_base, size_t max_payload);

/* RTP timestamp of media time ms on this packetizer's clock (what the
 * packets of a frame at that time carry; also for RTCP SR mapping). */
uint32_t rtp_packetizer_timestamp(const struct rtp_packetizer *p, int64_t ms);

/* Parameter sets and NAL length size from h->video (legacy or enhanced
 * AVC/HEVC sequence header), in the order they are sent and listed in the
 * SDP. ST_OK, or ST_ERROR with reason (absent, other codec, malformed).
 * Pointers into h->video. */
int rtp_packetizer_video_params(const struct hls_codec_headers *h, struct rtp_packetizer_params *out,
                                const char **err);

/* Append the packets of one video access unit. h->video must be the
 * matching sequence header (NAL length size and parameter sets come from
 * it). Legacy AVC (codec id 7), HEVC (codec id 12) and enhanced 'avc1'/'hvc1'
 * (CodedFrames, CodedFramesX) bodies. */
int rtp_packetizer_video(struct rtp_packetizer *p, const struct hls_codec_headers *h, const struct hls_sample *s,
                         struct rtp_packet_list *out, const char **err);

/* Append the packets of one AAC frame (sound format 10, raw). h may be NULL;
 * it is not needed to packetize. */
int rtp_packetizer_audio(struct rtp_packetizer *p, const struct hls_codec_headers *h, const struct hls_sample *s,
                         struct rtp_packet_list *out, const char **err);

#endif
