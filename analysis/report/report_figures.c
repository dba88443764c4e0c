/* report_figures: the gnuplot figures — AUC against every numeric swept key, ROC curves per
 * point, textual-inversion loss per class and classifier training curves. Each figure is a
 * .dat (the numbers) and a .gp (the drawing) in figures/, drawn to .svg by one gnuplot run;
 * `cd figures && gnuplot NAME.gp` redraws one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/auc.h"
#include "analysis/report/report_doc.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
                                      "#17becf"};
#define NPALETTE (sizeof palette / sizeof palette[0])

/* Writes figures/<stem>.dat and .gp, queues the script and adds the figure to the document. */
static int add_figure(rp_ctx *c, const char *stem, const strbuf *dat, const strbuf *gp, const char *caption, herr *e) {
  char name[256], rel[300], redraw[700];
  snprintf(name, sizeof name, "figures/%s.dat", stem);
  char *path = fs_join(c->dir, name);
  int rc = fs_write_atomic(path, sb_str(dat), dat->len, e);
  free(path);
  snprintf(name, sizeof name, "figures/%s.gp", stem);
  path = fs_join(c->dir, name);
  if (!rc) rc = fs_write_atomic(path, sb_str(gp), gp->len, e);
  free(path);
  if (rc) return -1;
  c->scripts = realloc(c->scripts, (c->nscripts + 1) * sizeof *c->scripts);
  if (!c->scripts) abort();
  snprintf(name, sizeof name, "%s.gp", stem);
  if (!(c->scripts[c->nscripts++] = strdup(name))) abort();
  snprintf(rel, sizeof rel, "figures/%s.svg", stem);
  snprintf(redraw, sizeof redraw, "figures/%s.gp, figures/%s.dat", stem, stem);
  rd_figure(&c->doc, rel, redraw, caption);
  c->sum->figures++;
  return 0;
}

static void gp_begin(strbuf *gp, const char *stem, const char *title, const char *xlabel, const char *ylabel) {
  sb_appendf(gp, "# Redraw: cd figures && gnuplot %s.gp  (reads %s.dat, writes %s.svg)\n", stem, stem, stem);
  sb_append(gp, "reset\nset terminal svg size 760,480 dynamic noenhanced font 'sans,12' background '#ffffff'\n");
  sb_appendf(gp, "set output '%s.svg'\nset title ", stem);
  rp_gp_quote(gp, title);
  sb_append(gp, "\nset xlabel ");
  rp_gp_quote(gp, xlabel);
  sb_append(gp, "\nset ylabel ");
  rp_gp_quote(gp, ylabel);
  sb_append(gp, "\nset grid\nset key outside right top box\n");
}

static void gp_end(strbuf *gp) { sb_append(gp, "\nunset output\n"); }

/* ---- sweeps ---- */

/* A key is plotted when every point that sets it sets a number and it takes two values or
 * more; `seed` is a repetition, not a setting. */
static bool numeric_key(const rp_results *r, const char *key, double *lo, double *hi) {
  if (!strcmp(key, "seed")) return false;
  *lo = INFINITY, *hi = -INFINITY;
  for (size_t i = 0; i < r->npoints; i++)
    for (size_t k = 0; k < r->points[i].nkeys; k++) {
      if (strcmp(r->points[i].keys[k], key)) continue;
      double v = r->points[i].num[k];
      if (!isfinite(v)) return false;
      if (v < *lo) *lo = v;
      if (v > *hi) *hi = v;
    }
  return *hi > *lo;
}

static double key_value(const rp_point *p, const char *key) {
  for (size_t k = 0; k < p->nkeys; k++)
    if (!strcmp(p->keys[k], key)) return p->num[k];
  return NAN;
}

