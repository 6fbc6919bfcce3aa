/*
** ld_mpi.c -- luaopen_lunet_mpi: Open MPI under lunet.distributed.
**
** The C half of lua/lunet/distributed: the process group (init, rank,
** size, barrier, finalize) and the collectives, on tensors in place and
** on byte strings (the Lua side serialises values into them).  Ranks are
** MPI's, 0-based.  Prefix ld_.
**
** This module never links lunet's core: the lunet program has the core
** built in and core.so has a copy of its own, and a third copy here would
** bring its own allocator and globals.  Tensors are reached through the
** C API that luaopen_lunet_core leaves in the registry (lunetlib.h), so
** only Lua's headers and lunetlib.h are seen here.
**
** Faults.  A rank that leaves with a non-zero status (the lunet program
** reporting a Lua error, os.exit(1)) must not leave the others waiting
** in a collective for ever, and one that ends well must finalize.  An
** on_exit handler sees the status: non-zero -> MPI_Abort, which makes
** mpirun end every rank; zero -> MPI_Finalize.  The module is linked
** with -z nodelete, so the handler is still mapped when exit runs it
** (lua_close unloads C modules before that).
*/
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include <lua.h>
#include <lauxlib.h>

#include "lunetlib.h"

#define LD_SCRATCH "lunet.mpi.scratch"   /* registry: the packing buffer */

/* elements per MPI call: MPI counts are ints */
#define LD_CHUNK ((size_t)1 << 28)

static int ld_rank = 0, ld_size = 1;


/*
** {==================================================================
** Errors and the process group
** ===================================================================
*/

/* an MPI return code: MPI_SUCCESS, or a Lua error naming op */
static void ld_check(lua_State *L, int rc, const char *op) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (rc == MPI_SUCCESS) return;
  if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) len = 0;
  msg[len] = '\0';
  luaL_error(L, "%s: MPI error on rank %d: %s", op, ld_rank, len ? msg : "unknown");
}

static int ld_active(void) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return init && !fin;
}

static void ld_checkactive(lua_State *L, const char *op) {
  if (!ld_active())
    luaL_error(L, "%s: MPI is not running (call dist.init() first; dist.finalize() ends it)", op);
}

/* at exit: finalize after a clean end, abort the job after a failure */
static void ld_onexit(int status, void *arg) {
  (void)arg;
  if (!ld_active()) return;
  if (status == 0) {
    MPI_Finalize();
    return;
  }
  fflush(stdout);
  fprintf(stderr, "lunet.distributed: rank %d of %d exited with status %d: "
                  "ending every rank (MPI_Abort)\n", ld_rank, ld_size, status);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, status);
}

/* init() -> rank, size (again: the same) */
static int ld_init(lua_State *L) {
  static int hooked = 0;
  int fin = 0, init = 0, provided;
  MPI_Finalized(&fin);
  if (fin) return luaL_error(L, "init: MPI was finalized and cannot start again");
  MPI_Initialized(&init);
  if (!init) {
    /* only the main thread calls MPI; lunet's own threads never do */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      return luaL_error(L, "init: MPI_Init failed (Open MPI says why above)");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &ld_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ld_size);
  }
  if (!hooked) {
    hooked = 1;
    on_exit(ld_onexit, NULL);
  }
  lua_pushinteger(L, ld_rank);
  lua_pushinteger(L, ld_size);
  return 2;
}

static int ld_finalize(lua_State *L) {
  if (ld_active()) ld_check(L, MPI_Finalize(), "finalize");
  return 0;
}

static int ld_barrier(lua_State *L) {
  ld_checkactive(L, "barrier");
  ld_check(L, MPI_Barrier(MPI_COMM_WORLD), "barrier");
  return 0;
}

static int ld_checkroot(lua_State *L, int idx, const char *op) {
  lua_Integer root = luaL_checkinteger(L, idx);
  if (root < 0 || root >= ld_size)
    luaL_error(L, "%s: root %d out of range for %d ranks (ranks are 0-based)", op,
               (int)root, ld_size);
  return (int)root;
}

/* }================================================================== */


