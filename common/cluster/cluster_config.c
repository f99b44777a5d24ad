#include "cluster/cluster_config.h"

#include "core/status.h"

#define F(f) offsetof(struct cluster_node_settings, f)

static const struct config_directive cluster_directives[] = {
    {"node_id", CONFIG_STRING, F(node_id), "", 0, 0,
     "unique node id in the directory (empty: <role>-<hostname>-<rtmp port>)", 0},
    {"redis", CONFIG_ADDR, F(redis), "127.0.0.1:6379", 0, 0, "Redis directory address HOST:PORT", 0},
    {"redis_prefix", CONFIG_STRING, F(redis_prefix), "sc:", 0, 0,
     "prefix of every directory key, so clusters can share a Redis", 0},
    {"advertise_host", CONFIG_STRING, F(advertise_host), "127.0.0.1", 0, 0,
     "host or address other nodes and redirected clients use to reach this node", 0},
    {"node_ttl", CONFIG_MS, F(node_ttl), "3s", 500, 600000,
     "lifetime of the node record; a node silent this long counts as dead", 0},
    {"heartbeat", CONFIG_MS, F(heartbeat), "1s", 100, 60000,
     "interval of directory refreshes (claims, node record, load)", 0},
};

int cluster_config_append(struct config_directive *table, size_t cap, size_t *n, size_t base)
{
    return config_append_table(table, cap, n, cluster_directives, sizeof(cluster_directives) / sizeof(cluster_directives[0]), base);
}
