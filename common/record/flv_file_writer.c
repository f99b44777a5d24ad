#include "record/flv_file_writer.h"

#include "core/buf.h"
#include "core/status.h"
#include "flv/flv_tag.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define FLV_FILE_WRITER_MAX_SUFFIX 99

static int fail(struct flv_file_writer *w, const char *what, int err)
{
    w->error = what;
    w->err = err;
    return ST_ERROR;
}

void flv_file_writer_init(struct flv_file_writer *w)
{
    memset(w, 0, sizeof(*w));
    w->fd = -1;
}

int flv_file_writer_mkdirs(const char *path)
{
    char dir[RECORD_PATH_MAX + 8];
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return ST_OK;
    size_t n = (size_t)(slash - path);
    if (n >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return ST_ERROR;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    for (char *p = dir + 1;; p++) {
        int last = *p == '\0';
        if (*p == '/' || last) {
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                return ST_ERROR;
            if (last)
                return ST_OK;
            *p = '/';
        }
    }
}

/* Write all of iov; on a short write, cut the file back to `keep`. */
static int write_all(struct flv_file_writer *w, struct iovec *iov, int n, size_t total)
{
    size_t done = 0;
    while (done < total) {
        ssize_t k = writev(w->fd, iov, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int e = k < 0 ? errno : ENOSPC;
            if (done && ftruncate(w->fd, (off_t)w->bytes) != 0) {
                /* Keep the write error: it is the one worth logging. */
            }
            return fail(w, "write", e);
        }
        done += (size_t)k;
        /* A regular file takes all of it unless the disk is full; finish a
         * partial write in place before deciding. */
        size_t skip = (size_t)k;
        while (n > 0 && skip >= iov[0].iov_len) {
            skip -= iov[0].iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov[0].iov_base = (uint8_t *)iov[0].iov_base + skip;
            iov[0].iov_len -= skip;
        }
    }
    w->bytes += total;
    return ST_OK;
}

int flv_file_writer_open(struct flv_file_writer *w, const char *path, int has_audio, int has_video)
{
    flv_file_writer_init(w);
    size_t n = strlen(path);
    if (n + 8 > sizeof(w->path))
        return fail(w, "path too long", ENAMETOOLONG);
    memcpy(w->path, path, n + 1);
    if (flv_file_writer_mkdirs(path) != ST_OK)
        return fail(w, "mkdir", errno);
    size_t base = n > 4 && strcmp(path + n - 4, ".flv") == 0 ? n - 4 : n;
    for (int i = 0; i <= FLV_FILE_WRITER_MAX_SUFFIX; i++) {
        if (i > 0)
            snprintf(w->path + base, sizeof(w->path) - base, "-%d%s", i, path + base);
        w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (w->fd >= 0 || errno != EEXIST)
            break;
    }
    if (w->fd < 0)
        return fail(w, "open", errno);
    uint8_t h[FLV_HEADER_SIZE + 4] = {'F', 'L', 'V', 1};
    h[4] = (uint8_t)((has_audio ? 4 : 0) | (has_video ? 1 : 0));
    wr_be32(h + 5, FLV_HEADER_SIZE);
    struct iovec iov = {h, sizeof(h)};
    if (write_all(w, &iov, 1, sizeof(h)) != ST_OK) {
        int e = w->err;
        close(w->fd);
        w->fd = -1;
        return fail(w, "write", e);
    }
    return ST_OK;
}

int flv_file_writer_write(struct flv_file_writer *w, uint8_t type, uint32_t timestamp, const uint8_t *body,
                          uint32_t len)
{
    if (w->fd < 0)
        return fail(w, "write", EBADF);
    if (len > 0xffffffu)
        return fail(w, "tag too large", EFBIG);
    uint8_t head[FLV_TAG_HEADER_SIZE], tail[4];
    flv_tag_write_tag_header(head, type, timestamp, len);
    wr_be32(tail, FLV_TAG_HEADER_SIZE + len);
    struct iovec iov[3] = {{head, sizeof(head)}, {(void *)body, len}, {tail, sizeof(tail)}};
    return write_all(w, iov, 3, sizeof(head) + len + sizeof(tail));
}

int flv_file_writer_sync(struct flv_file_writer *w)
{
    if (w->fd < 0 || w->synced == w->bytes)
        return ST_OK;
    if (fdatasync(w->fd) != 0)
        return fail(w, "fsync", errno);
    w->synced = w->bytes;
    return ST_OK;
}

int flv_file_writer_close(struct flv_file_writer *w, int sync)
{
    if (w->fd < 0)
        return ST_OK;
    int rc = sync ? flv_file_writer_sync(w) : ST_OK;
    if (close(w->fd) != 0 && rc == ST_OK)
        rc = fail(w, "close", errno);
    w->fd = -1;
    return rc;
}
