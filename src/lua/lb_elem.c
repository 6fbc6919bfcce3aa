/*
** lb_elem.c -- binding of the elementwise ops: arithmetic metamethods
** (+ - * / ^ % // and, on integer and bool tensors, & | ~ and xor),
** comparisons, unary functions, rounding, clamp, where, masked_fill,
** and the tests isnan/isinf/isfinite.  Each is both lunet.foo(x, ...)
** and x:foo(...).
**
** dtypes, as PyTorch: operands promote (bool < integers < float32); a
** Lua integer keeps an integer tensor's dtype, a Lua float makes it
** float32; / is true division (float32); comparisons give bool tensors.
** Float results run the float kernels, integer results ops_int.c's.
*/
#include <math.h>

#include "lbind.h"
#include "ops.h"

/* the integer op of each arithmetic binop (LT_DIV has none: true division) */
static const int lb_intop_of[] = {
  LT_IADD, LT_ISUB, LT_IMUL, -1, LT_IPOW, LT_IMAX, LT_IMIN
};

/* the number at idx as a 0-d tensor: float32 for a Lua float (or as
** float), int64 for a Lua integer; replaces the stack slot */
static lt_tensor *lb_scalar(lua_State *L, int idx, int as_float) {
  int64_t iv = (int64_t)lua_tointeger(L, idx);
  float f = (float)lua_tonumber(L, idx);
  lt_tensor **r = lb_newbox(L);
  if (lua_isinteger(L, idx) && !as_float) lb_fill(L, r, lt_full_raw(NULL, 0, LT_INT64, &iv));
  else lb_fill(L, r, lt_scalar(f));
  lua_replace(L, idx);
  return *r;
}

/*
** The operands at 1 and 2 as tensors (numbers made 0-d), and the dtype
** of the result: promote(a, b), except that a number does not widen a
** tensor of its own category (int32 + 1 stays int32).
*/
static lt_dtype lb_operands(lua_State *L, const char *op, lt_tensor **a, lt_tensor **b) {
  int na = lua_type(L, 1) == LUA_TNUMBER, nb = lua_type(L, 2) == LUA_TNUMBER;
  if (na && nb) {   /* where(c, 1, 0): two 0-d tensors */
    *a = lb_scalar(L, 1, !lua_isinteger(L, 1));
    *b = lb_scalar(L, 2, !lua_isinteger(L, 2));
    return lt_promote(lt_dtypeof(*a), lt_dtypeof(*b));
  }
  if (na || nb) {
    int s = na ? 1 : 2;
    lt_tensor *t = lb_toany(L, na ? 2 : 1, op);
    lt_dtype dt = lt_promote_scalar(lt_dtypeof(t), !lua_isinteger(L, s));
    lt_tensor *c = lb_scalar(L, s, lt_is_float(dt));
    *a = na ? c : t;
    *b = na ? t : c;
    return dt;
  }
  *a = lb_toany(L, 1, op);
  *b = lb_toany(L, 2, op);
  return lt_promote(lt_dtypeof(*a), lt_dtypeof(*b));
}

