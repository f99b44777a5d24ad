#include "origin_record.h"

#include "core/log.h"
#include "core/status.h"
#include "record/record_hls.h"
#include "record/record_path.h"
#include "rtmp/rtmp_session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ORIGIN_RECORD_SCAN_SLICE (4u << 20) /* bytes of index scan per loop turn */
#define ORIGIN_RECORD_JSON_MAX (1u << 20)
/* A segment must fit in one HTTP response (http_server's default output cap). */
/* A VOD segment is muxed whole and sent without a copy (not through the
 * HTTP output buffer): 64 MiB holds 4 s of 120 Mbit/s. */
#define ORIGIN_RECORD_SEGMENT_MAX (64u << 20)

struct origin_recording {
    struct record_stream rs;
    struct live_stream *st;
    struct origin_recording *next;
};

/* An HLS request waiting for its file's scan. */
struct origin_record_job {
    struct origin_record *o;
    struct http_server *http;
    struct http_server_handle handle;
    struct origin_record_file *file;
    long segment;          /* -1: the playlist */
    char prefix[RECORD_PATH_COMPONENT_MAX + 2];
    int cache_forever;     /* the file is not being recorded */
    ev_timer timer;
    struct origin_record_job *next;
};

/* --- recording ------------------------------------------------------------ */

void origin_record_publish_started(struct origin_record *o, struct live_stream *st)
{
    const char *apps = o->cfg->record_apps;
    char app[LIVE_KEY_MAX];
    const char *slash = strchr(st->key, '/');
    if (!o->started || !apps || !apps[0] || !slash)
        return;
    snprintf(app, sizeof(app), "%.*s", (int)(slash - st->key), st->key);
    if (!record_path_selected(apps, app, slash + 1))
        return;
    struct origin_recording *r = calloc(1, sizeof(*r));
    if (!r || record_stream_start(&r->rs, &o->writer, &o->settings, &st->fanout, app, slash + 1) != ST_OK) {
        LOG_ERROR("record %s: out of memory; not recording", st->key);
        free(r);
        return;
    }
    r->st = st;
    r->next = o->recs;
    o->recs = r;
    o->recordings_started++;
    LOG_INFO("record start stream=%s dir=%s/%s", st->key, o->settings.root, r->rs.app);
}

void origin_record_publish_stopped(struct origin_record *o, struct live_stream *st)
{
    for (struct origin_recording **pp = &o->recs; *pp; pp = &(*pp)->next) {
        struct origin_recording *r = *pp;
        if (r->st != st)
            continue;
        *pp = r->next;
        int failed = record_stream_failed(&r->rs);
        record_stream_stop(&r->rs);
        o->frames_dropped_done += r->rs.frames_dropped;
        o->overflows_done += r->rs.overflows;
        LOG_INFO("record stop stream=%s files=%u frames=%llu dropped=%llu overflows=%llu%s", st->key, r->rs.files,
                 (unsigned long long)r->rs.frames_queued, (unsigned long long)r->rs.frames_dropped,
                 (unsigned long long)r->rs.overflows, failed ? " (failed: see the error above)" : "");
        free(r);
        return;
    }
}

int origin_record_vod_path(struct origin_record *o, const struct rtmp_session *s, char *path, size_t len,
                           struct rtmp_session_verdict *v)
{
    const char *vod = o->cfg->record_vod_app;
    if (!vod || !vod[0] || strcmp(s->app, vod) != 0)
        return ST_DONE;
    const char *name = s->stream_name;
    if (strncmp(name, "flv:", 4) == 0)
        name += 4;
    char rel[RTMP_SESSION_MAX_NAME * 2 + 2];
    if (s->app_instance[0])
        snprintf(rel, sizeof(rel), "%s/%s", s->app_instance, name);
    else
        snprintf(rel, sizeof(rel), "%s", name);
    if (record_path_resolve(path, len, o->settings.root, rel) != ST_OK) {
        LOG_WARN("play refused: \"%s\" is not a recording name (<app>/<file>)", rel);
        v->code = "NetStream.Play.StreamNotFound";
        v->description = "not a recording name: want <app>/<file>";
        return ST_ERROR;
    }
    return ST_OK;
}

