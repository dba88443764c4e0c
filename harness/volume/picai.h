/* picai: PI-CAI preparation as the paper describes it — per case, T2W/ADC/HBV resampled onto one
 * world-space grid (T2W's origin and direction, 3.0 x 0.5 x 0.5 mm, centre crop/pad to
 * 30 x 300 x 300), min-max normalised, one axial slice (largest lesion area for a positive, the
 * whole gland's middle slice for a negative) as an RGB image resized to 512 x 512 (Lanczos).
 * Also where the public dataset keeps its files (picai_public_images_fold* and picai_labels). */
#ifndef MDH_VOLUME_PICAI_H
#define MDH_VOLUME_PICAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

typedef enum picai_label_set {
  PICAI_LABELS_HUMAN = 0,    /* csPCa_lesion_delineations/human_expert/resampled */
  PICAI_LABELS_AI,           /* csPCa_lesion_delineations/AI/Bosma22a */
  PICAI_LABELS_HUMAN_THEN_AI /* human where it exists, else AI */
} picai_label_set;

/* "human", "ai", "human-then-ai". */
int picai_label_set_parse(const char *text, picai_label_set *out, herr *e);
const char *picai_label_set_name(picai_label_set s);

typedef struct picai_params {
  double spacing[3];    /* target spacing along x, y, z (mm) */
  size_t size[3];       /* target grid along x, y, z */
  int image_side;       /* output PNG side */
  double direction_tol; /* degrees an ADC/HBV/label axis may differ from T2W's */
  double min_overlap;   /* fraction of T2W's crop voxels each other volume must cover */
} picai_params;

/* The paper's values: (z, y, x) spacing (3.0, 0.5, 0.5), size (30, 300, 300), 512 px,
 * 5 degrees, 0.5. */
void picai_params_paper(picai_params *p);

/* One case's input files (NULL where the file does not exist). */
typedef struct picai_case {
  char *case_id; /* <patient_id>_<study_id> */
  char *t2w, *adc, *hbv;
  char *lesion;           /* the chosen delineation, NULL when missing */
  const char *lesion_set; /* "human_expert" or "AI/Bosma22a": which one was found */
  char *gland;            /* whole-gland segmentation, NULL when missing */
} picai_case;

void picai_case_free(picai_case *c);

/* Cases found under images_dir (<patient>/<case>_{t2w,adc,hbv}.{mha,mhd,nii,nii.gz}, sorted
 * by id), with their label files under labels_dir. A case appears when any of its three
 * sequences exists, so that a missing one is reported rather than ignored. */
int picai_discover(const char *images_dir, const char *labels_dir, picai_label_set set, picai_case **cases, size_t *n,
                   herr *e);

/* The outcome of one case. */
typedef enum picai_skip {
  PICAI_SKIP_NONE = 0,
  PICAI_SKIP_MISSING_FILE,   /* a sequence is missing */
  PICAI_SKIP_MISSING_LABEL,  /* no delineation (or no gland mask for a negative) */
  PICAI_SKIP_BAD_FILE,       /* unreadable, truncated, corrupt or constant volume */
  PICAI_SKIP_GEOMETRY,       /* volumes that do not lie on T2W's anatomy */
  PICAI_SKIP_NO_SLICE,       /* lesion or gland outside the crop */
  PICAI_SKIP_LABEL_CONFLICT, /* delineation and marksheet disagree (set by the caller) */
  PICAI_SKIP_KINDS
} picai_skip;

/* "missing sequence", "missing label", ... for summaries. */
const char *picai_skip_name(picai_skip k);

typedef struct picai_result {
  bool ok;
  picai_skip kind;   /* why skipped, PICAI_SKIP_NONE when ok */
  char reason[1024]; /* why skipped (ok == false) */
  int label;         /* 1 csPCa, 0 not, -1 unknown */
  int slice;         /* k index in the target grid, -1 none */
  uint8_t *rgb;      /* image_side^2 * 3 bytes when ok (caller frees) */
} picai_result;

/* Runs the recipe on one case; never fails as a call: problems become r->reason. */
void picai_process_case(const picai_case *c, const picai_params *p, picai_result *r);

/* Clinical marks (picai_labels/clinical_information/marksheet.csv, column case_csPCa YES/NO),
 * used as a consistency check of the delineation-derived label. */
typedef struct picai_marksheet picai_marksheet;
/* NULL with no error set (e->msg empty) when the file lacks a case_csPCa column (older
 * versions of picai_labels); NULL with an error when it cannot be read. */
picai_marksheet *picai_marksheet_read(const char *path, herr *e);
/* 1 YES, 0 NO, -1 not listed. */
int picai_marksheet_lookup(const picai_marksheet *m, const char *case_id);
size_t picai_marksheet_size(const picai_marksheet *m);
void picai_marksheet_free(picai_marksheet *m);

#endif
