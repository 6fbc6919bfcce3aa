/*
** ops_nn.c -- the layers that live in C: embedding, rotary embedding and
** dropout as fused ops, each with its context struct and backward just
** above its forward (linear is in ops_linear.c, the norms in ops_norm.c).
** Shapes are given in the comments ({N,D}: N rows of width D).
*/
#include <math.h>
#include <string.h>

#include "autograd.h"
#include "ops.h"
#include "pool.h"
#include "profile.h"

/* ---------------------------------------------------------------- embedding */

/* ids (any shape, 0-based; int64, or whole floats) w {V,D} -> {ids..., D};
** backward scatters rows */
typedef struct lt_embedding_ctx {
  int64_t D, V;
  lt_saved ids;             /* contiguous, checked in range by forward */
} lt_embedding_ctx;

typedef struct lt_emb_job {
  const int64_t *ids;
  const float *src;
  float *dst;
  int64_t N, D;
} lt_emb_job;

/* backward: columns [lo, hi) of dw, every id in order (the sums come out
** the same on any thread count) */
static int lt_emb_bw_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_emb_job *j = ctx;
  int64_t i, k, D = j->D;
  (void)worker;
  for (i = 0; i < j->N; i++) {
    float *row = j->dst + j->ids[i] * D;
    const float *g = j->src + i * D;
    for (k = lo; k < hi; k++) row[k] += g[k];
  }
  return 0;
}

/* forward: rows [lo, hi) of the output, each a copy of its id's row */
static int lt_emb_fw_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_emb_job *j = ctx;
  int64_t i;
  (void)worker;
  for (i = lo; i < hi; i++)
    memcpy(j->dst + i * j->D, j->src + j->ids[i] * j->D, (size_t)j->D * sizeof(float));
  return 0;
}

static int lt_embedding_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_embedding_ctx *c = lt_ag_ctx(n, lt_embedding_ctx);
  lt_tensor *ids = c->ids.t, *cg = lt_contiguous(g), *dw;
  int64_t D = c->D, shape[2];
  lt_emb_job j;
  if (cg == NULL) return -1;
  shape[0] = c->V; shape[1] = D;
  if ((dw = lt_zeros(shape, 2)) != NULL) {
    j.ids = lt_i64(ids); j.src = lt_data(cg); j.dst = lt_data(dw);
    j.N = lt_numel(ids); j.D = D;
    lt_parallel(D, lt_par_chunk(D, (double)j.N), 0, lt_emb_bw_task, &j);
  }
  lt_tensor_release(cg);
  gin[1] = dw;
  return dw ? 0 : -1;
}

lt_tensor *lt_embedding(lt_tensor *ids, lt_tensor *w) {
  int64_t shape[LT_MAXDIM], N, D, V, i;
  lt_tensor *cid, *out, *in[2];
  lt_node *n;
  char b[160];
  if (w->ndim != 2) {
    lt_err("embedding: weight must be 2-d {num_embeddings, dim}, got %s",
           lt_shape_str(w, b, sizeof b));
    return NULL;
  }
  if (ids->ndim >= LT_MAXDIM) { lt_err("embedding: ids have too many dims"); return NULL; }
  V = w->shape[0]; D = w->shape[1];
  if ((cid = lt_ids("embedding", "ids", ids, 0)) == NULL) return NULL;
  N = lt_numel(cid);
  for (i = 0; i < N; i++) {
    int64_t id = lt_i64(cid)[i];
    if (id < 0 || id >= V) {   /* shown 1-based, as users wrote them */
      lt_err("embedding: id %lld out of range for %lld embeddings (ids are 1-based: 1..%lld)",
             (long long)id + 1, (long long)V, (long long)V);
      lt_tensor_release(cid);
      return NULL;
    }
  }
  memcpy(shape, ids->shape, sizeof shape);
  shape[ids->ndim] = D;
  if ((out = lt_empty(shape, ids->ndim + 1)) != NULL) {
    lt_tensor *cw = lt_contiguous(w);
    lt_emb_job j;
    if (cw == NULL) { lt_tensor_release(out); out = NULL; }
    else {
      j.ids = lt_i64(cid); j.src = lt_data(cw); j.dst = lt_data(out); j.N = N; j.D = D;
      lt_parallel(N, lt_par_chunk(N, (double)D), 0, lt_emb_fw_task, &j);
      lt_tensor_release(cw);
    }
  }
  in[0] = NULL; in[1] = w;
  if (out && (n = lt_ag_record(out, "EmbeddingBackward", lt_embedding_backward, in, 2,
                               sizeof(lt_embedding_ctx)))) {
    lt_embedding_ctx *c = lt_ag_ctx(n, lt_embedding_ctx);
    c->D = D; c->V = V;
    lt_ag_save(n, &c->ids, cid);
  }
  lt_tensor_release(cid);
  return out;
}

