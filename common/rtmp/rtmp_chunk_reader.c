/*
 * rtmp_chunk_reader: RTMP chunk stream parser (RTMP spec 1.0, section 5.3).
 *
 * State machine with two phases per chunk: collect the header (1..18 bytes)
 * into r->hdr, then copy the chunk body straight into the reassembly buffer
 * of its chunk stream with one memcpy per contiguous run of input.
 *
 * Timestamp rules, as the spec writes them (libavformat agrees):
 *  - type 0 sets the absolute timestamp; it also becomes the "delta" that a
 *    following type-3 chunk starting a new message re-applies;
 *  - types 1 and 2 carry a delta added to the previous message's timestamp;
 *  - type 3 starting a new message adds the previous delta again;
 *  - the 4-byte extended field follows every header of type 0/1/2 whose
 *    24-bit field is 0xFFFFFF, and every type-3 chunk of a chunk stream whose
 *    last type 0/1/2 header had one (continuations and new messages alike).
 *    On type 3 its value is not used: it repeats what the header said.
 * A type 0/1/2 header arriving in the middle of a message is taken as a
 * continuation if it keeps the message length (its other fields are
 * ignored), and is an error if it changes it.
 */
#include "rtmp/rtmp_chunk_reader.h"

#include "core/buf.h"
#include "core/status.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define EXT_TS 0xFFFFFFu /* 24-bit field value announcing an extended timestamp */

struct rtmp_chunk_stream {
    uint32_t csid;
    uint32_t timestamp; /* absolute ms of the current / last message */
    uint32_t delta;     /* re-applied by a type-3 chunk that starts a message */
    uint32_t length;    /* message length from the last type 0/1 header */
    uint32_t stream_id;
    uint8_t type;
    uint8_t ext;     /* last type 0/1/2 header used the extended field */
    uint8_t partial; /* a message is being reassembled */
    uint32_t have;   /* payload bytes of that message received so far */
    uint8_t *buf;    /* reassembly buffer, cap bytes */
    uint32_t cap;
    uint64_t used; /* LRU stamp, to pick a slot to reuse */
};

static const uint8_t msg_header_len[4] = {11, 7, 3, 0};
static const uint8_t empty_payload[1];

static int fail(struct rtmp_chunk_reader *r, const char *why)
{
    r->error = why;
    return ST_ERROR;
}

/* The reader keeps at most this many bytes of reassembly buffers in total. */
static uint64_t mem_budget(const struct rtmp_chunk_reader *r)
{
    return 4 * (uint64_t)r->max_message_size;
}

int rtmp_chunk_reader_init(struct rtmp_chunk_reader *r, uint32_t max_chunk_size, uint32_t max_message_size)
{
    memset(r, 0, sizeof(*r));
    r->chunk_size = RTMP_DEFAULT_CHUNK_SIZE;
    r->max_chunk_size = max_chunk_size;
    r->max_message_size = max_message_size;
    /* Clients use three to five chunk streams; start there and grow, so an
     * idle player connection stays small. */
    r->streams_cap = 4;
    r->streams = calloc(r->streams_cap, sizeof(*r->streams));
    if (!r->streams)
        return fail(r, "out of memory");
    return ST_OK;
}

void rtmp_chunk_reader_free(struct rtmp_chunk_reader *r)
{
    if (r->streams) {
        for (unsigned i = 0; i < r->nstreams; i++)
            free(r->streams[i].buf);
        free(r->streams);
    }
    r->streams = NULL;
    r->nstreams = 0;
    r->streams_cap = 0;
    r->cur = NULL;
    r->mem_total = 0;
}

static struct rtmp_chunk_stream *find_stream(struct rtmp_chunk_reader *r, uint32_t csid)
{
    if (r->cur && r->cur->csid == csid)
        return r->cur;
    for (unsigned i = 0; i < r->nstreams; i++)
        if (r->streams[i].csid == csid)
            return &r->streams[i];
    return NULL;
}

/* A free slot, or else the least recently used one with no partial message
 * (its chunk stream is forgotten: a later type 1/2/3 on it is an error). */
