/*
** ops_loss.c -- cross-entropy fused with log-softmax, and MSE.
*/
#include <math.h>
#include <string.h>

#include "autograd.h"
#include "ops.h"
#include "profile.h"
#include "rowmath.h"

/*
** logits {N,C} (after flattening the leading dims), targets {N}.
** Forward keeps, per row, the log-sum-exp (lt_softmax_rows, whose rule
** makes a row of all -inf logits a NaN loss, as in PyTorch); backward is
** (softmax - onehot) * g, with g per row (reduction none) or shared.
*/
typedef struct lt_ce_ctx {
  int64_t C, ignore;
  lt_reduction red;
  double count;             /* rows counted (not ignored), the mean's divisor */
  lt_saved x, t, lse;       /* contiguous logits and targets; lse {N} */
} lt_ce_ctx;

static int lt_ce_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_ce_ctx *c = lt_ag_ctx(n, lt_ce_ctx);
  lt_tensor *x = c->x.t, *t = c->t.t, *lse = c->lse.t, *cg = lt_contiguous(g);
  int64_t C = c->C, N = lt_numel(t), ignore = c->ignore, i, j;
  lt_reduction red = c->red;
  double count = c->count;
  lt_tensor *dx;
  if (cg == NULL) return -1;
  if ((dx = lt_empty(n->inputs[0]->shape, n->inputs[0]->ndim)) != NULL) {
    lt_prof_work(3.0 * (double)N * C);
    lt_rows_exp(lt_data(dx), lt_data(x), lt_data(lse), N, C);   /* softmax */
    for (i = 0; i < N; i++) {
      int64_t ti = lt_i64(t)[i];
      float *o = lt_data(dx) + i * C, gi;
      if (red == LT_REDUCE_NONE) gi = lt_data(cg)[i];
      else gi = lt_data(cg)[0] / (red == LT_REDUCE_MEAN ? (float)(count > 0 ? count : 1) : 1.0f);
      if (ti == ignore) { memset(o, 0, (size_t)C * sizeof *o); continue; }
      for (j = 0; j < C; j++) o[j] *= gi;
      o[ti] -= gi;
    }
  }
  lt_tensor_release(cg);
  gin[0] = dx;
  return dx ? 0 : -1;
}

static int lt_ce_check(lt_tensor *x, lt_tensor *t) {
  char b1[160], b2[160];
  int ok = x->ndim >= 1 && t->ndim == x->ndim - 1 &&
           memcmp(x->shape, t->shape, (size_t)t->ndim * sizeof *t->shape) == 0;
  if (!ok || x->shape[x->ndim - 1] == 0)
    lt_err("cross_entropy: targets %s do not match logits %s (classes on the last dim)",
           lt_shape_str(t, b1, sizeof b1), lt_shape_str(x, b2, sizeof b2));
  return ok && x->shape[x->ndim - 1] > 0 ? 0 : -1;
}

lt_tensor *lt_cross_entropy(lt_tensor *logits, lt_tensor *targets, int64_t ignore,
                            lt_reduction red) {
  lt_tensor *x = NULL, *t = NULL, *lse = NULL, *out = NULL;
  int64_t C, N, i, one = 1;
  double total = 0, count = 0;
  lt_node *n;
  if (lt_ce_check(logits, targets)) return NULL;
  C = logits->shape[logits->ndim - 1];
  N = lt_numel(targets);
  if ((x = lt_contiguous(logits)) == NULL ||
      (t = lt_ids("cross_entropy", "targets", targets, 0)) == NULL ||
      (lse = lt_empty(&N, 1)) == NULL) goto done;
  for (i = 0; i < N; i++) {   /* check every target before computing anything */
    int64_t ti = lt_i64(t)[i];
    if (ti != ignore && (ti < 0 || ti >= C)) {   /* shown 1-based */
      lt_err("cross_entropy: target %lld out of range for %lld classes (targets are "
             "1-based: 1..%lld)", (long long)ti + 1, (long long)C, (long long)C);
      goto done;
    }
  }
  out = red == LT_REDUCE_NONE ? lt_empty(targets->shape, targets->ndim) : lt_empty(&one, 0);
  if (out == NULL) goto done;
  lt_prof_work(4.0 * (double)N * C);
  lt_softmax_rows(lt_data(x), N, C, NULL, NULL, lt_data(lse));
  for (i = 0; i < N; i++) {
    const float *px = lt_data(x) + i * C;
    int64_t ti = lt_i64(t)[i];
    float loss = ti == ignore ? 0.0f : lt_data(lse)[i] - px[ti];
    if (red == LT_REDUCE_NONE) lt_data(out)[i] = loss;
    if (ti != ignore) { total += loss; count += 1; }
  }
  if (red != LT_REDUCE_NONE)
    lt_data(out)[0] = (float)(red == LT_REDUCE_SUM ? total : count > 0 ? total / count : 0.0);
  if ((n = lt_ag_record(out, "CrossEntropyBackward", lt_ce_backward, &logits, 1,
                        sizeof(lt_ce_ctx))) != NULL) {
    lt_ce_ctx *c = lt_ag_ctx(n, lt_ce_ctx);
    c->C = C; c->ignore = ignore; c->red = red; c->count = count;
    lt_ag_save(n, &c->x, x);
    lt_ag_save(n, &c->t, t);
    lt_ag_save(n, &c->lse, lse);
  }
done:
  lt_tensor_release(x); lt_tensor_release(t); lt_tensor_release(lse);
  return out;
}

/* composed from recorded ops: autograd comes for free */
lt_tensor *lt_mse_loss(lt_tensor *a, lt_tensor *b, lt_reduction red) {
  lt_tensor *d, *sq, *out;
  char b1[160], b2[160];
  if (!lt_same_shape(a, b)) {
    lt_err("mse_loss: input %s and target %s differ in shape (broadcasting them is "
           "rarely what is meant: reshape one)", lt_shape_str(a, b1, sizeof b1),
           lt_shape_str(b, b2, sizeof b2));
    return NULL;
  }
  if ((d = lt_binary(LT_SUB, a, b)) == NULL) return NULL;
  sq = lt_unary(LT_SQUARE, d);
  lt_tensor_release(d);
  if (sq == NULL || red == LT_REDUCE_NONE) return sq;
  out = red == LT_REDUCE_SUM ? lt_sum(sq, LT_ALLDIMS, 0) : lt_mean(sq, LT_ALLDIMS, 0);
  lt_tensor_release(sq);
  return out;
}
