/*
** ops_shape.c -- views (no copy), contiguous/clone/detach, cat and stack.
** A view's backward maps the gradient of the view back onto the input.
*/
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "dtype.h"
#include "ops.h"
#include "alloc.h"

/* ---------------------------------------------------------------- reshape family */

/* backward of any view that only regroups elements: reshape back */
static int lt_reshape_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  gin[0] = lt_reshape(g, n->inputs[0]->shape, n->inputs[0]->ndim);
  return gin[0] ? 0 : -1;
}

static lt_tensor *lt_view_of(lt_tensor *t, const int64_t *shape,
                             const int64_t *stride, int ndim, int64_t offset,
                             const char *name, lt_backward_fn bw) {
  lt_tensor *v = lt_make_view(t, shape, stride, ndim, offset);
  if (v) lt_ag_record(v, name, bw, &t, 1, 0);
  return v;
}

/* replace one -1 in shape by what makes numel match; check the product */
static int lt_infer_shape(const char *op, const lt_tensor *t, const int64_t *in,
                          int ndim, int64_t *shape) {
  int64_t n = lt_numel(t), prod = 1;
  int i, infer = -1;
  char b[160];
  if (ndim > LT_MAXDIM) {
    lt_err("%s: %d dimensions (at most %d)", op, ndim, LT_MAXDIM);
    return -1;
  }
  for (i = 0; i < ndim; i++) {
    shape[i] = in[i];
    if (in[i] == -1 && infer < 0) infer = i;
    else if (in[i] < 0 || (in[i] > 0 && prod > INT64_MAX / in[i])) goto bad;
    else prod *= in[i];
  }
  if (infer >= 0) {
    if (prod == 0 || n % prod != 0) goto bad;
    shape[infer] = n / prod;
  } else if (prod != n) goto bad;
  return 0;
bad:
  lt_err("%s: shape %s is invalid for %lld elements", op,
         lt_dims_str(in, ndim, b, sizeof b), (long long)n);
  return -1;
}