static struct rtmp_chunk_stream *new_stream(struct rtmp_chunk_reader *r, uint32_t csid)
{
    struct rtmp_chunk_stream *s = NULL;
    if (r->nstreams == r->streams_cap && r->streams_cap < RTMP_CHUNK_READER_MAX_STREAMS) {
        unsigned cap = r->streams_cap * 2 < RTMP_CHUNK_READER_MAX_STREAMS ? r->streams_cap * 2
                                                                           : RTMP_CHUNK_READER_MAX_STREAMS;
        /* r->cur points into the array: keep its index across the move. */
        ptrdiff_t cur = r->cur ? r->cur - r->streams : -1;
        struct rtmp_chunk_stream *grown = realloc(r->streams, cap * sizeof(*grown));
        if (grown) {
            if (cur >= 0)
                r->cur = grown + cur;
            memset(grown + r->streams_cap, 0, (cap - r->streams_cap) * sizeof(*grown));
            r->streams = grown;
            r->streams_cap = cap;
        }
    }
    if (r->nstreams < r->streams_cap) {
        s = &r->streams[r->nstreams++];
    } else {
        for (unsigned i = 0; i < r->nstreams; i++) {
            struct rtmp_chunk_stream *c = &r->streams[i];
            if (!c->partial && (!s || c->used < s->used))
                s = c;
        }
        if (!s)
            return NULL;
    }
    uint8_t *buf = s->buf; /* keep the allocation */
    uint32_t cap = s->cap;
    memset(s, 0, sizeof(*s));
    s->buf = buf;
    s->cap = cap;
    s->csid = csid;
    return s;
}

/* Make room for a whole message in s->buf, within the reader's memory budget:
 * idle buffers of other streams are released first if needed. */
static int reserve(struct rtmp_chunk_reader *r, struct rtmp_chunk_stream *s, uint32_t len)
{
    if (len <= s->cap)
        return ST_OK;
    /* 1/8 headroom so a slowly growing frame size does not realloc every
     * time, but never beyond the largest message allowed. */
    uint64_t cap = ((uint64_t)len + len / 8 + 63) & ~(uint64_t)63;
    if (cap > r->max_message_size)
        cap = len;
    if (r->mem_total - s->cap + cap > mem_budget(r)) {
        for (unsigned i = 0; i < r->nstreams; i++) {
            struct rtmp_chunk_stream *c = &r->streams[i];
            if (c != s && !c->partial && c->buf) {
                r->mem_total -= c->cap;
                free(c->buf);
                c->buf = NULL;
                c->cap = 0;
            }
        }
        if (r->mem_total - s->cap + cap > mem_budget(r))
            return fail(r, "partial messages over the memory budget");
    }
    uint8_t *p = realloc(s->buf, cap);
    if (!p)
        return fail(r, "out of memory");
    r->mem_total = r->mem_total - s->cap + cap;
    s->buf = p;
    s->cap = (uint32_t)cap;
    return ST_OK;
}

/* Bytes of header needed given what r->hdr holds so far; the answer grows as
 * the basic header and the timestamp field reveal more. */
static unsigned header_need(struct rtmp_chunk_reader *r)
{
    if (r->hdr_have == 0)
        return 1;
    unsigned fmt = r->hdr[0] >> 6, low = r->hdr[0] & 0x3f;
    unsigned basic = low == 0 ? 2 : low == 1 ? 3 : 1;
    if (r->hdr_have < basic)
        return basic;
    unsigned n = basic + msg_header_len[fmt];
    if (r->hdr_have < n)
        return n;
    if (fmt < 3)
        return rd_be24(r->hdr + basic) == EXT_TS ? n + 4 : n;
    uint32_t csid = low == 0 ? 64u + r->hdr[1] : low == 1 ? 64u + r->hdr[1] + 256u * r->hdr[2] : low;
    struct rtmp_chunk_stream *s = find_stream(r, csid);
    return s && s->ext ? n + 4 : n;
}

/* Apply a complete header in r->hdr: find or create the chunk stream, update
 * its message state, and set up the chunk body. */
