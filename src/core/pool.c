/*
** pool.c -- the thread pool (see pool.h for what a region is).
**
** The caller publishes a job in the pool (its function, context, sizes)
** with a ticket: one 64-bit atomic holding the job's id, its chunk count
** and the next chunk to take.  Everyone, the caller included (as worker
** 0), takes chunks by compare-and-swap on the ticket, so a worker that
** wakes up late finds another id or no chunk left and goes back to
** waiting without touching the job: the caller waits only for the chunks
** being run, never for a thread the OS has not scheduled yet (on a
** machine shared with other work that wait was the whole cost of a
** small region).  A chunk taken is a job not yet finished, so the fields
** read after taking one are the job's.
**
** Waiting spins a little before sleeping on a condition variable: a
** training step runs hundreds of regions back to back, and a sleeping
** thread takes tens of microseconds to wake on these VMs.  The spin is
** short, so idle workers leave the cores to OpenBLAS's threads during a
** lone big product.
**
** fork(): the child has only the forking thread.  The atfork handlers
** hold the pool's lock across the fork and let the child forget the
** workers; it starts new ones if it ever runs a region.
*/
#define _GNU_SOURCE              /* sched_getaffinity: the CPUs we may use */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"
#include "alloc.h"
#include "blas.h"
#include "tensor.h"

#define LT_SPIN 4000             /* polls before sleeping (tens of us) */
#define LT_MAXCHUNKS 65535       /* the ticket's 16-bit chunk fields */
/* chunks a job needs before it wakes workers that sleep: waking one costs
** tens of microseconds on these VMs, and on a core that another process
** holds the woken thread takes the caller's core away */
#define LT_WAKE_CHUNKS 8

#if defined(__x86_64__) || defined(__i386__)
#define lt_relax() __builtin_ia32_pause()
#else
#define lt_relax() ((void)0)
#endif

/* the ticket: job id (32 bits) | chunks (16) | next chunk (16) */
#define LT_TICKET(id, total) (((uint64_t)(id) << 32) | ((uint64_t)(total) << 16))
#define LT_T_ID(t) ((uint32_t)((t) >> 32))
#define LT_T_TOTAL(t) ((int64_t)(((t) >> 16) & 0xffff))
#define LT_T_NEXT(t) ((int64_t)((t) & 0xffff))

static struct {
  pthread_mutex_t mu;
  pthread_cond_t wake, finished;
  pthread_t *tid;
  int size;                      /* threads, the caller included (0: not set) */
  int started;                   /* workers running: size - 1, or 0 */
  atomic_int sleepers;           /* workers asleep on wake */
  int waiting;                   /* the caller asleep on done */
  int quit;
  atomic_uint gen;               /* bumped to publish a job: wakes workers */
  /* the job, written by the caller before it publishes the ticket */
  lt_task_fn fn;
  void *ctx;
  int64_t n, chunk;
  int flags;
  atomic_uint_fast64_t ticket;
  atomic_int_fast64_t done;      /* chunks finished */
  atomic_int_fast64_t failed;    /* lowest failed chunk, or the count */
  char err[1024];                /* its message (under mu) */
  int stress;                    /* LUNET_THREAD_STRESS: tiny chunks */
  double grain;                  /* flops per chunk: LT_PAR_GRAIN */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
          .grain = LT_PAR_GRAIN};

static _Thread_local int lt_in_region = 0;
static atomic_int lt_intr = 0;

/* ---------------------------------------------------------------- interrupts */

void lt_interrupt(void) { atomic_store_explicit(&lt_intr, 1, memory_order_relaxed); }
void lt_interrupt_clear(void) { atomic_store_explicit(&lt_intr, 0, memory_order_relaxed); }
int lt_interrupted(void) { return atomic_load_explicit(&lt_intr, memory_order_relaxed); }

/* ---------------------------------------------------------------- sizing */

static int lt_env_count(const char *name) {
  const char *s = getenv(name);
  long v = s ? strtol(s, NULL, 10) : 0;
  return v >= 1 && v <= 1024 ? (int)v : 0;
}

/* LUNET_NUM_THREADS, else OPENBLAS_NUM_THREADS, else the CPUs we may use */
static int lt_default_threads(void) {
  int n = lt_env_count("LUNET_NUM_THREADS");
  long c;
  if (n == 0) n = lt_env_count("OPENBLAS_NUM_THREADS");
#ifdef CPU_COUNT
  if (n == 0) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  }
#endif
  if (n == 0 && (c = sysconf(_SC_NPROCESSORS_ONLN)) >= 1) n = c > 1024 ? 1024 : (int)c;
  return n >= 1 ? n : 1;
}

