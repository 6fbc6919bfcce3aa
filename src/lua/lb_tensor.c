/*
** lua_tensor.c -- the tensor userdata, creation functions, and
** luaopen_lunet_core, which assembles the subsystems' bindings.
*/
#include <math.h>
#include <string.h>

#include "lbind.h"
#include "autograd.h"
#include "ops.h"

/* ---------------------------------------------------------------- the box */

lt_tensor *lt_lua_test(lua_State *L, int idx) {
  lt_tensor **box = luaL_testudata(L, idx, LT_TENSOR_MT);
  return box ? *box : NULL;
}

lt_tensor *lt_lua_check(lua_State *L, int idx, const char *op) {
  lt_tensor *t = lt_lua_test(L, idx);
  if (t == NULL) {
    luaL_error(L, "%s: argument %d must be a tensor, got %s", op, idx,
               luaL_typename(L, idx));
  }
  return t;
}

int lt_lua_error(lua_State *L) {
  return luaL_error(L, "%s", lt_errmsg());
}

/*
** Lua's collector counts only what Lua allocated; a tensor box looks like
** 8 bytes to it.  So when the C-side bytes have grown past a threshold
** since the last collection, collect now and set the next threshold at
** twice what survived: memory stays within about 2x the live set.
*/
static size_t lt_gc_threshold = 64u << 20;

static void lt_lua_gcpressure(lua_State *L) {
  size_t live = lt_mem_live();
  if (live < lt_gc_threshold) return;
  lua_gc(L, LUA_GCCOLLECT);
  live = lt_mem_live();
  lt_gc_threshold = live * 2 > (64u << 20) ? live * 2 : (64u << 20);
}

static int lt_lua_gc(lua_State *L) {
  lt_tensor **box = luaL_checkudata(L, 1, LT_TENSOR_MT);
  lt_tensor_release(*box);
  *box = NULL;
  return 0;
}

lt_tensor **lt_lua_newbox(lua_State *L) {
  lt_tensor **box;
  lt_lua_gcpressure(L);
  box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, LT_TENSOR_MT);
  return box;
}

void lt_lua_fill(lua_State *L, lt_tensor **box, lt_tensor *t) {
  if (t == NULL) lt_lua_error(L);
  *box = t;
}

int lt_lua_push(lua_State *L, lt_tensor *t) {
  if (t == NULL) return lt_lua_error(L);
  /* (a Lua memory error in newuserdata would leak t; code that can fail
  ** after the core call uses lt_lua_newbox first instead) */
  *lt_lua_newbox(L) = t;
  return 1;
}

/* ---------------------------------------------------------------- coercion */

static int lt_lua_fromtable(lua_State *L);

lt_tensor *lt_lua_totensor(lua_State *L, int idx, const char *op) {
  lt_tensor *t = lt_lua_test(L, idx);
  if (t) return t;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lt_lua_push(L, lt_scalar((float)lua_tonumber(L, idx)));
  } else if (lua_type(L, idx) == LUA_TTABLE) {
    lua_pushcfunction(L, lt_lua_fromtable);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
  } else {
    luaL_error(L, "%s: argument %d must be a tensor or number, got %s", op, idx,
               luaL_typename(L, idx));
  }
  lua_replace(L, idx);
  return lt_lua_test(L, idx);
}

/* ---------------------------------------------------------------- dims and shapes */

int lt_lua_toint(lua_State *L, int idx, lua_Integer *v) {
  int ok;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  *v = lua_tointegerx(L, idx, &ok);
  return ok;
}

int lt_lua_checkdim(lua_State *L, int idx, int ndim, const char *op) {
  lua_Integer d;
  int n = ndim > 0 ? ndim : 1;
  if (!lt_lua_toint(L, idx, &d)) {
    if (lua_type(L, idx) == LUA_TNUMBER)
      luaL_error(L, "%s: dim must be an integer, got %s", op, lua_tostring(L, idx));
    luaL_error(L, "%s: dim must be an integer, got %s", op, luaL_typename(L, idx));
  }
  if (d == 0 || d > n || d < -n)
    luaL_error(L, "%s: dim %I out of range for a %d-d tensor", op, (LUAI_UACINT)d, ndim);
  return d > 0 ? (int)d - 1 : (int)(d + n);
}

