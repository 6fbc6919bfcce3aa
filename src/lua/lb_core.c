/*
** lb_core.c -- luaopen_lunet_core: the module table and the Tensor
** metatable, built here and nowhere else, from the luaL_Reg tables of
** the binding's files (as liolib.c builds its file handle's).
**
** Functions go in the module (lunet.exp(x)); methods in the method table,
** which is the module's Tensor field (x:exp()); metamethods in the
** metatable, whose __index looks a key up in the method table first, then
** among the properties and elements (lb_index).
*/
#include "lbind.h"
#include "dtype.h"
#include "pool.h"

void lb_interrupt(void) { lt_interrupt(); }
void lb_interrupt_clear(void) { lt_interrupt_clear(); }

/* the pool's threads run code of this library: stop them before Lua
** unloads it (lua_close collects this sentinel before the loader's own
** table, which was made first) */
static int lb_pool_gc(lua_State *L) {
  (void)L;
  lt_pool_shutdown();
  return 0;
}

/* lunet.<name> */
static const luaL_Reg *const lb_functions[] = {
  lb_tensor_funcs, lb_elem_funcs, lb_reduce_funcs, lb_view_funcs,
  lb_matmul_funcs, lb_autograd_funcs, lb_nn_funcs, lb_attention_funcs,
  lb_loss_funcs, lb_optim_funcs, lb_io_funcs, lb_profile_funcs, lb_index_funcs,
  lb_dtype_funcs,
  lb_term_funcs,
  lb_faults_funcs,
  NULL
};

/* x:<name>(...): every elementwise op and reduction is a method too */
static const luaL_Reg *const lb_methods[] = {
  lb_elem_funcs, lb_reduce_funcs, lb_view_methods, lb_matmul_methods,
  lb_autograd_methods, lb_inplace_methods, lb_index_funcs, lb_dtype_methods,
  NULL
};

static const luaL_Reg lb_metamethods[] = {
  {"__index", NULL},   /* placeholder: lb_index over the method table */
  {"__newindex", lb_newindex},
  {"__gc", lb_gc},
  {"__close", lb_gc},
  {"__tostring", lb_tostring},
  {"__len", lb_len},
  {"__add", lb_add},
  {"__sub", lb_sub},
  {"__mul", lb_mul},
  {"__div", lb_div},
  {"__pow", lb_pow},
  {"__unm", lb_unm},
  {"__mod", lb_mod},
  {"__idiv", lb_idiv},
  {"__band", lb_band},
  {"__bor", lb_bor},
  {"__bxor", lb_bxor},
  {"__bnot", lb_bnot},
  {NULL, NULL}
};

static void lb_setall(lua_State *L, const luaL_Reg *const *lists) {
  for (; *lists; lists++) luaL_setfuncs(L, *lists, 0);
}

/* the metatable of a helper userdata, from its metamethods */
static void lb_newmeta(lua_State *L, const char *name, const luaL_Reg *meta) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
}

/* the Tensor metatable; the module is on top of the stack */
static void lb_createmeta(lua_State *L) {
  luaL_newmetatable(L, LB_TENSOR);       /* sets __name too */
  luaL_setfuncs(L, lb_metamethods, 0);
  lua_newtable(L);                       /* the method table */
  lb_setall(L, lb_methods);
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "Tensor");         /* module.Tensor = methods */
  lua_pushcclosure(L, lb_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);                         /* metatable */
}

/* ---- the C API of lunetlib.h, for modules that do not link the core ---- */

static int lb_capi_tensor(lua_State *L, int idx, lunet_tensorinfo *info) {
  lt_tensor *t = lb_testtensor(L, idx);
  if (t == NULL) return 0;
  info->data = lt_ptr(t);
  info->numel = (size_t)lt_numel(t);
  info->elemsize = lt_dtype_size(lt_dtypeof(t));
  info->dtype = lt_dtype_name(lt_dtypeof(t));
  info->contiguous = lt_is_contiguous(t);
  return 1;
}

static void lb_capi_wrote(lua_State *L, int idx) {
  lt_tensor *t = lb_testtensor(L, idx);
  if (t) lt_bump_version(t);
}

static const lunet_capi lb_capi = {LUNET_CAPI_VERSION, lb_capi_tensor, lb_capi_wrote};

LUAMOD_API int luaopen_lunet_core(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&lb_capi);
  lua_setfield(L, LUA_REGISTRYINDEX, LUNET_CAPI);
  lua_newtable(L);
  lb_setall(L, lb_functions);
  lb_createmeta(L);
  lua_pushvalue(L, -1);                            /* for lb_error's names */
  lua_setfield(L, LUA_REGISTRYINDEX, LB_FUNCTIONS);
  lb_newmeta(L, LB_STFILE, lb_stfile_meta);       /* a file being loaded */
  lb_newmeta(L, LB_MODE, lb_mode_meta);           /* no_grad's saved mode */
  lb_sethook(L);
  lb_faults_open(L);
  lua_newuserdatauv(L, 0, 0);                      /* the pool's sentinel */
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, lb_pool_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "lunet.pool");
  return 1;
}
