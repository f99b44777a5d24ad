/*
 * live_auth: who may publish or play, as pure functions (no loop, no
 * sockets, no clock: the caller passes `now`). Three mechanisms:
 *
 * Signed keys. A publish or play name may carry `?exp=<unix>&sig=<hex>`.
 * The signature is
 *     sig = lowercase hex(HMAC-SHA256(secret, "<app>/<name>?exp=<exp>"))
 * where <app> is the RTMP application, <name> the stream name without its
 * query and <exp> the exp value exactly as sent (decimal digits). Other
 * query parameters are ignored and not signed. The key is valid while
 * now <= exp. Example (shell):
 *     printf '%s' 'live/cam1?exp=1767225600' | openssl dgst -sha256 -hmac "$SECRET"
 * A wrong or tampered signature is checked before expiry, so "expired"
 * always means a genuine key that ran out. Comparison is constant time.
 *
 * Static key lists. A spec "app=path, app2=path2" or a bare "path" (every
 * application without a file of its own) names files of allowed stream
 * keys, one per line ('#' comments and blank lines ignored). An application
 * with a list accepts a publish whose name is in it.
 *
 * IP lists. CIDR items ("10.0.0.0/8, ::1/128, 192.168.1.7") separated by
 * commas or spaces; an address without /len is a host. Host bits below the
 * prefix are ignored. IPv4-mapped IPv6 peers (::ffff:a.b.c.d, from a [::]
 * listener) match IPv4 items. Deny wins; an empty allow list allows all.
 *
 * Memory: parsed lists are boot-time/reload-time allocations owned by the
 * struct and released by the matching _free; a failed parse leaves the
 * output empty (and freeable). Thread-agnostic; nothing here blocks except
 * live_auth_keys_load, which reads files (boot and SIGHUP only).
 */
#ifndef SC_LIVE_AUTH_H
#define SC_LIVE_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LIVE_AUTH_SIG_HEX 64     /* hex digits of a signature */
#define LIVE_AUTH_MAX_ITEMS 4096 /* CIDR items per list */
#define LIVE_AUTH_MAX_KEYS 100000 /* keys per key file */
#define LIVE_AUTH_KEY_MAX 256    /* longest key, NUL included */

enum live_auth_action { LIVE_AUTH_PUBLISH = 0, LIVE_AUTH_PLAY = 1 };

enum live_auth_result {
    LIVE_AUTH_OK = 0,
    LIVE_AUTH_MISSING,        /* no exp or no sig where a signed key is required */
    LIVE_AUTH_MALFORMED,      /* exp not a number, sig not 64 hex digits, duplicates */
    LIVE_AUTH_BAD_SIGNATURE,  /* signature does not match app/name/exp */
    LIVE_AUTH_EXPIRED,        /* genuine signature, exp in the past */
    LIVE_AUTH_UNKNOWN_KEY,    /* not in the application's key list */
    LIVE_AUTH_IP_DENIED,      /* peer address refused by the allow/deny lists */
    LIVE_AUTH_WEBHOOK_DENIED, /* the webhook answered neither 2xx nor 3xx */
    LIVE_AUTH_WEBHOOK_FAILED  /* the webhook timed out or failed, fail-closed */
};

struct live_auth_cidr {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t addr[16];  /* network, host bits cleared (4 bytes used for IPv4) */
    unsigned prefix;   /* 0..32 or 0..128 */
};

struct live_auth_acl {
    struct live_auth_cidr *items;
    size_t n;
};

struct live_auth_keyset {
    char *app;   /* NULL: every application without a set of its own */
    char **keys; /* sorted */
    size_t n;
};

struct live_auth_keys {
    struct live_auth_keyset *sets;
    size_t n;
};

/* The refusal reason for logs and status descriptions (static, no secrets). */
const char *live_auth_reason(enum live_auth_result r);

/* Write the 64 hex digits and a NUL into out. ST_OK, or ST_ERROR (HMAC
 * failure or an input too long). */
int live_auth_sign(const char *secret, const char *app, const char *name, const char *exp,
                   char out[LIVE_AUTH_SIG_HEX + 1]);

/* Check exp/sig in query (the text after '?', may be NULL or empty). */
enum live_auth_result live_auth_check_signature(const char *secret, const char *app, const char *name,
                                                const char *query, int64_t now);

/* Copy query into out with every sig value replaced by "<redacted>", for
 * logs. Truncates to cap (always NUL-terminated when cap > 0). */
void live_auth_redact_query(const char *query, char *out, size_t cap);

/* Parse a CIDR list (NULL or "" = empty list). ST_OK, or ST_ERROR with a
 * reason naming the bad item in err. On error acl is left empty. */
int live_auth_acl_parse(struct live_auth_acl *acl, const char *text, char *err, size_t errlen);
void live_auth_acl_free(struct live_auth_acl *acl);
/* 1 when sa (AF_INET or AF_INET6) is inside an item of acl. */
int live_auth_acl_match(const struct live_auth_acl *acl, const struct sockaddr *sa);
/* Deny wins; an empty allow list allows every address not denied. 1 = allowed. */
int live_auth_ip_allowed(const struct live_auth_acl *allow, const struct live_auth_acl *deny,
                         const struct sockaddr *sa);

/* Load key files from spec (see above; NULL or "" = no lists). ST_OK, or
 * ST_ERROR with "path:line: reason" in err and keys left empty. */
int live_auth_keys_load(struct live_auth_keys *keys, const char *spec, char *err, size_t errlen);
void live_auth_keys_free(struct live_auth_keys *keys);
/* The key list that governs app, or NULL when app has none. */
const struct live_auth_keyset *live_auth_keys_for(const struct live_auth_keys *keys, const char *app);
/* 1 when name is in set. */
int live_auth_keyset_contains(const struct live_auth_keyset *set, const char *name);

/* Everything that decides without a round trip, for one action. */
struct live_auth_rules {
    struct live_auth_acl allow[2]; /* by enum live_auth_action */
    struct live_auth_acl deny[2];
    struct live_auth_keys keys; /* publish only */
};

struct live_auth_spec {
    const char *publish_allow, *publish_deny, *play_allow, *play_deny;
    const char *publish_keys_file;
};

/* Parse every list of spec. ST_OK, or ST_ERROR with "directive: reason" in
 * err and rules left empty. */
int live_auth_rules_load(struct live_auth_rules *rules, const struct live_auth_spec *spec, char *err,
                         size_t errlen);
void live_auth_rules_free(struct live_auth_rules *rules);

/* The local decision: IP lists first, then keys. With neither a secret nor
 * a key list for the application the key is not checked. With both, either
 * a listed key or a valid signature passes. secret may be NULL or "". */
enum live_auth_result live_auth_check(const struct live_auth_rules *rules, enum live_auth_action act,
                                      const char *secret, const char *app, const char *name, const char *query,
                                      const struct sockaddr *peer, int64_t now);

#endif
