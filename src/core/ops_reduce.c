/*
** ops_reduce.c -- reductions and the softmax family, forward and backward:
** sum, mean, max/min, argmax, var/std, norm, softmax, log_softmax,
** logsumexp.
**
** Every op here sees its input as `rows`: rows * n contiguous floats, one
** row of n per output element, the reduced dim last.  A contiguous input
** reduced over its last dim (or over everything) already is that, so the
** hot cases (attention's softmax, layer norm's mean/var, a loss's mean)
** read the input in place; any other input is gathered once into that
** layout (rd_rows).  With the reduced dim as the unit-stride one, every
** kernel is a plain loop over a row the compiler can vectorize, and each
** op needs one kernel instead of one per memory layout.
**
** Sums run in double, eight lanes wide (lt_row_sum): a 1e6-element sum
** stays accurate to float rounding, and the lanes keep it vectorized.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "autograd.h"
#include "ops.h"
#include "pool.h"
#include "profile.h"
#include "rowmath.h"
#include "alloc.h"

/* ================================================================ plans */

/*
** How a reduction sees its input: [outer, n, inner] around the reduced
** dim d; rows = outer * inner outputs, in the output's row-major order.
*/
typedef struct rd_plan {
  int d;                          /* reduced dim; -1: every element */
  int ndim, ondim;
  int64_t shape[LT_MAXDIM];       /* the input's shape */
  int64_t oshape[LT_MAXDIM];      /* the output's shape */
  int64_t mshape[LT_MAXDIM];      /* the input's, with d moved last */
  int64_t outer, n, inner, rows;
} rd_plan;

static int rd_plan_make(const char *op, const int64_t *shape, int ndim,
                        int dim, int keepdim, rd_plan *p) {
  int i, k;
  p->ndim = ndim;
  p->outer = p->n = p->inner = 1;
  for (i = 0; i < ndim; i++) p->shape[i] = shape[i];
  if (dim == LT_ALLDIMS) {
    p->d = -1;
    for (i = 0; i < ndim; i++) p->n *= shape[i];
    p->ondim = keepdim ? ndim : 0;
    for (i = 0; i < ndim; i++) p->oshape[i] = 1;
    for (i = 0; i < ndim; i++) p->mshape[i] = shape[i];
  } else {
    if (lt_wrap_dim(op, dim, ndim, &p->d) < 0) return -1;
    p->ondim = 0;
    if (ndim > 0) {   /* a 0-d tensor is its own single row */
      for (i = 0; i < p->d; i++) p->outer *= shape[i];
      p->n = shape[p->d];
      for (i = p->d + 1; i < ndim; i++) p->inner *= shape[i];
      for (i = k = 0; i < ndim; i++) {
        if (i != p->d) p->oshape[p->ondim++] = p->mshape[k++] = shape[i];
        else if (keepdim) p->oshape[p->ondim++] = 1;
      }
      p->mshape[k] = shape[p->d];
    }
  }
  p->rows = p->outer * p->inner;
  return 0;
}

/* the plan a backward needs: input 0's shape, and the dim d its forward
** reduced (a plan's d: -1 for every element) */
static void rd_node_plan(lt_node *nd, int d, rd_plan *p) {
  lt_tensor *a = nd->inputs[0];
  rd_plan_make("", a->shape, a->ndim, d < 0 ? LT_ALLDIMS : d, 0, p);
}

/* a view of t (of the plan's input shape) with the reduced dim moved last */
static lt_tensor *rd_moved_view(lt_tensor *t, const rd_plan *p) {
  int64_t st[LT_MAXDIM];
  int i, k = 0;
  for (i = 0; i < p->ndim; i++)
    if (i != p->d) st[k++] = t->stride[i];
  if (p->d >= 0 && p->ndim > 0) st[k] = t->stride[p->d];
  return lt_make_view(t, p->mshape, st, p->ndim, t->offset);
}

/*
** t's elements as rows.  Reads t in place when it already is in that
** layout; otherwise gathers a copy into *hold (the caller releases it).
** NULL on out of memory.
*/
static const float *rd_rows(lt_tensor *t, const rd_plan *p, lt_tensor **hold) {
  lt_tensor *v;
  *hold = NULL;
  if (p->inner == 1 && lt_is_contiguous(t)) return lt_data(t);
  if ((v = rd_moved_view(t, p)) == NULL) return NULL;
  if ((*hold = lt_empty(p->mshape, p->ndim)) != NULL) lt_copy_into(*hold, v);
  lt_tensor_release(v);
  return *hold ? lt_data(*hold) : NULL;
}