/* ---------------------------------------------------------------- rotary embedding */

/*
** x {N,S,D}, tables {S,D}: out = x*cos + rot(x)*sin.  rot pairs element
** 2i with 2i+1 (interleaved: rot = [-x1, x0, -x3, x2, ...]) or the two
** halves (rot = [-x_hi, x_lo]).  Backward: dx = g*cos + rot^T(g*sin),
** where each pair's partner carries its own sin.  Rows (N*S of them) go
** to the pool.
*/
typedef struct lt_rope_job {
  float *o;
  const float *x, *c, *s;
  int64_t S, D;
  int interleaved, backward;
} lt_rope_job;

static int lt_rope_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_rope_job *j = ctx;
  int64_t r, i, D = j->D, h = D / 2;
  (void)worker;
  for (r = lo; r < hi; r++) {
    const float *px = j->x + r * D, *pc = j->c + (r % j->S) * D, *ps = j->s + (r % j->S) * D;
    float *po = j->o + r * D;
    if (j->interleaved && !j->backward) {
      for (i = 0; i < D; i += 2) {
        po[i] = px[i] * pc[i] - px[i + 1] * ps[i];
        po[i + 1] = px[i + 1] * pc[i + 1] + px[i] * ps[i + 1];
      }
    } else if (j->interleaved) {
      for (i = 0; i < D; i += 2) {
        po[i] = px[i] * pc[i] + px[i + 1] * ps[i + 1];
        po[i + 1] = px[i + 1] * pc[i + 1] - px[i] * ps[i];
      }
    } else if (!j->backward) {
      for (i = 0; i < h; i++) {
        po[i] = px[i] * pc[i] - px[i + h] * ps[i];
        po[i + h] = px[i + h] * pc[i + h] + px[i] * ps[i + h];
      }
    } else {
      for (i = 0; i < h; i++) {
        po[i] = px[i] * pc[i] + px[i + h] * ps[i + h];
        po[i + h] = px[i + h] * pc[i + h] - px[i] * ps[i];
      }
    }
  }
  return 0;
}

/* o = the rotation of x (backward: its transpose) over all rows */
static void lt_rope_run(float *o, const float *x, lt_tensor *c, lt_tensor *s,
                        int64_t n, int interleaved, int backward) {
  lt_rope_job j;
  int64_t S = c->shape[0], D = c->shape[1], rows = S * D > 0 ? n / D : 0;
  j.o = o; j.x = x; j.c = lt_data(c); j.s = lt_data(s); j.S = S; j.D = D;
  j.interleaved = interleaved; j.backward = backward;
  lt_prof_work(3.0 * (double)n);
  lt_parallel(rows, lt_par_chunk(rows, 3.0 * (double)D), 0, lt_rope_task, &j);
}

typedef struct lt_rope_ctx {
  int interleaved;
  lt_saved cos, sin;        /* contiguous {S,D} tables */
} lt_rope_ctx;