int origin_record_check(const struct origin_config *cfg)
{
    enum record_fsync mode;
    long ms;
    if (record_writer_parse_fsync(cfg->record_fsync ? cfg->record_fsync : "", &mode, &ms) != ST_OK) {
        LOG_ERROR("config: record_fsync: '%s' is not none, rotate or an interval (e.g. 1s, 500ms)",
                  cfg->record_fsync ? cfg->record_fsync : "");
        return ST_ERROR;
    }
    if (!cfg->record_path || !cfg->record_path[0]) {
        LOG_ERROR("config: record_path: must name a directory");
        return ST_ERROR;
    }
    return ST_OK;
}

int origin_record_init(struct origin_record *o, struct ev_loop *loop, const struct origin_config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->loop = loop;
    o->cfg = cfg;
    struct record_writer_settings ws = {.max_frames = ORIGIN_RECORD_QUEUE_FRAMES,
                                        .max_bytes = ORIGIN_RECORD_QUEUE_BYTES,
                                        .mp4 = cfg->record_mp4};
    if (origin_record_check(cfg) != ST_OK)
        return ST_ERROR;
    record_writer_parse_fsync(cfg->record_fsync ? cfg->record_fsync : "", &ws.fsync, &ws.fsync_ms);
    o->settings.root = cfg->record_path;
    o->settings.max_size = cfg->record_max_size;
    o->settings.max_duration = (uint32_t)cfg->record_max_duration;
    if (record_writer_start(&o->writer, &ws) != ST_OK)
        return ST_ERROR;
    o->started = 1;
    if (cfg->record_apps && cfg->record_apps[0])
        LOG_INFO("record: apps=\"%s\" path=%s max_size=%zu max_duration_ms=%ld fsync=%s mp4=%s", cfg->record_apps,
                 cfg->record_path, cfg->record_max_size, cfg->record_max_duration, cfg->record_fsync,
                 cfg->record_mp4 ? "on" : "off");
    return ST_OK;
}

/* --- HTTP ----------------------------------------------------------------- */

static void send_text(struct http_server_request *req, int status, const char *msg)
{
    http_server_send(req, status, "text/plain", msg, strlen(msg), "Cache-Control: no-cache\r\n");
}

