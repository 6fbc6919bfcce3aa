/*
** ops_optim.c -- optimiser update loops over whole parameter tensors.
**
** One pass per parameter: the update reads the gradient once and writes
** the parameter and its state once, which is what makes a step cheap next
** to the forward and backward passes.  Arithmetic is float per element
** (as PyTorch does on float32 parameters); the per-step scalars (bias
** corrections) are computed in double.
*/
#include <math.h>

#include "optim.h"

/* t has the parameter's shape, and is contiguous if the step writes it */
static int lt_optim_check(const char *op, const char *what, const lt_tensor *t,
                          const lt_tensor *p, int written) {
  char b1[160], b2[160];
  if (!lt_same_shape(t, p)) {
    lt_err("%s: %s has shape %s, parameter has %s", op, what,
           lt_shape_str(t, b1, sizeof b1), lt_shape_str(p, b2, sizeof b2));
    return -1;
  }
  if (written && !lt_is_contiguous(t)) {
    lt_err("%s: %s %s is not contiguous (an optimiser updates whole tensors in place)",
           op, what, lt_shape_str(t, b1, sizeof b1));
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- SGD */

int lt_sgd_step(lt_tensor *p, lt_tensor *g, lt_tensor *buf, int first,
                const lt_sgd_opts *o) {
  lt_tensor *cg;
  float *pp, *pb;
  const float *pg;
  float lr = (float)o->lr, wd = (float)o->weight_decay, mom = (float)o->momentum;
  float damp1 = (float)(1.0 - o->dampening);
  int64_t i, n = lt_numel(p);
  if (lt_optim_check("sgd", "parameter", p, p, 1) || lt_optim_check("sgd", "gradient", g, p, 0))
    return -1;
  lt_bump_version(p);
  if (o->momentum != 0 && buf == NULL) {
    lt_err("sgd: momentum %g needs a momentum buffer", o->momentum);
    return -1;
  }
  if (o->momentum != 0 && lt_optim_check("sgd", "momentum buffer", buf, p, 1)) return -1;
  if ((cg = lt_contiguous(g)) == NULL) return -1;   /* read-only: any strides */
  pp = lt_data(p);
  pg = lt_data(cg);
  if (o->momentum == 0) {
    for (i = 0; i < n; i++) pp[i] -= lr * (pg[i] + wd * pp[i]);
  } else {
    pb = lt_data(buf);
    for (i = 0; i < n; i++) {
      float d = pg[i] + wd * pp[i];
      float b = first ? d : mom * pb[i] + damp1 * d;
      pb[i] = b;
      pp[i] -= lr * (o->nesterov ? d + mom * b : b);
    }
  }
  lt_tensor_release(cg);
  return 0;
}

/* ---------------------------------------------------------------- Adam, AdamW */

int lt_adam_step(lt_tensor *p, lt_tensor *g, lt_tensor *m, lt_tensor *v,
                 int64_t step, const lt_adam_opts *o) {
  lt_tensor *cg;
  float *pp, *pm, *pv;
  const float *pg;
  int64_t i, n = lt_numel(p);
  double bc1, bc2;
  float b1, b2, eps, wd, decay, step_size, bc2_sqrt;
  if (step < 1) {
    lt_err("adam: step count %lld must be >= 1", (long long)step);
    return -1;
  }
  if (lt_optim_check("adam", "parameter", p, p, 1) || lt_optim_check("adam", "gradient", g, p, 0) ||
      lt_optim_check("adam", "exp_avg", m, p, 1) || lt_optim_check("adam", "exp_avg_sq", v, p, 1))
    return -1;
  lt_bump_version(p);
  bc1 = 1.0 - pow(o->beta1, (double)step);
  bc2 = 1.0 - pow(o->beta2, (double)step);
  if (bc1 == 0 || bc2 <= 0) {
    lt_err("adam: betas (%g, %g) give no bias correction (each must be < 1)", o->beta1, o->beta2);
    return -1;
  }
  if ((cg = lt_contiguous(g)) == NULL) return -1;
  b1 = (float)o->beta1; b2 = (float)o->beta2; eps = (float)o->eps;
  step_size = (float)(o->lr / bc1);
  bc2_sqrt = (float)sqrt(bc2);
  /* Adam folds decay into the gradient; AdamW shrinks the weight itself */
  wd = o->decoupled ? 0.0f : (float)o->weight_decay;
  decay = o->decoupled ? (float)(1.0 - o->lr * o->weight_decay) : 1.0f;
  pp = lt_data(p); pm = lt_data(m); pv = lt_data(v); pg = lt_data(cg);
  for (i = 0; i < n; i++) {
    float x = pp[i] * decay;
    float d = pg[i] + wd * x;
    float mi = pm[i] + (1.0f - b1) * (d - pm[i]);   /* lerp, as torch does */
    float vi = b2 * pv[i] + (1.0f - b2) * d * d;
    pm[i] = mi;
    pv[i] = vi;
    pp[i] = x - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
  }
  lt_tensor_release(cg);
  return 0;
}

/* ---------------------------------------------------------------- clipping */

/* eight independent partial sums: the compiler may keep them in one
** vector register without reordering any single sum */
static double lt_sq_sum1(const float *x, int64_t m) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, total = 0;
  int64_t i;
  int j;
  for (i = 0; i + 8 <= m; i += 8)
    for (j = 0; j < 8; j++) acc[j] += (double)x[i + j] * x[i + j];
  for (; i < m; i++) total += (double)x[i] * x[i];
  for (j = 0; j < 8; j++) total += acc[j];
  return total;
}

int lt_sq_sum(lt_tensor *const *ts, int n, double *out) {
  double acc = 0;
  int k;
  for (k = 0; k < n; k++) {
    lt_tensor *c = lt_contiguous(ts[k]);
    if (c == NULL) return -1;
    acc += lt_sq_sum1(lt_data(c), lt_numel(c));
    lt_tensor_release(c);
  }
  *out = acc;
  return 0;
}

int lt_scale_(lt_tensor *t, float f) {
  const int64_t *st[1];
  int64_t off[1], i;
  lt_iter it;
  char b[160];
  int d;
  /* an expanded view would scale one element several times */
  for (d = 0; d < t->ndim; d++)
    if (t->stride[d] == 0 && t->shape[d] > 1) {
      lt_err("scale_: tensor %s has overlapping elements (expanded view)",
             lt_shape_str(t, b, sizeof b));
      return -1;
    }
  st[0] = t->stride;
  off[0] = t->offset;
  lt_bump_version(t);
  lt_iter_init(&it, t->shape, t->ndim, 1, st, off);
  if (it.empty) return 0;
  do {
    float *x = t->st->data + it.off[0];
    int64_t s = it.inner[0];
    if (s == 1) for (i = 0; i < it.len; i++) x[i] *= f;
    else for (i = 0; i < it.len; i++) x[i * s] *= f;
  } while (lt_iter_next(&it));
  return 0;
}
