/*
** lb_tensor.c -- creating tensors (lunet.zeros, lunet.tensor{...}, ...),
** and the metamethods of the box itself: __gc, __index (methods, then
** the properties grad / grad_fn / is_leaf, then elements), __newindex
** and __tostring.
*/
#include <string.h>

#include "lbind.h"
#include "autograd.h"
#include "dtype.h"
#include "ops.h"

/* ---------------------------------------------------------------- creation */

static const char *const lb_creation_options[] = {"requires_grad", "dtype", NULL};

/* what a creation function's options table asks for */
typedef struct lb_created {
  int rg;           /* requires_grad */
  lt_dtype dt;
  int given;        /* dtype given explicitly */
} lb_created;

/* the options table of a creation function, {requires_grad=, dtype=}:
** read (and checked) before the result exists, applied after */
static lb_created lb_creation_opts(lua_State *L, int idx, const char *op, lt_dtype dt) {
  lb_created c = {0, dt, 0};
  lb_checkoptions(L, idx, op, lb_creation_options);
  if (!lua_istable(L, idx)) return c;
  lua_getfield(L, idx, "requires_grad");
  c.rg = lua_toboolean(L, -1);
  if (lua_getfield(L, idx, "dtype") != LUA_TNIL) {
    c.dt = lb_checkdtype(L, -1, op);
    c.given = 1;
  }
  lua_pop(L, 2);
  if (c.rg && c.dt != LT_FLOAT32)
    luaL_error(L, "%s: only float32 tensors can require gradients, not %s", op,
               lt_dtype_name(c.dt));
  return c;
}

/* store t in box with requires_grad set; 1 (the box) */
static int lb_fill_created(lua_State *L, lt_tensor **box, lt_tensor *t, lb_created c) {
  lb_fill(L, box, t);
  t->requires_grad = c.rg;
  return 1;
}

/* random draws are float32: any other dtype asked for is an error */
static void lb_float_only(lua_State *L, lb_created c, const char *op) {
  if (c.dt != LT_FLOAT32)
    luaL_error(L, "%s: draws float32 values, not %s (convert the result)", op,
               lt_dtype_name(c.dt));
}

typedef lt_tensor *(*lb_maker)(const int64_t *shape, int ndim);

/* the shape at 1 ({2,3} or 2, 3) and the options after it */
static int lb_shape_and_opts(lua_State *L, int64_t *shape, lb_created *c, const char *op) {
  int n = lb_checksize(L, shape, lb_checkshape(L, 1, shape, op), op);
  *c = lb_creation_opts(L, lua_type(L, 1) == LUA_TTABLE ? 2 : n + 1, op, LT_FLOAT32);
  return n;
}

/* zeros({2,3} [, opts]) or zeros(2, 3 [, opts]), filled with v */
static int lb_make_full(lua_State *L, double v, const char *op) {
  int64_t shape[LT_MAXDIM];
  lb_created c;
  int n = lb_shape_and_opts(L, shape, &c, op);
  lt_tensor **r = lb_newbox(L);
  return lb_fill_created(L, r, lt_full_dtype(shape, n, v, c.dt), c);
}

static int lb_make_random(lua_State *L, lb_maker make, const char *op) {
  int64_t shape[LT_MAXDIM];
  lb_created c;
  int n = lb_shape_and_opts(L, shape, &c, op);
  lt_tensor **r;
  lb_float_only(L, c, op);
  r = lb_newbox(L);
  return lb_fill_created(L, r, make(shape, n), c);
}

static int lb_zeros(lua_State *L) { return lb_make_full(L, 0, "zeros"); }
static int lb_ones(lua_State *L) { return lb_make_full(L, 1, "ones"); }
static int lb_empty(lua_State *L) { return lb_make_full(L, 0, "empty"); }
static int lb_rand(lua_State *L) { return lb_make_random(L, lt_rand, "rand"); }
static int lb_randn(lua_State *L) { return lb_make_random(L, lt_randn, "randn"); }

static int lb_full(lua_State *L) {
  int64_t shape[LT_MAXDIM], v = 0;
  int n;
  lb_created c;
  lt_tensor **r;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = lb_checksize(L, shape, lb_checkshape(L, 1, shape, "full"), "full");
  c = lb_creation_opts(L, 3, "full", lua_isboolean(L, 2) ? LT_BOOL : LT_FLOAT32);
  lb_toelem(L, 2, c.dt, &v, "full", "fill value");
  r = lb_newbox(L);
  return lb_fill_created(L, r, lt_full_raw(shape, n, c.dt, &v), c);
}

/* lunet.uniform(shape, lo, hi): the initialisers' workhorse */
static int lb_uniform(lua_State *L) {
  int64_t shape[LT_MAXDIM];
  int n;
  float lo, hi;
  lt_tensor **r;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = lb_checksize(L, shape, lb_checkshape(L, 1, shape, "uniform"), "uniform");
  lo = (float)luaL_optnumber(L, 2, 0);
  hi = (float)luaL_optnumber(L, 3, 1);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_uniform(shape, n, lo, hi));
}

