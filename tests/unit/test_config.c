#include "core/config.h"
#include "core/status.h"

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct settings {
    long port;
    int tls;
    char *name;
    size_t chunk_size;
    long timeout;
    long offset;    /* unbounded int */
    size_t max_mem; /* unbounded size */
    char *empty;    /* string without default */
    long linger;    /* unbounded ms */
};

static const struct config_directive table[] = {
    {"rtmp_port", CONFIG_INT, offsetof(struct settings, port), "1935", 1, 65535, "RTMP listen port", 0},
    {"tls", CONFIG_BOOL, offsetof(struct settings, tls), "off", 0, 0, "enable RTMPS", 1},
    {"node_name", CONFIG_STRING, offsetof(struct settings, name), "origin-1", 0, 0, "node id", 1},
    {"chunk_size", CONFIG_SIZE, offsetof(struct settings, chunk_size), "4k", 128, 65536, "RTMP chunk size", 0},
    {"idle_timeout", CONFIG_MS, offsetof(struct settings, timeout), "30s", 100, 3600000, "idle timeout", 0},
    {"offset", CONFIG_INT, offsetof(struct settings, offset), NULL, 0, 0, "signed offset", 0},
    {"max_mem", CONFIG_SIZE, offsetof(struct settings, max_mem), NULL, 0, 0, "memory cap", 0},
    {"empty", CONFIG_STRING, offsetof(struct settings, empty), NULL, 0, 0, "no default", 0},
    {"linger", CONFIG_MS, offsetof(struct settings, linger), NULL, 0, 0, "unbounded duration", 0},
};
#define NT (sizeof(table) / sizeof(table[0]))

static struct settings s;
static char err[512];

static void setup(void)
{
    memset(&s, 0xa5, sizeof(s)); /* garbage: set_defaults must not free it */
    cr_assert_eq(config_set_defaults(table, NT, &s), ST_OK);
    err[0] = '\0';
}

static void teardown(void) { config_free(table, NT, &s); }

TestSuite(config, .init = setup, .fini = teardown);

static int load(const char *text) { return config_load_string(table, NT, &s, "t.conf", text, strlen(text), err, sizeof(err)); }

static void load_ok(const char *text)
{
    int rc = load(text);
    cr_assert_eq(rc, ST_OK, "text %s: %s", text, err);
}

static void load_err(const char *text, const char *msg)
{
    cr_assert_eq(load(text), ST_ERROR, "text accepted: %s", text);
    cr_assert_str_eq(err, msg);
}

static void set_err(const char *name, const char *value, const char *msg)
{
    cr_assert_eq(config_set(table, NT, &s, name, value, err, sizeof(err)), ST_ERROR, "%s=%s accepted", name, value);
    cr_assert_str_eq(err, msg);
}

static void set_ok(const char *name, const char *value)
{
    cr_assert_eq(config_set(table, NT, &s, name, value, err, sizeof(err)), ST_OK, "%s=%s: %s", name, value, err);
}

/* ---- defaults ---- */

Test(config, defaults)
{
    cr_assert_eq(s.port, 1935);
    cr_assert_eq(s.tls, 0);
    cr_assert_str_eq(s.name, "origin-1");
    cr_assert_eq(s.chunk_size, 4096);
    cr_assert_eq(s.timeout, 30000);
    cr_assert_eq(s.offset, 0);
    cr_assert_eq(s.max_mem, 0);
    cr_assert_null(s.empty);
    cr_assert_eq(s.linger, 0);
}

Test(config, bad_default_is_error_and_free_is_safe)
{
    static const struct config_directive bad[] = {
        {"a", CONFIG_STRING, offsetof(struct settings, name), "x", 0, 0, "", 0},
        {"b", CONFIG_INT, offsetof(struct settings, port), "10", 128, 256, "", 0},
        {"c", CONFIG_STRING, offsetof(struct settings, empty), "y", 0, 0, "", 0},
    };
    struct settings t;
    memset(&t, 0x5a, sizeof(t));
    cr_assert_eq(config_set_defaults(bad, 3, &t), ST_ERROR);
    cr_assert_str_eq(t.name, "x");
    cr_assert_str_eq(t.empty, "y");
    config_free(bad, 3, &t);
    cr_assert_null(t.name);
    cr_assert_null(t.empty);
}

