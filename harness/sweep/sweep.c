/* sweep: expands grid, zip, seeds and exclusions into points in a fixed order (grid keys as
 * written, first slowest; then zip groups; seeds innermost), so point indices are stable. */
#include "harness/sweep/sweep.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/strbuf.h"

/* One axis of the product: either a single key (grid) or a zip group of keys sharing an
 * index. values[k][i] is the i-th value of key k. */
typedef struct axis {
  size_t nkeys;
  char **keys;
  cfg_node **values; /* nkeys sequences of equal length */
  size_t len;
} axis;

/* Range values are rounded to 12 significant digits so that 0.1 + 2 * 0.1 is 0.3, the value
 * the user wrote, rather than 0.30000000000000004. */
static cfg_node *number_node(double v, bool as_int, cfg_loc loc) {
  char buf[64];
  if (as_int)
    snprintf(buf, sizeof buf, "%lld", (long long)llround(v));
  else {
    snprintf(buf, sizeof buf, "%.12g", v);
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0"); /* keep it a float when read back */
  }
  return cfg_new_scalar(buf, false, loc);
}

static bool is_int_node(const cfg_node *n) {
  return n && n->kind == CFG_SCALAR && cfg_scalar_type(n) == CFG_T_INT;
}

cfg_node *sweep_axis_values(const cfg_node *spec, const char *path, herr *e) {
  if (spec->kind == CFG_SEQ) {
    if (spec->len == 0) {
      cfg_errf(e, spec->loc, NULL, "sweep.%s: the list of values is empty", path);
      return NULL;
    }
    return cfg_clone(spec);
  }
  if (spec->kind != CFG_MAP) {
    cfg_errf(e, spec->loc, NULL, "sweep.%s: expected a list of values or a range {from, to, step} / {from, to, num}",
             path);
    return NULL;
  }
  static const char *const allowed[] = {"from", "to", "step", "num", "log", NULL};
  for (size_t i = 0; i < spec->len; i++) {
    bool ok = false;
    for (size_t k = 0; allowed[k]; k++) ok = ok || !strcmp(spec->keys[i], allowed[k]);
    if (!ok) {
      cfg_errf(e, spec->items[i]->loc, NULL, "sweep.%s: unknown range key '%s' (expected from, to, step, num, log)",
               path, spec->keys[i]);
      return NULL;
    }
  }
  const cfg_node *from = cfg_map_get(spec, "from"), *to = cfg_map_get(spec, "to");
  const cfg_node *step = cfg_map_get(spec, "step"), *num = cfg_map_get(spec, "num");
  const cfg_node *logn = cfg_map_get(spec, "log");
  if (!from || !to || (!step) == (!num)) {
    cfg_errf(e, spec->loc, NULL, "sweep.%s: a range needs from, to and exactly one of step or num", path);
    return NULL;
  }
  double a, b;
  if (cfg_as_double(from, &a, e) || cfg_as_double(to, &b, e)) return NULL;
  /* .nan would give an empty axis (and a zero-length product), .inf endless or nan values. */
  if (!isfinite(a) || !isfinite(b)) {
    cfg_errf(e, (isfinite(a) ? to : from)->loc, NULL, "sweep.%s: 'from' and 'to' must be finite numbers", path);
    return NULL;
  }
  bool log_scale = false;
  if (logn && cfg_as_bool(logn, &log_scale, e)) return NULL;
  cfg_node *seq = cfg_new_seq(spec->loc);
  if (step) {
    double s;
    if (cfg_as_double(step, &s, e)) goto fail;
    if (log_scale) {
      cfg_errf(e, logn->loc, NULL, "sweep.%s: log applies to {from, to, num} ranges, not to step", path);
      goto fail;
    }
    if (s == 0 || !isfinite(s) || (b - a) * s < 0) {
      cfg_errf(e, step->loc, NULL, "sweep.%s: step must be non-zero and go from 'from' towards 'to'", path);
      goto fail;
    }
    bool ints = is_int_node(from) && is_int_node(to) && is_int_node(step);
    double count = floor((b - a) / s + 1e-9) + 1;
    if (count > SWEEP_MAX_POINTS) {
      cfg_errf(e, spec->loc, NULL, "sweep.%s: range has too many values (more than %d)", path, SWEEP_MAX_POINTS);
      goto fail;
    }
    for (long long i = 0; i < (long long)count; i++) cfg_seq_push(seq, number_node(a + (double)i * s, ints, from->loc));
  } else {
    long long k;
    if (cfg_as_int(num, &k, e)) goto fail;
    if (k < 1 || k > SWEEP_MAX_POINTS) {
      cfg_errf(e, num->loc, NULL, "sweep.%s: num must be between 1 and %d", path, SWEEP_MAX_POINTS);
      goto fail;
    }
    if (log_scale && (a <= 0 || b <= 0)) {
      cfg_errf(e, spec->loc, NULL, "sweep.%s: a log range needs positive from and to", path);
      goto fail;
    }
    for (long long i = 0; i < k; i++) {
      double t = k == 1 ? 0.0 : (double)i / (double)(k - 1);
      double v = log_scale ? exp(log(a) + t * (log(b) - log(a))) : a + t * (b - a);
      cfg_seq_push(seq, number_node(v, false, from->loc));
    }
  }
  return seq;
fail:
  cfg_free(seq);
  return NULL;
}

