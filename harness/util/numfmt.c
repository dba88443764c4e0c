/* numfmt: shortest round-trip formatting of doubles. */
#include "harness/util/numfmt.h"

#include <stdio.h>
#include <stdlib.h>

const char *fmt_double(double v, char *buf, size_t size) {
  if (v == (double)(long long)v && v > -1e15 && v < 1e15) {
    snprintf(buf, size, "%.0f", v);
    return buf;
  }
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, size, "%.*g", p, v);
    if (strtod(buf, NULL) == v) break;
  }
  return buf;
}
