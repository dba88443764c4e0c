/* prompt_templates: the prompt templates of textual-inversion training — A1111's shipped
 * textual_inversion_templates files built in, or a user's file — and their rendering. */
#include "harness/train/prompt_templates.h"

#include <stdlib.h>
#include <string.h>

#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

#define TI_TEMPLATE_FILE_MAX ((size_t)1 << 20)

/* Copied line for line from A1111's textual_inversion_templates (subject.txt, style.txt,
 * subject_filewords.txt, style_filewords.txt, none.txt), duplicates included: training draws
 * a line uniformly, so a duplicate doubles that template's weight. */
static const char *const tpl_subject[] = {
    "a photo of a [name]",
    "a rendering of a [name]",
    "a cropped photo of the [name]",
    "the photo of a [name]",
    "a photo of a clean [name]",
    "a photo of a dirty [name]",
    "a dark photo of the [name]",
    "a photo of my [name]",
    "a photo of the cool [name]",
    "a close-up photo of a [name]",
    "a bright photo of the [name]",
    "a cropped photo of a [name]",
    "a photo of the [name]",
    "a good photo of the [name]",
    "a photo of one [name]",
    "a close-up photo of the [name]",
    "a rendition of the [name]",
    "a photo of the clean [name]",
    "a rendition of a [name]",
    "a photo of a nice [name]",
    "a good photo of a [name]",
    "a photo of the nice [name]",
    "a photo of the small [name]",
    "a photo of the weird [name]",
    "a photo of the large [name]",
    "a photo of a cool [name]",
    "a photo of a small [name]",
    NULL};

static const char *const tpl_subject_filewords[] = {
    "a photo of a [name], [filewords]",
    "a rendering of a [name], [filewords]",
    "a cropped photo of the [name], [filewords]",
    "the photo of a [name], [filewords]",
    "a photo of a clean [name], [filewords]",
    "a photo of a dirty [name], [filewords]",
    "a dark photo of the [name], [filewords]",
    "a photo of my [name], [filewords]",
    "a photo of the cool [name], [filewords]",
    "a close-up photo of a [name], [filewords]",
    "a bright photo of the [name], [filewords]",
    "a cropped photo of a [name], [filewords]",
    "a photo of the [name], [filewords]",
    "a good photo of the [name], [filewords]",
    "a photo of one [name], [filewords]",
    "a close-up photo of the [name], [filewords]",
    "a rendition of the [name], [filewords]",
    "a photo of the clean [name], [filewords]",
    "a rendition of a [name], [filewords]",
    "a photo of a nice [name], [filewords]",
    "a good photo of a [name], [filewords]",
    "a photo of the nice [name], [filewords]",
    "a photo of the small [name], [filewords]",
    "a photo of the weird [name], [filewords]",
    "a photo of the large [name], [filewords]",
    "a photo of a cool [name], [filewords]",
    "a photo of a small [name], [filewords]",
    NULL};

static const char *const tpl_style[] = {
    "a painting, art by [name]",
    "a rendering, art by [name]",
    "a cropped painting, art by [name]",
    "the painting, art by [name]",
    "a clean painting, art by [name]",
    "a dirty painting, art by [name]",
    "a dark painting, art by [name]",
    "a picture, art by [name]",
    "a cool painting, art by [name]",
    "a close-up painting, art by [name]",
    "a bright painting, art by [name]",
    "a cropped painting, art by [name]",
    "a good painting, art by [name]",
    "a close-up painting, art by [name]",
    "a rendition, art by [name]",
    "a nice painting, art by [name]",
    "a small painting, art by [name]",
    "a weird painting, art by [name]",
    "a large painting, art by [name]",
    NULL};

static const char *const tpl_style_filewords[] = {
    "a painting of [filewords], art by [name]",
    "a rendering of [filewords], art by [name]",
    "a cropped painting of [filewords], art by [name]",
    "the painting of [filewords], art by [name]",
    "a clean painting of [filewords], art by [name]",
    "a dirty painting of [filewords], art by [name]",
    "a dark painting of [filewords], art by [name]",
    "a picture of [filewords], art by [name]",
    "a cool painting of [filewords], art by [name]",
    "a close-up painting of [filewords], art by [name]",
    "a bright painting of [filewords], art by [name]",
    "a cropped painting of [filewords], art by [name]",
    "a good painting of [filewords], art by [name]",
    "a close-up painting of [filewords], art by [name]",
    "a rendition of [filewords], art by [name]",
    "a nice painting of [filewords], art by [name]",
    "a small painting of [filewords], art by [name]",
    "a weird painting of [filewords], art by [name]",
    "a large painting of [filewords], art by [name]",
    NULL};

