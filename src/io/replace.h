/*
** replace.h -- replacing a file whole, safely under concurrency and
** crashes: the new contents go to a temporary file of its own beside the
** target, which is synced and then renamed over the target, and the
** directory is synced after the rename.  A reader sees the old file or
** the new one, never a part of either; two writers of one path each write
** their own temporary, so the last rename wins and no file is ever a mix.
**
** Temporaries are named "<path>.tmp-<pid>-<random>" and created with
** O_EXCL.  One left behind by a writer that died (kill -9, a crash, a
** power cut) is removed by the next save to the same path once no process
** has its pid; one of a live process is left alone.  (Processes sharing a
** directory across hosts or PID namespaces can't be told apart this way:
** there a stale temporary is just ignored.)
*/
#ifndef LT_REPLACE_H
#define LT_REPLACE_H

#include <stdio.h>

typedef struct lt_replace {
  const char *op, *path;    /* for messages: "op: path: ..." */
  char *tmp;                /* the temporary's name */
  FILE *fp;                 /* open for writing */
} lt_replace;

/* create the temporary (and clear dead writers' ones); -1 with lt_err set */
int lt_replace_open(lt_replace *r, const char *op, const char *path);
/* flush, sync and close the temporary, rename it over path, sync the
** directory; on failure the temporary is removed and path is untouched */
int lt_replace_commit(lt_replace *r);
/* give up: close and remove the temporary (NULL-safe after a failed open) */
void lt_replace_abort(lt_replace *r);

#endif
