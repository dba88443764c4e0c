/* harness/train/prompt_templates: A1111's built-in template sets line for line, template files
 * (blank lines and surrounding space dropped), rendering of [name] and [filewords], errors. */
#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/train/prompt_templates.h"
#include "harness/util/fsutil.h"

static char tmpdir[64];

static char *tmp_file(const char *name, const char *text) {
  if (!tmpdir[0]) {
    strcpy(tmpdir, "/tmp/mdh-tpl-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
  }
  char *p = fs_join(tmpdir, name);
  if (text) {
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
  }
  return p;
}

static ti_templates *load(const char *name) {
  ti_templates *t = NULL;
  herr e;
  if (ti_templates_load(name, &t, &e)) fail_msg("%s: %s", name, e.msg);
  return t;
}

static void builtin_sets_match_a1111(void **state) {
  (void)state;
  const struct {
    const char *name;
    size_t n;
    const char *first, *last;
  } want[] = {
      {"subject", 27, "a photo of a [name]", "a photo of a small [name]"},
      {"subject_filewords", 27, "a photo of a [name], [filewords]", "a photo of a small [name], [filewords]"},
      {"style", 19, "a painting, art by [name]", "a large painting, art by [name]"},
      {"style_filewords", 19, "a painting of [filewords], art by [name]", "a large painting of [filewords], art by [name]"},
      {"none", 1, "picture", "picture"},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    ti_templates *t = load(want[i].name);
    assert_int_equal(ti_templates_count(t), want[i].n);
    assert_string_equal(ti_templates_get(t, 0), want[i].first);
    assert_string_equal(ti_templates_get(t, want[i].n - 1), want[i].last);
    assert_null(ti_templates_get(t, want[i].n));
    ti_templates_free(t);
  }
  ti_templates *t = load("subject");
  assert_string_equal(ti_templates_get(t, 14), "a photo of one [name]");
  ti_templates_free(t);
  t = load("style"); /* A1111's duplicates are kept: they weigh the random choice */
  assert_string_equal(ti_templates_get(t, 2), "a cropped painting, art by [name]");
  assert_string_equal(ti_templates_get(t, 11), "a cropped painting, art by [name]");
  ti_templates_free(t);
}

static void render_replaces_every_occurrence(void **state) {
  (void)state;
  ti_templates *t = load("subject_filewords");
  char *s = ti_templates_render(t, 0, "csPCa-pos", "t2w, prostate");
  assert_string_equal(s, "a photo of a csPCa-pos, t2w, prostate");
  free(s);
  s = ti_templates_render(t, 0, "x", NULL);
  assert_string_equal(s, "a photo of a x, ");
  free(s);
  assert_null(ti_templates_render(t, 27, "x", "y"));
  ti_templates_free(t);
  char *p = tmp_file("multi.txt", "[name] and [name] [filewords][filewords]\n");
  t = load(p);
  s = ti_templates_render(t, 0, "N", "F");
  assert_string_equal(s, "N and N FF");
  free(s);
  /* A1111 substitutes [filewords] first, so a caption's "[name]" becomes the name too */
  s = ti_templates_render(t, 0, "N", "<[name]>");
  assert_string_equal(s, "N and N <N><N>");
  free(s);
  ti_templates_free(t);
  free(p);
}

static void template_file_lines_are_stripped(void **state) {
  (void)state;
  char *p = tmp_file("mine.txt", "  a t2w mri of [name]  \r\n\n   \n\tan adc map, [filewords]\nlast line no newline");
  ti_templates *t = load(p);
  assert_int_equal(ti_templates_count(t), 3);
  assert_string_equal(ti_templates_get(t, 0), "a t2w mri of [name]");
  assert_string_equal(ti_templates_get(t, 1), "an adc map, [filewords]");
  assert_string_equal(ti_templates_get(t, 2), "last line no newline");
  ti_templates_free(t);
  free(p);
}

static void missing_or_empty_files_are_errors(void **state) {
  (void)state;
  ti_templates *t = (ti_templates *)1;
  herr e;
  char *p = tmp_file("absent.txt", NULL);
  assert_int_equal(ti_templates_load(p, &t, &e), -1);
  assert_null(t);
  assert_non_null(strstr(e.msg, p));
  assert_non_null(strstr(e.msg, "no such file"));
  assert_non_null(strstr(e.msg, "subject, style"));
  free(p);
  p = tmp_file("blank.txt", "\n  \n\t\n");
  assert_int_equal(ti_templates_load(p, &t, &e), -1);
  assert_non_null(strstr(e.msg, p));
  assert_non_null(strstr(e.msg, "no templates"));
  free(p);
  p = tmp_file("empty.txt", "");
  assert_int_equal(ti_templates_load(p, &t, &e), -1);
  assert_non_null(strstr(e.msg, "no templates"));
  free(p);
  assert_int_equal(ti_templates_load(tmpdir, &t, &e), -1);
  assert_non_null(strstr(e.msg, "is a directory"));
  assert_int_equal(ti_templates_load("", &t, &e), -1);
  assert_int_equal(ti_templates_load("Subject", &t, &e), -1); /* names are exact */
  assert_int_equal(ti_templates_count(NULL), 0);
}

static int remove_tmpdir(void **state) {
  (void)state;
  if (tmpdir[0]) fs_remove_tree(tmpdir, NULL);
  return 0;
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(builtin_sets_match_a1111),
      cmocka_unit_test(render_replaces_every_occurrence),
      cmocka_unit_test(template_file_lines_are_stripped),
      cmocka_unit_test(missing_or_empty_files_are_errors),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, remove_tmpdir);
}