/* a tensor to write an input-shaped result into, row by row */
static lt_tensor *rd_rows_new(const rd_plan *p) {
  return lt_empty(p->inner == 1 ? p->shape : p->mshape, p->ndim);
}

/* the input-shaped result of rows r (made by rd_rows_new); consumes r */
static lt_tensor *rd_rows_done(lt_tensor *r, const rd_plan *p) {
  lt_tensor *out, *v;
  if (r == NULL || p->inner == 1) return r;
  out = lt_empty(p->shape, p->ndim);
  v = out ? rd_moved_view(out, p) : NULL;
  if (v) lt_copy_into(v, r);
  else { lt_tensor_release(out); out = NULL; }
  lt_tensor_release(v);
  lt_tensor_release(r);
  return out;
}

/* ================================================================ sum, mean */

/*
** sum/mean over a middle dim of a contiguous input: accumulate whole
** inner planes at a time (a vectorized loop over j), no gather needed:
** summing over a batch dim (a bias's gradient) is common.
*/
typedef struct rd_sum_job {
  const float *x;
  float *y;
  const rd_plan *p;
  int mean;
} rd_sum_job;

#define RD_COLS 256          /* columns a planes task sums at once */

/* items: (outer o, block of RD_COLS inner columns) */
static int rd_planes_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const rd_sum_job *j = ctx;
  const rd_plan *p = j->p;
  int64_t nb = (p->inner + RD_COLS - 1) / RD_COLS, it, i, k;
  double acc[RD_COLS];
  (void)worker;
  for (it = lo; it < hi; it++) {
    int64_t o = it / nb, j0 = (it % nb) * RD_COLS;
    int64_t w = p->inner - j0 < RD_COLS ? p->inner - j0 : RD_COLS;
    const float *xo = j->x + o * p->n * p->inner + j0;
    for (k = 0; k < w; k++) acc[k] = 0;
    for (i = 0; i < p->n; i++)
      for (k = 0; k < w; k++) acc[k] += xo[i * p->inner + k];
    for (k = 0; k < w; k++)
      j->y[o * p->inner + j0 + k] = (float)(j->mean ? acc[k] / (double)p->n : acc[k]);
  }
  return 0;
}

static void rd_sum_planes(const float *x, const rd_plan *p, float *y, int mean) {
  rd_sum_job j;
  int64_t items = p->outer * ((p->inner + RD_COLS - 1) / RD_COLS);
  j.x = x; j.y = y; j.p = p; j.mean = mean;
  lt_parallel(items, lt_par_chunk(items, (double)p->n * RD_COLS), 0, rd_planes_task, &j);
}

/* items: rows, each summed whole */
static int rd_rows_sum_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const rd_sum_job *j = ctx;
  int64_t r, n = j->p->n;
  (void)worker;
  for (r = lo; r < hi; r++) {
    double s = lt_row_sum(j->x + r * n, n);
    j->y[r] = (float)(j->mean ? s / (double)n : s);   /* mean of nothing: NaN */
  }
  return 0;
}

typedef struct rd_sum_ctx {
  int d, mean;
} rd_sum_ctx;

/* sum: gin[o,i,j] = g[o,j];  mean: the same over n */
static int rd_sum_backward(lt_node *nd, lt_tensor *gout, lt_tensor **gin) {
  const rd_sum_ctx *c = lt_ag_ctx(nd, rd_sum_ctx);
  rd_plan p;
  lt_tensor *g, *gi;
  const float *gp;
  float *o, s;
  int64_t r, k, i, j;
  rd_node_plan(nd, c->d, &p);
  if ((g = lt_contiguous(gout)) == NULL) return -1;
  if ((gi = lt_empty(p.shape, p.ndim)) == NULL) { lt_tensor_release(g); return -1; }
  s = c->mean && p.n > 0 ? (float)(1.0 / (double)p.n) : 1.0f;
  lt_prof_work((double)p.rows * p.n);
  gp = lt_data(g);
  o = lt_data(gi);
  if (p.inner == 1) {
    for (r = 0; r < p.rows; r++) {
      float v = gp[r] * s;
      for (i = 0; i < p.n; i++) o[r * p.n + i] = v;
    }
  } else {
    for (k = 0; k < p.outer; k++)
      for (i = 0; i < p.n; i++) {
        float *dst = o + (k * p.n + i) * p.inner;
        const float *src = gp + k * p.inner;
        for (j = 0; j < p.inner; j++) dst[j] = src[j] * s;
      }
  }
  lt_tensor_release(g);
  gin[0] = gi;
  return 0;
}

