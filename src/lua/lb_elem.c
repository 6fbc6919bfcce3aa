/*
** lua_elem.c -- binding of the elementwise ops: arithmetic metamethods,
** comparisons, unary functions, clamp, where, masked_fill.
*/
#include <math.h>
#include <string.h>

#include "lbind.h"
#include "ops.h"

/* a op b where either side may be a number (kept scalar, no table) */
static int lt_lua_binop(lua_State *L, lt_binop op) {
  const char *name = lt_binop_name(op);
  if (lua_type(L, 1) == LUA_TNUMBER && lt_lua_test(L, 2))
    return lt_lua_push(L, lt_binary_scalar(op, lt_lua_test(L, 2),
                                           (float)lua_tonumber(L, 1), 1));
  if (lua_type(L, 2) == LUA_TNUMBER && lt_lua_test(L, 1))
    return lt_lua_push(L, lt_binary_scalar(op, lt_lua_test(L, 1),
                                           (float)lua_tonumber(L, 2), 0));
  {
    lt_tensor *a = lt_lua_totensor(L, 1, name), *b = lt_lua_totensor(L, 2, name);
    return lt_lua_push(L, lt_binary(op, a, b));
  }
}

static int lt_lua_add(lua_State *L) { return lt_lua_binop(L, LT_ADD); }
static int lt_lua_sub(lua_State *L) { return lt_lua_binop(L, LT_SUB); }
static int lt_lua_mul(lua_State *L) { return lt_lua_binop(L, LT_MUL); }
static int lt_lua_div(lua_State *L) { return lt_lua_binop(L, LT_DIV); }
static int lt_lua_pow(lua_State *L) { return lt_lua_binop(L, LT_POW); }
static int lt_lua_maximum(lua_State *L) { return lt_lua_binop(L, LT_MAXIMUM); }
static int lt_lua_minimum(lua_State *L) { return lt_lua_binop(L, LT_MINIMUM); }
static int lt_lua_eq(lua_State *L) { return lt_lua_binop(L, LT_EQ); }
static int lt_lua_ne(lua_State *L) { return lt_lua_binop(L, LT_NE); }
static int lt_lua_lt(lua_State *L) { return lt_lua_binop(L, LT_LT); }
static int lt_lua_le(lua_State *L) { return lt_lua_binop(L, LT_LE); }
static int lt_lua_gt(lua_State *L) { return lt_lua_binop(L, LT_GT); }
static int lt_lua_ge(lua_State *L) { return lt_lua_binop(L, LT_GE); }

static int lt_lua_unop(lua_State *L, lt_unop op) {
  return lt_lua_push(L, lt_unary(op, lt_lua_check(L, 1, lt_unop_name(op))));
}

static int lt_lua_neg(lua_State *L) { return lt_lua_unop(L, LT_NEG); }
static int lt_lua_exp(lua_State *L) { return lt_lua_unop(L, LT_EXP); }
static int lt_lua_log(lua_State *L) { return lt_lua_unop(L, LT_LOG); }
static int lt_lua_sqrt(lua_State *L) { return lt_lua_unop(L, LT_SQRT); }
static int lt_lua_rsqrt(lua_State *L) { return lt_lua_unop(L, LT_RSQRT); }
static int lt_lua_abs(lua_State *L) { return lt_lua_unop(L, LT_ABS); }
static int lt_lua_tanh(lua_State *L) { return lt_lua_unop(L, LT_TANH); }
static int lt_lua_sigmoid(lua_State *L) { return lt_lua_unop(L, LT_SIGMOID); }
static int lt_lua_relu(lua_State *L) { return lt_lua_unop(L, LT_RELU); }
static int lt_lua_silu(lua_State *L) { return lt_lua_unop(L, LT_SILU); }
static int lt_lua_sin(lua_State *L) { return lt_lua_unop(L, LT_SIN); }
static int lt_lua_cos(lua_State *L) { return lt_lua_unop(L, LT_COS); }
static int lt_lua_square(lua_State *L) { return lt_lua_unop(L, LT_SQUARE); }

/* x:gelu() is exact (erf); x:gelu('tanh') the tanh approximation */
static int lt_lua_gelu(lua_State *L) {
  const char *approx = luaL_optstring(L, 2, "none");
  if (strcmp(approx, "tanh") == 0) return lt_lua_unop(L, LT_GELU_TANH);
  if (strcmp(approx, "none") != 0)
    luaL_error(L, "gelu: approximate must be 'none' or 'tanh', got '%s'", approx);
  return lt_lua_unop(L, LT_GELU);
}

static int lt_lua_clamp(lua_State *L) {
  lt_tensor *t = lt_lua_check(L, 1, "clamp");
  float lo = (float)luaL_optnumber(L, 2, -INFINITY), hi = (float)luaL_optnumber(L, 3, INFINITY);
  if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3))
    luaL_error(L, "clamp: at least one of min and max must be given");
  return lt_lua_push(L, lt_clamp(t, lo, hi));
}

static int lt_lua_where(lua_State *L) {
  lt_tensor *c = lt_lua_totensor(L, 1, "where");
  lt_tensor *a = lt_lua_totensor(L, 2, "where"), *b = lt_lua_totensor(L, 3, "where");
  return lt_lua_push(L, lt_where(c, a, b));
}

static int lt_lua_masked_fill(lua_State *L) {
  lt_tensor *t = lt_lua_check(L, 1, "masked_fill");
  lt_tensor *m = lt_lua_totensor(L, 2, "masked_fill");
  return lt_lua_push(L, lt_masked_fill(t, m, (float)luaL_checknumber(L, 3)));
}

static const luaL_Reg lt_elem_funcs[] = {
  {"add", lt_lua_add}, {"sub", lt_lua_sub}, {"mul", lt_lua_mul}, {"div", lt_lua_div},
  {"pow", lt_lua_pow}, {"maximum", lt_lua_maximum}, {"minimum", lt_lua_minimum},
  {"eq", lt_lua_eq}, {"ne", lt_lua_ne}, {"lt", lt_lua_lt}, {"le", lt_lua_le},
  {"gt", lt_lua_gt}, {"ge", lt_lua_ge},
  {"neg", lt_lua_neg}, {"exp", lt_lua_exp}, {"log", lt_lua_log}, {"sqrt", lt_lua_sqrt},
  {"rsqrt", lt_lua_rsqrt}, {"abs", lt_lua_abs}, {"tanh", lt_lua_tanh},
  {"sigmoid", lt_lua_sigmoid}, {"relu", lt_lua_relu}, {"gelu", lt_lua_gelu},
  {"silu", lt_lua_silu}, {"sin", lt_lua_sin}, {"cos", lt_lua_cos},
  {"square", lt_lua_square}, {"clamp", lt_lua_clamp}, {"where", lt_lua_where},
  {"masked_fill", lt_lua_masked_fill},
  {NULL, NULL}
};

static const luaL_Reg lt_elem_meta[] = {
  {"__add", lt_lua_add}, {"__sub", lt_lua_sub}, {"__mul", lt_lua_mul},
  {"__div", lt_lua_div}, {"__pow", lt_lua_pow}, {"__unm", lt_lua_neg},
  {NULL, NULL}
};

void lt_lua_open_elem(lua_State *L) {
  /* every function is also a method: x:exp(), x:add(y), x:where(a, b)... */
  lt_lua_register(L, lt_elem_funcs, lt_elem_funcs);
  luaL_getmetatable(L, LT_TENSOR_MT);
  luaL_setfuncs(L, lt_elem_meta, 0);
  lua_pop(L, 1);
}
