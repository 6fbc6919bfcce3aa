/*
** lb_dtype.c -- dtypes and randomness from Lua:
**
**   x:long() x:int() x:float() x:bool() x:byte() x:to(dtype)   conversions
**   x:is_floating_point()   x.dtype ("float32", "int64", ...: lb_tensor.c)
**   lunet.allclose(a, b [, {rtol=1e-5, atol=1e-8, equal_nan=false}])
**   lunet.equal(a, b)       (both also methods; they return booleans)
**   lunet.randint([low,] high, shape [, {dtype=}])   values in [low, high)
**   lunet.randperm(n)       1..n shuffled (1-based, as every index here)
**   lunet.multinomial(probs, n [, {replacement=false}])   1-based ids
**   lunet.bernoulli(p)      0/1 with P(1) = p
**   lunet.get_rng_state()   the generator as a uint8 tensor; set_rng_state(t)
*/
#include "lbind.h"
#include "ops.h"

/* x:to(dtype): x itself when it already is, else a converted copy */
static int lb_convert(lua_State *L, lt_tensor *x, lt_dtype dt) {
  lt_tensor **r;
  if (lt_dtypeof(x) == dt) { lua_settop(L, 1); return 1; }
  r = lb_newbox(L);
  return lb_fill(L, r, lt_to_dtype(x, dt));
}

static int lb_to(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "to");
  return lb_convert(L, x, lb_checkdtype(L, 2, "to"));
}

static int lb_long(lua_State *L) { return lb_convert(L, lb_checkany(L, 1, "long"), LT_INT64); }
static int lb_int(lua_State *L) { return lb_convert(L, lb_checkany(L, 1, "int"), LT_INT32); }
static int lb_float(lua_State *L) { return lb_convert(L, lb_checkany(L, 1, "float"), LT_FLOAT32); }
static int lb_bool(lua_State *L) { return lb_convert(L, lb_checkany(L, 1, "bool"), LT_BOOL); }
static int lb_byte(lua_State *L) { return lb_convert(L, lb_checkany(L, 1, "byte"), LT_UINT8); }

static int lb_is_floating_point(lua_State *L) {
  lua_pushboolean(L, lt_is_float(lt_dtypeof(lb_checkany(L, 1, "is_floating_point"))));
  return 1;
}

static const char *const lb_allclose_options[] = {"rtol", "atol", "equal_nan", NULL};

static double lb_optfield(lua_State *L, int o, const char *key, double dflt) {
  double v = dflt;
  if (lua_istable(L, o) && lua_getfield(L, o, key) != LUA_TNIL) {
    if (!lua_isnumber(L, -1))
      luaL_error(L, "allclose: %s must be a number, got %s", key, luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
  }
  if (lua_istable(L, o)) lua_pop(L, 1);
  return v;
}

static int lb_allclose(lua_State *L) {
  lt_tensor *a = lb_toany(L, 1, "allclose"), *b = lb_toany(L, 2, "allclose");
  int eqnan = 0, r;
  double rtol, atol;
  lb_checkoptions(L, 3, "allclose", lb_allclose_options);
  rtol = lb_optfield(L, 3, "rtol", 1e-5);
  atol = lb_optfield(L, 3, "atol", 1e-8);
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "equal_nan");
    eqnan = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if ((r = lt_allclose(a, b, rtol, atol, eqnan)) < 0) return lb_error(L);
  lua_pushboolean(L, r);
  return 1;
}

static int lb_equal(lua_State *L) {
  lt_tensor *a = lb_toany(L, 1, "equal"), *b = lb_toany(L, 2, "equal");
  lua_pushboolean(L, lt_equal(a, b));
  return 1;
}

/* ---------------------------------------------------------------- random */

static const char *const lb_dtype_options[] = {"dtype", NULL};

