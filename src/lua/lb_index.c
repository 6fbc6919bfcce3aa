/*
** lb_index.c -- binding of indexing, ordering and scans (ops_index.c,
** ops_sort.c), each both lunet.foo(x, ...) and x:foo(...):
**
**   x:gather(dim, index)              x:scatter(dim, index, src|number)
**   x:scatter_add(dim, index, src)    x:index_select(dim, index)
**   x:index_add(dim, index, src)      x:masked_select(mask)
**   x:masked_scatter(mask, src)       x:tril([k]) x:triu([k])
**   x:flip(dims)                      x:roll(shifts [, dims])
**   x:repeat_tensor(n1, n2, ...)      x:tile(n1, ...)    (also x["repeat"])
**   x:sort([dim] [, descending])      x:argsort([dim] [, descending])
**   x:topk(k [, dim [, largest]])     x:cumsum(dim)  x:cumprod(dim)
**   x[mask], x[ids], x[mask] = v
**
** Indices (index, ids, the indices returned) are 1-based int64 on this
** side; an index may also be a float tensor of whole numbers or a table.
** In-place forms scatter_, scatter_add_, index_add_, masked_scatter_
** go through lb_inplace.
*/
#include "lbind.h"
#include "ops.h"

/* the index argument at idx as a 0-based int64 tensor owned by the stack */
static lt_tensor *lb_checkindex(lua_State *L, int idx, const char *op) {
  lt_tensor *t = lb_toany(L, idx, op), **r;
  idx = lua_absindex(L, idx);
  r = lb_newbox(L);
  lb_fill(L, r, lt_ids(op, "indices", t, -1));
  lua_replace(L, idx);
  return *r;
}

/* src at idx: a tensor, or a number made a tensor of x's dtype shaped like index */
static lt_tensor *lb_checksrc(lua_State *L, int idx, lt_tensor *x, lt_tensor *index,
                              const char *op) {
  int64_t buf = 0;
  lt_tensor **r;
  if (lua_type(L, idx) != LUA_TNUMBER && !lua_isboolean(L, idx)) return lb_checkany(L, idx, op);
  lb_toelem(L, idx, lt_dtypeof(x), &buf, op, "src");
  r = lb_newbox(L);
  lb_fill(L, r, lt_full_raw(index->shape, index->ndim, lt_dtypeof(x), &buf));
  lua_replace(L, idx);
  return *r;
}

/* ---------------------------------------------------------------- gather, scatter, index_* */

typedef lt_tensor *(*lb_indexer)(lt_tensor *x, int dim, lt_tensor *index);

/* x:gather(dim, index) and x:index_select(dim, index) */
static int lb_by_index(lua_State *L, const char *op, lb_indexer f) {
  lt_tensor *x = lb_checkany(L, 1, op), *ix, **r;
  int d = lb_checkdim(L, 2, x->ndim, op);
  ix = lb_checkindex(L, 3, op);
  r = lb_newbox(L);
  return lb_fill(L, r, f(x, d, ix));
}

static int lb_gather(lua_State *L) { return lb_by_index(L, "gather", lt_gather); }
static int lb_index_select(lua_State *L) { return lb_by_index(L, "index_select", lt_index_select); }

static int lb_scatter_as(lua_State *L, const char *op, int add) {
  lt_tensor *x = lb_checkany(L, 1, op), *ix, *src, **r;
  int d = lb_checkdim(L, 2, x->ndim, op);
  ix = lb_checkindex(L, 3, op);
  src = lb_checksrc(L, 4, x, ix, op);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_scatter(x, d, ix, src, add));
}

static int lb_scatter(lua_State *L) { return lb_scatter_as(L, "scatter", 0); }
static int lb_scatter_add(lua_State *L) { return lb_scatter_as(L, "scatter_add", 1); }

static int lb_index_add(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "index_add"), *ix, *src, **r;
  int d = lb_checkdim(L, 2, x->ndim, "index_add");
  ix = lb_checkindex(L, 3, "index_add");
  src = lb_checkany(L, 4, "index_add");
  r = lb_newbox(L);
  return lb_fill(L, r, lt_index_add(x, d, ix, src));
}

static int lb_masked_select(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "masked_select"), *m = lb_toany(L, 2, "masked_select");
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_masked_select(x, m));
}

