/*
** ops_index.c -- indexing: gather, scatter / scatter_add, index_select,
** index_add, masked_select, masked_scatter; and the rearrangements
** tril/triu, flip, roll, repeat.
**
** Indices are 0-based int64 tensors (lt_ids makes them from what users
** pass), checked against the indexed dim before anything is written.
** x may be any dtype; gradients flow to float32 inputs.  Each backward
** is the op's adjoint among these same ops:
**   gather        <->  scatter_add into zeros
**   index_select  <->  index_add into zeros
**   masked_select <->  masked_scatter into zeros
** flip, roll and repeat are composed of recorded ops (index_select,
** narrow, cat), so their gradients come from those.
*/
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "dtype.h"
#include "ops.h"
#include "alloc.h"

/* ---------------------------------------------------------------- helpers */

/* advance a 0-based multi-index over shape; 0 when it wraps around */
static int lt_next_index(int64_t *i, const int64_t *shape, int nd) {
  int d;
  for (d = nd - 1; d >= 0; d--) {
    if (++i[d] < shape[d]) return 1;
    i[d] = 0;
  }
  return 0;
}

/* element offset of multi-index i in t, with dim d's index replaced by k */
static int64_t lt_offset_at(const lt_tensor *t, const int64_t *i, int d, int64_t k) {
  int64_t off = t->offset;
  int j;
  for (j = 0; j < t->ndim; j++) off += (j == d ? k : i[j]) * t->stride[j];
  return off;
}

static char *lt_addr(const lt_tensor *t, int64_t off) {
  return (char *)t->st->data + off * (int64_t)lt_dtype_size(lt_dtypeof(t));
}

/* *dst += *src, both of dtype dt */
static void lt_acc_elem(lt_dtype dt, char *dst, const char *src) {
  if (dt == LT_FLOAT32) { *(float *)dst += *(const float *)src; return; }
  lt_set_i64(dt, dst, (int64_t)((uint64_t)lt_get_i64(dt, dst) + (uint64_t)lt_get_i64(dt, src)));
}

/* every index in [0, size): else "<op>: index 7 out of range for dim 2
** of size 5" (1-based, as users wrote it) */
static int lt_check_index(const char *op, const lt_tensor *index, int d, int64_t size) {
  const int64_t *p;
  int64_t i, n = lt_numel(index);
  if (lt_dtypeof(index) != LT_INT64 || !lt_is_contiguous(index)) {
    lt_err("%s: index must be a contiguous int64 tensor (lt_ids)", op);
    return -1;
  }
  p = lt_i64(index);
  for (i = 0; i < n; i++)
    if (p[i] < 0 || p[i] >= size) {
      lt_err("%s: index %lld out of range for dim %d of size %lld%s", op, (long long)p[i] + 1,
             d + 1, (long long)size, p[i] == -1 ? " (indices are 1-based)" : "");
      return -1;
    }
  return 0;
}

static int lt_index_dim(const char *op, const lt_tensor *x, int dim, int *d) {
  if (x->ndim == 0) { lt_err("%s: cannot index a 0-d tensor", op); return -1; }
  return lt_wrap_dim(op, dim, x->ndim, d);
}

/* ---------------------------------------------------------------- gather, scatter */

/* index and x (and src) agree: same ndim, index no larger off dim d */
static int lt_gather_check(const char *op, const lt_tensor *x, int d, const lt_tensor *index,
                           const lt_tensor *src) {
  char b1[160], b2[160];
  int j, ok = index->ndim == x->ndim && (!src || src->ndim == x->ndim);
  for (j = 0; ok && j < x->ndim; j++) {
    if (j != d && index->shape[j] > x->shape[j]) ok = 0;
    if (src && index->shape[j] > src->shape[j]) ok = 0;
  }
  if (!ok)
    lt_err("%s: index %s does not fit %s %s along dim %d", op,
           lt_shape_str(index, b1, sizeof b1), src ? "src" : "input",
           lt_shape_str(src && src->ndim == x->ndim ? src : x, b2, sizeof b2), d + 1);
  return ok ? lt_check_index(op, index, d, x->shape[d]) : -1;
}

