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

/*
** lunet._grad(root, seed|nil, {inputs...}, retain) -> {grads...}: the
** gradients of root with respect to each input (nil where none flows),
** .grad untouched (lunet.autograd.grad, lua/lunet/autograd.lua, is the
** user's face of it).  The results are boxed before the core runs.
*/
static int lb_grad(lua_State *L) {
  lt_tensor *root = lb_checktensor(L, 1, "grad"), *seed = lb_opttensor(L, 2, "grad");
  lt_tensor **ins, **outs;
  int retain = lua_toboolean(L, 4), n, k, rc;
  luaL_checktype(L, 3, LUA_TTABLE);
  n = (int)lua_rawlen(L, 3);
  if (n <= 0) luaL_error(L, "grad: inputs must be a non-empty list of tensors");
  lua_settop(L, 4);
  ins = lua_newuserdatauv(L, (size_t)n * sizeof *ins, 0);      /* 5 */
  for (k = 0; k < n; k++) {
    lua_rawgeti(L, 3, k + 1);
    if ((ins[k] = lb_testtensor(L, -1)) == NULL)
      luaL_error(L, "grad: inputs[%d] is %s, expected a tensor", k + 1, luaL_typename(L, -1));
    lua_pop(L, 1);   /* still held by the list */
  }
  outs = lua_newuserdatauv(L, (size_t)n * sizeof *outs, 0);     /* 6 */
  lua_createtable(L, n, 0);                                    /* 7: the result */
  for (k = 0; k < n; k++) {   /* the boxes first: nothing can raise after the core runs */
    lb_newbox(L);
    lua_rawseti(L, 7, k + 1);
  }
  rc = lt_grad_of(root, seed, retain, ins, n, outs);
  if (rc) return lb_error(L);
  for (k = 0; k < n; k++) {
    lua_rawgeti(L, 7, k + 1);
    *(lt_tensor **)lua_touserdata(L, -1) = outs[k];
    if (outs[k] == NULL) { lua_pushnil(L); lua_rawseti(L, 7, k + 1); }
    lua_pop(L, 1);
  }
  lua_settop(L, 7);
  return 1;
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
  {"_grad", lb_grad},
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
