/*
** ops_sort.c -- sort, topk (argsort is sort's indices) and the scans
** cumsum and cumprod, along one dim of any dtype.
**
** Sorting works on rows (lastdim.h): a stable merge sort of each row's
** positions, floats and integers each compared in their own type, NaN
** after every number as in PyTorch.  The values are then gathered from
** the input by the indices found, so their gradient is gather's.
*/
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "dtype.h"
#include "lastdim.h"
#include "ops.h"
#include "alloc.h"

/* ---------------------------------------------------------------- sort */

typedef struct lt_keys {
  const float *f;           /* float rows, or */
  const int64_t *i;         /* integer rows */
  int desc;
} lt_keys;

/* does position a come strictly before position b? */
static int lt_before(const lt_keys *k, int64_t a, int64_t b) {
  if (k->f) {
    float x = k->f[a], y = k->f[b];
    if (x != x || y != y) return (y != y) != k->desc && (x != x) == k->desc;
    return k->desc ? x > y : x < y;
  }
  return k->desc ? k->i[a] > k->i[b] : k->i[a] < k->i[b];
}

/* stable merge sort of the positions p[0..n) by their keys; tmp holds n */
static void lt_merge_sort(const lt_keys *k, int64_t *p, int64_t *tmp, int64_t n) {
  int64_t h = n / 2, a = 0, b = h, o = 0;
  if (n < 2) return;
  lt_merge_sort(k, p, tmp, h);
  lt_merge_sort(k, p + h, tmp, n - h);
  while (a < h && b < n) tmp[o++] = lt_before(k, p[b], p[a]) ? p[b++] : p[a++];
  while (a < h) tmp[o++] = p[a++];
  while (b < n) tmp[o++] = p[b++];
  memcpy(p, tmp, (size_t)n * sizeof *p);
}

/* the sorting positions of every row of x along d, in x's layout */
static lt_tensor *lt_argsort_rows(lt_tensor *x, int d, int desc) {
  int64_t rows, n, r, i, *tmp;
  lt_dtype kt = lt_is_float(lt_dtypeof(x)) ? LT_FLOAT32 : LT_INT64;
  lt_tensor *keys = lt_lastdim(x, d, kt, &rows, &n), *ix = NULL, *out = NULL;
  lt_keys k;
  if (keys == NULL) return NULL;
  if ((tmp = lt_malloc((size_t)(n ? n : 1) * sizeof *tmp)) == NULL) {
    lt_err("sort: out of memory");
    goto done;
  }
  if ((ix = lt_empty_dtype(keys->shape, keys->ndim, LT_INT64)) == NULL) goto done;
  k.desc = desc;
  for (r = 0; r < rows; r++) {
    int64_t *p = (int64_t *)lt_ptr(ix) + r * n;
    k.f = kt == LT_FLOAT32 ? lt_data(keys) + r * n : NULL;
    k.i = kt == LT_INT64 ? lt_i64(keys) + r * n : NULL;
    for (i = 0; i < n; i++) p[i] = i;
    lt_merge_sort(&k, p, tmp, n);
  }
  out = lt_lastdim_undo(ix, x, d);
done:
  free(tmp);
  lt_tensor_release(keys);
  lt_tensor_release(ix);
  return out;
}

/* the sort dim, or an error (a 0-d tensor sorts as itself) */
static int lt_sort_dim(const char *op, const lt_tensor *x, int dim, int *d) {
  if (lt_wrap_dim(op, dim, x->ndim, d)) return -1;
  if (x->ndim == 0) *d = -1;
  return 0;
}

/* values = x gathered at idx (keeping gather's gradient) */
static int lt_sorted(lt_tensor *x, int d, lt_tensor *idx, lt_tensor **values) {
  if (d < 0) *values = lt_clone(x);
  else *values = lt_gather(x, d, idx);
  return *values ? 0 : -1;
}

int lt_sort(lt_tensor *x, int dim, int descending, lt_tensor **values, lt_tensor **idx) {
  lt_tensor *ix;
  int d;
  *values = NULL;
  if (idx) *idx = NULL;
  if (lt_sort_dim("sort", x, dim, &d) || (ix = lt_argsort_rows(x, d, descending)) == NULL)
    return -1;
  if (lt_sorted(x, d, ix, values)) { lt_tensor_release(ix); return -1; }
  if (idx) *idx = ix;
  else lt_tensor_release(ix);
  return 0;
}

int lt_topk(lt_tensor *x, int64_t k, int dim, int largest, lt_tensor **values,
            lt_tensor **idx) {
  lt_tensor *all, *part, *ix = NULL;
  int64_t size;
  int d, rc = -1;
  *values = NULL;
  *idx = NULL;
  if (lt_sort_dim("topk", x, dim, &d)) return -1;
  size = d < 0 ? 1 : x->shape[d];
  if (k < 0 || k > size) {
    lt_err("topk: k %lld out of range for a dim of size %lld", (long long)k, (long long)size);
    return -1;
  }
  if ((all = lt_argsort_rows(x, d, largest)) == NULL) return -1;
  if (d < 0) { ix = all; all = NULL; }
  else if ((part = lt_narrow(all, d, 0, k)) != NULL) {
    ix = lt_contiguous(part);
    lt_tensor_release(part);
  }
  if (ix && lt_sorted(x, d, ix, values) == 0) { *idx = ix; ix = NULL; rc = 0; }
  lt_tensor_release(all);
  lt_tensor_release(ix);
  return rc;
}

