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
#include "dtype.h"

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
/* of float32 tensors: values, and 0-based int64 indices in *idx (NULL
** for dim ALLDIMS); argmax/argmin the indices alone (flat for ALLDIMS) */
lt_tensor *lt_max(lt_tensor *a, int dim, int keepdim, lt_tensor **idx);
lt_tensor *lt_min(lt_tensor *a, int dim, int keepdim, lt_tensor **idx);
lt_tensor *lt_argmax(lt_tensor *a, int dim, int keepdim);
lt_tensor *lt_argmin(lt_tensor *a, int dim, int keepdim);
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

/* ---- layers: linear (ops_linear.c), the MLP, the norms (ops_norm.c), embedding,
** RoPE and dropout (ops_nn.c), each a fused op with its own backward ---- */
lt_tensor *lt_linear(lt_tensor *x, lt_tensor *w, lt_tensor *b);  /* x w^T + b; b may be NULL */
/* the fused MLP (ops_mlp.c): r + gelu(x w1^T + b1) w2^T + b2, GELU's tanh
** form when tanh_form; b1, b2 and the residual r (the output's shape) may
** be NULL.  With r the residual is added to each chunk of rows right after
** its second product, in cache: the add has no tensor of its own, and the
** bits are those of adding r to the output */
lt_tensor *lt_mlp(lt_tensor *x, lt_tensor *w1, lt_tensor *b1, lt_tensor *w2, lt_tensor *b2,
                  lt_tensor *r, int tanh_form);
/* ids: 0-based, int64 or whole floats (lt_ids) */
lt_tensor *lt_embedding(lt_tensor *ids, lt_tensor *w);
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
** ids (int64 or whole floats); rows whose target equals `ignore` count for nothing.
** mean over zero counted rows gives 0. */
lt_tensor *lt_cross_entropy(lt_tensor *logits, lt_tensor *targets, int64_t ignore,
                            lt_reduction red);
/* a and b of one shape: shapes that only broadcast are an error (PyTorch
** warns, then averages over the broadcast, rarely what was meant) */
lt_tensor *lt_mse_loss(lt_tensor *a, lt_tensor *b, lt_reduction red);

/* ---- in-place ops (ops_inplace.c): the out-of-place op between a begin
** and an end; see there for the autograd rules ---- */
lt_tensor *lt_inplace_begin(const char *op, lt_tensor *t, lt_tensor *const *others, int n);
int lt_inplace_end(const char *op, lt_tensor *t, lt_tensor *out);
int lt_copy_(lt_tensor *t, lt_tensor *src);   /* broadcasts src, converts its dtype */

/* ---- any dtype: comparisons (bool results), tests, logic (ops_logic.c) ---- */
/* op is LT_EQ..LT_GE; operands promote as PyTorch does */
lt_tensor *lt_compare(lt_binop op, lt_tensor *a, lt_tensor *b);
typedef enum { LT_ISNAN, LT_ISINF, LT_ISFINITE, LT_NOT } lt_testop;
lt_tensor *lt_test(lt_testop op, lt_tensor *x);                  /* bool */
/* any/all along a dim (LT_ALLDIMS: everything): bool */
lt_tensor *lt_any(lt_tensor *x, int dim, int keepdim);
lt_tensor *lt_all(lt_tensor *x, int dim, int keepdim);
/* 1 if every pair is close (broadcasting), 0 if not, -1 on error */
int lt_allclose(lt_tensor *a, lt_tensor *b, double rtol, double atol, int equal_nan);
int lt_equal(lt_tensor *a, lt_tensor *b);      /* same shape and values: 1 or 0 */
/* where for integer and bool operands (float ones: lt_where) */
lt_tensor *lt_where_any(lt_tensor *cond, lt_tensor *a, lt_tensor *b);

