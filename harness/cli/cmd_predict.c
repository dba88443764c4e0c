/* `harness predict`: scores PNG images with a classifier checkpoint (a classify stage's
 * best.safetensors or any torchvision-layout two-class resnet18), one CSV row per image. */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "experiments/classify_images.h"
#include "experiments/classify_net.h"
#include "harness/cli/cli.h"
#include "harness/data/dataset.h"
#include "harness/formats/safetensors.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static const char usage[] =
    "usage: harness predict --classifier WEIGHTS --images DIR|MANIFEST --out SCORES.csv [options]\n"
    "\n"
    "Scores images with a two-class ResNet-18 (torchvision layout safetensors, e.g. a classify\n"
    "stage's artifacts/best.safetensors): the softmax probability of class 1 (csPCa). Writes one\n"
    "row per image: path,score (plus case_id,label when reading a dataset manifest).\n"
    "\n"
    "options:\n"
    "  --classifier FILE   resnet18 weights (.safetensors)\n"
    "  --images DIR|FILE   a directory (its *.png files, sorted by name) or a dataset manifest.csv\n"
    "                      (its usable cases)\n"
    "  --out FILE          the scores CSV (written atomically)\n"
    "  --input-size N      resize images to N x N (default: the checkpoint's, else 196)\n"
    "  --batch N           images per forward pass (default 32)\n"
    "  --device D          cpu, cuda, cuda:N or auto (default auto)\n"
    "  --threads N         CPU threads (default: one per core)\n"
    "  -h, --help          this text\n"
    "\n"
    "Normalisation and the resize filter come from the checkpoint's metadata when it has them\n"
    "(classify stages write them), else ImageNet mean/std and bilinear.\n";

typedef struct pred_args {
  const char *weights, *images, *out, *device;
  int input_size, batch, threads;
} pred_args;

