/*
** lb_view.c -- geometry queries, views, element access (x[i], x[{i,j}],
** __len), joining and the few in-place writers (fill_, copy_, uniform_,
** normal_) that initialisers and optimisers need.
*/
#include <stdlib.h>
#include <string.h>

#include "lbind.h"
#include "autograd.h"
#include "dtype.h"
#include "ops.h"

/* ---------------------------------------------------------------- queries */

/* a fresh Lua sequence of n integers */
static int lb_push_dims(lua_State *L, const int64_t *v, int n) {
  int i;
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    lua_pushinteger(L, v[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int lb_shape(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "shape");
  return lb_push_dims(L, t->shape, t->ndim);
}

static int lb_stride(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "stride");
  return lb_push_dims(L, t->stride, t->ndim);
}

static int lb_size(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "size");
  if (lua_isnoneornil(L, 2)) return lb_shape(L);
  if (t->ndim == 0) luaL_error(L, "size: a 0-d tensor has no dims");
  lua_pushinteger(L, t->shape[lb_checkdim(L, 2, t->ndim, "size")]);
  return 1;
}

static int lb_dim(lua_State *L) {
  lua_pushinteger(L, lb_checkany(L, 1, "dim")->ndim);
  return 1;
}

static int lb_numel(lua_State *L) {
  lua_pushinteger(L, lt_numel(lb_checkany(L, 1, "numel")));
  return 1;
}

int lb_len(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "len");
  if (t->ndim == 0) luaL_error(L, "len: a 0-d tensor has no length");
  lua_pushinteger(L, t->shape[0]);
  return 1;
}

static int lb_is_contiguous(lua_State *L) {
  lua_pushboolean(L, lt_is_contiguous(lb_checkany(L, 1, "is_contiguous")));
  return 1;
}

/* ---------------------------------------------------------------- views */

/* the shape argument of view/reshape/expand: required (nil is no shape) */
static int lb_shape_arg(lua_State *L, int64_t *shape, const char *op) {
  if (lua_isnoneornil(L, 2)) luaL_error(L, "%s: shape required", op);
  return lb_checkshape(L, 2, shape, op);
}

typedef lt_tensor *(*lb_shaper)(lt_tensor *t, const int64_t *shape, int ndim);

/* x:view(shape), x:reshape(shape), x:expand(shape) */
static int lb_reshape_as(lua_State *L, const char *op, lb_shaper f) {
  int64_t shape[LT_MAXDIM];
  lt_tensor *t = lb_checkany(L, 1, op), **r;
  int n = lb_shape_arg(L, shape, op);
  r = lb_newbox(L);
  return lb_fill(L, r, f(t, shape, n));
}

static int lb_view(lua_State *L) { return lb_reshape_as(L, "view", lt_view); }
static int lb_reshape(lua_State *L) { return lb_reshape_as(L, "reshape", lt_reshape); }
static int lb_expand(lua_State *L) { return lb_reshape_as(L, "expand", lt_expand); }

static int lb_transpose(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "transpose"), **r;
  int a, b;
  if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3) && t->ndim == 2) { a = 0; b = 1; }   /* x:t() */
  else {
    a = lb_checkdim(L, 2, t->ndim, "transpose");
    b = lb_checkdim(L, 3, t->ndim, "transpose");
  }
  r = lb_newbox(L);
  return lb_fill(L, r, lt_transpose(t, a, b));
}

static int lb_t(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "t"), **r;
  if (t->ndim > 2) luaL_error(L, "t: expects a tensor with <= 2 dims, got %d", t->ndim);
  if (t->ndim < 2) {   /* a no-op view, still on the graph */
    int perm[1] = {0};
    r = lb_newbox(L);
    return lb_fill(L, r, lt_permute(t, perm, t->ndim));
  }
  r = lb_newbox(L);
  return lb_fill(L, r, lt_transpose(t, 0, 1));
}

static int lb_permute(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "permute"), **r;
  int perm[LT_MAXDIM], i, n, table = lua_istable(L, 2);
  n = table ? (int)luaL_len(L, 2) : lua_gettop(L) - 1;   /* x:permute{..} or (...) */
  if (n != t->ndim) luaL_error(L, "permute: %d dims given for a %d-d tensor", n, t->ndim);
  for (i = 0; i < n; i++) {
    if (table) lua_geti(L, 2, i + 1); else lua_pushvalue(L, i + 2);
    perm[i] = lb_checkdim(L, -1, t->ndim, "permute");
    lua_pop(L, 1);
  }
  r = lb_newbox(L);
  return lb_fill(L, r, lt_permute(t, perm, n));
}

