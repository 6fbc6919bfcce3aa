/*
** vmath.h -- float math in straight-line code, so that loops over it
** vectorize (AVX-512/AVX2 with -march=native): no libm call per element,
** no data-dependent branch, selects instead of ifs.  Each function is
** accurate to float rounding over the whole float range (a few ulp at
** most, subnormal results included; spec/vmath_spec.lua compares each
** against double-precision libm over wide ranges and the extremes), and
** NaN in gives NaN out.
**
** The polynomials were fitted for lunet (weighted least squares towards
** minimax on Chebyshev nodes, in the variable named beside each); their
** fitting errors are below 3e-9, under float rounding.
*/
#ifndef LT_VMATH_H
#define LT_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/*
** a * b + c, fused where the target has a fast fma.  (-std=c11 turns off
** GCC's own contraction, and fmaf without hardware support is a slow
** library call.)
*/
static inline float lt_fma(float a, float b, float c) {
#ifdef __FP_FAST_FMAF
  return fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

static inline float lt_bits_float(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
static inline uint32_t lt_float_bits(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }

/*
** exp(x) = 2^k e^r with k = round(x / ln 2), |r| <= ln2/2 (Cody-Waite
** split of ln 2), e^r by Cephes' degree-7 polynomial: within 1 ulp of
** expf.  2^k is applied as two halves, so that results down to the
** smallest subnormal come out right (one rounding, in the last multiply)
** and k up to 128 overflows to inf as it should.  The rounding trick
** (adding 1.5 * 2^23) leaves k in the low bits of kf without a
** float-to-int conversion, which would be undefined for NaN.
*/
static inline float lt_vexp(float x) {
  float xc = x < -104.0f ? -104.0f : x > 89.0f ? 89.0f : x;
  float kf = lt_fma(xc, 1.44269504088896341f, 12582912.0f);
  float r, p;
  int32_t k, k1;
  k = (int32_t)(lt_float_bits(kf) - 0x4b400000u);   /* round(xc / ln 2) */
  kf -= 12582912.0f;
  r = lt_fma(kf, -0.693359375f, xc);
  r = lt_fma(kf, 2.12194440e-4f, r);
  p = 1.9875691500e-4f;
  p = lt_fma(p, r, 1.3981999507e-3f);
  p = lt_fma(p, r, 8.3334519073e-3f);
  p = lt_fma(p, r, 4.1665795894e-2f);
  p = lt_fma(p, r, 1.6666665459e-1f);
  p = lt_fma(p, r, 5.0000001201e-1f);
  p = lt_fma(p, r * r, r + 1.0f);
  k1 = k / 2;                                      /* k in [-150, 128] */
  p *= lt_bits_float((uint32_t)(k1 + 127) << 23);
  p *= lt_bits_float((uint32_t)(k - k1 + 127) << 23);
  p = x < -104.0f ? 0.0f : p;                      /* below half the least subnormal */
  return x != x ? x : p;
}

/*
** tanh: x + x^3 P(x^2) below 0.625 (fitted in x^2), else
** 1 - 2 / (exp(2|x|) + 1) with x's sign, which cannot cancel there.
*/
static inline float lt_vtanh(float x) {
  float ax = fabsf(x), z = x * x, p, big;
  p = -5.705023650079966e-3f;
  p = lt_fma(p, z, 2.0639123395085335e-2f);
  p = lt_fma(p, z, -5.3739726543426514e-2f);
  p = lt_fma(p, z, 1.3331443071365356e-1f);
  p = lt_fma(p, z, -3.333328068256378e-1f);
  p = lt_fma(p * z, x, x);
  big = 1.0f - 2.0f / (lt_vexp(2.0f * ax) + 1.0f);
  big = copysignf(big, x);
  return ax < 0.625f ? p : big;
}

/*
** sigmoid(x) = 1 / (1 + e^-x), or a / (1 + a) with a = e^-|x| for x < 0,
** which reaches the subnormals instead of overflowing e^-x
*/
static inline float lt_vsigmoid_a(float x, float a) {
  float s = 1.0f / (1.0f + a);
  return x >= 0.0f ? s : a * s;
}

static inline float lt_vsigmoid(float x) {
  return lt_vsigmoid_a(x, lt_vexp(-fabsf(x)));
}

/*
** sigmoid'(x) = s (1 - s) = a / (1 + a)^2 with a = e^-|x|: accurate in
** both tails, where s (1 - s) from a rounded s would not be.
*/
static inline float lt_vsigmoid_grad(float x) {
  float a = lt_vexp(-fabsf(x)), d = 1.0f + a;
  return a / (d * d);
}

/*
** e^(-x^2/2), accurate although x^2 is not exact in float: with
** x^2 = h + l exactly (fma, or Dekker's split without one),
** e^(-h/2 - l/2) = e^(-h/2) (1 - l/2) to well under an ulp.
*/
static inline float lt_vgauss(float x) {
  float ax = fabsf(x), h, l, e;
  x = ax > 15.0f ? 15.0f : ax;      /* e^-112 is 0 in float: keeps x^2 finite */
  h = x * x;
#ifdef __FP_FAST_FMAF
  l = fmaf(x, x, -h);
#else
  float xh = lt_bits_float(lt_float_bits(x) & 0xfffff000u), xl = x - xh;
  l = ((xh * xh - h) + 2.0f * xh * xl) + xl * xl;
#endif
  e = lt_vexp(-0.5f * h);
  return lt_fma(-0.5f * l, e, e);
}

/*
** Phi(x), the standard normal CDF, with e = lt_vgauss(x):
**   |x| < 1:   1/2 + x P(x^2)                        (fitted in x^2)
**   |x| >= 1:  Q = e R(|x|), Q = Phi(-|x|), so Phi = Q or 1 - Q
** where R(u) = Q(u) e^(u^2/2) is smooth (fitted in t = 1/(1 + u/3)).
** Computing Q, not 1 - Phi, keeps the left tail accurate in relative
** terms down to the subnormals (GELU's x Phi(x) for x << 0).
*/
static inline float lt_vphi(float x, float e) {
  float ax = fabsf(x), z = x * x, p, t, r, q;
  p = -7.654642104171216e-6f;
  p = lt_fma(p, z, 1.1348756379447877e-4f);
  p = lt_fma(p, z, -1.186331151984632e-3f);
  p = lt_fma(p, z, 9.973323903977871e-3f);
  p = lt_fma(p, z, -6.649035960435867e-2f);
  p = lt_fma(p, z, 3.989422917366028e-1f);
  p = lt_fma(p, x, 0.5f);
  t = 1.0f / (1.0f + ax * (1.0f / 3.0f));
  r = -1.7564823850989342e-2f;
  r = lt_fma(r, t, 1.1277464777231216e-1f);
  r = lt_fma(r, t, -2.507857382297516e-1f);
  r = lt_fma(r, t, 2.091943323612213e-1f);
  r = lt_fma(r, t, -5.4962363094091415e-2f);
  r = lt_fma(r, t, 1.2402855604887009e-1f);
  r = lt_fma(r, t, 1.1036128550767899e-1f);
  r = lt_fma(r, t, 1.340775340795517e-1f);
  r = lt_fma(r, t, 1.3289304077625275e-1f);
  r = lt_fma(r, t, 3.055708930332912e-6f);
  q = e * r;
  q = x < 0.0f ? q : 1.0f - q;
  return ax < 1.0f ? p : q;
}

#define LT_INV_SQRT_2PI 0.39894228040143267794f
#define LT_GELU_K       0.79788456080286535588f   /* sqrt(2/pi) */
#define LT_GELU_C       0.044715f

/*
** GELU, exact form: x Phi(x), its limit -0 below -20 (also at -inf); and
** in *dy its derivative GELU'(x) = Phi(x) + x phi(x), x clamped in the
** second term, whose factor phi is 0 out there anyway, so that +-inf give
** the limits 1, 0.  One function for both because they share their exp:
** the fused MLP's backward recomputes GELU beside its derivative, and
** the single-purpose forms below are this with the other half unused
** (which the compiler drops).
*/
static inline float lt_vgelu_pair(float x, float *dy) {
  float e = lt_vgauss(x), p = lt_vphi(x, e), y = x * p;
  float xc = x < -40.0f ? -40.0f : x > 40.0f ? 40.0f : x;
  *dy = p + xc * (LT_INV_SQRT_2PI * e);
  return x < -20.0f ? -0.0f : y;
}

static inline float lt_vgelu(float x) { float d; return lt_vgelu_pair(x, &d); }
static inline float lt_vgelu_grad(float x) { float d; lt_vgelu_pair(x, &d); return d; }

/*
** GELU, tanh form: x (1 + tanh u) / 2 with u = k (x + c x^3), written as
** x sigmoid(2u), which does not cancel for x << 0.  x is clamped in u
** (sigmoid is 0 or 1 to float precision beyond 20), so x^3 cannot
** overflow.
*/
static inline float lt_vgelu_tanh_u(float x) {
  float xc = x < -20.0f ? -20.0f : x > 20.0f ? 20.0f : x;
  return LT_GELU_K * lt_fma(LT_GELU_C * xc, xc * xc, xc);
}

/* x s(2u), and in *dy its derivative s + x s (1 - s) 2 u' with
** u' = k (1 + 3 c x^2): one exp for both, as lt_vgelu_pair */
static inline float lt_vgelu_tanh_pair(float x, float *dy) {
  float xc = x < -20.0f ? -20.0f : x > 20.0f ? 20.0f : x;
  float v = 2.0f * lt_vgelu_tanh_u(x), a = lt_vexp(-fabsf(v)), s = lt_vsigmoid_a(v, a);
  float du = 2.0f * LT_GELU_K * lt_fma(3.0f * LT_GELU_C * xc, xc, 1.0f);
  float d = 1.0f + a, y = x * s;
  *dy = s + xc * du * (a / (d * d));
  return x < -20.0f ? -0.0f : y;
}

static inline float lt_vgelu_tanh(float x) { float d; return lt_vgelu_tanh_pair(x, &d); }
static inline float lt_vgelu_tanh_grad(float x) { float d; lt_vgelu_tanh_pair(x, &d); return d; }

/* SiLU x sigmoid(x), and its derivative s + x s (1 - s) */
static inline float lt_vsilu(float x) {
  float y = x * lt_vsigmoid(x);
  return x < -200.0f ? -0.0f : y;   /* the limit, also at -inf */
}

static inline float lt_vsilu_grad(float x) {
  float a = lt_vexp(-fabsf(x)), d = 1.0f + a;
  float xc = x < -200.0f ? -200.0f : x > 200.0f ? 200.0f : x;
  return lt_vsigmoid_a(x, a) + xc * (a / (d * d));
}

/* tanh'(x) = 1 - tanh^2 = 4a / (1 + a)^2 with a = e^-2|x| (no cancellation) */
static inline float lt_vtanh_grad(float x) {
  float a = lt_vexp(-2.0f * fabsf(x)), d = 1.0f + a;
  return 4.0f * a / (d * d);
}

#endif