static lt_tensor *rd_sum_mean(lt_tensor *a, int dim, int keepdim, int mean) {
  const char *op = mean ? "mean" : "sum";
  rd_plan p;
  lt_tensor *out, *hold;
  const float *x;
  float *y;
  lt_node *nd;
  if (rd_plan_make(op, a->shape, a->ndim, dim, keepdim, &p) < 0) return NULL;
  if ((out = lt_empty(p.oshape, p.ondim)) == NULL) return NULL;
  y = lt_data(out);
  lt_prof_work((double)p.rows * p.n);
  if (p.inner > 1 && lt_is_contiguous(a)) {
    rd_sum_planes(lt_data(a), &p, y, mean);
  } else {
    rd_sum_job j;
    double s;
    if ((x = rd_rows(a, &p, &hold)) == NULL) { lt_tensor_release(out); return NULL; }
    j.x = x; j.y = y; j.p = &p; j.mean = mean;
    if (p.rows == 1) {    /* one long row (a sum over everything): in pieces */
      if (lt_long_dot(op, x, NULL, p.n, &s)) {
        lt_tensor_release(hold);
        lt_tensor_release(out);
        return NULL;
      }
      y[0] = (float)(mean ? s / (double)p.n : s);
    } else {
      lt_parallel(p.rows, lt_par_chunk(p.rows, (double)p.n), 0, rd_rows_sum_task, &j);
    }
    lt_tensor_release(hold);
  }
  nd = lt_ag_record(out, mean ? "MeanBackward" : "SumBackward",
                    rd_sum_backward, &a, 1, sizeof(rd_sum_ctx));
  if (nd) {
    rd_sum_ctx *c = lt_ag_ctx(nd, rd_sum_ctx);
    c->d = p.d;
    c->mean = mean;
  }
  return out;
}

lt_tensor *lt_sum(lt_tensor *a, int dim, int keepdim) {
  return rd_sum_mean(a, dim, keepdim, 0);
}

lt_tensor *lt_mean(lt_tensor *a, int dim, int keepdim) {
  return rd_sum_mean(a, dim, keepdim, 1);
}

/* ================================================================ max, min, argmax */

/*
** Along a dim the whole gradient goes to the one index forward reported
** (idx), as PyTorch's max(dim) does.  Over every element it is shared
** evenly among all elements of the input (x) equal to the result
** (value), as PyTorch's max() does: a tie has no single winner there.
*/
typedef struct rd_extreme_ctx {
  int d;
  float value;              /* over every element: the result */
  lt_saved idx;             /* along a dim: 0-based int64 indices */
  lt_saved x;               /* over every element: the input */
} rd_extreme_ctx;

static int rd_extreme_backward(lt_node *nd, lt_tensor *gout, lt_tensor **gin) {
  const rd_extreme_ctx *c = lt_ag_ctx(nd, rd_extreme_ctx);
  rd_plan p;
  lt_tensor *g, *gi, *hold = NULL;
  const float *gp;
  float *o;
  int64_t r;
  rd_node_plan(nd, c->d, &p);
  if ((g = lt_contiguous(gout)) == NULL) return -1;
  if ((gi = lt_zeros(p.shape, p.ndim)) == NULL) { lt_tensor_release(g); return -1; }
  gp = lt_data(g);
  o = lt_data(gi);
  lt_prof_work(p.d >= 0 ? (double)p.rows : 2.0 * (double)p.n);
  if (p.d >= 0) {
    const int64_t *idx = lt_i64(c->idx.t);
    for (r = 0; r < p.rows; r++) {
      int64_t k = r / p.inner, j = r % p.inner;
      o[(k * p.n + idx[r]) * p.inner + j] = gp[r];
    }
  } else {
    float v = c->value;
    int64_t i, count = 0;
    const float *x = rd_rows(c->x.t, &p, &hold);
    if (x == NULL) { lt_tensor_release(g); lt_tensor_release(gi); return -1; }
    for (i = 0; i < p.n; i++) count += x[i] == v || (x[i] != x[i] && v != v);
    for (i = 0; i < p.n; i++)
      if (x[i] == v || (x[i] != x[i] && v != v)) o[i] = gp[0] / (float)count;
    lt_tensor_release(hold);
  }
  lt_tensor_release(g);
  gin[0] = gi;
  return 0;
}