/* zeros_like(t [, opts]) and the others keep t's dtype unless opts say;
** full_like(t, v [, opts]) takes the value at 2; rand_like and randn_like
** draw float32 */
static int lb_like(lua_State *L, lb_maker make, double v, const char *op) {
  lt_tensor *t = lb_checkany(L, 1, op), **r;
  int full = lua_isnoneornil(L, 2) || lua_istable(L, 2) ? 0 : 1;
  lb_created c = lb_creation_opts(L, 2 + full, op, make ? LT_FLOAT32 : lt_dtypeof(t));
  int64_t buf = 0;
  if (make) lb_float_only(L, c, op);
  else if (full) lb_toelem(L, 2, c.dt, &buf, op, "fill value");
  else if (lt_is_float(c.dt)) { float f = (float)v; memcpy(&buf, &f, 4); }
  else lt_set_i64(c.dt, &buf, (int64_t)v);
  r = lb_newbox(L);
  return lb_fill_created(L, r, make ? make(t->shape, t->ndim)
                                    : lt_full_raw(t->shape, t->ndim, c.dt, &buf), c);
}

static int lb_zeros_like(lua_State *L) { return lb_like(L, NULL, 0, "zeros_like"); }
static int lb_ones_like(lua_State *L) { return lb_like(L, NULL, 1, "ones_like"); }
static int lb_empty_like(lua_State *L) { return lb_like(L, NULL, 0, "empty_like"); }
static int lb_rand_like(lua_State *L) { return lb_like(L, lt_rand, 0, "rand_like"); }
static int lb_randn_like(lua_State *L) { return lb_like(L, lt_randn, 0, "randn_like"); }

static int lb_full_like(lua_State *L) {
  if (lua_isnoneornil(L, 2) || lua_istable(L, 2))
    luaL_error(L, "full_like: fill value required");
  return lb_like(L, NULL, 0, "full_like");
}

/* the float32 tensor in box r (made by a float-only maker) as c.dt */
static int lb_recast(lua_State *L, lt_tensor **r, lb_created c) {
  lt_tensor *t;
  if (c.dt == LT_FLOAT32) return 1;
  if ((t = lt_to_dtype(*r, c.dt)) == NULL) return lb_error(L);
  lt_tensor_release(*r);   /* the box owned it till now */
  *r = t;
  return 1;
}

/* arange([start,] stop [, step] [, opts]) */
static int lb_arange(lua_State *L) {
  int top = lua_gettop(L), o = lua_istable(L, top) ? top : top + 1;
  double a = luaL_checknumber(L, 1), b, step = 1;
  lb_created c;
  lt_tensor **r;
  if (o > 3 && !lua_isnoneornil(L, 3)) step = luaL_checknumber(L, 3);
  if (o <= 2 || lua_isnoneornil(L, 2)) { b = a; a = 0; }   /* arange(n): 0 .. n-1 */
  else b = luaL_checknumber(L, 2);
  c = lb_creation_opts(L, o, "arange", LT_FLOAT32);
  r = lb_newbox(L);
  return lb_fill_created(L, r, lt_arange(a, b, step, c.dt), c);
}

static int lb_eye(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1), m = n;
  int o = 2;
  lb_created c;
  lt_tensor **r;
  if (lua_type(L, 2) == LUA_TNUMBER) { m = luaL_checkinteger(L, 2); o = 3; }
  if (n < 0 || m < 0)
    luaL_error(L, "eye: sizes must be non-negative, got %I and %I", (LUAI_UACINT)n,
               (LUAI_UACINT)m);
  c = lb_creation_opts(L, o, "eye", LT_FLOAT32);
  r = lb_newbox(L);
  lb_fill_created(L, r, lt_eye(n, m), c);
  return lb_recast(L, r, c);
}

static int lb_manual_seed(lua_State *L) {
  lt_rng_seed((uint64_t)luaL_checkinteger(L, 1));
  return 0;
}

/*
** lunet.tensor{{1,2},{3,4}}: the shape is read off the first entry at
** each depth; every other entry must agree, and every leaf be a number
** (or a boolean: booleans make a bool tensor unless a dtype is given).
** Returns the first leaf's Lua type.
*/
static int lb_table_shape(lua_State *L, int idx, int64_t *shape, int *nd) {
  int depth = 0, leaf;
  lua_pushvalue(L, idx);
  while (lua_type(L, -1) == LUA_TTABLE) {
    if (depth == LT_MAXDIM) luaL_error(L, "tensor: nested deeper than %d", LT_MAXDIM);
    shape[depth++] = (int64_t)luaL_len(L, -1);
    if (shape[depth - 1] == 0) break;
    lua_geti(L, -1, 1);
    lua_remove(L, -2);
  }
  leaf = lua_type(L, -1);
  lua_pop(L, 1);
  *nd = depth;
  return leaf;
}