/* ---- INT ---- */

Test(config, int_values)
{
    load_ok("rtmp_port 1936\noffset -42\n");
    cr_assert_eq(s.port, 1936);
    cr_assert_eq(s.offset, -42);
    set_ok("offset", "9223372036854775807");
    cr_assert_eq(s.offset, 9223372036854775807L);
    set_ok("offset", "-9223372036854775808");
    cr_assert_eq(s.offset, (-9223372036854775807L - 1));
    set_ok("rtmp_port", "1");
    set_ok("rtmp_port", "65535");
    cr_assert_eq(s.port, 65535);
}

Test(config, int_errors)
{
    set_err("rtmp_port", "12x", "rtmp_port: invalid integer '12x'");
    set_err("rtmp_port", "", "rtmp_port: invalid integer ''");
    set_err("rtmp_port", " 5", "rtmp_port: invalid integer ' 5'");
    set_err("rtmp_port", "0x10", "rtmp_port: invalid integer '0x10'");
    set_err("rtmp_port", "1.5", "rtmp_port: invalid integer '1.5'");
    set_err("offset", "9223372036854775808", "offset: value '9223372036854775808' out of range");
    set_err("offset", "-99999999999999999999", "offset: value '-99999999999999999999' out of range");
    set_err("rtmp_port", "0", "rtmp_port: value 0 below minimum 1");
    set_err("rtmp_port", "65536", "rtmp_port: value 65536 above maximum 65535");
    cr_assert_eq(s.port, 1935, "a rejected value must not be stored");
    load_err("rtmp_port 70000\n", "t.conf:1: rtmp_port: value 70000 above maximum 65535");
}

/* ---- BOOL ---- */

Test(config, bool_values)
{
    static const char *const on[] = {"on", "yes", "true", "1", "ON", "Yes", "TRUE"};
    static const char *const off[] = {"off", "no", "false", "0", "OFF", "No", "False"};
    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
        set_ok("tls", off[i]);
        cr_assert_eq(s.tls, 0, "%s", off[i]);
        set_ok("tls", on[i]);
        cr_assert_eq(s.tls, 1, "%s", on[i]);
    }
    set_err("tls", "maybe", "tls: expected on/off, yes/no, true/false or 1/0, got 'maybe'");
    set_err("tls", "2", "tls: expected on/off, yes/no, true/false or 1/0, got '2'");
    set_err("tls", "", "tls: expected on/off, yes/no, true/false or 1/0, got ''");
    cr_assert_eq(s.tls, 1);
}

/* ---- STRING ---- */

Test(config, string_replace_frees_previous)
{
    /* ASan's leak check at exit catches a missing free here. */
    set_ok("node_name", "a");
    set_ok("node_name", "b");
    load_ok("node_name c\nempty \"\"\n");
    cr_assert_str_eq(s.name, "c");
    cr_assert_str_eq(s.empty, "");
    set_ok("empty", "literal \"q\" # not a comment");
    cr_assert_str_eq(s.empty, "literal \"q\" # not a comment");
}

Test(config, string_quotes_and_escapes)
{
    load_ok("node_name \"a \\\"quoted\\\" \\\\ value # kept\"   # comment\n");
    cr_assert_str_eq(s.name, "a \"quoted\" \\ value # kept");
}

Test(config, string_unquoted_rest_of_line)
{
    load_ok("node_name   two words here   \t# trailing comment\n");
    cr_assert_str_eq(s.name, "two words here");
    config_free(table, NT, &s);
    cr_assert_eq(config_set_defaults(table, NT, &s), ST_OK);
    load_ok("node_name a\"b#c\n");
    cr_assert_str_eq(s.name, "a\"b");
}

