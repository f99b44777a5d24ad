/*
 * media_codec: reads what players and operators need from FLV audio/video tag
 * bodies: codec, frame kind (keyframe, sequence header), and the decoder
 * configuration (AVC/HEVC: profile, level, width, height; AAC: object type,
 * sample rate, channels).
 *
 * Understands legacy FLV (codec id in the low nibble: 7 = AVC, 12 = HEVC as
 * some Chinese servers send it) and enhanced RTMP (bit 7 of the first video
 * byte set: packet type in the low nibble, FourCC 'avc1', 'hvc1', 'av01',
 * 'vp09' in bytes 1..4). Unknown codecs pass through: media_codec_probe_* only
 * fails on a body too short to classify.
 *
 * Pure functions over borrowed bytes; bounded (SPS parsing never reads past
 * the given length; emulation-prevention bytes handled in a fixed stack
 * buffer). Errors return ST_ERROR with a static reason in *err.
 */
#ifndef SC_MEDIA_CODEC_H
#define SC_MEDIA_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum media_video_codec {
    MEDIA_VIDEO_NONE = 0,
    MEDIA_VIDEO_AVC,
    MEDIA_VIDEO_HEVC,
    MEDIA_VIDEO_AV1,
    MEDIA_VIDEO_VP9,
    MEDIA_VIDEO_OTHER /* legacy codec ids 2..6 (Sorenson, VP6, ...) and unknown FourCCs */
};

enum media_audio_codec {
    MEDIA_AUDIO_NONE = 0,
    MEDIA_AUDIO_AAC,
    MEDIA_AUDIO_MP3,
    MEDIA_AUDIO_OTHER
};

/* What one video tag body is. */
struct media_video_info {
    enum media_video_codec codec;
    int keyframe;        /* frame type 1 (or enhanced frame type 1) */
    int sequence_header; /* AVC/HEVC packet type 0, enhanced SequenceStart */
    int end_of_sequence; /* AVC packet type 2, enhanced SequenceEnd */
    int enhanced;        /* enhanced-RTMP FourCC header */
    uint32_t fourcc;     /* enhanced: the FourCC as big-endian u32, else 0 */
    int32_t cts;         /* composition time offset ms (AVC/HEVC coded frames), else 0 */
};

/* What one audio tag body is. */
struct media_audio_info {
    enum media_audio_codec codec;
    int sequence_header; /* AAC packet type 0 */
};

/* Decoder configuration from a sequence header. Zero where unknown. */
struct media_video_config {
    enum media_video_codec codec;
    unsigned profile;
    unsigned level;
    unsigned width;
    unsigned height;
};

struct media_audio_config {
    enum media_audio_codec codec;
    unsigned object_type;  /* AAC audio object type */
    unsigned sample_rate;  /* Hz */
    unsigned channels;
};

/* Classify a video tag body. ST_OK or ST_ERROR (empty/short body). */
int media_codec_probe_video(const uint8_t *body, size_t len, struct media_video_info *out, const char **err);
/* Classify an audio tag body. ST_OK or ST_ERROR (empty body, AAC without packet type). */
int media_codec_probe_audio(const uint8_t *body, size_t len, struct media_audio_info *out, const char **err);

/* Parse the decoder configuration from a video sequence header tag body (AVC:
 * AVCDecoderConfigurationRecord + SPS; HEVC: HEVCDecoderConfigurationRecord +
 * SPS; AV1/VP9: codec only). ST_OK or ST_ERROR with reason. */
int media_codec_parse_video_config(const uint8_t *body, size_t len, struct media_video_config *out,
                                   const char **err);
/* Parse AudioSpecificConfig from an AAC sequence header tag body. */
int media_codec_parse_audio_config(const uint8_t *body, size_t len, struct media_audio_config *out,
                                   const char **err);

/* Short names for logs and stats: "h264", "hevc", "av1", "vp9", "aac", ... */
const char *media_codec_video_name(enum media_video_codec c);
const char *media_codec_audio_name(enum media_audio_codec c);

#endif
