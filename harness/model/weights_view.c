/* weights_view: safetensors tensors as shim_tensor_view arrays (see weights_view.h). */
#include "harness/model/weights_view.h"

#include <stdlib.h>
#include <string.h>

int wv_shim_dtype(st_dtype t, shim_dtype *out) {
  switch (t) {
    case ST_F32: *out = SHIM_F32; return 0;
    case ST_F16: *out = SHIM_F16; return 0;
    case ST_BF16: *out = SHIM_BF16; return 0;
    case ST_F64: *out = SHIM_F64; return 0;
    case ST_I64: *out = SHIM_I64; return 0;
    case ST_I32: *out = SHIM_I32; return 0;
    case ST_U8: *out = SHIM_U8; return 0;
    default: return -1;
  }
}

int wv_from_safetensors(const st_file *f, const char *strip_prefix, shim_tensor_view **views, size_t *n, herr *e) {
  *views = NULL;
  *n = 0;
  size_t plen = strip_prefix ? strlen(strip_prefix) : 0;
  size_t count = st_count(f);
  shim_tensor_view *v = calloc(count ? count : 1, sizeof *v);
  if (!v) return herr_set(e, "%s: out of memory for %zu tensor views", st_path(f), count);
  size_t k = 0;
  for (size_t i = 0; i < count; i++) {
    const st_tensor *t = st_at(f, i);
    if (plen && strncmp(t->name, strip_prefix, plen) != 0) continue;
    shim_dtype dt;
    if (wv_shim_dtype(t->dtype, &dt) != 0) {
      free(v);
      return herr_set(e, "%s: tensor '%s' has dtype %s, which the model code does not take", st_path(f), t->name,
                      st_dtype_name(t->dtype));
    }
    if (t->ndim > SHIM_MAX_DIMS) {
      free(v);
      return herr_set(e, "%s: tensor '%s' has %d dimensions, at most %d are supported", st_path(f), t->name, t->ndim,
                      SHIM_MAX_DIMS);
    }
    v[k].name = t->name + plen;
    v[k].dtype = dt;
    v[k].ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++) v[k].shape[d] = t->shape[d];
    v[k].data = t->data;
    k++;
  }
  *views = v;
  *n = k;
  return 0;
}

void wv_free(shim_tensor_view *views) { free(views); }
