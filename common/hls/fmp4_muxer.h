/*
 * fmp4_muxer: fragmented MP4 (CMAF-style) for HLS: one initialization
 * segment per codec configuration, then one moof+mdat fragment per call.
 *
 * Input is what the RTMP layer carries (hls_sample.h): FLV tag bodies and the
 * sequence-header bodies. Supported: H.264 (legacy codec id 7 or enhanced
 * 'avc1') as avc1+avcC, HEVC (legacy codec id 12 or enhanced 'hvc1') as
 * hvc1+hvcC, AV1 (enhanced 'av01') as av01+av1C, AAC as mp4a+esds. Anything
 * else is refused with a reason.
 *
 * Tracks are fixed so that every init segment and fragment of a stream agree
 * without state: video is track 1 at 90 kHz, audio is track 2 with the AAC
 * sample rate as timescale. A track exists when its header is present in
 * struct hls_codec_headers; the same headers must be passed to every call.
 *
 * Stateless and pure: no allocation of its own, no clock; the same input
 * gives the same bytes. Output is appended to a caller-owned struct buf
 * (its cap bounds the output). Everything in the inputs is borrowed for the
 * call only. Any loop or thread may call it.
 *
 * Returns ST_OK, or ST_ERROR with a static reason in *err (err may be NULL)
 * and out->len rolled back to its value before the call.
 */
#ifndef SC_FMP4_MUXER_H
#define SC_FMP4_MUXER_H

#include "core/buf.h"
#include "hls/hls_sample.h"

#include <stddef.h>
#include <stdint.h>

enum {
    FMP4_MUXER_VIDEO_TRACK = 1,
    FMP4_MUXER_AUDIO_TRACK = 2,
    FMP4_MUXER_VIDEO_TIMESCALE = 90000
};

/* Append ftyp + moov for the tracks present in h. ST_ERROR on no track, an
 * unsupported codec, or a malformed sequence header. */
int fmp4_muxer_init_segment(struct buf *out, const struct hls_codec_headers *h, const char **err);

/*
 * Append one moof + mdat holding samples s[0..n) (any interleaving of audio
 * and video, each track in dts order). Sequence headers, end-of-sequence,
 * metadata/command frames and empty frames in s are skipped. tfdt is each
 * track's first dts in its timescale; a sample lasts until the next sample
 * of its track, the last one until end_dts if later (else as long as the
 * previous one, else 3000 ticks of video / 1024 of audio). Timestamps are
 * converted per sample from the absolute ms value, so durations never drift;
 * a dts going backwards gives a zero duration (nothing is reordered).
 *
 * ST_ERROR when no sample carries media, on a sample whose track is not in
 * h or whose codec differs from the header's, and on a malformed body (bad
 * NAL length framing, bad OBU framing, unknown packet type).
 */
int fmp4_muxer_fragment(struct buf *out, const struct hls_codec_headers *h, uint32_t sequence_number,
                        const struct hls_sample *s, size_t n, uint32_t end_dts, const char **err);

#endif
