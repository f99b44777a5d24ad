/*
 * rtmp_message: message type ids, user-control events and the chunk stream
 * ids this server uses when it sends. Constants only.
 */
#ifndef SC_RTMP_MESSAGE_H
#define SC_RTMP_MESSAGE_H

enum {
    RTMP_MSG_SET_CHUNK_SIZE = 1,
    RTMP_MSG_ABORT = 2,
    RTMP_MSG_ACK = 3,
    RTMP_MSG_USER_CONTROL = 4,
    RTMP_MSG_WINDOW_ACK_SIZE = 5,
    RTMP_MSG_SET_PEER_BANDWIDTH = 6,
    RTMP_MSG_AUDIO = 8,
    RTMP_MSG_VIDEO = 9,
    RTMP_MSG_DATA_AMF3 = 15,
    RTMP_MSG_SHARED_OBJECT_AMF3 = 16,
    RTMP_MSG_COMMAND_AMF3 = 17,
    RTMP_MSG_DATA_AMF0 = 18,
    RTMP_MSG_SHARED_OBJECT_AMF0 = 19,
    RTMP_MSG_COMMAND_AMF0 = 20,
    RTMP_MSG_AGGREGATE = 22
};

enum {
    RTMP_UC_STREAM_BEGIN = 0,
    RTMP_UC_STREAM_EOF = 1,
    RTMP_UC_STREAM_DRY = 2,
    RTMP_UC_SET_BUFFER_LENGTH = 3,
    RTMP_UC_STREAM_IS_RECORDED = 4,
    RTMP_UC_PING_REQUEST = 6,
    RTMP_UC_PING_RESPONSE = 7
};

/* Chunk stream ids used on output (the same ones nginx-rtmp uses, which every
 * client in CLIENTS.md accepts). */
enum {
    RTMP_CSID_CONTROL = 2, /* protocol control and user control, stream 0 */
    RTMP_CSID_COMMAND = 3, /* NetConnection commands, stream 0 */
    RTMP_CSID_AMF = 5,     /* onStatus and data messages on a media stream */
    RTMP_CSID_AUDIO = 6,
    RTMP_CSID_VIDEO = 7
};

/* Message stream id media is sent on: createStream hands out 1 first. */
#define RTMP_MEDIA_STREAM_ID 1

#endif