/* start is 1-based like everything the user sees */
static int lb_narrow(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "narrow"), **r;
  int d = lb_checkdim(L, 2, t->ndim, "narrow");
  lua_Integer given = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
  lua_Integer start = given < 0 ? given + t->shape[d] + 1 : given;   /* -1 is the last */
  if (t->ndim == 0) luaL_error(L, "narrow: cannot narrow a 0-d tensor");
  if (start < 1 || len < 0 || start - 1 > t->shape[d] || len > t->shape[d] - (start - 1))
    luaL_error(L, "narrow: start %I and length %I exceed dim %d of size %I", (LUAI_UACINT)given,
               (LUAI_UACINT)len, d + 1, (LUAI_UACINT)t->shape[d]);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_narrow(t, d, start - 1, len));
}

static int lb_select(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "select"), **r;
  int d = lb_checkdim(L, 2, t->ndim, "select");
  lua_Integer given = luaL_checkinteger(L, 3), i = given < 0 ? given + t->shape[d] + 1 : given;
  if (t->ndim > 0 && (i < 1 || i > t->shape[d]))
    luaL_error(L, "select: index %d out of range for dim %d of size %d", (int)given, d + 1,
               (int)t->shape[d]);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_select(t, d, i - 1));
}

static int lb_unsqueeze(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "unsqueeze"), **r;
  lua_Integer d = luaL_checkinteger(L, 2);
  if (d == 0 || d > t->ndim + 1 || d < -(t->ndim + 1))
    luaL_error(L, "unsqueeze: dim %d out of range for a %d-d tensor", (int)d, t->ndim);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_unsqueeze(t, d > 0 ? (int)d - 1 : (int)d));
}

static int lb_squeeze(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "squeeze"), **r;
  int all = lua_isnoneornil(L, 2), d = all ? 0 : lb_checkdim(L, 2, t->ndim, "squeeze");
  r = lb_newbox(L);
  return lb_fill(L, r, all ? lt_squeeze_all(t) : lt_squeeze(t, d));
}

static int lb_flatten(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "flatten");
  int s = lua_isnoneornil(L, 2) ? 0 : lb_checkdim(L, 2, t->ndim, "flatten");
  int e = lua_isnoneornil(L, 3) ? (t->ndim ? t->ndim - 1 : 0)
                                : lb_checkdim(L, 3, t->ndim, "flatten");
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_flatten(t, s, e));
}

static int lb_contiguous(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "contiguous");
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_contiguous(t));
}

static int lb_clone(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "clone");
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_clone(t));
}

static int lb_detach(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "detach");
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_detach(t));
}

/* ---------------------------------------------------------------- split, chunk, cat, stack */

/* push views of `size` (the last may be shorter) along dim d */
static int lb_pieces(lua_State *L, lt_tensor *t, int d, int64_t size) {
  int64_t start = 0, k = 1;
  lua_newtable(L);
  do {   /* an empty dim still gives one (empty) piece, as in PyTorch */
    int64_t len = t->shape[d] - start < size ? t->shape[d] - start : size;
    lt_tensor **r = lb_newbox(L);
    lb_fill(L, r, lt_narrow(t, d, start, len));
    lua_rawseti(L, -2, (lua_Integer)k++);
    start += size;
  } while (start < t->shape[d]);
  return 1;
}

static int lb_split(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "split");
  lua_Integer size = luaL_checkinteger(L, 2);
  int d = lua_isnoneornil(L, 3) ? 0 : lb_checkdim(L, 3, t->ndim, "split");
  if (t->ndim == 0) luaL_error(L, "split: cannot split a 0-d tensor");
  if (size <= 0) luaL_error(L, "split: size must be positive, got %d", (int)size);
  return lb_pieces(L, t, d, size);
}

