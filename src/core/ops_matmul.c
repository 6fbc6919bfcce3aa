/*
** ops_matmul.c -- matrix products with PyTorch's matmul/bmm semantics,
** forward next to backward.
**
** Every product becomes sgemm calls on the operands' own memory: a
** matrix whose last two dims have one unit stride is read in place (a
** transposed view just flips BLAS's trans flag), a broadcast batch dim is
** a zero batch stride, never a copy.  Only a matrix with neither layout is
** copied.  When b is shared by the whole batch and a's batch and rows form
** one run of rows, the batch is folded into M: {B,S,K} @ {K,N} is one
** (B*S) x N x K sgemm, the common case of a Linear layer.
*/
#include <string.h>

#include "tensor.h"
#include "autograd.h"
#include "ops.h"
#include "blas.h"
#include "pool.h"
#include "profile.h"

/*
** One operand as a batch of rows x cols matrices: element (batch, i, j)
** sits at data + sum(batch idx * bstride) + i*rs + j*cs.  bstride runs
** over the output's batch dims, 0 where this operand is broadcast.
** layout: 0 row-major, 1 column-major (BLAS trans), with leading dim ld.
*/
typedef struct mm_operand {
  lt_tensor *t;            /* the tensor read (the input, or its copy) */
  lt_tensor *copy;         /* owned copy, when the input had no layout */
  int64_t rows, cols, rs, cs, ld;
  int64_t bstride[LT_MAXDIM];
  int layout;
} mm_operand;

/*
** How BLAS can read an r x c matrix with element (i,j) at i*rs + j*cs:
** 0 row-major, 1 column-major, -1 neither.  The stride of a size-1 dim is
** never used, so such a dim takes whatever value BLAS's checks want.
*/
static int mm_layout(int64_t r, int64_t c, int64_t rs, int64_t cs, int64_t *ld) {
  if ((c == 1 || cs == 1) && (r == 1 || rs >= c)) {
    *ld = r == 1 ? c : rs;
    return 0;
  }
  if ((r == 1 || rs == 1) && (c == 1 || cs >= r)) {
    *ld = c == 1 ? r : cs;
    return 1;
  }
  return -1;
}

/* a 1-d a is a 1 x K row, a 1-d b a K x 1 column (PyTorch's rule) */
static void mm_describe(mm_operand *o, lt_tensor *t, int is_b, int nb,
                        const int64_t *bs) {
  int nd = t->ndim, tb = nd > 2 ? nd - 2 : 0, i;
  o->t = t;
  if (nd == 1 && is_b) {
    o->rows = t->shape[0]; o->cols = 1; o->rs = t->stride[0]; o->cs = 1;
  } else if (nd == 1) {
    o->rows = 1; o->cols = t->shape[0]; o->rs = t->shape[0]; o->cs = t->stride[0];
  } else {
    o->rows = t->shape[nd - 2]; o->cols = t->shape[nd - 1];
    o->rs = t->stride[nd - 2]; o->cs = t->stride[nd - 1];
  }
  for (i = 0; i < nb; i++) {
    int d = i - (nb - tb);     /* t's batch dims align to the right */
    o->bstride[i] = (d < 0 || t->shape[d] == 1 || bs[i] == 1) ? 0 : t->stride[d];
  }
  o->layout = mm_layout(o->rows, o->cols, o->rs, o->cs, &o->ld);
}

/* describe t, copying it first if BLAS cannot read its matrices */
static int mm_prepare(mm_operand *o, lt_tensor *t, int is_b, int nb,
                      const int64_t *bs) {
  mm_describe(o, t, is_b, nb, bs);
  if (o->layout >= 0) return 0;
  /* a plain copy, not lt_contiguous: the copy must not enter the graph */
  if ((o->copy = lt_empty(t->shape, t->ndim)) == NULL) return -1;
  lt_copy_into(o->copy, t);
  mm_describe(o, o->copy, is_b, nb, bs);
  return 0;
}

static int mm_shared(const mm_operand *o, int nb) {
  int i;
  for (i = 0; i < nb; i++)
    if (o->bstride[i] != 0) return 0;
  return 1;
}

/*
** Can a's batch dims and rows be read as one run of *p row-major rows of
** stride *ld?  Merging from the inside out: a run of p rows at stride s
** absorbs an outer dim (n, st) when st == p*s.
*/
static int mm_fold_rows(const mm_operand *o, int nb, const int64_t *bs,
                        int64_t *p, int64_t *ld) {
  int64_t rows = o->rows, s = o->rs;
  int i;
  for (i = nb - 1; i >= 0; i--) {
    if (bs[i] == 1) continue;
    if (o->bstride[i] == 0) return 0;          /* a repeats: nothing to fold */
    if (rows != 1 && o->bstride[i] != rows * s) return 0;
    if (rows == 1) s = o->bstride[i];
    rows *= bs[i];
  }
  if (rows > 0x7fffffff) return 0;             /* keep it within blasint */
  *p = rows;
  return mm_layout(rows, o->cols, s, o->cs, ld) == 0;
}

