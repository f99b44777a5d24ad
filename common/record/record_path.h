/*
 * record_path: the names of recording files, and the checks that keep every
 * name a client or an HTTP request chooses inside record_path.
 *
 * Layout: <root>/<app>/<name>-<YYYYmmdd-HHMMSS>.flv, the time in UTC when
 * the file was started. Client-chosen parts (app, stream name) are made safe
 * before they become a path component: every byte outside [A-Za-z0-9._-]
 * becomes '_', and so does a leading '.', so "..", ".hidden" and "a/b" can
 * never leave their directory. A played name ("<app>/<file>") is accepted
 * only when each component is already in that safe form, so what a player
 * asks for is exactly a file a recorder could have written.
 *
 * Pure string functions: no I/O, no allocation, callable from any thread.
 * Outputs are caller buffers; ST_ERROR when a result does not fit.
 */
#ifndef SC_RECORD_PATH_H
#define SC_RECORD_PATH_H

#include <stddef.h>
#include <time.h>

#define RECORD_PATH_MAX 1024
#define RECORD_PATH_COMPONENT_MAX 200 /* bytes of one sanitized component */

/* Copy `in` into out (len >= 2) in the safe form described above, cut at
 * RECORD_PATH_COMPONENT_MAX and len - 1 bytes; an empty input gives "_". */
void record_path_sanitize(const char *in, char *out, size_t len);

/* Whether s[0..n) is one safe component: 1..RECORD_PATH_COMPONENT_MAX bytes
 * of [A-Za-z0-9._-], not starting with '.'. */
int record_path_component_ok(const char *s, size_t n);

/* "<root>/<app>/<name>-<YYYYmmdd-HHMMSS>.flv" with app and name sanitized
 * and t formatted in UTC. ST_OK or ST_ERROR (does not fit in len). */
int record_path_build(char *out, size_t len, const char *root, const char *app, const char *name, time_t t);

/* The file a played name refers to: rel is "<app>/<file>" or
 * "<app>/<file>.flv" (ffmpeg strips ".flv" from RTMP URLs, other clients
 * keep it), each component safe. out = "<root>/<app>/<file>.flv". ST_OK, or
 * ST_ERROR when rel is not of that form (traversal, absolute path, other
 * characters) or the result does not fit. */
int record_path_resolve(char *out, size_t len, const char *root, const char *rel);

/* Whether stream app/name is selected by a record_apps list: entries
 * separated by commas or spaces, each "app" (every stream of that app),
 * "app/name" (one stream) or "*" (everything). An empty list selects
 * nothing. */
int record_path_selected(const char *list, const char *app, const char *name);

#endif
