/*
** alloc.c -- the core's allocation wrappers, the release hook and fault
** injection (see alloc.h).
*/
#include <stdlib.h>

#include "alloc.h"

/* ---------------------------------------------------------------- faults */

#ifdef LT_FAULTS

static struct {
  int armed, sticky;
  long target;      /* the allocation (1-based, counted from arm) that fails */
  long count;       /* allocations seen since arm */
  long injected;    /* failures injected since arm */
} lt_faults;

int lt_fault_arm(long n, int sticky) {
  if (n < 1) return -1;
  lt_faults.armed = 1;
  lt_faults.sticky = sticky;
  lt_faults.target = n;
  lt_faults.count = 0;
  lt_faults.injected = 0;
  return 0;
}

long lt_fault_disarm(void) {
  lt_faults.armed = 0;
  return lt_faults.count;
}

int lt_fault_hit(int core) {
  long k;
  if (!lt_faults.armed) return 0;
  k = ++lt_faults.count;
  if (k == lt_faults.target || (core && lt_faults.sticky && k > lt_faults.target)) {
    lt_faults.injected++;
    return 1;
  }
  return 0;
}

long lt_fault_injected(void) { return lt_faults.injected; }

#else

int lt_fault_arm(long n, int sticky) { (void)n; (void)sticky; return -1; }
long lt_fault_disarm(void) { return 0; }
int lt_fault_hit(int core) { (void)core; return 0; }
long lt_fault_injected(void) { return 0; }

#endif

/* ---------------------------------------------------------------- wrappers */

void *lt_malloc(size_t size) {
  return lt_fault_hit(1) ? NULL : malloc(size);
}

void *lt_calloc(size_t n, size_t size) {
  return lt_fault_hit(1) ? NULL : calloc(n, size);
}

void *lt_realloc(void *p, size_t size) {
  return lt_fault_hit(1) ? NULL : realloc(p, size);
}

void *lt_aligned_alloc(size_t align, size_t size) {
  return lt_fault_hit(1) ? NULL : aligned_alloc(align, size);
}

/* ---------------------------------------------------------------- release hook */

static lt_release_fn lt_hook_fn = NULL;
static void *lt_hook_ud = NULL;
static int lt_releasing = 0;

void lt_set_release_hook(lt_release_fn fn, void *ud) {
  lt_hook_fn = fn;
  lt_hook_ud = ud;
}

void *lt_release_hook_ud(void) { return lt_hook_ud; }

/* the hook may free tensors, whose buffers may go back into the cache:
** so it must not run inside itself (a finalizer allocating, say) */
void lt_release_memory(void) {
  if (lt_hook_fn == NULL || lt_releasing) return;
  lt_releasing = 1;
  lt_hook_fn(lt_hook_ud);
  lt_releasing = 0;
}
