/* Seeded random numbers for stages written in C: xoshiro256** with splitmix64 seeding. A
 * stream is fixed by (seed, stream index), so results do not depend on thread count or on the
 * order in which streams are used. */
#ifndef MDH_RNG_H
#define MDH_RNG_H

#include <stdint.h>

typedef struct rng {
  uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(rng *r);
/* Standard normal (Box-Muller; one value per call for a simple, reproducible state). */
double rng_normal(rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t rng_below(rng *r, uint64_t n);

#endif
