/* phantom_write: renders a phantom set into the dataset format (images, masks, manifest,
 * dataset.json). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/data/dataset.h"
#include "harness/data/phantom.h"
#include "harness/formats/png.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static char *info_params(const phantom_params *p, size_t n, uint64_t seed) {
  char *pj = phantom_params_json(p);
  strbuf sb = STRBUF_INIT;
  /* The seed as text: JSON readers hold numbers as doubles, which lose 64-bit seeds. */
  sb_appendf(&sb, "{\"n\": %zu, \"seed\": \"%llu\", \"phantom\": %s}", n, (unsigned long long)seed, pj);
  free(pj);
  return sb_take(&sb);
}

int phantom_write_dataset(const char *dir, const phantom_params *p, size_t n, uint64_t seed,
                          const phantom_hooks *hooks, herr *e) {
  if (phantom_params_check(p, e)) return -1;
  if (n == 0) return herr_set(e, "phantom: the number of cases must be at least 1");
  char *manifest = fs_join(dir, "manifest.csv");
  int rc = fs_mkdir_p(dir, e);
  if (!rc && unlink(manifest) != 0 && errno != ENOENT) rc = herr_errno(e, "cannot remove the old %s", manifest);
  free(manifest);
  char *images = fs_join(dir, "images"), *masks = fs_join(dir, "masks");
  if (!rc) rc = fs_mkdir_p(images, e);
  if (!rc) rc = fs_mkdir_p(masks, e);
  free(images);
  free(masks);
  if (rc) return -1;
  size_t px = (size_t)p->size * (size_t)p->size;
  uint8_t *rgb = malloc(3 * px), *mask = malloc(px);
  if (!rgb || !mask) abort();
  ds_manifest m;
  ds_manifest_init(&m, dir, e);
  for (size_t i = 0; i < n && !rc; i++) {
    if (hooks && hooks->cancelled && hooks->cancelled(hooks->user)) {
      rc = herr_set(e, "phantom: cancelled after %zu of %zu cases", i, n);
      break;
    }
    phantom_case_info info;
    phantom_render(p, seed, i, rgb, mask, NULL, &info);
    char id[64], img_rel[96], mask_rel[96], source[160];
    phantom_case_id(i, id, sizeof id);
    snprintf(img_rel, sizeof img_rel, "images/%s.png", id);
    snprintf(mask_rel, sizeof mask_rel, "masks/%s.png", id);
    snprintf(source, sizeof source, "phantom seed %llu case %zu", (unsigned long long)seed, i);
    char *img_path = fs_join(dir, img_rel), *mask_path = fs_join(dir, mask_rel);
    rc = png_write8(img_path, rgb, (uint32_t)p->size, (uint32_t)p->size, 3, NULL, 0, e);
    if (!rc) rc = png_write8(mask_path, mask, (uint32_t)p->size, (uint32_t)p->size, 1, NULL, 0, e);
    free(img_path);
    free(mask_path);
    ds_case c = {.case_id = id, .label = info.label, .ok = 1, .reason = "", .image = img_rel, .mask = mask_rel,
                 .slice = -1, .split = "", .embed = 0, .source = source};
    if (!rc) rc = ds_manifest_add(&m, &c, e);
    if (!rc && hooks && hooks->progress) hooks->progress(hooks->user, i + 1, n);
  }
  free(rgb);
  free(mask);
  if (!rc) {
    char *params = info_params(p, n, seed);
    rc = ds_write_info(dir, "phantom", params, e);
    free(params);
  }
  /* The manifest last: its presence says the set is complete. */
  if (!rc) rc = ds_manifest_write(&m, e);
  ds_manifest_free(&m);
  return rc;
}