static int handle_recordings(struct http_server_request *req, void *ctx)
{
    struct origin_record_route *rt = ctx;
    struct origin_record *o = rt->o;
    struct record_writer_stats *ws = &o->writer.stats;
    struct buf b;
    buf_init(&b, ORIGIN_RECORD_JSON_MAX);
    uint64_t dropped = o->frames_dropped_done, overflows = o->overflows_done;
    for (struct origin_recording *r = o->recs; r; r = r->next) {
        dropped += r->rs.frames_dropped;
        overflows += r->rs.overflows;
    }
    buf_appendf(&b, "{\"apps\":");
    buf_append_json_string(&b, o->cfg->record_apps ? o->cfg->record_apps : "");
    buf_appendf(&b, ",\"path\":");
    buf_append_json_string(&b, o->settings.root);
    buf_appendf(&b,
            ",\"counters\":{\"recordings_started\":%llu,\"files_opened\":%llu,\"files_closed\":%llu,"
            "\"bytes_written\":%llu,\"tags_written\":%llu,\"errors\":%llu,\"fsyncs\":%llu,\"frames_dropped\":%llu,"
            "\"queue_overflows\":%llu,\"hls_playlists\":%llu,\"hls_segments\":%llu,\"hls_errors\":%llu,"
            "\"mp4_files\":%llu,\"mp4_errors\":%llu},\"recordings\":[",
            (unsigned long long)o->recordings_started, (unsigned long long)atomic_load(&ws->files_opened),
            (unsigned long long)atomic_load(&ws->files_closed), (unsigned long long)atomic_load(&ws->bytes_written),
            (unsigned long long)atomic_load(&ws->tags_written), (unsigned long long)atomic_load(&ws->errors),
            (unsigned long long)atomic_load(&ws->fsyncs), (unsigned long long)dropped,
            (unsigned long long)overflows, (unsigned long long)o->hls_playlists,
            (unsigned long long)o->hls_segments, (unsigned long long)o->hls_errors,
            (unsigned long long)atomic_load(&ws->mp4_files), (unsigned long long)atomic_load(&ws->mp4_errors));
    for (struct origin_recording *r = o->recs; r; r = r->next) {
        char path[RECORD_PATH_MAX + 8];
        record_writer_channel_path(&o->writer, r->rs.ch, path, sizeof(path));
        buf_appendf(&b, "%s{\"stream\":", r == o->recs ? "" : ",");
        buf_append_json_string(&b, r->st->key);
        buf_appendf(&b, ",\"file\":");
        buf_append_json_string(&b, path);
        buf_appendf(&b,
                ",\"files\":%u,\"bytes\":%llu,\"frames\":%llu,\"frames_dropped\":%llu,\"queue_overflows\":%llu,"
                "\"errors\":%u,\"failed\":%s,\"started_unix_ms\":%llu}",
                atomic_load(&r->rs.ch->files), (unsigned long long)atomic_load(&r->rs.ch->bytes),
                (unsigned long long)r->rs.frames_queued, (unsigned long long)r->rs.frames_dropped,
                (unsigned long long)r->rs.overflows, atomic_load(&r->rs.ch->errors),
                record_stream_failed(&r->rs) ? "true" : "false", (unsigned long long)r->rs.started_unix_ms);
    }
    buf_appendf(&b, "]}\n");
    http_server_send(req, 200, "application/json", b.data, b.len, "Cache-Control: no-cache\r\n");
    buf_free(&b);
    return ST_OK;
}

/* Whether path is a file being recorded right now. */
static int being_recorded(struct origin_record *o, const char *path)
{
    char cur[RECORD_PATH_MAX + 8];
    for (struct origin_recording *r = o->recs; r; r = r->next) {
        record_writer_channel_path(&o->writer, r->rs.ch, cur, sizeof(cur));
        if (strcmp(cur, path) == 0)
            return 1;
    }
    return 0;
}

static void file_close(struct origin_record_file *f)
{
    if (f->open)
        flv_file_reader_close(&f->r);
    f->open = 0;
    f->path[0] = '\0';
}

/* The cached, possibly still scanning, index of path (stat'ed by the
 * caller). NULL when it cannot be opened (*status says what to answer). */
static struct origin_record_file *file_get(struct origin_record *o, const char *path, const struct stat *sb,
                                           int *status)
{
    int64_t mtime = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    struct origin_record_file *f = NULL, *lru = NULL;
    for (int i = 0; i < ORIGIN_RECORD_FILES; i++) {
        struct origin_record_file *c = &o->files[i];
        if (c->open && strcmp(c->path, path) == 0)
            f = c;
        else if (!c->waiting && (!lru || !c->open || (lru->open && c->used < lru->used)))
            lru = c;
    }
    if (f && (f->size != (uint64_t)sb->st_size || f->mtime_ns != mtime)) {
        if (f->waiting) {
            f->used = ++o->file_clock; /* a scan is in progress: serve it */
            return f;
        }
        file_close(f); /* grew (still recording): scan again */
        lru = f;
        f = NULL;
    }
    if (f) {
        f->used = ++o->file_clock;
        return f;
    }
    if (!lru) {
        *status = 503; /* every slot is being scanned for waiting requests */
        return NULL;
    }
    file_close(lru);
    if (flv_file_reader_open(&lru->r, path, RECORD_HLS_MAX_TAG, 262144) != ST_OK) {
        *status = lru->r.err == ENOENT ? 404 : 500;
        LOG_WARN("vod: cannot read %s: %s%s%s", path, lru->r.error, lru->r.err ? ": " : "",
                 lru->r.err ? strerror(lru->r.err) : "");
        return NULL;
    }
    snprintf(lru->path, sizeof(lru->path), "%s", path);
    lru->size = (uint64_t)sb->st_size;
    lru->mtime_ns = mtime;
    lru->open = 1;
    lru->used = ++o->file_clock;
    return lru;
}

