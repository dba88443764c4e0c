/* generate: synthetic images of one class (the variant) from its embedding — n_per_class images
 * with the configured sampler, steps and guidance — written as a dataset (PNGs in artifacts/images
 * plus manifest.csv in the harness/data format, all in the train split) for the classifier. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/diffusion_schema.h"
#include "harness/data/dataset.h"
#include "harness/model/embedding_file.h"
#include "harness/pipeline/sd_sample.h"
#include "harness/util/clock.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

/* "{token}" in the configured prompt becomes the class's placeholder. */
static char *class_prompt(const char *tmpl, const char *token) {
  strbuf b = STRBUF_INIT;
  for (const char *p = tmpl; *p;) {
    if (!strncmp(p, "{token}", 7)) {
      sb_append(&b, token);
      p += 7;
    } else {
      sb_append_n(&b, p++, 1);
    }
  }
  char *s = sb_take(&b);
  return s ? s : strdup("");
}

typedef struct gen_ui {
  stage_ctx *ctx;
} gen_ui;

static int on_eval(void *user, int done, int total) {
  (void)done, (void)total;
  return stage_cancelled(((gen_ui *)user)->ctx) ? 1 : 0;
}

static int generate_run(stage_ctx *ctx, herr *e) {
  const cfg_node *c = stage_config(ctx);
  const char *variant = stage_variant(ctx);
  long long n_total, steps, size, batch;
  double guidance;
  const char *prompt_tmpl, *negative, *sampler;
  if (cfg_int_at(c, "diffusion.generate.n_per_class", &n_total, e) ||
      cfg_str_at(c, "diffusion.generate.prompt", &prompt_tmpl, e) ||
      cfg_str_at(c, "diffusion.generate.negative_prompt", &negative, e) ||
      cfg_str_at(c, "diffusion.generate.sampler", &sampler, e) || cfg_int_at(c, "diffusion.generate.steps", &steps, e) ||
      cfg_double_at(c, "diffusion.generate.guidance", &guidance, e) ||
      cfg_int_at(c, "diffusion.generate.size", &size, e) || cfg_int_at(c, "diffusion.generate.batch", &batch, e))
    return -1;
  const char *emb_dir = stage_dep_dir(ctx, "embed", e);
  if (!emb_dir) return -1;
  char *emb_path = fs_join(emb_dir, "artifacts/embedding.pt");
  emb_file f = {0};
  sd_model *m = NULL;
  char *prompt = NULL;
  float *img = NULL;
  ds_manifest man = {0};
  int rc = emb_read(emb_path, &f, e);
  if (!rc) rc = diffusion_load_model(ctx, &m, e);
  if (!rc) rc = sd_model_add_embedding(m, emb_path, e);
  if (!rc) prompt = class_prompt(prompt_tmpl, f.items[0].token);
  sd_sample_params p = {.prompt = prompt, .negative = negative, .width = (int)size, .height = (int)size,
                        .steps = (int)steps, .guidance = guidance, .sampler = strcmp(sampler, "default") ? sampler : NULL,
                        .progress = on_eval};
  gen_ui ui = {ctx};
  p.progress_user = &ui;
  int W = 0, H = 0;
  if (!rc) rc = sd_sample_size(m, &p, &W, &H, e);
  char *img_dir = fs_join(stage_artifact_dir(ctx), "images");
  if (!rc) rc = fs_mkdir_p(img_dir, e);
  if (!rc) rc = ds_manifest_init(&man, stage_artifact_dir(ctx), e);
  if (!rc) {
    img = malloc((size_t)batch * W * H * 3 * sizeof *img);
    if (!img) rc = herr_set(e, "out of memory for %lld images of %dx%d", batch, W, H);
  }
  int label = diffusion_variant_label(variant);
  double t0 = clock_now_s();
  char what[200];
  snprintf(what, sizeof what, "%lld %s images %dx%d, %lld steps, guidance %g", n_total, variant, W, H, steps, guidance);
  if (!rc) stage_progress_begin(ctx, what, (uint64_t)n_total);
  for (long long start = 0; start < n_total && !rc; start += batch) {
    int nb = (int)(n_total - start < batch ? n_total - start : batch);
    p.n_images = nb;
    /* Batch k's torch seed is the stage seed + k: any batch can be regenerated on its own. */
    p.seed = stage_seed(ctx) + (uint64_t)(start / batch);
    rc = sd_sample(m, &p, img, e);
    if (rc && stage_cancelled(ctx)) herr_set(e, "interrupted");
    for (int i = 0; i < nb && !rc; i++) {
      char name[64], rel[80], src[160], id[48];
      snprintf(id, sizeof id, "syn-%s-%06lld", variant, start + i);
      snprintf(name, sizeof name, "%s.png", id);
      snprintf(rel, sizeof rel, "images/%s", name);
      snprintf(src, sizeof src, "generated: seed %" PRIu64 " item %d", p.seed, i);
      char *path = fs_join(img_dir, name);
      rc = sd_sample_write_png(path, img, (size_t)i, W, H, NULL, e);
      free(path);
      ds_case dc = {.case_id = id, .label = label, .ok = 1, .reason = "", .image = rel, .mask = "", .slice = -1,
                    .split = "train", .embed = 0, .source = src};
      if (!rc) rc = ds_manifest_add(&man, &dc, e);
    }
    stage_progress_update(ctx, (uint64_t)(start + nb));
  }
  stage_progress_end(ctx);
  double secs = clock_now_s() - t0;
  store_writer *w = stage_store(ctx);
  if (!rc) rc = ds_manifest_write(&man, e);
  if (!rc) rc = ds_write_info(stage_artifact_dir(ctx), "synthetic", "{}", e);
  if (!rc) rc = store_put_artifact(w, "manifest", "artifacts/manifest.csv", e);
  if (!rc) rc = store_put_metric(w, "n_images", (double)n_total, e);
  if (!rc) rc = store_put_metric(w, "seconds", secs, e);
  if (!rc && secs > 0) rc = store_put_metric(w, "images_per_second", (double)n_total / secs, e);
  if (!rc) rc = store_put_metric_str(w, "prompt", prompt, e);
  free(img_dir);
  free(img);
  free(prompt);
  free(emb_path);
  ds_manifest_free(&man);
  emb_file_free(&f);
  sd_model_free(m);
  return rc;
}

static int generate_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  *out = calloc(1, sizeof **out);
  if (!*out) abort();
  (*out)[0] = (stage_dep){.role = "embed", .kind = "embed", .variant = strdup(variant)};
  *n = 1;
  return 0;
}

static const char *const generate_keys[] = {"diffusion.model", "diffusion.generate", NULL};

const stage_kind generate_stage = {
    .name = "generate",
    .version = 1,
    .summary = "synthetic images of one class (neg/pos) from its embedding",
    .section = "diffusion",
    .schema = &diffusion_section_schema,
    .keys = generate_keys,
    .seeded = false, /* diffusion.generate.seed instead: every point seed shares the images */
    .variants = diffusion_class_variants,
    .deps = generate_deps,
    .preflight = diffusion_preflight_model,
    .run = generate_run,
};
