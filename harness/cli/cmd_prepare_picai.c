/* `harness prepare picai`: PI-CAI cases (images + picai_labels) to the paper's 2D RGB slices,
 * written as a dataset directory (harness/data/dataset.h) with one manifest row per case, and a
 * reason for every case that was skipped. Cases run in parallel; the manifest keeps id order. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli/cli.h"
#include "harness/data/dataset.h"
#include "harness/formats/png.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"
#include "harness/volume/picai.h"

static const char picai_usage[] =
    "usage: harness prepare picai --images DIR --labels DIR --out DIR [options]\n"
    "\n"
    "The paper's PI-CAI recipe: per case, T2W, ADC and HBV resampled onto one grid in world\n"
    "coordinates (T2W's origin and direction, spacing Z,Y,X), min-max normalised to [0, 1],\n"
    "centre-cropped or padded to SIZE; the slice with the largest csPCa lesion area (positive)\n"
    "or the middle slice of the whole-gland mask (negative) as an RGB image (T2W, ADC, HBV),\n"
    "resized (Lanczos) to a square 8-bit PNG. A case whose files are missing, unreadable or\n"
    "truncated, or whose volumes do not lie on T2W's anatomy, is skipped with its reason in\n"
    "manifest.csv. harness/volume/README.md has the details.\n"
    "\n"
    "  --images DIR           <DIR>/<patient_id>/<patient_id>_<study_id>_{t2w,adc,hbv}.mha\n"
    "                         (PI-CAI's picai_public_images_fold*; .mhd, .nii, .nii.gz too)\n"
    "  --labels DIR           a picai_labels checkout (csPCa_lesion_delineations/,\n"
    "                         anatomical_delineations/, clinical_information/marksheet.csv)\n"
    "  --out DIR              dataset directory (created; images/ and manifest.csv replaced)\n"
    "\n"
    "options:\n"
    "  --label-set S          human (human_expert/resampled, default), ai (AI/Bosma22a) or\n"
    "                         human-then-ai (human where there is one, else AI)\n"
    "  --marksheet M          check (default): skip a case whose delineation disagrees with\n"
    "                         the marksheet's case_csPCa; ignore: do not read it\n"
    "  --spacing Z,Y,X        target spacing in mm (default 3.0,0.5,0.5)\n"
    "  --size Z,Y,X           target grid after centre crop/pad (default 30,300,300)\n"
    "  --image-size N         PNG side in pixels (default 512)\n"
    "  --direction-tol DEG    largest angle between an ADC/HBV/label axis and T2W's (default 5)\n"
    "  --min-overlap F        fraction of T2W's crop each other volume must cover (default 0.5)\n"
    "  --threads N            cases prepared in parallel (default: one per core)\n"
    "  --quiet                no progress output\n"
    "  -h, --help             this text\n";

typedef struct job {
  const picai_case *cases;
  picai_result *results;
  size_t n, next, done;
  const picai_params *p;
  const char *out;
  pthread_mutex_t mu;
  progress *bar;
} job;

static char *image_rel(const char *case_id) {
  strbuf sb = STRBUF_INIT;
  sb_appendf(&sb, "images/%s.png", case_id);
  return sb_take(&sb);
}

static void *worker(void *arg) {
  job *j = arg;
  for (;;) {
    pthread_mutex_lock(&j->mu);
    size_t i = j->next++;
    pthread_mutex_unlock(&j->mu);
    if (i >= j->n) return NULL;
    const picai_case *c = &j->cases[i];
    picai_result *r = &j->results[i];
    picai_process_case(c, j->p, r);
    char *rel = image_rel(c->case_id), *path = fs_join(j->out, rel);
    if (r->ok) {
      herr e;
      herr_clear(&e);
      png_text_kv kv[] = {{"case_id", c->case_id}};
      if (png_write8(path, r->rgb, (uint32_t)j->p->image_side, (uint32_t)j->p->image_side, 3, kv, 1, &e)) {
        r->ok = false;
        r->kind = PICAI_SKIP_BAD_FILE;
        snprintf(r->reason, sizeof r->reason, "writing the image: %.900s", e.msg);
      }
    }
    if (!r->ok) unlink(path); /* no stale image from an earlier run for a skipped case */
    free(r->rgb);
    r->rgb = NULL;
    free(rel);
    free(path);
    pthread_mutex_lock(&j->mu);
    j->done++;
    if (j->bar) {
      if (!r->ok) progress_log(j->bar, "skipped %s: %s", c->case_id, r->reason);
      progress_update(j->bar, j->done);
    }
    pthread_mutex_unlock(&j->mu);
  }
}