static int process_header(struct rtmp_chunk_reader *r)
{
    const uint8_t *p = r->hdr;
    unsigned fmt = p[0] >> 6, low = p[0] & 0x3f;
    uint32_t csid = low;
    if (low == 0) {
        csid = 64u + p[1];
        p += 2;
    } else if (low == 1) {
        csid = 64u + p[1] + 256u * p[2];
        p += 3;
    } else {
        p += 1;
    }

    struct rtmp_chunk_stream *s = find_stream(r, csid);
    if (!s) {
        if (fmt != 0)
            return fail(r, "chunk stream without an initial type-0 header");
        s = new_stream(r, csid);
        if (!s)
            return fail(r, "too many chunk streams with partial messages");
    }
    s->used = ++r->clock;

    if (fmt < 3) {
        uint32_t ts = rd_be24(p);
        uint32_t len = fmt < 2 ? rd_be24(p + 3) : s->length;
        s->ext = ts == EXT_TS;
        if (s->ext)
            ts = rd_be32(p + msg_header_len[fmt]);
        if (s->partial) {
            if (len != s->length)
                return fail(r, "message length changed mid-message");
        } else {
            if (fmt == 0) {
                s->timestamp = ts;
                s->delta = ts;
                s->stream_id = rd_le32(p + 7);
            } else {
                s->timestamp += ts;
                s->delta = ts;
            }
            if (fmt < 2) {
                s->length = len;
                s->type = p[6];
            }
        }
    } else if (!s->partial) {
        s->timestamp += s->delta;
    }

    if (!s->partial) {
        if (s->length > r->max_message_size)
            return fail(r, "message larger than the maximum message size");
        if (reserve(r, s, s->length) != ST_OK)
            return ST_ERROR;
        s->partial = 1;
        s->have = 0;
    }
    r->cur = s;
    uint32_t left = s->length - s->have;
    r->chunk_left = left < r->chunk_size ? left : r->chunk_size;
    return ST_OK;
}

static void deliver(struct rtmp_chunk_stream *s, struct rtmp_message *msg)
{
    msg->csid = s->csid;
    msg->type = s->type;
    msg->length = s->length;
    msg->timestamp = s->timestamp;
    msg->stream_id = s->stream_id;
    msg->payload = s->buf ? s->buf : empty_payload;
    s->partial = 0;
    s->have = 0;
}

int rtmp_chunk_reader_feed(struct rtmp_chunk_reader *r, const uint8_t *in, size_t len, size_t *consumed,
                           struct rtmp_message *msg)
{
    size_t pos = 0;
    int rc;
    if (r->error) {
        *consumed = 0;
        return ST_ERROR;
    }
    for (;;) {
        if (!r->in_payload) {
            unsigned need;
            while ((need = header_need(r)) > r->hdr_have) {
                size_t n = need - r->hdr_have;
                if (n > len - pos)
                    n = len - pos;
                memcpy(r->hdr + r->hdr_have, in + pos, n);
                r->hdr_have += (unsigned)n;
                pos += n;
                if (r->hdr_have < need)
                    break;
            }
            if (r->hdr_have < need) {
                rc = ST_AGAIN;
                break;
            }
            rc = process_header(r);
            if (rc != ST_OK)
                break;
            r->hdr_have = 0;
            r->in_payload = 1;
        }

        struct rtmp_chunk_stream *s = r->cur;
        size_t n = r->chunk_left;
        if (n > len - pos)
            n = len - pos;
        if (s->partial && n) { /* not partial: aborted mid-chunk, skip the rest */
            memcpy(s->buf + s->have, in + pos, n);
            s->have += (uint32_t)n;
        }
        pos += n;
        r->chunk_left -= (uint32_t)n;
        if (r->chunk_left) {
            rc = ST_AGAIN;
            break;
        }
        r->in_payload = 0;
        if (s->partial && s->have == s->length) {
            deliver(s, msg);
            rc = ST_OK;
            break;
        }
        if (pos == len) {
            rc = ST_AGAIN;
            break;
        }
    }
    *consumed = pos;
    r->bytes_in += pos;
    return rc;
}

int rtmp_chunk_reader_set_chunk_size(struct rtmp_chunk_reader *r, uint32_t size)
{
    if (size == 0)
        return fail(r, "chunk size 0");
    if (size > 0x7fffffffu)
        return fail(r, "chunk size with the high bit set");
    if (size > r->max_chunk_size)
        return fail(r, "chunk size above the maximum");
    r->chunk_size = size;
    return ST_OK;
}

void rtmp_chunk_reader_abort(struct rtmp_chunk_reader *r, uint32_t csid)
{
    if (!r->streams)
        return;
    struct rtmp_chunk_stream *s = find_stream(r, csid);
    if (s) {
        s->partial = 0;
        s->have = 0;
    }
}