/* a op b, where either side may be a number */
static int lb_binop(lua_State *L, lt_binop op) {
  const char *name = lt_binop_name(op);
  lt_tensor *a, *b, **r;
  lt_dtype dt;
  /* the float hot path: a float32 tensor and a number, as before */
  if (lua_type(L, 1) == LUA_TNUMBER && (b = lb_testtensor(L, 2)) != NULL &&
      lt_dtypeof(b) == LT_FLOAT32 && op < LT_EQ) {
    float s = (float)lua_tonumber(L, 1);
    r = lb_newbox(L);
    return lb_fill(L, r, lt_binary_scalar(op, b, s, 1));
  }
  if (lua_type(L, 2) == LUA_TNUMBER && (a = lb_testtensor(L, 1)) != NULL &&
      lt_dtypeof(a) == LT_FLOAT32 && op < LT_EQ) {
    float s = (float)lua_tonumber(L, 2);
    r = lb_newbox(L);
    return lb_fill(L, r, lt_binary_scalar(op, a, s, 0));
  }
  lua_settop(L, 2);
  dt = lb_operands(L, name, &a, &b);
  if (op >= LT_EQ) {
    r = lb_newbox(L);
    return lb_fill(L, r, lt_compare(op, a, b));
  }
  if (lt_is_float(dt) || op == LT_DIV) {
    a = lb_checktensor(L, 1, name);
    b = lb_checktensor(L, 2, name);
    r = lb_newbox(L);
    return lb_fill(L, r, lt_binary(op, a, b));
  }
  r = lb_newbox(L);
  return lb_fill(L, r, lt_int_binary((lt_intop)lb_intop_of[op], a, b, dt));
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

/* fmod, remainder (%), floor_divide (//): the core promotes */
static int lb_divround(lua_State *L, const char *op, lt_tensor *(*f)(lt_tensor *, lt_tensor *)) {
  lt_tensor *a, *b, **r;
  lua_settop(L, 2);
  lb_operands(L, op, &a, &b);
  r = lb_newbox(L);
  return lb_fill(L, r, f(a, b));
}

static int lb_fmod(lua_State *L) { return lb_divround(L, "fmod", lt_fmod); }
int lb_mod(lua_State *L) { return lb_divround(L, "remainder", lt_remainder); }
int lb_idiv(lua_State *L) { return lb_divround(L, "floor_divide", lt_floor_divide); }

/* & | xor on integer and bool tensors (logical on bools) */
static int lb_bitop(lua_State *L, lt_intop op, const char *name) {
  lt_tensor *a, *b, **r;
  lt_dtype dt;
  lua_settop(L, 2);
  dt = lb_operands(L, name, &a, &b);
  if (lt_is_float(dt))
    luaL_error(L, "%s: float32 tensors have no bitwise ops (a:bool() or a:long() first)", name);
  r = lb_newbox(L);
  return lb_fill(L, r, lt_int_binary(op, a, b, dt));
}

int lb_band(lua_State *L) { return lb_bitop(L, LT_IAND, "bitwise_and"); }
int lb_bor(lua_State *L) { return lb_bitop(L, LT_IOR, "bitwise_or"); }
int lb_bxor(lua_State *L) { return lb_bitop(L, LT_IXOR, "bitwise_xor"); }

/* ~x: logical not of a bool tensor, bitwise not of an integer one */
int lb_bnot(lua_State *L) {
  lt_tensor *x = lb_checkany(L, 1, "bitwise_not"), *m, **r;
  if (lt_dtypeof(x) == LT_BOOL) {
    r = lb_newbox(L);
    return lb_fill(L, r, lt_test(LT_NOT, x));
  }
  if (lt_is_float(lt_dtypeof(x)))
    luaL_error(L, "bitwise_not: float32 tensors have no bitwise ops (use logical_not)");
  lua_settop(L, 1);
  r = lb_newbox(L);
  lb_fill(L, r, lt_scalar_dtype(-1, lt_dtypeof(x)));
  m = *r;
  r = lb_newbox(L);
  return lb_fill(L, r, lt_int_binary(LT_IXOR, x, m, lt_dtypeof(x)));
}

/* logical_and/or/xor: nonzero is true, any dtypes, bool result */
static int lb_logical(lua_State *L, lt_intop op, const char *name) {
  lt_tensor *a = lb_toany(L, 1, name), *b = lb_toany(L, 2, name), **ab, **bb, **r;
  ab = lb_newbox(L);
  lb_fill(L, ab, lt_to_dtype(a, LT_BOOL));
  bb = lb_newbox(L);
  lb_fill(L, bb, lt_to_dtype(b, LT_BOOL));
  r = lb_newbox(L);
  return lb_fill(L, r, lt_int_binary(op, *ab, *bb, LT_BOOL));
}

static int lb_logical_and(lua_State *L) { return lb_logical(L, LT_IAND, "logical_and"); }
static int lb_logical_or(lua_State *L) { return lb_logical(L, LT_IOR, "logical_or"); }
static int lb_logical_xor(lua_State *L) { return lb_logical(L, LT_IXOR, "logical_xor"); }

static int lb_testop(lua_State *L, lt_testop op, const char *name) {
  lt_tensor *x = lb_checkany(L, 1, name), **r = lb_newbox(L);
  return lb_fill(L, r, lt_test(op, x));
}

static int lb_isnan(lua_State *L) { return lb_testop(L, LT_ISNAN, "isnan"); }
static int lb_isinf(lua_State *L) { return lb_testop(L, LT_ISINF, "isinf"); }
static int lb_isfinite(lua_State *L) { return lb_testop(L, LT_ISFINITE, "isfinite"); }
static int lb_logical_not(lua_State *L) { return lb_testop(L, LT_NOT, "logical_not"); }

/* float ops: an integer or bool operand becomes float32 first */
static int lb_unop(lua_State *L, lt_unop op) {
  lt_tensor *x = lb_checktensor(L, 1, lt_unop_name(op));
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_unary(op, x));
}

