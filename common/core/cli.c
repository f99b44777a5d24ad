#include "core/cli.h"

#include "core/log.h"
#include "core/status.h"

#include <stdlib.h>

#include <stdio.h>
#include <string.h>

static void usage(const char *prog, const char *env_prefix, const struct config_directive *table, size_t n)
{
    printf("usage: %s [options]\n"
           "  --config FILE        load directives from FILE\n"
           "  --listen HOST:PORT   RTMP listen address (same as --set rtmp_listen=...)\n"
           "  --set NAME=VALUE     set any directive (repeatable)\n"
           "  --log-level LEVEL    debug, info, warn or error\n"
           "  --check-config       validate the configuration and exit (non-zero on errors)\n"
           "  --help               this text\n"
           "  --version            print the version\n"
           "Environment: %s<DIRECTIVE> overrides the file; flags override both.\n"
           "Directives:\n",
           prog, env_prefix);
    config_print_help(table, n, stdout);
}

static int takes_value(const char *arg)
{
    return strcmp(arg, "--config") == 0 || strcmp(arg, "--listen") == 0 || strcmp(arg, "--set") == 0 ||
           strcmp(arg, "--log-level") == 0;
}

int cli_load_settings(const char *prog, int argc, char **argv, const struct config_directive *table, size_t n,
                      void *settings, const char *env_prefix, cli_check_cb check)
{
    char err[512];
    const char *config_path = NULL;
    int check_only = 0;
    if (config_set_defaults(table, n, settings) != ST_OK) {
        fprintf(stderr, "%s: bad built-in defaults\n", prog);
        return ST_ERROR;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(prog, env_prefix, table, n);
            return ST_DONE;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", prog, SC_VERSION);
            return ST_DONE;
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = 1;
        } else if (takes_value(argv[i]) && i + 1 < argc) {
            if (strcmp(argv[i], "--config") == 0)
                config_path = argv[i + 1];
            i++;
        } else {
            fprintf(stderr, "%s: unknown or incomplete option '%s' (see --help)\n", prog, argv[i]);
            return ST_ERROR;
        }
    }
    if (config_path && config_load_file(table, n, settings, config_path, err, sizeof(err)) != ST_OK) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return ST_ERROR;
    }
    if (config_apply_env(table, n, settings, env_prefix, err, sizeof(err)) != ST_OK) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return ST_ERROR;
    }
    for (int i = 1; i < argc; i++) {
        char setbuf[1024];
        const char *name = NULL, *value = NULL;
        if (!takes_value(argv[i]) || strcmp(argv[i], "--config") == 0) {
            i += takes_value(argv[i]);
            continue;
        }
        value = argv[++i];
        if (strcmp(argv[i - 1], "--listen") == 0) {
            name = "rtmp_listen";
        } else if (strcmp(argv[i - 1], "--log-level") == 0) {
            name = "log_level";
        } else {
            snprintf(setbuf, sizeof(setbuf), "%s", value);
            char *eq = strchr(setbuf, '=');
            if (!eq) {
                fprintf(stderr, "%s: --set wants NAME=VALUE, got '%s'\n", prog, setbuf);
                return ST_ERROR;
            }
            *eq = '\0';
            name = setbuf;
            value = eq + 1;
        }
        if (config_set(table, n, settings, name, value, err, sizeof(err)) != ST_OK) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return ST_ERROR;
        }
    }
    /* Every binary has a log level directive (validated by the loader);
     * applying it here keeps start and reload alike. */
    for (size_t i = 0; i < n; i++) {
        if (table[i].type != CONFIG_LOG_LEVEL)
            continue;
        const char *name = *(char **)((char *)settings + table[i].offset);
        enum log_level level;
        if (!name || log_parse_level(name, &level) != ST_OK) {
            fprintf(stderr, "%s: log_level: unknown level '%s' (debug, info, warn or error)\n", prog,
                    name ? name : "");
            return ST_ERROR;
        }
        if (!check_only)
            log_set_level(level);
    }
    if (check && check(settings) != ST_OK) {
        fprintf(stderr, "%s: configuration refused (see the message above)\n", prog);
        return ST_ERROR;
    }
    if (check_only) {
        printf("%s: configuration ok\n", prog);
        return ST_DONE;
    }
    return ST_OK;
}

int cli_reload_settings(const char *prog, int argc, char **argv, const struct config_directive *table, size_t n,
                        void *running, size_t size, cli_check_cb check)
{
    void *fresh = calloc(1, size);
    if (!fresh)
        return ST_ERROR;
    /* Same layering as at start: SC_<PROG>_ environment, then flags. */
    char env_prefix[32];
    snprintf(env_prefix, sizeof(env_prefix), "SC_%s_", prog);
    for (char *p = env_prefix; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    int rc = cli_load_settings(prog, argc, argv, table, n, fresh, env_prefix, check);
    if (rc != ST_OK) {
        LOG_ERROR("%s: reload failed (see the message above); keeping the running configuration", prog);
    } else {
        int changed = config_reload_apply(table, n, running, fresh);
        LOG_INFO("%s: configuration reloaded, %d directive(s) changed", prog, changed);
    }
    config_free(table, n, fresh);
    free(fresh);
    return rc == ST_OK ? ST_OK : ST_ERROR;
}
