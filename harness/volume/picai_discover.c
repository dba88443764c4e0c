/* Where PI-CAI keeps its files: images as <images>/<patient_id>/<patient_id>_<study_id>_<seq>.mha
 * (picai_public_images_fold*), labels in picai_labels' folders. Finds every case and its files. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"
#include "harness/volume/picai.h"
#include "harness/volume/volume.h"

int picai_label_set_parse(const char *text, picai_label_set *out, herr *e) {
  if (!strcmp(text, "human"))
    *out = PICAI_LABELS_HUMAN;
  else if (!strcmp(text, "ai"))
    *out = PICAI_LABELS_AI;
  else if (!strcmp(text, "human-then-ai"))
    *out = PICAI_LABELS_HUMAN_THEN_AI;
  else
    return herr_set(e, "label set '%s': expected human, ai or human-then-ai", text);
  return 0;
}

const char *picai_label_set_name(picai_label_set s) {
  return s == PICAI_LABELS_HUMAN ? "human" : s == PICAI_LABELS_AI ? "ai" : "human-then-ai";
}

void picai_case_free(picai_case *c) {
  if (!c) return;
  free(c->case_id);
  free(c->t2w);
  free(c->adc);
  free(c->hbv);
  free(c->lesion);
  free(c->gland);
}

typedef struct entry {
  char *id, *path;
  int seq; /* 0 t2w, 1 adc, 2 hbv */
} entry;

static int cmp_entry(const void *a, const void *b) {
  const entry *x = a, *y = b;
  int c = strcmp(x->id, y->id);
  if (c) return c;
  if (x->seq != y->seq) return x->seq - y->seq;
  return strcmp(x->path, y->path);
}

static bool valid_id(const char *s, size_t n) {
  if (!n) return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
          ch == '.'))
      return false;
  }
  return true;
}

/* "<id>_<seq>.<ext>" -> id and seq; false for any other name. */
static bool parse_name(const char *name, char **id, int *seq) {
  static const char *exts[] = {".mha", ".mhd", ".nii.gz", ".nii"};
  static const char *seqs[] = {"_t2w", "_adc", "_hbv"};
  size_t n = strlen(name);
  for (size_t x = 0; x < 4; x++) {
    size_t el = strlen(exts[x]);
    if (n <= el || strcasecmp(name + n - el, exts[x])) continue;
    size_t stem = n - el;
    for (int s = 0; s < 3; s++)
      if (stem > 4 && !strncasecmp(name + stem - 4, seqs[s], 4) && valid_id(name, stem - 4)) {
        *id = strndup(name, stem - 4);
        *seq = s;
        return true;
      }
  }
  return false;
}

typedef struct entries {
  entry *v;
  size_t n, cap;
} entries;

static void scan_dir(const char *dir, int depth, entries *out) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char *p = fs_join(dir, de->d_name);
    if (fs_is_dir(p)) {
      if (depth == 0) scan_dir(p, 1, out);
      free(p);
      continue;
    }
    char *id;
    int seq;
    if (parse_name(de->d_name, &id, &seq)) {
      if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 256;
        out->v = realloc(out->v, out->cap * sizeof *out->v);
        if (!out->v) abort();
      }
      out->v[out->n++] = (entry){id, p, seq};
    } else {
      free(p);
    }
  }
  closedir(d);
}

/* The first existing <dir>/<id><ext> for the label extensions, or NULL. */
static char *find_label(const char *labels, const char *sub, const char *id) {
  static const char *exts[] = {".nii.gz", ".nii", ".mha"};
  for (int x = 0; x < 3; x++) {
    strbuf sb = STRBUF_INIT;
    sb_appendf(&sb, "%s/%s/%s%s", labels, sub, id, exts[x]);
    if (fs_exists(sb.data) && !fs_is_dir(sb.data)) return sb_take(&sb);
    sb_free(&sb);
  }
  return NULL;
}

static const char human_dir[] = "csPCa_lesion_delineations/human_expert/resampled";
static const char ai_dir[] = "csPCa_lesion_delineations/AI/Bosma22a";
/* Newest picai_labels first; the first release kept the AI gland masks directly in AI/. */
static const char *gland_dirs[] = {"anatomical_delineations/whole_gland/AI/Guerbet23",
                                   "anatomical_delineations/whole_gland/AI/Bosma22b",
                                   "anatomical_delineations/whole_gland/AI"};

int picai_discover(const char *images_dir, const char *labels_dir, picai_label_set set, picai_case **cases, size_t *n,
                   herr *e) {
  *cases = NULL;
  *n = 0;
  if (!fs_is_dir(images_dir)) return herr_set(e, "%s: not a directory", images_dir);
  if (!fs_is_dir(labels_dir)) return herr_set(e, "%s: not a directory", labels_dir);
  entries es = {0};
  scan_dir(images_dir, 0, &es);
  if (es.n) qsort(es.v, es.n, sizeof *es.v, cmp_entry);
  picai_case *cs = calloc(es.n ? es.n : 1, sizeof *cs);
  if (!cs) abort();
  size_t nc = 0;
  for (size_t i = 0; i < es.n; i++) {
    entry *en = &es.v[i];
    if (!nc || strcmp(cs[nc - 1].case_id, en->id)) cs[nc++].case_id = strdup(en->id);
    picai_case *c = &cs[nc - 1];
    char **slot = en->seq == 0 ? &c->t2w : en->seq == 1 ? &c->adc : &c->hbv;
    if (!*slot) *slot = strdup(en->path); /* two files for one sequence: the first by name */
    free(en->id);
    free(en->path);
  }
  free(es.v);
  for (size_t i = 0; i < nc; i++) {
    picai_case *c = &cs[i];
    if (set != PICAI_LABELS_AI) {
      c->lesion = find_label(labels_dir, human_dir, c->case_id);
      c->lesion_set = "human-expert";
    }
    if (!c->lesion && set != PICAI_LABELS_HUMAN) {
      c->lesion = find_label(labels_dir, ai_dir, c->case_id);
      c->lesion_set = set == PICAI_LABELS_AI ? "AI (Bosma22a)" : c->lesion ? "AI (Bosma22a)" : "human-expert or AI";
    }
    for (size_t g = 0; g < sizeof gland_dirs / sizeof *gland_dirs && !c->gland; g++)
      c->gland = find_label(labels_dir, gland_dirs[g], c->case_id);
  }
  *cases = cs;
  *n = nc;
  return 0;
}
