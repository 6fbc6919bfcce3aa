/*
** ops_nn.c -- the layers that live in C: embedding, layer/RMS norm,
** rotary embedding and dropout as fused ops, each with its context
** struct and backward just above its forward; and linear, which composes
** transpose, matmul and add (recorded ops, so it needs no backward of its
** own).  Shapes are given in the comments ({N,D}: N rows of width D).
*/
#include <math.h>
#include <string.h>

#include "autograd.h"
#include "ops.h"
#include "profile.h"

/* ---------------------------------------------------------------- linear */

/* x {...,in} w {out,in} b {out}: x w^T + b.  matmul already folds the
** batch into one sgemm and reads w^T without copying, so linear composes
** it rather than repeating that logic. */
lt_tensor *lt_linear(lt_tensor *x, lt_tensor *w, lt_tensor *b) {
  lt_tensor *wt, *y, *out;
  char b1[160], b2[160];
  if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
    lt_err("linear: input %s does not match weight %s (in_features %lld)",
           lt_shape_str(x, b1, sizeof b1), lt_shape_str(w, b2, sizeof b2),
           (long long)(w->ndim == 2 ? w->shape[1] : -1));
    return NULL;
  }
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
    lt_err("linear: bias %s does not match weight %s (out_features %lld)",
           lt_shape_str(b, b1, sizeof b1), lt_shape_str(w, b2, sizeof b2),
           (long long)w->shape[0]);
    return NULL;
  }
  if ((wt = lt_transpose(w, 0, 1)) == NULL) return NULL;
  /* thop's number: multiply-accumulates of the product, bias not counted */
  if (w->shape[1] > 0)
    lt_prof_add(LT_PROF_LINEAR, (double)(lt_numel(x) / w->shape[1]) * w->shape[0] * w->shape[1]);
  y = lt_matmul(x, wt);
  lt_tensor_release(wt);
  if (y == NULL || b == NULL) return y;
  out = lt_binary(LT_ADD, y, b);
  lt_tensor_release(y);
  return out;
}

/* ---------------------------------------------------------------- embedding */

/* ids (any shape, 0-based; int64, or whole floats) w {V,D} -> {ids..., D};
** backward scatters rows */
typedef struct lt_embedding_ctx {
  int64_t D, V;
  lt_saved ids;             /* contiguous, checked in range by forward */
} lt_embedding_ctx;