/* path names the entry being read, e.g. "[2][3]", for error messages */
static void lb_table_fill(lua_State *L, int idx, const int64_t *shape, int nd,
                          int depth, lt_tensor *t, int64_t *k, char *path, size_t used) {
  int64_t i, n;
  if (depth == nd) {
    char what[160];
    snprintf(what, sizeof what, "entry %s", path);
    lb_toelem(L, idx, lt_dtypeof(t), (char *)lt_ptr(t) + (*k)++ * (int64_t)lt_dtype_size(lt_dtypeof(t)),
              "tensor", what);
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
    lb_table_fill(L, lua_gettop(L), shape, nd, depth + 1, t, k, path,
                  next < 127 ? next : 127);
    lua_pop(L, 1);
    path[used] = '\0';
  }
}

/* lunet.tensor(nested table or number or boolean [, {dtype=, requires_grad=}]) */
int lb_fromtable(lua_State *L) {
  int64_t shape[LT_MAXDIM], k = 0;
  char path[128] = "";
  lt_tensor **r;
  int nd = 0, leaf = lua_type(L, 1);
  lb_created c;
  if (leaf == LUA_TTABLE) leaf = lb_table_shape(L, 1, shape, &nd);
  else if (leaf != LUA_TNUMBER && leaf != LUA_TBOOLEAN)
    luaL_error(L, "tensor: expected a nested table of numbers, got %s", luaL_typename(L, 1));
  c = lb_creation_opts(L, 2, "tensor", leaf == LUA_TBOOLEAN ? LT_BOOL : LT_FLOAT32);
  r = lb_newbox(L);
  lb_fill_created(L, r, lt_empty_dtype(shape, nd, c.dt), c);
  lb_table_fill(L, 1, shape, nd, 0, *r, &k, path, 0);
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

/* lunet._release_cache(): give the freed buffers kept for reuse back to
** the C library (the memory spec measures a loop from a clean state) */
static int lb_release_cache(lua_State *L) {
  (void)L;
  lt_mem_release_cache();
  return 0;
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
  {"_release_cache", lb_release_cache},
  {NULL, NULL}
};

/* ---------------------------------------------------------------- metamethods */

int lb_gc(lua_State *L) {
  lt_tensor **box = luaL_checkudata(L, 1, LB_TENSOR);
  lt_tensor_release(*box);
  *box = NULL;
  return 0;
}

/* the fields x.name reads besides the methods, and those it sets */
static const char *const lb_getfields[] = {"grad", "grad_fn", "is_leaf", "dtype", NULL};
static const char *const lb_setfields[] = {"grad", "requires_grad", NULL};

/* the method table is __index's upvalue (lb_core.c) */
int lb_index(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "index");
  lt_tensor **r;
  if (lua_type(L, 2) != LUA_TSTRING) return lb_index_key(L);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  switch (lb_findname(L, 2, lb_getfields)) {
  case 0:
    if (t->grad == NULL) { lua_pushnil(L); return 1; }
    r = lb_newbox(L);
    return lb_fill(L, r, lt_tensor_retain(t->grad));
  case 1:
    if (t->grad_fn) lua_pushstring(L, t->grad_fn->name); else lua_pushnil(L);
    return 1;
  case 2: lua_pushboolean(L, t->grad_fn == NULL); return 1;
  case 3: lua_pushstring(L, lt_dtype_name(lt_dtypeof(t))); return 1;
  default: return 0;   /* nil, like any table */
  }
}

/* x.grad = g: a private contiguous copy, outside the graph: backward
** accumulates into it in place, and x.grad = x * 2 must not make
** x -> grad -> x */
static int lb_setgrad(lua_State *L, lt_tensor *t) {
  lt_tensor *g = lua_isnil(L, 3) ? NULL : lb_checkany(L, 3, "grad");
  char b1[160], b2[160];
  if (g && (lt_dtypeof(g) != LT_FLOAT32 || lt_dtypeof(t) != LT_FLOAT32))
    luaL_error(L, "grad: gradients are float32 (assigned %s to a %s tensor)",
               lt_dtype_name(lt_dtypeof(g)), lt_dtype_name(lt_dtypeof(t)));
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

/* x.requires_grad = flag and x:requires_grad(flag) */
void lb_set_requires_grad(lua_State *L, lt_tensor *t, int flag) {
  if (t->grad_fn && !flag)
    luaL_error(L, "requires_grad: cannot turn off grad of a non-leaf (use detach)");
  if (flag && lt_dtypeof(t) != LT_FLOAT32)
    luaL_error(L, "requires_grad: only float32 tensors can require gradients, not %s",
               lt_dtype_name(lt_dtypeof(t)));
  t->requires_grad = flag;
}

int lb_newindex(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "newindex");
  if (lua_type(L, 2) != LUA_TSTRING) return lb_newindex_key(L);
  switch (lb_findname(L, 2, lb_setfields)) {
  case 0: return lb_setgrad(L, t);
  case 1: lb_set_requires_grad(L, t, lua_toboolean(L, 3)); return 0;
  default: return luaL_error(L, "tensor: cannot set field '%s'", lb_pushshown(L, 2));
  }
}

/* tostring(x): PyTorch's layout, which lunet/tensor_print.lua writes */
int lb_tostring(lua_State *L) {
  lb_checkany(L, 1, "tostring");
  lua_settop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "lunet.tensor_print");
  lua_call(L, 1, 1);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}