/*
** c (contiguous {batch, M, N}) = a @ b, one sgemm per batch element.
** Batch elements go to the thread pool, each product single-threaded
** (attention-shaped products are many small ones); the element's
** operands are found from its batch index.
*/
typedef struct mm_job {
  const mm_operand *a, *b;
  int nb;
  const int64_t *bs;
  float *c;
} mm_job;

static int mm_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const mm_job *j = ctx;
  const mm_operand *a = j->a, *b = j->b;
  int64_t m = a->rows, n = b->cols, k = a->cols, i;
  (void)worker;
  for (i = lo; i < hi; i++) {
    int64_t rest = i, aoff = 0, boff = 0;
    int d;
    for (d = j->nb - 1; d >= 0; d--) {   /* batch index -> the operands' offsets */
      aoff += (rest % j->bs[d]) * a->bstride[d];
      boff += (rest % j->bs[d]) * b->bstride[d];
      rest /= j->bs[d];
    }
    if (lt_sgemm(a->layout, b->layout, m, n, k, 1.0f, lt_data(a->t) + aoff, a->ld,
                 lt_data(b->t) + boff, b->ld, 0.0f, j->c + i * m * n, n))
      return -1;
  }
  return 0;
}

static int mm_loop(const mm_operand *a, const mm_operand *b, int nb,
                   const int64_t *bs, float *c) {
  int64_t nbatch = 1, i, chunk;
  double work = 2.0 * (double)a->rows * (double)b->cols * (double)a->cols + 1000;
  mm_job j;
  for (i = 0; i < nb; i++) nbatch *= bs[i];
  j.a = a; j.b = b; j.nb = nb; j.bs = bs; j.c = c;
  chunk = lt_par_chunk(nbatch, work);
  return lt_parallel(nbatch, chunk, LT_PAR_BLAS | lt_par_heavy(work * (double)chunk), mm_task, &j);
}

static int mm_run(lt_tensor *a, lt_tensor *b, int nb, const int64_t *bs,
                  float *c) {
  mm_operand oa, ob;
  int64_t p, ld;
  int rc = -1;
  oa.copy = ob.copy = NULL;
  if (mm_prepare(&oa, a, 0, nb, bs) == 0 && mm_prepare(&ob, b, 1, nb, bs) == 0) {
    if (mm_shared(&ob, nb) && mm_fold_rows(&oa, nb, bs, &p, &ld))
      rc = lt_sgemm(0, ob.layout, p, ob.cols, oa.cols, 1.0f, lt_data(oa.t), ld,
                    lt_data(ob.t), ob.ld, 0.0f, c, ob.cols);
    else
      rc = mm_loop(&oa, &ob, nb, bs, c);
  }
  lt_tensor_release(oa.copy);
  lt_tensor_release(ob.copy);
  return rc;
}

/* ------------------------------------------------------------ backward */

/* the view of t's last two dims swapped (no autograd: backward runs without) */
static lt_tensor *mm_t(lt_tensor *t) {
  int64_t shape[LT_MAXDIM], stride[LT_MAXDIM];
  int nd = t->ndim;
  memcpy(shape, t->shape, sizeof shape);
  memcpy(stride, t->stride, sizeof stride);
  shape[nd - 2] = t->shape[nd - 1]; shape[nd - 1] = t->shape[nd - 2];
  stride[nd - 2] = t->stride[nd - 1]; stride[nd - 1] = t->stride[nd - 2];
  return lt_make_view(t, shape, stride, nd, t->offset);
}

/* t as a matrix: a 1-d a becomes {1,K}, a 1-d b {K,1} (views) */
static lt_tensor *mm_as_matrix(lt_tensor *t, int is_b) {
  int64_t shape[2], stride[2];
  if (t->ndim >= 2) return lt_tensor_retain(t);
  shape[0] = is_b ? t->shape[0] : 1;  stride[0] = is_b ? t->stride[0] : 0;
  shape[1] = is_b ? 1 : t->shape[0];  stride[1] = is_b ? 0 : t->stride[0];
  return lt_make_view(t, shape, stride, 2, t->offset);
}

