/* diffusion_schema: keys, types, ranges and defaults of the `diffusion:` section. */
#include "experiments/diffusion_schema.h"

#include <stdlib.h>
#include <string.h>

#include "harness/util/fsutil.h"

static const char *const dtypes[] = {"auto", "fp32", "fp16", "bf16", NULL};
static const char *const sources[] = {"train", "file", NULL};
static const char *const inits[] = {"text", "zeros", "random", NULL};
static const char *const lr_kinds[] = {"constant", "linear", "cosine", NULL};
static const char *const crops[] = {"center", "random", NULL};
static const char *const latent_modes[] = {"once", "deterministic", "random", NULL};
static const char *const samplers[] = {"default", "ddim", "pndm", "euler", "euler_a", "dpmpp_2m",
                                       "dpmpp_2m_karras", "lms", "heun", "kdpm2", NULL};

static const sch_node model_fields[] = {
    {.key = "dir", .type = SCH_PATH, .doc = "diffusers-format Stable Diffusion folder (SD 2.0-base for the paper)",
     .def = "models/tiny-sd"},
    {.key = "dtype", .type = SCH_ENUM, .doc = "UNet/VAE precision (auto: fp16 on CUDA, fp32 on the CPU)", .def = "auto",
     .choices = dtypes},
    {.key = NULL},
};

static const sch_node class_str_fields[] = {
    {.key = "neg", .type = SCH_STR, .doc = "for the negative class (no csPCa)", .def = "''"},
    {.key = "pos", .type = SCH_STR, .doc = "for the positive class (csPCa)", .def = "''"},
    {.key = NULL},
};

static const sch_node token_fields[] = {
    {.key = "neg", .type = SCH_STR, .doc = "placeholder token of the negative class", .def = "<prostate-neg>"},
    {.key = "pos", .type = SCH_STR, .doc = "placeholder token of the positive class", .def = "<prostate-pos>"},
    {.key = NULL},
};

#define INT_RANGE(lo, hi) .has_min = true, .min = (lo), .has_max = true, .max = (hi)

static const sch_node train_fields[] = {
    {.key = "cases", .type = SCH_INT, .doc = "training images per class (the first N of the data's embedding subset)",
     .def = "100", INT_RANGE(1, 100000)},
    {.key = "vectors", .type = SCH_INT, .doc = "vectors per token", .def = "8", INT_RANGE(1, 4096)},
    {.key = "init", .type = SCH_ENUM, .doc = "initialisation of the vectors", .def = "text", .choices = inits},
    {.key = "init_text", .type = SCH_STR, .doc = "text whose token embeddings initialise the vectors", .def = "'*'"},
    {.key = "steps", .type = SCH_INT, .doc = "optimizer steps", .def = "1000", INT_RANGE(1, 100000000)},
    {.key = "batch_size", .type = SCH_INT, .doc = "images per micro-batch", .def = "1", INT_RANGE(1, 1024)},
    {.key = "grad_accum", .type = SCH_INT, .doc = "micro-batches per optimizer step", .def = "1", INT_RANGE(1, 1024)},
    {.key = "lr", .type = SCH_STR, .doc = "learning rate or A1111 schedule ('0.005:100, 1e-3:1000, 1e-5')",
     .def = "'0.005'"},
    {.key = "lr_schedule", .type = SCH_ENUM, .doc = "decay of a single rate", .def = "constant", .choices = lr_kinds},
    {.key = "warmup", .type = SCH_INT, .doc = "linear warm-up steps", .def = "0", INT_RANGE(0, 100000000)},
    {.key = "weight_decay", .type = SCH_FLOAT, .doc = "AdamW weight decay on the embedding", .def = "0",
     .has_min = true, .min = 0},
    {.key = "clip_grad_norm", .type = SCH_FLOAT, .doc = "clip the gradient norm to this (0: no clipping)", .def = "0",
     .has_min = true, .min = 0},
    {.key = "template", .type = SCH_STR, .doc = "prompt templates: subject, style, ... or a template file",
     .def = "subject"},
    {.key = "resolution", .type = SCH_INT, .doc = "training size in pixels (0: the model's)", .def = "0",
     INT_RANGE(0, 4096)},
    {.key = "crop", .type = SCH_ENUM, .doc = "square crop before resizing", .def = "center", .choices = crops},
    {.key = "flip", .type = SCH_FLOAT, .doc = "random horizontal flip probability", .def = "0", .has_min = true,
     .min = 0, .has_max = true, .max = 1},
    {.key = "repeats", .type = SCH_INT, .doc = "times each image appears per epoch", .def = "1", INT_RANGE(1, 100000)},
    {.key = "latent_sampling", .type = SCH_ENUM, .doc = "A1111's latent sampling method", .def = "once",
     .choices = latent_modes},
    {.key = "seed", .type = SCH_INT, .doc = "training seed (embeddings are shared by the point seeds: one per setting)",
     .def = "0", INT_RANGE(0, 9007199254740991.0)},
    {.key = "gradient_checkpointing", .type = SCH_BOOL, .doc = "recompute UNet blocks in the backward pass",
     .def = "false"},
    {.key = NULL},
};

