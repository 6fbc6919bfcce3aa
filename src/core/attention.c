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
** Query rows are processed in tiles (AT_TILE below), so that the tile's
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
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "autograd.h"
#include "ops.h"
#include "rowmath.h"
#include "blas.h"
#include "profile.h"
#include "alloc.h"

/*
** Floats in one tile of scores (2 MiB).  Small enough to stay in cache
** between the products and the softmax; big enough (128 rows at T = 4096)
** that backward's rank-rows updates of dK and dV run near sgemm speed:
** measured best among 32K..2M at S = T = 4096.
*/
#define AT_TILE 524288
#define AT_MINROWS 16

typedef struct at_geom {
  int64_t B, H, Hk, G, S, T, D, Dv;   /* G = H / Hk heads per kv head */
  float scale, p;                     /* p: dropout probability */
  int causal;
  uint64_t seed;                      /* dropout hash seed */
  uint32_t thresh;                    /* drop when hash < thresh (24 bits) */
} at_geom;

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

/*
** One of q, k, v, dO as the kernels read it: the rows x cols matrix of
** (b, h) starts at p + b*sb + h*sh, row r at + r*ld, columns contiguous.
*/
typedef struct at_mat {
  const float *p;
  int64_t sb, sh, ld;
  lt_tensor *copy;                    /* owned copy, if t had no such layout */
} at_mat;

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

static const float *at_head(const at_mat *m, int64_t b, int64_t h) {
  return m->p + b * m->sb + h * m->sh;
}

/* ================================================================ rows */

static int64_t at_row_len(const at_geom *g, int64_t i) {
  int64_t n;
  if (!g->causal) return g->T;
  n = i + g->T - g->S + 1;
  return n < 0 ? 0 : n > g->T ? g->T : n;
}

/* batch b's padding mask as T floats, 1 keep / 0 masked (any strides) */
static void at_keep_row(float *keep, const lt_tensor *mask, int64_t b, int64_t T) {
  const float *m = lt_data(mask) + b * mask->stride[0];
  int64_t t;
  for (t = 0; t < T; t++) keep[t] = m[t * mask->stride[1]] != 0.0f ? 1.0f : 0.0f;
}

static uint64_t at_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/*
** Dropout factors of one row of weights: 1/(1-p) where kept, 0 where
** dropped.  The row's keys come from (seed, row); each weight's 24-bit
** uniform from two rounds of murmur3's 32-bit finalizer over (key, t),
** which vectorize (32-bit multiplies) and are bijective in t.
*/
static void at_drop_row(const at_geom *g, int64_t row, float *d, int64_t n) {
  uint64_t key = at_mix64(g->seed + (uint64_t)row * 0x9e3779b97f4a7c15u);
  uint32_t k1 = (uint32_t)key, k2 = (uint32_t)(key >> 32), th = g->thresh;
  float ks = 1.0f / (1.0f - g->p);
  int64_t t;
  for (t = 0; t < n; t++) {
    uint32_t x = (uint32_t)t * 0x9e3779b1u + k1;
    x ^= x >> 16; x *= 0x85ebca6bu; x ^= x >> 13; x *= 0xc2b2ae35u; x ^= x >> 16;
    x ^= k2;
    x ^= x >> 16; x *= 0x85ebca6bu; x ^= x >> 13; x *= 0xc2b2ae35u; x ^= x >> 16;
    d[t] = (x >> 8) >= th ? ks : 0.0f;
  }
}

/*
** Hide from a row of scores (or weights) what its query may not see: the
** keys from len on (causal) and the masked ones, set to v: -inf before
** the softmax, 0 when backward recomputes the weights.
*/
static void at_hide(float *x, int64_t len, int64_t L, const float *keep, float v) {
  int64_t t;
  if (keep)
    for (t = 0; t < len; t++) x[t] = keep[t] != 0.0f ? x[t] : v;
  for (t = len; t < L; t++) x[t] = v;
}

/*
** Softmax over a tile of n rows (row i is query r0 + i) of scores, ld L,
** in place; tlse gets each row's lse.  The tile goes to lt_softmax_rows
** as one block, its hidden scores -inf, when every row sees all L keys
** or the tile is small (its exps then take one vector loop, wasted ones
** included: faster at S = 10 than ten short loops).  A bigger causal tile
** goes row by row over the keys each row sees, since a block would take
** the exps of the hidden half of a square tile too.
*/
#define AT_BLOCK 2048

