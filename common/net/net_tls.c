#include "net/net_tls.h"

#include "core/status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_MAX_PEM (1024 * 1024) /* cert/key files hashed for change detection */

struct net_tls_context {
    SSL_CTX *ssl_ctx; /* for new connections; old SSLs hold their own reference */
    char *cert, *key;
    unsigned char digest[32]; /* SHA-256 over both files' contents */
    int have_digest;
    unsigned generation;
};

struct tls_conn {
    SSL *ssl;
    int handshake_done;
    int fatal;          /* no SSL_shutdown after a fatal error */
    size_t wlen, woff;  /* record buffer: wbuf[woff..wlen) handed to SSL_write, not yet confirmed */
    char error[256];
    unsigned char wbuf[NET_TLS_RECORD];
};

/* "what: <openssl reason>" from the thread's error queue (emptied): the
 * first error is the cause ("No such file", "no start line"), the last one
 * the context ("PEM lib"); both when they differ. */
static void format_error(char *out, size_t len, const char *what)
{
    unsigned long first = ERR_peek_error(), last = ERR_peek_last_error();
    char a[160], b[160];
    if (first)
        ERR_error_string_n(first, a, sizeof(a));
    if (last && last != first)
        ERR_error_string_n(last, b, sizeof(b));
    if (len && !first)
        snprintf(out, len, "%s: %s", what, errno ? strerror(errno) : "unknown error");
    else if (len && last == first)
        snprintf(out, len, "%s: %s", what, a);
    else if (len)
        snprintf(out, len, "%s: %s (%s)", what, a, b);
    ERR_clear_error();
}

/* Hash both files; ST_ERROR when one cannot be read or is too large. */
static int digest_files(const char *cert, const char *key, unsigned char out[32])
{
    int rc = ST_ERROR;
    unsigned char *buf = malloc(64 * 1024);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!buf || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        goto out;
    const char *paths[2] = {cert, key};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f)
            goto out;
        size_t n, total = 0;
        while ((n = fread(buf, 1, 64 * 1024, f)) > 0 && (total += n) <= TLS_MAX_PEM)
            EVP_DigestUpdate(md, buf, n);
        int bad = ferror(f) || total > TLS_MAX_PEM;
        fclose(f);
        if (bad)
            goto out;
        EVP_DigestUpdate(md, "\0", 1); /* file boundary */
    }
    unsigned int dlen = 0;
    if (EVP_DigestFinal_ex(md, out, &dlen) == 1 && dlen == 32)
        rc = ST_OK;
out:
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

static SSL_CTX *build_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
    ERR_clear_error();
    errno = 0;
    if (!cert || !cert[0] || !key || !key[0]) {
        if (errlen)
            snprintf(err, errlen, "tls: both tls_cert and tls_key are needed");
        return NULL;
    }
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (!c) {
        format_error(err, errlen, "tls: SSL_CTX_new");
        return NULL;
    }
    char what[600];
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
        snprintf(what, sizeof(what), "tls_cert %s", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof(what), "tls_key %s", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        snprintf(what, sizeof(what), "tls_key %s does not match tls_cert %s", key, cert);
        goto fail;
    }
    return c;
fail:
    format_error(err, errlen, what);
    SSL_CTX_free(c);
    return NULL;
}

int net_tls_context_new(struct net_tls_context **out, const char *cert, const char *key, char *err, size_t errlen)
{
    *out = NULL;
    struct net_tls_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        if (errlen)
            snprintf(err, errlen, "tls: out of memory");
        return ST_ERROR;
    }
    if (net_tls_context_reload(ctx, cert, key, err, errlen) != ST_OK) {
        free(ctx);
        return ST_ERROR;
    }
    *out = ctx;
    return ST_OK;
}

int net_tls_context_reload(struct net_tls_context *ctx, const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *c = build_ctx(cert, key, err, errlen);
    if (!c)
        return ST_ERROR;
    char *ncert = strdup(cert), *nkey = strdup(key);
    if (!ncert || !nkey) {
        free(ncert);
        free(nkey);
        SSL_CTX_free(c);
        if (errlen)
            snprintf(err, errlen, "tls: out of memory");
        return ST_ERROR;
    }
    /* The files may change between loading and hashing; then the next
     * reload sees a difference and loads again, which is harmless. */
    ctx->have_digest = digest_files(cert, key, ctx->digest) == ST_OK;
    SSL_CTX_free(ctx->ssl_ctx); /* live SSLs keep their own reference */
    ctx->ssl_ctx = c;
    free(ctx->cert);
    free(ctx->key);
    ctx->cert = ncert;
    ctx->key = nkey;
    ctx->generation++;
    return ST_OK;
}

