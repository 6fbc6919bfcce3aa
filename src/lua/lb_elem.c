/*
** lb_elem.c -- binding of the elementwise ops: arithmetic metamethods,
** comparisons, unary functions, clamp, where, masked_fill.  Each is both
** lunet.foo(x, ...) and x:foo(...).
*/
#include <math.h>
#include <string.h>

#include "lbind.h"
#include "ops.h"

/* a op b where either side may be a number (kept scalar, no table) */
static int lb_binop(lua_State *L, lt_binop op) {
  const char *name = lt_binop_name(op);
  lt_tensor *a, *b, **r;
  if (lua_type(L, 1) == LUA_TNUMBER && (b = lb_testtensor(L, 2)) != NULL) {
    float s = (float)lua_tonumber(L, 1);
    r = lb_newbox(L);
    return lb_fill(L, r, lt_binary_scalar(op, b, s, 1));
  }
  if (lua_type(L, 2) == LUA_TNUMBER && (a = lb_testtensor(L, 1)) != NULL) {
    float s = (float)lua_tonumber(L, 2);
    r = lb_newbox(L);
    return lb_fill(L, r, lt_binary_scalar(op, a, s, 0));
  }
  a = lb_totensor(L, 1, name);
  b = lb_totensor(L, 2, name);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_binary(op, a, b));
}

int lb_add(lua_State *L) { return lb_binop(L, LT_ADD); }
int lb_sub(lua_State *L) { return lb_binop(L, LT_SUB); }
int lb_mul(lua_State *L) { return lb_binop(L, LT_MUL); }
int lb_div(lua_State *L) { return lb_binop(L, LT_DIV); }
int lb_pow(lua_State *L) { return lb_binop(L, LT_POW); }
static int lb_maximum(lua_State *L) { return lb_binop(L, LT_MAXIMUM); }
static int lb_minimum(lua_State *L) { return lb_binop(L, LT_MINIMUM); }
static int lb_eq(lua_State *L) { return lb_binop(L, LT_EQ); }
static int lb_ne(lua_State *L) { return lb_binop(L, LT_NE); }
static int lb_lt(lua_State *L) { return lb_binop(L, LT_LT); }
static int lb_le(lua_State *L) { return lb_binop(L, LT_LE); }
static int lb_gt(lua_State *L) { return lb_binop(L, LT_GT); }
static int lb_ge(lua_State *L) { return lb_binop(L, LT_GE); }

static int lb_unop(lua_State *L, lt_unop op) {
  lt_tensor *x = lb_checktensor(L, 1, lt_unop_name(op));
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_unary(op, x));
}

int lb_unm(lua_State *L) { return lb_unop(L, LT_NEG); }
static int lb_exp(lua_State *L) { return lb_unop(L, LT_EXP); }
static int lb_log(lua_State *L) { return lb_unop(L, LT_LOG); }
static int lb_sqrt(lua_State *L) { return lb_unop(L, LT_SQRT); }
static int lb_rsqrt(lua_State *L) { return lb_unop(L, LT_RSQRT); }
static int lb_abs(lua_State *L) { return lb_unop(L, LT_ABS); }
static int lb_tanh(lua_State *L) { return lb_unop(L, LT_TANH); }
static int lb_sigmoid(lua_State *L) { return lb_unop(L, LT_SIGMOID); }
static int lb_relu(lua_State *L) { return lb_unop(L, LT_RELU); }
static int lb_silu(lua_State *L) { return lb_unop(L, LT_SILU); }
static int lb_sin(lua_State *L) { return lb_unop(L, LT_SIN); }
static int lb_cos(lua_State *L) { return lb_unop(L, LT_COS); }
static int lb_square(lua_State *L) { return lb_unop(L, LT_SQUARE); }

/* x:gelu() is exact (erf); x:gelu('tanh') the tanh approximation */
static int lb_gelu(lua_State *L) {
  const char *approx = luaL_optstring(L, 2, "none");
  if (strcmp(approx, "tanh") == 0) return lb_unop(L, LT_GELU_TANH);
  if (strcmp(approx, "none") != 0)
    luaL_error(L, "gelu: approximate must be 'none' or 'tanh', got '%s'", approx);
  return lb_unop(L, LT_GELU);
}

static int lb_clamp(lua_State *L) {
  lt_tensor *t = lb_checktensor(L, 1, "clamp"), **r;
  float lo = (float)luaL_optnumber(L, 2, -INFINITY), hi = (float)luaL_optnumber(L, 3, INFINITY);
  if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3))
    luaL_error(L, "clamp: at least one of min and max must be given");
  r = lb_newbox(L);
  return lb_fill(L, r, lt_clamp(t, lo, hi));
}

static int lb_where(lua_State *L) {
  lt_tensor *c = lb_totensor(L, 1, "where");
  lt_tensor *a = lb_totensor(L, 2, "where"), *b = lb_totensor(L, 3, "where");
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_where(c, a, b));
}

static int lb_masked_fill(lua_State *L) {
  lt_tensor *t = lb_checktensor(L, 1, "masked_fill");
  lt_tensor *m = lb_totensor(L, 2, "masked_fill");
  float v = (float)luaL_checknumber(L, 3);
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_masked_fill(t, m, v));
}

const luaL_Reg lb_elem_funcs[] = {
  {"add", lb_add}, {"sub", lb_sub}, {"mul", lb_mul}, {"div", lb_div},
  {"pow", lb_pow}, {"maximum", lb_maximum}, {"minimum", lb_minimum},
  {"eq", lb_eq}, {"ne", lb_ne}, {"lt", lb_lt}, {"le", lb_le},
  {"gt", lb_gt}, {"ge", lb_ge},
  {"neg", lb_unm}, {"exp", lb_exp}, {"log", lb_log}, {"sqrt", lb_sqrt},
  {"rsqrt", lb_rsqrt}, {"abs", lb_abs}, {"tanh", lb_tanh},
  {"sigmoid", lb_sigmoid}, {"relu", lb_relu}, {"gelu", lb_gelu},
  {"silu", lb_silu}, {"sin", lb_sin}, {"cos", lb_cos},
  {"square", lb_square}, {"clamp", lb_clamp}, {"where", lb_where},
  {"masked_fill", lb_masked_fill},
  {NULL, NULL}
};
