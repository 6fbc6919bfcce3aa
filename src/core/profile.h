/*
** profile.h -- counting the floating-point work ops do, per module scope.
**
** Ops call lt_prof_add() with what they did; it is one well-predicted
** branch when profiling is off.  The Lua side (nn.Module.__call) sets the
** current scope; nodes remember the scope that recorded them, so work done
** in backward is charged to the module whose forward made the node.
*/
#ifndef LT_PROFILE_H
#define LT_PROFILE_H

#include <stdint.h>

typedef enum {
  LT_PROF_FWD,        /* forward flops (2 per multiply-add, 1 per elementwise op) */
  LT_PROF_BWD,        /* backward flops */
  LT_PROF_LINEAR,     /* multiply-accumulates of linear layers (what thop counts) */
  LT_PROF_ATTN,       /* flops of attention's score/value products and softmax */
  LT_PROF_SAVED,      /* bytes saved for backward */
  LT_PROF_NCOUNTERS
} lt_prof_counter;

extern int lt_prof_on;

void lt_prof_add_(lt_prof_counter c, double v);
/* forward work goes to FWD, or BWD while the engine runs a backward */
void lt_prof_work_(double flops);

static inline void lt_prof_add(lt_prof_counter c, double v) { if (lt_prof_on) lt_prof_add_(c, v); }
static inline void lt_prof_work(double flops) { if (lt_prof_on) lt_prof_work_(flops); }

int lt_prof_scope(void);              /* current scope id (0: outside any module) */
int lt_prof_set_scope(int id);        /* returns the previous one */
void lt_prof_set_backward(int on);    /* the engine brackets backward with this */
int lt_prof_start(int nscopes);       /* zero counters for scopes 0..nscopes-1; 0 ok */
void lt_prof_stop(void);
double lt_prof_get(int scope, lt_prof_counter c);

/*
** A fused op that does the work of several modules (nn.MLP's Linear,
** GELU, Linear) charges each part to that module's scope: the Lua side
** names the parts' scopes before the call (lt_prof_set_parts; n = 0
** forgets them) and the op reads lt_prof_part(k), which is the current
** scope for a part not named.  The op keeps them for its backward.
*/
#define LT_PROF_MAXPARTS 4
void lt_prof_set_parts(const int *scopes, int n);
int lt_prof_part(int k);

#endif