/* one shape entry: an integer (>= -1: -1 means "infer" to those who allow it) */
static int64_t lt_lua_shape_entry(lua_State *L, int idx, int i, const char *op) {
  lua_Integer v;
  if (!lt_lua_toint(L, idx, &v)) {
    if (lua_type(L, idx) == LUA_TNUMBER)
      luaL_error(L, "%s: shape entry %d must be an integer, got %s", op, i, lua_tostring(L, idx));
    luaL_error(L, "%s: shape entry %d must be an integer, got %s", op, i, luaL_typename(L, idx));
  }
  if (v < -1) luaL_error(L, "%s: shape entry %d is negative (%d)", op, i, (int)v);
  return (int64_t)v;
}

int lt_lua_checkshape(lua_State *L, int idx, int64_t *shape, const char *op) {
  int n, i;
  if (lua_type(L, idx) == LUA_TTABLE) {
    n = (int)luaL_len(L, idx);
    if (n > LT_MAXDIM) luaL_error(L, "%s: %d dimensions (at most %d)", op, n, LT_MAXDIM);
    for (i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      shape[i - 1] = lt_lua_shape_entry(L, -1, i, op);
      lua_pop(L, 1);
    }
    return n;
  }
  n = lua_gettop(L) - idx + 1;
  while (n > 0 && lua_type(L, idx + n - 1) != LUA_TNUMBER) n--;   /* trailing opts */
  if (n > LT_MAXDIM) luaL_error(L, "%s: %d dimensions (at most %d)", op, n, LT_MAXDIM);
  if (n == 0 && !lua_isnoneornil(L, idx) && lua_type(L, idx) != LUA_TTABLE)
    luaL_error(L, "%s: shape must be a table of integers, got %s", op, luaL_typename(L, idx));
  for (i = 0; i < n; i++) shape[i] = lt_lua_shape_entry(L, idx + i, i + 1, op);
  return n;
}

void lt_lua_register(lua_State *L, const luaL_Reg *funcs, const luaL_Reg *methods) {
  if (funcs) {
    lua_pushvalue(L, -2);
    luaL_setfuncs(L, funcs, 0);
    lua_pop(L, 1);
  }
  if (methods) luaL_setfuncs(L, methods, 0);
}

/* ---------------------------------------------------------------- creation */

/* an options table {requires_grad=true} at idx, if there is one */
static void lt_lua_creation_opts(lua_State *L, int idx, lt_tensor *t) {
  if (lua_type(L, idx) != LUA_TTABLE) return;
  lua_getfield(L, idx, "requires_grad");
  t->requires_grad = lua_toboolean(L, -1);
  lua_pop(L, 1);
}

typedef lt_tensor *(*lt_maker)(const int64_t *shape, int ndim);

static int lt_lua_make(lua_State *L, lt_maker make, const char *op) {
  int64_t shape[LT_MAXDIM];
  int i, n = lt_lua_checkshape(L, 1, shape, op);
  for (i = 0; i < n; i++)
    if (shape[i] < 0) luaL_error(L, "%s: shape entry %d is negative (-1)", op, i + 1);
  lt_lua_push(L, make(shape, n));
  /* options follow the shape: zeros({2,3}, opts) or zeros(2, 3, opts) */
  lt_lua_creation_opts(L, lua_type(L, 1) == LUA_TTABLE ? 2 : n + 1, lt_lua_test(L, -1));
  return 1;
}

static lt_tensor *lt_ones(const int64_t *s, int n) { return lt_full(s, n, 1.0f); }

static int lt_lua_zeros(lua_State *L) { return lt_lua_make(L, lt_zeros, "zeros"); }
static int lt_lua_ones(lua_State *L) { return lt_lua_make(L, lt_ones, "ones"); }
static int lt_lua_empty(lua_State *L) { return lt_lua_make(L, lt_zeros, "empty"); }
static int lt_lua_rand(lua_State *L) { return lt_lua_make(L, lt_rand, "rand"); }
static int lt_lua_randn(lua_State *L) { return lt_lua_make(L, lt_randn, "randn"); }

static int lt_lua_full(lua_State *L) {
  int64_t shape[LT_MAXDIM];
  int n;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = lt_lua_checkshape(L, 1, shape, "full");
  lt_lua_push(L, lt_full(shape, n, (float)luaL_checknumber(L, 2)));
  lt_lua_creation_opts(L, 3, lt_lua_test(L, -1));
  return 1;
}

