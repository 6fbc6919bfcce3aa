/*
** lb_aux.c -- what every binding file uses (lauxlib's role): tensors in
** and out of the stack, dims, shapes and option tables.
*/
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"
#include "alloc.h"
#include "autograd.h"
#include "dtype.h"

/* ---------------------------------------------------------------- tensors in */

lt_tensor *lb_testtensor(lua_State *L, int idx) {
  lt_tensor **box = luaL_testudata(L, idx, LB_TENSOR);
  return box ? *box : NULL;
}

lt_tensor *lb_checkany(lua_State *L, int idx, const char *op) {
  lt_tensor *t = lb_testtensor(L, idx);
  if (t == NULL)
    luaL_error(L, "%s: argument %d must be a tensor, got %s", op, idx,
               luaL_typename(L, idx));
  return t;
}

/* the float32 tensor at idx: others are replaced by a float32 copy, which
** the stack slot then owns */
static lt_tensor *lb_float(lua_State *L, int idx, lt_tensor *t) {
  lt_tensor **r;
  if (lt_dtypeof(t) == LT_FLOAT32) return t;
  idx = lua_absindex(L, idx);
  r = lb_newbox(L);
  lb_fill(L, r, lt_to_dtype(t, LT_FLOAT32));
  lua_replace(L, idx);
  return *r;
}

lt_tensor *lb_checktensor(lua_State *L, int idx, const char *op) {
  return lb_float(L, idx, lb_checkany(L, idx, op));
}

lt_tensor *lb_opttensor(lua_State *L, int idx, const char *op) {
  return lua_isnoneornil(L, idx) ? NULL : lb_checktensor(L, idx, op);
}

lt_tensor *lb_totensor(lua_State *L, int idx, const char *op) {
  return lb_float(L, idx, lb_toany(L, idx, op));
}

lt_tensor *lb_toany(lua_State *L, int idx, const char *op) {
  lt_tensor *t = lb_testtensor(L, idx);
  if (t) return t;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TNUMBER) {
    float v = (float)lua_tonumber(L, idx);
    lt_tensor **r = lb_newbox(L);
    lb_fill(L, r, lt_scalar(v));
  } else if (lua_type(L, idx) == LUA_TTABLE) {
    lua_pushcfunction(L, lb_fromtable);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
  } else {
    luaL_error(L, "%s: argument %d must be a tensor or number, got %s", op, idx,
               luaL_typename(L, idx));
  }
  lua_replace(L, idx);
  return lb_testtensor(L, idx);
}

/* ---------------------------------------------------------------- results */

/* the key under which table t (an absolute index) holds the value on top */
static const char *lb_keyof(lua_State *L, int t) {
  if (!lua_istable(L, t)) return NULL;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_rawequal(L, -1, -3) && lua_type(L, -2) == LUA_TSTRING) {
      lua_pop(L, 1);
      return lua_tostring(L, -1);         /* the key stays on the stack */
    }
    lua_pop(L, 1);
  }
  return NULL;
}

/*
** The name of the running C function: its key in lunet's function or
** method table (so also when it was called through pcall or a local
** alias), else what the caller called it.  Leaves values on the stack.
*/
static const char *lb_callee(lua_State *L) {
  lua_Debug ar;
  const char *name;
  int top;
  if (!lua_getstack(L, 0, &ar) || !lua_getinfo(L, "nf", &ar)) return NULL;
  lua_getfield(L, LUA_REGISTRYINDEX, LB_FUNCTIONS);
  top = lua_gettop(L);
  lua_pushvalue(L, top - 1);              /* the function, on top */
  if ((name = lb_keyof(L, top)) != NULL) return name;
  lua_settop(L, top);
  if (lua_istable(L, top) && lua_getfield(L, top, "Tensor") == LUA_TTABLE) {
    lua_pushvalue(L, top - 1);
    if ((name = lb_keyof(L, top + 1)) != NULL) return name;
  }
  return ar.name;
}