static void answer(struct origin_record *o, struct http_server_request *req, struct origin_record_file *f,
                   long segment, const char *prefix, int cache_forever)
{
    uint32_t target = (uint32_t)o->cfg->record_hls_segment;
    const char *cache = cache_forever ? "Cache-Control: public, max-age=86400\r\n" : "Cache-Control: no-cache\r\n";
    struct buf b;
    if (segment < 0) {
        buf_init(&b, ORIGIN_RECORD_JSON_MAX);
        if (record_hls_count(&f->r, target) == 0) {
            buf_free(&b);
            send_text(req, 404, "recording has no playable segment\n");
            return;
        }
        if (record_hls_playlist(&f->r, target, prefix, &b) != ST_OK) {
            o->hls_errors++;
            buf_free(&b);
            send_text(req, 500, "playlist too large\n");
            return;
        }
        o->hls_playlists++;
        http_server_send(req, 200, "application/vnd.apple.mpegurl", b.data, b.len, cache);
        buf_free(&b);
        return;
    }
    const char *err = NULL;
    buf_init(&b, ORIGIN_RECORD_SEGMENT_MAX);
    int rc = record_hls_segment(&f->r, target, (uint32_t)segment, &b, &err);
    if (rc == ST_DONE) {
        send_text(req, 404, "no such segment\n");
    } else if (rc != ST_OK) {
        o->hls_errors++;
        LOG_WARN("vod: segment %ld of %s: %s", segment, f->path, err ? err : "?");
        send_text(req, 500, "segment cannot be made\n");
    } else {
        o->hls_segments++;
        /* The body goes to the server as is; it frees it once written. */
        uint8_t *body = b.data;
        b.data = NULL;
        http_server_send_shared(req, 200, "video/mp2t", body, b.len, cache, free, body);
    }
    buf_free(&b);
}

static void job_free(struct origin_record_job *j)
{
    struct origin_record *o = j->o;
    ev_timer_stop(o->loop, &j->timer);
    for (struct origin_record_job **pp = &o->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    j->file->waiting--;
    free(j);
}

/* Scan a slice; answer once the index is complete. */
static void job_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct origin_record_job *j = w->data;
    struct origin_record *o = j->o;
    struct http_server_request *req = http_server_request_lookup(j->http, j->handle);
    if (!req) {
        job_free(j); /* the client left (or the 504 went out) */
        return;
    }
    int rc = j->file->r.scan_done ? ST_OK : flv_file_reader_scan(&j->file->r, ORIGIN_RECORD_SCAN_SLICE);
    if (rc == ST_AGAIN)
        return; /* the repeating timer comes back next turn */
    if (rc == ST_ERROR) {
        o->hls_errors++;
        send_text(req, 500, "recording cannot be read\n");
    } else {
        answer(o, req, j->file, j->segment, j->prefix, j->cache_forever);
    }
    job_free(j);
}

