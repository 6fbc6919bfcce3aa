/*
** json.c -- a strict reader for the JSON header of a binary file (the
** safetensors header is one).  See json.h for how it is used.
*/
#include <stdlib.h>

#include "json.h"
#include "tensor.h"
#include "utf8.h"
#include "alloc.h"

#define JSON_MAXDEPTH 64                     /* nesting lt_json_skip goes through */

/* ------------------------------------------------------------ JSON lexer */

int lt_json_fail(lt_json *j, const char *what) {
  lt_err("%s: %s: invalid header JSON at byte %lld: %s", j->op, j->path,
         (long long)(j->p - j->s), what);
  return -1;
}

int lt_json_oom(lt_json *j) {
  lt_err("%s: %s: out of memory reading the header", j->op, j->path);
  return -1;
}

/* the next non-blank byte, or -1 at the end */
int lt_json_peek(lt_json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
                           *j->p == '\n' || *j->p == '\r'))
    j->p++;
  return j->p < j->end ? (unsigned char)*j->p : -1;
}

static int js_expect(lt_json *j, int c, const char *what) {
  if (lt_json_peek(j) != c) return lt_json_fail(j, what);
  j->p++;
  return 0;
}

static int js_hex4(const char *q, const char *lim, unsigned *out) {
  unsigned v = 0;
  int i;
  if (lim - q < 4) return -1;
  for (i = 0; i < 4; i++) {
    int c = (unsigned char)q[i], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 0;
}

static char *js_utf8(char *o, unsigned cp) {
  if (cp < 0x80) *o++ = (char)cp;
  else if (cp < 0x800) {
    *o++ = (char)(0xc0 | (cp >> 6));
    *o++ = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xe0 | (cp >> 12));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
    *o++ = (char)(0x80 | (cp & 0x3f));
  } else {
    *o++ = (char)(0xf0 | (cp >> 18));
    *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
    *o++ = (char)(0x80 | (cp & 0x3f));
  }
  return o;
}

/* one \uXXXX escape (or a surrogate pair) at j->p, before lim */
static int js_uescape(lt_json *j, const char *lim, char **o) {
  unsigned hi, lo;
  if (js_hex4(j->p + 2, lim, &hi)) return lt_json_fail(j, "bad \\u escape");
  if (hi >= 0xdc00 && hi <= 0xdfff) return lt_json_fail(j, "lone low surrogate");
  if (hi >= 0xd800 && hi <= 0xdbff) {
    if (lim - (j->p + 6) < 2 || j->p[6] != '\\' || j->p[7] != 'u' ||
        js_hex4(j->p + 8, lim, &lo) || lo < 0xdc00 || lo > 0xdfff)
      return lt_json_fail(j, "lone high surrogate");
    hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    j->p += 6;
  }
  if (hi == 0) return lt_json_fail(j, "\\u0000 in a string is not supported");
  *o = js_utf8(*o, hi);
  j->p += 6;
  return 0;
}

/* a string: its decoded bytes in *out (malloc'd), or just checked if NULL */
int lt_json_string(lt_json *j, char **out) {
  const char *q;
  char *buf, *o;
  size_t bad;
  if (lt_json_peek(j) != '"') return lt_json_fail(j, "expected a string");
  for (q = j->p + 1; q < j->end && *q != '"'; q++)
    if (*q == '\\') q++;
  if (q >= j->end) return lt_json_fail(j, "unterminated string");
  /* JSON text is UTF-8 (RFC 8259), and so must every string it yields be */
  if ((bad = lt_utf8_check(j->p + 1, (size_t)(q - j->p - 1))) != (size_t)-1) {
    j->p += 1 + bad;
    return lt_json_fail(j, "a string is not valid UTF-8");
  }
  /* escapes only ever shrink, so the raw length bounds the decoded one */
  if ((buf = lt_malloc((size_t)(q - j->p))) == NULL) return lt_json_oom(j);
  o = buf;
  j->p++;
  while (j->p < q) {
    unsigned char c = (unsigned char)*j->p;
    if (c < 0x20) {
      free(buf);
      return lt_json_fail(j, "control character in a string");
    }
    if (c != '\\') { *o++ = (char)c; j->p++; continue; }
    switch (j->p[1]) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u':
        if (js_uescape(j, q, &o)) { free(buf); return -1; }
        continue;
      default: free(buf); return lt_json_fail(j, "bad escape in a string");
    }
    j->p += 2;
  }
  j->p++;                                   /* the closing quote */
  *o = '\0';
  if (out) *out = buf;
  else free(buf);
  return 0;
}

int lt_json_isnum(int c) {
  return c == '-' || (c >= '0' && c <= '9');
}

/* an integer (JSON number without fraction or exponent) in int64 range */
int lt_json_int(lt_json *j, int64_t *v) {
  int neg = 0;
  int64_t x = 0;
  if (lt_json_peek(j) == '-') { neg = 1; j->p++; }
  if (j->p >= j->end || *j->p < '0' || *j->p > '9')
    return lt_json_fail(j, "expected an integer");
  if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
    return lt_json_fail(j, "leading zero in a number");
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    int d = *j->p - '0';
    if (x > (INT64_MAX - d) / 10) return lt_json_fail(j, "integer too large");
    x = x * 10 + d;
    j->p++;
  }
  if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
    return lt_json_fail(j, "numbers must be integers");
  *v = neg ? -x : x;
  return 0;
}

/*
** Object and array walkers.  After the opening bracket, call repeatedly
** with *first = 1 initially: 1 means a member follows (for objects the
** key is in *key, malloc'd, and the cursor is on its value), 0 means the
** closing bracket was consumed, -1 an error.
*/
int lt_json_member(lt_json *j, int *first, char **key) {
  int c = lt_json_peek(j);
  if (*first && c == '}') { j->p++; return 0; }
  if (!*first) {
    if (c == '}') { j->p++; return 0; }
    if (c != ',') return lt_json_fail(j, "expected ',' or '}'");
    j->p++;
  }
  *first = 0;
  if (lt_json_string(j, key)) return -1;
  if (js_expect(j, ':', "expected ':' after an object key")) {
    free(*key);
    return -1;
  }
  return 1;
}

int lt_json_item(lt_json *j, int *first) {
  int c = lt_json_peek(j);
  if (c == ']') { j->p++; return 0; }
  if (!*first) {
    if (c != ',') return lt_json_fail(j, "expected ',' or ']'");
    j->p++;
  }
  *first = 0;
  return 1;
}

/* skip any value we accept, refusing to nest deeper than JSON_MAXDEPTH */
int lt_json_skip(lt_json *j, int depth) {
  int c = lt_json_peek(j), first = 1, r;
  int64_t v;
  char *key;
  if (depth > JSON_MAXDEPTH) return lt_json_fail(j, "nesting deeper than 64 levels");
  if (c == '"') return lt_json_string(j, NULL);
  if (lt_json_isnum(c)) return lt_json_int(j, &v);
  if (c == '{') {
    j->p++;
    while ((r = lt_json_member(j, &first, &key)) > 0) {
      free(key);
      if (lt_json_skip(j, depth + 1)) return -1;
    }
    return r;
  }
  if (c == '[') {
    j->p++;
    while ((r = lt_json_item(j, &first)) > 0)
      if (lt_json_skip(j, depth + 1)) return -1;
    return r;
  }
  if (c < 0) return lt_json_fail(j, "unexpected end of header");
  if (c == ']' || c == '}' || c == ',') return lt_json_fail(j, "expected a value");
  return lt_json_fail(j, "unsupported value (only objects, arrays, strings "
                         "and integers are accepted)");
}
