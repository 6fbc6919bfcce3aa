/*
** optim.h -- optimiser update loops (ops_optim.c).
**
** These write a parameter's storage in place and record nothing in the
** autograd graph: an optimiser step is not part of the model.  The
** parameter and every state tensor must be contiguous and of the
** parameter's shape (lunet creates them so); the gradient may have any
** strides.  Each returns 0, or -1 with lt_err set and nothing written.
** The formulas are PyTorch's (torch.optim.SGD / Adam / AdamW).
*/
#ifndef LT_OPTIM_H
#define LT_OPTIM_H

#include "tensor.h"

typedef struct lt_sgd_opts {
  double lr, momentum, dampening, weight_decay;
  int nesterov;
} lt_sgd_opts;

/*
** g' = g + wd p;  with momentum: buf = g' on the first step, else
** buf = momentum buf + (1 - dampening) g';  g' = nesterov ? g' + momentum buf
** : buf;  p -= lr g'.  buf may be NULL when momentum is 0.
*/
int lt_sgd_step(lt_tensor *p, lt_tensor *g, lt_tensor *buf, int first,
                const lt_sgd_opts *o);

typedef struct lt_adam_opts {
  double lr, beta1, beta2, eps, weight_decay;
  int decoupled;      /* AdamW: p *= 1 - lr wd, instead of g += wd p */
} lt_adam_opts;

/*
** step is the 1-based count including this step (for bias correction):
** m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
** p -= lr / (1-b1^step) * m / (sqrt(v) / sqrt(1-b2^step) + eps)
*/
int lt_adam_step(lt_tensor *p, lt_tensor *g, lt_tensor *m, lt_tensor *v,
                 int64_t step, const lt_adam_opts *o);

/* sum of squares of every element of ts[0..n-1], in double */
int lt_sq_sum(lt_tensor *const *ts, int n, double *out);
/* t *= f in place (any strides, but no overlapping elements) */
int lt_scale_(lt_tensor *t, float f);

#endif