/*
** max, min (values, and indices when reducing a dim) and argmax (indices
** only, flat over every element for LT_ALLDIMS).  Indices are 0-based
** int64 from the kernel to the backward, exact at any size.
*/
/* items: rows, each row's extreme and its index (either may be unwanted) */
typedef struct rd_extreme_job {
  const float *x;
  float *out;
  int64_t *ix;
  int64_t n;
  int ismin;
} rd_extreme_job;

static int rd_extreme_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const rd_extreme_job *j = ctx;
  int64_t r;
  (void)worker;
  for (r = lo; r < hi; r++) {
    int64_t k = lt_row_arg(j->x + r * j->n, j->n, j->ismin);
    if (j->out) j->out[r] = j->x[r * j->n + k];
    if (j->ix) j->ix[r] = k;
  }
  return 0;
}

static lt_tensor *rd_extreme(const char *op, lt_tensor *a, int dim, int keepdim,
                             int ismin, lt_tensor **idx, int argonly) {
  rd_plan p;
  lt_tensor *out = NULL, *ix = NULL, *hold;
  const float *x;
  rd_extreme_job j;
  lt_node *nd;
  if (idx) *idx = NULL;
  if (rd_plan_make(op, a->shape, a->ndim, dim, keepdim, &p) < 0) return NULL;
  if (p.n == 0) {
    if (p.d < 0) lt_err("%s: reduction over an empty tensor", op);
    else lt_err("%s: reduction over an empty dim (dim %d has size 0)", op, p.d + 1);
    return NULL;
  }
  if (!argonly && (out = lt_empty(p.oshape, p.ondim)) == NULL) return NULL;
  if ((argonly || p.d >= 0) && (ix = lt_empty_dtype(p.oshape, p.ondim, LT_INT64)) == NULL)
    goto fail;
  if ((x = rd_rows(a, &p, &hold)) == NULL) goto fail;
  lt_prof_work((double)p.rows * p.n);
  j.x = x; j.n = p.n; j.ismin = ismin;
  j.out = out ? lt_data(out) : NULL; j.ix = ix ? (int64_t *)lt_ptr(ix) : NULL;
  if (p.rows == 1) {             /* one long row: pieces, not rows, on the pool */
    int64_t k;
    int rc = lt_long_arg(op, x, p.n, ismin, &k);
    if (rc == 0 && j.out) j.out[0] = x[k];
    if (rc == 0 && j.ix) j.ix[0] = k;
    lt_tensor_release(hold);   /* x may be its data */
    if (rc) goto fail;
  } else {
    lt_parallel(p.rows, lt_par_chunk(p.rows, (double)p.n), 0, rd_extreme_task, &j);
    lt_tensor_release(hold);
  }
  if (argonly) return ix;   /* no gradient */
  nd = lt_ag_record(out, ismin ? "MinBackward" : "MaxBackward",
                    rd_extreme_backward, &a, 1, sizeof(rd_extreme_ctx));
  if (nd) {
    rd_extreme_ctx *c = lt_ag_ctx(nd, rd_extreme_ctx);
    c->d = p.d;
    if (p.d >= 0) lt_ag_save(nd, &c->idx, ix);
    else { lt_ag_save(nd, &c->x, a); c->value = lt_data(out)[0]; }
  }
  if (idx) *idx = ix;
  else lt_tensor_release(ix);
  return out;
fail:
  lt_tensor_release(out);
  lt_tensor_release(ix);
  return NULL;
}

lt_tensor *lt_max(lt_tensor *a, int dim, int keepdim, lt_tensor **idx) {
  return rd_extreme("max", a, dim, keepdim, 0, idx, 0);
}

lt_tensor *lt_min(lt_tensor *a, int dim, int keepdim, lt_tensor **idx) {
  return rd_extreme("min", a, dim, keepdim, 1, idx, 0);
}

lt_tensor *lt_argmax(lt_tensor *a, int dim, int keepdim) {
  return rd_extreme("argmax", a, dim, keepdim, 0, NULL, 1);
}

