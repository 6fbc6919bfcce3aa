/*
** ops_norm.c -- layer norm and RMS norm, fused, forward next to backward.
**
** Both see x as {N,D}: N rows normalised over their last dim D, then
** scaled by w {D} (and shifted by b {D}).  Rows go to the thread pool in
** chunks; each kernel reads its row from memory once (the row's second
** loop finds it in L1).  Forward saves per row the mean (0 for RMS norm)
** and the reciprocal deviation.
**
** The weight and bias gradients sum over all rows: each chunk of rows
** sums into its own slot, and the slots are added in chunk order after,
** so the result does not depend on the thread count.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "ops.h"
#include "pool.h"
#include "profile.h"

typedef struct lt_norm_ctx {
  int rms;
  lt_saved x, stats, w;     /* contiguous x; stats {2N}: mean, rstd per row */
} lt_norm_ctx;

/* what a chunk of rows needs, forward or backward */
typedef struct lt_norm_job {
  int rms;
  int64_t D;
  float eps;
  const float *x, *w, *b, *g;
  float *out, *stats;       /* forward: y; backward: dx (NULL: not wanted) */
  float *part;              /* backward: 2D floats per chunk, dw then db */
  int64_t chunk;
} lt_norm_job;

/* ---------------------------------------------------------------- forward */

/* mean and 1/sqrt(var + eps) of a row, sums in double around the row's
** first element (which keeps var accurate when |mean| >> deviation) */
static void lt_norm_stats(const float *x, int64_t D, int rms, float eps,
                          float *mean, float *rstd) {
  double s = 0, ss = 0, m, var;
  float x0 = rms ? 0.0f : x[0];
  int64_t j;
  for (j = 0; j < D; j++) {
    double d = (double)(x[j] - x0);
    s += d;
    ss += d * d;
  }
  m = s / (double)D;
  var = ss / (double)D - (rms ? 0.0 : m * m);
  *mean = rms ? 0.0f : (float)(x0 + m);
  *rstd = (float)(1.0 / sqrt((var > 0 ? var : 0) + eps));
}

static int lt_norm_fwd_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_norm_job *j = ctx;
  int64_t D = j->D, i, k;
  (void)worker;
  for (i = lo; i < hi; i++) {
    const float *restrict x = j->x + i * D, *restrict w = j->w, *restrict b = j->b;
    float *restrict y = j->out + i * D, mean, rstd;
    lt_norm_stats(x, D, j->rms, j->eps, &mean, &rstd);
    if (w && b)
      for (k = 0; k < D; k++) y[k] = (x[k] - mean) * rstd * w[k] + b[k];
    else if (w)
      for (k = 0; k < D; k++) y[k] = (x[k] - mean) * rstd * w[k];
    else
      for (k = 0; k < D; k++) y[k] = (x[k] - mean) * rstd;
    j->stats[2 * i] = mean;
    j->stats[2 * i + 1] = rstd;
  }
  return 0;
}

/* ---------------------------------------------------------------- backward */

/*
** With xhat = (x - mean) rstd and dxhat = g w:
**   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))   (RMS: no mean(dxhat))
**   dw = sum over rows of g xhat,  db = sum over rows of g
*/
static int lt_norm_bwd_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_norm_job *j = ctx;
  int64_t D = j->D, i, k;
  float *restrict dw = j->part ? j->part + (lo / j->chunk) * 2 * D : NULL;
  float *restrict db = dw ? dw + D : NULL;
  (void)worker;
  if (dw) memset(dw, 0, 2 * (size_t)D * sizeof *dw);
  for (i = lo; i < hi; i++) {
    const float *restrict x = j->x + i * D, *restrict g = j->g + i * D, *restrict w = j->w;
    float mean = j->stats[2 * i], rstd = j->stats[2 * i + 1];
    float s1 = 0, s2 = 0, m1, m2;
    if (dw) {
      for (k = 0; k < D; k++) {
        float xh = (x[k] - mean) * rstd;
        dw[k] += g[k] * xh;
        db[k] += g[k];
      }
    }
    if (j->out == NULL) continue;
    for (k = 0; k < D; k++) {
      float xh = (x[k] - mean) * rstd, dxh = w ? g[k] * w[k] : g[k];
      s1 += dxh;
      s2 += dxh * xh;
    }
    m1 = j->rms ? 0.0f : s1 / (float)D;
    m2 = s2 / (float)D;
    {
      float *restrict dx = j->out + i * D;
      for (k = 0; k < D; k++) {
        float xh = (x[k] - mean) * rstd, dxh = w ? g[k] * w[k] : g[k];
        dx[k] = rstd * (dxh - m1 - xh * m2);
      }
    }
  }
  return 0;
}

/* dw, db = the chunks' slots added in chunk order, in double */
static void lt_norm_sum_parts(const float *part, int64_t nchunks, int64_t D,
                              float *dw, float *db) {
  int64_t c, k;
  for (k = 0; k < D; k++) {
    double sw = 0, sb = 0;
    for (c = 0; c < nchunks; c++) {
      sw += part[c * 2 * D + k];
      sb += part[c * 2 * D + D + k];
    }
    if (dw) dw[k] = (float)sw;
    if (db) db[k] = (float)sb;
  }
}

