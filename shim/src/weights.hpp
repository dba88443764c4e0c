// A model's weights as they arrive from C: views of a state dict, turned into tensors on the
// model's device and dtype one name at a time, so that a missing, mis-shaped or unexpected
// tensor is an error that names it (issue 4: "a missing, unexpected or mis-shaped tensor is an
// error that names it").
#pragma once

#include <map>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mdh_shim.h"

namespace mdh {

// A host tensor viewing (or copying, when unaligned) a C buffer; float dtypes only where asked.
torch::Tensor tensor_from_view(const shim_tensor_view &v);
torch::ScalarType scalar_type(shim_dtype t);
const char *dtype_name(shim_dtype t);

class weight_set {
 public:
  // `what` names the model in messages ("text encoder", "UNet"); tensors are converted to
  // `dtype` and moved to `device` when taken.
  weight_set(const shim_tensor_view *views, size_t n, std::string what, torch::Device device,
             torch::ScalarType dtype);

  // The tensor `name` with exactly `shape`; throws invalid_input naming it when it is absent
  // or has another shape.
  torch::Tensor take(const std::string &name, std::vector<int64_t> shape);
  // Same, but absent is allowed (returns an undefined tensor).
  torch::Tensor take_optional(const std::string &name, std::vector<int64_t> shape);
  bool has(const std::string &name) const;

  // Throws invalid_input listing (up to a few) names that no module took: a checkpoint for
  // another architecture or config must not load silently.
  void check_all_taken() const;

  const std::string &what() const { return what_; }

 private:
  std::map<std::string, const shim_tensor_view *> views_;
  std::set<std::string> taken_;
  std::string what_;
  torch::Device device_;
  torch::ScalarType dtype_;
};

// "[320, 4, 3, 3]"
std::string shape_str(c10::IntArrayRef shape);

// Pretraining needs every tensor a model holds, by name, and models made from a config alone.
// While a weight_recording is alive on this thread, weight_set::take appends each tensor it
// hands out (the model keeps that same tensor) to `taken`, and with synthesize_missing it hands
// out zeros of the expected shape for names the views lack, to be initialised afterwards.
// Without one, take behaves as before.
struct weight_recorder {
  bool synthesize_missing = false;
  std::vector<std::pair<std::string, torch::Tensor>> taken;
};

class weight_recording {
 public:
  explicit weight_recording(weight_recorder *rec);
  ~weight_recording();
  weight_recording(const weight_recording &) = delete;
  weight_recording &operator=(const weight_recording &) = delete;

 private:
  weight_recorder *prev_;
};

}  // namespace mdh
