/*
** autograd.c -- graph nodes and the backward engine.
*/
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "ops.h"
#include "pool.h"
#include "profile.h"
#include "alloc.h"

static int lt_grad_on = 1;

int lt_grad_enabled(void) { return lt_grad_on; }

int lt_set_grad_enabled(int on) {
  int prev = lt_grad_on;
  lt_grad_on = on != 0;
  return prev;
}

/* ---------------------------------------------------------------- anomaly mode */

static int lt_anomaly_on = 0;
static char *lt_ag_where = NULL;  /* where the next forward runs (anomaly mode) */

int lt_anomaly_enabled(void) { return lt_anomaly_on; }

int lt_set_anomaly(int on) {
  int prev = lt_anomaly_on;
  lt_anomaly_on = on != 0;
  if (!lt_anomaly_on) lt_ag_set_where(NULL);
  return prev;
}

static char *lt_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *c = lt_malloc(n);
  if (c) memcpy(c, s, n);
  return c;
}

void lt_ag_set_where(const char *where) {
  free(lt_ag_where);
  lt_ag_where = where ? lt_strdup(where) : NULL;
}

/* 0 if every element of t is finite, else 'n' (a NaN seen first) or 'i' */
static int lt_nonfinite(const lt_tensor *t) {
  const int64_t *st[1] = {t->stride};
  int64_t off[1] = {t->offset}, i;
  lt_iter it;
  lt_iter_init(&it, t->shape, t->ndim, 1, st, off);
  if (it.empty) return 0;
  do {
    const float *p = t->st->data + it.off[0];
    for (i = 0; i < it.len; i++) {
      float v = p[i * it.inner[0]];
      if (v != v) return 'n';
      if (v - v != 0.0f) return 'i';
    }
  } while (lt_iter_next(&it));
  return 0;
}

/* the anomaly check of what node n's backward returned for input i */
static int lt_anomaly_check(const lt_node *n, int i, const lt_tensor *g) {
  int bad = lt_nonfinite(g);
  if (bad == 0) return 0;
  lt_err("backward: %s returned %s values in the gradient of its input %d "
         "(anomaly detection)%s%s", n->name, bad == 'n' ? "nan" : "inf", i + 1,
         n->where ? "; the forward op was called from:\n" : "", n->where ? n->where : "");
  return -1;
}

int lt_needs_grad(const lt_tensor *t) {
  return t->requires_grad || t->grad_fn != NULL;
}

/* ---------------------------------------------------------------- nodes */

void lt_node_retain(lt_node *n) { n->refs++; }

/* drop what backward needed: the edges and saved tensors */
static void lt_node_clear(lt_node *n) {
  int i;
  for (i = 0; i < n->ninputs; i++) { lt_tensor_release(n->inputs[i]); n->inputs[i] = NULL; }
  for (i = 0; i < n->nsaved; i++) { lt_tensor_release(n->saved[i]->t); n->saved[i]->t = NULL; }
}

static void lt_node_free(lt_node *n) {
  lt_node_clear(n);
  lt_tensor_release(n->gacc);
  free(n->where);
  free(n);
}

/*
** Freeing a node releases its inputs, which frees their nodes, and so
** on: done recursively, a 100,000-op chain dropped without backward
** would overflow the C stack.  So dead nodes go on a worklist that the
** outermost release drains.
*/
static lt_node **lt_dead = NULL;
static size_t lt_ndead = 0, lt_capdead = 0;
static int lt_draining = 0;

void lt_node_release(lt_node *n) {
  if (n == NULL || --n->refs > 0) return;
  if (lt_ndead == lt_capdead) {
    size_t cap = lt_capdead ? lt_capdead * 2 : 256;
    lt_node **nd = lt_realloc(lt_dead, cap * sizeof *nd);
    if (nd == NULL) { lt_node_free(n); return; }   /* recursion as a last resort */
    lt_dead = nd;
    lt_capdead = cap;
  }
  lt_dead[lt_ndead++] = n;
  if (lt_draining) return;
  lt_draining = 1;
  while (lt_ndead > 0) lt_node_free(lt_dead[--lt_ndead]);
  lt_draining = 0;
}

