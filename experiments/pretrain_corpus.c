/* pretrain_corpus: renders the procedural captioned corpus (harness/data/corpus.h) the tiny
 * model is pretrained on: artifacts/corpus.safetensors ("images" U8 [n, size, size, 3]),
 * artifacts/captions.txt (one caption per line, in image order) and a preview grid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/pretrain_schema.h"
#include "harness/data/corpus.h"
#include "harness/formats/png.h"
#include "harness/formats/safetensors.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static int write_preview(const char *dir, const uint8_t *images, size_t n, int s, herr *e) {
  const int cols = 8, rows = (int)((n < 64 ? n : 64) + cols - 1) / cols;
  const int gw = cols * s, gh = rows * s;
  uint8_t *grid = calloc((size_t)gw * gh * 3, 1);
  if (!grid) abort();
  for (size_t i = 0; i < n && i < 64; i++) {
    const int gx = (int)(i % cols) * s, gy = (int)(i / cols) * s;
    for (int y = 0; y < s; y++)
      memcpy(grid + ((size_t)(gy + y) * gw + gx) * 3, images + (i * s * s + (size_t)y * s) * 3, (size_t)s * 3);
  }
  char *path = fs_join(dir, "preview.png");
  int rc = png_write8(path, grid, (uint32_t)gw, (uint32_t)gh, 3, NULL, 0, e);
  free(path);
  free(grid);
  return rc;
}

static int corpus_run(stage_ctx *ctx, herr *e) {
  const cfg_node *c = stage_config(ctx);
  long long seed, n, s;
  if (cfg_int_at(c, "pretrain.corpus.seed", &seed, e) || cfg_int_at(c, "pretrain.corpus.size", &n, e) ||
      cfg_int_at(c, "pretrain.corpus.image_size", &s, e))
    return -1;
  const size_t px = (size_t)s * (size_t)s * 3;
  uint8_t *images = malloc((size_t)n * px);
  float *rgb = malloc(px * sizeof *rgb);
  if (!images || !rgb) abort();
  strbuf caps = STRBUF_INIT;
  int rc = 0;
  stage_progress_begin(ctx, "corpus images", (uint64_t)n);
  for (long long i = 0; i < n && !rc; i++) {
    corpus_item it;
    corpus_item_make((uint64_t)seed, (uint64_t)i, &it);
    rc = corpus_item_render(&it, (int)s, rgb, e);
    if (!rc) png_from_unit_float(rgb, px, images + (size_t)i * px);
    sb_appendf(&caps, "%s\n", it.caption);
    if (i % 256 == 0) stage_progress_update(ctx, (uint64_t)i);
    if (stage_cancelled(ctx)) rc = herr_set(e, "cancelled");
  }
  stage_progress_end(ctx);
  const char *art = stage_artifact_dir(ctx);
  char *st_path = fs_join(art, "corpus.safetensors"), *cap_path = fs_join(art, "captions.txt");
  st_tensor t = {.name = "images", .dtype = ST_U8, .ndim = 4, .shape = {n, s, s, 3}, .data = images,
                 .nbytes = (size_t)n * px};
  char seed_s[32];
  snprintf(seed_s, sizeof seed_s, "%lld", seed);
  const char *mk[] = {"corpus_seed"}, *mv[] = {seed_s};
  if (!rc) rc = st_write(st_path, &t, 1, mk, mv, 1, e);
  if (!rc) rc = fs_write_atomic(cap_path, sb_str(&caps), caps.len, e);
  if (!rc) rc = write_preview(art, images, (size_t)n, (int)s, e);
  store_writer *w = stage_store(ctx);
  if (!rc) rc = store_put_artifact(w, "corpus", "artifacts/corpus.safetensors", e);
  if (!rc) rc = store_put_artifact(w, "captions", "artifacts/captions.txt", e);
  if (!rc) rc = store_put_artifact(w, "preview", "artifacts/preview.png", e);
  if (!rc) rc = store_put_metric(w, "images", (double)n, e);
  free(st_path);
  free(cap_path);
  sb_free(&caps);
  free(images);
  free(rgb);
  return rc;
}

static const char *const corpus_keys[] = {"pretrain.corpus", NULL};

const stage_kind pretrain_corpus_stage = {
    .name = "pretrain_corpus",
    .version = 2, /* 2: "an orange" */
    .summary = "procedural captioned colour-image corpus for pretraining the tiny model",
    .section = "pretrain",
    .schema = &pretrain_section_schema,
    .keys = corpus_keys,
    .seeded = false,
    .run = corpus_run,
};
