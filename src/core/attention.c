/*
** attention.c -- fused scaled-dot-product attention, forward and backward.
**
**   q {B,H,S,D}, k {B,Hk,T,D}, v {B,Hk,T,Dv}  ->  out {B,H,S,Dv}
**   out = dropout(softmax(scale * q k^T, masked)) v, per (batch, head)
**
** Head h reads kv head h / (H/Hk), so MHA (Hk = H), GQA and MQA (Hk = 1)
** share one kernel and no k/v copy is made per query head.  The queries
** are the LAST S of the T positions (KV-cache decoding): with causal set,
** query i sees keys j <= i + T - S.
**
** The kernels read q, k, v and the output gradient in place whenever each
** (b,h) matrix has unit column stride (the usual x:view{B,S,H,D}:
** transpose(2,3) has), passing the row stride to sgemm as the leading dim;
** anything else is copied once.
**
** Query rows are processed in tiles (AT_TILE, attention.h), so that the tile's
** scores (rows x T floats) stay in cache between the two products and the
** softmax.  The S x T weights are never kept: forward saves each row's
** log-sum-exp (S floats per head) and backward recomputes the weights
** tile by tile from q, k and it (one more sgemm, as FlashAttention does).
** At S = T = 4096 and 8 heads that is 128 KiB saved instead of 512 MiB.
** Under causal masking a tile stops at its last row's last visible key,
** which skips about half the work.
**
** A row whose every key is masked (padding mask all zero, or causal with
** S > T) has no defined softmax: PyTorch returns NaN there.  lunet gives
** such a query an all-zero weight row, so a zero output and zero
** gradients, which keeps a padded batch from poisoning a loss with NaN.
** (The softmax itself is rowmath.c's, shared with lunet.softmax: such a
** row comes out of it with lse -inf, which is what marks it here.)
**
** Dropout needs the same keep/drop pattern in backward as in forward, and
** recomputing is cheaper than storing it.  So each call draws one 64-bit
** seed from the core's generator (lunet.manual_seed makes it
** reproducible) and derives every weight's keep bit from a hash of (seed,
** row, key): no per-element call into the generator, and backward
** regenerates the bits from the seed saved in the node.
**
** This file checks a call, hands the (batch, head) pairs to the thread
** pool and records the node; attention_head.c holds one pair's kernels.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "autograd.h"
#include "ops.h"
#include "attention.h"
#include "pool.h"
#include "profile.h"
#include "alloc.h"

/*
** What backward needs: the geometry, the operands as the kernels read
** them, and each query row's log-sum-exp, from which backward recomputes
** the weights.  The B*H*S log-sum-exps live in the context itself, so
** they are allocated with the node and freed with it.
*/
typedef struct at_ctx {
  at_geom g;
  lt_saved q, k, v, mask;
  float lse[];
} at_ctx;

static int at_rowmajor(const lt_tensor *t) {
  int64_t rows = t->shape[2], cols = t->shape[3];
  return (cols <= 1 || t->stride[3] == 1) && (rows <= 1 || t->stride[2] >= cols);
}

static int at_mat_init(at_mat *m, lt_tensor *t) {
  m->copy = NULL;
  if (!at_rowmajor(t)) {
    /* a plain copy, not lt_contiguous: it must not enter the graph */
    if ((m->copy = lt_empty(t->shape, 4)) == NULL) return -1;
    lt_copy_into(m->copy, t);
    t = m->copy;
  }
  m->p = lt_data(t);
  m->sb = t->stride[0];
  m->sh = t->stride[1];
  m->ld = t->shape[2] <= 1 ? t->shape[3] : t->stride[2];
  if (m->ld < 1) m->ld = 1;           /* BLAS wants ld >= 1 even for 0 cols */
  return 0;
}

/* a result of shape {B,H,rows,cols} laid out like the input `like`, as
** long as that keeps each row's columns contiguous (else contiguous) */
static lt_tensor *at_result(const int64_t *shape, const lt_tensor *like) {
  lt_tensor *t = lt_empty_order(shape, 4, like);
  if (t && shape[3] > 1 && t->stride[3] != 1) {
    lt_tensor_release(t);
    t = lt_empty(shape, 4);
  }
  return t;
}

static void at_dst_init(at_dst *d, lt_tensor *t) {
  d->p = lt_data(t);
  d->sb = t->stride[0];
  d->sh = t->stride[1];
  d->ld = t->stride[2] > 0 ? t->stride[2] : 1;
}

