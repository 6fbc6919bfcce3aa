/*
** tensor.h -- lunet's core: tensors over refcounted storage.
**
** The core knows nothing of Lua.  Every function that can fail returns
** NULL (or -1) and leaves a message in lt_errmsg(); the binding turns it
** into a Lua error.  Dimensions are 0-based here; the binding converts.
**
** Ownership: functions returning lt_tensor* return a new reference that
** the caller must lt_tensor_release().  Arguments are borrowed.
*/
#ifndef LT_TENSOR_H
#define LT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define LT_MAXDIM 8

/*
** Element types.  float32 is what every differentiable op computes in;
** the others are data: ids and indices (int64, as PyTorch's), masks
** (bool, one byte holding 0 or 1), and what checkpoints carry (int32,
** uint8).  The dtype belongs to the storage, so every view of it has the
** same one.  Kernels of float ops read float32 only: the binding converts
** other operands first (lb_checktensor), and a C caller uses lt_to_dtype
** (dtype.c), where conversion, promotion and element access live.
*/
typedef enum lt_dtype {
  LT_FLOAT32, LT_INT64, LT_INT32, LT_UINT8, LT_BOOL
} lt_dtype;
#define LT_NDTYPES 5

typedef struct lt_storage {
  int refs;
  unsigned version;  /* bumped by every in-place write: see lt_bump_version */
  lt_dtype dtype;
  size_t n;          /* number of elements */
  float *data;       /* the buffer (float32 data, or raw: see lt_ptr) */
} lt_storage;

typedef struct lt_node lt_node;

typedef struct lt_tensor {
  int refs;
  int ndim;
  int64_t shape[LT_MAXDIM];
  int64_t stride[LT_MAXDIM];    /* in elements */
  int64_t offset;               /* in elements, into st->data */
  lt_storage *st;
  int requires_grad;            /* leaf flag, or set because grad_fn != NULL */
  struct lt_tensor *grad;       /* accumulated gradient (leaves) */
  lt_node *grad_fn;             /* node that produced this tensor */
} lt_tensor;

/* ---- errors (one hook: the binding reads the message) ---- */
void lt_err(const char *fmt, ...);
const char *lt_errmsg(void);
/* formats a shape as "{2,3}" into buf; returns buf */
char *lt_shape_str(const lt_tensor *t, char *buf, size_t sz);
char *lt_dims_str(const int64_t *shape, int ndim, char *buf, size_t sz);

/* ---- memory accounting (so the Lua GC can be told) ---- */
size_t lt_mem_live(void);     /* bytes of live storage */
void lt_mem_release_cache(void);   /* free the cache of freed buffers (tensor.c) */

/* ---- lifetime ---- */
lt_tensor *lt_tensor_retain(lt_tensor *t);
void lt_tensor_release(lt_tensor *t);

/* ---- creation ---- */
lt_tensor *lt_empty(const int64_t *shape, int ndim);    /* contiguous, uninitialised */
lt_tensor *lt_empty_dtype(const int64_t *shape, int ndim, lt_dtype dt);
/* uninitialised, its dims laid out in the order of like's strides (like
** has ndim dims): a gradient or result that keeps its input's layout, so
** that the views around it stay views (PyTorch's preserve_format) */
lt_tensor *lt_empty_order(const int64_t *shape, int ndim, const lt_tensor *like);
/* t's dims from the largest stride to the smallest (ties in dim order):
** perm[0] is the outermost in memory */
void lt_dim_order(const lt_tensor *t, int *perm);
/* scratch memory for a kernel, from the buffer cache like a tensor's (a
** training step reuses it instead of faulting in fresh pages), 64-byte
** aligned: *hold owns it (lt_tensor_release(*hold) frees it, NULL ok);
** NULL with lt_err set when out of memory */
void *lt_scratch(size_t bytes, lt_tensor **hold);
/* uninitialised, dense, dim perm[0] outermost ... perm[ndim-1] innermost */
lt_tensor *lt_empty_perm(const int64_t *shape, int ndim, const int *perm);
/* is t dense (no gaps, no overlap) with its dims in the order perm /
** in some order (contiguous, or a permutation of contiguous)? */
int lt_dense_in(const lt_tensor *t, const int *perm);
int lt_is_dense(const lt_tensor *t);
lt_tensor *lt_zeros(const int64_t *shape, int ndim);
lt_tensor *lt_full(const int64_t *shape, int ndim, float v);
lt_tensor *lt_scalar(float v);                          /* 0-d tensor */
lt_tensor *lt_eye(int64_t n, int64_t m);
lt_tensor *lt_rand(const int64_t *shape, int ndim);     /* U[0,1) */
lt_tensor *lt_randn(const int64_t *shape, int ndim);    /* N(0,1) */
lt_tensor *lt_uniform(const int64_t *shape, int ndim, float lo, float hi);

