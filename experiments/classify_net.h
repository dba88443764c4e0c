/* classify_net: the classifier network as files see it — built from a torchvision-layout
 * safetensors (or randomly initialised), its state dict copied out and back (the best
 * checkpoint kept in memory) and written as safetensors with the input settings in the
 * metadata, and images scored as the softmax probability of class 1. */
#ifndef MDH_EXPERIMENTS_CLASSIFY_NET_H
#define MDH_EXPERIMENTS_CLASSIFY_NET_H

#include <stddef.h>
#include <stdint.h>

#include "experiments/classify_images.h"
#include "harness/util/herr.h"
#include "mdh_shim.h"

/* Metadata keys of a written checkpoint (read back by `harness predict`). */
#define CLF_META_INPUT_SIZE "mdh.input_size"
#define CLF_META_MEAN "mdh.normalize_mean" /* "0.485,0.456,0.406" */
#define CLF_META_STD "mdh.normalize_std"
#define CLF_META_FILTER "mdh.resize_filter"

/* A two-class resnet18 on `device` from `weights` (a safetensors path; NULL or "" for random
 * initialisation with `seed`). */
int clf_net_new(const char *weights, uint64_t seed, const char *device, shim_resnet **out, herr *e);

/* A state dict copied out of a network: views owning their data. */
typedef struct clf_state {
  size_t n;
  shim_tensor_view *v;
} clf_state;

/* Copies the network's state into *s (reusing its buffers when it already holds this
 * network's state). */
int clf_state_get(const shim_resnet *m, clf_state *s, herr *e);
int clf_state_set(shim_resnet *m, const clf_state *s, herr *e);
/* Atomic safetensors file in torchvision layout with metadata pairs. */
int clf_state_write(const clf_state *s, const char *path, const char *const *keys, const char *const *values,
                    size_t n_meta, herr *e);
void clf_state_free(clf_state *s);

/* Eval-mode scores (softmax probability of class 1) of images idx[0..n) of `c`, normalised
 * with mean/std, eval_batch at a time. */
int clf_score(shim_resnet *m, const clf_images *c, const size_t *idx, size_t n, int eval_batch, const float mean[3],
              const float std[3], double *scores, herr *e);

/* p(class 1) of two logits, computed stably. */
double clf_prob1(float logit0, float logit1);

#endif
