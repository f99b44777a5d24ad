/*
 * fuzz_config: the config loader on arbitrary text.
 *
 * The whole input goes through config_load_string against a table holding
 * every directive type; then, if it has no NUL, each directive gets the
 * input as a literal value through config_set (the env/flag path). ASan's
 * leak check covers the owned strings, freed by config_free every run.
 */
#include "core/config.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_settings {
    long port;
    int flag;
    char *name;
    char *path;
    size_t chunk;
    size_t mem;
    long timeout;
    long offset;
};

static const struct config_directive fuzz_table[] = {
    {"rtmp_port", CONFIG_INT, offsetof(struct fuzz_settings, port), "1935", 1, 65535, "", 0},
    {"tls", CONFIG_BOOL, offsetof(struct fuzz_settings, flag), "off", 0, 0, "", 0},
    {"node_name", CONFIG_STRING, offsetof(struct fuzz_settings, name), "origin-1", 0, 0, "", 0},
    {"record_path", CONFIG_STRING, offsetof(struct fuzz_settings, path), NULL, 0, 0, "", 0},
    {"chunk_size", CONFIG_SIZE, offsetof(struct fuzz_settings, chunk), "4k", 128, 16777216, "", 0},
    {"max_mem", CONFIG_SIZE, offsetof(struct fuzz_settings, mem), NULL, 0, 0, "", 0},
    {"idle_timeout", CONFIG_MS, offsetof(struct fuzz_settings, timeout), "30s", 100, 86400000, "", 0},
    {"offset", CONFIG_INT, offsetof(struct fuzz_settings, offset), NULL, 0, 0, "", 0},
};
#define FUZZ_N (sizeof(fuzz_table) / sizeof(fuzz_table[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_settings s;
    char err[256];
    if (config_set_defaults(fuzz_table, FUZZ_N, &s) != ST_OK)
        abort();
    int rc = config_load_string(fuzz_table, FUZZ_N, &s, "fuzz.conf", (const char *)data, size, err, sizeof(err));
    if (rc != ST_OK && rc != ST_ERROR)
        abort();
    /* An error message is always terminated and never carries control bytes. */
    if (rc == ST_ERROR) {
        size_t n = strnlen(err, sizeof(err));
        if (n == sizeof(err))
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)err[i] < 0x20)
                abort();
    }
    if (rc == ST_OK && (s.port < 1 || s.port > 65535 || s.chunk < 128 || s.timeout < 100 || !s.name))
        abort();
    if (size < 256 && !memchr(data, 0, size)) {
        char value[256];
        memcpy(value, data, size);
        value[size] = '\0';
        for (size_t i = 0; i < FUZZ_N; i++)
            if (config_set(fuzz_table, FUZZ_N, &s, fuzz_table[i].name, value, err, sizeof(err)) == ST_OK &&
                fuzz_table[i].type == CONFIG_STRING && strcmp(*(char **)((char *)&s + fuzz_table[i].offset), value))
                abort();
    }
    config_free(fuzz_table, FUZZ_N, &s);
    return 0;
}