static int lb_masked_scatter(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "masked_scatter"), *m = lb_toany(L, 2, "masked_scatter");
  lt_tensor *src = lb_checkany(L, 3, "masked_scatter"), **r = lb_newbox(L);
  return lb_fill(L, r, lt_masked_scatter(x, m, src));
}

static int lb_scatter_(lua_State *L) { return lb_inplace(L, "scatter_", lb_scatter); }
static int lb_scatter_add_(lua_State *L) { return lb_inplace(L, "scatter_add_", lb_scatter_add); }
static int lb_index_add_(lua_State *L) { return lb_inplace(L, "index_add_", lb_index_add); }
static int lb_masked_scatter_(lua_State *L) {
  return lb_inplace(L, "masked_scatter_", lb_masked_scatter);
}

/* ---------------------------------------------------------------- x[tensor] */

/*
** A bool mask indexes x's leading dims, as in PyTorch: its shape must be
** x's first mask.ndim sizes.  Replaces the mask at idx by a view of it
** with a 1 for each further dim of x (so the core's broadcasting
** masked_select and masked_scatter take whole trailing blocks), and
** returns how many further dims there are.  With sel, also the shape of
** the selection, {count, x's further sizes...} (count: the mask's trues).
*/
static int lb_leading_mask(lua_State *L, lt_tensor *x, int idx, const char *op, int64_t *sel) {
  lt_tensor *k = lb_checkany(L, idx, op), **r;
  int64_t shape[LT_MAXDIM];
  char b1[160], b2[160];
  int i, rest = x->ndim - k->ndim;
  for (i = 0; i < k->ndim && rest >= 0; i++)
    if (k->shape[i] != x->shape[i]) rest = -1;
  if (rest < 0)
    luaL_error(L, "%s: a mask of shape %s does not match the leading dims of %s "
               "(masked_select and masked_fill broadcast)", op,
               lt_shape_str(k, b1, sizeof b1), lt_shape_str(x, b2, sizeof b2));
  if (sel) {
    if ((sel[0] = lt_masked_count(k, k)) < 0) luaL_error(L, "%s: %s", op, lt_errmsg());
    for (i = 0; i < rest; i++) sel[i + 1] = x->shape[k->ndim + i];
  }
  if (rest == 0) return 0;
  for (i = 0; i < x->ndim; i++) shape[i] = i < k->ndim ? k->shape[i] : 1;
  r = lb_newbox(L);
  lb_fill(L, r, lt_reshape(k, shape, x->ndim));
  lua_replace(L, idx);
  return rest;
}

/* x[mask] (bool): the selected blocks, {count, x.shape[mask.ndim+1..]};
** x[ids] (integers): rows of dim 1, shaped ids.shape .. x.shape[2..] */
int lb_index_tensor(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "index"), *k = lb_checkany(L, 2, "index"), *ix, *flat, *sel;
  lt_tensor **r;
  int64_t shape[LT_MAXDIM], n;
  int i;
  if (lt_dtypeof(k) == LT_BOOL) {
    int rest = lb_leading_mask(L, x, 2, "index", shape);
    r = lb_newbox(L);
    sel = lb_fill(L, r, lt_masked_select(x, lb_checkany(L, 2, "index"))) ? *r : NULL;
    if (rest == 0) return 1;
    r = lb_newbox(L);
    return lb_fill(L, r, lt_reshape(sel, shape, rest + 1));
  }
  if (!lt_is_integral(lt_dtypeof(k)))
    luaL_error(L, "index: a %s tensor cannot index (a bool mask or integer ids can; "
               "m:bool() or ids:long() converts)", lt_dtype_name(lt_dtypeof(k)));
  if (x->ndim == 0) luaL_error(L, "index: cannot index a 0-d tensor");
  if (k->ndim + x->ndim - 1 > LT_MAXDIM) luaL_error(L, "index: result has too many dims");
  ix = lb_checkindex(L, 2, "index");
  n = lt_numel(ix);
  r = lb_newbox(L);
  flat = lb_fill(L, r, lt_reshape(ix, &n, 1)) ? *r : NULL;
  r = lb_newbox(L);
  sel = lb_fill(L, r, lt_index_select(x, 0, flat)) ? *r : NULL;
  for (i = 0; i < ix->ndim; i++) shape[i] = ix->shape[i];
  for (i = 1; i < x->ndim; i++) shape[ix->ndim + i - 1] = x->shape[i];
  r = lb_newbox(L);
  return lb_fill(L, r, lt_reshape(sel, shape, ix->ndim + x->ndim - 1));
}