/* ================================================================ forward */

/*
** The (batch, head) pairs are independent: they go to the thread pool,
** each running single-threaded BLAS, with scratch of its own per thread
** (a tile of scores, the batch's keep row, dropout factors, tile lses).
*/
typedef struct at_job {
  const at_geom *g;
  const at_mat *q, *k, *v, *go;
  const lt_tensor *mask;
  at_dst out;                         /* forward's results */
  float *lse;
  const at_dst *dq, *dk, *dv;         /* backward's (dk, dv per query head if G > 1) */
  double *dbias;                      /* the bias's gradient per (b, h) */
  float *scratch;
  lt_tensor *hold;                    /* owns scratch (lt_scratch) */
  int64_t per_worker;                 /* scratch floats per thread */
} at_job;

/* scratch for every thread: floats per thread in *per, NULL when out of memory */
static float *at_scratch(const at_geom *g, int tiles, int64_t *per, lt_tensor **hold) {
  *per = tiles * at_tile_rows(g) * g->T + 2 * g->T + at_tile_rows(g) + 16;
  return lt_scratch((size_t)(*per * lt_num_threads()) * sizeof(float), hold);
}

static int at_forward_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const at_job *j = ctx;
  const at_geom *g = j->g;
  int64_t tr = at_tile_rows(g), bh;
  float *P = j->scratch + worker * j->per_worker, *keep = P + tr * g->T;
  float *drop = keep + g->T, *tlse = drop + g->T;
  at_geom gb = *g;                    /* this batch's: its key limit */
  for (bh = lo; bh < hi; bh++) {
    int64_t b = bh / g->H, h = bh % g->H;
    if (j->mask) at_keep_row(keep, j->mask, b, g->T);
    gb.lim = at_keep_lim(g, j->mask ? keep : NULL);
    if (at_forward_head(&gb, b, h, j->q, j->k, j->v, j->mask ? keep : NULL,
                        at_dst_head(&j->out, b, h), j->out.ld,
                        j->lse ? j->lse + bh * g->S : NULL, P, drop, tlse))
      return -1;
  }
  return 0;
}

/* (b, h) pairs per chunk: about LT_PAR_GRAIN flops each */
static int64_t at_chunk(const at_geom *g, double flops_per_pair) {
  return lt_par_chunk(g->B * g->H, at_pairs(g) * flops_per_pair);
}

static int at_forward(const at_geom *g, const at_mat *q, const at_mat *k,
                      const at_mat *v, const lt_tensor *mask, lt_tensor *out,
                      float *lse) {
  at_job j;
  int rc;
  memset(&j, 0, sizeof j);
  j.g = g; j.q = q; j.k = k; j.v = v; j.mask = mask; j.lse = lse;
  at_dst_init(&j.out, out);
  if ((j.scratch = at_scratch(g, 1, &j.per_worker, &j.hold)) == NULL) return -1;
  rc = lt_parallel(g->B * g->H, at_chunk(g, 2.0 * (g->D + g->Dv) + 5),
                   LT_PAR_BLAS | LT_PAR_INTR, at_forward_task, &j);
  lt_tensor_release(j.hold);
  return rc;
}
/* ================================================================ backward */

static int at_backward_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const at_job *j = ctx;
  const at_geom *g = j->g;
  int64_t tr = at_tile_rows(g), bh;
  float *P = j->scratch + worker * j->per_worker, *dP = P + tr * g->T;
  float *keep = dP + tr * g->T, *drop = keep + g->T;
  at_geom gb = *g;                    /* this batch's: its key limit */
  for (bh = lo; bh < hi; bh++) {
    int64_t b = bh / g->H, h = bh % g->H;
    if (j->mask) at_keep_row(keep, j->mask, b, g->T);
    gb.lim = at_keep_lim(g, j->mask ? keep : NULL);
    /* with G > 1, each query head's share of dK, dV goes to its own slot */
    if (at_backward_head(&gb, b, h, j->q, j->k, j->v, j->go, j->mask ? keep : NULL,
                         j->lse + bh * g->S, j->dq, j->dk, j->dv,
                         g->G > 1 ? h : h / g->G, j->dbias ? j->dbias + bh : NULL,
                         P, dP, drop))
      return -1;
  }
  return 0;
}

