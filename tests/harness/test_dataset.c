/* The dataset format: manifest round trip, errors that name line and column, dataset.json, and
 * the seeded stratified split assignment (determinism, counts, row-order independence, the
 * embedding overlap choice, too few cases). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/data/dataset.h"
#include "harness/util/fsutil.h"
#include "test_main.h"

static char *tmp_dir(void) {
  char tmpl[] = "/tmp/mdh-ds-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  return strdup(tmpl);
}

static void write_manifest_text(const char *dir, const char *text) {
  char *p = fs_join(dir, "manifest.csv");
  herr e = {{0}};
  assert_int_equal(fs_write_atomic(p, text, strlen(text), &e), 0);
  free(p);
}

static void add(ds_manifest *m, const char *id, int label, int ok, const char *reason, const char *image,
                const char *source) {
  ds_case c = {.case_id = (char *)id, .label = label, .ok = ok, .reason = (char *)reason, .image = (char *)image,
               .mask = "", .slice = -1, .source = (char *)source};
  herr e = {{0}};
  assert_int_equal(ds_manifest_add(m, &c, &e), 0);
}

static void manifest_round_trips_every_field(void **state) {
  char *dir = tmp_dir();
  herr e = {{0}};
  ds_manifest m;
  assert_int_equal(ds_manifest_init(&m, dir, &e), 0);
  ds_case c = {.case_id = "10000_1000000", .label = 1, .ok = 1, .reason = "", .image = "images/a b.png",
               .mask = "masks/a.png", .slice = 12, .split = "train", .embed = 1,
               .source = "picai fold0, \"t2w\" lesion\nsecond line"};
  assert_int_equal(ds_manifest_add(&m, &c, &e), 0);
  add(&m, "x.2", -1, 0, " no ADC, corrupt ", "", "");
  add(&m, "y-3", 0, 1, "", "/abs/y.png", " padded ");
  assert_int_equal(ds_manifest_write(&m, &e), 0);
  ds_manifest_free(&m);

  ds_manifest r;
  assert_int_equal(ds_manifest_read(dir, &r, &e), 0);
  assert_int_equal(r.n, 3);
  assert_string_equal(r.dir, dir);
  assert_string_equal(r.cases[0].case_id, "10000_1000000");
  assert_int_equal(r.cases[0].label, 1);
  assert_int_equal(r.cases[0].ok, 1);
  assert_string_equal(r.cases[0].image, "images/a b.png");
  assert_string_equal(r.cases[0].mask, "masks/a.png");
  assert_int_equal(r.cases[0].slice, 12);
  assert_string_equal(r.cases[0].split, "train");
  assert_int_equal(r.cases[0].embed, 1);
  assert_string_equal(r.cases[0].source, "picai fold0, \"t2w\" lesion\nsecond line");
  assert_int_equal(r.cases[1].label, -1);
  assert_int_equal(r.cases[1].ok, 0);
  assert_string_equal(r.cases[1].reason, " no ADC, corrupt ");
  assert_string_equal(r.cases[1].split, "");
  assert_int_equal(r.cases[1].slice, -1);
  assert_string_equal(r.cases[2].source, " padded ");
  char *p = ds_case_path(&r, r.cases[0].image);
  char want[512];
  snprintf(want, sizeof want, "%s/images/a b.png", dir);
  assert_string_equal(p, want);
  free(p);
  p = ds_case_path(&r, r.cases[2].image);
  assert_string_equal(p, "/abs/y.png");
  free(p);
  ds_manifest_free(&r);
  fs_remove_tree(dir, &e);
  free(dir);
}

/* Each malformed manifest and the text its error must contain (file:line and column). */
static void malformed_rows_name_line_and_column(void **state) {
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\na,2,ok,,i.png,,-1,,0,\n",
       "manifest.csv:2: column 'label': expected 0, 1 or empty"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\na,1,ok,,i.png,,-1,,0,\nb,1,fine,,i.png,,-1,,0,\n",
       "manifest.csv:3: column 'status': expected ok or skipped, got 'fine'"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\n\nb,1,ok,,i.png,,x,,0,\n",
       "manifest.csv:3: column 'slice'"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\nb,1,ok,,i.png,,-2,,0,\n",
       "manifest.csv:2: column 'slice'"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\nb,1,ok,,i.png,,3,training,0,\n",
       "manifest.csv:2: column 'split'"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\nb,1,ok,,i.png,,3,,yes,\n",
       "manifest.csv:2: column 'embed': expected 0 or 1, got 'yes'"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\nb/../c,1,ok,,i.png,,3,,0,\n",
       "manifest.csv:2: column 'case_id': 'b/../c' may only hold"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\nb,1,ok,,,,3,,0,\n",
       "manifest.csv:2: column 'image'"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\nb,1,skipped,,,,3,,0,\n",
       "manifest.csv:2: column 'reason': '' is empty; a skipped case must say why"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\nb,,ok,,i.png,,3,test,0,\n",
       "manifest.csv:2: column 'split': 'test' is set, but only ok cases with a known label"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\nb,1,ok,,i.png,,3,,0,\nc,1,ok,,i.png,,3,,0,\n"
       "b,0,ok,,j.png,,3,,0,\n",
       "manifest.csv:4: column 'case_id': 'b' already appears on line 2"},
      {"case_id,label,status,reason,image,mask,slice,embed,source\nb,1,ok,,i.png,,3,0,\n",
       "manifest.csv:1: no column 'split'"},
      {"case_id,label,status,reason,image,mask,slice,split,embed,source\nb,1,ok,,i.png,,3,,0\n",
       "manifest.csv:2: 9 fields, but the header has 10"},
  };
  char *dir = tmp_dir();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_manifest_text(dir, cases[i].text);
    herr e = {{0}};
    ds_manifest m;
    assert_int_equal(ds_manifest_read(dir, &m, &e), -1);
    if (!strstr(e.msg, cases[i].want)) fail_msg("case %zu: got '%s', expected '%s'", i, e.msg, cases[i].want);
    assert_int_equal(m.n, 0);
    assert_null(m.cases);
  }
  herr e = {{0}};
  fs_remove_tree(dir, &e);
  free(dir);
}

