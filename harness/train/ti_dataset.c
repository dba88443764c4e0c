/* ti_dataset: the training images of textual inversion — a folder of PNGs with optional
 * caption files — and their preparation (square crop, PIL-exact resize, mirror, [-1, 1] CHW). */
#include "harness/train/ti_dataset.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "harness/formats/png.h"
#include "harness/image/crop.h"
#include "harness/util/fsutil.h"

#define TI_CAPTION_MAX ((size_t)1 << 20)

void ti_image_set_free(ti_image_set *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) {
    free(s->items[i].path);
    free(s->items[i].caption);
  }
  free(s->items);
  s->n = 0;
  s->items = NULL;
}

int ti_image_set_add(ti_image_set *s, const char *path, const char *caption, herr *e) {
  if (!path) return herr_set(e, "training images: no path given");
  ti_image *ni = realloc(s->items, (s->n + 1) * sizeof *ni);
  if (!ni) return herr_set(e, "training images: out of memory adding %s", path);
  s->items = ni;
  char *p = strdup(path), *c = strdup(caption ? caption : "");
  if (!p || !c) {
    free(p);
    free(c);
    return herr_set(e, "training images: out of memory adding %s", path);
  }
  s->items[s->n].path = p;
  s->items[s->n].caption = c;
  s->n++;
  return 0;
}

static int has_png_suffix(const char *name) {
  size_t n = strlen(name);
  return n > 4 && !strcasecmp(name + n - 4, ".png");
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The caption beside x.png: x.txt, trimmed; "" when there is none. */
static char *read_caption(const char *png_path, herr *e) {
  size_t n = strlen(png_path);
  char *txt = malloc(n + 1);
  if (!txt) {
    herr_set(e, "training images: out of memory");
    return NULL;
  }
  memcpy(txt, png_path, n - 4);
  memcpy(txt + n - 4, ".txt", 5);
  struct stat st;
  if (stat(txt, &st) != 0 || !S_ISREG(st.st_mode)) {
    free(txt);
    return strdup("");
  }
  size_t len;
  char *text = fs_read_file_max(txt, TI_CAPTION_MAX, &len, e);
  if (!text) {
    herr_prefix(e, "caption of %s", png_path);
    free(txt);
    return NULL;
  }
  if (memchr(text, '\0', len)) {
    herr_set(e, "caption file %s: contains a NUL byte (expected text)", txt);
    free(text);
    free(txt);
    return NULL;
  }
  free(txt);
  char *a = text, *b = text + len;
  while (a < b && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')) a++;
  while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' || b[-1] == '\r')) b--;
  memmove(text, a, (size_t)(b - a));
  text[b - a] = '\0';
  return text;
}

int ti_image_set_from_dir(const char *dir, ti_image_set *out, herr *e) {
  memset(out, 0, sizeof *out);
  DIR *d = opendir(dir);
  if (!d) return herr_errno(e, "training images %s", dir);
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for (struct dirent *de; (de = readdir(d));) {
    /* Hidden files are skipped: "._x.png" is macOS metadata, not an image. */
    if (de->d_name[0] == '.' || !has_png_suffix(de->d_name)) continue;
    char *path = fs_join(dir, de->d_name);
    struct stat st;
    if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
      free(path);
      continue;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn) {
        free(path);
        rc = herr_set(e, "training images %s: out of memory", dir);
        break;
      }
      names = nn;
    }
    names[n++] = path;
  }
  closedir(d);
  if (!rc && n == 0) rc = herr_set(e, "training images %s: no .png files in the folder", dir);
  if (!rc) qsort(names, n, sizeof *names, cmp_names);
  for (size_t i = 0; i < n && !rc; i++) {
    char *cap_text = read_caption(names[i], e);
    if (!cap_text) {
      rc = -1;
      break;
    }
    rc = ti_image_set_add(out, names[i], cap_text, e);
    free(cap_text);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  if (rc) ti_image_set_free(out);
  return rc;
}

/* Grey, RGB or RGBA to RGB as PIL's convert("RGB"): grey is replicated, alpha dropped. */
static uint8_t *to_rgb(const png_image8 *img) {
  size_t np = (size_t)img->width * img->height;
  uint8_t *rgb = malloc(np * 3);
  if (!rgb) return NULL;
  for (size_t p = 0; p < np; p++)
    for (int c = 0; c < 3; c++)
      rgb[p * 3 + (size_t)c] = img->pixels[p * (size_t)img->channels + (size_t)(img->channels >= 3 ? c : 0)];
  return rgb;
}

int ti_image_load(const ti_image_set *s, size_t i, int size, ti_crop crop, img_filter filter, int hflip, rng *r,
                  float *out, herr *e) {
  if (!s || i >= s->n) return herr_set(e, "training images: image %zu does not exist (%zu images)", i, s ? s->n : 0);
  const char *path = s->items[i].path;
  if (size < 1 || size > (int)PNG_MAX_SIDE) return herr_set(e, "%s: training size %d is out of range", path, size);
  if (crop != TI_CROP_CENTER && crop != TI_CROP_RANDOM) return herr_set(e, "%s: unknown crop mode %d", path, (int)crop);
  if (crop == TI_CROP_RANDOM && !r) return herr_set(e, "%s: a random crop needs a random stream", path);
  png_image8 img;
  if (png_read8(path, &img, e)) return -1;
  int w = (int)img.width, h = (int)img.height;
  int side = w < h ? w : h;
  uint8_t *rgb = to_rgb(&img);
  png_image8_free(&img);
  uint8_t *sq = malloc((size_t)side * (size_t)side * 3);
  uint8_t *rs = malloc((size_t)size * (size_t)size * 3);
  int rc = 0;
  if (!rgb || !sq || !rs) {
    rc = herr_set(e, "%s: out of memory preparing a %dx%d image", path, w, h);
    goto done;
  }
  int x0, y0;
  if (crop == TI_CROP_CENTER) {
    /* diffusers' center_crop offsets: (w - side) // 2, (h - side) // 2 */
    x0 = (w - side) / 2;
    y0 = (h - side) / 2;
  } else { /* both are always drawn, so the stream advances the same for every image */
    x0 = (int)rng_below(r, (uint64_t)(w - side + 1));
    y0 = (int)rng_below(r, (uint64_t)(h - side + 1));
  }
  if (img_crop_u8(rgb, w, h, 3, x0, y0, side, side, sq, e) ||
      img_resize_u8(sq, side, side, 3, rs, size, size, filter, e)) {
    rc = herr_prefix(e, "%s", path);
    goto done;
  }
  if (hflip) img_hflip_u8(rs, size, size, 3);
  size_t plane = (size_t)size * (size_t)size;
  for (size_t p = 0; p < plane; p++)
    for (size_t c = 0; c < 3; c++) out[c * plane + p] = (float)rs[p * 3 + c] / 127.5f - 1.0f;
done:
  free(rgb);
  free(sq);
  free(rs);
  return rc;
}