/*
** When a node cannot be allocated, the output's graph is lost.  Rather
** than let a backward through it silently miss those gradients, the
** output gets this shared node, whose backward is that error.
*/
static int lt_lost_backward(lt_node *n, lt_tensor *gout, lt_tensor **gin) {
  lt_err("backward: part of this graph was lost when its forward ran out of memory");
  return -1;
}

static lt_node lt_lost = {.refs = 1, .name = "LostBackward", .backward = lt_lost_backward};

static void lt_ag_lose(lt_tensor *out) {
  lt_node_retain(&lt_lost);
  if (out->grad_fn) lt_node_release(out->grad_fn);
  out->grad_fn = &lt_lost;
  out->requires_grad = 1;
}

/*
** One allocation holds the node, then the op's context (aligned for any
** type), then the inputs and needs arrays.
*/
static size_t lt_round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

lt_node *lt_ag_record(lt_tensor *out, const char *name, lt_backward_fn bw,
                      lt_tensor **inputs, int ninputs, size_t ctxsize) {
  size_t ctxoff = lt_round_up(sizeof(lt_node), _Alignof(max_align_t));
  size_t inoff = lt_round_up(ctxoff + ctxsize, _Alignof(lt_tensor *));
  size_t needoff = inoff + (size_t)ninputs * sizeof(lt_tensor *);
  lt_node *n;
  int i, any = 0;
  if (!lt_grad_on) return NULL;
  for (i = 0; i < ninputs; i++)
    if (inputs[i] && lt_needs_grad(inputs[i])) any = 1;
  if (!any) return NULL;
  n = lt_calloc(1, needoff + (size_t)ninputs * sizeof(int));
  if (n == NULL) { lt_ag_lose(out); return NULL; }
  n->ctx = (char *)n + ctxoff;
  n->ctxsize = ctxsize;
  n->inputs = (lt_tensor **)((char *)n + inoff);
  n->needs = (int *)((char *)n + needoff);
  n->refs = 1;
  n->scope = lt_prof_scope();
  n->name = name;
  n->backward = bw;
  n->ninputs = ninputs;
  if (lt_anomaly_on && lt_ag_where) n->where = lt_strdup(lt_ag_where);   /* best effort */
  for (i = 0; i < ninputs; i++) {
    if (inputs[i] && lt_needs_grad(inputs[i])) {
      n->inputs[i] = lt_tensor_retain(inputs[i]);
      n->needs[i] = 1;
    }
  }
  n->out_ndim = out->ndim;
  memcpy(n->out_shape, out->shape, sizeof n->out_shape);
  if (out->grad_fn) lt_node_release(out->grad_fn);
  out->grad_fn = n;
  out->requires_grad = 1;
  return n;
}

/* a type larger than the recorded context is a forward and a backward
** disagreeing about their struct: a bug in lunet, caught by any spec */
void *lt_ag_ctx_(lt_node *n, size_t size) {
  assert(size <= n->ctxsize);
  return n->ctx;
}

/* register slot (a field of n's context) with the engine, once */
static void lt_ag_slot(lt_node *n, lt_saved *slot) {
  int i;
  assert((char *)slot >= (char *)n->ctx &&
         (char *)(slot + 1) <= (char *)n->ctx + n->ctxsize);
  for (i = 0; i < n->nsaved; i++)
    if (n->saved[i] == slot) return;
  assert(n->nsaved < LT_MAXSAVED);
  n->saved[n->nsaved++] = slot;
}

void lt_ag_save(lt_node *n, lt_saved *slot, lt_tensor *t) {
  lt_ag_slot(n, slot);
  if (t) lt_prof_add(LT_PROF_SAVED, (double)lt_numel(t) * lt_dtype_size(lt_dtypeof(t)));
  slot->version = t ? t->st->version : 0;
  lt_tensor_release(slot->t);
  slot->t = lt_tensor_retain(t);
}

