/*
** lb_io.c -- lunet.save and lunet.load: safetensors checkpoints from Lua.
**
**   lunet.save(path, {name = tensor, ...} [, {key = "value", ...}])
**   tensors, metadata = lunet.load(path)
**
** Everything that can raise a Lua error is done either before the core
** call (argument checks, so a bad table never touches the old file) or
** while the core's result is owned by a userdata (so nothing leaks).
*/
#include <string.h>

#include "lbind.h"
#include "safetensors.h"

/* ---------------------------------------------------------------- paths */

/* a file name: the C library would stop at an embedded NUL and open
** another file than the one named, so such a name is refused */
static const char *lb_checkpath(lua_State *L, const char *op) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  if (strlen(path) != len)
    luaL_error(L, "%s: file name '%s' contains a NUL byte", op, lb_pushshown(L, 1));
  return path;
}

/* ---------------------------------------------------------------- load */

/* a loaded file waiting to be moved into Lua; __gc frees what is left */
static int lb_stfile_gc(lua_State *L) {
  lt_st_file **pf = luaL_checkudata(L, 1, LB_STFILE);
  lt_st_free(*pf);
  *pf = NULL;
  return 0;
}

static int lb_load(lua_State *L) {
  const char *path = lb_checkpath(L, "load");
  lt_st_file **pf, *f;
  int i;
  pf = lua_newuserdatauv(L, sizeof *pf, 0);
  *pf = NULL;
  luaL_setmetatable(L, LB_STFILE);
  if ((f = *pf = lt_st_load(path)) == NULL) return lb_error(L);
  lua_createtable(L, 0, f->n);
  for (i = 0; i < f->n; i++) {
    lt_tensor **box = lb_newbox(L);
    /* the box owns the tensor from here on, whatever fails next */
    lb_fill(L, box, f->items[i].t);
    f->items[i].t = NULL;
    lua_setfield(L, -2, f->items[i].name);
  }
  lua_createtable(L, 0, f->nmeta);
  for (i = 0; i < f->nmeta; i++) {
    lua_pushstring(L, f->meta[i].value);
    lua_setfield(L, -2, f->meta[i].key);
  }
  lt_st_free(f);       /* free the names now rather than at the next GC */
  *pf = NULL;
  return 2;
}

/* ---------------------------------------------------------------- save */

/* the string key at -2 of a lua_next loop, checked: no embedded NUL */
static const char *lb_savekey(lua_State *L, const char *what) {
  size_t len;
  const char *k;
  if (lua_type(L, -2) != LUA_TSTRING)
    luaL_error(L, "save: %s must be a string, got a %s", what, luaL_typename(L, -2));
  k = lua_tolstring(L, -2, &len);
  if (strlen(k) != len) luaL_error(L, "save: %s '%s' contains a NUL byte", what, k);
  return k;
}

/* number of pairs in the table at idx (which must not be modified later) */
static int lb_count(lua_State *L, int idx, const char *what) {
  lua_Integer n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    n++;
  }
  if (n > 0x7fffffff / (lua_Integer)sizeof(void *))
    luaL_error(L, "save: too many %s", what);
  return (int)n;
}

/*
** Gather names and tensors (and metadata keys and values) into arrays
** owned by Lua userdata, so an error while collecting leaks nothing.
** The strings stay alive because the tables stay on the stack.
*/
static int lb_save(lua_State *L) {
  const char *path = lb_checkpath(L, "save");
  const char **names, **mkeys = NULL, **mvals = NULL;
  lt_tensor **ts;
  int n, nmeta = 0, i = 0;
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  n = lb_count(L, 2, "tensors");
  names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
  ts = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *ts, 0);
  lua_pushnil(L);
  while (i < n && lua_next(L, 2)) {
    const char *k = lb_savekey(L, "tensor name");
    lt_tensor *t = lb_testtensor(L, -1);
    if (t == NULL)
      luaL_error(L, "save: '%s' is not a tensor (got %s)", k, luaL_typename(L, -1));
    names[i] = k;
    ts[i++] = t;
    lua_pop(L, 1);
  }
  if (lua_istable(L, 3)) {
    nmeta = lb_count(L, 3, "metadata keys");
    mkeys = lua_newuserdatauv(L, (size_t)(nmeta ? nmeta : 1) * sizeof *mkeys, 0);
    mvals = lua_newuserdatauv(L, (size_t)(nmeta ? nmeta : 1) * sizeof *mvals, 0);
    i = 0;
    lua_pushnil(L);
    while (i < nmeta && lua_next(L, 3)) {
      const char *k = lb_savekey(L, "metadata key");
      size_t len;
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "save: metadata value for '%s' must be a string, got %s", k,
                   luaL_typename(L, -1));
      mvals[i] = lua_tolstring(L, -1, &len);
      if (strlen(mvals[i]) != len)
        luaL_error(L, "save: metadata value for '%s' contains a NUL byte", k);
      mkeys[i++] = k;
      lua_pop(L, 1);
    }
  }
  if (lt_st_save(path, n, names, ts, nmeta, mkeys, mvals)) return lb_error(L);
  return 0;
}

/* ---------------------------------------------------------------- open */

const luaL_Reg lb_io_funcs[] = {
  {"save", lb_save},
  {"load", lb_load},
  {NULL, NULL}
};

const luaL_Reg lb_stfile_meta[] = {
  {"__gc", lb_stfile_gc},
  {NULL, NULL}
};
