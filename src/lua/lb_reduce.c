/*
** lb_reduce.c -- binding of the reductions and the softmax family.
**
** Each function serves both as lunet.foo(x, ...) and as x:foo(...): the
** tensor is argument 1 either way.  Dims are 1-based here, negative from
** the end; a missing dim means every element (except softmax and
** log_softmax, which need one).  Indices come back 1-based.
**
**   x:sum([dim [, keepdim]])        x:mean([dim [, keepdim]])
**   x:max() -> value (0-d)          x:max(dim [, keepdim]) -> values, indices
**   x:min() likewise                x:argmax([dim [, keepdim]]), x:argmin
**   x:any([dim [, keepdim]])        x:all(...)   (bool results)
**   x:var([dim] [, opts])           x:std([dim] [, opts])
**        opts = {correction = 1, keepdim = false}: an options table only,
**        so x:var(2, true) cannot be misread as PyTorch's old `unbiased`
**   x:norm([p [, dim [, keepdim]]]) p = 2 by default; 1, math.huge, any p > 0
**   x:softmax(dim)                  x:log_softmax(dim)
**   x:logsumexp([dim [, keepdim]])
**
** dtypes: sum of integers or bools is int64, max/min keep the dtype,
** indices are int64 (all as PyTorch); the others compute in float32
** (mean of a bool mask is the fraction that is true, where PyTorch
** refuses).
*/
#include "lbind.h"
#include "ops.h"

/* argument i as a core dim: LT_ALLDIMS when absent */
static int lb_optdim(lua_State *L, int i, lt_tensor *x, const char *op) {
  if (lua_isnoneornil(L, i)) return LT_ALLDIMS;
  return lb_checkdim(L, i, x->ndim, op);
}

static const char *const lb_keepdim_options[] = {"keepdim", NULL};

/* keepdim: nil (false), a boolean, or {keepdim=bool}; anything else is a
** mistake (x:sum(2, 3) reads like a second dim, and must not mean true) */
static int lb_keepdim(lua_State *L, int i, const char *op) {
  int k;
  switch (lua_type(L, i)) {
  case LUA_TNONE: case LUA_TNIL: return 0;
  case LUA_TBOOLEAN: return lua_toboolean(L, i);
  case LUA_TTABLE:
    lb_checkoptions(L, i, op, lb_keepdim_options);
    lua_getfield(L, i, "keepdim");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
      luaL_error(L, "%s: keepdim must be a boolean, got %s", op, luaL_typename(L, -1));
    k = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return k;
  default:
    return luaL_error(L, "%s: keepdim must be a boolean, got %s (one dim at a time)", op,
                      luaL_typename(L, i));
  }
}

/* 0-based int64 indices t as a new 1-based copy (t stays as it was: a
** backward may have saved it) */
static lt_tensor *lb_plus_one(lt_tensor *t) {
  return lt_ids("index", "indices", t, 1);
}

typedef lt_tensor *(*lb_reduce_fn)(lt_tensor *, int, int);

/* x:sum([dim [, keepdim]]) and the others of that shape; fi (if given)
** takes integer and bool inputs, f float32 ones */
static int lb_reduce_as(lua_State *L, const char *op, lb_reduce_fn f, lb_reduce_fn fi) {
  lt_tensor *x = lb_toany(L, 1, op), **r;
  int dim = lb_optdim(L, 2, x, op), keepdim = lb_keepdim(L, 3, op);
  if (!fi || lt_is_float(lt_dtypeof(x))) { x = lb_checktensor(L, 1, op); fi = f; }
  r = lb_newbox(L);
  return lb_fill(L, r, fi(x, dim, keepdim));
}

static int lb_reduce(lua_State *L, const char *op, lb_reduce_fn f) {
  return lb_reduce_as(L, op, f, NULL);
}

static int lb_sum(lua_State *L) { return lb_reduce_as(L, "sum", lt_sum, lt_int_sum); }
static int lb_any(lua_State *L) { return lb_reduce_as(L, "any", lt_any, lt_any); }
static int lb_all(lua_State *L) { return lb_reduce_as(L, "all", lt_all, lt_all); }
static int lb_mean(lua_State *L) { return lb_reduce(L, "mean", lt_mean); }
static int lb_logsumexp(lua_State *L) { return lb_reduce(L, "logsumexp", lt_logsumexp); }

typedef lt_tensor *(*lb_extreme_fn)(lt_tensor *, int, int, lt_tensor **);

/* max/min of integers: values in their dtype, indices int64 */
static int lb_int_extreme(lua_State *L, lt_tensor *x, int dim, int keepdim, int ismin) {
  lt_tensor **vbox = lb_newbox(L), **ibox = lb_newbox(L), *v = NULL, *idx = NULL, *one;
  if (lt_int_extreme(x, dim, keepdim, ismin, &v, &idx)) return lb_error(L);
  lb_fill(L, vbox, v);
  if (dim == LT_ALLDIMS) { lt_tensor_release(idx); lua_pop(L, 1); return 1; }
  one = lb_plus_one(idx);
  lt_tensor_release(idx);
  lb_fill(L, ibox, one);
  return 2;
}

