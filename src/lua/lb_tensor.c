/*
** lb_tensor.c -- creating tensors (lunet.zeros, lunet.tensor{...}, ...),
** and the metamethods of the box itself: __gc, __index (methods, then
** the properties grad / grad_fn / is_leaf, then elements), __newindex
** and __tostring.
*/
#include <string.h>

#include "lbind.h"
#include "autograd.h"
#include "ops.h"

/* ---------------------------------------------------------------- creation */

static const char *const lb_creation_options[] = {"requires_grad", NULL};

/* the options table of a creation function, {requires_grad = true}: read
** (and checked) before the result exists, applied after */
static int lb_creation_opts(lua_State *L, int idx, const char *op) {
  int rg;
  lb_checkoptions(L, idx, op, lb_creation_options);
  if (!lua_istable(L, idx)) return 0;
  lua_getfield(L, idx, "requires_grad");
  rg = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return rg;
}

/* store t in box with requires_grad set; 1 (the box) */
static int lb_fill_created(lua_State *L, lt_tensor **box, lt_tensor *t, int rg) {
  lb_fill(L, box, t);
  t->requires_grad = rg;
  return 1;
}

typedef lt_tensor *(*lb_maker)(const int64_t *shape, int ndim);

/* zeros({2,3} [, opts]) or zeros(2, 3 [, opts]) */
static int lb_make(lua_State *L, lb_maker make, const char *op) {
  int64_t shape[LT_MAXDIM];
  int i, n = lb_checkshape(L, 1, shape, op), rg;
  lt_tensor **r;
  for (i = 0; i < n; i++)
    if (shape[i] < 0) luaL_error(L, "%s: shape entry %d is negative (-1)", op, i + 1);
  rg = lb_creation_opts(L, lua_type(L, 1) == LUA_TTABLE ? 2 : n + 1, op);
  r = lb_newbox(L);
  return lb_fill_created(L, r, make(shape, n), rg);
}

static lt_tensor *lb_ones_maker(const int64_t *s, int n) { return lt_full(s, n, 1.0f); }

static int lb_zeros(lua_State *L) { return lb_make(L, lt_zeros, "zeros"); }
static int lb_ones(lua_State *L) { return lb_make(L, lb_ones_maker, "ones"); }
static int lb_empty(lua_State *L) { return lb_make(L, lt_zeros, "empty"); }
static int lb_rand(lua_State *L) { return lb_make(L, lt_rand, "rand"); }
static int lb_randn(lua_State *L) { return lb_make(L, lt_randn, "randn"); }

static int lb_full(lua_State *L) {
  int64_t shape[LT_MAXDIM];
  int n, rg;
  float v;
  lt_tensor **r;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = lb_checkshape(L, 1, shape, "full");
  v = (float)luaL_checknumber(L, 2);
  rg = lb_creation_opts(L, 3, "full");
  r = lb_newbox(L);
  return lb_fill_created(L, r, lt_full(shape, n, v), rg);
}

/* lunet.uniform(shape, lo, hi): the initialisers' workhorse */
static int lb_uniform(lua_State *L) {
  int64_t shape[LT_MAXDIM];
  int n;
  float lo, hi;
  lt_tensor **r;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = lb_checkshape(L, 1, shape, "uniform");
  lo = (float)luaL_optnumber(L, 2, 0);
  hi = (float)luaL_optnumber(L, 3, 1);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_uniform(shape, n, lo, hi));
}

static int lb_like(lua_State *L, lb_maker make, const char *op) {
  lt_tensor *t = lb_checktensor(L, 1, op);
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, make(t->shape, t->ndim));
}

static int lb_zeros_like(lua_State *L) { return lb_like(L, lt_zeros, "zeros_like"); }
static int lb_ones_like(lua_State *L) { return lb_like(L, lb_ones_maker, "ones_like"); }
static int lb_empty_like(lua_State *L) { return lb_like(L, lt_zeros, "empty_like"); }
static int lb_rand_like(lua_State *L) { return lb_like(L, lt_rand, "rand_like"); }
static int lb_randn_like(lua_State *L) { return lb_like(L, lt_randn, "randn_like"); }

