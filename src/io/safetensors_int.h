/*
** safetensors_int.h -- what the three parts of the safetensors code share:
** safetensors.c (errors, dtypes, load), safetensors_header.c (parsing and
** checking the JSON header) and safetensors_save.c.  Not an API.
*/
#ifndef LT_SAFETENSORS_INT_H
#define LT_SAFETENSORS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "safetensors.h"

#define ST_CHUNK 4096                        /* elements per staged I/O */

/* errors and byte order (safetensors.c) */
void lt_st_fail(const char *op, const char *path, const char *fmt, ...);
const char *lt_st_name(const char *s, char *buf, size_t sz);
int lt_st_little_endian(void);
void lt_st_swap(unsigned char *p, size_t n, int size);   /* n elements of size bytes */

/* dtypes (safetensors.c): lt_st_dtypes is indexed by the enum.  Floats
** load as float32; the integer and bool dtypes as lunet's own */
enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_U8, ST_BOOL };

typedef struct st_dtinfo { const char *name; int size; lt_dtype as; } st_dtinfo;

extern const st_dtinfo lt_st_dtypes[];
int lt_st_dtype(const char *s);              /* by name; -1 if unknown */
int lt_st_dtype_of(lt_dtype dt);             /* what a tensor is saved as */

/* the parsed header (safetensors_header.c) */
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

/* the JSON into h (zeroed by the caller, freed by it even on error) */
int lt_st_parse(lt_json *j, st_header *h);
/* names and metadata keys unique, sizes right, tensors tiling the buffer */
int lt_st_check(const char *path, st_header *h, int64_t buflen);
void lt_st_header_free(st_header *h);

#endif