lt_tensor *lt_argmin(lt_tensor *a, int dim, int keepdim) {
  return rd_extreme("argmin", a, dim, keepdim, 1, NULL, 1);
}

/* ================================================================ var, std */

/* n - correction, never below 0 (PyTorch's dof); 0 gives inf or NaN */
static double rd_dof(int64_t n, int64_t correction) {
  double dof = (double)n - (double)correction;
  return dof > 0 ? dof : 0;
}

/*
** What the row-wise backwards (var/std, norm, logsumexp) share: the
** output gradient, one value per row (gp); the rows of the input x their
** forward reduced over dim d; and the rows of the input gradient they
** fill (o).
*/
typedef struct {
  rd_plan p;
  lt_tensor *g, *gi, *hold;
  const float *x, *gp;
  float *o;
} rd_bw;

static int rd_bw_begin(rd_bw *b, lt_node *nd, int d, lt_tensor *x,
                       lt_tensor *gout) {
  rd_node_plan(nd, d, &b->p);
  if ((b->g = lt_contiguous(gout)) == NULL) return -1;
  b->gi = rd_rows_new(&b->p);
  b->x = b->gi ? rd_rows(x, &b->p, &b->hold) : NULL;
  if (b->x == NULL) { lt_tensor_release(b->g); lt_tensor_release(b->gi); return -1; }
  b->gp = lt_data(b->g);
  b->o = lt_data(b->gi);
  return 0;
}

static int rd_bw_end(rd_bw *b, lt_tensor **gin) {
  lt_tensor_release(b->hold);
  lt_tensor_release(b->g);
  return (gin[0] = rd_rows_done(b->gi, &b->p)) == NULL ? -1 : 0;
}

/*
** var: gin = g * 2 (x - mean) / dof.  std = sqrt(var): gin = g (x - mean)
** / (dof std), and 0 where std is 0 (as PyTorch does) instead of 0/0.
*/
typedef struct rd_var_ctx {
  int d, correction, isstd;
  lt_saved x, std;          /* the input; std's output (std only) */
} rd_var_ctx;

/* a job over rows of var/std: forward writes out, backward o from gp */
typedef struct rd_var_job {
  const float *x, *gp, *sd;
  float *out, *o;
  int64_t n;
  double dof;
  int isstd;
} rd_var_job;

static int rd_var_bw_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const rd_var_job *j = ctx;
  int64_t r, i, n = j->n;
  (void)worker;
  for (r = lo; r < hi; r++) {
    const float *xr = j->x + r * n;
    float mean = (float)(lt_row_sum(xr, n) / (double)n);
    float c = j->sd == NULL ? (float)(2.0 * j->gp[r] / j->dof)
            : j->sd[r] == 0 ? 0.0f : (float)(j->gp[r] / (j->dof * j->sd[r]));
    for (i = 0; i < n; i++) j->o[r * n + i] = c * (xr[i] - mean);
  }
  return 0;
}

static int rd_var_backward(lt_node *nd, lt_tensor *gout, lt_tensor **gin) {
  const rd_var_ctx *c = lt_ag_ctx(nd, rd_var_ctx);
  rd_bw b;
  rd_var_job j;
  if (rd_bw_begin(&b, nd, c->d, c->x.t, gout)) return -1;
  j.x = b.x; j.gp = b.gp; j.o = b.o; j.sd = c->isstd ? lt_data(c->std.t) : NULL;
  j.n = b.p.n; j.dof = rd_dof(b.p.n, c->correction);
  lt_prof_work(3.0 * (double)b.p.rows * b.p.n);
  lt_parallel(b.p.rows, lt_par_chunk(b.p.rows, 3.0 * (double)b.p.n), 0, rd_var_bw_task, &j);
  return rd_bw_end(&b, gin);
}

/* two passes in double: the mean, then squared deviations from it */
static int rd_var_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const rd_var_job *j = ctx;
  int64_t r, i, n = j->n;
  (void)worker;
  for (r = lo; r < hi; r++) {
    const float *xr = j->x + r * n;
    double mean = lt_row_sum(xr, n) / (double)n, m2[8] = {0}, s = 0, v;
    int k;
    for (i = 0; i + 8 <= n; i += 8)
      for (k = 0; k < 8; k++) m2[k] += (xr[i + k] - mean) * (xr[i + k] - mean);
    for (; i < n; i++) s += (xr[i] - mean) * (xr[i] - mean);
    for (k = 0; k < 8; k++) s += m2[k];
    v = s / j->dof;
    j->out[r] = (float)(j->isstd ? sqrt(v) : v);
  }
  return 0;
}

