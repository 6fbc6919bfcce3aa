/*
** ops_inplace.c -- in-place ops: an out-of-place op plus a write back,
** with PyTorch's rules for autograd.
**
**   src = lt_inplace_begin(op, t, others, n);   what the op reads as t
**   out = <the out-of-place op>(src, others...);
**   lt_inplace_end(op, t, out);                 t <- out; t takes out's
**                                               place in the graph
**
** When nothing involved needs grad (or grad mode is off) src is t itself
** and the op is a plain write.  When the op must be recorded, src is a
** copy of t that carries t's place in the graph (its grad_fn): the op's
** node reaches t's history through it, and whatever the op saves for
** backward is that copy, not the storage about to be overwritten.  Every
** write bumps the storage's version, so a backward that saved t's old
** values before the write refuses to run (autograd.c).
**
** Refused while recording: a leaf that requires grad (its .grad would
** describe values it no longer holds), and a tensor whose storage other
** tensors share (a view, or a value a backward saved), since the graph
** cannot follow a write made through another tensor.
*/
#include <string.h>

#include "autograd.h"
#include "dtype.h"
#include "ops.h"

static int lt_inplace_records(lt_tensor *t, lt_tensor *const *others, int n) {
  int i, any = lt_needs_grad(t);
  for (i = 0; i < n; i++) if (others[i] && lt_needs_grad(others[i])) any = 1;
  return any && lt_grad_enabled();
}

lt_tensor *lt_inplace_begin(const char *op, lt_tensor *t, lt_tensor *const *others, int n) {
  lt_tensor *src;
  if (!lt_inplace_records(t, others, n)) return lt_tensor_retain(t);
  if (t->requires_grad && t->grad_fn == NULL) {
    lt_err("%s: in-place write to a tensor that requires grad (wrap it in lunet.no_grad)",
           op);
    return NULL;
  }
  if (t->st->refs > 1) {
    lt_err("%s: cannot record an in-place write into a tensor whose storage another "
           "tensor shares (a view, or a value saved for backward): use the out-of-place op",
           op);
    return NULL;
  }
  if ((src = lt_empty_dtype(t->shape, t->ndim, lt_dtypeof(t))) == NULL) return NULL;
  lt_copy_into(src, t);
  if (t->grad_fn) {
    lt_node_retain(t->grad_fn);
    src->grad_fn = t->grad_fn;
    src->requires_grad = 1;
  }
  return src;
}

int lt_inplace_end(const char *op, lt_tensor *t, lt_tensor *out) {
  char b1[160], b2[160];
  lt_tensor *c = NULL;
  int rc;
  if (!lt_same_shape(out, t)) {
    lt_err("%s: the result has shape %s, the tensor written in place %s", op,
           lt_shape_str(out, b1, sizeof b1), lt_shape_str(t, b2, sizeof b2));
    return -1;
  }
  if (!lt_can_cast(lt_dtypeof(out), lt_dtypeof(t))) {
    lt_err("%s: %s %s result cannot be written into %s %s tensor", op,
           lt_article(lt_dtypeof(out)), lt_dtype_name(lt_dtypeof(out)),
           lt_article(lt_dtypeof(t)), lt_dtype_name(lt_dtypeof(t)));
    return -1;
  }
  if (out->st == t->st) {   /* the op returned a view of t: read a copy */
    int prev = lt_set_grad_enabled(0);
    c = lt_clone(out);
    lt_set_grad_enabled(prev);
    if (c == NULL) return -1;
  }
  rc = lt_convert_into(t, c ? c : out);
  lt_tensor_release(c);
  if (rc) return -1;
  lt_bump_version(t);
  if (out->grad_fn) {
    lt_node_retain(out->grad_fn);
    if (t->grad_fn) lt_node_release(t->grad_fn);
    t->grad_fn = out->grad_fn;
    t->requires_grad = 1;
  } else if (t->grad_fn && lt_grad_enabled()) {   /* no longer a function of its past */
    lt_node_release(t->grad_fn);
    t->grad_fn = NULL;
    t->requires_grad = 0;
  }
  return 0;
}

/* src's shape broadcasts to t's (the two broadcast to t's own shape) */
static int lt_broadcasts_to(const lt_tensor *src, const lt_tensor *t) {
  int64_t shape[LT_MAXDIM];
  int nd;
  return lt_broadcast_shape("copy_", src, t, shape, &nd) == 0 && nd == t->ndim &&
         memcmp(shape, t->shape, (size_t)nd * sizeof *shape) == 0;
}

/* copy_: t <- src broadcast to t's shape, converted to t's dtype */
int lt_copy_(lt_tensor *t, lt_tensor *src) {
  lt_tensor *in, *e = NULL, *out = NULL;
  char b1[160], b2[160];
  int rc = -1;
  if (!lt_broadcasts_to(src, t)) {   /* checked first: expand fails out of memory too */
    lt_err("copy_: source %s does not broadcast to %s", lt_shape_str(src, b1, sizeof b1),
           lt_shape_str(t, b2, sizeof b2));
    return -1;
  }
  if ((in = lt_inplace_begin("copy_", t, &src, 1)) == NULL) return -1;
  if ((e = lt_expand(src, t->shape, t->ndim)) == NULL) goto done;
  if (in != t || e->st == t->st) {   /* recorded, or overlapping: go through a copy */
    lt_tensor *c = lt_clone(e);
    if (c == NULL) goto done;
    out = lt_to_dtype(c, lt_dtypeof(t));
    lt_tensor_release(c);
    if (out == NULL) goto done;
    rc = lt_inplace_end("copy_", t, out);
  } else {
    rc = lt_convert_into(t, e);   /* the plain case: one pass, any dtypes */
    if (rc == 0) lt_bump_version(t);
  }
done:
  lt_tensor_release(in);
  lt_tensor_release(e);
  lt_tensor_release(out);
  return rc;
}
