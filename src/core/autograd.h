/*
** autograd.h -- reverse-mode automatic differentiation.
**
** An op that has an input requiring grad records a node on its output:
** the node keeps references to those inputs (the graph's edges), any
** tensors its backward needs (saved[]), and a few integers/reals.  The
** engine walks the graph with an explicit stack, so depth is bounded by
** memory, not by the C stack.
**
** A backward function receives the gradient of the node's output (same
** shape as that output) and must set gin[i] for every i with
** n->needs[i] to a new reference of input i's shape (or NULL on error,
** with lt_err set).  It runs with grad mode off, so it may call any op.
*/
#ifndef LT_AUTOGRAD_H
#define LT_AUTOGRAD_H

#include "tensor.h"

#define LT_MAXSAVED 4

typedef int (*lt_backward_fn)(lt_node *n, lt_tensor *gout, lt_tensor **gin);

struct lt_node {
  int refs;
  const char *name;                 /* "MulBackward", shown by tostring */
  lt_backward_fn backward;
  int ninputs;                      /* any number (cat takes many) */
  lt_tensor **inputs;               /* edges; NULL where no grad needed */
  int *needs;                       /* (both allocated with the node) */
  lt_tensor *saved[LT_MAXSAVED];    /* whatever backward needs */
  unsigned saved_version[LT_MAXSAVED];  /* their storages' versions when saved */
  int64_t iv[2 * LT_MAXDIM + 4];    /* small integer state (dims, shapes) */
  double dv[4];                     /* small real state (scalars) */
  void *extra;                      /* freed with free() if set */
  int freed;                        /* saved state released after backward */
  int scope;                        /* profile scope that recorded it */
  /* engine bookkeeping */
  unsigned mark;
  lt_tensor *gacc;                  /* accumulated grad of the output */
  int64_t out_shape[LT_MAXDIM];
  int out_ndim;
};

/* grad mode: ops record nodes only when enabled */
int lt_grad_enabled(void);
int lt_set_grad_enabled(int on);    /* returns the previous value */

/* does t take part in autograd (leaf requiring grad, or has grad_fn) */
int lt_needs_grad(const lt_tensor *t);

/*
** Record a node on `out` if grad is enabled and any input needs grad.
** Returns the node (borrowed: `out` owns it) so the caller can fill
** saved/iv/dv, or NULL when nothing was recorded.  Never fails except
** out of memory, in which case it returns NULL and sets *oom.
*/
lt_node *lt_ag_record(lt_tensor *out, const char *name, lt_backward_fn bw,
                      lt_tensor **inputs, int ninputs);
/* convenience: save a tensor (retained) in slot i */
void lt_ag_save(lt_node *n, int i, lt_tensor *t);
/* save the node's own output: as a bare alias of its storage, because
** holding `out` itself would make out -> node -> out, a cycle never freed */
void lt_ag_save_output(lt_node *n, int i, lt_tensor *out);

/* run backward from root with seed gradient (NULL: root must be 1 element) */
int lt_backward(lt_tensor *root, lt_tensor *seed, int retain_graph);

void lt_node_retain(lt_node *n);
void lt_node_release(lt_node *n);

/* reduce a broadcast gradient back to shape (sum over expanded dims) */
lt_tensor *lt_sum_to(lt_tensor *g, const int64_t *shape, int ndim);

#endif
