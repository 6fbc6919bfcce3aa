/*
** tensor.c -- storage, tensor headers, creation, errors, random numbers.
*/
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "autograd.h"
#include "alloc.h"
#include "pool.h"

/* ---------------------------------------------------------------- errors */

/* room for anomaly mode's traceback; one per thread: a kernel running on
** the pool's threads reports its error in its own buffer, and the pool
** hands it to the caller's */
static _Thread_local char lt_errbuf[4096];

void lt_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(lt_errbuf, sizeof lt_errbuf, fmt, ap);
  va_end(ap);
}

const char *lt_errmsg(void) {
  return lt_errbuf[0] ? lt_errbuf : "lunet: unknown error";
}

char *lt_dims_str(const int64_t *shape, int ndim, char *buf, size_t sz) {
  size_t used = 0;
  int i;
  used += (size_t)snprintf(buf, sz, "{");
  for (i = 0; i < ndim && used < sz; i++)
    used += (size_t)snprintf(buf + used, sz - used, i ? ",%lld" : "%lld",
                             (long long)shape[i]);
  if (used < sz) snprintf(buf + used, sz - used, "}");
  return buf;
}

char *lt_shape_str(const lt_tensor *t, char *buf, size_t sz) {
  return lt_dims_str(t->shape, t->ndim, buf, sz);
}

/* ---------------------------------------------------------------- storage */

static size_t lt_live_bytes = 0;

size_t lt_mem_live(void) { return lt_live_bytes; }

/*
** A cache of freed large buffers.  Fresh pages cost a fault each
** (measured ~4 us per 4 KiB page on these VMs, 100x the cost of writing a
** reused page), and training loops allocate the same sizes every step,
** so a freed buffer is kept for the next request of exactly its size.
** A training step frees its graph's buffers in bursts (when Lua collects
** the tensors it dropped, up to as much again as is live), so the cache
** holds twice what the process has ever had live, from 256 MiB up to
** 1 GiB: then a step reuses the last step's buffers and stops faulting
** pages in.  A request of a size the cache does not hold, when the cache
** is full, first frees cached buffers (oldest first), so sizes no longer
** used do not stay.
*/
#define LT_CACHE_SLOTS 256
#define LT_CACHE_MIN   ((size_t)64 << 10)
#define LT_CACHE_LOW   ((size_t)256 << 20)
#define LT_CACHE_HIGH  ((size_t)1 << 30)

static struct { size_t bytes; float *p; unsigned long age; } lt_cache[LT_CACHE_SLOTS];
static size_t lt_cache_bytes = 0, lt_peak_bytes = 0;
static unsigned long lt_cache_clock = 0;

static size_t lt_cache_cap(void) {
  size_t c = 2 * lt_peak_bytes;
  return c < LT_CACHE_LOW ? LT_CACHE_LOW : c > LT_CACHE_HIGH ? LT_CACHE_HIGH : c;
}

/* free the oldest cached buffers until `bytes` more would fit */
static void lt_cache_make_room(size_t bytes) {
  while (lt_cache_bytes > 0 && lt_cache_bytes + bytes > lt_cache_cap()) {
    int i, old = -1;
    for (i = 0; i < LT_CACHE_SLOTS; i++)
      if (lt_cache[i].p && (old < 0 || lt_cache[i].age < lt_cache[old].age)) old = i;
    free(lt_cache[old].p);
    lt_cache_bytes -= lt_cache[old].bytes;
    lt_cache[old].p = NULL;
  }
}

static void lt_buf_cache_clear(void) {
  int i;
  for (i = 0; i < LT_CACHE_SLOTS; i++) {
    free(lt_cache[i].p);
    lt_cache[i].p = NULL;
  }
  lt_cache_bytes = 0;
}

void lt_mem_release_cache(void) { lt_buf_cache_clear(); }

/*
** Out of memory: give the cached buffers back and try again; then let the
** release hook free what it can (the binding's collects Lua's garbage,
** whose finalizers free dead tensors -- into the cache, so empty it
** again) and try once more.  Only then does the allocation fail.
*/
static float *lt_buf_alloc_retry(size_t bytes) {
  float *p = lt_aligned_alloc(64, bytes);
  if (p == NULL) {
    lt_buf_cache_clear();
    p = lt_aligned_alloc(64, bytes);
  }
  if (p == NULL) {
    lt_release_memory();
    lt_buf_cache_clear();
    p = lt_aligned_alloc(64, bytes);
  }
  return p;
}

