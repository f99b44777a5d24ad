/*
 * flv_file_writer: one FLV file being written, with blocking calls meant
 * for a writer thread (record_writer.h), never for an event loop.
 *
 * Crash safety: the FLV header goes first, then every tag is written whole
 * with one writev (11-byte header, body, previous-tag size), so a file cut
 * by a crash or a kill -9 ends at a tag boundary or inside the last tag,
 * which a reader drops (flv_file_reader.h). Nothing is patched afterwards:
 * no duration, no index, no seeking back. A short write (disk full) is
 * undone with ftruncate so the file still ends at a tag boundary.
 *
 * Names: open creates missing directories (0755) and the file (0644) with
 * O_EXCL; when the name exists (two files started in the same second) it
 * tries "<base>-1.flv" up to "<base>-99.flv". w->path is the name used.
 *
 * Errors: ST_ERROR with w->err (errno) and w->error (static: the operation
 * that failed); the caller logs once and gives up on the file. Ownership:
 * the caller embeds the struct; close releases the fd.
 */
#ifndef SC_FLV_FILE_WRITER_H
#define SC_FLV_FILE_WRITER_H

#include "record/record_path.h"

#include <stdint.h>

struct flv_file_writer {
    int fd;               /* -1 when closed */
    uint64_t bytes;       /* written to this file, header included */
    uint64_t synced;      /* bytes at the last fsync */
    char path[RECORD_PATH_MAX + 8];
    int err;              /* errno of the last failure */
    const char *error;    /* static: what failed */
};

/* Start closed. */
void flv_file_writer_init(struct flv_file_writer *w);
/* Create path (see above) and write the FLV header. ST_OK or ST_ERROR. */
int flv_file_writer_open(struct flv_file_writer *w, const char *path, int has_audio, int has_video);
/* Append one tag. ST_OK or ST_ERROR (nothing of it left in the file). */
int flv_file_writer_write(struct flv_file_writer *w, uint8_t type, uint32_t timestamp, const uint8_t *body,
                          uint32_t len);
/* fdatasync if anything was written since the last one. ST_OK/ST_ERROR. */
int flv_file_writer_sync(struct flv_file_writer *w);
/* Close (after a sync when sync != 0). ST_OK, or ST_ERROR when the sync or
 * close failed (the fd is released either way). No-op when closed. */
int flv_file_writer_close(struct flv_file_writer *w, int sync);

/* mkdir -p of the directory part of path (everything before the last '/').
 * ST_OK or ST_ERROR with errno set. */
int flv_file_writer_mkdirs(const char *path);

#endif
