/*
** ops_mlp.c -- the fused MLP, forward next to backward:
**
**   y = gelu(x w1^T + b1) w2^T + b2      (GELU exact, or its tanh form)
**
**   x {...,K} (M rows), w1 {H,K}, b1 {H} or none, w2 {N,H}, b2 {N} or
**   none  ->  y {...,N}
**
** The same function as linear, gelu, linear (the specs hold it to that
** composition), but the rows go through all three in chunks of R rows,
** each chunk on one of the pool's threads with single-threaded BLAS, so
** the elementwise work meets its rows while they are in cache, and the
** activation is never kept whole.  Forward, per chunk:
**
**   h = x w1^T + b1     {R,H}  sgemm onto rows preset to b1; kept for backward
**   a = gelu(h)         {R,H}  into the thread's scratch
**   y = a w2^T + b2     {R,N}  sgemm onto rows preset to b2
**
** Backward, from g {M,N}, per chunk:
**
**   da = g w2                 {R,H}  sgemm, into dh's rows
**   a = gelu(h), dh = da gelu'(h)    one pass, one exp for both
**   dx = dh w1                {R,K}  sgemm
**
** then over all M rows: dw2 = g^T a and dw1 = dh^T x (one sgemm each, all
** of BLAS's threads, as linear's dw: cut into blocks of rows on the pool
** they made the op 15% slower), db2 and db1 the column sums of g and dh.  So
** backward recomputes the activation instead of keeping M*H floats of it
** from forward; the counters charge that (1 flop per element), as they
** charge attention's recomputed scores.  Chunk boundaries depend on the
** sizes only, so y, dx, db1 and db2 have the same bits on any thread
** count; dw1 and dw2, like linear's dw, repeat bit for bit on a given
** count (OpenBLAS's own split of a product depends on its thread count).
**
** Profiling: the three parts charge the scopes named by lt_prof_part(0..2)
** (nn.MLP names its Linear, GELU and Linear), the same counts the
** composition charges, plus the recomputation.
*/
#include <string.h>

#include "autograd.h"
#include "blas.h"
#include "linear.h"
#include "ops.h"
#include "pool.h"
#include "profile.h"
#include "vmath.h"

/* rows per chunk: a chunk's h and a together about 2 MiB (an L2 cache),
** but no fewer than 128 rows, since every chunk's products pack the
** whole weight again; a multiple of 16 (the sgemm kernels' rows).  Fewer
** when the pool is told to cut everything small (the specs' stress mode). */
static int64_t lt_mlp_rows(int64_t M, int64_t H) {
  int64_t r = (int64_t)262144 / (H > 0 ? H : 1), cut = lt_par_chunk(M, 1);
  r = r / 16 * 16;
  r = r < 128 ? 128 : r > 512 ? 512 : r;
  return cut < r ? cut : r;
}

/* the pool's flags for chunks of `rows` rows: products, heavy when their
** two products are */
static int lt_mlp_flags(int64_t rows, int64_t K, int64_t H, int64_t N) {
  return LT_PAR_BLAS | LT_PAR_INTR | lt_par_heavy(2.0 * (double)rows * H * (K + N));
}

/* ---------------------------------------------------------------- the activation */

static void lt_mlp_act(int tanh_form, const float *h, float *a, int64_t n) {
  int64_t i;
  if (tanh_form) for (i = 0; i < n; i++) a[i] = lt_vgelu_tanh(h[i]);
  else for (i = 0; i < n; i++) a[i] = lt_vgelu(h[i]);
}

/* dh *= gelu'(h), and a = gelu(h) when a is wanted (dw2 reads it) */
static void lt_mlp_act_grad(int tanh_form, const float *restrict h, float *restrict a,
                            float *restrict dh, int64_t n) {
  int64_t i;
  float d;
  if (tanh_form && a)
    for (i = 0; i < n; i++) { a[i] = lt_vgelu_tanh_pair(h[i], &d); dh[i] *= d; }
  else if (tanh_form)
    for (i = 0; i < n; i++) { lt_vgelu_tanh_pair(h[i], &d); dh[i] *= d; }
  else if (a)
    for (i = 0; i < n; i++) { a[i] = lt_vgelu_pair(h[i], &d); dh[i] *= d; }
  else
    for (i = 0; i < n; i++) { lt_vgelu_pair(h[i], &d); dh[i] *= d; }
}