/* dK, dV of each kv head = the sums of its G query heads' slots, in head
** order; items are (b, kv head, key row) */
typedef struct at_sum_job {
  const at_geom *g;
  const at_dst *part, *out;
  int64_t W;                          /* floats per key row */
} at_sum_job;

static int at_sum_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const at_sum_job *j = ctx;
  const at_geom *g = j->g;
  int64_t r, i, gi;
  (void)worker;
  for (r = lo; r < hi; r++) {
    int64_t t = r % g->T, hk = (r / g->T) % g->Hk, b = r / (g->T * g->Hk);
    float *o = at_dst_head(j->out, b, hk) + t * j->out->ld;
    const float *p = at_dst_head(j->part, b, hk * g->G) + t * j->part->ld;
    memcpy(o, p, (size_t)j->W * sizeof *o);
    for (gi = 1; gi < g->G; gi++)
      for (i = 0; i < j->W; i++) o[i] += p[gi * j->part->sh + i];
  }
  return 0;
}

static int at_sum_heads(const at_geom *g, const at_dst *part, const at_dst *out, int64_t W) {
  at_sum_job j;
  int64_t rows = g->B * g->Hk * g->T;
  j.g = g; j.part = part; j.out = out; j.W = W;
  return lt_parallel(rows, lt_par_chunk(rows, (double)(g->G * W)), 0, at_sum_task, &j);
}

/* zeroed (dK, dV accumulate) */
static lt_tensor *at_zeros_like(const lt_tensor *t) {
  lt_tensor *z = at_result(t->shape, t);
  if (z) memset(z->st->data, 0, z->st->n * sizeof(float));
  return z;
}

static int at_backward(lt_node *nd, lt_tensor *gout, lt_tensor **gin) {
  const at_ctx *c = lt_ag_ctx(nd, at_ctx);
  const at_geom g = c->g;
  at_mat q, k, v, go;
  at_dst Dq, Dk, Dv, Pk, Pv;
  lt_tensor *dq = NULL, *dk = NULL, *dv = NULL, *db = NULL;
  float *part = NULL;
  lt_tensor *phold = NULL;
  at_job j;
  int shared = g.G > 1, rc = -1;
  int64_t b, h;
  q.copy = k.copy = v.copy = go.copy = NULL;
  memset(&j, 0, sizeof j);
  if (at_mat_init(&q, c->q.t) || at_mat_init(&k, c->k.t) ||
      at_mat_init(&v, c->v.t) || at_mat_init(&go, gout))
    goto done;
  /* dQ is written whole, tile by tile; dK and dV accumulate */
  if ((nd->needs[0] && (dq = at_result(c->q.t->shape, c->q.t)) == NULL) ||
      (nd->needs[1] && (dk = shared ? at_result(c->k.t->shape, c->k.t)
                                    : at_zeros_like(c->k.t)) == NULL) ||
      (nd->needs[2] && (dv = shared ? at_result(c->v.t->shape, c->v.t)
                                    : at_zeros_like(c->v.t)) == NULL) ||
      (nd->needs[3] && (db = lt_empty(nd->inputs[3]->shape, nd->inputs[3]->ndim)) == NULL))
    goto done;
  if (db && (j.dbias = lt_malloc((size_t)(g.B * g.H) * sizeof *j.dbias)) == NULL) {
    lt_err("attention: out of memory");
    goto done;
  }
  if (lt_prof_on)   /* per pair: scores and weights again, then each gradient */
    lt_prof_work((double)g.B * g.H * at_pairs(&g) *
                 (2.0 * g.D + 2 + (dq || dk || db ? 2.0 * g.Dv + 4 : 0) +
                  (dv ? 2.0 * g.Dv : 0) + (dq ? 2.0 * g.D : 0) + (dk ? 2.0 * g.D : 0)));
  if (dq) { at_dst_init(&Dq, dq); j.dq = &Dq; }
  if (dk) { at_dst_init(&Dk, dk); j.dk = &Dk; }
  if (dv) { at_dst_init(&Dv, dv); j.dv = &Dv; }
  if (shared && (dk || dv)) {           /* a zeroed slot per query head */
    size_t np = (size_t)(g.B * g.H * g.T * (g.D + g.Dv));
    if ((part = lt_scratch(np * sizeof *part, &phold)) == NULL) goto done;
    memset(part, 0, np * sizeof *part);
    Pk.p = part; Pk.ld = g.D; Pk.sh = g.T * g.D; Pk.sb = g.H * Pk.sh;
    Pv.p = part + g.B * g.H * g.T * g.D; Pv.ld = g.Dv; Pv.sh = g.T * g.Dv; Pv.sb = g.H * Pv.sh;
    if (dk) j.dk = &Pk;
    if (dv) j.dv = &Pv;
  }
  j.g = &g; j.q = &q; j.k = &k; j.v = &v; j.go = &go; j.mask = c->mask.t;
  j.lse = (float *)c->lse;
  if ((j.scratch = at_scratch(&g, 2, &j.per_worker, &j.hold)) == NULL ||
      lt_parallel(g.B * g.H, at_chunk(&g, 4.0 * (g.D + g.Dv) + 6),
                  LT_PAR_BLAS | LT_PAR_INTR, at_backward_task, &j) ||
      (part && dk && at_sum_heads(&g, &Pk, &Dk, g.D)) ||
      (part && dv && at_sum_heads(&g, &Pv, &Dv, g.Dv)))
    goto done;
  for (h = 0; db && h < g.H; h++) {    /* the bias: its head's dS, batches in order */
    double sum = 0;
    for (b = 0; b < g.B; b++) sum += j.dbias[b * g.H + h];
    lt_data(db)[h] = (float)sum;
  }
  gin[0] = dq; gin[1] = dk; gin[2] = dv; gin[3] = db;
  dq = dk = dv = db = NULL;
  rc = 0;
done:
  lt_tensor_release(j.hold);
  lt_tensor_release(phold);
  free(j.dbias);
  lt_tensor_release(q.copy); lt_tensor_release(k.copy);
  lt_tensor_release(v.copy); lt_tensor_release(go.copy);
  lt_tensor_release(dq); lt_tensor_release(dk); lt_tensor_release(dv);
  lt_tensor_release(db);
  return rc;
}

