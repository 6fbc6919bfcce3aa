/*
** safetensors_header.c -- the header of a safetensors file: its JSON
** parsed into entries (the structure), then the entries checked against
** each other and the buffer (the semantics).  Nothing in the header is
** trusted until lt_st_check has passed it.
*/
#include <stdlib.h>
#include <string.h>

#include "safetensors_int.h"
#include "alloc.h"

/* ------------------------------------------------------ header structure */

void lt_st_header_free(st_header *h) {
  int i;
  for (i = 0; i < h->n; i++) free(h->ents[i].name);
  for (i = 0; i < h->nmeta; i++) { free(h->meta[i].key); free(h->meta[i].value); }
  free(h->ents);
  free(h->meta);
}

/* grow an array of elements of size sz to hold one more; -1 on failure */
static int st_grow(void **arr, int *cap, int n, size_t sz) {
  void *p;
  int ncap;
  if (n < *cap) return 0;
  if (*cap > (1 << 28)) return -1;
  ncap = *cap ? 2 * *cap : 16;
  if ((p = lt_realloc(*arr, (size_t)ncap * sz)) == NULL) return -1;
  *arr = p;
  *cap = ncap;
  return 0;
}

static int st_parse_dtype(lt_json *j, st_ent *e) {
  char *s, b[64], b2[64];
  if (e->dtype >= 0) {
    lt_st_fail("load", j->path, "tensor '%s' has dtype twice",
               lt_st_name(e->name, b, sizeof b));
    return -1;
  }
  if (lt_json_peek(j) != '"') {
    lt_st_fail("load", j->path, "tensor '%s' dtype is not a string",
               lt_st_name(e->name, b, sizeof b));
    return -1;
  }
  if (lt_json_string(j, &s)) return -1;
  e->dtype = lt_st_dtype(s);
  if (e->dtype < 0)
    lt_st_fail("load", j->path, "tensor '%s' has unsupported dtype '%s' "
               "(lunet reads F32, F16, BF16, F64, I64, I32, U8 and BOOL)",
               lt_st_name(e->name, b, sizeof b), lt_st_name(s, b2, 24));
  free(s);
  return e->dtype < 0 ? -1 : 0;
}

static int st_parse_shape(lt_json *j, st_ent *e) {
  int first = 1, r;
  int64_t v;
  char b[64];
  const char *nm = lt_st_name(e->name, b, sizeof b);
  if (e->ndim >= 0) {
    lt_st_fail("load", j->path, "tensor '%s' has shape twice", nm);
    return -1;
  }
  if (lt_json_peek(j) != '[') goto notarray;
  j->p++;
  e->ndim = 0;
  while ((r = lt_json_item(j, &first)) > 0) {
    if (!lt_json_isnum(lt_json_peek(j))) goto notarray;
    if (lt_json_int(j, &v)) return -1;
    if (v < 0) {
      lt_st_fail("load", j->path, "tensor '%s' has a negative dim (%lld) in its shape",
                 nm, (long long)v);
      return -1;
    }
    if (e->ndim == LT_MAXDIM) {
      lt_st_fail("load", j->path, "tensor '%s' has more than %d dims", nm, LT_MAXDIM);
      return -1;
    }
    e->shape[e->ndim++] = v;
  }
  return r;
notarray:
  lt_st_fail("load", j->path, "tensor '%s' shape is not an array of integers", nm);
  return -1;
}

static int st_parse_offsets(lt_json *j, st_ent *e) {
  int first = 1, r, k = 0;
  int64_t v[2];
  char b[64];
  const char *nm = lt_st_name(e->name, b, sizeof b);
  if (e->begin >= 0) {
    lt_st_fail("load", j->path, "tensor '%s' has data_offsets twice", nm);
    return -1;
  }
  if (lt_json_peek(j) != '[') goto bad;
  j->p++;
  while ((r = lt_json_item(j, &first)) > 0) {
    if (k == 2 || !lt_json_isnum(lt_json_peek(j))) goto bad;
    if (lt_json_int(j, &v[k])) return -1;
    if (v[k] < 0) {
      lt_st_fail("load", j->path, "tensor '%s' has a negative data offset (%lld)",
                 nm, (long long)v[k]);
      return -1;
    }
    k++;
  }
  if (r < 0) return -1;
  if (k != 2) goto bad;
  e->begin = v[0];
  e->end = v[1];
  return 0;
bad:
  lt_st_fail("load", j->path, "tensor '%s' data_offsets is not [begin, end]", nm);
  return -1;
}

