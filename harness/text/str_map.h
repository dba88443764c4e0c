/* String -> int64 hash map (open addressing, keys copied), built once per tokenizer for the vocab,
 * the BPE merge ranks and the added tokens. Keys are byte strings given with their length. */
#ifndef MDH_TEXT_STR_MAP_H
#define MDH_TEXT_STR_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct str_map str_map;

str_map *smap_new(size_t expected);
void smap_free(str_map *m);
/* Inserts or overwrites; returns 1 when the key was new, 0 when it was overwritten. */
int smap_put(str_map *m, const char *key, size_t len, int64_t value);
/* The value, or -1 when absent (values stored are never negative). */
int64_t smap_get(const str_map *m, const char *key, size_t len);
size_t smap_count(const str_map *m);

#endif