/* whether v fits the selection sel {count, rest...}, as PyTorch has it:
** v's shape, leading 1s aside, is that shape or, with rest > 0, one
** block's, {rest...} (one value for every block) */
static int lb_fits_blocks(const lt_tensor *v, const int64_t *sel, int rest) {
  int i = 0, n;
  while (i < v->ndim - 1 && v->shape[i] == 1) i++;
  n = v->ndim - i;
  if (n == rest + 1) return memcmp(v->shape + i, sel, (size_t)n * sizeof *sel) == 0;
  return rest > 0 && n == rest && memcmp(v->shape + i, sel + 1, (size_t)n * sizeof *sel) == 0;
}

/* v at idx as the selection sel {count, rest...} in row-major order, for
** masked_scatter: v is that shape or one block's (lb_fits_blocks) */
static void lb_blocks_value(lua_State *L, int idx, const int64_t *sel, int rest) {
  lt_tensor *v = lb_checkany(L, idx, "index assignment"), **r, *e;
  int whole = v->ndim >= rest + 1 && v->shape[v->ndim - rest - 1] == sel[0];
  r = lb_newbox(L);                  /* leading 1s gone; a block for every one */
  e = lb_fill(L, r, lt_reshape(v, whole ? sel : sel + 1, whole ? rest + 1 : rest)) ? *r : NULL;
  r = lb_newbox(L);
  e = lb_fill(L, r, lt_expand(e, sel, rest + 1)) ? *r : NULL;
  r = lb_newbox(L);
  lb_fill(L, r, lt_contiguous(e));
  lua_replace(L, idx);
  lua_settop(L, idx);
}

/* x[mask] = v: a number (or one-element tensor) fills the selected
** blocks; a tensor shaped like them ({count, rest...}), or like one block,
** is scattered in row-major order */
int lb_newindex_tensor(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "index assignment");
  lt_tensor *k = lb_checkany(L, 2, "index assignment"), *v = lb_testtensor(L, 3);
  int64_t sel[LT_MAXDIM];
  char b[160], b2[160];
  int rest;
  if (lt_dtypeof(k) != LT_BOOL)
    luaL_error(L, "index assignment: only a bool mask can be assigned through (x[mask] = v); "
               "for ids use index_add or scatter");
  lua_settop(L, 3);
  if (v && lt_numel(v) != 1) {
    rest = lb_leading_mask(L, x, 2, "index assignment", sel);
    if (!lb_fits_blocks(v, sel, rest)) {
      if (rest == 0)
        luaL_error(L, "index assignment: the mask selects %I elements, got a tensor of shape %s",
                   (LUAI_UACINT)sel[0], lt_shape_str(v, b, sizeof b));
      luaL_error(L, "index assignment: the mask selects %s, got a tensor of shape %s",
                 lt_dims_str(sel, rest + 1, b2, sizeof b2), lt_shape_str(v, b, sizeof b));
    }
    if (rest > 0) lb_blocks_value(L, 3, sel, rest);
  } else {
    lb_leading_mask(L, x, 2, "index assignment", NULL);
  }
  if (v && lt_numel(v) == 1) {
    lua_getfield(L, 3, "item");
    lua_pushvalue(L, 3);
    lua_call(L, 1, 1);
    lua_replace(L, 3);
    v = NULL;
  }
  lb_inplace_as(L, v ? "masked_scatter_" : "masked_fill_", "index assignment",
                v ? lb_masked_scatter : lb_masked_fill);
  return 0;
}

/* ---------------------------------------------------------------- tril, triu, flip, roll, repeat */

static int lb_tri(lua_State *L, int upper) {
  const char *op = upper ? "triu" : "tril";
  lt_tensor *x = lb_checkany(L, 1, op), **r;
  lua_Integer k = 0;
  if (!lua_isnoneornil(L, 2) && !lb_toint(L, 2, &k))
    luaL_error(L, "%s: diagonal must be an integer, got %s", op, luaL_typename(L, 2));
  r = lb_newbox(L);
  return lb_fill(L, r, lt_tri(x, k, upper));
}

