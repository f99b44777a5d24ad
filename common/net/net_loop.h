/*
 * net_loop: small helpers around a libev loop shared by the binaries.
 */
#ifndef SC_NET_LOOP_H
#define SC_NET_LOOP_H

#include <ev.h>

/* Run the loop until nothing but signal-free housekeeping is left, at most
 * max_seconds: lets asynchronous goodbyes (directory deletes, final writes)
 * go out after the owner stopped its watchers. Call on shutdown only. */
void net_loop_settle(struct ev_loop *loop, double max_seconds);

#endif