/* "a,b,c" of three positive numbers into out[2], out[1], out[0] (Z,Y,X -> x, y, z). */
static int parse_triple(const char *opt, const char *text, bool whole, double out[3]) {
  double v[3];
  const char *p = text;
  for (int i = 0; i < 3; i++) {
    char *end;
    v[i] = strtod(p, &end);
    if (end == p || !(v[i] > 0) || v[i] > 1e6 || (whole && v[i] != (double)(long)v[i])) goto bad;
    p = end;
    if (i < 2) {
      if (*p != ',') goto bad;
      p++;
    }
  }
  if (*p) goto bad;
  out[0] = v[2], out[1] = v[1], out[2] = v[0];
  return 0;
bad:
  fprintf(stderr, "harness prepare picai: %s expects Z,Y,X (three %s), got '%s'\n", opt,
          whole ? "whole numbers >= 1" : "numbers > 0", text);
  return -1;
}

static char *params_json(const picai_params *p, const char *images, const char *labels, picai_label_set set,
                         const char *marks, int threads) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "images", images);
  cJSON_AddStringToObject(o, "labels", labels);
  cJSON_AddStringToObject(o, "label_set", picai_label_set_name(set));
  cJSON_AddStringToObject(o, "marksheet", marks);
  double sp[3] = {p->spacing[2], p->spacing[1], p->spacing[0]};
  double sz[3] = {(double)p->size[2], (double)p->size[1], (double)p->size[0]};
  cJSON_AddItemToObject(o, "spacing_zyx_mm", cJSON_CreateDoubleArray(sp, 3));
  cJSON_AddItemToObject(o, "size_zyx", cJSON_CreateDoubleArray(sz, 3));
  cJSON_AddStringToObject(o, "interpolation", "trilinear images, nearest labels, world coordinates");
  cJSON_AddStringToObject(o, "normalisation", "min-max to [0, 1] per sequence over the covered crop");
  cJSON_AddNumberToObject(o, "image_size", p->image_side);
  cJSON_AddStringToObject(o, "resize", "lanczos");
  cJSON_AddStringToObject(o, "channels", "T2W, ADC, HBV");
  cJSON_AddNumberToObject(o, "direction_tol_deg", p->direction_tol);
  cJSON_AddNumberToObject(o, "min_overlap", p->min_overlap);
  (void)threads; /* results do not depend on it, so it stays out of the provenance */
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!s) abort();
  return s;
}

static char *source_text(const picai_case *c) {
  strbuf sb = STRBUF_INIT;
  const char *keys[] = {"t2w", "adc", "hbv", "lesion", "gland"};
  const char *vals[] = {c->t2w, c->adc, c->hbv, c->lesion, c->gland};
  for (int i = 0; i < 5; i++)
    if (vals[i]) sb_appendf(&sb, "%s%s=%s", sb.len ? ";" : "", keys[i], vals[i]);
  return sb_take(&sb);
}

