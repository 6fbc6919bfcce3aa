/*
** alloc.h -- every allocation of the core (and of src/io) goes through
** here, for two reasons:
**
** - Out of memory is survivable.  Before a tensor buffer is given up,
**   the core empties its cache of freed buffers and runs the release
**   hook, which the binding sets to a full Lua collection (dead tensors
**   are freed by their finalizers), then tries again (tensor.c).
**
** - Every failure path can be tested.  A build with -DLT_FAULTS (make
**   faults) can make the Nth allocation from now fail, as Lua's ltests.c
**   does; the program routes Lua's own allocator through the same count,
**   so one counter covers the core and the binding.  Without LT_FAULTS
**   the wrappers are plain calls of the C library.
*/
#ifndef LT_ALLOC_H
#define LT_ALLOC_H

#include <stddef.h>

void *lt_malloc(size_t size);
void *lt_calloc(size_t n, size_t size);
void *lt_realloc(void *p, size_t size);
void *lt_aligned_alloc(size_t align, size_t size);   /* size a multiple of align */

/*
** The release hook: frees what it can (the binding's runs a full Lua
** collection).  Called only from the allocation of a tensor buffer, on
** the thread that called the core, never from inside itself.
*/
typedef void (*lt_release_fn)(void *ud);
void lt_set_release_hook(lt_release_fn fn, void *ud);
void *lt_release_hook_ud(void);     /* the ud set, to unset only one's own */
void lt_release_memory(void);       /* run the hook (once at a time) */

/*
** Fault injection (builds with -DLT_FAULTS; elsewhere lt_fault_arm
** refuses with -1 and lt_fault_hit is always 0).
**   lt_fault_arm(n, sticky): the nth allocation from now fails (n >= 1),
**     and with sticky every later one of the core too, until disarmed.
**   lt_fault_disarm(): stop; returns the allocations counted since arm.
**   lt_fault_hit(core): called by each allocator (core: 1 for the core's,
**     0 for Lua's): 1 if this one must fail.
**   lt_fault_injected(): failures injected since arm.
** Sticky failures are the core's only: Lua cannot call a finalizer when
** it cannot allocate the call, and such an object is never finalized
** (Lua's documented rule), so a Lua heap kept exhausted leaks by design.
*/
int lt_fault_arm(long n, int sticky);
long lt_fault_disarm(void);
int lt_fault_hit(int core);
long lt_fault_injected(void);

#endif