int lb_error(lua_State *L) {
  const char *msg = lt_errmsg(), *name;
  /* the allocator cannot know which op asked: name the function called */
  if (strncmp(msg, "out of memory", 13) == 0 && (name = lb_callee(L)) != NULL)
    return luaL_error(L, "%s: %s", name, msg);
  return luaL_error(L, "%s", msg);
}

/*
** Lua's collector counts only what Lua allocated; a tensor box looks like
** 8 bytes to it.  So when the C-side bytes have grown past a threshold
** since the last collection, collect now and set the next threshold at
** twice what survived: memory stays within about 2x the live set.
*/
static size_t lb_gc_threshold = 64u << 20;

static void lb_gcpressure(lua_State *L) {
  size_t live = lt_mem_live();
  if (live < lb_gc_threshold) return;
  lua_gc(L, LUA_GCCOLLECT);
  live = lt_mem_live();
  lb_gc_threshold = live * 2 > (64u << 20) ? live * 2 : (64u << 20);
}

/*
** When a tensor buffer cannot be had, the core calls this before giving
** up (alloc.h): a full collection frees the tensors only Lua's garbage
** still holds.  It runs on the main thread, which outlives every other,
** and a sentinel's finalizer unsets it when that state closes.
*/
static void lb_release(void *ud) {
  lua_gc((lua_State *)ud, LUA_GCCOLLECT);
}

static int lb_unhook(lua_State *L) {
  if (lt_release_hook_ud() == lua_touserdata(L, lua_upvalueindex(1)))
    lt_set_release_hook(NULL, NULL);
  return 0;
}

void lb_sethook(lua_State *L) {
  lua_State *main;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  main = lua_tothread(L, -1);
  lua_pop(L, 1);
  if (lua_getfield(L, LUA_REGISTRYINDEX, "lunet.releasehook") == LUA_TNIL) {
    lua_newuserdatauv(L, 0, 0);           /* the sentinel, once per state */
    lua_createtable(L, 0, 1);
    lua_pushlightuserdata(L, main);
    lua_pushcclosure(L, lb_unhook, 1);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "lunet.releasehook");
  }
  lua_pop(L, 1);
  lt_set_release_hook(lb_release, main);
}

lt_tensor **lb_newbox(lua_State *L) {
  lt_tensor **box;
  lb_gcpressure(L);
  if (lt_anomaly_enabled()) lb_anomaly_where(L);
  box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;   /* valid empty: __gc frees whatever is there */
  luaL_setmetatable(L, LB_TENSOR);
  return box;
}

int lb_fill(lua_State *L, lt_tensor **box, lt_tensor *t) {
  if (t == NULL) return lb_error(L);
  *box = t;
  return 1;
}

/* ---------------------------------------------------------------- dims and shapes */

int lb_toint(lua_State *L, int idx, lua_Integer *v) {
  int ok;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  *v = lua_tointegerx(L, idx, &ok);
  return ok;
}

/* what the value at idx is, for "must be an integer, got ..." */
static const char *lb_what(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx);
}

int lb_checkdim(lua_State *L, int idx, int ndim, const char *op) {
  lua_Integer d;
  int n = ndim > 0 ? ndim : 1;
  if (!lb_toint(L, idx, &d))
    luaL_error(L, "%s: dim must be an integer, got %s", op, lb_what(L, idx));
  if (d == 0 || d > n || d < -n)
    luaL_error(L, "%s: dim %I out of range for a %d-d tensor", op, (LUAI_UACINT)d, ndim);
  return d > 0 ? (int)d - 1 : (int)(d + n);
}

lua_Number lb_checknumber(lua_State *L, int idx, const char *op, const char *what) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "%s: %s must be a number, got %s", op, what, luaL_typename(L, idx));
  return lua_tonumber(L, idx);
}

lua_Number lb_optnumber(lua_State *L, int idx, lua_Number dflt, const char *op, const char *what) {
  return lua_isnoneornil(L, idx) ? dflt : lb_checknumber(L, idx, op, what);
}

/* one shape entry: an integer (>= -1: -1 means "infer" to those who allow it) */
static int64_t lb_shape_entry(lua_State *L, int idx, int i, const char *op) {
  lua_Integer v;
  if (!lb_toint(L, idx, &v))
    luaL_error(L, "%s: shape entry %d must be an integer, got %s", op, i, lb_what(L, idx));
  if (v < -1) luaL_error(L, "%s: shape entry %d is negative (%I)", op, i, (LUAI_UACINT)v);
  return (int64_t)v;
}