static int lb_chunk(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "chunk");
  lua_Integer n = luaL_checkinteger(L, 2);
  int d = lua_isnoneornil(L, 3) ? 0 : lb_checkdim(L, 3, t->ndim, "chunk");
  if (t->ndim == 0) luaL_error(L, "chunk: cannot chunk a 0-d tensor");
  if (n <= 0) luaL_error(L, "chunk: number of chunks must be positive, got %d", (int)n);
  return lb_pieces(L, t, d, t->shape[d] ? (t->shape[d] - 1) / n + 1 : 1);
}

/* the tensors of the list at idx, in a userdata-owned array (freed by GC) */
static lt_tensor **lb_tensor_list(lua_State *L, int idx, int *n, const char *op) {
  lt_tensor **ts;
  int i;
  luaL_checktype(L, idx, LUA_TTABLE);
  /* raw access: a metamethod could hand out tensors that nothing keeps
  ** alive once popped, and a collection would free them under us */
  *n = (int)lua_rawlen(L, idx);
  if (*n <= 0) luaL_error(L, "%s: expected a non-empty list of tensors", op);
  ts = lua_newuserdatauv(L, (size_t)*n * sizeof *ts, 0);
  for (i = 1; i <= *n; i++) {
    lua_rawgeti(L, idx, i);
    if ((ts[i - 1] = lb_testtensor(L, -1)) == NULL)
      luaL_error(L, "%s: entry %d is %s, expected a tensor", op, i, luaL_typename(L, -1));
    lua_pop(L, 1);   /* still referenced by the list */
  }
  return ts;
}

/* the list at 1 with every tensor promoted to one dtype, as PyTorch's
** cat does: a new list replaces it when any needed converting */
static void lb_promote_list(lua_State *L, lt_tensor **ts, int n) {
  lt_dtype dt = lt_dtypeof(ts[0]);
  int i;
  for (i = 1; i < n; i++) dt = lt_promote(dt, lt_dtypeof(ts[i]));
  for (i = 0; i < n && lt_dtypeof(ts[i]) == dt; i++) {}
  if (i == n) return;
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    lt_tensor **r = lb_newbox(L);
    lb_fill(L, r, lt_to_dtype(ts[i], dt));
    lua_rawseti(L, -2, i + 1);
  }
  lua_replace(L, 1);
}

static int lb_join(lua_State *L, int stack) {
  const char *op = stack ? "stack" : "cat";
  int n, d, nodim = lua_isnoneornil(L, 2);
  lt_tensor **ts, **r;
  lua_settop(L, 2);
  ts = lb_tensor_list(L, 1, &n, op);
  lb_promote_list(L, ts, n);
  lua_settop(L, 2);   /* the list's array is pushed at 3 */
  ts = lb_tensor_list(L, 1, &n, op);
  d = nodim ? 0 : lb_checkdim(L, 2, ts[0]->ndim + stack, op);
  r = lb_newbox(L);
  return lb_fill(L, r, stack ? lt_stack(ts, n, d) : lt_cat(ts, n, d));
}

static int lb_cat(lua_State *L) { return lb_join(L, 0); }
static int lb_stack(lua_State *L) { return lb_join(L, 1); }

/* ---------------------------------------------------------------- element access */

/* a full 1-based index table {i, j, ...} -> address of the element */
static void *lb_elem(lua_State *L, lt_tensor *t, int idx, const char *op) {
  int64_t ix[LT_MAXDIM];
  int n, i;
  luaL_checktype(L, idx, LUA_TTABLE);
  n = (int)luaL_len(L, idx);
  if (n != t->ndim)
    luaL_error(L, "%s: %d indices for a %d-d tensor", op, n, t->ndim);
  for (i = 0; i < n; i++) {
    lua_Integer given, v;
    lua_geti(L, idx, i + 1);
    if (!lb_toint(L, -1, &v))
      luaL_error(L, "%s: index %d must be an integer, got %s", op, i + 1,
                 lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
    given = v;
    lua_pop(L, 1);
    if (v < 0) v += t->shape[i] + 1;
    if (v < 1 || v > t->shape[i])
      luaL_error(L, "%s: index %d out of range for dim %d of size %d", op,
                 (int)given, i + 1, (int)t->shape[i]);
    ix[i] = v - 1;
  }
  return lt_elem_ptr(t, ix);
}

/*
** Before any in-place write: writing into a tensor that takes part in
** autograd would corrupt gradients, so it needs no_grad; and the storage's
** version is bumped so that a backward which saved the old values refuses.
*/
static void lb_check_writable(lua_State *L, lt_tensor *t, const char *op) {
  if (lt_grad_enabled() && lt_needs_grad(t))
    luaL_error(L, "%s: in-place write to a tensor that requires grad "
               "(wrap it in lunet.no_grad)", op);
  lt_bump_version(t);
}

/* the value at v stored at p (an element of t), checked first */
static void lb_write_elem(lua_State *L, lt_tensor *t, void *p, int v, const char *op) {
  int64_t buf;   /* room for any element */
  lb_toelem(L, v, lt_dtypeof(t), &buf, op, "value");
  lb_check_writable(L, t, op);
  memcpy(p, &buf, lt_dtype_size(lt_dtypeof(t)));
}

static int lb_get(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "get");
  lb_pushelem(L, lt_dtypeof(t), lb_elem(L, t, 2, "get"));
  return 1;
}

