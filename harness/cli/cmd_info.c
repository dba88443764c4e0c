/* `harness info`: what this build and machine offer — versions, BLAS, threads, devices — and
 * a self-test proving that C reaches libtorch through the shim on each device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli/cli.h"
#include "mdh_shim.h"
#include "version.h"

static const char info_usage[] =
    "usage: harness info [--threads N] [--device D]\n"
    "\n"
    "Prints the harness version and commit, the libtorch it was built with, the BLAS in use,\n"
    "the thread setting, and every usable device, each with a float32 matmul self-test (error\n"
    "against a float64 reference, and its speed). Exit status 3 when a self-test fails.\n";

int cmd_info(int argc, char **argv) {
  cli_args a;
  int rc = cli_args_parse(argc, argv, info_usage, false, &a);
  const cli_common c = a.c;
  bool extra = a.npos > 0;
  cli_args_free(&a);
  if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
  if (extra) {
    fprintf(stderr, "harness info: takes no arguments\n\n%s", info_usage);
    return EXIT_USAGE;
  }
  char device[64];
  int threads = 0;
  if (cli_runtime_init(&c, NULL, device, sizeof device, &threads)) return EXIT_ERROR;
  printf("harness   %s (commit %s)\n", MDH_VERSION, MDH_GIT_COMMIT);
  printf("libtorch  %s\n", shim_libtorch_version());
  printf("BLAS      %s\n", shim_blas_backend());
  printf("threads   %d\n", threads);
  printf("default   %s\n", device);
  shim_device_info devs[16];
  size_t n = 0;
  shim_err err;
  if (shim_list_devices(devs, 16, &n, &err) != SHIM_OK) {
    fprintf(stderr, "harness: %s\n", err.msg);
    return EXIT_ERROR;
  }
  int status = EXIT_OK;
  for (size_t i = 0; i < n && i < 16; i++) {
    if (c.device && strcmp(device, devs[i].name) != 0) continue; /* only the one asked for */
    shim_selftest_result r;
    if (shim_selftest(devs[i].name, 512, &r, &err) != SHIM_OK) {
      printf("device    %-8s self-test FAILED: %s\n", devs[i].name, err.msg);
      status = EXIT_ERROR;
      continue;
    }
    bool ok = r.max_abs_err < 1e-3 * r.n;
    printf("device    %-8s fp16 %-3s bf16 %-3s matmul %dx%d: max error %.2e (%s), %.1f GFLOP/s\n", devs[i].name,
           devs[i].supports_fp16 ? "yes" : "no", devs[i].supports_bf16 ? "yes" : "no", r.n, r.n, r.max_abs_err,
           ok ? "ok" : "WRONG", r.gflops);
    if (!ok) status = EXIT_ERROR;
  }
  return status;
}