/* ================================================================ checks */

static int at_check(lt_tensor *q, lt_tensor *k, lt_tensor *v,
                    const lt_attn_opts *o, at_geom *g) {
  char a[96], b[96], c[96];
  lt_tensor *ts[3];
  const char *names = "qkv";
  int i;
  ts[0] = q; ts[1] = k; ts[2] = v;
  for (i = 0; i < 3; i++)
    if (ts[i]->ndim != 4) {
      lt_err("attention: expected 4-d q, k, v, got %d-d %c %s", ts[i]->ndim,
             names[i], lt_shape_str(ts[i], a, sizeof a));
      return -1;
    }
  lt_shape_str(q, a, sizeof a);
  lt_shape_str(k, b, sizeof b);
  lt_shape_str(v, c, sizeof c);
  if (k->shape[0] != v->shape[0] || k->shape[1] != v->shape[1] ||
      k->shape[2] != v->shape[2]) {
    lt_err("attention: k %s and v %s differ in batch, heads or length", b, c);
    return -1;
  }
  if (q->shape[0] != k->shape[0]) {
    lt_err("attention: q %s and k %s differ in batch (%lld ~= %lld)", a, b,
           (long long)q->shape[0], (long long)k->shape[0]);
    return -1;
  }
  if (q->shape[3] != k->shape[3]) {
    lt_err("attention: q and k head dims differ (%lld ~= %lld)",
           (long long)q->shape[3], (long long)k->shape[3]);
    return -1;
  }
  g->B = q->shape[0]; g->H = q->shape[1]; g->S = q->shape[2]; g->D = q->shape[3];
  g->Hk = k->shape[1]; g->T = k->shape[2]; g->Dv = v->shape[3];
  if (g->Hk == 0 ? g->H != 0 : g->H % g->Hk != 0) {
    lt_err("attention: q %s and k %s: %lld heads not divisible by %lld kv heads",
           a, b, (long long)g->H, (long long)g->Hk);
    return -1;
  }
  g->G = g->Hk ? g->H / g->Hk : 1;
  g->lim = g->T;
  if (o && o->mask) {
    const lt_tensor *m = o->mask;
    if (m->ndim != 2 || m->shape[0] != g->B || m->shape[1] != g->T) {
      lt_err("attention: mask %s does not match batch %lld and %lld keys",
             lt_shape_str(m, c, sizeof c), (long long)g->B, (long long)g->T);
      return -1;
    }
  }
  if (o && o->bias && lt_numel(o->bias) != g->H) {
    lt_err("attention: bias %s must hold one value per query head (%lld)",
           lt_shape_str(o->bias, c, sizeof c), (long long)g->H);
    return -1;
  }
  g->uniform = o ? o->uniform != 0 : 0;
  g->p = o ? o->dropout : 0.0f;
  if (!(g->p >= 0.0f && g->p < 1.0f)) {
    /* printf spells a NaN "-nan" or "nan" by its sign bit */
    lt_err("attention: dropout probability must be in [0, 1), got %g",
           g->p != g->p ? (double)NAN : (double)g->p);
    return -1;
  }
  g->scale = o ? o->scale : 0.0f;
  if (g->scale != g->scale || isinf(g->scale)) {
    lt_err("attention: scale must be finite, got %g", (double)g->scale);
    return -1;
  }
  if (g->scale <= 0.0f) g->scale = g->D > 0 ? 1.0f / sqrtf((float)g->D) : 1.0f;
  g->causal = o ? o->causal != 0 : 0;
  return 0;
}