static int lb_set(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "set");
  lb_write_elem(L, t, lb_elem(L, t, 2, "set"), 3, "set");
  lua_settop(L, 1);
  return 1;
}

static int lb_item(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "item");
  int64_t zero[LT_MAXDIM] = {0};
  char b[160];
  if (lt_numel(t) != 1)
    luaL_error(L, "item: tensor of shape %s has %d elements, expected 1",
               lt_shape_str(t, b, sizeof b), (int)lt_numel(t));
  lb_pushelem(L, lt_dtypeof(t), lt_elem_ptr(t, zero));
  return 1;
}

static void lb_totable_rec(lua_State *L, lt_tensor *t, int d, int64_t off) {
  int64_t i;
  size_t size = lt_dtype_size(lt_dtypeof(t));
  if (d == t->ndim) {
    lb_pushelem(L, lt_dtypeof(t), (char *)t->st->data + off * (int64_t)size);
    return;
  }
  luaL_checkstack(L, 3, "totable");
  lua_createtable(L, (int)t->shape[d], 0);
  for (i = 0; i < t->shape[d]; i++) {
    lb_totable_rec(L, t, d + 1, off + i * t->stride[d]);
    lua_rawseti(L, -2, i + 1);
  }
}

static int lb_totable(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "totable");
  lb_totable_rec(L, t, 0, t->offset);
  return 1;
}

/* an integer key of x[i]: the element address for a 1-d tensor, else
** NULL with *i the 0-based row */
static void *lb_row_key(lua_State *L, lt_tensor *t, lua_Integer *i, const char *op) {
  lua_Integer given = *i;
  if (t->ndim == 0) luaL_error(L, "%s: cannot index a 0-d tensor", op);
  if (*i < 0) *i += t->shape[0] + 1;
  if (*i < 1 || *i > t->shape[0])
    luaL_error(L, "%s: index %d out of range for dim 1 of size %d", op, (int)given,
               (int)t->shape[0]);
  (*i)--;
  if (t->ndim > 1) return NULL;
  return (char *)lt_ptr(t) + *i * t->stride[0] * (int64_t)lt_dtype_size(lt_dtypeof(t));
}

/* x[i] selects along dim 1 (a value for a 1-d tensor); x[{i,j}] an
** element; x[mask] and x[ids] (tensors) are lb_index.c's */
int lb_index_key(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "index"), **r;
  lua_Integer i;
  void *p;
  if (lua_type(L, 2) == LUA_TTABLE) {
    lb_pushelem(L, lt_dtypeof(t), lb_elem(L, t, 2, "index"));
    return 1;
  }
  if (lb_testtensor(L, 2)) return lb_index_tensor(L);
  if (lb_toint(L, 2, &i)) {
    if ((p = lb_row_key(L, t, &i, "index")) != NULL) {
      lb_pushelem(L, lt_dtypeof(t), p);
      return 1;
    }
    r = lb_newbox(L);
    return lb_fill(L, r, lt_select(t, 0, i));
  }
  return luaL_error(L, "index: cannot index a tensor with a %s", luaL_typename(L, 2));
}

