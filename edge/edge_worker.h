/*
 * edge_worker: one edge worker process: an RTMP server (SO_REUSEPORT, shared
 * with its sibling workers) whose streams come from origins through the
 * directory and ZeroMQ subscriptions, with the shared-frame fan-out to its
 * players. Workers share nothing but the listening port.
 *
 * Streams are joined on demand (first player), rebased onto the timeline the
 * players already saw when the origin or publisher changes (epoch), and left
 * after a linger once the last player is gone.
 *
 * Runs its own loop until SIGTERM/SIGINT; returns the process exit code.
 */
#ifndef SC_EDGE_WORKER_H
#define SC_EDGE_WORKER_H

#include "edge_config.h"

/* cfg is the worker's own copy (after fork), reloaded in place on SIGHUP
 * from argc/argv; SIGTERM starts a drain (stop accepting, serve current
 * players up to drain_timeout), a second SIGTERM or SIGINT stops at once. */
int edge_worker_run(struct edge_config *cfg, int index, const char *edge_id, int argc, char **argv);

#endif
