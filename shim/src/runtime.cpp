// Runtime set-up and information: threads, BLAS backend, devices, and a self-test that
// proves C reaches libtorch (DESIGN.md: the shim's C API).
#include "mdh_shim.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <torch/torch.h>

#include "guard.hpp"

namespace {

using mdh::fail;
using mdh::first_line;
using mdh::guarded;

// OpenBLAS is reached through the generic libblas.so.3, so look its control function up at
// run time instead of linking against it.
using openblas_set_fn = void (*)(int);
using openblas_config_fn = char *(*)();

bool parse_device(const std::string &s, torch::Device *out, std::string *why) {
  try {
    *out = torch::Device(s);
    return true;
  } catch (const std::exception &ex) {
    *why = first_line(ex.what());
    return false;
  }
}

}  // namespace

extern "C" {

int shim_runtime_init(const shim_runtime_opts *opts, int *effective, shim_err *err) {
  return guarded(err, [&]() -> int {
    int threads = opts ? opts->threads : 0;
    if (threads <= 0) {
      long cores = sysconf(_SC_NPROCESSORS_ONLN);
      threads = cores > 0 ? static_cast<int>(cores) : 1;
    }
    if (threads > 1024) return fail(err, SHIM_E_INVALID, "threads must be at most 1024");
    if (auto set = reinterpret_cast<openblas_set_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
      set(1);
    torch::set_num_threads(threads);
    // The inter-op pool can only be sized before its first use; a second call throws.
    static bool interop_done = false;
    if (!interop_done) {
      torch::set_num_interop_threads(1);
      interop_done = true;
    }
    if (effective) *effective = torch::get_num_threads();
    return SHIM_OK;
  });
}

const char *shim_libtorch_version(void) { return TORCH_VERSION; }

const char *shim_blas_backend(void) {
  static std::string desc;
  if (desc.empty()) {
    auto config = reinterpret_cast<openblas_config_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
    desc = config ? std::string(config()) : "reference BLAS (slow; install libopenblas0-pthread)";
  }
  return desc.c_str();
}

int shim_list_devices(shim_device_info *out, size_t max, size_t *n, shim_err *err) {
  return guarded(err, [&]() -> int {
    size_t count = 0;
    auto add = [&](const std::string &name, bool cuda) {
      if (out && count < max) {
        shim_device_info &d = out[count];
        std::memset(&d, 0, sizeof d);
        std::snprintf(d.name, sizeof d.name, "%s", name.c_str());
        d.is_cuda = cuda ? 1 : 0;
        // fp16 matmul on the CPU exists in 1.13 but is emulated and very slow: report it as
        // unsupported there so callers do not pick it for speed.
        d.supports_fp16 = cuda ? 1 : 0;
        d.supports_bf16 = 1;
      }
      count++;
    };
    add("cpu", false);
    if (torch::cuda::is_available()) {
      size_t k = torch::cuda::device_count();
      for (size_t i = 0; i < k; i++) add("cuda:" + std::to_string(i), true);
    }
    if (n) *n = count;
    return SHIM_OK;
  });
}

int shim_resolve_device(const char *want, char *out, size_t out_len, shim_err *err) {
  return guarded(err, [&]() -> int {
    std::string w = want && *want ? want : "auto";
    std::string chosen;
    if (w == "auto") {
      chosen = torch::cuda::is_available() ? "cuda:0" : "cpu";
    } else {
      torch::Device dev(torch::kCPU);
      std::string why;
      if (!parse_device(w, &dev, &why))
        return fail(err, SHIM_E_INVALID, "unknown device '" + w + "' (expected auto, cpu, cuda or cuda:N): " + why);
      if (dev.is_cpu()) {
        chosen = "cpu";
      } else if (dev.is_cuda()) {
        if (!torch::cuda::is_available())
          return fail(err, SHIM_E_DEVICE, "device '" + w + "' requested but this libtorch sees no CUDA device (built " +
                                              "without CUDA, or no GPU present)");
        int idx = dev.has_index() ? dev.index() : 0;
        if (idx >= static_cast<int>(torch::cuda::device_count()))
          return fail(err, SHIM_E_DEVICE, "device '" + w + "' does not exist: " +
                                              std::to_string(torch::cuda::device_count()) + " CUDA device(s) present");
        chosen = "cuda:" + std::to_string(idx);
      } else {
        return fail(err, SHIM_E_INVALID, "unsupported device '" + w + "' (expected auto, cpu, cuda or cuda:N)");
      }
    }
    if (chosen.size() + 1 > out_len) return fail(err, SHIM_E_INVALID, "device name buffer too small");
    std::snprintf(out, out_len, "%s", chosen.c_str());
    return SHIM_OK;
  });
}

int shim_selftest(const char *device, int n, shim_selftest_result *out, shim_err *err) {
  if (n < 1 || n > 8192) return fail(err, SHIM_E_INVALID, "self-test size must be in [1, 8192], got " + std::to_string(n));
  if (!out) return fail(err, SHIM_E_INVALID, "self-test needs a result struct");
  char resolved[32];
  int rc = shim_resolve_device(device, resolved, sizeof resolved, err);
  if (rc != SHIM_OK) return rc;
  return guarded(err, [&]() -> int {
    torch::NoGradGuard no_grad;
    torch::Device dev(resolved);
    auto gen = at::detail::createCPUGenerator(1234);
    auto a64 = at::randn({n, n}, gen, torch::kFloat64);
    auto b64 = at::randn({n, n}, gen, torch::kFloat64);
    auto ref = torch::matmul(a64, b64);
    auto a = a64.to(torch::kFloat32).to(dev);
    auto b = b64.to(torch::kFloat32).to(dev);
    auto c = torch::matmul(a, b);  // warm-up, and the result we check
    if (dev.is_cuda()) torch::cuda::synchronize();
    int reps = std::max(1, static_cast<int>(2e8 / (2.0 * n * n * n)));
    reps = std::min(reps, 50);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; i++) c = torch::matmul(a, b);
    if (dev.is_cuda()) torch::cuda::synchronize();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out->n = n;
    out->max_abs_err = (c.to(torch::kCPU).to(torch::kFloat64) - ref).abs().max().item<double>();
    out->gflops = secs > 0 ? 2.0 * n * n * n * reps / secs / 1e9 : 0.0;
    return SHIM_OK;
  });
}

}  // extern "C"
