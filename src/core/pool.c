/*
** pool.c -- the thread pool (see pool.h for what a region is).
**
** The caller publishes a job and bumps a generation counter; workers
** wait for a new generation, then everyone (the caller included, as
** worker 0) takes chunks from one atomic counter.  Waiting spins a
** little before sleeping on a condition variable: a training step runs
** hundreds of regions back to back, and a sleeping thread takes tens of
** microseconds to wake on these VMs.  The spin is short, so idle workers
** leave the cores to OpenBLAS's threads during a lone big product.
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
#include "blas.h"
#include "tensor.h"

#define LT_SPIN 4000             /* polls before sleeping (tens of us) */

#if defined(__x86_64__) || defined(__i386__)
#define lt_relax() __builtin_ia32_pause()
#else
#define lt_relax() ((void)0)
#endif

typedef struct lt_job {
  lt_task_fn fn;
  void *ctx;
  int64_t n, chunk, nchunks;
  int flags;
  atomic_int_fast64_t next;      /* next chunk to take */
  atomic_int_fast64_t failed;    /* lowest failed chunk, or nchunks */
  char err[512];                 /* its message (under the lock) */
} lt_job;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  pthread_t *tid;
  int size;                      /* threads, the caller included (0: not set) */
  int started;                   /* workers running: size - 1, or 0 */
  int sleepers;
  int quit;
  atomic_uint gen;               /* bumped to publish a job */
  unsigned gen0;                 /* gen when the workers were started */
  atomic_int active;             /* workers still in the current job */
  lt_job *job;
  int stress;                    /* LUNET_THREAD_STRESS: tiny chunks */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, 0};

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
  pool.started = pool.sleepers = 0;
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

int64_t lt_par_chunk(int64_t n, double cost) {
  double c = LT_PAR_GRAIN / (cost > 1 ? cost : 1);
  lt_pool_init();
  if (pool.stress) return n > 3 ? (n + 2) / 3 : 1;
  return c >= (double)n ? (n > 0 ? n : 1) : (int64_t)c + 1;
}

/* ---------------------------------------------------------------- running chunks */

/* take chunks until none is left or one has failed */
static void lt_run_chunks(lt_job *j, int worker) {
  int64_t c;
  lt_in_region = 1;
  while ((c = atomic_fetch_add(&j->next, 1)) < j->nchunks) {
    int64_t lo = c * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    int rc;
    if (atomic_load(&j->failed) < c) break;     /* an earlier chunk failed */
    if ((j->flags & LT_PAR_INTR) && lt_interrupted()) { lt_err("interrupted"); rc = -1; }
    else rc = j->fn(j->ctx, worker, lo, hi);
    if (rc) {
      pthread_mutex_lock(&pool.mu);
      if (c < atomic_load(&j->failed)) {
        atomic_store(&j->failed, c);
        snprintf(j->err, sizeof j->err, "%s", lt_errmsg());
      }
      pthread_mutex_unlock(&pool.mu);
    }
  }
  lt_in_region = 0;
}

static void *lt_worker(void *arg) {
  int worker = (int)(intptr_t)arg, i;
  unsigned seen = pool.gen0, g = seen;   /* a job may come before we run */
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
    lt_run_chunks(pool.job, worker);
    if (atomic_fetch_sub(&pool.active, 1) == 1) {
      pthread_mutex_lock(&pool.mu);
      pthread_cond_signal(&pool.done);
      pthread_mutex_unlock(&pool.mu);
    }
  }
}

/* start size - 1 workers; 0, or -1 when none could be made (run alone) */
static int lt_pool_start(void) {
  int i;
  if (pool.started || pool.size < 2) return 0;
  pool.tid = malloc((size_t)(pool.size - 1) * sizeof *pool.tid);
  if (pool.tid == NULL) return -1;
  pool.quit = 0;
  pool.gen0 = atomic_load(&pool.gen);
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

/* hand j to the workers, run chunks here too, wait for them */
static void lt_run_job(lt_job *j) {
  int i;
  pool.job = j;
  atomic_store(&pool.active, pool.started);
  pthread_mutex_lock(&pool.mu);
  atomic_fetch_add(&pool.gen, 1);
  if (pool.sleepers) pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.mu);
  lt_run_chunks(j, 0);
  for (i = 0; i < LT_SPIN && atomic_load(&pool.active) > 0; i++) lt_relax();
  if (atomic_load(&pool.active) > 0) {
    pthread_mutex_lock(&pool.mu);
    while (atomic_load(&pool.active) > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
  }
}

int lt_parallel(int64_t n, int64_t chunk, int flags, lt_task_fn fn, void *ctx) {
  lt_job j;
  int64_t c;
  if (n <= 0) return 0;
  if (chunk < 1) chunk = 1;
  lt_pool_init();
  j.nchunks = (n + chunk - 1) / chunk;
  if (j.nchunks == 1 || pool.size == 1 || lt_in_region || lt_pool_start() != 0) {
    for (c = 0; c < j.nchunks; c++) {   /* here, in order, stopping at an error */
      int64_t lo = c * chunk;
      if ((flags & LT_PAR_INTR) && lt_interrupted()) { lt_err("interrupted"); return -1; }
      if (fn(ctx, 0, lo, lo + chunk < n ? lo + chunk : n)) return -1;
    }
    return 0;
  }
  j.fn = fn; j.ctx = ctx; j.n = n; j.chunk = chunk; j.flags = flags;
  atomic_init(&j.next, 0);
  atomic_init(&j.failed, j.nchunks);
  j.err[0] = '\0';
  if ((flags & LT_PAR_BLAS) && lt_blas_set_num_threads(1)) return -1;
  lt_run_job(&j);
  if (flags & LT_PAR_BLAS) lt_blas_set_num_threads(pool.size);
  if (atomic_load(&j.failed) < j.nchunks) {
    lt_err("%s", j.err);
    return -1;
  }
  return 0;
}
