/*
** attention_head.c -- the fused attention's kernels for one (batch,
** head) pair, forward and backward (see attention.c for the whole op and
** attention.h for the types): tiles of query rows, their scores, the
** softmax and its recomputation, dropout, masks and the key limits.
*/
#include <math.h>
#include <string.h>

#include "attention.h"
#include "blas.h"
#include "pool.h"
#include "rowmath.h"

/* ================================================================ rows */

/* the keys query i sees (causal), all of them / those before the limit */
static int64_t at_row_full(const at_geom *g, int64_t i) {
  int64_t n = g->causal ? i + g->T - g->S + 1 : g->T;
  return n < 0 ? 0 : n > g->T ? g->T : n;
}

static int64_t at_row_len(const at_geom *g, int64_t i) {
  int64_t n = at_row_full(g, i);
  return n > g->lim ? g->lim : n;
}

/*
** A padding mask usually masks a suffix of each sequence: the keys after
** the batch's last kept one are skipped outright (as causal skips the
** future).  Only a query that sees no kept key at all could weigh them
** (all_masked='uniform'), and at_uniform_row does that one apart.
*/
int64_t at_keep_lim(const at_geom *g, const float *keep) {
  int64_t t = g->T;
  if (keep == NULL) return g->T;
  while (t > 0 && keep[t - 1] == 0.0f) t--;
  return t;
}

