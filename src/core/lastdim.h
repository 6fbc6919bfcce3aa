/*
** lastdim.h -- the layout the row-wise kernels of the newer ops share
** (integer reductions, any/all, sort, scans): a tensor with one dim moved
** last and made contiguous, so each kernel is a loop over rows of n
** elements.  Both run with grad mode off: the ops that use them record
** their own backward (or none).
*/
#ifndef LT_LASTDIM_H
#define LT_LASTDIM_H

#include "tensor.h"

/* t with dim d (0-based, wrapped; -1 after wrap: every element as one
** row) moved last, contiguous, as dtype dt; *rows and *n describe it */
lt_tensor *lt_lastdim(lt_tensor *t, int d, lt_dtype dt, int64_t *rows, int64_t *n);
/* r, laid out as lt_lastdim(t, d) was, back in t's layout (contiguous) */
lt_tensor *lt_lastdim_undo(lt_tensor *r, const lt_tensor *t, int d);
/* the shape of reducing t over dim d (-1: everything) with keepdim */
int lt_reduced_shape(const lt_tensor *t, int d, int keepdim, int64_t *shape);

#endif