static void reader_finds_columns_by_name(void **state) {
  char *dir = tmp_dir();
  write_manifest_text(dir, "source,embed,split,slice,mask,image,reason,status,label,case_id,extra\n"
                           "s,0,val,4,,i.png,,ok,0,c1,whatever\r\n");
  herr e = {{0}};
  ds_manifest m;
  assert_int_equal(ds_manifest_read(dir, &m, &e), 0);
  assert_int_equal(m.n, 1);
  assert_string_equal(m.cases[0].case_id, "c1");
  assert_string_equal(m.cases[0].split, "val");
  assert_int_equal(m.cases[0].slice, 4);
  ds_manifest_free(&m);
  fs_remove_tree(dir, &e);
  free(dir);
}

static void add_refuses_bad_cases(void **state) {
  herr e = {{0}};
  ds_manifest m;
  ds_manifest_init(&m, "/tmp/x", &e);
  add(&m, "a", 1, 1, "", "a.png", "");
  ds_case dup = {.case_id = "a", .label = 0, .ok = 1, .image = "b.png", .slice = -1};
  assert_int_equal(ds_manifest_add(&m, &dup, &e), -1);
  assert_non_null(strstr(e.msg, "appears twice"));
  ds_case bad = {.case_id = "b", .label = 3, .ok = 1, .image = "b.png", .slice = -1};
  assert_int_equal(ds_manifest_add(&m, &bad, &e), -1);
  assert_non_null(strstr(e.msg, "label"));
  assert_int_equal(m.n, 1);
  ds_manifest_free(&m);
}

static void info_json_round_trips(void **state) {
  char *dir = tmp_dir();
  herr e = {{0}};
  assert_int_equal(ds_write_info(dir, "phantom", "{\"n\": 10, \"a\": {\"b\": [1, 2]}}", &e), 0);
  char *kind, *params;
  assert_int_equal(ds_read_info(dir, &kind, &params, &e), 0);
  assert_string_equal(kind, "phantom");
  assert_string_equal(params, "{\"n\":10,\"a\":{\"b\":[1,2]}}");
  free(kind);
  free(params);
  assert_int_equal(ds_write_info(dir, "picai", "[1]", &e), -1);
  assert_non_null(strstr(e.msg, "JSON object"));
  char *p = fs_join(dir, "dataset.json");
  const char *other = "{\"format\": \"something\", \"version\": 1, \"kind\": \"x\"}";
  fs_write_atomic(p, other, strlen(other), &e);
  assert_int_equal(ds_read_info(dir, &kind, &params, &e), -1);
  assert_non_null(strstr(e.msg, "'format' must be 'mdh-dataset'"));
  free(p);
  fs_remove_tree(dir, &e);
  free(dir);
}

/* A pool of n cases, `pos` of them positive, plus skipped and unlabelled ones that must never
 * be assigned; ids are added in the order of `perm` (a permutation of 0..n-1) or in order. */
