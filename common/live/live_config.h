/*
 * live_config: the directives of struct live_settings, shared by the origin
 * and the edge so both parse, document and validate them the same way.
 *
 * live_config_append copies the directives into a process's table, shifting
 * each offset by where the live_settings sits inside that process's config
 * struct. Boot-time only.
 */
#ifndef SC_LIVE_CONFIG_H
#define SC_LIVE_CONFIG_H

#include "core/config.h"
#include "live/live_server.h"

/* Append the live directives to table (capacity cap, *n used so far); base is
 * offsetof(process config, live settings member). Returns ST_OK or ST_ERROR
 * (table too small). defaults_listen is the default of rtmp_listen. */
int live_config_append(struct config_directive *table, size_t cap, size_t *n, size_t base);
/* Append the publisher authorization directives (publish_secret,
 * publish_keys_file, publish_allow/deny, on_publish): origin only. Same
 * convention. */
int live_config_append_publish_auth(struct config_directive *table, size_t cap, size_t *n, size_t base);

#endif
