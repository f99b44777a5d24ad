/*
 * cli: the command line every binary shares. Settings are applied in this
 * order: built-in defaults, --config FILE, environment (<env_prefix><NAME>),
 * then flags (--set NAME=VALUE, --listen, --log-level). --help, --version
 * and --check-config are answered here. Boot-time only.
 */
#ifndef SC_CLI_H
#define SC_CLI_H

#include "core/config.h"

/* Checks of values the table's types cannot express (a relay rule list, a
 * port range): ST_OK, or ST_ERROR after logging why. Run by
 * cli_load_settings after everything is applied, so --check-config, a start
 * and a reload refuse the same things. */
typedef int (*cli_check_cb)(const void *settings);

/* Fill settings from the command line (and set the log level from the
 * log_level directive, when the table has one). Returns ST_OK (run the program),
 * ST_DONE (answered --help/--version/--check-config: exit 0) or ST_ERROR
 * (message printed: exit 1). settings must be freed with config_free in every
 * case. */
int cli_load_settings(const char *prog, int argc, char **argv, const struct config_directive *table, size_t n,
                      void *settings, const char *env_prefix, cli_check_cb check);

/* SIGHUP: load the settings again from the same command line (file,
 * environment, flags) into a scratch struct of size bytes and adopt what
 * may change at run time (config_reload_apply). Errors keep the running
 * settings and are logged. Returns ST_OK or ST_ERROR. Blocks on file I/O
 * briefly: called from a signal watcher, which is acceptable for a reload. */
int cli_reload_settings(const char *prog, int argc, char **argv, const struct config_directive *table, size_t n,
                        void *running, size_t size, cli_check_cb check);

#endif