static int lt_norm_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_norm_ctx *c = lt_ag_ctx(n, lt_norm_ctx);
  lt_tensor *x = c->x.t, *cg = lt_contiguous(g), *dx = NULL, *dw = NULL, *db = NULL;
  lt_tensor *hold = NULL;
  int64_t D = x->shape[x->ndim - 1], N = lt_numel(x) / D, nchunks;
  lt_norm_job j;
  int rc = -1;
  memset(&j, 0, sizeof j);
  if (cg == NULL) return -1;
  j.chunk = lt_par_chunk(N, 12.0 * (double)D);
  if (j.chunk < (N + 31) / 32) j.chunk = (N + 31) / 32;   /* at most 32 slots */
  nchunks = (N + j.chunk - 1) / j.chunk;
  if ((n->needs[0] && (dx = lt_empty(x->shape, x->ndim)) == NULL) ||
      (n->needs[1] && (dw = lt_empty(&D, 1)) == NULL) ||
      (n->needs[2] && (db = lt_empty(&D, 1)) == NULL))
    goto done;
  if ((dw || db) && (j.part = lt_scratch((size_t)(nchunks * 2 * D) * sizeof *j.part,
                                          &hold)) == NULL)
    goto done;
  lt_prof_work(10.0 * (double)N * D);
  j.rms = c->rms; j.D = D;
  j.x = lt_data(x); j.g = lt_data(cg); j.w = c->w.t ? lt_data(c->w.t) : NULL;
  j.stats = lt_data(c->stats.t);
  j.out = dx ? lt_data(dx) : NULL;
  if (lt_parallel(N, j.chunk, LT_PAR_INTR, lt_norm_bwd_task, &j)) goto done;
  if (j.part)
    lt_norm_sum_parts(j.part, nchunks, D, dw ? lt_data(dw) : NULL, db ? lt_data(db) : NULL);
  gin[0] = dx; gin[1] = dw; gin[2] = db;
  dx = dw = db = NULL;
  rc = 0;
done:
  lt_tensor_release(hold);
  lt_tensor_release(cg); lt_tensor_release(dx); lt_tensor_release(dw); lt_tensor_release(db);
  return rc;
}

/* ---------------------------------------------------------------- entry */

static int lt_norm_check(const char *op, lt_tensor *x, lt_tensor *w, lt_tensor *b) {
  int64_t D = x->ndim ? x->shape[x->ndim - 1] : 0;
  char b1[160], b2[160];
  if (x->ndim == 0 || D == 0) {
    lt_err("%s: input must have a non-empty last dim, got %s", op, lt_shape_str(x, b1, sizeof b1));
    return -1;
  }
  if ((w && (w->ndim != 1 || w->shape[0] != D)) || (b && (b->ndim != 1 || b->shape[0] != D))) {
    lt_err("%s: weight/bias %s do not match the input's last dim %lld (input %s)", op,
           lt_shape_str(w && (w->ndim != 1 || w->shape[0] != D) ? w : b, b1, sizeof b1),
           (long long)D, lt_shape_str(x, b2, sizeof b2));
    return -1;
  }
  return 0;
}

static lt_tensor *lt_normalize(const char *op, int rms, lt_tensor *x, lt_tensor *w,
                               lt_tensor *b, float eps) {
  lt_tensor *cx, *cw = NULL, *cb = NULL, *out = NULL, *stats = NULL, *in[3];
  int64_t D, N, sshape[1];
  lt_norm_job j;
  lt_node *n;
  if (lt_norm_check(op, x, w, b) || (cx = lt_contiguous(x)) == NULL) return NULL;
  D = x->shape[x->ndim - 1];
  N = lt_numel(x) / D;
  sshape[0] = 2 * N;
  /* weight and bias are read as plain arrays: make them so */
  if ((!w || (cw = lt_contiguous(w)) != NULL) && (!b || (cb = lt_contiguous(b)) != NULL)) {
    out = lt_empty(x->shape, x->ndim);
    stats = lt_empty(sshape, 1);
  }
  memset(&j, 0, sizeof j);
  if (stats == NULL) {            /* out of memory: no result without its stats */
    lt_tensor_release(out);
    out = NULL;
  }
  if (out) {
    lt_prof_work((rms ? 5.0 : 8.0) * (double)N * D);
    j.rms = rms; j.D = D; j.eps = eps;
    j.x = lt_data(cx); j.w = cw ? lt_data(cw) : NULL; j.b = cb ? lt_data(cb) : NULL;
    j.out = lt_data(out); j.stats = lt_data(stats);
    if (lt_parallel(N, lt_par_chunk(N, 8.0 * (double)D), LT_PAR_INTR, lt_norm_fwd_task, &j)) {
      lt_tensor_release(out);
      out = NULL;
    }
  }
  in[0] = x; in[1] = w; in[2] = b;
  if (out && (n = lt_ag_record(out, rms ? "RMSNormBackward" : "LayerNormBackward",
                               lt_norm_backward, in, 3, sizeof(lt_norm_ctx))) != NULL) {
    lt_norm_ctx *c = lt_ag_ctx(n, lt_norm_ctx);
    c->rms = rms;
    lt_ag_save(n, &c->x, cx);
    lt_ag_save(n, &c->stats, stats);
    lt_ag_save(n, &c->w, cw);
  }
  lt_tensor_release(cx); lt_tensor_release(cw); lt_tensor_release(cb);
  lt_tensor_release(stats);
  return out;
}

lt_tensor *lt_layer_norm(lt_tensor *x, lt_tensor *w, lt_tensor *b, float eps) {
  return lt_normalize("layer_norm", 0, x, w, b, eps);
}

lt_tensor *lt_rms_norm(lt_tensor *x, lt_tensor *w, float eps) {
  return lt_normalize("rms_norm", 1, x, w, NULL, eps);
}
