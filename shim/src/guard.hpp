// The boundary discipline every exported shim function follows: run the body, turn any C++
// exception into a status and a one-line message in shim_err (DESIGN.md: nothing C++ crosses).
#pragma once

#include <cstdio>
#include <exception>
#include <string>

#include <torch/torch.h>

#include "mdh_shim.h"

namespace mdh {

inline int fail(shim_err *err, int code, const std::string &msg) {
  if (err) std::snprintf(err->msg, sizeof err->msg, "%s", msg.c_str());
  return code;
}

// Torch's messages carry a C++ backtrace after the first line; the first line is the news.
inline std::string first_line(const char *what) {
  std::string s(what ? what : "unknown error");
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// An error the shim raises itself for bad input (a missing weight, a wrong shape): reported
// as SHIM_E_INVALID rather than as a libtorch failure.
struct invalid_input : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename F>
int guarded(shim_err *err, F &&body) {
  try {
    return body();
  } catch (const invalid_input &ex) {
    return fail(err, SHIM_E_INVALID, ex.what());
  } catch (const c10::Error &ex) {
    return fail(err, SHIM_E_TORCH, "libtorch: " + first_line(ex.what()));
  } catch (const std::exception &ex) {
    return fail(err, SHIM_E_TORCH, first_line(ex.what()));
  } catch (...) {
    return fail(err, SHIM_E_TORCH, "unknown C++ exception");
  }
}

}  // namespace mdh
