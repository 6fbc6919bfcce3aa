/*
** dtype.c -- dtype names, promotion, creation with a dtype, conversion,
** and the ids reader the id-consuming ops share.
*/
#include <math.h>
#include <string.h>

#include "dtype.h"
#include "ops.h"

static const char *const lt_dtype_names[LT_NDTYPES] = {
  "float32", "int64", "int32", "uint8", "bool"
};

const char *lt_dtype_name(lt_dtype dt) { return lt_dtype_names[dt]; }

const char *lt_article(lt_dtype dt) {
  return strchr("aeiou", lt_dtype_names[dt][0]) ? "an" : "a";
}

int lt_dtype_parse(const char *name, lt_dtype *dt) {
  static const struct { const char *name; lt_dtype dt; } alias[] = {
    {"float", LT_FLOAT32}, {"long", LT_INT64}, {"int", LT_INT32}, {"byte", LT_UINT8}
  };
  int i;
  for (i = 0; i < LT_NDTYPES; i++)
    if (strcmp(name, lt_dtype_names[i]) == 0) { *dt = (lt_dtype)i; return 0; }
  for (i = 0; i < (int)(sizeof alias / sizeof alias[0]); i++)
    if (strcmp(name, alias[i].name) == 0) { *dt = alias[i].dt; return 0; }
  return -1;
}

/* the rank of each dtype in promotion: a higher rank wins */
static int lt_rank(lt_dtype dt) {
  switch (dt) {
  case LT_BOOL: return 0;
  case LT_UINT8: return 1;
  case LT_INT32: return 2;
  case LT_INT64: return 3;
  default: return 4;
  }
}

lt_dtype lt_promote(lt_dtype a, lt_dtype b) {
  return lt_rank(a) >= lt_rank(b) ? a : b;
}

lt_dtype lt_promote_scalar(lt_dtype dt, int fractional) {
  if (fractional) return LT_FLOAT32;
  return dt == LT_BOOL ? LT_INT64 : dt;
}

int lt_can_cast(lt_dtype from, lt_dtype to) {
  if (lt_is_float(from)) return lt_is_float(to);
  if (lt_is_integral(from)) return to != LT_BOOL;
  return 1;
}

/* ---------------------------------------------------------------- creation */

lt_tensor *lt_full_raw(const int64_t *shape, int ndim, lt_dtype dt, const void *elem) {
  lt_tensor *t;
  int64_t i, n;
  char *p;
  size_t size = lt_dtype_size(dt);
  if ((t = lt_empty_dtype(shape, ndim, dt)) == NULL) return NULL;
  n = lt_numel(t);
  p = lt_ptr(t);
  for (i = 0; i < n; i++) memcpy(p + i * (int64_t)size, elem, size);
  return t;
}

lt_tensor *lt_full_dtype(const int64_t *shape, int ndim, double v, lt_dtype dt) {
  int64_t buf = 0;
  if (lt_is_float(dt)) return lt_full(shape, ndim, (float)v);
  lt_set_i64(dt, &buf, (int64_t)v);
  return lt_full_raw(shape, ndim, dt, &buf);
}

lt_tensor *lt_scalar_dtype(double v, lt_dtype dt) {
  return lt_full_dtype(NULL, 0, v, dt);
}

/* each value start + i*step in double, then as dt: an integer arange is
** exact to 2^53 (through float32 it would round past 2^24) */
lt_tensor *lt_arange(double start, double stop, double step, lt_dtype dt) {
  double len, last;
  int64_t n, i;
  lt_tensor *t;
  char *p;
  if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
    lt_err("arange: invalid range (%g, %g, step %g)", start, stop, step);
    return NULL;
  }
  len = ceil((stop - start) / step);
  if (len < 0) len = 0;
  if (len > 1e12) {
    lt_err("arange: range (%g, %g, step %g) is too long", start, stop, step);
    return NULL;
  }
  n = (int64_t)len;
  last = start + (double)(n - 1) * step;   /* the values run from start to last */
  if (lt_is_integral(dt) && n > 0 && !(fmin(start, last) >= -0x1p63 && fmax(start, last) < 0x1p63)) {
    lt_err("arange: value %g has no %s value", fabs(start) > fabs(last) ? start : last,
           lt_dtype_name(dt));
    return NULL;
  }
  if ((t = lt_empty_dtype(&n, 1, dt)) == NULL) return NULL;
  p = lt_ptr(t);
  for (i = 0; i < n; i++) {
    double v = start + (double)i * step;
    if (dt == LT_FLOAT32) ((float *)p)[i] = (float)v;
    else if (dt == LT_BOOL) p[i] = v != 0;
    else lt_set_i64(dt, p + i * (int64_t)lt_dtype_size(dt), (int64_t)v);
  }
  return t;
}

/* ---------------------------------------------------------------- conversion */