void lt_ag_save_output(lt_node *n, lt_saved *slot, lt_tensor *out) {
  lt_tensor *alias = lt_detach(out);
  if (alias == NULL) { n->backward = lt_lost_backward; return; }
  lt_ag_save(n, slot, alias);
  lt_tensor_release(alias);
}

/* ---------------------------------------------------------------- sum_to */

/*
** Column sums of a contiguous {M,N} matrix (a bias's gradient, a
** broadcast input's): chunks of rows sum into slots of their own, in
** double, and the slots are added in chunk order, so every thread count
** gives the same floats.  0, or -1 out of memory.
*/
typedef struct lt_colsum_job {
  const float *g;
  double *part;
  int64_t N, chunk;
} lt_colsum_job;

static int lt_colsum_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_colsum_job *j = ctx;
  double *restrict acc = j->part + (lo / j->chunk) * j->N;
  int64_t i, k, N = j->N;
  (void)worker;
  for (k = 0; k < N; k++) acc[k] = 0;
  for (i = lo; i < hi; i++) {
    const float *restrict row = j->g + i * N;
    for (k = 0; k < N; k++) acc[k] += row[k];
  }
  return 0;
}

int lt_colsum(const float *g, int64_t M, int64_t N, float *out) {
  lt_colsum_job j;
  lt_tensor *hold;
  int64_t nchunks, c, k;
  j.chunk = lt_par_chunk(M, (double)N);
  if (j.chunk < (M + 31) / 32) j.chunk = (M + 31) / 32;   /* at most 32 slots */
  nchunks = M > 0 ? (M + j.chunk - 1) / j.chunk : 0;
  if ((j.part = lt_scratch((size_t)(nchunks * N + 1) * sizeof *j.part, &hold)) == NULL)
    return -1;
  j.g = g; j.N = N;
  lt_parallel(M, j.chunk, 0, lt_colsum_task, &j);
  for (k = 0; k < N; k++) {
    double s = 0;
    for (c = 0; c < nchunks; c++) s += j.part[c * N + k];
    out[k] = (float)s;
  }
  lt_tensor_release(hold);
  return 0;
}

/* does summing g to shape mean summing whole leading dims of a
** contiguous g (the trailing dims kept whole)?  *M rows of *N then */
static int lt_sum_leading(const lt_tensor *g, const int64_t *shape, int ndim,
                          int64_t *M, int64_t *N) {
  int lead = g->ndim - ndim, d;
  *M = 1; *N = 1;
  if (!lt_is_contiguous(g)) return 0;
  for (d = 0; d < ndim && shape[d] == 1; d++) *M *= g->shape[lead + d];
  for (; d < ndim; d++) {
    if (shape[d] != g->shape[lead + d]) return 0;
    *N *= shape[d];
  }
  for (d = 0; d < lead; d++) *M *= g->shape[d];
  return 1;
}

/*
** Sum g (of a broadcast shape) down to `shape`: leading extra dims and
** dims where shape has 1 are summed.  Summing whole leading dims goes to
** lt_colsum; anything else views the result with stride 0 on the summed
** dims and accumulates into it.
*/
lt_tensor *lt_sum_to(lt_tensor *g, const int64_t *shape, int ndim) {
  int64_t bstride[LT_MAXDIM] = {0}, ostride[LT_MAXDIM], i, M, N;
  int lead = g->ndim - ndim, d;
  lt_tensor *out;
  lt_iter it;
  const int64_t *st[2];
  int64_t off[2];
  if (ndim == g->ndim && memcmp(shape, g->shape, (size_t)ndim * sizeof *shape) == 0)
    return lt_tensor_retain(g);
  if (lead < 0) { lt_err("sum_to: gradient has fewer dims than its input"); return NULL; }
  if (lt_sum_leading(g, shape, ndim, &M, &N)) {
    if ((out = lt_empty(shape, ndim)) != NULL && lt_colsum(lt_data(g), M, N, lt_data(out))) {
      lt_tensor_release(out);
      out = NULL;
    }
    return out;
  }
  if ((out = lt_zeros(shape, ndim)) == NULL) return NULL;
  lt_contig_strides(shape, ndim, ostride);
  for (d = 0; d < ndim; d++)
    bstride[lead + d] = (shape[d] == 1 && g->shape[lead + d] != 1) ? 0 : ostride[d];
  st[0] = bstride; st[1] = g->stride;
  off[0] = 0; off[1] = g->offset;
  lt_iter_init(&it, g->shape, g->ndim, 2, st, off);
  if (!it.empty) do {
    float *o = out->st->data + it.off[0];
    const float *s = g->st->data + it.off[1];
    int64_t os = it.inner[0], gs = it.inner[1];
    if (os == 0) {
      double acc = 0;
      for (i = 0; i < it.len; i++) acc += s[i * gs];
      o[0] += (float)acc;
    } else {
      for (i = 0; i < it.len; i++) o[i * os] += s[i * gs];
    }
  } while (lt_iter_next(&it));
  return out;
}

