/*
 * libFuzzer driver for media_codec: every entry point on the raw input, and
 * the input behind legacy AVC/HEVC and enhanced hvc1/avc1 sequence-header
 * prefixes so the record and SPS parsers see most inputs. Each call gets an
 * exact-size heap copy so ASan catches any read past the length.
 */
#include "core/status.h"
#include "media/media_codec.h"

#include <stdlib.h>
#include <string.h>

static void check_video(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        return;
    memcpy(c, p, n);
    struct media_video_info vi;
    struct media_video_config vc;
    const char *err = NULL;
    if (media_codec_probe_video(c, n, &vi, &err) != ST_OK && !err)
        abort();
    err = NULL;
    if (media_codec_parse_video_config(c, n, &vc, &err) == ST_OK) {
        if (vc.width > 16384 || vc.height > 16384)
            abort();
        (void)media_codec_video_name(vc.codec);
    } else if (!err) {
        abort();
    }
    free(c);
}

static void check_audio(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        return;
    memcpy(c, p, n);
    struct media_audio_info ai;
    struct media_audio_config ac;
    const char *err = NULL;
    if (media_codec_probe_audio(c, n, &ai, &err) != ST_OK && !err)
        abort();
    err = NULL;
    if (media_codec_parse_audio_config(c, n, &ac, &err) != ST_OK && !err)
        abort();
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t prefixes[][5] = {
        { 0x17, 0, 0, 0, 0 }, { 0x1c, 0, 0, 0, 0 }, { 0x90, 'h', 'v', 'c', '1' }, { 0x90, 'a', 'v', 'c', '1' },
    };
    check_video(data, size);
    check_audio(data, size);
    if (size > 65536)
        return 0;
    uint8_t *buf = malloc(size + 5);
    if (!buf)
        return 0;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        memcpy(buf, prefixes[i], 5);
        memcpy(buf + 5, data, size);
        check_video(buf, size + 5);
    }
    buf[0] = 0xaf;
    buf[1] = 0;
    memcpy(buf + 2, data, size);
    check_audio(buf, size + 2);
    free(buf);
    return 0;
}
