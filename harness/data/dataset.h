/* The one on-disk dataset format shared by PI-CAI preparation, the phantom generator and the
 * data stage: DIR/manifest.csv (one row per case) and DIR/dataset.json (what made it), plus
 * the seeded, stratified split assignment. Layout documented in harness/data/README.md. */
#ifndef MDH_DATASET_H
#define MDH_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

/* manifest.csv columns, in this order (the reader locates them by name, so extra columns
 * are ignored and order does not matter when reading). */
#define DS_MANIFEST_HEADER "case_id,label,status,reason,image,mask,slice,split,embed,source"
#define DS_FORMAT_NAME "mdh-dataset"
#define DS_FORMAT_VERSION 1

typedef struct ds_case {
  char *case_id; /* unique, non-empty; [A-Za-z0-9_.-] only, so it can name files */
  int label;     /* 0, 1, -1 unknown (written as an empty cell) */
  int ok;        /* 1: status "ok"; 0: "skipped" */
  char *reason;  /* why skipped (required when !ok), else "" */
  char *image;   /* path relative to the dataset dir (or absolute); required when ok */
  char *mask;    /* same, or "" when there is none */
  int slice;     /* source slice index, -1 none */
  char split[8]; /* "train", "val", "test" or "" (unassigned) */
  int embed;     /* 1: in the textual-inversion subset */
  char *source;  /* provenance text, may be "" */
} ds_case;

typedef struct ds_manifest {
  char *dir;
  size_t n, cap;
  ds_case *cases;
} ds_manifest;

/* An empty manifest for dataset directory `dir` (copied). */
int ds_manifest_init(ds_manifest *m, const char *dir, herr *e);
/* Appends a copy of *c (every string copied; NULL strings become ""). Checks the fields as
 * the reader would (id characters, duplicate id, label, split, ok case has an image). */
int ds_manifest_add(ds_manifest *m, const ds_case *c, herr *e);
/* Atomic: m->dir/manifest.csv. */
int ds_manifest_write(const ds_manifest *m, herr *e);
/* Reads dir/manifest.csv, validating every field; errors name file:line and column. */
int ds_manifest_read(const char *dir, ds_manifest *out, herr *e);
void ds_manifest_free(ds_manifest *m);
/* dir + "/" + rel, malloc'd; an absolute `rel` is returned as a copy. */
char *ds_case_path(const ds_manifest *m, const char *rel);
/* dir/dataset.json {"format": "mdh-dataset", "version": 1, "kind": kind, "params": params},
 * atomic. params_json is a JSON object text (NULL: {}); invalid JSON is an error. */
int ds_write_info(const char *dir, const char *kind, const char *params_json, herr *e);
/* Reads dir/dataset.json; *kind and *params_json (compact) are malloc'd (either may be NULL
 * when not wanted). A wrong format name or version is an error. */
int ds_read_info(const char *dir, char **kind, char **params_json, herr *e);

typedef struct ds_split_config {
  int embed_per_class;     /* cases of each label in the textual-inversion subset */
  int train, val, test;    /* case counts, stratified by label */
  int embed_overlap_train; /* 1: embedding cases drawn from the train split; 0: disjoint from
                              train/val/test */
} ds_split_config;

/* The paper's protocol (see the comment at the definition for the overlap choice). */
void ds_split_config_paper(ds_split_config *c);

/* Deterministic for (seed, the set of ok case ids) — independent of row order; stratified (each
 * split gets the label ratio of the pool; rounding in dataset_split.c); too few cases is an
 * error saying how many are needed/available. Only ok cases with a known label take part;
 * every other case ends with split "" and embed 0. Existing assignments are replaced. */
int ds_assign_splits(ds_manifest *m, const ds_split_config *c, uint64_t seed, herr *e);

/* Indices of ok cases with the given split ("train"/"val"/"test") or, with split "embed", the
 * embedding subset, and label (-1: any). *idx is malloc'd (NULL when *n == 0). */
int ds_select(const ds_manifest *m, const char *split, int label, size_t **idx, size_t *n,
              herr *e);

#endif