/* one tensor entry; `key` is owned by the header from here on */
static int st_parse_tensor(lt_json *j, st_header *h, char *key) {
  st_ent *e;
  char *field, b[64];
  int first = 1, r;
  const char *nm;
  if (st_grow((void **)&h->ents, &h->cap, h->n, sizeof *h->ents)) {
    free(key);
    return lt_json_oom(j);
  }
  e = &h->ents[h->n++];
  memset(e, 0, sizeof *e);
  e->name = key;
  e->dtype = e->ndim = -1;
  e->begin = -1;
  nm = lt_st_name(key, b, sizeof b);
  if (lt_json_peek(j) != '{') {
    lt_st_fail("load", j->path, "tensor '%s' is not an object", nm);
    return -1;
  }
  j->p++;
  while ((r = lt_json_member(j, &first, &field)) > 0) {
    if (strcmp(field, "dtype") == 0) r = st_parse_dtype(j, e);
    else if (strcmp(field, "shape") == 0) r = st_parse_shape(j, e);
    else if (strcmp(field, "data_offsets") == 0) r = st_parse_offsets(j, e);
    else r = lt_json_skip(j, 2);   /* unknown fields are ignored, as upstream does */
    free(field);
    if (r) return -1;
  }
  if (r < 0) return -1;
  if (e->dtype < 0 || e->ndim < 0 || e->begin < 0) {
    lt_st_fail("load", j->path, "tensor '%s' has no %s", nm,
               e->dtype < 0 ? "dtype" : e->ndim < 0 ? "shape" : "data_offsets");
    return -1;
  }
  return 0;
}

static int st_parse_meta(lt_json *j, st_header *h) {
  char *key, *val, b[64];
  int first = 1, r;
  if (h->has_meta) {
    lt_st_fail("load", j->path, "__metadata__ appears twice");
    return -1;
  }
  h->has_meta = 1;
  if (lt_json_peek(j) != '{') {
    lt_st_fail("load", j->path, "__metadata__ is not an object");
    return -1;
  }
  j->p++;
  while ((r = lt_json_member(j, &first, &key)) > 0) {
    if (lt_json_peek(j) != '"') {
      lt_st_fail("load", j->path, "metadata value for '%s' is not a string",
                 lt_st_name(key, b, sizeof b));
      free(key);
      return -1;
    }
    if (lt_json_string(j, &val)) { free(key); return -1; }
    if (st_grow((void **)&h->meta, &h->metacap, h->nmeta, sizeof *h->meta)) {
      free(key);
      free(val);
      return lt_json_oom(j);
    }
    h->meta[h->nmeta].key = key;
    h->meta[h->nmeta].value = val;
    h->nmeta++;
  }
  return r;
}

int lt_st_parse(lt_json *j, st_header *h) {
  char *key;
  int first = 1, r;
  if (lt_json_peek(j) != '{') return lt_json_fail(j, "the header is not a JSON object");
  j->p++;
  while ((r = lt_json_member(j, &first, &key)) > 0) {
    if (strcmp(key, "__metadata__") == 0) {
      free(key);
      r = st_parse_meta(j, h);
    } else {
      r = st_parse_tensor(j, h, key);
    }
    if (r) return -1;
  }
  if (r < 0) return -1;
  if (lt_json_peek(j) != -1)
    return lt_json_fail(j, "trailing characters after the header object");
  return 0;
}

/* ------------------------------------------------------ header semantics */

static int st_cmp_name(const void *a, const void *b) {
  return strcmp((*(st_ent *const *)a)->name, (*(st_ent *const *)b)->name);
}

static int st_cmp_key(const void *a, const void *b) {
  return strcmp(((const lt_st_pair *)a)->key, ((const lt_st_pair *)b)->key);
}

