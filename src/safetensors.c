/*
** safetensors.c -- load and save checkpoints in the safetensors format.
**
** Layout: u64 little-endian header length N, N bytes of JSON, the data
** buffer.  The file is untrusted input, so nothing in it is used before
** it is checked: the header length against the file size and a cap, the
** JSON by a strict parser that accepts only what the format needs
** (objects, arrays, strings, integers), and every shape and offset with
** overflow-safe arithmetic.  Tensors must tile the buffer exactly, in any
** header order, as the reference implementation requires.
**
** All memory is freed on every error path: parsed entries live in one
** st_header that is always cleaned up, and tensors are owned by the
** lt_st_file that lt_st_free releases.
*/
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "safetensors.h"

#define ST_MAXHEADER ((uint64_t)100 << 20)  /* the reference library's cap */
#define ST_MAXDEPTH 64                       /* JSON nesting we skip through */
#define ST_CHUNK 4096                        /* elements per staged I/O */

/* ---------------------------------------------------------------- errors */

/* every message is "op: path: what", so users see which file is bad */
static void st_fail(const char *op, const char *path, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lt_err("%s: %s: %s", op, path, msg);
}

/* a tensor name fit for a message: hostile names can be megabytes long
** and hold control bytes, so cut it short and show those as \xNN */
static const char *st_nm(const char *s, char *buf, size_t sz) {
  size_t o = 0;
  for (; *s && o + 8 < sz; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(buf + o, sz - o, "\\x%02x", c);
    else buf[o++] = (char)c;
  }
  if (*s) { memcpy(buf + o, "...", 3); o += 3; }
  buf[o] = '\0';
  return buf;
}

static int st_little_endian(void) {
  const uint16_t one = 1;
  unsigned char c;
  memcpy(&c, &one, 1);
  return c == 1;
}

static void st_swap4(float *x, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char b[4], t;
    memcpy(b, &x[i], 4);
    t = b[0]; b[0] = b[3]; b[3] = t;
    t = b[1]; b[1] = b[2]; b[2] = t;
    memcpy(&x[i], b, 4);
  }
}

/* ---------------------------------------------------------------- dtypes */

enum { ST_F32, ST_F16, ST_BF16, ST_F64 };

static const struct { const char *name; int size; } st_dtypes[] = {
  {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}
};

static int st_dtype(const char *s) {
  int i;
  for (i = 0; i < (int)(sizeof st_dtypes / sizeof st_dtypes[0]); i++)
    if (strcmp(s, st_dtypes[i].name) == 0) return i;
  return -1;
}

static float st_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* IEEE half -> float, exact: every half is a float (subnormals included) */
static float st_half(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  int e = 113;                       /* biased float exponent of 2^-14 */
  if (exp == 0x1f) return st_bits(sign | 0x7f800000u | (man << 13));
  if (exp != 0) return st_bits(sign | ((exp + 112) << 23) | (man << 13));
  if (man == 0) return st_bits(sign);
  while (!(man & 0x400)) { man <<= 1; e--; }   /* normalise the subnormal */
  return st_bits(sign | ((uint32_t)e << 23) | ((man & 0x3ff) << 13));
}

/* bfloat16 is the top half of a float */
static float st_bf16(uint16_t h) {
  return st_bits((uint32_t)h << 16);
}

/* double -> float rounding to nearest; out-of-range finite values are
** rounded by hand since converting them is undefined behaviour in C */
static float st_f64(double d) {
  const double lim = (double)FLT_MAX + 0x1p103;   /* FLT_MAX + half an ulp */
  if (d > FLT_MAX && d <= DBL_MAX) return d < lim ? FLT_MAX : INFINITY;
  if (d < -FLT_MAX && d >= -DBL_MAX) return d > -lim ? -FLT_MAX : -INFINITY;
  return (float)d;
}

/* ------------------------------------------------------------ JSON lexer */

/*
** The header parser works on [s, end) with a cursor; no NUL terminator
** is relied on.  Every function returns 0 (or a count) on success and -1
** after setting the error.
*/
typedef struct st_json {
  const char *s, *p, *end;
  const char *path;
} st_json;

static int js_fail(st_json *j, const char *what) {
  st_fail("load", j->path, "invalid header JSON at byte %lld: %s",
          (long long)(j->p - j->s), what);
  return -1;
}

static int js_oom(st_json *j) {
  st_fail("load", j->path, "out of memory reading the header");
  return -1;
}

/* the next non-blank byte, or -1 at the end */
static int js_peek(st_json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
                           *j->p == '\n' || *j->p == '\r'))
    j->p++;
  return j->p < j->end ? (unsigned char)*j->p : -1;
}

