/*
** ops_optim.c -- optimiser update loops over whole parameter tensors.
**
** One pass per parameter: the update reads the gradient once and writes
** the parameter and its state once, which is what makes a step cheap next
** to the forward and backward passes.  Arithmetic is float per element
** (as PyTorch does on float32 parameters); the per-step scalars (bias
** corrections) are computed in double.  Elements go to the thread pool.
*/
#include <math.h>
#include <stdlib.h>

#include "optim.h"
#include "pool.h"
#include "rowmath.h"

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

/* what an update's chunk of elements needs (SGD: b1 momentum, b2 1 - dampening) */
typedef struct lt_optim_job {
  float *p, *m, *v;
  const float *g;
  float lr, wd, b1, b2, eps, decay, step_size, bc2_sqrt;
  int first, nesterov;
} lt_optim_job;

static int lt_sgd_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_optim_job *j = ctx;
  float *restrict pp = j->p;
  const float *restrict pg = j->g;
  int64_t i;
  (void)worker;
  for (i = lo; i < hi; i++) pp[i] -= j->lr * (pg[i] + j->wd * pp[i]);
  return 0;
}

static int lt_sgd_mom_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_optim_job *j = ctx;
  float *restrict pp = j->p, *restrict pb = j->m;
  const float *restrict pg = j->g;
  int64_t i;
  (void)worker;
  for (i = lo; i < hi; i++) {
    float d = pg[i] + j->wd * pp[i];
    float b = j->first ? d : j->b1 * pb[i] + j->b2 * d;
    pb[i] = b;
    pp[i] -= j->lr * (j->nesterov ? d + j->b1 * b : b);
  }
  return 0;
}

int lt_sgd_step(lt_tensor *p, lt_tensor *g, lt_tensor *buf, int first,
                const lt_sgd_opts *o) {
  lt_tensor *cg;
  lt_optim_job j;
  float lr = (float)o->lr, wd = (float)o->weight_decay, mom = (float)o->momentum;
  float damp1 = (float)(1.0 - o->dampening);
  int64_t n = lt_numel(p);
  if (lt_optim_check("sgd", "parameter", p, p, 1) || lt_optim_check("sgd", "gradient", g, p, 0))
    return -1;
  lt_bump_version(p);
  if (o->momentum != 0 && buf == NULL) {
    lt_err("sgd: momentum %g needs a momentum buffer", o->momentum);
    return -1;
  }
  if (o->momentum != 0 && lt_optim_check("sgd", "momentum buffer", buf, p, 1)) return -1;
  if ((cg = lt_contiguous(g)) == NULL) return -1;   /* read-only: any strides */
  j.p = lt_data(p); j.g = lt_data(cg); j.m = buf ? lt_data(buf) : NULL;
  j.lr = lr; j.wd = wd; j.b1 = mom; j.b2 = damp1;
  j.first = first; j.nesterov = o->nesterov;
  lt_parallel(n, lt_par_chunk(n, 4), 0, o->momentum == 0 ? lt_sgd_task : lt_sgd_mom_task, &j);
  lt_tensor_release(cg);
  return 0;
}

/* ---------------------------------------------------------------- Adam, AdamW */

static int lt_adam_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_optim_job *j = ctx;
  float *restrict pp = j->p, *restrict pm = j->m, *restrict pv = j->v;
  const float *restrict pg = j->g;
  float b1 = j->b1, b2 = j->b2, wd = j->wd, decay = j->decay;
  int64_t i;
  (void)worker;
  for (i = lo; i < hi; i++) {
    float x = pp[i] * decay;
    float d = pg[i] + wd * x;
    float mi = pm[i] + (1.0f - b1) * (d - pm[i]);   /* lerp, as torch does */
    float vi = b2 * pv[i] + (1.0f - b2) * d * d;
    pm[i] = mi;
    pv[i] = vi;
    pp[i] = x - j->step_size * mi / (sqrtf(vi) / j->bc2_sqrt + j->eps);
  }
  return 0;
}

int lt_adam_step(lt_tensor *p, lt_tensor *g, lt_tensor *m, lt_tensor *v,
                 int64_t step, const lt_adam_opts *o) {
  lt_tensor *cg;
  lt_optim_job j;
  int64_t n = lt_numel(p);
  double bc1, bc2;
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
  j.b1 = (float)o->beta1; j.b2 = (float)o->beta2; j.eps = (float)o->eps;
  j.step_size = (float)(o->lr / bc1);
  j.bc2_sqrt = (float)sqrt(bc2);
  /* Adam folds decay into the gradient; AdamW shrinks the weight itself */
  j.wd = o->decoupled ? 0.0f : (float)o->weight_decay;
  j.decay = o->decoupled ? (float)(1.0 - o->lr * o->weight_decay) : 1.0f;
  j.p = lt_data(p); j.m = lt_data(m); j.v = lt_data(v); j.g = lt_data(cg);
  lt_parallel(n, lt_par_chunk(n, 12), 0, lt_adam_task, &j);
  lt_tensor_release(cg);
  return 0;
}

/* ---------------------------------------------------------------- clipping */

int lt_sq_sum(lt_tensor *const *ts, int n, double *out) {
  double acc = 0;
  int k;
  for (k = 0; k < n; k++) {
    lt_tensor *c = lt_contiguous(ts[k]);
    if (c == NULL) return -1;
    double part;
    int rc = lt_long_dot("clip_grad_norm", lt_data(c), lt_data(c), lt_numel(c), &part);
    lt_tensor_release(c);
    if (rc) return -1;
    acc += part;
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
