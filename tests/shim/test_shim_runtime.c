/* The shim's runtime C API: thread set-up, version and BLAS information, device listing and
 * resolution, and the matmul self-test. Passes with or without a CUDA device: the CUDA
 * expectations follow what shim_list_devices reports. */
#include "test_main.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mdh_shim.h"

/* Number of CUDA devices the shim lists (0 on a CPU-only machine or libtorch). */
static size_t cuda_count(void) {
  shim_device_info devs[16];
  size_t n = 0;
  shim_err err = {{0}};
  assert_int_equal(shim_list_devices(devs, 16, &n, &err), SHIM_OK);
  size_t k = 0;
  for (size_t i = 0; i < n && i < 16; i++) k += devs[i].is_cuda ? 1 : 0;
  return k;
}

static void runtime_init_applies_explicit_thread_counts(void **state) {
  shim_err err = {{0}};
  int eff = -1;
  shim_runtime_opts one = {.threads = 1};
  assert_int_equal(shim_runtime_init(&one, &eff, &err), SHIM_OK);
  assert_int_equal(eff, 1);
  shim_runtime_opts two = {.threads = 2};
  assert_int_equal(shim_runtime_init(&two, &eff, &err), SHIM_OK);
  assert_int_equal(eff, 2);
  /* a second and third call work too (the inter-op pool is sized only once) */
  assert_int_equal(shim_runtime_init(&one, &eff, &err), SHIM_OK);
  assert_int_equal(eff, 1);
}

static void runtime_init_with_zero_threads_uses_every_online_core(void **state) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  assert_true(cores > 0);
  shim_err err = {{0}};
  int eff = -1;
  shim_runtime_opts zero = {.threads = 0};
  assert_int_equal(shim_runtime_init(&zero, &eff, &err), SHIM_OK);
  assert_int_equal(eff, cores);
  shim_runtime_opts neg = {.threads = -4};
  eff = -1;
  assert_int_equal(shim_runtime_init(&neg, &eff, &err), SHIM_OK);
  assert_int_equal(eff, cores);
  eff = -1;
  assert_int_equal(shim_runtime_init(NULL, &eff, &err), SHIM_OK);
  assert_int_equal(eff, cores);
}

static void runtime_init_rejects_absurd_thread_counts(void **state) {
  shim_err err = {{0}};
  int eff = -1;
  shim_runtime_opts many = {.threads = 5000};
  assert_int_equal(shim_runtime_init(&many, &eff, &err), SHIM_E_INVALID);
  assert_string_equal(err.msg, "threads must be at most 1024");
  assert_int_equal(eff, -1);
}

static void libtorch_version_is_dotted_numbers(void **state) {
  const char *v = shim_libtorch_version();
  assert_non_null(v);
  const char *p = v;
  assert_true(isdigit((unsigned char)*p));
  while (isdigit((unsigned char)*p)) p++;
  assert_int_equal(*p, '.');
  p++;
  assert_true(isdigit((unsigned char)*p));
  int major = -1, minor = -1;
  assert_int_equal(sscanf(v, "%d.%d", &major, &minor), 2);
  assert_true(major >= 1);
  assert_true(minor >= 0);
}

static void blas_backend_is_described(void **state) {
  const char *b = shim_blas_backend();
  assert_non_null(b);
  assert_true(!strncmp(b, "OpenBLAS ", 9) || !strncmp(b, "reference BLAS", 14));
  assert_ptr_equal(shim_blas_backend(), b); /* computed once */
}

static void list_devices_puts_cpu_first(void **state) {
  shim_device_info devs[16];
  memset(devs, 0xff, sizeof devs);
  size_t n = 0;
  shim_err err = {{0}};
  assert_int_equal(shim_list_devices(devs, 16, &n, &err), SHIM_OK);
  assert_true(n >= 1);
  assert_string_equal(devs[0].name, "cpu");
  assert_int_equal(devs[0].is_cuda, 0);
  assert_int_equal(devs[0].supports_fp16, 0);
  assert_int_equal(devs[0].supports_bf16, 1);
  for (size_t i = 1; i < n && i < 16; i++) {
    char want[64];
    snprintf(want, sizeof want, "cuda:%zu", i - 1);
    assert_string_equal(devs[i].name, want);
    assert_int_equal(devs[i].is_cuda, 1);
    assert_int_equal(devs[i].supports_fp16, 1);
  }
}

static void list_devices_counts_beyond_max(void **state) {
  size_t total = 0, n = 0;
  shim_err err = {{0}};
  assert_int_equal(shim_list_devices(NULL, 0, &total, &err), SHIM_OK);
  assert_int_equal(total, 1 + cuda_count());
  shim_device_info one[2];
  memset(one, 0, sizeof one);
  strcpy(one[1].name, "untouched");
  assert_int_equal(shim_list_devices(one, 1, &n, &err), SHIM_OK);
  assert_int_equal(n, total);
  assert_string_equal(one[0].name, "cpu");
  assert_string_equal(one[1].name, "untouched");
}

static void resolve_cpu_and_auto(void **state) {
  char out[32];
  shim_err err = {{0}};
  assert_int_equal(shim_resolve_device("cpu", out, sizeof out, &err), SHIM_OK);
  assert_string_equal(out, "cpu");
  const char *want_auto = cuda_count() > 0 ? "cuda:0" : "cpu";
  assert_int_equal(shim_resolve_device("auto", out, sizeof out, &err), SHIM_OK);
  assert_string_equal(out, want_auto);
  /* empty and NULL mean auto */
  assert_int_equal(shim_resolve_device("", out, sizeof out, &err), SHIM_OK);
  assert_string_equal(out, want_auto);
  assert_int_equal(shim_resolve_device(NULL, out, sizeof out, &err), SHIM_OK);
  assert_string_equal(out, want_auto);
}