/*
** Strides for viewing t with a new shape without copying, or -1 when
** the memory layout does not allow it (PyTorch's rule: each run of input
** dims that is contiguous in memory can be regrouped freely).
*/
static int lt_view_strides(const lt_tensor *t, const int64_t *shape, int ndim,
                           int64_t *stride) {
  int64_t numel = lt_numel(t), chunk, tensor_numel = 1, view_numel = 1;
  int ti, vi = ndim - 1;
  if (numel == 0 || t->ndim == 0)   /* any shape of the same (tiny) size */
    return lt_contig_strides(shape, ndim, stride) < 0 ? -1 : 0;
  chunk = t->stride[t->ndim - 1];
  for (ti = t->ndim - 1; ti >= 0; ti--) {
    tensor_numel *= t->shape[ti];
    if (ti == 0 || (t->shape[ti - 1] != 1 &&
                    t->stride[ti - 1] != tensor_numel * chunk)) {
      while (vi >= 0 && (view_numel < tensor_numel || shape[vi] == 1)) {
        stride[vi] = view_numel * chunk;
        view_numel *= shape[vi];
        vi--;
      }
      if (view_numel != tensor_numel) return -1;
      if (ti > 0) {
        chunk = t->stride[ti - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return vi == -1 ? 0 : -1;
}

lt_tensor *lt_view(lt_tensor *t, const int64_t *in, int ndim) {
  int64_t shape[LT_MAXDIM], stride[LT_MAXDIM];
  char b1[160], b2[160];
  if (lt_infer_shape("view", t, in, ndim, shape)) return NULL;
  if (lt_view_strides(t, shape, ndim, stride)) {
    lt_err("view: shape %s is not compatible with the strides of a %s input "
           "(use reshape)", lt_dims_str(shape, ndim, b1, sizeof b1),
           lt_shape_str(t, b2, sizeof b2));
    return NULL;
  }
  return lt_view_of(t, shape, stride, ndim, t->offset, "ViewBackward",
                    lt_reshape_backward);
}

lt_tensor *lt_reshape(lt_tensor *t, const int64_t *in, int ndim) {
  int64_t shape[LT_MAXDIM], stride[LT_MAXDIM];
  lt_tensor *c, *r;
  if (lt_infer_shape("reshape", t, in, ndim, shape)) return NULL;
  if (lt_view_strides(t, shape, ndim, stride) == 0)
    return lt_view_of(t, shape, stride, ndim, t->offset, "ViewBackward",
                      lt_reshape_backward);
  if ((c = lt_contiguous(t)) == NULL) return NULL;   /* copy only when we must */
  r = lt_view(c, shape, ndim);
  lt_tensor_release(c);
  return r;
}

lt_tensor *lt_unsqueeze(lt_tensor *t, int dim) {
  int64_t shape[LT_MAXDIM], stride[LT_MAXDIM];
  int d = dim < 0 ? dim + t->ndim + 1 : dim, i;
  if (d < 0 || d > t->ndim) {
    lt_err("unsqueeze: dim %d out of range for a %d-d tensor", dim < 0 ? dim : dim + 1,
           t->ndim);
    return NULL;
  }
  if (t->ndim == LT_MAXDIM) {
    lt_err("unsqueeze: a tensor has at most %d dimensions", LT_MAXDIM);
    return NULL;
  }
  for (i = 0; i < t->ndim + 1; i++) {
    int src = i < d ? i : i - 1;
    shape[i] = i == d ? 1 : t->shape[src];
    stride[i] = i == d ? (d < t->ndim ? t->stride[d] * t->shape[d] : 1) : t->stride[src];
  }
  return lt_view_of(t, shape, stride, t->ndim + 1, t->offset, "UnsqueezeBackward",
                    lt_reshape_backward);
}

/* dim < 0: every size-1 dim; otherwise only that one (if it has size 1) */
static lt_tensor *lt_squeeze_dims(lt_tensor *t, int dim) {
  int64_t shape[LT_MAXDIM], stride[LT_MAXDIM];
  int i, m = 0;
  for (i = 0; i < t->ndim; i++) {
    if (t->shape[i] == 1 && (dim < 0 || dim == i)) continue;
    shape[m] = t->shape[i];
    stride[m] = t->stride[i];
    m++;
  }
  return lt_view_of(t, shape, stride, m, t->offset, "SqueezeBackward",
                    lt_reshape_backward);
}

lt_tensor *lt_squeeze(lt_tensor *t, int dim) {
  int d;
  if (lt_wrap_dim("squeeze", dim, t->ndim, &d)) return NULL;
  return lt_squeeze_dims(t, t->ndim ? d : -1);
}

lt_tensor *lt_squeeze_all(lt_tensor *t) { return lt_squeeze_dims(t, -1); }

lt_tensor *lt_flatten(lt_tensor *t, int start, int end) {
  int64_t shape[LT_MAXDIM];
  int s, e, i, m = 0;
  if (lt_wrap_dim("flatten", start, t->ndim, &s) || lt_wrap_dim("flatten", end, t->ndim, &e))
    return NULL;
  if (t->ndim == 0) { int64_t one = 1; return lt_reshape(t, &one, 1); }
  if (s > e) {
    lt_err("flatten: start dim %d comes after end dim %d", s + 1, e + 1);
    return NULL;
  }
  for (i = 0; i < t->ndim; i++) {
    if (i > s && i <= e) shape[m - 1] *= t->shape[i];
    else shape[m++] = t->shape[i];
  }
  return lt_reshape(t, shape, m);
}

/* ---------------------------------------------------------------- transpose, permute */

typedef struct lt_permute_ctx {
  int perm[LT_MAXDIM];      /* output dim i is input dim perm[i] (0-based) */
} lt_permute_ctx;

static int lt_permute_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_permute_ctx *c = lt_ag_ctx(n, lt_permute_ctx);
  int inv[LT_MAXDIM], i;
  for (i = 0; i < n->out_ndim; i++) inv[c->perm[i]] = i;
  gin[0] = lt_permute(g, inv, n->out_ndim);
  return gin[0] ? 0 : -1;
}

lt_tensor *lt_permute(lt_tensor *t, const int *perm, int np) {
  int64_t shape[LT_MAXDIM], stride[LT_MAXDIM];
  int seen[LT_MAXDIM] = {0}, i, d;
  lt_tensor *v;
  lt_node *n;
  if (np != t->ndim) {
    lt_err("permute: %d dims given for a %d-d tensor", np, t->ndim);
    return NULL;
  }
  for (i = 0; i < np; i++) {
    if (lt_wrap_dim("permute", perm[i], t->ndim, &d)) return NULL;
    if (seen[d]++) {
      lt_err("permute: dim %d repeated", d + 1);
      return NULL;
    }
    shape[i] = t->shape[d];
    stride[i] = t->stride[d];
  }
  if ((v = lt_make_view(t, shape, stride, np, t->offset)) == NULL) return NULL;
  if ((n = lt_ag_record(v, "PermuteBackward", lt_permute_backward, &t, 1,
                        sizeof(lt_permute_ctx))) != NULL) {
    lt_permute_ctx *c = lt_ag_ctx(n, lt_permute_ctx);
    for (i = 0; i < np; i++) lt_wrap_dim("permute", perm[i], t->ndim, &c->perm[i]);
  }
  return v;
}

lt_tensor *lt_transpose(lt_tensor *t, int d0, int d1) {
  int perm[LT_MAXDIM], a, b, i;
  if (lt_wrap_dim("transpose", d0, t->ndim, &a) || lt_wrap_dim("transpose", d1, t->ndim, &b))
    return NULL;
  if (t->ndim == 0) return lt_permute(t, perm, 0);
  for (i = 0; i < t->ndim; i++) perm[i] = i;
  perm[a] = b;
  perm[b] = a;
  return lt_permute(t, perm, t->ndim);
}

/* ---------------------------------------------------------------- narrow, select */

/*
** Gradient of a sub-view: zeros of the input's shape with g copied into
** the slot.
*/
typedef struct lt_subview_ctx {
  int dim;
  int64_t start, len;       /* len -1: select, which drops the dim */
} lt_subview_ctx;

static int lt_subview_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_subview_ctx *c = lt_ag_ctx(n, lt_subview_ctx);
  lt_tensor *in = n->inputs[0], *z, *slot;
  int64_t shape[LT_MAXDIM], stride[LT_MAXDIM];
  int dim = c->dim, i, m = 0;
  if ((z = lt_zeros(in->shape, in->ndim)) == NULL) return -1;
  for (i = 0; i < z->ndim; i++) {
    if (i == dim && c->len < 0) continue;
    shape[m] = i == dim ? c->len : z->shape[i];
    stride[m++] = z->stride[i];
  }
  slot = lt_make_view(z, shape, stride, m, c->start * z->stride[dim]);
  if (slot == NULL) { lt_tensor_release(z); return -1; }
  lt_copy_into(slot, g);
  lt_tensor_release(slot);
  gin[0] = z;
  return 0;
}

lt_tensor *lt_narrow(lt_tensor *t, int dim, int64_t start, int64_t len) {
  int64_t shape[LT_MAXDIM];
  lt_tensor *v;
  lt_node *n;
  int d;
  if (lt_wrap_dim("narrow", dim, t->ndim, &d)) return NULL;
  if (t->ndim == 0) { lt_err("narrow: cannot narrow a 0-d tensor"); return NULL; }
  if (start < 0 || len < 0 || start > t->shape[d] || len > t->shape[d] - start) {
    lt_err("narrow: start %lld and length %lld exceed dim %d of size %lld",
           (long long)start + 1, (long long)len, d + 1, (long long)t->shape[d]);
    return NULL;
  }
  memcpy(shape, t->shape, sizeof shape);
  shape[d] = len;
  v = lt_make_view(t, shape, t->stride, t->ndim, t->offset + start * t->stride[d]);
  if (v && (n = lt_ag_record(v, "NarrowBackward", lt_subview_backward, &t, 1,
                             sizeof(lt_subview_ctx))) != NULL) {
    lt_subview_ctx *c = lt_ag_ctx(n, lt_subview_ctx);
    c->dim = d; c->start = start; c->len = len;
  }
  return v;
}

lt_tensor *lt_select(lt_tensor *t, int dim, int64_t index) {
  int64_t shape[LT_MAXDIM], stride[LT_MAXDIM];
  lt_tensor *v;
  lt_node *n;
  int d, i, m = 0;
  if (t->ndim == 0) { lt_err("select: cannot index a 0-d tensor"); return NULL; }
  if (lt_wrap_dim("select", dim, t->ndim, &d)) return NULL;
  if (index < 0 || index >= t->shape[d]) {
    lt_err("select: index %lld out of range for dim %d of size %lld",
           (long long)index + 1, d + 1, (long long)t->shape[d]);
    return NULL;
  }
  for (i = 0; i < t->ndim; i++) if (i != d) { shape[m] = t->shape[i]; stride[m++] = t->stride[i]; }
  v = lt_make_view(t, shape, stride, m, t->offset + index * t->stride[d]);
  if (v && (n = lt_ag_record(v, "SelectBackward", lt_subview_backward, &t, 1,
                             sizeof(lt_subview_ctx))) != NULL) {
    lt_subview_ctx *c = lt_ag_ctx(n, lt_subview_ctx);
    c->dim = d; c->start = index; c->len = -1;
  }
  return v;
}

/* ---------------------------------------------------------------- expand */

static int lt_expand_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  gin[0] = lt_sum_to(g, n->inputs[0]->shape, n->inputs[0]->ndim);
  return gin[0] ? 0 : -1;
}

lt_tensor *lt_expand(lt_tensor *t, const int64_t *want, int ndim) {
  int64_t shape[LT_MAXDIM], stride[LT_MAXDIM];
  int lead = ndim - t->ndim, i;
  char b1[160], b2[160];
  if (ndim > LT_MAXDIM || lead < 0) goto bad;
  for (i = 0; i < ndim; i++) {
    int64_t have = i < lead ? 1 : t->shape[i - lead];
    int64_t w = want[i] == -1 && i >= lead ? have : want[i];
    if (w < 0 || (have != 1 && have != w)) goto bad;
    shape[i] = w;
    stride[i] = (i < lead || have != w) ? 0 : t->stride[i - lead];
  }
  if (lt_contig_strides(shape, ndim, NULL) < 0) goto bad;   /* numel must not overflow */
  return lt_view_of(t, shape, stride, ndim, t->offset, "ExpandBackward", lt_expand_backward);
bad:
  lt_err("expand: cannot expand shape %s to %s", lt_shape_str(t, b1, sizeof b1),
         lt_dims_str(want, ndim < LT_MAXDIM ? ndim : LT_MAXDIM, b2, sizeof b2));
  return NULL;
}

/* ---------------------------------------------------------------- copies */

static int lt_identity_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  gin[0] = lt_tensor_retain(g);
  return 0;
}

