#include "flv/flv_tag.h"
#include "core/status.h"

#include <string.h>

/*
 * Reader design: every byte of the current unit (file header + skipped extra
 * bytes + PreviousTagSize0, or tag header + body + PreviousTagSize) is
 * collected into r->pending, so a delivered body is contiguous and borrowed
 * from the reader whatever the input split was. The buffer keeps its storage
 * between tags, so steady state does not allocate.
 *
 * PreviousTagSize is read and ignored: real files carry wrong values
 * (concatenated recordings, muxers that count the header twice), and the tag
 * header alone is enough to frame the stream. Reserved bits in the tag type
 * byte are ignored the same way; the filter (encryption) bit is an error since
 * the body would be unreadable.
 *
 * Errors are sticky (the reader stays failed) and report *consumed = 0: the
 * stream cannot be resynchronised, so the position is of no use.
 */

#define FLV_PREV_SIZE_LEN 4
/* Extra bytes between the 9-byte header and the first tag that we skip. No
 * muxer writes any; the cap keeps a garbage offset from buffering megabytes. */
#define FLV_MAX_HEADER_EXTRA 65536
#define FLV_MAX_TAG_SIZE 0xffffffu /* DataSize is 24 bits */

enum { RD_FILE_HEADER, RD_TAG_HEADER, RD_TAG_BODY, RD_DELIVERED, RD_FAILED };

static const char *const bad_type[32] = {
    "bad tag type 0",  "bad tag type 1",  "bad tag type 2",  "bad tag type 3",  "bad tag type 4",
    "bad tag type 5",  "bad tag type 6",  "bad tag type 7",  "bad tag type 8",  "bad tag type 9",
    "bad tag type 10", "bad tag type 11", "bad tag type 12", "bad tag type 13", "bad tag type 14",
    "bad tag type 15", "bad tag type 16", "bad tag type 17", "bad tag type 18", "bad tag type 19",
    "bad tag type 20", "bad tag type 21", "bad tag type 22", "bad tag type 23", "bad tag type 24",
    "bad tag type 25", "bad tag type 26", "bad tag type 27", "bad tag type 28", "bad tag type 29",
    "bad tag type 30", "bad tag type 31",
};

void flv_tag_write_tag_header(uint8_t dst[FLV_TAG_HEADER_SIZE], uint8_t type, uint32_t timestamp, uint32_t size)
{
    dst[0] = type;
    wr_be24(dst + 1, size);
    wr_be24(dst + 4, timestamp & 0xffffffu);
    dst[7] = (uint8_t)(timestamp >> 24); /* TimestampExtended: the high byte */
    wr_be24(dst + 8, 0);                 /* StreamID, always 0 */
}

int flv_tag_write_header(struct buf *out, int has_audio, int has_video)
{
    uint8_t h[FLV_HEADER_SIZE + FLV_PREV_SIZE_LEN] = { 'F', 'L', 'V', 1 };
    h[4] = (uint8_t)((has_audio ? 4 : 0) | (has_video ? 1 : 0));
    wr_be32(h + 5, FLV_HEADER_SIZE);
    wr_be32(h + 9, 0); /* PreviousTagSize0 */
    return buf_append(out, h, sizeof(h));
}

int flv_tag_write(struct buf *out, uint8_t type, uint32_t timestamp, const uint8_t *body, uint32_t size)
{
    uint8_t h[FLV_TAG_HEADER_SIZE], t[FLV_PREV_SIZE_LEN];

    if (size > FLV_MAX_TAG_SIZE)
        return ST_ERROR;
    /* Reserve once so a failure leaves out unchanged (no half tag). */
    if (buf_reserve(out, FLV_TAG_HEADER_SIZE + (size_t)size + FLV_PREV_SIZE_LEN) != ST_OK)
        return ST_ERROR;
    flv_tag_write_tag_header(h, type, timestamp, size);
    wr_be32(t, FLV_TAG_HEADER_SIZE + size);
    buf_append(out, h, sizeof(h));
    buf_append(out, body, size);
    buf_append(out, t, sizeof(t));
    return ST_OK;
}

int flv_reader_init(struct flv_reader *r, uint32_t max_tag_size)
{
    memset(r, 0, sizeof(*r));
    if (max_tag_size == 0)
        return ST_ERROR;
    r->max_tag_size = max_tag_size > FLV_MAX_TAG_SIZE ? FLV_MAX_TAG_SIZE : max_tag_size;
    r->state = RD_FILE_HEADER;
    size_t unit = (size_t)r->max_tag_size + FLV_TAG_HEADER_SIZE + FLV_PREV_SIZE_LEN;
    size_t head = FLV_HEADER_SIZE + FLV_MAX_HEADER_EXTRA + FLV_PREV_SIZE_LEN;
    buf_init(&r->pending, unit > head ? unit : head);
    return ST_OK;
}

