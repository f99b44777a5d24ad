/*
 * rtsp_sdp: the SDP (RFC 8866) session description an RTSP DESCRIBE returns
 * for one live stream, built from the stream's FLV sequence headers.
 *
 *   v=0
 *   o=- <session_id> <session_id> IN IP4 <origin_addr>     (IP6 if it has ':')
 *   s=<stream_name>                                         (" " when empty)
 *   c=IN IP4 0.0.0.0
 *   t=0 0
 *   a=control:*
 *   m=video 0 RTP/AVP <video_pt>
 *   a=rtpmap:<pt> H264/90000
 *   a=fmtp:<pt> packetization-mode=1;profile-level-id=<SPS bytes 1-3, hex>;
 *               sprop-parameter-sets=<base64 SPS>,...,<base64 PPS>,...
 *     (HEVC: a=rtpmap:<pt> H265/90000,
 *            a=fmtp:<pt> sprop-vps=<b64>;sprop-sps=<b64>;sprop-pps=<b64>)
 *   a=control:trackID=0
 *   m=audio 0 RTP/AVP <audio_pt>
 *   a=rtpmap:<pt> mpeg4-generic/<rate>/<channels>           ("/<channels>" left
 *                                                            out when 0: in a PCE)
 *   a=fmtp:<pt> streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;
 *               indexlength=3;indexdeltalength=3;config=<AudioSpecificConfig, hex>
 *   a=control:trackID=1
 *
 * (each fmtp on one line; every line ends in CRLF). The track ids are fixed:
 * trackID=0 is always video and trackID=1 always audio, whether or not the
 * other track exists. A track is described only when its sequence header is
 * present, of a codec we packetize (H.264/HEVC, AAC) and well formed, which
 * is what rtsp_sdp_tracks reports; the audio RTP clock <rate> is
 * media_codec_parse_audio_config's sample_rate, and the audio packetizer must
 * be set up with that same rate.
 *
 * Pure; everything borrowed for the call; the text is appended to a
 * caller-owned buf (its cap bounds the output).
 */
#ifndef SC_RTSP_SDP_H
#define SC_RTSP_SDP_H

#include "core/buf.h"
#include "hls/hls_sample.h"

#include <stdint.h>

#define RTSP_SDP_VIDEO 1u /* trackID=0 */
#define RTSP_SDP_AUDIO 2u /* trackID=1 */

/* Which tracks rtsp_sdp_build would describe: RTSP_SDP_VIDEO | RTSP_SDP_AUDIO,
 * 0 for none. */
unsigned rtsp_sdp_tracks(const struct hls_codec_headers *h);

/* Append the SDP. ST_OK, or ST_ERROR with out unchanged: no describable
 * track, origin_addr NULL/empty or holding spaces or control characters,
 * stream_name holding control characters, payload type over 127, or out's
 * cap reached. */
int rtsp_sdp_build(struct buf *out, const struct hls_codec_headers *h, const char *origin_addr,
                   uint64_t session_id, const char *stream_name, uint8_t video_pt, uint8_t audio_pt);

#endif
