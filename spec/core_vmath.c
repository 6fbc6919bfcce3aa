/*
** core_vmath.c -- part of the core's C test: vmath.h's vector functions
** (exp, tanh, sigmoid, SiLU, both GELUs and their derivatives) against
** libm in double precision, over a sample of every float's bit pattern
** and a list of extremes (+-0, +-inf, NaN, the largest, the subnormals),
** and the elementwise ops that use them against the same oracle.
**
** The bound: an error of at most 4 units in the last place of the true
** value, counting the function's own conditioning (|x f'(x) / f(x)|: a
** function that turns an input's last-bit change into several output
** bits cannot be asked for better); subnormal results in units of the
** smallest subnormal.  The derivatives get 8: each is a sum of two terms
** of opposite sign (s + x s (1 - s), Phi + x phi), whose cancellation
** near the derivative's zero costs a bit or two more.  NaN in must give
** NaN out, inf where the true value overflows.
*/
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd.h"
#include "ops.h"
#include "vmath.h"

#define CV_SQRT2PI 2.50662827463100050242
#define CV_K 0.7978845608028654
#define CV_C 0.044715

static double cv_phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double cv_sig(double x) {   /* no overflow either way */
  double a = exp(-fabs(x));
  return x >= 0 ? 1 / (1 + a) : a / (1 + a);
}
/* x s(x) shapes (SiLU, GELU): their limits at -inf / +inf are -0 and inf,
** their derivatives' 0 and 1, which the formulas give as NaN */
#define CV_LIMIT(x) if (isinf(x)) return (x) > 0 ? (x) : -0.0
#define CV_LIMIT_GRAD(x) if (isinf(x)) return (x) > 0 ? 1.0 : 0.0

static double cv_gelu_tanh(double x) {
  CV_LIMIT(x);
  return x * cv_sig(2 * CV_K * (x + CV_C * x * x * x));
}

/* the functions: float under test, double oracle */
typedef struct cv_fn {
  const char *name;
  float (*f)(float);
  double (*ref)(double);
  double bound;             /* ulp */
} cv_fn;

static float cv_phi_f(float x) { return lt_vphi(x, lt_vgauss(x)); }
static double cv_exp(double x) { return exp(x); }
static double cv_tanh(double x) { return tanh(x); }
static double cv_silu(double x) { CV_LIMIT(x); return x * cv_sig(x); }
static double cv_gelu(double x) { CV_LIMIT(x); return x * cv_phi(x); }
static double cv_gauss(double x) { return exp(-x * x / 2); }
static double cv_sig_grad(double x) { double a = exp(-fabs(x)); return a / ((1 + a) * (1 + a)); }
static double cv_tanh_grad(double x) { double c = cosh(x); return 1 / (c * c); }
static double cv_silu_grad(double x) {
  double a = exp(-fabs(x));
  CV_LIMIT_GRAD(x);
  return cv_sig(x) + x * a / ((1 + a) * (1 + a));
}
static double cv_gelu_grad(double x) {
  CV_LIMIT_GRAD(x);
  return cv_phi(x) + x * exp(-x * x / 2) / CV_SQRT2PI;
}
static double cv_gelu_tanh_grad(double x) {
  double v = 2 * CV_K * (x + CV_C * x * x * x), a = exp(-fabs(v));
  CV_LIMIT_GRAD(x);
  return cv_sig(v) + x * a / ((1 + a) * (1 + a)) * 2 * CV_K * (1 + 3 * CV_C * x * x);
}

static const cv_fn cv_fns[] = {
  {"exp", lt_vexp, cv_exp, 4},
  {"tanh", lt_vtanh, cv_tanh, 4},
  {"sigmoid", lt_vsigmoid, cv_sig, 4},
  {"silu", lt_vsilu, cv_silu, 4},
  {"gelu", lt_vgelu, cv_gelu, 4},
  {"gelu_tanh", lt_vgelu_tanh, cv_gelu_tanh, 4},
  {"gauss", lt_vgauss, cv_gauss, 4},
  {"phi", cv_phi_f, cv_phi, 4},
  {"sigmoid'", lt_vsigmoid_grad, cv_sig_grad, 8},
  {"tanh'", lt_vtanh_grad, cv_tanh_grad, 8},
  {"silu'", lt_vsilu_grad, cv_silu_grad, 8},
  {"gelu'", lt_vgelu_grad, cv_gelu_grad, 8},
  {"gelu_tanh'", lt_vgelu_tanh_grad, cv_gelu_tanh_grad, 8},
};