static const char *const tpl_none[] = {
    "picture",
    NULL};

static const struct {
  const char *name;
  const char *const *lines;
} builtins[] = {{"subject", tpl_subject},
                {"style", tpl_style},
                {"subject_filewords", tpl_subject_filewords},
                {"style_filewords", tpl_style_filewords},
                {"none", tpl_none}};

struct ti_templates {
  size_t n;
  char **lines;
};

void ti_templates_free(ti_templates *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n; i++) free(t->lines[i]);
  free(t->lines);
  free(t);
}

static int push_line(ti_templates *t, size_t *cap, const char *s, size_t len) {
  if (t->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 32;
    char **nl = realloc(t->lines, nc * sizeof *nl);
    if (!nl) return -1;
    t->lines = nl;
    *cap = nc;
  }
  char *c = malloc(len + 1);
  if (!c) return -1;
  memcpy(c, s, len);
  c[len] = '\0';
  t->lines[t->n++] = c;
  return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* A1111 strips every line; blank lines are dropped here (A1111 would keep them as empty prompts). */
static int parse_file(const char *path, ti_templates *t, herr *e) {
  size_t len;
  char *text = fs_read_file_max(path, TI_TEMPLATE_FILE_MAX, &len, e);
  if (!text) return herr_prefix(e, "prompt template file");
  if (memchr(text, '\0', len)) {
    free(text);
    return herr_set(e, "prompt template file %s: contains a NUL byte (expected text, one template per line)", path);
  }
  size_t cap = 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    const char *a = p, *b = le;
    while (a < b && is_space(*a)) a++;
    while (b > a && is_space(b[-1])) b--;
    if (b > a && push_line(t, &cap, a, (size_t)(b - a))) {
      free(text);
      return herr_set(e, "prompt template file %s: out of memory", path);
    }
    p = nl ? nl + 1 : end;
  }
  free(text);
  if (t->n == 0) return herr_set(e, "prompt template file %s: has no templates (every line is blank)", path);
  return 0;
}

int ti_templates_load(const char *name_or_path, ti_templates **out, herr *e) {
  *out = NULL;
  if (!name_or_path || !*name_or_path)
    return herr_set(e, "prompt templates: no name given (expected subject, style, subject_filewords, "
                       "style_filewords, none or a template file)");
  ti_templates *t = calloc(1, sizeof *t);
  if (!t) return herr_set(e, "prompt templates: out of memory");
  for (size_t b = 0; b < sizeof builtins / sizeof builtins[0]; b++) {
    if (strcmp(name_or_path, builtins[b].name)) continue;
    size_t cap = 0;
    for (const char *const *l = builtins[b].lines; *l; l++)
      if (push_line(t, &cap, *l, strlen(*l))) {
        ti_templates_free(t);
        return herr_set(e, "prompt templates: out of memory");
      }
    *out = t;
    return 0;
  }
  if (!fs_exists(name_or_path)) {
    ti_templates_free(t);
    return herr_set(e, "prompt templates '%s': no such file, and not a built-in set (subject, style, "
                       "subject_filewords, style_filewords, none)", name_or_path);
  }
  if (fs_is_dir(name_or_path)) {
    ti_templates_free(t);
    return herr_set(e, "prompt template file %s: is a directory (expected a text file, one template per line)",
                    name_or_path);
  }
  if (parse_file(name_or_path, t, e)) {
    ti_templates_free(t);
    return -1;
  }
  *out = t;
  return 0;
}

size_t ti_templates_count(const ti_templates *t) { return t ? t->n : 0; }

const char *ti_templates_get(const ti_templates *t, size_t i) { return t && i < t->n ? t->lines[i] : NULL; }

static char *replace_all(const char *s, const char *key, const char *with) {
  strbuf sb = STRBUF_INIT;
  size_t klen = strlen(key);
  for (const char *hit; (hit = strstr(s, key)); s = hit + klen) {
    sb_append_n(&sb, s, (size_t)(hit - s));
    sb_append(&sb, with);
  }
  sb_append(&sb, s);
  return sb_take(&sb);
}

char *ti_templates_render(const ti_templates *t, size_t i, const char *name, const char *filewords) {
  const char *line = ti_templates_get(t, i);
  if (!line) return NULL;
  /* A1111's order: [filewords] first, then [name] in the result (so "[name]" inside a caption
   * also becomes the embedding's name). */
  char *a = replace_all(line, "[filewords]", filewords ? filewords : "");
  if (!a) return NULL;
  char *b = replace_all(a, "[name]", name ? name : "");
  free(a);
  return b;
}