static void lt_pool_atfork_prepare(void) { pthread_mutex_lock(&pool.mu); }
static void lt_pool_atfork_parent(void) { pthread_mutex_unlock(&pool.mu); }
static void lt_pool_atfork_child(void) {
  free(pool.tid);              /* the workers did not come along */
  pool.tid = NULL;
  pool.started = pool.waiting = 0;
  atomic_store(&pool.sleepers, 0);
  pthread_mutex_unlock(&pool.mu);
}

static void lt_pool_init(void) {
  const char *s;
  if (pool.size) return;
  pool.size = lt_default_threads();
  s = getenv("LUNET_THREAD_STRESS");
  pool.stress = s != NULL && *s != '\0' && strcmp(s, "0") != 0;
  pthread_atfork(lt_pool_atfork_prepare, lt_pool_atfork_parent, lt_pool_atfork_child);
}

int lt_num_threads(void) {
  lt_pool_init();
  return pool.size;
}

double lt_par_grain(double grain) {
  if (grain > 0) pool.grain = grain;
  return pool.grain;
}

int64_t lt_par_chunk(int64_t n, double cost) {
  double c = pool.grain / (cost > 1 ? cost : 1);
  lt_pool_init();
  if (pool.stress) return n > 3 ? (n + 2) / 3 : 1;
  return c >= (double)n ? (n > 0 ? n : 1) : (int64_t)c + 1;
}

/* ---------------------------------------------------------------- running chunks */

/* one chunk taken from job `id`: run it (or skip it after a failure) */
static void lt_run_chunk(int64_t c, int64_t total, int worker) {
  int64_t lo = c * pool.chunk, hi = lo + pool.chunk < pool.n ? lo + pool.chunk : pool.n;
  int rc = 0;
  if (atomic_load(&pool.failed) < c) rc = 0;        /* an earlier one failed: skip */
  else if ((pool.flags & LT_PAR_INTR) && lt_interrupted()) { lt_err("interrupted"); rc = -1; }
  else rc = pool.fn(pool.ctx, worker, lo, hi);
  if (rc) {
    pthread_mutex_lock(&pool.mu);
    if (c < atomic_load(&pool.failed)) {
      atomic_store(&pool.failed, c);
      snprintf(pool.err, sizeof pool.err, "%s", lt_errmsg());
    }
    pthread_mutex_unlock(&pool.mu);
  }
  if (atomic_fetch_add(&pool.done, 1) + 1 == total) {   /* the last: wake the caller */
    pthread_mutex_lock(&pool.mu);
    if (pool.waiting) pthread_cond_signal(&pool.finished);
    pthread_mutex_unlock(&pool.mu);
  }
}

/* take chunks of job `id` until none is left */
static void lt_take_chunks(uint32_t id, int worker) {
  uint_fast64_t t = atomic_load(&pool.ticket);
  lt_in_region = 1;
  while (LT_T_ID(t) == id && LT_T_NEXT(t) < LT_T_TOTAL(t)) {
    if (atomic_compare_exchange_weak(&pool.ticket, &t, t + 1)) {
      lt_run_chunk(LT_T_NEXT(t), LT_T_TOTAL(t), worker);
      t = atomic_load(&pool.ticket);
    }
  }
  lt_in_region = 0;
}

static void *lt_worker(void *arg) {
  int worker = (int)(intptr_t)arg, i;
  unsigned seen = atomic_load(&pool.gen), g = seen;
  for (;;) {
    for (i = 0; i < LT_SPIN && (g = atomic_load(&pool.gen)) == seen; i++) lt_relax();
    if (g == seen) {
      pthread_mutex_lock(&pool.mu);
      while ((g = atomic_load(&pool.gen)) == seen && !pool.quit) {
        pool.sleepers++;
        pthread_cond_wait(&pool.wake, &pool.mu);
        pool.sleepers--;
      }
      pthread_mutex_unlock(&pool.mu);
    }
    if (g == seen) return NULL;                 /* quit */
    seen = g;
    lt_take_chunks(LT_T_ID(atomic_load(&pool.ticket)), worker);
  }
}

/* start size - 1 workers; 0, or -1 when none could be made (run alone) */
static int lt_pool_start(void) {
  int i;
  if (pool.started || pool.size < 2) return 0;
  pool.tid = lt_malloc((size_t)(pool.size - 1) * sizeof *pool.tid);
  if (pool.tid == NULL) return -1;
  pool.quit = 0;
  for (i = 1; i < pool.size; i++) {
    if (pthread_create(&pool.tid[i - 1], NULL, lt_worker, (void *)(intptr_t)i) != 0) break;
    pool.started++;
  }
  return pool.started ? 0 : -1;
}

