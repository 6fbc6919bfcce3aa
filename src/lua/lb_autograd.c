/*
** lb_autograd.c -- backward, requires_grad, grad mode.
*/
#include "lbind.h"
#include "autograd.h"

static const char *const lb_backward_options[] = {"retain_graph", NULL};

/* x:backward([grad] [, {retain_graph=true}]) */
static int lb_backward(lua_State *L) {
  lt_tensor *t = lb_checktensor(L, 1, "backward");
  lt_tensor *seed = NULL;
  int opts = 0, retain = 0;
  if (lb_testtensor(L, 2)) { seed = lb_checktensor(L, 2, "backward"); opts = 3; }
  else if (lua_istable(L, 2)) opts = 2;
  else if (!lua_isnoneornil(L, 2))
    luaL_error(L, "backward: argument 2 must be a gradient tensor or an options table, got %s",
               luaL_typename(L, 2));
  else opts = 3;
  lb_checkoptions(L, opts, "backward", lb_backward_options);
  if (lua_istable(L, opts)) {
    lua_getfield(L, opts, "retain_graph");
    retain = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (lt_backward(t, seed, retain)) return lb_error(L);
  return 0;
}

/* x:requires_grad() -> flag; x:requires_grad(flag) -> x */
static int lb_requires_grad(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "requires_grad");
  if (lua_isnone(L, 2)) {
    lua_pushboolean(L, lt_needs_grad(t));
    return 1;
  }
  lb_set_requires_grad(L, t, lua_toboolean(L, 2));
  lua_settop(L, 1);
  return 1;
}

/*
** lunet.no_grad(fn, ...) / enable_grad: call fn in that grad mode.  The
** previous mode is kept in a to-be-closed box, so it comes back whether
** fn returns or raises; and fn is called without a pcall, so an error
** inside it keeps its traceback.
*/
static int lb_gradmode_close(lua_State *L) {
  lt_set_grad_enabled(*(int *)luaL_checkudata(L, 1, LB_GRADMODE));
  return 0;
}

static int lb_with_grad_mode(lua_State *L, int mode) {
  int *prev;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  prev = lua_newuserdatauv(L, sizeof *prev, 0);
  *prev = lt_grad_enabled();
  luaL_setmetatable(L, LB_GRADMODE);
  lua_insert(L, 1);                     /* below fn and its arguments */
  lua_toclose(L, 1);
  lt_set_grad_enabled(mode);
  lua_call(L, lua_gettop(L) - 2, LUA_MULTRET);
  return lua_gettop(L) - 1;             /* fn's results; the box closes */
}

static int lb_no_grad(lua_State *L) { return lb_with_grad_mode(L, 0); }
static int lb_enable_grad(lua_State *L) { return lb_with_grad_mode(L, 1); }

static int lb_is_grad_enabled(lua_State *L) {
  lua_pushboolean(L, lt_grad_enabled());
  return 1;
}

static int lb_set_grad_enabled(lua_State *L) {
  lua_pushboolean(L, lt_set_grad_enabled(lua_toboolean(L, 1)));
  return 1;
}

const luaL_Reg lb_autograd_funcs[] = {
  {"no_grad", lb_no_grad}, {"enable_grad", lb_enable_grad},
  {"is_grad_enabled", lb_is_grad_enabled},
  {"set_grad_enabled", lb_set_grad_enabled},
  {NULL, NULL}
};

const luaL_Reg lb_autograd_methods[] = {
  {"backward", lb_backward}, {"requires_grad", lb_requires_grad},
  {NULL, NULL}
};

const luaL_Reg lb_gradmode_meta[] = {
  {"__close", lb_gradmode_close},
  {NULL, NULL}
};