/* ---------------------------------------------------------------- engine */

static void lt_add_run(void *ctx, const int64_t *off, const int64_t *inner, int64_t len) {
  lt_tensor *const *t = ctx;
  float *d = t[0]->st->data + off[0];
  const float *s = t[1]->st->data + off[1];
  int64_t i, ds = inner[0], ss = inner[1];
  if (ds == 1 && ss == 1) for (i = 0; i < len; i++) d[i] += s[i];
  else for (i = 0; i < len; i++) d[i * ds] += s[i * ss];
}

/* dst += src in place, same shape, dst without overlapping elements */
static void lt_add_into(lt_tensor *dst, lt_tensor *src) {
  const int64_t *st[2];
  int64_t off[2];
  lt_tensor *t[2];
  lt_iter it;
  st[0] = dst->stride; st[1] = src->stride;
  off[0] = dst->offset; off[1] = src->offset;
  t[0] = dst; t[1] = src;
  lt_iter_init(&it, dst->shape, dst->ndim, 2, st, off);
  lt_iter_parallel(&it, 1, 0, lt_add_run, t);
}

/* a tensor no one else can see, each element once: its values may be
** overwritten (any dense layout: a gradient keeps its input's) */
static int lt_is_owned(const lt_tensor *t) {
  return t->refs == 1 && t->st->refs == 1 && t->offset == 0 &&
         (size_t)lt_numel(t) == t->st->n && lt_is_dense(t);
}

/* leaf .grad accumulates in place, like PyTorch: a held x.grad sees it */
static int lt_accumulate_leaf(lt_tensor *leaf, lt_tensor *g) {
  if (leaf->grad == NULL) {
    if (lt_is_owned(g)) leaf->grad = lt_tensor_retain(g);
    else if ((leaf->grad = lt_empty(g->shape, g->ndim)) == NULL) return -1;
    else lt_copy_into(leaf->grad, g);
    return 0;
  }
  if (!lt_is_dense(leaf->grad)) {   /* an assigned expanded grad: add out of place */
    lt_tensor *sum = lt_binary(LT_ADD, leaf->grad, g);
    if (sum == NULL) return -1;
    lt_tensor_release(leaf->grad);
    leaf->grad = sum;
    return 0;
  }
  lt_add_into(leaf->grad, g);
  return 0;
}

/* the gradients reaching a node from several uses are summed, in place
** once the running sum is a tensor of the engine's own */
static int lt_accumulate_node(lt_node *n, lt_tensor *g) {
  lt_tensor *sum;
  if (n->gacc == NULL) { n->gacc = lt_tensor_retain(g); return 0; }
  if (lt_is_owned(n->gacc)) {
    lt_prof_work((double)lt_numel(g));
    lt_add_into(n->gacc, g);
    return 0;
  }
  if ((sum = lt_binary(LT_ADD, n->gacc, g)) == NULL) return -1;
  lt_tensor_release(n->gacc);
  n->gacc = sum;
  return 0;
}