typedef struct lt_index_ctx {
  int d;
  lt_saved index;
} lt_index_ctx;

/* out[i] = x[i with dim d = index[i]] */
static lt_tensor *lt_gather_raw(lt_tensor *x, int d, lt_tensor *index) {
  int64_t i[LT_MAXDIM] = {0}, k = 0;
  size_t z = lt_dtype_size(lt_dtypeof(x));
  lt_tensor *out = lt_empty_dtype(index->shape, index->ndim, lt_dtypeof(x));
  const int64_t *ix = lt_i64(index);
  if (out == NULL || lt_numel(out) == 0) return out;
  do memcpy((char *)lt_ptr(out) + k * (int64_t)z, lt_addr(x, lt_offset_at(x, i, d, ix[k])), z);
  while (k++, lt_next_index(i, index->shape, index->ndim));
  return out;
}

/* out[i with dim d = index[i]] = src[i] (or +=); out is written in place */
static void lt_scatter_raw(lt_tensor *out, int d, lt_tensor *index, lt_tensor *src, int add) {
  int64_t i[LT_MAXDIM] = {0}, k = 0;
  size_t z = lt_dtype_size(lt_dtypeof(out));
  const int64_t *ix = lt_i64(index);
  if (lt_numel(index) == 0) return;
  do {
    char *dst = lt_addr(out, lt_offset_at(out, i, d, ix[k]));
    const char *s = lt_addr(src, lt_offset_at(src, i, -1, 0));
    if (add) lt_acc_elem(lt_dtypeof(out), dst, s);
    else memcpy(dst, s, z);
  } while (k++, lt_next_index(i, index->shape, index->ndim));
}

/* gather's adjoint: zeros of x's shape, g scattered-added at index */
static int lt_gather_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_index_ctx *c = lt_ag_ctx(n, lt_index_ctx);
  lt_tensor *x = n->inputs[0];
  if ((gin[0] = lt_zeros(x->shape, x->ndim)) == NULL) return -1;
  lt_scatter_raw(gin[0], c->d, c->index.t, g, 1);
  return 0;
}

lt_tensor *lt_gather(lt_tensor *x, int dim, lt_tensor *index) {
  lt_tensor *out;
  lt_node *n;
  int d;
  if (lt_index_dim("gather", x, dim, &d) || lt_gather_check("gather", x, d, index, NULL))
    return NULL;
  if ((out = lt_gather_raw(x, d, index)) != NULL &&
      (n = lt_ag_record(out, "GatherBackward", lt_gather_backward, &x, 1,
                        sizeof(lt_index_ctx))) != NULL) {
    lt_index_ctx *c = lt_ag_ctx(n, lt_index_ctx);
    c->d = d;
    lt_ag_save(n, &c->index, index);
  }
  return out;
}

/* scatter: x's gradient is g with the overwritten places zeroed;
** scatter_add: g itself.  src's is g gathered at index, either way. */
typedef struct lt_scatter_ctx {
  int d, add;
  lt_saved index;
} lt_scatter_ctx;

static int lt_scatter_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_scatter_ctx *c = lt_ag_ctx(n, lt_scatter_ctx);
  if (n->needs[0]) {
    if ((gin[0] = lt_clone(g)) == NULL) return -1;
    if (!c->add) {
      lt_tensor *z = lt_zeros(c->index.t->shape, c->index.t->ndim);
      if (z == NULL) return -1;
      lt_scatter_raw(gin[0], c->d, c->index.t, z, 0);
      lt_tensor_release(z);
    }
  }
  if (n->needs[1]) {
    lt_tensor *src = n->inputs[1], *part, *z;
    if ((part = lt_gather_raw(g, c->d, c->index.t)) == NULL) return -1;
    if ((z = lt_zeros(src->shape, src->ndim)) != NULL) {   /* src may be larger than index */
      lt_tensor *slot = lt_make_view(z, part->shape, z->stride, z->ndim, 0);
      if (slot) lt_copy_into(slot, part);
      else { lt_tensor_release(z); z = NULL; }
      lt_tensor_release(slot);
    }
    lt_tensor_release(part);
    if ((gin[1] = z) == NULL) return -1;
  }
  return 0;
}

