// weight_set: name-checked conversion of C state-dict views into device tensors.
#include "weights.hpp"

#include <cstring>
#include <sstream>

#include "guard.hpp"

namespace mdh {

torch::ScalarType scalar_type(shim_dtype t) {
  switch (t) {
    case SHIM_F32: return torch::kFloat32;
    case SHIM_F16: return torch::kFloat16;
    case SHIM_BF16: return torch::kBFloat16;
    case SHIM_F64: return torch::kFloat64;
    case SHIM_I64: return torch::kInt64;
    case SHIM_I32: return torch::kInt32;
    case SHIM_U8: return torch::kUInt8;
  }
  throw invalid_input("unknown dtype code " + std::to_string(static_cast<int>(t)));
}

const char *dtype_name(shim_dtype t) {
  switch (t) {
    case SHIM_F32: return "F32";
    case SHIM_F16: return "F16";
    case SHIM_BF16: return "BF16";
    case SHIM_F64: return "F64";
    case SHIM_I64: return "I64";
    case SHIM_I32: return "I32";
    case SHIM_U8: return "U8";
  }
  return "?";
}

std::string shape_str(c10::IntArrayRef shape) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < shape.size(); i++) o << (i ? ", " : "") << shape[i];
  o << "]";
  return o.str();
}

torch::Tensor tensor_from_view(const shim_tensor_view &v) {
  if (v.ndim < 0 || v.ndim > SHIM_MAX_DIMS)
    throw invalid_input(std::string("tensor '") + (v.name ? v.name : "?") + "' has " + std::to_string(v.ndim) +
                        " dimensions");
  std::vector<int64_t> shape(v.shape, v.shape + v.ndim);
  for (int64_t d : shape)
    if (d < 0) throw invalid_input(std::string("tensor '") + (v.name ? v.name : "?") + "' has a negative size");
  auto opts = torch::TensorOptions().dtype(scalar_type(v.dtype));
  // Mapped safetensors data is only as aligned as the file makes it: copy into fresh storage
  // (which also frees the caller from keeping the mapping alive).
  torch::Tensor t = torch::empty(shape, opts);
  size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
  if (nbytes && !v.data)
    throw invalid_input(std::string("tensor '") + (v.name ? v.name : "?") + "' has no data");
  if (nbytes) std::memcpy(t.data_ptr(), v.data, nbytes);
  return t;
}

weight_set::weight_set(const shim_tensor_view *views, size_t n, std::string what, torch::Device device,
                       torch::ScalarType dtype)
    : what_(std::move(what)), device_(device), dtype_(dtype) {
  for (size_t i = 0; i < n; i++) {
    if (!views[i].name) throw invalid_input(what_ + ": weight " + std::to_string(i) + " has no name");
    if (!views_.emplace(views[i].name, &views[i]).second)
      throw invalid_input(what_ + ": weight '" + views[i].name + "' is given twice");
  }
}

bool weight_set::has(const std::string &name) const { return views_.count(name) != 0; }

torch::Tensor weight_set::take_optional(const std::string &name, std::vector<int64_t> shape) {
  if (!has(name)) return torch::Tensor();
  return take(name, std::move(shape));
}

namespace {
thread_local weight_recorder *g_recorder = nullptr;
}

weight_recording::weight_recording(weight_recorder *rec) : prev_(g_recorder) { g_recorder = rec; }
weight_recording::~weight_recording() { g_recorder = prev_; }

torch::Tensor weight_set::take(const std::string &name, std::vector<int64_t> shape) {
  auto it = views_.find(name);
  if (it == views_.end() && g_recorder && g_recorder->synthesize_missing) {
    torch::Tensor t = torch::zeros(shape, torch::TensorOptions().dtype(dtype_).device(device_));
    g_recorder->taken.emplace_back(name, t);
    return t;
  }
  if (it == views_.end())
    throw invalid_input(what_ + ": weight '" + name + "' is missing (expected shape " + shape_str(shape) + ")");
  const shim_tensor_view &v = *it->second;
  std::vector<int64_t> got(v.shape, v.shape + (v.ndim > 0 && v.ndim <= SHIM_MAX_DIMS ? v.ndim : 0));
  if (v.ndim < 0 || v.ndim > SHIM_MAX_DIMS || got != shape)
    throw invalid_input(what_ + ": weight '" + name + "' has shape " + shape_str(got) + ", expected " +
                        shape_str(shape));
  if (v.dtype != SHIM_F32 && v.dtype != SHIM_F16 && v.dtype != SHIM_BF16 && v.dtype != SHIM_F64)
    throw invalid_input(what_ + ": weight '" + name + "' has dtype " + dtype_name(v.dtype) +
                        ", expected a floating-point type");
  taken_.insert(name);
  torch::Tensor t = tensor_from_view(v).to(device_, dtype_);
  if (g_recorder) g_recorder->taken.emplace_back(name, t);
  return t;
}

void weight_set::check_all_taken() const {
  std::vector<std::string> extra;
  for (const auto &kv : views_)
    if (!taken_.count(kv.first)) extra.push_back(kv.first);
  if (extra.empty()) return;
  std::string msg = what_ + ": " + std::to_string(extra.size()) + " unexpected weight" + (extra.size() > 1 ? "s" : "") +
                    " that this configuration does not use: ";
  for (size_t i = 0; i < extra.size() && i < 5; i++) msg += (i ? ", '" : "'") + extra[i] + "'";
  if (extra.size() > 5) msg += ", …";
  throw invalid_input(msg + " (is the config.json the one these weights were saved with?)");
}

}  // namespace mdh