void lt_pool_shutdown(void) {
  int i;
  if (pool.started == 0) return;
  pthread_mutex_lock(&pool.mu);
  pool.quit = 1;
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.mu);
  for (i = 0; i < pool.started; i++) pthread_join(pool.tid[i], NULL);
  free(pool.tid);
  pool.tid = NULL;
  pool.started = 0;
  pool.quit = 0;
}

int lt_set_num_threads(int n) {
  if (n < 1) {
    lt_err("set_num_threads: expected a count >= 1, got %d", n);
    return -1;
  }
  if (n > 1024) {
    lt_err("set_num_threads: %d threads is more than 1024", n);
    return -1;
  }
  lt_pool_init();
  if (lt_blas_set_num_threads(n)) return -1;
  if (n != pool.size) {
    lt_pool_shutdown();           /* the next region starts n - 1 */
    pool.size = n;
  }
  return 0;
}

/* publish the job (its fields are set), take chunks here too, wait for
** the chunks others took */
static void lt_run_job(int64_t total) {
  static uint32_t id = 0;
  int i;
  id++;
  atomic_store(&pool.done, 0);
  atomic_store(&pool.failed, total);
  atomic_store(&pool.ticket, LT_TICKET(id, total));
  pthread_mutex_lock(&pool.mu);
  atomic_fetch_add(&pool.gen, 1);
  if (pool.sleepers) pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.mu);
  lt_take_chunks(id, 0);
  for (i = 0; i < LT_SPIN && atomic_load(&pool.done) < total; i++) lt_relax();
  if (atomic_load(&pool.done) < total) {
    pthread_mutex_lock(&pool.mu);
    pool.waiting = 1;
    while (atomic_load(&pool.done) < total) pthread_cond_wait(&pool.finished, &pool.mu);
    pool.waiting = 0;
    pthread_mutex_unlock(&pool.mu);
  }
}

int lt_parallel(int64_t n, int64_t chunk, int flags, lt_task_fn fn, void *ctx) {
  int64_t c, total, maxchunks;
  int rc = 0;
  if (n <= 0) return 0;
  if (chunk < 1) chunk = 1;
  lt_pool_init();
  /* a job of more than maxchunks chunks gets bigger ones than it asked
  ** for; stress mode caps them at 4, so that every task meets the case */
  maxchunks = pool.stress ? 4 : LT_MAXCHUNKS;
  if ((n + chunk - 1) / chunk > maxchunks) chunk = (n + maxchunks - 1) / maxchunks;
  total = (n + chunk - 1) / chunk;
  /* a few light chunks are not worth waking sleeping workers for; heavy
  ** ones (products the caller counted) run here would leave the other
  ** cores idle, BLAS being single-threaded inside a region */
  if (total == 1 || pool.size == 1 || lt_in_region || lt_pool_start() != 0 ||
      (total < LT_WAKE_CHUNKS && !(flags & LT_PAR_HEAVY) &&
       atomic_load(&pool.sleepers) == pool.started)) {
    /* several chunks run here still get single-threaded BLAS, as on the
    ** pool: whether the workers slept must not change the bits */
    int blas1 = total > 1 && pool.size > 1 && !lt_in_region && (flags & LT_PAR_BLAS);
    if (blas1 && lt_blas_set_num_threads(1)) return -1;
    for (c = 0; c < total && rc == 0; c++) {   /* here, in order, stopping at an error */
      int64_t lo = c * chunk;
      if ((flags & LT_PAR_INTR) && lt_interrupted()) { lt_err("interrupted"); rc = -1; }
      else rc = fn(ctx, 0, lo, lo + chunk < n ? lo + chunk : n);
    }
    if (blas1) lt_blas_set_num_threads(pool.size);
    return rc;
  }
  pool.fn = fn; pool.ctx = ctx; pool.n = n; pool.chunk = chunk; pool.flags = flags;
  if ((flags & LT_PAR_BLAS) && lt_blas_set_num_threads(1)) return -1;
  lt_run_job(total);
  if (flags & LT_PAR_BLAS) lt_blas_set_num_threads(pool.size);
  if (atomic_load(&pool.failed) < total) {
    pthread_mutex_lock(&pool.mu);
    lt_err("%s", pool.err);
    pthread_mutex_unlock(&pool.mu);
    rc = -1;
  }
  return rc;
}