static int parse_args(int argc, char **argv, pred_args *a) {
  enum { O_W = 256, O_IMG, O_OUT, O_SIZE, O_BATCH, O_DEV, O_THR };
  static const struct option opts[] = {
      {"classifier", required_argument, NULL, O_W}, {"images", required_argument, NULL, O_IMG},
      {"out", required_argument, NULL, O_OUT},      {"input-size", required_argument, NULL, O_SIZE},
      {"batch", required_argument, NULL, O_BATCH},  {"device", required_argument, NULL, O_DEV},
      {"threads", required_argument, NULL, O_THR},  {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *a = (pred_args){.device = "auto", .batch = 32};
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
    switch (opt) {
      case O_W: a->weights = optarg; break;
      case O_IMG: a->images = optarg; break;
      case O_OUT: a->out = optarg; break;
      case O_SIZE: if (cli_parse_int("predict", "--input-size", optarg, 16, 4096, &a->input_size)) return -1; break;
      case O_BATCH: if (cli_parse_int("predict", "--batch", optarg, 1, 65536, &a->batch)) return -1; break;
      case O_THR: if (cli_parse_int("predict", "--threads", optarg, 0, 1024, &a->threads)) return -1; break;
      case O_DEV: a->device = optarg; break;
      case 'h': fputs(usage, stdout); return 1;
      case ':': fprintf(stderr, "harness predict: option '%s' needs a value\n\n%s", argv[optind - 1], usage); return -1;
      default: fprintf(stderr, "harness predict: unknown option '%s'\n\n%s", argv[optind - 1], usage); return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "harness predict: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  const char *missing = !a->weights ? "--classifier FILE" : !a->images ? "--images DIR|MANIFEST" : !a->out ? "--out FILE" : NULL;
  if (missing) {
    fprintf(stderr, "harness predict: %s is required\n\n%s", missing, usage);
    return -1;
  }
  return 0;
}

/* The images to score: paths (malloc'd) and, from a manifest, case ids and labels. */
typedef struct pred_list {
  size_t n;
  char **paths, **ids;
  int *labels;
} pred_list;

static void pred_list_free(pred_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->paths[i]);
    if (l->ids) free(l->ids[i]);
  }
  free(l->paths);
  free(l->ids);
  free(l->labels);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_dir(const char *dir, pred_list *l, herr *e) {
  DIR *d = opendir(dir);
  if (!d) return herr_errno(e, "--images: cannot open directory '%s'", dir);
  size_t cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t len = strlen(de->d_name);
    if (len < 5 || strcasecmp(de->d_name + len - 4, ".png")) continue;
    if (l->n == cap) {
      cap = cap ? 2 * cap : 64;
      l->paths = realloc(l->paths, cap * sizeof *l->paths);
      if (!l->paths) abort();
    }
    l->paths[l->n++] = fs_join(dir, de->d_name);
  }
  closedir(d);
  if (l->n) qsort(l->paths, l->n, sizeof *l->paths, cmp_str);
  if (!l->n) return herr_set(e, "--images: no .png files in '%s'", dir);
  return 0;
}

static int list_manifest(const char *file, pred_list *l, herr *e) {
  char *dir = fs_dirname(file);
  size_t len = strlen(file);
  if (len < 12 || strcmp(file + len - 12, "manifest.csv")) {
    free(dir);
    return herr_set(e, "--images: '%s' is neither a directory nor a dataset manifest.csv", file);
  }
  ds_manifest m;
  int rc = ds_manifest_read(dir, &m, e);
  free(dir);
  if (rc) return -1;
  l->paths = calloc(m.n + 1, sizeof *l->paths);
  l->ids = calloc(m.n + 1, sizeof *l->ids);
  l->labels = calloc(m.n + 1, sizeof *l->labels);
  if (!l->paths || !l->ids || !l->labels) abort();
  for (size_t i = 0; i < m.n; i++) {
    if (!m.cases[i].ok) continue;
    l->paths[l->n] = ds_case_path(&m, m.cases[i].image);
    l->ids[l->n] = strdup(m.cases[i].case_id);
    l->labels[l->n++] = m.cases[i].label;
  }
  ds_manifest_free(&m);
  if (!l->n) return herr_set(e, "--images: %s lists no usable cases", file);
  return 0;
}

static int parse_triple(const char *text, float out[3]) {
  char *end;
  for (int i = 0; i < 3; i++) {
    out[i] = strtof(text, &end);
    if (end == text || (i < 2 && *end != ',')) return -1;
    text = end + (i < 2);
  }
  return *end ? -1 : 0;
}

/* Input settings from the checkpoint's metadata, overridden by the command line. */
static int read_meta(const pred_args *a, int *size, float mean[3], float std[3], img_filter *f, herr *e) {
  st_file *sf = st_open(a->weights, e);
  if (!sf) return -1;
  const char *ms = st_metadata(sf, CLF_META_INPUT_SIZE), *mm = st_metadata(sf, CLF_META_MEAN),
             *md = st_metadata(sf, CLF_META_STD), *mf = st_metadata(sf, CLF_META_FILTER);
  *size = a->input_size ? a->input_size : ms ? atoi(ms) : 196;
  int rc = 0;
  if (*size < 16 || *size > 4096) rc = herr_set(e, "%s: metadata %s=%s is not a size", a->weights, CLF_META_INPUT_SIZE, ms);
  if (!rc && mm && parse_triple(mm, mean)) rc = herr_set(e, "%s: metadata %s='%s' is not three numbers", a->weights, CLF_META_MEAN, mm);
  if (!rc && md && parse_triple(md, std)) rc = herr_set(e, "%s: metadata %s='%s' is not three numbers", a->weights, CLF_META_STD, md);
  for (int i = 0; !rc && i < 3; i++)
    if (!(std[i] > 0)) rc = herr_set(e, "%s: metadata %s has a non-positive value", a->weights, CLF_META_STD);
  if (!rc && mf && img_filter_parse(mf, f, e)) rc = herr_prefix(e, "%s: metadata %s: ", a->weights, CLF_META_FILTER);
  st_close(sf);
  return rc;
}

static int predict(const pred_args *a, const char *device, herr *e) {
  int size;
  float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  img_filter filter = IMG_BILINEAR;
  if (read_meta(a, &size, mean, std, &filter, e)) return -1;
  pred_list l = {0};
  int rc = fs_is_dir(a->images) ? list_dir(a->images, &l, e) : list_manifest(a->images, &l, e);
  shim_resnet *m = NULL;
  if (!rc) rc = clf_net_new(a->weights, 0, device, &m, e);
  double *scores = rc ? NULL : malloc(l.n * sizeof *scores);
  size_t *idx = rc ? NULL : malloc((size_t)a->batch * sizeof *idx);
  for (int i = 0; i < a->batch && idx; i++) idx[i] = (size_t)i;
  clf_images c;
  clf_images_init(&c, size, filter);
  for (size_t i = 0; !rc && i < l.n; i += (size_t)a->batch) {
    size_t b = l.n - i < (size_t)a->batch ? l.n - i : (size_t)a->batch;
    c.n = 0;
    for (size_t k = 0; k < b && !rc; k++) rc = clf_images_add_png(&c, l.paths[i + k], 0, e);
    if (!rc) rc = clf_score(m, &c, idx, b, a->batch, mean, std, scores + i, e);
  }
  clf_images_free(&c);
  if (!rc) {
    strbuf sb = STRBUF_INIT;
    sb_append(&sb, l.ids ? "path,score,case_id,label\n" : "path,score\n");
    for (size_t i = 0; i < l.n; i++) {
      bool quote = strpbrk(l.paths[i], ",\"\n") != NULL;
      if (quote) {
        sb_append_char(&sb, '"');
        for (const char *p = l.paths[i]; *p; p++) {
          if (*p == '"') sb_append_char(&sb, '"');
          sb_append_char(&sb, *p);
        }
        sb_append_char(&sb, '"');
      } else {
        sb_append(&sb, l.paths[i]);
      }
      sb_appendf(&sb, ",%.17g", scores[i]);
      if (l.ids) {
        sb_appendf(&sb, ",%s,", l.ids[i]);
        if (l.labels[i] >= 0) sb_appendf(&sb, "%d", l.labels[i]);
      }
      sb_append_char(&sb, '\n');
    }
    rc = fs_write_atomic(a->out, sb_str(&sb), strlen(sb_str(&sb)), e);
    sb_free(&sb);
    if (!rc) fprintf(stderr, "harness predict: %zu images scored at %dx%d -> %s\n", l.n, size, size, a->out);
  }
  free(scores);
  free(idx);
  shim_resnet_free(m);
  pred_list_free(&l);
  return rc;
}

int cmd_predict(int argc, char **argv) {
  pred_args a;
  int p = parse_args(argc, argv, &a);
  if (p) return p > 0 ? EXIT_OK : EXIT_USAGE;
  cli_common c = {.threads = a.threads, .device = a.device};
  char device[64];
  int threads;
  if (cli_runtime_init(&c, NULL, device, sizeof device, &threads)) return EXIT_USAGE;
  herr e = {{0}};
  if (predict(&a, device, &e)) {
    fprintf(stderr, "harness predict: %s\n", e.msg);
    return EXIT_ERROR;
  }
  return EXIT_OK;
}
