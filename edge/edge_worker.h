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

int edge_worker_run(const struct edge_config *cfg, int index, const char *edge_id);

#endif