/* batch b's padding mask as T floats, 1 keep / 0 masked (any strides) */
void at_keep_row(float *keep, const lt_tensor *mask, int64_t b, int64_t T) {
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

/*
** A query whose visible keys are all masked (its lse is -inf) gets zero
** weights in its tile; with `uniform` (the seeds' gated module fills
** masked scores with -1e9 rather than -inf) it then weighs its n visible
** keys equally, skipped ones included, times their dropout factors: w
** gets those n weights.  Either way no gradient reaches its scores
** (masked_fill stops it).
*/
static void at_uniform_row(const at_geom *g, int64_t row, int64_t n, float *w) {
  int64_t t;
  if (g->p > 0.0f) at_drop_row(g, row, w, n);
  else for (t = 0; t < n; t++) w[t] = 1.0f;
  for (t = 0; t < n; t++) w[t] /= (float)n;
}

/* Ctrl-C: a head of a long sequence is a long chunk, so its tiles check
** too (pool.h) */
static int at_stop(void) {
  if (!lt_interrupted()) return 0;
  lt_err("interrupted");
  return 1;
}

/* (query, key) pairs one head works on: S*T, under causal the visible ones */
double at_pairs(const at_geom *g) {
  double n = 0;
  int64_t i;
  if (!g->causal) return (double)g->S * (double)g->T;
  for (i = 0; i < g->S; i++) n += (double)at_row_len(g, i);
  return n;
}

int64_t at_tile_rows(const at_geom *g) {
  int64_t r = AT_TILE / (g->T > 0 ? g->T : 1);
  if (r < AT_MINROWS) r = AT_MINROWS;
  return r > g->S ? (g->S > 0 ? g->S : 1) : r;
}

/* ================================================================ forward */

/*
** One (b, h): out (S x Dv, rows ld apart) and, when wanted, lse (S).  Per
** tile of rows [r0, r1) that see keys [0, L):
**   P = scale * Q[r0:r1] K[0:L]^T      sgemm, rows x L
**   P = softmax(mask(P)) rowwise       lt_softmax_rows, then dropout
**   out[r0:r1] = P V[0:L]              sgemm, rows x Dv
** A row with no visible key has lse -inf (rowmath.h's rule) and gets
** zero weights: the query attends to nothing.
*/
int at_forward_head(const at_geom *g, int64_t b, int64_t h,
                    const at_mat *q, const at_mat *k, const at_mat *v,
                    const float *keep, float *out, int64_t ld, float *lse,
                    float *P, float *drop, float *tlse) {
  const float *qh = at_head(q, b, h), *kh = at_head(k, b, h / g->G);
  const float *vh = at_head(v, b, h / g->G);
  int64_t tr = at_tile_rows(g), r0, i;
  for (r0 = 0; r0 < g->S; r0 += tr) {
    int64_t r1 = r0 + tr < g->S ? r0 + tr : g->S, n = r1 - r0;
    int64_t L = at_row_len(g, r1 - 1), ldp = L > 0 ? L : 1;
    if (at_stop() ||
        lt_sgemm(0, 1, n, L, g->D, g->scale, qh + r0 * q->ld, q->ld, kh, k->ld,
                 0.0f, P, ldp))
      return -1;
    at_softmax_tile(g, r0, n, L, P, keep, tlse);
    for (i = 0; i < n; i++) {
      float *row = P + i * ldp;
      int64_t len = at_row_len(g, r0 + i), t;
      if (tlse[i] == -INFINITY) memset(row, 0, (size_t)L * sizeof *row);
      else if (g->p > 0.0f) {
        at_drop_row(g, (b * g->H + h) * g->S + r0 + i, drop, len);
        for (t = 0; t < len; t++) row[t] *= drop[t];
      }
    }
    if (lse) memcpy(lse + r0, tlse, (size_t)n * sizeof *lse);
    if (lt_sgemm(0, 0, n, g->Dv, L, 1.0f, P, ldp, vh, v->ld, 0.0f,
                 out + r0 * ld, ld))
      return -1;
    for (i = 0; i < n && g->uniform; i++) {   /* the uniform rows, whole */
      int64_t nf = at_row_full(g, r0 + i), t, d;
      float *o = out + (r0 + i) * ld;
      if (tlse[i] != -INFINITY || nf == 0) continue;
      at_uniform_row(g, (b * g->H + h) * g->S + r0 + i, nf, drop);
      for (t = 0; t < nf; t++)
        for (d = 0; d < g->Dv; d++) o[d] += drop[t] * vh[t * v->ld + d];
    }
  }
  return 0;
}

/* ================================================================ backward */

/*
** One (b, h), per tile of rows [r0, r1) seeing keys [0, L), with
** W the softmax weights, d the dropout factors, Wd = W * d:
**   P  = W recomputed from scale * Q K^T and lse
**   dP = dO V^T * d
**   dS = W * (dP - rowsum(dP * W))
**   dV += Wd^T dO,  dQ = scale * dS K,  dK += scale * dS^T Q
** dK and dV accumulate over the row tiles, into (b, hk) of their at_dst
** (hk: the kv head, or the query head's own slot when kv heads are shared).
*/
int at_backward_head(const at_geom *g, int64_t b, int64_t h,
                     const at_mat *q, const at_mat *k, const at_mat *v,
                     const at_mat *go, const float *keep, const float *lse,
                     const at_dst *Dq, const at_dst *Dk, const at_dst *Dv,
                     int64_t hk, double *dbias, float *P, float *dP, float *drop) {
  const float *qh = at_head(q, b, h), *kh = at_head(k, b, h / g->G);
  const float *vh = at_head(v, b, h / g->G), *gh = at_head(go, b, h);
  float *dq = Dq ? at_dst_head(Dq, b, h) : NULL, *dk = Dk ? at_dst_head(Dk, b, hk) : NULL;
  float *dv = Dv ? at_dst_head(Dv, b, hk) : NULL;
  int64_t tr = at_tile_rows(g), r0, i, t;
  int ds = dq || dk || dbias;         /* dS needed (not just dV) */
  if (dbias) *dbias = 0;
  for (r0 = 0; r0 < g->S; r0 += tr) {
    int64_t r1 = r0 + tr < g->S ? r0 + tr : g->S, n = r1 - r0;
    int64_t L = at_row_len(g, r1 - 1), ldp = L > 0 ? L : 1;
    if (at_stop() ||
        lt_sgemm(0, 1, n, L, g->D, g->scale, qh + r0 * q->ld, q->ld, kh, k->ld,
                 0.0f, P, ldp) ||
        (ds && lt_sgemm(0, 1, n, L, g->Dv, 1.0f, gh + r0 * go->ld, go->ld, vh,
                        v->ld, 0.0f, dP, ldp)))
      return -1;
    at_reweigh_tile(g, r0, n, L, P, keep, lse);
    for (i = 0; i < n; i++) {
      float *w = P + i * ldp, *dw = dP + i * ldp, s;
      int64_t len = at_row_len(g, r0 + i);
      int empty = lse[r0 + i] == -INFINITY;
      if (empty) memset(w, 0, (size_t)L * sizeof *w);
      if (g->p > 0.0f)
        at_drop_row(g, (b * g->H + h) * g->S + r0 + i, drop, len);
      if (ds && empty) {
        memset(dw, 0, (size_t)L * sizeof *dw);
      } else if (ds) {
        if (g->p > 0.0f)
          for (t = 0; t < len; t++) dw[t] *= drop[t];
        s = (float)lt_row_dot(w, dw, len);
        for (t = 0; t < len; t++) dw[t] = w[t] * (dw[t] - s);
        for (t = len; t < L; t++) dw[t] = 0.0f;
        if (dbias) *dbias += lt_row_sum(dw, len);
      }
      if (g->p > 0.0f)
        for (t = 0; t < len; t++) w[t] *= drop[t];
    }
    if ((dv && lt_sgemm(1, 0, L, g->Dv, n, 1.0f, P, ldp, gh + r0 * go->ld, go->ld,
                        1.0f, dv, Dv->ld)) ||
        (dq && lt_sgemm(0, 0, n, g->D, L, g->scale, dP, ldp, kh, k->ld, 0.0f,
                        dq + r0 * Dq->ld, Dq->ld)) ||
        (dk && lt_sgemm(1, 0, L, g->D, n, g->scale, dP, ldp, qh + r0 * q->ld, q->ld,
                        1.0f, dk, Dk->ld)))
      return -1;
    for (i = 0; i < n && dv && g->uniform; i++) {   /* the uniform rows' dV */
      int64_t nf = at_row_full(g, r0 + i), d;
      const float *go_row = gh + (r0 + i) * go->ld;
      if (lse[r0 + i] != -INFINITY || nf == 0) continue;
      at_uniform_row(g, (b * g->H + h) * g->S + r0 + i, nf, drop);
      for (t = 0; t < nf; t++)
        for (d = 0; d < g->Dv; d++) dv[t * Dv->ld + d] += drop[t] * go_row[d];
    }
  }
  return 0;
}
