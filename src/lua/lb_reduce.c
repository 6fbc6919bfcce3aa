/*
** lua_reduce.c -- binding of the reductions and the softmax family.
**
** Each function serves both as lunet.foo(x, ...) and as x:foo(...): the
** tensor is argument 1 either way.  Dims are 1-based here, negative from
** the end; a missing dim means every element (except softmax and
** log_softmax, which need one).  Indices come back 1-based.
**
**   x:sum([dim [, keepdim]])        x:mean([dim [, keepdim]])
**   x:max() -> value (0-d)          x:max(dim [, keepdim]) -> values, indices
**   x:min() likewise                x:argmax([dim [, keepdim]])
**   x:var([dim] [, opts])           x:std([dim] [, opts])
**        opts = {correction = 1, keepdim = false}: an options table only,
**        so x:var(2, true) cannot be misread as PyTorch's old `unbiased`
**   x:norm([p [, dim [, keepdim]]]) p = 2 by default; 1, math.huge, any p > 0
**   x:softmax(dim)                  x:log_softmax(dim)
**   x:logsumexp([dim [, keepdim]])
*/
#include "lbind.h"
#include "ops.h"

/* argument i as a core dim: LT_ALLDIMS when absent */
static int rd_optdim(lua_State *L, int i, lt_tensor *x, const char *op) {
  if (lua_isnoneornil(L, i)) return LT_ALLDIMS;
  return lt_lua_checkdim(L, i, x->ndim, op);
}

