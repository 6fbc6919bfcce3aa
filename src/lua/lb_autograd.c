/*
** lua_autograd.c -- backward, requires_grad, grad mode.
*/
#include "lbind.h"
#include "autograd.h"

/* x:backward([grad] [, {retain_graph=true}]) */
static int lt_lua_backward(lua_State *L) {
  lt_tensor *t = lt_lua_check(L, 1, "backward");
  lt_tensor *seed = NULL;
  int opts = 0, retain = 0;
  if (lt_lua_test(L, 2)) { seed = lt_lua_test(L, 2); opts = 3; }
  else if (lua_istable(L, 2)) opts = 2;
  else if (!lua_isnoneornil(L, 2))
    luaL_error(L, "backward: argument 2 must be a gradient tensor or an options table, got %s",
               luaL_typename(L, 2));
  else opts = 3;
  if (lua_istable(L, opts)) {
    lua_getfield(L, opts, "retain_graph");
    retain = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (lt_backward(t, seed, retain)) return lt_lua_error(L);
  return 0;
}

/* x:requires_grad() -> flag; x:requires_grad(flag) -> x */
static int lt_lua_requires_grad(lua_State *L) {
  lt_tensor *t = lt_lua_check(L, 1, "requires_grad");
  if (lua_isnone(L, 2)) {
    lua_pushboolean(L, lt_needs_grad(t));
    return 1;
  }
  if (t->grad_fn && !lua_toboolean(L, 2))
    luaL_error(L, "requires_grad: cannot turn off grad of a non-leaf (use detach)");
  t->requires_grad = lua_toboolean(L, 2);
  lua_settop(L, 1);
  return 1;
}

/* restores grad mode whether fn returned or raised */
static int lt_lua_with_grad_mode(lua_State *L, int mode) {
  int prev, status, n;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  prev = lt_set_grad_enabled(mode);
  status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  lt_set_grad_enabled(prev);
  if (status != LUA_OK) return lua_error(L);
  n = lua_gettop(L);
  return n;
}

static int lt_lua_no_grad(lua_State *L) { return lt_lua_with_grad_mode(L, 0); }
static int lt_lua_enable_grad(lua_State *L) { return lt_lua_with_grad_mode(L, 1); }

static int lt_lua_is_grad_enabled(lua_State *L) {
  lua_pushboolean(L, lt_grad_enabled());
  return 1;
}

static int lt_lua_set_grad_enabled(lua_State *L) {
  lua_pushboolean(L, lt_set_grad_enabled(lua_toboolean(L, 1)));
  return 1;
}

static const luaL_Reg lt_ag_funcs[] = {
  {"no_grad", lt_lua_no_grad}, {"enable_grad", lt_lua_enable_grad},
  {"is_grad_enabled", lt_lua_is_grad_enabled},
  {"set_grad_enabled", lt_lua_set_grad_enabled},
  {NULL, NULL}
};

static const luaL_Reg lt_ag_methods[] = {
  {"backward", lt_lua_backward}, {"requires_grad", lt_lua_requires_grad},
  {NULL, NULL}
};

void lt_lua_open_autograd(lua_State *L) {
  lt_lua_register(L, lt_ag_funcs, lt_ag_methods);
}
