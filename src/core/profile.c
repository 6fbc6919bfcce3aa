/*
** profile.c -- per-scope work counters (see profile.h).
*/
#include <stdlib.h>

#include "profile.h"
#include "tensor.h"
#include "alloc.h"

int lt_prof_on = 0;

static double (*lt_prof_table)[LT_PROF_NCOUNTERS] = NULL;
static int lt_prof_nscopes = 0, lt_prof_cur = 0, lt_prof_in_bwd = 0;
static int lt_prof_parts[LT_PROF_MAXPARTS], lt_prof_nparts = 0;

void lt_prof_add_(lt_prof_counter c, double v) {
  if (lt_prof_cur >= 0 && lt_prof_cur < lt_prof_nscopes) lt_prof_table[lt_prof_cur][c] += v;
}

void lt_prof_work_(double flops) {
  lt_prof_add_(lt_prof_in_bwd ? LT_PROF_BWD : LT_PROF_FWD, flops);
}

int lt_prof_scope(void) { return lt_prof_cur; }

int lt_prof_set_scope(int id) {
  int prev = lt_prof_cur;
  lt_prof_cur = id;
  return prev;
}

void lt_prof_set_backward(int on) { lt_prof_in_bwd = on; }

int lt_prof_start(int nscopes) {
  double (*t)[LT_PROF_NCOUNTERS];
  if (nscopes < 1) nscopes = 1;
  t = lt_calloc((size_t)nscopes, sizeof *t);
  if (t == NULL) { lt_err("profile: out of memory for %d scopes", nscopes); return -1; }
  free(lt_prof_table);
  lt_prof_table = t;
  lt_prof_nscopes = nscopes;
  lt_prof_cur = 0;
  lt_prof_on = 1;
  return 0;
}

void lt_prof_stop(void) { lt_prof_on = 0; lt_prof_nparts = 0; }

void lt_prof_set_parts(const int *scopes, int n) {
  int i;
  lt_prof_nparts = n < 0 ? 0 : n > LT_PROF_MAXPARTS ? LT_PROF_MAXPARTS : n;
  for (i = 0; i < lt_prof_nparts; i++) lt_prof_parts[i] = scopes[i];
}

int lt_prof_part(int k) {
  return k >= 0 && k < lt_prof_nparts ? lt_prof_parts[k] : lt_prof_cur;
}

double lt_prof_get(int scope, lt_prof_counter c) {
  if (scope < 0 || scope >= lt_prof_nscopes || c < 0 || c >= LT_PROF_NCOUNTERS) return 0;
  return lt_prof_table[scope][c];
}
