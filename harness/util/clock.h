/* clock: a monotonic clock in seconds, for rates, ETAs and measured durations. */
#ifndef MDH_UTIL_CLOCK_H
#define MDH_UTIL_CLOCK_H

/* Seconds on CLOCK_MONOTONIC: only differences mean anything. */
double clock_now_s(void);

#endif
