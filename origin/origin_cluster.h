/*
 * origin_cluster: what makes an origin part of the cluster: it claims each
 * published stream in the directory (waiting up to claim_wait for a claim
 * another origin holds), replicates every frame on its PUB socket with the
 * stream's epoch and sequence number, serves snapshots to joining edges, and
 * stops a local publisher whose claim was lost.
 *
 * Ownership: embedded in the origin's main; start/stop bracket the loop.
 * Claim requests are small heap objects owned by their retry timer until
 * their callback completes them. Loop-confined.
 */
#ifndef SC_ORIGIN_CLUSTER_H
#define SC_ORIGIN_CLUSTER_H

#include "cluster/cluster_directory.h"
#include "cluster/cluster_publisher.h"
#include "live/live_server.h"
#include "origin_config.h"

struct origin_claim;

struct origin_cluster {
    struct live_server *srv;
    const struct origin_config *cfg;
    struct cluster_publisher pub;
    struct cluster_directory dir;
    struct origin_claim *claims; /* pending claims */
    ev_timer load_timer;
    uint64_t last_bytes_out; /* for the out-bps figure reported each second */
    char node_id[CLUSTER_ID_MAX];
    int started;
};

/* Fill the hooks the live server must call. */
void origin_cluster_hooks(struct origin_cluster *oc, struct live_hooks *hooks);
/* Bind ZeroMQ sockets and start the directory client. ST_OK or ST_ERROR. */
int origin_cluster_start(struct origin_cluster *oc, struct ev_loop *loop, struct live_server *srv,
                         const struct origin_config *cfg);
void origin_cluster_stop(struct origin_cluster *oc);

#endif
