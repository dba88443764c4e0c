/* Planner and runner behaviour with small fake stage kinds: identities and deduplication,
 * skip on re-run, failure records, --keep-going, locks across processes, stale attempts,
 * running a stage from its spec alone. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "harness/runner/index.h"
#include "harness/runner/runner.h"
#include "harness/util/fsutil.h"
#include "test_main.h"

/* ---- fake kinds: src -> mid (one per entry of t.mids) -> sink ---- */
static int runs_src, runs_mid, runs_sink;
static int saw_undeclared_key;

static const sch_node t_mid_item = {.type = SCH_STR, .doc = "a mid variant"};
static const sch_node t_fields[] = {
    {.key = "a", .type = SCH_INT, .doc = "src input", .def = "1"},
    {.key = "b", .type = SCH_INT, .doc = "mid input", .def = "2"},
    {.key = "mids", .type = SCH_SEQ, .doc = "mid variants", .def = "[x, y]", .item = &t_mid_item, .min_items = 1},
    {.key = "fail", .type = SCH_STR, .doc = "variant that fails", .def = "''"},
    {.key = "sleep_ms", .type = SCH_INT, .doc = "sleep in src", .def = "0"},
    {.key = NULL},
};
static const sch_node t_schema = {.type = SCH_MAP, .doc = "fake", .fields = t_fields};

static int src_run(stage_ctx *ctx, herr *e) {
  runs_src++;
  long long a, sleep_ms;
  if (cfg_int_at(stage_config(ctx), "t.a", &a, e) || cfg_int_at(stage_config(ctx), "t.sleep_ms", &sleep_ms, e))
    return -1;
  if (cfg_get(stage_config(ctx), "t.b")) saw_undeclared_key = 1;
  if (sleep_ms) nanosleep(&(struct timespec){0, sleep_ms * 1000000L}, NULL);
  char *art = fs_join(stage_artifact_dir(ctx), "note.txt");
  FILE *f = fopen(art, "w");
  fputs("hello\n", f);
  fclose(f);
  free(art);
  return store_put_metric(stage_store(ctx), "value", (double)a * 10.0 + (double)(stage_seed(ctx) % 7), e);
}

static int mid_run(stage_ctx *ctx, herr *e) {
  runs_mid++;
  const char *fail;
  if (cfg_str_at(stage_config(ctx), "t.fail", &fail, e)) return -1;
  if (!strcmp(fail, stage_variant(ctx))) return herr_set(e, "mid %s fails on purpose", stage_variant(ctx));
  store_reader *src = stage_dep_store(ctx, "src", e);
  double v;
  if (!src || store_get_metric(src, "value", &v, e)) return -1;
  long long b;
  if (cfg_int_at(stage_config(ctx), "t.b", &b, e)) return -1;
  return store_put_metric(stage_store(ctx), "value", v + (double)b, e);
}

static int sink_run(stage_ctx *ctx, herr *e) {
  runs_sink++;
  return store_put_metric(stage_store(ctx), "done", 1.0, e);
}

static int mid_variants(const cfg_node *point, char ***out, size_t *n, herr *e) {
  const cfg_node *m = cfg_get(point, "t.mids");
  *out = calloc(m->len + 1, sizeof **out);
  for (size_t i = 0; i < m->len; i++) (*out)[i] = strdup(m->items[i]->str);
  *n = m->len;
  return 0;
}

static int mid_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  *out = calloc(1, sizeof **out);
  (*out)[0] = (stage_dep){.role = "src", .kind = "src", .variant = strdup("")};
  *n = 1;
  return 0;
}

static int sink_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  const cfg_node *m = cfg_get(point, "t.mids");
  static char roles[8][32];
  *out = calloc(m->len + 1, sizeof **out);
  for (size_t i = 0; i < m->len && i < 8; i++) {
    snprintf(roles[i], sizeof roles[i], "mid.%s", m->items[i]->str);
    (*out)[i] = (stage_dep){.role = roles[i], .kind = "mid", .variant = strdup(m->items[i]->str)};
  }
  *n = m->len;
  return 0;
}