static void at_softmax_tile(const at_geom *g, int64_t r0, int64_t n, int64_t L,
                            float *P, const float *keep, float *tlse) {
  int64_t i;
  if (!g->causal || n * L <= AT_BLOCK) {
    if (keep || g->causal)
      for (i = 0; i < n; i++)
        at_hide(P + i * L, at_row_len(g, r0 + i), L, keep, -INFINITY);
    lt_softmax_rows(P, n, L, P, NULL, tlse);
    return;
  }
  for (i = 0; i < n; i++) {
    float *row = P + i * L;
    int64_t len = at_row_len(g, r0 + i);
    at_hide(row, len, len, keep, -INFINITY);
    tlse[i] = lt_softmax_row(row, len, row);   /* len 0: -inf */
    at_hide(row, len, L, NULL, 0.0f);
  }
}

/* the tile's weights again, from its scores and the rows' saved lse */
static void at_reweigh_tile(const at_geom *g, int64_t r0, int64_t n, int64_t L,
                            float *P, const float *keep, const float *lse) {
  int64_t i;
  if (!g->causal || n * L <= AT_BLOCK) {
    lt_rows_exp(P, P, lse + r0, n, L);
    if (keep || g->causal)
      for (i = 0; i < n; i++) at_hide(P + i * L, at_row_len(g, r0 + i), L, keep, 0.0f);
    return;
  }
  for (i = 0; i < n; i++) {
    float *row = P + i * L;
    int64_t len = at_row_len(g, r0 + i);
    lt_row_exp(row, row, len, lse[r0 + i]);
    at_hide(row, len, L, keep, 0.0f);
  }
}

/* (query, key) pairs one head works on: S*T, under causal the visible ones */
static double at_pairs(const at_geom *g) {
  double n = 0;
  int64_t i;
  if (!g->causal) return (double)g->S * (double)g->T;
  for (i = 0; i < g->S; i++) n += (double)at_row_len(g, i);
  return n;
}

static int64_t at_tile_rows(const at_geom *g) {
  int64_t r = AT_TILE / (g->T > 0 ? g->T : 1);
  if (r < AT_MINROWS) r = AT_MINROWS;
  return r > g->S ? (g->S > 0 ? g->S : 1) : r;
}

/* ================================================================ forward */

/*
** One (b, h): out (S x Dv, contiguous) and, when wanted, lse (S).  Per
** tile of rows [r0, r1) that see keys [0, L):
**   P = scale * Q[r0:r1] K[0:L]^T      sgemm, rows x L
**   P = softmax(mask(P)) rowwise       lt_softmax_rows, then dropout
**   out[r0:r1] = P V[0:L]              sgemm, rows x Dv
** A row with no visible key has lse -inf (rowmath.h's rule) and gets
** zero weights: the query attends to nothing.
*/
static int at_forward_head(const at_geom *g, int64_t b, int64_t h,
                           const at_mat *q, const at_mat *k, const at_mat *v,
                           const float *keep, float *out, float *lse,
                           float *P, float *drop, float *tlse) {
  const float *qh = at_head(q, b, h), *kh = at_head(k, b, h / g->G);
  const float *vh = at_head(v, b, h / g->G);
  int64_t tr = at_tile_rows(g), r0, i;
  for (r0 = 0; r0 < g->S; r0 += tr) {
    int64_t r1 = r0 + tr < g->S ? r0 + tr : g->S, n = r1 - r0;
    int64_t L = at_row_len(g, r1 - 1), ldp = L > 0 ? L : 1;
    if (lt_sgemm(0, 1, n, L, g->D, g->scale, qh + r0 * q->ld, q->ld, kh, k->ld,
                 0.0f, P, ldp))
      return -1;
    at_softmax_tile(g, r0, n, L, P, keep, tlse);
    for (i = 0; i < n; i++) {
      float *row = P + i * ldp;
      int64_t len = at_row_len(g, r0 + i), t;
      if (tlse[i] == -INFINITY) memset(row, 0, (size_t)L * sizeof *row);
      if (g->p > 0.0f) {
        at_drop_row(g, (b * g->H + h) * g->S + r0 + i, drop, len);
        for (t = 0; t < len; t++) row[t] *= drop[t];
      }
    }
    if (lse) memcpy(lse + r0, tlse, (size_t)n * sizeof *lse);
    if (lt_sgemm(0, 0, n, g->Dv, L, 1.0f, P, ldp, vh, v->ld, 0.0f,
                 out + r0 * g->Dv, g->Dv))
      return -1;
  }
  return 0;
}

