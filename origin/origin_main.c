/*
 * origin: the ingest process. Encoders publish RTMP to it; in standalone
 * mode (the default until the cluster is configured) it also serves players.
 *
 * Settings come from, in order: built-in defaults, --config FILE, SC_ORIGIN_*
 * environment variables, then command-line flags.
 */
#include "core/config.h"
#include "core/log.h"
#include "core/status.h"
#include "live/live_server.h"
#include "origin_config.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: origin [options]\n"
            "  --config FILE        load directives from FILE\n"
            "  --listen HOST:PORT   RTMP listen address (same as --set rtmp_listen=...)\n"
            "  --set NAME=VALUE     set any directive (repeatable)\n"
            "  --log-level LEVEL    debug, info, warn or error\n"
            "  --check-config       validate the configuration and exit\n"
            "  --help               this text\n"
            "  --version            print the version\n"
            "Environment: SC_ORIGIN_<DIRECTIVE> overrides the file, flags override both.\n"
            "Directives:\n");
    config_print_help(origin_config_table, origin_config_table_len, out);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    LOG_INFO("origin: signal %d, shutting down", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    struct origin_config cfg;
    char err[512];
    const char *config_path = NULL;
    int check_only = 0;
    int rc = 1;

    memset(&cfg, 0, sizeof(cfg));
    if (config_set_defaults(origin_config_table, origin_config_table_len, &cfg) != ST_OK) {
        fprintf(stderr, "origin: bad built-in defaults\n");
        return 1;
    }
    /* First pass: options that do not take directives, and the config file. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("origin %s\n", SC_VERSION);
            rc = 0;
            goto out;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = 1;
        } else if ((strcmp(argv[i], "--listen") == 0 || strcmp(argv[i], "--set") == 0 ||
                    strcmp(argv[i], "--log-level") == 0) &&
                   i + 1 < argc) {
            i++;
        } else {
            fprintf(stderr, "origin: unknown or incomplete option '%s' (see --help)\n", argv[i]);
            goto out;
        }
    }
    if (config_path &&
        config_load_file(origin_config_table, origin_config_table_len, &cfg, config_path, err, sizeof(err)) != ST_OK) {
        fprintf(stderr, "origin: %s\n", err);
        goto out;
    }
    if (config_apply_env(origin_config_table, origin_config_table_len, &cfg, "SC_ORIGIN_", err, sizeof(err)) != ST_OK) {
        fprintf(stderr, "origin: %s\n", err);
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *name = NULL, *value = NULL;
        char setbuf[1024];
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        } else if (strcmp(argv[i], "--listen") == 0) {
            name = "rtmp_listen";
            value = argv[++i];
        } else if (strcmp(argv[i], "--log-level") == 0) {
            name = "log_level";
            value = argv[++i];
        } else if (strcmp(argv[i], "--set") == 0) {
            snprintf(setbuf, sizeof(setbuf), "%s", argv[++i]);
            char *eq = strchr(setbuf, '=');
            if (!eq) {
                fprintf(stderr, "origin: --set wants NAME=VALUE, got '%s'\n", setbuf);
                goto out;
            }
            *eq = '\0';
            name = setbuf;
            value = eq + 1;
        } else {
            continue;
        }
        if (config_set(origin_config_table, origin_config_table_len, &cfg, name, value, err, sizeof(err)) != ST_OK) {
            fprintf(stderr, "origin: %s\n", err);
            goto out;
        }
    }
    enum log_level level;
    if (log_parse_level(cfg.log_level, &level) != ST_OK) {
        fprintf(stderr, "origin: log_level: unknown level '%s'\n", cfg.log_level);
        goto out;
    }
    if (check_only) {
        printf("origin: configuration ok\n");
        rc = 0;
        goto out;
    }
    log_set_level(level);
    signal(SIGPIPE, SIG_IGN);

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    struct live_server srv;
    if (live_server_start(&srv, loop, &cfg.live) != ST_OK)
        goto out;
    ev_signal sigterm, sigint;
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_start(loop, &sigterm);
    ev_signal_start(loop, &sigint);
    LOG_INFO("origin %s listening rtmp=%s port=%d", SC_VERSION, cfg.live.rtmp_listen, live_server_port(&srv));
    ev_run(loop, 0);
    live_server_stop(&srv);
    LOG_INFO("origin stopped");
    rc = 0;
out:
    config_free(origin_config_table, origin_config_table_len, &cfg);
    return rc;
}