static int lt_rope_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_rope_ctx *ctx = lt_ag_ctx(n, lt_rope_ctx);
  lt_tensor *cg = lt_contiguous(g), *dx;
  if (cg == NULL) return -1;
  if ((dx = lt_empty(cg->shape, cg->ndim)) != NULL)
    lt_rope_run(lt_data(dx), lt_data(cg), ctx->cos.t, ctx->sin.t, lt_numel(cg),
                ctx->interleaved, 1);
  lt_tensor_release(cg);
  gin[0] = dx;
  return dx ? 0 : -1;
}

lt_tensor *lt_rope(lt_tensor *x, lt_tensor *cos, lt_tensor *sin, int interleaved) {
  lt_tensor *cx, *cc, *cs, *out = NULL;
  int64_t D;
  lt_node *n;
  char b1[160], b2[160], b3[160];
  if (x->ndim < 2 || cos->ndim != 2 || !lt_same_shape(cos, sin) ||
      cos->shape[0] != x->shape[x->ndim - 2] || cos->shape[1] != x->shape[x->ndim - 1]) {
    lt_err("rope: tables cos %s and sin %s must both be {S,D} for input %s",
           lt_shape_str(cos, b1, sizeof b1), lt_shape_str(sin, b2, sizeof b2),
           lt_shape_str(x, b3, sizeof b3));
    return NULL;
  }
  D = x->shape[x->ndim - 1];
  if (D % 2) { lt_err("rope: last dim %lld must be even", (long long)D); return NULL; }
  cx = lt_contiguous(x); cc = lt_contiguous(cos); cs = lt_contiguous(sin);
  if (cx && cc && cs && (out = lt_empty(x->shape, x->ndim)) != NULL)
    lt_rope_run(lt_data(out), lt_data(cx), cc, cs, lt_numel(x), interleaved, 0);
  if (out && (n = lt_ag_record(out, "RopeBackward", lt_rope_backward, &x, 1,
                               sizeof(lt_rope_ctx))) != NULL) {
    lt_rope_ctx *c = lt_ag_ctx(n, lt_rope_ctx);
    c->interleaved = interleaved;
    lt_ag_save(n, &c->cos, cc);
    lt_ag_save(n, &c->sin, cs);
  }
  lt_tensor_release(cx); lt_tensor_release(cc); lt_tensor_release(cs);
  return out;
}

/* ---------------------------------------------------------------- dropout */

/* out = x * keep / (1-p); the scaled keep mask is saved for backward */
typedef struct lt_dropout_ctx {
  lt_saved mask;            /* 0 where dropped, 1/(1-p) where kept */
} lt_dropout_ctx;

static int lt_dropout_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  gin[0] = lt_binary(LT_MUL, g, lt_ag_ctx(n, lt_dropout_ctx)->mask.t);
  return gin[0] ? 0 : -1;
}

lt_tensor *lt_dropout(lt_tensor *x, float p) {
  lt_tensor *mask, *out;
  float scale = p < 1 ? 1.0f / (1.0f - p) : 0.0f;
  int64_t i, len;
  lt_node *n;
  if (!(p >= 0 && p <= 1)) { lt_err("dropout: p must be in [0, 1], got %g", (double)p); return NULL; }
  if ((mask = lt_empty(x->shape, x->ndim)) == NULL) return NULL;
  len = lt_numel(mask);
  for (i = 0; i < len; i++) lt_data(mask)[i] = lt_rng_uniform() >= p ? scale : 0.0f;
  {   /* the product itself is not recorded: our node saves only the mask */
    int prev = lt_set_grad_enabled(0);
    out = lt_binary(LT_MUL, x, mask);
    lt_set_grad_enabled(prev);
  }
  if (out && (n = lt_ag_record(out, "DropoutBackward", lt_dropout_backward, &x, 1,
                               sizeof(lt_dropout_ctx))) != NULL)
    lt_ag_save(n, &lt_ag_ctx(n, lt_dropout_ctx)->mask, mask);
  lt_tensor_release(mask);
  return out;
}
