/*
** lb_inplace.c -- the in-place ops: add_, sub_, mul_, div_, clamp_,
** masked_fill_, masked_scatter_, scatter_, scatter_add_, index_add_,
** zero_, copy_.  Each is its out-of-place binding run between the core's
** lt_inplace_begin and lt_inplace_end (ops_inplace.c has the autograd
** rules), so promotion, broadcasting and errors are the out-of-place
** op's, and the result's dtype must fit the tensor (float into int is
** refused, as in PyTorch).  Each returns the tensor.
*/
#include "lbind.h"
#include "ops.h"

#include <string.h>

#define LB_MAXOPERANDS 8

/* the body of lb_inplace, run protected: upvalue 1 the core's op name
** (a light userdata), upvalue 2 the out-of-place binding */
static int lb_inplace_body(lua_State *L) {
  const char *op = lua_touserdata(L, lua_upvalueindex(1));
  lt_tensor *t = lb_checkany(L, 1, op), *others[LB_MAXOPERANDS], **src, *out;
  int top = lua_gettop(L), n = 0, i;
  for (i = 2; i <= top && n < LB_MAXOPERANDS; i++)
    if ((others[n] = lb_testtensor(L, i)) != NULL) n++;
  src = lb_newbox(L);
  lb_fill(L, src, lt_inplace_begin(op, t, others, n));
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, -2);                  /* the tensor the op reads */
  for (i = 2; i <= top; i++) lua_pushvalue(L, i);
  lua_call(L, top, 1);
  out = lb_checkany(L, -1, op);
  if (lt_inplace_end(op, t, out)) return lb_error(L);
  return 0;
}

/* s without a leading "<name>: " */
static const char *lb_strip(const char *s, const char *name, size_t len) {
  return strncmp(s, name, len) == 0 && s[len] == ':' && s[len + 1] == ' ' ? s + len + 2 : s;
}

/*
** Raise the error on top of the stack as `name`'s at the position of the
** caller of the binding running (level 1): the message of the out-of-place
** op (`add: ...`, raised with no position, from inside) or of the core's
** in-place checks (`add_: ...`) loses that name for `name`'s.  A memory
** error or an error object goes on as it is.
*/
static int lb_inplace_error(lua_State *L, int status, const char *op, const char *name) {
  const char *msg;
  size_t base = strlen(op) - 1;          /* "add" of "add_" */
  if (status != LUA_ERRRUN || lua_type(L, -1) != LUA_TSTRING) return lua_error(L);
  msg = lb_strip(lb_strip(lua_tostring(L, -1), op, base + 1), op, base);
  luaL_where(L, 1);
  lua_pushfstring(L, "%s: %s", name, msg);
  lua_concat(L, 2);
  return lua_error(L);
}

int lb_inplace_as(lua_State *L, const char *op, const char *name, lua_CFunction f) {
  int top = lua_gettop(L), status, i;
  lb_checkany(L, 1, name);
  luaL_checkstack(L, top + 3, name);
  lua_pushlightuserdata(L, (void *)op);
  lua_pushcfunction(L, f);
  lua_pushcclosure(L, lb_inplace_body, 2);
  for (i = 1; i <= top; i++) lua_pushvalue(L, i);
  status = lua_pcall(L, top, 0, 0);
  if (status != LUA_OK) return lb_inplace_error(L, status, op, name);
  lua_settop(L, 1);
  return 1;
}

int lb_inplace(lua_State *L, const char *op, lua_CFunction f) {
  return lb_inplace_as(L, op, op, f);
}

static int lb_add_(lua_State *L) { return lb_inplace(L, "add_", lb_add); }
static int lb_sub_(lua_State *L) { return lb_inplace(L, "sub_", lb_sub); }
static int lb_mul_(lua_State *L) { return lb_inplace(L, "mul_", lb_mul); }
static int lb_div_(lua_State *L) { return lb_inplace(L, "div_", lb_div); }
static int lb_masked_fill_(lua_State *L) { return lb_inplace(L, "masked_fill_", lb_masked_fill); }

static int lb_clamp_(lua_State *L) { return lb_inplace(L, "clamp_", lb_clamp); }

/* zero_: zeros of t's dtype written in place (and t leaves the graph) */
static int lb_zeros_of(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "zero_"), **r = lb_newbox(L);
  return lb_fill(L, r, lt_full_dtype(t->shape, t->ndim, 0, lt_dtypeof(t)));
}

static int lb_zero_(lua_State *L) {
  lua_settop(L, 1);
  return lb_inplace(L, "zero_", lb_zeros_of);
}

/* copy_(src): src broadcasts to t and converts to t's dtype */
static int lb_copy_(lua_State *L) {
  lt_tensor *t = lb_checkany(L, 1, "copy_"), *src = lb_checkany(L, 2, "copy_");
  if (lt_copy_(t, src)) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

const luaL_Reg lb_inplace_methods[] = {
  {"add_", lb_add_}, {"sub_", lb_sub_}, {"mul_", lb_mul_}, {"div_", lb_div_},
  {"clamp_", lb_clamp_}, {"masked_fill_", lb_masked_fill_}, {"zero_", lb_zero_},
  {"copy_", lb_copy_},
  {NULL, NULL}
};
