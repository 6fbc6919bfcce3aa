/*
** ops_elem.c -- elementwise ops with NumPy broadcasting, and their
** backwards.  Forward kernels run row by row over lt_iter, cut into
** pieces for the thread pool (lt_iter_parallel); each row is a plain
** loop specialised for unit and zero strides so it vectorises, and the
** transcendental functions are vmath.h's, which vectorise too.
*/
#include <math.h>
#include <string.h>

#include "autograd.h"
#include "ops.h"
#include "pool.h"
#include "profile.h"
#include "vmath.h"

static const char *const lt_binop_names[] = {
  "add", "sub", "mul", "div", "pow", "maximum", "minimum",
  "eq", "ne", "lt", "le", "gt", "ge"
};

static const char *const lt_unop_names[] = {
  "neg", "exp", "log", "sqrt", "rsqrt", "abs", "tanh", "sigmoid",
  "relu", "gelu", "gelu_tanh", "silu", "sin", "cos", "square"
};

/* what a unary op's node is called (grad_fn, anomaly detection's messages) */
static const char *const lt_unop_nodes[] = {
  "NegBackward", "ExpBackward", "LogBackward", "SqrtBackward", "RsqrtBackward",
  "AbsBackward", "TanhBackward", "SigmoidBackward", "ReluBackward", "GeluBackward",
  "GeluBackward", "SiluBackward", "SinBackward", "CosBackward", "SquareBackward"
};

const char *lt_binop_name(lt_binop op) { return lt_binop_names[op]; }
const char *lt_unop_name(lt_unop op) { return lt_unop_names[op]; }

/* ---------------------------------------------------------------- broadcasting */

int lt_broadcast_shape(const char *op, const lt_tensor *a, const lt_tensor *b,
                       int64_t *shape, int *ndim) {
  int n = a->ndim > b->ndim ? a->ndim : b->ndim, i;
  char b1[160], b2[160];
  for (i = 0; i < n; i++) {
    int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
    int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
    if (sa != sb && sa != 1 && sb != 1) {
      lt_err("%s: shapes %s and %s do not broadcast (%lld ~= %lld in dim %d)", op,
             lt_shape_str(a, b1, sizeof b1), lt_shape_str(b, b2, sizeof b2),
             (long long)sa, (long long)sb, i + 1);
      return -1;
    }
    shape[i] = sa == 1 ? sb : sa;
  }
  *ndim = n;
  return 0;
}

/* strides of t seen with the broadcast shape: 0 where t is stretched */
static void lt_bstrides(const lt_tensor *t, const int64_t *shape, int ndim,
                        int64_t *stride) {
  int lead = ndim - t->ndim, i;
  for (i = 0; i < ndim; i++)
    stride[i] = (i < lead || t->shape[i - lead] != shape[i]) ? 0 : t->stride[i - lead];
}

/* ---------------------------------------------------------------- binary kernels */

static inline void lt_binrow(lt_binop op, float *o, const float *a, int64_t sa,
                             const float *b, int64_t sb, int64_t n) {
  int64_t i;
  switch (op) {
  case LT_ADD: for (i = 0; i < n; i++) o[i] = a[i * sa] + b[i * sb]; break;
  case LT_SUB: for (i = 0; i < n; i++) o[i] = a[i * sa] - b[i * sb]; break;
  case LT_MUL: for (i = 0; i < n; i++) o[i] = a[i * sa] * b[i * sb]; break;
  case LT_DIV: for (i = 0; i < n; i++) o[i] = a[i * sa] / b[i * sb]; break;
  case LT_POW: for (i = 0; i < n; i++) o[i] = powf(a[i * sa], b[i * sb]); break;
  case LT_MAXIMUM:   /* NaN propagates, as in PyTorch */
    for (i = 0; i < n; i++) {
      float x = a[i * sa], y = b[i * sb];
      o[i] = (x > y || x != x) ? x : y;
    }
    break;
  case LT_MINIMUM:
    for (i = 0; i < n; i++) {
      float x = a[i * sa], y = b[i * sb];
      o[i] = (x < y || x != x) ? x : y;
    }
    break;
  case LT_EQ: for (i = 0; i < n; i++) o[i] = a[i * sa] == b[i * sb]; break;
  case LT_NE: for (i = 0; i < n; i++) o[i] = a[i * sa] != b[i * sb]; break;
  case LT_LT: for (i = 0; i < n; i++) o[i] = a[i * sa] < b[i * sb]; break;
  case LT_LE: for (i = 0; i < n; i++) o[i] = a[i * sa] <= b[i * sb]; break;
  case LT_GT: for (i = 0; i < n; i++) o[i] = a[i * sa] > b[i * sb]; break;
  case LT_GE: for (i = 0; i < n; i++) o[i] = a[i * sa] >= b[i * sb]; break;
  }
}

