/* placeholder, filled in below */
#include <stdio.h>
#include "tensor.h"
int main(void) {
  int64_t s[1] = {3};
  lt_tensor *t = lt_zeros(s, 1);
  int ok = t != NULL && lt_numel(t) == 3;
  lt_tensor_release(t);
  printf("core: %d passed, %d failed\n", ok, !ok);
  return !ok;
}
