/*
** utf8.h -- the one UTF-8 validator of lunet's I/O.  Names and metadata
** in files are text that other tools read (Python's json refuses a
** safetensors header that is not UTF-8), so the loader refuses it and the
** saver never writes it.  Valid means RFC 3629: no overlong forms, no
** surrogates (U+D800..DFFF), nothing past U+10FFFF.
*/
#ifndef LT_UTF8_H
#define LT_UTF8_H

#include <stddef.h>

/* bytes in the valid character starting s[0] (1 to 4, and at most n), or
** 0 when s[0..n) does not start with one */
int lt_utf8_len(const char *s, size_t n);

/* the offset of the first byte of s[0..n) that is not valid UTF-8, or
** (size_t)-1 when all of it is */
size_t lt_utf8_check(const char *s, size_t n);

#endif
