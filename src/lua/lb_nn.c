/*
** lua_nn.c -- binding of the fused layer ops (ops_nn.c).
*/
#include "lbind.h"
#include "ops.h"

static lt_tensor *lt_lua_opttensor(lua_State *L, int idx, const char *op) {
  return lua_isnoneornil(L, idx) ? NULL : lt_lua_check(L, idx, op);
}

static int lt_lua_linear(lua_State *L) {
  lt_tensor *x = lt_lua_check(L, 1, "linear"), *w = lt_lua_check(L, 2, "linear");
  return lt_lua_push(L, lt_linear(x, w, lt_lua_opttensor(L, 3, "linear")));
}

/* ids are 1-based like every index the user sees: shift at the border */
static int lt_lua_embedding(lua_State *L) {
  lt_tensor *ids = lt_lua_totensor(L, 1, "embedding"), *w = lt_lua_check(L, 2, "embedding");
  lt_tensor **box = lt_lua_newbox(L);
  lt_lua_fill(L, box, lt_binary_scalar(LT_SUB, ids, 1.0f, 0));
  return lt_lua_push(L, lt_embedding(*box, w));
}

static int lt_lua_layer_norm(lua_State *L) {
  lt_tensor *x = lt_lua_check(L, 1, "layer_norm");
  lt_tensor *w = lt_lua_opttensor(L, 2, "layer_norm"), *b = lt_lua_opttensor(L, 3, "layer_norm");
  return lt_lua_push(L, lt_layer_norm(x, w, b, (float)luaL_optnumber(L, 4, 1e-5)));
}

static int lt_lua_rms_norm(lua_State *L) {
  lt_tensor *x = lt_lua_check(L, 1, "rms_norm"), *w = lt_lua_opttensor(L, 2, "rms_norm");
  return lt_lua_push(L, lt_rms_norm(x, w, (float)luaL_optnumber(L, 3, 1e-6)));
}

static int lt_lua_rope(lua_State *L) {
  lt_tensor *x = lt_lua_check(L, 1, "rope"), *c = lt_lua_check(L, 2, "rope");
  lt_tensor *s = lt_lua_check(L, 3, "rope");
  int interleaved = lua_isnoneornil(L, 4) ? 1 : lua_toboolean(L, 4);
  return lt_lua_push(L, lt_rope(x, c, s, interleaved));
}

/* lunet.dropout(x, p [, training=true]): identity unless training and p > 0 */
static int lt_lua_dropout(lua_State *L) {
  lt_tensor *x = lt_lua_check(L, 1, "dropout");
  lua_Number p = luaL_optnumber(L, 2, 0.5);
  int training = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
  if (!(p >= 0 && p <= 1)) luaL_error(L, "dropout: p must be in [0, 1], got %f", p);
  if (!training || p == 0) { lua_settop(L, 1); return 1; }
  return lt_lua_push(L, lt_dropout(x, (float)p));
}

static const luaL_Reg lt_nn_funcs[] = {
  {"linear", lt_lua_linear}, {"embedding", lt_lua_embedding},
  {"layer_norm", lt_lua_layer_norm}, {"rms_norm", lt_lua_rms_norm},
  {"rope", lt_lua_rope}, {"dropout", lt_lua_dropout},
  {NULL, NULL}
};

void lt_lua_open_nn(lua_State *L) {
  lt_lua_register(L, lt_nn_funcs, NULL);
}