/* ---------------------------------------------------------------- the chunks */

typedef struct lt_mlp_job {
  int64_t K, H, N, ldx, ld1, ld2;
  int wl1, wl2, tanh_form;
  const float *x, *w1, *b1, *w2, *b2;
  const float *r;           /* forward: the residual {M,N}, or NULL */
  float *h;                 /* {M,H}: forward keeps it, backward reads it */
  float *y;                 /* forward: {M,N} */
  const float *g;           /* backward: {M,N} */
  float *a, *dh, *dx;       /* backward: {M,H}, {M,H}, {M,K}, each or NULL */
  float *scratch;           /* forward: rows*H floats per thread */
  int64_t rows, per;        /* the scratch's rows, and floats (rows*H) */
} lt_mlp_job;

/* rows [0, n) of y {.,N} set to b (or nothing: the product overwrites) */
static void lt_mlp_preset(float *y, const float *b, int64_t n, int64_t N) {
  int64_t i;
  if (b) for (i = 0; i < n; i++) memcpy(y + i * N, b, (size_t)N * sizeof(float));
}

/* rows [0, n) of y plus the residual's, while they are in cache: the
** same sum, bit for bit, as adding the residual to the op's output */
static void lt_mlp_add_residual(float *y, const float *r, int64_t n, int64_t N) {
  int64_t i;
  for (i = 0; i < n * N; i++) y[i] = r[i] + y[i];
}

/* rows [lo, hi), at most j->rows of them (the scratch's size) */
static int lt_mlp_fwd_rows(const lt_mlp_job *j, int worker, int64_t lo, int64_t hi) {
  int64_t n = hi - lo, H = j->H, N = j->N;
  float *a = j->scratch + worker * j->per, *h = j->h ? j->h + lo * H : a;
  float *y = j->y + lo * N;
  lt_mlp_preset(h, j->b1, n, H);
  if (lt_sgemm(0, !j->wl1, n, H, j->K, 1.0f, j->x + lo * j->ldx, j->ldx, j->w1, j->ld1,
               j->b1 ? 1.0f : 0.0f, h, H))
    return -1;
  lt_mlp_act(j->tanh_form, h, a, n * H);    /* in place when h is not kept */
  lt_mlp_preset(y, j->b2, n, N);
  if (lt_sgemm(0, !j->wl2, n, N, H, 1.0f, a, H, j->w2, j->ld2, j->b2 ? 1.0f : 0.0f, y, N))
    return -1;
  if (j->r) lt_mlp_add_residual(y, j->r + lo * N, n, N);
  return 0;
}

/* the pool may hand out more rows than asked for (it caps the number of
** chunks of a huge job): take them in blocks the scratch holds, whose
** bounds still depend on the sizes only */
static int lt_mlp_fwd_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_mlp_job *j = ctx;
  int64_t r;
  for (r = lo; r < hi; r += j->rows)
    if (lt_mlp_fwd_rows(j, worker, r, hi - r > j->rows ? r + j->rows : hi)) return -1;
  return 0;
}

static int lt_mlp_bwd_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_mlp_job *j = ctx;
  int64_t n = hi - lo, K = j->K, H = j->H, N = j->N;
  const float *h = j->h + lo * H;
  float *a = j->a ? j->a + lo * H : NULL, *dh = j->dh ? j->dh + lo * H : NULL;
  (void)worker;
  if (dh == NULL) {                         /* only w2, b2 want gradients */
    lt_mlp_act(j->tanh_form, h, a, n * H);
    return 0;
  }
  if (lt_sgemm(0, j->wl2, n, H, N, 1.0f, j->g + lo * N, N, j->w2, j->ld2, 0.0f, dh, H))
    return -1;
  lt_mlp_act_grad(j->tanh_form, h, a, dh, n * H);
  return j->dx ? lt_sgemm(0, j->wl1, n, K, H, 1.0f, dh, H, j->w1, j->ld1, 0.0f,
                          j->dx + lo * K, K) : 0;
}

/* ---------------------------------------------------------------- backward */