/*
** Topological order by iterative depth-first search: a node is appended
** after all the nodes it feeds from, so walking the list backwards visits
** every node before its inputs.  Each listed node is retained, because
** freeing the graph as we go would otherwise free nodes still listed.
*/
typedef struct { lt_node **v; size_t n, cap; } lt_nodevec;

static int lt_vec_push(lt_nodevec *v, lt_node *n) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 64;
    lt_node **nv = lt_realloc(v->v, cap * sizeof *nv);
    if (nv == NULL) { lt_err("backward: out of memory"); return -1; }
    v->v = nv;
    v->cap = cap;
  }
  v->v[v->n++] = n;
  return 0;
}

static unsigned lt_epoch = 0;

static int lt_topo(lt_node *root, lt_nodevec *order) {
  lt_nodevec stack = {0};
  unsigned epoch = ++lt_epoch;
  int rc = 0;
  root->mark = epoch;
  if (lt_vec_push(&stack, root)) return -1;
  while (stack.n > 0) {
    lt_node *n = stack.v[stack.n - 1];
    lt_node *next = NULL;
    int i;
    for (i = 0; i < n->ninputs && next == NULL; i++) {
      lt_tensor *in = n->inputs[i];
      if (in && in->grad_fn && in->grad_fn->mark != epoch) next = in->grad_fn;
    }
    if (next) {
      next->mark = epoch;
      if ((rc = lt_vec_push(&stack, next))) break;
    } else {
      stack.n--;
      lt_node_retain(n);
      if ((rc = lt_vec_push(order, n))) { lt_node_release(n); break; }
    }
  }
  free(stack.v);
  return rc;
}

/*
** lt_grad_of's capture: the gradient reaching each of `inputs` is summed
** into grads[k] instead of .grad, and no leaf's .grad is touched.
*/
typedef struct lt_capture {
  lt_tensor *const *inputs;
  lt_tensor **grads;
  int n;
} lt_capture;

static int lt_capture_add(const lt_capture *cap, const lt_tensor *t, lt_tensor *g) {
  int k;
  for (k = 0; k < cap->n; k++)
    if (cap->inputs[k] == t) {
      lt_tensor *sum;
      if (cap->grads[k] == NULL) { cap->grads[k] = lt_tensor_retain(g); continue; }
      if ((sum = lt_binary(LT_ADD, cap->grads[k], g)) == NULL) return -1;
      lt_tensor_release(cap->grads[k]);
      cap->grads[k] = sum;
    }
  return 0;
}

/* g flows into input `in` of a node: its node's sum, or its .grad (a
** leaf), or, when capturing, the capture (and on into its node) */
static int lt_deliver(lt_tensor *in, lt_tensor *g, const lt_capture *cap) {
  if (cap && lt_capture_add(cap, in, g)) return -1;
  if (in->grad_fn) return lt_accumulate_node(in->grad_fn, g);
  return cap ? 0 : lt_accumulate_leaf(in, g);
}

