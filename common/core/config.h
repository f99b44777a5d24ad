/*
 * config: the declarative config loader (STYLE.md 11).
 *
 * Each process describes its directives in a table of struct config_directive
 * {name, type, offset into its settings struct, default, min, max, help}.
 * config_set_defaults fills the struct; config_load_file parses a file of
 * "name value" lines ('#' starts a comment, blank lines ignored, values may be
 * double-quoted with \" and \\ escapes); config_apply_env applies environment
 * overrides named PREFIX + upper-cased directive (e.g. SC_ORIGIN_RTMP_PORT);
 * config_set applies one "name=value" (command-line flags).
 *
 * Errors are reported as "file:line: directive: reason" into errbuf and
 * return ST_ERROR; a line longer than CONFIG_MAX_LINE, an unknown directive,
 * a duplicate, a bad number, a value out of [min,max] are all errors.
 *
 * Memory: string values are malloc'd into the settings struct (char * fields)
 * and released by config_free. Boot-time only; never call on a loop.
 */
#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_LINE 4096

enum config_type {
    CONFIG_INT,    /* long; min/max apply */
    CONFIG_BOOL,   /* int: on/off, yes/no, true/false, 1/0 */
    CONFIG_STRING, /* char *: owned copy */
    CONFIG_SIZE,   /* size_t with optional k/m/g suffix (powers of 1024); min/max apply */
    CONFIG_MS,     /* long milliseconds with optional ms/s/m suffix (default unit ms); min/max apply */
    CONFIG_ADDR,   /* char *: "" (off), or [tcp://]HOST:PORT with HOST an IPv4/[IPv6] address, a host
                      name, "*" or empty (all interfaces), PORT 0..65535 */
    CONFIG_LOG_LEVEL, /* char *: debug, info, warn or error */
    CONFIG_CIDR_LIST  /* char *: "" or IPv4/IPv6 addresses with optional /prefix, separated by commas
                         or spaces ("10.0.0.0/8, ::1/128"); live_auth parses it, the loader checks it */
};

struct config_directive {
    const char *name;
    enum config_type type;
    size_t offset;          /* offsetof(settings struct, field) */
    const char *dflt;       /* default in the same syntax as the file; NULL = zero/NULL */
    double min, max;        /* numeric bounds (ignored when min == max == 0) */
    const char *help;       /* one line for --help and the sample config */
    int reload;             /* 1: SIGHUP may change it on a running process */
};

/* Fill defaults for every directive. ST_OK or ST_ERROR (bad default: our bug). */
int config_set_defaults(const struct config_directive *table, size_t n, void *settings);
/* Parse a file. ST_ERROR with "file:line: directive: reason" in errbuf
 * (a missing/unreadable file is "file: reason"). */
int config_load_file(const struct config_directive *table, size_t n, void *settings, const char *path,
                     char *errbuf, size_t errlen);
/* Parse a whole config text already in memory (used by tests and fuzzers);
 * name is used in error messages. */
int config_load_string(const struct config_directive *table, size_t n, void *settings, const char *name,
                       const char *text, size_t len, char *errbuf, size_t errlen);
/* Apply environment overrides with the given prefix. */
int config_apply_env(const struct config_directive *table, size_t n, void *settings, const char *prefix,
                     char *errbuf, size_t errlen);
/* Apply one directive by name (command line). */
int config_set(const struct config_directive *table, size_t n, void *settings, const char *name,
               const char *value, char *errbuf, size_t errlen);
/* Release every CONFIG_STRING field. */
void config_free(const struct config_directive *table, size_t n, void *settings);
/* Copy count directives from src to the end of table (capacity cap, *n in
 * use), adding base to each offset: how a process embeds a module's
 * settings struct and reuses its directive list. ST_OK or ST_ERROR (full). */
int config_append_table(struct config_directive *table, size_t cap, size_t *n, const struct config_directive *src,
                        size_t count, size_t base);
/* SIGHUP: adopt the reloadable directives that differ between a freshly
 * loaded fresh and the running settings (strings change hands: the old
 * value ends up in fresh, freed with it), and log each change; a changed
 * directive that is not reloadable is logged as needing a restart and left
 * alone. Returns the number of directives adopted. */
int config_reload_apply(const struct config_directive *table, size_t n, void *running, void *fresh);
/* Print "  name (default: x)  help" lines, for --help. */
void config_print_help(const struct config_directive *table, size_t n, FILE *out);

#endif