static float *lt_buf_alloc(size_t bytes) {
  int i;
  if (bytes >= LT_CACHE_MIN) {
    for (i = 0; i < LT_CACHE_SLOTS; i++)
      if (lt_cache[i].p && lt_cache[i].bytes == bytes) {
        float *p = lt_cache[i].p;
        lt_cache[i].p = NULL;
        lt_cache_bytes -= bytes;
        return p;
      }
    lt_cache_make_room(bytes);
  }
  return lt_buf_alloc_retry(bytes);
}

static void lt_buf_free(float *p, size_t bytes) {
  int i, k = -1;
  if (bytes >= LT_CACHE_MIN && lt_cache_bytes + bytes <= lt_cache_cap())
    for (i = 0; i < LT_CACHE_SLOTS && k < 0; i++)
      if (lt_cache[i].p == NULL) k = i;
  if (k < 0) { free(p); return; }
  lt_cache[k].p = p;
  lt_cache[k].bytes = bytes;
  lt_cache[k].age = lt_cache_clock++;
  lt_cache_bytes += bytes;
}

static const unsigned char lt_dtype_sizes[LT_NDTYPES] = {4, 8, 4, 1, 1};

size_t lt_dtype_size(lt_dtype dt) { return lt_dtype_sizes[dt]; }

static size_t lt_buf_bytes(const lt_storage *s) {
  size_t bytes = (s->n ? s->n : 1) * lt_dtype_size(s->dtype);
  return (bytes + 63) & ~(size_t)63;
}

/* a storage of n elements; 64-byte aligned so kernels can use wide loads */
static lt_storage *lt_storage_new(size_t n, lt_dtype dt) {
  lt_storage *s = lt_malloc(sizeof *s);
  if (s == NULL) goto oom;
  s->n = n;
  s->dtype = dt;
  s->data = lt_buf_alloc(lt_buf_bytes(s));
  if (s->data == NULL) { free(s); goto oom; }
  s->refs = 1;
  s->version = 0;
  lt_live_bytes += n * lt_dtype_size(dt);
  if (lt_live_bytes > lt_peak_bytes) lt_peak_bytes = lt_live_bytes;
  return s;
oom:
  lt_err("out of memory allocating %zu elements", n);
  return NULL;
}

static void lt_storage_release(lt_storage *s) {
  if (s && --s->refs == 0) {
    lt_live_bytes -= s->n * lt_dtype_size(s->dtype);
    lt_buf_free(s->data, lt_buf_bytes(s));
    free(s);
  }
}

/* ---------------------------------------------------------------- headers */

int64_t lt_contig_strides(const int64_t *shape, int ndim, int64_t *stride) {
  int64_t n = 1;
  int i;
  for (i = ndim - 1; i >= 0; i--) {
    if (stride) stride[i] = n;
    if (shape[i] < 0) return -1;
    if (shape[i] > 0 && n > INT64_MAX / 4 / shape[i]) return -1;
    n *= shape[i];
  }
  return n;
}

static lt_tensor *lt_header(lt_storage *st, const int64_t *shape,
                            const int64_t *stride, int ndim, int64_t offset) {
  lt_tensor *t = lt_calloc(1, sizeof *t);
  if (t == NULL) { lt_err("out of memory"); return NULL; }
  t->refs = 1;
  t->ndim = ndim;
  if (ndim) {
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    memcpy(t->stride, stride, (size_t)ndim * sizeof *stride);
  }
  t->offset = offset;
  t->st = st;
  st->refs++;
  return t;
}

lt_tensor *lt_empty(const int64_t *shape, int ndim) {
  return lt_empty_dtype(shape, ndim, LT_FLOAT32);
}

