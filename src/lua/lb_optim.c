/*
** lb_optim.c -- internal binding of the optimiser loops (ops_optim.c).
**
** These are the building blocks of lua/lunet/optim; users call
** lunet.optim.SGD/Adam/AdamW and clip_grad_norm, not these.  Arguments
** are positional numbers rather than option tables because they run once
** per parameter per step:
**
**   lunet._sgd_step(p, g, buf|nil, first, lr, momentum, dampening,
**                   nesterov, weight_decay)
**       buf is the momentum buffer (required when momentum ~= 0); first
**       is true on the parameter's first step (buf = g, no dampening).
**   lunet._adam_step(p, g, exp_avg, exp_avg_sq, step, lr, beta1, beta2,
**                    eps, weight_decay, decoupled)
**       step is the 1-based count including this step; decoupled = true
**       is AdamW.
**   lunet._grad_sq_sum({t1, t2, ...}) -> sum of squares of every element
**       (accumulated in double).
**   lunet._scale_(t, factor) -> t, multiplied in place.
**
** Each writes storage directly and records no autograd node.
*/
#include "lbind.h"
#include "optim.h"

static int lb_sgd_step(lua_State *L) {
  lt_tensor *p = lb_checktensor(L, 1, "sgd"), *g = lb_checktensor(L, 2, "sgd");
  lt_tensor *buf = lb_opttensor(L, 3, "sgd");
  lt_sgd_opts o;
  int first = lua_toboolean(L, 4);
  o.lr = luaL_checknumber(L, 5);
  o.momentum = luaL_checknumber(L, 6);
  o.dampening = luaL_checknumber(L, 7);
  o.nesterov = lua_toboolean(L, 8);
  o.weight_decay = luaL_checknumber(L, 9);
  if (lt_sgd_step(p, g, buf, first, &o)) return lb_error(L);
  return 0;
}

static int lb_adam_step(lua_State *L) {
  lt_tensor *p = lb_checktensor(L, 1, "adam"), *g = lb_checktensor(L, 2, "adam");
  lt_tensor *m = lb_checktensor(L, 3, "adam"), *v = lb_checktensor(L, 4, "adam");
  lt_adam_opts o;
  lua_Integer step;
  if (!lb_toint(L, 5, &step))
    return luaL_error(L, "adam: step count must be an integer, got %s", luaL_typename(L, 5));
  o.lr = luaL_checknumber(L, 6);
  o.beta1 = luaL_checknumber(L, 7);
  o.beta2 = luaL_checknumber(L, 8);
  o.eps = luaL_checknumber(L, 9);
  o.weight_decay = luaL_checknumber(L, 10);
  o.decoupled = lua_toboolean(L, 11);
  if (lt_adam_step(p, g, m, v, (int64_t)step, &o)) return lb_error(L);
  return 0;
}

/* the tensors stay referenced by the list while the core reads them
** (raw access, so no metamethod can hand out unreferenced ones) */
static int lb_grad_sq_sum(lua_State *L) {
  lt_tensor *ts[64];
  lua_Integer i, n;
  double total = 0, part;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = (lua_Integer)lua_rawlen(L, 1);
  for (i = 0; i < n; i += 64) {
    int k, m = (int)(n - i < 64 ? n - i : 64);
    for (k = 0; k < m; k++) {
      lua_rawgeti(L, 1, i + k + 1);
      if ((ts[k] = lb_testtensor(L, -1)) == NULL)
        return luaL_error(L, "grad_sq_sum: entry %d is %s, expected a tensor",
                          (int)(i + k + 1), luaL_typename(L, -1));
      lua_pop(L, 1);
    }
    if (lt_sq_sum(ts, m, &part)) return lb_error(L);
    total += part;
  }
  lua_pushnumber(L, total);
  return 1;
}

static int lb_scale_(lua_State *L) {
  lt_tensor *t = lb_checktensor(L, 1, "scale_");
  if (lt_scale_(t, (float)luaL_checknumber(L, 2))) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

const luaL_Reg lb_optim_funcs[] = {
  {"_sgd_step", lb_sgd_step}, {"_adam_step", lb_adam_step},
  {"_grad_sq_sum", lb_grad_sq_sum}, {"_scale_", lb_scale_},
  {NULL, NULL}
};