/* x is saved when w1 needs a gradient, w1 when x does, w2 when anything
** before it does; h always.  part: the profile scopes of the three parts */
typedef struct lt_mlp_ctx {
  int64_t M, K, H, N;
  int tanh_form, part[3];
  lt_saved x, w1, w2, h;
} lt_mlp_ctx;

/* charge v to counter c (LT_PROF_FWD: the work counter) of part k's scope */
static void lt_mlp_charge(const int *part, int k, lt_prof_counter c, double v) {
  int prev;
  if (!lt_prof_on) return;
  prev = lt_prof_set_scope(part[k]);
  if (c == LT_PROF_FWD) lt_prof_work(v);
  else lt_prof_add(c, v);
  lt_prof_set_scope(prev);
}

static float *lt_mlp_grad_buf(lt_tensor **t, const int64_t *shape, int ndim) {
  return (*t = lt_empty(shape, ndim)) != NULL ? lt_data(*t) : NULL;
}

static int lt_mlp_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_mlp_ctx *c = lt_ag_ctx(n, lt_mlp_ctx);
  int64_t M = c->M, K = c->K, H = c->H, N = c->N, shape[2];
  int early = n->needs[0] || n->needs[1] || n->needs[2], rc = -1;
  lt_tensor *cg = lt_contiguous(g), *abuf = NULL, *dhbuf = NULL;
  lt_mlp_job j;
  if (cg == NULL) return -1;
  memset(&j, 0, sizeof j);
  j.K = K; j.H = H; j.N = N; j.tanh_form = c->tanh_form;
  j.g = lt_data(cg); j.h = lt_data(c->h.t);
  if (c->w1.t) { j.wl1 = lt_wlayout(c->w1.t, &j.ld1); j.w1 = lt_data(c->w1.t); }
  if (c->w2.t) { j.wl2 = lt_wlayout(c->w2.t, &j.ld2); j.w2 = lt_data(c->w2.t); }
  shape[0] = M; shape[1] = H;
  if (n->needs[3] && (j.a = lt_mlp_grad_buf(&abuf, shape, 2)) == NULL) goto done;
  if (early && (j.dh = lt_mlp_grad_buf(&dhbuf, shape, 2)) == NULL) goto done;
  if (n->needs[0]) {
    lt_tensor *x = n->inputs[0];
    if ((j.dx = lt_mlp_grad_buf(&gin[0], x->shape, x->ndim)) == NULL) goto done;
  }
  lt_mlp_charge(c->part, 2, LT_PROF_FWD, 2.0 * M * N * H * (early + n->needs[3]));
  lt_mlp_charge(c->part, 1, LT_PROF_FWD, (early ? 2.0 * M * H : 0) + (n->needs[3] ? M * H : 0));
  lt_mlp_charge(c->part, 0, LT_PROF_FWD, 2.0 * M * H * K * (n->needs[0] + n->needs[1]));
  if ((early || n->needs[3]) &&
      lt_parallel(M, lt_mlp_rows(M, H), lt_mlp_flags(lt_mlp_rows(M, H), K, H, N),
                  lt_mlp_bwd_task, &j))
    goto done;
  if (n->needs[3]) {
    shape[0] = N;
    if (lt_mlp_grad_buf(&gin[3], shape, 2) == NULL ||
        lt_sgemm(1, 0, N, H, M, 1.0f, j.g, N, j.a, H, 0.0f, lt_data(gin[3]), H))
      goto done;
  }
  if (n->needs[5]) gin[5] = lt_tensor_retain(g);   /* the residual's: g itself */
  if (n->needs[4] && (lt_mlp_grad_buf(&gin[4], &N, 1) == NULL ||
                      lt_colsum(j.g, M, N, lt_data(gin[4]))))
    goto done;
  if (n->needs[1]) {
    shape[0] = H; shape[1] = K;
    if (lt_mlp_grad_buf(&gin[1], shape, 2) == NULL ||
        lt_sgemm(1, 0, H, K, M, 1.0f, j.dh, H, lt_data(c->x.t), K, 0.0f, lt_data(gin[1]), K))
      goto done;
  }
  if (n->needs[2] && (lt_mlp_grad_buf(&gin[2], &H, 1) == NULL ||
                      lt_colsum(j.dh, M, H, lt_data(gin[2]))))
    goto done;
  rc = 0;