/* float -> int64 when v has an integer part that fits: C leaves the
** conversion of NaN, infinities and out-of-range values undefined */
static int lt_float_to_i64(float v, lt_dtype to, int64_t *out) {
  if (!(v > -9223372036854775808.0f && v < 9223372036854775808.0f)) {
    if (v == -9223372036854775808.0f) { *out = INT64_MIN; return 0; }
    if (v != v) lt_err("to %s: value nan has no integer value", lt_dtype_name(to));
    else lt_err("to %s: value %g has no integer value", lt_dtype_name(to), (double)v);
    return -1;
  }
  *out = (int64_t)v;
  return 0;
}

/* n elements of a strided row from dtype sd to dtype dd */
static int lt_convert_row(lt_dtype dd, char *o, int64_t os, lt_dtype sd, const char *s,
                          int64_t ss, int64_t n) {
  size_t dsz = lt_dtype_size(dd), ssz = lt_dtype_size(sd);
  int64_t i;
  for (i = 0; i < n; i++) {
    const char *p = s + i * ss * (int64_t)ssz;
    char *q = o + i * os * (int64_t)dsz;
    if (dd == LT_FLOAT32) {
      float f = (float)lt_get_f64(sd, p);
      memcpy(q, &f, 4);
    } else if (sd == LT_FLOAT32) {
      float f;
      int64_t v;
      memcpy(&f, p, 4);
      if (dd == LT_BOOL) { *q = f != 0; continue; }   /* NaN is true, as in PyTorch */
      if (lt_float_to_i64(f, dd, &v)) return -1;
      lt_set_i64(dd, q, v);
    } else {
      lt_set_i64(dd, q, lt_get_i64(sd, p));
    }
  }
  return 0;
}

int lt_convert_into(lt_tensor *dst, const lt_tensor *src) {
  const int64_t *st[2] = {dst->stride, src->stride};
  int64_t off[2] = {dst->offset, src->offset};
  lt_dtype dd = lt_dtypeof(dst), sd = lt_dtypeof(src);
  lt_iter it;
  if (dd == sd) { lt_copy_into(dst, src); return 0; }
  lt_iter_init(&it, src->shape, src->ndim, 2, st, off);
  if (it.empty) return 0;
  do
    if (lt_convert_row(dd, (char *)dst->st->data + it.off[0] * (int64_t)lt_dtype_size(dd),
                       it.inner[0], sd,
                       (const char *)src->st->data + it.off[1] * (int64_t)lt_dtype_size(sd),
                       it.inner[1], it.len))
      return -1;
  while (lt_iter_next(&it));
  return 0;
}

lt_tensor *lt_to_dtype(lt_tensor *t, lt_dtype dt) {
  lt_tensor *out;
  if (lt_dtypeof(t) == dt) return lt_tensor_retain(t);
  if ((out = lt_empty_dtype(t->shape, t->ndim, dt)) == NULL) return NULL;
  if (lt_convert_into(out, t)) { lt_tensor_release(out); return NULL; }
  return out;
}

lt_tensor *lt_broadcast_to(lt_tensor *t, const int64_t *shape, int nd, lt_dtype dt) {
  lt_tensor *e = lt_make_view(t, t->shape, t->stride, t->ndim, t->offset), *v, *out;
  if (e == NULL) return NULL;
  v = lt_expand(e, shape, nd);   /* e is off the graph: expand records nothing */
  lt_tensor_release(e);
  if (v == NULL) return NULL;
  if ((out = lt_empty_dtype(shape, nd, dt)) != NULL && lt_convert_into(out, v)) {
    lt_tensor_release(out);
    out = NULL;
  }
  lt_tensor_release(v);
  return out;
}

/* ---------------------------------------------------------------- ids */

lt_tensor *lt_ids(const char *op, const char *what, lt_tensor *t, int64_t shift) {
  lt_tensor *out;
  int64_t i, n, *p;
  if (lt_dtypeof(t) == LT_FLOAT32) {   /* whole floats are ids too: check first */
    lt_tensor *c = lt_contiguous(t);
    const float *f;
    if (c == NULL) return NULL;
    f = lt_data(c);
    n = lt_numel(c);
    for (i = 0; i < n; i++)
      if (f[i] != floorf(f[i]) || !(fabsf(f[i]) < 9e15f)) {
        if (f[i] == floorf(f[i]))   /* whole, but no id fits it */
          lt_err("%s: %s value %g is out of range", op, what, (double)f[i]);
        else
          lt_err("%s: %s must be integers, got %g", op, what, (double)f[i]);
        lt_tensor_release(c);
        return NULL;
      }
    lt_tensor_release(c);
  } else if (lt_dtypeof(t) == LT_BOOL) {
    lt_err("%s: %s must be integers, got a bool tensor", op, what);
    return NULL;
  }
  if (shift == 0 && lt_dtypeof(t) == LT_INT64 && lt_is_contiguous(t))
    return lt_tensor_retain(t);
  if ((out = lt_empty_dtype(t->shape, t->ndim, LT_INT64)) == NULL) return NULL;
  if (lt_convert_into(out, t)) { lt_tensor_release(out); return NULL; }
  n = lt_numel(out);
  p = lt_ptr(out);
  for (i = 0; i < n; i++) p[i] = (int64_t)((uint64_t)p[i] + (uint64_t)shift);
  return out;
}
