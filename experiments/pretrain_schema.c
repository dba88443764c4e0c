/* pretrain_schema: keys, types, ranges and defaults of the `pretrain:` section. */
#include "experiments/pretrain_schema.h"

static const sch_node int_item = {.type = SCH_INT, .doc = "a positive integer", .has_min = true, .min = 1};
static const sch_node str_item = {.type = SCH_STR, .doc = "a caption"};

static const sch_node corpus_fields[] = {
    {.key = "seed", .type = SCH_INT, .doc = "seed of the procedural corpus", .def = "1", .has_min = true, .min = 0},
    {.key = "size", .type = SCH_INT, .doc = "number of captioned images", .def = "4000", .has_min = true, .min = 1,
     .has_max = true, .max = 1000000},
    {.key = "image_size", .type = SCH_INT, .doc = "image side in pixels", .def = "64", .has_min = true, .min = 8,
     .has_max = true, .max = 512},
    {.key = NULL},
};

static const sch_node text_fields[] = {
    {.key = "hidden_size", .type = SCH_INT, .doc = "CLIP width (token embedding 49408 x this)", .def = "64",
     .has_min = true, .min = 8, .has_max = true, .max = 1024},
    {.key = "layers", .type = SCH_INT, .doc = "encoder layers", .def = "3", .has_min = true, .min = 1, .has_max = true, .max = 48},
    {.key = "heads", .type = SCH_INT, .doc = "attention heads", .def = "4", .has_min = true, .min = 1, .has_max = true, .max = 64},
    {.key = "intermediate_size", .type = SCH_INT, .doc = "MLP width", .def = "256", .has_min = true, .min = 1},
    {.key = NULL},
};

static const sch_node vae_model_fields[] = {
    {.key = "block_out_channels", .type = SCH_SEQ, .doc = "channels per block (downscale 2^(n-1))",
     .def = "[32, 64, 64]", .item = &int_item, .min_items = 1, .max_items = 8},
    {.key = "layers_per_block", .type = SCH_INT, .doc = "resnets per encoder block", .def = "1", .has_min = true, .min = 1},
    {.key = "latent_channels", .type = SCH_INT, .doc = "latent channels", .def = "4", .has_min = true, .min = 1},
    {.key = "norm_num_groups", .type = SCH_INT, .doc = "GroupNorm groups", .def = "16", .has_min = true, .min = 1},
    {.key = NULL},
};

static const sch_node unet_model_fields[] = {
    {.key = "block_out_channels", .type = SCH_SEQ, .doc = "channels per block; the last is a DownBlock2D",
     .def = "[32, 64, 64]", .item = &int_item, .min_items = 2, .max_items = 8},
    {.key = "attention_heads", .type = SCH_SEQ, .doc = "heads per block (diffusers attention_head_dim)",
     .def = "[2, 4, 4]", .item = &int_item, .min_items = 2, .max_items = 8},
    {.key = "layers_per_block", .type = SCH_INT, .doc = "resnets per down block", .def = "1", .has_min = true, .min = 1},
    {.key = "norm_num_groups", .type = SCH_INT, .doc = "GroupNorm groups", .def = "16", .has_min = true, .min = 1},
    {.key = NULL},
};

static const sch_node tokenizer_fields[] = {
    {.key = "bpe_dir", .type = SCH_PATH, .doc = "folder with the CLIP vocab.json and merges.txt",
     .def = "tests/data/tokenizer"},
    {.key = "config_dir", .type = SCH_PATH, .doc = "folder with SD2's tokenizer_config.json and special_tokens_map.json",
     .def = "tests/data/tokenizer/sd2"},
    {.key = NULL},
};

static const sch_node model_fields[] = {
    {.key = "tokenizer", .type = SCH_MAP, .doc = "the SD2 tokenizer files", .fields = tokenizer_fields, .def = "{}"},
    {.key = "text", .type = SCH_MAP, .doc = "text encoder (CLIPTextModel)", .fields = text_fields, .def = "{}"},
    {.key = "vae", .type = SCH_MAP, .doc = "autoencoder (AutoencoderKL)", .fields = vae_model_fields, .def = "{}"},
    {.key = "unet", .type = SCH_MAP, .doc = "denoiser (UNet2DConditionModel)", .fields = unet_model_fields, .def = "{}"},
    {.key = NULL},
};

