/*
** ops_round.c -- floor, ceil, round, trunc, sign (gradient zero, as in
** PyTorch), and the divisions that round: fmod, remainder and
** floor_divide.  Integer operands go to ops_int.c's exact kernels.
*/
#include <math.h>

#include "autograd.h"
#include "dtype.h"
#include "ops.h"

static float lt_round1(lt_roundop op, float v) {
  switch (op) {
  case LT_FLOOR: return floorf(v);
  case LT_CEIL: return ceilf(v);
  case LT_ROUND: return nearbyintf(v);     /* half to even, as torch.round */
  case LT_TRUNC: return truncf(v);
  default: return v > 0 ? 1.0f : v < 0 ? -1.0f : v;   /* sign(0) = 0, sign(nan) = nan */
  }
}

/* a step function: the gradient is zero wherever it exists */
static int lt_zero_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  int i;
  for (i = 0; i < n->ninputs; i++)
    if (n->needs[i] && (gin[i] = lt_zeros(n->inputs[i]->shape, n->inputs[i]->ndim)) == NULL)
      return -1;
  return 0;
}

/* sign of an integer tensor, in its own dtype */
static lt_tensor *lt_int_sign(lt_tensor *x) {
  lt_tensor *out = lt_empty_dtype(x->shape, x->ndim, lt_dtypeof(x)), *c;
  int64_t i, n = lt_numel(x);
  size_t z = lt_dtype_size(lt_dtypeof(x));
  if (out == NULL || (c = lt_contiguous(x)) == NULL) { lt_tensor_release(out); return NULL; }
  for (i = 0; i < n; i++) {
    int64_t v = lt_get_i64(lt_dtypeof(c), (char *)lt_ptr(c) + i * (int64_t)z);
    lt_set_i64(lt_dtypeof(out), (char *)lt_ptr(out) + i * (int64_t)z, (v > 0) - (v < 0));
  }
  lt_tensor_release(c);
  return out;
}

lt_tensor *lt_round_op(lt_roundop op, lt_tensor *x) {
  lt_tensor *c, *out;
  int64_t i, n;
  if (!lt_is_float(lt_dtypeof(x))) return op == LT_SIGN ? lt_int_sign(x) : lt_clone(x);
  if ((c = lt_contiguous(x)) == NULL) return NULL;
  if ((out = lt_empty(x->shape, x->ndim)) != NULL) {
    const float *p = lt_data(c);
    float *o = lt_data(out);
    n = lt_numel(out);
    for (i = 0; i < n; i++) o[i] = lt_round1(op, p[i]);
    lt_ag_record(out, op == LT_SIGN ? "SignBackward" : "RoundBackward", lt_zero_backward,
                 &x, 1, 0);
  }
  lt_tensor_release(c);
  return out;
}

/* ---------------------------------------------------------------- fmod, remainder, floor_divide */

typedef enum { LT_DIV_FMOD, LT_DIV_REM, LT_DIV_FLOOR } lt_divop;

static float lt_div1(lt_divop op, float a, float b) {
  float r;
  if (op == LT_DIV_FLOOR) return floorf(a / b);
  r = fmodf(a, b);
  if (op == LT_DIV_REM && r != 0 && ((r < 0) != (b < 0))) r += b;   /* sign of b */
  return r;
}

/* d/da = 1, d/db = -trunc(a/b) (fmod) or -floor(a/b) (remainder) */
typedef struct lt_div_ctx {
  lt_divop op;
  lt_saved a, b;
} lt_div_ctx;

static int lt_div_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_div_ctx *c = lt_ag_ctx(n, lt_div_ctx);
  lt_tensor *q = NULL, *r = NULL, *t = NULL;
  if (n->needs[0] && (gin[0] = lt_sum_to(g, c->a.t->shape, c->a.t->ndim)) == NULL) return -1;
  if (!n->needs[1]) return 0;
  if ((q = lt_binary(LT_DIV, c->a.t, c->b.t)) != NULL &&
      (r = lt_round_op(c->op == LT_DIV_FMOD ? LT_TRUNC : LT_FLOOR, q)) != NULL &&
      (t = lt_binary(LT_MUL, g, r)) != NULL) {
    lt_tensor *neg = lt_unary(LT_NEG, t);
    if (neg) gin[1] = lt_sum_to(neg, c->b.t->shape, c->b.t->ndim);
    lt_tensor_release(neg);
  }
  lt_tensor_release(q);
  lt_tensor_release(r);
  lt_tensor_release(t);
  return gin[1] ? 0 : -1;
}

static lt_tensor *lt_divide_round(lt_divop op, lt_tensor *a, lt_tensor *b) {
  static const char *const names[] = {"fmod", "remainder", "floor_divide"};
  static const lt_intop iops[] = {LT_IFMOD, LT_IREM, LT_IFLOORDIV};
  int64_t shape[LT_MAXDIM], i, n;
  lt_tensor *x = NULL, *y = NULL, *out = NULL, *in[2];
  lt_node *nd;
  int ndim;
  lt_dtype dt = lt_promote(lt_dtypeof(a), lt_dtypeof(b));
  if (!lt_is_float(dt)) return lt_int_binary(iops[op], a, b, dt);
  if (lt_broadcast_shape(names[op], a, b, shape, &ndim)) return NULL;
  if ((x = lt_to_dtype(a, LT_FLOAT32)) == NULL || (y = lt_to_dtype(b, LT_FLOAT32)) == NULL)
    goto done;
  {
    lt_tensor *sx = lt_broadcast_to(x, shape, ndim, LT_FLOAT32);
    lt_tensor *sy = sx ? lt_broadcast_to(y, shape, ndim, LT_FLOAT32) : NULL;
    if (sy && (out = lt_empty(shape, ndim)) != NULL) {
      n = lt_numel(out);
      for (i = 0; i < n; i++) lt_data(out)[i] = lt_div1(op, lt_data(sx)[i], lt_data(sy)[i]);
    }
    lt_tensor_release(sx);
    lt_tensor_release(sy);
  }
  in[0] = a; in[1] = b;
  if (out && op != LT_DIV_FLOOR &&
      (nd = lt_ag_record(out, op == LT_DIV_FMOD ? "FmodBackward" : "RemainderBackward",
                         lt_div_backward, in, 2, sizeof(lt_div_ctx))) != NULL) {
    lt_div_ctx *c = lt_ag_ctx(nd, lt_div_ctx);
    c->op = op;
    lt_ag_save(nd, &c->a, x);
    lt_ag_save(nd, &c->b, y);
  }
done:
  lt_tensor_release(x);
  lt_tensor_release(y);
  return out;
}

lt_tensor *lt_fmod(lt_tensor *a, lt_tensor *b) { return lt_divide_round(LT_DIV_FMOD, a, b); }
lt_tensor *lt_remainder(lt_tensor *a, lt_tensor *b) { return lt_divide_round(LT_DIV_REM, a, b); }
lt_tensor *lt_floor_divide(lt_tensor *a, lt_tensor *b) { return lt_divide_round(LT_DIV_FLOOR, a, b); }