int net_tls_context_changed(const struct net_tls_context *ctx, const char *cert, const char *key)
{
    if (!cert || !key || strcmp(cert, ctx->cert) != 0 || strcmp(key, ctx->key) != 0 || !ctx->have_digest)
        return 1;
    unsigned char d[32];
    if (digest_files(cert, key, d) != ST_OK)
        return 1;
    return memcmp(d, ctx->digest, sizeof(d)) != 0;
}

unsigned net_tls_context_generation(const struct net_tls_context *ctx) { return ctx->generation; }

void net_tls_context_free(struct net_tls_context *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx->cert);
    free(ctx->key);
    free(ctx);
}

/* --- transport ------------------------------------------------------------ */

/* Map an SSL_* failure: ST_AGAIN (with the direction), ST_DONE or ST_ERROR. */
static int tls_status(struct net_transport *t, struct tls_conn *tc, int ret, const char *what)
{
    int e = SSL_get_error(tc->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        t->want_write = 0;
        return ST_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        t->want_write = 1;
        return ST_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return ST_DONE; /* close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF) */
    case SSL_ERROR_SYSCALL:
        tc->fatal = 1;
        if (errno == 0 && ERR_peek_error() == 0) {
            ERR_clear_error();
            return ST_DONE;
        }
        t->err = errno ? errno : EPROTO;
        format_error(tc->error, sizeof(tc->error), what);
        t->error = tc->error;
        return ST_ERROR;
    default:
        tc->fatal = 1;
        t->err = EPROTO;
        format_error(tc->error, sizeof(tc->error), what);
        t->error = tc->error;
        return ST_ERROR;
    }
}

static int tls_handshake(struct net_transport *t, struct tls_conn *tc)
{
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_do_handshake(tc->ssl);
        if (r == 1) {
            tc->handshake_done = 1;
            return ST_OK;
        }
        if (errno == EINTR && SSL_get_error(tc->ssl, r) == SSL_ERROR_SYSCALL)
            continue;
        int rc = tls_status(t, tc, r, "tls handshake");
        return rc == ST_DONE ? ST_DONE : rc;
    }
}

static int tls_read(struct net_transport *t, void *buf, size_t len, size_t *nread)
{
    struct tls_conn *tc = t->impl;
    *nread = 0;
    t->pending = 0;
    if (!tc->handshake_done) {
        int rc = tls_handshake(t, tc);
        if (rc != ST_OK)
            return rc;
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        size_t n = 0;
        int r = SSL_read_ex(tc->ssl, buf, len, &n);
        if (r == 1) {
            *nread = n;
            t->pending = SSL_pending(tc->ssl) > 0;
            return ST_OK;
        }
        if (errno == EINTR && SSL_get_error(tc->ssl, r) == SSL_ERROR_SYSCALL)
            continue;
        return tls_status(t, tc, r, "tls read");
    }
}

/* Push wbuf[woff..wlen). ST_OK when it is all out. */
static int tls_push(struct net_transport *t, struct tls_conn *tc)
{
    while (tc->woff < tc->wlen) {
        ERR_clear_error();
        errno = 0;
        size_t n = 0;
        /* A retry after WANT_* passes the same pointer and length, as
         * OpenSSL requires. */
        int r = SSL_write_ex(tc->ssl, tc->wbuf + tc->woff, tc->wlen - tc->woff, &n);
        if (r == 1) {
            tc->woff += n;
            continue;
        }
        if (errno == EINTR && SSL_get_error(tc->ssl, r) == SSL_ERROR_SYSCALL)
            continue;
        int rc = tls_status(t, tc, r, "tls write");
        t->unsent = tc->wlen - tc->woff;
        return rc == ST_DONE ? ST_ERROR : rc;
    }
    tc->woff = tc->wlen = 0;
    t->unsent = 0;
    return ST_OK;
}