static int lt_node_step(lt_node *n, int retain, const lt_capture *cap) {
  lt_tensor *gbuf[4] = {0}, **gin = gbuf;
  char b1[96], b2[96];
  int i, rc = 0, prev;
  lt_tensor *g = n->gacc;
  if (g == NULL) return 0;    /* nothing flowed here */
  if (n->freed) {
    lt_err("backward: the graph through %s was freed by an earlier backward "
           "(pass {retain_graph=true} to the first one)", n->name);
    return -1;
  }
  for (i = 0; i < n->nsaved; i++) {
    const lt_saved *sv = n->saved[i];
    if (sv->t && sv->t->st->version != sv->version) {
      lt_err("backward: a tensor %s saved was written in place after it was saved "
             "(version %u, saved at %u): the gradient would be wrong", n->name,
             sv->t->st->version, sv->version);
      return -1;
    }
  }
  if (n->ninputs > 4 && (gin = lt_calloc((size_t)n->ninputs, sizeof *gin)) == NULL) {
    lt_err("backward: out of memory");
    return -1;
  }
  n->gacc = NULL;
  /* backward work, and summing what flows into the inputs, is charged to
  ** the scope whose forward made the node */
  prev = lt_prof_set_scope(n->scope);
  lt_prof_set_backward(1);
  if (n->backward(n, g, gin)) rc = -1;
  for (i = 0; i < n->ninputs && rc == 0; i++) {
    lt_tensor *in = n->inputs[i];
    if (!n->needs[i]) continue;
    if (gin[i] == NULL) { rc = -1; break; }
    if (!lt_same_shape(gin[i], in)) {
      lt_err("backward: %s produced a gradient of shape %s for an input of shape %s",
             n->name, lt_shape_str(gin[i], b1, sizeof b1), lt_shape_str(in, b2, sizeof b2));
      rc = -1;
    } else if (lt_anomaly_on && lt_anomaly_check(n, i, gin[i])) {
      rc = -1;
    } else {
      rc = lt_deliver(in, gin[i], cap);
    }
  }
  lt_prof_set_backward(0);
  lt_prof_set_scope(prev);
  for (i = 0; i < n->ninputs; i++) lt_tensor_release(gin[i]);
  if (gin != gbuf) free(gin);
  lt_tensor_release(g);
  if (rc == 0 && !retain) { lt_node_clear(n); n->freed = 1; }
  return rc;
}

static int lt_run_backward(lt_tensor *root, lt_tensor *seed, int retain_graph,
                           const lt_capture *cap) {
  lt_nodevec order = {0};
  char b1[96], b2[96];
  int rc = 0, prev;
  size_t i;
  if (!lt_needs_grad(root)) {
    lt_err("backward: tensor does not require grad and has no grad_fn");
    return -1;
  }
  if (seed == NULL && lt_numel(root) != 1) {
    lt_err("backward: grad can be implicitly created only for a 1-element tensor, "
           "got shape %s (pass a gradient)", lt_shape_str(root, b1, sizeof b1));
    return -1;
  }
  if (seed && !lt_same_shape(seed, root)) {
    lt_err("backward: gradient of shape %s for a tensor of shape %s",
           lt_shape_str(seed, b1, sizeof b1), lt_shape_str(root, b2, sizeof b2));
    return -1;
  }
  if (seed && lt_anomaly_on && lt_nonfinite(seed)) {
    lt_err("backward: the gradient passed to backward holds %s values (anomaly detection)",
           lt_nonfinite(seed) == 'n' ? "nan" : "inf");
    return -1;
  }
  prev = lt_set_grad_enabled(0);
  seed = seed ? lt_tensor_retain(seed) : lt_full(root->shape, root->ndim, 1.0f);
  if (seed == NULL) rc = -1;
  else if (root->grad_fn == NULL) rc = lt_deliver(root, seed, cap);
  else if ((rc = lt_topo(root->grad_fn, &order)) == 0 &&
           (rc = lt_deliver(root, seed, cap)) == 0) {
    for (i = order.n; i-- > 0 && rc == 0;) rc = lt_node_step(order.v[i], retain_graph, cap);
  }
  for (i = 0; i < order.n; i++) {   /* on error, drop partial gradients */
    lt_tensor_release(order.v[i]->gacc);
    order.v[i]->gacc = NULL;
    lt_node_release(order.v[i]);
  }
  free(order.v);
  lt_tensor_release(seed);
  lt_set_grad_enabled(prev);
  return rc;
}

int lt_backward(lt_tensor *root, lt_tensor *seed, int retain_graph) {
  return lt_run_backward(root, seed, retain_graph, NULL);
}

int lt_grad_of(lt_tensor *root, lt_tensor *seed, int retain_graph,
               lt_tensor *const *inputs, int n, lt_tensor **grads) {
  lt_capture cap;
  int k, rc;
  cap.inputs = inputs;
  cap.grads = grads;
  cap.n = n;
  for (k = 0; k < n; k++) grads[k] = NULL;
  if ((rc = lt_run_backward(root, seed, retain_graph, &cap)) != 0)
    for (k = 0; k < n; k++) { lt_tensor_release(grads[k]); grads[k] = NULL; }
  return rc;
}
