/* clock: CLOCK_MONOTONIC as seconds, immune to wall-clock jumps. */
#include "harness/util/clock.h"

#include <time.h>

double clock_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