/* dispatch so the common stride patterns get their own vectorised loop */
static void lt_binrow_any(lt_binop op, float *o, const float *a, int64_t sa,
                          const float *b, int64_t sb, int64_t n) {
  if (sa == 1 && sb == 1) lt_binrow(op, o, a, 1, b, 1, n);
  else if (sa == 1 && sb == 0) lt_binrow(op, o, a, 1, b, 0, n);
  else if (sa == 0 && sb == 1) lt_binrow(op, o, a, 0, b, 1, n);
  else lt_binrow(op, o, a, sa, b, sb, n);
}

typedef struct lt_elem_job {
  int op;                              /* an lt_binop or lt_unop */
  float *o;
  const float *a, *b;
} lt_elem_job;

static void lt_binary_run(void *ctx, const int64_t *off, const int64_t *inner,
                          int64_t len) {
  const lt_elem_job *j = ctx;
  lt_binrow_any((lt_binop)j->op, j->o + off[0], j->a + off[1], inner[1],
                j->b + off[2], inner[2], len);
}

/* t has the whole shape and no stretched (stride 0) dim */
static int lt_full_layout(const lt_tensor *t, const int64_t *shape, int nd) {
  int i;
  if (t->ndim != nd || memcmp(t->shape, shape, (size_t)nd * sizeof *shape) != 0) return 0;
  for (i = 0; i < nd; i++)
    if (t->shape[i] > 1 && t->stride[i] == 0) return 0;
  return 1;
}

/* the result laid out like an operand of the full shape (as PyTorch's
** TensorIterator does): the heads of a transposed view stay so, and the
** views that follow (merging heads) need no copy */
static lt_tensor *lt_binary_out(const lt_tensor *a, const lt_tensor *b,
                                const int64_t *shape, int nd) {
  if (lt_full_layout(a, shape, nd)) return lt_empty_order(shape, nd, a);
  if (lt_full_layout(b, shape, nd)) return lt_empty_order(shape, nd, b);
  return lt_empty(shape, nd);
}

static lt_tensor *lt_binary_raw(lt_binop op, lt_tensor *a, lt_tensor *b) {
  int64_t shape[LT_MAXDIM], sa[LT_MAXDIM], sb[LT_MAXDIM], off[3];
  const int64_t *st[3];
  lt_tensor *out;
  lt_elem_job j;
  lt_iter it;
  int nd;
  if (lt_broadcast_shape(lt_binop_names[op], a, b, shape, &nd)) return NULL;
  if ((out = lt_binary_out(a, b, shape, nd)) == NULL) return NULL;
  lt_prof_work((double)lt_numel(out));
  lt_bstrides(a, shape, nd, sa);
  lt_bstrides(b, shape, nd, sb);
  {   /* walk in the output's memory order: its inner run is unit-stride */
    int64_t ps[LT_MAXDIM], po[LT_MAXDIM], pa[LT_MAXDIM], pb[LT_MAXDIM];
    int perm[LT_MAXDIM], i;
    lt_dim_order(out, perm);
    for (i = 0; i < nd; i++) {
      ps[i] = shape[perm[i]]; po[i] = out->stride[perm[i]];
      pa[i] = sa[perm[i]]; pb[i] = sb[perm[i]];
    }
    st[0] = po; st[1] = pa; st[2] = pb;
    off[0] = 0; off[1] = a->offset; off[2] = b->offset;
    lt_iter_init(&it, ps, nd, 3, st, off);
  }
  j.op = op; j.o = out->st->data; j.a = a->st->data; j.b = b->st->data;
  if (lt_iter_parallel(&it, op == LT_POW ? 20 : 1, LT_PAR_INTR, lt_binary_run, &j)) {
    lt_tensor_release(out);
    return NULL;
  }
  return out;
}

