/*
** lastdim.c -- moving one dim last and back (see lastdim.h).
*/
#include "autograd.h"
#include "dtype.h"
#include "lastdim.h"
#include "ops.h"

/* the permutation that moves d last */
static void lt_perm_last(int ndim, int d, int *perm) {
  int i, k = 0;
  for (i = 0; i < ndim; i++) if (i != d) perm[k++] = i;
  perm[k] = d;
}

lt_tensor *lt_lastdim(lt_tensor *t, int d, lt_dtype dt, int64_t *rows, int64_t *n) {
  int perm[LT_MAXDIM], prev = lt_set_grad_enabled(0);
  lt_tensor *v, *c = NULL, *out = NULL;
  int64_t numel = lt_numel(t);
  if (d < 0 || t->ndim == 0) {
    *n = numel;
    v = lt_reshape(t, &numel, 1);
  } else {
    *n = t->shape[d];
    lt_perm_last(t->ndim, d, perm);
    v = lt_permute(t, perm, t->ndim);
  }
  *rows = *n ? numel / *n : 0;
  if (v && (c = lt_contiguous(v)) != NULL) out = lt_to_dtype(c, dt);
  lt_tensor_release(v);
  lt_tensor_release(c);
  lt_set_grad_enabled(prev);
  return out;
}

lt_tensor *lt_lastdim_undo(lt_tensor *r, const lt_tensor *t, int d) {
  int perm[LT_MAXDIM], inv[LT_MAXDIM], i, prev = lt_set_grad_enabled(0);
  int64_t shape[LT_MAXDIM];
  lt_tensor *v, *p, *out = NULL;
  if (d < 0 || t->ndim == 0) {
    out = lt_reshape(r, t->shape, t->ndim);
  } else {
    lt_perm_last(t->ndim, d, perm);
    for (i = 0; i < t->ndim; i++) { shape[i] = t->shape[perm[i]]; inv[perm[i]] = i; }
    if ((v = lt_view(r, shape, t->ndim)) != NULL) {
      if ((p = lt_permute(v, inv, t->ndim)) != NULL) out = lt_contiguous(p);
      lt_tensor_release(p);
    }
    lt_tensor_release(v);
  }
  lt_set_grad_enabled(prev);
  return out;
}

int lt_reduced_shape(const lt_tensor *t, int d, int keepdim, int64_t *shape) {
  int i, m = 0;
  for (i = 0; i < t->ndim; i++) {
    if (d < 0 || i == d) { if (keepdim) shape[m++] = 1; }
    else shape[m++] = t->shape[i];
  }
  return m;
}
