/*
** fuzz_safetensors.c -- libFuzzer harness for the safetensors loader
** (make fuzz).  The input is a whole file, loaded through a memory file
** (/proc/self/fd of a memfd, so no disk is touched).  Every input must
** load or fail with "load: PATH: ..."; a file that loads must survive a
** round trip through the saver bit for bit (names, shapes, values,
** metadata); and no tensor byte may outlive the input.
*/
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "safetensors.h"

static int fz_fd = -1;
static char fz_path[64], fz_out[256];

static void fz_init(void) {
  const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  fz_fd = memfd_create("lunet-fuzz", 0);
  if (fz_fd < 0) abort();
  snprintf(fz_path, sizeof fz_path, "/proc/self/fd/%d", fz_fd);
  snprintf(fz_out, sizeof fz_out, "%s/lunet-fuzz-%ld.safetensors", dir, (long)getpid());
}

static void fz_write(const uint8_t *data, size_t size) {
  if (ftruncate(fz_fd, 0) != 0 || pwrite(fz_fd, data, size, 0) != (ssize_t)size) abort();
}

/* the two files hold the same names, shapes, dtypes, bits and metadata */
static void fz_same(const lt_st_file *a, const lt_st_file *b) {
  int i, k;
  if (a->n != b->n || a->nmeta != b->nmeta) abort();
  for (i = 0; i < a->n; i++) {
    const lt_tensor *x = a->items[i].t, *y = NULL;
    for (k = 0; k < b->n && y == NULL; k++)
      if (strcmp(a->items[i].name, b->items[k].name) == 0) y = b->items[k].t;
    if (y == NULL || !lt_same_shape(x, y) || lt_dtypeof(x) != lt_dtypeof(y) ||
        memcmp(lt_ptr(x), lt_ptr(y), (size_t)lt_numel(x) * lt_dtype_size(lt_dtypeof(x))) != 0)
      abort();
  }
  for (i = 0; i < a->nmeta; i++) {
    int found = 0;
    for (k = 0; k < b->nmeta; k++)
      found |= strcmp(a->meta[i].key, b->meta[k].key) == 0 &&
               strcmp(a->meta[i].value, b->meta[k].value) == 0;
    if (!found) abort();
  }
}

static void fz_roundtrip(const lt_st_file *f) {
  const char **names = malloc((size_t)(f->n + 1) * sizeof *names);
  lt_tensor **ts = malloc((size_t)(f->n + 1) * sizeof *ts);
  const char **keys = malloc((size_t)(f->nmeta + 1) * sizeof *keys);
  const char **vals = malloc((size_t)(f->nmeta + 1) * sizeof *vals);
  lt_st_file *g;
  int i;
  if (!names || !ts || !keys || !vals) abort();
  for (i = 0; i < f->n; i++) { names[i] = f->items[i].name; ts[i] = f->items[i].t; }
  for (i = 0; i < f->nmeta; i++) { keys[i] = f->meta[i].key; vals[i] = f->meta[i].value; }
  if (lt_st_save(fz_out, f->n, names, ts, f->nmeta, keys, vals) != 0) abort();
  if ((g = lt_st_load(fz_out)) == NULL) abort();
  fz_same(f, g);
  lt_st_free(g);
  free(names); free(ts); free(keys); free(vals);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lt_st_file *f;
  if (fz_fd < 0) fz_init();
  fz_write(data, size);
  lt_err("%s", "");
  f = lt_st_load(fz_path);
  if (f == NULL) {
    char want[80];
    snprintf(want, sizeof want, "load: %s: ", fz_path);
    if (strncmp(lt_errmsg(), want, strlen(want)) != 0) abort();
  } else {
    fz_roundtrip(f);
    lt_st_free(f);
  }
  if (lt_mem_live() != 0) abort();   /* every tensor of the input released */
  return 0;
}