/* lunet.uniform(shape, lo, hi): the initialisers' workhorse */
static int lt_lua_uniform(lua_State *L) {
  int64_t shape[LT_MAXDIM];
  int n;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = lt_lua_checkshape(L, 1, shape, "uniform");
  return lt_lua_push(L, lt_uniform(shape, n, (float)luaL_optnumber(L, 2, 0),
                                   (float)luaL_optnumber(L, 3, 1)));
}

static int lt_lua_like(lua_State *L, lt_maker make, const char *op) {
  lt_tensor *t = lt_lua_check(L, 1, op);
  return lt_lua_push(L, make(t->shape, t->ndim));
}

static int lt_lua_zeros_like(lua_State *L) { return lt_lua_like(L, lt_zeros, "zeros_like"); }
static int lt_lua_ones_like(lua_State *L) { return lt_lua_like(L, lt_ones, "ones_like"); }
static int lt_lua_empty_like(lua_State *L) { return lt_lua_like(L, lt_zeros, "empty_like"); }
static int lt_lua_rand_like(lua_State *L) { return lt_lua_like(L, lt_rand, "rand_like"); }
static int lt_lua_randn_like(lua_State *L) { return lt_lua_like(L, lt_randn, "randn_like"); }

static int lt_lua_full_like(lua_State *L) {
  lt_tensor *t = lt_lua_check(L, 1, "full_like");
  return lt_lua_push(L, lt_full(t->shape, t->ndim, (float)luaL_checknumber(L, 2)));
}

static int lt_lua_arange(lua_State *L) {
  double a = luaL_checknumber(L, 1), b, step = luaL_optnumber(L, 3, 1);
  if (lua_isnoneornil(L, 2)) { b = a; a = 0; }   /* arange(n): 0 .. n-1 */
  else b = luaL_checknumber(L, 2);
  return lt_lua_push(L, lt_arange(a, b, step));
}

static int lt_lua_eye(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1), m = luaL_optinteger(L, 2, n);
  if (n < 0 || m < 0) luaL_error(L, "eye: sizes must be non-negative, got %d and %d", (int)n, (int)m);
  return lt_lua_push(L, lt_eye(n, m));
}

static int lt_lua_manual_seed(lua_State *L) {
  lt_rng_seed((uint64_t)luaL_checkinteger(L, 1));
  return 0;
}

/*
** lunet.tensor{{1,2},{3,4}}: the shape is read off the first entry at
** each depth; every other entry must agree, and every leaf be a number.
*/
static void lt_lua_table_shape(lua_State *L, int idx, int64_t *shape, int *nd) {
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
static void lt_lua_table_fill(lua_State *L, int idx, const int64_t *shape, int nd,
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
    lt_lua_table_fill(L, lua_gettop(L), shape, nd, depth + 1, out, path,
                      next < 127 ? next : 127);
    lua_pop(L, 1);
    path[used] = '\0';
  }
}

static int lt_lua_fromtable(lua_State *L) {
  int64_t shape[LT_MAXDIM];
  char path[128] = "";
  lt_tensor **box;
  float *p;
  int nd;
  if (lua_type(L, 1) == LUA_TNUMBER) return lt_lua_push(L, lt_scalar((float)lua_tonumber(L, 1)));
  luaL_checktype(L, 1, LUA_TTABLE);
  lt_lua_table_shape(L, 1, shape, &nd);
  box = lt_lua_newbox(L);
  lt_lua_fill(L, box, lt_empty(shape, nd));
  p = lt_data(*box);
  lt_lua_table_fill(L, 1, shape, nd, 0, &p, path, 0);
  lt_lua_creation_opts(L, 2, *box);
  return 1;
}

static int lt_lua_is_tensor(lua_State *L) {
  lua_pushboolean(L, lt_lua_test(L, 1) != NULL);
  return 1;
}

static int lt_lua_memory(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lt_mem_live());
  return 1;
}

static const luaL_Reg lt_tensor_funcs[] = {
  {"zeros", lt_lua_zeros}, {"ones", lt_lua_ones}, {"empty", lt_lua_empty},
  {"full", lt_lua_full}, {"rand", lt_lua_rand}, {"randn", lt_lua_randn},
  {"uniform", lt_lua_uniform}, {"arange", lt_lua_arange}, {"eye", lt_lua_eye},
  {"tensor", lt_lua_fromtable}, {"zeros_like", lt_lua_zeros_like},
  {"ones_like", lt_lua_ones_like}, {"empty_like", lt_lua_empty_like},
  {"full_like", lt_lua_full_like}, {"rand_like", lt_lua_rand_like},
  {"randn_like", lt_lua_randn_like}, {"manual_seed", lt_lua_manual_seed},
  {"is_tensor", lt_lua_is_tensor}, {"memory_allocated", lt_lua_memory},
  {NULL, NULL}
};

