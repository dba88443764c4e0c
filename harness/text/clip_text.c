/* BasicTokenizer's clean-up, CJK spacing, NFC, whitespace split and str.lower(), as used by
 * transformers 4.33's CLIPTokenizer when ftfy is not installed. */
#include "harness/text/clip_text.h"

#include "harness/text/text_unicode.h"

void clip_basic_normalize(const uint32_t *in, size_t n, strbuf *out) {
  u32vec a = {0}, b = {0}, low = {0};
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    bool ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || uni_is_zs(c);
    if (c == 0 || c == 0xFFFD || (!ws && uni_is_category_c(c))) continue;
    if (ws) {
      u32_push(&a, ' ');
    } else if (uni_is_cjk(c)) {
      u32_push(&a, ' ');
      u32_push(&a, c);
      u32_push(&a, ' ');
    } else {
      u32_push(&a, c);
    }
  }
  uni_nfc(a.v, a.n, &b);
  bool first = true;
  size_t i = 0;
  while (i < b.n) {
    while (i < b.n && uni_is_pyspace(b.v[i])) i++;
    size_t s = i;
    while (i < b.n && !uni_is_pyspace(b.v[i])) i++;
    if (i == s) break;
    low.n = 0;
    uni_lower(b.v + s, i - s, &low); /* per word: Final_Sigma looks only within it */
    if (!first) sb_append_char(out, ' ');
    first = false;
    for (size_t k = 0; k < low.n; k++) utf8_append(out, low.v[k]);
  }
  u32_free(&a);
  u32_free(&b);
  u32_free(&low);
}