static int js_expect(st_json *j, int c, const char *what) {
  if (js_peek(j) != c) return js_fail(j, what);
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
static int js_uescape(st_json *j, const char *lim, char **o) {
  unsigned hi, lo;
  if (js_hex4(j->p + 2, lim, &hi)) return js_fail(j, "bad \\u escape");
  if (hi >= 0xdc00 && hi <= 0xdfff) return js_fail(j, "lone low surrogate");
  if (hi >= 0xd800 && hi <= 0xdbff) {
    if (lim - (j->p + 6) < 2 || j->p[6] != '\\' || j->p[7] != 'u' ||
        js_hex4(j->p + 8, lim, &lo) || lo < 0xdc00 || lo > 0xdfff)
      return js_fail(j, "lone high surrogate");
    hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    j->p += 6;
  }
  if (hi == 0) return js_fail(j, "\\u0000 in a string is not supported");
  *o = js_utf8(*o, hi);
  j->p += 6;
  return 0;
}

/* a string: its decoded bytes in *out (malloc'd), or just checked if NULL */
static int js_string(st_json *j, char **out) {
  const char *q;
  char *buf, *o;
  if (js_peek(j) != '"') return js_fail(j, "expected a string");
  for (q = j->p + 1; q < j->end && *q != '"'; q++)
    if (*q == '\\') q++;
  if (q >= j->end) return js_fail(j, "unterminated string");
  /* escapes only ever shrink, so the raw length bounds the decoded one */
  if ((buf = malloc((size_t)(q - j->p))) == NULL) return js_oom(j);
  o = buf;
  j->p++;
  while (j->p < q) {
    unsigned char c = (unsigned char)*j->p;
    if (c < 0x20) { free(buf); return js_fail(j, "control character in a string"); }
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
      default: free(buf); return js_fail(j, "bad escape in a string");
    }
    j->p += 2;
  }
  j->p++;                                   /* the closing quote */
  *o = '\0';
  if (out) *out = buf;
  else free(buf);
  return 0;
}

static int js_isnum(int c) {
  return c == '-' || (c >= '0' && c <= '9');
}

/* an integer (JSON number without fraction or exponent) in int64 range */
static int js_int(st_json *j, int64_t *v) {
  int neg = 0;
  int64_t x = 0;
  if (js_peek(j) == '-') { neg = 1; j->p++; }
  if (j->p >= j->end || *j->p < '0' || *j->p > '9')
    return js_fail(j, "expected an integer");
  if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
    return js_fail(j, "leading zero in a number");
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    int d = *j->p - '0';
    if (x > (INT64_MAX - d) / 10) return js_fail(j, "integer too large");
    x = x * 10 + d;
    j->p++;
  }
  if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
    return js_fail(j, "numbers must be integers");
  *v = neg ? -x : x;
  return 0;
}

/*
** Object and array walkers.  After the opening bracket, call repeatedly
** with *first = 1 initially: 1 means a member follows (for objects the
** key is in *key, malloc'd, and the cursor is on its value), 0 means the
** closing bracket was consumed, -1 an error.
*/
static int js_member(st_json *j, int *first, char **key) {
  int c = js_peek(j);
  if (*first && c == '}') { j->p++; return 0; }
  if (!*first) {
    if (c == '}') { j->p++; return 0; }
    if (c != ',') return js_fail(j, "expected ',' or '}'");
    j->p++;
  }
  *first = 0;
  if (js_string(j, key)) return -1;
  if (js_expect(j, ':', "expected ':' after an object key")) {
    free(*key);
    return -1;
  }
  return 1;
}

static int js_item(st_json *j, int *first) {
  int c = js_peek(j);
  if (c == ']') { j->p++; return 0; }
  if (!*first) {
    if (c != ',') return js_fail(j, "expected ',' or ']'");
    j->p++;
  }
  *first = 0;
  return 1;
}

/* skip any value we accept, refusing to nest deeper than ST_MAXDEPTH */
static int js_skip(st_json *j, int depth) {
  int c = js_peek(j), first = 1, r;
  int64_t v;
  char *key;
  if (depth > ST_MAXDEPTH) return js_fail(j, "nesting deeper than 64 levels");
  if (c == '"') return js_string(j, NULL);
  if (js_isnum(c)) return js_int(j, &v);
  if (c == '{') {
    j->p++;
    while ((r = js_member(j, &first, &key)) > 0) {
      free(key);
      if (js_skip(j, depth + 1)) return -1;
    }
    return r;
  }
  if (c == '[') {
    j->p++;
    while ((r = js_item(j, &first)) > 0)
      if (js_skip(j, depth + 1)) return -1;
    return r;
  }
  if (c < 0) return js_fail(j, "unexpected end of header");
  if (c == ']' || c == '}' || c == ',') return js_fail(j, "expected a value");
  return js_fail(j, "unsupported value (only objects, arrays, strings "
                    "and integers are accepted)");
}

