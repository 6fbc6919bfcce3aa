/*
** ops_random.c -- randint, randperm, multinomial and bernoulli, all
** drawn from the core's one generator (tensor.c), so lunet.manual_seed
** and lunet.set_rng_state repeat them on every machine.
*/
#include <math.h>
#include <stdlib.h>

#include "dtype.h"
#include "ops.h"
#include "alloc.h"

/* uniform on [0, range), range >= 1, without modulo bias (rejection) */
static uint64_t lt_rng_below(uint64_t range) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % range, v;
  do v = lt_rng_next(); while (v >= limit);
  return v % range;
}

lt_tensor *lt_randint(int64_t lo, int64_t hi, const int64_t *shape, int ndim) {
  lt_tensor *t;
  int64_t i, n, *p;
  if (hi <= lo) {
    lt_err("randint: high %lld must be greater than low %lld", (long long)hi, (long long)lo);
    return NULL;
  }
  if ((t = lt_empty_dtype(shape, ndim, LT_INT64)) == NULL) return NULL;
  n = lt_numel(t);
  p = lt_ptr(t);
  for (i = 0; i < n; i++)
    p[i] = (int64_t)((uint64_t)lo + lt_rng_below((uint64_t)hi - (uint64_t)lo));
  return t;
}

/* Fisher-Yates */
lt_tensor *lt_randperm(int64_t n) {
  lt_tensor *t;
  int64_t i, *p;
  if (n < 0) { lt_err("randperm: n must be >= 0, got %lld", (long long)n); return NULL; }
  if ((t = lt_empty_dtype(&n, 1, LT_INT64)) == NULL) return NULL;
  p = lt_ptr(t);
  for (i = 0; i < n; i++) p[i] = i;
  for (i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)lt_rng_below((uint64_t)i + 1), tmp = p[i];
    p[i] = p[j];
    p[j] = tmp;
  }
  return t;
}

/* the category whose cumulative weight passes u * total in w[0..C) */
static int64_t lt_pick(const double *w, int64_t C, double total) {
  double u = lt_rng_uniform() * total, acc = 0;
  int64_t c, last = -1;
  for (c = 0; c < C; c++) {
    if (w[c] <= 0) continue;
    last = c;
    acc += w[c];
    if (u < acc) return c;
  }
  return last;   /* rounding at the top end */
}

/* one row: n draws from the weights p[0..C), removing each draw when
** without replacement */
static int lt_multinomial_row(const float *p, int64_t C, int64_t n, int repl, double *w,
                              int64_t *out, int64_t row) {
  double total = 0;
  int64_t c, k, positive = 0;
  for (c = 0; c < C; c++) {
    if (!(p[c] >= 0) || isinf(p[c])) {
      lt_err("multinomial: probabilities must be finite and >= 0, got %g (row %lld)",
             (double)p[c], (long long)row + 1);
      return -1;
    }
    w[c] = p[c];
    total += w[c];
    positive += w[c] > 0;
  }
  if (total <= 0) {
    lt_err("multinomial: row %lld of the probabilities sums to 0", (long long)row + 1);
    return -1;
  }
  if (!repl && n > positive) {
    lt_err("multinomial: %lld draws without replacement from %lld categories with "
           "nonzero probability", (long long)n, (long long)positive);
    return -1;
  }
  for (k = 0; k < n; k++) {
    out[k] = lt_pick(w, C, total);
    if (!repl) { total -= w[out[k]]; w[out[k]] = 0; }
  }
  return 0;
}

lt_tensor *lt_multinomial(lt_tensor *probs, int64_t n, int replacement) {
  int64_t shape[2], R, C, r;
  lt_tensor *p, *out = NULL;
  double *w = NULL;
  if (probs->ndim < 1 || probs->ndim > 2 || probs->shape[probs->ndim - 1] == 0) {
    char b[160];
    lt_err("multinomial: probabilities must be {C} or {R,C} with C >= 1, got %s",
           lt_shape_str(probs, b, sizeof b));
    return NULL;
  }
  if (n < 0) { lt_err("multinomial: number of draws must be >= 0, got %lld", (long long)n); return NULL; }
  R = probs->ndim == 2 ? probs->shape[0] : 1;
  C = probs->shape[probs->ndim - 1];
  if ((p = lt_to_dtype(probs, LT_FLOAT32)) == NULL) return NULL;
  {
    lt_tensor *c = lt_contiguous(p);
    lt_tensor_release(p);
    if ((p = c) == NULL) return NULL;
  }
  shape[0] = R; shape[1] = n;
  if ((w = lt_malloc((size_t)C * sizeof *w)) == NULL) { lt_err("multinomial: out of memory"); goto fail; }
  if ((out = lt_empty_dtype(probs->ndim == 2 ? shape : shape + 1, probs->ndim, LT_INT64)) == NULL)
    goto fail;
  for (r = 0; r < R; r++)
    if (lt_multinomial_row(lt_data(p) + r * C, C, n, replacement, w,
                           (int64_t *)lt_ptr(out) + r * n, r))
      goto fail;
  free(w);
  lt_tensor_release(p);
  return out;
fail:
  free(w);
  lt_tensor_release(p);
  lt_tensor_release(out);
  return NULL;
}

lt_tensor *lt_bernoulli(lt_tensor *prob) {
  lt_tensor *p = lt_to_dtype(prob, LT_FLOAT32), *c = NULL, *out = NULL;
  int64_t i, n;
  if (p == NULL || (c = lt_contiguous(p)) == NULL) goto done;
  n = lt_numel(c);
  for (i = 0; i < n; i++)
    if (!(lt_data(c)[i] >= 0 && lt_data(c)[i] <= 1)) {
      lt_err("bernoulli: probabilities must be in [0, 1], got %g", (double)lt_data(c)[i]);
      goto done;
    }
  if ((out = lt_empty(c->shape, c->ndim)) != NULL)
    for (i = 0; i < n; i++) lt_data(out)[i] = lt_rng_uniform() < lt_data(c)[i] ? 1.0f : 0.0f;
done:
  lt_tensor_release(p);
  lt_tensor_release(c);
  return out;
}