/* ---------------------------------------------------------------- binary backward */

/* g op x, summed down to shape of `like` */
static lt_tensor *lt_grad_to(lt_tensor *g, lt_tensor *like) {
  return lt_sum_to(g, like->shape, like->ndim);
}

static lt_tensor *lt_mul_to(lt_tensor *g, lt_tensor *x, lt_tensor *like) {
  lt_tensor *p = lt_binary_raw(LT_MUL, g, x), *r;
  if (p == NULL) return NULL;
  r = lt_grad_to(p, like);
  lt_tensor_release(p);
  return r;
}

/* d(out)/da as a tensor: the factor g is multiplied by for input a */
static lt_tensor *lt_pow_factor_a(lt_tensor *a, lt_tensor *b) {
  lt_tensor *bm1 = lt_binary_scalar(LT_SUB, b, 1.0f, 0), *p, *r = NULL;
  if (bm1 == NULL) return NULL;
  if ((p = lt_binary_raw(LT_POW, a, bm1)) != NULL) r = lt_binary_raw(LT_MUL, p, b);
  lt_tensor_release(p);
  lt_tensor_release(bm1);
  return r;
}

/* for maximum/minimum: 1 where a wins, 1/2 on ties, 0 where b wins */
static lt_tensor *lt_select_mask(lt_binop op, lt_tensor *a, lt_tensor *b) {
  lt_tensor *win = lt_binary_raw(op == LT_MAXIMUM ? LT_GT : LT_LT, a, b);
  lt_tensor *tie = lt_binary_raw(LT_EQ, a, b), *half = NULL, *m = NULL;
  if (win && tie && (half = lt_binary_scalar(LT_MUL, tie, 0.5f, 0)) != NULL)
    m = lt_binary_raw(LT_ADD, win, half);
  lt_tensor_release(win);
  lt_tensor_release(tie);
  lt_tensor_release(half);
  return m;
}

/* add and sub need nothing but the edges; the others read the operands,
** div and pow their output too */
typedef struct lt_binary_ctx {
  lt_binop op;
  lt_saved a, b, out;
} lt_binary_ctx;

static int lt_binary_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_binary_ctx *c = lt_ag_ctx(n, lt_binary_ctx);
  lt_binop op = c->op;
  lt_tensor *a = c->a.t, *b = c->b.t, *out = c->out.t;
  lt_tensor *fa = NULL, *fb = NULL, *t = NULL;
  int rc = 0;
  switch (op) {
  case LT_ADD: case LT_SUB:   /* nothing saved: the edges give the shapes */
    if (n->needs[0]) gin[0] = lt_grad_to(g, n->inputs[0]);
    if (n->needs[1]) {
      t = op == LT_SUB ? lt_unary(LT_NEG, g) : lt_tensor_retain(g);
      gin[1] = t ? lt_grad_to(t, n->inputs[1]) : NULL;
    }
    break;
  case LT_MUL:
    if (n->needs[0]) gin[0] = lt_mul_to(g, b, a);
    if (n->needs[1]) gin[1] = lt_mul_to(g, a, b);
    break;
  case LT_DIV:   /* d/da = 1/b, d/db = -out/b */
    if (n->needs[0]) gin[0] = (t = lt_binary_raw(LT_DIV, g, b)) ? lt_grad_to(t, a) : NULL;
    if (n->needs[1] && (fb = lt_binary_raw(LT_DIV, out, b)) != NULL) {
      lt_tensor *neg = lt_unary(LT_NEG, fb);
      gin[1] = neg ? lt_mul_to(g, neg, b) : NULL;
      lt_tensor_release(neg);
    }
    break;
  case LT_POW:   /* d/da = b a^(b-1), d/db = out log a */
    if (n->needs[0] && (fa = lt_pow_factor_a(a, b)) != NULL) gin[0] = lt_mul_to(g, fa, a);
    if (n->needs[1] && (t = lt_unary(LT_LOG, a)) != NULL &&
        (fb = lt_binary_raw(LT_MUL, out, t)) != NULL)
      gin[1] = lt_mul_to(g, fb, b);
    break;
  case LT_MAXIMUM: case LT_MINIMUM:
    if ((fa = lt_select_mask(op, a, b)) == NULL) break;
    if (n->needs[0]) gin[0] = lt_mul_to(g, fa, a);
    if (n->needs[1] && (fb = lt_binary_scalar(LT_SUB, fa, 1.0f, 1)) != NULL)
      gin[1] = lt_mul_to(g, fb, b);
    break;
  default:
    lt_err("%s: has no gradient", lt_binop_names[op]);
    rc = -1;
  }
  lt_tensor_release(fa);
  lt_tensor_release(fb);
  lt_tensor_release(t);
  if ((n->needs[0] && !gin[0]) || (n->needs[1] && !gin[1])) rc = -1;
  return rc;
}

