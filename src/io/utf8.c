/*
** utf8.c -- UTF-8 validation (see utf8.h).
*/
#include "utf8.h"

static int u8_cont(unsigned char c) { return (c & 0xc0) == 0x80; }

int lt_utf8_len(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  unsigned char c;
  if (n == 0) return 0;
  c = p[0];
  if (c < 0x80) return 1;
  if (c < 0xc2) return 0;                    /* a continuation byte, or overlong */
  if (c < 0xe0) return n >= 2 && u8_cont(p[1]) ? 2 : 0;
  if (c < 0xf0) {
    if (n < 3 || !u8_cont(p[1]) || !u8_cont(p[2])) return 0;
    if (c == 0xe0 && p[1] < 0xa0) return 0;  /* overlong */
    if (c == 0xed && p[1] >= 0xa0) return 0; /* a surrogate */
    return 3;
  }
  if (c < 0xf5) {
    if (n < 4 || !u8_cont(p[1]) || !u8_cont(p[2]) || !u8_cont(p[3])) return 0;
    if (c == 0xf0 && p[1] < 0x90) return 0;  /* overlong */
    if (c == 0xf4 && p[1] >= 0x90) return 0; /* past U+10FFFF */
    return 4;
  }
  return 0;
}

size_t lt_utf8_check(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    int k = lt_utf8_len(s + i, n - i);
    if (k == 0) return i;
    i += (size_t)k;
  }
  return (size_t)-1;
}