static void make_pool(ds_manifest *m, size_t n, size_t pos, const size_t *perm) {
  herr e = {{0}};
  ds_manifest_init(m, "/tmp/pool", &e);
  for (size_t k = 0; k < n; k++) {
    size_t i = perm ? perm[k] : k;
    char id[32];
    snprintf(id, sizeof id, "case%04zu", i);
    add(m, id, i < pos ? 1 : 0, 1, "", "img.png", "");
    if (i % 7 == 0) {
      snprintf(id, sizeof id, "skip%04zu", i);
      add(m, id, 1, 0, "no HBV", "", "");
      snprintf(id, sizeof id, "unl%04zu", i);
      add(m, id, -1, 1, "", "img.png", "");
    }
  }
}

static void count(const ds_manifest *m, const char *split, int label, size_t want) {
  size_t *idx, n;
  herr e = {{0}};
  assert_int_equal(ds_select(m, split, label, &idx, &n, &e), 0);
  if (n != want) fail_msg("%s label %d: %zu cases, expected %zu", split, label, n, want);
  free(idx);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "id:split:embed" of every case, sorted by id, to compare assignments across row orders. */
static char *assignment_text(const ds_manifest *m) {
  char **lines = malloc(m->n * sizeof *lines);
  for (size_t i = 0; i < m->n; i++) {
    lines[i] = malloc(64);
    snprintf(lines[i], 64, "%s:%s:%d\n", m->cases[i].case_id, m->cases[i].split, m->cases[i].embed);
  }
  qsort(lines, m->n, sizeof *lines, cmp_str);
  size_t len = 1;
  for (size_t i = 0; i < m->n; i++) len += strlen(lines[i]);
  char *out = calloc(len, 1);
  for (size_t i = 0; i < m->n; i++) {
    strcat(out, lines[i]);
    free(lines[i]);
  }
  free(lines);
  return out;
}

static void splits_are_stratified_with_documented_rounding(void **state) {
  ds_manifest m;
  make_pool(&m, 1000, 300, NULL); /* 30 % positive */
  ds_split_config c = {.embed_per_class = 20, .train = 101, .val = 50, .test = 49, .embed_overlap_train = 1};
  herr e = {{0}};
  assert_int_equal(ds_assign_splits(&m, &c, 7, &e), 0);
  /* Cumulative half-up rounding in the order test, val, train: round(49*.3)=15 (14.7),
   * round(99*.3)=30 (29.7) -> val 15, round(200*.3)=60 -> train 30. */
  count(&m, "test", 1, 15);
  count(&m, "test", 0, 34);
  count(&m, "val", 1, 15);
  count(&m, "val", 0, 35);
  count(&m, "train", 1, 30);
  count(&m, "train", 0, 71);
  count(&m, "train", -1, 101);
  count(&m, "embed", 1, 20);
  count(&m, "embed", 0, 20);
  for (size_t i = 0; i < m.n; i++) {
    const ds_case *k = &m.cases[i];
    if (!k->ok || k->label < 0) {
      assert_string_equal(k->split, "");
      assert_int_equal(k->embed, 0);
    }
    if (k->embed) assert_string_equal(k->split, "train"); /* overlap: the embedding cases train too */
  }
  ds_manifest_free(&m);
}

static void splits_are_deterministic_and_independent_of_row_order(void **state) {
  size_t n = 400, perm[400];
  for (size_t i = 0; i < n; i++) perm[i] = (i * 151 + 17) % n; /* 151 is coprime with 400 */
  ds_split_config c = {.embed_per_class = 10, .train = 100, .val = 60, .test = 60, .embed_overlap_train = 1};
  herr e = {{0}};
  ds_manifest a, b, d;
  make_pool(&a, n, 200, NULL);
  make_pool(&b, n, 200, perm);
  make_pool(&d, n, 200, NULL);
  assert_int_equal(ds_assign_splits(&a, &c, 42, &e), 0);
  assert_int_equal(ds_assign_splits(&b, &c, 42, &e), 0);
  assert_int_equal(ds_assign_splits(&d, &c, 43, &e), 0);
  char *ta = assignment_text(&a), *tb = assignment_text(&b), *td = assignment_text(&d);
  assert_string_equal(ta, tb);
  assert_true(strcmp(ta, td) != 0); /* another seed, another draw */
  /* Assigning again (over an existing assignment) gives the same result. */
  assert_int_equal(ds_assign_splits(&a, &c, 42, &e), 0);
  char *ta2 = assignment_text(&a);
  assert_string_equal(ta, ta2);
  free(ta);
  free(tb);
  free(td);
  free(ta2);
  ds_manifest_free(&a);
  ds_manifest_free(&b);
  ds_manifest_free(&d);
}

static void disjoint_embedding_subset_when_overlap_is_off(void **state) {
  ds_manifest m;
  make_pool(&m, 300, 150, NULL);
  ds_split_config c = {.embed_per_class = 25, .train = 100, .val = 50, .test = 50, .embed_overlap_train = 0};
  herr e = {{0}};
  assert_int_equal(ds_assign_splits(&m, &c, 1, &e), 0);
  count(&m, "embed", 1, 25);
  count(&m, "embed", 0, 25);
  count(&m, "train", -1, 100);
  count(&m, "val", 1, 25);
  for (size_t i = 0; i < m.n; i++)
    if (m.cases[i].embed) assert_string_equal(m.cases[i].split, "");
  /* The train/val/test draw does not depend on the overlap choice. */
  c.embed_overlap_train = 1;
  assert_int_equal(ds_assign_splits(&m, &c, 1, &e), 0);
  size_t *idx, n;
  assert_int_equal(ds_select(&m, "test", -1, &idx, &n, &e), 0);
  ds_manifest again;
  make_pool(&again, 300, 150, NULL);
  c.embed_overlap_train = 0;
  ds_assign_splits(&again, &c, 1, &e);
  for (size_t k = 0; k < n; k++) assert_string_equal(again.cases[idx[k]].split, "test");
  free(idx);
  ds_manifest_free(&again);
  ds_manifest_free(&m);
}

static void paper_config_and_too_few_cases(void **state) {
  ds_split_config c;
  ds_split_config_paper(&c);
  assert_int_equal(c.embed_per_class, 100);
  assert_int_equal(c.train, 200);
  assert_int_equal(c.val, 200);
  assert_int_equal(c.test, 200);
  assert_int_equal(c.embed_overlap_train, 1);
  herr e = {{0}};
  ds_manifest m;
  make_pool(&m, 500, 250, NULL);
  assert_int_equal(ds_assign_splits(&m, &c, 1, &e), -1);
  assert_non_null(strstr(e.msg, "need 600 ok cases with a known label, but only 500 are available (250 positive, 250 negative)"));
  ds_manifest_free(&m);
  /* Enough cases, but a 30 % pool puts only 60 positives in a train split of 200. */
  make_pool(&m, 1000, 300, NULL);
  assert_int_equal(ds_assign_splits(&m, &c, 1, &e), -1);
  assert_non_null(strstr(e.msg, "needs 100 cases of each class from the train split, which holds 60 positive and 140 negative"));
  c.embed_overlap_train = 0;
  assert_int_equal(ds_assign_splits(&m, &c, 1, &e), 0);
  count(&m, "embed", 1, 100);
  count(&m, "train", 1, 60);
  ds_manifest_free(&m);
  make_pool(&m, 700, 200, NULL);
  assert_int_equal(ds_assign_splits(&m, &c, 1, &e), -1);
  assert_non_null(strstr(e.msg, "need 271 positive and 529 negative cases, but 200 positive and 500 negative"));
  c.train = -1;
  assert_int_equal(ds_assign_splits(&m, &c, 1, &e), -1);
  assert_non_null(strstr(e.msg, ">= 0"));
  ds_manifest_free(&m);
}

static void select_checks_its_arguments(void **state) {
  ds_manifest m;
  make_pool(&m, 10, 5, NULL);
  size_t *idx, n;
  herr e = {{0}};
  assert_int_equal(ds_select(&m, "training", -1, &idx, &n, &e), -1);
  assert_non_null(strstr(e.msg, "no split 'training'"));
  assert_int_equal(ds_select(&m, "train", 2, &idx, &n, &e), -1);
  assert_int_equal(ds_select(&m, "train", -1, &idx, &n, &e), 0); /* unassigned: none */
  assert_int_equal(n, 0);
  assert_null(idx);
  ds_manifest_free(&m);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(manifest_round_trips_every_field),
      cmocka_unit_test(malformed_rows_name_line_and_column),
      cmocka_unit_test(reader_finds_columns_by_name),
      cmocka_unit_test(add_refuses_bad_cases),
      cmocka_unit_test(info_json_round_trips),
      cmocka_unit_test(splits_are_stratified_with_documented_rounding),
      cmocka_unit_test(splits_are_deterministic_and_independent_of_row_order),
      cmocka_unit_test(disjoint_embedding_subset_when_overlap_is_off),
      cmocka_unit_test(paper_config_and_too_few_cases),
      cmocka_unit_test(select_checks_its_arguments),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