static int at_forward(const at_geom *g, const at_mat *q, const at_mat *k,
                      const at_mat *v, const lt_tensor *mask, float *out,
                      float *lse) {
  int64_t tr = at_tile_rows(g), T = g->T, b, h;
  float *P = lt_malloc((size_t)(tr * T + 2 * T + tr + 1) * sizeof *P), *keep, *drop, *tlse;
  int rc = 0;
  if (P == NULL) { lt_err("attention: out of memory"); return -1; }
  keep = P + tr * T;
  drop = keep + T;
  tlse = drop + T;
  for (b = 0; b < g->B && rc == 0; b++) {
    if (mask) at_keep_row(keep, mask, b, T);
    for (h = 0; h < g->H && rc == 0; h++) {
      int64_t bh = b * g->H + h;
      rc = at_forward_head(g, b, h, q, k, v, mask ? keep : NULL,
                           out + bh * g->S * g->Dv, lse ? lse + bh * g->S : NULL,
                           P, drop, tlse);
    }
  }
  free(P);
  return rc;
}

/* ================================================================ backward */

/*
** One (b, h), per tile of rows [r0, r1) seeing keys [0, L), with
** W the softmax weights, d the dropout factors, Wd = W * d:
**   P  = W recomputed from scale * Q K^T and lse
**   dP = dO V^T * d
**   dS = W * (dP - rowsum(dP * W))
**   dV += Wd^T dO,  dQ = scale * dS K,  dK += scale * dS^T Q
** dK and dV accumulate over the G heads sharing the kv head.
*/
static int at_backward_head(const at_geom *g, int64_t b, int64_t h,
                            const at_mat *q, const at_mat *k, const at_mat *v,
                            const at_mat *go, const float *keep, const float *lse,
                            float *dq, float *dk, float *dv, float *P, float *dP,
                            float *drop) {
  const float *qh = at_head(q, b, h), *kh = at_head(k, b, h / g->G);
  const float *vh = at_head(v, b, h / g->G), *gh = at_head(go, b, h);
  int64_t tr = at_tile_rows(g), r0, i, t;
  int ds = dq || dk;                  /* dS needed (not just dV) */
  for (r0 = 0; r0 < g->S; r0 += tr) {
    int64_t r1 = r0 + tr < g->S ? r0 + tr : g->S, n = r1 - r0;
    int64_t L = at_row_len(g, r1 - 1), ldp = L > 0 ? L : 1;
    if (lt_sgemm(0, 1, n, L, g->D, g->scale, qh + r0 * q->ld, q->ld, kh, k->ld,
                 0.0f, P, ldp) ||
        (ds && lt_sgemm(0, 1, n, L, g->Dv, 1.0f, gh + r0 * go->ld, go->ld, vh,
                        v->ld, 0.0f, dP, ldp)))
      return -1;
    at_reweigh_tile(g, r0, n, L, P, keep, lse);
    for (i = 0; i < n; i++) {
      float *w = P + i * ldp, *dw = dP + i * ldp, s;
      int64_t len = at_row_len(g, r0 + i);
      if (g->p > 0.0f)
        at_drop_row(g, (b * g->H + h) * g->S + r0 + i, drop, len);
      if (ds) {
        if (g->p > 0.0f)
          for (t = 0; t < len; t++) dw[t] *= drop[t];
        s = (float)lt_row_dot(w, dw, len);
        for (t = 0; t < len; t++) dw[t] = w[t] * (dw[t] - s);
        for (t = len; t < L; t++) dw[t] = 0.0f;
      }
      if (g->p > 0.0f)
        for (t = 0; t < len; t++) w[t] *= drop[t];
    }
    if ((dv && lt_sgemm(1, 0, L, g->Dv, n, 1.0f, P, ldp, gh + r0 * go->ld, go->ld,
                        1.0f, dv, g->Dv)) ||
        (dq && lt_sgemm(0, 0, n, g->D, L, g->scale, dP, ldp, kh, k->ld, 0.0f,
                        dq + r0 * g->D, g->D)) ||
        (dk && lt_sgemm(1, 0, L, g->D, n, g->scale, dP, ldp, qh + r0 * q->ld, q->ld,
                        1.0f, dk, g->D)))
      return -1;
  }
  return 0;
}

