#include "core/config.h"
#include "core/status.h"
#include "live/live_auth.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET "s3cret"
#define EXP 1767225600LL
/* printf '%s' 'live/cam1?exp=1767225600' | openssl dgst -sha256 -hmac s3cret */
#define SIG "e68882a68e1f43ea6e815ce0669fe83d9399cc37c16d935f6b93a06bb099c9d0"

static enum live_auth_result check(const char *app, const char *name, const char *query, long long now)
{
    return live_auth_check_signature(SECRET, app, name, query, now);
}

/* --- signed keys -------------------------------------------------------- */

Test(live_auth, sign_matches_openssl_cli)
{
    char sig[LIVE_AUTH_SIG_HEX + 1];
    cr_assert_eq(live_auth_sign(SECRET, "live", "cam1", "1767225600", sig), ST_OK);
    cr_assert_str_eq(sig, SIG);
}

Test(live_auth, valid_key)
{
    cr_assert_eq(check("live", "cam1", "exp=1767225600&sig=" SIG, EXP - 100), LIVE_AUTH_OK);
    /* Valid through the exp second itself. */
    cr_assert_eq(check("live", "cam1", "exp=1767225600&sig=" SIG, EXP), LIVE_AUTH_OK);
    /* Order and extra parameters do not matter; upper-case hex is fine. */
    char upper[LIVE_AUTH_SIG_HEX + 1];
    for (int i = 0; i <= LIVE_AUTH_SIG_HEX; i++)
        upper[i] = (char)((SIG[i] >= 'a' && SIG[i] <= 'f') ? SIG[i] - 32 : SIG[i]);
    char q[256];
    snprintf(q, sizeof(q), "foo=1&sig=%s&exp=1767225600&x=", upper);
    cr_assert_eq(check("live", "cam1", q, EXP - 1), LIVE_AUTH_OK);
}

Test(live_auth, expired_key)
{
    cr_assert_eq(check("live", "cam1", "exp=1767225600&sig=" SIG, EXP + 1), LIVE_AUTH_EXPIRED);
}

Test(live_auth, wrong_signature)
{
    char q[256];
    snprintf(q, sizeof(q), "exp=1767225600&sig=%s", SIG);
    q[strlen(q) - 1] = q[strlen(q) - 1] == '0' ? '1' : '0';
    cr_assert_eq(check("live", "cam1", q, EXP - 1), LIVE_AUTH_BAD_SIGNATURE);
    /* Another secret. */
    cr_assert_eq(live_auth_check_signature("other", "live", "cam1", "exp=1767225600&sig=" SIG, EXP - 1),
                 LIVE_AUTH_BAD_SIGNATURE);
    /* A wrong signature on an expired key reads as wrong, not expired. */
    cr_assert_eq(check("live", "cam1", q, EXP + 100), LIVE_AUTH_BAD_SIGNATURE);
}

Test(live_auth, tampered_name_app_or_exp)
{
    cr_assert_eq(check("live", "cam2", "exp=1767225600&sig=" SIG, EXP - 1), LIVE_AUTH_BAD_SIGNATURE);
    cr_assert_eq(check("live", "cam", "exp=1767225600&sig=" SIG, EXP - 1), LIVE_AUTH_BAD_SIGNATURE);
    cr_assert_eq(check("other", "cam1", "exp=1767225600&sig=" SIG, EXP - 1), LIVE_AUTH_BAD_SIGNATURE);
    cr_assert_eq(check("live", "cam1", "exp=1767225601&sig=" SIG, EXP - 1), LIVE_AUTH_BAD_SIGNATURE);
    /* Leading zero: same number, different signed text. */
    cr_assert_eq(check("live", "cam1", "exp=01767225600&sig=" SIG, EXP - 1), LIVE_AUTH_BAD_SIGNATURE);
}

Test(live_auth, missing_parts)
{
    cr_assert_eq(check("live", "cam1", NULL, 0), LIVE_AUTH_MISSING);
    cr_assert_eq(check("live", "cam1", "", 0), LIVE_AUTH_MISSING);
    cr_assert_eq(check("live", "cam1", "exp=1767225600", 0), LIVE_AUTH_MISSING);
    cr_assert_eq(check("live", "cam1", "sig=" SIG, 0), LIVE_AUTH_MISSING);
    cr_assert_eq(check("live", "cam1", "expx=1&sigy=2", 0), LIVE_AUTH_MISSING);
}

