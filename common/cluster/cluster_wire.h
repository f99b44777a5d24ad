/*
 * cluster_wire: the origin -> edge replication format (ZeroMQ multipart).
 *
 * Live updates (PUB/SUB), one multipart message per media message:
 *   frame 0  topic   "<app>/<name>" followed by one NUL byte. The NUL ends
 *                    the key, so a SUB prefix subscription to "live/a\0"
 *                    can never match "live/ab\0".
 *   frame 1  header  CLUSTER_WIRE_HEADER_SIZE bytes, layout below.
 *   frame 2  payload the FLV tag body (may be empty for control kinds);
 *                    sent zero-copy from the origin's shared frame.
 *
 * Header (all integers big-endian):
 *   0  u8   version (CLUSTER_WIRE_VERSION; a receiver rejects any other)
 *   1  u8   kind: 8 audio, 9 video, 18 data (FLV tag types), or a control
 *           kind: CLUSTER_KIND_EOS (publisher gone)
 *   2  u8   flags: CLUSTER_FLAG_KEY, _SEQ_HEADER, _METADATA, _SEG_START
 *   3  u8   reserved, 0
 *   4  u32  timestamp (dts, ms, the publisher's timeline)
 *   8  u32  epoch: changes on every new publish or takeover of the stream
 *   12 u64  seq: per stream and epoch, +1 per message, first is 1
 *   20 u32  payload length (must equal frame 2's size)
 *   24 u32  HLS segment the message belongs to (0 = none yet); a keyframe
 *           with CLUSTER_FLAG_SEG_START opens it (hls_segment_clock.h)
 *   28 u32  reserved, 0
 *   32 u64  ingest wall clock, Unix ms (HLS program date-time)
 *
 * Version 2 added bytes 24..39 (segment stamps): every node of a cluster
 * must run the same version; a mismatch is rejected with a log line.
 *
 * Snapshot (DEALER -> ROUTER), asked by an edge after it subscribed:
 *   request:  ["SNAP"] [topic]
 *   reply:    [reply header] then, per cached message, [header][payload]:
 *             metadata, audio and video sequence headers, then the GOP.
 *             Each message header carries the seq it was published with
 *             (0 = unknown), so a subscriber that lost updates can take
 *             just the missing ones from a second snapshot.
 *   reply header: 0 u8 version, 1 u8 status (CLUSTER_SNAP_OK or
 *             CLUSTER_SNAP_NOT_FOUND), 2..3 u16 message count, 4 u32 epoch,
 *             8 u64 seq the snapshot ends at (updates with seq greater than
 *             this follow it), 16..23 reserved. CLUSTER_WIRE_SNAP_HEADER_SIZE.
 *
 * Pure encode/decode of the fixed headers and the topic; no sockets. Decoders
 * return ST_OK, or ST_ERROR with a static reason in *err (wrong size, wrong
 * version, unknown kind, length mismatch).
 */
#ifndef SC_CLUSTER_WIRE_H
#define SC_CLUSTER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define CLUSTER_WIRE_VERSION 2
#define CLUSTER_WIRE_HEADER_SIZE 40
#define CLUSTER_WIRE_SNAP_HEADER_SIZE 24
#define CLUSTER_WIRE_TOPIC_MAX 512 /* including the NUL */

enum {
    CLUSTER_KIND_AUDIO = 8,
    CLUSTER_KIND_VIDEO = 9,
    CLUSTER_KIND_DATA = 18,
    CLUSTER_KIND_EOS = 0x40 /* end of stream: the publisher left (payload empty) */
};

enum { CLUSTER_FLAG_KEY = 1, CLUSTER_FLAG_SEQ_HEADER = 2, CLUSTER_FLAG_METADATA = 4, CLUSTER_FLAG_SEG_START = 8 };

enum { CLUSTER_SNAP_OK = 0, CLUSTER_SNAP_NOT_FOUND = 1 };

struct cluster_wire_header {
    uint8_t version;
    uint8_t kind;
    uint8_t flags;
    uint32_t timestamp;
    uint32_t epoch;
    uint64_t seq;
    uint32_t length;
    uint32_t segment;
    uint64_t wall_ms;
};

struct cluster_wire_snap_header {
    uint8_t version;
    uint8_t status;
    uint16_t count;
    uint32_t epoch;
    uint64_t seq_end;
};

/* Write "<key>\0" into dst (cap bytes). Returns the topic length including
 * the NUL, or 0 when the key is empty, contains a NUL, or does not fit. */
size_t cluster_wire_topic(char *dst, size_t cap, const char *key);
/* Check a received topic frame and return the key (borrowed, NUL-terminated
 * inside the frame) or NULL. */
const char *cluster_wire_topic_key(const void *frame, size_t len);

void cluster_wire_header_encode(uint8_t dst[CLUSTER_WIRE_HEADER_SIZE], const struct cluster_wire_header *h);
/* Decode and validate; payload_len is the size of the payload frame that came with it. */
int cluster_wire_header_decode(const void *src, size_t len, size_t payload_len, struct cluster_wire_header *h,
                               const char **err);

void cluster_wire_snap_header_encode(uint8_t dst[CLUSTER_WIRE_SNAP_HEADER_SIZE],
                                     const struct cluster_wire_snap_header *h);
int cluster_wire_snap_header_decode(const void *src, size_t len, struct cluster_wire_snap_header *h,
                                    const char **err);

#endif
