/*
 * ts_muxer: MPEG-TS (ISO/IEC 13818-1) for HLS segments, one program with at
 * most one H.264 and one AAC elementary stream, built from FLV tag bodies
 * (common/hls/hls_sample.h).
 *
 * Layout: PAT on PID 0, PMT on PID 0x1000, H.264 on PID 0x100 (stream_type
 * 0x1B), AAC/ADTS on PID 0x101 (stream_type 0x0F). PCR rides on the video PID,
 * or on the audio PID when there is no video. Every TS packet is exactly 188
 * bytes; PES packets are padded with adaptation-field stuffing, PSI packets
 * with 0xFF after the section.
 *
 * Video: AVCC length-prefixed NAL units become Annex B, each access unit
 * opens with an access unit delimiter, and the SPS/PPS of the configuration
 * record are repeated before every keyframe (s->key), so any segment starting
 * at a keyframe decodes on its own. Keyframe PES carry a PCR and the
 * random_access_indicator; other PES on the PCR PID carry a PCR whenever
 * 100 ms (of dts) or more have passed since the last one. Audio: each raw AAC
 * frame gets a 7-byte ADTS header (no CRC) from the AudioSpecificConfig.
 * Timestamps: 90 kHz = ms * 90, pts = dts + composition time, both modulo
 * 2^33; DTS is written only when it differs from PTS; PCR = dts.
 *
 * Usage: at the start of every segment call ts_muxer_begin, then
 * ts_muxer_write_tables, then ts_muxer_write_sample per sample. begin resets
 * the continuity counters to 0, so a segment's bytes depend only on its own
 * calls: same calls, same bytes (no clock, no randomness).
 *
 * Memory: struct ts_muxer is embedded by the caller (about 4 KB: it keeps
 * a copy of SPS/PPS); the muxer allocates nothing itself. Output is appended
 * to a caller-owned struct buf, whose cap bounds it. Inputs are borrowed for
 * the duration of a call. Not thread-safe; one loop per muxer.
 *
 * Return convention: ST_OK or ST_ERROR with a static reason in *err (err may
 * be NULL). On ST_ERROR, out is unchanged (its length rolled back) and so are
 * the continuity counters and PCR state.
 */
#ifndef SC_TS_MUXER_H
#define SC_TS_MUXER_H

#include "core/buf.h"
#include "hls/hls_sample.h"

#include <stddef.h>
#include <stdint.h>

#define TS_MUXER_PACKET_SIZE 188
#define TS_MUXER_PID_PAT 0x0000
#define TS_MUXER_PID_PMT 0x1000
#define TS_MUXER_PID_VIDEO 0x0100
#define TS_MUXER_PID_AUDIO 0x0101
#define TS_MUXER_STREAM_TYPE_H264 0x1B
#define TS_MUXER_STREAM_TYPE_AAC 0x0F
/* Room for every SPS and PPS of one configuration record in Annex B form;
 * real encoders need well under 1 KB, a larger record is refused by begin. */
#define TS_MUXER_PARAMS_MAX 4096

struct ts_muxer {
    uint8_t cc_pat, cc_pmt, cc_video, cc_audio; /* next continuity counter, 0..15 */
    uint8_t has_video;       /* AVC configuration present: video PID in the PMT */
    uint8_t has_audio;       /* AAC configuration present: audio PID in the PMT */
    uint8_t pcr_sent;        /* a PCR has been written since begin */
    uint64_t last_pcr;       /* 90 kHz base of the last PCR written */
    uint8_t nal_length_size; /* AVCC length prefix: 1, 2 or 4 bytes */
    uint8_t aac_profile;     /* ADTS profile: audio object type - 1 */
    uint8_t aac_rate_index;  /* ADTS sampling_frequency_index */
    uint8_t aac_channels;    /* ADTS channel_configuration, 1..7 */
    uint16_t params_len;
    uint8_t params[TS_MUXER_PARAMS_MAX]; /* SPS + PPS, each behind a start code */
};

/* Reset the counters and read the codec headers. An AVC video header (legacy
 * codec id 7 or enhanced 'avc1' SequenceStart) adds the video stream, an AAC
 * sequence header the audio stream; a header of any other codec, or an absent
 * one, leaves that stream out of the program (its samples are then skipped).
 * ST_ERROR when an AVC or AAC header is malformed or not representable (AAC
 * with an explicit sample rate, channel configuration 0 or an object type
 * ADTS cannot signal); m is then left with no streams. */
int ts_muxer_begin(struct ts_muxer *m, const struct hls_codec_headers *h, const char **err);

/* Append one PAT and one PMT packet. ST_ERROR only when out's cap is hit. */
int ts_muxer_write_tables(struct ts_muxer *m, struct buf *out);

/* Append one sample as one PES. Writes nothing and returns ST_OK for
 * sequence headers, end-of-sequence and command/metadata tags, codecs other
 * than AVC/AAC, and samples of a stream begin did not set up. ST_ERROR for an
 * empty body, a truncated NAL length, a NAL length past the body, an AAC frame
 * too large for ADTS, or out's cap. */
int ts_muxer_write_sample(struct ts_muxer *m, struct buf *out, const struct hls_sample *s, const char **err);

#endif
