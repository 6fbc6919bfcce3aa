/*
** ops_logic.c -- what answers yes or no, for any dtype: comparisons
** (bool tensors), isnan/isinf/isfinite, logical not, any/all, allclose
** and equal.  None of it has a gradient.
*/
#include <math.h>
#include <string.h>

#include "dtype.h"
#include "lastdim.h"
#include "ops.h"

/* float comparisons run the float kernel (0/1) and store bools */
static lt_tensor *lt_compare_float(lt_binop op, lt_tensor *a, lt_tensor *b) {
  lt_tensor *x = lt_to_dtype(a, LT_FLOAT32), *y = NULL, *f = NULL, *out = NULL;
  if (x && (y = lt_to_dtype(b, LT_FLOAT32)) != NULL && (f = lt_binary(op, x, y)) != NULL)
    out = lt_to_dtype(f, LT_BOOL);
  lt_tensor_release(x);
  lt_tensor_release(y);
  lt_tensor_release(f);
  return out;
}

/* integer and bool comparisons, exact in int64 */
static lt_tensor *lt_compare_int(lt_binop op, lt_tensor *a, lt_tensor *b) {
  int64_t shape[LT_MAXDIM], i, n;
  lt_tensor *x[2] = {NULL, NULL}, *out = NULL;
  int nd, k;
  if (lt_broadcast_shape(lt_binop_name(op), a, b, shape, &nd)) return NULL;
  for (k = 0; k < 2; k++)
    if ((x[k] = lt_broadcast_to(k ? b : a, shape, nd, LT_INT64)) == NULL) goto done;
  if ((out = lt_empty_dtype(shape, nd, LT_BOOL)) != NULL) {
    const int64_t *p = lt_i64(x[0]), *q = lt_i64(x[1]);
    unsigned char *o = lt_ptr(out);
    n = lt_numel(out);
    for (i = 0; i < n; i++)
      switch (op) {
      case LT_EQ: o[i] = p[i] == q[i]; break;
      case LT_NE: o[i] = p[i] != q[i]; break;
      case LT_LT: o[i] = p[i] < q[i]; break;
      case LT_LE: o[i] = p[i] <= q[i]; break;
      case LT_GT: o[i] = p[i] > q[i]; break;
      default: o[i] = p[i] >= q[i]; break;
      }
  }
done:
  for (k = 0; k < 2; k++) lt_tensor_release(x[k]);
  return out;
}

lt_tensor *lt_compare(lt_binop op, lt_tensor *a, lt_tensor *b) {
  if (op < LT_EQ) { lt_err("compare: %s is not a comparison", lt_binop_name(op)); return NULL; }
  if (lt_is_float(lt_promote(lt_dtypeof(a), lt_dtypeof(b)))) return lt_compare_float(op, a, b);
  return lt_compare_int(op, a, b);
}

lt_tensor *lt_test(lt_testop op, lt_tensor *x) {
  lt_tensor *c = lt_contiguous(x), *out;
  int64_t i, n = lt_numel(x);
  unsigned char *o;
  if (c == NULL) return NULL;
  if ((out = lt_empty_dtype(x->shape, x->ndim, LT_BOOL)) == NULL) goto done;
  o = lt_ptr(out);
  for (i = 0; i < n; i++) {
    const char *p = (const char *)lt_ptr(c) + i * (int64_t)lt_dtype_size(lt_dtypeof(c));
    double v = lt_get_f64(lt_dtypeof(c), p);
    switch (op) {
    case LT_ISNAN: o[i] = v != v; break;
    case LT_ISINF: o[i] = isinf(v) != 0; break;
    case LT_ISFINITE: o[i] = isfinite(v) != 0; break;
    case LT_NOT: o[i] = v == 0; break;
    }
  }
done:
  lt_tensor_release(c);
  return out;
}

/* any (all: every) nonzero along dim */
static lt_tensor *lt_anyall(const char *op, lt_tensor *x, int dim, int keepdim, int all) {
  int64_t shape[LT_MAXDIM], rows, n, r, i;
  lt_tensor *c, *out = NULL;
  int d = -1, nd;
  if (dim != LT_ALLDIMS && lt_wrap_dim(op, dim, x->ndim, &d)) return NULL;
  if (x->ndim == 0) d = -1;
  if ((c = lt_lastdim(x, d, LT_BOOL, &rows, &n)) == NULL) return NULL;
  nd = lt_reduced_shape(x, d, keepdim, shape);
  if ((out = lt_empty_dtype(shape, nd, LT_BOOL)) != NULL) {
    const unsigned char *p = lt_ptr(c);
    unsigned char *o = lt_ptr(out);
    if (n == 0) rows = lt_numel(out);
    for (r = 0; r < rows; r++) {
      unsigned char v = (unsigned char)all;
      for (i = 0; i < n && v == all; i++) v = p[r * n + i];
      o[r] = v;
    }
  }
  lt_tensor_release(c);
  return out;
}