done:   /* the engine releases what gin holds */
  lt_tensor_release(cg);
  lt_tensor_release(abuf);
  lt_tensor_release(dhbuf);
  return rc;
}

/* ---------------------------------------------------------------- forward */

/* bias b (or none) of weight w: {w's rows} */
static int lt_mlp_check_bias(lt_tensor *b, const char *bname, lt_tensor *w, const char *wname,
                             const char *what) {
  char s1[160], s2[160];
  if (b == NULL || (b->ndim == 1 && b->shape[0] == w->shape[0])) return 0;
  lt_err("mlp: %s %s does not match %s %s (%s %lld)", bname, lt_shape_str(b, s1, sizeof s1),
         wname, lt_shape_str(w, s2, sizeof s2), what, (long long)w->shape[0]);
  return -1;
}

static int lt_mlp_check(lt_tensor *x, lt_tensor *w1, lt_tensor *b1, lt_tensor *w2,
                        lt_tensor *b2) {
  char s1[160], s2[160];
  if (w1->ndim != 2 || w2->ndim != 2) {
    lt_err("mlp: weights must be 2-d, got w1 %s and w2 %s", lt_shape_str(w1, s1, sizeof s1),
           lt_shape_str(w2, s2, sizeof s2));
    return -1;
  }
  if (x->ndim < 1 || x->shape[x->ndim - 1] != w1->shape[1]) {
    lt_err("mlp: input %s does not match w1 %s (in_features %lld)",
           lt_shape_str(x, s1, sizeof s1), lt_shape_str(w1, s2, sizeof s2),
           (long long)w1->shape[1]);
    return -1;
  }
  if (w2->shape[1] != w1->shape[0]) {
    lt_err("mlp: w2 %s does not match w1 %s (w2 must have %lld columns, the hidden features)",
           lt_shape_str(w2, s1, sizeof s1), lt_shape_str(w1, s2, sizeof s2),
           (long long)w1->shape[0]);
    return -1;
  }
  return lt_mlp_check_bias(b1, "b1", w1, "w1", "hidden features") ||
         lt_mlp_check_bias(b2, "b2", w2, "w2", "out_features");
}

/* the residual r (or none) has the output's shape, out {ndim} */
static int lt_mlp_check_residual(lt_tensor *r, const int64_t *out, int ndim) {
  char s1[160], s2[160];
  if (r == NULL || (r->ndim == ndim && memcmp(r->shape, out, (size_t)ndim * sizeof *out) == 0))
    return 0;
  lt_err("mlp: residual %s does not match the output %s", lt_shape_str(r, s1, sizeof s1),
         lt_dims_str(out, ndim, s2, sizeof s2));
  return -1;
}

/* t contiguous, without a node (the gradient goes to t itself) */
static lt_tensor *lt_mlp_dense(lt_tensor *t) {
  lt_tensor *c;
  if (lt_is_contiguous(t)) return lt_tensor_retain(t);
  if ((c = lt_empty(t->shape, t->ndim)) != NULL) lt_copy_into(c, t);
  return c;
}

/* the forward's work, charged to the parts' scopes as the composition would */
static void lt_mlp_charge_forward(const int *part, int64_t M, int64_t K, int64_t H,
                                  int64_t N, int b1, int b2) {
  lt_mlp_charge(part, 0, LT_PROF_LINEAR, (double)M * H * K);
  lt_mlp_charge(part, 0, LT_PROF_FWD, 2.0 * M * H * K + (b1 ? (double)M * H : 0));
  lt_mlp_charge(part, 1, LT_PROF_FWD, (double)M * H);
  lt_mlp_charge(part, 2, LT_PROF_LINEAR, (double)M * N * H);
  lt_mlp_charge(part, 2, LT_PROF_FWD, 2.0 * M * N * H + (b2 ? (double)M * N : 0));
}