lt_tensor *lt_empty_dtype(const int64_t *shape, int ndim, lt_dtype dt) {
  int64_t stride[LT_MAXDIM], n;
  lt_storage *st;
  lt_tensor *t;
  char b[128];
  if (ndim < 0 || ndim > LT_MAXDIM) {
    lt_err("tensor: %d dimensions (at most %d)", ndim, LT_MAXDIM);
    return NULL;
  }
  n = lt_contig_strides(shape, ndim, stride);
  if (n < 0) {
    lt_err("tensor: invalid shape %s", lt_dims_str(shape, ndim, b, sizeof b));
    return NULL;
  }
  if ((st = lt_storage_new((size_t)n, dt)) == NULL) return NULL;
  t = lt_header(st, shape, stride, ndim, 0);
  lt_storage_release(st);   /* the header holds it now */
  return t;
}

void lt_dim_order(const lt_tensor *t, int *perm) {
  int i, k;
  for (i = 0; i < t->ndim; i++) {       /* insertion sort: ties keep dim order */
    for (k = i; k > 0 && t->stride[perm[k - 1]] < t->stride[i]; k--) perm[k] = perm[k - 1];
    perm[k] = i;
  }
}

void *lt_scratch(size_t bytes, lt_tensor **hold) {
  int64_t n = (int64_t)((bytes + sizeof(float) - 1) / sizeof(float));
  *hold = lt_empty(&n, 1);
  return *hold ? lt_data(*hold) : NULL;
}

lt_tensor *lt_empty_perm(const int64_t *shape, int ndim, const int *perm) {
  int i;
  int64_t n = 1;
  lt_tensor *t = lt_empty(shape, ndim);
  if (t == NULL) return t;
  for (i = ndim - 1; i >= 0; i--) {
    t->stride[perm[i]] = n;
    n *= shape[perm[i]];
  }
  return t;
}

int lt_dense_in(const lt_tensor *t, const int *perm) {
  int64_t n = 1;
  int i;
  for (i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[perm[i]] != 1 && t->stride[perm[i]] != n) return 0;
    n *= t->shape[perm[i]];
  }
  return 1;
}

int lt_is_dense(const lt_tensor *t) {
  int perm[LT_MAXDIM];
  lt_dim_order(t, perm);
  return lt_dense_in(t, perm);
}

lt_tensor *lt_empty_order(const int64_t *shape, int ndim, const lt_tensor *like) {
  int perm[LT_MAXDIM];
  if (ndim != like->ndim) return lt_empty(shape, ndim);
  lt_dim_order(like, perm);
  return lt_empty_perm(shape, ndim, perm);
}

lt_tensor *lt_make_view(lt_tensor *t, const int64_t *shape,
                        const int64_t *stride, int ndim, int64_t offset) {
  return lt_header(t->st, shape, stride, ndim, offset);
}

lt_tensor *lt_tensor_retain(lt_tensor *t) {
  if (t) t->refs++;
  return t;
}

void lt_tensor_release(lt_tensor *t) {
  if (t == NULL || --t->refs > 0) return;
  lt_storage_release(t->st);
  lt_tensor_release(t->grad);
  if (t->grad_fn) lt_node_release(t->grad_fn);
  free(t);
}

/* ---------------------------------------------------------------- geometry */

int64_t lt_numel(const lt_tensor *t) {
  int64_t n = 1;
  int i;
  for (i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

int lt_is_contiguous(const lt_tensor *t) {
  int64_t expect = 1;
  int i;
  for (i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] == 1) continue;     /* any stride is fine for size 1 */
    if (t->stride[i] != expect) return 0;
    expect *= t->shape[i];
  }
  return 1;
}

int lt_same_shape(const lt_tensor *a, const lt_tensor *b) {
  return a->ndim == b->ndim &&
         memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0;
}

int lt_wrap_dim(const char *op, int dim, int ndim, int *out) {
  int n = ndim > 0 ? ndim : 1;   /* a 0-d tensor accepts dim 0 / -1 */
  int d = dim < 0 ? dim + n : dim;
  if (d < 0 || d >= n) {
    lt_err("%s: dim %d out of range for a %d-d tensor", op,
           dim < 0 ? dim : dim + 1, ndim);
    return -1;
  }
  *out = d;
  return 0;
}

