/*
** ops.h -- differentiable operations on lt_tensor.
**
** Every op returns a new reference or NULL with lt_err set, and records
** an autograd node when an input needs grad.  Dims are 0-based and may be
** negative (counted from the end); each op wraps and checks them itself
** with lt_wrap_dim so the message names the op.
*/
#ifndef LT_OPS_H
#define LT_OPS_H

#include "tensor.h"

#define LT_ALLDIMS 0x7fffffff   /* "reduce over every element" */

/* ---- elementwise, NumPy broadcasting (ops_elem.c) ---- */
typedef enum {
  LT_ADD, LT_SUB, LT_MUL, LT_DIV, LT_POW, LT_MAXIMUM, LT_MINIMUM,
  /* comparisons give 0/1 and carry no gradient */
  LT_EQ, LT_NE, LT_LT, LT_LE, LT_GT, LT_GE
} lt_binop;

typedef enum {
  LT_NEG, LT_EXP, LT_LOG, LT_SQRT, LT_RSQRT, LT_ABS, LT_TANH, LT_SIGMOID,
  LT_RELU, LT_GELU, LT_GELU_TANH, LT_SILU, LT_SIN, LT_COS, LT_SQUARE
} lt_unop;

const char *lt_binop_name(lt_binop op);
const char *lt_unop_name(lt_unop op);
lt_tensor *lt_binary(lt_binop op, lt_tensor *a, lt_tensor *b);
lt_tensor *lt_binary_scalar(lt_binop op, lt_tensor *a, float s, int s_first);
lt_tensor *lt_unary(lt_unop op, lt_tensor *a);
lt_tensor *lt_clamp(lt_tensor *a, float lo, float hi);   /* +-INFINITY: open */
lt_tensor *lt_where(lt_tensor *cond, lt_tensor *a, lt_tensor *b);
lt_tensor *lt_masked_fill(lt_tensor *a, lt_tensor *mask, float v);
int lt_broadcast_shape(const char *op, const lt_tensor *a, const lt_tensor *b,
                       int64_t *shape, int *ndim);

/* ---- reductions (ops_reduce.c) ---- */
lt_tensor *lt_sum(lt_tensor *a, int dim, int keepdim);
lt_tensor *lt_mean(lt_tensor *a, int dim, int keepdim);
/* values, and 0-based indices as floats in *idx (NULL for dim ALLDIMS) */
lt_tensor *lt_max(lt_tensor *a, int dim, int keepdim, lt_tensor **idx);
lt_tensor *lt_min(lt_tensor *a, int dim, int keepdim, lt_tensor **idx);
lt_tensor *lt_argmax(lt_tensor *a, int dim, int keepdim);   /* 0-based */
lt_tensor *lt_var(lt_tensor *a, int dim, int correction, int keepdim);
lt_tensor *lt_std(lt_tensor *a, int dim, int correction, int keepdim);
lt_tensor *lt_norm(lt_tensor *a, double p, int dim, int keepdim);
lt_tensor *lt_softmax(lt_tensor *a, int dim);
lt_tensor *lt_log_softmax(lt_tensor *a, int dim);
lt_tensor *lt_logsumexp(lt_tensor *a, int dim, int keepdim);

/* ---- matrix products (ops_matmul.c, through blas.c) ---- */
lt_tensor *lt_matmul(lt_tensor *a, lt_tensor *b);
lt_tensor *lt_bmm(lt_tensor *a, lt_tensor *b);

/* ---- joining (ops_shape.c) ---- */
lt_tensor *lt_cat(lt_tensor **ts, int n, int dim);
lt_tensor *lt_stack(lt_tensor **ts, int n, int dim);

/* ---- layers: linear (ops_linear.c), the norms (ops_norm.c), embedding,
** RoPE and dropout (ops_nn.c), each a fused op with its own backward ---- */
lt_tensor *lt_linear(lt_tensor *x, lt_tensor *w, lt_tensor *b);  /* x w^T + b; b may be NULL */
lt_tensor *lt_embedding(lt_tensor *ids, lt_tensor *w);  /* ids: 0-based, as floats */
lt_tensor *lt_layer_norm(lt_tensor *x, lt_tensor *w, lt_tensor *b, float eps);
lt_tensor *lt_rms_norm(lt_tensor *x, lt_tensor *w, float eps);   /* w may be NULL */
/* out = x*cos + rot(x)*sin over the last dim; cos/sin broadcast to x
** (usually {S,D}); rot pairs (2i,2i+1) when interleaved, else halves */
lt_tensor *lt_rope(lt_tensor *x, lt_tensor *cos, lt_tensor *sin, int interleaved);
lt_tensor *lt_dropout(lt_tensor *x, float p);   /* always applies: callers check training */

/* ---- losses (ops_loss.c) ---- */
typedef enum { LT_REDUCE_MEAN, LT_REDUCE_SUM, LT_REDUCE_NONE } lt_reduction;
#define LT_NO_IGNORE INT64_MIN
/* logits {...,C} (classes on the last dim), targets {...} 0-based class
** ids as floats; rows whose target equals `ignore` count for nothing.
** mean over zero counted rows gives 0. */
lt_tensor *lt_cross_entropy(lt_tensor *logits, lt_tensor *targets, int64_t ignore,
                            lt_reduction red);
lt_tensor *lt_mse_loss(lt_tensor *a, lt_tensor *b, lt_reduction red);

/* ---- fused scaled-dot-product attention (attention.c) ---- */
typedef struct lt_attn_opts {
  lt_tensor *mask;    /* {B,T} padding mask, nonzero = keep; or NULL */
  int causal;         /* query i (of S, the last S of T) sees keys j <= i + T - S */
  float scale;        /* applied to q k^T; <= 0 means 1/sqrt(D) */
  float dropout;      /* on the attention weights; 0 = none */
  lt_tensor *bias;    /* H elements added to each head's scores, or NULL */
  int uniform;        /* a query whose visible keys are all masked weighs them
                      ** equally (the seeds' -1e9 fill); 0: zero weights */
} lt_attn_opts;
/* q {B,H,S,D}, k {B,Hk,T,D}, v {B,Hk,T,Dv}, Hk divides H (head h reads
** kv head h / (H/Hk)): MHA, GQA and MQA without materialising copies.
** Returns {B,H,S,Dv}. */
lt_tensor *lt_attention(lt_tensor *q, lt_tensor *k, lt_tensor *v, const lt_attn_opts *o);

#endif