lt_tensor *lt_scatter(lt_tensor *x, int dim, lt_tensor *index, lt_tensor *src, int add) {
  const char *op = add ? "scatter_add" : "scatter";
  lt_tensor *out, *s, *in[2];
  lt_node *n;
  int d;
  if (lt_index_dim(op, x, dim, &d) || lt_gather_check(op, x, d, index, src)) return NULL;
  if (add && lt_dtypeof(x) == LT_BOOL) { lt_err("scatter_add: bool tensors do not add"); return NULL; }
  if ((s = lt_to_dtype(src, lt_dtypeof(x))) == NULL) return NULL;
  if ((out = lt_empty_dtype(x->shape, x->ndim, lt_dtypeof(x))) != NULL) {
    lt_copy_into(out, x);
    lt_scatter_raw(out, d, index, s, add);
    in[0] = x; in[1] = src;
    if ((n = lt_ag_record(out, add ? "ScatterAddBackward" : "ScatterBackward",
                          lt_scatter_backward, in, 2, sizeof(lt_scatter_ctx))) != NULL) {
      lt_scatter_ctx *c = lt_ag_ctx(n, lt_scatter_ctx);
      c->d = d;
      c->add = add;
      lt_ag_save(n, &c->index, index);
    }
  }
  lt_tensor_release(s);
  return out;
}

/* ---------------------------------------------------------------- index_select, index_add */

/* the slice of t at position k of dim d (a raw view: no autograd) */
static lt_tensor *lt_slice(lt_tensor *t, int d, int64_t k) {
  int64_t shape[LT_MAXDIM];
  memcpy(shape, t->shape, sizeof shape);
  shape[d] = 1;
  return lt_make_view(t, shape, t->stride, t->ndim, t->offset + k * t->stride[d]);
}

/* dst (contiguous-or-not) += src, same shape and dtype */
static void lt_add_into(lt_tensor *dst, const lt_tensor *src) {
  const int64_t *st[2] = {dst->stride, src->stride};
  int64_t off[2] = {dst->offset, src->offset}, i;
  lt_iter it;
  lt_iter_init(&it, src->shape, src->ndim, 2, st, off);
  if (!it.empty) do
    for (i = 0; i < it.len; i++)
      lt_acc_elem(lt_dtypeof(dst), lt_addr(dst, it.off[0] + i * it.inner[0]),
                  lt_addr(src, it.off[1] + i * it.inner[1]));
  while (lt_iter_next(&it));
}

/* dst's slices index[k] get src's slice k copied (add: added) */
static int lt_index_copy(lt_tensor *dst, int d, const lt_tensor *index, lt_tensor *src,
                         int add, int from_index) {
  const int64_t *ix = lt_i64(index);
  int64_t k, n = lt_numel(index);
  for (k = 0; k < n; k++) {
    lt_tensor *a = lt_slice(dst, d, from_index ? k : ix[k]);
    lt_tensor *b = lt_slice(src, d, from_index ? ix[k] : k);
    if (a && b) { if (add) lt_add_into(a, b); else lt_copy_into(a, b); }
    lt_tensor_release(a);
    lt_tensor_release(b);
    if (!a || !b) return -1;
  }
  return 0;
}

static int lt_index_select_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_index_ctx *c = lt_ag_ctx(n, lt_index_ctx);
  lt_tensor *x = n->inputs[0];
  if ((gin[0] = lt_zeros(x->shape, x->ndim)) == NULL) return -1;
  return lt_index_copy(gin[0], c->d, c->index.t, g, 1, 0);
}

static int lt_index_select_check(const char *op, lt_tensor *x, int dim, const lt_tensor *index,
                                 int *d) {
  if (lt_index_dim(op, x, dim, d)) return -1;
  if (index->ndim > 1) {
    lt_err("%s: index must be 1-d, got %d dims", op, index->ndim);
    return -1;
  }
  return lt_check_index(op, index, *d, x->shape[*d]);
}