lt_tensor *lt_binary(lt_binop op, lt_tensor *a, lt_tensor *b) {
  lt_tensor *out = lt_binary_raw(op, a, b), *in[2];
  lt_node *n;
  if (out == NULL || op >= LT_EQ) return out;    /* comparisons: no grad */
  in[0] = a; in[1] = b;
  if ((n = lt_ag_record(out, op == LT_ADD ? "AddBackward" : op == LT_SUB ? "SubBackward" :
                        op == LT_MUL ? "MulBackward" : op == LT_DIV ? "DivBackward" :
                        op == LT_POW ? "PowBackward" : "MaxMinBackward",
                        lt_binary_backward, in, 2, sizeof(lt_binary_ctx))) != NULL) {
    lt_binary_ctx *c = lt_ag_ctx(n, lt_binary_ctx);
    c->op = op;
    if (op != LT_ADD && op != LT_SUB) { lt_ag_save(n, &c->a, a); lt_ag_save(n, &c->b, b); }
    if (op == LT_DIV || op == LT_POW) lt_ag_save_output(n, &c->out, out);
  }
  return out;
}

lt_tensor *lt_binary_scalar(lt_binop op, lt_tensor *a, float s, int s_first) {
  lt_tensor *c = lt_scalar(s), *out;
  if (c == NULL) return NULL;
  out = s_first ? lt_binary(op, c, a) : lt_binary(op, a, c);
  lt_tensor_release(c);
  return out;
}

/* ---------------------------------------------------------------- unary */

static inline void lt_unrow(lt_unop op, float *o, const float *x, int64_t sx, int64_t n) {
  int64_t i;
  switch (op) {
  case LT_NEG: for (i = 0; i < n; i++) o[i] = -x[i * sx]; break;
  case LT_EXP: for (i = 0; i < n; i++) o[i] = lt_vexp(x[i * sx]); break;
  case LT_LOG: for (i = 0; i < n; i++) o[i] = logf(x[i * sx]); break;
  case LT_SQRT: for (i = 0; i < n; i++) o[i] = sqrtf(x[i * sx]); break;
  case LT_RSQRT: for (i = 0; i < n; i++) o[i] = 1.0f / sqrtf(x[i * sx]); break;
  case LT_ABS: for (i = 0; i < n; i++) o[i] = fabsf(x[i * sx]); break;
  case LT_TANH: for (i = 0; i < n; i++) o[i] = lt_vtanh(x[i * sx]); break;
  case LT_SIGMOID: for (i = 0; i < n; i++) o[i] = lt_vsigmoid(x[i * sx]); break;
  case LT_RELU: for (i = 0; i < n; i++) o[i] = x[i * sx] > 0 ? x[i * sx] : 0.0f; break;
  case LT_GELU: for (i = 0; i < n; i++) o[i] = lt_vgelu(x[i * sx]); break;
  case LT_GELU_TANH: for (i = 0; i < n; i++) o[i] = lt_vgelu_tanh(x[i * sx]); break;
  case LT_SILU: for (i = 0; i < n; i++) o[i] = lt_vsilu(x[i * sx]); break;
  case LT_SIN: for (i = 0; i < n; i++) o[i] = sinf(x[i * sx]); break;
  case LT_COS: for (i = 0; i < n; i++) o[i] = cosf(x[i * sx]); break;
  case LT_SQUARE: for (i = 0; i < n; i++) o[i] = x[i * sx] * x[i * sx]; break;
  }
}

