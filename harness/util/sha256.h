/* SHA-256 (FIPS 180-4): stage identities are hashes of canonical config text. */
#ifndef MDH_SHA256_H
#define MDH_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
  uint32_t h[8];
  uint64_t total;
  unsigned char buf[64];
  size_t buf_len;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, unsigned char out[32]);
/* Hex digest of a NUL-terminated string into hex[65]. */
void sha256_hex(const char *s, char hex[65]);

#endif