lt_tensor *lt_index_select(lt_tensor *x, int dim, lt_tensor *index) {
  int64_t shape[LT_MAXDIM];
  lt_tensor *out;
  lt_node *n;
  int d;
  if (lt_index_select_check("index_select", x, dim, index, &d)) return NULL;
  memcpy(shape, x->shape, sizeof shape);
  shape[d] = lt_numel(index);
  if ((out = lt_empty_dtype(shape, x->ndim, lt_dtypeof(x))) == NULL) return NULL;
  if (lt_index_copy(out, d, index, x, 0, 1)) { lt_tensor_release(out); return NULL; }
  if ((n = lt_ag_record(out, "IndexSelectBackward", lt_index_select_backward, &x, 1,
                        sizeof(lt_index_ctx))) != NULL) {
    lt_index_ctx *c = lt_ag_ctx(n, lt_index_ctx);
    c->d = d;
    lt_ag_save(n, &c->index, index);
  }
  return out;
}

/* x's gradient is g; src's is g's slices at index */
static int lt_index_add_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_index_ctx *c = lt_ag_ctx(n, lt_index_ctx);
  int prev;
  if (n->needs[0] && (gin[0] = lt_tensor_retain(g)) == NULL) return -1;
  if (!n->needs[1]) return 0;
  prev = lt_set_grad_enabled(0);
  gin[1] = lt_index_select(g, c->d, c->index.t);
  lt_set_grad_enabled(prev);
  return gin[1] ? 0 : -1;
}

lt_tensor *lt_index_add(lt_tensor *x, int dim, lt_tensor *index, lt_tensor *src) {
  int64_t want[LT_MAXDIM];
  char b1[160], b2[160];
  lt_tensor *out, *s, *in[2];
  lt_node *n;
  int d;
  if (lt_index_select_check("index_add", x, dim, index, &d)) return NULL;
  memcpy(want, x->shape, sizeof want);
  want[d] = lt_numel(index);
  if (src->ndim != x->ndim || memcmp(want, src->shape, (size_t)x->ndim * sizeof *want) != 0) {
    lt_err("index_add: src has shape %s, expected %s", lt_shape_str(src, b1, sizeof b1),
           lt_dims_str(want, x->ndim, b2, sizeof b2));
    return NULL;
  }
  if (lt_dtypeof(x) == LT_BOOL) { lt_err("index_add: bool tensors do not add"); return NULL; }
  if ((s = lt_to_dtype(src, lt_dtypeof(x))) == NULL) return NULL;
  if ((out = lt_empty_dtype(x->shape, x->ndim, lt_dtypeof(x))) != NULL) {
    lt_copy_into(out, x);
    if (lt_index_copy(out, d, index, s, 1, 0)) { lt_tensor_release(out); out = NULL; }
  }
  in[0] = x; in[1] = src;
  if (out && (n = lt_ag_record(out, "IndexAddBackward", lt_index_add_backward, in, 2,
                               sizeof(lt_index_ctx))) != NULL) {
    lt_index_ctx *c = lt_ag_ctx(n, lt_index_ctx);
    c->d = d;
    lt_ag_save(n, &c->index, index);
  }
  lt_tensor_release(s);
  return out;
}

/* ---------------------------------------------------------------- masked_select, masked_scatter */

typedef struct lt_mask_ctx {
  lt_saved mask;            /* bool, contiguous, of the op's broadcast shape */
} lt_mask_ctx;

/* the positions of a contiguous bool mask in t (contiguous, same numel)
** copied out into o (select) or in from o (scatter), in row-major order */
static int64_t lt_mask_walk(const lt_tensor *mask, lt_tensor *t, lt_tensor *o, int scatter) {
  const unsigned char *m = lt_ptr(mask);
  size_t z = lt_dtype_size(lt_dtypeof(t));
  int64_t i, k = 0, n = lt_numel(mask);
  for (i = 0; i < n; i++)
    if (m[i]) {
      char *a = (char *)lt_ptr(t) + i * (int64_t)z, *b = (char *)lt_ptr(o) + k++ * (int64_t)z;
      if (scatter) memcpy(a, b, z); else memcpy(b, a, z);
    }
  return k;
}

static int64_t lt_mask_count(const lt_tensor *mask) {
  const unsigned char *m = lt_ptr(mask);
  int64_t i, k = 0, n = lt_numel(mask);
  for (i = 0; i < n; i++) k += m[i];
  return k;
}

