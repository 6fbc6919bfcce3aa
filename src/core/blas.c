/*
** blas.c -- the only door to OpenBLAS.
**
** lunet does not link OpenBLAS: it opens it here, at first use.  OpenBLAS
** picks its kernel set (its "core") when it is loaded, and Debian's
** 0.3.21 under-detects recent AVX-512 CPUs (a Zen 5 gets Haswell's AVX2
** kernels, an Intel family 6 model 207 gets Prescott's SSE3 ones: 2-8x
** slower).  Loading it ourselves lets us set OPENBLAS_CORETYPE first.
** A user's own OPENBLAS_CORETYPE always wins; ours is removed from the
** environment again after the load so child processes see what the user
** set, not what we chose.
*/
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>     /* only for CBLAS_ORDER/CBLAS_TRANSPOSE and blasint */

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LT_X86 1
#endif

#include "blas.h"
#include "pool.h"
#include "tensor.h"

#ifndef LT_BLAS_LIB
#define LT_BLAS_LIB "libopenblas.so.0"
#endif

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE,
                         enum CBLAS_TRANSPOSE, blasint, blasint, blasint,
                         float, const float *, blasint, const float *,
                         blasint, float, float *, blasint);

static struct {
  void *lib;                      /* NULL until loaded */
  sgemm_fn sgemm;
  void (*set_threads)(int);
  int (*get_threads)(void);
  char *(*corename)(void);
  int threads;                    /* what we last told it */
  const char *source;             /* who chose the core: see blas.h */
  const char *path;               /* the name dlopen succeeded with */
} blas;

/* ------------------------------------------------------------ CPU check */

/*
** True when the CPU has the AVX-512 subsets OpenBLAS's SkylakeX kernels
** use (F, DQ, BW, VL) and the OS saves the zmm state on context switch
** (XCR0: SSE+AVX bits 1-2, opmask/zmm bits 5-7).  Without the OS part the
** instructions fault, whatever cpuid says.
*/
static int lt_cpu_avx512(void) {
#ifdef LT_X86
  unsigned a, b, c, d, lo, hi;
  const unsigned need7 = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  if (!(c & (1u << 27))) return 0;                 /* OSXSAVE: xgetbv ok */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  if ((b & need7) != need7) return 0;              /* F, DQ, BW, VL */
  __asm__ volatile ("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  return (lo & 0xe6) == 0xe6;
#else
  return 0;
#endif
}

/* ------------------------------------------------------------ loading */

static void *lt_blas_open(void) {
  void *lib = dlopen(LT_BLAS_LIB, RTLD_NOW | RTLD_LOCAL);
  blas.path = LT_BLAS_LIB;
  if (lib == NULL && strcmp(LT_BLAS_LIB, "libopenblas.so.0") != 0) {
    lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    blas.path = "libopenblas.so.0";
  }
  return lib;
}

static int lt_blas_sym(void **slot, const char *name) {
  *slot = dlsym(blas.lib, name);
  if (*slot == NULL) {
    lt_err("blas: OpenBLAS at %s lacks %s", blas.path, name);
    return -1;
  }
  return 0;
}

int lt_blas_init(void) {
  int ours = 0;
  void *lib, *p[4];
  if (blas.lib) return 0;
  if (getenv("OPENBLAS_CORETYPE") != NULL)
    blas.source = "user";
  else if (lt_cpu_avx512()) {
    ours = setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) == 0;
    blas.source = ours ? "lunet" : "openblas";
  } else
    blas.source = "openblas";
  lib = lt_blas_open();
  if (ours) unsetenv("OPENBLAS_CORETYPE");
  if (lib == NULL) {
    lt_err("blas: cannot load OpenBLAS (%s)", dlerror());
    return -1;
  }
  blas.lib = lib;
  if (lt_blas_sym(&p[0], "cblas_sgemm") || lt_blas_sym(&p[1], "openblas_set_num_threads") ||
      lt_blas_sym(&p[2], "openblas_get_num_threads") ||
      lt_blas_sym(&p[3], "openblas_get_corename")) {
    dlclose(lib);
    blas.lib = NULL;
    return -1;
  }
  /* ISO C has no function<->object pointer cast; POSIX guarantees it works */
  memcpy(&blas.sgemm, &p[0], sizeof p[0]);
  memcpy(&blas.set_threads, &p[1], sizeof p[1]);
  memcpy(&blas.get_threads, &p[2], sizeof p[2]);
  memcpy(&blas.corename, &p[3], sizeof p[3]);
  blas.threads = lt_num_threads();      /* lunet's count is OpenBLAS's */
  blas.set_threads(blas.threads);
  return 0;
}

/* ------------------------------------------------------------ queries */

const char *lt_blas_corename(void) {
  if (lt_blas_init()) return NULL;
  return blas.corename();
}

const char *lt_blas_coretype_source(void) {
  if (lt_blas_init()) return NULL;
  return blas.source;
}

const char *lt_blas_library(void) {
  if (lt_blas_init()) return NULL;
  return blas.path;
}

int lt_blas_num_threads(void) {
  if (lt_blas_init()) return -1;
  return blas.get_threads();
}

int lt_blas_set_num_threads(int n) {
  if (n < 1) {
    lt_err("set_num_threads: expected a count >= 1, got %d", n);
    return -1;
  }
  if (lt_blas_init()) return -1;
  if (n != blas.threads) blas.set_threads(n);
  blas.threads = n;
  return 0;
}

/* ------------------------------------------------------------ sgemm */

/* BLAS takes int sizes: refuse what would silently wrap */
static int lt_blas_fits(int64_t v) { return v >= 0 && v <= INT_MAX; }

/* C = beta * C for the m x n matrix at c: what gemm does when k == 0 */
static void lt_scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
  int64_t i, j;
  for (i = 0; i < m; i++) {
    float *row = c + i * ldc;
    if (beta == 0.0f)               /* 0 * NaN must not stay NaN */
      for (j = 0; j < n; j++) row[j] = 0.0f;
    else if (beta != 1.0f)
      for (j = 0; j < n; j++) row[j] *= beta;
  }
}

int lt_sgemm(int transa, int transb, int64_t m, int64_t n, int64_t k,
             float alpha, const float *a, int64_t lda,
             const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (!lt_blas_fits(m) || !lt_blas_fits(n) || !lt_blas_fits(k) ||
      !lt_blas_fits(lda) || !lt_blas_fits(ldb) || !lt_blas_fits(ldc)) {
    lt_err("blas: sgemm sizes m=%lld n=%lld k=%lld (lda %lld, ldb %lld, ldc %lld) "
           "exceed OpenBLAS's int range", (long long)m, (long long)n, (long long)k,
           (long long)lda, (long long)ldb, (long long)ldc);
    return -1;
  }
  if (m == 0 || n == 0) return 0;
  /* OpenBLAS answers a bad ld with a message on stderr and no result */
  if (ldc < n || (k > 0 && (lda < (transa ? m : k) || ldb < (transb ? k : n)))) {
    lt_err("blas: sgemm leading dimensions lda %lld, ldb %lld, ldc %lld too small "
           "for m=%lld n=%lld k=%lld", (long long)lda, (long long)ldb,
           (long long)ldc, (long long)m, (long long)n, (long long)k);
    return -1;
  }
  if (k == 0 || alpha == 0.0f) {
    lt_scale_c(m, n, beta, c, ldc);
    return 0;
  }
  if (lt_blas_init()) return -1;
  blas.sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
             transb ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n,
             (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c,
             (blasint)ldc);
  return 0;
}