#define OPT_FIELDS(steps, batch, lr)                                                                              \
  {.key = "steps", .type = SCH_INT, .doc = "optimizer steps", .def = steps, .has_min = true, .min = 1},           \
      {.key = "batch", .type = SCH_INT, .doc = "images per step", .def = batch, .has_min = true, .min = 1,        \
       .has_max = true, .max = 4096},                                                                             \
      {.key = "lr", .type = SCH_FLOAT, .doc = "AdamW learning rate", .def = lr, .has_min = true, .min = 0,        \
       .min_exclusive = true},                                                                                    \
      {.key = "warmup", .type = SCH_INT, .doc = "linear warmup steps", .def = "100", .has_min = true, .min = 0},  \
      {.key = "weight_decay", .type = SCH_FLOAT, .doc = "AdamW weight decay", .def = "0.01", .has_min = true,    \
       .min = 0},                                                                                                 \
      {.key = "max_grad_norm", .type = SCH_FLOAT, .doc = "gradient clipping (0: none)", .def = "1.0",            \
       .has_min = true, .min = 0},                                                                                \
      {.key = "checkpoint_every", .type = SCH_INT, .doc = "steps between resume checkpoints", .def = "200",     \
       .has_min = true, .min = 1}

static const sch_node vae_fields[] = {
    OPT_FIELDS("1500", "16", "0.001"),
    {.key = "kl_weight", .type = SCH_FLOAT, .doc = "weight of the mean KL per latent element", .def = "0.0001",
     .has_min = true, .min = 0},
    {.key = NULL},
};

static const sch_node denoiser_fields[] = {
    OPT_FIELDS("4000", "32", "0.0005"),
    {.key = "caption_dropout", .type = SCH_FLOAT, .doc = "probability of the empty caption (for CFG)", .def = "0.1",
     .has_min = true, .min = 0, .has_max = true, .max = 1},
    {.key = NULL},
};

static const sch_node sample_fields[] = {
    {.key = "captions", .type = SCH_SEQ, .doc = "one sample grid per caption", .item = &str_item,
     .def = "['a red circle', 'a blue square on a yellow background']"},
    {.key = "seeds", .type = SCH_INT, .doc = "images (seeds) per caption", .def = "8", .has_min = true, .min = 1,
     .has_max = true, .max = 64},
    {.key = "steps", .type = SCH_INT, .doc = "sampler steps", .def = "25", .has_min = true, .min = 1},
    {.key = "guidance", .type = SCH_FLOAT, .doc = "classifier-free guidance", .def = "5.0", .has_min = true, .min = 0},
    {.key = NULL},
};

static const char *const dtypes[] = {"f16", "f32", NULL};

static const sch_node export_fields[] = {
    {.key = "dtype", .type = SCH_ENUM, .doc = "dtype of the shipped weights", .def = "f16", .choices = dtypes},
    {.key = "install_dir", .type = SCH_STR, .doc = "also copy the model folder here ('' = only artifacts/)",
     .def = "''"},
    {.key = "samples", .type = SCH_MAP, .doc = "sample grids rendered from the exported folder", .fields = sample_fields,
     .def = "{}"},
    {.key = NULL},
};

static const sch_node fields[] = {
    {.key = "corpus", .type = SCH_MAP, .doc = "the procedural captioned corpus", .fields = corpus_fields, .def = "{}"},
    {.key = "model", .type = SCH_MAP, .doc = "architecture of the tiny model", .fields = model_fields, .def = "{}"},
    {.key = "vae", .type = SCH_MAP, .doc = "VAE training", .fields = vae_fields, .def = "{}"},
    {.key = "denoiser", .type = SCH_MAP, .doc = "text encoder + UNet training (VAE frozen)", .fields = denoiser_fields,
     .def = "{}"},
    {.key = "export", .type = SCH_MAP, .doc = "the diffusers folder", .fields = export_fields, .def = "{}"},
    {.key = NULL},
};

const sch_node pretrain_section_schema = {.type = SCH_MAP, .doc = "pretraining of the embedded tiny model",
                                          .fields = fields};

double pretrain_lr(double lr, long long warmup, long long step) {
  if (warmup <= 0 || step + 1 >= warmup) return lr;
  return lr * (double)(step + 1) / (double)warmup;
}