static int lb_tril(lua_State *L) { return lb_tri(L, 0); }
static int lb_triu(lua_State *L) { return lb_tri(L, 1); }

/* integers from a table at idx, or from the varargs idx..top */
static int lb_intlist(lua_State *L, int idx, int64_t *out, const char *op, const char *what) {
  int n, i, table = lua_istable(L, idx);
  n = table ? (int)luaL_len(L, idx) : lua_gettop(L) - idx + 1;
  if (n > LT_MAXDIM) luaL_error(L, "%s: %d %s (at most %d)", op, n, what, LT_MAXDIM);
  for (i = 0; i < n; i++) {
    lua_Integer v;
    if (table) lua_geti(L, idx, i + 1); else lua_pushvalue(L, idx + i);
    if (!lb_toint(L, -1, &v))
      luaL_error(L, "%s: %s must be integers, got %s", op, what, luaL_typename(L, -1));
    out[i] = v;
    lua_pop(L, 1);
  }
  return n;
}

/* dims from a table or one number, 1-based -> 0-based (the core checks them) */
static int lb_dimlist(lua_State *L, int idx, lt_tensor *x, int *dims, const char *op) {
  int64_t v[LT_MAXDIM];
  int n, i;
  n = lb_intlist(L, idx, v, op, "dims");
  for (i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)v[i]);
    dims[i] = lb_checkdim(L, -1, x->ndim, op);
    lua_pop(L, 1);
  }
  return n;
}

static int lb_flip(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "flip"), **r;
  int dims[LT_MAXDIM], n;
  if (lua_isnoneornil(L, 2)) luaL_error(L, "flip: dims required");
  n = lb_dimlist(L, 2, x, dims, "flip");
  r = lb_newbox(L);
  return lb_fill(L, r, lt_flip(x, dims, n));
}

static int lb_roll(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "roll"), **r;
  int64_t shifts[LT_MAXDIM];
  int dims[LT_MAXDIM], ns, nd = 0;
  lua_settop(L, 3);
  if (lua_isnil(L, 2)) luaL_error(L, "roll: shifts required");
  ns = lua_istable(L, 2) ? lb_intlist(L, 2, shifts, "roll", "shifts") : 1;
  if (!lua_istable(L, 2)) {
    lua_Integer s;
    if (!lb_toint(L, 2, &s)) luaL_error(L, "roll: shifts must be integers, got %s", luaL_typename(L, 2));
    shifts[0] = s;
  }
  if (!lua_isnil(L, 3)) nd = lb_dimlist(L, 3, x, dims, "roll");
  if (nd != ns && !(nd == 0 && ns == 1))
    luaL_error(L, "roll: %d shifts for %d dims", ns, nd);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_roll(x, shifts, dims, nd));
}

static int lb_repeat(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "repeat"), **r;
  int64_t reps[LT_MAXDIM];
  int n = lb_intlist(L, 2, reps, "repeat", "repeats");
  r = lb_newbox(L);
  return lb_fill(L, r, lt_repeat("repeat", x, reps, n));
}

/* tile: repeat with missing leading counts taken as 1 */
static int lb_tile(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "tile"), **r;
  int64_t given[LT_MAXDIM], reps[LT_MAXDIM];
  int n = lb_intlist(L, 2, given, "tile", "repeats"), m = n > x->ndim ? n : x->ndim, i;
  for (i = 0; i < m; i++) reps[i] = i < m - n ? 1 : given[i - (m - n)];
  r = lb_newbox(L);
  return lb_fill(L, r, lt_repeat("tile", x, reps, m));
}

/* ---------------------------------------------------------------- sort, topk, scans */

static const char *const lb_sort_options[] = {"dim", "descending", "stable", NULL};
static const char *const lb_topk_options[] = {"dim", "largest", "sorted", NULL};

