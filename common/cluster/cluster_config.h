/*
 * cluster_config: directives every cluster node has (directory address,
 * node identity, heartbeat), shared by origin and edge like live_config.h.
 */
#ifndef SC_CLUSTER_CONFIG_H
#define SC_CLUSTER_CONFIG_H

#include "core/config.h"

#include <stddef.h>

struct cluster_node_settings {
    char *node_id;        /* empty = <role>-<hostname>-<rtmp port> */
    char *redis;          /* HOST:PORT */
    char *redis_prefix;
    char *advertise_host; /* address other nodes and clients use for this node */
    long node_ttl;        /* ms */
    long heartbeat;       /* ms */
};

/* Append the directives (see live_config_append for the contract). */
int cluster_config_append(struct config_directive *table, size_t cap, size_t *n, size_t base);

#endif
