/*
** rowmath.h -- row kernels shared by the reductions, the losses and
** attention: written so that loops over them vectorize (no libm call per
** element, independent accumulator lanes, integer compares for max).
** The softmax family's kernel, which softmax, log_softmax, logsumexp,
** cross-entropy and attention all use, is declared at the end of this
** file with its rule for an all -inf row; its row-at-a-time parts are in
** rowmath.c.
*/
#ifndef LT_ROWMATH_H
#define LT_ROWMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vmath.h"

/* sum in double, 8 independent lanes so the loop vectorizes */
static inline double lt_row_sum(const float *x, int64_t n) {
  double acc[8] = {0}, s = 0;
  int64_t i = 0;
  int k;
  for (; i + 8 <= n; i += 8)
    for (k = 0; k < 8; k++) acc[k] += x[i + k];
  for (; i < n; i++) s += x[i];
  for (k = 0; k < 8; k++) s += acc[k];
  return s;
}

/* sum of x*y in double (softmax's and norm's backward) */
static inline double lt_row_dot(const float *x, const float *y, int64_t n) {
  double acc[8] = {0}, s = 0;
  int64_t i = 0;
  int k;
  for (; i + 8 <= n; i += 8)
    for (k = 0; k < 8; k++) acc[k] += (double)x[i + k] * y[i + k];
  for (; i < n; i++) s += (double)x[i] * y[i];
  for (k = 0; k < 8; k++) s += acc[k];
  return s;
}

/*
** Largest element, -inf for an empty row.  Compares the floats' bits as
** integers, mapped so that their order is the floats' order: compilers
** vectorize an integer max but not a float one (its NaN rules forbid
** reordering).  A NaN sorts above +inf (or, negative, below -inf); the
** softmax family uses this only to shift, and a NaN reaches its output
** through exp anyway.  (max/min, which must report NaNs, use their own loop.)
*/
static inline float lt_row_max(const float *x, int64_t n) {
  int32_t m = (int32_t)0x807fffff;   /* -inf, mapped */
  int64_t i;
  float f;
  for (i = 0; i < n; i++) {
    int32_t b;
    memcpy(&b, x + i, sizeof b);
    b ^= -(int32_t)((uint32_t)b >> 31) & 0x7fffffff;   /* negatives: reverse */
    m = b > m ? b : m;
  }
  m ^= -(int32_t)((uint32_t)m >> 31) & 0x7fffffff;
  memcpy(&f, &m, sizeof f);
  return f;
}

/*
** Index of the largest (ismin: smallest) element of a non-empty row: the
** first one on ties, like PyTorch on CPU, and the first NaN if there is
** one, since PyTorch's max/min propagate NaN.
*/
static inline int64_t lt_row_arg(const float *x, int64_t n, int ismin) {
  int64_t i, best = 0;
  float m = x[0];
  if (m != m) return 0;
  for (i = 1; i < n; i++) {
    float v = x[i];
    if (ismin ? v < m : v > m) { m = v; best = i; }
    else if (v != v) return i;
  }
  return best;
}

/*
** THE SOFTMAX FAMILY'S KERNEL: softmax, log_softmax, logsumexp,
** cross-entropy and attention all take their exps here.  Rows are n
** contiguous floats, row r at x + r*n.  Each row's exps are taken against
** a shift: its max, so that nothing overflows, or 0 when that max is
** infinite (lt_row_shift).  So
**
**   lse = shift + log(sum of exp(x - shift))
**
** and THE RULE FOR AN ALL -INF ROW (nothing to weigh): its exps are 0,
** their sum 0 and its lse -inf (log 0).  What each op makes of that:
** logsumexp returns the -inf; softmax and log_softmax divide 0 by 0 and
** give NaN, and so does a cross-entropy over such logits, as in PyTorch;
** attention gives a query that sees no key zero weights (see attention.c).
** A +inf entry gives lse +inf; a NaN entry makes the whole row NaN.
*/
static inline float lt_row_shift(const float *x, int64_t n) {
  float m = lt_row_max(x, n);
  return isinf(m) ? 0.0f : m;
}

/* y = exp(x - shift) over one row, in one pass; y may be x (two loops:
** each vectorizes without a runtime overlap check) */
static inline void lt_row_exp(float *y, const float *x, int64_t n, float shift) {
  int64_t i;
  if (y == x) {
    for (i = 0; i < n; i++) y[i] = lt_vexp(y[i] - shift);
  } else {
    float *restrict yr = y;
    const float *restrict xr = x;
    for (i = 0; i < n; i++) yr[i] = lt_vexp(xr[i] - shift);
  }
}

/*
** One row: w = softmax(x) (w may be x), returning the row's lse.  Inline
** for attention's causal rows, each of its own length; lt_softmax_rows
** uses it for rows too long to share a chunk.
*/
static inline float lt_softmax_row(const float *x, int64_t n, float *w) {
  float shift = lt_row_shift(x, n), sum, inv;
  int64_t i;
  lt_row_exp(w, x, n, shift);
  sum = (float)lt_row_sum(w, n);
  inv = 1.0f / sum;
  for (i = 0; i < n; i++) w[i] *= inv;
  return shift + logf(sum);
}

/*
** Rows at a time (rowmath.c), for each of `rows` rows of n (n may be 0),
** any of (NULL: not wanted):
**   w     the softmax weights exp(x - lse)  (may be x itself)
**   logw  the log-softmax (x - shift) - log(sum)
**   lse   one float per row
** Short rows share a chunk whose exps take one loop; many rows go to the
** thread pool.  It allocates nothing, so it cannot fail.
*/
void lt_softmax_rows(const float *x, int64_t rows, int64_t n, float *w,
                     float *logw, float *lse);

/* y = exp(x - shift[r]) row by row (y may be x), the exps of short rows
** in one loop: the weights again from a saved lse, in the backwards of
** logsumexp, cross-entropy and attention */
void lt_rows_exp(float *y, const float *x, const float *shift, int64_t rows,
                 int64_t n);

/*
** One long row (rowmath.c): *out = the sum of x (y NULL) or of x*y over
** n floats, in fixed pieces (lt_row_sum, lt_row_dot) summed on the pool
** and then added in order, so the bits do not depend on the thread count.
** 0, or -1 with lt_err "<op>: out of memory".
*/
int lt_long_dot(const char *op, const float *x, const float *y, int64_t n, double *out);

/* *out = lt_row_arg of one long row, its pieces' indices found on the pool
** and combined in order by lt_row_arg's rule: the same index on any thread
** count.  0, or -1 with lt_err "<op>: out of memory". */
int lt_long_arg(const char *op, const float *x, int64_t n, int ismin, int64_t *out);

#endif
