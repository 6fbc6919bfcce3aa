/*
** lb_nn.c -- binding of the layer ops (ops_nn.c): linear, embedding, the
** norms, rotary embedding, dropout.
*/
#include "lbind.h"
#include "ops.h"

static int lb_linear(lua_State *L) {
  lt_tensor *x = lb_checktensor(L, 1, "linear"), *w = lb_checktensor(L, 2, "linear");
  lt_tensor *b = lb_opttensor(L, 3, "linear"), **r = lb_newbox(L);
  return lb_fill(L, r, lt_linear(x, w, b));
}

/* lunet.mlp(x, w1, b1, w2, b2 [, {approximate='none'|'tanh', residual=r}]):
** b1, b2 may be nil; r + the MLP when a residual is given */
static int lb_mlp(lua_State *L) {
  static const char *const known[] = {"approximate", "residual", NULL};
  static const char *const approximate[] = {"none", "tanh", NULL};
  lt_tensor *x = lb_checktensor(L, 1, "mlp"), *w1 = lb_checktensor(L, 2, "mlp");
  lt_tensor *b1 = lb_opttensor(L, 3, "mlp"), *w2 = lb_checktensor(L, 4, "mlp");
  lt_tensor *b2 = lb_opttensor(L, 5, "mlp"), *res = NULL, **r;
  int tanh_form = 0;
  lb_checkoptions(L, 6, "mlp", known);
  lua_settop(L, 6);
  if (lua_istable(L, 6)) {
    lua_getfield(L, 6, "approximate");
    tanh_form = lb_checkname(L, -1, "none", approximate, "mlp", "approximate") == 1;
    if (lua_getfield(L, 6, "residual") != LUA_TNIL && (res = lb_testtensor(L, -1)) == NULL)
      return luaL_error(L, "mlp: residual must be a tensor, got %s", luaL_typename(L, -1));
    lua_replace(L, 6);     /* keeps the residual alive */
  }
  lua_settop(L, 6);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_mlp(x, w1, b1, w2, b2, res, tanh_form));
}

/* ids are 1-based like every index the user sees: shift at the border
** (int64 ids, or float ones holding whole numbers) */
static int lb_embedding(lua_State *L) {
  lt_tensor *ids = lb_toany(L, 1, "embedding"), *w = lb_checktensor(L, 2, "embedding");
  lt_tensor **ids0 = lb_newbox(L), **r;
  lb_fill(L, ids0, lt_ids("embedding", "ids", ids, -1));
  r = lb_newbox(L);
  return lb_fill(L, r, lt_embedding(*ids0, w));
}

static int lb_layer_norm(lua_State *L) {
  lt_tensor *x = lb_checktensor(L, 1, "layer_norm");
  lt_tensor *w = lb_opttensor(L, 2, "layer_norm"), *b = lb_opttensor(L, 3, "layer_norm");
  float eps = (float)luaL_optnumber(L, 4, 1e-5);
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_layer_norm(x, w, b, eps));
}

static int lb_rms_norm(lua_State *L) {
  lt_tensor *x = lb_checktensor(L, 1, "rms_norm"), *w = lb_opttensor(L, 2, "rms_norm");
  float eps = (float)luaL_optnumber(L, 3, 1e-6);
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_rms_norm(x, w, eps));
}

static int lb_rope(lua_State *L) {
  lt_tensor *x = lb_checktensor(L, 1, "rope"), *c = lb_checktensor(L, 2, "rope");
  lt_tensor *s = lb_checktensor(L, 3, "rope"), **r;
  int interleaved = lua_isnoneornil(L, 4) ? 1 : lua_toboolean(L, 4);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_rope(x, c, s, interleaved));
}

/* lunet.dropout(x, p [, training=true]): identity unless training and p > 0 */
static int lb_dropout(lua_State *L) {
  lt_tensor *x = lb_checktensor(L, 1, "dropout"), **r;
  lua_Number p = luaL_optnumber(L, 2, 0.5);
  int training = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
  if (!(p >= 0 && p <= 1)) luaL_error(L, "dropout: p must be in [0, 1], got %f", p);
  if (!training || p == 0) { lua_settop(L, 1); return 1; }
  r = lb_newbox(L);
  return lb_fill(L, r, lt_dropout(x, (float)p));
}

const luaL_Reg lb_nn_funcs[] = {
  {"linear", lb_linear}, {"mlp", lb_mlp}, {"embedding", lb_embedding},
  {"layer_norm", lb_layer_norm}, {"rms_norm", lb_rms_norm},
  {"rope", lb_rope}, {"dropout", lb_dropout},
  {NULL, NULL}
};