int cmd_prepare_picai(int argc, char **argv) {
  enum {
    O_IMAGES = 256,
    O_LABELS,
    O_OUT,
    O_SET,
    O_MARKS,
    O_SPACING,
    O_SIZE,
    O_IMGSIZE,
    O_DIRTOL,
    O_OVERLAP,
    O_THREADS,
    O_QUIET
  };
  static const struct option opts[] = {{"images", required_argument, NULL, O_IMAGES},
                                       {"labels", required_argument, NULL, O_LABELS},
                                       {"out", required_argument, NULL, O_OUT},
                                       {"label-set", required_argument, NULL, O_SET},
                                       {"marksheet", required_argument, NULL, O_MARKS},
                                       {"spacing", required_argument, NULL, O_SPACING},
                                       {"size", required_argument, NULL, O_SIZE},
                                       {"image-size", required_argument, NULL, O_IMGSIZE},
                                       {"direction-tol", required_argument, NULL, O_DIRTOL},
                                       {"min-overlap", required_argument, NULL, O_OVERLAP},
                                       {"threads", required_argument, NULL, O_THREADS},
                                       {"quiet", no_argument, NULL, O_QUIET},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *images = NULL, *labels = NULL, *out = NULL;
  picai_params p;
  picai_params_paper(&p);
  picai_label_set set = PICAI_LABELS_HUMAN;
  bool marks = true, quiet = false;
  int threads = 0;
  herr e;
  herr_clear(&e);
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    double t[3];
    switch (opt) {
      case O_IMAGES:
        images = optarg;
        break;
      case O_LABELS:
        labels = optarg;
        break;
      case O_OUT:
        out = optarg;
        break;
      case O_SET:
        if (picai_label_set_parse(optarg, &set, &e)) {
          fprintf(stderr, "harness prepare picai: --label-set: %s\n", e.msg);
          return EXIT_USAGE;
        }
        break;
      case O_MARKS:
        if (strcmp(optarg, "check") && strcmp(optarg, "ignore")) {
          fprintf(stderr, "harness prepare picai: --marksheet expects check or ignore, got '%s'\n", optarg);
          return EXIT_USAGE;
        }
        marks = !strcmp(optarg, "check");
        break;
      case O_SPACING:
        if (parse_triple("--spacing", optarg, false, p.spacing)) return EXIT_USAGE;
        break;
      case O_SIZE:
        if (parse_triple("--size", optarg, true, t)) return EXIT_USAGE;
        for (int a = 0; a < 3; a++) p.size[a] = (size_t)t[a];
        if ((double)p.size[0] * p.size[1] * p.size[2] > 1e8) {
          fprintf(stderr, "harness prepare picai: --size %s is more than 10^8 voxels\n", optarg);
          return EXIT_USAGE;
        }
        break;
      case O_IMGSIZE:
        if (cli_parse_int("prepare picai", "--image-size", optarg, 8, 8192, &p.image_side)) return EXIT_USAGE;
        break;
      case O_DIRTOL:
        if (cli_parse_double("prepare picai", "--direction-tol", optarg, 0, 180, &p.direction_tol)) return EXIT_USAGE;
        break;
      case O_OVERLAP:
        if (cli_parse_double("prepare picai", "--min-overlap", optarg, 0, 1, &p.min_overlap)) return EXIT_USAGE;
        break;
      case O_THREADS:
        if (cli_parse_int("prepare picai", "--threads", optarg, 0, 1024, &threads)) return EXIT_USAGE;
        break;
      case O_QUIET:
        quiet = true;
        break;
      case 'h':
        fputs(picai_usage, stdout);
        return EXIT_OK;
      case ':':
        fprintf(stderr, "harness prepare picai: option '%s' needs a value\n\n%s", argv[optind - 1], picai_usage);
        return EXIT_USAGE;
      default:
        fprintf(stderr, "harness prepare picai: unknown option '%s'\n\n%s", argv[optind - 1], picai_usage);
        return EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "harness prepare picai: unexpected argument '%s'\n\n%s", argv[optind], picai_usage);
    return EXIT_USAGE;
  }
  if (!images || !labels || !out || !out[0]) {
    fprintf(stderr, "harness prepare picai: --images, --labels and --out are required\n\n%s", picai_usage);
    return EXIT_USAGE;
  }

  picai_case *cases = NULL;
  size_t n = 0;
  if (picai_discover(images, labels, set, &cases, &n, &e)) {
    fprintf(stderr, "harness prepare picai: %s\n", e.msg);
    return EXIT_USAGE;
  }
  if (n == 0) {
    fprintf(stderr,
            "harness prepare picai: no cases under %s (expected <patient_id>/<patient_id>_<study_id>_t2w.mha)\n",
            images);
    free(cases);
    return EXIT_USAGE;
  }
  int rc = EXIT_ERROR;
  picai_marksheet *ms = NULL;
  picai_result *res = calloc(n, sizeof *res);
  char *imgdir = fs_join(out, "images");
  if (!res) abort();
  progress *bar = quiet ? NULL : progress_new(stderr, progress_is_terminal(stderr));
  if (marks) {
    char *mpath = fs_join(labels, "clinical_information/marksheet.csv");
    if (fs_exists(mpath)) {
      ms = picai_marksheet_read(mpath, &e);
      if (!ms && e.msg[0]) {
        fprintf(stderr, "harness prepare picai: %s\n", e.msg);
        free(mpath);
        goto done;
      }
      if (!ms && bar) progress_log(bar, "%s has no case_csPCa column: labels are not cross-checked", mpath);
    } else if (bar) {
      progress_log(bar, "no %s: labels are not cross-checked against the marksheet", mpath);
    }
    free(mpath);
  }
  if (fs_mkdir_p(imgdir, &e)) {
    fprintf(stderr, "harness prepare picai: %s\n", e.msg);
    goto done;
  }

  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int nt = threads > 0 ? threads : cores > 0 ? (int)cores : 1;
  if ((size_t)nt > n) nt = (int)n;
  job j = {.cases = cases, .results = res, .n = n, .p = &p, .out = out, .bar = bar};
  pthread_mutex_init(&j.mu, NULL);
  if (bar) progress_begin(bar, "picai", "preparing cases", n);
  pthread_t *tids = calloc((size_t)nt, sizeof *tids);
  if (!tids) abort();
  int started = 0;
  for (int t = 1; t < nt; t++)
    if (pthread_create(&tids[t], NULL, worker, &j) == 0)
      started = t;
    else
      break;
  worker(&j);
  for (int t = 1; t <= started; t++) pthread_join(tids[t], NULL);
  free(tids);
  pthread_mutex_destroy(&j.mu);
  if (bar) progress_end(bar);

  ds_manifest m;
  if (ds_manifest_init(&m, out, &e)) {
    fprintf(stderr, "harness prepare picai: %s\n", e.msg);
    goto done;
  }
  size_t nok = 0, npos = 0, by_kind[PICAI_SKIP_KINDS] = {0};
  for (size_t i = 0; i < n; i++) {
    picai_result *r = &res[i];
    int mark = picai_marksheet_lookup(ms, cases[i].case_id);
    if (r->ok && mark >= 0 && mark != r->label) {
      r->ok = false;
      r->kind = PICAI_SKIP_LABEL_CONFLICT;
      snprintf(r->reason, sizeof r->reason, "the %s delineation says %s but the marksheet's case_csPCa is %s",
               cases[i].lesion_set, r->label ? "csPCa" : "no csPCa", mark ? "YES" : "NO");
      char *rel = image_rel(cases[i].case_id), *png = fs_join(out, rel);
      unlink(png);
      free(png);
      free(rel);
      if (bar) progress_log(bar, "skipped %s: %s", cases[i].case_id, r->reason);
    }
    char *rel = image_rel(cases[i].case_id), *src = source_text(&cases[i]);
    ds_case dc = {.case_id = cases[i].case_id,
                  .label = r->label,
                  .ok = r->ok,
                  .reason = r->ok ? "" : r->reason,
                  .image = r->ok ? rel : "",
                  .mask = "",
                  .slice = r->slice,
                  .split = "",
                  .embed = 0,
                  .source = src};
    int arc = ds_manifest_add(&m, &dc, &e);
    free(rel);
    free(src);
    if (arc) {
      fprintf(stderr, "harness prepare picai: %s\n", e.msg);
      ds_manifest_free(&m);
      goto done;
    }
    if (r->ok)
      nok++, npos += r->label == 1;
    else
      by_kind[r->kind]++;
  }
  char *pj = params_json(&p, images, labels, set, !marks ? "ignore" : ms ? "check" : "unavailable", nt);
  int wrc = ds_manifest_write(&m, &e);
  if (!wrc) wrc = ds_write_info(out, "picai", pj, &e);
  free(pj);
  ds_manifest_free(&m);
  if (wrc) {
    fprintf(stderr, "harness prepare picai: %s\n", e.msg);
    goto done;
  }
  printf("prepared %zu PI-CAI cases into %s: %zu ok (%zu positive, %zu negative), %zu skipped", n, out, nok, npos,
         nok - npos, n - nok);
  bool first = true;
  for (int k = 1; k < PICAI_SKIP_KINDS; k++)
    if (by_kind[k]) {
      printf("%s%zu %s", first ? " (" : ", ", by_kind[k], picai_skip_name((picai_skip)k));
      first = false;
    }
  printf("%s\n", first ? "" : ")");
  if (nok == 0) {
    fprintf(stderr, "harness prepare picai: no case could be prepared; manifest.csv lists the reasons\n");
    goto done;
  }
  rc = EXIT_OK;
done:
  if (bar) progress_free(bar);
  picai_marksheet_free(ms);
  for (size_t i = 0; i < n; i++) picai_case_free(&cases[i]);
  free(cases);
  free(res);
  free(imgdir);
  return rc;
}