static const char *const src_keys[] = {"t.a", NULL};
static const char *const src_runtime[] = {"t.sleep_ms", NULL};
static const char *const mid_keys[] = {"t.b", NULL};
static const char *const mid_runtime[] = {"t.fail", NULL};
static const char *const sink_keys[] = {"t.mids", NULL};
static const stage_kind k_src = {.name = "src", .version = 1, .summary = "s", .section = "t", .schema = &t_schema,
                                 .keys = src_keys, .runtime_keys = src_runtime, .seeded = true, .run = src_run};
static const stage_kind k_mid = {.name = "mid", .version = 1, .summary = "m", .section = "t", .schema = &t_schema,
                                 .keys = mid_keys, .runtime_keys = mid_runtime, .seeded = false,
                                 .variants = mid_variants, .deps = mid_deps, .run = mid_run};
static const stage_kind k_sink = {.name = "sink", .version = 1, .summary = "k", .section = "t", .schema = &t_schema,
                                  .keys = sink_keys, .deps = sink_deps, .run = sink_run};
static const stage_kind *const kinds[] = {&k_src, &k_mid, &k_sink, NULL};

/* ---- helpers ---- */
static plan *plan_yaml(const char *yaml) {
  herr e = {{0}};
  cfg_node *root = cfg_parse_string(yaml, "test.yaml", &e);
  assert_non_null(root);
  sch_report rep = {0};
  plan *p = NULL;
  int rc = plan_build(root, kinds, &p, &rep, &e);
  if (rc) {
    for (size_t i = 0; i < rep.len; i++) fprintf(stderr, "%s\n", rep.msgs[i]);
    fprintf(stderr, "%s\n", e.msg);
  }
  assert_int_equal(rc, 0);
  sch_report_free(&rep);
  cfg_free(root);
  return p;
}

static long find_kind(const plan *p, const char *kind, const char *variant, size_t nth) {
  for (size_t i = 0; i < p->nstages; i++)
    if (!strcmp(p->stages[i].kind->name, kind) && !strcmp(p->stages[i].variant, variant) && nth-- == 0) return (long)i;
  return -1;
}

static size_t count_kind(const plan *p, const char *kind) {
  size_t n = 0;
  for (size_t i = 0; i < p->nstages; i++) n += !strcmp(p->stages[i].kind->name, kind);
  return n;
}

static char *tmp_results(void) {
  char tmpl[] = "/tmp/mdh-runner-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  return strdup(tmpl);
}

static runner_opts quiet_opts(bool keep_going) {
  return (runner_opts){.threads = 1, .device = "cpu", .libtorch_version = "test", .keep_going = keep_going};
}

static int run_plan(const plan *p, const char *dir, bool keep_going, runner_summary *sum) {
  herr e = {{0}};
  assert_int_equal(runner_prepare(p, dir, &e), 0);
  runner_opts o = quiet_opts(keep_going);
  return runner_run(p, dir, kinds, &o, sum, &e);
}

static double metric_of(const char *dir, const char *id, const char *name) {
  char *path = stage_file_path(dir, id, "stage.h5");
  herr e = {{0}};
  store_reader *r = store_open(path, &e);
  if (!r) fprintf(stderr, "%s\n", e.msg);
  assert_non_null(r);
  double v = 0;
  assert_int_equal(store_get_metric(r, name, &v, &e), 0);
  store_reader_close(r);
  free(path);
  return v;
}

static const char base_yaml[] = "name: t\nstages: [sink]\nt: {a: 3}\n";

/* ---- identity and deduplication ---- */
static void identity_ignores_key_order_and_spelling(void **state) {
  plan *p1 = plan_yaml("name: t\nstages: [sink]\nt: {a: 3, b: 2}\n");
  plan *p2 = plan_yaml("name: t\nstages: [sink]\nt: {b: 2, a: 0x3}\n");
  assert_int_equal(p1->nstages, 4);
  assert_int_equal(p2->nstages, 4);
  for (size_t i = 0; i < p1->nstages; i++) assert_string_equal(p1->stages[i].id, p2->stages[i].id);
  plan_free(p1);
  plan_free(p2);
}

