/*
** safetensors_save.c -- writing a checkpoint: the JSON header built in
** memory, tensors sorted by element size (largest first) and name, each
** written little-endian in its own dtype (F32, I64, I32, U8, BOOL) in
** logical order, all through a temporary file and a rename (replace.c).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors_int.h"
#include "replace.h"
#include "utf8.h"
#include "alloc.h"

/* ------------------------------------------------------------------ save */

/* a growable byte buffer; `oom` sticks so callers check once at the end */
typedef struct st_buf {
  char *p;
  size_t n, cap;
  int oom;
} st_buf;

static void sb_add(st_buf *b, const char *s, size_t len) {
  if (b->oom) return;
  if (b->cap - b->n < len + 1) {
    size_t ncap = b->cap ? b->cap : 256;
    char *p;
    while (ncap - b->n < len + 1) ncap *= 2;
    if ((p = lt_realloc(b->p, ncap)) == NULL) { b->oom = 1; return; }
    b->p = p;
    b->cap = ncap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
}

static void sb_lit(st_buf *b, const char *s) {
  sb_add(b, s, strlen(s));
}

static void sb_int(st_buf *b, int64_t v) {
  char s[32];
  sb_add(b, s, (size_t)snprintf(s, sizeof s, "%lld", (long long)v));
}

/* a JSON string: quote, backslash and control bytes escaped, others raw */
static void sb_str(st_buf *b, const char *s) {
  sb_lit(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char e[8];
    if (c == '"') sb_lit(b, "\\\"");
    else if (c == '\\') sb_lit(b, "\\\\");
    else if (c < 0x20) {
      snprintf(e, sizeof e, "\\u%04x", c);
      sb_lit(b, e);
    } else sb_add(b, (const char *)&c, 1);
  }
  sb_lit(b, "\"");
}

/* sort keys: a string, an element size, and where they came from */
typedef struct st_key {
  const char *s;
  int size, i;
} st_key;

static int st_cmp_skey(const void *a, const void *b) {
  return strcmp(((const st_key *)a)->s, ((const st_key *)b)->s);
}

/* larger elements first, then by name */
static int st_cmp_size(const void *a, const void *b) {
  const st_key *x = a, *y = b;
  if (x->size != y->size) return x->size > y->size ? -1 : 1;
  return strcmp(x->s, y->s);
}

/* indices 0..n-1 sorted by s[] (as the python library sorts); with sizes,
** by sizes[] (descending) first.  The reference writer orders tensors so:
** the data starts 8-byte aligned, so every tensor then starts at a multiple
** of its element size (an F32 never lands at an odd offset after a U8), and
** a reader may map them in place.  NULL with the error set if two strings
** are equal. */
static int *st_order(const char *path, const char *const *s, const int *sizes, int n,
                     const char *what) {
  st_key *k = lt_malloc((size_t)(n ? n : 1) * sizeof *k);
  int *ix = lt_malloc((size_t)(n ? n : 1) * sizeof *ix), i;
  char b[64];
  if (k == NULL || ix == NULL) {
    lt_st_fail("save", path, "out of memory");
    goto fail;
  }
  for (i = 0; i < n; i++) { k[i].s = s[i]; k[i].size = 0; k[i].i = i; }
  qsort(k, (size_t)n, sizeof *k, st_cmp_skey);
  for (i = 0; i < n; i++) {
    if (i > 0 && strcmp(k[i - 1].s, k[i].s) == 0) {
      lt_st_fail("save", path, "duplicate %s '%s'", what, lt_st_name(k[i].s, b, sizeof b));
      goto fail;
    }
  }
  if (sizes) {
    for (i = 0; i < n; i++) k[i].size = sizes[k[i].i];
    qsort(k, (size_t)n, sizeof *k, st_cmp_size);
  }
  for (i = 0; i < n; i++) ix[i] = k[i].i;
  free(k);
  return ix;
fail:
  free(k);
  free(ix);
  return NULL;
}

static int st_header_json(st_buf *b, int n, const char *const *names,
                          lt_tensor *const *ts, const int *ix, int nmeta,
                          const char *const *mkeys, const char *const *mvals,
                          const int *mix) {
  int64_t pos = 0;
  int i, k, sep = 0;
  sb_lit(b, "{");
  if (nmeta > 0) {
    sb_lit(b, "\"__metadata__\":{");
    for (i = 0; i < nmeta; i++) {
      if (i) sb_lit(b, ",");
      sb_str(b, mkeys[mix[i]]);
      sb_lit(b, ":");
      sb_str(b, mvals[mix[i]]);
    }
    sb_lit(b, "}");
    sep = 1;
  }
  for (i = 0; i < n; i++) {
    const lt_tensor *t = ts[ix[i]];
    if (sep) sb_lit(b, ",");
    sep = 1;
    const st_dtinfo *dt = &lt_st_dtypes[lt_st_dtype_of(lt_dtypeof(t))];
    sb_str(b, names[ix[i]]);
    sb_lit(b, ":{\"dtype\":\"");
    sb_lit(b, dt->name);
    sb_lit(b, "\",\"shape\":[");
    for (k = 0; k < t->ndim; k++) {
      if (k) sb_lit(b, ",");
      sb_int(b, t->shape[k]);
    }
    sb_lit(b, "],\"data_offsets\":[");
    sb_int(b, pos);
    pos += lt_numel(t) * dt->size;
    sb_lit(b, ",");
    sb_int(b, pos);
    sb_lit(b, "]}");
  }
  sb_lit(b, "}");
  /* pad so the data starts 8-byte aligned, as the python library does */
  while ((b->n & 7) != 0 && !b->oom) sb_lit(b, " ");
  return b->oom ? -1 : 0;
}

/* m staged elements of `size` bytes out, little-endian */
static int st_flush(FILE *fp, unsigned char *stage, size_t m, int size) {
  if (!lt_st_little_endian()) lt_st_swap(stage, m, size);
  return fwrite(stage, (size_t)size, m, fp) == m ? 0 : -1;
}

/* the values of t in logical (row-major) order, little-endian, in its dtype */
static int st_write_tensor(FILE *fp, const lt_tensor *t) {
  unsigned char stage[ST_CHUNK * 8];
  const int64_t *strides[1] = {t->stride};
  int64_t off[1] = {t->offset}, i;
  int size = (int)lt_dtype_size(lt_dtypeof(t));
  size_t m = 0;
  lt_iter it;
  lt_iter_init(&it, t->shape, t->ndim, 1, strides, off);
  if (it.empty) return 0;
  do {
    const unsigned char *src = (const unsigned char *)t->st->data + it.off[0] * (int64_t)size;
    int64_t s = it.inner[0] * size;
    for (i = 0; i < it.len; i++) {
      memcpy(stage + m++ * (size_t)size, src + i * s, (size_t)size);
      if (m == ST_CHUNK) {
        if (st_flush(fp, stage, m, size)) return -1;
        m = 0;
      }
    }
  } while (lt_iter_next(&it));
  return st_flush(fp, stage, m, size);
}

static int st_write_file(FILE *fp, const st_buf *hdr, int n, lt_tensor *const *ts,
                         const int *ix) {
  unsigned char b8[8];
  uint64_t len = hdr->n;
  int i;
  for (i = 0; i < 8; i++) b8[i] = (unsigned char)(len >> (8 * i));
  if (fwrite(b8, 1, 8, fp) != 8 || fwrite(hdr->p, 1, hdr->n, fp) != hdr->n) return -1;
  for (i = 0; i < n; i++)
    if (st_write_tensor(fp, ts[ix[i]])) return -1;
  return 0;
}

/* names and metadata are text: the header must stay UTF-8 for every
** other reader (Python's json refuses anything else) */
static int st_check_text(const char *path, const char *what, const char *s,
                         const char *key) {
  char b[64], b2[64];
  if (lt_utf8_check(s, strlen(s)) == (size_t)-1) return 0;
  if (key)
    lt_st_fail("save", path, "%s for '%s' is not valid UTF-8: '%s'", what,
               lt_st_name(key, b2, sizeof b2), lt_st_name(s, b, sizeof b));
  else
    lt_st_fail("save", path, "%s '%s' is not valid UTF-8", what, lt_st_name(s, b, sizeof b));
  return -1;
}

static int st_check_args(const char *path, int n, const char *const *names,
                         lt_tensor *const *ts, int nmeta, const char *const *mkeys,
                         const char *const *mvals) {
  int i;
  if (n < 0 || nmeta < 0 || (n > 0 && (names == NULL || ts == NULL)) ||
      (nmeta > 0 && (mkeys == NULL || mvals == NULL))) {
    lt_st_fail("save", path, "invalid arguments");
    return -1;
  }
  for (i = 0; i < n; i++) {
    if (names[i] == NULL || ts[i] == NULL) {
      lt_st_fail("save", path, "tensor %d has no name or no tensor", i + 1);
      return -1;
    }
    if (strcmp(names[i], "__metadata__") == 0) {
      lt_st_fail("save", path, "'__metadata__' is reserved and cannot name a tensor");
      return -1;
    }
    if (st_check_text(path, "tensor name", names[i], NULL)) return -1;
  }
  for (i = 0; i < nmeta; i++) {
    if (mkeys[i] == NULL || mvals[i] == NULL) {
      lt_st_fail("save", path, "metadata pair %d has no key or no value", i + 1);
      return -1;
    }
    if (st_check_text(path, "metadata key", mkeys[i], NULL) ||
        st_check_text(path, "metadata value", mvals[i], mkeys[i]))
      return -1;
  }
  return 0;
}

int lt_st_save(const char *path, int n, const char *const *names,
               lt_tensor *const *ts, int nmeta,
               const char *const *mkeys, const char *const *mvals) {
  st_buf hdr = {NULL, 0, 0, 0};
  int *ix = NULL, *mix = NULL, *sizes = NULL, rc = -1, i;
  lt_replace r;
  if (st_check_args(path, n, names, ts, nmeta, mkeys, mvals)) return -1;
  if ((sizes = lt_malloc((size_t)(n ? n : 1) * sizeof *sizes)) == NULL) {
    lt_st_fail("save", path, "out of memory");
    goto done;
  }
  for (i = 0; i < n; i++) sizes[i] = lt_st_dtypes[lt_st_dtype_of(lt_dtypeof(ts[i]))].size;
  if ((ix = st_order(path, names, sizes, n, "tensor name")) == NULL) goto done;
  if ((mix = st_order(path, mkeys, NULL, nmeta, "metadata key")) == NULL) goto done;
  if (st_header_json(&hdr, n, names, ts, ix, nmeta, mkeys, mvals, mix)) {
    lt_st_fail("save", path, "out of memory");
    goto done;
  }
  /* a temporary of our own beside the target, renamed over it: the old
  ** file survives any failure, and concurrent savers never mix (replace.h) */
  if (lt_replace_open(&r, "save", path)) goto done;
  if (st_write_file(r.fp, &hdr, n, ts, ix)) {
    lt_st_fail("save", path, "write failed: %s", strerror(errno));
    lt_replace_abort(&r);
    goto done;
  }
  rc = lt_replace_commit(&r);
done:
  free(hdr.p);
  free(sizes);
  free(ix);
  free(mix);
  return rc;
}
