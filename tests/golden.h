/* Locating reference data for golden tests (DESIGN.md: reference data). Small cases are copied
 * into tests/data/ and travel with the project; large ones (model folders, ResNet-18 weights)
 * are read from $MDH_GOLDEN_DIR, default ../shared/golden beside the checkout. When a large case
 * is absent the test is reported as SKIPPED by name, never as passed. */
#ifndef MDH_TESTS_GOLDEN_H
#define MDH_TESTS_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_main.h"

/* The golden directory: $MDH_GOLDEN_DIR when set and non-empty, else <source>/../shared/golden. */
static inline const char *golden_dir(void) {
  const char *env = getenv("MDH_GOLDEN_DIR");
  return env && *env ? env : MDH_SOURCE_DIR "/../shared/golden";
}

/* Malloc'ed "<golden_dir>/<rel>" when it exists; otherwise prints why and skips the case. */
static inline char *golden_path_or_skip(const char *rel) {
  const char *dir = golden_dir();
  size_t n = strlen(dir) + strlen(rel) + 2;
  char *p = malloc(n);
  if (!p) abort();
  snprintf(p, n, "%s/%s", dir, rel);
  struct stat st;
  if (stat(p, &st) != 0) {
    print_message("golden data %s not found (set MDH_GOLDEN_DIR): skipping\n", p);
    free(p);
    skip();
    return NULL;
  }
  return p;
}

/* Malloc'ed "<tests/data>/<rel>" (copied golden cases that travel with the project). */
static inline char *test_data_path(const char *rel) {
  size_t n = strlen(MDH_TEST_DATA_DIR) + strlen(rel) + 2;
  char *p = malloc(n);
  if (!p) abort();
  snprintf(p, n, "%s/%s", MDH_TEST_DATA_DIR, rel);
  return p;
}

#endif