static const sch_node embed_fields[] = {
    {.key = "source", .type = SCH_ENUM, .doc = "train embeddings, or use the files given under `files`",
     .def = "train", .choices = sources},
    {.key = "tokens", .type = SCH_MAP, .doc = "placeholder token per class", .fields = token_fields},
    {.key = "files", .type = SCH_MAP, .doc = "embedding file per class when source is file", .fields = class_str_fields},
    {.key = "train", .type = SCH_MAP, .doc = "textual-inversion training", .fields = train_fields},
    /* Outside the identity: how often state is saved or previewed does not change the result. */
    {.key = "checkpoint_every", .type = SCH_INT, .doc = "save a resumable checkpoint every N steps", .def = "500",
     INT_RANGE(1, 100000000)},
    {.key = "preview_every", .type = SCH_INT, .doc = "preview image every N steps (0: none)", .def = "0",
     INT_RANGE(0, 100000000)},
    {.key = NULL},
};

static const sch_node generate_fields[] = {
    {.key = "n_per_class", .type = SCH_INT, .doc = "synthetic images per class", .def = "1000", INT_RANGE(1, 10000000)},
    {.key = "prompt", .type = SCH_STR, .doc = "prompt; {token} becomes the class's placeholder", .def = "'{token}'"},
    {.key = "negative_prompt", .type = SCH_STR, .doc = "negative prompt", .def = "''"},
    {.key = "sampler", .type = SCH_ENUM, .doc = "sampler (default: the model's scheduler)", .def = "default",
     .choices = samplers},
    {.key = "steps", .type = SCH_INT, .doc = "sampling steps", .def = "50", INT_RANGE(1, 1000)},
    {.key = "guidance", .type = SCH_FLOAT, .doc = "classifier-free guidance scale", .def = "5", .has_min = true,
     .min = 0, .has_max = true, .max = 100},
    {.key = "size", .type = SCH_INT, .doc = "image side in pixels (0: the model's)", .def = "0", INT_RANGE(0, 4096)},
    {.key = "batch", .type = SCH_INT, .doc = "images per sampling call", .def = "4", INT_RANGE(1, 1024)},
    {.key = "seed", .type = SCH_INT, .doc = "sampling seed (images are shared by the point seeds)", .def = "0",
     INT_RANGE(0, 9007199254740991.0)},
    {.key = NULL},
};

static const sch_node diffusion_fields[] = {
    {.key = "model", .type = SCH_MAP, .doc = "the Stable Diffusion model", .fields = model_fields},
    {.key = "embed", .type = SCH_MAP, .doc = "one textual-inversion embedding per class", .fields = embed_fields},
    {.key = "generate", .type = SCH_MAP, .doc = "synthetic images per class", .fields = generate_fields},
    {.key = NULL},
};

const sch_node diffusion_section_schema = {.type = SCH_MAP, .doc = "diffusion model, embeddings and sampling",
                                           .fields = diffusion_fields};

int diffusion_class_variants(const cfg_node *point, char ***out, size_t *n, herr *e) {
  (void)point, (void)e;
  *out = calloc(3, sizeof **out);
  if (!*out) abort();
  (*out)[0] = strdup("neg");
  (*out)[1] = strdup("pos");
  *n = 2;
  return 0;
}

int diffusion_variant_label(const char *variant) { return !strcmp(variant, "pos") ? 1 : !strcmp(variant, "neg") ? 0 : -1; }

int diffusion_preflight_model(const cfg_node *config, const char *variant, herr *e) {
  (void)variant;
  const char *dir;
  if (cfg_str_at(config, "diffusion.model.dir", &dir, e)) return -1;
  char *index = fs_join(dir, "model_index.json");
  bool present = fs_exists(index);
  free(index);
  if (!present)
    return herr_set(e, "diffusion.model.dir: no Stable Diffusion model at '%s' (expected a diffusers folder with "
                       "model_index.json; for the paper, download stabilityai/stable-diffusion-2-base in diffusers "
                       "format with safetensors weights and set diffusion.model.dir or SD_MODEL_DIR)",
                    dir);
  return 0;
}

int diffusion_load_model(stage_ctx *ctx, sd_model **out, herr *e) {
  const cfg_node *c = stage_config(ctx);
  const char *dir, *dtype;
  if (diffusion_preflight_model(c, stage_variant(ctx), e)) return -1;
  if (cfg_str_at(c, "diffusion.model.dir", &dir, e) || cfg_str_at(c, "diffusion.model.dtype", &dtype, e)) return -1;
  const char *device = stage_device(ctx);
  bool cuda = !strncmp(device, "cuda", 4);
  if (!strcmp(dtype, "auto")) dtype = cuda ? "fp16" : "fp32";
  shim_exec exec = {.device = device,
                    .dtype = !strcmp(dtype, "fp16") ? SHIM_F16 : !strcmp(dtype, "bf16") ? SHIM_BF16 : SHIM_F32};
  return sd_model_load(dir, &exec, out, e);
}