static lt_tensor *rd_var_std(const char *op, lt_tensor *a, int dim,
                             int correction, int keepdim, int isstd) {
  rd_plan p;
  lt_tensor *out, *hold;
  const float *x;
  rd_var_job j;
  lt_node *nd;
  if (rd_plan_make(op, a->shape, a->ndim, dim, keepdim, &p) < 0) return NULL;
  if ((out = lt_empty(p.oshape, p.ondim)) == NULL) return NULL;
  if ((x = rd_rows(a, &p, &hold)) == NULL) { lt_tensor_release(out); return NULL; }
  j.x = x; j.out = lt_data(out); j.n = p.n; j.dof = rd_dof(p.n, correction); j.isstd = isstd;
  lt_prof_work(4.0 * (double)p.rows * p.n);
  lt_parallel(p.rows, lt_par_chunk(p.rows, 4.0 * (double)p.n), 0, rd_var_task, &j);
  lt_tensor_release(hold);
  nd = lt_ag_record(out, isstd ? "StdBackward" : "VarBackward",
                    rd_var_backward, &a, 1, sizeof(rd_var_ctx));
  if (nd) {
    rd_var_ctx *c = lt_ag_ctx(nd, rd_var_ctx);
    c->d = p.d;
    c->correction = correction;
    c->isstd = isstd;
    lt_ag_save(nd, &c->x, a);
    if (isstd) lt_ag_save_output(nd, &c->std, out);
  }
  return out;
}

lt_tensor *lt_var(lt_tensor *a, int dim, int correction, int keepdim) {
  return rd_var_std("var", a, dim, correction, keepdim, 0);
}

lt_tensor *lt_std(lt_tensor *a, int dim, int correction, int keepdim) {
  return rd_var_std("std", a, dim, correction, keepdim, 1);
}

/* ================================================================ norm */

static double rd_norm_row(const float *x, int64_t n, double pw) {
  double s = 0;
  int64_t i;
  if (pw == 2) return sqrt(lt_row_dot(x, x, n));
  if (pw == 1) {
    for (i = 0; i < n; i++) s += fabsf(x[i]);
    return s;
  }
  if (isinf(pw)) {
    for (i = 0; i < n; i++) {
      float v = fabsf(x[i]);
      if (v != v) return v;    /* NaN wins, as in PyTorch */
      if (v > s) s = v;
    }
    return s;
  }
  for (i = 0; i < n; i++) s += pow(fabsf(x[i]), pw);
  return pow(s, 1.0 / pw);
}

/*
** d|x|_p / dx = sign(x) |x|^(p-1) / |x|_p^(p-1): x / |x| for p = 2,
** sign(x) for p = 1.  A zero norm gives 0 (a subgradient) rather than
** 0/0.  For p = inf the gradient is shared evenly among the elements
** whose |x| equals the norm, like max() over everything.
*/
typedef struct rd_norm_ctx {
  int d;
  double p;
  lt_saved x, norm;         /* the input, the output */
} rd_norm_ctx;

static int rd_norm_backward(lt_node *nd, lt_tensor *gout, lt_tensor **gin) {
  const rd_norm_ctx *c = lt_ag_ctx(nd, rd_norm_ctx);
  rd_bw b;
  const float *x, *gp, *nm = lt_data(c->norm.t);
  float *o;
  double pw = c->p;
  int64_t r, i;
  if (rd_bw_begin(&b, nd, c->d, c->x.t, gout)) return -1;
  x = b.x; gp = b.gp; o = b.o;
  lt_prof_work(2.0 * (double)b.p.rows * b.p.n);
  for (r = 0; r < b.p.rows; r++) {
    const float *xr = x + r * b.p.n;
    float *orow = o + r * b.p.n, nv = nm[r];
    if (pw == 1) {
      for (i = 0; i < b.p.n; i++)
        orow[i] = xr[i] > 0 ? gp[r] : xr[i] < 0 ? -gp[r] : 0.0f;
    } else if (nv == 0) {
      for (i = 0; i < b.p.n; i++) orow[i] = 0;
    } else if (pw == 2) {
      float c = gp[r] / nv;
      for (i = 0; i < b.p.n; i++) orow[i] = c * xr[i];
    } else if (isinf(pw)) {
      int64_t count = 0;
      for (i = 0; i < b.p.n; i++) count += fabsf(xr[i]) == nv;
      for (i = 0; i < b.p.n; i++)
        orow[i] = fabsf(xr[i]) != nv ? 0.0f
                : (xr[i] > 0 ? gp[r] : -gp[r]) / (float)count;
    } else {
      double c = gp[r] / pow(nv, pw - 1);
      for (i = 0; i < b.p.n; i++)
        orow[i] = (float)(c * (xr[i] < 0 ? -1 : 1) * pow(fabsf(xr[i]), pw - 1));
    }
  }
  return rd_bw_end(&b, gin);
}