static void stem_of(const char *prefix, const char *key, char *out, size_t n) {
  size_t j = (size_t)snprintf(out, n, "%s", prefix);
  for (; *key && j + 1 < n; key++) out[j++] = (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", *key)) ? *key : '_';
  out[j] = 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int sweep_figure(rp_ctx *c, const char *key, double lo, double hi, herr *e) {
  const rp_results *r = c->res;
  /* Arms by name across points, in first-seen order. */
  const char **arms = NULL;
  size_t narms = 0;
  for (size_t i = 0; i < r->npoints; i++)
    for (size_t a = 0; a < r->points[i].narms; a++) {
      size_t j = 0;
      while (j < narms && strcmp(arms[j], r->points[i].arms[a].name)) j++;
      if (j < narms) continue;
      arms = realloc(arms, (narms + 1) * sizeof *arms);
      if (!arms) abort();
      arms[narms++] = r->points[i].arms[a].name;
    }
  bool logx = lo > 0 && hi / lo >= 16;
  strbuf dat = STRBUF_INIT, gp = STRBUF_INIT;
  size_t left_out = 0, others = 0;
  for (size_t i = 0; i < r->npoints; i++) others += r->points[i].nkeys > 1;
  size_t *count = calloc(narms + 1, sizeof *count), total = 0;
  if (!count) abort();
  /* Arms are set slightly apart along x so that their intervals do not hide each other. */
  for (size_t a = 0; a < narms; a++) {
    double shift = ((double)a - (double)(narms - 1) / 2) * 0.012;
    sb_appendf(&dat, "# arm %s: x_drawn %s auc_mean delong_lo_mean delong_hi_mean point\n", arms[a], key);
    double *xs = calloc(r->npoints + 1, sizeof *xs), *ys = calloc(r->npoints + 1, sizeof *ys);
    if (!xs || !ys) abort();
    size_t n = 0;
    for (size_t i = 0; i < r->npoints; i++) {
      const rp_point *p = &r->points[i];
      double x = key_value(p, key);
      for (size_t b = 0; b < p->narms; b++) {
        const rp_arm *A = &p->arms[b];
        if (strcmp(A->name, arms[a])) continue;
        if (!A->evaluated || !isfinite(x)) {
          left_out++;
          continue;
        }
        double xd = logx ? x * pow(hi / lo, shift) : x + shift * (hi - lo);
        sb_appendf(&dat, "%.17g %.17g %.17g %.17g %.17g %zu\n", xd, x, A->auc_mean, A->dl_lo, A->dl_hi, i);
        xs[n] = x, ys[n++] = A->auc_mean;
      }
    }
    if (!n) sb_append(&dat, "NaN NaN NaN NaN NaN 0\n"); /* keeps the block so that the index numbers hold */
    count[a] = n, total += n;
    sb_append(&dat, "\n\n");
    /* The mean over points per x value (other swept keys vary across them). */
    sb_appendf(&dat, "# arm %s: x_drawn %s mean_auc_over_points points\n", arms[a], key);
    double *ux = malloc((n + 1) * sizeof *ux);
    if (!ux) abort();
    memcpy(ux, xs, n * sizeof *ux);
    qsort(ux, n, sizeof *ux, cmp_double);
    for (size_t u = 0; u < n; u++) {
      if (u && ux[u] == ux[u - 1]) continue;
      double s = 0;
      size_t m = 0;
      for (size_t j = 0; j < n; j++)
        if (xs[j] == ux[u]) s += ys[j], m++;
      double xd = logx ? ux[u] * pow(hi / lo, shift) : ux[u] + shift * (hi - lo);
      sb_appendf(&dat, "%.17g %.17g %.17g %zu\n", xd, ux[u], s / (double)m, m);
    }
    if (!n) sb_append(&dat, "NaN NaN NaN 0\n"); /* keeps the block so that the index numbers hold */
    sb_append(&dat, "\n\n");
    free(ux), free(xs), free(ys);
  }
  char stem[300], title[600], caption[1500];
  stem_of("sweep_", key, stem, sizeof stem);
  if (!total) { /* gnuplot refuses a plot without a single point */
    rd_para(&c->doc, "AUC against %s: no point has a complete evaluate stage yet.", key);
    sb_free(&dat), sb_free(&gp);
    free(arms), free(count);
    return 0;
  }
  snprintf(title, sizeof title, "Test AUC against %s", key);
  gp_begin(&gp, stem, title, key, "test AUC");
  if (logx) sb_append(&gp, "set logscale x 2\n");
  sb_appendf(&gp, "set xrange [%.17g:%.17g]\n", logx ? lo / pow(hi / lo, 0.06) : lo - 0.06 * (hi - lo),
             logx ? hi * pow(hi / lo, 0.06) : hi + 0.06 * (hi - lo));
  sb_append(&gp, "plot ");
  bool first = true;
  for (size_t a = 0; a < narms; a++) {
    const char *col = palette[a % NPALETTE];
    if (!count[a]) continue; /* an arm without evaluated points is not drawn */
    sb_appendf(&gp, "%s'%s.dat' index %zu using 1:3:4:5 with yerrorbars pt 7 ps 0.8 lc rgb '%s' title ", first ? "" : ", \\\n  ",
               stem, 2 * a, col);
    first = false;
    rp_gp_quote(&gp, arms[a]);
    sb_appendf(&gp, ", \\\n  '%s.dat' index %zu using 1:3 with lines lw 1.5 lc rgb '%s' notitle", stem, 2 * a + 1, col);
  }
  gp_end(&gp);
  int n = snprintf(caption, sizeof caption,
                   "Test AUC against %s, per arm: each point's mean over runs with the mean of its runs' DeLong "
                   "intervals; the line joins the mean over points at each value%s. Arms are drawn slightly apart "
                   "along x.",
                   key, others ? " (other swept keys vary across the points)" : "");
  if (left_out && n > 0 && (size_t)n < sizeof caption)
    snprintf(caption + n, sizeof caption - (size_t)n, " %zu arm result(s) without a complete evaluate stage are left out.",
             left_out);
  int rc = add_figure(c, stem, &dat, &gp, caption, e);
  sb_free(&dat), sb_free(&gp);
  free(arms), free(count);
  return rc;
}

int rp_section_sweeps(rp_ctx *c, herr *e) {
  const rp_results *r = c->res;
  bool heading = false;
  for (size_t i = 0; i < r->npoints; i++)
    for (size_t k = 0; k < r->points[i].nkeys; k++) {
      const char *key = r->points[i].keys[k];
      bool earlier = false;
      for (size_t j = 0; j < i && !earlier; j++)
        for (size_t m = 0; m < r->points[j].nkeys && !earlier; m++) earlier = !strcmp(r->points[j].keys[m], key);
      for (size_t m = 0; m < k && !earlier; m++) earlier = !strcmp(r->points[i].keys[m], key);
      double lo, hi;
      if (earlier || !numeric_key(r, key, &lo, &hi)) continue;
      if (!heading) {
        rd_heading(&c->doc, 2, "sweeps", "Sweeps");
        heading = true;
      }
      if (sweep_figure(c, key, lo, hi, e)) return -1;
    }
  return 0;
}

/* ---- curves ---- */

/* ROC points (false-positive rate, true-positive rate) from the top score down, one step per
 * block of tied scores (so ties draw the diagonal segment, as the AUC counts them ½). The tie
 * blocks come from auc_sort, the statistics' own first step; input it refuses (a score that is
 * not finite, one class only) draws no curve. */
static int roc_block(strbuf *dat, const double *scores, const double *labels, size_t n) {
  int *lab = malloc((n + 1) * sizeof *lab);
  if (!lab) abort();
  for (size_t i = 0; i < n; i++) lab[i] = labels[i] > 0.5;
  auc_sorted so;
  herr e = {{0}};
  if (auc_sort(scores, lab, n, "test score", &so, &e)) {
    free(lab);
    return -1;
  }
  size_t tp = 0, fp = 0;
  sb_append(dat, "0 0\n");
  for (size_t b = so.n_blocks; b-- > 0;) {
    for (size_t k = b ? so.block_end[b - 1] : 0; k < so.block_end[b]; k++) {
      if (lab[so.order[k]]) tp++;
      else fp++;
    }
    sb_appendf(dat, "%.17g %.17g\n", (double)fp / (double)so.n_neg, (double)tp / (double)so.n_pos);
  }
  auc_sorted_free(&so);
  free(lab);
  return 0;
}

typedef struct curve {
  char title[300];
  const char *color;
  int dash;
} curve;

/* The plot command for blocks 0..n-1 of stem.dat. */
static void plot_blocks(strbuf *gp, const char *stem, const curve *cv, size_t n, const char *using, const char *style) {
  sb_append(gp, "plot ");
  for (size_t i = 0; i < n; i++) {
    sb_appendf(gp, "%s'%s.dat' index %zu using %s with %s lc rgb '%s' dt %d title ", i ? ", \\\n  " : "", stem, i, using,
               style, cv[i].color, cv[i].dash);
    rp_gp_quote(gp, cv[i].title);
  }
}

static int roc_figure(rp_ctx *c, const rp_point *p, herr *e) {
  strbuf dat = STRBUF_INIT, gp = STRBUF_INIT;
  curve *cv = NULL;
  size_t n = 0;
  for (size_t a = 0; a < p->narms; a++)
    for (size_t k = 0; k < p->arms[a].nruns; k++) {
      const rp_run *u = &p->arms[a].runs[k];
      store_reader *s = rp_open_stage(c->res, u->stage, NULL);
      double *sc = NULL, *lb = NULL;
      size_t nd, d1[8], d2[8];
      bool ok = s && !store_get_array_f64(s, "test_scores", &sc, &nd, d1, NULL) &&
                !store_get_array_f64(s, "test_labels", &lb, &nd, d2, NULL) && d1[0] == d2[0] && d1[0] > 0;
      strbuf block = STRBUF_INIT;
      ok = ok && !roc_block(&block, sc, lb, d1[0]);
      if (ok) {
        sb_appendf(&dat, "# %s r%ld (%s): fpr tpr\n", p->arms[a].name, u->k, c->res->stages[u->stage].id);
        sb_append(&dat, sb_str(&block));
        sb_append(&dat, "\n\n");
        cv = realloc(cv, (n + 1) * sizeof *cv);
        if (!cv) abort();
        snprintf(cv[n].title, sizeof cv[n].title, "%s r%ld (AUC %.3f)", p->arms[a].name, u->k, u->test_auc);
        cv[n].color = palette[a % NPALETTE], cv[n].dash = (int)(k % 5) + 1;
        n++;
      }
      sb_free(&block);
      free(sc), free(lb);
      if (s) store_reader_close(s);
    }
  int rc = 0;
  if (n) {
    char stem[64], title[400], caption[600];
    snprintf(stem, sizeof stem, "p%zu_roc", p->index);
    snprintf(title, sizeof title, "ROC on the test split — point %zu: %s", p->index, p->label);
    gp_begin(&gp, stem, title, "false-positive rate (1 - specificity)", "true-positive rate (sensitivity)");
    sb_append(&gp, "set xrange [0:1]\nset yrange [0:1]\nset key inside right bottom box opaque\n");
    sb_append(&gp, "set arrow from 0,0 to 1,1 nohead dt 3 lc rgb '#999999'\n");
    plot_blocks(&gp, stem, cv, n, "1:2", "lines lw 1.5");
    gp_end(&gp);
    snprintf(caption, sizeof caption,
             "ROC curves of point %zu on the test split, one per arm and run (colour: arm, dash: run); the AUC in "
             "the key is each run's test AUC. Incomplete runs are not drawn.",
             p->index);
    rc = add_figure(c, stem, &dat, &gp, caption, e);
  }
  free(cv);
  sb_free(&dat), sb_free(&gp);
  return rc;
}

/* Rows of series `name` as "x y smoothed" (running mean over `window` rows, centred), so a
 * noisy loss stays readable; the raw values stay in the .dat. */
static bool series_block(store_reader *s, const char *name, const char *ycol, strbuf *dat, size_t *window) {
  double *rows = NULL;
  size_t nrows, ncols;
  char **cols = NULL;
  if (!s || store_get_series(s, name, &rows, &nrows, &cols, &ncols, NULL)) return false;
  long xi = -1, yi = -1;
  for (size_t k = 0; k < ncols; k++) {
    if (!strcmp(cols[k], "step")) xi = (long)k;
    if (!strcmp(cols[k], ycol)) yi = (long)k;
  }
  bool ok = xi >= 0 && yi >= 0 && nrows > 0;
  size_t w = nrows >= 40 ? nrows / 20 : 1;
  if (ok) {
    sb_appendf(dat, "# step %s %s_running_mean_%zu\n", ycol, ycol, w);
    for (size_t r = 0; r < nrows; r++) {
      size_t from = r >= w / 2 ? r - w / 2 : 0, to = r + w / 2 + 1 < nrows ? r + w / 2 + 1 : nrows;
      double sum = 0;
      for (size_t j = from; j < to; j++) sum += rows[j * ncols + (size_t)yi];
      sb_appendf(dat, "%.17g %.17g %.17g\n", rows[r * ncols + (size_t)xi], rows[r * ncols + (size_t)yi],
                 sum / (double)(to - from));
    }
    sb_append(dat, "\n\n");
  }
  if (window) *window = w;
  for (size_t k = 0; k < ncols; k++) free(cols[k]);
  free(cols), free(rows);
  return ok;
}

/* The embedding losses of a set of embed stages, drawn once however many points share them. */
static int embed_figure(rp_ctx *c, const rp_point *p, char ***done, size_t *ndone, herr *e) {
  if (!p->nembeds) return 0;
  strbuf key = STRBUF_INIT;
  for (size_t i = 0; i < p->nembeds; i++) sb_appendf(&key, "%s ", c->res->stages[p->embeds[i]].id);
  for (size_t i = 0; i < *ndone; i++)
    if (!strcmp((*done)[i], sb_str(&key))) {
      rd_para(&c->doc, "Textual-inversion losses of point %zu: the same embed stages as an earlier point (figure above).",
              p->index);
      sb_free(&key);
      return 0;
    }
  strbuf dat = STRBUF_INIT, gp = STRBUF_INIT;
  curve cv[32];
  size_t n = 0, w = 1;
  for (size_t i = 0; i < p->nembeds && n < 32; i++) {
    const rp_stage *st = &c->res->stages[p->embeds[i]];
    store_reader *s = rp_open_stage(c->res, p->embeds[i], NULL);
    sb_appendf(&dat, "# %s (%s)\n", st->variant, st->id);
    if (series_block(s, "loss", "loss", &dat, &w)) {
      snprintf(cv[n].title, sizeof cv[n].title, "class %s", st->variant);
      cv[n].color = palette[i % NPALETTE], cv[n].dash = 1;
      n++;
    }
    if (s) store_reader_close(s);
  }
  int rc = 0;
  if (n) {
    char stem[64], title[400], caption[600];
    snprintf(stem, sizeof stem, "p%zu_embed_loss", p->index);
    snprintf(title, sizeof title, "Textual-inversion loss — point %zu: %s", p->index, p->label);
    gp_begin(&gp, stem, title, "step", "denoising loss (MSE)");
    sb_append(&gp, "plot ");
    for (size_t i = 0; i < n; i++) {
      sb_appendf(&gp, "%s'%s.dat' index %zu using 1:2 with lines lw 0.5 lc rgb '%s' notitle, \\\n  '%s.dat' index %zu "
                      "using 1:3 with lines lw 2 lc rgb '%s' title ",
                 i ? ", \\\n  " : "", stem, i, cv[i].color, stem, i, cv[i].color);
      rp_gp_quote(&gp, cv[i].title);
    }
    gp_end(&gp);
    snprintf(caption, sizeof caption,
             "Training loss of the textual-inversion embedding of each class (thin: every step; thick: running mean "
             "over %zu steps).",
             w);
    rc = add_figure(c, stem, &dat, &gp, caption, e);
    *done = realloc(*done, (*ndone + 1) * sizeof **done);
    if (!*done) abort();
    (*done)[(*ndone)++] = sb_take(&key);
  } else {
    rd_para(&c->doc, "Textual-inversion losses of point %zu: no embed stage of it is complete.", p->index);
  }
  sb_free(&key), sb_free(&dat), sb_free(&gp);
  return rc;
}

static int classify_figure(rp_ctx *c, const rp_point *p, bool val, herr *e) {
  strbuf dat = STRBUF_INIT, gp = STRBUF_INIT;
  curve *cv = NULL;
  size_t n = 0, w = 1;
  for (size_t a = 0; a < p->narms; a++)
    for (size_t k = 0; k < p->arms[a].nruns; k++) {
      const rp_run *u = &p->arms[a].runs[k];
      store_reader *s = rp_open_stage(c->res, u->stage, NULL);
      size_t wi;
      if (series_block(s, val ? "val" : "train", val ? "auc" : "loss", &dat, &wi)) {
        cv = realloc(cv, (n + 1) * sizeof *cv);
        if (!cv) abort();
        snprintf(cv[n].title, sizeof cv[n].title, "%s r%ld", p->arms[a].name, u->k);
        cv[n].color = palette[a % NPALETTE], cv[n].dash = (int)(k % 5) + 1;
        n++;
        if (wi > w) w = wi;
      }
      if (s) store_reader_close(s);
    }
  int rc = 0;
  if (n) {
    char stem[64], title[400], caption[600];
    snprintf(stem, sizeof stem, "p%zu_classify_%s", p->index, val ? "val_auc" : "train_loss");
    snprintf(title, sizeof title, "Classifier %s — point %zu: %s", val ? "validation AUC" : "training loss", p->index,
             p->label);
    gp_begin(&gp, stem, title, "step", val ? "validation AUC" : "training loss (running mean)");
    plot_blocks(&gp, stem, cv, n, val ? "1:2" : "1:3", val ? "linespoints pt 7 ps 0.5 lw 1.2" : "lines lw 1.2");
    gp_end(&gp);
    if (val)
      snprintf(caption, sizeof caption,
               "Validation AUC of each classifier run during training (colour: arm, dash: run); the test split is "
               "scored with the checkpoint of the best validation AUC.");
    else
      snprintf(caption, sizeof caption,
               "Training loss of each classifier run (running mean over up to %zu steps; the raw loss is column 2 "
               "of the .dat).",
               w);
    rc = add_figure(c, stem, &dat, &gp, caption, e);
  }
  free(cv);
  sb_free(&dat), sb_free(&gp);
  return rc;
}

int rp_section_curves(rp_ctx *c, herr *e) {
  const rp_results *r = c->res;
  rd_heading(&c->doc, 2, "curves", "ROC and training curves");
  char **done = NULL;
  size_t ndone = 0;
  int rc = 0;
  for (size_t i = 0; i < r->npoints && !rc; i++) {
    const rp_point *p = &r->points[i];
    char sum[1200];
    snprintf(sum, sizeof sum, "Point %zu: %s", i, p->label);
    rd_fold(&c->doc, true, r->npoints <= 4, sum);
    rc = roc_figure(c, p, e);
    if (!rc) rc = embed_figure(c, p, &done, &ndone, e);
    if (!rc) rc = classify_figure(c, p, false, e);
    if (!rc) rc = classify_figure(c, p, true, e);
    rd_fold(&c->doc, false, false, NULL);
  }
  for (size_t i = 0; i < ndone; i++) free(done[i]);
  free(done);
  return rc;
}