static void axes_free(axis *axes, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < axes[i].nkeys; k++) {
      free(axes[i].keys[k]);
      cfg_free(axes[i].values[k]);
    }
    free(axes[i].keys);
    free(axes[i].values);
  }
  free(axes);
}

/* Whether one dotted path is the other or lies inside it ("a" and "a.b"). */
static bool paths_overlap(const char *x, const char *y) {
  size_t lx = strlen(x), ly = strlen(y);
  if (strncmp(x, y, lx < ly ? lx : ly)) return false;
  return lx == ly || (lx < ly ? y[lx] == '.' : x[ly] == '.');
}

static int check_path(const cfg_node *at, const char *path, herr *e) {
  if (!*path || path[0] == '.' || path[strlen(path) - 1] == '.' || strstr(path, ".."))
    return cfg_errf(e, at->loc, NULL, "sweep: '%s' is not a dotted key path", path);
  if (!strcmp(path, "sweep") || !strncmp(path, "sweep.", 6))
    return cfg_errf(e, at->loc, NULL, "sweep: cannot sweep over the sweep section itself ('%s')", path);
  if (!strcmp(path, "seed"))
    return cfg_errf(e, at->loc, NULL, "sweep: use 'seeds:' to repeat over seeds, not '%s'", path);
  return 0;
}

/* Adds one zip group (a map of key -> values, all the same length) as an axis. */
static int add_zip_group(const cfg_node *group, axis **axes, size_t *naxes, herr *e) {
  if (group->kind != CFG_MAP || group->len == 0)
    return cfg_errf(e, group->loc, NULL, "sweep.zip: expected a map of key paths to equally long lists");
  axis ax = {0};
  ax.keys = calloc(group->len, sizeof *ax.keys);
  ax.values = calloc(group->len, sizeof *ax.values);
  if (!ax.keys || !ax.values) abort();
  for (size_t i = 0; i < group->len; i++) {
    if (check_path(group->items[i], group->keys[i], e)) goto fail;
    cfg_node *vals = sweep_axis_values(group->items[i], group->keys[i], e);
    if (!vals) goto fail;
    ax.keys[ax.nkeys] = strdup(group->keys[i]);
    ax.values[ax.nkeys++] = vals;
    if (i == 0) {
      ax.len = vals->len;
    } else if (vals->len != ax.len) {
      char detail[256];
      snprintf(detail, sizeof detail, "%zu values, but '%s' has %zu", vals->len, group->keys[0], ax.len);
      cfg_errf(e, group->items[i]->loc, NULL, "sweep.zip: '%s' has %s (zipped lists move in lockstep)", group->keys[i],
               detail);
      goto fail;
    }
  }
  *axes = realloc(*axes, (*naxes + 1) * sizeof **axes);
  if (!*axes) abort();
  (*axes)[(*naxes)++] = ax;
  return 0;
fail:
  for (size_t k = 0; k < ax.nkeys; k++) {
    free(ax.keys[k]);
    cfg_free(ax.values[k]);
  }
  free(ax.keys);
  free(ax.values);
  return -1;
}

