/*
** fuzz_json.c -- libFuzzer harness for the JSON reader and the safetensors
** header parser (make fuzz).  The input is a header's JSON text: the
** reader skips it as one value, then the header parser turns it into
** entries and checks them against a buffer as long as the input.  Every
** input must end in success or in an error message naming the input: the
** sanitizers catch the rest.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors_int.h"
#include "alloc.h"

/* a failure must leave a message naming the input ("op: <input>: ...") */
static void fz_named(void) {
  const char *m = lt_errmsg();
  if (strncmp(m, "fuzz: <input>: ", 15) != 0 && strncmp(m, "load: <input>: ", 15) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = lt_malloc(size ? size : 1);
  lt_json j;
  st_header h;
  if (text == NULL) return 0;
  if (size) memcpy(text, data, size);   /* no NUL after it: the reader needs none */
  j.s = j.p = text;
  j.end = text + size;
  j.op = "fuzz";
  j.path = "<input>";
  lt_err("%s", "");
  if (lt_json_skip(&j, 0) != 0) fz_named();
  j.p = text;
  memset(&h, 0, sizeof h);
  if (lt_st_parse(&j, &h) != 0 || lt_st_check("<input>", &h, (int64_t)size) != 0) fz_named();
  lt_st_header_free(&h);
  free(text);
  return 0;
}
