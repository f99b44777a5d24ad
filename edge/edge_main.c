/*
 * edge: the player-facing process. A master forks one worker per core (or
 * `workers`), restarts a worker that dies, and passes SIGTERM/SIGINT on so
 * workers finish and exit. Workers share the listening port through
 * SO_REUSEPORT and nothing else (edge_worker.h).
 */
#include "cluster/cluster_directory.h"
#include "core/cli.h"
#include "core/log.h"
#include "core/status.h"
#include "net/net_tls.h"
#include "edge_config.h"
#include "edge_worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EDGE_MAX_WORKERS 256

static volatile sig_atomic_t edge_stop_signal;
static volatile sig_atomic_t edge_child_signal;
static volatile sig_atomic_t edge_hup_signal;

static void on_stop(int sig) { edge_stop_signal = sig; }
static void on_child(int sig) { edge_child_signal = 1; }
static void on_hup(int sig) { edge_hup_signal = 1; }

static int saved_argc;
static char **saved_argv;

static pid_t spawn_worker(struct edge_config *cfg, int index, const char *edge_id, const sigset_t *oldmask)
{
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* A worker outliving its master would keep serving on the shared port
     * beside a restarted edge: stop at once when the master goes. */
    prctl(PR_SET_PDEATHSIG, SIGINT);
    if (getppid() != master)
        _exit(0);
    /* Child: plain signal dispositions; the worker's loop installs its own. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    _exit(edge_worker_run(cfg, index, edge_id, saved_argc, saved_argv));
}

int main(int argc, char **argv)
{
    static struct edge_config cfg;
    size_t n;
    const struct config_directive *table = edge_config_table(&n);
    saved_argc = argc;
    saved_argv = argv;
    int rc = cli_load_settings("edge", argc, argv, table, n, &cfg, "SC_EDGE_", edge_config_check);
    if (rc != ST_OK) {
        config_free(table, n, &cfg);
        return rc == ST_DONE ? 0 : 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Workers share the port: each binds it with SO_REUSEPORT. Edges take no publishers. */
    cfg.live.reuse_port = 1;
    cfg.live.allow_publish = 0;
    cfg.live.allow_play = 1;
    int nworkers = cfg.workers > 0 ? (int)cfg.workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nworkers < 1)
        nworkers = 1;
    if (nworkers > EDGE_MAX_WORKERS)
        nworkers = EDGE_MAX_WORKERS;
    char edge_id[CLUSTER_ID_MAX];
    if (cfg.node.node_id && cfg.node.node_id[0]) {
        snprintf(edge_id, sizeof(edge_id), "%s", cfg.node.node_id);
    } else {
        char host[64] = "localhost";
        gethostname(host, sizeof(host) - 1);
        const char *port = strrchr(cfg.live.rtmp_listen, ':');
        snprintf(edge_id, sizeof(edge_id), "edge-%s-%s", host, port ? port + 1 : "1935");
    }

    /* A bad certificate would make every worker fail at start and be
     * restarted forever: check it once here and refuse to start. */
    if ((cfg.live.rtmps_listen && cfg.live.rtmps_listen[0]) || (cfg.https_listen && cfg.https_listen[0])) {
        struct net_tls_context *tls = NULL;
        char err[512];
        if (net_tls_context_new(&tls, cfg.live.tls_cert, cfg.live.tls_key, err, sizeof(err)) != ST_OK) {
            fprintf(stderr, "edge: %s\n", err);
            config_free(table, n, &cfg);
            return 1;
        }
        net_tls_context_free(tls);
    }

    /* Signals are blocked except inside sigsuspend, so none is lost between
     * checking the flags and waiting. */
    sigset_t block, oldmask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGCHLD);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);

    pid_t pids[EDGE_MAX_WORKERS];
    time_t started[EDGE_MAX_WORKERS];
    for (int i = 0; i < nworkers; i++) {
        pids[i] = spawn_worker(&cfg, i, edge_id, &oldmask);
        started[i] = time(NULL);
    }
    LOG_INFO("edge %s master pid=%d node=%s workers=%d rtmp=%s", SC_VERSION, (int)getpid(), edge_id, nworkers,
             cfg.live.rtmp_listen);
    while (!edge_stop_signal) {
        sigsuspend(&oldmask);
        if (edge_hup_signal) {
            /* Reload our copy (for workers started later) and tell the workers. */
            edge_hup_signal = 0;
            cli_reload_settings("edge", argc, argv, table, n, &cfg, sizeof(cfg), edge_config_check);
            cfg.live.reuse_port = 1;
            cfg.live.allow_publish = 0;
            for (int i = 0; i < nworkers; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGHUP);
        }
        if (!edge_child_signal)
            continue;
        edge_child_signal = 0;
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < nworkers; i++) {
                if (pids[i] != pid)
                    continue;
                if (edge_stop_signal)
                    break;
                LOG_WARN("edge: worker %d (pid %d) died (%s %d); restarting", i, (int)pid,
                         WIFSIGNALED(status) ? "signal" : "exit",
                         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                /* A worker that dies at once would spin: back off a second. */
                if (time(NULL) - started[i] < 1)
                    sleep(1);
                pids[i] = spawn_worker(&cfg, i, edge_id, &oldmask);
                started[i] = time(NULL);
            }
        }
    }
    LOG_INFO("edge: signal %d, stopping %d workers", (int)edge_stop_signal, nworkers);
    for (int i = 0; i < nworkers; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    /* Workers drain for up to drain_timeout; give them that and 5 s more, then insist. */
    time_t deadline = time(NULL) + cfg.drain_timeout / 1000 + 5;
    int alive = nworkers;
    while (alive > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            alive--;
            continue;
        }
        if (pid < 0 && errno == ECHILD)
            break;
        if (time(NULL) > deadline) {
            for (int i = 0; i < nworkers; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGKILL);
            deadline = time(NULL) + 5;
        }
        usleep(20000);
    }
    LOG_INFO("edge stopped");
    config_free(table, n, &cfg);
    return 0;
}