/* a float kernel handed another dtype is a bug in lunet (the binding
** converts), caught here by any spec that reaches it */
float *lt_data(const lt_tensor *t) {
  assert(t->st->dtype == LT_FLOAT32);
  return t->st->data + t->offset;
}

void *lt_ptr(const lt_tensor *t) {
  return (char *)t->st->data + t->offset * (int64_t)lt_dtype_size(t->st->dtype);
}

void *lt_elem_ptr(const lt_tensor *t, const int64_t *idx) {
  int64_t off = t->offset;
  int i;
  for (i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
  return (char *)t->st->data + off * (int64_t)lt_dtype_size(t->st->dtype);
}

void lt_iter_init(lt_iter *it, const int64_t *shape, int ndim, int n,
                  const int64_t *const *strides, const int64_t *offsets) {
  int i, k, j = -1;
  it->n = n;
  it->empty = 0;
  for (i = 0; i < ndim; i++) {
    if (shape[i] == 0) it->empty = 1;
    if (shape[i] == 1) continue;          /* size-1 dims never move */
    if (j >= 0) {                         /* fold into the previous dim? */
      int fold = 1;
      for (k = 0; k < n; k++)
        if (it->stride[k][j] != strides[k][i] * shape[i]) fold = 0;
      if (fold) {
        it->shape[j] *= shape[i];
        for (k = 0; k < n; k++) it->stride[k][j] = strides[k][i];
        continue;
      }
    }
    j++;
    it->shape[j] = shape[i];
    for (k = 0; k < n; k++) it->stride[k][j] = strides[k][i];
  }
  /* the last dim becomes the inner run, the others the row counter */
  if (j < 0) {
    it->nd = 0;
    it->len = 1;
    for (k = 0; k < n; k++) it->inner[k] = 0;
  } else {
    it->nd = j;
    it->len = it->shape[j];
    for (k = 0; k < n; k++) it->inner[k] = it->stride[k][j];
  }
  for (i = 0; i < it->nd; i++) it->idx[i] = 0;
  for (k = 0; k < n; k++) it->off[k] = offsets[k];
}

/* advance to the next row; 0 when done */
int lt_iter_next(lt_iter *it) {
  int d, k;
  for (d = it->nd - 1; d >= 0; d--) {
    for (k = 0; k < it->n; k++) it->off[k] += it->stride[k][d];
    if (++it->idx[d] < it->shape[d]) return 1;
    for (k = 0; k < it->n; k++) it->off[k] -= it->stride[k][d] * it->shape[d];
    it->idx[d] = 0;
  }
  return 0;
}

/*
** The iterator's elements [lo, hi) in flat order, row pieces included.
** The operands' offsets are four scalars, updated all four (an unused
** operand's strides are 0): a loop over the operands here gets
** vectorised over two of them, and reading its results back one by one
** stalls on every row.
*/
static void lt_iter_range(const lt_iter *it, int64_t lo, int64_t hi, lt_run_fn run,
                          void *ctx) {
  int64_t st[4][LT_MAXDIM], idx[LT_MAXDIM], o[4], in[4];
  int64_t row = lo / it->len, col = lo % it->len, o0, o1, o2, o3;
  int d, k;
  for (k = 0; k < 4; k++) {
    for (d = 0; d < it->nd; d++) st[k][d] = k < it->n ? it->stride[k][d] : 0;
    in[k] = k < it->n ? it->inner[k] : 0;
  }
  o0 = it->off[0]; o1 = it->n > 1 ? it->off[1] : 0;
  o2 = it->n > 2 ? it->off[2] : 0; o3 = it->n > 3 ? it->off[3] : 0;
  for (d = it->nd - 1; d >= 0; d--) {          /* row -> its multi-index */
    idx[d] = row % it->shape[d];
    row /= it->shape[d];
    o0 += idx[d] * st[0][d]; o1 += idx[d] * st[1][d];
    o2 += idx[d] * st[2][d]; o3 += idx[d] * st[3][d];
  }
  while (lo < hi) {
    int64_t len = it->len - col < hi - lo ? it->len - col : hi - lo;
    o[0] = o0 + col * in[0]; o[1] = o1 + col * in[1];
    o[2] = o2 + col * in[2]; o[3] = o3 + col * in[3];
    run(ctx, o, in, len);
    lo += len;
    col = 0;
    for (d = it->nd - 1; d >= 0; d--) {        /* the odometer, as lt_iter_next */
      o0 += st[0][d]; o1 += st[1][d]; o2 += st[2][d]; o3 += st[3][d];
      if (++idx[d] < it->shape[d]) break;
      o0 -= st[0][d] * it->shape[d]; o1 -= st[1][d] * it->shape[d];
      o2 -= st[2][d] * it->shape[d]; o3 -= st[3][d] * it->shape[d];
      idx[d] = 0;
    }
  }
}

typedef struct lt_iter_job {
  const lt_iter *it;
  lt_run_fn run;
  void *ctx;
} lt_iter_job;

static int lt_iter_task(void *ctx, int worker, int64_t lo, int64_t hi) {
  const lt_iter_job *j = ctx;
  (void)worker;
  lt_iter_range(j->it, lo, hi, j->run, j->ctx);
  return 0;
}

int lt_iter_parallel(const lt_iter *it, double cost, int flags, lt_run_fn run,
                     void *ctx) {
  int64_t rows = 1, n;
  int d;
  lt_iter_job j;
  if (it->empty) return 0;
  for (d = 0; d < it->nd; d++) rows *= it->shape[d];
  n = rows * it->len;
  j.it = it; j.run = run; j.ctx = ctx;
  return lt_parallel(n, lt_par_chunk(n, cost), flags, lt_iter_task, &j);
}

/* one strided row of elements of `size` bytes, moved as integers so no
** bit pattern is changed on the way */
static void lt_copy_row(char *o, int64_t ds, const char *s, int64_t ss, int64_t n,
                        size_t size) {
  int64_t i;
  if (ds == 1 && ss == 1) { memcpy(o, s, (size_t)n * size); return; }
  switch (size) {
  case 8:
    for (i = 0; i < n; i++) ((uint64_t *)o)[i * ds] = ((const uint64_t *)s)[i * ss];
    break;
  case 4:
    for (i = 0; i < n; i++) ((uint32_t *)o)[i * ds] = ((const uint32_t *)s)[i * ss];
    break;
  default:
    for (i = 0; i < n; i++) o[i * ds] = s[i * ss];
  }
}

typedef struct lt_copy_job {
  char *dst;
  const char *src;
  size_t size;
} lt_copy_job;

static void lt_copy_run(void *ctx, const int64_t *off, const int64_t *inner, int64_t len) {
  const lt_copy_job *j = ctx;
  lt_copy_row(j->dst + off[0] * (int64_t)j->size, inner[0],
              j->src + off[1] * (int64_t)j->size, inner[1], len, j->size);
}

/* Copy src into dst, both of the same shape and dtype, any strides. */
void lt_copy_into(lt_tensor *dst, const lt_tensor *src) {
  const int64_t *st[2] = {dst->stride, src->stride};
  int64_t off[2] = {dst->offset, src->offset};
  lt_copy_job j;
  lt_iter it;
  assert(dst->st->dtype == src->st->dtype);
  j.dst = (char *)dst->st->data;
  j.src = (const char *)src->st->data;
  j.size = lt_dtype_size(src->st->dtype);
  lt_iter_init(&it, src->shape, src->ndim, 2, st, off);
  lt_iter_parallel(&it, 1, 0, lt_copy_run, &j);
}

/* ---------------------------------------------------------------- creation */

lt_tensor *lt_full(const int64_t *shape, int ndim, float v) {
  lt_tensor *t = lt_empty(shape, ndim);
  int64_t i, n;
  float *p;
  if (t == NULL) return NULL;
  n = lt_numel(t);
  p = lt_data(t);
  for (i = 0; i < n; i++) p[i] = v;
  return t;
}

lt_tensor *lt_zeros(const int64_t *shape, int ndim) {
  return lt_full(shape, ndim, 0.0f);
}

lt_tensor *lt_scalar(float v) { return lt_full(NULL, 0, v); }

lt_tensor *lt_eye(int64_t n, int64_t m) {
  int64_t shape[2] = {n, m < 0 ? n : m}, i;
  lt_tensor *t = lt_zeros(shape, 2);
  if (t == NULL) return NULL;
  for (i = 0; i < shape[0] && i < shape[1]; i++) lt_data(t)[i * shape[1] + i] = 1;
  return t;
}

/*
** Random numbers: xoshiro256** seeded through splitmix64.  Our own
** generator (not rand()) so that a seed gives the same draws on every
** machine and libc.
*/
static uint64_t lt_rng_s[4] = {0x9e3779b97f4a7c15u, 0xbf58476d1ce4e5b9u,
                               0x94d049bb133111ebu, 0x2545f4914f6cdd1du};

static uint64_t lt_splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Box-Muller makes normals in pairs; the second is kept for the next draw */
static int lt_rng_have_spare = 0;
static double lt_rng_spare;

void lt_rng_seed(uint64_t seed) {
  int i;
  for (i = 0; i < 4; i++) lt_rng_s[i] = lt_splitmix(&seed);
  lt_rng_have_spare = 0;
}

static uint64_t lt_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lt_rng_next(void) {
  uint64_t *s = lt_rng_s;
  uint64_t r = lt_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
  s[2] ^= t;
  s[3] = lt_rotl(s[3], 45);
  return r;
}

double lt_rng_uniform(void) {
  return (double)(lt_rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

double lt_rng_normal(void) {
  double u, v;
  if (lt_rng_have_spare) { lt_rng_have_spare = 0; return lt_rng_spare; }
  do u = lt_rng_uniform(); while (u <= 0.0);
  v = lt_rng_uniform();
  lt_rng_spare = sqrt(-2.0 * log(u)) * sin(2.0 * M_PI * v);
  lt_rng_have_spare = 1;
  return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* little-endian: the four state words, the spare flag, the spare normal */
void lt_rng_get_state(unsigned char *out) {
  uint64_t spare;
  int i, k;
  memcpy(&spare, &lt_rng_spare, 8);
  for (i = 0; i < 4; i++)
    for (k = 0; k < 8; k++) out[i * 8 + k] = (unsigned char)(lt_rng_s[i] >> (8 * k));
  out[32] = (unsigned char)lt_rng_have_spare;
  for (k = 0; k < 8; k++) out[33 + k] = (unsigned char)(spare >> (8 * k));
}

int lt_rng_set_state(const unsigned char *in) {
  uint64_t s[4] = {0, 0, 0, 0}, spare = 0;
  double d;
  int i, k;
  for (i = 0; i < 4; i++)
    for (k = 7; k >= 0; k--) s[i] = s[i] << 8 | in[i * 8 + k];
  for (k = 7; k >= 0; k--) spare = spare << 8 | in[33 + k];
  memcpy(&d, &spare, 8);
  if ((s[0] | s[1] | s[2] | s[3]) == 0 || in[32] > 1 || (in[32] && !isfinite(d))) {
    lt_err("set_rng_state: not a generator state (%s)", in[32] > 1 ? "bad spare flag" :
           in[32] ? "spare normal not finite" : "all-zero state");
    return -1;
  }
  memcpy(lt_rng_s, s, sizeof s);
  lt_rng_have_spare = in[32];
  lt_rng_spare = d;
  return 0;
}

lt_tensor *lt_uniform(const int64_t *shape, int ndim, float lo, float hi) {
  lt_tensor *t = lt_empty(shape, ndim);
  int64_t i, n;
  if (t == NULL) return NULL;
  n = lt_numel(t);
  for (i = 0; i < n; i++)
    lt_data(t)[i] = (float)(lo + (hi - lo) * lt_rng_uniform());
  return t;
}

lt_tensor *lt_rand(const int64_t *shape, int ndim) {
  return lt_uniform(shape, ndim, 0.0f, 1.0f);
}

lt_tensor *lt_randn(const int64_t *shape, int ndim) {
  lt_tensor *t = lt_empty(shape, ndim);
  int64_t i, n;
  if (t == NULL) return NULL;
  n = lt_numel(t);
  for (i = 0; i < n; i++) lt_data(t)[i] = (float)lt_rng_normal();
  return t;
}