/* the field `key` of the options table at o (a boolean), or dflt */
static int lb_optbool(lua_State *L, int o, const char *key, int dflt) {
  int v = dflt;
  if (!lua_istable(L, o)) return v;
  if (lua_getfield(L, o, key) != LUA_TNIL) v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* the dim: positional at pos, or opts.dim; -1 (the last) by default */
static int lb_optdim_at(lua_State *L, int pos, int o, lt_tensor *x, const char *op) {
  if (lua_type(L, pos) == LUA_TNUMBER) return lb_checkdim(L, pos, x->ndim, op);
  if (lua_istable(L, o) && lua_getfield(L, o, "dim") != LUA_TNIL) {
    int d = lb_checkdim(L, -1, x->ndim, op);
    lua_pop(L, 1);
    return d;
  }
  if (lua_istable(L, o)) lua_pop(L, 1);
  return -1;
}

/* x:sort([dim] [, descending] [, {dim=, descending=, stable=}]): values, indices */
static int lb_sort_as(lua_State *L, const char *op, int want_values) {
  lt_tensor *x = lb_checkany(L, 1, op), *v = NULL, *ix = NULL, **vb, **ib;
  int top = lua_gettop(L), o = top > 1 && lua_istable(L, top) ? top : top + 1, d, desc;
  lb_checkoptions(L, o, op, lb_sort_options);
  d = lb_optdim_at(L, 2, o, x, op);
  desc = lua_isboolean(L, 3) ? lua_toboolean(L, 3) : lb_optbool(L, o, "descending", 0);
  vb = lb_newbox(L);
  ib = lb_newbox(L);
  if (lt_sort(x, d, desc, &v, &ix)) return lb_error(L);
  lb_fill(L, vb, v);
  lb_fill(L, ib, lt_ids(op, "indices", ix, 1));
  lt_tensor_release(ix);
  if (want_values) return 2;
  lua_remove(L, -2);
  return 1;
}

static int lb_sort(lua_State *L) { return lb_sort_as(L, "sort", 1); }
static int lb_argsort(lua_State *L) { return lb_sort_as(L, "argsort", 0); }

/* x:topk(k [, dim [, largest]] [, {dim=, largest=, sorted=}]): values, indices */
static int lb_topk(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "topk"), *v = NULL, *ix = NULL, **vb, **ib;
  int top = lua_gettop(L), o = top > 1 && lua_istable(L, top) ? top : top + 1, d, largest;
  lua_Integer k;
  lb_checkoptions(L, o, "topk", lb_topk_options);
  if (!lb_toint(L, 2, &k)) luaL_error(L, "topk: k must be an integer, got %s", luaL_typename(L, 2));
  d = lb_optdim_at(L, 3, o, x, "topk");
  largest = lua_isboolean(L, 4) ? lua_toboolean(L, 4) : lb_optbool(L, o, "largest", 1);
  vb = lb_newbox(L);
  ib = lb_newbox(L);
  if (lt_topk(x, k, d, largest, &v, &ix)) return lb_error(L);
  lb_fill(L, vb, v);
  lb_fill(L, ib, lt_ids("topk", "indices", ix, 1));
  lt_tensor_release(ix);
  return 2;
}

static int lb_scan(lua_State *L, const char *op, lt_tensor *(*f)(lt_tensor *, int)) {
  lt_tensor *x = lb_checkany(L, 1, op), **r;
  int d;
  if (lua_isnoneornil(L, 2)) luaL_error(L, "%s: dim required", op);
  d = lb_checkdim(L, 2, x->ndim, op);
  r = lb_newbox(L);
  return lb_fill(L, r, f(x, d));
}

static int lb_cumsum(lua_State *L) { return lb_scan(L, "cumsum", lt_cumsum); }
static int lb_cumprod(lua_State *L) { return lb_scan(L, "cumprod", lt_cumprod); }

const luaL_Reg lb_index_funcs[] = {
  {"gather", lb_gather}, {"scatter", lb_scatter}, {"scatter_add", lb_scatter_add},
  {"index_select", lb_index_select}, {"index_add", lb_index_add},
  {"masked_select", lb_masked_select}, {"masked_scatter", lb_masked_scatter},
  {"scatter_", lb_scatter_}, {"scatter_add_", lb_scatter_add_},
  {"index_add_", lb_index_add_}, {"masked_scatter_", lb_masked_scatter_},
  {"tril", lb_tril}, {"triu", lb_triu}, {"flip", lb_flip}, {"roll", lb_roll},
  {"repeat", lb_repeat}, {"repeat_tensor", lb_repeat}, {"tile", lb_tile},
  {"sort", lb_sort}, {"argsort", lb_argsort}, {"topk", lb_topk},
  {"cumsum", lb_cumsum}, {"cumprod", lb_cumprod},
  {NULL, NULL}
};