lt_tensor *lt_norm(lt_tensor *a, double pw, int dim, int keepdim) {
  rd_plan p;
  lt_tensor *out, *hold;
  const float *x;
  int64_t r;
  lt_node *nd;
  if (!(pw > 0)) {
    lt_err("norm: p must be positive or inf (got %g)", pw);
    return NULL;
  }
  if (rd_plan_make("norm", a->shape, a->ndim, dim, keepdim, &p) < 0) return NULL;
  if ((out = lt_empty(p.oshape, p.ondim)) == NULL) return NULL;
  if ((x = rd_rows(a, &p, &hold)) == NULL) { lt_tensor_release(out); return NULL; }
  lt_prof_work(2.0 * (double)p.rows * p.n);
  for (r = 0; r < p.rows; r++)
    lt_data(out)[r] = (float)rd_norm_row(x + r * p.n, p.n, pw);
  lt_tensor_release(hold);
  nd = lt_ag_record(out, "NormBackward", rd_norm_backward, &a, 1, sizeof(rd_norm_ctx));
  if (nd) {
    rd_norm_ctx *c = lt_ag_ctx(nd, rd_norm_ctx);
    c->d = p.d;
    c->p = pw;
    lt_ag_save(nd, &c->x, a);
    lt_ag_save_output(nd, &c->norm, out);
  }
  return out;
}

/* ================================================================ softmax family */

/*
** The forwards are lt_softmax_rows (rowmath.c), which gives the rule for
** an all -inf row: softmax and log_softmax are NaN there and logsumexp
** is -inf, as in PyTorch.
*/

/*
** softmax: gin = y (g - sum(g y));  log_softmax: gin = g - exp(y) sum(g),
** its exps taken over the whole block in one loop, for the reason
** rowmath.c gives.
*/
typedef struct rd_softmax_ctx {
  int d, islog;
  lt_saved y;               /* the output */
} rd_softmax_ctx;

typedef struct rd_softmax_job {
  const float *y, *g;
  float *o;
  int64_t n;
  int islog;
} rd_softmax_job;

static int rd_softmax_bw_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const rd_softmax_job *j = ctx;
  int64_t r, i, n = j->n;
  (void)worker;
  if (j->islog) {
    for (i = lo * n; i < hi * n; i++) j->o[i] = lt_vexp(j->y[i]);
    for (r = lo; r < hi; r++) {
      const float *gr = j->g + r * n;
      float *orow = j->o + r * n, s = (float)lt_row_sum(gr, n);
      for (i = 0; i < n; i++) orow[i] = gr[i] - orow[i] * s;
    }
  } else {
    for (r = lo; r < hi; r++) {
      const float *yr = j->y + r * n, *gr = j->g + r * n;
      float *orow = j->o + r * n, s = (float)lt_row_dot(gr, yr, n);
      for (i = 0; i < n; i++) orow[i] = yr[i] * (gr[i] - s);
    }
  }
  return 0;
}

static int rd_softmax_backward(lt_node *nd, lt_tensor *gout, lt_tensor **gin) {
  const rd_softmax_ctx *c = lt_ag_ctx(nd, rd_softmax_ctx);
  rd_plan p;
  rd_softmax_job j;
  lt_tensor *gi, *yh, *gh = NULL;
  rd_node_plan(nd, c->d, &p);
  gi = rd_rows_new(&p);
  j.y = gi ? rd_rows(c->y.t, &p, &yh) : NULL;
  j.g = j.y ? rd_rows(gout, &p, &gh) : NULL;
  if (j.g == NULL) {
    if (j.y) lt_tensor_release(yh);
    lt_tensor_release(gi);
    return -1;
  }
  j.o = lt_data(gi); j.n = p.n; j.islog = c->islog;
  lt_prof_work(4.0 * (double)p.rows * p.n);
  lt_parallel(p.rows, lt_par_chunk(p.rows, 6.0 * (double)p.n), 0, rd_softmax_bw_task, &j);
  lt_tensor_release(yh);
  lt_tensor_release(gh);
  if ((gin[0] = rd_rows_done(gi, &p)) == NULL) return -1;
  return 0;
}

