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

/*
** The tensor C API for other C modules (src/dist's mpi.so).  They must
** not link the core: the lunet program has it built in and core.so has
** its own copy, and a second copy would bring a second allocator, random
** generator and memory count.  So luaopen_lunet_core leaves this table
** of functions in the registry, as a light userdata under LUNET_CAPI, and
** a module reaches the one core that made the tensors through it (as
** Python's capsules hand out NumPy's C API).
*/
#define LUNET_CAPI "lunet.capi"
#define LUNET_CAPI_VERSION 1

typedef struct lunet_tensorinfo {
  void *data;            /* the first element */
  size_t numel;          /* elements */
  size_t elemsize;       /* bytes per element */
  const char *dtype;     /* "float32", "int64", ... */
  int contiguous;        /* data .. data + numel * elemsize is the tensor */
} lunet_tensorinfo;

typedef struct lunet_capi {
  int version;           /* LUNET_CAPI_VERSION */
  /* the tensor at idx into *info: 1, or 0 if the value is not a tensor
  ** (never raises) */
  int (*tensor)(lua_State *L, int idx, lunet_tensorinfo *info);
  /* the tensor at idx was written in place: bump its version, so a
  ** backward that saved the old values refuses to run */
  void (*wrote)(lua_State *L, int idx);
} lunet_capi;

#endif