int lb_checksize(lua_State *L, const int64_t *shape, int n, const char *op) {
  char b[160];
  int i;
  for (i = 0; i < n; i++)   /* lb_shape_entry let -1 through, for view's sake */
    if (shape[i] < 0) luaL_error(L, "%s: shape entry %d is negative (-1)", op, i + 1);
  if (lt_contig_strides(shape, n, NULL) < 0)
    luaL_error(L, "%s: shape %s has too many elements", op, lt_dims_str(shape, n, b, sizeof b));
  return n;
}

int lb_checkshape(lua_State *L, int idx, int64_t *shape, const char *op) {
  int n, i;
  if (lua_type(L, idx) == LUA_TTABLE) {
    n = (int)luaL_len(L, idx);
    if (n > LT_MAXDIM) luaL_error(L, "%s: %d dimensions (at most %d)", op, n, LT_MAXDIM);
    for (i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      shape[i - 1] = lb_shape_entry(L, -1, i, op);
      lua_pop(L, 1);
    }
    return n;
  }
  n = lua_gettop(L) - idx + 1;
  while (n > 0 && lua_type(L, idx + n - 1) != LUA_TNUMBER) n--;   /* trailing opts */
  if (n > LT_MAXDIM) luaL_error(L, "%s: %d dimensions (at most %d)", op, n, LT_MAXDIM);
  if (n == 0 && !lua_isnoneornil(L, idx) && lua_type(L, idx) != LUA_TTABLE)
    luaL_error(L, "%s: shape must be a table of integers, got %s", op, luaL_typename(L, idx));
  for (i = 0; i < n; i++) shape[i] = lb_shape_entry(L, idx + i, i + 1, op);
  return n;
}

/* ---------------------------------------------------------------- dtypes and elements */

lt_dtype lb_checkdtype(lua_State *L, int idx, const char *op) {
  size_t len = 0;
  const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
  lt_dtype dt;
  /* the core parses C strings: one holding a '\0' ('int64\0x') names no dtype */
  if (s == NULL || strlen(s) != len || lt_dtype_parse(s, &dt))
    luaL_error(L, "%s: unknown dtype %s (float32, int64, int32, uint8, bool)", op,
               s ? lb_pushshown(L, idx) : luaL_typename(L, idx));
  return dt;
}

/* float32 as a Lua float, integers as Lua integers, bool as a boolean */
void lb_pushelem(lua_State *L, lt_dtype dt, const void *p) {
  if (dt == LT_FLOAT32) lua_pushnumber(L, lt_get_f64(dt, p));
  else if (dt == LT_BOOL) lua_pushboolean(L, *(const unsigned char *)p);
  else lua_pushinteger(L, (lua_Integer)lt_get_i64(dt, p));
}

/* the Lua value at idx, stored at p as dtype dt: a number for float32; a
** whole number in range for the integers; a boolean (or a number, nonzero
** meaning true) for bool.  `what` names the value in the error. */
void lb_toelem(lua_State *L, int idx, lt_dtype dt, void *p, const char *op,
               const char *what) {
  static const lua_Integer lo[LT_NDTYPES] = {0, LUA_MININTEGER, INT32_MIN, 0, 0};
  static const lua_Integer hi[LT_NDTYPES] = {0, LUA_MAXINTEGER, INT32_MAX, 255, 1};
  lua_Integer v;
  if (dt == LT_BOOL && lua_isboolean(L, idx)) { *(unsigned char *)p = lua_toboolean(L, idx); return; }
  if (lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "%s: %s is %s, expected a %s", op, what, luaL_typename(L, idx),
               dt == LT_BOOL ? "boolean" : "number");
  if (dt == LT_FLOAT32) { float f = (float)lua_tonumber(L, idx); memcpy(p, &f, 4); return; }
  if (dt == LT_BOOL) { *(unsigned char *)p = lua_tonumber(L, idx) != 0; return; }
  if (!lb_toint(L, idx, &v))
    luaL_error(L, "%s: %s is %s, not an integer (the tensor is %s)", op, what,
               lua_tostring(L, idx), lt_dtype_name(dt));
  if (v < lo[dt] || v > hi[dt])
    luaL_error(L, "%s: %s %I is out of range for %s", op, what, (LUAI_UACINT)v, lt_dtype_name(dt));
  lt_set_i64(dt, p, (int64_t)v);
}

