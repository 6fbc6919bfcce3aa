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

#define LB_MAXOPERANDS 8

int lb_inplace(lua_State *L, const char *op, lua_CFunction f) {
  lt_tensor *t = lb_checkany(L, 1, op), *others[LB_MAXOPERANDS], **src, *out;
  int top = lua_gettop(L), n = 0, i;
  for (i = 2; i <= top && n < LB_MAXOPERANDS; i++)
    if ((others[n] = lb_testtensor(L, i)) != NULL) n++;
  src = lb_newbox(L);
  lb_fill(L, src, lt_inplace_begin(op, t, others, n));
  lua_pushcfunction(L, f);
  lua_pushvalue(L, -2);                  /* the tensor the op reads */
  for (i = 2; i <= top; i++) lua_pushvalue(L, i);
  lua_call(L, top, 1);
  out = lb_checkany(L, -1, op);
  if (lt_inplace_end(op, t, out)) return lb_error(L);
  lua_settop(L, 1);
  return 1;
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
