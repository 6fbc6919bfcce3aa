/*
** lua_loss.c -- binding of the losses.  Targets are 1-based class ids,
** like every index the user sees.
*/
#include <string.h>

#include "lbind.h"
#include "ops.h"

/* every key of the options table at idx must be one of known (a typo
** such as label_smoothing= must not be silently ignored) */
static void lt_lua_known_options(lua_State *L, int idx, const char *op,
                                 const char *const *known) {
  int i;
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int ok = 0;
    lua_pop(L, 1);
    for (i = 0; known[i] && !ok; i++)
      ok = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), known[i]) == 0;
    if (!ok) {
      lua_pushfstring(L, "%s: unknown option '%s'", op, luaL_tolstring(L, -1, NULL));
      lua_error(L);
    }
  }
}

static lt_reduction lt_lua_reduction(lua_State *L, int opts, const char *op) {
  const char *r;
  lt_reduction red = LT_REDUCE_MEAN;
  if (!lua_istable(L, opts)) return red;
  lua_getfield(L, opts, "reduction");
  r = luaL_optstring(L, -1, "mean");
  if (strcmp(r, "sum") == 0) red = LT_REDUCE_SUM;
  else if (strcmp(r, "none") == 0) red = LT_REDUCE_NONE;
  else if (strcmp(r, "mean") != 0)
    luaL_error(L, "%s: reduction must be 'mean', 'sum' or 'none', got '%s'", op, r);
  lua_pop(L, 1);
  return red;
}

/* lunet.cross_entropy(logits, targets [, {ignore_index=, reduction=}]) */
static int lt_lua_cross_entropy(lua_State *L) {
  lt_tensor *x = lt_lua_check(L, 1, "cross_entropy");
  lt_tensor *t = lt_lua_totensor(L, 2, "cross_entropy");
  static const char *const known[] = {"ignore_index", "reduction", NULL};
  lt_reduction red;
  int64_t ignore = LT_NO_IGNORE;
  lua_Integer given;
  lt_tensor **box;
  lt_lua_known_options(L, 3, "cross_entropy", known);
  red = lt_lua_reduction(L, 3, "cross_entropy");
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "ignore_index");
    if (!lua_isnil(L, -1)) {
      if (!lt_lua_toint(L, -1, &given) || given < -((lua_Integer)1 << 53) ||
          given > ((lua_Integer)1 << 53))
        luaL_error(L, "cross_entropy: ignore_index must be an integer of at most 2^53");
      ignore = (int64_t)given - 1;   /* ignore_index=0 skips targets of 0 */
    }
    lua_pop(L, 1);
  }
  box = lt_lua_newbox(L);   /* targets shifted to 0-based, owned by Lua */
  lt_lua_fill(L, box, lt_binary_scalar(LT_SUB, t, 1.0f, 0));
  return lt_lua_push(L, lt_cross_entropy(x, *box, ignore, red));
}

static int lt_lua_mse_loss(lua_State *L) {
  static const char *const known[] = {"reduction", NULL};
  lt_tensor *a = lt_lua_check(L, 1, "mse_loss"), *b = lt_lua_totensor(L, 2, "mse_loss");
  lt_lua_known_options(L, 3, "mse_loss", known);
  return lt_lua_push(L, lt_mse_loss(a, b, lt_lua_reduction(L, 3, "mse_loss")));
}

static const luaL_Reg lt_loss_funcs[] = {
  {"cross_entropy", lt_lua_cross_entropy}, {"mse_loss", lt_lua_mse_loss},
  {NULL, NULL}
};

void lt_lua_open_loss(lua_State *L) {
  lt_lua_register(L, lt_loss_funcs, NULL);
}