/* gout with the dims a 1-d operand removed put back: {batch, M, N} */
static lt_tensor *mm_grad_view(lt_tensor *g, const lt_tensor *a,
                               const lt_tensor *b) {
  int64_t shape[LT_MAXDIM], stride[LT_MAXDIM];
  int nd = g->ndim;
  memcpy(shape, g->shape, sizeof shape);
  memcpy(stride, g->stride, sizeof stride);
  if (b->ndim == 1) { shape[nd] = 1; stride[nd] = 0; nd++; }
  if (a->ndim == 1) {
    shape[nd] = shape[nd - 1]; stride[nd] = stride[nd - 1];
    shape[nd - 1] = 1; stride[nd - 1] = 0;
    nd++;
  }
  return lt_make_view(g, shape, stride, nd, g->offset);
}

/* reduce the product g (shape {batch.., r, c}) to input t's shape */
static lt_tensor *mm_reduce(lt_tensor *g, const lt_tensor *t, const lt_tensor *t2) {
  lt_tensor *r = lt_sum_to(g, t2->shape, t2->ndim), *v;
  if (r == NULL || t->ndim >= 2) return r;
  /* back to 1-d: keep the stride of the dim that is not 1 */
  v = lt_make_view(r, t->shape, &r->stride[r->shape[0] == 1 ? 1 : 0], 1, r->offset);
  lt_tensor_release(r);
  return v;
}

/* grad_a = gout @ b^T, summed over the batch dims a was broadcast along */
static lt_tensor *mm_grad_a(lt_tensor *g2, lt_tensor *b2, const lt_tensor *a,
                            lt_tensor *a2) {
  lt_tensor *bt = mm_t(b2), *ga, *r;
  if (bt == NULL) return NULL;
  ga = lt_matmul(g2, bt);
  lt_tensor_release(bt);
  if (ga == NULL) return NULL;
  r = mm_reduce(ga, a, a2);
  lt_tensor_release(ga);
  return r;
}

/*
** grad_b = a^T @ gout, summed over broadcast batch dims.  When b is one
** matrix shared by a batch of a's, that sum is one sgemm over the folded
** rows, {K, B*S} @ {B*S, N}, instead of B products and a reduction.
*/
static lt_tensor *mm_grad_b(lt_tensor *g2, lt_tensor *a2, const lt_tensor *b,
                            lt_tensor *b2) {
  lt_tensor *af = NULL, *gf = NULL, *at = NULL, *gb = NULL, *r = NULL;
  int64_t k = a2->shape[a2->ndim - 1], n = g2->shape[g2->ndim - 1];
  if (b2->ndim == 2 && a2->ndim > 2) {
    int64_t sa[2], sg[2];
    int i;
    sa[0] = 1;
    for (i = 0; i < a2->ndim - 1; i++) sa[0] *= a2->shape[i];
    sg[0] = sa[0]; sa[1] = k; sg[1] = n;
    if ((af = lt_reshape(a2, sa, 2)) == NULL || (gf = lt_reshape(g2, sg, 2)) == NULL)
      goto done;
    a2 = af; g2 = gf;
  }
  if ((at = mm_t(a2)) == NULL || (gb = lt_matmul(at, g2)) == NULL) goto done;
  r = mm_reduce(gb, b, b2);
done:
  lt_tensor_release(af); lt_tensor_release(gf);
  lt_tensor_release(at); lt_tensor_release(gb);
  return r;
}

/*
** a is saved when b needs grad, b when a does; an operand not saved is
** then an input edge, so both are always at hand.
*/
typedef struct mm_ctx {
  lt_saved a, b;
} mm_ctx;

static int mm_backward(lt_node *n, lt_tensor *gout, lt_tensor **gin) {
  const mm_ctx *c = lt_ag_ctx(n, mm_ctx);
  lt_tensor *a = c->a.t ? c->a.t : n->inputs[0];
  lt_tensor *b = c->b.t ? c->b.t : n->inputs[1];
  lt_tensor *a2 = mm_as_matrix(a, 0), *b2 = mm_as_matrix(b, 1);
  lt_tensor *g2 = mm_grad_view(gout, a, b);
  int rc = -1;
  if (a2 == NULL || b2 == NULL || g2 == NULL) goto done;
  if (n->needs[0] && (gin[0] = mm_grad_a(g2, b2, a, a2)) == NULL) goto done;
  if (n->needs[1] && (gin[1] = mm_grad_b(g2, a2, b, b2)) == NULL) goto done;
  rc = 0;
done:   /* the engine releases whatever gin[] holds, even on error */
  lt_tensor_release(a2); lt_tensor_release(b2); lt_tensor_release(g2);
  return rc;
}

/* ------------------------------------------------------------ forward */