/* max/min: a 0-d value over everything, values and indices along a dim */
static int lb_extreme(lua_State *L, const char *op, lb_extreme_fn f) {
  lt_tensor *x = lb_toany(L, 1, op), *v, *idx = NULL, **vbox, **ibox;
  int dim = lb_optdim(L, 2, x, op), keepdim = lb_keepdim(L, 3, op);
  if (!lt_is_float(lt_dtypeof(x))) return lb_int_extreme(L, x, dim, keepdim, f == lt_min);
  vbox = lb_newbox(L);
  if (dim == LT_ALLDIMS) return lb_fill(L, vbox, f(x, dim, keepdim, NULL));
  ibox = lb_newbox(L);
  v = f(x, dim, keepdim, &idx);
  lb_fill(L, vbox, v);                       /* raises if v is NULL */
  v = lb_plus_one(idx);
  lt_tensor_release(idx);
  lb_fill(L, ibox, v);
  return 2;
}

static int lb_max(lua_State *L) { return lb_extreme(L, "max", lt_max); }
static int lb_min(lua_State *L) { return lb_extreme(L, "min", lt_min); }

/* argmax/argmin: 1-based int64 indices (flat over everything without a dim) */
static int lb_argext(lua_State *L, const char *op, int ismin) {
  lt_tensor *x = lb_toany(L, 1, op), *one, **r;
  int dim = lb_optdim(L, 2, x, op), keepdim = lb_keepdim(L, 3, op);
  r = lb_newbox(L);
  if (lt_is_float(lt_dtypeof(x)))
    lb_fill(L, r, ismin ? lt_argmin(x, dim, keepdim) : lt_argmax(x, dim, keepdim));
  else if (lt_int_extreme(x, dim, keepdim, ismin, NULL, r)) return lb_error(L);
  if ((one = lb_plus_one(*r)) == NULL) return lb_error(L);
  lt_tensor_release(*r);                     /* the box owned it till now */
  *r = one;
  return 1;
}

static int lb_argmax(lua_State *L) { return lb_argext(L, "argmax", 0); }
static int lb_argmin(lua_State *L) { return lb_argext(L, "argmin", 1); }

static const char *const lb_varstd_options[] = {"correction", "keepdim", NULL};

/* var/std: (x), (x, dim), (x, opts), (x, dim, opts) */
static int lb_varstd(lua_State *L, const char *op,
                     lt_tensor *(*f)(lt_tensor *, int, int, int)) {
  lt_tensor *x = lb_totensor(L, 1, op), **r;
  int dim = LT_ALLDIMS, o = 3, correction = 1, keepdim = 0;
  if (lua_istable(L, 2)) o = 2;
  else dim = lb_optdim(L, 2, x, op);
  if (!lua_isnoneornil(L, o) && !lua_istable(L, o))
    return luaL_error(L, "%s: options must be a table {correction=, keepdim=}, got %s",
                      op, luaL_typename(L, o));
  lb_checkoptions(L, o, op, lb_varstd_options);
  if (lua_istable(L, o)) {
    lua_getfield(L, o, "correction");
    if (!lua_isnil(L, -1)) {
      lua_Integer c;
      if (!lua_isinteger(L, -1))
        return luaL_error(L, "%s: correction must be an integer, got %s", op,
                          luaL_tolstring(L, -1, NULL));
      c = lua_tointeger(L, -1);
      if (c < -1000000 || c > 1000000)
        return luaL_error(L, "%s: correction %I out of range", op, (LUAI_UACINT)c);
      correction = (int)c;
    }
    lua_getfield(L, o, "keepdim");
    keepdim = lua_toboolean(L, -1);
    lua_pop(L, 2);
  }
  r = lb_newbox(L);
  return lb_fill(L, r, f(x, dim, correction, keepdim));
}

static int lb_var(lua_State *L) { return lb_varstd(L, "var", lt_var); }
static int lb_std(lua_State *L) { return lb_varstd(L, "std", lt_std); }

static int lb_norm(lua_State *L) {
  lt_tensor *x = lb_totensor(L, 1, "norm"), **r;
  double p = luaL_optnumber(L, 2, 2.0);
  int dim = lb_optdim(L, 3, x, "norm"), keepdim = lb_keepdim(L, 4, "norm");
  r = lb_newbox(L);
  return lb_fill(L, r, lt_norm(x, p, dim, keepdim));
}

static int lb_softmax_family(lua_State *L, const char *op,
                             lt_tensor *(*f)(lt_tensor *, int)) {
  lt_tensor *x = lb_totensor(L, 1, op), **r;
  int dim;
  if (lua_isnoneornil(L, 2)) return luaL_error(L, "%s: dim required", op);
  dim = lb_checkdim(L, 2, x->ndim, op);
  r = lb_newbox(L);
  return lb_fill(L, r, f(x, dim));
}

static int lb_softmax(lua_State *L) {
  return lb_softmax_family(L, "softmax", lt_softmax);
}

static int lb_log_softmax(lua_State *L) {
  return lb_softmax_family(L, "log_softmax", lt_log_softmax);
}

const luaL_Reg lb_reduce_funcs[] = {
  {"sum", lb_sum}, {"mean", lb_mean},
  {"max", lb_max}, {"min", lb_min}, {"argmax", lb_argmax}, {"argmin", lb_argmin},
  {"any", lb_any}, {"all", lb_all},
  {"var", lb_var}, {"std", lb_std}, {"norm", lb_norm},
  {"softmax", lb_softmax}, {"log_softmax", lb_log_softmax},
  {"logsumexp", lb_logsumexp},
  {NULL, NULL}
};