lt_tensor *lt_mlp(lt_tensor *x, lt_tensor *w1, lt_tensor *b1, lt_tensor *w2, lt_tensor *b2,
                  lt_tensor *r, int tanh_form) {
  lt_tensor *cx = NULL, *cw1 = NULL, *cw2 = NULL, *cb1 = NULL, *cb2 = NULL, *cr = NULL;
  lt_tensor *h = NULL, *out = NULL, *hold = NULL, *in[6];
  int64_t shape[LT_MAXDIM], hshape[2], M, R;
  int part[3], k, record;
  lt_mlp_job j;
  lt_node *n;
  if (lt_mlp_check(x, w1, b1, w2, b2)) return NULL;
  for (k = 0; k < 3; k++) part[k] = lt_prof_part(k);
  in[0] = x; in[1] = w1; in[2] = b1; in[3] = w2; in[4] = b2; in[5] = r;
  for (record = 0, k = 0; k < 6; k++) record |= in[k] && lt_needs_grad(in[k]);
  record = record && lt_grad_enabled();
  memset(&j, 0, sizeof j);
  j.K = w1->shape[1]; j.H = w1->shape[0]; j.N = w2->shape[0]; j.tanh_form = tanh_form;
  M = lt_contig_strides(x->shape, x->ndim - 1, NULL);
  R = lt_mlp_rows(M, j.H);
  j.rows = M < R ? M : R;
  if (j.H > 0 && j.rows > INT64_MAX / (int64_t)sizeof(float) / lt_num_threads() / j.H) {
    lt_err("mlp: hidden size %lld is too large", (long long)j.H);
    return NULL;
  }
  j.per = j.rows * j.H;
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = j.N;
  if (lt_mlp_check_residual(r, shape, x->ndim)) return NULL;
  hshape[0] = M; hshape[1] = j.H;
  if ((cx = lt_mlp_dense(x)) == NULL || (cw1 = lt_linear_weight(w1, &j.wl1, &j.ld1)) == NULL ||
      (cw2 = lt_linear_weight(w2, &j.wl2, &j.ld2)) == NULL ||
      (b1 && (cb1 = lt_mlp_dense(b1)) == NULL) || (b2 && (cb2 = lt_mlp_dense(b2)) == NULL) ||
      (r && (cr = lt_mlp_dense(r)) == NULL) ||
      (record && (h = lt_empty(hshape, 2)) == NULL) ||
      (out = lt_empty(shape, x->ndim)) == NULL ||
      (j.scratch = lt_scratch((size_t)(j.per * lt_num_threads()) * sizeof(float),
                              &hold)) == NULL)
    goto fail;
  lt_mlp_charge_forward(part, M, j.K, j.H, j.N, b1 != NULL, b2 != NULL);
  if (r && lt_prof_on) lt_prof_work((double)M * j.N);   /* the add, the caller's */
  j.x = lt_data(cx); j.ldx = j.K > 0 ? j.K : 1;
  j.w1 = lt_data(cw1); j.w2 = lt_data(cw2);
  j.b1 = cb1 ? lt_data(cb1) : NULL; j.b2 = cb2 ? lt_data(cb2) : NULL;
  j.r = cr ? lt_data(cr) : NULL;
  j.h = h ? lt_data(h) : NULL; j.y = lt_data(out);
  if (lt_parallel(M, R, lt_mlp_flags(R, j.K, j.H, j.N), lt_mlp_fwd_task, &j)) goto fail;
  if (record && (n = lt_ag_record(out, "MlpBackward", lt_mlp_backward, in, 6,
                                  sizeof(lt_mlp_ctx))) != NULL) {
    lt_mlp_ctx *c = lt_ag_ctx(n, lt_mlp_ctx);
    c->M = M; c->K = j.K; c->H = j.H; c->N = j.N; c->tanh_form = tanh_form;
    memcpy(c->part, part, sizeof part);
    lt_ag_save(n, &c->h, h);
    if (n->needs[1]) lt_ag_save(n, &c->x, cx);
    if (n->needs[0]) lt_ag_save(n, &c->w1, cw1);
    if (n->needs[0] || n->needs[1] || n->needs[2]) lt_ag_save(n, &c->w2, cw2);
  }
  goto done;
fail:
  lt_tensor_release(out);
  out = NULL;
done:
  lt_tensor_release(cx); lt_tensor_release(cw1); lt_tensor_release(cw2);
  lt_tensor_release(cb1); lt_tensor_release(cb2); lt_tensor_release(cr);
  lt_tensor_release(h);
  lt_tensor_release(hold);
  return out;
}
