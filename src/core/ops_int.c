/*
** ops_int.c -- arithmetic and reductions on integer and bool tensors,
** exact in int64 (the float ops keep float32 kernels of their own).
**
** Each binary op broadcasts both operands into contiguous int64 arrays,
** computes there, and stores the result as the dtype asked for.
** Overflow wraps as in PyTorch (done in unsigned arithmetic, where C
** defines it); a zero divisor is an error, as PyTorch raises for
** integer division.  None of this has a gradient.
*/
#include "dtype.h"
#include "lastdim.h"
#include "ops.h"

static const char *const lt_intop_names[] = {
  "add", "sub", "mul", "pow", "maximum", "minimum", "floor_divide", "remainder",
  "fmod", "bitwise_and", "bitwise_or", "bitwise_xor"
};

static int64_t lt_wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static int64_t lt_wrap_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static int64_t lt_wrap_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

/* a^b by squaring, wrapping; b >= 0 (checked by the caller) */
static int64_t lt_ipow(int64_t a, int64_t b) {
  uint64_t r = 1, x = (uint64_t)a;
  while (b > 0) {
    if (b & 1) r *= x;
    x *= x;
    b >>= 1;
  }
  return (int64_t)r;
}

/* C's / and % truncate; INT64_MIN / -1 overflows, and wraps to itself */
static int64_t lt_idiv_trunc(int64_t a, int64_t b) {
  return (b == -1) ? lt_wrap_mul(a, -1) : a / b;
}