static int lt_embedding_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_embedding_ctx *c = lt_ag_ctx(n, lt_embedding_ctx);
  lt_tensor *ids = c->ids.t, *cg = lt_contiguous(g), *dw;
  int64_t D = c->D, V = c->V, N = lt_numel(ids), i, j, shape[2];
  if (cg == NULL) return -1;
  shape[0] = V; shape[1] = D;
  if ((dw = lt_zeros(shape, 2)) != NULL) {
    const float *pg = lt_data(cg);
    const int64_t *pid = lt_i64(ids);
    float *pw = lt_data(dw);
    for (i = 0; i < N; i++) {
      float *row = pw + pid[i] * D;
      for (j = 0; j < D; j++) row[j] += pg[i * D + j];
    }
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
    if (cw == NULL) { lt_tensor_release(out); out = NULL; }
    else {
      for (i = 0; i < N; i++)
        memcpy(lt_data(out) + i * D, lt_data(cw) + lt_i64(cid)[i] * D,
               (size_t)D * sizeof(float));
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

/* ---------------------------------------------------------------- norms */

/*
** Layer norm and RMS norm share one shape: x {N,D} normalised per row,
** then scaled by w {D} (and shifted by b {D}).  Saved: x, and per row the
** mean (0 for RMS norm) and reciprocal deviation.
*/
typedef struct lt_norm_ctx {
  int rms;
  lt_saved x, stats, w;     /* contiguous x; stats {2N}: mean, rstd per row */
} lt_norm_ctx;

static int lt_norm_check(const char *op, lt_tensor *x, lt_tensor *w, lt_tensor *b) {
  int64_t D = x->ndim ? x->shape[x->ndim - 1] : 0;
  char b1[160], b2[160];
  if (x->ndim == 0 || D == 0) {
    lt_err("%s: input must have a non-empty last dim, got %s", op, lt_shape_str(x, b1, sizeof b1));
    return -1;
  }
  if ((w && (w->ndim != 1 || w->shape[0] != D)) || (b && (b->ndim != 1 || b->shape[0] != D))) {
    lt_err("%s: weight/bias %s do not match the input's last dim %lld (input %s)", op,
           lt_shape_str(w && (w->ndim != 1 || w->shape[0] != D) ? w : b, b1, sizeof b1),
           (long long)D, lt_shape_str(x, b2, sizeof b2));
    return -1;
  }
  return 0;
}

static int lt_norm_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_norm_ctx *c = lt_ag_ctx(n, lt_norm_ctx);
  lt_tensor *x = c->x.t, *stats = c->stats.t, *w = c->w.t;
  lt_tensor *cg = lt_contiguous(g), *dx = NULL, *dw = NULL, *db = NULL;
  int64_t D = x->shape[x->ndim - 1], N = lt_numel(x) / D, i, j, wshape = D;
  int rms = c->rms;
  if (cg == NULL) return -1;
  dx = n->needs[0] ? lt_empty(x->shape, x->ndim) : NULL;
  dw = n->needs[1] ? lt_zeros(&wshape, 1) : NULL;
  db = n->needs[2] ? lt_zeros(&wshape, 1) : NULL;
  if ((n->needs[0] && !dx) || (n->needs[1] && !dw) || (n->needs[2] && !db)) goto fail;
  lt_prof_work(10.0 * (double)N * D);
  for (i = 0; i < N; i++) {
    const float *px = lt_data(x) + i * D, *pg = lt_data(cg) + i * D;
    const float *pw = w ? lt_data(w) : NULL;
    float mean = lt_data(stats)[2 * i], rstd = lt_data(stats)[2 * i + 1];
    double s1 = 0, s2 = 0;
    for (j = 0; j < D; j++) {
      float xhat = (px[j] - mean) * rstd, dxhat = pg[j] * (pw ? pw[j] : 1.0f);
      s1 += dxhat;
      s2 += dxhat * xhat;
      if (dw) lt_data(dw)[j] += pg[j] * xhat;
      if (db) lt_data(db)[j] += pg[j];
    }
    if (dx) {
      float m1 = rms ? 0.0f : (float)(s1 / D), m2 = (float)(s2 / D);
      float *o = lt_data(dx) + i * D;
      for (j = 0; j < D; j++) {
        float xhat = (px[j] - mean) * rstd, dxhat = pg[j] * (pw ? pw[j] : 1.0f);
        o[j] = rstd * (dxhat - m1 - xhat * m2);
      }
    }
  }
  lt_tensor_release(cg);
  gin[0] = dx; gin[1] = dw; gin[2] = db;
  return 0;
fail:
  lt_tensor_release(cg); lt_tensor_release(dx); lt_tensor_release(dw); lt_tensor_release(db);
  return -1;
}

static lt_tensor *lt_normalize(const char *op, int rms, lt_tensor *x, lt_tensor *w,
                          lt_tensor *b, float eps) {
  lt_tensor *cx, *cw = NULL, *cb = NULL, *out = NULL, *stats = NULL, *in[3];
  int64_t D, N, i, j, sshape[1];
  lt_node *n;
  if (lt_norm_check(op, x, w, b) || (cx = lt_contiguous(x)) == NULL) return NULL;
  D = x->shape[x->ndim - 1];
  N = lt_numel(x) / D;
  sshape[0] = 2 * N;
  /* weight and bias are read as plain arrays: make them so */
  if ((!w || (cw = lt_contiguous(w)) != NULL) && (!b || (cb = lt_contiguous(b)) != NULL)) {
    out = lt_empty(x->shape, x->ndim);
    stats = lt_empty(sshape, 1);
  }
  if (out == NULL || stats == NULL) {
    lt_tensor_release(cx); lt_tensor_release(cw); lt_tensor_release(cb);
    lt_tensor_release(out); lt_tensor_release(stats);
    return NULL;
  }
  lt_prof_work((rms ? 5.0 : 8.0) * (double)N * D);
  for (i = 0; i < N; i++) {
    const float *px = lt_data(cx) + i * D;
    float *o = lt_data(out) + i * D, mean = 0, rstd;
    double s = 0, ss = 0;
    for (j = 0; j < D; j++) { s += px[j]; ss += (double)px[j] * px[j]; }
    if (!rms) {
      mean = (float)(s / D);
      ss = 0;
      for (j = 0; j < D; j++) ss += (double)(px[j] - mean) * (px[j] - mean);
    }
    rstd = (float)(1.0 / sqrt(ss / D + eps));
    for (j = 0; j < D; j++) {
      float v = (px[j] - mean) * rstd;
      o[j] = v * (cw ? lt_data(cw)[j] : 1.0f) + (cb ? lt_data(cb)[j] : 0.0f);
    }
    lt_data(stats)[2 * i] = mean;
    lt_data(stats)[2 * i + 1] = rstd;
  }
  in[0] = x; in[1] = w; in[2] = b;
  if ((n = lt_ag_record(out, rms ? "RMSNormBackward" : "LayerNormBackward",
                        lt_norm_backward, in, 3, sizeof(lt_norm_ctx))) != NULL) {
    lt_norm_ctx *c = lt_ag_ctx(n, lt_norm_ctx);
    c->rms = rms;
    lt_ag_save(n, &c->x, cx);
    lt_ag_save(n, &c->stats, stats);
    lt_ag_save(n, &c->w, cw);
  }
  lt_tensor_release(cx); lt_tensor_release(cw); lt_tensor_release(cb);
  lt_tensor_release(stats);
  return out;
}

lt_tensor *lt_layer_norm(lt_tensor *x, lt_tensor *w, lt_tensor *b, float eps) {
  return lt_normalize("layer_norm", 0, x, w, b, eps);
}

lt_tensor *lt_rms_norm(lt_tensor *x, lt_tensor *w, float eps) {
  return lt_normalize("rms_norm", 1, x, w, NULL, eps);
}

/* ---------------------------------------------------------------- rotary embedding */

/*
** x {N,S,D}, tables {S,D}: out = x*cos + rot(x)*sin.  rot pairs element
** 2i with 2i+1 (interleaved: rot = [-x1, x0, -x3, x2, ...]) or the two
** halves (rot = [-x_hi, x_lo]).
*/
static void lt_rope_rows(float *o, const float *x, const float *c, const float *s,
                         int64_t N, int64_t S, int64_t D, int interleaved) {
  int64_t r, i, h = D / 2;
  for (r = 0; r < N * S; r++) {
    const float *px = x + r * D, *pc = c + (r % S) * D, *ps = s + (r % S) * D;
    float *po = o + r * D;
    if (interleaved) {
      for (i = 0; i < D; i += 2) {
        po[i] = px[i] * pc[i] - px[i + 1] * ps[i];
        po[i + 1] = px[i + 1] * pc[i + 1] + px[i] * ps[i + 1];
      }
    } else {
      for (i = 0; i < h; i++) {
        po[i] = px[i] * pc[i] - px[i + h] * ps[i];
        po[i + h] = px[i + h] * pc[i + h] + px[i] * ps[i + h];
      }
    }
  }
}

typedef struct lt_rope_ctx {
  int interleaved;
  lt_saved cos, sin;        /* contiguous {S,D} tables */
} lt_rope_ctx;

/* dx = g*cos + rot^T(g*sin): each pair's partner carries its own sin */
static int lt_rope_backward(lt_node *n, lt_tensor *g, lt_tensor **gin) {
  const lt_rope_ctx *ctx = lt_ag_ctx(n, lt_rope_ctx);
  lt_tensor *c = ctx->cos.t, *s = ctx->sin.t, *cg = lt_contiguous(g), *dx;
  int64_t S = c->shape[0], D = c->shape[1], N, r, i, h = D / 2;
  if (cg == NULL) return -1;
  N = S * D > 0 ? lt_numel(cg) / (S * D) : 0;   /* empty: nothing to rotate */
  if ((dx = lt_empty(cg->shape, cg->ndim)) != NULL) {
    lt_prof_work(3.0 * (double)N * S * D);
    for (r = 0; r < N * S; r++) {
      const float *pg = lt_data(cg) + r * D, *pc = lt_data(c) + (r % S) * D;
      const float *ps = lt_data(s) + (r % S) * D;
      float *o = lt_data(dx) + r * D;
      if (ctx->interleaved) {
        for (i = 0; i < D; i += 2) {
          o[i] = pg[i] * pc[i] + pg[i + 1] * ps[i + 1];
          o[i + 1] = pg[i + 1] * pc[i + 1] - pg[i] * ps[i];
        }
      } else {
        for (i = 0; i < h; i++) {
          o[i] = pg[i] * pc[i] + pg[i + h] * ps[i + h];
          o[i + h] = pg[i + h] * pc[i + h] - pg[i] * ps[i];
        }
      }
    }
  }
  lt_tensor_release(cg);
  gin[0] = dx;
  return dx ? 0 : -1;
}

lt_tensor *lt_rope(lt_tensor *x, lt_tensor *cos, lt_tensor *sin, int interleaved) {
  lt_tensor *cx, *cc, *cs, *out = NULL;
  int64_t S, D;
  lt_node *n;
  char b1[160], b2[160], b3[160];
  if (x->ndim < 2 || cos->ndim != 2 || !lt_same_shape(cos, sin) ||
      cos->shape[0] != x->shape[x->ndim - 2] || cos->shape[1] != x->shape[x->ndim - 1]) {
    lt_err("rope: tables cos %s and sin %s must both be {S,D} for input %s",
           lt_shape_str(cos, b1, sizeof b1), lt_shape_str(sin, b2, sizeof b2),
           lt_shape_str(x, b3, sizeof b3));
    return NULL;
  }
  S = x->shape[x->ndim - 2];
  D = x->shape[x->ndim - 1];
  if (D % 2) { lt_err("rope: last dim %lld must be even", (long long)D); return NULL; }
  cx = lt_contiguous(x); cc = lt_contiguous(cos); cs = lt_contiguous(sin);
  if (cx && cc && cs && (out = lt_empty(x->shape, x->ndim)) != NULL && S * D > 0) {
    lt_prof_work(3.0 * (double)lt_numel(x));
    lt_rope_rows(lt_data(out), lt_data(cx), lt_data(cc), lt_data(cs),
                 lt_numel(x) / (S * D), S, D, interleaved);
  }
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