/* ---------------------------------------------------------------- names */

/*
** A string argument naming one of a fixed set ('sum', 'tanh', a field of
** a tensor) is compared as Lua compares strings, with its length: it may
** hold a '\0', and 'sum\0x' is not 'sum' as a C string compare would
** say.  A message shows such a value whole, as Lua source would write it.
*/

int lb_findname(lua_State *L, int idx, const char *const *names) {
  size_t len;
  const char *s;
  int i;
  if (lua_type(L, idx) != LUA_TSTRING) return -1;
  s = lua_tolstring(L, idx, &len);
  for (i = 0; names[i]; i++)
    if (strlen(names[i]) == len && memcmp(s, names[i], len) == 0) return i;
  return -1;
}

const char *lb_pushshown(lua_State *L, int idx) {
  size_t n, i;
  const char *s = lua_tolstring(L, idx, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i++) {
    if (s[i] != '\0') luaL_addchar(&b, s[i]);
    else if (i + 1 < n && isdigit((unsigned char)s[i + 1]))
      luaL_addstring(&b, "\\000");      /* "\01" would be one escape */
    else luaL_addstring(&b, "\\0");
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

int lb_checkname(lua_State *L, int idx, const char *def, const char *const *names,
                 const char *op, const char *what) {
  luaL_Buffer b;
  const char *list;
  int i;
  if (def && lua_isnoneornil(L, idx)) {
    for (i = 0; strcmp(names[i], def) != 0; i++) {}
    return i;
  }
  if ((i = lb_findname(L, idx, names)) >= 0) return i;
  idx = lua_absindex(L, idx);
  luaL_buffinit(L, &b);                 /* 'a', 'b' or 'c' */
  for (i = 0; names[i]; i++) {
    if (i > 0) luaL_addstring(&b, names[i + 1] ? ", " : " or ");
    luaL_addchar(&b, '\'');
    luaL_addstring(&b, names[i]);
    luaL_addchar(&b, '\'');
  }
  luaL_pushresult(&b);
  list = lua_tostring(L, -1);
  if (lua_type(L, idx) == LUA_TSTRING)
    return luaL_error(L, "%s: %s must be %s, got '%s'", op, what, list, lb_pushshown(L, idx));
  return luaL_error(L, "%s: %s must be %s, got %s", op, what, list, luaL_typename(L, idx));
}

/* ---------------------------------------------------------------- options */

/*
** The near-miss rule and the choice of the key reported are lunet's one
** rule, which util.did_you_mean and util.check_options (lua/lunet/util.lua)
** document and the Lua side applies; this is the same rule in C, and
** spec/binding_spec.lua compares the two on the same typos.  A key is a
** Lua string with its length, as in Lua: it may hold a '\0'.
*/

#define LB_NAMELEN 32   /* the longest known option name lb_editdist handles */

static int lb_min3(int a, int b, int c) {
  int m = a < b ? a : b;
  return m < c ? m : c;
}

/*
** Optimal string alignment distance of a and b (a swap of two neighbours
** counts 1, so casual -> causal is 1), row by row over a's letters; b is
** a known option, so its rows are short.
*/
static int lb_editdist(const char *a, size_t alen, const char *b) {
  int rows[3][LB_NAMELEN + 1], *prev2 = rows[0], *prev = rows[1], *cur = rows[2], *t;
  int n = (int)alen, m = (int)strlen(b), i, j;
  if (m > LB_NAMELEN) return 1 << 20;   /* no known option is this long */
  for (j = 0; j <= m; j++) prev[j] = j;
  for (i = 1; i <= n; i++) {
    cur[0] = i;
    for (j = 1; j <= m; j++) {
      int d = lb_min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]));
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < d)
        d = prev2[j - 2] + 1;
      cur[j] = d;
    }
    t = prev2; prev2 = prev; prev = cur; cur = t;
  }
  return prev[m];
}