Test(live_auth, malformed_parts)
{
    cr_assert_eq(check("live", "cam1", "exp=12a&sig=" SIG, 0), LIVE_AUTH_MALFORMED);
    cr_assert_eq(check("live", "cam1", "exp=&sig=" SIG, 0), LIVE_AUTH_MALFORMED);
    cr_assert_eq(check("live", "cam1", "exp=-5&sig=" SIG, 0), LIVE_AUTH_MALFORMED);
    cr_assert_eq(check("live", "cam1", "exp=12345678901234567890&sig=" SIG, 0), LIVE_AUTH_MALFORMED);
    cr_assert_eq(check("live", "cam1", "exp=1&sig=abc", 0), LIVE_AUTH_MALFORMED);
    char q[256];
    snprintf(q, sizeof(q), "exp=1767225600&sig=%.63sg", SIG);
    cr_assert_eq(check("live", "cam1", q, 0), LIVE_AUTH_MALFORMED);
    snprintf(q, sizeof(q), "exp=1767225600&sig=%s0", SIG);
    cr_assert_eq(check("live", "cam1", q, 0), LIVE_AUTH_MALFORMED);
    /* Two exp: which one was signed? Refuse. */
    cr_assert_eq(check("live", "cam1", "exp=1767225600&exp=9999999999&sig=" SIG, 0), LIVE_AUTH_MALFORMED);
    cr_assert_eq(check("live", "cam1", "exp=1767225600&sig=" SIG "&sig=" SIG, 0), LIVE_AUTH_MALFORMED);
}

Test(live_auth, every_truncation_of_a_valid_query_is_refused)
{
    const char *full = "exp=1767225600&sig=" SIG;
    char q[256];
    for (size_t n = 0; n < strlen(full); n++) {
        memcpy(q, full, n);
        q[n] = '\0';
        cr_assert_neq(check("live", "cam1", q, 0), LIVE_AUTH_OK, "prefix %zu accepted", n);
    }
    cr_assert_eq(check("live", "cam1", full, 0), LIVE_AUTH_OK);
}

Test(live_auth, reasons_are_distinct)
{
    const char *seen[LIVE_AUTH_WEBHOOK_FAILED + 1];
    for (int r = 0; r <= LIVE_AUTH_WEBHOOK_FAILED; r++) {
        seen[r] = live_auth_reason((enum live_auth_result)r);
        for (int k = 0; k < r; k++)
            cr_assert_str_neq(seen[k], seen[r]);
    }
}

Test(live_auth, redact_hides_the_signature)
{
    char out[256];
    live_auth_redact_query("exp=1767225600&sig=" SIG "&x=1", out, sizeof(out));
    cr_assert_str_eq(out, "exp=1767225600&sig=<redacted>&x=1");
    live_auth_redact_query("sig=" SIG, out, sizeof(out));
    cr_assert_str_eq(out, "sig=<redacted>");
    live_auth_redact_query("signal=1&sig=", out, sizeof(out));
    cr_assert_str_eq(out, "signal=1&sig=<redacted>");
    live_auth_redact_query(NULL, out, sizeof(out));
    cr_assert_str_eq(out, "");
    /* Truncation never leaks more than the prefix of the key names. */
    for (size_t cap = 1; cap < 40; cap++) {
        live_auth_redact_query("sig=" SIG, out, cap);
        cr_assert_lt(strlen(out), cap);
        cr_assert_null(strstr(out, "e688"));
    }
}