lt_tensor *lt_clone(lt_tensor *t) {
  lt_tensor *c = lt_empty_dtype(t->shape, t->ndim, lt_dtypeof(t));
  if (c == NULL) return NULL;
  lt_copy_into(c, t);
  lt_ag_record(c, "CloneBackward", lt_identity_backward, &t, 1, 0);
  return c;
}

lt_tensor *lt_contiguous(lt_tensor *t) {
  return lt_is_contiguous(t) ? lt_tensor_retain(t) : lt_clone(t);
}

lt_tensor *lt_detach(lt_tensor *t) {
  return lt_make_view(t, t->shape, t->stride, t->ndim, t->offset);
}

/* ---------------------------------------------------------------- cat, stack */

/* the context ends in one length per input (the node has ninputs) */
typedef struct lt_cat_ctx {
  int dim;
  int64_t lens[];           /* each input's size along dim */
} lt_cat_ctx;

static int lt_cat_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_cat_ctx *c = lt_ag_ctx(n, lt_cat_ctx);
  int64_t start = 0;
  int i;
  for (i = 0; i < n->ninputs; i++) {
    if (n->needs[i]) {
      lt_tensor *part = lt_narrow(g, c->dim, start, c->lens[i]);
      if (part == NULL) return -1;
      gin[i] = lt_contiguous(part);
      lt_tensor_release(part);
      if (gin[i] == NULL) return -1;
    }
    start += c->lens[i];
  }
  return 0;
}