int64_t lt_masked_count(lt_tensor *x, lt_tensor *mask) {
  lt_tensor *m;
  int64_t count;
  int i, fits = mask->ndim <= x->ndim;
  for (i = 1; fits && i <= mask->ndim; i++) {
    int64_t s = mask->shape[mask->ndim - i];
    fits = s == 1 || s == x->shape[x->ndim - i];
  }
  if (!fits) {
    char b1[160], b2[160];
    lt_err("mask of shape %s does not broadcast to the input's %s",
           lt_shape_str(mask, b1, sizeof b1), lt_shape_str(x, b2, sizeof b2));
    return -1;
  }
  if ((m = lt_broadcast_to(mask, x->shape, x->ndim, LT_BOOL)) == NULL) return -1;
  count = lt_mask_count(m);
  lt_tensor_release(m);
  return count;
}

static int lt_masked_select_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_mask_ctx *c = lt_ag_ctx(n, lt_mask_ctx);
  lt_tensor *x = n->inputs[0], *full, *cg = lt_contiguous(g);
  if (cg == NULL) return -1;
  if ((full = lt_zeros(c->mask.t->shape, c->mask.t->ndim)) != NULL) {
    lt_mask_walk(c->mask.t, full, cg, 1);
    gin[0] = lt_sum_to(full, x->shape, x->ndim);
  }
  lt_tensor_release(full);
  lt_tensor_release(cg);
  return gin[0] ? 0 : -1;
}

lt_tensor *lt_masked_select(lt_tensor *x, lt_tensor *mask) {
  int64_t shape[LT_MAXDIM], count;
  lt_tensor *m = NULL, *xs = NULL, *out = NULL;
  lt_node *n;
  int nd;
  if (lt_broadcast_shape("masked_select", x, mask, shape, &nd)) return NULL;
  if ((m = lt_broadcast_to(mask, shape, nd, LT_BOOL)) == NULL ||
      (xs = lt_broadcast_to(x, shape, nd, lt_dtypeof(x))) == NULL)
    goto done;
  count = lt_mask_count(m);
  if ((out = lt_empty_dtype(&count, 1, lt_dtypeof(x))) == NULL) goto done;
  lt_mask_walk(m, xs, out, 0);
  if ((n = lt_ag_record(out, "MaskedSelectBackward", lt_masked_select_backward, &x, 1,
                        sizeof(lt_mask_ctx))) != NULL)
    lt_ag_save(n, &lt_ag_ctx(n, lt_mask_ctx)->mask, m);
done:
  lt_tensor_release(m);
  lt_tensor_release(xs);
  return out;
}

/* x's gradient: g where the mask is off; src's: g's masked values, in
** src's first places (zeros after) */
static int lt_masked_scatter_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_mask_ctx *c = lt_ag_ctx(n, lt_mask_ctx);
  lt_tensor *m = c->mask.t;
  lt_tensor *cg = lt_contiguous(g), *z = NULL;
  int64_t cnt;
  if (cg == NULL) return -1;
  if (n->needs[0] && (gin[0] = lt_clone(cg)) != NULL &&
      (z = lt_zeros(&(int64_t){lt_mask_count(m)}, 1)) != NULL)
    lt_mask_walk(m, gin[0], z, 1);
  lt_tensor_release(z);
  if (n->needs[1]) {
    lt_tensor *src = n->inputs[1], *flat;
    cnt = lt_numel(src);
    if ((flat = lt_zeros(&cnt, 1)) != NULL) {
      lt_mask_walk(m, cg, flat, 0);
      gin[1] = lt_reshape(flat, src->shape, src->ndim);
      lt_tensor_release(flat);
    }
  }
  lt_tensor_release(cg);
  return (n->needs[0] && !gin[0]) || (n->needs[1] && !gin[1]) ? -1 : 0;
}