static int tls_writev(struct net_transport *t, const struct iovec *iov, int iovcnt, size_t *nwritten)
{
    struct tls_conn *tc = t->impl;
    *nwritten = 0;
    if (!tc->handshake_done) {
        int rc = tls_handshake(t, tc);
        if (rc == ST_DONE) {
            t->err = EPIPE;
            return ST_ERROR;
        }
        if (rc != ST_OK)
            return rc;
    }
    size_t taken = 0;
    int i = 0;
    size_t off = 0; /* into iov[i] */
    for (;;) {
        int rc = tls_push(t, tc);
        if (rc != ST_OK) {
            *nwritten = taken;
            if (rc == ST_ERROR && !t->err)
                t->err = EPIPE;
            return rc;
        }
        /* Coalesce what is left of the iovecs into one record. */
        while (i < iovcnt && tc->wlen < sizeof(tc->wbuf)) {
            size_t room = sizeof(tc->wbuf) - tc->wlen, left = iov[i].iov_len - off;
            size_t n = left < room ? left : room;
            memcpy(tc->wbuf + tc->wlen, (const char *)iov[i].iov_base + off, n);
            tc->wlen += n;
            off += n;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
        if (tc->wlen == 0) {
            *nwritten = taken;
            return ST_OK;
        }
        /* Counted as written now: the record buffer owns these bytes. */
        taken += tc->wlen;
    }
}

static void tls_shutdown(struct net_transport *t)
{
    struct tls_conn *tc = t->impl;
    if (tc && tc->handshake_done && !tc->fatal) {
        ERR_clear_error();
        SSL_shutdown(tc->ssl); /* queues close_notify; no wait for the peer's */
        ERR_clear_error();
    }
    if (t->fd >= 0)
        shutdown(t->fd, SHUT_WR);
}

static void tls_close(struct net_transport *t)
{
    struct tls_conn *tc = t->impl;
    if (tc) {
        if (tc->handshake_done && !tc->fatal && !(SSL_get_shutdown(tc->ssl) & SSL_SENT_SHUTDOWN)) {
            ERR_clear_error();
            SSL_shutdown(tc->ssl);
        }
        ERR_clear_error();
        SSL_free(tc->ssl);
        free(tc);
        t->impl = NULL;
    }
    t->error = NULL;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static const struct net_transport_ops tls_ops = {
    .read = tls_read, .writev = tls_writev, .close = tls_close, .shutdown = tls_shutdown};

int net_tls_transport_init(struct net_transport *t, int fd, struct net_tls_context *ctx)
{
    struct tls_conn *tc = malloc(sizeof(*tc));
    if (!tc)
        return ST_ERROR;
    memset(tc, 0, offsetof(struct tls_conn, wbuf));
    ERR_clear_error();
    tc->ssl = SSL_new(ctx->ssl_ctx);
    if (!tc->ssl || SSL_set_fd(tc->ssl, fd) != 1) {
        SSL_free(tc->ssl);
        free(tc);
        ERR_clear_error();
        return ST_ERROR;
    }
    SSL_set_accept_state(tc->ssl);
    t->ops = &tls_ops;
    t->fd = fd;
    t->err = 0;
    t->impl = tc;
    t->want_write = 0;
    t->unsent = 0;
    t->pending = 0;
    t->error = NULL;
    return ST_OK;
}

/* --- client side ------------------------------------------------------------ */

int net_tls_client_context_new(struct net_tls_context **out, int verify, char *err, size_t errlen)
{
    *out = NULL;
    ERR_clear_error();
    errno = 0;
    struct net_tls_context *ctx = calloc(1, sizeof(*ctx));
    SSL_CTX *c = ctx ? SSL_CTX_new(TLS_client_method()) : NULL;
    if (!c) {
        format_error(err, errlen, "tls client: SSL_CTX_new");
        free(ctx);
        return ST_ERROR;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    if (verify) {
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
        if (SSL_CTX_set_default_verify_paths(c) != 1) {
            format_error(err, errlen, "tls client: system trust store");
            SSL_CTX_free(c);
            free(ctx);
            return ST_ERROR;
        }
    }
    ctx->ssl_ctx = c;
    ctx->generation = 1;
    *out = ctx;
    return ST_OK;
}

int net_tls_client_transport_init(struct net_transport *t, int fd, struct net_tls_context *ctx, const char *host)
{
    if (net_tls_transport_init(t, fd, ctx) != ST_OK)
        return ST_ERROR;
    struct tls_conn *tc = t->impl;
    SSL_set_connect_state(tc->ssl);
    unsigned char addr[16];
    int numeric = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    int ok = 1;
    ERR_clear_error();
    if (!numeric)
        ok = SSL_set_tlsext_host_name(tc->ssl, host) == 1;
    if (ok && SSL_get_verify_mode(tc->ssl) != SSL_VERIFY_NONE) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(tc->ssl);
        ok = numeric ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 : SSL_set1_host(tc->ssl, host) == 1;
    }
    if (!ok) {
        ERR_clear_error();
        SSL_free(tc->ssl);
        free(tc);
        t->impl = NULL;
        t->ops = NULL;
        return ST_ERROR;
    }
    return ST_OK;
}

int net_tls_handshake_done(const struct net_transport *t)
{
    const struct tls_conn *tc = t->ops == &tls_ops ? t->impl : NULL;
    return tc && tc->handshake_done;
}

const char *net_tls_version(const struct net_transport *t)
{
    const struct tls_conn *tc = t->ops == &tls_ops ? t->impl : NULL;
    return tc && tc->handshake_done ? SSL_get_version(tc->ssl) : "";
}
