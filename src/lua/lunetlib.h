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

/* Ctrl-C: a program's SIGINT handler calls lb_interrupt() (it is
** async-signal-safe), so that a long kernel stops at its next chunk with
** the error "interrupted"; lb_interrupt_clear() before running more code */
void lb_interrupt(void);
void lb_interrupt_clear(void);

#endif