/* ================================================================ entry */

lt_tensor *lt_attention(lt_tensor *q, lt_tensor *k, lt_tensor *v,
                        const lt_attn_opts *o) {
  at_geom g;
  at_mat mq, mk, mv;
  lt_tensor *out = NULL, *in[4];
  lt_node *nd = NULL;
  int64_t shape[4];
  if (at_check(q, k, v, o, &g)) return NULL;
  g.seed = 0;
  g.thresh = 0;
  if (g.p > 0.0f) {
    g.seed = lt_rng_next();
    g.thresh = (uint32_t)((double)g.p * 16777216.0);
  }
  mq.copy = mk.copy = mv.copy = NULL;
  shape[0] = g.B; shape[1] = g.H; shape[2] = g.S; shape[3] = g.Dv;
  if (at_mat_init(&mq, q) || at_mat_init(&mk, k) || at_mat_init(&mv, v) ||
      (out = at_result(shape, q)) == NULL)
    goto fail;
  /* recorded first, so that forward writes the log-sum-exps straight
  ** into the node (a failure below releases out, and the node with it) */
  in[0] = q; in[1] = k; in[2] = v; in[3] = o ? o->bias : NULL;
  nd = lt_ag_record(out, "AttentionBackward", at_backward, in, 4,
                    sizeof(at_ctx) + (size_t)(g.B * g.H * g.S) * sizeof(float));
  if (nd == NULL && lt_grad_enabled() &&
      (lt_needs_grad(q) || lt_needs_grad(k) || lt_needs_grad(v) ||
       (in[3] && lt_needs_grad(in[3])))) {
    lt_err("attention: out of memory");   /* not a graph silently dropped */
    goto fail;
  }
  if (at_forward(&g, &mq, &mk, &mv, o ? o->mask : NULL, out,
                 nd ? lt_ag_ctx(nd, at_ctx)->lse : NULL))
    goto fail;
  if (lt_prof_on) {   /* per pair: q.k, the softmax (~5), w*v */
    double f = (double)g.B * g.H * at_pairs(&g) * (2.0 * g.D + 2.0 * g.Dv + 5);
    lt_prof_work(f);
    lt_prof_add(LT_PROF_ATTN, f);
  }
  if (nd) {
    at_ctx *c = lt_ag_ctx(nd, at_ctx);
    c->g = g;
    /* the copies, if any, are what backward reads: keep them, not the views */
    lt_ag_save(nd, &c->q, mq.copy ? mq.copy : q);
    lt_ag_save(nd, &c->k, mk.copy ? mk.copy : k);
    lt_ag_save(nd, &c->v, mv.copy ? mv.copy : v);
    if (o && o->mask) lt_ag_save(nd, &c->mask, o->mask);
    lt_prof_add(LT_PROF_SAVED, (double)g.B * g.H * g.S * sizeof(float));   /* lse */
  }
  lt_tensor_release(mq.copy); lt_tensor_release(mk.copy); lt_tensor_release(mv.copy);
  return out;
fail:
  lt_tensor_release(out);
  lt_tensor_release(mq.copy); lt_tensor_release(mk.copy); lt_tensor_release(mv.copy);
  return NULL;
}