/* randint(high, shape) or randint(low, high, shape), then {dtype=} */
static int lb_randint(lua_State *L) {
  int64_t shape[LT_MAXDIM];
  lua_Integer lo = 0, hi;
  int s = lua_type(L, 2) == LUA_TNUMBER ? 3 : 2, n;
  lt_dtype dt = LT_INT64;
  lt_tensor **r;
  if (!lb_toint(L, 1, s == 3 ? &lo : &hi) || (s == 3 && !lb_toint(L, 2, &hi)))
    luaL_error(L, "randint: low and high must be integers");
  if (!lua_istable(L, s)) luaL_error(L, "randint: shape must be a table, got %s", luaL_typename(L, s));
  n = lb_checksize(L, shape, lb_checkshape(L, s, shape, "randint"), "randint");
  lb_checkoptions(L, s + 1, "randint", lb_dtype_options);
  if (lua_istable(L, s + 1) && lua_getfield(L, s + 1, "dtype") != LUA_TNIL)
    dt = lb_checkdtype(L, -1, "randint");
  r = lb_newbox(L);
  lb_fill(L, r, lt_randint(lo, hi, shape, n));
  if (dt != LT_INT64) {
    lt_tensor *c = lt_to_dtype(*r, dt);
    if (c == NULL) return lb_error(L);
    lt_tensor_release(*r);
    *r = c;
  }
  return 1;
}

/* 1..n shuffled */
static int lb_randperm(lua_State *L) {
  lua_Integer n;
  lt_tensor **r, *p;
  if (!lb_toint(L, 1, &n)) luaL_error(L, "randperm: n must be an integer");
  r = lb_newbox(L);
  p = lt_randperm(n);
  lb_fill(L, r, p);
  lb_fill(L, r, lt_ids("randperm", "ids", p, 1));
  lt_tensor_release(p);
  return 1;
}

static const char *const lb_multinomial_options[] = {"replacement", NULL};

static int lb_multinomial(lua_State *L) {
  lt_tensor *p = lb_checktensor(L, 1, "multinomial"), **r, *draws;
  lua_Integer n;
  int repl = 0;
  if (!lb_toint(L, 2, &n)) luaL_error(L, "multinomial: number of draws must be an integer");
  if (lua_isboolean(L, 3)) repl = lua_toboolean(L, 3);
  else {
    lb_checkoptions(L, 3, "multinomial", lb_multinomial_options);
    if (lua_istable(L, 3)) {
      lua_getfield(L, 3, "replacement");
      repl = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
  }
  r = lb_newbox(L);
  draws = lt_multinomial(p, n, repl);
  lb_fill(L, r, draws);
  lb_fill(L, r, lt_ids("multinomial", "ids", draws, 1));
  lt_tensor_release(draws);
  return 1;
}

static int lb_bernoulli(lua_State *L) {
  lt_tensor *p = lb_checktensor(L, 1, "bernoulli"), **r = lb_newbox(L);
  return lb_fill(L, r, lt_bernoulli(p));
}

static int lb_get_rng_state(lua_State *L) {
  int64_t n = LT_RNG_STATE_BYTES;
  lt_tensor **r = lb_newbox(L);
  lb_fill(L, r, lt_empty_dtype(&n, 1, LT_UINT8));
  lt_rng_get_state(lt_ptr(*r));
  return 1;
}

static int lb_set_rng_state(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "set_rng_state"), *c;
  int rc;
  if (lt_dtypeof(t) != LT_UINT8 || t->ndim != 1 || t->shape[0] != LT_RNG_STATE_BYTES)
    luaL_error(L, "set_rng_state: expected a uint8 tensor of %d bytes (get_rng_state's)",
               LT_RNG_STATE_BYTES);
  if ((c = lt_contiguous(t)) == NULL) return lb_error(L);
  rc = lt_rng_set_state(lt_ptr(c));
  lt_tensor_release(c);
  if (rc) return lb_error(L);
  return 0;
}

const luaL_Reg lb_dtype_funcs[] = {
  {"randint", lb_randint}, {"randperm", lb_randperm},
  {"multinomial", lb_multinomial}, {"bernoulli", lb_bernoulli},
  {"get_rng_state", lb_get_rng_state}, {"set_rng_state", lb_set_rng_state},
  {"allclose", lb_allclose}, {"equal", lb_equal},
  {NULL, NULL}
};

const luaL_Reg lb_dtype_methods[] = {
  {"to", lb_to}, {"long", lb_long}, {"int", lb_int}, {"float", lb_float},
  {"bool", lb_bool}, {"byte", lb_byte}, {"is_floating_point", lb_is_floating_point},
  {"allclose", lb_allclose}, {"equal", lb_equal},
  {"multinomial", lb_multinomial}, {"bernoulli", lb_bernoulli},
  {NULL, NULL}
};