/* /vod/<app>/<file>.m3u8 and /vod/<app>/<file>/<n>.ts */
static int handle_vod(struct http_server_request *req, void *ctx)
{
    struct origin_record_route *rt = ctx;
    struct origin_record *o = rt->o;
    const char *p = http_server_request_path(req) + strlen("/vod/");
    const char *s1 = strchr(p, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    char rel[2 * RECORD_PATH_COMPONENT_MAX + 8], prefix[RECORD_PATH_COMPONENT_MAX + 2];
    long segment = -1;
    size_t flen;
    if (!s1) {
        send_text(req, 400, "want /vod/<app>/<file>.m3u8\n");
        return ST_OK;
    }
    const char *file = s1 + 1;
    if (!s2) {
        flen = strlen(file);
        if (flen <= 5 || strcmp(file + flen - 5, ".m3u8") != 0) {
            send_text(req, 400, "want /vod/<app>/<file>.m3u8\n");
            return ST_OK;
        }
        flen -= 5;
    } else {
        char *end;
        flen = (size_t)(s2 - file);
        errno = 0;
        segment = strtol(s2 + 1, &end, 10);
        if (s2[1] < '0' || s2[1] > '9' || errno || strcmp(end, ".ts") != 0 || segment < 0 || segment > 100000000) {
            send_text(req, 400, "want /vod/<app>/<file>/<n>.ts\n");
            return ST_OK;
        }
    }
    char path[RECORD_PATH_MAX];
    size_t alen = (size_t)(s1 - p);
    if (!record_path_component_ok(p, alen) || !record_path_component_ok(file, flen) ||
        snprintf(rel, sizeof(rel), "%.*s/%.*s", (int)alen, p, (int)flen, file) >= (int)sizeof(rel) ||
        record_path_resolve(path, sizeof(path), o->settings.root, rel) != ST_OK) {
        send_text(req, 400, "not a recording name\n");
        return ST_OK;
    }
    snprintf(prefix, sizeof(prefix), "%.*s/", (int)flen, file);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        send_text(req, 404, "no such recording\n");
        return ST_OK;
    }
    int status = 500;
    struct origin_record_file *f = file_get(o, path, &sb, &status);
    if (!f) {
        send_text(req, status, status == 404 ? "no such recording\n" : "recording cannot be read\n");
        return ST_OK;
    }
    int forever = !being_recorded(o, path);
    int rc = f->r.scan_done ? ST_OK : flv_file_reader_scan(&f->r, ORIGIN_RECORD_SCAN_SLICE);
    if (rc == ST_OK) {
        answer(o, req, f, segment, prefix, forever);
        return ST_OK;
    }
    if (rc == ST_ERROR) {
        o->hls_errors++;
        file_close(f);
        send_text(req, 500, "recording cannot be read\n");
        return ST_OK;
    }
    struct origin_record_job *j = calloc(1, sizeof(*j));
    if (!j) {
        send_text(req, 500, "out of memory\n");
        return ST_OK;
    }
    j->o = o;
    j->http = rt->http;
    j->handle = http_server_request_handle(req);
    j->file = f;
    j->segment = segment;
    j->cache_forever = forever;
    snprintf(j->prefix, sizeof(j->prefix), "%s", prefix);
    f->waiting++;
    ev_timer_init(&j->timer, job_cb, 0.0, 0.001);
    j->timer.data = j;
    ev_timer_start(o->loop, &j->timer);
    j->next = o->jobs;
    o->jobs = j;
    return HTTP_SERVER_ASYNC;
}

int origin_record_routes(struct origin_record *o, struct http_server *http)
{
    if (o->nroutes >= ORIGIN_RECORD_ROUTES)
        return ST_ERROR;
    struct origin_record_route *rt = &o->routes[o->nroutes++];
    rt->o = o;
    rt->http = http;
    unsigned get = HTTP_SERVER_GET | HTTP_SERVER_HEAD;
    if (http_server_route(http, "/v1/recordings", get, handle_recordings, rt) != ST_OK ||
        http_server_route(http, "/vod/*", get, handle_vod, rt) != ST_OK) {
        LOG_ERROR("record: cannot add the /v1/recordings and /vod/ routes");
        return ST_ERROR;
    }
    return ST_OK;
}

void origin_record_stop(struct origin_record *o)
{
    if (!o->started)
        return;
    while (o->jobs)
        job_free(o->jobs);
    /* Recordings still listed (the live server was not stopped): end them. */
    while (o->recs)
        origin_record_publish_stopped(o, o->recs->st);
    record_writer_stop(&o->writer);
    for (int i = 0; i < ORIGIN_RECORD_FILES; i++)
        file_close(&o->files[i]);
    o->started = 0;
}