/* the error of y against the true value r at x, in units of the bound's
** ulp (see the top); 0 when both are the same NaN or inf */
static double cv_err(const cv_fn *fn, float x, float y, double r) {
  double ar = fabs(r), ulp, h, r2, cond;
  if (isnan(r)) return isnan(y) ? 0 : 1e9;
  if (isnan(y)) return 1e9;
  if (ar > (double)FLT_MAX * (1 + 0x1p-25)) return isinf(y) && (y > 0) == (r > 0) ? 0 : 1e9;
  if (isinf(y)) return 1e9;
  ulp = ar < FLT_MIN ? 0x1p-149 : ldexp(1.0, ilogb(ar) - 23);
  h = fabs((double)x) * 1e-6 + 1e-300;
  r2 = fn->ref((double)x + h);
  cond = isfinite(r2) && ar > 0 ? fabs((double)x * (r2 - r) / h) / ar : 0;
  return fabs((double)y - r) / (ulp * (1 + cond));
}

static float cv_float(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }

/* worst error of fn over the sample and the extremes; *wx where */
static double cv_worst(const cv_fn *fn, float *wx) {
  static const float extremes[] = {
    0.0f, -0.0f, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
    0x1p-149f, -0x1p-149f, 1e-30f, -1e-30f, 1e30f, -1e30f, 88.7f, 89.0f, -87.3f,
    -103.9f, -104.5f, 0.625f, -0.625f, 1.0f, -1.0f, 9.0f, -9.0f, 13.0f, -13.0f,
    20.0f, -20.0f, 40.0f, -40.0f, 200.0f, -200.0f,
  };
  double worst = 0, e;
  uint64_t b;
  size_t i;
  for (b = 0; b < 0x100000000ull + sizeof extremes / sizeof *extremes; b += 4099) {
    float x = b < 0x100000000ull ? cv_float((uint32_t)b)
                                 : extremes[b - 0x100000000ull];
    e = cv_err(fn, x, fn->f(x), fn->ref((double)x));
    if (e > worst) { worst = e; *wx = x; }
  }
  for (i = 0; i < sizeof extremes / sizeof *extremes; i++) {
    e = cv_err(fn, extremes[i], fn->f(extremes[i]), fn->ref((double)extremes[i]));
    if (e > worst) { worst = e; *wx = extremes[i]; }
  }
  /* NaN in, NaN out */
  if (!isnan(fn->f(NAN))) { worst = 1e9; *wx = NAN; }
  return worst;
}

/* the ops, forward and backward, on a row of values against the oracle */
static int cv_ops(void) {
  static const struct { lt_unop op; double (*ref)(double); double (*grad)(double); } ops[] = {
    {LT_EXP, cv_exp, cv_exp}, {LT_TANH, cv_tanh, cv_tanh_grad},
    {LT_SIGMOID, cv_sig, cv_sig_grad}, {LT_SILU, cv_silu, cv_silu_grad},
    {LT_GELU, cv_gelu, cv_gelu_grad}, {LT_GELU_TANH, cv_gelu_tanh, cv_gelu_tanh_grad},
  };
  float xs[64];
  int64_t n = 64;
  size_t k;
  int i, bad = 0;
  for (i = 0; i < n; i++) xs[i] = (float)(i - 32) * 0.37f;
  for (k = 0; k < sizeof ops / sizeof *ops; k++) {
    lt_tensor *x = lt_empty(&n, 1), *y, *s;
    memcpy(lt_data(x), xs, sizeof xs);
    x->requires_grad = 1;
    y = lt_unary(ops[k].op, x);
    s = y ? lt_sum(y, LT_ALLDIMS, 0) : NULL;
    if (s == NULL || lt_backward(s, NULL, 0) || x->grad == NULL) bad++;
    else
      for (i = 0; i < n; i++) {
        double r = ops[k].ref(xs[i]), g = ops[k].grad(xs[i]);
        if (fabs(lt_data(y)[i] - r) > 1e-6 * (1 + fabs(r)) ||
            fabs(lt_data(x->grad)[i] - g) > 1e-6 * (1 + fabs(g))) {
          printf("  core_vmath.c: %s op at %g: %g (grad %g), want %g (%g)\n",
                 lt_unop_name(ops[k].op), (double)xs[i], (double)lt_data(y)[i],
                 (double)lt_data(x->grad)[i], r, g);
          bad++;
          break;
        }
      }
    lt_tensor_release(s); lt_tensor_release(y); lt_tensor_release(x);
  }
  return bad;
}

/* checks failed: each function within its bound (see the top), the ops */
int ct_vmath(void) {
  size_t i;
  int bad = 0;
  for (i = 0; i < sizeof cv_fns / sizeof *cv_fns; i++) {
    float wx = 0;
    double w = cv_worst(&cv_fns[i], &wx);
    if (w > cv_fns[i].bound) {
      printf("  core_vmath.c: %s is %.3g ulp off at x = %.9g\n", cv_fns[i].name, w, (double)wx);
      bad++;
    }
  }
  return bad + cv_ops();
}
