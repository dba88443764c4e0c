/* Checks the links of a rendered report: every src="..." and href="..." of the HTML must name
 * a non-empty file inside the report folder (no URLs, no absolute paths, no ".."). */
#ifndef MDH_TEST_HTML_LINKS_H
#define MDH_TEST_HTML_LINKS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/util/fsutil.h"
#include "test_main.h"

/* Returns how many links there are; fails the test at the first bad one. */
static inline size_t check_html_links(const char *report_dir, const char *html) {
  size_t n = 0;
  const char *attrs[] = {"src=\"", "href=\""};
  for (size_t a = 0; a < 2; a++)
    for (const char *s = strstr(html, attrs[a]); s; s = strstr(s + 1, attrs[a])) {
      const char *v = s + strlen(attrs[a]), *end = strchr(v, '"');
      assert_non_null(end);
      char rel[512];
      snprintf(rel, sizeof rel, "%.*s", (int)(end - v), v);
      if (rel[0] == '#') continue;
      assert_null(strstr(rel, "://"));
      assert_true(rel[0] != '/' && !strstr(rel, ".."));
      char *path = fs_join(report_dir, rel);
      struct stat sb;
      if (stat(path, &sb) || sb.st_size == 0) fail_msg("index.html links %s, which is missing or empty", rel);
      free(path);
      n++;
    }
  return n;
}
#endif