lt_tensor *lt_masked_scatter(lt_tensor *x, lt_tensor *mask, lt_tensor *src) {
  lt_tensor *m, *s = NULL, *sc = NULL, *out = NULL, *in[2];
  int64_t count;
  lt_node *n;
  if ((m = lt_broadcast_to(mask, x->shape, x->ndim, LT_BOOL)) == NULL) {
    char b1[160], b2[160];
    lt_err("masked_scatter: mask of shape %s does not broadcast to the input's %s",
           lt_shape_str(mask, b1, sizeof b1), lt_shape_str(x, b2, sizeof b2));
    return NULL;
  }
  count = lt_mask_count(m);
  if (lt_numel(src) < count) {
    lt_err("masked_scatter: the mask selects %lld elements, src has only %lld",
           (long long)count, (long long)lt_numel(src));
    goto done;
  }
  if ((s = lt_to_dtype(src, lt_dtypeof(x))) == NULL || (sc = lt_contiguous(s)) == NULL ||
      (out = lt_empty_dtype(x->shape, x->ndim, lt_dtypeof(x))) == NULL)
    goto done;
  lt_copy_into(out, x);
  lt_mask_walk(m, out, sc, 1);
  in[0] = x; in[1] = src;
  if ((n = lt_ag_record(out, "MaskedScatterBackward", lt_masked_scatter_backward, in, 2,
                        sizeof(lt_mask_ctx))) != NULL)
    lt_ag_save(n, &lt_ag_ctx(n, lt_mask_ctx)->mask, m);
done:
  lt_tensor_release(m);
  lt_tensor_release(s);
  lt_tensor_release(sc);
  return out;
}

/* ---------------------------------------------------------------- tril, triu */

typedef struct lt_tri_ctx {
  int64_t k;
  int upper;
} lt_tri_ctx;

/* zero, in place, what tril (upper: triu) with diagonal k drops from the
** last two dims of a contiguous t */
static void lt_tri_zero(lt_tensor *t, int64_t k, int upper) {
  int64_t R = t->shape[t->ndim - 2], C = t->shape[t->ndim - 1], b, i, j;
  int64_t mats = R > 0 && C > 0 ? lt_numel(t) / (R * C) : 0;
  size_t z = lt_dtype_size(lt_dtypeof(t));
  char *p = lt_ptr(t);
  for (b = 0; b < mats; b++)
    for (i = 0; i < R; i++)
      for (j = 0; j < C; j++)
        if (upper ? j - i < k : j - i > k)
          memset(p + ((b * R + i) * C + j) * (int64_t)z, 0, z);
}

static int lt_tri_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_tri_ctx *c = lt_ag_ctx(n, lt_tri_ctx);
  gin[0] = lt_tri(g, c->k, c->upper);
  return gin[0] ? 0 : -1;
}

lt_tensor *lt_tri(lt_tensor *x, int64_t k, int upper) {
  lt_tensor *out;
  lt_node *n;
  if (x->ndim < 2) {
    lt_err("%s: needs at least 2 dims, got %d", upper ? "triu" : "tril", x->ndim);
    return NULL;
  }
  if ((out = lt_empty_dtype(x->shape, x->ndim, lt_dtypeof(x))) == NULL) return NULL;
  lt_copy_into(out, x);
  lt_tri_zero(out, k, upper);
  if ((n = lt_ag_record(out, upper ? "TriuBackward" : "TrilBackward", lt_tri_backward, &x, 1,
                        sizeof(lt_tri_ctx))) != NULL) {
    lt_tri_ctx *c = lt_ag_ctx(n, lt_tri_ctx);
    c->k = k;
    c->upper = upper;
  }
  return out;
}

/* ---------------------------------------------------------------- flip, roll, repeat */

/* the dims list, wrapped and checked for repeats */
static int lt_dims_arg(const char *op, const lt_tensor *x, const int *dims, int n, int *out) {
  int seen[LT_MAXDIM] = {0}, i;
  for (i = 0; i < n; i++) {
    if (lt_wrap_dim(op, dims[i], x->ndim, &out[i])) return -1;
    if (x->ndim == 0) { lt_err("%s: a 0-d tensor has no dims", op); return -1; }
    if (seen[out[i]]++) { lt_err("%s: dim %d repeated", op, out[i] + 1); return -1; }
  }
  return 0;
}