void flv_reader_free(struct flv_reader *r)
{
    buf_free(&r->pending);
    r->state = RD_FAILED;
}

static int reader_fail(struct flv_reader *r, const char *why)
{
    r->error = why;
    r->state = RD_FAILED;
    return ST_ERROR;
}

/* Move input into pending until it holds want bytes; 1 when it does. */
static int collect(struct flv_reader *r, size_t want, const uint8_t *in, size_t len, size_t *used)
{
    size_t n = want - r->pending.len;
    if (n > len - *used)
        n = len - *used;
    /* Cannot fail: want never exceeds the cap chosen at init. */
    if (buf_append(&r->pending, in + *used, n) != ST_OK)
        return -1;
    *used += n;
    return r->pending.len == want;
}

/* Signature and version are checked on every byte that has arrived, so a
 * peer sending something else fails at once instead of after 9 bytes. */
static int check_signature(struct flv_reader *r)
{
    static const uint8_t sig[4] = { 'F', 'L', 'V', 1 };
    size_t n = r->pending.len < 4 ? r->pending.len : 4;
    if (memcmp(r->pending.data, sig, n < 3 ? n : 3) != 0)
        return reader_fail(r, "not an FLV file");
    if (n == 4 && r->pending.data[3] != sig[3])
        return reader_fail(r, "unsupported FLV version");
    return ST_OK;
}

static int check_file_header(struct flv_reader *r)
{
    const uint8_t *h = r->pending.data;
    uint32_t offset = rd_be32(h + 5);
    if (offset < FLV_HEADER_SIZE)
        return reader_fail(r, "FLV data offset too small");
    if (offset - FLV_HEADER_SIZE > FLV_MAX_HEADER_EXTRA)
        return reader_fail(r, "FLV data offset too large");
    r->has_audio = (h[4] & 4) != 0;
    r->has_video = (h[4] & 1) != 0;
    return ST_OK;
}

static int check_tag_header(struct flv_reader *r)
{
    const uint8_t *h = r->pending.data;
    if (h[0] & 0x20)
        return reader_fail(r, "encrypted FLV tag (filter bit set)");
    unsigned type = h[0] & 0x1f;
    if (type != FLV_TAG_AUDIO && type != FLV_TAG_VIDEO && type != FLV_TAG_SCRIPT)
        return reader_fail(r, bad_type[type]);
    if (rd_be24(h + 1) > r->max_tag_size)
        return reader_fail(r, "FLV tag too large");
    return ST_OK;
}

int flv_reader_feed(struct flv_reader *r, const uint8_t *in, size_t len, size_t *consumed, struct flv_tag *tag)
{
    size_t used = 0;
    int got;

    *consumed = 0;
    if (r->state == RD_FAILED)
        return ST_ERROR;
    if (r->state == RD_DELIVERED) {
        buf_reset(&r->pending);
        r->state = RD_TAG_HEADER;
    }
    while (used < len) {
        switch (r->state) {
        case RD_FILE_HEADER:
            if (r->pending.len < FLV_HEADER_SIZE) {
                if ((got = collect(r, FLV_HEADER_SIZE, in, len, &used)) < 0)
                    return reader_fail(r, "out of memory");
                if (check_signature(r) != ST_OK || (got && check_file_header(r) != ST_OK))
                    return ST_ERROR;
                break;
            }
            /* Header valid: swallow extra bytes and PreviousTagSize0. */
            got = collect(r, (size_t)rd_be32(r->pending.data + 5) + FLV_PREV_SIZE_LEN, in, len, &used);
            if (got < 0)
                return reader_fail(r, "out of memory");
            if (got) {
                buf_reset(&r->pending);
                r->state = RD_TAG_HEADER;
            }
            break;
        case RD_TAG_HEADER:
            if ((got = collect(r, FLV_TAG_HEADER_SIZE, in, len, &used)) < 0)
                return reader_fail(r, "out of memory");
            if (got) {
                if (check_tag_header(r) != ST_OK)
                    return ST_ERROR;
                r->state = RD_TAG_BODY;
            }
            break;
        case RD_TAG_BODY: {
            const uint8_t *h = r->pending.data;
            uint32_t size = rd_be24(h + 1);
            got = collect(r, FLV_TAG_HEADER_SIZE + (size_t)size + FLV_PREV_SIZE_LEN, in, len, &used);
            if (got < 0)
                return reader_fail(r, "out of memory");
            if (!got)
                break;
            h = r->pending.data; /* collect may have moved it */
            tag->type = h[0] & 0x1f;
            tag->size = size;
            tag->timestamp = rd_be24(h + 4) | (uint32_t)h[7] << 24;
            tag->body = h + FLV_TAG_HEADER_SIZE;
            r->state = RD_DELIVERED;
            *consumed = used;
            return ST_OK;
        }
        default:
            return reader_fail(r, "reader in a bad state");
        }
    }
    *consumed = used;
    return ST_AGAIN;
}
