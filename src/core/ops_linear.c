/*
** ops_linear.c -- linear, fused: y = x w^T + b, forward next to backward.
**
**   x {...,K} (M rows), w {N,K}, b {N} or none  ->  y {...,N}
**
** Forward writes b into every row of y and lets one sgemm add x w^T on
** top (beta = 1): no separate broadcast add, no temporary product.
** Backward, from g {M,N}:
**   dx = g w            {M,K}   one sgemm
**   dw = g^T x          {N,K}   one sgemm over all M rows
**   db = column sums of g       lt_colsum
** w is read in place in either layout (a transposed view flips BLAS's
** flag), and so is x when its rows, in memory order, form one run of
** equally spaced rows: a contiguous tensor, a row slice, or the heads of a
** transposed view ({B,S,H,r}:transpose(2,3)).  y is laid out in that same
** order (so the heads stay a transposed view, for free), and so are the
** gradients.  Any other x goes through matmul, which loops over its batch
** without copying, and a recorded add.
*/
#include <string.h>

#include "autograd.h"
#include "blas.h"
#include "linear.h"
#include "ops.h"
#include "pool.h"
#include "profile.h"

/* x is saved when w needs a gradient, w when x does; perm: the order of
** the dims in memory, x's and y's (and so the gradients') */
typedef struct lt_linear_ctx {
  int64_t M, N, K, ldx;
  int perm[LT_MAXDIM];
  lt_saved x, w;
} lt_linear_ctx;

int lt_wlayout(const lt_tensor *w, int64_t *ld) {
  int64_t N = w->shape[0], K = w->shape[1];
  if ((K <= 1 || w->stride[1] == 1) && (N <= 1 || w->stride[0] >= K)) {
    *ld = N <= 1 ? (K > 0 ? K : 1) : w->stride[0];
    return 0;
  }
  if ((N <= 1 || w->stride[0] == 1) && (K <= 1 || w->stride[1] >= N)) {
    *ld = K <= 1 ? (N > 0 ? N : 1) : w->stride[1];
    return 1;
  }
  return -1;
}

/*
** Can x {...,K} be read, in its memory order (perm, outermost first), as
** M rows of K, *ld (>= K) apart, columns contiguous?
*/
static int lt_rows_fold(const lt_tensor *x, int *perm, int64_t *ld) {
  int nd = x->ndim, i;
  int64_t K = x->shape[nd - 1], rows = 1, s = K;
  lt_dim_order(x, perm);
  if (K > 1 && (x->stride[nd - 1] != 1 || perm[nd - 1] != nd - 1)) return 0;
  if (perm[nd - 1] != nd - 1) {            /* K <= 1: put the last dim last */
    for (i = 0; perm[i] != nd - 1; i++) {}
    for (; i < nd - 1; i++) perm[i] = perm[i + 1];
    perm[nd - 1] = nd - 1;
  }
  for (i = nd - 2; i >= 0; i--) {
    int d = perm[i];
    if (x->shape[d] == 1) continue;
    if (rows == 1) s = x->stride[d];
    else if (x->stride[d] != rows * s) return 0;
    rows *= x->shape[d];
  }
  *ld = rows > 1 ? s : (K > 0 ? K : 1);
  return rows <= 1 || s >= K;
}

lt_tensor *lt_linear_weight(lt_tensor *w, int *wl, int64_t *ldw) {
  lt_tensor *cw;
  if ((*wl = lt_wlayout(w, ldw)) >= 0) return lt_tensor_retain(w);
  if ((cw = lt_empty(w->shape, 2)) != NULL) {
    lt_copy_into(cw, w);
    *wl = lt_wlayout(cw, ldw);
  }
  return cw;
}

/* ---------------------------------------------------------------- backward */

static int lt_linear_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_linear_ctx *c = lt_ag_ctx(n, lt_linear_ctx);
  lt_tensor *x = c->x.t, *w = c->w.t, *cg;
  int64_t M = c->M, N = c->N, K = c->K, ldw = 1, wshape[2];
  int wl = w ? lt_wlayout(w, &ldw) : 0;   /* saved as read: never -1 */
  /* g's rows in y's order */
  if (lt_dense_in(g, c->perm)) cg = lt_tensor_retain(g);
  else if ((cg = lt_empty_perm(g->shape, g->ndim, c->perm)) != NULL) lt_copy_into(cg, g);
  if (cg == NULL) return -1;
  wshape[0] = N; wshape[1] = K;
  if (n->needs[0] &&
      (gin[0] = lt_empty_perm(n->inputs[0]->shape, n->inputs[0]->ndim, c->perm)) != NULL) {
    lt_prof_work(2.0 * (double)M * N * K);
    if (lt_sgemm(0, wl, M, K, N, 1.0f, lt_data(cg), N, lt_data(w), ldw, 0.0f,
                 lt_data(gin[0]), K))
      goto fail;
  }
  if (n->needs[1] && (gin[1] = lt_empty(wshape, 2)) != NULL) {
    lt_prof_work(2.0 * (double)M * N * K);
    if (lt_sgemm(1, 0, N, K, M, 1.0f, lt_data(cg), N, lt_data(x), c->ldx, 0.0f,
                 lt_data(gin[1]), K))
      goto fail;
  }
  if (n->needs[2] && (gin[2] = lt_empty(&N, 1)) != NULL &&
      lt_colsum(lt_data(cg), M, N, lt_data(gin[2])))
    goto fail;
  lt_tensor_release(cg);
  return (n->needs[0] && !gin[0]) || (n->needs[1] && !gin[1]) ||
         (n->needs[2] && !gin[2]) ? -1 : 0;