/* o = g * dy/dx over n contiguous elements, from the input x and the
** output y (exp and the roots read f' from f) */
static inline void lt_unback_row(lt_unop op, float *restrict o, const float *restrict x,
                                 const float *restrict y, const float *restrict g,
                                 int64_t n) {
  int64_t i;
  switch (op) {
  case LT_NEG: for (i = 0; i < n; i++) o[i] = -g[i]; break;
  case LT_EXP: for (i = 0; i < n; i++) o[i] = g[i] * y[i]; break;
  case LT_LOG: for (i = 0; i < n; i++) o[i] = g[i] / x[i]; break;
  case LT_SQRT: for (i = 0; i < n; i++) o[i] = g[i] * 0.5f / y[i]; break;
  case LT_RSQRT: for (i = 0; i < n; i++) o[i] = g[i] * -0.5f * y[i] * y[i] * y[i]; break;
  case LT_ABS:
    for (i = 0; i < n; i++) o[i] = x[i] > 0 ? g[i] : x[i] < 0 ? -g[i] : 0.0f;
    break;
  case LT_TANH: for (i = 0; i < n; i++) o[i] = g[i] * lt_vtanh_grad(x[i]); break;
  case LT_SIGMOID: for (i = 0; i < n; i++) o[i] = g[i] * lt_vsigmoid_grad(x[i]); break;
  case LT_RELU: for (i = 0; i < n; i++) o[i] = x[i] > 0 ? g[i] : 0.0f; break;
  case LT_GELU: for (i = 0; i < n; i++) o[i] = g[i] * lt_vgelu_grad(x[i]); break;
  case LT_GELU_TANH: for (i = 0; i < n; i++) o[i] = g[i] * lt_vgelu_tanh_grad(x[i]); break;
  case LT_SILU: for (i = 0; i < n; i++) o[i] = g[i] * lt_vsilu_grad(x[i]); break;
  case LT_SIN: for (i = 0; i < n; i++) o[i] = g[i] * cosf(x[i]); break;
  case LT_COS: for (i = 0; i < n; i++) o[i] = -g[i] * sinf(x[i]); break;
  case LT_SQUARE: for (i = 0; i < n; i++) o[i] = g[i] * 2.0f * x[i]; break;
  }
}

/* rough flops per element, for how the pool splits the work */
static double lt_unop_cost(lt_unop op) {
  switch (op) {
  case LT_NEG: case LT_ABS: case LT_RELU: case LT_SQUARE: return 1;
  case LT_SQRT: case LT_RSQRT: return 4;
  default: return 25;
  }
}

/* the derivative reads the input and the output (exp, tanh, sqrt: f' from f) */
typedef struct lt_unary_ctx {
  lt_unop op;
  lt_saved x, y;
} lt_unary_ctx;

typedef struct lt_unback_job {
  lt_unop op;
  float *o;
  const float *x, *y, *g;
} lt_unback_job;

static int lt_unback_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_unback_job *j = ctx;
  (void)worker;
  lt_unback_row(j->op, j->o + lo, j->x + lo, j->y + lo, j->g + lo, hi - lo);
  return 0;
}

static int lt_unary_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_unary_ctx *c = lt_ag_ctx(n, lt_unary_ctx);
  lt_tensor *x = lt_contiguous(c->x.t), *y = lt_contiguous(c->y.t), *cg = lt_contiguous(g);
  lt_unback_job j;
  int64_t len;
  if (x && y && cg && (gin[0] = lt_empty(x->shape, x->ndim)) != NULL) {
    j.op = c->op;
    j.o = lt_data(gin[0]); j.x = lt_data(x); j.y = lt_data(y); j.g = lt_data(cg);
    len = lt_numel(x);
    lt_prof_work(2.0 * (double)len);
    if (lt_parallel(len, lt_par_chunk(len, lt_unop_cost(c->op)), LT_PAR_INTR,
                    lt_unback_task, &j)) {
      lt_tensor_release(gin[0]);
      gin[0] = NULL;
    }
  }
  lt_tensor_release(x);
  lt_tensor_release(y);
  lt_tensor_release(cg);
  return gin[0] ? 0 : -1;
}

