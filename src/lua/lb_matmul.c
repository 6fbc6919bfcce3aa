/*
** lb_matmul.c -- Lua binding of the matrix products and of the BLAS
** controls: lunet.matmul, lunet.bmm (and the methods x:matmul, x:bmm),
** lunet.blas_info, lunet.set_num_threads / get_num_threads (lunet's
** thread pool and OpenBLAS's), and the benchmark's timing hooks.
*/
#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "lbind.h"
#include "ops.h"
#include "blas.h"
#include "pool.h"

static int lb_matmul(lua_State *L) {
  lt_tensor *a = lb_totensor(L, 1, "matmul");
  lt_tensor *b = lb_totensor(L, 2, "matmul");
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_matmul(a, b));
}

static int lb_bmm(lua_State *L) {
  lt_tensor *a = lb_totensor(L, 1, "bmm");
  lt_tensor *b = lb_totensor(L, 2, "bmm");
  lt_tensor **r = lb_newbox(L);
  return lb_fill(L, r, lt_bmm(a, b));
}

/* lunet.blas_info() -> {corename=, coretype_source=, threads=, library=} */
static int lb_blas_info(lua_State *L) {
  if (lt_blas_init()) return lb_error(L);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, lt_blas_corename());
  lua_setfield(L, -2, "corename");
  lua_pushstring(L, lt_blas_coretype_source());
  lua_setfield(L, -2, "coretype_source");
  lua_pushinteger(L, lt_blas_num_threads());
  lua_setfield(L, -2, "threads");
  lua_pushstring(L, lt_blas_library());
  lua_setfield(L, -2, "library");
  return 1;
}

static int lb_set_num_threads(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  if (n < 1 || n > INT_MAX)
    return luaL_error(L, "set_num_threads: expected a count >= 1, got %I", n);
  if (lt_set_num_threads((int)n)) return lb_error(L);
  return 0;
}

static int lb_get_num_threads(lua_State *L) {
  lua_pushinteger(L, lt_num_threads());
  return 1;
}

/* lunet._par_grain([flops]) -> the pool's grain (the work below which a
** loop stays on the calling thread; the benchmark tries values) */
static int lb_par_grain(lua_State *L) {
  lua_pushnumber(L, lt_par_grain(luaL_optnumber(L, 1, 0)));
  return 1;
}

static double lb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *lb_buffer(int64_t n) {
  float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  int64_t i;
  if (p)
    for (i = 0; i < n; i++) p[i] = (float)(i % 17) * 0.0625f - 0.5f;
  return p;
}

/*
** lunet._sgemm_bench(m, n, k, reps [, transa, transb]) -> seconds for reps
** calls of the bare C = op(A) op(B) sgemm (row-major, contiguous, buffers
** reused), after one warm-up call: the rate lunet.matmul is measured
** against in examples/bench.lua.
*/
static int lb_sgemm_bench(lua_State *L) {
  lua_Integer m = luaL_checkinteger(L, 1), n = luaL_checkinteger(L, 2);
  lua_Integer k = luaL_checkinteger(L, 3), reps = luaL_checkinteger(L, 4);
  int ta = lua_toboolean(L, 5), tb = lua_toboolean(L, 6);
  const lua_Integer lim = 1 << 14;   /* 16384^2 floats is already 1 GiB */
  int64_t lda, ldb;
  float *a, *b, *c;
  double t0, t1;
  lua_Integer r;
  int rc = 0;
  if (m < 0 || n < 0 || k < 0 || m > lim || n > lim || k > lim || reps < 1)
    return luaL_error(L, "_sgemm_bench: bad sizes m=%I n=%I k=%I reps=%I", m, n, k, reps);
  lda = ta ? (m ? m : 1) : (k ? k : 1);
  ldb = tb ? (k ? k : 1) : (n ? n : 1);
  a = lb_buffer(m * k); b = lb_buffer(k * n); c = lb_buffer(m * n);
  if (a == NULL || b == NULL || c == NULL) {
    free(a); free(b); free(c);
    return luaL_error(L, "_sgemm_bench: out of memory");
  }
  rc = lt_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
  t0 = lb_now();
  for (r = 0; r < reps && rc == 0; r++)
    rc = lt_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
  t1 = lb_now();
  free(a); free(b); free(c);
  if (rc) return lb_error(L);
  lua_pushnumber(L, t1 - t0);
  return 1;
}

/* lunet._now() -> monotonic wall-clock seconds (os.clock sums all threads) */
static int lb_clock(lua_State *L) {
  lua_pushnumber(L, lb_now());
  return 1;
}

/* lunet._rusage() -> page faults of this process so far (minor and
** major), its peak resident size in KiB: the benchmark counts faults per
** training step and the peak a long sequence needs */
static int lb_rusage(lua_State *L) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return luaL_error(L, "_rusage: getrusage failed");
  lua_pushinteger(L, (lua_Integer)ru.ru_minflt + (lua_Integer)ru.ru_majflt);
  lua_pushinteger(L, (lua_Integer)ru.ru_maxrss);
  return 2;
}

const luaL_Reg lb_matmul_funcs[] = {
  {"matmul", lb_matmul},
  {"bmm", lb_bmm},
  {"blas_info", lb_blas_info},
  {"set_num_threads", lb_set_num_threads},
  {"get_num_threads", lb_get_num_threads},
  {"_par_grain", lb_par_grain},
  {"_sgemm_bench", lb_sgemm_bench},
  {"_now", lb_clock},
  {"_rusage", lb_rusage},
  {NULL, NULL}
};

const luaL_Reg lb_matmul_methods[] = {
  {"matmul", lb_matmul},
  {"bmm", lb_bmm},
  {NULL, NULL}
};