fail:   /* the engine releases what gin holds */
  lt_tensor_release(cg);
  return -1;
}

/* ---------------------------------------------------------------- forward */

typedef struct lt_fill_job {
  float *y;
  const float *b;
  int64_t N;
} lt_fill_job;

static int lt_fill_rows_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_fill_job *j = ctx;
  int64_t i;
  (void)worker;
  for (i = lo; i < hi; i++) memcpy(j->y + i * j->N, j->b, (size_t)j->N * sizeof(float));
  return 0;
}

static int lt_linear_check(lt_tensor *x, lt_tensor *w, lt_tensor *b) {
  char b1[160], b2[160];
  if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
    lt_err("linear: input %s does not match weight %s (in_features %lld)",
           lt_shape_str(x, b1, sizeof b1), lt_shape_str(w, b2, sizeof b2),
           (long long)(w->ndim == 2 ? w->shape[1] : -1));
    return -1;
  }
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
    lt_err("linear: bias %s does not match weight %s (out_features %lld)",
           lt_shape_str(b, b1, sizeof b1), lt_shape_str(w, b2, sizeof b2),
           (long long)w->shape[0]);
    return -1;
  }
  return 0;
}

/* x whose rows do not fold: matmul with w^T (a view), then the bias */
static lt_tensor *lt_linear_composed(lt_tensor *x, lt_tensor *w, lt_tensor *b) {
  lt_tensor *wt = lt_transpose(w, 0, 1), *y, *out;
  if (wt == NULL) return NULL;
  y = lt_matmul(x, wt);
  lt_tensor_release(wt);
  if (y == NULL || b == NULL) return y;
  out = lt_binary(LT_ADD, y, b);
  lt_tensor_release(y);
  return out;
}

lt_tensor *lt_linear(lt_tensor *x, lt_tensor *w, lt_tensor *b) {
  lt_tensor *cw, *cb = NULL, *out = NULL, *in[3];
  int64_t shape[LT_MAXDIM], K, N, M, ldw = 1, ldx;
  int wl, perm[LT_MAXDIM];
  lt_node *n;
  if (lt_linear_check(x, w, b)) return NULL;
  K = w->shape[1]; N = w->shape[0];
  M = lt_contig_strides(x->shape, x->ndim - 1, NULL);   /* rows */
  /* thop's number: multiply-accumulates of the product, bias not counted */
  lt_prof_add(LT_PROF_LINEAR, (double)M * N * K);
  if (!lt_rows_fold(x, perm, &ldx)) return lt_linear_composed(x, w, b);
  if ((cw = lt_linear_weight(w, &wl, &ldw)) == NULL) return NULL;
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = N;
  if ((b == NULL || (cb = lt_contiguous(b)) != NULL) &&
      (out = lt_empty_perm(shape, x->ndim, perm)) != NULL) {
    lt_fill_job j;
    lt_prof_work(2.0 * (double)M * N * K + (b ? (double)M * N : 0));
    j.y = lt_data(out); j.b = cb ? lt_data(cb) : NULL; j.N = N;
    if (cb) lt_parallel(M, lt_par_chunk(M, (double)N), 0, lt_fill_rows_task, &j);
    if (lt_sgemm(0, !wl, M, N, K, 1.0f, lt_data(x), ldx, lt_data(cw), ldw,
                 cb ? 1.0f : 0.0f, lt_data(out), N)) {
      lt_tensor_release(out);
      out = NULL;
    }
  }
  in[0] = x; in[1] = w; in[2] = b;
  if (out && (n = lt_ag_record(out, "LinearBackward", lt_linear_backward, in, 3,
                               sizeof(lt_linear_ctx))) != NULL) {
    lt_linear_ctx *c = lt_ag_ctx(n, lt_linear_ctx);
    c->M = M; c->N = N; c->K = K; c->ldx = ldx;
    memcpy(c->perm, perm, sizeof perm);
    if (n->needs[1]) lt_ag_save(n, &c->x, x);
    if (n->needs[0]) lt_ag_save(n, &c->w, cw);
  }
  lt_tensor_release(cw); lt_tensor_release(cb);
  return out;
}