static void changed_key_changes_only_dependent_identities(void **state) {
  plan *p1 = plan_yaml("name: t\nstages: [sink]\nt: {a: 3, b: 2}\n");
  plan *p2 = plan_yaml("name: t\nstages: [sink]\nt: {a: 3, b: 5}\n");
  long s1 = find_kind(p1, "src", "", 0), s2 = find_kind(p2, "src", "", 0);
  assert_string_equal(p1->stages[s1].id, p2->stages[s2].id);
  assert_string_not_equal(p1->stages[find_kind(p1, "mid", "x", 0)].id, p2->stages[find_kind(p2, "mid", "x", 0)].id);
  assert_string_not_equal(p1->stages[find_kind(p1, "sink", "", 0)].id, p2->stages[find_kind(p2, "sink", "", 0)].id);
  plan_free(p1);
  plan_free(p2);
}

static void runtime_keys_stay_out_of_identity(void **state) {
  plan *p1 = plan_yaml("name: t\nstages: [sink]\nt: {sleep_ms: 0}\n");
  plan *p2 = plan_yaml("name: t\nstages: [sink]\nt: {sleep_ms: 50, fail: x}\n");
  for (size_t i = 0; i < p1->nstages; i++) assert_string_equal(p1->stages[i].id, p2->stages[i].id);
  plan_free(p1);
  plan_free(p2);
}

static void shared_stages_are_planned_once(void **state) {
  plan *p = plan_yaml("name: t\nstages: [sink]\nsweep:\n  grid:\n    t.b: [1, 2, 3]\n");
  assert_int_equal(p->npoints, 3);
  assert_int_equal(count_kind(p, "src"), 1);
  assert_int_equal(count_kind(p, "mid"), 6);
  assert_int_equal(count_kind(p, "sink"), 3);
  long s = find_kind(p, "src", "", 0);
  assert_int_equal(p->stages[s].npoints, 3);
  /* every point lists its stages upstream first */
  for (size_t i = 0; i < p->npoints; i++) {
    assert_int_equal(p->point_nstages[i], 4);
    assert_int_equal(p->point_stages[i][0], (size_t)s);
  }
  plan_free(p);
}

/* Many stages with several upstream stages each: the stage table grows (and moves) while a
 * stage's upstream stages are being planned; every recorded upstream id must stay right. */
static void upstream_ids_survive_growth_of_the_stage_table(void **state) {
  plan *p = plan_yaml("name: t\nstages: [sink]\nt: {mids: [p, q, r, s]}\nsweep: {grid: {t.a: {from: 1, to: 60, step: 1}}}\n");
  assert_int_equal(p->npoints, 60);
  assert_int_equal(p->nstages, 60 * 6);
  for (size_t i = 0; i < p->nstages; i++) {
    const plan_stage *s = &p->stages[i];
    const cfg_node *deps = cfg_map_get(s->spec, "deps");
    assert_int_equal(deps->len, s->ndeps);
    for (size_t d = 0; d < s->ndeps; d++) {
      assert_true(s->deps[d] < i);
      assert_string_equal(cfg_map_get(deps, s->dep_roles[d])->str, p->stages[s->deps[d]].id);
    }
    char id[PLAN_ID_MAX];
    plan_identity(s->spec, s->kind->name, id, NULL);
    assert_string_equal(id, s->id);
  }
  plan_free(p);
}

static void seeds_separate_seeded_stages(void **state) {
  plan *p = plan_yaml("name: t\nstages: [sink]\nsweep:\n  seeds: 2\n");
  assert_int_equal(count_kind(p, "src"), 2);
  /* mid is not seeded itself but its upstream identity differs, so it differs too */
  assert_int_equal(count_kind(p, "mid"), 4);
  assert_true(p->stages[find_kind(p, "src", "", 0)].seed != p->stages[find_kind(p, "src", "", 1)].seed);
  plan_free(p);
}

static void stage_seed_depends_only_on_identity(void **state) {
  plan *p1 = plan_yaml("name: t\nstages: [sink]\nseed: 4\n");
  plan *p2 = plan_yaml("name: other\nstages: [sink]\nseed: 4\nsweep: {grid: {t.b: [7, 2]}}\n");
  long a = find_kind(p1, "src", "", 0), b = find_kind(p2, "src", "", 0);
  assert_string_equal(p1->stages[a].id, p2->stages[b].id);
  assert_true(p1->stages[a].seed == p2->stages[b].seed);
  assert_true(p1->stages[a].seed < (1ULL << 63));
  plan_free(p1);
  plan_free(p2);
}

