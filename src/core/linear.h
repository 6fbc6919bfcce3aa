/*
** linear.h -- how the products of linear (ops_linear.c) and the fused
** MLP (ops_mlp.c) read a weight {N,K}: in place in either layout, BLAS's
** transpose flag telling which.
*/
#ifndef LT_LINEAR_H
#define LT_LINEAR_H

#include "tensor.h"

/* how BLAS reads w {N,K}: 0 row-major (*ld its row stride), 1
** column-major; -1 neither (then a contiguous copy is read) */
int lt_wlayout(const lt_tensor *w, int64_t *ld);
/* w as the products read it: a new reference (a copy if it must be) */
lt_tensor *lt_linear_weight(lt_tensor *w, int *wl, int64_t *ldw);

#endif