static int64_t lt_ifloordiv(int64_t a, int64_t b) {
  int64_t q = lt_idiv_trunc(a, b);
  if (b != -1 && (a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

static int64_t lt_ifmod(int64_t a, int64_t b) { return b == -1 ? 0 : a % b; }

static int64_t lt_irem(int64_t a, int64_t b) {
  int64_t r = lt_ifmod(a, b);
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

/* the op over n pairs; -1 (lt_err set) on a zero divisor or a negative power */
static int lt_int_kernel(lt_intop op, const int64_t *a, const int64_t *b, int64_t *o,
                         int64_t n) {
  int64_t i;
  for (i = 0; i < n; i++) {
    int64_t x = a[i], y = b[i];
    if ((op == LT_IFLOORDIV || op == LT_IREM || op == LT_IFMOD) && y == 0) {
      lt_err("%s: integer division by zero", lt_intop_names[op]);
      return -1;
    }
    if (op == LT_IPOW && y < 0) {
      lt_err("pow: integers to negative integer powers are not allowed (got %lld)",
             (long long)y);
      return -1;
    }
    switch (op) {
    case LT_IADD: o[i] = lt_wrap_add(x, y); break;
    case LT_ISUB: o[i] = lt_wrap_sub(x, y); break;
    case LT_IMUL: o[i] = lt_wrap_mul(x, y); break;
    case LT_IPOW: o[i] = lt_ipow(x, y); break;
    case LT_IMAX: o[i] = x > y ? x : y; break;
    case LT_IMIN: o[i] = x < y ? x : y; break;
    case LT_IFLOORDIV: o[i] = lt_ifloordiv(x, y); break;
    case LT_IREM: o[i] = lt_irem(x, y); break;
    case LT_IFMOD: o[i] = lt_ifmod(x, y); break;
    case LT_IAND: o[i] = x & y; break;
    case LT_IOR: o[i] = x | y; break;
    case LT_IXOR: o[i] = x ^ y; break;
    }
  }
  return 0;
}

/* r (int64) as dtype dt; consumes r */
static lt_tensor *lt_int_result(lt_tensor *r, lt_dtype dt) {
  lt_tensor *out;
  if (r == NULL || dt == LT_INT64) return r;
  out = lt_to_dtype(r, dt);
  lt_tensor_release(r);
  return out;
}

lt_tensor *lt_int_binary(lt_intop op, lt_tensor *a, lt_tensor *b, lt_dtype dt) {
  int64_t shape[LT_MAXDIM];
  lt_tensor *x = NULL, *y = NULL, *r = NULL;
  int nd;
  if (lt_is_float(lt_dtypeof(a)) || lt_is_float(lt_dtypeof(b)) || lt_is_float(dt)) {
    lt_err("%s: integer arithmetic given a float32 operand", lt_intop_names[op]);
    return NULL;
  }
  if (op == LT_ISUB && lt_dtypeof(a) == LT_BOOL && lt_dtypeof(b) == LT_BOOL) {
    lt_err("sub: subtracting bool tensors is not supported (use bitwise_xor, or ~ to negate)");
    return NULL;
  }
  if (lt_broadcast_shape(lt_intop_names[op], a, b, shape, &nd)) return NULL;
  if ((x = lt_broadcast_to(a, shape, nd, LT_INT64)) == NULL || (y = lt_broadcast_to(b, shape, nd, LT_INT64)) == NULL ||
      (r = lt_empty_dtype(shape, nd, LT_INT64)) == NULL)
    goto done;
  if (lt_int_kernel(op, lt_i64(x), lt_i64(y), (int64_t *)lt_ptr(r), lt_numel(r))) {
    lt_tensor_release(r);
    r = NULL;
  }
done:
  lt_tensor_release(x);
  lt_tensor_release(y);
  return lt_int_result(r, dt);
}

/* neg and abs keep the dtype (bool: neg is an error, abs itself) */
static lt_tensor *lt_int_unary(lt_tensor *a, int absolute) {
  lt_tensor *x, *r;
  int64_t i, n, *p;
  if (lt_is_float(lt_dtypeof(a))) {
    lt_err("%s: integer arithmetic given a float32 operand", absolute ? "abs" : "neg");
    return NULL;
  }
  if (lt_dtypeof(a) == LT_BOOL) {
    if (absolute) return lt_clone(a);
    lt_err("neg: negating a bool tensor is not supported (use ~)");
    return NULL;
  }
  if ((x = lt_broadcast_to(a, a->shape, a->ndim, LT_INT64)) == NULL) return NULL;
  n = lt_numel(x);
  p = (int64_t *)lt_ptr(x);
  for (i = 0; i < n; i++)
    if (!absolute || p[i] < 0) p[i] = lt_wrap_mul(p[i], -1);
  r = lt_int_result(x, lt_dtypeof(a));
  return r;
}

lt_tensor *lt_int_neg(lt_tensor *a) { return lt_int_unary(a, 0); }
lt_tensor *lt_int_abs(lt_tensor *a) { return lt_int_unary(a, 1); }

/* ---------------------------------------------------------------- reductions */

/* x as int64 rows over dim (LT_ALLDIMS: one row); *d the wrapped dim */
static lt_tensor *lt_int_rows(const char *op, lt_tensor *x, int dim, int *d,
                              int64_t *rows, int64_t *n) {
  *d = -1;
  if (dim != LT_ALLDIMS && lt_wrap_dim(op, dim, x->ndim, d)) return NULL;
  if (x->ndim == 0) *d = -1;
  return lt_lastdim(x, *d, LT_INT64, rows, n);
}

lt_tensor *lt_int_sum(lt_tensor *x, int dim, int keepdim) {
  int64_t shape[LT_MAXDIM], rows, n, r, i;
  lt_tensor *c, *out;
  int d, nd;
  if ((c = lt_int_rows("sum", x, dim, &d, &rows, &n)) == NULL) return NULL;
  nd = lt_reduced_shape(x, d, keepdim, shape);
  if ((out = lt_empty_dtype(shape, nd, LT_INT64)) != NULL) {
    const int64_t *p = lt_i64(c);
    int64_t *o = (int64_t *)lt_ptr(out);
    if (n == 0) rows = lt_numel(out);   /* sums of nothing: 0 */
    for (r = 0; r < rows; r++) {
      int64_t s = 0;
      for (i = 0; i < n; i++) s = lt_wrap_add(s, p[r * n + i]);
      o[r] = s;
    }
  }
  lt_tensor_release(c);
  return out;
}

int lt_int_extreme(lt_tensor *x, int dim, int keepdim, int ismin, lt_tensor **values,
                   lt_tensor **idx) {
  const char *op = values ? (ismin ? "min" : "max") : (ismin ? "argmin" : "argmax");
  int64_t shape[LT_MAXDIM], rows, n, r, i;
  lt_tensor *c, *v = NULL, *ix = NULL;
  int d, nd, rc = -1;
  if ((c = lt_int_rows(op, x, dim, &d, &rows, &n)) == NULL) return -1;
  if (n == 0) {
    lt_err("%s: reduction over an empty %s", op, d < 0 ? "tensor" : "dim");
    goto done;
  }
  nd = lt_reduced_shape(x, d, keepdim, shape);
  if ((v = lt_empty_dtype(shape, nd, LT_INT64)) == NULL ||
      (ix = lt_empty_dtype(shape, nd, LT_INT64)) == NULL)
    goto done;
  for (r = 0; r < rows; r++) {
    const int64_t *p = lt_i64(c) + r * n;
    int64_t best = 0;
    for (i = 1; i < n; i++)   /* the first on ties, as PyTorch */
      if (ismin ? p[i] < p[best] : p[i] > p[best]) best = i;
    ((int64_t *)lt_ptr(v))[r] = p[best];
    ((int64_t *)lt_ptr(ix))[r] = best;
  }
  rc = 0;
  if (values && (*values = lt_int_result(v, lt_dtypeof(x))) == NULL) rc = -1;
  else if (!values) lt_tensor_release(v);
  v = NULL;
  if (idx && rc == 0) { *idx = ix; ix = NULL; }
done:
  lt_tensor_release(c);
  lt_tensor_release(v);
  lt_tensor_release(ix);
  return rc;
}
