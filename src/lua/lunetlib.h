/*
** lunetlib.h -- the binding's public face: what a program embedding
** lunet (src/prog/main.c) or Lua's require needs.  Everything else of the
** binding is declared in lbind.h.
*/
#ifndef LB_LUNETLIB_H
#define LB_LUNETLIB_H

#include <lua.h>

/* the module table of require "lunet.core", with the Tensor metatable */
LUAMOD_API int luaopen_lunet_core(lua_State *L);

#endif
