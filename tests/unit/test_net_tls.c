/*
 * net_tls: a real OpenSSL client in the test talks to the server transport
 * over a non-blocking socketpair; both ends are driven in bounded loops.
 * Certificates are generated here (EC P-256, self-signed) into a temp dir.
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "net/net_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static char tmpdir[256];

static void rm_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (tmpdir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_net_tls.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

TestSuite(net_tls, .init = setup, .fini = rm_tmpdir, .timeout = 20);

static void path_of(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", tmpdir, name); }

/* Self-signed certificate for cn into <name>.crt / <name>.key. */
static void make_cert(const char *name, const char *cn)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    cr_assert_not_null(pk);
    X509 *x = X509_new();
    cr_assert_not_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, nm);
    cr_assert(X509_sign(x, pk, EVP_sha256()) > 0);
    char p[300];
    snprintf(p, sizeof(p), "%s/%s.crt", tmpdir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    cr_assert(PEM_write_X509(f, x));
    fclose(f);
    snprintf(p, sizeof(p), "%s/%s.key", tmpdir, name);
    f = fopen(p, "w");
    cr_assert_not_null(f);
    cr_assert(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL));
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static struct net_tls_context *load(const char *name)
{
    char c[300], k[300], err[512] = "";
    snprintf(c, sizeof(c), "%s/%s.crt", tmpdir, name);
    snprintf(k, sizeof(k), "%s/%s.key", tmpdir, name);
    struct net_tls_context *ctx = NULL;
    cr_assert_eq(net_tls_context_new(&ctx, c, k, err, sizeof(err)), ST_OK, "%s", err);
    return ctx;
}

/* The CN of a certificate, for comparisons. */
static void cn_of(X509 *x, char *out, size_t len)
{
    out[0] = '\0';
    if (x)
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)len);
}

struct pair {
    struct net_transport srv;
    SSL_CTX *cctx;
    SSL *cli;
    int cfd;
};

static void nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* max_version 0: client default (TLS 1.3). */
static void pair_open(struct pair *p, struct net_tls_context *ctx, int max_version)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    nonblock(sv[1]);
    cr_assert_eq(net_tls_transport_init(&p->srv, sv[0], ctx), ST_OK);
    p->cctx = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(p->cctx);
    SSL_CTX_set_verify(p->cctx, SSL_VERIFY_NONE, NULL);
    if (max_version) {
        /* OpenSSL 3 refuses TLS < 1.2 unless the security level is 0. */
        SSL_CTX_set_security_level(p->cctx, 0);
        SSL_CTX_set_cipher_list(p->cctx, "DEFAULT:@SECLEVEL=0");
        SSL_CTX_set_min_proto_version(p->cctx, 0);
        SSL_CTX_set_max_proto_version(p->cctx, max_version);
    }
    p->cli = SSL_new(p->cctx);
    SSL_set_fd(p->cli, sv[1]);
    SSL_set_connect_state(p->cli);
    p->cfd = sv[1];
}

static void pair_close(struct pair *p)
{
    net_transport_close(&p->srv);
    SSL_free(p->cli);
    SSL_CTX_free(p->cctx);
    close(p->cfd);
}

/* Drive both handshakes. Returns the server's last status (ST_AGAIN when
 * it finished fine and waits for data). */
static int handshake(struct pair *p)
{
    int rc = ST_AGAIN;
    for (int i = 0; i < 200; i++) {
        int cr = SSL_do_handshake(p->cli);
        char b[16];
        size_t n = 0;
        rc = net_transport_read(&p->srv, b, sizeof(b), &n);
        cr_assert_eq(n, 0);
        if (rc == ST_ERROR || rc == ST_DONE)
            return rc;
        if (cr == 1 && net_tls_handshake_done(&p->srv))
            return rc;
        if (cr <= 0) {
            int e = SSL_get_error(p->cli, cr);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                ERR_clear_error();
                /* the client gave up: let the server see why */
                continue;
            }
        }
    }
    return rc;
}

