/* safetensors: reading (mmap, every header field checked) and writing of the safetensors
 * format — an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the byte buffer. */
#ifndef MDH_FORMATS_SAFETENSORS_H
#define MDH_FORMATS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

#define ST_MAX_DIMS 8

typedef enum st_dtype {
  ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL,
  ST_DTYPE_COUNT
} st_dtype;

/* One tensor of an open file. `data` points into the file's read-only mapping (or, for
 * tensors being written, into the caller's memory) and is valid while the file is open;
 * it is not aligned beyond what the file gives (callers copy before typed access when needed). */
typedef struct st_tensor {
  const char *name;
  st_dtype dtype;
  int ndim;                     /* 0 for a scalar */
  int64_t shape[ST_MAX_DIMS];
  const void *data;
  size_t nbytes;                /* numel * st_dtype_size(dtype) */
} st_tensor;

typedef struct st_file st_file;

/* Opens and validates `path`: header length within the file and at most 100 MB, the header
 * valid JSON of the expected shape, known dtypes, shapes that fit in 64 bits, offsets inside
 * the buffer, end - begin == numel * dtype size, no overlaps or holes (the format's rules).
 * Errors name the file and the tensor. */
st_file *st_open(const char *path, herr *e);
void st_close(st_file *f);

size_t st_count(const st_file *f);
const st_tensor *st_at(const st_file *f, size_t i);       /* in file (offset) order */
const st_tensor *st_find(const st_file *f, const char *name); /* NULL when absent */
const char *st_path(const st_file *f);
/* A metadata value ("__metadata__"), or NULL. */
const char *st_metadata(const st_file *f, const char *key);

/* Passed as st_expect's dtype, skips the dtype check (weights may be F32, F16 or BF16). */
#define ST_DTYPE_ANY ST_DTYPE_COUNT

/* Finds `name` and checks its dtype and shape (ndim = -1 skips the shape check; dtype
 * ST_DTYPE_ANY skips the dtype check); errors name the file, the tensor and what was expected:
 * "FILE: tensor 'x' has shape [2, 3], expected [2, 4]". */
const st_tensor *st_expect(const st_file *f, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                           herr *e);

/* Writes tensors (and optional metadata key/value pairs, n_meta of them) to `path`
 * atomically: a temporary file beside it, fsync, rename. Names must be unique. The header
 * lists the tensors in the given order with contiguous data_offsets, "__metadata__" only when
 * n_meta > 0, and is padded with spaces so the data starts at a multiple of 8 bytes. Each
 * tensor's nbytes must equal numel * dtype size. */
int st_write(const char *path, const st_tensor *tensors, size_t n, const char *const *meta_keys,
             const char *const *meta_values, size_t n_meta, herr *e);

size_t st_dtype_size(st_dtype t);
const char *st_dtype_name(st_dtype t);       /* "F32" */
int st_dtype_from_name(const char *s, st_dtype *out); /* 0 on success */
int64_t st_numel(const st_tensor *t);

/* Copies a tensor into float32 (from F32, F16, BF16 or F64) into out[numel]; other dtypes
 * are an error naming the tensor. The data may be unaligned. */
int st_to_f32(const st_tensor *t, float *out, herr *e);

/* One IEEE half (subnormals, inf and NaN exact) / bfloat16 value as float32. */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);

#endif