static void invalid_point_reports_location_and_key(void **state) {
  herr e = {{0}};
  cfg_node *root = cfg_parse_string("name: t\nstages: [sink]\nt:\n  a: 3\n  bb: 2\n", "bad.yaml", &e);
  sch_report rep = {0};
  plan *p = NULL;
  assert_int_equal(plan_build(root, kinds, &p, &rep, &e), -1);
  assert_null(p);
  assert_int_equal(rep.len, 1);
  assert_non_null(strstr(rep.msgs[0], "bad.yaml:5:3"));
  assert_non_null(strstr(rep.msgs[0], "t.bb"));
  assert_non_null(strstr(rep.msgs[0], "did you mean 'b'"));
  sch_report_free(&rep);
  cfg_free(root);
}

static void unknown_stage_kind_is_reported(void **state) {
  herr e = {{0}};
  cfg_node *root = cfg_parse_string("name: t\nstages: [snik]\n", "bad.yaml", &e);
  sch_report rep = {0};
  plan *p = NULL;
  assert_int_equal(plan_build(root, kinds, &p, &rep, &e), -1);
  assert_true(rep.len >= 1);
  assert_non_null(strstr(rep.msgs[0], "bad.yaml:2:10"));
  assert_non_null(strstr(rep.msgs[0], "sink"));
  sch_report_free(&rep);
  cfg_free(root);
}