/* ------------------------------------------------------ header structure */

typedef struct st_ent {
  char *name;
  int dtype;                        /* -1 until seen */
  int ndim;                         /* -1 until seen */
  int64_t shape[LT_MAXDIM];
  int64_t begin, end;               /* begin -1 until seen */
  int64_t numel;
} st_ent;

typedef struct st_header {
  st_ent *ents;
  int n, cap;
  lt_st_pair *meta;
  int nmeta, metacap;
  int has_meta;
} st_header;

static void st_header_free(st_header *h) {
  int i;
  for (i = 0; i < h->n; i++) free(h->ents[i].name);
  for (i = 0; i < h->nmeta; i++) { free(h->meta[i].key); free(h->meta[i].value); }
  free(h->ents);
  free(h->meta);
}

/* grow an array of elements of size sz to hold one more; -1 on failure */
static int st_grow(void **arr, int *cap, int n, size_t sz) {
  void *p;
  int ncap;
  if (n < *cap) return 0;
  if (*cap > (1 << 28)) return -1;
  ncap = *cap ? 2 * *cap : 16;
  if ((p = realloc(*arr, (size_t)ncap * sz)) == NULL) return -1;
  *arr = p;
  *cap = ncap;
  return 0;
}

static int st_parse_dtype(st_json *j, st_ent *e) {
  char *s, b[64], b2[64];
  if (e->dtype >= 0) {
    st_fail("load", j->path, "tensor '%s' has dtype twice", st_nm(e->name, b, sizeof b));
    return -1;
  }
  if (js_peek(j) != '"') {
    st_fail("load", j->path, "tensor '%s' dtype is not a string", st_nm(e->name, b, sizeof b));
    return -1;
  }
  if (js_string(j, &s)) return -1;
  e->dtype = st_dtype(s);
  if (e->dtype < 0)
    st_fail("load", j->path, "tensor '%s' has unsupported dtype '%s' "
            "(lunet reads F32, F16, BF16 and F64)",
            st_nm(e->name, b, sizeof b), st_nm(s, b2, 24));
  free(s);
  return e->dtype < 0 ? -1 : 0;
}

static int st_parse_shape(st_json *j, st_ent *e) {
  int first = 1, r;
  int64_t v;
  char b[64];
  const char *nm = st_nm(e->name, b, sizeof b);
  if (e->ndim >= 0) {
    st_fail("load", j->path, "tensor '%s' has shape twice", nm);
    return -1;
  }
  if (js_peek(j) != '[') goto notarray;
  j->p++;
  e->ndim = 0;
  while ((r = js_item(j, &first)) > 0) {
    if (!js_isnum(js_peek(j))) goto notarray;
    if (js_int(j, &v)) return -1;
    if (v < 0) {
      st_fail("load", j->path, "tensor '%s' has a negative dim (%lld) in its shape",
              nm, (long long)v);
      return -1;
    }
    if (e->ndim == LT_MAXDIM) {
      st_fail("load", j->path, "tensor '%s' has more than %d dims", nm, LT_MAXDIM);
      return -1;
    }
    e->shape[e->ndim++] = v;
  }
  return r;
notarray:
  st_fail("load", j->path, "tensor '%s' shape is not an array of integers", nm);
  return -1;
}

static int st_parse_offsets(st_json *j, st_ent *e) {
  int first = 1, r, k = 0;
  int64_t v[2];
  char b[64];
  const char *nm = st_nm(e->name, b, sizeof b);
  if (e->begin >= 0) {
    st_fail("load", j->path, "tensor '%s' has data_offsets twice", nm);
    return -1;
  }
  if (js_peek(j) != '[') goto bad;
  j->p++;
  while ((r = js_item(j, &first)) > 0) {
    if (k == 2 || !js_isnum(js_peek(j))) goto bad;
    if (js_int(j, &v[k])) return -1;
    if (v[k] < 0) {
      st_fail("load", j->path, "tensor '%s' has a negative data offset (%lld)",
              nm, (long long)v[k]);
      return -1;
    }
    k++;
  }
  if (r < 0) return -1;
  if (k != 2) goto bad;
  e->begin = v[0];
  e->end = v[1];
  return 0;
bad:
  st_fail("load", j->path, "tensor '%s' data_offsets is not [begin, end]", nm);
  return -1;
}