/*
** {==================================================================
** Tensors: one in place, or a list packed into one buffer (one MPI call
** for all of them: the gradient buckets)
** ===================================================================
*/

typedef struct ld_tensors {
  int n;                  /* tensors */
  int list;               /* given as a list (else one tensor at the index) */
  size_t bytes;           /* all of them */
  void *one;              /* n == 1: its data */
} ld_tensors;

/* the C API, an upvalue of every function that takes tensors */
static const lunet_capi *ld_capi(lua_State *L) {
  return (const lunet_capi *)lua_touserdata(L, lua_upvalueindex(1));
}

/* push element i (1-based) of the tensors at idx */
static void ld_push(lua_State *L, int idx, const ld_tensors *ts, int i) {
  if (ts->list) lua_geti(L, idx, i);
  else lua_pushvalue(L, idx);
}

/* the tensor on the stack top, checked: contiguous (float32 if need_float) */
static lunet_tensorinfo ld_info(lua_State *L, const char *op, int i, int need_float) {
  lunet_tensorinfo info;
  char what[32];
  if (i > 0) snprintf(what, sizeof what, "tensor %d of the list", i);
  else snprintf(what, sizeof what, "the tensor");
  if (!ld_capi(L)->tensor(L, -1, &info))
    luaL_error(L, "%s: %s must be a tensor, got %s", op, what, luaL_typename(L, -1));
  if (need_float && strcmp(info.dtype, "float32") != 0)
    luaL_error(L, "%s: %s must be float32, got %s", op, what, info.dtype);
  if (!info.contiguous)
    luaL_error(L, "%s: %s must be contiguous (use :contiguous())", op, what);
  return info;
}

/* a tensor or a non-empty list of tensors at idx */
static ld_tensors ld_checktensors(lua_State *L, int idx, const char *op, int need_float) {
  ld_tensors ts = {0, 0, 0, NULL};
  int i;
  ts.list = lua_type(L, idx) == LUA_TTABLE;
  ts.n = ts.list ? (int)luaL_len(L, idx) : 1;
  if (ts.n == 0) luaL_error(L, "%s: the list of tensors is empty", op);
  for (i = 1; i <= ts.n; i++) {
    lunet_tensorinfo info;
    ld_push(L, idx, &ts, i);
    info = ld_info(L, op, ts.list ? i : 0, need_float);
    lua_pop(L, 1);
    if (info.numel > (SIZE_MAX - ts.bytes) / info.elemsize)
      luaL_error(L, "%s: the tensors are too large", op);
    ts.bytes += info.numel * info.elemsize;
    ts.one = info.data;
  }
  return ts;
}

/* a buffer of at least n bytes, kept in the registry (a userdata: the
** collector sees it) and reused: packing allocates nothing per step */
static unsigned char *ld_scratch(lua_State *L, size_t n) {
  unsigned char *p;
  if (lua_getfield(L, LUA_REGISTRYINDEX, LD_SCRATCH) != LUA_TUSERDATA ||
      lua_rawlen(L, -1) < n) {
    lua_pop(L, 1);
    lua_newuserdatauv(L, n > 0 ? n : 1, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LD_SCRATCH);
  }
  p = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return p;
}

/* copy the tensors into buf (out = 1) or buf into the tensors (out = 0,
** each then marked written) */
static void ld_pack(lua_State *L, int idx, const ld_tensors *ts, unsigned char *buf, int out) {
  size_t off = 0;
  int i;
  for (i = 1; i <= ts->n; i++) {
    lunet_tensorinfo info;
    size_t nb;
    ld_push(L, idx, ts, i);
    ld_capi(L)->tensor(L, -1, &info);
    nb = info.numel * info.elemsize;
    if (nb > 0) {
      if (out) memcpy(buf + off, info.data, nb);
      else memcpy(info.data, buf + off, nb);
    }
    if (!out) ld_capi(L)->wrote(L, -1);
    off += nb;
    lua_pop(L, 1);
  }
}

/* mark every tensor written (after an in-place collective on one) */
static void ld_wrote(lua_State *L, int idx, const ld_tensors *ts) {
  int i;
  for (i = 1; i <= ts->n; i++) {
    ld_push(L, idx, ts, i);
    ld_capi(L)->wrote(L, -1);
    lua_pop(L, 1);
  }
}

