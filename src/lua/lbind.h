/*
** lbind.h -- the Lua binding's one header.  Everything the binding's
** files share is declared here, under one prefix, lb_.
**
** The binding is where 1-based Lua dims become 0-based core dims and
** where a NULL from the core becomes a Lua error (the core's own prefix
** is lt_, and it knows nothing of Lua).
**
** A tensor userdata is a box holding one reference.  THE BOX COMES FIRST:
** a function reads all its arguments, pushes its result's box (empty),
** and only then calls the core, handing the result to lb_fill, which
** stores it or raises the core's error for NULL:
**
**     lt_tensor *x = lb_checktensor(L, 1, "exp");
**     lt_tensor **r = lb_newbox(L);
**     return lb_fill(L, r, lt_unary(LT_EXP, x));
**
** So no Lua error (a memory error included) can strike between the
** core's allocation and Lua owning it, as liolib.c makes a file handle
** before it opens the file.  (Two statements: C leaves the order in
** which a call's arguments are evaluated open.)
**
** luaopen_lunet_core (lb_core.c) builds the module and the Tensor
** metatable in one place from the tables declared at the end.
*/
#ifndef LB_LBIND_H
#define LB_LBIND_H

#include <lua.h>
#include <lauxlib.h>

#include "tensor.h"
#include "lunetlib.h"

#define LB_TENSOR "lunet.Tensor"         /* the metatable's registry name */
#define LB_FUNCTIONS "lunet.functions"   /* the module table, in the registry */
#define LB_STFILE "lunet.safetensors"    /* a file being loaded (lb_io.c) */
#define LB_MODE "lunet.mode"             /* a mode to restore (lb_autograd.c) */

/* ---- tensors in arguments (lb_aux.c) ----
** The float ops' checks (lb_checktensor, lb_opttensor, lb_totensor)
** hand the core float32: a tensor of another dtype is replaced on the
** stack by a float32 copy (so a bool mask works wherever a 0/1 float
** mask does).  The dtype-aware ops (views, elements, comparisons,
** integer arithmetic, indexing, conversion) use lb_checkany / lb_toany. */
lt_tensor *lb_testtensor(lua_State *L, int idx);   /* NULL if not a tensor */
/* the tensor at idx (any dtype), or an error naming `op` */
lt_tensor *lb_checkany(lua_State *L, int idx, const char *op);
/* the tensor at idx as float32, or an error naming `op` */
lt_tensor *lb_checktensor(lua_State *L, int idx, const char *op);
lt_tensor *lb_opttensor(lua_State *L, int idx, const char *op);   /* nil: NULL */
/* the tensor at idx, a number (0-d) or nested table (lunet.tensor)
** converted in place on the stack, so that Lua owns it; as float32 */
lt_tensor *lb_totensor(lua_State *L, int idx, const char *op);
lt_tensor *lb_toany(lua_State *L, int idx, const char *op);   /* any dtype */

/* anomaly mode: note for the core where the op about to run was called
** from (lb_autograd.c; lb_newbox calls it, so every op's result does) */
void lb_anomaly_where(lua_State *L);

/* ---- results (lb_aux.c) ---- */
lt_tensor **lb_newbox(lua_State *L);            /* push an empty box */
/* store t in box (pushed before the call that made t); t NULL: raise the
** core's error.  Returns 1, the box being the result */
int lb_fill(lua_State *L, lt_tensor **box, lt_tensor *t);
int lb_error(lua_State *L);                     /* raise lt_errmsg() */
/* make the core's out-of-memory retry run a full collection of L's state */
void lb_sethook(lua_State *L);

/* ---- other arguments (lb_aux.c) ---- */
/* an integer, or a float with an integral value (3.0 from D / 2): 1 and
** *v set, else 0 */
int lb_toint(lua_State *L, int idx, lua_Integer *v);
/* a number argument, or the error "<op>: <what> must be a number, got
** <type>" (not luaL_checknumber's "bad argument", which names the function
** as Lua found it, not as the user called it: x:clamp_ runs lunet.clamp) */
lua_Number lb_checknumber(lua_State *L, int idx, const char *op, const char *what);
lua_Number lb_optnumber(lua_State *L, int idx, lua_Number dflt, const char *op, const char *what);
/* 1-based (negative from the end) Lua dim -> 0-based core dim, checked */
int lb_checkdim(lua_State *L, int idx, int ndim, const char *op);
/* shape from a Lua sequence {2,3}, or from varargs 2,3 starting at idx
** (trailing non-numbers, such as an options table, are not part of it) */
int lb_checkshape(lua_State *L, int idx, int64_t *shape, const char *op);
/* a creation function's shape has no entry to infer (-1) and a size the
** core can hold: else "<op>: shape {...} has too many elements".  Returns n */
int lb_checksize(lua_State *L, const int64_t *shape, int n, const char *op);
/* a dtype name ("int64", or an alias: "long") */
lt_dtype lb_checkdtype(lua_State *L, int idx, const char *op);
/* one element at p: a Lua float, integer or boolean by dtype */
void lb_pushelem(lua_State *L, lt_dtype dt, const void *p);
/* the Lua value at idx stored at p as dt, checked to fit; `what` names it */
void lb_toelem(lua_State *L, int idx, lt_dtype dt, void *p, const char *op,
               const char *what);