static lt_tensor *rd_softmax(const char *op, lt_tensor *a, int dim, int islog) {
  rd_plan p;
  lt_tensor *out, *hold;
  const float *x;
  lt_node *nd;
  if (dim == LT_ALLDIMS) { lt_err("%s: dim required", op); return NULL; }
  if (rd_plan_make(op, a->shape, a->ndim, dim, 0, &p) < 0) return NULL;
  if ((out = rd_rows_new(&p)) == NULL) return NULL;
  if ((x = rd_rows(a, &p, &hold)) == NULL) { lt_tensor_release(out); return NULL; }
  lt_prof_work(5.0 * (double)p.rows * p.n);
  lt_softmax_rows(x, p.rows, p.n, islog ? NULL : lt_data(out),
                  islog ? lt_data(out) : NULL, NULL);
  lt_tensor_release(hold);
  if ((out = rd_rows_done(out, &p)) == NULL) return NULL;
  nd = lt_ag_record(out, islog ? "LogSoftmaxBackward" : "SoftmaxBackward",
                    rd_softmax_backward, &a, 1, sizeof(rd_softmax_ctx));
  if (nd) {
    rd_softmax_ctx *c = lt_ag_ctx(nd, rd_softmax_ctx);
    c->d = p.d;
    c->islog = islog;
    lt_ag_save_output(nd, &c->y, out);
  }
  return out;
}

lt_tensor *lt_softmax(lt_tensor *a, int dim) {
  return rd_softmax("softmax", a, dim, 0);
}

lt_tensor *lt_log_softmax(lt_tensor *a, int dim) {
  return rd_softmax("log_softmax", a, dim, 1);
}

/* gin = g exp(x - lse) = g softmax(x) */
typedef struct rd_lse_ctx {
  int d;
  lt_saved x, lse;          /* the input, the output */
} rd_lse_ctx;

static int rd_logsumexp_backward(lt_node *nd, lt_tensor *gout, lt_tensor **gin) {
  const rd_lse_ctx *c = lt_ag_ctx(nd, rd_lse_ctx);
  rd_bw b;
  const float *gp, *lse = lt_data(c->lse.t);
  float *o;
  int64_t r, i;
  if (rd_bw_begin(&b, nd, c->d, c->x.t, gout)) return -1;
  gp = b.gp; o = b.o;
  lt_prof_work(3.0 * (double)b.p.rows * b.p.n);
  lt_rows_exp(o, b.x, lse, b.p.rows, b.p.n);
  for (r = 0; r < b.p.rows; r++) {
    float *orow = o + r * b.p.n, gr = gp[r];
    for (i = 0; i < b.p.n; i++) orow[i] *= gr;
  }
  return rd_bw_end(&b, gin);
}

lt_tensor *lt_logsumexp(lt_tensor *a, int dim, int keepdim) {
  rd_plan p;
  lt_tensor *out, *hold;
  const float *x;
  lt_node *nd;
  if (rd_plan_make("logsumexp", a->shape, a->ndim, dim, keepdim, &p) < 0) return NULL;
  if ((out = lt_empty(p.oshape, p.ondim)) == NULL) return NULL;
  if ((x = rd_rows(a, &p, &hold)) == NULL) { lt_tensor_release(out); return NULL; }
  lt_prof_work(4.0 * (double)p.rows * p.n);
  lt_softmax_rows(x, p.rows, p.n, NULL, NULL, lt_data(out));   /* n = 0: -inf */
  lt_tensor_release(hold);
  nd = lt_ag_record(out, "LogsumexpBackward", rd_logsumexp_backward, &a, 1,
                    sizeof(rd_lse_ctx));
  if (nd) {
    rd_lse_ctx *c = lt_ag_ctx(nd, rd_lse_ctx);
    c->d = p.d;
    lt_ag_save(nd, &c->x, a);
    lt_ag_save_output(nd, &c->lse, out);
  }
  return out;
}