static int st_cmp_offset(const void *a, const void *b) {
  const st_ent *x = *(st_ent *const *)a, *y = *(st_ent *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* one entry's size against its offsets and the buffer */
static int st_check_entry(const char *path, st_ent *e, int64_t buflen) {
  char b[64], sb[160];
  const char *nm = lt_st_name(e->name, b, sizeof b);
  int64_t n = 1, size = lt_st_dtypes[e->dtype].size;
  int i, zero = 0;
  /* a zero dim makes the tensor empty, but the product of the other dims
  ** times the element size must still fit in an int64 (so strides do) */
  for (i = 0; i < e->ndim; i++) {
    if (e->shape[i] == 0) {
      zero = 1;
      continue;
    }
    if (n > INT64_MAX / size / e->shape[i]) {
      lt_st_fail("load", path, "tensor '%s' shape %s has too many elements", nm,
                 lt_dims_str(e->shape, e->ndim, sb, sizeof sb));
      return -1;
    }
    n *= e->shape[i];
  }
  e->numel = zero ? 0 : n;
  if (e->begin > e->end) {
    lt_st_fail("load", path, "tensor '%s' data_offsets [%lld,%lld] end before they begin",
               nm, (long long)e->begin, (long long)e->end);
    return -1;
  }
  if (e->end > buflen) {
    lt_st_fail("load", path, "tensor '%s' data_offsets [%lld,%lld] exceed the "
               "%lld-byte buffer (is the file truncated?)", nm, (long long)e->begin,
               (long long)e->end, (long long)buflen);
    return -1;
  }
  if (e->numel * size != e->end - e->begin) {
    lt_st_fail("load", path, "tensor '%s' (%s %s) needs %lld bytes but data_offsets "
               "[%lld,%lld] hold %lld", nm, lt_st_dtypes[e->dtype].name,
               lt_dims_str(e->shape, e->ndim, sb, sizeof sb), (long long)(e->numel * size),
               (long long)e->begin, (long long)e->end, (long long)(e->end - e->begin));
    return -1;
  }
  return 0;
}

/* names unique, and the tensors tiling [0, buflen) without gaps or overlap */
int lt_st_check(const char *path, st_header *h, int64_t buflen) {
  st_ent **v;
  char b[64], b2[64];
  int64_t pos = 0;
  int i, ok = 0;
  for (i = 0; i < h->n; i++)
    if (st_check_entry(path, &h->ents[i], buflen)) return -1;
  if (h->nmeta > 1) {
    qsort(h->meta, (size_t)h->nmeta, sizeof *h->meta, st_cmp_key);
    for (i = 1; i < h->nmeta; i++)
      if (strcmp(h->meta[i - 1].key, h->meta[i].key) == 0) {
        lt_st_fail("load", path, "duplicate metadata key '%s'",
                   lt_st_name(h->meta[i].key, b, sizeof b));
        return -1;
      }
  }
  if ((v = lt_malloc((size_t)(h->n ? h->n : 1) * sizeof *v)) == NULL) {
    lt_st_fail("load", path, "out of memory");
    return -1;
  }
  for (i = 0; i < h->n; i++) v[i] = &h->ents[i];
  qsort(v, (size_t)h->n, sizeof *v, st_cmp_name);
  for (i = 1; i < h->n; i++)
    if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
      lt_st_fail("load", path, "duplicate tensor name '%s'",
                 lt_st_name(v[i]->name, b, sizeof b));
      goto done;
    }
  qsort(v, (size_t)h->n, sizeof *v, st_cmp_offset);
  for (i = 0; i < h->n; i++) {
    if (v[i]->begin < pos) {
      lt_st_fail("load", path, "tensors '%s' and '%s' overlap in the buffer",
                 lt_st_name(v[i - 1]->name, b, sizeof b),
                 lt_st_name(v[i]->name, b2, sizeof b2));
      goto done;
    }
    if (v[i]->begin > pos) {
      lt_st_fail("load", path, "buffer bytes [%lld,%lld) belong to no tensor",
                 (long long)pos, (long long)v[i]->begin);
      goto done;
    }
    pos = v[i]->end;
  }
  if (pos != buflen) {
    lt_st_fail("load", path, "buffer bytes [%lld,%lld) belong to no tensor",
               (long long)pos, (long long)buflen);
    goto done;
  }
  ok = 1;
done:
  free(v);
  return ok ? 0 : -1;
}
