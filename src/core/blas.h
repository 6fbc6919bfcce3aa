/*
** blas.h -- the only door to OpenBLAS.
**
** OpenBLAS picks its kernels when it is loaded, and Debian's 0.3.21
** under-detects AVX-512 CPUs.  So lunet loads it itself, at first use,
** after choosing OPENBLAS_CORETYPE (a user's own setting always wins).
*/
#ifndef LT_BLAS_H
#define LT_BLAS_H

#include <stdint.h>

/* load OpenBLAS (idempotent); 0 ok, -1 with lt_err set */
int lt_blas_init(void);

/* row-major C = alpha * op(A) op(B) + beta * C */
int lt_sgemm(int transa, int transb, int64_t m, int64_t n, int64_t k,
             float alpha, const float *a, int64_t lda,
             const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

const char *lt_blas_corename(void);   /* kernel set OpenBLAS runs */
const char *lt_blas_coretype_source(void); /* "user", "lunet", "openblas" */
const char *lt_blas_library(void);    /* the name it was loaded by */
int lt_blas_num_threads(void);
int lt_blas_set_num_threads(int n);

#endif