/* --- CIDR --------------------------------------------------------------- */

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    cr_assert_eq(inet_pton(AF_INET, ip, &in->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;
    in->sin6_family = AF_INET6;
    cr_assert_eq(inet_pton(AF_INET6, ip, &in->sin6_addr), 1);
    return ss;
}

static int match(const char *list, struct sockaddr_storage ss)
{
    struct live_auth_acl acl;
    char err[256];
    cr_assert_eq(live_auth_acl_parse(&acl, list, err, sizeof(err)), ST_OK, "%s: %s", list, err);
    int m = live_auth_acl_match(&acl, (struct sockaddr *)&ss);
    live_auth_acl_free(&acl);
    return m;
}

Test(live_auth, cidr_v4)
{
    cr_assert(match("10.0.0.0/8", v4("10.255.1.2")));
    cr_assert(!match("10.0.0.0/8", v4("11.0.0.0")));
    cr_assert(match("192.168.1.7", v4("192.168.1.7")));
    cr_assert(!match("192.168.1.7", v4("192.168.1.8")));
    cr_assert(match("0.0.0.0/0", v4("1.2.3.4")));
    /* Non-byte-aligned prefixes at both edges. */
    cr_assert(match("172.16.0.0/12", v4("172.31.255.255")));
    cr_assert(!match("172.16.0.0/12", v4("172.32.0.0")));
    cr_assert(!match("172.16.0.0/12", v4("172.15.255.255")));
    cr_assert(match("127.0.0.1/31", v4("127.0.0.0")));
    cr_assert(!match("127.0.0.1/31", v4("127.0.0.2")));
    /* Host bits are ignored. */
    cr_assert(match("10.1.2.3/8", v4("10.9.9.9")));
    /* Lists: commas and/or spaces. */
    cr_assert(match(" 1.1.1.1 ,, 2.2.2.0/24  3.3.3.3", v4("2.2.2.200")));
    cr_assert(!match("", v4("1.1.1.1")));
    cr_assert(!match(NULL, v4("1.1.1.1")));
}

Test(live_auth, cidr_v6)
{
    cr_assert(match("::1/128", v6("::1")));
    cr_assert(!match("::1/128", v6("::2")));
    cr_assert(match("::1", v6("::1")));
    cr_assert(match("2001:db8::/32", v6("2001:db8:ffff::1")));
    cr_assert(!match("2001:db8::/32", v6("2001:db9::1")));
    cr_assert(match("fe80::/10", v6("febf::1")));
    cr_assert(!match("fe80::/10", v6("fec0::1")));
    cr_assert(match("::/0", v6("1234::5")));
    cr_assert(match("2001:db8::/127", v6("2001:db8::1")));
    cr_assert(!match("2001:db8::/127", v6("2001:db8::2")));
}

Test(live_auth, cidr_families_do_not_cross_except_mapped)
{
    cr_assert(!match("::/0", v4("1.2.3.4")));
    cr_assert(!match("0.0.0.0/0", v6("2001:db8::1")));
    /* A [::] listener sees IPv4 peers as ::ffff:a.b.c.d. */
    cr_assert(match("127.0.0.0/8", v6("::ffff:127.0.0.2")));
    cr_assert(!match("10.0.0.0/8", v6("::ffff:127.0.0.2")));
}

Test(live_auth, cidr_malformed_rejected_with_reason)
{
    const char *bad[] = {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0/8", "abc", "10.0.0.0/8x", "10.0.0.0/-1",
                         "1.2.3.4/ 8", "/8", "1.2.3.4/99999", "1.2.3.4.5", "::1/12a", "10.0.0.0/8/8",
                         "1.1.1.1, 300.0.0.1", "1.2.3.4/0008"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct live_auth_acl acl;
        char err[256] = "";
        cr_assert_eq(live_auth_acl_parse(&acl, bad[i], err, sizeof(err)), ST_ERROR, "accepted '%s'", bad[i]);
        cr_assert_gt(strlen(err), 0);
        cr_assert_eq(acl.n, 0);
        cr_assert_null(acl.items);
    }
    struct live_auth_acl acl;
    char err[256];
    live_auth_acl_parse(&acl, "10.0.0.0/33", err, sizeof(err));
    cr_assert_str_eq(err, "'10.0.0.0/33': prefix length must be 0-32");
}

Test(live_auth, deny_wins_and_empty_allow_allows_all)
{
    struct live_auth_acl allow, deny, none;
    char err[128];
    cr_assert_eq(live_auth_acl_parse(&allow, "127.0.0.0/8", err, sizeof(err)), ST_OK);
    cr_assert_eq(live_auth_acl_parse(&deny, "127.0.0.2", err, sizeof(err)), ST_OK);
    cr_assert_eq(live_auth_acl_parse(&none, "", err, sizeof(err)), ST_OK);
    struct sockaddr_storage a = v4("127.0.0.1"), b = v4("127.0.0.2"), c = v4("10.0.0.1");
    cr_assert(live_auth_ip_allowed(&allow, &deny, (struct sockaddr *)&a));
    cr_assert(!live_auth_ip_allowed(&allow, &deny, (struct sockaddr *)&b));
    cr_assert(!live_auth_ip_allowed(&allow, &deny, (struct sockaddr *)&c));
    cr_assert(live_auth_ip_allowed(&none, &deny, (struct sockaddr *)&c));
    cr_assert(!live_auth_ip_allowed(&none, &deny, (struct sockaddr *)&b));
    cr_assert(live_auth_ip_allowed(&none, &none, (struct sockaddr *)&b));
    live_auth_acl_free(&allow);
    live_auth_acl_free(&deny);
    live_auth_acl_free(&none);
}

/* --- key lists and rules ------------------------------------------------- */

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/test_live_auth_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(live_auth, key_files_per_app_and_default)
{
    char *live = write_tmp("# encoders\n\n  key-one  \nkey-two\r\n# key-three\n");
    char *all = write_tmp("shared\n");
    char spec[512], err[256];
    snprintf(spec, sizeof(spec), "live=%s, %s", live, all);
    struct live_auth_keys keys;
    cr_assert_eq(live_auth_keys_load(&keys, spec, err, sizeof(err)), ST_OK, "%s", err);
    const struct live_auth_keyset *s = live_auth_keys_for(&keys, "live");
    cr_assert_not_null(s);
    cr_assert_eq(s->n, 2);
    cr_assert(live_auth_keyset_contains(s, "key-one"));
    cr_assert(live_auth_keyset_contains(s, "key-two"));
    cr_assert(!live_auth_keyset_contains(s, "key-three"));
    cr_assert(!live_auth_keyset_contains(s, "shared"));
    cr_assert(!live_auth_keyset_contains(s, "key"));
    const struct live_auth_keyset *o = live_auth_keys_for(&keys, "other");
    cr_assert_not_null(o);
    cr_assert(live_auth_keyset_contains(o, "shared"));
    live_auth_keys_free(&keys);

    /* Only an app list: other apps have none. */
    snprintf(spec, sizeof(spec), "live=%s", live);
    cr_assert_eq(live_auth_keys_load(&keys, spec, err, sizeof(err)), ST_OK);
    cr_assert_null(live_auth_keys_for(&keys, "other"));
    live_auth_keys_free(&keys);
    unlink(live);
    unlink(all);
    free(live);
    free(all);
}

Test(live_auth, key_file_errors)
{
    struct live_auth_keys keys;
    char err[256];
    cr_assert_eq(live_auth_keys_load(&keys, "/nonexistent/keys", err, sizeof(err)), ST_ERROR);
    cr_assert_not_null(strstr(err, "/nonexistent/keys"));
    char *bad = write_tmp("good\nbad key\n");
    cr_assert_eq(live_auth_keys_load(&keys, bad, err, sizeof(err)), ST_ERROR);
    cr_assert_not_null(strstr(err, ":2:"), "%s", err);
    cr_assert_eq(keys.n, 0);
    char spec[600];
    snprintf(spec, sizeof(spec), "live=%s, live=%s", bad, bad);
    cr_assert_eq(live_auth_keys_load(&keys, spec, err, sizeof(err)), ST_ERROR);
    cr_assert_eq(live_auth_keys_load(&keys, "live=", err, sizeof(err)), ST_ERROR);
    unlink(bad);
    free(bad);
}

Test(live_auth, rules_report_the_directive)
{
    struct live_auth_rules r;
    char err[256];
    struct live_auth_spec spec = {.play_deny = "::1/200"};
    cr_assert_eq(live_auth_rules_load(&r, &spec, err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, "play_deny: '::1/200': prefix length must be 0-128");
    struct live_auth_spec spec2 = {.publish_allow = "10.0.0.0/8, nope"};
    cr_assert_eq(live_auth_rules_load(&r, &spec2, err, sizeof(err)), ST_ERROR);
    cr_assert_not_null(strstr(err, "publish_allow: 'nope'"), "%s", err);
    struct live_auth_spec spec3 = {.publish_keys_file = "/nonexistent"};
    cr_assert_eq(live_auth_rules_load(&r, &spec3, err, sizeof(err)), ST_ERROR);
    cr_assert_not_null(strstr(err, "publish_keys_file: "), "%s", err);
}

Test(live_auth, combined_check)
{
    char *live = write_tmp("static-key\n");
    char spec_keys[300], err[256];
    snprintf(spec_keys, sizeof(spec_keys), "live=%s", live);
    struct live_auth_spec spec = {.publish_deny = "127.0.0.2", .play_allow = "10.0.0.0/8",
                                  .publish_keys_file = spec_keys};
    struct live_auth_rules r;
    cr_assert_eq(live_auth_rules_load(&r, &spec, err, sizeof(err)), ST_OK, "%s", err);
    struct sockaddr_storage lo = v4("127.0.0.1"), lo2 = v4("127.0.0.2"), ten = v4("10.1.1.1");
    struct sockaddr *plo = (struct sockaddr *)&lo, *plo2 = (struct sockaddr *)&lo2, *pten = (struct sockaddr *)&ten;
    const char *q = "exp=1767225600&sig=" SIG;
    /* Publish in "live": key list or signature. */
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PUBLISH, NULL, "live", "static-key", "", plo, 0), LIVE_AUTH_OK);
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PUBLISH, NULL, "live", "cam1", q, plo, 0), LIVE_AUTH_UNKNOWN_KEY);
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PUBLISH, SECRET, "live", "cam1", q, plo, 0), LIVE_AUTH_OK);
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PUBLISH, SECRET, "live", "cam1", "", plo, 0), LIVE_AUTH_UNKNOWN_KEY);
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PUBLISH, SECRET, "live", "cam1", q, plo, EXP + 1),
                 LIVE_AUTH_EXPIRED);
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PUBLISH, SECRET, "live", "static-key", "", plo2, 0),
                 LIVE_AUTH_IP_DENIED);
    /* Another app: no key list, only the secret if any. */
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PUBLISH, NULL, "other", "x", "", plo, 0), LIVE_AUTH_OK);
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PUBLISH, SECRET, "other", "x", "", plo, 0), LIVE_AUTH_MISSING);
    /* Play: its own IP lists, no key list, the play secret. */
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PLAY, NULL, "live", "anything", "", plo, 0), LIVE_AUTH_IP_DENIED);
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PLAY, NULL, "live", "anything", "", pten, 0), LIVE_AUTH_OK);
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PLAY, SECRET, "live", "cam1", q, pten, 0), LIVE_AUTH_OK);
    cr_assert_eq(live_auth_check(&r, LIVE_AUTH_PLAY, SECRET, "live", "static-key", "", pten, 0),
                 LIVE_AUTH_MISSING);
    live_auth_rules_free(&r);
    unlink(live);
    free(live);
}