/* do all tensors agree on the dtype, and on every dim except d?  (The
** binding promotes mixed dtypes first.) */
static int lt_cat_check(lt_tensor **ts, int n, int d) {
  char b1[160], b2[160];
  int i, j;
  for (i = 1; i < n; i++) {
    if (lt_dtypeof(ts[i]) != lt_dtypeof(ts[0])) {
      lt_err("cat: tensor %d is %s, tensor 1 is %s", i + 1, lt_dtype_name(lt_dtypeof(ts[i])),
             lt_dtype_name(lt_dtypeof(ts[0])));
      return -1;
    }
    int ok = ts[i]->ndim == ts[0]->ndim;
    for (j = 0; ok && j < ts[0]->ndim; j++)
      if (j != d && ts[i]->shape[j] != ts[0]->shape[j]) ok = 0;
    if (!ok) {
      lt_err("cat: tensor %d has shape %s, expected %s except in dim %d", i + 1,
             lt_shape_str(ts[i], b1, sizeof b1), lt_shape_str(ts[0], b2, sizeof b2), d + 1);
      return -1;
    }
  }
  return 0;
}

lt_tensor *lt_cat(lt_tensor **ts, int n, int dim) {
  int64_t shape[LT_MAXDIM], start = 0;
  lt_tensor *out;
  lt_node *node;
  int d, i;
  if (n <= 0) { lt_err("cat: expected a non-empty list of tensors"); return NULL; }
  if (ts[0]->ndim == 0) { lt_err("cat: 0-d tensors cannot be concatenated (use stack)"); return NULL; }
  if (lt_wrap_dim("cat", dim, ts[0]->ndim, &d) || lt_cat_check(ts, n, d)) return NULL;
  memcpy(shape, ts[0]->shape, sizeof shape);
  for (i = 1; i < n; i++) shape[d] += ts[i]->shape[d];
  if ((out = lt_empty_dtype(shape, ts[0]->ndim, lt_dtypeof(ts[0]))) == NULL) return NULL;
  for (i = 0; i < n; i++) {
    lt_tensor *slot;
    shape[d] = ts[i]->shape[d];
    slot = lt_make_view(out, shape, out->stride, out->ndim, start * out->stride[d]);
    if (slot == NULL) { lt_tensor_release(out); return NULL; }
    lt_copy_into(slot, ts[i]);
    lt_tensor_release(slot);
    start += ts[i]->shape[d];
  }
  if ((node = lt_ag_record(out, "CatBackward", lt_cat_backward, ts, n,
                           sizeof(lt_cat_ctx) + (size_t)n * sizeof(int64_t))) != NULL) {
    lt_cat_ctx *c = lt_ag_ctx(node, lt_cat_ctx);
    c->dim = d;
    for (i = 0; i < n; i++) c->lens[i] = ts[i]->shape[d];
  }
  return out;
}

lt_tensor *lt_stack(lt_tensor **ts, int n, int dim) {
  lt_tensor **us, *out = NULL;
  char b1[160], b2[160];
  int i, d;
  if (n <= 0) { lt_err("stack: expected a non-empty list of tensors"); return NULL; }
  if (lt_wrap_dim("stack", dim, ts[0]->ndim + 1, &d)) return NULL;
  for (i = 1; i < n; i++)
    if (!lt_same_shape(ts[i], ts[0])) {
      lt_err("stack: tensor %d has shape %s, expected %s", i + 1,
             lt_shape_str(ts[i], b1, sizeof b1), lt_shape_str(ts[0], b2, sizeof b2));
      return NULL;
    }
  if ((us = lt_calloc((size_t)n, sizeof *us)) == NULL) { lt_err("stack: out of memory"); return NULL; }
  for (i = 0; i < n; i++) if ((us[i] = lt_unsqueeze(ts[i], d)) == NULL) goto done;
  out = lt_cat(us, n, d);
done:
  for (i = 0; i < n; i++) lt_tensor_release(us[i]);
  free(us);
  return out;
}
