/*
 * rtmp_handshake: the server and client sides of the RTMP handshake.
 *
 * Server: feed it the client's bytes; once C0+C1 (1537 bytes) have arrived it
 * appends S0+S1+S2 (3073 bytes) to the output buffer, then it waits for C2
 * (1536 bytes, content not checked: real clients differ, see CLIENTS.md) and
 * returns ST_DONE. Bytes after C2 belong to the chunk stream and are not
 * consumed.
 *
 * Simple vs complex: when C1's version field (bytes 4-7) is non-zero and a
 * valid HMAC-SHA256 digest (key: "Genuine Adobe Flash Player 001") is found
 * at either known offset scheme, the server answers with the Flash Media
 * Server digest handshake (digest in S1 at the same scheme, S2 signed with
 * the key derived from C1's digest), which ffmpeg-based players validate.
 * Otherwise it answers the simple handshake: S1 with zero version field, S2
 * an echo of C1.
 *
 * Client: rtmp_handshake_client_start appends C0+C1 (simple form); feed it
 * the server's bytes; it appends C2 once S0+S1+S2 arrived and returns ST_DONE.
 *
 * The struct is embedded by the owner (per connection, no allocation). Pure:
 * no sockets; random bytes come from OpenSSL's RAND_bytes (non-blocking).
 * Errors (C0 version not 3, ...) return ST_ERROR with a static reason in
 * h->error.
 */
#ifndef SC_RTMP_HANDSHAKE_H
#define SC_RTMP_HANDSHAKE_H

#include "core/buf.h"
#include <stddef.h>
#include <stdint.h>

#define RTMP_HANDSHAKE_SIZE 1536

enum rtmp_handshake_state {
    RTMP_HS_WAIT_C0C1,
    RTMP_HS_WAIT_C2,
    RTMP_HS_CLIENT_WAIT_S0S1S2,
    RTMP_HS_DONE
};

struct rtmp_handshake {
    enum rtmp_handshake_state state;
    uint8_t peer[1 + RTMP_HANDSHAKE_SIZE]; /* C0+C1 (server) or S0+S1 (client) as it arrives */
    size_t have;                           /* bytes of the current step received */
    int complex;                           /* server: 1 when the digest handshake was used */
    int scheme;                            /* server: digest offset scheme found (0 or 1), -1 none */
    const char *error;                     /* static reason after ST_ERROR */
};

/* Prepare a server-side handshake. */
void rtmp_handshake_server_init(struct rtmp_handshake *h);

/* Prepare a client-side handshake and append C0+C1 to out. ST_OK/ST_ERROR. */
int rtmp_handshake_client_start(struct rtmp_handshake *h, struct buf *out);

/* Consume handshake bytes from in[0..len). Appends replies to out.
 * Returns ST_AGAIN (need more; everything given was consumed), ST_DONE
 * (complete; *consumed may be < len, the rest is chunk data), or ST_ERROR. */
int rtmp_handshake_feed(struct rtmp_handshake *h, const uint8_t *in, size_t len, size_t *consumed,
                        struct buf *out);

#endif
