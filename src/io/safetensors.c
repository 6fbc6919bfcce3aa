/*
** safetensors.c -- load checkpoints in the safetensors format.
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
**
** This file holds the errors, the dtypes and the load; the JSON reader
** is json.c, the header's parse and checks safetensors_header.c, and the
** save safetensors_save.c.
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

#include "safetensors_int.h"
#include "utf8.h"
#include "alloc.h"

#define ST_MAXHEADER ((uint64_t)100 << 20)  /* the reference library's cap */

/* ---------------------------------------------------------------- errors */

/* every message is "op: path: what", so users see which file is bad */
void lt_st_fail(const char *op, const char *path, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lt_err("%s: %s: %s", op, path, msg);
}

/* a tensor name fit for a message: hostile names can be megabytes long
** and hold control bytes or bytes that are not UTF-8, so cut it short
** and show those as \xNN */
const char *lt_st_name(const char *s, char *buf, size_t sz) {
  size_t o = 0, n = strlen(s);
  while (*s && o + 8 < sz) {
    unsigned char c = (unsigned char)*s;
    int k = lt_utf8_len(s, n);
    if (c < 0x20 || c == 0x7f || k == 0) {
      o += (size_t)snprintf(buf + o, sz - o, "\\x%02x", c);
      k = 1;
    } else {
      memcpy(buf + o, s, (size_t)k);
      o += (size_t)k;
    }
    s += k;
    n -= (size_t)k;
  }
  if (*s) { memcpy(buf + o, "...", 3); o += 3; }
  buf[o] = '\0';
  return buf;
}

int lt_st_little_endian(void) {
  const uint16_t one = 1;
  unsigned char c;
  memcpy(&c, &one, 1);
  return c == 1;
}

void lt_st_swap(unsigned char *p, size_t n, int size) {
  size_t i;
  int k;
  for (i = 0; i < n; i++, p += size)
    for (k = 0; k < size / 2; k++) {
      unsigned char t = p[k];
      p[k] = p[size - 1 - k];
      p[size - 1 - k] = t;
    }
}

/* ---------------------------------------------------------------- dtypes */

#define ST_NDTYPES 8

const st_dtinfo lt_st_dtypes[ST_NDTYPES] = {
  {"F32", 4, LT_FLOAT32}, {"F16", 2, LT_FLOAT32}, {"BF16", 2, LT_FLOAT32},
  {"F64", 8, LT_FLOAT32}, {"I64", 8, LT_INT64}, {"I32", 4, LT_INT32},
  {"U8", 1, LT_UINT8}, {"BOOL", 1, LT_BOOL}
};

int lt_st_dtype(const char *s) {
  int i;
  for (i = 0; i < ST_NDTYPES; i++)
    if (strcmp(s, lt_st_dtypes[i].name) == 0) return i;
  return -1;
}