static int lb_full_like(lua_State *L) {
  lt_tensor *t = lb_checktensor(L, 1, "full_like");
  float v = (float)luaL_checknumber(L, 2);
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_full(t->shape, t->ndim, v));
}

static int lb_arange(lua_State *L) {
  double a = luaL_checknumber(L, 1), b, step = luaL_optnumber(L, 3, 1);
  lt_tensor **r;
  if (lua_isnoneornil(L, 2)) { b = a; a = 0; }   /* arange(n): 0 .. n-1 */
  else b = luaL_checknumber(L, 2);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_arange(a, b, step));
}

static int lb_eye(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1), m = luaL_optinteger(L, 2, n);
  lt_tensor **r;
  if (n < 0 || m < 0)
    luaL_error(L, "eye: sizes must be non-negative, got %I and %I", (LUAI_UACINT)n,
               (LUAI_UACINT)m);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_eye(n, m));
}

static int lb_manual_seed(lua_State *L) {
  lt_rng_seed((uint64_t)luaL_checkinteger(L, 1));
  return 0;
}

/*
** lunet.tensor{{1,2},{3,4}}: the shape is read off the first entry at
** each depth; every other entry must agree, and every leaf be a number.
*/
static void lb_table_shape(lua_State *L, int idx, int64_t *shape, int *nd) {
  int depth = 0;
  lua_pushvalue(L, idx);
  while (lua_type(L, -1) == LUA_TTABLE) {
    if (depth == LT_MAXDIM) luaL_error(L, "tensor: nested deeper than %d", LT_MAXDIM);
    shape[depth++] = (int64_t)luaL_len(L, -1);
    if (shape[depth - 1] == 0) break;
    lua_geti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  *nd = depth;
}

/* path names the entry being read, e.g. "[2][3]", for error messages */
static void lb_table_fill(lua_State *L, int idx, const int64_t *shape, int nd,
                          int depth, float **out, char *path, size_t used) {
  int64_t i, n;
  if (depth == nd) {
    if (lua_type(L, idx) != LUA_TNUMBER)
      luaL_error(L, "tensor: entry %s is %s, expected a number", path, luaL_typename(L, idx));
    *(*out)++ = (float)lua_tonumber(L, idx);
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    luaL_error(L, "tensor: entry %s is %s, expected a table of %d entries", path,
               luaL_typename(L, idx), (int)shape[depth]);
  n = (int64_t)luaL_len(L, idx);
  if (n != shape[depth])
    luaL_error(L, "tensor: ragged nesting: entry %s has %d entries, expected %d",
               used ? path : "{}", (int)n, (int)shape[depth]);
  for (i = 1; i <= n; i++) {
    int w = snprintf(path + used, 128 - used, "[%lld]", (long long)i);
    size_t next = used + (w > 0 ? (size_t)w : 0);
    luaL_checkstack(L, 2, "tensor: nested too deep");
    lua_geti(L, idx, i);
    lb_table_fill(L, lua_gettop(L), shape, nd, depth + 1, out, path,
                  next < 127 ? next : 127);
    lua_pop(L, 1);
    path[used] = '\0';
  }
}

int lb_fromtable(lua_State *L) {
  int64_t shape[LT_MAXDIM];
  char path[128] = "";
  lt_tensor **r;
  float *p;
  int nd, rg;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    float v = (float)lua_tonumber(L, 1);
    r = lb_newbox(L);
    return lb_fill(L, r, lt_scalar(v));
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  rg = lb_creation_opts(L, 2, "tensor");
  lb_table_shape(L, 1, shape, &nd);
  r = lb_newbox(L);
  lb_fill_created(L, r, lt_empty(shape, nd), rg);
  p = lt_data(*r);
  lb_table_fill(L, 1, shape, nd, 0, &p, path, 0);
  return 1;
}

static int lb_is_tensor(lua_State *L) {
  lua_pushboolean(L, lb_testtensor(L, 1) != NULL);
  return 1;
}

static int lb_memory(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lt_mem_live());
  return 1;
}

const luaL_Reg lb_tensor_funcs[] = {
  {"zeros", lb_zeros}, {"ones", lb_ones}, {"empty", lb_empty},
  {"full", lb_full}, {"rand", lb_rand}, {"randn", lb_randn},
  {"uniform", lb_uniform}, {"arange", lb_arange}, {"eye", lb_eye},
  {"tensor", lb_fromtable}, {"zeros_like", lb_zeros_like},
  {"ones_like", lb_ones_like}, {"empty_like", lb_empty_like},
  {"full_like", lb_full_like}, {"rand_like", lb_rand_like},
  {"randn_like", lb_randn_like}, {"manual_seed", lb_manual_seed},
  {"is_tensor", lb_is_tensor}, {"memory_allocated", lb_memory},
  {NULL, NULL}
};

/* ---------------------------------------------------------------- metamethods */

int lb_gc(lua_State *L) {
  lt_tensor **box = luaL_checkudata(L, 1, LB_TENSOR);
  lt_tensor_release(*box);
  *box = NULL;
  return 0;
}

/* the method table is __index's upvalue (lb_core.c) */
int lb_index(lua_State *L) {
  lt_tensor *t = lb_checktensor(L, 1, "index");
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    if (strcmp(k, "grad") == 0) {
      lt_tensor **r;
      if (t->grad == NULL) { lua_pushnil(L); return 1; }
      r = lb_newbox(L);
      return lb_fill(L, r, lt_tensor_retain(t->grad));
    }
    if (strcmp(k, "grad_fn") == 0) {
      if (t->grad_fn) lua_pushstring(L, t->grad_fn->name); else lua_pushnil(L);
      return 1;
    }
    if (strcmp(k, "is_leaf") == 0) { lua_pushboolean(L, t->grad_fn == NULL); return 1; }
    return 0;   /* nil, like any table */
  }
  return lb_index_key(L);
}