/* whether s (n bytes) holds sub (m bytes) */
static int lb_holds(const char *s, size_t n, const char *sub, size_t m) {
  size_t i;
  for (i = 0; i + m <= n; i++)
    if (memcmp(s + i, sub, m) == 0) return 1;
  return 0;
}

/* the known option that `name` (len bytes) is a likely misspelling of
** (util.did_you_mean's rule: at most a third of name's length in edits, at
** least one, or one name holding the other when both have 4 letters or
** more; the nearest, then the first in sorted order), or NULL */
static const char *lb_near(const char *name, size_t len, const char *const *known) {
  const char *best = NULL;
  int bestd = 0, i, limit = (int)(len / 3);
  if (limit < 1) limit = 1;
  for (i = 0; known[i]; i++) {
    size_t klen = strlen(known[i]);
    int d = lb_editdist(name, len, known[i]);
    int close = d <= limit || (len >= 4 && klen >= 4 &&
                               (lb_holds(known[i], klen, name, len) || lb_holds(name, len, known[i], klen)));
    if (close && (best == NULL || d < bestd || (d == bestd && strcmp(known[i], best) < 0))) {
      best = known[i];
      bestd = d;
    }
  }
  return best;
}

static int lb_strcmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "known options: a, b, c" (sorted) into b */
static void lb_addknown(luaL_Buffer *b, const char *const *known) {
  const char *sorted[64];
  int n = 0, i;
  while (known[n] && n < 64) { sorted[n] = known[n]; n++; }
  qsort(sorted, (size_t)n, sizeof sorted[0], lb_strcmp);
  luaL_addstring(b, "known options: ");
  for (i = 0; i < n; i++) {
    if (i) luaL_addstring(b, ", ");
    luaL_addstring(b, sorted[i]);
  }
}

/* raise the unknown-option error for the key at index key (its string
** at key + 1), at the position of the function that called the binding */
static int lb_unknown_option(lua_State *L, int key, const char *op, const char *const *known) {
  size_t len;
  const char *name = lua_tolstring(L, key + 1, &len);
  const char *near = lua_type(L, key) == LUA_TSTRING ? lb_near(name, len, known) : NULL;
  luaL_Buffer b;
  luaL_where(L, 1);
  lua_pushfstring(L, "%s: unknown option '", op);
  lb_pushshown(L, key + 1);             /* the name whole, '\0's shown */
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "' (");
  if (near) {
    luaL_addstring(&b, "did you mean '");
    luaL_addstring(&b, near);
    luaL_addstring(&b, "'?)");
  } else {
    lb_addknown(&b, known);
    luaL_addchar(&b, ')');
  }
  luaL_pushresult(&b);
  lua_concat(L, 4);
  return lua_error(L);
}

/* every key of the table at idx must be known; of several unknown keys the
** first in sorted order (of their tostring) is reported, as in Lua */
void lb_checkoptions(lua_State *L, int idx, const char *op, const char *const *known) {
  int bad;
  if (lua_isnoneornil(L, idx)) return;
  if (!lua_istable(L, idx))
    luaL_error(L, "%s: options must be a table, got %s", op, luaL_typename(L, idx));
  idx = lua_absindex(L, idx);
  lua_pushnil(L);                       /* bad key */
  lua_pushnil(L);                       /* its string */
  bad = lua_gettop(L) - 1;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lb_findname(L, -1, known) >= 0) continue;
    luaL_tolstring(L, -1, NULL);
    if (lua_isnil(L, bad + 1) || lua_compare(L, -1, bad + 1, LUA_OPLT)) {
      lua_replace(L, bad + 1);
      lua_pushvalue(L, -1);
      lua_replace(L, bad);
    } else {
      lua_pop(L, 1);
    }
  }
  if (!lua_isnil(L, bad + 1)) lb_unknown_option(L, bad, op, known);
  lua_pop(L, 2);
}
