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
** Modes (grad mode, anomaly detection) are set in scopes: a mode box
** remembers the mode before and puts it back when it is closed, whether
** the scope ends or raises.
*/
typedef struct lb_mode {
  int (*set)(int);        /* lt_set_grad_enabled or lt_set_anomaly */
  int prev;
} lb_mode;

static int lb_mode_close(lua_State *L) {
  lb_mode *m = luaL_checkudata(L, 1, LB_MODE);
  if (m->set) m->set(m->prev);
  m->set = NULL;          /* closed twice (a guard also closed by hand): once */
  return 0;
}

/* set the mode, pushing a box that restores the previous one */
static void lb_push_mode(lua_State *L, int (*set)(int), int mode) {
  lb_mode *m = lua_newuserdatauv(L, sizeof *m, 0);
  m->set = NULL;
  luaL_setmetatable(L, LB_MODE);
  m->prev = set(mode);
  m->set = set;
}

/*
** lunet.no_grad(fn, ...) / enable_grad / detect_anomaly(fn, ...): call fn
** in that mode.  The box is below fn as a to-be-closed variable, so the
** mode comes back whether fn returns or raises; and fn is called without
** a pcall, so an error inside it keeps its traceback.
*/
static int lb_with_mode(lua_State *L, int (*set)(int), int mode) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lb_push_mode(L, set, mode);
  lua_insert(L, 1);                     /* below fn and its arguments */
  lua_toclose(L, 1);
  lua_call(L, lua_gettop(L) - 2, LUA_MULTRET);
  return lua_gettop(L) - 1;             /* fn's results; the box closes */
}

static int lb_no_grad(lua_State *L) { return lb_with_mode(L, lt_set_grad_enabled, 0); }
static int lb_enable_grad(lua_State *L) { return lb_with_mode(L, lt_set_grad_enabled, 1); }

/*
** lunet.detect_anomaly(fn, ...): call fn with anomaly detection on.
** lunet.detect_anomaly(on): switch it on or off; returns a guard that
** restores the previous setting when closed, so that
**   local guard <close> = lunet.detect_anomaly(true)
** holds for one scope.
*/
static int lb_detect_anomaly(lua_State *L) {
  if (lua_type(L, 1) == LUA_TFUNCTION) return lb_with_mode(L, lt_set_anomaly, 1);
  if (!lua_isboolean(L, 1))
    return luaL_error(L, "detect_anomaly: expected a boolean or a function, got %s",
                      luaL_typename(L, 1));
  lb_push_mode(L, lt_set_anomaly, lua_toboolean(L, 1));
  return 1;
}

static int lb_is_anomaly_enabled(lua_State *L) {
  lua_pushboolean(L, lt_anomaly_enabled());
  return 1;
}

/* anomaly mode: tell the core where the op about to run was called from,
** so that a backward producing NaN can name that place */
void lb_anomaly_where(lua_State *L) {
  luaL_traceback(L, L, NULL, 1);
  lt_ag_set_where(lua_tostring(L, -1));
  lua_pop(L, 1);
}

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
  {"detect_anomaly", lb_detect_anomaly}, {"is_anomaly_enabled", lb_is_anomaly_enabled},
  {NULL, NULL}
};

const luaL_Reg lb_autograd_methods[] = {
  {"backward", lb_backward}, {"requires_grad", lb_requires_grad},
  {NULL, NULL}
};

const luaL_Reg lb_mode_meta[] = {
  {"__close", lb_mode_close},
  {NULL, NULL}
};