/* Read up to len bytes at the server, driving the client's writes. */
static size_t srv_read_all(struct pair *p, char *buf, size_t len)
{
    size_t got = 0;
    for (int i = 0; i < 1000 && got < len; i++) {
        size_t n = 0;
        int rc = net_transport_read(&p->srv, buf + got, len - got, &n);
        cr_assert(rc == ST_OK || rc == ST_AGAIN, "rc=%d", rc);
        got += n;
    }
    return got;
}

static size_t cli_read_all(struct pair *p, char *buf, size_t len)
{
    size_t got = 0;
    for (int i = 0; i < 1000 && got < len; i++) {
        size_t n = 0;
        if (SSL_read_ex(p->cli, buf + got, len - got, &n) == 1)
            got += n;
        else
            cr_assert_eq(SSL_get_error(p->cli, 0), SSL_ERROR_WANT_READ);
    }
    return got;
}

static void exchange(struct pair *p, const char *tag)
{
    char msg[64], buf[64];
    int len = snprintf(msg, sizeof(msg), "client says %s", tag);
    size_t w = 0;
    cr_assert_eq(SSL_write_ex(p->cli, msg, (size_t)len, &w), 1);
    cr_assert_eq(srv_read_all(p, buf, (size_t)len), (size_t)len);
    cr_assert_eq(memcmp(buf, msg, (size_t)len), 0);
    struct iovec iov[3] = {{"server ", 7}, {"says ", 5}, {(void *)tag, strlen(tag)}};
    size_t total = 12 + strlen(tag), n = 0;
    cr_assert_eq(net_transport_writev(&p->srv, iov, 3, &n), ST_OK);
    cr_assert_eq(n, total);
    cr_assert_eq(p->srv.unsent, 0);
    cr_assert_eq(cli_read_all(p, buf, total), total);
    cr_assert_eq(memcmp(buf, "server says ", 12), 0);
    cr_assert_eq(memcmp(buf + 12, tag, strlen(tag)), 0);
}

Test(net_tls, handshake_and_data_both_ways)
{
    make_cert("a", "cert-a");
    struct net_tls_context *ctx = load("a");
    struct pair p;
    pair_open(&p, ctx, 0);
    cr_assert_eq(net_tls_handshake_done(&p.srv), 0);
    cr_assert_str_eq(net_tls_version(&p.srv), "");
    cr_assert_eq(handshake(&p), ST_AGAIN);
    cr_assert(net_tls_handshake_done(&p.srv));
    cr_assert_str_eq(net_tls_version(&p.srv), "TLSv1.3");
    cr_assert_eq(p.srv.want_write, 0, "idle server waits for input");
    exchange(&p, "one");
    exchange(&p, "two");
    /* A clean close_notify from the client is the end of the stream. */
    SSL_shutdown(p.cli);
    char b[8];
    size_t n = 1;
    int rc = ST_AGAIN;
    for (int i = 0; i < 50 && rc == ST_AGAIN; i++)
        rc = net_transport_read(&p.srv, b, sizeof(b), &n);
    cr_assert_eq(rc, ST_DONE);
    cr_assert_eq(n, 0);
    pair_close(&p);
    net_tls_context_free(ctx);
}

Test(net_tls, tls12_client_accepted)
{
    make_cert("a", "cert-a");
    struct net_tls_context *ctx = load("a");
    struct pair p;
    pair_open(&p, ctx, TLS1_2_VERSION);
    cr_assert_eq(handshake(&p), ST_AGAIN);
    cr_assert_str_eq(net_tls_version(&p.srv), "TLSv1.2");
    exchange(&p, "tls12");
    pair_close(&p);
    net_tls_context_free(ctx);
}

