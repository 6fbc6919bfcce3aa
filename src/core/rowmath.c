/*
** rowmath.c -- the softmax family's one row kernel (see rowmath.h for
** what it computes and its rule for an all -inf row).
**
** Rows are taken a chunk of about LT_ROWS_CHUNK floats at a time and exp
** runs over the whole chunk in one loop: attention over 10 tokens has rows
** of 10, too short for a per-row loop ever to fill a vector register.
** Only the exps of a chunk are ever held in scratch, so a row of any
** length needs LT_ROWS_CHUNK floats of stack and no allocation.
**
** Big blocks of rows go to the thread pool, rows being independent: a
** row's result does not depend on which rows share its chunk or thread.
** One long row's sum (lt_long_dot) and max/min index (lt_long_arg) go in
** fixed pieces.
*/
#include <math.h>
#include <stdlib.h>

#include "alloc.h"
#include "pool.h"
#include "rowmath.h"
#include "tensor.h"

#define LT_ROWS_CHUNK 2048
#define LT_ROWS_MAX   256      /* rows per chunk, at most */

/* rows of n > 0 that make up one chunk */
static int64_t lt_chunk_rows(int64_t n) {
  int64_t cr = n >= LT_ROWS_CHUNK ? 1 : LT_ROWS_CHUNK / n;
  return cr < LT_ROWS_MAX ? cr : LT_ROWS_MAX;
}

/* y = x - s over a row; y may be x (attention works in place), and the
** two loops keep each vectorized without a runtime overlap check */
static inline void lt_sub_row(float *y, const float *x, int64_t n, float s) {
  int64_t i;
  if (y == x) {
    for (i = 0; i < n; i++) y[i] -= s;
  } else {
    float *restrict yr = y;
    const float *restrict xr = x;
    for (i = 0; i < n; i++) yr[i] = xr[i] - s;
  }
}

/* y = exp(x - shift[r]) over one chunk: nr rows of n, exps in one loop */
static inline void lt_chunk_exp(float *y, const float *x, const float *shift,
                                int64_t nr, int64_t n) {
  int64_t r, i, len = nr * n;
  for (r = 0; r < nr; r++) lt_sub_row(y + r * n, x + r * n, n, shift[r]);
  for (i = 0; i < len; i++) y[i] = lt_vexp(y[i]);
}

static void lt_rows_exp_serial(float *y, const float *x, const float *shift,
                               int64_t rows, int64_t n) {
  int64_t cr, r0;
  if (n <= 0) return;
  cr = lt_chunk_rows(n);
  for (r0 = 0; r0 < rows; r0 += cr)
    lt_chunk_exp(y + r0 * n, x + r0 * n, shift + r0, rows - r0 < cr ? rows - r0 : cr, n);
}

/* sum of exp(x - shift) over a row of any length, through scratch */
static double lt_row_expsum(const float *x, int64_t n, float shift, float *scratch) {
  double s = 0;
  int64_t k;
  for (k = 0; k < n; k += LT_ROWS_CHUNK) {
    int64_t len = n - k < LT_ROWS_CHUNK ? n - k : LT_ROWS_CHUNK;
    lt_row_exp(scratch, x + k, len, shift);
    s += lt_row_sum(scratch, len);
  }
  return s;
}

/* the log-softmax and lse of a row from its shift and its exps' sum */
static void lt_row_logs(const float *x, int64_t n, float shift, double sum,
                        float *logw, float *lse) {
  float ls = logf((float)sum);   /* float math here: once per row */
  int64_t i;
  if (logw)
    for (i = 0; i < n; i++) logw[i] = (x[i] - shift) - ls;
  if (lse) *lse = shift + ls;
}

/* a long row on its own (a chunk would hold less than one) */
static void lt_softmax_long(const float *x, int64_t n, float *w, float *logw,
                            float *lse, float *scratch) {
  float shift, l;
  if (w) {
    l = lt_softmax_row(x, n, w);
    if (lse) *lse = l;
    return;
  }
  shift = lt_row_shift(x, n);
  lt_row_logs(x, n, shift, lt_row_expsum(x, n, shift, scratch), logw, lse);
}

static void lt_softmax_rows_serial(const float *x, int64_t rows, int64_t n, float *w,
                                   float *logw, float *lse) {
  float scratch[LT_ROWS_CHUNK], shift[LT_ROWS_MAX];
  double sum[LT_ROWS_MAX];
  int64_t cr, r0, r, i;
  if (n <= 0) {   /* log of an empty sum */
    if (lse) for (r = 0; r < rows; r++) lse[r] = -INFINITY;
    return;
  }
  if (n > LT_ROWS_CHUNK) {
    for (r = 0; r < rows; r++)
      lt_softmax_long(x + r * n, n, w ? w + r * n : NULL, logw ? logw + r * n : NULL,
                      lse ? lse + r : NULL, scratch);
    return;
  }
  /* a chunk of short rows: the exps go straight to w when wanted, else
  ** to scratch, which holds a chunk */
  cr = lt_chunk_rows(n);
  for (r0 = 0; r0 < rows; r0 += cr) {
    int64_t nr = rows - r0 < cr ? rows - r0 : cr;
    const float *xc = x + r0 * n;
    float *e = w ? w + r0 * n : scratch;
    for (r = 0; r < nr; r++) {
      shift[r] = lt_row_shift(xc + r * n, n);
      lt_sub_row(e + r * n, xc + r * n, n, shift[r]);
    }
    for (i = 0; i < nr * n; i++) e[i] = lt_vexp(e[i]);
    for (r = 0; r < nr; r++) sum[r] = lt_row_sum(e + r * n, n);
    if (w)
      for (r = 0; r < nr; r++) {
        float inv = 1.0f / (float)sum[r], *er = e + r * n;
        for (i = 0; i < n; i++) er[i] *= inv;
      }
    if (logw || lse)
      for (r = 0; r < nr; r++)
        lt_row_logs(xc + r * n, n, shift[r], sum[r], logw ? logw + (r0 + r) * n : NULL,
                    lse ? lse + r0 + r : NULL);
  }
}

