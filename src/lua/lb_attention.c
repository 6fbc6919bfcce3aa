/*
** lua_attention.c -- Lua binding of the fused attention op:
**   lunet.attention(q, k, v [, {mask=, causal=, scale=, dropout=}])
*/
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "tensor.h"
#include "ops.h"
#include "lbind.h"

/* a field of the options table (at index 4) that must be of type `want` */
static int la_field(lua_State *L, const char *name, int want, const char *wname) {
  int t = lua_getfield(L, 4, name);
  if (t == LUA_TNIL) return 0;
  if (t != want)
    return luaL_error(L, "attention: option %s must be %s, got %s", name, wname,
                      luaL_typename(L, -1));
  return 1;
}

/* reject misspelt options (causal=true as casual=true would pass silently) */
static void la_known(lua_State *L) {
  static const char *const known[] = {"mask", "causal", "scale", "dropout", NULL};
  lua_pushnil(L);
  while (lua_next(L, 4)) {
    int i, ok = 0;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING)
      for (i = 0; known[i]; i++)
        if (strcmp(lua_tostring(L, -1), known[i]) == 0) ok = 1;
    if (!ok) {
      lua_pushfstring(L, "attention: unknown option %s (expected mask, causal, "
                         "scale or dropout)", luaL_tolstring(L, -1, NULL));
      lua_error(L);
    }
  }
}

static int la_attention(lua_State *L) {
  lt_attn_opts o;
  lt_tensor *q = lt_lua_totensor(L, 1, "attention");
  lt_tensor *k = lt_lua_totensor(L, 2, "attention");
  lt_tensor *v = lt_lua_totensor(L, 3, "attention");
  memset(&o, 0, sizeof o);
  if (!lua_isnoneornil(L, 4)) {
    if (!lua_istable(L, 4))
      return luaL_error(L, "attention: options must be a table, got %s",
                        luaL_typename(L, 4));
    la_known(L);
    lua_settop(L, 4);
    lua_getfield(L, 4, "mask");          /* index 5: stays on the stack */
    if (!lua_isnil(L, 5)) {
      if (!lt_lua_test(L, 5) && !lua_istable(L, 5))
        return luaL_error(L, "attention: option mask must be a tensor, got %s",
                          luaL_typename(L, 5));
      o.mask = lt_lua_totensor(L, 5, "attention");
    }
    if (la_field(L, "causal", LUA_TBOOLEAN, "a boolean")) o.causal = lua_toboolean(L, -1);
    lua_settop(L, 5);
    if (la_field(L, "scale", LUA_TNUMBER, "a number")) o.scale = (float)lua_tonumber(L, -1);
    lua_settop(L, 5);
    if (la_field(L, "dropout", LUA_TNUMBER, "a number")) o.dropout = (float)lua_tonumber(L, -1);
    lua_settop(L, 5);
  }
  return lt_lua_push(L, lt_attention(q, k, v, &o));
}

void lt_lua_open_attention(lua_State *L) {
  static const luaL_Reg funcs[] = {{"attention", la_attention}, {NULL, NULL}};
  lt_lua_register(L, funcs, NULL);
}