/* one tensor entry; `key` is owned by the header from here on */
static int st_parse_tensor(st_json *j, st_header *h, char *key) {
  st_ent *e;
  char *field, b[64];
  int first = 1, r;
  const char *nm;
  if (st_grow((void **)&h->ents, &h->cap, h->n, sizeof *h->ents)) {
    free(key);
    return js_oom(j);
  }
  e = &h->ents[h->n++];
  memset(e, 0, sizeof *e);
  e->name = key;
  e->dtype = e->ndim = -1;
  e->begin = -1;
  nm = st_nm(key, b, sizeof b);
  if (js_peek(j) != '{') {
    st_fail("load", j->path, "tensor '%s' is not an object", nm);
    return -1;
  }
  j->p++;
  while ((r = js_member(j, &first, &field)) > 0) {
    if (strcmp(field, "dtype") == 0) r = st_parse_dtype(j, e);
    else if (strcmp(field, "shape") == 0) r = st_parse_shape(j, e);
    else if (strcmp(field, "data_offsets") == 0) r = st_parse_offsets(j, e);
    else r = js_skip(j, 2);   /* unknown fields are ignored, as upstream does */
    free(field);
    if (r) return -1;
  }
  if (r < 0) return -1;
  if (e->dtype < 0 || e->ndim < 0 || e->begin < 0) {
    st_fail("load", j->path, "tensor '%s' has no %s", nm,
            e->dtype < 0 ? "dtype" : e->ndim < 0 ? "shape" : "data_offsets");
    return -1;
  }
  return 0;
}

static int st_parse_meta(st_json *j, st_header *h) {
  char *key, *val, b[64];
  int first = 1, r;
  if (h->has_meta) {
    st_fail("load", j->path, "__metadata__ appears twice");
    return -1;
  }
  h->has_meta = 1;
  if (js_peek(j) != '{') {
    st_fail("load", j->path, "__metadata__ is not an object");
    return -1;
  }
  j->p++;
  while ((r = js_member(j, &first, &key)) > 0) {
    if (js_peek(j) != '"') {
      st_fail("load", j->path, "metadata value for '%s' is not a string",
              st_nm(key, b, sizeof b));
      free(key);
      return -1;
    }
    if (js_string(j, &val)) { free(key); return -1; }
    if (st_grow((void **)&h->meta, &h->metacap, h->nmeta, sizeof *h->meta)) {
      free(key);
      free(val);
      return js_oom(j);
    }
    h->meta[h->nmeta].key = key;
    h->meta[h->nmeta].value = val;
    h->nmeta++;
  }
  return r;
}

static int st_parse(st_json *j, st_header *h) {
  char *key;
  int first = 1, r;
  if (js_peek(j) != '{') return js_fail(j, "the header is not a JSON object");
  j->p++;
  while ((r = js_member(j, &first, &key)) > 0) {
    if (strcmp(key, "__metadata__") == 0) {
      free(key);
      r = st_parse_meta(j, h);
    } else {
      r = st_parse_tensor(j, h, key);
    }
    if (r) return -1;
  }
  if (r < 0) return -1;
  if (js_peek(j) != -1) return js_fail(j, "trailing characters after the header object");
  return 0;
}

/* ------------------------------------------------------ header semantics */

static int st_cmp_name(const void *a, const void *b) {
  return strcmp((*(st_ent *const *)a)->name, (*(st_ent *const *)b)->name);
}

static int st_cmp_key(const void *a, const void *b) {
  return strcmp(((const lt_st_pair *)a)->key, ((const lt_st_pair *)b)->key);
}

