/*
** lb_attention.c -- binding of the fused attention op:
**   lunet.attention(q, k, v [, {mask=, causal=, scale=, dropout=, bias=,
**                                all_masked='zero'|'uniform'}])
*/
#include <string.h>

#include "lbind.h"
#include "ops.h"

static const char *const lb_attention_options[] = {
  "mask", "causal", "scale", "dropout", "bias", "all_masked", NULL
};

/* what a query whose every key is masked out gets: zeros or a uniform average */
static const char *const lb_all_masked[] = {"zero", "uniform", NULL};

/* a field of the options table (at index 4) that must be of type `want` */
static int lb_attn_field(lua_State *L, const char *name, int want, const char *wname) {
  int t = lua_getfield(L, 4, name);
  if (t == LUA_TNIL) return 0;
  if (t != want)
    return luaL_error(L, "attention: option %s must be %s, got %s", name, wname,
                      luaL_typename(L, -1));
  return 1;
}

static int lb_attention(lua_State *L) {
  lt_attn_opts o;
  lt_tensor *q = lb_totensor(L, 1, "attention");
  lt_tensor *k = lb_totensor(L, 2, "attention");
  lt_tensor *v = lb_totensor(L, 3, "attention"), **r;
  memset(&o, 0, sizeof o);
  lb_checkoptions(L, 4, "attention", lb_attention_options);
  lua_settop(L, 6);
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "mask");          /* index 5: stays on the stack */
    lua_replace(L, 5);
    if (!lua_isnil(L, 5)) {
      if (!lb_testtensor(L, 5) && !lua_istable(L, 5))
        return luaL_error(L, "attention: option mask must be a tensor, got %s",
                          luaL_typename(L, 5));
      o.mask = lb_totensor(L, 5, "attention");
    }
    lua_getfield(L, 4, "bias");          /* index 6: stays on the stack */
    lua_replace(L, 6);
    if (!lua_isnil(L, 6) && (o.bias = lb_testtensor(L, 6)) == NULL)
      return luaL_error(L, "attention: option bias must be a tensor, got %s",
                        luaL_typename(L, 6));
    lua_settop(L, 6);
    if (lb_attn_field(L, "causal", LUA_TBOOLEAN, "a boolean")) o.causal = lua_toboolean(L, -1);
    lua_settop(L, 6);
    if (lb_attn_field(L, "scale", LUA_TNUMBER, "a number")) o.scale = (float)lua_tonumber(L, -1);
    lua_settop(L, 6);
    if (lb_attn_field(L, "dropout", LUA_TNUMBER, "a number")) o.dropout = (float)lua_tonumber(L, -1);
    lua_settop(L, 6);
    lua_getfield(L, 4, "all_masked");
    o.uniform = lb_checkname(L, -1, "zero", lb_all_masked, "attention", "option all_masked");
    lua_settop(L, 6);
  }
  r = lb_newbox(L);
  return lb_fill(L, r, lt_attention(q, k, v, &o));
}

const luaL_Reg lb_attention_funcs[] = {
  {"attention", lb_attention},
  {NULL, NULL}
};
