/*
** dtype.h -- element types beyond float32: names, promotion, conversion,
** element access, and the ids that embedding, cross-entropy and the
** indexing ops read.
**
** The rule of the core: float kernels compute in float32 only, so dtype
** awareness lives here and in the ops that are about dtypes (creation,
** conversion, comparisons returning bool, integer arithmetic, indexing,
** sorting, safetensors).  Everything else receives float32, converted by
** the binding (lb_checktensor) or by a C caller with lt_to_dtype.
**
** Promotion follows PyTorch: bool < integers < float32; among integers
** the wider wins (uint8 < int32 < int64).  A Lua number operand does not
** widen a tensor within its category (int32 + 1 stays int32), but a
** fractional number makes an integer tensor float32.
*/
#ifndef LT_DTYPE_H
#define LT_DTYPE_H

#include <string.h>

#include "tensor.h"

const char *lt_dtype_name(lt_dtype dt);          /* "float32", "int64", ... */
const char *lt_article(lt_dtype dt);             /* "a" (float32) or "an" (int64) */
/* by name or PyTorch/Torch7 alias (float, long, int, byte); 0 or -1 */
int lt_dtype_parse(const char *name, lt_dtype *dt);
static inline int lt_is_float(lt_dtype dt) { return dt == LT_FLOAT32; }
static inline int lt_is_integral(lt_dtype dt) { return dt != LT_FLOAT32 && dt != LT_BOOL; }

lt_dtype lt_promote(lt_dtype a, lt_dtype b);
/* a tensor of dtype dt with a number operand; fractional: the number is
** a float (a Lua float, as in PyTorch, where 2.0 is a float too) */
lt_dtype lt_promote_scalar(lt_dtype dt, int fractional);

/* can a result of dtype from be written into a tensor of dtype to (the
** in-place rule: never float -> integer, never number -> bool) */
int lt_can_cast(lt_dtype from, lt_dtype to);

/* ---- one element at p, of dtype dt ---- */
static inline int64_t lt_get_i64(lt_dtype dt, const void *p) {
  switch (dt) {
  case LT_INT64: { int64_t v; memcpy(&v, p, 8); return v; }
  case LT_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
  case LT_UINT8: case LT_BOOL: return *(const unsigned char *)p;
  default: { float v; memcpy(&v, p, 4); return (int64_t)v; }   /* whole, checked */
  }
}

static inline double lt_get_f64(lt_dtype dt, const void *p) {
  if (dt == LT_FLOAT32) { float v; memcpy(&v, p, 4); return v; }
  return (double)lt_get_i64(dt, p);
}

/* integers wrap to the narrower types, as PyTorch's conversions do */
static inline void lt_set_i64(lt_dtype dt, void *p, int64_t v) {
  switch (dt) {
  case LT_INT64: memcpy(p, &v, 8); break;
  case LT_INT32: { int32_t w = (int32_t)(uint32_t)(uint64_t)v; memcpy(p, &w, 4); break; }
  case LT_UINT8: *(unsigned char *)p = (unsigned char)(uint64_t)v; break;
  case LT_BOOL: *(unsigned char *)p = v != 0; break;
  default: { float f = (float)v; memcpy(p, &f, 4); }
  }
}

/* ---- creation and conversion ---- */
lt_tensor *lt_full_dtype(const int64_t *shape, int ndim, double v, lt_dtype dt);
/* every element a copy of the one at elem (exact for any int64) */
lt_tensor *lt_full_raw(const int64_t *shape, int ndim, lt_dtype dt, const void *elem);
lt_tensor *lt_scalar_dtype(double v, lt_dtype dt);
/* start, start + step, ... short of stop, as dt (integers truncated
** toward zero, as a conversion would) */
lt_tensor *lt_arange(double start, double stop, double step, lt_dtype dt);
/* t as dtype dt: t itself (retained) when it already is, else a new
** contiguous tensor.  float -> integer truncates toward zero and refuses
** NaN, infinities and values beyond int64; anything -> bool is (v != 0).
** Carries no gradient (a float -> float32 conversion is t itself). */
lt_tensor *lt_to_dtype(lt_tensor *t, lt_dtype dt);
/* copy src into dst (same shape, any dtypes and strides); -1 (lt_err set)
** when a value cannot be converted */
int lt_convert_into(lt_tensor *dst, const lt_tensor *src);
/* t broadcast to shape as a new contiguous tensor of dtype dt (no gradient) */
lt_tensor *lt_broadcast_to(lt_tensor *t, const int64_t *shape, int nd, lt_dtype dt);

/*
** ids and indices: t as a contiguous int64 tensor (a new reference) with
** `shift` added; integer tensors as they are, float tensors when every
** value is whole.  Otherwise "<op>: <what> must be integers, got 1.5".
** Range checks are the caller's (each op has its own range).
*/
lt_tensor *lt_ids(const char *op, const char *what, lt_tensor *t, int64_t shift);
static inline const int64_t *lt_i64(const lt_tensor *t) {
  return (const int64_t *)lt_ptr(t);
}

#endif