static int at_backward(lt_node *nd, lt_tensor *gout, lt_tensor **gin) {
  const at_ctx *c = lt_ag_ctx(nd, at_ctx);
  const at_geom g = c->g;
  at_mat q, k, v, go;
  lt_tensor *mask = c->mask.t, *dq = NULL, *dk = NULL, *dv = NULL;
  const float *lse = c->lse;
  float *P = NULL, *keep, *drop;
  int64_t tr, b, h;
  int rc = -1;
  q.copy = k.copy = v.copy = go.copy = NULL;
  if (at_mat_init(&q, c->q.t) || at_mat_init(&k, c->k.t) ||
      at_mat_init(&v, c->v.t) || at_mat_init(&go, gout))
    goto done;
  /* dQ is written whole, tile by tile; dK and dV accumulate */
  if ((nd->needs[0] && (dq = lt_empty(c->q.t->shape, 4)) == NULL) ||
      (nd->needs[1] && (dk = lt_zeros(c->k.t->shape, 4)) == NULL) ||
      (nd->needs[2] && (dv = lt_zeros(c->v.t->shape, 4)) == NULL))
    goto done;
  if (lt_prof_on)   /* per pair: scores and weights again, then each gradient */
    lt_prof_work((double)g.B * g.H * at_pairs(&g) *
                 (2.0 * g.D + 2 + (dq || dk ? 2.0 * g.Dv + 4 : 0) +
                  (dv ? 2.0 * g.Dv : 0) + (dq ? 2.0 * g.D : 0) + (dk ? 2.0 * g.D : 0)));
  tr = at_tile_rows(&g);
  P = lt_malloc((size_t)(2 * tr * g.T + 2 * g.T + 1) * sizeof *P);
  if (P == NULL) { lt_err("attention: out of memory"); goto done; }
  keep = P + 2 * tr * g.T;
  drop = keep + g.T;
  for (b = 0; b < g.B; b++) {
    if (mask) at_keep_row(keep, mask, b, g.T);
    for (h = 0; h < g.H; h++) {
      int64_t bh = b * g.H + h, bg = b * g.Hk + h / g.G;
      if (at_backward_head(&g, b, h, &q, &k, &v, &go, mask ? keep : NULL,
                           lse + bh * g.S,
                           dq ? lt_data(dq) + bh * g.S * g.D : NULL,
                           dk ? lt_data(dk) + bg * g.T * g.D : NULL,
                           dv ? lt_data(dv) + bg * g.T * g.Dv : NULL,
                           P, P + tr * g.T, drop))
        goto done;
    }
  }
  gin[0] = dq; gin[1] = dk; gin[2] = dv;
  dq = dk = dv = NULL;
  rc = 0;
done:
  free(P);
  lt_tensor_release(q.copy); lt_tensor_release(k.copy);
  lt_tensor_release(v.copy); lt_tensor_release(go.copy);
  lt_tensor_release(dq); lt_tensor_release(dk); lt_tensor_release(dv);
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
  if (o && o->mask) {
    const lt_tensor *m = o->mask;
    if (m->ndim != 2 || m->shape[0] != g->B || m->shape[1] != g->T) {
      lt_err("attention: mask %s does not match batch %lld and %lld keys",
             lt_shape_str(m, c, sizeof c), (long long)g->B, (long long)g->T);
      return -1;
    }
  }
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
  lt_tensor *out = NULL, *in[3];
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
      (out = lt_empty(shape, 4)) == NULL)
    goto fail;
  /* recorded first, so that forward writes the log-sum-exps straight
  ** into the node (a failure below releases out, and the node with it) */
  in[0] = q; in[1] = k; in[2] = v;
  nd = lt_ag_record(out, "AttentionBackward", at_backward, in, 3,
                    sizeof(at_ctx) + (size_t)(g.B * g.H * g.S) * sizeof(float));
  if (nd == NULL && lt_grad_enabled() &&
      (lt_needs_grad(q) || lt_needs_grad(k) || lt_needs_grad(v))) {
    lt_err("attention: out of memory");   /* not a graph silently dropped */
    goto fail;
  }
  if (at_forward(&g, &mq, &mk, &mv, o ? o->mask : NULL, lt_data(out),
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