/* ---------------------------------------------------------------- cumsum, cumprod */

typedef struct lt_scan_ctx {
  int d, prod;
  lt_saved x, out;          /* cumprod's input and output */
} lt_scan_ctx;

/* cumprod's gradient along one row of n: x_i's is the sum over j >= i of
** g_j times the product of x_0..x_j without x_i.  Without zeros that is
** (sum_j>=i g_j out_j) / x_i; a row with a zero takes the direct sum. */
static void lt_cumprod_row_grad(const float *x, const float *out, const float *g, float *o,
                                int64_t n) {
  int64_t i, j, zero = 0;
  double acc = 0;
  for (i = 0; i < n; i++) zero |= x[i] == 0;
  if (!zero) {
    for (i = n - 1; i >= 0; i--) {
      acc += (double)g[i] * out[i];
      o[i] = (float)(acc / x[i]);
    }
    return;
  }
  for (i = 0; i < n; i++) {
    double sum = 0, pre = 1;
    for (j = 0; j < i; j++) pre *= x[j];
    for (j = i; j < n; j++) {
      if (j > i) pre *= x[j];
      sum += (double)g[j] * pre;
    }
    o[i] = (float)sum;
  }
}

static int lt_scan_backward(lt_node *nd, lt_tensor *g, lt_tensor **gin) {
  const lt_scan_ctx *c = lt_ag_ctx(nd, lt_scan_ctx);
  lt_tensor *x = nd->inputs[0], *gr, *xr = NULL, *orr = NULL, *o;
  int64_t rows, n, r, i;
  if ((gr = lt_lastdim(g, c->d, LT_FLOAT32, &rows, &n)) == NULL) return -1;
  if ((o = lt_empty(gr->shape, gr->ndim)) == NULL) goto done;
  if (c->prod && ((xr = lt_lastdim(c->x.t, c->d, LT_FLOAT32, &rows, &n)) == NULL ||
                  (orr = lt_lastdim(c->out.t, c->d, LT_FLOAT32, &rows, &n)) == NULL))
    goto done;
  for (r = 0; r < rows; r++) {
    const float *gp = lt_data(gr) + r * n;
    float *op = lt_data(o) + r * n;
    double acc = 0;
    if (c->prod) lt_cumprod_row_grad(lt_data(xr) + r * n, lt_data(orr) + r * n, gp, op, n);
    else for (i = n - 1; i >= 0; i--) { acc += gp[i]; op[i] = (float)acc; }
  }
  gin[0] = lt_lastdim_undo(o, x, c->d);
done:
  lt_tensor_release(gr);
  lt_tensor_release(xr);
  lt_tensor_release(orr);
  lt_tensor_release(o);
  return gin[0] ? 0 : -1;
}

/* integer scans, exact in int64 (wrapping) */
static lt_tensor *lt_scan_int(lt_tensor *x, int d, int prod) {
  int64_t rows, n, r, i;
  lt_tensor *xr = lt_lastdim(x, d, LT_INT64, &rows, &n), *o, *out = NULL;
  if (xr == NULL) return NULL;
  if ((o = lt_empty_dtype(xr->shape, xr->ndim, LT_INT64)) != NULL) {
    for (r = 0; r < rows; r++) {
      const int64_t *p = lt_i64(xr) + r * n;
      int64_t *q = (int64_t *)lt_ptr(o) + r * n;
      uint64_t acc = prod;
      for (i = 0; i < n; i++) {
        acc = prod ? acc * (uint64_t)p[i] : acc + (uint64_t)p[i];
        q[i] = (int64_t)acc;
      }
    }
    out = lt_lastdim_undo(o, x, d);
  }
  lt_tensor_release(xr);
  lt_tensor_release(o);
  return out;
}

static lt_tensor *lt_scan(const char *op, lt_tensor *x, int dim, int prod) {
  int64_t rows, n, r, i;
  lt_tensor *xr, *o = NULL, *out = NULL;
  lt_node *nd;
  int d;
  if (lt_sort_dim(op, x, dim, &d)) return NULL;
  if (!lt_is_float(lt_dtypeof(x))) return lt_scan_int(x, d, prod);
  if ((xr = lt_lastdim(x, d, LT_FLOAT32, &rows, &n)) == NULL) return NULL;
  if ((o = lt_empty(xr->shape, xr->ndim)) != NULL) {
    for (r = 0; r < rows; r++) {
      const float *p = lt_data(xr) + r * n;
      float *q = lt_data(o) + r * n;
      double acc = prod;
      for (i = 0; i < n; i++) {
        acc = prod ? acc * p[i] : acc + p[i];
        q[i] = (float)acc;
      }
    }
    out = lt_lastdim_undo(o, x, d);
  }
  if (out && (nd = lt_ag_record(out, prod ? "CumprodBackward" : "CumsumBackward",
                                lt_scan_backward, &x, 1, sizeof(lt_scan_ctx))) != NULL) {
    lt_scan_ctx *c = lt_ag_ctx(nd, lt_scan_ctx);
    c->d = d;
    c->prod = prod;
    if (prod) { lt_ag_save(nd, &c->x, x); lt_ag_save_output(nd, &c->out, out); }
  }
  lt_tensor_release(xr);
  lt_tensor_release(o);
  return out;
}

lt_tensor *lt_cumsum(lt_tensor *x, int dim) { return lt_scan("cumsum", x, dim, 0); }
lt_tensor *lt_cumprod(lt_tensor *x, int dim) { return lt_scan("cumprod", x, dim, 1); }
