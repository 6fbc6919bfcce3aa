/*
** attention.h -- what the fused attention's two files share (internal to
** the core): the geometry of a call, how the kernels read an operand and
** write a result, and the kernels of one (batch, head) pair, which
** attention_head.c holds; attention.c checks a call, hands the pairs to
** the thread pool and records the node.
*/
#ifndef LT_ATTENTION_H
#define LT_ATTENTION_H

#include <stdint.h>

#include "tensor.h"

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
  int64_t lim;                        /* keys from lim on are masked: skipped */
  float scale, p;                     /* p: dropout probability */
  int causal, uniform;                /* uniform: see at_uniform_row */
  uint64_t seed;                      /* dropout hash seed */
  uint32_t thresh;                    /* drop when hash < thresh (24 bits) */
} at_geom;

/*
** One of q, k, v, dO as the kernels read it: the rows x cols matrix of
** (b, h) starts at p + b*sb + h*sh, row r at + r*ld, columns contiguous.
*/
typedef struct at_mat {
  const float *p;
  int64_t sb, sh, ld;
  lt_tensor *copy;                    /* owned copy, if t had no such layout */
} at_mat;
static inline const float *at_head(const at_mat *m, int64_t b, int64_t h) {
  return m->p + b * m->sb + h * m->sh;
}

/*
** Where a kernel writes a result (out, dQ, dK, dV) the same way: (b, h)'s
** matrix at p + b*sb + h*sh, rows ld apart.  The results are laid out
** like the inputs (lt_empty_order): for q from x:view{B,S,H,D}:
** transpose(2,3), out comes back as the transpose of a contiguous
** {B,S,H,Dv}, so merging the heads again is a view, not a copy, and the
** gradients flow back into the projections the same way.
*/
typedef struct at_dst {
  float *p;
  int64_t sb, sh, ld;
} at_dst;
static inline float *at_dst_head(const at_dst *d, int64_t b, int64_t h) {
  return d->p + b * d->sb + h * d->sh;
}

/* ---- the rows of one pair (attention_head.c) ---- */
double at_pairs(const at_geom *g);          /* (query, key) pairs of a head */
int64_t at_tile_rows(const at_geom *g);     /* query rows per tile */
/* batch b's padding mask as T floats, 1 keep / 0 masked; the key limit it sets */
void at_keep_row(float *keep, const lt_tensor *mask, int64_t b, int64_t T);
int64_t at_keep_lim(const at_geom *g, const float *keep);

/* one (b, h) forward: out (S x Dv, rows ld apart), lse (S) when wanted;
** scratch P (a tile), drop (T), tlse (a tile's rows) */
int at_forward_head(const at_geom *g, int64_t b, int64_t h,
                    const at_mat *q, const at_mat *k, const at_mat *v,
                    const float *keep, float *out, int64_t ld, float *lse,
                    float *P, float *drop, float *tlse);
/* one (b, h) backward: dQ, dK, dV at (b, h) / (b, hk) of their at_dst (NULL:
** not wanted), dbias the sum of its dS (NULL: not wanted); scratch P, dP
** (a tile each), drop (T) */
int at_backward_head(const at_geom *g, int64_t b, int64_t h,
                     const at_mat *q, const at_mat *k, const at_mat *v,
                     const at_mat *go, const float *keep, const float *lse,
                     const at_dst *Dq, const at_dst *Dk, const at_dst *Dv,
                     int64_t hk, double *dbias, float *P, float *dP, float *drop);

#endif