/* ---- running ---- */
static void run_completes_then_skips_everything(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml(base_yaml);
  runs_src = runs_mid = runs_sink = 0;
  runner_summary sum;
  assert_int_equal(run_plan(p, dir, false, &sum), 0);
  assert_int_equal(sum.ran, 4);
  assert_int_equal(runs_src + runs_mid + runs_sink, 4);
  long s = find_kind(p, "src", "", 0);
  double v = metric_of(dir, p->stages[s].id, "value");
  assert_true(v == 30.0 + (double)(p->stages[s].seed % 7));
  assert_true(metric_of(dir, p->stages[find_kind(p, "mid", "y", 0)].id, "value") == v + 2.0);
  char *art = stage_file_path(dir, p->stages[s].id, "artifacts/note.txt");
  assert_true(fs_exists(art));
  free(art);
  assert_int_equal(run_plan(p, dir, false, &sum), 0);
  assert_int_equal(sum.ran, 0);
  assert_int_equal(sum.already, 4);
  assert_int_equal(runs_src + runs_mid + runs_sink, 4);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void stage_sees_only_declared_keys(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml(base_yaml);
  saw_undeclared_key = 0;
  runner_summary sum;
  assert_int_equal(run_plan(p, dir, false, &sum), 0);
  assert_int_equal(saw_undeclared_key, 0);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void failure_is_recorded_and_stops_the_run(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml("name: t\nstages: [sink]\nt: {fail: x}\n");
  runner_summary sum;
  assert_int_equal(run_plan(p, dir, false, &sum), 1);
  assert_int_equal(sum.failed, 1);
  long x = find_kind(p, "mid", "x", 0), y = find_kind(p, "mid", "y", 0), k = find_kind(p, "sink", "", 0);
  char *msg = stage_dir_failure(dir, p->stages[x].id);
  assert_non_null(msg);
  assert_string_equal(msg, "mid x fails on purpose");
  free(msg);
  assert_int_equal(stage_dir_state(dir, p->stages[x].id), STAGE_FAILED);
  assert_false(stage_dir_complete(dir, p->stages[x].id));
  /* without keep_going the run stops at the failure: y (planned after x) is not reached */
  assert_int_equal(stage_dir_state(dir, p->stages[y].id), STAGE_PENDING);
  assert_int_equal(sum.not_reached + sum.blocked, 2);
  stage_state *st = runner_states(p, dir);
  assert_int_equal(st[k], STAGE_BLOCKED);
  free(st);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void keep_going_runs_what_does_not_depend_on_a_failure(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml("name: t\nstages: [sink]\nt: {fail: x}\nsweep: {grid: {t.a: [1, 2]}}\n");
  runner_summary sum;
  assert_int_equal(run_plan(p, dir, true, &sum), 1);
  assert_int_equal(sum.failed, 2);   /* mid x of both points */
  assert_int_equal(sum.blocked, 2);  /* both sinks */
  assert_int_equal(sum.ran, 4);      /* both srcs and both mid y */
  assert_int_equal(stage_dir_state(dir, p->stages[find_kind(p, "mid", "y", 1)].id), STAGE_COMPLETE);
  plan_free(p);
  /* the failure gone (a runtime key, so the same stages), a re-run retries and completes */
  p = plan_yaml("name: t\nstages: [sink]\nsweep: {grid: {t.a: [1, 2]}}\n");
  assert_int_equal(run_plan(p, dir, false, &sum), 0);
  assert_int_equal(sum.ran, 4);
  assert_int_equal(sum.already, 4);
  long x = find_kind(p, "mid", "x", 0);
  char *failed = stage_file_path(dir, p->stages[x].id, "failed.json");
  assert_false(fs_exists(failed));
  free(failed);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void stale_attempt_is_cleared_and_never_counts_as_complete(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml(base_yaml);
  herr e = {{0}};
  assert_int_equal(runner_prepare(p, dir, &e), 0);
  long s = find_kind(p, "src", "", 0);
  /* what a kill -9 between the two renames leaves: a work folder and artifacts/, no stage.h5 */
  char *work = stage_file_path(dir, p->stages[s].id, "work.99999/artifacts");
  char *arts = stage_file_path(dir, p->stages[s].id, "artifacts");
  assert_int_equal(fs_mkdir_p(work, &e), 0);
  assert_int_equal(fs_mkdir_p(arts, &e), 0);
  assert_int_equal(stage_dir_state(dir, p->stages[s].id), STAGE_PENDING);
  runner_summary sum;
  runs_src = 0;
  assert_int_equal(run_plan(p, dir, false, &sum), 0);
  assert_int_equal(runs_src, 1);
  char *work_root = stage_file_path(dir, p->stages[s].id, "work.99999");
  assert_false(fs_exists(work_root));
  free(work_root);
  free(work);
  free(arts);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void lock_is_exclusive_across_processes_and_dies_with_holder(void **state) {
  char *dir = tmp_results();
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid_t child = fork();
  if (child == 0) {
    int fd;
    int got = stage_lock_try(dir, "src-0000000000000000", &fd, NULL);
    char c = got == 1 ? 'y' : 'n';
    if (write(pipefd[1], &c, 1) != 1) _exit(2);
    pause();
    _exit(0);
  }
  char c;
  assert_int_equal(read(pipefd[0], &c, 1), 1);
  assert_int_equal(c, 'y');
  int fd;
  assert_int_equal(stage_lock_try(dir, "src-0000000000000000", &fd, NULL), 0);
  assert_int_equal(stage_dir_state(dir, "src-0000000000000000"), STAGE_RUNNING);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  assert_int_equal(stage_lock_try(dir, "src-0000000000000000", &fd, NULL), 1);
  stage_lock_release(fd);
  assert_int_equal(stage_dir_state(dir, "src-0000000000000000"), STAGE_PENDING);
  close(pipefd[0]);
  close(pipefd[1]);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void busy_stage_is_waited_for_not_run_twice(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml("name: t\nstages: [sink]\nt: {sleep_ms: 300}\n");
  herr e = {{0}};
  assert_int_equal(runner_prepare(p, dir, &e), 0);
  pid_t child = fork();
  if (child == 0) {
    runner_summary sum;
    runner_opts o = quiet_opts(false);
    /* report how many stages the child ran through its exit status (freeing first, so that
     * memcheck runs of this program see no leak in the child) */
    int code = runner_run(p, dir, kinds, &o, &sum, &e) == 0 ? (int)sum.ran : 100;
    plan_free(p);
    free(dir);
    _exit(code);
  }
  /* let the child take src's lock, then run the same plan here */
  long s = find_kind(p, "src", "", 0);
  for (int i = 0; i < 200 && stage_dir_state(dir, p->stages[s].id) != STAGE_RUNNING; i++)
    nanosleep(&(struct timespec){0, 5000000L}, NULL);
  runs_src = runs_mid = runs_sink = 0;
  runner_summary sum;
  runner_opts o = quiet_opts(false);
  assert_int_equal(runner_run(p, dir, kinds, &o, &sum, &e), 0);
  int status;
  waitpid(child, &status, 0);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 4);
  assert_int_equal(runs_src, 0); /* the child held src; this process waited instead of running it */
  /* the two processes shared the rest: every stage ran exactly once in all */
  assert_int_equal(WEXITSTATUS(status) + (int)sum.ran, 4);
  assert_int_equal(runs_src + runs_mid + runs_sink, (int)sum.ran);
  assert_int_equal(sum.ran + sum.already, 4);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void stage_runs_from_its_spec_file_alone(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml(base_yaml);
  herr e = {{0}};
  assert_int_equal(runner_prepare(p, dir, &e), 0);
  long s = find_kind(p, "src", "", 0), x = find_kind(p, "mid", "x", 0);
  runner_opts o = quiet_opts(false);
  cfg_node *spec_x = stage_dir_read_spec(dir, p->stages[x].id, &e);
  assert_non_null(spec_x);
  /* upstream incomplete: refused, nothing recorded */
  assert_int_equal(stage_execute(dir, p->stages[x].id, spec_x, kinds, &o, false, &e), EXEC_ERROR);
  assert_non_null(strstr(e.msg, "not complete"));
  cfg_node *spec_s = stage_dir_read_spec(dir, p->stages[s].id, &e);
  assert_int_equal(stage_execute(dir, p->stages[s].id, spec_s, kinds, &o, false, &e), EXEC_RAN);
  assert_int_equal(stage_execute(dir, p->stages[x].id, spec_x, kinds, &o, false, &e), EXEC_RAN);
  assert_int_equal(stage_execute(dir, p->stages[x].id, spec_x, kinds, &o, false, &e), EXEC_ALREADY);
  assert_true(metric_of(dir, p->stages[x].id, "value") == metric_of(dir, p->stages[s].id, "value") + 2.0);
  cfg_free(spec_x);
  cfg_free(spec_s);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void edited_spec_is_refused(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml(base_yaml);
  herr e = {{0}};
  assert_int_equal(runner_prepare(p, dir, &e), 0);
  long s = find_kind(p, "src", "", 0);
  char *path = stage_file_path(dir, p->stages[s].id, "spec.yaml");
  char *text = fs_read_file(path, NULL, &e);
  char *a = strstr(text, "a: 3");
  assert_non_null(a);
  a[3] = '4';
  assert_int_equal(fs_write_atomic(path, text, strlen(text), &e), 0);
  assert_null(stage_dir_read_spec(dir, p->stages[s].id, &e));
  assert_non_null(strstr(e.msg, "does not hash to"));
  /* planning again notices the conflict instead of trusting the edited file */
  assert_int_equal(runner_prepare(p, dir, &e), -1);
  assert_non_null(strstr(e.msg, "differs from the spec"));
  free(text);
  free(path);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void waiting_for_a_lock_stops_on_a_signal(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml(base_yaml);
  herr e = {{0}};
  assert_int_equal(runner_prepare(p, dir, &e), 0);
  long s = find_kind(p, "src", "", 0);
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid_t holder = fork();
  if (holder == 0) {
    int fd;
    char c = stage_lock_try(dir, p->stages[s].id, &fd, NULL) == 1 ? 'y' : 'n';
    if (write(pipefd[1], &c, 1) != 1) _exit(2);
    pause();
    _exit(0);
  }
  char c;
  assert_int_equal(read(pipefd[0], &c, 1), 1);
  assert_int_equal(c, 'y');
  runner_install_signals();
  pid_t me = getpid();
  pid_t signaller = fork();
  if (signaller == 0) {
    nanosleep(&(struct timespec){0, 300000000L}, NULL);
    kill(me, SIGTERM);
    _exit(0);
  }
  runner_opts o = quiet_opts(false);
  runs_src = 0;
  assert_int_equal(stage_execute(dir, p->stages[s].id, p->stages[s].spec, kinds, &o, true, &e), EXEC_INTERRUPTED);
  assert_int_equal(runs_src, 0);
  waitpid(signaller, NULL, 0);
  kill(holder, SIGKILL);
  waitpid(holder, NULL, 0);
  /* the holder is gone: the lock is free, and an interrupted process still refuses to start */
  assert_int_equal(stage_execute(dir, p->stages[s].id, p->stages[s].spec, kinds, &o, true, &e), EXEC_INTERRUPTED);
  assert_int_equal(runs_src, 0);
  runner_interrupted = 0;
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  close(pipefd[0]);
  close(pipefd[1]);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void spec_carries_the_device_outside_the_identity(void **state) {
  plan *p1 = plan_yaml("name: t\nstages: [sink]\ndevice: cpu\n");
  plan *p2 = plan_yaml("name: t\nstages: [sink]\ndevice: cuda:1\n");
  for (size_t i = 0; i < p1->nstages; i++) {
    assert_string_equal(p1->stages[i].id, p2->stages[i].id);
    assert_string_equal(cfg_get(p1->stages[i].spec, "runtime.device")->str, "cpu");
    assert_string_equal(cfg_get(p2->stages[i].spec, "runtime.device")->str, "cuda:1");
  }
  plan_free(p1);
  plan_free(p2);
}

static void index_with_inconsistent_sizes_is_refused(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml("name: idx\nstages: [sink]\nsweep: {seeds: 3}\n");
  herr e = {{0}};
  assert_int_equal(runner_prepare(p, dir, &e), 0);
  /* replace points/seed by a much longer dataset, as a damaged or hand-made file might have */
  char *path = fs_join(dir, "index.h5");
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  assert_true(f >= 0);
  assert_true(H5Ldelete(f, "points/seed", H5P_DEFAULT) >= 0);
  hsize_t n = 200000;
  long long *big = calloc(n, sizeof *big);
  hid_t space = H5Screate_simple(1, &n, NULL);
  hid_t ds = H5Dcreate2(f, "points/seed", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(H5Dwrite(ds, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, big) >= 0);
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(f);
  free(big);
  index_data *d = index_read(dir, &e);
  assert_null(d);
  assert_non_null(strstr(e.msg, "not a complete sweep index"));
  /* and a file that is not an index at all */
  FILE *junk = fopen(path, "w");
  fputs("not hdf5", junk);
  fclose(junk);
  assert_null(index_read(dir, &e));
  assert_non_null(strstr(e.msg, "not a readable HDF5 file"));
  free(path);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void index_lists_points_and_stages(void **state) {
  char *dir = tmp_results();
  plan *p = plan_yaml("name: idx\nstages: [sink]\nsweep: {grid: {t.b: [1, 2]}, seeds: [5, 6]}\n");
  herr e = {{0}};
  assert_int_equal(runner_prepare(p, dir, &e), 0);
  index_data *d = index_read(dir, &e);
  assert_non_null(d);
  assert_string_equal(d->name, "idx");
  assert_int_equal(d->npoints, 4);
  assert_int_equal(d->nstages, p->nstages);
  assert_string_equal(d->point_labels[1], "t.b=1 seed=6");
  assert_true(d->point_seeds[1] == 6);
  assert_string_equal(d->stage_ids[0], p->stages[0].id);
  assert_non_null(strstr(d->point_stages[3], p->stages[p->point_stages[3][0]].id));
  index_free(d);
  plan_free(p);
  fs_remove_tree(dir, NULL);
  free(dir);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(identity_ignores_key_order_and_spelling),
      cmocka_unit_test(changed_key_changes_only_dependent_identities),
      cmocka_unit_test(runtime_keys_stay_out_of_identity),
      cmocka_unit_test(shared_stages_are_planned_once),
      cmocka_unit_test(upstream_ids_survive_growth_of_the_stage_table),
      cmocka_unit_test(seeds_separate_seeded_stages),
      cmocka_unit_test(stage_seed_depends_only_on_identity),
      cmocka_unit_test(invalid_point_reports_location_and_key),
      cmocka_unit_test(unknown_stage_kind_is_reported),
      cmocka_unit_test(run_completes_then_skips_everything),
      cmocka_unit_test(stage_sees_only_declared_keys),
      cmocka_unit_test(failure_is_recorded_and_stops_the_run),
      cmocka_unit_test(keep_going_runs_what_does_not_depend_on_a_failure),
      cmocka_unit_test(stale_attempt_is_cleared_and_never_counts_as_complete),
      cmocka_unit_test(lock_is_exclusive_across_processes_and_dies_with_holder),
      cmocka_unit_test(busy_stage_is_waited_for_not_run_twice),
      cmocka_unit_test(stage_runs_from_its_spec_file_alone),
      cmocka_unit_test(edited_spec_is_refused),
      cmocka_unit_test(waiting_for_a_lock_stops_on_a_signal),
      cmocka_unit_test(spec_carries_the_device_outside_the_identity),
      cmocka_unit_test(index_with_inconsistent_sizes_is_refused),
      cmocka_unit_test(index_lists_points_and_stages),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
