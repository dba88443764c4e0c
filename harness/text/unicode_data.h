/* Raw Unicode tables for the CLIP text path (generated into unicode_tables.c by
 * gen_unicode_tables.py from Python's unicodedata, so they agree with the Python reference). */
#ifndef MDH_TEXT_UNICODE_DATA_H
#define MDH_TEXT_UNICODE_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct uni_range {
  uint32_t lo, hi; /* inclusive */
} uni_range;

typedef struct uni_lower_entry {
  uint32_t cp;
  uint32_t to[3]; /* unused slots are 0 */
} uni_lower_entry;

typedef struct uni_ccc_run {
  uint32_t lo, hi;
  uint8_t ccc;
} uni_ccc_run;

typedef struct uni_decomp {
  uint32_t cp;
  uint32_t off, len; /* into uni_decomp_seq */
} uni_decomp;

typedef struct uni_comp {
  uint32_t a, b, composite; /* sorted by (a, b) */
} uni_comp;

extern const char uni_tables_version[];
extern const uni_range uni_control[], uni_zs[], uni_pyspace[], uni_cased[], uni_case_ignorable[];
extern const size_t uni_control_n, uni_zs_n, uni_pyspace_n, uni_cased_n, uni_case_ignorable_n;
extern const uni_lower_entry uni_lower_map[];
extern const size_t uni_lower_map_n;
extern const uni_ccc_run uni_ccc[];
extern const size_t uni_ccc_n;
extern const uint32_t uni_decomp_seq[];
extern const uni_decomp uni_decomp_map[];
extern const size_t uni_decomp_map_n;
extern const uni_comp uni_comp_map[];
extern const size_t uni_comp_map_n;

#endif