static void lt_unary_run(void *ctx, const int64_t *off, const int64_t *inner,
                         int64_t len) {
  const lt_elem_job *j = ctx;
  if (inner[1] == 1) lt_unrow((lt_unop)j->op, j->o + off[0], j->a + off[1], 1, len);
  else lt_unrow((lt_unop)j->op, j->o + off[0], j->a + off[1], inner[1], len);
}

/* out (contiguous, shape of x) = f(x) row by row */
static lt_tensor *lt_unary_raw(lt_unop op, lt_tensor *x) {
  const int64_t *st[2];
  int64_t off[2];
  lt_tensor *out = lt_empty(x->shape, x->ndim);
  lt_elem_job j;
  lt_iter it;
  if (out == NULL) return NULL;
  lt_prof_work((double)lt_numel(out));
  st[0] = out->stride; st[1] = x->stride;
  off[0] = 0; off[1] = x->offset;
  lt_iter_init(&it, x->shape, x->ndim, 2, st, off);
  j.op = op; j.o = out->st->data; j.a = x->st->data; j.b = NULL;
  if (lt_iter_parallel(&it, lt_unop_cost(op), LT_PAR_INTR, lt_unary_run, &j)) {
    lt_tensor_release(out);
    return NULL;
  }
  return out;
}

lt_tensor *lt_unary(lt_unop op, lt_tensor *x) {
  lt_tensor *out = lt_unary_raw(op, x);
  lt_node *n;
  if (out && (n = lt_ag_record(out, lt_unop_nodes[op], lt_unary_backward, &x, 1,
                               sizeof(lt_unary_ctx))) != NULL) {
    lt_unary_ctx *c = lt_ag_ctx(n, lt_unary_ctx);
    c->op = op;
    lt_ag_save(n, &c->x, x);
    lt_ag_save_output(n, &c->y, out);
  }
  return out;
}

/* ---------------------------------------------------------------- clamp */

/* the gradient passes where the input was inside [lo, hi] */
typedef struct lt_clamp_ctx {
  float lo, hi;
  lt_saved x;
} lt_clamp_ctx;

static int lt_clamp_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_clamp_ctx *c = lt_ag_ctx(n, lt_clamp_ctx);
  lt_tensor *x = lt_contiguous(c->x.t), *cg = lt_contiguous(g);
  float lo = c->lo, hi = c->hi;
  int64_t i, len;
  if (x && cg && (gin[0] = lt_empty(x->shape, x->ndim)) != NULL) {
    const float *px = lt_data(x), *pg = lt_data(cg);
    float *o = lt_data(gin[0]);
    len = lt_numel(x);
    lt_prof_work((double)len);
    for (i = 0; i < len; i++) o[i] = (px[i] >= lo && px[i] <= hi) ? pg[i] : 0.0f;
  }
  lt_tensor_release(x);
  lt_tensor_release(cg);
  return gin[0] ? 0 : -1;
}

lt_tensor *lt_clamp(lt_tensor *x, float lo, float hi) {
  lt_tensor *out;
  lt_node *n;
  int64_t i, len;
  float *o;
  if (lo > hi) {
    lt_err("clamp: min %g is greater than max %g", (double)lo, (double)hi);
    return NULL;
  }
  if ((out = lt_empty(x->shape, x->ndim)) == NULL) return NULL;
  lt_copy_into(out, x);
  o = lt_data(out);
  len = lt_numel(out);
  lt_prof_work((double)len);
  for (i = 0; i < len; i++) o[i] = o[i] < lo ? lo : o[i] > hi ? hi : o[i];
  if ((n = lt_ag_record(out, "ClampBackward", lt_clamp_backward, &x, 1,
                        sizeof(lt_clamp_ctx))) != NULL) {
    lt_clamp_ctx *c = lt_ag_ctx(n, lt_clamp_ctx);
    c->lo = lo;
    c->hi = hi;
    lt_ag_save(n, &c->x, x);
  }
  return out;
}

/* ---------------------------------------------------------------- where, masked_fill */

typedef struct lt_where_job {
  float *o;
  const float *c, *a, *b;
} lt_where_job;

