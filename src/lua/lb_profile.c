/*
** lb_profile.c -- the work counters, for lunet.profile (Lua).
** Scopes are small integers handed out by the Lua side.
*/
#include "lbind.h"
#include "profile.h"

static int lb_prof_start(lua_State *L) {
  if (lt_prof_start((int)luaL_checkinteger(L, 1))) return lb_error(L);
  return 0;
}

static int lb_prof_stop(lua_State *L) {
  lt_prof_stop();
  return 0;
}

static int lb_prof_active(lua_State *L) {
  lua_pushboolean(L, lt_prof_on);
  return 1;
}

/* set the current scope; returns the previous one */
static int lb_prof_scope(lua_State *L) {
  lua_pushinteger(L, lt_prof_set_scope((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* _prof_parts(s1, s2, ...): the scopes the parts of the next fused op
** charge (nn.MLP's Linear, GELU, Linear); _prof_parts() forgets them */
static int lb_prof_parts(lua_State *L) {
  int scopes[LT_PROF_MAXPARTS], n = lua_gettop(L), i;
  if (n > LT_PROF_MAXPARTS) return luaL_error(L, "_prof_parts: at most %d parts", LT_PROF_MAXPARTS);
  for (i = 0; i < n; i++) scopes[i] = (int)luaL_checkinteger(L, i + 1);
  lt_prof_set_parts(scopes, n);
  return 0;
}

static int lb_prof_get(lua_State *L) {
  static const char *const names[LT_PROF_NCOUNTERS] = {
    "forward_flops", "backward_flops", "linear_macs", "attention_flops", "saved_bytes"
  };
  int scope = (int)luaL_checkinteger(L, 1), c;
  lua_createtable(L, 0, LT_PROF_NCOUNTERS);
  for (c = 0; c < LT_PROF_NCOUNTERS; c++) {
    lua_pushnumber(L, lt_prof_get(scope, (lt_prof_counter)c));
    lua_setfield(L, -2, names[c]);
  }
  return 1;
}

const luaL_Reg lb_profile_funcs[] = {
  {"_prof_start", lb_prof_start}, {"_prof_stop", lb_prof_stop},
  {"_prof_active", lb_prof_active}, {"_prof_scope", lb_prof_scope},
  {"_prof_get", lb_prof_get}, {"_prof_parts", lb_prof_parts},
  {NULL, NULL}
};
