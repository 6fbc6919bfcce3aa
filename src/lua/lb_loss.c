/*
** lb_loss.c -- binding of the losses.  Targets are 1-based class ids,
** like every index the user sees.
*/
#include "lbind.h"
#include "ops.h"

/* in lt_reduction's order */
static const char *const lb_reductions[] = {"mean", "sum", "none", NULL};

static lt_reduction lb_reduction(lua_State *L, int opts, const char *op) {
  lt_reduction red;
  if (!lua_istable(L, opts)) return LT_REDUCE_MEAN;
  lua_getfield(L, opts, "reduction");
  red = (lt_reduction)lb_checkname(L, -1, "mean", lb_reductions, op, "reduction");
  lua_pop(L, 1);
  return red;
}

static const char *const lb_ce_options[] = {"ignore_index", "reduction", NULL};

/* the 0-based class id ignore_index names (1-based, so ignore_index=0
** skips targets of 0), or LT_NO_IGNORE */
static int64_t lb_ignore_index(lua_State *L, int opts) {
  int64_t ignore = LT_NO_IGNORE;
  lua_Integer given;
  if (!lua_istable(L, opts)) return ignore;
  lua_getfield(L, opts, "ignore_index");
  if (!lua_isnil(L, -1)) {
    if (!lb_toint(L, -1, &given) || given < -((lua_Integer)1 << 53) ||
        given > ((lua_Integer)1 << 53))
      luaL_error(L, "cross_entropy: ignore_index must be an integer of at most 2^53");
    ignore = (int64_t)given - 1;
  }
  lua_pop(L, 1);
  return ignore;
}

/* lunet.cross_entropy(logits, targets [, {ignore_index=, reduction=}]) */
static int lb_cross_entropy(lua_State *L) {
  lt_tensor *x = lb_checktensor(L, 1, "cross_entropy");
  lt_tensor *t = lb_toany(L, 2, "cross_entropy"), **t0, **r;
  lt_reduction red;
  int64_t ignore;
  lb_checkoptions(L, 3, "cross_entropy", lb_ce_options);
  red = lb_reduction(L, 3, "cross_entropy");
  ignore = lb_ignore_index(L, 3);
  t0 = lb_newbox(L);   /* the targets shifted to 0-based, owned by Lua */
  lb_fill(L, t0, lt_ids("cross_entropy", "targets", t, -1));
  r = lb_newbox(L);
  return lb_fill(L, r, lt_cross_entropy(x, *t0, ignore, red));
}

static const char *const lb_mse_options[] = {"reduction", NULL};

static int lb_mse_loss(lua_State *L) {
  lt_tensor *a = lb_checktensor(L, 1, "mse_loss"), *b = lb_totensor(L, 2, "mse_loss"), **r;
  lt_reduction red;
  lb_checkoptions(L, 3, "mse_loss", lb_mse_options);
  red = lb_reduction(L, 3, "mse_loss");
  r = lb_newbox(L);
  return lb_fill(L, r, lt_mse_loss(a, b, red));
}

const luaL_Reg lb_loss_funcs[] = {
  {"cross_entropy", lb_cross_entropy}, {"mse_loss", lb_mse_loss},
  {NULL, NULL}
};