Test(config, quote_errors)
{
    load_err("node_name \"abc\n", "t.conf:1: node_name: unterminated quote");
    load_err("node_name \"abc\\\"\n", "t.conf:1: node_name: unterminated quote");
    load_err("node_name \"abc\\", "t.conf:1: node_name: unterminated quote");
    load_err("node_name \"a\\nb\"\n", "t.conf:1: node_name: bad escape '\\n' in quoted value");
    load_err("node_name \"a\" b\n", "t.conf:1: node_name: unexpected text after closing quote");
    load_err("node_name \"a\"\"b\"\n", "t.conf:1: node_name: unexpected text after closing quote");
    cr_assert_str_eq(s.name, "origin-1");
}

Test(config, quoted_numbers)
{
    load_ok("rtmp_port \"2000\"\ntls \"yes\"\n");
    cr_assert_eq(s.port, 2000);
    cr_assert_eq(s.tls, 1);
}

/* ---- SIZE ---- */

Test(config, size_values)
{
    static const struct {
        const char *in;
        size_t out;
    } cases[] = {
        {"0", 0},
        {"1", 1},
        {"1k", 1024},
        {"1K", 1024},
        {"3m", 3u << 20},
        {"3M", 3u << 20},
        {"2g", (size_t)2 << 30},
        {"2G", (size_t)2 << 30},
        {"18446744073709551615", SIZE_MAX},
        {"16777215g", (size_t)16777215 << 30},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        set_ok("max_mem", cases[i].in);
        cr_assert_eq(s.max_mem, cases[i].out, "%s", cases[i].in);
    }
}

Test(config, size_errors)
{
    const char *bad = "(expected a number with optional k/m/g suffix)";
    char want[256];
    static const char *const garbage[] = {"", "-1", "+1", " 1", "1 k", "1kb", "1t", "k", "1.5k", "0x10"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        snprintf(want, sizeof(want), "max_mem: invalid size '%s' %s", garbage[i], bad);
        set_err("max_mem", garbage[i], want);
    }
    set_err("max_mem", "18446744073709551616", "max_mem: value '18446744073709551616' out of range");
    set_err("max_mem", "17179869184g", "max_mem: value '17179869184g' out of range");
    set_err("max_mem", "18014398509481984k", "max_mem: value '18014398509481984k' out of range");
    set_err("chunk_size", "127", "chunk_size: value 127 below minimum 128");
    set_err("chunk_size", "65k", "chunk_size: value 66560 above maximum 65536");
    set_ok("chunk_size", "64k");
    cr_assert_eq(s.chunk_size, 65536);
    load_err("\n\n\n\n\n\n\n\n\n\n\nchunk_size 10\n", "t.conf:12: chunk_size: value 10 below minimum 128");
    cr_assert_eq(s.chunk_size, 65536);
}

/* ---- MS ---- */

Test(config, ms_values)
{
    static const struct {
        const char *in;
        long out;
    } cases[] = {
        {"250", 250},          {"250ms", 250},   {"250MS", 250},          {"2s", 2000},       {"2S", 2000},
        {"1.5s", 1500},        {"0.001s", 1},    {"1.500000000000s", 1500}, {"3m", 180000},   {"1.5m", 90000},
        {"0.00005m", 3},       {"100.0", 100},   {"3600000", 3600000},    {"1.25s", 1250},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        set_ok("linger", cases[i].in);
        cr_assert_eq(s.linger, cases[i].out, "%s -> %ld", cases[i].in, s.linger);
    }
}

Test(config, ms_errors)
{
    const char *bad = "(expected a number with optional ms/s/m suffix)";
    char want[256];
    static const char *const garbage[] = {"", "s", "-5", "+5", " 5", "5 s", "1.s", ".5s", "5h", "5sec", "1e3", "5msx"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        snprintf(want, sizeof(want), "idle_timeout: invalid duration '%s' %s", garbage[i], bad);
        set_err("idle_timeout", garbage[i], want);
    }
    set_err("idle_timeout", "100.5", "idle_timeout: duration '100.5' is not a whole number of milliseconds");
    set_err("idle_timeout", "1.0005s", "idle_timeout: duration '1.0005s' is not a whole number of milliseconds");
    set_err("idle_timeout", "1.0000001m", "idle_timeout: duration '1.0000001m' is not a whole number of milliseconds");
    set_err("idle_timeout", "61m", "idle_timeout: value 3660000 above maximum 3600000");
    set_err("idle_timeout", "0.05s", "idle_timeout: value 50 below minimum 100");
    set_err("idle_timeout", "9223372036854775807s", "idle_timeout: value '9223372036854775807s' out of range");
    set_err("idle_timeout", "99999999999999999999", "idle_timeout: value '99999999999999999999' out of range");
    cr_assert_eq(s.timeout, 30000);
}

