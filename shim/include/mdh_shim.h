/* mdh_shim.h — the C interface to everything that runs on libtorch.
 *
 * This is the only header C code includes from the shim: no C++ type, exception or torch
 * header crosses it. Every call returns 0 on success or a non-zero status and fills a
 * shim_err with a readable message; C++ exceptions are caught at this boundary. Handles are
 * opaque and freed by their *_free function. Data crosses as plain buffers with explicit
 * shapes and dtypes. */
#ifndef MDH_SHIM_H
#define MDH_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHIM_ERR_MAX 2048

typedef struct shim_err {
  char msg[SHIM_ERR_MAX];
} shim_err;

enum {
  SHIM_OK = 0,
  SHIM_E_INVALID = 1,  /* an argument is out of range or inconsistent */
  SHIM_E_DEVICE = 2,   /* the requested device is not available */
  SHIM_E_TORCH = 3     /* libtorch raised an error (its message is passed on) */
};

/* ---- tensors crossing the boundary ---- */

typedef enum shim_dtype {
  SHIM_F32 = 0, SHIM_F16 = 1, SHIM_BF16 = 2, SHIM_F64 = 3, SHIM_I64 = 4, SHIM_I32 = 5, SHIM_U8 = 6
} shim_dtype;

#define SHIM_MAX_DIMS 8

/* A read-only view of a host buffer: weights from a mapped safetensors file, or an input.
 * The shim copies what it keeps, so the buffer only has to live for the call. `data` need not
 * be aligned. */
typedef struct shim_tensor_view {
  const char *name;  /* for weights: the state-dict key, e.g. "text_model.final_layer_norm.weight" */
  shim_dtype dtype;
  int ndim;
  int64_t shape[SHIM_MAX_DIMS];
  const void *data;
} shim_tensor_view;

/* Where a model runs and in which precision. dtype is SHIM_F32, SHIM_F16 or SHIM_BF16; weights
 * are converted to it on load. */
typedef struct shim_exec {
  const char *device; /* "cpu", "cuda", "cuda:1" (resolved by shim_resolve_device) */
  shim_dtype dtype;
} shim_exec;

/* ---- runtime ---- */

typedef struct shim_runtime_opts {
  int threads; /* intra-op threads for libtorch; <= 0 means one per online core */
} shim_runtime_opts;

/* Sets the process's threading once at start-up, whatever the caller's environment says:
 * libtorch's intra-op (OpenMP) pool gets `threads`, its inter-op pool 1, and OpenBLAS is held
 * to one thread so that its pool and OpenMP do not fight over the cores (measured 3.5x slower
 * on 2 cores when both spin). Returns the thread count in effect through *effective. */
int shim_runtime_init(const shim_runtime_opts *opts, int *effective, shim_err *err);

/* "1.13.1" — the libtorch the shim was built against (TORCH_VERSION). */
const char *shim_libtorch_version(void);

/* Whether the loaded BLAS is OpenBLAS (libtorch on Debian links the generic libblas.so.3,
 * 40x slower when it is the reference implementation). Returns a short description. */
const char *shim_blas_backend(void);

typedef struct shim_device_info {
  char name[64];      /* "cpu", "cuda:0" */
  int is_cuda;
  int supports_fp16;  /* half-precision arithmetic is usable */
  int supports_bf16;
} shim_device_info;

/* Lists usable devices (the CPU first, then each CUDA device). Writes at most `max` entries
 * and the total count through *n. */
int shim_list_devices(shim_device_info *out, size_t max, size_t *n, shim_err *err);

/* Resolves a device string ("auto", "cpu", "cuda", "cuda:1") to a usable device name;
 * "auto" picks CUDA when available. An unavailable device is SHIM_E_DEVICE. */
int shim_resolve_device(const char *want, char *out, size_t out_len, shim_err *err);

typedef struct shim_selftest_result {
  double max_abs_err;  /* of a float32 matmul against a float64 CPU reference */
  double gflops;       /* measured float32 matmul rate on the device */
  int n;               /* matrix size used */
} shim_selftest_result;

/* Proves the C-to-libtorch path works on `device`: a seeded n x n float32 matmul is checked
 * against a float64 reference computed on the CPU and timed. n in [1, 8192]. */
int shim_selftest(const char *device, int n, shim_selftest_result *out, shim_err *err);

/* ---- text encoder (CLIP) ---- */

/* ---- end text encoder (CLIP) ---- */

/* ---- VAE (AutoencoderKL) ---- */

/* ---- end VAE (AutoencoderKL) ---- */

/* ---- UNet (UNet2DConditionModel) ---- */

/* ---- end UNet (UNet2DConditionModel) ---- */

/* ---- samplers ---- */

/* ---- end samplers ---- */

#ifdef __cplusplus
}
#endif
#endif