static const char *const ld_opnames[] = {"sum", "mean", "max", "min", NULL};

/* all_reduce(tensor or list, op): every rank ends with the reduction of
** every rank's values, in place; float32; "mean" is the sum / size */
static int ld_all_reduce(lua_State *L) {
  static const MPI_Op ops[] = {MPI_SUM, MPI_SUM, MPI_MAX, MPI_MIN};
  int op = luaL_checkoption(L, 2, "sum", ld_opnames);
  ld_tensors ts = ld_checktensors(L, 1, "all_reduce", 1);
  size_t n = ts.bytes / sizeof(float), done;
  float *f;
  ld_checkactive(L, "all_reduce");
  f = ts.n == 1 ? (float *)ts.one : (float *)ld_scratch(L, ts.bytes);
  if (ts.n > 1) ld_pack(L, 1, &ts, (unsigned char *)f, 1);
  for (done = 0; done < n; done += LD_CHUNK) {
    int count = (int)(n - done < LD_CHUNK ? n - done : LD_CHUNK);
    ld_check(L, MPI_Allreduce(MPI_IN_PLACE, f + done, count, MPI_FLOAT, ops[op],
                              MPI_COMM_WORLD), "all_reduce");
  }
  if (op == 1 && ld_size > 1) {
    float s = 1.0f / (float)ld_size;
    for (done = 0; done < n; done++) f[done] *= s;
  }
  if (ts.n > 1) ld_pack(L, 1, &ts, (unsigned char *)f, 0);
  else ld_wrote(L, 1, &ts);
  return 0;
}

/* broadcast(tensor or list, root): root's values everywhere, in place;
** any dtype (the bytes are sent) */
static int ld_broadcast(lua_State *L) {
  ld_tensors ts = ld_checktensors(L, 1, "broadcast", 0);
  int root;
  size_t done;
  unsigned char *b;
  ld_checkactive(L, "broadcast");
  root = ld_checkroot(L, 2, "broadcast");
  b = ts.n == 1 ? (unsigned char *)ts.one : ld_scratch(L, ts.bytes);
  if (ts.n > 1 && ld_rank == root) ld_pack(L, 1, &ts, b, 1);
  for (done = 0; done < ts.bytes; done += LD_CHUNK) {
    int count = (int)(ts.bytes - done < LD_CHUNK ? ts.bytes - done : LD_CHUNK);
    ld_check(L, MPI_Bcast(b + done, count, MPI_BYTE, root, MPI_COMM_WORLD), "broadcast");
  }
  if (ld_rank != root) {
    if (ts.n > 1) ld_pack(L, 1, &ts, b, 0);
    else ld_wrote(L, 1, &ts);
  }
  return 0;
}

/* }================================================================== */


/*
** {==================================================================
** Byte strings (serialised Lua values)
** ===================================================================
*/

/* every rank's length -> counts and displacements for the v-collectives;
** 0 if the total does not fit MPI's int counts */
static int ld_displs(const long long *len, int *counts, int *displs) {
  long long total = 0;
  int r;
  for (r = 0; r < ld_size; r++) {
    if (len[r] > INT_MAX || total > INT_MAX - len[r]) return 0;
    counts[r] = (int)len[r];
    displs[r] = (int)total;
    total += len[r];
  }
  return 1;
}