/* x.grad = g: a private contiguous copy, outside the graph: backward
** accumulates into it in place, and x.grad = x * 2 must not make
** x -> grad -> x */
static int lb_setgrad(lua_State *L, lt_tensor *t) {
  lt_tensor *g = lua_isnil(L, 3) ? NULL : lb_checktensor(L, 3, "grad");
  char b1[160], b2[160];
  if (g && !lt_same_shape(g, t))
    luaL_error(L, "grad: assigned gradient has shape %s, tensor has %s",
               lt_shape_str(g, b1, sizeof b1), lt_shape_str(t, b2, sizeof b2));
  if (g) {
    int prev = lt_set_grad_enabled(0);
    g = lt_clone(g);   /* (nothing below can raise before it is stored) */
    lt_set_grad_enabled(prev);
    if (g == NULL) return lb_error(L);
  }
  lt_tensor_release(t->grad);
  t->grad = g;
  return 0;
}

int lb_newindex(lua_State *L) {
  lt_tensor *t = lb_checktensor(L, 1, "newindex");
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "grad") == 0) return lb_setgrad(L, t);
    if (strcmp(k, "requires_grad") == 0) {
      if (t->grad_fn && !lua_toboolean(L, 3))
        luaL_error(L, "requires_grad: cannot turn off grad of a non-leaf (use detach)");
      t->requires_grad = lua_toboolean(L, 3);
      return 0;
    }
    return luaL_error(L, "tensor: cannot set field '%s'", k);
  }
  return lb_newindex_key(L);
}

/* tostring(x): PyTorch's layout, which lunet/tensor_print.lua writes */
int lb_tostring(lua_State *L) {
  lb_checktensor(L, 1, "tostring");
  lua_settop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "lunet.tensor_print");
  lua_call(L, 1, 1);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}