static void lt_where_run(void *ctx, const int64_t *off, const int64_t *inner, int64_t len) {
  const lt_where_job *j = ctx;
  float *o = j->o + off[0];
  const float *pc = j->c + off[1], *pa = j->a + off[2], *pb = j->b + off[3];
  int64_t i;
  for (i = 0; i < len; i++)
    o[i] = pc[i * inner[1]] != 0 ? pa[i * inner[2]] : pb[i * inner[3]];
}

static lt_tensor *lt_where_raw(lt_tensor *c, lt_tensor *a, lt_tensor *b) {
  int64_t s1[LT_MAXDIM], shape[LT_MAXDIM];
  int64_t sc[LT_MAXDIM], sa[LT_MAXDIM], sb[LT_MAXDIM], off[4];
  const int64_t *st[4];
  lt_tensor *out, tmp;   /* tmp: a shape-only stand-in for a op b */
  lt_where_job j;
  lt_iter it;
  int n1, nd;
  if (lt_broadcast_shape("where", a, b, s1, &n1)) return NULL;
  memset(&tmp, 0, sizeof tmp);
  tmp.ndim = n1;
  memcpy(tmp.shape, s1, sizeof s1);
  if (lt_broadcast_shape("where", c, &tmp, shape, &nd)) return NULL;
  if ((out = lt_empty(shape, nd)) == NULL) return NULL;
  lt_prof_work((double)lt_numel(out));
  lt_bstrides(c, shape, nd, sc);
  lt_bstrides(a, shape, nd, sa);
  lt_bstrides(b, shape, nd, sb);
  st[0] = out->stride; st[1] = sc; st[2] = sa; st[3] = sb;
  off[0] = 0; off[1] = c->offset; off[2] = a->offset; off[3] = b->offset;
  lt_iter_init(&it, shape, nd, 4, st, off);
  j.o = out->st->data; j.c = c->st->data; j.a = a->st->data; j.b = b->st->data;
  if (lt_iter_parallel(&it, 1, LT_PAR_INTR, lt_where_run, &j)) {
    lt_tensor_release(out);
    return NULL;
  }
  return out;
}

/* the condition routes each element's gradient to a or to b */
typedef struct lt_where_ctx {
  lt_saved cond;
} lt_where_ctx;

static int lt_where_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  lt_tensor *c = lt_ag_ctx(n, lt_where_ctx)->cond.t, *zero = lt_scalar(0.0f), *t;
  int i;
  if (zero == NULL) return -1;
  for (i = 1; i <= 2; i++) {
    if (!n->needs[i]) continue;
    t = i == 1 ? lt_where_raw(c, g, zero) : lt_where_raw(c, zero, g);
    gin[i] = t ? lt_sum_to(t, n->inputs[i]->shape, n->inputs[i]->ndim) : NULL;
    lt_tensor_release(t);
    if (gin[i] == NULL) break;
  }
  lt_tensor_release(zero);
  return ((n->needs[1] && !gin[1]) || (n->needs[2] && !gin[2])) ? -1 : 0;
}

lt_tensor *lt_where(lt_tensor *c, lt_tensor *a, lt_tensor *b) {
  lt_tensor *out = lt_where_raw(c, a, b), *in[3];
  lt_node *n;
  in[0] = NULL; in[1] = a; in[2] = b;
  if (out && (n = lt_ag_record(out, "WhereBackward", lt_where_backward, in, 3,
                               sizeof(lt_where_ctx))) != NULL)
    lt_ag_save(n, &lt_ag_ctx(n, lt_where_ctx)->cond, c);
  return out;
}

lt_tensor *lt_masked_fill(lt_tensor *a, lt_tensor *mask, float v) {
  int64_t shape[LT_MAXDIM];
  lt_tensor *fill, *out;
  char b1[160], b2[160];
  int nd;
  if (lt_broadcast_shape("masked_fill", a, mask, shape, &nd)) return NULL;
  if (nd != a->ndim || memcmp(shape, a->shape, (size_t)nd * sizeof *shape) != 0) {
    lt_err("masked_fill: mask of shape %s does not broadcast to the input's %s",
           lt_shape_str(mask, b1, sizeof b1), lt_shape_str(a, b2, sizeof b2));
    return NULL;
  }
  if ((fill = lt_scalar(v)) == NULL) return NULL;
  out = lt_where(mask, fill, a);
  lt_tensor_release(fill);
  return out;
}
