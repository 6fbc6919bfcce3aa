/*
** lb_faults.c -- allocation-failure injection from Lua, in builds with
** -DLT_FAULTS only (make faults; spec/faults.lua drives it).
**
**   ok, err, injected, count = lunet._fault_run(n, sticky, fn)
**
** calls fn() with the nth allocation from now failing, the core's or
** Lua's, and with sticky every later one of the core's too (alloc.h says
** why not Lua's).  Arming, the protected call and disarming are all
** here in C, so none of the harness's own code runs while armed.  count
** is the allocations seen, injected how many of them failed (0 when fn
** finished before the nth).
*/
#include "lbind.h"
#include "alloc.h"

#ifdef LT_FAULTS

static lua_Alloc lb_alloc0;   /* the allocator wrapped */

static void *lb_faultalloc(void *ud, void *p, size_t osize, size_t nsize) {
  if (nsize > (p ? osize : 0) && lt_fault_hit(0)) return NULL;
  return lb_alloc0(ud, p, osize, nsize);
}

void lb_faults_open(lua_State *L) {
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  if (f == lb_faultalloc) return;
  lb_alloc0 = f;
  lua_setallocf(L, lb_faultalloc, ud);
}

static int lb_fault_run(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  int sticky = lua_toboolean(L, 2), status;
  long count;
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  luaL_checkstack(L, 8, "fault_run");   /* room for the results, before arming */
  if (lt_fault_arm((long)n, sticky)) return luaL_error(L, "fault_run: n must be >= 1");
  status = lua_pcall(L, 0, 1, 0);
  count = lt_fault_disarm();
  lua_pushboolean(L, status == LUA_OK);
  lua_insert(L, -2);
  lua_pushinteger(L, lt_fault_injected());
  lua_pushinteger(L, count);
  return 4;
}

const luaL_Reg lb_faults_funcs[] = {
  {"_fault_run", lb_fault_run},
  {NULL, NULL}
};

#else

void lb_faults_open(lua_State *L) { (void)L; }

const luaL_Reg lb_faults_funcs[] = {
  {NULL, NULL}
};

#endif