/* ---- random numbers: one portable generator, reproducible everywhere ---- */
void lt_rng_seed(uint64_t seed);
uint64_t lt_rng_next(void);          /* 64 random bits */
double lt_rng_uniform(void);         /* [0,1) */
double lt_rng_normal(void);
/* the whole generator state as bytes (checkpoints save it), and back;
** set refuses a state that is not one get could have produced */
#define LT_RNG_STATE_BYTES 41
void lt_rng_get_state(unsigned char *out);
int lt_rng_set_state(const unsigned char *in);

/* ---- geometry ---- */
int64_t lt_numel(const lt_tensor *t);
int lt_is_contiguous(const lt_tensor *t);
int lt_same_shape(const lt_tensor *a, const lt_tensor *b);
int lt_wrap_dim(const char *op, int dim, int ndim, int *out);  /* 0-based, neg ok */
float *lt_data(const lt_tensor *t);  /* st->data + offset; float32 only */
static inline lt_dtype lt_dtypeof(const lt_tensor *t) { return t->st->dtype; }
size_t lt_dtype_size(lt_dtype dt);   /* bytes per element */
void *lt_ptr(const lt_tensor *t);    /* the first element's address, any dtype */
/* contiguous strides for shape; returns numel or -1 on overflow */
int64_t lt_contig_strides(const int64_t *shape, int ndim, int64_t *stride);

/* address of the element at a 0-based multi-index, any dtype (no bounds
** check: the caller checks) */
void *lt_elem_ptr(const lt_tensor *t, const int64_t *idx);

/* ---- views (share storage, record autograd) ---- */
lt_tensor *lt_view(lt_tensor *t, const int64_t *shape, int ndim);  /* one -1 allowed */
lt_tensor *lt_reshape(lt_tensor *t, const int64_t *shape, int ndim);
lt_tensor *lt_transpose(lt_tensor *t, int d0, int d1);
lt_tensor *lt_permute(lt_tensor *t, const int *perm, int n);
lt_tensor *lt_narrow(lt_tensor *t, int dim, int64_t start, int64_t len);
lt_tensor *lt_select(lt_tensor *t, int dim, int64_t index);
lt_tensor *lt_expand(lt_tensor *t, const int64_t *shape, int ndim);  /* -1 keeps */
lt_tensor *lt_unsqueeze(lt_tensor *t, int dim);
lt_tensor *lt_squeeze(lt_tensor *t, int dim);      /* dim < 0 after wrap: all */
lt_tensor *lt_squeeze_all(lt_tensor *t);
lt_tensor *lt_flatten(lt_tensor *t, int start, int end);
lt_tensor *lt_contiguous(lt_tensor *t);            /* self (retained) if already */
lt_tensor *lt_clone(lt_tensor *t);
lt_tensor *lt_detach(lt_tensor *t);

/* raw view constructor (no autograd): new tensor header on t's storage */
lt_tensor *lt_make_view(lt_tensor *t, const int64_t *shape,
                        const int64_t *stride, int ndim, int64_t offset);
/*
** Row iterator over up to 4 operands sharing one (broadcast) shape, each
** with its own strides.  Dims are coalesced where every operand allows, so
** the innermost run (`len` elements, strides `inner[k]`) is as long as
** possible.  Use:
**   lt_iter it; lt_iter_init(&it, shape, nd, n, strides, offsets);
**   do { ... row at it.off[k], it.len elements ... } while (lt_iter_next(&it));
** (check lt_iter_empty first: a zero-size shape has no rows).
*/
typedef struct lt_iter {
  int n, nd;                       /* operands; outer dims after coalescing */
  int64_t shape[LT_MAXDIM];
  int64_t stride[4][LT_MAXDIM];
  int64_t idx[LT_MAXDIM];
  int64_t off[4];
  int64_t len, inner[4];
  int empty;
} lt_iter;
void lt_iter_init(lt_iter *it, const int64_t *shape, int ndim, int n,
                  const int64_t *const *strides, const int64_t *offsets);
int lt_iter_next(lt_iter *it);

/*
** The same walk cut into pieces for the thread pool: run(ctx, off,
** inner, len) for each run of elements, pieces of rows included, with
** `off` the operands' offsets at the run's first element.  `cost`: rough
** flops per element, which decides how much goes to one thread (see
** lt_par_chunk).  The walk only reads *it.  flags: LT_PAR_INTR (pool.h)
** lets Ctrl-C stop it; 0, or -1 when it did.
*/
typedef void (*lt_run_fn)(void *ctx, const int64_t *off, const int64_t *inner,
                          int64_t len);
int lt_iter_parallel(const lt_iter *it, double cost, int flags, lt_run_fn run,
                     void *ctx);

/* note an in-place write to t's storage, so that a backward which saved
** the old values can tell they are gone (autograd.c checks it) */
static inline void lt_bump_version(lt_tensor *t) { t->st->version++; }

/* copy src into dst elementwise (same shape and dtype, any strides); no
** autograd.  lt_convert_into (dtype.c) converts between dtypes. */
void lt_copy_into(lt_tensor *dst, const lt_tensor *src);

#endif