/* The config loader checks CIDR lists itself (core cannot call live/): it
 * must accept exactly what live_auth_acl_parse accepts. */
Test(live_auth, config_loader_agrees_with_the_parser)
{
    struct s {
        char *list;
    } st = {0};
    const struct config_directive table[] = {
        {"play_deny", CONFIG_CIDR_LIST, offsetof(struct s, list), "", 0, 0, "test", 1},
    };
    cr_assert_eq(config_set_defaults(table, 1, &st), ST_OK);
    const char *inputs[] = {"", "10.0.0.0/8", " ::1/128 , 10.0.0.0/8 192.168.0.1", "0.0.0.0/0", "::/0",
                            "1.2.3.4/008", "1.2.3.4/0008", "10.0.0.0/33", "::/129", "10.0.0.0/", "abc",
                            "10.0.0.0/8x", "1.2.3.4//8", "/8", ",,,", "fe80::1%eth0", "::ffff:1.2.3.4/120",
                            "1.2.3.4/-0", "1.2.3.4/+8", "[::1]"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        char err[512];
        struct live_auth_acl acl;
        int a = live_auth_acl_parse(&acl, inputs[i], err, sizeof(err));
        live_auth_acl_free(&acl);
        int b = config_set(table, 1, &st, "play_deny", inputs[i], err, sizeof(err));
        cr_assert_eq(a, b, "'%s': parser %d, config loader %d", inputs[i], a, b);
        if (b != ST_OK)
            cr_assert_not_null(strstr(err, "play_deny"), "%s", err);
    }
    config_free(table, 1, &st);
}
