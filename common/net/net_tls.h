/*
 * net_tls: the OpenSSL 3 server (and client) side of net_transport (STYLE.md 8), so RTMP
 * and HTTP code serve RTMPS / HTTPS through the same read/writev/close ops as
 * plain TCP and never call SSL_* themselves.
 *
 * Context: struct net_tls_context holds the SSL_CTX built from a PEM
 * certificate (chain allowed: leaf first) and a PEM private key; TLS 1.2 is
 * the minimum, renegotiation is off, a peer closing without close_notify is
 * a plain end of stream (ST_DONE). net_tls_context_reload builds a new
 * SSL_CTX and swaps it in for NEW connections only: each SSL object keeps a
 * reference on the SSL_CTX it was made from (OpenSSL refcounts it), so
 * existing sessions go on with the old certificate. Boot-time allocation;
 * the owner frees it after every transport made from it is closed
 * (transports do not point to the context, only to its SSL_CTX, so freeing
 * earlier is safe as well).
 *
 * Transport: net_tls_transport_init wraps an accepted non-blocking socket.
 * The server handshake (SSL_accept) runs from inside read and writev, so the
 * owner just calls them as for TCP. On ST_AGAIN, t->want_write says which
 * readiness the op waits for: 1 = the socket must become writable (the TLS
 * layer has bytes to send, e.g. handshake records or TLS 1.3 tickets, even
 * from a read), 0 = readable (even from a writev). writev copies the iovecs
 * into one bounded per-connection record buffer (NET_TLS_RECORD bytes) and
 * hands it to SSL_write: bytes it reports written are committed; if the
 * record could not be fully sent it returns ST_AGAIN with *nwritten possibly
 * > 0, and t->unsent > 0 until a later writev (iovcnt 0 is fine) pushes the
 * rest. So an owner keeps its write watcher on while t->unsent != 0, even
 * with nothing queued. t->pending is set while decrypted bytes wait inside
 * OpenSSL (the fd will not signal them): read again without waiting.
 * ST_ERROR leaves errno-style t->err (EPROTO for TLS failures) and a reason
 * string in t->error (the OpenSSL error string), valid until close.
 * net_transport_close sends close_notify (best effort), frees the SSL and
 * closes the fd. Per-connection memory: one allocation plus OpenSSL's own
 * buffers (released while idle, SSL_MODE_RELEASE_BUFFERS). Loop-confined.
 *
 * Returns: ST_OK / ST_ERROR with a message in err (when errlen > 0).
 */
#ifndef SC_NET_TLS_H
#define SC_NET_TLS_H

#include "net/net_transport.h"

#include <stddef.h>

#define NET_TLS_RECORD 16384 /* bytes per SSL_write: one full TLS record */

struct net_tls_context;

/* Load cert + key (PEM paths) into a new context. */
int net_tls_context_new(struct net_tls_context **out, const char *cert, const char *key, char *err, size_t errlen);
/* Build a new SSL_CTX from cert + key and use it for new connections; on
 * failure the context keeps the previous certificate. */
int net_tls_context_reload(struct net_tls_context *ctx, const char *cert, const char *key, char *err,
                           size_t errlen);
/* 1 when cert/key differ from what ctx was loaded from: other paths, or
 * file contents (SHA-256) changed, or a file cannot be read; else 0. */
int net_tls_context_changed(const struct net_tls_context *ctx, const char *cert, const char *key);
/* Times the certificate was (re)loaded successfully, 1 after _new. */
unsigned net_tls_context_generation(const struct net_tls_context *ctx);
void net_tls_context_free(struct net_tls_context *ctx);

/* Wrap accepted socket fd (non-blocking) as a TLS server transport. On
 * ST_ERROR (out of memory) the fd is NOT closed: the caller closes it. */
int net_tls_transport_init(struct net_transport *t, int fd, struct net_tls_context *ctx);
/* 1 once the handshake has completed (a failure before it is a refused
 * TLS client, worth a log line of its own). */
int net_tls_handshake_done(const struct net_transport *t);
/* Negotiated protocol ("TLSv1.3") or "" before the handshake. */
const char *net_tls_version(const struct net_transport *t);

/* Client side (relays pushing to rtmps://). A client context carries no
 * certificate; with verify set it checks the server's chain against the
 * system trust store and its name against the host given to the transport.
 * Free it with net_tls_context_free (the reload/changed calls are for server
 * contexts only). */
int net_tls_client_context_new(struct net_tls_context **out, int verify, char *err, size_t errlen);
/* Wrap a connected non-blocking socket as a TLS client transport: host goes
 * out as SNI (unless it is an address) and is what verification checks. The
 * handshake (SSL_connect) runs inside read and writev, as on the server
 * side. On ST_ERROR the fd is NOT closed. */
int net_tls_client_transport_init(struct net_transport *t, int fd, struct net_tls_context *ctx, const char *host);

#endif
