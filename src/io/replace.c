/*
** replace.c -- replacing a file whole through a temporary of its own (see
** replace.h for the guarantees).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replace.h"
#include "tensor.h"
#include "alloc.h"

#define RP_TRIES 64        /* names tried before O_EXCL is taken as failing */

/* the directory part of path ("." when there is none) into a new string */
static char *rp_dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  size_t n = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
  char *d = lt_malloc(n + 1);
  if (d == NULL) return NULL;
  memcpy(d, slash == NULL ? "." : path, n);
  d[n] = '\0';
  return d;
}

static const char *rp_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* bits for a temporary's name: not lunet's generator, which the user seeds */
static uint64_t rp_random(void) {
  static uint64_t counter = 0;
  struct timespec ts;
  uint64_t z;
  clock_gettime(CLOCK_REALTIME, &ts);
  z = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (++counter << 48) ^
      (uint64_t)(uintptr_t)&counter;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;   /* splitmix64's finaliser */
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/*
** Remove the temporaries "<base>.tmp-<pid>-<hex>" in dir whose writer is
** gone: kill(pid, 0) fails with ESRCH.  Best effort: nothing here fails
** the save.
*/
static void rp_clear_stale(const char *dir, const char *base) {
  size_t blen = strlen(base);
  struct dirent *e;
  DIR *d = opendir(dir);
  if (d == NULL) return;
  while ((e = readdir(d)) != NULL) {
    const char *s = e->d_name;
    char *end, *full;
    long pid;
    if (strncmp(s, base, blen) != 0 || strncmp(s + blen, ".tmp-", 5) != 0) continue;
    pid = strtol(s + blen + 5, &end, 10);
    if (end == s + blen + 5 || *end != '-' || pid <= 0 || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    if ((full = lt_malloc(strlen(dir) + strlen(s) + 2)) == NULL) break;
    sprintf(full, "%s/%s", dir, s);
    unlink(full);
    free(full);
  }
  closedir(d);
}

int lt_replace_open(lt_replace *r, const char *op, const char *path) {
  char *dir = rp_dirname(path);
  size_t len = strlen(path) + 64;
  int fd = -1, i;
  r->op = op;
  r->path = path;
  r->fp = NULL;
  if (dir == NULL || (r->tmp = lt_malloc(len)) == NULL) {
    free(dir);
    r->tmp = NULL;
    lt_err("%s: %s: out of memory", op, path);
    return -1;
  }
  rp_clear_stale(dir, rp_basename(path));
  free(dir);
  for (i = 0; i < RP_TRIES && fd < 0; i++) {
    snprintf(r->tmp, len, "%s.tmp-%ld-%012llx", path, (long)getpid(),
             (unsigned long long)(rp_random() & 0xffffffffffffull));
    fd = open(r->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0 || (r->fp = fdopen(fd, "wb")) == NULL) {
    /* the temporary is ours, not the user's: the message names the path */
    lt_err("%s: %s: cannot create it: %s", op, path, strerror(errno));
    if (fd >= 0) { close(fd); unlink(r->tmp); }
    free(r->tmp);
    r->tmp = NULL;
    return -1;
  }
  return 0;
}

/* after the rename, make it durable: the new directory entry is only on
** disk once the directory is synced (some file systems can't: EINVAL) */
static int rp_sync_dir(const char *path) {
  char *dir = rp_dirname(path);
  int fd, err = 0;
  if (dir == NULL) return 0;
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    if (fsync(fd) != 0 && errno != EINVAL) err = errno;
    close(fd);
  }
  free(dir);
  return err;   /* an errno, 0 when synced */
}

int lt_replace_commit(lt_replace *r) {
  FILE *fp = r->fp;
  int bad, err;
  r->fp = NULL;
  bad = fflush(fp) != 0 || fsync(fileno(fp)) != 0;
  if (fclose(fp) != 0 || bad) {
    lt_err("%s: %s: write failed: %s", r->op, r->path, strerror(errno));
    lt_replace_abort(r);
    return -1;
  }
  if (rename(r->tmp, r->path) != 0) {
    lt_err("%s: %s: cannot replace it: %s", r->op, r->path, strerror(errno));
    lt_replace_abort(r);
    return -1;
  }
  free(r->tmp);
  r->tmp = NULL;
  if ((err = rp_sync_dir(r->path)) != 0) {
    lt_err("%s: %s: written, but syncing its directory failed: %s", r->op, r->path,
           strerror(err));
    return -1;
  }
  return 0;
}

void lt_replace_abort(lt_replace *r) {
  if (r->fp) fclose(r->fp);
  r->fp = NULL;
  if (r->tmp) unlink(r->tmp);
  free(r->tmp);
  r->tmp = NULL;
}
