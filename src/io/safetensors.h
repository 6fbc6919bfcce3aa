/*
** safetensors.h -- checkpoints in Hugging Face's safetensors format.
**
** A file is an 8-byte little-endian header length N, N bytes of JSON
** mapping each tensor name to {"dtype", "shape", "data_offsets"} (plus an
** optional "__metadata__" object of string -> string), then the data
** buffer that the offsets index.
**
** Files are untrusted: every length, offset and shape is checked before
** it is used, and any violation is an error naming the file and the
** fault.  Loading reads F32, and converts F16, BF16 and F64 to float32;
** I64, I32, U8 and BOOL load as lunet's int64, int32, uint8 and bool.
** Saving writes each tensor's own dtype (F32, I64, I32, U8, BOOL),
** tensors sorted by name, through a temporary file of its own and a
** rename (replace.h), so a failed or interrupted save never destroys an
** existing file and concurrent saves never mix.  Names and metadata are
** UTF-8 both ways (utf8.h).
*/
#ifndef LT_SAFETENSORS_H
#define LT_SAFETENSORS_H

#include "tensor.h"

typedef struct lt_st_item {
  char *name;
  lt_tensor *t;          /* owned; may be set to NULL by a caller taking it */
} lt_st_item;

typedef struct lt_st_pair {
  char *key;
  char *value;
} lt_st_pair;

typedef struct lt_st_file {
  int n;                 /* tensors, in header order */
  lt_st_item *items;
  int nmeta;             /* __metadata__ pairs, in header order */
  lt_st_pair *meta;
} lt_st_file;

/* load every tensor of a file; NULL with lt_err set ("load: PATH: ...") */
lt_st_file *lt_st_load(const char *path);
/* frees names, metadata and releases every tensor still held; NULL ok */
void lt_st_free(lt_st_file *f);

/*
** Save n named tensors (any strides) and nmeta metadata pairs (mkeys and
** mvals may be NULL when nmeta is 0).  Names must be distinct, non-NULL
** and not "__metadata__".  Returns 0, or -1 with lt_err set
** ("save: PATH: ..."); on failure an existing file at path is untouched.
*/
int lt_st_save(const char *path, int n, const char *const *names,
               lt_tensor *const *ts, int nmeta,
               const char *const *mkeys, const char *const *mvals);

#endif
