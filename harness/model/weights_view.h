/* weights_view: a safetensors file's tensors as the shim's shim_tensor_view array, so that a
 * model loader hands a mapped checkpoint to shim_*_new without copying it. */
#ifndef MDH_MODEL_WEIGHTS_VIEW_H
#define MDH_MODEL_WEIGHTS_VIEW_H

#include <stddef.h>

#include "harness/formats/safetensors.h"
#include "harness/util/herr.h"
#include "shim/include/mdh_shim.h"

/* Fills *views (malloc'ed, freed with wv_free) and *n with one view per tensor of `f`, in file
 * order. With a non-empty strip_prefix only tensors whose name starts with it are taken, named
 * without it ("text_model." -> "embeddings...."); NULL or "" takes every tensor as named. Names
 * and data point into `f`, so the views are valid while it is open. A dtype the shim has no code
 * for (I16, I8, BOOL) is an error naming the file and tensor. */
int wv_from_safetensors(const st_file *f, const char *strip_prefix, shim_tensor_view **views, size_t *n, herr *e);
void wv_free(shim_tensor_view *views);

/* The shim dtype for a safetensors dtype; -1 when there is none. */
int wv_shim_dtype(st_dtype t, shim_dtype *out);

#endif