Test(net_tls, eof_without_close_notify_is_done)
{
    make_cert("a", "cert-a");
    struct net_tls_context *ctx = load("a");
    struct pair p;
    pair_open(&p, ctx, 0);
    cr_assert_eq(handshake(&p), ST_AGAIN);
    shutdown(p.cfd, SHUT_WR);
    char b[8];
    size_t n = 0;
    cr_assert_eq(net_transport_read(&p.srv, b, sizeof(b), &n), ST_DONE);
    pair_close(&p);
    net_tls_context_free(ctx);
}

/* Fill the socket until the transport holds a part record, then drain it
 * through the client: every byte arrives once and in order. */
Test(net_tls, partial_writes)
{
    make_cert("a", "cert-a");
    struct net_tls_context *ctx = load("a");
    struct pair p;
    pair_open(&p, ctx, 0);
    int small = 4096;
    setsockopt(p.srv.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(p.cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    cr_assert_eq(handshake(&p), ST_AGAIN);

    size_t total = 1u << 20;
    unsigned char *src = malloc(total), *dst = malloc(total);
    cr_assert(src && dst);
    for (size_t i = 0; i < total; i++)
        src[i] = (unsigned char)(i * 7 + i / 251);
    size_t sent = 0, got = 0;
    int again_with_bytes = 0, again = 0, flushes = 0;
    for (int round = 0; round < 100000 && got < total; round++) {
        if (sent < total || p.srv.unsent) {
            /* Odd iovec sizes so records straddle them. */
            struct iovec iov[4];
            int cnt = 0;
            size_t at = sent;
            size_t sizes[4] = {1, 777, 5000, 40000};
            for (int k = 0; k < 4 && at < total; k++) {
                size_t l = sizes[k] < total - at ? sizes[k] : total - at;
                iov[cnt].iov_base = src + at;
                iov[cnt].iov_len = l;
                at += l;
                cnt++;
            }
            if (cnt == 0)
                flushes++;
            size_t n = 0;
            int rc = net_transport_writev(&p.srv, iov, cnt, &n);
            cr_assert(rc == ST_OK || rc == ST_AGAIN, "rc=%d", rc);
            if (rc == ST_AGAIN) {
                again++;
                cr_assert_eq(p.srv.want_write, 1);
                cr_assert_gt(p.srv.unsent, 0);
                if (n > 0)
                    again_with_bytes++;
            } else {
                cr_assert_eq(p.srv.unsent, 0);
            }
            sent += n;
            cr_assert_leq(sent, total);
        }
        /* The client reads a little at a time. */
        size_t n = 0;
        if (SSL_read_ex(p.cli, dst + got, total - got < 3000 ? total - got : 3000, &n) == 1)
            got += n;
    }
    cr_assert_eq(got, total);
    cr_assert_eq(sent, total);
    cr_assert_eq(memcmp(src, dst, total), 0);
    cr_assert_gt(again, 0, "the socket never filled up");
    cr_assert_gt(again_with_bytes, 0, "no write was taken into a record that then blocked");
    cr_assert_gt(flushes, 0, "the held record was never pushed by an empty writev");
    free(src);
    free(dst);
    pair_close(&p);
    net_tls_context_free(ctx);
}

static void peer_cn(struct pair *p, char *out, size_t len)
{
    X509 *x = SSL_get1_peer_certificate(p->cli);
    cr_assert_not_null(x);
    cn_of(x, out, len);
    X509_free(x);
}

Test(net_tls, reload_new_connections_get_new_cert)
{
    make_cert("a", "cert-a");
    make_cert("b", "cert-b");
    struct net_tls_context *ctx = load("a");
    cr_assert_eq(net_tls_context_generation(ctx), 1);
    struct pair old;
    pair_open(&old, ctx, 0);
    cr_assert_eq(handshake(&old), ST_AGAIN);
    char cn[64];
    peer_cn(&old, cn, sizeof(cn));
    cr_assert_str_eq(cn, "cert-a");

    char c[300], k[300], err[512] = "";
    path_of(c, sizeof(c), "b.crt");
    path_of(k, sizeof(k), "b.key");
    cr_assert_eq(net_tls_context_changed(ctx, c, k), 1);
    cr_assert_eq(net_tls_context_reload(ctx, c, k, err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(net_tls_context_generation(ctx), 2);
    cr_assert_eq(net_tls_context_changed(ctx, c, k), 0);

    struct pair fresh;
    pair_open(&fresh, ctx, 0);
    cr_assert_eq(handshake(&fresh), ST_AGAIN);
    peer_cn(&fresh, cn, sizeof(cn));
    cr_assert_str_eq(cn, "cert-b");
    /* The old session keeps working on the old SSL_CTX. */
    exchange(&old, "still here");
    exchange(&fresh, "new one");
    pair_close(&old);
    pair_close(&fresh);
    net_tls_context_free(ctx);
}

Test(net_tls, changed_detects_same_path_new_contents)
{
    make_cert("a", "cert-a");
    struct net_tls_context *ctx = load("a");
    char c[300], k[300], k2[300];
    path_of(c, sizeof(c), "a.crt");
    path_of(k, sizeof(k), "a.key");
    path_of(k2, sizeof(k2), "other.key");
    cr_assert_eq(net_tls_context_changed(ctx, c, k), 0);
    cr_assert_eq(net_tls_context_changed(ctx, c, k2), 1, "another path");
    cr_assert_eq(net_tls_context_changed(ctx, c, NULL), 1);
    make_cert("a", "cert-a2"); /* rewritten in place, as certbot does */
    cr_assert_eq(net_tls_context_changed(ctx, c, k), 1);
    unlink(c);
    cr_assert_eq(net_tls_context_changed(ctx, c, k), 1, "unreadable counts as changed");
    net_tls_context_free(ctx);
}

Test(net_tls, bad_paths_and_mismatched_key)
{
    make_cert("a", "cert-a");
    make_cert("b", "cert-b");
    char ca[300], ka[300], kb[300], missing[300], err[512];
    path_of(ca, sizeof(ca), "a.crt");
    path_of(ka, sizeof(ka), "a.key");
    path_of(kb, sizeof(kb), "b.key");
    path_of(missing, sizeof(missing), "nope.pem");
    struct net_tls_context *ctx = (void *)1;

    err[0] = '\0';
    cr_assert_eq(net_tls_context_new(&ctx, missing, ka, err, sizeof(err)), ST_ERROR);
    cr_assert_null(ctx);
    cr_assert(strstr(err, "tls_cert") && strstr(err, "nope.pem"), "%s", err);
    cr_assert(strstr(err, "No such file") || strstr(err, "no such file") || strstr(err, "system lib"), "%s", err);

    err[0] = '\0';
    cr_assert_eq(net_tls_context_new(&ctx, ca, missing, err, sizeof(err)), ST_ERROR);
    cr_assert(strstr(err, "tls_key") && strstr(err, "nope.pem"), "%s", err);

    err[0] = '\0';
    cr_assert_eq(net_tls_context_new(&ctx, ca, kb, err, sizeof(err)), ST_ERROR);
    cr_assert(strstr(err, "does not match") || strstr(err, "mismatch"), "%s", err);

    err[0] = '\0';
    cr_assert_eq(net_tls_context_new(&ctx, ka, ka, err, sizeof(err)), ST_ERROR, "a key is not a certificate");
    cr_assert(strstr(err, "tls_cert"), "%s", err);

    err[0] = '\0';
    cr_assert_eq(net_tls_context_new(&ctx, "", ka, err, sizeof(err)), ST_ERROR);
    cr_assert(strstr(err, "tls_cert and tls_key"), "%s", err);

    /* A failed reload keeps serving the previous certificate. */
    ctx = load("a");
    err[0] = '\0';
    cr_assert_eq(net_tls_context_reload(ctx, missing, ka, err, sizeof(err)), ST_ERROR);
    cr_assert_neq(err[0], '\0');
    cr_assert_eq(net_tls_context_generation(ctx), 1);
    struct pair p;
    pair_open(&p, ctx, 0);
    cr_assert_eq(handshake(&p), ST_AGAIN);
    char cn[64];
    peer_cn(&p, cn, sizeof(cn));
    cr_assert_str_eq(cn, "cert-a");
    pair_close(&p);
    net_tls_context_free(ctx);
    cr_assert_eq(ERR_peek_error(), 0, "error queue left dirty");
}

Test(net_tls, tls11_client_refused)
{
    make_cert("a", "cert-a");
    struct net_tls_context *ctx = load("a");
    struct pair p;
    pair_open(&p, ctx, TLS1_1_VERSION);
    cr_assert_eq(handshake(&p), ST_ERROR);
    cr_assert_eq(net_tls_handshake_done(&p.srv), 0);
    cr_assert_eq(p.srv.err, EPROTO);
    cr_assert_not_null(p.srv.error);
    cr_assert(strstr(p.srv.error, "unsupported protocol") || strstr(p.srv.error, "version"), "%s", p.srv.error);
    pair_close(&p);
    net_tls_context_free(ctx);
}

/* A plain RTMP client on the TLS port: C0 (0x03) + C1. */
Test(net_tls, plain_rtmp_client_refused)
{
    make_cert("a", "cert-a");
    struct net_tls_context *ctx = load("a");
    struct pair p;
    pair_open(&p, ctx, 0);
    unsigned char c0c1[1537];
    memset(c0c1, 0, sizeof(c0c1));
    c0c1[0] = 3;
    cr_assert_eq(write(p.cfd, c0c1, sizeof(c0c1)), (ssize_t)sizeof(c0c1));
    char b[64];
    size_t n = 0;
    cr_assert_eq(net_transport_read(&p.srv, b, sizeof(b), &n), ST_ERROR);
    cr_assert_not_null(p.srv.error);
    cr_assert(strstr(p.srv.error, "tls handshake"), "%s", p.srv.error);
    /* writev after the failure reports an error too, never a crash. */
    struct iovec iov = {"x", 1};
    cr_assert_eq(net_transport_writev(&p.srv, &iov, 1, &n), ST_ERROR);
    pair_close(&p);
    net_tls_context_free(ctx);
}

/* Byte-by-byte arrival of the client's handshake: ST_AGAIN each time, no
 * bytes lost, and the handshake completes. */
Test(net_tls, slow_drip_handshake)
{
    make_cert("a", "cert-a");
    struct net_tls_context *ctx = load("a");
    int sv[2], mid[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, mid), 0);
    nonblock(sv[0]);
    nonblock(sv[1]);
    nonblock(mid[0]);
    nonblock(mid[1]);
    struct net_transport t;
    cr_assert_eq(net_tls_transport_init(&t, sv[0], ctx), ST_OK);
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    SSL *cli = SSL_new(cc);
    SSL_set_fd(cli, mid[1]);
    SSL_set_connect_state(cli);
    /* relay: client <-> mid[0] ... sv[1] <-> server, client->server one byte at a time */
    int done = 0, again = 0;
    for (int i = 0; i < 20000 && !done; i++) {
        int cr = SSL_do_handshake(cli);
        unsigned char byte;
        if (read(mid[0], &byte, 1) == 1)
            cr_assert_eq(write(sv[1], &byte, 1), 1);
        unsigned char big[4096];
        ssize_t r = read(sv[1], big, sizeof(big));
        if (r > 0)
            cr_assert_eq(write(mid[0], big, (size_t)r), r);
        char b[8];
        size_t n = 0;
        int rc = net_transport_read(&t, b, sizeof(b), &n);
        cr_assert(rc == ST_AGAIN, "rc=%d", rc);
        again++;
        done = cr == 1 && net_tls_handshake_done(&t);
    }
    cr_assert(done);
    cr_assert_gt(again, 100);
    net_transport_close(&t);
    SSL_free(cli);
    SSL_CTX_free(cc);
    close(sv[1]);
    close(mid[0]);
    close(mid[1]);
    net_tls_context_free(ctx);
}
