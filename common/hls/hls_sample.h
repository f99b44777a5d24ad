/*
 * hls_sample: the input of the HTTP-delivery muxers (MPEG-TS, fMP4): one
 * audio or video message as the RTMP/FLV layer carries it, borrowed.
 *
 * body is the FLV tag body exactly as published: video starts with the FLV
 * video header (legacy: frame type/codec id byte, AVC packet type, 24-bit
 * composition time; enhanced RTMP: the ExHeader byte and FourCC, then for
 * CodedFrames a 24-bit composition time), audio with the FLV audio header
 * (AAC: sound format byte, AAC packet type). dts is in milliseconds on the
 * stream's timeline; pts = dts + the composition time read from the body.
 *
 * The codec configuration comes separately, as the sequence-header tag bodies
 * (struct hls_codec_headers); either may be absent (audio-only or video-only
 * streams). Everything is borrowed for the duration of a call; muxers copy
 * what they keep.
 */
#ifndef SC_HLS_SAMPLE_H
#define SC_HLS_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

enum { HLS_SAMPLE_AUDIO = 8, HLS_SAMPLE_VIDEO = 9 };

struct hls_sample {
    uint8_t kind;        /* HLS_SAMPLE_AUDIO or HLS_SAMPLE_VIDEO */
    uint8_t key;         /* video keyframe (random access point) */
    uint32_t dts;        /* ms */
    const uint8_t *body; /* FLV tag body (see above) */
    uint32_t len;
};

struct hls_codec_headers {
    const uint8_t *video; /* video sequence-header tag body, NULL when none */
    uint32_t video_len;
    const uint8_t *audio; /* AAC sequence-header tag body, NULL when none */
    uint32_t audio_len;
};

#endif