static void resolve_cuda_follows_the_devices_present(void **state) {
  char out[32] = "";
  shim_err err = {{0}};
  size_t k = cuda_count();
  if (k == 0) {
    assert_int_equal(shim_resolve_device("cuda", out, sizeof out, &err), SHIM_E_DEVICE);
    assert_non_null(strstr(err.msg, "device 'cuda' requested"));
    assert_non_null(strstr(err.msg, "CUDA"));
    assert_int_equal(shim_resolve_device("cuda:0", out, sizeof out, &err), SHIM_E_DEVICE);
    assert_non_null(strstr(err.msg, "CUDA"));
    assert_string_equal(out, "");
  } else {
    assert_int_equal(shim_resolve_device("cuda", out, sizeof out, &err), SHIM_OK);
    assert_string_equal(out, "cuda:0");
    char want[32];
    snprintf(want, sizeof want, "cuda:%zu", k - 1);
    assert_int_equal(shim_resolve_device(want, out, sizeof out, &err), SHIM_OK);
    assert_string_equal(out, want);
    snprintf(want, sizeof want, "cuda:%zu", k);
    assert_int_equal(shim_resolve_device(want, out, sizeof out, &err), SHIM_E_DEVICE);
    assert_non_null(strstr(err.msg, "does not exist"));
  }
}

static void resolve_unknown_or_unsupported_device_is_invalid(void **state) {
  char out[32];
  shim_err err = {{0}};
  assert_int_equal(shim_resolve_device("tpu", out, sizeof out, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "unknown device 'tpu' (expected auto, cpu, cuda or cuda:N)"));
  /* a device type torch knows but the shim does not run on */
  assert_int_equal(shim_resolve_device("meta", out, sizeof out, &err), SHIM_E_INVALID);
  assert_string_equal(err.msg, "unsupported device 'meta' (expected auto, cpu, cuda or cuda:N)");
}

static void resolve_into_a_too_small_buffer_is_invalid(void **state) {
  char out[3] = "zz";
  shim_err err = {{0}};
  assert_int_equal(shim_resolve_device("cpu", out, sizeof out, &err), SHIM_E_INVALID);
  assert_string_equal(err.msg, "device name buffer too small");
  assert_string_equal(out, "zz");
  char fits[4];
  assert_int_equal(shim_resolve_device("cpu", fits, sizeof fits, &err), SHIM_OK);
  assert_string_equal(fits, "cpu");
}

static void selftest_on_cpu_is_accurate_and_timed(void **state) {
  shim_selftest_result r = {.max_abs_err = -1, .gflops = -1, .n = 0};
  shim_err err = {{0}};
  int rc = shim_selftest("cpu", 64, &r, &err);
  if (rc != SHIM_OK) fail_msg("selftest failed (%d): %s", rc, err.msg);
  assert_int_equal(r.n, 64);
  assert_true(r.max_abs_err >= 0);
  assert_true(r.max_abs_err < 1e-3);
  assert_true(r.gflops > 0);
}

static void selftest_on_cuda_follows_the_devices_present(void **state) {
  shim_selftest_result r = {0};
  shim_err err = {{0}};
  if (cuda_count() == 0) {
    assert_int_equal(shim_selftest("cuda", 64, &r, &err), SHIM_E_DEVICE);
    assert_non_null(strstr(err.msg, "CUDA"));
  } else {
    int rc = shim_selftest("cuda", 64, &r, &err);
    if (rc != SHIM_OK) fail_msg("CUDA selftest failed (%d): %s", rc, err.msg);
    assert_int_equal(r.n, 64);
    assert_true(r.max_abs_err < 1e-3);
    assert_true(r.gflops > 0);
  }
}

static void selftest_rejects_sizes_out_of_range(void **state) {
  shim_selftest_result r = {0};
  shim_err err = {{0}};
  assert_int_equal(shim_selftest("cpu", 0, &r, &err), SHIM_E_INVALID);
  assert_string_equal(err.msg, "self-test size must be in [1, 8192], got 0");
  assert_int_equal(shim_selftest("cpu", 9000, &r, &err), SHIM_E_INVALID);
  assert_string_equal(err.msg, "self-test size must be in [1, 8192], got 9000");
  assert_int_equal(shim_selftest("cpu", -1, &r, &err), SHIM_E_INVALID);
  assert_int_equal(shim_selftest("cpu", 8, NULL, &err), SHIM_E_INVALID);
  assert_string_equal(err.msg, "self-test needs a result struct");
  assert_int_equal(shim_selftest("tpu", 8, &r, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "unknown device 'tpu'"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(runtime_init_applies_explicit_thread_counts),
    cmocka_unit_test(runtime_init_with_zero_threads_uses_every_online_core),
    cmocka_unit_test(runtime_init_rejects_absurd_thread_counts),
    cmocka_unit_test(libtorch_version_is_dotted_numbers),
    cmocka_unit_test(blas_backend_is_described),
    cmocka_unit_test(list_devices_puts_cpu_first),
    cmocka_unit_test(list_devices_counts_beyond_max),
    cmocka_unit_test(resolve_cpu_and_auto),
    cmocka_unit_test(resolve_cuda_follows_the_devices_present),
    cmocka_unit_test(resolve_unknown_or_unsupported_device_is_invalid),
    cmocka_unit_test(resolve_into_a_too_small_buffer_is_invalid),
    cmocka_unit_test(selftest_on_cpu_is_accurate_and_timed),
    cmocka_unit_test(selftest_on_cuda_follows_the_devices_present),
    cmocka_unit_test(selftest_rejects_sizes_out_of_range),
};

MDH_TEST_MAIN(tests)