int lt_st_dtype_of(lt_dtype dt) {
  int i;
  for (i = ST_NDTYPES - 1; i >= 0; i--)   /* float32 is F32, not a narrower float */
    if (lt_st_dtypes[i].as == dt && (dt != LT_FLOAT32 || i == ST_F32)) return i;
  return ST_F32;
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

/* ------------------------------------------------------------------ load */

static int st_read_data(FILE *fp, const char *path, int64_t start, const st_ent *e,
                        const char *name, lt_tensor *t) {
  float *out = lt_dtypeof(t) == LT_FLOAT32 ? lt_data(t) : NULL;
  unsigned char buf[ST_CHUNK * 8];
  int size = lt_st_dtypes[e->dtype].size;
  int64_t done = 0;
  char b[64];
  if (e->numel == 0) return 0;
  if (fseeko(fp, (off_t)(start + e->begin), SEEK_SET) != 0) goto fail;
  if (e->dtype == ST_F32) {
    if (fread(out, 4, (size_t)e->numel, fp) != (size_t)e->numel) goto fail;
    if (!lt_st_little_endian()) lt_st_swap((unsigned char *)out, (size_t)e->numel, 4);
    return 0;
  }
  if (lt_st_dtypes[e->dtype].as != LT_FLOAT32) {   /* integers and bools: as stored */
    unsigned char *raw = lt_ptr(t);
    int64_t i;
    if (fread(raw, (size_t)size, (size_t)e->numel, fp) != (size_t)e->numel) goto fail;
    if (!lt_st_little_endian()) lt_st_swap(raw, (size_t)e->numel, size);
    if (e->dtype == ST_BOOL)   /* any nonzero byte is true; lunet's bools are 0/1 */
      for (i = 0; i < e->numel; i++) raw[i] = raw[i] != 0;
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
  lt_st_fail("load", path, "could not read the data of tensor '%s' (%s)",
             lt_st_name(name, b, sizeof b), ferror(fp) ? strerror(errno) : "file changed?");
  return -1;
}

/* open path and check the header length; fills *hlen and *fsize */
static FILE *st_open(const char *path, uint64_t *hlen, int64_t *fsize) {
  unsigned char b8[8];
  struct stat sb;
  FILE *fp = fopen(path, "rb");
  int i;
  if (fp == NULL) {
    lt_st_fail("load", path, "cannot open: %s", strerror(errno));
    return NULL;
  }
  if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    lt_st_fail("load", path, "not a regular file");
    goto fail;
  }
  *fsize = (int64_t)sb.st_size;
  if (*fsize < 8) {
    lt_st_fail("load", path, "file is %lld bytes, too short for the 8-byte header length",
               (long long)*fsize);
    goto fail;
  }
  if (fread(b8, 1, 8, fp) != 8) {
    lt_st_fail("load", path, "cannot read the header length");
    goto fail;
  }
  for (*hlen = 0, i = 7; i >= 0; i--) *hlen = *hlen << 8 | b8[i];
  if (*hlen > (uint64_t)(*fsize - 8)) {
    lt_st_fail("load", path, "header length %llu runs past the end of the %lld-byte file",
               (unsigned long long)*hlen, (long long)*fsize);
    goto fail;
  }
  if (*hlen > ST_MAXHEADER) {
    lt_st_fail("load", path, "header length %llu is over the %llu-byte limit",
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
  lt_st_file *f = lt_calloc(1, sizeof *f);
  int i;
  char b[64];
  if (f == NULL || (h->n && (f->items = lt_calloc((size_t)h->n, sizeof *f->items)) == NULL))
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
    lt_tensor *t = lt_empty_dtype(e->shape, e->ndim, lt_st_dtypes[e->dtype].as);
    if (t == NULL) {
      char msg[200];
      snprintf(msg, sizeof msg, "%s", lt_errmsg());
      lt_st_fail("load", path, "tensor '%s': %s",
                 lt_st_name(f->items[i].name, b, sizeof b), msg);
      goto fail;
    }
    f->items[i].t = t;
    if (st_read_data(fp, path, start, e, f->items[i].name, t)) goto fail;
  }
  return f;
oom:
  lt_st_fail("load", path, "out of memory");
fail:
  lt_st_free(f);
  return NULL;
}

lt_st_file *lt_st_load(const char *path) {
  st_header h;
  lt_json j;
  uint64_t hlen;
  int64_t fsize;
  char *text = NULL;
  lt_st_file *f = NULL;
  FILE *fp = st_open(path, &hlen, &fsize);
  memset(&h, 0, sizeof h);
  if (fp == NULL) return NULL;
  if ((text = lt_malloc((size_t)hlen + 1)) == NULL) {
    lt_st_fail("load", path, "out of memory for a %llu-byte header",
               (unsigned long long)hlen);
    goto done;
  }
  if (fread(text, 1, (size_t)hlen, fp) != (size_t)hlen) {
    lt_st_fail("load", path, "cannot read the header");
    goto done;
  }
  text[hlen] = '\0';
  j.s = j.p = text;
  j.end = text + hlen;
  j.op = "load";
  j.path = path;
  if (lt_st_parse(&j, &h) || lt_st_check(path, &h, fsize - 8 - (int64_t)hlen)) goto done;
  f = st_build(fp, path, &h, 8 + (int64_t)hlen);
done:
  lt_st_header_free(&h);
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