static int st_cmp_offset(const void *a, const void *b) {
  const st_ent *x = *(st_ent *const *)a, *y = *(st_ent *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* one entry's size against its offsets and the buffer */
static int st_check_entry(const char *path, st_ent *e, int64_t buflen) {
  char b[64], sb[160];
  const char *nm = st_nm(e->name, b, sizeof b);
  int64_t n = 1, size = st_dtypes[e->dtype].size;
  int i, zero = 0;
  /* a zero dim makes the tensor empty, but the product of the other dims
  ** times the element size must still fit in an int64 (so strides do) */
  for (i = 0; i < e->ndim; i++) {
    if (e->shape[i] == 0) {
      zero = 1;
      continue;
    }
    if (n > INT64_MAX / size / e->shape[i]) {
      st_fail("load", path, "tensor '%s' shape %s has too many elements", nm,
              lt_dims_str(e->shape, e->ndim, sb, sizeof sb));
      return -1;
    }
    n *= e->shape[i];
  }
  e->numel = zero ? 0 : n;
  if (e->begin > e->end) {
    st_fail("load", path, "tensor '%s' data_offsets [%lld,%lld] end before they begin",
            nm, (long long)e->begin, (long long)e->end);
    return -1;
  }
  if (e->end > buflen) {
    st_fail("load", path, "tensor '%s' data_offsets [%lld,%lld] exceed the "
            "%lld-byte buffer (is the file truncated?)", nm, (long long)e->begin,
            (long long)e->end, (long long)buflen);
    return -1;
  }
  if (e->numel * size != e->end - e->begin) {
    st_fail("load", path, "tensor '%s' (%s %s) needs %lld bytes but data_offsets "
            "[%lld,%lld] hold %lld", nm, st_dtypes[e->dtype].name,
            lt_dims_str(e->shape, e->ndim, sb, sizeof sb), (long long)(e->numel * size),
            (long long)e->begin, (long long)e->end, (long long)(e->end - e->begin));
    return -1;
  }
  return 0;
}

/* names unique, and the tensors tiling [0, buflen) without gaps or overlap */
static int st_check(const char *path, st_header *h, int64_t buflen) {
  st_ent **v;
  char b[64], b2[64];
  int64_t pos = 0;
  int i, ok = 0;
  for (i = 0; i < h->n; i++)
    if (st_check_entry(path, &h->ents[i], buflen)) return -1;
  if (h->nmeta > 1) {
    qsort(h->meta, (size_t)h->nmeta, sizeof *h->meta, st_cmp_key);
    for (i = 1; i < h->nmeta; i++)
      if (strcmp(h->meta[i - 1].key, h->meta[i].key) == 0) {
        st_fail("load", path, "duplicate metadata key '%s'",
                st_nm(h->meta[i].key, b, sizeof b));
        return -1;
      }
  }
  if ((v = malloc((size_t)(h->n ? h->n : 1) * sizeof *v)) == NULL) {
    st_fail("load", path, "out of memory");
    return -1;
  }
  for (i = 0; i < h->n; i++) v[i] = &h->ents[i];
  qsort(v, (size_t)h->n, sizeof *v, st_cmp_name);
  for (i = 1; i < h->n; i++)
    if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
      st_fail("load", path, "duplicate tensor name '%s'", st_nm(v[i]->name, b, sizeof b));
      goto done;
    }
  qsort(v, (size_t)h->n, sizeof *v, st_cmp_offset);
  for (i = 0; i < h->n; i++) {
    if (v[i]->begin < pos) {
      st_fail("load", path, "tensors '%s' and '%s' overlap in the buffer",
              st_nm(v[i - 1]->name, b, sizeof b), st_nm(v[i]->name, b2, sizeof b2));
      goto done;
    }
    if (v[i]->begin > pos) {
      st_fail("load", path, "buffer bytes [%lld,%lld) belong to no tensor",
              (long long)pos, (long long)v[i]->begin);
      goto done;
    }
    pos = v[i]->end;
  }
  if (pos != buflen) {
    st_fail("load", path, "buffer bytes [%lld,%lld) belong to no tensor",
            (long long)pos, (long long)buflen);
    goto done;
  }
  ok = 1;
done:
  free(v);
  return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ load */

static int st_read_data(FILE *fp, const char *path, int64_t start, const st_ent *e,
                        const char *name, lt_tensor *t) {
  float *out = lt_data(t);
  unsigned char buf[ST_CHUNK * 8];
  int size = st_dtypes[e->dtype].size;
  int64_t done = 0;
  char b[64];
  if (e->numel == 0) return 0;
  if (fseeko(fp, (off_t)(start + e->begin), SEEK_SET) != 0) goto fail;
  if (e->dtype == ST_F32) {
    if (fread(out, 4, (size_t)e->numel, fp) != (size_t)e->numel) goto fail;
    if (!st_little_endian()) st_swap4(out, (size_t)e->numel);
    return 0;
  }
  while (done < e->numel) {
    int64_t k, m = e->numel - done < ST_CHUNK ? e->numel - done : ST_CHUNK;
    const unsigned char *p = buf;
    if (fread(buf, (size_t)size, (size_t)m, fp) != (size_t)m) goto fail;
    for (k = 0; k < m; k++, p += size) {
      if (e->dtype == ST_F16) out[done + k] = st_half((uint16_t)(p[0] | p[1] << 8));
      else if (e->dtype == ST_BF16) out[done + k] = st_bf16((uint16_t)(p[0] | p[1] << 8));
      else {
        uint64_t u = 0;
        double d;
        int i;
        for (i = 7; i >= 0; i--) u = u << 8 | p[i];
        memcpy(&d, &u, 8);
        out[done + k] = st_f64(d);
      }
    }
    done += m;
  }
  return 0;
fail:
  st_fail("load", path, "could not read the data of tensor '%s' (%s)",
          st_nm(name, b, sizeof b), ferror(fp) ? strerror(errno) : "file changed?");
  return -1;
}

/* open path and check the header length; fills *hlen and *fsize */
static FILE *st_open(const char *path, uint64_t *hlen, int64_t *fsize) {
  unsigned char b8[8];
  struct stat sb;
  FILE *fp = fopen(path, "rb");
  int i;
  if (fp == NULL) {
    st_fail("load", path, "cannot open: %s", strerror(errno));
    return NULL;
  }
  if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st_fail("load", path, "not a regular file");
    goto fail;
  }
  *fsize = (int64_t)sb.st_size;
  if (*fsize < 8) {
    st_fail("load", path, "file is %lld bytes, too short for the 8-byte header length",
            (long long)*fsize);
    goto fail;
  }
  if (fread(b8, 1, 8, fp) != 8) {
    st_fail("load", path, "cannot read the header length");
    goto fail;
  }
  for (*hlen = 0, i = 7; i >= 0; i--) *hlen = *hlen << 8 | b8[i];
  if (*hlen > (uint64_t)(*fsize - 8)) {
    st_fail("load", path, "header length %llu runs past the end of the %lld-byte file",
            (unsigned long long)*hlen, (long long)*fsize);
    goto fail;
  }
  if (*hlen > ST_MAXHEADER) {
    st_fail("load", path, "header length %llu is over the %llu-byte limit",
            (unsigned long long)*hlen, (unsigned long long)ST_MAXHEADER);
    goto fail;
  }
  return fp;
fail:
  fclose(fp);
  return NULL;
}

/* move the checked entries into a file of tensors, then read the data */
static lt_st_file *st_build(FILE *fp, const char *path, st_header *h, int64_t start) {
  lt_st_file *f = calloc(1, sizeof *f);
  int i;
  char b[64];
  if (f == NULL || (h->n && (f->items = calloc((size_t)h->n, sizeof *f->items)) == NULL))
    goto oom;
  for (i = 0; i < h->n; i++) {
    f->items[i].name = h->ents[i].name;
    h->ents[i].name = NULL;
    f->n++;
  }
  f->meta = h->meta;
  f->nmeta = h->nmeta;
  h->meta = NULL;
  h->nmeta = 0;
  for (i = 0; i < f->n; i++) {
    st_ent *e = &h->ents[i];
    lt_tensor *t = lt_empty(e->shape, e->ndim);
    if (t == NULL) {
      char msg[200];
      snprintf(msg, sizeof msg, "%s", lt_errmsg());
      st_fail("load", path, "tensor '%s': %s", st_nm(f->items[i].name, b, sizeof b), msg);
      goto fail;
    }
    f->items[i].t = t;
    if (st_read_data(fp, path, start, e, f->items[i].name, t)) goto fail;
  }
  return f;
oom:
  st_fail("load", path, "out of memory");
fail:
  lt_st_free(f);
  return NULL;
}

lt_st_file *lt_st_load(const char *path) {
  st_header h;
  st_json j;
  uint64_t hlen;
  int64_t fsize;
  char *text = NULL;
  lt_st_file *f = NULL;
  FILE *fp = st_open(path, &hlen, &fsize);
  memset(&h, 0, sizeof h);
  if (fp == NULL) return NULL;
  if ((text = malloc((size_t)hlen + 1)) == NULL) {
    st_fail("load", path, "out of memory for a %llu-byte header", (unsigned long long)hlen);
    goto done;
  }
  if (fread(text, 1, (size_t)hlen, fp) != (size_t)hlen) {
    st_fail("load", path, "cannot read the header");
    goto done;
  }
  text[hlen] = '\0';
  j.s = j.p = text;
  j.end = text + hlen;
  j.path = path;
  if (st_parse(&j, &h) || st_check(path, &h, fsize - 8 - (int64_t)hlen)) goto done;
  f = st_build(fp, path, &h, 8 + (int64_t)hlen);
done:
  st_header_free(&h);
  free(text);
  fclose(fp);
  return f;
}

void lt_st_free(lt_st_file *f) {
  int i;
  if (f == NULL) return;
  for (i = 0; i < f->n; i++) {
    free(f->items[i].name);
    lt_tensor_release(f->items[i].t);
  }
  for (i = 0; i < f->nmeta; i++) {
    free(f->meta[i].key);
    free(f->meta[i].value);
  }
  free(f->items);
  free(f->meta);
  free(f);
}

/* ------------------------------------------------------------------ save */

/* a growable byte buffer; `oom` sticks so callers check once at the end */
typedef struct st_buf {
  char *p;
  size_t n, cap;
  int oom;
} st_buf;

static void sb_add(st_buf *b, const char *s, size_t len) {
  if (b->oom) return;
  if (b->cap - b->n < len + 1) {
    size_t ncap = b->cap ? b->cap : 256;
    char *p;
    while (ncap - b->n < len + 1) ncap *= 2;
    if ((p = realloc(b->p, ncap)) == NULL) { b->oom = 1; return; }
    b->p = p;
    b->cap = ncap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
}

static void sb_lit(st_buf *b, const char *s) {
  sb_add(b, s, strlen(s));
}

static void sb_int(st_buf *b, int64_t v) {
  char s[32];
  sb_add(b, s, (size_t)snprintf(s, sizeof s, "%lld", (long long)v));
}

/* a JSON string: quote, backslash and control bytes escaped, others raw */
static void sb_str(st_buf *b, const char *s) {
  sb_lit(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char e[8];
    if (c == '"') sb_lit(b, "\\\"");
    else if (c == '\\') sb_lit(b, "\\\\");
    else if (c < 0x20) {
      snprintf(e, sizeof e, "\\u%04x", c);
      sb_lit(b, e);
    } else sb_add(b, (const char *)&c, 1);
  }
  sb_lit(b, "\"");
}

/* sort keys: a string and where it came from */
typedef struct st_key {
  const char *s;
  int i;
} st_key;

static int st_cmp_skey(const void *a, const void *b) {
  return strcmp(((const st_key *)a)->s, ((const st_key *)b)->s);
}

/* indices 0..n-1 sorted by s[] (as the python library sorts); NULL with
** the error set if two strings are equal */
static int *st_order(const char *path, const char *const *s, int n, const char *what) {
  st_key *k = malloc((size_t)(n ? n : 1) * sizeof *k);
  int *ix = malloc((size_t)(n ? n : 1) * sizeof *ix), i;
  char b[64];
  if (k == NULL || ix == NULL) {
    st_fail("save", path, "out of memory");
    goto fail;
  }
  for (i = 0; i < n; i++) { k[i].s = s[i]; k[i].i = i; }
  qsort(k, (size_t)n, sizeof *k, st_cmp_skey);
  for (i = 0; i < n; i++) {
    if (i > 0 && strcmp(k[i - 1].s, k[i].s) == 0) {
      st_fail("save", path, "duplicate %s '%s'", what, st_nm(k[i].s, b, sizeof b));
      goto fail;
    }
    ix[i] = k[i].i;
  }
  free(k);
  return ix;
fail:
  free(k);
  free(ix);
  return NULL;
}

static int st_header_json(st_buf *b, int n, const char *const *names,
                          lt_tensor *const *ts, const int *ix, int nmeta,
                          const char *const *mkeys, const char *const *mvals,
                          const int *mix) {
  int64_t pos = 0;
  int i, k, sep = 0;
  sb_lit(b, "{");
  if (nmeta > 0) {
    sb_lit(b, "\"__metadata__\":{");
    for (i = 0; i < nmeta; i++) {
      if (i) sb_lit(b, ",");
      sb_str(b, mkeys[mix[i]]);
      sb_lit(b, ":");
      sb_str(b, mvals[mix[i]]);
    }
    sb_lit(b, "}");
    sep = 1;
  }
  for (i = 0; i < n; i++) {
    const lt_tensor *t = ts[ix[i]];
    if (sep) sb_lit(b, ",");
    sep = 1;
    sb_str(b, names[ix[i]]);
    sb_lit(b, ":{\"dtype\":\"F32\",\"shape\":[");
    for (k = 0; k < t->ndim; k++) {
      if (k) sb_lit(b, ",");
      sb_int(b, t->shape[k]);
    }
    sb_lit(b, "],\"data_offsets\":[");
    sb_int(b, pos);
    pos += lt_numel(t) * 4;
    sb_lit(b, ",");
    sb_int(b, pos);
    sb_lit(b, "]}");
  }
  sb_lit(b, "}");
  /* pad so the data starts 8-byte aligned, as the python library does */
  while ((b->n & 7) != 0 && !b->oom) sb_lit(b, " ");
  return b->oom ? -1 : 0;
}

/* the values of t in logical (row-major) order, little-endian float32 */
static int st_write_tensor(FILE *fp, const lt_tensor *t) {
  float stage[ST_CHUNK];
  const int64_t *strides[1] = {t->stride};
  int64_t off[1] = {t->offset}, i;
  size_t m = 0;
  int little = st_little_endian();
  lt_iter it;
  lt_iter_init(&it, t->shape, t->ndim, 1, strides, off);
  if (it.empty) return 0;
  do {
    const float *src = t->st->data + it.off[0];
    int64_t s = it.inner[0];
    for (i = 0; i < it.len; i++) {
      stage[m++] = src[i * s];
      if (m == ST_CHUNK) {
        if (!little) st_swap4(stage, m);
        if (fwrite(stage, 4, m, fp) != m) return -1;
        m = 0;
      }
    }
  } while (lt_iter_next(&it));
  if (!little) st_swap4(stage, m);
  return fwrite(stage, 4, m, fp) == m ? 0 : -1;
}

static int st_write_file(FILE *fp, const st_buf *hdr, int n, lt_tensor *const *ts,
                         const int *ix) {
  unsigned char b8[8];
  uint64_t len = hdr->n;
  int i;
  for (i = 0; i < 8; i++) b8[i] = (unsigned char)(len >> (8 * i));
  if (fwrite(b8, 1, 8, fp) != 8 || fwrite(hdr->p, 1, hdr->n, fp) != hdr->n) return -1;
  for (i = 0; i < n; i++)
    if (st_write_tensor(fp, ts[ix[i]])) return -1;
  if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) return -1;
  return 0;
}

static int st_check_args(const char *path, int n, const char *const *names,
                         lt_tensor *const *ts, int nmeta, const char *const *mkeys,
                         const char *const *mvals) {
  int i;
  if (n < 0 || nmeta < 0 || (n > 0 && (names == NULL || ts == NULL)) ||
      (nmeta > 0 && (mkeys == NULL || mvals == NULL))) {
    st_fail("save", path, "invalid arguments");
    return -1;
  }
  for (i = 0; i < n; i++) {
    if (names[i] == NULL || ts[i] == NULL) {
      st_fail("save", path, "tensor %d has no name or no tensor", i + 1);
      return -1;
    }
    if (strcmp(names[i], "__metadata__") == 0) {
      st_fail("save", path, "'__metadata__' is reserved and cannot name a tensor");
      return -1;
    }
  }
  for (i = 0; i < nmeta; i++)
    if (mkeys[i] == NULL || mvals[i] == NULL) {
      st_fail("save", path, "metadata pair %d has no key or no value", i + 1);
      return -1;
    }
  return 0;
}

int lt_st_save(const char *path, int n, const char *const *names,
               lt_tensor *const *ts, int nmeta,
               const char *const *mkeys, const char *const *mvals) {
  st_buf hdr = {NULL, 0, 0, 0};
  int *ix = NULL, *mix = NULL, rc = -1;
  char *tmp = NULL;
  FILE *fp = NULL;
  int created = 0;
  if (st_check_args(path, n, names, ts, nmeta, mkeys, mvals)) return -1;
  if ((ix = st_order(path, names, n, "tensor name")) == NULL) goto done;
  if ((mix = st_order(path, mkeys, nmeta, "metadata key")) == NULL) goto done;
  if (st_header_json(&hdr, n, names, ts, ix, nmeta, mkeys, mvals, mix) ||
      (tmp = malloc(strlen(path) + 5)) == NULL) {
    st_fail("save", path, "out of memory");
    goto done;
  }
  /* write beside the target, then rename: the old file survives any failure */
  sprintf(tmp, "%s.tmp", path);
  if ((fp = fopen(tmp, "wb")) == NULL) {
    st_fail("save", path, "cannot create %s: %s", tmp, strerror(errno));
    goto done;
  }
  created = 1;
  if (st_write_file(fp, &hdr, n, ts, ix)) {
    st_fail("save", path, "write failed: %s", strerror(errno));
    goto done;
  }
  if (fclose(fp) != 0) {
    fp = NULL;
    st_fail("save", path, "write failed: %s", strerror(errno));
    goto done;
  }
  fp = NULL;
  if (rename(tmp, path) != 0) {
    st_fail("save", path, "cannot replace it with %s: %s", tmp, strerror(errno));
    goto done;
  }
  rc = 0;
done:
  if (fp) fclose(fp);
  if (rc && created) remove(tmp);
  free(tmp);
  free(hdr.p);
  free(ix);
  free(mix);
  return rc;
}
