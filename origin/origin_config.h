/*
 * origin_config: the origin's settings and their directive table (the one
 * reference for every directive; deploy/origin.conf is generated from the
 * same help texts). Boot-time only.
 */
#ifndef SC_ORIGIN_CONFIG_H
#define SC_ORIGIN_CONFIG_H

#include "core/config.h"
#include "live/live_server.h"

struct origin_config {
    struct live_settings live;
    char *log_level;
};

extern const struct config_directive origin_config_table[];
extern const size_t origin_config_table_len;

#endif