/* ---------------------------------------------------------------- on the pool */

typedef struct lt_rows_job {
  const float *x, *shift;
  float *y, *logw, *lse;
  int64_t n;
} lt_rows_job;

static int lt_softmax_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_rows_job *j = ctx;
  int64_t n = j->n;
  (void)worker;
  lt_softmax_rows_serial(j->x + lo * n, hi - lo, n, j->y ? j->y + lo * n : NULL,
                         j->logw ? j->logw + lo * n : NULL, j->lse ? j->lse + lo : NULL);
  return 0;
}

void lt_softmax_rows(const float *x, int64_t rows, int64_t n, float *w,
                     float *logw, float *lse) {
  lt_rows_job j;
  j.x = x; j.shift = NULL; j.y = w; j.logw = logw; j.lse = lse; j.n = n;
  lt_parallel(rows, lt_par_chunk(rows, 6.0 * (double)(n > 0 ? n : 1)), 0, lt_softmax_task, &j);
}

static int lt_rows_exp_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_rows_job *j = ctx;
  (void)worker;
  lt_rows_exp_serial(j->y + lo * j->n, j->x + lo * j->n, j->shift + lo, hi - lo, j->n);
  return 0;
}

void lt_rows_exp(float *y, const float *x, const float *shift, int64_t rows,
                 int64_t n) {
  lt_rows_job j;
  j.x = x; j.shift = shift; j.y = y; j.logw = j.lse = NULL; j.n = n;
  lt_parallel(rows, lt_par_chunk(rows, 4.0 * (double)(n > 0 ? n : 1)), 0, lt_rows_exp_task, &j);
}

/* ---------------------------------------------------------------- one long row */

#define LT_PIECE 65536

/* the pieces' sums (y NULL) or dot products in part, or (arg 1: max,
** 2: min) the indices of their extremes in at */
typedef struct lt_long_job {
  const float *x, *y;
  int64_t n;
  int arg;
  double *part;
  int64_t *at;
} lt_long_job;

static int lt_long_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_long_job *j = ctx;
  int64_t c;
  (void)worker;
  for (c = lo; c < hi; c++) {
    int64_t a = c * LT_PIECE, len = j->n - a < LT_PIECE ? j->n - a : LT_PIECE;
    if (j->arg) j->at[c] = a + lt_row_arg(j->x + a, len, j->arg == 2);
    else j->part[c] = j->y ? lt_row_dot(j->x + a, j->y + a, len) : lt_row_sum(j->x + a, len);
  }
  return 0;
}

/* run j's np > 1 pieces on the pool into j->part or j->at (freed by the
** caller) */
static int lt_long_parts(const char *op, lt_long_job *j, int64_t np) {
  void *p = lt_malloc((size_t)np * (j->arg ? sizeof *j->at : sizeof *j->part));
  if (p == NULL) {
    lt_err("%s: out of memory", op);
    return -1;
  }
  if (j->arg) j->at = p;
  else j->part = p;
  lt_parallel(np, 1, 0, lt_long_task, j);
  return 0;
}

int lt_long_dot(const char *op, const float *x, const float *y, int64_t n, double *out) {
  lt_long_job j = {x, y, n, 0, NULL, NULL};
  int64_t np = (n + LT_PIECE - 1) / LT_PIECE, c;
  double s = 0;
  if (np <= 1) {                     /* one piece: no buffer, no hand-off */
    *out = y ? lt_row_dot(x, y, n) : lt_row_sum(x, n);
    return 0;
  }
  if (lt_long_parts(op, &j, np)) return -1;
  for (c = 0; c < np; c++) s += j.part[c];
  free(j.part);
  *out = s;
  return 0;
}

int lt_long_arg(const char *op, const float *x, int64_t n, int ismin, int64_t *out) {
  lt_long_job j = {x, NULL, n, ismin ? 2 : 1, NULL, NULL};
  int64_t np = (n + LT_PIECE - 1) / LT_PIECE, c, best;
  if (np <= 1) {
    *out = lt_row_arg(x, n, ismin);
    return 0;
  }
  if (lt_long_parts(op, &j, np)) return -1;
  best = j.at[0];
  for (c = 1; c < np && x[best] == x[best]; c++) {   /* a NaN ends the search */
    int64_t k = j.at[c];
    float v = x[k], m = x[best];
    if (v != v || (ismin ? v < m : v > m)) best = k;  /* ties: the earlier piece */
  }
  free(j.at);
  *out = best;
  return 0;
}