lt_tensor *lt_any(lt_tensor *x, int dim, int keepdim) { return lt_anyall("any", x, dim, keepdim, 0); }
lt_tensor *lt_all(lt_tensor *x, int dim, int keepdim) { return lt_anyall("all", x, dim, keepdim, 1); }

/* |a - b| <= atol + rtol |b| everywhere (broadcasting), as torch.allclose */
int lt_allclose(lt_tensor *a, lt_tensor *b, double rtol, double atol, int equal_nan) {
  int64_t shape[LT_MAXDIM], sa[LT_MAXDIM], sb[LT_MAXDIM], off[2], i;
  const int64_t *st[2];
  size_t za = lt_dtype_size(lt_dtypeof(a)), zb = lt_dtype_size(lt_dtypeof(b));
  lt_tensor *ea, *eb;
  lt_iter it;
  int nd, ok = 1;
  if (lt_broadcast_shape("allclose", a, b, shape, &nd)) return -1;
  if ((ea = lt_expand(a, shape, nd)) == NULL) return -1;
  if ((eb = lt_expand(b, shape, nd)) == NULL) { lt_tensor_release(ea); return -1; }
  for (i = 0; i < nd; i++) { sa[i] = ea->stride[i]; sb[i] = eb->stride[i]; }
  st[0] = sa; st[1] = sb;
  off[0] = ea->offset; off[1] = eb->offset;
  lt_iter_init(&it, shape, nd, 2, st, off);
  if (!it.empty) do
    for (i = 0; i < it.len && ok; i++) {
      double x = lt_get_f64(lt_dtypeof(a), (char *)a->st->data + (it.off[0] + i * it.inner[0]) * (int64_t)za);
      double y = lt_get_f64(lt_dtypeof(b), (char *)b->st->data + (it.off[1] + i * it.inner[1]) * (int64_t)zb);
      if (x != x || y != y) ok = equal_nan && x != x && y != y;
      else if (x != y) ok = fabs(x - y) <= atol + rtol * fabs(y);   /* inf == inf passes */
    }
  while (ok && lt_iter_next(&it));
  lt_tensor_release(ea);
  lt_tensor_release(eb);
  return ok;
}

int lt_equal(lt_tensor *a, lt_tensor *b) {
  if (!lt_same_shape(a, b)) return 0;
  return lt_allclose(a, b, 0, 0, 0) == 1;
}

/* where for integer and bool results (float ones take lt_where, which has
** a gradient): cond nonzero picks a, else b, broadcasting all three */
lt_tensor *lt_where_any(lt_tensor *cond, lt_tensor *a, lt_tensor *b) {
  int64_t s1[LT_MAXDIM], shape[LT_MAXDIM], i, n;
  lt_tensor *c = NULL, *x = NULL, *y = NULL, *out = NULL, tmp;
  lt_dtype dt = lt_promote(lt_dtypeof(a), lt_dtypeof(b));
  size_t z = lt_dtype_size(dt);
  int n1, nd;
  if (lt_broadcast_shape("where", a, b, s1, &n1)) return NULL;
  memset(&tmp, 0, sizeof tmp);   /* a shape-only stand-in for a op b */
  tmp.ndim = n1;
  memcpy(tmp.shape, s1, sizeof s1);
  if (lt_broadcast_shape("where", cond, &tmp, shape, &nd)) return NULL;
  if ((c = lt_broadcast_to(cond, shape, nd, LT_BOOL)) != NULL &&
      (x = lt_broadcast_to(a, shape, nd, dt)) != NULL &&
      (y = lt_broadcast_to(b, shape, nd, dt)) != NULL &&
      (out = lt_empty_dtype(shape, nd, dt)) != NULL) {
    const unsigned char *m = lt_ptr(c);
    n = lt_numel(out);
    for (i = 0; i < n; i++)
      memcpy((char *)lt_ptr(out) + i * (int64_t)z,
             (const char *)lt_ptr(m[i] ? x : y) + i * (int64_t)z, z);
  }
  lt_tensor_release(c);
  lt_tensor_release(x);
  lt_tensor_release(y);
  return out;
}
