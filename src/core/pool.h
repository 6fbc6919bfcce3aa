/*
** pool.h -- lunet's own threads: one pool that the row-parallel kernels
** and attention's (batch, head) pairs share.
**
** A kernel hands the pool n items cut into chunks of `chunk` items (the
** last one shorter).  The caller and the pool's threads take chunks in
** increasing order until none is left; each chunk runs
**
**     fn(ctx, worker, lo, hi)      items [lo, hi), worker in [0, threads)
**
** and returns 0, or -1 with lt_err set.  Chunks must write disjoint
** memory (worker indexes per-thread scratch).  Where the chunk
** boundaries come from is the kernel's business: kernels that combine
** partial results (sums) cut chunks of a fixed size and combine them in
** chunk order, so their results do not depend on the thread count or on
** which thread ran what -- a run repeats bit for bit.
**
** One chunk, one thread, or a call from inside a chunk runs on the
** calling thread with no hand-off.  Code inside a chunk must not create
** tensors, record graph nodes or draw random numbers (those are the
** calling thread's): kernels allocate first, then go parallel.
**
** BLAS: a region flagged LT_PAR_BLAS runs OpenBLAS single-threaded
** inside (lunet's threads already fill the cores), also when its chunks
** end up run here one after the other (so the bits do not depend on
** whether the workers were awake); a region of one chunk, and a product
** called outside any region, get all of OpenBLAS's threads.  Such a
** product above OpenBLAS's threading threshold sums in an order that
** depends on OpenBLAS's thread count: the same bits run to run, not
** across counts.
*/
#ifndef LT_POOL_H
#define LT_POOL_H

#include <stdint.h>

typedef int (*lt_task_fn)(void *ctx, int worker, int64_t lo, int64_t hi);

#define LT_PAR_BLAS 1            /* the chunks call BLAS */
#define LT_PAR_INTR 2            /* Ctrl-C may stop it: the caller checks for -1 */
#define LT_PAR_HEAVY 4           /* each chunk is worth waking a sleeping worker */

/* LT_PAR_HEAVY for chunks of this many flops or more (products, which the
** caller can count), else 0: a job of a few light chunks runs where it is
** rather than pay for waking the workers */
#define LT_PAR_HEAVY_FLOPS 8e6
static inline int lt_par_heavy(double chunk_flops) {
  return chunk_flops >= LT_PAR_HEAVY_FLOPS ? LT_PAR_HEAVY : 0;
}

int lt_parallel(int64_t n, int64_t chunk, int flags, lt_task_fn fn, void *ctx);

/*
** Items per chunk for an elementwise-style loop of n items costing about
** `cost` simple flops each: enough work per chunk that handing it to
** another thread pays (LT_PAR_GRAIN flops, picked by `make bench`), so a
** small tensor is one chunk and stays on the calling thread.  A job of
** fewer than 8 chunks does not wake threads that have gone to sleep
** (pool.c): it runs here, unless its chunks are LT_PAR_HEAVY.
*/
#define LT_PAR_GRAIN 65536
int64_t lt_par_chunk(int64_t n, double cost);
double lt_par_grain(double grain);   /* > 0: set it (the bench tries values); the grain */

int lt_num_threads(void);        /* the pool's size (default: the cores) */
int lt_set_num_threads(int n);   /* the pool's and OpenBLAS's; -1 on error */
void lt_pool_shutdown(void);     /* stop the threads (before unloading) */

/*
** Ctrl-C: lt_interrupt() (async-signal-safe) makes every region flagged
** LT_PAR_INTR stop before its next chunk with the error "interrupted";
** the flag stays up until lt_interrupt_clear().
*/
void lt_interrupt(void);
void lt_interrupt_clear(void);
int lt_interrupted(void);

#endif