/* neg, abs, square, relu keep an integer dtype, as in PyTorch */
static int lb_unop_int(lua_State *L, lt_unop op) {
  lt_tensor *x = lb_checkany(L, 1, lt_unop_name(op)), **r, *zero;
  if (lt_is_float(lt_dtypeof(x))) return lb_unop(L, op);
  lua_settop(L, 1);
  switch (op) {
  case LT_NEG: r = lb_newbox(L); return lb_fill(L, r, lt_int_neg(x));
  case LT_ABS: r = lb_newbox(L); return lb_fill(L, r, lt_int_abs(x));
  case LT_SQUARE: r = lb_newbox(L); return lb_fill(L, r, lt_int_binary(LT_IMUL, x, x, lt_dtypeof(x)));
  default:   /* relu */
    r = lb_newbox(L);
    lb_fill(L, r, lt_scalar_dtype(0, lt_dtypeof(x)));
    zero = *r;
    r = lb_newbox(L);
    return lb_fill(L, r, lt_int_binary(LT_IMAX, x, zero, lt_dtypeof(x)));
  }
}

int lb_unm(lua_State *L) { return lb_unop_int(L, LT_NEG); }
static int lb_exp(lua_State *L) { return lb_unop(L, LT_EXP); }
static int lb_log(lua_State *L) { return lb_unop(L, LT_LOG); }
static int lb_sqrt(lua_State *L) { return lb_unop(L, LT_SQRT); }
static int lb_rsqrt(lua_State *L) { return lb_unop(L, LT_RSQRT); }
static int lb_abs(lua_State *L) { return lb_unop_int(L, LT_ABS); }
static int lb_tanh(lua_State *L) { return lb_unop(L, LT_TANH); }
static int lb_sigmoid(lua_State *L) { return lb_unop(L, LT_SIGMOID); }
static int lb_relu(lua_State *L) { return lb_unop_int(L, LT_RELU); }
static int lb_silu(lua_State *L) { return lb_unop(L, LT_SILU); }
static int lb_sin(lua_State *L) { return lb_unop(L, LT_SIN); }
static int lb_cos(lua_State *L) { return lb_unop(L, LT_COS); }
static int lb_square(lua_State *L) { return lb_unop_int(L, LT_SQUARE); }

/* x:gelu() is exact (erf); x:gelu('tanh') the tanh approximation */
static int lb_gelu(lua_State *L) {
  static const char *const approximate[] = {"none", "tanh", NULL};
  int which = lb_checkname(L, 2, "none", approximate, "gelu", "approximate");
  return lb_unop(L, which == 1 ? LT_GELU_TANH : LT_GELU);
}

static int lb_roundop(lua_State *L, lt_roundop op, const char *name) {
  lt_tensor *x = lb_checkany(L, 1, name), **r = lb_newbox(L);
  return lb_fill(L, r, lt_round_op(op, x));
}

static int lb_floor(lua_State *L) { return lb_roundop(L, LT_FLOOR, "floor"); }
static int lb_ceil(lua_State *L) { return lb_roundop(L, LT_CEIL, "ceil"); }
static int lb_round(lua_State *L) { return lb_roundop(L, LT_ROUND, "round"); }
static int lb_trunc(lua_State *L) { return lb_roundop(L, LT_TRUNC, "trunc"); }
static int lb_sign(lua_State *L) { return lb_roundop(L, LT_SIGN, "sign"); }