/* out = a @ b once shapes are checked; bs: the broadcast batch shape */
static lt_tensor *mm_forward(const char *name, lt_tensor *a, lt_tensor *b,
                             int nb, const int64_t *bs) {
  int64_t shape[LT_MAXDIM], k = a->shape[a->ndim - 1];
  int nd = nb;
  lt_tensor *out, *in[2];
  lt_node *n;
  memcpy(shape, bs, (size_t)nb * sizeof *bs);
  if (a->ndim > 1) shape[nd++] = a->shape[a->ndim - 2];
  if (b->ndim > 1) shape[nd++] = b->shape[b->ndim - 1];
  /* k == 0 is an empty sum: zeros, as in PyTorch */
  out = k == 0 ? lt_zeros(shape, nd) : lt_empty(shape, nd);
  if (out == NULL) return NULL;
  lt_prof_work(2.0 * (double)lt_numel(out) * (double)k);   /* k multiply-adds each */
  if (k > 0 && lt_numel(out) > 0 && mm_run(a, b, nb, bs, lt_data(out))) {
    lt_tensor_release(out);
    return NULL;
  }
  in[0] = a; in[1] = b;
  n = lt_ag_record(out, name, mm_backward, in, 2, sizeof(mm_ctx));
  if (n) {
    mm_ctx *c = lt_ag_ctx(n, mm_ctx);
    if (n->needs[1]) lt_ag_save(n, &c->a, a);
    if (n->needs[0]) lt_ag_save(n, &c->b, b);
  }
  return out;
}

static int mm_align(const char *op, const lt_tensor *a, const lt_tensor *b) {
  int64_t ka = a->shape[a->ndim - 1];
  int64_t kb = b->shape[b->ndim > 1 ? b->ndim - 2 : 0];
  char sa[128], sb[128];
  if (ka == kb) return 0;
  lt_err("%s: shapes %s and %s do not align (%lld ~= %lld)", op,
         lt_shape_str(a, sa, sizeof sa), lt_shape_str(b, sb, sizeof sb),
         (long long)ka, (long long)kb);
  return -1;
}

/* the broadcast of a's and b's batch dims (all but each one's last two) */
static int mm_batch(const lt_tensor *a, const lt_tensor *b, int64_t *bs, int *nb) {
  int na = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
  int n = na > nbb ? na : nbb, i;
  char sa[128], sb[128];
  for (i = 0; i < n; i++) {
    int ia = i - (n - na), ib = i - (n - nbb);
    int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      lt_err("matmul: batch dims %s and %s do not broadcast",
             lt_dims_str(a->shape, na, sa, sizeof sa),
             lt_dims_str(b->shape, nbb, sb, sizeof sb));
      return -1;
    }
    bs[i] = da == 1 ? db : da;
  }
  *nb = n;
  return 0;
}

/*
** a @ b as torch.matmul: 1-d @ 1-d is a dot product (0-d result); a 1-d
** a is a row and a 1-d b a column, their unit dim dropped from the
** result; batch dims broadcast: {2,1,3,4} @ {5,4,6} -> {2,5,3,6}.
*/
lt_tensor *lt_matmul(lt_tensor *a, lt_tensor *b) {
  int64_t bs[LT_MAXDIM];
  int nb;
  char sa[128], sb[128];
  if (a->ndim == 0 || b->ndim == 0) {
    lt_err("matmul: 0-d tensor (shapes %s and %s): both need at least 1 dim",
           lt_shape_str(a, sa, sizeof sa), lt_shape_str(b, sb, sizeof sb));
    return NULL;
  }
  if (mm_align("matmul", a, b) || mm_batch(a, b, bs, &nb)) return NULL;
  return mm_forward("MatmulBackward", a, b, nb, bs);
}

/* a @ b for {B,M,K} @ {B,K,N}: no broadcasting, no vectors */
lt_tensor *lt_bmm(lt_tensor *a, lt_tensor *b) {
  char sa[128], sb[128];
  if (a->ndim != 3 || b->ndim != 3) {
    lt_err("bmm: expected 3-d tensors, got %s and %s",
           lt_shape_str(a, sa, sizeof sa), lt_shape_str(b, sb, sizeof sb));
    return NULL;
  }
  if (a->shape[0] != b->shape[0]) {
    lt_err("bmm: batch sizes %lld and %lld differ (shapes %s and %s)",
           (long long)a->shape[0], (long long)b->shape[0],
           lt_shape_str(a, sa, sizeof sa), lt_shape_str(b, sb, sizeof sb));
    return NULL;
  }
  if (mm_align("bmm", a, b)) return NULL;
  return mm_forward("BmmBackward", a, b, 1, a->shape);
}