static int seeds_values(const cfg_node *spec, long long base, cfg_node **out, herr *e) {
  if (spec->kind == CFG_SCALAR) {
    long long count;
    if (cfg_as_int(spec, &count, e)) return -1;
    if (count < 1 || count > SWEEP_MAX_POINTS)
      return cfg_errf(e, spec->loc, NULL, "sweep.seeds: a count must be between 1 and %d", SWEEP_MAX_POINTS);
    if (base < 0 || base > LLONG_MAX - count)
      return cfg_errf(e, spec->loc, NULL, "sweep.seeds: seed %lld + %lld repeats does not fit in 64 bits", base, count);
    /* `seeds: N` repeats the point N times with seeds base, base+1, ... */
    cfg_node *seq = cfg_new_seq(spec->loc);
    for (long long i = 0; i < count; i++) {
      char buf[32];
      snprintf(buf, sizeof buf, "%lld", base + i);
      cfg_seq_push(seq, cfg_new_scalar(buf, false, spec->loc));
    }
    *out = seq;
    return 0;
  }
  cfg_node *seq = sweep_axis_values(spec, "seeds", e);
  if (!seq) return -1;
  for (size_t i = 0; i < seq->len; i++) {
    long long s;
    if (cfg_as_int(seq->items[i], &s, e) || s < 0) {
      cfg_free(seq);
      return cfg_errf(e, spec->loc, NULL, "sweep.seeds: seeds must be non-negative integers");
    }
  }
  *out = seq;
  return 0;
}

/* An exclusion matches a point when every key it names has an equal value in the point. */
static bool excluded(const cfg_node *exclude, const cfg_node *assignments) {
  if (!exclude) return false;
  for (size_t i = 0; i < exclude->len; i++) {
    const cfg_node *rule = exclude->items[i];
    bool all = true;
    for (size_t k = 0; k < rule->len && all; k++) {
      const cfg_node *v = cfg_map_get(assignments, rule->keys[k]);
      all = v && cfg_equal(v, rule->items[k]);
    }
    if (all) return true;
  }
  return false;
}

static int check_exclusions(const cfg_node *exclude, const axis *axes, size_t naxes, bool has_seeds, herr *e) {
  if (exclude->kind != CFG_SEQ)
    return cfg_errf(e, exclude->loc, NULL, "sweep.exclude: expected a list of maps {key.path: value, ...}");
  for (size_t i = 0; i < exclude->len; i++) {
    const cfg_node *rule = exclude->items[i];
    if (rule->kind != CFG_MAP || rule->len == 0)
      return cfg_errf(e, rule->loc, NULL, "sweep.exclude: each entry is a map {key.path: value, ...}");
    for (size_t k = 0; k < rule->len; k++) {
      bool known = has_seeds && !strcmp(rule->keys[k], "seed");
      for (size_t a = 0; a < naxes && !known; a++)
        for (size_t j = 0; j < axes[a].nkeys && !known; j++) known = !strcmp(axes[a].keys[j], rule->keys[k]);
      if (!known)
        return cfg_errf(e, rule->items[k]->loc, NULL, "sweep.exclude: '%s' is not a swept key", rule->keys[k]);
    }
  }
  return 0;
}