int lb_clamp(lua_State *L) {
  lt_tensor *t = lb_checktensor(L, 1, "clamp"), **r;
  float lo = (float)lb_optnumber(L, 2, -INFINITY, "clamp", "min");
  float hi = (float)lb_optnumber(L, 3, INFINITY, "clamp", "max");
  if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3))
    luaL_error(L, "clamp: at least one of min and max must be given");
  r = lb_newbox(L);
  return lb_fill(L, r, lt_clamp(t, lo, hi));
}

/* where(cond, a, b): float results through lt_where (with gradients),
** integer and bool ones through lt_where_any; a and b may be numbers */
static int lb_where(lua_State *L) {
  lt_tensor *c = lb_toany(L, 1, "where"), *a, *b, **r;
  lt_dtype dt;
  lua_settop(L, 3);
  lua_rotate(L, 1, -1);                 /* a, b, cond */
  dt = lb_operands(L, "where", &a, &b);
  if (!lt_is_float(dt)) {
    r = lb_newbox(L);
    return lb_fill(L, r, lt_where_any(c, a, b));
  }
  c = lb_checktensor(L, 3, "where");
  a = lb_checktensor(L, 1, "where");
  b = lb_checktensor(L, 2, "where");
  r = lb_newbox(L);
  return lb_fill(L, r, lt_where(c, a, b));
}

/* masked_fill(x, mask, v): the mask broadcasts to x; v is stored as x's dtype */
int lb_masked_fill(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "masked_fill"), *m = lb_toany(L, 2, "masked_fill"), **r, **v;
  int64_t buf;
  if (lt_is_float(lt_dtypeof(t))) {
    float f = (float)lb_checknumber(L, 3, "masked_fill", "value");
    m = lb_totensor(L, 2, "masked_fill");
    r = lb_newbox(L);
    return lb_fill(L, r, lt_masked_fill(t, m, f));
  }
  lb_toelem(L, 3, lt_dtypeof(t), &buf, "masked_fill", "value");
  v = lb_newbox(L);
  lb_fill(L, v, lt_full_raw(NULL, 0, lt_dtypeof(t), &buf));
  r = lb_newbox(L);
  lb_fill(L, r, lt_where_any(m, *v, t));
  if (!lt_same_shape(*r, t)) {
    char b1[160], b2[160];
    luaL_error(L, "masked_fill: mask of shape %s does not broadcast to the input's %s",
               lt_shape_str(m, b1, sizeof b1), lt_shape_str(t, b2, sizeof b2));
  }
  return 1;
}

const luaL_Reg lb_elem_funcs[] = {
  {"add", lb_add}, {"sub", lb_sub}, {"mul", lb_mul}, {"div", lb_div},
  {"pow", lb_pow}, {"maximum", lb_maximum}, {"minimum", lb_minimum},
  {"eq", lb_eq}, {"ne", lb_ne}, {"lt", lb_lt}, {"le", lb_le},
  {"gt", lb_gt}, {"ge", lb_ge},
  {"fmod", lb_fmod}, {"remainder", lb_mod}, {"floor_divide", lb_idiv},
  {"bitwise_and", lb_band}, {"bitwise_or", lb_bor}, {"bitwise_xor", lb_bxor},
  {"bitwise_not", lb_bnot},
  {"logical_and", lb_logical_and}, {"logical_or", lb_logical_or},
  {"logical_xor", lb_logical_xor}, {"logical_not", lb_logical_not},
  {"isnan", lb_isnan}, {"isinf", lb_isinf}, {"isfinite", lb_isfinite},
  {"neg", lb_unm}, {"exp", lb_exp}, {"log", lb_log}, {"sqrt", lb_sqrt},
  {"rsqrt", lb_rsqrt}, {"abs", lb_abs}, {"tanh", lb_tanh},
  {"sigmoid", lb_sigmoid}, {"relu", lb_relu}, {"gelu", lb_gelu},
  {"silu", lb_silu}, {"sin", lb_sin}, {"cos", lb_cos},
  {"square", lb_square}, {"clamp", lb_clamp}, {"where", lb_where},
  {"masked_fill", lb_masked_fill},
  {"floor", lb_floor}, {"ceil", lb_ceil}, {"round", lb_round},
  {"trunc", lb_trunc}, {"sign", lb_sign},
  {NULL, NULL}
};
