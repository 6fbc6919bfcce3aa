/*
** autograd.h -- reverse-mode automatic differentiation.
**
** An op that has an input requiring grad records a node on its output:
** the node keeps references to those inputs (the graph's edges) and the
** op's own context, a small struct the op declares beside its forward and
** backward (its dims, scalars, and the tensors its backward reads).  The
** engine walks the graph with an explicit stack, so depth is bounded by
** memory, not by the C stack.
**
** A backward function receives the gradient of the node's output (same
** shape as that output) and must set gin[i] for every i with
** n->needs[i] to a new reference of input i's shape (or NULL on error,
** with lt_err set).  It runs with grad mode off, so it may call any op.
**
** An op's context, by example (ops_elem.c's clamp):
**
**   typedef struct lt_clamp_ctx { float lo, hi; lt_saved x; } lt_clamp_ctx;
**
**   forward:  n = lt_ag_record(out, "ClampBackward", lt_clamp_backward,
**                              &x, 1, sizeof(lt_clamp_ctx));
**             if (n) { lt_clamp_ctx *c = lt_ag_ctx(n, lt_clamp_ctx);
**                      c->lo = lo; c->hi = hi; lt_ag_save(n, &c->x, x); }
**   backward: const lt_clamp_ctx *c = lt_ag_ctx(n, lt_clamp_ctx);
**             ... c->x.t, c->lo ...
**
** The context is zeroed and freed with the node.  Tensors go in lt_saved
** fields through lt_ag_save, which retains them and notes their storage's
** version: the engine refuses to run a backward whose saved tensors were
** written in place since, and releases them once the backward has run.
*/
#ifndef LT_AUTOGRAD_H
#define LT_AUTOGRAD_H

#include <stddef.h>

#include "tensor.h"

#define LT_MAXSAVED 6     /* lt_saved fields per context (attention has 5) */

typedef int (*lt_backward_fn)(lt_node *n, lt_tensor *gout, lt_tensor **gin);

/* a tensor a backward reads, and its storage's version when it was saved */
typedef struct lt_saved {
  lt_tensor *t;
  unsigned version;
} lt_saved;

struct lt_node {
  int refs;
  const char *name;                 /* "MulBackward", shown by tostring */
  lt_backward_fn backward;
  int ninputs;                      /* any number (cat takes many) */
  lt_tensor **inputs;               /* edges; NULL where no grad needed */
  int *needs;                       /* (both allocated with the node) */
  void *ctx;                        /* the op's context (allocated with it too) */
  size_t ctxsize;
  int nsaved;                       /* the lt_saved fields of ctx in use */
  lt_saved *saved[LT_MAXSAVED];
  int freed;                        /* saved state released after backward */
  int scope;                        /* profile scope that recorded it */
  char *where;                      /* anomaly mode: where the forward ran */
  /* engine bookkeeping */
  unsigned mark;
  lt_tensor *gacc;                  /* accumulated grad of the output */
  int64_t out_shape[LT_MAXDIM];
  int out_ndim;
};

/* grad mode: ops record nodes only when enabled */
int lt_grad_enabled(void);
int lt_set_grad_enabled(int on);    /* returns the previous value */

/*
** Anomaly detection (PyTorch's detect_anomaly): while it is on, backward
** checks the gradients every op's backward returns and fails at the first
** that holds a NaN or an infinity, naming the op and, when the binding
** said so through lt_ag_set_where before the forward, where that ran.
*/
int lt_anomaly_enabled(void);
int lt_set_anomaly(int on);         /* returns the previous value */
void lt_ag_set_where(const char *where);   /* copied; NULL forgets */

/* does t take part in autograd (leaf requiring grad, or has grad_fn) */
int lt_needs_grad(const lt_tensor *t);

/*
** Record a node on `out` if grad is enabled and any input needs grad,
** with a zeroed context of ctxsize bytes (0: the op keeps no state).
** Returns the node (borrowed: `out` owns it) so the caller can fill the
** context, or NULL when nothing was recorded -- also when out of memory,
** which gives `out` a node whose backward is an error (the gradients
** are lost, and a backward must not pretend otherwise).
*/
lt_node *lt_ag_record(lt_tensor *out, const char *name, lt_backward_fn bw,
                      lt_tensor **inputs, int ninputs, size_t ctxsize);

/* the node's context as the op's own struct type T: forward and backward
** name the type, the compiler checks every field they touch, and the
** size recorded must cover T (checked) */
#define lt_ag_ctx(n, T) ((T *)lt_ag_ctx_((n), sizeof(T)))
void *lt_ag_ctx_(lt_node *n, size_t size);

/* save t (retained, NULL allowed) in a field of n's context */
void lt_ag_save(lt_node *n, lt_saved *slot, lt_tensor *t);
/* save the node's own output: as a bare alias of its storage, because
** holding `out` itself would make out -> node -> out, a cycle never freed */
void lt_ag_save_output(lt_node *n, lt_saved *slot, lt_tensor *out);

/* run backward from root with seed gradient (NULL: root must be 1 element) */
int lt_backward(lt_tensor *root, lt_tensor *seed, int retain_graph);
/* the same, but the gradients reaching each of inputs[0..n) (leaves or
** not) are left in grads[k] (new references; NULL where none flowed) and
** no tensor's .grad is touched: PyTorch's torch.autograd.grad */
int lt_grad_of(lt_tensor *root, lt_tensor *seed, int retain_graph,
               lt_tensor *const *inputs, int n, lt_tensor **grads);

void lt_node_retain(lt_node *n);
void lt_node_release(lt_node *n);

/* reduce a broadcast gradient back to shape (sum over expanded dims) */
lt_tensor *lt_sum_to(lt_tensor *g, const int64_t *shape, int ndim);
/* out[k] = sum over the M rows of the contiguous {M,N} g, the same floats
** on any thread count; 0, or -1 (out of memory) */
int lt_colsum(const float *g, int64_t M, int64_t N, float *out);

#endif