Test(config, ms_unbounded_extremes)
{
    static const struct config_directive t[] = {
        {"d", CONFIG_MS, offsetof(struct settings, offset), NULL, 0, 0, "", 0},
    };
    cr_assert_eq(config_set(t, 1, &s, "d", "9223372036854775807", err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(s.offset, 9223372036854775807L);
    cr_assert_eq(config_set(t, 1, &s, "d", "9223372036854775s", err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(s.offset, 9223372036854775000L);
    cr_assert_eq(config_set(t, 1, &s, "d", "9223372036854776s", err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, "d: value '9223372036854776s' out of range");
}

/* ---- file syntax ---- */

Test(config, comments_blank_lines_whitespace)
{
    load_ok("# header comment\n"
            "\n"
            "   \t\n"
            "  rtmp_port\t2000   # trailing\n"
            "\ttls on#no space\n"
            "#chunk_size 1\n"
            "idle_timeout 5s");
    cr_assert_eq(s.port, 2000);
    cr_assert_eq(s.tls, 1);
    cr_assert_eq(s.chunk_size, 4096);
    cr_assert_eq(s.timeout, 5000);
}

Test(config, crlf_line_endings)
{
    load_ok("rtmp_port 2001\r\nnode_name \"x y\"\r\nchunk_size 8k\r\n\r\n# c\r\n");
    cr_assert_eq(s.port, 2001);
    cr_assert_str_eq(s.name, "x y");
    cr_assert_eq(s.chunk_size, 8192);
    load_err("\r\n\r\nbogus 1\r\n", "t.conf:3: unknown directive 'bogus'");
}

Test(config, empty_text)
{
    cr_assert_eq(config_load_string(table, NT, &s, "t.conf", "", 0, err, sizeof(err)), ST_OK);
    load_ok("\n\n# only comments\n");
    cr_assert_eq(s.port, 1935);
}

Test(config, missing_value)
{
    load_err("rtmp_port\n", "t.conf:1: rtmp_port: missing value");
    load_err("tls   # nothing\n", "t.conf:1: tls: missing value");
    load_err("node_name#x\n", "t.conf:1: node_name: missing value");
}

Test(config, duplicate_directive)
{
    load_err("rtmp_port 1\n# c\nrtmp_port 2\n", "t.conf:3: rtmp_port: duplicate directive (first set on line 1)");
}

Test(config, duplicates_across_loads_are_fine)
{
    load_ok("rtmp_port 1\n");
    load_ok("rtmp_port 2\n");
    cr_assert_eq(s.port, 2);
}

Test(config, unknown_directive)
{
    load_err("foo 1\n", "t.conf:1: unknown directive 'foo'");
    load_err("\nrtmp_prot 1\n", "t.conf:2: unknown directive 'rtmp_prot' (did you mean 'rtmp_port'?)");
    load_err("chunksize 1\n", "t.conf:1: unknown directive 'chunksize' (did you mean 'chunk_size'?)");
    load_err("tsl on\n", "t.conf:1: unknown directive 'tsl' (did you mean 'tls'?)");
    load_err("RTMP_PORT 1\n", "t.conf:1: unknown directive 'RTMP_PORT'");
    load_err("\"rtmp_port\" 1\n", "t.conf:1: unknown directive '\"rtmp_port\"' (did you mean 'rtmp_port'?)");
    load_err("zz 1\n", "t.conf:1: unknown directive 'zz'");
}

Test(config, control_bytes_in_errors_are_masked)
{
    load_err("fo\x1b[31mo 1\n", "t.conf:1: unknown directive 'fo?[31mo'");
}

Test(config, line_length_limit)
{
    /* Exactly CONFIG_MAX_LINE bytes of content is fine (CR not counted). */
    size_t vlen = CONFIG_MAX_LINE - strlen("node_name ");
    char *text = malloc(CONFIG_MAX_LINE + 8);
    memcpy(text, "node_name ", 10);
    memset(text + 10, 'v', vlen);
    memcpy(text + 10 + vlen, "\r\n", 3);
    load_ok(text);
    cr_assert_eq(strlen(s.name), vlen);
    /* One more byte is an error, with or without a final newline. */
    memset(text + 10, 'w', vlen + 1);
    memcpy(text + 11 + vlen, "\n", 2);
    load_err(text, "t.conf:1: line too long (max 4096 bytes)");
    text[11 + vlen] = '\0';
    load_err(text, "t.conf:1: line too long (max 4096 bytes)");
    free(text);
    cr_assert_eq(s.name[0], 'v');
}

Test(config, long_comment_line_is_still_too_long)
{
    char *text = malloc(CONFIG_MAX_LINE + 16);
    text[0] = '#';
    memset(text + 1, 'c', CONFIG_MAX_LINE + 4);
    memcpy(text + CONFIG_MAX_LINE + 5, "\n", 2);
    load_err(text, "t.conf:1: line too long (max 4096 bytes)");
    free(text);
}

Test(config, nul_byte)
{
    static const char text[] = "rtmp_port 1\nnode_name a\0b\n";
    cr_assert_eq(config_load_string(table, NT, &s, "t.conf", text, sizeof(text) - 1, err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, "t.conf:2: NUL byte in line");
    static const char text2[] = "# \0\n";
    cr_assert_eq(config_load_string(table, NT, &s, "t.conf", text2, sizeof(text2) - 1, err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, "t.conf:1: NUL byte in line");
}

Test(config, length_is_honoured_not_nul)
{
    /* Only the first len bytes count: the rest must not be read. */
    static const char text[] = "rtmp_port 12345";
    cr_assert_eq(config_load_string(table, NT, &s, "t.conf", text, 13, err, sizeof(err)), ST_OK);
    cr_assert_eq(s.port, 123);
}

Test(config, error_buffer_small_or_null)
{
    char small[8];
    memset(small, 'x', sizeof(small));
    cr_assert_eq(config_load_string(table, NT, &s, "t.conf", "foo 1", 5, small, sizeof(small)), ST_ERROR);
    cr_assert_str_eq(small, "t.conf:");
    cr_assert_eq(config_load_string(table, NT, &s, "t.conf", "foo 1", 5, NULL, 0), ST_ERROR);
    cr_assert_eq(config_set(table, NT, &s, "rtmp_port", "x", NULL, 0), ST_ERROR);
}

/* ---- files ---- */

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/test_config_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

Test(config, load_file)
{
    char *path = write_tmp("rtmp_port 2002\nnode_name \"from file\"\n");
    cr_assert_eq(config_load_file(table, NT, &s, path, err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(s.port, 2002);
    cr_assert_str_eq(s.name, "from file");
    unlink(path);
    free(path);
}

Test(config, load_file_error_names_the_file)
{
    char *path = write_tmp("\nchunk_size 10\n");
    char want[256];
    snprintf(want, sizeof(want), "%s:2: chunk_size: value 10 below minimum 128", path);
    cr_assert_eq(config_load_file(table, NT, &s, path, err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, want);
    unlink(path);
    free(path);
}

Test(config, load_big_file)
{
    /* More than the 4 KiB first read, to exercise the growth path. */
    size_t lines = 2000;
    char *text = malloc(lines * 20 + 32);
    size_t n = 0;
    for (size_t i = 0; i < lines; i++)
        n += (size_t)snprintf(text + n, lines * 20 + 32 - n, "# comment %zu\n", i);
    memcpy(text + n, "rtmp_port 2003\n", 16);
    char *path = write_tmp(text);
    cr_assert_eq(config_load_file(table, NT, &s, path, err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(s.port, 2003);
    unlink(path);
    free(path);
    free(text);
}

Test(config, file_missing)
{
    cr_assert_eq(config_load_file(table, NT, &s, "/nonexistent/origin.conf", err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, "/nonexistent/origin.conf: cannot open: No such file or directory");
}

Test(config, file_is_directory)
{
    cr_assert_eq(config_load_file(table, NT, &s, "/tmp", err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, "/tmp: cannot read: Is a directory");
}

/* ---- environment ---- */

Test(config, env_overrides)
{
    setenv("SC_TEST_RTMP_PORT", "2004", 1);
    setenv("SC_TEST_NODE_NAME", "env \"raw\" # value", 1);
    setenv("SC_TEST_IDLE_TIMEOUT", "1.5s", 1);
    setenv("SC_TEST_rtmp_port", "9", 1); /* wrong case: ignored */
    cr_assert_eq(config_apply_env(table, NT, &s, "SC_TEST_", err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(s.port, 2004);
    cr_assert_str_eq(s.name, "env \"raw\" # value");
    cr_assert_eq(s.timeout, 1500);
    cr_assert_eq(s.tls, 0, "unset variable must not change the field");
}

Test(config, env_errors)
{
    setenv("SC_ORIGIN_CHUNK_SIZE", "10", 1);
    cr_assert_eq(config_apply_env(table, NT, &s, "SC_ORIGIN_", err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, "env SC_ORIGIN_CHUNK_SIZE: value 10 below minimum 128");
    setenv("SC_ORIGIN_CHUNK_SIZE", "", 1);
    cr_assert_eq(config_apply_env(table, NT, &s, "SC_ORIGIN_", err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, "env SC_ORIGIN_CHUNK_SIZE: invalid size '' (expected a number with optional k/m/g suffix)");
    unsetenv("SC_ORIGIN_CHUNK_SIZE");
    setenv("SC_ORIGIN_TLS", "perhaps", 1);
    cr_assert_eq(config_apply_env(table, NT, &s, "SC_ORIGIN_", err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, "env SC_ORIGIN_TLS: expected on/off, yes/no, true/false or 1/0, got 'perhaps'");
    cr_assert_eq(s.chunk_size, 4096);
}

Test(config, env_name_too_long)
{
    char prefix[300];
    memset(prefix, 'P', sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';
    cr_assert_eq(config_apply_env(table, NT, &s, prefix, err, sizeof(err)), ST_ERROR);
    cr_assert(strstr(err, "variable name too long") != NULL, "%s", err);
}

/* ---- command line ---- */

Test(config, set_unknown)
{
    set_err("nope", "1", "unknown directive 'nope'");
    set_err("node_nam", "1", "unknown directive 'node_nam' (did you mean 'node_name'?)");
}

/* ---- layering: defaults, file, env, flags ---- */

Test(config, layered_loads)
{
    load_ok("rtmp_port 2000\nchunk_size 8k\nnode_name file\n");
    setenv("SC_L_CHUNK_SIZE", "16k", 1);
    setenv("SC_L_NODE_NAME", "env", 1);
    cr_assert_eq(config_apply_env(table, NT, &s, "SC_L_", err, sizeof(err)), ST_OK, "%s", err);
    set_ok("node_name", "flag");
    cr_assert_eq(s.port, 2000);          /* file */
    cr_assert_eq(s.chunk_size, 16384);   /* env over file */
    cr_assert_str_eq(s.name, "flag");    /* flag over env */
    cr_assert_eq(s.timeout, 30000);      /* default */
}

Test(config, failed_load_keeps_earlier_lines)
{
    /* Boot-time contract: on error the caller exits; lines before the
     * error were applied, the bad one was not. */
    load_err("rtmp_port 2000\nchunk_size 1\n", "t.conf:2: chunk_size: value 1 below minimum 128");
    cr_assert_eq(s.port, 2000);
    cr_assert_eq(s.chunk_size, 4096);
}

/* ---- help ---- */

Test(config, print_help)
{
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    cr_assert_not_null(f);
    config_print_help(table, NT, f);
    fclose(f);
    cr_assert(strstr(out, "  rtmp_port (int, default: 1935, range: 1..65535)  RTMP listen port\n") != NULL, "%s",
              out);
    cr_assert(strstr(out, "  tls (bool, default: off)  enable RTMPS\n") != NULL, "%s", out);
    cr_assert(strstr(out, "  node_name (string, default: origin-1)  node id\n") != NULL, "%s", out);
    cr_assert(strstr(out, "  chunk_size (size, default: 4k, range: 128..65536)  RTMP chunk size\n") != NULL, "%s",
              out);
    cr_assert(strstr(out, "  idle_timeout (ms, default: 30s, range: 100..3600000)  idle timeout\n") != NULL, "%s",
              out);
    cr_assert(strstr(out, "  max_mem (size, default: none)  memory cap\n") != NULL, "%s", out);
    size_t lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, NT);
    free(out);
}

/* ---- whole-text runs: every prefix of a valid file parses or fails cleanly ---- */

Test(config, every_prefix)
{
    static const char text[] = "# sample\r\nrtmp_port 2000\nnode_name \"a \\\"b\\\"\" # c\nchunk_size 8k\n"
                               "idle_timeout 1.5s\ntls yes\n";
    for (size_t cut = 0; cut <= sizeof(text) - 1; cut++) {
        config_free(table, NT, &s);
        cr_assert_eq(config_set_defaults(table, NT, &s), ST_OK);
        int rc = config_load_string(table, NT, &s, "t.conf", text, cut, err, sizeof(err));
        cr_assert(rc == ST_OK || rc == ST_ERROR);
        if (cut == sizeof(text) - 1) {
            cr_assert_eq(rc, ST_OK, "%s", err);
            cr_assert_str_eq(s.name, "a \"b\"");
            cr_assert_eq(s.timeout, 1500);
            cr_assert_eq(s.tls, 1);
        }
    }
}

Test(config, null_text_with_zero_length)
{
    cr_assert_eq(config_load_string(table, NT, &s, "t.conf", NULL, 0, err, sizeof(err)), ST_OK);
}

Test(config, file_too_large)
{
    char *path = strdup("/tmp/test_config_big_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    /* Exactly 16 MiB of comment lines loads; one byte more is refused. */
    size_t limit = 16u * 1024 * 1024;
    char *text = malloc(limit + 1);
    for (size_t i = 0; i < limit; i += 64) {
        memset(text + i, '#', 63);
        text[i + 63] = '\n';
    }
    cr_assert_eq(write(fd, text, limit), (ssize_t)limit);
    cr_assert_eq(config_load_file(table, NT, &s, path, err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(write(fd, "\n", 1), 1);
    close(fd);
    char want[256];
    snprintf(want, sizeof(want), "%s: file too large (max 16777216 bytes)", path);
    cr_assert_eq(config_load_file(table, NT, &s, path, err, sizeof(err)), ST_ERROR);
    cr_assert_str_eq(err, want);
    unlink(path);
    free(path);
    free(text);
}

/* SIGHUP: reloadable directives are adopted (strings change hands), the
 * others stay as they were. */
Test(config, reload_apply_adopts_only_reloadable)
{
    struct settings running, fresh;
    memset(&running, 0, sizeof(running));
    memset(&fresh, 0, sizeof(fresh));
    cr_assert_eq(config_set_defaults(table, NT, &running), ST_OK);
    cr_assert_eq(config_set_defaults(table, NT, &fresh), ST_OK);
    cr_assert_eq(config_set(table, NT, &fresh, "tls", "on", err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(config_set(table, NT, &fresh, "node_name", "origin-2", err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(config_set(table, NT, &fresh, "rtmp_port", "1936", err, sizeof(err)), ST_OK, "%s", err);
    cr_assert_eq(config_reload_apply(table, NT, &running, &fresh), 2);
    cr_assert_eq(running.tls, 1);
    cr_assert_str_eq(running.name, "origin-2");
    cr_assert_str_eq(fresh.name, "origin-1"); /* the old string moved to fresh */
    cr_assert_eq(running.port, 1935);         /* not reloadable: unchanged */
    cr_assert_eq(config_reload_apply(table, NT, &running, &fresh), 1); /* name differs again, back and forth */
    config_free(table, NT, &running);
    config_free(table, NT, &fresh);
}