/* ---------------------------------------------------------------- metatable */

/*
** __index: methods by name, then the properties grad / grad_fn /
** is_leaf, then element access by number or index table (lua_view.c).
*/
int lt_lua_index_key(lua_State *L);      /* lua_view.c */
int lt_lua_newindex_key(lua_State *L);   /* lua_view.c */

static int lt_lua_index(lua_State *L) {
  lt_tensor *t = lt_lua_check(L, 1, "index");
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    if (strcmp(k, "grad") == 0) {
      if (t->grad == NULL) lua_pushnil(L);
      else lt_lua_push(L, lt_tensor_retain(t->grad));
      return 1;
    }
    if (strcmp(k, "grad_fn") == 0) {
      if (t->grad_fn) lua_pushstring(L, t->grad_fn->name); else lua_pushnil(L);
      return 1;
    }
    if (strcmp(k, "is_leaf") == 0) { lua_pushboolean(L, t->grad_fn == NULL); return 1; }
    return 0;   /* nil, like any table */
  }
  return lt_lua_index_key(L);
}

static int lt_lua_newindex(lua_State *L) {
  lt_tensor *t = lt_lua_check(L, 1, "newindex");
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "grad") == 0) {
      lt_tensor *g = lua_isnil(L, 3) ? NULL : lt_lua_check(L, 3, "grad");
      char b1[160], b2[160];
      if (g && !lt_same_shape(g, t))
        luaL_error(L, "grad: assigned gradient has shape %s, tensor has %s",
                   lt_shape_str(g, b1, sizeof b1), lt_shape_str(t, b2, sizeof b2));
      /* a private contiguous copy, outside the graph: backward accumulates
      ** into it in place, and x.grad = x * 2 must not make x -> grad -> x */
      if (g) {
        int prev = lt_set_grad_enabled(0);
        g = lt_clone(g);
        lt_set_grad_enabled(prev);
        if (g == NULL) return lt_lua_error(L);
      }
      lt_tensor_release(t->grad);
      t->grad = g;
      return 0;
    }
    if (strcmp(k, "requires_grad") == 0) {
      if (t->grad_fn && !lua_toboolean(L, 3))
        luaL_error(L, "requires_grad: cannot turn off grad of a non-leaf (use detach)");
      t->requires_grad = lua_toboolean(L, 3);
      return 0;
    }
    return luaL_error(L, "tensor: cannot set field '%s'", k);
  }
  return lt_lua_newindex_key(L);
}

static const luaL_Reg lt_tensor_meta[] = {
  {"__gc", lt_lua_gc},
  {"__close", lt_lua_gc},
  {"__newindex", lt_lua_newindex},
  {NULL, NULL}
};

void lt_lua_open_view(lua_State *L);   /* lua_view.c */

LUAMOD_API int luaopen_lunet_core(lua_State *L) {
  luaL_newlib(L, lt_tensor_funcs);               /* module */
  luaL_newmetatable(L, LT_TENSOR_MT);            /* metatable */
  luaL_setfuncs(L, lt_tensor_meta, 0);
  lua_pushstring(L, "lunet.Tensor");
  lua_setfield(L, -2, "__name");
  lua_newtable(L);                               /* methods */
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, lt_lua_index, 1);
  lua_setfield(L, -3, "__index");
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "Tensor");                 /* module.Tensor = methods */
  lua_pushvalue(L, -2);
  lua_setfield(L, -4, "_metatable");
  lua_remove(L, -2);                             /* module, methods */
  lt_lua_open_view(L);
  lt_lua_open_elem(L);
  lt_lua_open_reduce(L);
  lt_lua_open_matmul(L);
  lt_lua_open_autograd(L);
  lt_lua_open_io(L);
  lt_lua_open_nn(L);
  lt_lua_open_attention(L);
  lt_lua_open_optim(L);
  lt_lua_open_loss(L);
  lt_lua_open_profile(L);
  lua_pop(L, 1);
  return 1;
}
