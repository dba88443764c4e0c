/* prompt_templates: A1111 textual-inversion prompt templates ("a photo of a [name]"), built-in
 * sets or a template file, rendered with the embedding's name and an image's filewords. */
#ifndef MDH_TRAIN_PROMPT_TEMPLATES_H
#define MDH_TRAIN_PROMPT_TEMPLATES_H

#include <stddef.h>

#include "harness/util/herr.h"

typedef struct ti_templates ti_templates;

/* name_or_path: a built-in set ("subject", "style", "subject_filewords", "style_filewords",
 * "none") as shipped in A1111's textual_inversion_templates/, or a path to a template file (one
 * template per line, blank lines ignored). A missing or empty file is an error naming it. */
int ti_templates_load(const char *name_or_path, ti_templates **out, herr *e);
size_t ti_templates_count(const ti_templates *t);
/* The raw text of template i (NULL when out of range); owned by t. */
const char *ti_templates_get(const ti_templates *t, size_t i);
/* Template i with every "[filewords]" replaced by filewords, then every "[name]" by name (A1111's
 * order; NULL counts as ""). Caller frees; NULL when i is out of range. */
char *ti_templates_render(const ti_templates *t, size_t i, const char *name, const char *filewords);
void ti_templates_free(ti_templates *t);

#endif