/* keepdim: nil (false), a boolean, or {keepdim=bool}; anything else is a
** mistake (x:sum(2, 3) reads like a second dim, and must not mean true) */
static int rd_keepdim(lua_State *L, int i, const char *op) {
  int k;
  switch (lua_type(L, i)) {
  case LUA_TNONE: case LUA_TNIL: return 0;
  case LUA_TBOOLEAN: return lua_toboolean(L, i);
  case LUA_TTABLE:
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

/* a copy of the 0-based float indices t, 1-based (t stays as it was: a
** backward may have saved it) */
static lt_tensor *rd_plus_one(lt_tensor *t) {
  lt_tensor *u = lt_empty(t->shape, t->ndim);
  int64_t i, n = lt_numel(t);
  if (u == NULL) return NULL;
  for (i = 0; i < n; i++) lt_data(u)[i] = lt_data(t)[i] + 1.0f;
  return u;
}

static int rd_lua_sum(lua_State *L) {
  lt_tensor *x = lt_lua_totensor(L, 1, "sum");
  int dim = rd_optdim(L, 2, x, "sum");
  return lt_lua_push(L, lt_sum(x, dim, rd_keepdim(L, 3, "sum")));
}

static int rd_lua_mean(lua_State *L) {
  lt_tensor *x = lt_lua_totensor(L, 1, "mean");
  int dim = rd_optdim(L, 2, x, "mean");
  return lt_lua_push(L, lt_mean(x, dim, rd_keepdim(L, 3, "mean")));
}

typedef lt_tensor *(*rd_extreme_fn)(lt_tensor *, int, int, lt_tensor **);

/* max/min: a 0-d value over everything, values and indices along a dim */
static int rd_lua_extreme(lua_State *L, const char *op, rd_extreme_fn f) {
  lt_tensor *x = lt_lua_totensor(L, 1, op), *v, *idx = NULL, **vbox, **ibox;
  int dim = rd_optdim(L, 2, x, op), keepdim = rd_keepdim(L, 3, op);
  if (dim == LT_ALLDIMS) return lt_lua_push(L, f(x, dim, keepdim, NULL));
  vbox = lt_lua_newbox(L);
  ibox = lt_lua_newbox(L);
  v = f(x, dim, keepdim, &idx);
  lt_lua_fill(L, vbox, v);                   /* raises if v is NULL */
  v = rd_plus_one(idx);
  lt_tensor_release(idx);
  lt_lua_fill(L, ibox, v);
  return 2;
}

static int rd_lua_max(lua_State *L) { return rd_lua_extreme(L, "max", lt_max); }
static int rd_lua_min(lua_State *L) { return rd_lua_extreme(L, "min", lt_min); }

static int rd_lua_argmax(lua_State *L) {
  lt_tensor *x = lt_lua_totensor(L, 1, "argmax"), *one, **box;
  int dim = rd_optdim(L, 2, x, "argmax"), keepdim = rd_keepdim(L, 3, "argmax");
  box = lt_lua_newbox(L);                    /* (pushed: read args first) */
  lt_lua_fill(L, box, lt_argmax(x, dim, keepdim));
  if ((one = rd_plus_one(*box)) == NULL) return lt_lua_error(L);
  lt_tensor_release(*box);                   /* the box owned it till now */
  *box = one;
  return 1;
}

/* var/std: (x), (x, dim), (x, opts), (x, dim, opts) */
static int rd_lua_varstd(lua_State *L, const char *op,
                         lt_tensor *(*f)(lt_tensor *, int, int, int)) {
  lt_tensor *x = lt_lua_totensor(L, 1, op);
  int dim = LT_ALLDIMS, o = 3, correction = 1, keepdim = 0;
  if (lua_istable(L, 2)) o = 2;
  else dim = rd_optdim(L, 2, x, op);
  if (lua_istable(L, o)) {
    lua_getfield(L, o, "correction");
    if (!lua_isnil(L, -1)) {
      lua_Integer c;
      if (!lua_isinteger(L, -1))
        return luaL_error(L, "%s: correction must be an integer, got %s", op,
                          luaL_tolstring(L, -1, NULL));
      c = lua_tointeger(L, -1);
      if (c < -1000000 || c > 1000000)
        return luaL_error(L, "%s: correction %I out of range", op, c);
      correction = (int)c;
    }
    lua_getfield(L, o, "keepdim");
    keepdim = lua_toboolean(L, -1);
    lua_pop(L, 2);
  } else if (!lua_isnoneornil(L, o)) {
    return luaL_error(L, "%s: options must be a table {correction=, keepdim=}, got %s",
                      op, luaL_typename(L, o));
  }
  return lt_lua_push(L, f(x, dim, correction, keepdim));
}

static int rd_lua_var(lua_State *L) { return rd_lua_varstd(L, "var", lt_var); }
static int rd_lua_std(lua_State *L) { return rd_lua_varstd(L, "std", lt_std); }

static int rd_lua_norm(lua_State *L) {
  lt_tensor *x = lt_lua_totensor(L, 1, "norm");
  double p = luaL_optnumber(L, 2, 2.0);
  int dim = rd_optdim(L, 3, x, "norm");
  return lt_lua_push(L, lt_norm(x, p, dim, rd_keepdim(L, 4, "norm")));
}

static int rd_lua_softmax_(lua_State *L, const char *op,
                           lt_tensor *(*f)(lt_tensor *, int)) {
  lt_tensor *x = lt_lua_totensor(L, 1, op);
  if (lua_isnoneornil(L, 2)) return luaL_error(L, "%s: dim required", op);
  return lt_lua_push(L, f(x, lt_lua_checkdim(L, 2, x->ndim, op)));
}

static int rd_lua_softmax(lua_State *L) {
  return rd_lua_softmax_(L, "softmax", lt_softmax);
}

static int rd_lua_log_softmax(lua_State *L) {
  return rd_lua_softmax_(L, "log_softmax", lt_log_softmax);
}

static int rd_lua_logsumexp(lua_State *L) {
  lt_tensor *x = lt_lua_totensor(L, 1, "logsumexp");
  int dim = rd_optdim(L, 2, x, "logsumexp");
  return lt_lua_push(L, lt_logsumexp(x, dim, rd_keepdim(L, 3, "logsumexp")));
}

static const luaL_Reg rd_funcs[] = {
  {"sum", rd_lua_sum}, {"mean", rd_lua_mean},
  {"max", rd_lua_max}, {"min", rd_lua_min}, {"argmax", rd_lua_argmax},
  {"var", rd_lua_var}, {"std", rd_lua_std}, {"norm", rd_lua_norm},
  {"softmax", rd_lua_softmax}, {"log_softmax", rd_lua_log_softmax},
  {"logsumexp", rd_lua_logsumexp},
  {NULL, NULL}
};

void lt_lua_open_reduce(lua_State *L) {
  lt_lua_register(L, rd_funcs, rd_funcs);
}