lt_tensor *lt_flip(lt_tensor *x, const int *dims, int n) {
  int ds[LT_MAXDIM], i;
  lt_tensor *cur;
  if (n > LT_MAXDIM) { lt_err("flip: %d dims given", n); return NULL; }
  if (lt_dims_arg("flip", x, dims, n, ds)) return NULL;
  cur = lt_tensor_retain(x);
  for (i = 0; i < n && cur; i++) {
    int64_t len = x->shape[ds[i]], j;
    lt_tensor *rev = lt_empty_dtype(&len, 1, LT_INT64), *next = NULL;
    if (rev) {
      for (j = 0; j < len; j++) ((int64_t *)lt_ptr(rev))[j] = len - 1 - j;
      next = lt_index_select(cur, ds[i], rev);
    }
    lt_tensor_release(rev);
    lt_tensor_release(cur);
    cur = next;
  }
  return cur;
}

/* x rolled by s along d: the last s slices come first (cat of two narrows) */
static lt_tensor *lt_roll1(lt_tensor *x, int64_t s, int d) {
  int64_t len = x->shape[d];
  lt_tensor *parts[2] = {NULL, NULL}, *out = NULL;
  s = len ? ((s % len) + len) % len : 0;
  if (s == 0) return lt_tensor_retain(x);
  if ((parts[0] = lt_narrow(x, d, len - s, s)) != NULL &&
      (parts[1] = lt_narrow(x, d, 0, len - s)) != NULL)
    out = lt_cat(parts, 2, d);
  lt_tensor_release(parts[0]);
  lt_tensor_release(parts[1]);
  return out;
}

lt_tensor *lt_roll(lt_tensor *x, const int64_t *shifts, const int *dims, int n) {
  int ds[LT_MAXDIM], i;
  lt_tensor *cur;
  if (n > LT_MAXDIM) { lt_err("roll: %d dims given", n); return NULL; }
  if (n == 0) {   /* over the flattened tensor, shape restored */
    int64_t numel = lt_numel(x);
    lt_tensor *f = lt_reshape(x, &numel, 1), *r = f ? lt_roll1(f, shifts[0], 0) : NULL;
    cur = r ? lt_reshape(r, x->shape, x->ndim) : NULL;
    lt_tensor_release(f);
    lt_tensor_release(r);
    return cur;
  }
  if (lt_dims_arg("roll", x, dims, n, ds)) return NULL;
  cur = lt_tensor_retain(x);
  for (i = 0; i < n && cur; i++) {
    lt_tensor *next = lt_roll1(cur, shifts[i], ds[i]);
    lt_tensor_release(cur);
    cur = next;
  }
  return cur;
}

/* PyTorch's repeat: reps has at least x's dims; x gets leading 1s, then
** each dim k becomes reps[k] copies of itself side by side (cat) */
lt_tensor *lt_repeat(const char *op, lt_tensor *x, const int64_t *reps, int n) {
  int64_t shape[LT_MAXDIM] = {0};
  lt_tensor *cur, **copies = NULL;
  int lead = n - x->ndim, i, k;
  if (lead < 0 || n > LT_MAXDIM) {
    lt_err("%s: %d repeats given for a %d-d tensor (need at least its dims)", op, n, x->ndim);
    return NULL;
  }
  for (i = 0; i < n; i++) {
    if (reps[i] < 0 || reps[i] > (1 << 20)) {
      lt_err("%s: repeat count %lld for dim %d is out of range", op, (long long)reps[i], i + 1);
      return NULL;
    }
    shape[i] = i < lead ? 1 : x->shape[i - lead];
  }
  if ((cur = lt_reshape(x, shape, n)) == NULL) return NULL;
  for (i = 0; i < n && cur; i++) {
    lt_tensor *next;
    if (reps[i] == 1) continue;
    if (reps[i] == 0) {
      next = lt_narrow(cur, i, 0, 0);
    } else {
      if ((copies = lt_malloc((size_t)reps[i] * sizeof *copies)) == NULL) {
        lt_err("%s: out of memory", op);
        lt_tensor_release(cur);
        return NULL;
      }
      for (k = 0; k < reps[i]; k++) copies[k] = cur;
      next = lt_cat(copies, (int)reps[i], i);
      free(copies);
    }
    lt_tensor_release(cur);
    cur = next;
  }
  return cur;
}