static char *point_label(const cfg_node *assignments) {
  if (assignments->len == 0) return strdup("(base)");
  strbuf sb = STRBUF_INIT;
  for (size_t i = 0; i < assignments->len; i++) {
    if (i) sb_append_char(&sb, ' ');
    const cfg_node *v = assignments->items[i];
    char *text = v->kind == CFG_SCALAR ? strdup(v->str) : cfg_canonical(v);
    sb_appendf(&sb, "%s=%s", assignments->keys[i], text);
    free(text);
  }
  return sb_take(&sb);
}

void sweep_points_free(sweep_point *points, size_t n) {
  for (size_t i = 0; i < n; i++) {
    cfg_free(points[i].config);
    cfg_free(points[i].assignments);
    free(points[i].label);
  }
  free(points);
}

int sweep_expand(const cfg_node *root, sweep_point **out, size_t *n, herr *e) {
  *out = NULL;
  *n = 0;
  long long base_seed = 0;
  const cfg_node *seed_node = cfg_map_get(root, "seed");
  if (seed_node && cfg_as_int(seed_node, &base_seed, e)) return -1;
  cfg_node *base = cfg_clone(root);
  cfg_map_remove(base, "sweep");
  const cfg_node *sw = cfg_map_get(root, "sweep");
  axis *axes = NULL;
  size_t naxes = 0;
  cfg_node *seeds = NULL;
  const cfg_node *exclude = NULL;
  sweep_point *points = NULL;
  size_t npoints = 0;
  int rc = -1;

  if (sw && !(sw->kind == CFG_SCALAR && cfg_scalar_type(sw) == CFG_T_NULL)) {
    if (sw->kind != CFG_MAP) {
      cfg_errf(e, sw->loc, NULL, "sweep: expected a map with grid, zip, seeds and exclude");
      goto done;
    }
    static const char *const sections[] = {"grid", "zip", "seeds", "exclude", NULL};
    for (size_t i = 0; i < sw->len; i++) {
      bool ok = false;
      for (size_t k = 0; sections[k]; k++) ok = ok || !strcmp(sw->keys[i], sections[k]);
      if (!ok) {
        char loc[512];
        cfg_loc_str(sw->key_locs[i], loc, sizeof loc);
        herr_set(e, "%s: sweep: unknown key '%s' (expected grid, zip, seeds or exclude)", loc, sw->keys[i]);
        goto done;
      }
    }
    const cfg_node *grid = cfg_map_get(sw, "grid");
    if (grid) {
      if (grid->kind != CFG_MAP) {
        cfg_errf(e, grid->loc, NULL, "sweep.grid: expected a map of key paths to value lists");
        goto done;
      }
      for (size_t i = 0; i < grid->len; i++) {
        cfg_node one = {.kind = CFG_MAP,
                        .loc = grid->loc,
                        .len = 1,
                        .cap = 1,
                        .keys = &grid->keys[i],
                        .key_locs = &grid->key_locs[i],
                        .items = &grid->items[i]};
        if (add_zip_group(&one, &axes, &naxes, e)) goto done;
      }
    }
    const cfg_node *zip = cfg_map_get(sw, "zip");
    if (zip) {
      if (zip->kind == CFG_MAP) {
        if (add_zip_group(zip, &axes, &naxes, e)) goto done;
      } else if (zip->kind == CFG_SEQ) {
        for (size_t i = 0; i < zip->len; i++)
          if (add_zip_group(zip->items[i], &axes, &naxes, e)) goto done;
      } else {
        cfg_errf(e, zip->loc, NULL, "sweep.zip: expected a map (one group) or a list of maps (several groups)");
        goto done;
      }
    }
    /* A key may be swept by one axis only, or the later one would silently win; the same
     * holds for a key and a key inside it ("a" and "a.b"). */
    for (size_t a = 0; a < naxes; a++)
      for (size_t k = 0; k < axes[a].nkeys; k++)
        for (size_t b = a; b < naxes; b++)
          for (size_t j = (b == a ? k + 1 : 0); j < axes[b].nkeys; j++) {
            if (!strcmp(axes[a].keys[k], axes[b].keys[j])) {
              cfg_errf(e, axes[b].values[j]->loc, NULL, "sweep: '%s' is swept twice", axes[b].keys[j]);
              goto done;
            }
            if (paths_overlap(axes[a].keys[k], axes[b].keys[j])) {
              cfg_errf(e, axes[b].values[j]->loc, NULL, "sweep: '%s' and '%s' overlap (one key lies inside the other)",
                       axes[a].keys[k], axes[b].keys[j]);
              goto done;
            }
          }
    const cfg_node *seeds_spec = cfg_map_get(sw, "seeds");
    if (seeds_spec && seeds_values(seeds_spec, base_seed, &seeds, e)) goto done;
    exclude = cfg_map_get(sw, "exclude");
    if (exclude && check_exclusions(exclude, axes, naxes, seeds != NULL, e)) goto done;
  }

  size_t total = seeds ? seeds->len : 1;
  for (size_t a = 0; a < naxes; a++) {
    if (total > SWEEP_MAX_POINTS / axes[a].len) {
      herr_set(e, "sweep: more than %d points; split the sweep or check its ranges", SWEEP_MAX_POINTS);
      goto done;
    }
    total *= axes[a].len;
  }
  points = calloc(total ? total : 1, sizeof *points);
  if (!points) abort();
  size_t *idx = calloc(naxes + 1, sizeof *idx);
  if (!idx) abort();
  for (size_t t = 0; t < total; t++) {
    /* Mixed-radix counter: the last axis moves fastest, seeds fastest of all. */
    size_t rem = t;
    size_t nseeds = seeds ? seeds->len : 1;
    size_t seed_i = rem % nseeds;
    rem /= nseeds;
    for (size_t a = naxes; a-- > 0;) {
      idx[a] = rem % axes[a].len;
      rem /= axes[a].len;
    }
    cfg_node *assign = cfg_new_map(root->loc);
    for (size_t a = 0; a < naxes; a++)
      for (size_t k = 0; k < axes[a].nkeys; k++) {
        cfg_node *v = axes[a].values[k]->items[idx[a]];
        cfg_map_set(assign, axes[a].keys[k], v->loc, cfg_clone(v));
      }
    if (seeds) cfg_map_set(assign, "seed", seeds->items[seed_i]->loc, cfg_clone(seeds->items[seed_i]));
    if (excluded(exclude, assign)) {
      cfg_free(assign);
      continue;
    }
    cfg_node *cfg = cfg_clone(base);
    for (size_t i = 0; i < assign->len; i++) {
      if (cfg_set(cfg, assign->keys[i], cfg_clone(assign->items[i]), e)) {
        herr_prefix(e, "sweep: cannot set '%s'", assign->keys[i]);
        cfg_free(cfg);
        cfg_free(assign);
        free(idx);
        goto done;
      }
    }
    sweep_point *p = &points[npoints];
    p->index = npoints;
    p->config = cfg;
    p->assignments = assign;
    p->label = point_label(assign);
    p->seed = base_seed;
    const cfg_node *s = cfg_map_get(cfg, "seed");
    if (s && cfg_as_int(s, &p->seed, e)) {
      npoints++;
      free(idx);
      goto done;
    }
    npoints++;
  }
  free(idx);
  if (npoints == 0) {
    herr_set(e, "sweep: every point is excluded; nothing to run");
    goto done;
  }
  *out = points;
  *n = npoints;
  points = NULL;
  rc = 0;
done:
  if (points) sweep_points_free(points, npoints);
  axes_free(axes, naxes);
  cfg_free(seeds);
  cfg_free(base);
  return rc;
}
