/*
** lua_lunet.h -- helpers shared by the lua_*.c binding files.
**
** The binding is where 1-based Lua dims become 0-based core dims and
** where a NULL from the core becomes a Lua error.  A tensor userdata is a
** box holding one reference; the box is created (empty) before the core
** call so that an error can never leak the result.
*/
#ifndef LT_LUA_LUNET_H
#define LT_LUA_LUNET_H

#include <lua.h>
#include <lauxlib.h>

#include "tensor.h"
#include "lunetlib.h"

#define LT_TENSOR_MT "lunet.Tensor"

/* the tensor in argument idx, or a type error naming `op` */
lt_tensor *lt_lua_check(lua_State *L, int idx, const char *op);
lt_tensor *lt_lua_test(lua_State *L, int idx);   /* NULL if not a tensor */
/*
** The tensor in argument idx, coercing a number (0-d tensor) or a nested
** table (lunet.tensor) in place on the stack, so it stays owned by Lua.
*/
lt_tensor *lt_lua_totensor(lua_State *L, int idx, const char *op);

/* push an empty box; store the result in *box; raises on NULL result */
lt_tensor **lt_lua_newbox(lua_State *L);
/* push t (a new reference, or NULL: raise lt_errmsg()) */
int lt_lua_push(lua_State *L, lt_tensor *t);
void lt_lua_fill(lua_State *L, lt_tensor **box, lt_tensor *t);

/* an integer, or a float with an integral value (3.0 from D / 2): 1 and
** *v set, else 0 */
int lt_lua_toint(lua_State *L, int idx, lua_Integer *v);

/* raise the core's last error */
int lt_lua_error(lua_State *L);

/* 1-based (negative from the end) Lua dim -> 0-based core dim, checked */
int lt_lua_checkdim(lua_State *L, int idx, int ndim, const char *op);
/* shape from a Lua sequence {2,3} or from varargs 2,3 starting at idx */
int lt_lua_checkshape(lua_State *L, int idx, int64_t *shape, const char *op);

/* register functions into the module table (-2) and methods into the
** method table (-1) on the stack; either list may be NULL */
void lt_lua_register(lua_State *L, const luaL_Reg *funcs, const luaL_Reg *methods);

/* per-subsystem registration, called by luaopen_lunet_core */
void lt_lua_open_tensor(lua_State *L);
void lt_lua_open_elem(lua_State *L);
void lt_lua_open_reduce(lua_State *L);
void lt_lua_open_matmul(lua_State *L);
void lt_lua_open_autograd(lua_State *L);
void lt_lua_open_io(lua_State *L);
void lt_lua_open_nn(lua_State *L);
void lt_lua_open_attention(lua_State *L);
void lt_lua_open_optim(lua_State *L);
void lt_lua_open_loss(lua_State *L);
void lt_lua_open_profile(lua_State *L);

#endif