/* gather_bytes(s [, root]): every rank's string in rank order, as a list
** ({[1] = rank 0's, ...}), on every rank (root nil) or on root only (nil
** elsewhere).  Every rank learns every length first, so a total too large
** for MPI fails on all of them alike instead of leaving some waiting. */
static int ld_gather_bytes(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  int all = lua_isnoneornil(L, 2), root = 0, r;
  const char *op = all ? "all_gather" : "gather";
  long long mine = n > INT_MAX ? (long long)INT_MAX + 1 : (long long)n, *len;
  int *counts, *displs;
  char *buf = NULL;
  ld_checkactive(L, op);
  if (!all) root = ld_checkroot(L, 2, op);
  len = lua_newuserdatauv(L, ld_size * (sizeof *len + 2 * sizeof(int)), 0);
  counts = (int *)(len + ld_size);
  displs = counts + ld_size;
  ld_check(L, MPI_Allgather(&mine, 1, MPI_LONG_LONG, len, 1, MPI_LONG_LONG, MPI_COMM_WORLD), op);
  if (!ld_displs(len, counts, displs))
    luaL_error(L, "%s: the values come to more than %d bytes", op, INT_MAX);
  if (all || ld_rank == root)
    buf = (char *)ld_scratch(L, (size_t)displs[ld_size - 1] + (size_t)counts[ld_size - 1]);
  if (all)
    ld_check(L, MPI_Allgatherv(s, (int)n, MPI_BYTE, buf, counts, displs, MPI_BYTE,
                               MPI_COMM_WORLD), op);
  else
    ld_check(L, MPI_Gatherv(s, (int)n, MPI_BYTE, buf, counts, displs, MPI_BYTE, root,
                            MPI_COMM_WORLD), op);
  if (buf == NULL) return 0;
  lua_createtable(L, ld_size, 0);
  for (r = 0; r < ld_size; r++) {
    lua_pushlstring(L, buf + displs[r], (size_t)counts[r]);
    lua_rawseti(L, -2, r + 1);
  }
  return 1;
}

/* broadcast_bytes(s, root) -> root's string on every rank (s ignored
** elsewhere) */
static int ld_broadcast_bytes(lua_State *L) {
  size_t n = 0;
  const char *s = lua_tolstring(L, 1, &n);
  int root;
  long long len = (long long)n;
  char *buf;
  ld_checkactive(L, "broadcast");
  root = ld_checkroot(L, 2, "broadcast");
  if (ld_rank == root && s == NULL) luaL_checkstring(L, 1);
  if (ld_rank == root && n > INT_MAX)
    len = -1;   /* the others must hear of it too */
  ld_check(L, MPI_Bcast(&len, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "broadcast");
  if (len < 0) luaL_error(L, "broadcast: a value of more than %d bytes", INT_MAX);
  buf = (char *)ld_scratch(L, (size_t)len);
  if (ld_rank == root && len > 0) memcpy(buf, s, (size_t)len);
  ld_check(L, MPI_Bcast(buf, (int)len, MPI_BYTE, root, MPI_COMM_WORLD), "broadcast");
  lua_pushlstring(L, buf, (size_t)len);
  return 1;
}

/* }================================================================== */


static const luaL_Reg ld_funcs[] = {
  {"init", ld_init},
  {"finalize", ld_finalize},
  {"barrier", ld_barrier},
  {"all_reduce", ld_all_reduce},
  {"broadcast", ld_broadcast},
  {"gather_bytes", ld_gather_bytes},
  {"broadcast_bytes", ld_broadcast_bytes},
  {NULL, NULL}
};

/* the lunet_capi of the core that made the tensors (loading it if need be) */
static const lunet_capi *ld_getcapi(lua_State *L) {
  const lunet_capi *api;
  if (lua_getfield(L, LUA_REGISTRYINDEX, LUNET_CAPI) != LUA_TLIGHTUSERDATA) {
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lunet.core");
    lua_call(L, 1, 0);
    lua_getfield(L, LUA_REGISTRYINDEX, LUNET_CAPI);
  }
  api = (const lunet_capi *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (api == NULL || api->version != LUNET_CAPI_VERSION)
    luaL_error(L, "lunet.mpi: the core's C API is missing or of another version "
                  "(rebuild lunet: make)");
  return api;
}

LUAMOD_API int luaopen_lunet_mpi(lua_State *L) {
  const lunet_capi *api = ld_getcapi(L);
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  lua_newtable(L);
  lua_pushlightuserdata(L, (void *)api);
  luaL_setfuncs(L, ld_funcs, 1);
  if (MPI_Get_library_version(version, &len) == MPI_SUCCESS) {
    char *nl = strchr(version, '\n');   /* the first line: "Open MPI v4.1.4, ..." */
    if (nl) *nl = '\0';
    lua_pushstring(L, version);
    lua_setfield(L, -2, "library");
  }
  return 1;
}