/* ---- integer and bool arithmetic (ops_int.c): exact, no gradient ---- */
typedef enum {
  LT_IADD, LT_ISUB, LT_IMUL, LT_IPOW, LT_IMAX, LT_IMIN, LT_IFLOORDIV, LT_IREM,
  LT_IFMOD, LT_IAND, LT_IOR, LT_IXOR
} lt_intop;
/* a op b over integer or bool operands, computed in int64, stored as out */
lt_tensor *lt_int_binary(lt_intop op, lt_tensor *a, lt_tensor *b, lt_dtype out);
lt_tensor *lt_int_neg(lt_tensor *a);          /* also abs: */
lt_tensor *lt_int_abs(lt_tensor *a);
/* sum (int64); max/min values (x's dtype) with 0-based int64 indices in *idx
** (NULL over every element); argmax/argmin through lt_int_extreme with
** values NULL */
lt_tensor *lt_int_sum(lt_tensor *x, int dim, int keepdim);
int lt_int_extreme(lt_tensor *x, int dim, int keepdim, int ismin,
                          lt_tensor **values, lt_tensor **idx);

/* ---- rounding (ops_round.c): float32 in and out, zero gradient; integer
** inputs come back as they are (sign computes) ---- */
typedef enum { LT_FLOOR, LT_CEIL, LT_ROUND, LT_TRUNC, LT_SIGN } lt_roundop;
lt_tensor *lt_round_op(lt_roundop op, lt_tensor *x);
/* fmod (sign of a, C's fmod) and remainder (sign of b, Python's %), with
** gradients 1 and -trunc(a/b) or -floor(a/b); floor_divide has none */
lt_tensor *lt_fmod(lt_tensor *a, lt_tensor *b);
lt_tensor *lt_remainder(lt_tensor *a, lt_tensor *b);
lt_tensor *lt_floor_divide(lt_tensor *a, lt_tensor *b);

/* ---- indexing (ops_index.c): indices are 0-based int64 (lt_ids makes
** them); x may be any dtype, gradients flow for float32 x and src ---- */
lt_tensor *lt_gather(lt_tensor *x, int dim, lt_tensor *index);
lt_tensor *lt_scatter(lt_tensor *x, int dim, lt_tensor *index, lt_tensor *src, int add);
lt_tensor *lt_index_select(lt_tensor *x, int dim, lt_tensor *index);   /* index 1-d */
lt_tensor *lt_index_add(lt_tensor *x, int dim, lt_tensor *index, lt_tensor *src);
lt_tensor *lt_masked_select(lt_tensor *x, lt_tensor *mask);    /* 1-d; mask nonzero */
lt_tensor *lt_masked_scatter(lt_tensor *x, lt_tensor *mask, lt_tensor *src);
/* how many elements of x the mask (broadcast to x) selects; -1 when it
** does not broadcast (the error names no op) or memory runs out */
int64_t lt_masked_count(lt_tensor *x, lt_tensor *mask);
lt_tensor *lt_tri(lt_tensor *x, int64_t k, int upper);         /* tril / triu */
lt_tensor *lt_flip(lt_tensor *x, const int *dims, int n);
lt_tensor *lt_roll(lt_tensor *x, const int64_t *shifts, const int *dims, int n);
lt_tensor *lt_repeat(const char *op, lt_tensor *x, const int64_t *reps, int n);

/* ---- ordering and scans (ops_sort.c) ---- */
/* values (gradient through gather) and 0-based int64 indices; stable;
** NaN sorts as the largest value, as in PyTorch */
int lt_sort(lt_tensor *x, int dim, int descending, lt_tensor **values, lt_tensor **idx);
int lt_topk(lt_tensor *x, int64_t k, int dim, int largest, lt_tensor **values,
            lt_tensor **idx);
lt_tensor *lt_cumsum(lt_tensor *x, int dim);    /* float32 or int64 out */
lt_tensor *lt_cumprod(lt_tensor *x, int dim);

/* ---- random draws (ops_random.c), from the one generator ---- */
lt_tensor *lt_randint(int64_t lo, int64_t hi, const int64_t *shape, int ndim);  /* [lo, hi) int64 */
lt_tensor *lt_randperm(int64_t n);              /* 0..n-1 shuffled, int64 */
/* probs {C} or {R,C}: n 0-based draws per row, int64 */
lt_tensor *lt_multinomial(lt_tensor *probs, int64_t n, int replacement);
lt_tensor *lt_bernoulli(lt_tensor *p);          /* float32 0/1 with P(1) = p */

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