int lb_newindex_key(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "index assignment");
  lua_Integer i;
  void *p;
  if (lua_type(L, 2) == LUA_TTABLE) {
    lb_write_elem(L, t, lb_elem(L, t, 2, "index assignment"), 3, "index assignment");
    return 0;
  }
  if (lb_testtensor(L, 2)) return lb_newindex_tensor(L);
  if (lb_toint(L, 2, &i) && t->ndim == 1) {
    p = lb_row_key(L, t, &i, "index assignment");
    lb_write_elem(L, t, p, 3, "index assignment");
    return 0;
  }
  return luaL_error(L, "index assignment: cannot assign to a tensor with a %s key",
                    luaL_typename(L, 2));
}

/* ---------------------------------------------------------------- in-place writers */

/* every element of t, in logical order, from gen (an element of t's dtype) */
static void lb_write_with(lt_tensor *t, void (*gen)(void *, void *), void *ud) {
  int64_t idx[LT_MAXDIM] = {0}, n = lt_numel(t), k;
  int d;
  for (k = 0; k < n; k++) {
    gen(lt_elem_ptr(t, idx), ud);
    for (d = t->ndim - 1; d >= 0; d--) {
      if (++idx[d] < t->shape[d]) break;
      idx[d] = 0;
    }
  }
}

typedef struct lb_gen { size_t size; int64_t v; float a, b; } lb_gen;

static void lb_gen_const(void *p, void *ud) {
  lb_gen *g = ud;
  memcpy(p, &g->v, g->size);
}
static void lb_gen_uniform(void *p, void *ud) {
  lb_gen *g = ud;
  *(float *)p = (float)(g->a + (g->b - g->a) * lt_rng_uniform());
}
static void lb_gen_normal(void *p, void *ud) {
  lb_gen *g = ud;
  *(float *)p = (float)(g->a + g->b * lt_rng_normal());
}

/* uniform_ and normal_: float32 tensors, two parameters */
static int lb_write_random(lua_State *L, const char *op, void (*gen)(void *, void *),
                           lua_Number d1, lua_Number d2) {
  lt_tensor *t = lb_checkany(L, 1, op);
  lb_gen g;
  g.a = (float)luaL_optnumber(L, 2, d1);
  g.b = (float)luaL_optnumber(L, 3, d2);
  if (lt_dtypeof(t) != LT_FLOAT32)
    luaL_error(L, "%s: draws float32 values, the tensor is %s", op, lt_dtype_name(lt_dtypeof(t)));
  lb_check_writable(L, t, op);
  lb_write_with(t, gen, &g);
  lua_settop(L, 1);
  return 1;
}

static int lb_fill_(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "fill_");
  lb_gen g;
  luaL_checkany(L, 2);   /* the value is required */
  g.size = lt_dtype_size(lt_dtypeof(t));
  lb_toelem(L, 2, lt_dtypeof(t), &g.v, "fill_", "value");
  lb_check_writable(L, t, "fill_");
  lb_write_with(t, lb_gen_const, &g);
  lua_settop(L, 1);
  return 1;
}

static int lb_uniform_(lua_State *L) { return lb_write_random(L, "uniform_", lb_gen_uniform, 0, 1); }
static int lb_normal_(lua_State *L) { return lb_write_random(L, "normal_", lb_gen_normal, 0, 1); }

const luaL_Reg lb_view_funcs[] = {
  {"cat", lb_cat}, {"stack", lb_stack},
  {NULL, NULL}
};

const luaL_Reg lb_view_methods[] = {
  {"shape", lb_shape}, {"size", lb_size}, {"stride", lb_stride},
  {"dim", lb_dim}, {"numel", lb_numel}, {"is_contiguous", lb_is_contiguous},
  {"view", lb_view}, {"reshape", lb_reshape}, {"expand", lb_expand},
  {"transpose", lb_transpose}, {"t", lb_t}, {"permute", lb_permute},
  {"narrow", lb_narrow}, {"select", lb_select}, {"unsqueeze", lb_unsqueeze},
  {"squeeze", lb_squeeze}, {"flatten", lb_flatten},
  {"contiguous", lb_contiguous}, {"clone", lb_clone}, {"detach", lb_detach},
  {"split", lb_split}, {"chunk", lb_chunk},
  {"get", lb_get}, {"set", lb_set}, {"item", lb_item},
  {"totable", lb_totable},
  {"fill_", lb_fill_}, {"uniform_", lb_uniform_}, {"normal_", lb_normal_},
  {NULL, NULL}
};