/* ---- names (lb_aux.c) ----
** A string that must be one of a fixed set of names is compared with its
** length, as Lua compares it: 'sum\0x' (a Lua string may hold a '\0') is
** not 'sum'.  Never strcmp a Lua string against a name. */
/* the index in names (NULL-terminated) of the string at idx, or -1 when
** it is none of them or not a string */
int lb_findname(lua_State *L, int idx, const char *const *names);
/* the index in names of the value at idx (def's when it is nil or none
** and def is not NULL: luaL_checkoption's order of arguments), else
**   <op>: <what> must be 'a', 'b' or 'c', got '<value>'   (or got <type>) */
int lb_checkname(lua_State *L, int idx, const char *def, const char *const *names,
                 const char *op, const char *what);
/* push the string at idx as a message shows it: whole, a '\0' written \0
** (\000 before a digit) as in Lua source; returns it */
const char *lb_pushshown(lua_State *L, int idx);

/*
** The options table at idx (nil or none: no options): every key must be
** one of known (NULL-terminated), else the error every option check in
** lunet gives, C and Lua alike:
**   <op>: unknown option '<name>' (did you mean '<near>'?)
** when a known option is a small edit away, else
**   <op>: unknown option '<name>' (known options: a, b, c)
*/
void lb_checkoptions(lua_State *L, int idx, const char *op, const char *const *known);

/* ---- the Tensor metatable's metamethods ---- */
int lb_gc(lua_State *L);            /* lb_tensor.c: __gc and __close */
int lb_index(lua_State *L);         /* lb_tensor.c: methods, properties, ... */
int lb_newindex(lua_State *L);      /* lb_tensor.c */
void lb_set_requires_grad(lua_State *L, lt_tensor *t, int flag);   /* lb_tensor.c */
int lb_tostring(lua_State *L);      /* lb_tensor.c */
int lb_index_key(lua_State *L);     /* lb_view.c: ... then x[i], x[{i,j}] */
int lb_newindex_key(lua_State *L);  /* lb_view.c */
int lb_len(lua_State *L);           /* lb_view.c */
int lb_index_tensor(lua_State *L);  /* lb_index.c: x[mask], x[ids] */
int lb_newindex_tensor(lua_State *L);   /* lb_index.c: x[mask] = v */
int lb_add(lua_State *L);           /* lb_elem.c: the arithmetic */
int lb_sub(lua_State *L);
int lb_mul(lua_State *L);
int lb_div(lua_State *L);
int lb_pow(lua_State *L);
int lb_unm(lua_State *L);
int lb_mod(lua_State *L);           /* %: remainder */
int lb_idiv(lua_State *L);          /* //: floor_divide */
int lb_band(lua_State *L);          /* & | ~ on integer and bool tensors */
int lb_bor(lua_State *L);
int lb_bxor(lua_State *L);
int lb_bnot(lua_State *L);
int lb_masked_fill(lua_State *L);   /* lb_elem.c, also behind x[mask] = v */
int lb_clamp(lua_State *L);         /* lb_elem.c */
/* t:op_(...): the out-of-place binding f run on t between the core's
** lt_inplace_begin and lt_inplace_end; returns t (lb_inplace.c).  Its
** errors, f's included, are op's, at the position of the binding's caller */
int lb_inplace(lua_State *L, const char *op, lua_CFunction f);
/* the same, with errors named `name` (x[mask] = v: "index assignment") */
int lb_inplace_as(lua_State *L, const char *op, const char *name, lua_CFunction f);

/* the lunet.tensor{...} constructor (lb_tensor.c), which lb_totensor calls */
int lb_fromtable(lua_State *L);

/* ---- what lb_core.c builds the module and the metatable from ---- */
extern const luaL_Reg lb_tensor_funcs[];     /* creation (lb_tensor.c) */
extern const luaL_Reg lb_elem_funcs[];       /* functions and methods */
extern const luaL_Reg lb_reduce_funcs[];     /* functions and methods */
extern const luaL_Reg lb_view_funcs[];       /* cat, stack */
extern const luaL_Reg lb_view_methods[];
extern const luaL_Reg lb_inplace_methods[];
extern const luaL_Reg lb_index_funcs[];      /* functions and methods */
extern const luaL_Reg lb_dtype_funcs[];      /* lunet.* only */
extern const luaL_Reg lb_dtype_methods[];
extern const luaL_Reg lb_matmul_funcs[];
extern const luaL_Reg lb_matmul_methods[];
extern const luaL_Reg lb_autograd_funcs[];
extern const luaL_Reg lb_autograd_methods[];
extern const luaL_Reg lb_mode_meta[];        /* LB_MODE's metatable */
extern const luaL_Reg lb_nn_funcs[];
extern const luaL_Reg lb_attention_funcs[];
extern const luaL_Reg lb_loss_funcs[];
extern const luaL_Reg lb_optim_funcs[];
extern const luaL_Reg lb_io_funcs[];
extern const luaL_Reg lb_stfile_meta[];      /* LB_STFILE's metatable */
extern const luaL_Reg lb_profile_funcs[];
extern const luaL_Reg lb_term_funcs[];      /* lb_term.c */
extern const luaL_Reg lb_faults_funcs[];     /* make faults only (lb_faults.c) */
void lb_faults_open(lua_State *L);           /* ditto: Lua's allocations counted */

#endif
