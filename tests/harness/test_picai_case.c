/* One PI-CAI case through the recipe, on the mini tree of vol_fixture.h: the label and the
 * chosen slice (largest lesion / gland middle), the RGB image, and skipped cases with their
 * reasons (truncated file, missing delineation, geometry that does not match T2W). */
#include <stdlib.h>
#include <string.h>

#include "harness/volume/picai.h"
#include "test_main.h"
#include "vol_fixture.h"

typedef struct tree {
  char *root, *images, *labels;
  picai_case *cases;
  size_t n;
} tree;

/* The cases of `which` (bit i: case 1000i_100000i of the kinds below), to keep each test small. */
static tree make_tree(picai_label_set set, unsigned which) {
  tree t;
  char tmpl[] = "/tmp/mdh-picai-XXXXXX";
  if (!mkdtemp(tmpl)) abort();
  t.root = strdup(tmpl);
  t.images = fs_join(t.root, "images");
  t.labels = fs_join(t.root, "picai_labels");
  static const fx_kind kinds[] = {FX_POSITIVE,      FX_NEGATIVE,      FX_TRUNCATED_ADC,
                                  FX_ONLY_AI_LABEL, FX_HBV_ELSEWHERE, FX_HBV_TILTED};
  for (int i = 0; i < 6; i++)
    if (which & (1u << i)) {
      char id[32];
      snprintf(id, sizeof id, "1000%d_100000%d", i, i);
      fx_picai_case(t.images, t.labels, id, kinds[i]);
    }
  herr e;
  if (picai_discover(t.images, t.labels, set, &t.cases, &t.n, &e)) fail_msg("%s", e.msg);
  return t;
}

static void free_tree(tree *t) {
  for (size_t i = 0; i < t->n; i++) picai_case_free(&t->cases[i]);
  free(t->cases);
  fs_remove_tree(t->root, NULL);
  free(t->root);
  free(t->images);
  free(t->labels);
}

/* The paper's spacing and slice count (so the slice indices of vol_fixture.h hold) with a
 * smaller in-plane crop and image, which keeps the test fast under valgrind. */
static picai_params params(void) {
  picai_params p;
  picai_params_paper(&p);
  p.size[0] = p.size[1] = 80;
  p.image_side = 128;
  return p;
}

static void discovery_finds_cases_and_label_sets(void **state) {
  (void)state;
  tree t = make_tree(PICAI_LABELS_HUMAN, 0x9);
  assert_int_equal(t.n, 2);
  assert_string_equal(t.cases[0].case_id, "10000_1000000");
  assert_non_null(strstr(t.cases[0].t2w, "images/10000/10000_1000000_t2w.mha"));
  assert_non_null(strstr(t.cases[0].lesion, "human_expert/resampled/10000_1000000.nii.gz"));
  assert_non_null(strstr(t.cases[0].gland, "Guerbet23/10000_1000000.nii.gz"));
  assert_string_equal(t.cases[1].case_id, "10003_1000003");
  assert_null(t.cases[1].lesion); /* only an AI delineation */
  free_tree(&t);
  t = make_tree(PICAI_LABELS_HUMAN_THEN_AI, 0x9);
  assert_non_null(strstr(t.cases[1].lesion, "AI/Bosma22a/10003_1000003.nii.gz"));
  assert_non_null(strstr(t.cases[0].lesion, "human_expert"));
  free_tree(&t);
}

static void positive_takes_largest_lesion_slice(void **state) {
  (void)state;
  tree t = make_tree(PICAI_LABELS_HUMAN, 0x1);
  picai_params p = params();
  picai_result r;
  picai_process_case(&t.cases[0], &p, &r);
  if (!r.ok) fail_msg("%s", r.reason);
  assert_int_equal(r.label, 1);
  assert_int_equal(r.slice, FX_LESION_SLICE);
  /* The T2W ramp spans the image: the red channel varies, and the padded border is black. */
  int lo = 255, hi = 0;
  for (int i = 0; i < 128 * 128; i++) {
    int v = r.rgb[i * 3];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  assert_int_equal(lo, 0);
  assert_true(hi > 200);
  assert_int_equal(r.rgb[0], 0);
  free(r.rgb);
  free_tree(&t);
}

static void negative_takes_gland_middle_slice(void **state) {
  (void)state;
  tree t = make_tree(PICAI_LABELS_HUMAN, 0x2);
  picai_params p = params();
  picai_result r;
  picai_process_case(&t.cases[0], &p, &r);
  if (!r.ok) fail_msg("%s", r.reason);
  assert_int_equal(r.label, 0);
  assert_int_equal(r.slice, FX_GLAND_MIDDLE);
  free(r.rgb);
  /* A negative without a gland mask is skipped, not given a guessed slice. */
  free(t.cases[0].gland);
  t.cases[0].gland = NULL;
  picai_process_case(&t.cases[0], &p, &r);
  assert_false(r.ok);
  assert_int_equal(r.kind, PICAI_SKIP_MISSING_LABEL);
  assert_null(r.rgb);
  free_tree(&t);
}

static void bad_cases_skipped_with_reasons(void **state) {
  (void)state;
  tree t = make_tree(PICAI_LABELS_HUMAN, 0x3c);
  picai_params p = params();
  struct {
    size_t i;
    picai_skip kind;
    const char *needle;
  } want[] = {
      {0, PICAI_SKIP_BAD_FILE, "ADC: "},
      {1, PICAI_SKIP_MISSING_LABEL, "no human-expert"},
      {2, PICAI_SKIP_GEOMETRY, "HBV does not overlap T2W in world space"},
      {3, PICAI_SKIP_GEOMETRY, "HBV direction differs from T2W's by 30.1 degrees"},
  };
  for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
    picai_result r;
    picai_process_case(&t.cases[want[w].i], &p, &r);
    assert_false(r.ok);
    assert_null(r.rgb);
    assert_int_equal(r.kind, want[w].kind);
    if (!strstr(r.reason, want[w].needle))
      fail_msg("case %zu: reason '%s', expected '%s'", want[w].i, r.reason, want[w].needle);
  }
  picai_result r;
  picai_process_case(&t.cases[0], &p, &r);
  assert_non_null(strstr(r.reason, "truncated"));
  /* With a looser tolerance the tilted HBV is accepted: it is resampled in world space. */
  p.direction_tol = 45;
  picai_process_case(&t.cases[3], &p, &r);
  if (!r.ok) fail_msg("%s", r.reason);
  free(r.rgb);
  free_tree(&t);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(discovery_finds_cases_and_label_sets),
      cmocka_unit_test(positive_takes_largest_lesion_slice),
      cmocka_unit_test(negative_takes_gland_middle_slice),
      cmocka_unit_test(bad_cases_skipped_with_reasons),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
