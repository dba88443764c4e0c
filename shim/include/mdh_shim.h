/* mdh_shim.h — the C interface to everything that runs on libtorch.
 *
 * This is the only header C code includes from the shim: no C++ type, exception or torch
 * header crosses it. Every call returns 0 on success or a non-zero status and fills a
 * shim_err with a readable message; C++ exceptions are caught at this boundary. Handles are
 * opaque and freed by their *_free function. Data crosses as plain buffers with explicit
 * shapes and dtypes.
 *
 * Sections, in the order a txt2img caller meets them: tensors crossing the boundary, runtime
 * (threads, devices), text encoder (CLIP), VAE, UNet, samplers, pipeline (txt2img), textual inversion, classifier
 * (ResNet-18) and augmentation. The C side
 * fills each model's config struct from its config.json (harness/model/) and passes weights
 * as views of a mapped safetensors file (harness/model/weights_view.h). */
#ifndef MDH_SHIM_H
#define MDH_SHIM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHIM_ERR_MAX 2048

typedef struct shim_err {
  char msg[SHIM_ERR_MAX];
} shim_err;

enum {
  SHIM_OK = 0,
  SHIM_E_INVALID = 1,  /* an argument is out of range or inconsistent */
  SHIM_E_DEVICE = 2,   /* the requested device is not available */
  SHIM_E_TORCH = 3,    /* libtorch raised an error (its message is passed on) */
  SHIM_E_CANCELLED = 4 /* a progress callback asked to stop */
};

/* ---- tensors crossing the boundary ---- */

typedef enum shim_dtype {
  SHIM_F32 = 0, SHIM_F16 = 1, SHIM_BF16 = 2, SHIM_F64 = 3, SHIM_I64 = 4, SHIM_I32 = 5, SHIM_U8 = 6
} shim_dtype;

#define SHIM_MAX_DIMS 8

/* A read-only view of a host buffer: weights from a mapped safetensors file, or an input.
 * The shim copies what it keeps, so the buffer only has to live for the call. `data` need not
 * be aligned. */
typedef struct shim_tensor_view {
  const char *name;  /* for weights: the state-dict key, e.g. "text_model.final_layer_norm.weight" */
  shim_dtype dtype;
  int ndim;
  int64_t shape[SHIM_MAX_DIMS];
  const void *data;
} shim_tensor_view;

/* Where a model runs and in which precision. dtype is SHIM_F32, SHIM_F16 or SHIM_BF16; weights
 * are converted to it on load. */
typedef struct shim_exec {
  const char *device; /* "cpu", "cuda", "cuda:1" (resolved by shim_resolve_device) */
  shim_dtype dtype;
} shim_exec;

/* ---- runtime ---- */

typedef struct shim_runtime_opts {
  int threads; /* intra-op threads for libtorch; <= 0 means one per online core */
} shim_runtime_opts;

/* Sets the process's threading once at start-up, whatever the caller's environment says:
 * libtorch's intra-op (OpenMP) pool gets `threads`, its inter-op pool 1, and OpenBLAS is held
 * to one thread so that its pool and OpenMP do not fight over the cores (measured 3.5x slower
 * on 2 cores when both spin). Returns the thread count in effect through *effective. */
int shim_runtime_init(const shim_runtime_opts *opts, int *effective, shim_err *err);

/* "1.13.1" — the libtorch the shim was built against (TORCH_VERSION). */
const char *shim_libtorch_version(void);

/* Whether the loaded BLAS is OpenBLAS (libtorch on Debian links the generic libblas.so.3,
 * 40x slower when it is the reference implementation). Returns a short description. */
const char *shim_blas_backend(void);

typedef struct shim_device_info {
  char name[64];      /* "cpu", "cuda:0" */
  int is_cuda;
  int supports_fp16;  /* half-precision arithmetic is usable */
  int supports_bf16;
} shim_device_info;

/* Lists usable devices (the CPU first, then each CUDA device). Writes at most `max` entries
 * and the total count through *n. */
int shim_list_devices(shim_device_info *out, size_t max, size_t *n, shim_err *err);

/* Resolves a device string ("auto", "cpu", "cuda", "cuda:1") to a usable device name;
 * "auto" picks CUDA when available. An unavailable device is SHIM_E_DEVICE. */
int shim_resolve_device(const char *want, char *out, size_t out_len, shim_err *err);

typedef struct shim_selftest_result {
  double max_abs_err;  /* of a float32 matmul against a float64 CPU reference */
  double gflops;       /* measured float32 matmul rate on the device */
  int n;               /* matrix size used */
} shim_selftest_result;

/* Proves the C-to-libtorch path works on `device`: a seeded n x n float32 matmul is checked
 * against a float64 reference computed on the CPU and timed. n in [1, 8192]. */
int shim_selftest(const char *device, int n, shim_selftest_result *out, shim_err *err);

/* ---- text encoder (CLIP) ---- */

/* transformers CLIPTextModel (4.33), configured from text_encoder/config.json (filled by
 * harness/model/clip_config.c, which applies CLIPTextConfig's defaults for absent keys). */
typedef struct shim_clip_text_config {
  int vocab_size;              /* rows of the token embedding (49408) */
  int hidden_size;             /* must be divisible by num_attention_heads */
  int intermediate_size;       /* MLP width */
  int num_hidden_layers;
  int num_attention_heads;
  int max_position_embeddings; /* rows of the position embedding; the longest input */
  double layer_norm_eps;
  char hidden_act[32];         /* "quick_gelu" (SD1), "gelu" (SD2, exact erf), "gelu_new",
                                  "gelu_pytorch_tanh", "relu", "silu"/"swish" */
  int64_t pad_token_id, bos_token_id, eos_token_id; /* eos_token_id 2 selects the legacy
                                  pooling rule: the position of the largest id */
  int projection_dim;          /* read for completeness; CLIPTextModel has no projection */
  double initializer_range, initializer_factor; /* training-time init only */
  double attention_dropout, dropout;            /* training only: inference ignores them */
} shim_clip_text_config;

typedef struct shim_clip_text shim_clip_text;

/* Builds the model from HF state-dict views named "text_model.embeddings.token_embedding.weight",
 * "text_model.encoder.layers.N.self_attn.q_proj.weight", ... "text_model.final_layer_norm.bias".
 * "text_model.embeddings.position_ids" (a buffer older checkpoints carry) is ignored, as
 * transformers does: positions are always 0..seq_len-1. A missing, mis-shaped or unexpected
 * weight is SHIM_E_INVALID naming it. `exec` NULL means cpu / F32. *out is freed with
 * shim_clip_text_free. */
int shim_clip_text_new(const shim_clip_text_config *cfg, const shim_tensor_view *weights, size_t n,
                       const shim_exec *exec, shim_clip_text **out, shim_err *err);
void shim_clip_text_free(shim_clip_text *m);

/* Prompt embeddings for ids [batch, seq_len] (each id in [0, vocab), seq_len in
 * [1, max_position_embeddings]), with the causal mask and no attention mask, as SD pipelines
 * call it. out: float32 [batch, seq_len, hidden_size].
 * clip_skip (A1111 convention): 0 or 1 = last_hidden_state (after final_layer_norm);
 * k >= 2 = final_layer_norm(hidden_states[-k]), i.e. 2 = the penultimate layer's output through
 * the final LayerNorm (diffusers' clip_skip=1). k must be at most num_hidden_layers. */
int shim_clip_text_encode(shim_clip_text *m, const int64_t *ids, int batch, int seq_len, int clip_skip, float *out,
                          shim_err *err);

/* hidden_states[layer] of output_hidden_states=True: 0 = token + position embeddings, K = the
 * output of encoder layer K (1..num_hidden_layers), before the final LayerNorm unless
 * final_ln != 0. out: float32 [batch, seq_len, hidden_size]. */
int shim_clip_text_hidden_state(shim_clip_text *m, const int64_t *ids, int batch, int seq_len, int layer,
                                int final_ln, float *out, shim_err *err);

/* pooler_output: last_hidden_state at one position per prompt. With eos_token_id == 2 (the
 * legacy value SD1/SD2 configs carry) that is the position of the largest id (first on ties),
 * which for prompts holding added (textual-inversion) tokens is the first added token, not
 * EOS — the reference's quirk; otherwise the first position holding eos_token_id.
 * out: float32 [batch, hidden_size]. */
int shim_clip_text_pooled(shim_clip_text *m, const int64_t *ids, int batch, int seq_len, float *out, shim_err *err);

/* The current number of token-embedding rows (vocab_size after any resize). */
int64_t shim_clip_text_vocab_size(const shim_clip_text *m);
int shim_clip_text_hidden_size(const shim_clip_text *m);

/* Grows (or shrinks) the token embedding to new_vocab rows, keeping rows below
 * min(old, new); new rows are zero until set with shim_clip_text_set_token_rows (the reference
 * initialises them randomly and textual inversion overwrites them). */
int shim_clip_text_resize_vocab(shim_clip_text *m, int64_t new_vocab, shim_err *err);

/* Token-embedding rows [first, first + count) as float32 [count, hidden_size]: get copies them
 * out, set replaces them, add adds `rows` to them. The range must lie inside the vocabulary. */
int shim_clip_text_get_token_rows(shim_clip_text *m, int64_t first, int64_t count, float *rows, shim_err *err);
int shim_clip_text_set_token_rows(shim_clip_text *m, int64_t first, int64_t count, const float *rows,
                                  shim_err *err);
int shim_clip_text_add_token_rows(shim_clip_text *m, int64_t first, int64_t count, const float *rows,
                                  shim_err *err);


/* ---- VAE (AutoencoderKL) ---- */

#define SHIM_VAE_MAX_BLOCKS 8

/* diffusers AutoencoderKL (0.21.4), configured from vae/config.json (filled by
 * harness/model/vae_config.c with AutoencoderKL's defaults for absent keys). */
typedef struct shim_vae_config {
  int in_channels, out_channels;  /* image channels (3) */
  int latent_channels;            /* 4 */
  int n_blocks;                   /* entries of block_out_channels, down_ and up_block_types */
  int block_out_channels[SHIM_VAE_MAX_BLOCKS];
  char down_block_types[SHIM_VAE_MAX_BLOCKS][32]; /* only "DownEncoderBlock2D" */
  char up_block_types[SHIM_VAE_MAX_BLOCKS][32];   /* only "UpDecoderBlock2D" */
  int layers_per_block;           /* resnets per down block; up blocks have one more */
  int norm_num_groups;            /* GroupNorm groups everywhere (eps 1e-6) */
  char act_fn[32];                /* resnet activation: "silu"/"swish", "mish", "gelu", "relu";
                                     the encoder/decoder output activation is always SiLU */
  int sample_size[2];             /* (height, width) the model was trained on: tiling only */
  double scaling_factor;          /* latents = sample * scaling_factor; NOT applied by the shim */
  int force_upcast;               /* SDXL pipelines run an fp16 VAE in fp32; recorded, not applied */
} shim_vae_config;

typedef struct shim_vae shim_vae;

/* Builds the model from diffusers state-dict views ("encoder.conv_in.weight",
 * "decoder.up_blocks.0.resnets.0.norm1.weight", "quant_conv.weight", ...). The mid-block
 * attention may use today's names (to_q, to_k, to_v, to_out.0) or the deprecated ones older
 * checkpoints carry (query, key, value, proj_attn), as diffusers accepts on loading. A missing,
 * mis-shaped or unexpected weight, or an unsupported config value, is SHIM_E_INVALID naming it.
 * `exec` NULL means cpu / F32. Freed with shim_vae_free. */
int shim_vae_new(const shim_vae_config *cfg, const shim_tensor_view *weights, size_t n, const shim_exec *exec,
                 shim_vae **out, shim_err *err);
void shim_vae_free(shim_vae *v);

/* Spatial size of the latent for an image of height x width: each stride-2 downsample pads
 * right/bottom by one, so s -> s / 2 rounded down (s >= 2 at each step); s / 8 for SD's 4 blocks. */
int shim_vae_latent_size(const shim_vae *v, int height, int width, int *lat_h, int *lat_w, shim_err *err);

/* The posterior of image [batch, in_channels, height, width] float32 in [-1, 1]: mean and
 * logvar [batch, latent_channels, h, w] float32 (logvar clamped to [-30, 20]). Either output
 * may be NULL. The caller samples z = mean + exp(0.5 logvar) * noise and multiplies by
 * scaling_factor, as diffusers pipelines do. */
int shim_vae_encode(shim_vae *v, const float *image, int batch, int height, int width, float *mean, float *logvar,
                    shim_err *err);

/* The encoder's raw outputs for checking: encoder_out = encoder(image) and moments =
 * quant_conv(encoder_out), both [batch, 2 * latent_channels, h, w] float32 (unclamped). Either
 * may be NULL. */
int shim_vae_encode_moments(shim_vae *v, const float *image, int batch, int height, int width, float *encoder_out,
                            float *moments, shim_err *err);

/* decode(z).sample: z [batch, latent_channels, lat_h, lat_w] float32 -> image [batch,
 * out_channels, lat_h * f, lat_w * f] float32 (f = 2^(n_blocks-1)), roughly in [-1, 1]. No scaling
 * inside: the caller passes latents / scaling_factor, as diffusers' pipeline does. */
int shim_vae_decode(shim_vae *v, const float *z, int batch, int lat_h, int lat_w, float *image, shim_err *err);

/* post_quant_conv(z) alone (for checking): [batch, latent_channels, lat_h, lat_w] float32. */
int shim_vae_post_quant_conv(shim_vae *v, const float *z, int batch, int lat_h, int lat_w, float *out,
                             shim_err *err);

/* 2^(n_blocks - 1): image pixels per latent pixel along each side. */
int shim_vae_scale_factor(const shim_vae *v);


/* ---- UNet (UNet2DConditionModel) ---- */

/* diffusers 0.21.4 UNet2DConditionModel of the SD 1.x / 2.x family: CrossAttnDownBlock2D /
 * DownBlock2D down blocks, an optional UNetMidBlock2DCrossAttn, CrossAttnUpBlock2D / UpBlock2D up
 * blocks. The C side fills the config from unet/config.json (harness/model/unet_config.h), with
 * every per-block list already expanded: index i is down block i; the up blocks use the lists
 * reversed, as diffusers does. */

#define SHIM_UNET_MAX_BLOCKS 8

typedef struct shim_unet_config {
  int in_channels;
  int out_channels;
  int sample_size;                 /* latent side the model was trained at (informational) */
  int n_blocks;                    /* len(block_out_channels) == len(down/up_block_types) */
  int block_out_channels[SHIM_UNET_MAX_BLOCKS];
  int down_cross_attn[SHIM_UNET_MAX_BLOCKS];   /* 1 = CrossAttnDownBlock2D, 0 = DownBlock2D */
  int up_cross_attn[SHIM_UNET_MAX_BLOCKS];     /* up block i: 1 = CrossAttnUpBlock2D, 0 = UpBlock2D */
  int has_mid_block;               /* 1 = UNetMidBlock2DCrossAttn, 0 = mid_block_type null */
  int layers_per_block[SHIM_UNET_MAX_BLOCKS];  /* resnets per down block (>= 1) */
  int transformer_layers_per_block[SHIM_UNET_MAX_BLOCKS];
  int num_heads[SHIM_UNET_MAX_BLOCKS];         /* attention heads per down block: diffusers'
                                                  attention_head_dim (it means the head COUNT) */
  int cross_attention_dim[SHIM_UNET_MAX_BLOCKS];
  int norm_num_groups;
  double norm_eps;
  int flip_sin_to_cos;
  double freq_shift;
  char act_fn[24];                 /* "silu", "swish", "gelu", "mish", "relu" */
  int time_embed_dim;              /* time_embedding_dim, or 4 * block_out_channels[0] */
  char time_embedding_act_fn[24];  /* "" = none */
  int use_linear_projection;       /* Transformer2DModel proj_in/out: Linear (1) or 1x1 conv (0) */
  int upcast_attention;
  int resnet_scale_shift;          /* resnet_time_scale_shift: 0 "default", 1 "scale_shift" */
  int conv_in_kernel;              /* odd */
  int conv_out_kernel;             /* odd */
  double mid_block_scale_factor;
  int downsample_padding;
  int center_input_sample;
} shim_unet_config;

typedef struct shim_unet shim_unet;

/* Builds the UNet from `cfg` and its state dict (diffusers key names, any float dtype; converted
 * to exec's device and dtype; exec NULL = CPU float32). Every tensor the config implies must be
 * present with its exact shape, and no other tensor may be given: errors (SHIM_E_INVALID) name
 * the tensor, or the config field that is out of range. The views only have to live for the call.
 * On success *out owns the model; free it with shim_unet_free. */
int shim_unet_new(const shim_unet_config *cfg, const shim_tensor_view *weights, size_t n, const shim_exec *exec,
                  shim_unet **out, shim_err *err);
void shim_unet_free(shim_unet *u);

/* The config the model was built with (for in_channels, sample_size, ...). */
const shim_unet_config *shim_unet_get_config(const shim_unet *u);

/* One forward pass: the predicted noise (or v) for `sample` [B, in_channels, H, W] float32 at
 * `timesteps` [B] float32 (float timesteps are used as they are), conditioned on `context`
 * [B, L, cross_attention_dim] float32. Writes out [B, out_channels, H, W] float32. Any H, W >= 1
 * (odd sizes follow diffusers' upsample_size handling). */
int shim_unet_forward(shim_unet *u, const float *sample, int B, int H, int W, const float *timesteps,
                      const float *context, int L, float *out, shim_err *err);

/* Same, and also copies intermediate activations (float32, contiguous) into tap_out[i] for each
 * name in tap_names: "time_embedding" [B, time_embed_dim], "conv_in", "down_blocks.<i>" (hidden
 * states leaving down block i), "mid_block", "up_blocks.<i>" — the outputs of those diffusers
 * modules. tap_numel[i] is the capacity of tap_out[i] in floats and must equal the tap's numel; an
 * unknown name or a wrong size is SHIM_E_INVALID. `out` may be NULL. */
int shim_unet_forward_taps(shim_unet *u, const float *sample, int B, int H, int W, const float *timesteps,
                           const float *context, int L, float *out, const char *const *tap_names,
                           float *const *tap_out, const size_t *tap_numel, size_t n_taps, shim_err *err);


/* ---- samplers ---- */

/* The diffusion samplers: diffusers 0.21.4 schedulers (DDIM, PNDM, Euler, Euler ancestral,
 * DPM-Solver++ 2M, LMS, Heun, KDPM2) and DDPM's add_noise/get_velocity for training. */

#define SHIM_SCHED_STR 48

/* The keys of a diffusers scheduler/scheduler_config.json. A key the file does not name is
 * "absent" and takes the class's own default (as Cls.from_config does): ints/bools -1, doubles
 * NAN, strings "". Fill one with shim_scheduler_config_init, then set what the file names
 * (harness/model/scheduler_config.h reads the file). */
typedef struct shim_scheduler_config {
  char class_name[SHIM_SCHED_STR];       /* "_class_name", e.g. "PNDMScheduler" (required) */
  int num_train_timesteps;
  double beta_start, beta_end;
  char beta_schedule[SHIM_SCHED_STR];    /* linear | scaled_linear | squaredcos_cap_v2 (| sigmoid: DDPM, exp: Heun) */
  const double *trained_betas;           /* NULL: absent/null; else n_trained_betas == num_train_timesteps
                                            values, owned by whoever filled the struct */
  size_t n_trained_betas;
  char prediction_type[SHIM_SCHED_STR];  /* epsilon | v_prediction | sample */
  int steps_offset;
  int set_alpha_to_one;                  /* bools: 0/1, -1 absent */
  int clip_sample;
  double clip_sample_range;
  int skip_prk_steps;
  char timestep_spacing[SHIM_SCHED_STR]; /* linspace | leading | trailing ("" = class default) */
  int use_karras_sigmas;
  char interpolation_type[SHIM_SCHED_STR]; /* Euler: linear | log_linear */
  int rescale_betas_zero_snr;            /* DDIM */
  int thresholding;                      /* must be false (dynamic thresholding is not implemented) */
  int solver_order;                      /* DPMSolverMultistep: 1..3 */
  char algorithm_type[SHIM_SCHED_STR];   /* dpmsolver++ | dpmsolver */
  char solver_type[SHIM_SCHED_STR];      /* midpoint | heun */
  int lower_order_final;
  double lambda_min_clipped;             /* -INFINITY allowed */
  char variance_type[SHIM_SCHED_STR];    /* DPM: must be absent/null; DDPM: ignored */
} shim_scheduler_config;

/* Marks every key absent. */
static inline void shim_scheduler_config_init(shim_scheduler_config *c) {
  memset(c, 0, sizeof *c);
  c->num_train_timesteps = -1;
  c->beta_start = c->beta_end = NAN;
  c->steps_offset = -1;
  c->set_alpha_to_one = c->clip_sample = c->skip_prk_steps = c->use_karras_sigmas = -1;
  c->clip_sample_range = NAN;
  c->rescale_betas_zero_snr = c->thresholding = c->solver_order = c->lower_order_final = -1;
  c->lambda_min_clipped = NAN;
}

typedef struct shim_sampler shim_sampler;

/* Builds a sampler the way diffusers' `Cls.from_config(model_cfg [, overrides])` does.
 * sampler_name: NULL or "" for the model's own class, or one of
 *   "ddim" (DDIMScheduler), "pndm" (PNDMScheduler), "euler" (EulerDiscreteScheduler),
 *   "euler_a" (EulerAncestralDiscreteScheduler), "dpmpp_2m" (DPMSolverMultistepScheduler with
 *   algorithm_type dpmsolver++, solver_order 2), "dpmpp_2m_karras" (the same with
 *   use_karras_sigmas), "lms" (LMSDiscreteScheduler), "heun" (HeunDiscreteScheduler),
 *   "kdpm2" (KDPM2DiscreteScheduler).
 * Unknown names, unknown classes and unsupported values are SHIM_E_INVALID naming the key.
 * The sampler has no schedule until shim_sampler_set_timesteps. Free with shim_sampler_free. */
int shim_sampler_new(const shim_scheduler_config *cfg, const char *sampler_name, shim_sampler **out,
                     shim_err *err);
void shim_sampler_free(shim_sampler *s);

/* The diffusers class the sampler implements ("DDIMScheduler"). */
const char *shim_sampler_class(const shim_sampler *s);

/* set_timesteps(steps): 1 <= steps <= num_train_timesteps. Resets multistep state. */
int shim_sampler_set_timesteps(shim_sampler *s, int steps, shim_err *err);

/* Number of model evaluations of the schedule (= entries of timesteps): steps for most,
 * steps + 1 for PNDM with skip_prk_steps, 2 * steps - 1 for Heun/KDPM2. 0 before set_timesteps. */
int shim_sampler_num_model_evals(const shim_sampler *s);
/* Whether the scheduler holds integer (int64) timesteps; otherwise float32 values. */
int shim_sampler_integer_timesteps(const shim_sampler *s);
/* Whether shim_sampler_step needs a noise buffer (Euler ancestral). */
int shim_sampler_needs_noise(const shim_sampler *s);
/* The standard deviation to scale the initial N(0,1) latents by. */
double shim_sampler_init_noise_sigma(const shim_sampler *s);

/* Copy the scheduler's timesteps / .sigmas / alphas_cumprod (as float64 holding the scheduler's
 * values) into out[0..max); *n gets the full count (sigmas: 0 for DDIM/PNDM). Too small a
 * buffer is SHIM_E_INVALID. */
int shim_sampler_timesteps(const shim_sampler *s, double *out, size_t max, size_t *n, shim_err *err);
int shim_sampler_sigmas(const shim_sampler *s, double *out, size_t max, size_t *n, shim_err *err);
int shim_sampler_alphas_cumprod(const shim_sampler *s, double *out, size_t max, size_t *n, shim_err *err);

/* scale_model_input for evaluation i (0 <= i < num_model_evals) of a float32 latent x[n]
 * into out[n] (may alias x). */
int shim_sampler_scale_model_input(shim_sampler *s, int i, const float *x, size_t n, float *out, shim_err *err);

/* step() for evaluation i: after set_timesteps the first call may be at any i (img2img starts
 * late), then calls must run i + 1, i + 2, ... (i = 0 always starts over). model_out, x and x_out are float32 [n] (x_out may alias x). noise: the N(0,1) draw
 * the reference takes inside step() (float32 [n]) when shim_sampler_needs_noise, else NULL. */
int shim_sampler_step(shim_sampler *s, int i, const float *model_out, const float *x, const float *noise,
                      size_t n, float *x_out, shim_err *err);

/* DDPMScheduler.from_config(cfg): for batch items b with timestep t[b] (0 <= t < N), over
 * per_item floats each:
 *   add_noise:    out = sqrt(acp[t]) * x0 + sqrt(1 - acp[t]) * noise
 *   get_velocity: out = sqrt(acp[t]) * noise - sqrt(1 - acp[t]) * x0
 * x0, noise, out are float32 [batch * per_item]. */
int shim_ddpm_add_noise(const shim_scheduler_config *cfg, const float *x0, const float *noise,
                        const int64_t *timesteps, size_t batch, size_t per_item, float *out, shim_err *err);
int shim_ddpm_get_velocity(const shim_scheduler_config *cfg, const float *x0, const float *noise,
                           const int64_t *timesteps, size_t batch, size_t per_item, float *out, shim_err *err);


/* ---- pipeline (txt2img) ---- */

/* Called after every model evaluation with (done, total); never blocks the device. Return non-zero
 * to stop early (the call then fails with SHIM_E_CANCELLED). */
typedef int (*shim_progress_fn)(void *user, int done, int total);

typedef struct shim_txt2img_params {
  int n_images;              /* B: rows of cond_ids / uncond_ids and of the outputs */
  int seq_len;               /* tokens per prompt (77) */
  const int64_t *cond_ids;   /* [B, seq_len] */
  const int64_t *uncond_ids; /* [B, seq_len]; used only when guidance > 1 (classifier-free guidance) */
  int clip_skip;             /* 0 or 1: last layer; k > 1: the k-th layer from the end, then the final norm */
  int height, width;         /* pixels; multiples of the VAE's downscale factor */
  int steps;
  double guidance;           /* diffusers' guidance_scale: CFG runs when it is > 1 */
  uint64_t seed;             /* torch CPU generator seed: initial latents (when none given), then sampler noise */
  const float *init_latents; /* [B, C, h, w] N(0,1) latents (scaled by the sampler's init sigma), or NULL */
  double vae_scaling_factor; /* latents are divided by it before decoding */
  shim_progress_fn progress;
  void *progress_user;
} shim_txt2img_params;

/* diffusers' StableDiffusionPipeline.__call__ on the given components: encode prompts, draw or
 * take latents, run the sampler with CFG, decode. Writes images [B, H, W, 3] float32 in [0, 1]
 * (output_type="np") and/or the final latents [B, C, h, w] (before the 1/scaling_factor);
 * either output may be NULL. */
int shim_txt2img(shim_clip_text *text, shim_unet *unet, shim_vae *vae, shim_sampler *sampler,
                 const shim_txt2img_params *p, float *images, float *latents, shim_err *err);


/* ---- textual inversion ---- */

/* Trains only rows [first_row, first_row + n_rows) of the text encoder's token embedding
 * (diffusers examples/textual_inversion; A1111's embedding training): the UNet, the VAE and the
 * rest of the text encoder stay frozen and get no gradients. The trainer keeps the rows in
 * float32 (whatever the models' dtype), casts them to the text encoder's dtype in the forward
 * pass, and writes them back into the text encoder after every optimizer step, so other rows are
 * never touched (bit-identical) and weight decay applies to the placeholder rows only.
 * Noise, timesteps and latents come from the caller (seeded C side), so a run is reproducible
 * and resumable from shim_ti_get_state. */

typedef struct shim_ti_trainer shim_ti_trainer;

typedef enum shim_grad_clip { SHIM_CLIP_NONE = 0, SHIM_CLIP_VALUE = 1, SHIM_CLIP_NORM = 2 } shim_grad_clip;

typedef struct shim_ti_config {
  int64_t first_row, n_rows;     /* the placeholder rows; must lie inside the vocabulary */
  shim_scheduler_config noise;   /* DDPMScheduler.from_config: betas for add_noise / velocity */
  int v_prediction;              /* target: 0 the noise (epsilon), 1 the velocity (v-prediction) */
  int clip_skip;                 /* text encoder output as in shim_txt2img (0/1: last layer) */
  double beta1, beta2, eps, weight_decay; /* torch.optim.AdamW (amsgrad off) on the rows */
  int grad_checkpointing;        /* recompute UNet blocks in the backward pass (less memory) */
  int loss_scaling;              /* fp16 UNet: dynamic loss scaling as torch's GradScaler
                                    (init 65536, x2 every 2000 good steps, /2 and skip on inf) */
} shim_ti_config;

/* Makes a trainer over `text` and `unet` (not owned; they must outlive it). The current rows
 * of the placeholder range are the starting point (set them first with
 * shim_clip_text_set_token_rows). The optimizer state starts at zero, step 0. */
int shim_ti_trainer_new(shim_clip_text *text, shim_unet *unet, const shim_ti_config *cfg, shim_ti_trainer **out,
                        shim_err *err);
void shim_ti_trainer_free(shim_ti_trainer *t);

/* One micro-batch, forward and backward: noisy = add_noise(latents, noise, t);
 * loss = mean((unet(noisy, t, text(ids)) - target)^2) over all elements; adds
 * grad_scale * d loss / d rows to the accumulated gradient (grad_scale = 1 / accumulation
 * steps). latents and noise are float32 [B, C, lat_h, lat_w] (latents already multiplied by the
 * VAE's scaling factor), timesteps int64 [B] in [0, num_train_timesteps), ids int64
 * [B, seq_len]. Writes the loss (float64 of the float32 value) through *loss. A non-finite loss
 * is still reported (the caller decides), its gradient is not accumulated. */
int shim_ti_accumulate(shim_ti_trainer *t, const float *latents, int B, int lat_h, int lat_w, const float *noise,
                       const int64_t *timesteps, const int64_t *ids, int seq_len, double grad_scale, double *loss,
                       shim_err *err);

/* The accumulated gradient [n_rows, dim] float32 (dim = the text encoder's hidden size). */
int shim_ti_grad(const shim_ti_trainer *t, float *out, shim_err *err);

/* Clips the accumulated gradient (by value: clamp to +-clip_value; by norm: torch's
 * clip_grad_norm_ with max_norm clip_value), takes one AdamW step at `lr`, zeroes the gradient
 * and writes the rows back into the text encoder. *grad_norm (may be NULL) gets the L2 norm
 * before clipping. With loss scaling, a non-finite gradient skips the step and sets *skipped
 * (may be NULL) to 1; otherwise a non-finite gradient is SHIM_E_INVALID. */
int shim_ti_step(shim_ti_trainer *t, double lr, shim_grad_clip clip, double clip_value, double *grad_norm,
                 int *skipped, shim_err *err);

/* The complete training state, for checkpoints: rows, AdamW's exp_avg and exp_avg_sq (each
 * [n_rows, dim] float32), the optimizer step count and the loss scale (1 without scaling).
 * Restoring it with shim_ti_set_state (which also writes the rows into the text encoder)
 * continues bit-identically on the CPU. */
int shim_ti_get_state(const shim_ti_trainer *t, float *rows, float *exp_avg, float *exp_avg_sq, int64_t *step,
                      double *loss_scale, shim_err *err);
int shim_ti_set_state(shim_ti_trainer *t, const float *rows, const float *exp_avg, const float *exp_avg_sq,
                      int64_t step, double loss_scale, shim_err *err);

/* ---- classifier (ResNet-18) and augmentation ---- */

/* torchvision.models.resnet18 (0.14) with a `num_classes`-way fc, in train mode (BatchNorm on
 * batch statistics, updating running_mean/var with momentum 0.1) or eval mode. */

typedef struct shim_resnet shim_resnet;

typedef struct shim_resnet_config {
  int num_classes;   /* 2 for csPCa */
  uint64_t seed;     /* torchvision's initialisation of what the weights do not provide */
} shim_resnet_config;

/* Builds the network from a torchvision-layout state dict ("conv1.weight", "bn1.running_mean",
 * "layer1.0.conv1.weight", ..., "fc.weight"; "*.num_batches_tracked" accepted) or, with n = 0,
 * from torchvision's random initialisation. An ImageNet checkpoint's 1000-way fc (any fc whose
 * shape is not [num_classes, 512]) is replaced by a freshly initialised one, as fine-tuning does;
 * any other missing, mis-shaped or unknown tensor is SHIM_E_INVALID naming it. */
int shim_resnet_new(const shim_resnet_config *cfg, const shim_tensor_view *weights, size_t n, const shim_exec *exec,
                    shim_resnet **out, shim_err *err);
void shim_resnet_free(shim_resnet *m);

/* Logits [B, num_classes] float32 of images [B, 3, H, W] float32 (already normalised).
 * train != 0: train-mode BatchNorm (statistics updated, no gradient kept); 0: eval mode. */
int shim_resnet_forward(shim_resnet *m, const float *images, int B, int H, int W, int train, float *logits,
                        shim_err *err);

typedef struct shim_resnet_opt_config {
  char optimizer[16];   /* "adam" | "adamw" | "sgd" */
  double lr, weight_decay, beta1, beta2, eps, momentum;
} shim_resnet_opt_config;

/* Sets (or replaces, resetting its state) the optimizer over all parameters. */
int shim_resnet_set_optimizer(shim_resnet *m, const shim_resnet_opt_config *cfg, shim_err *err);

/* One train-mode step on a batch: cross-entropy of the logits against labels int64 [B], backward,
 * optimizer step at `lr` (overrides the configured rate, for schedules). Writes the loss. */
int shim_resnet_train_step(shim_resnet *m, const float *images, const int64_t *labels, int B, int H, int W,
                           double lr, double *loss, shim_err *err);

/* The state dict (parameters and buffers, torchvision names, float32; num_batches_tracked as
 * int64) for checkpoints: shim_resnet_state_count tensors; entry i's name, shape and data.
 * data NULL queries the shape only. set_state loads a full state dict back (exact). */
size_t shim_resnet_state_count(const shim_resnet *m);
int shim_resnet_state_get(const shim_resnet *m, size_t i, const char **name, shim_dtype *dtype, int *ndim,
                          int64_t shape[SHIM_MAX_DIMS], void *data, shim_err *err);
int shim_resnet_set_state(shim_resnet *m, const shim_tensor_view *weights, size_t n, shim_err *err);

/* The paper's "heavy" augmentation (albumentations-style), each operation with its probability
 * and range; applied to a batch on the model's device, seeded: the same seed gives the same
 * output for the same input. Images are float32 [B, 3, H, W] in [0, 1], output in [0, 1]. */
typedef struct shim_augment_config {
  double hflip_p;
  double noise_p, noise_var_min, noise_var_max;              /* GaussNoise (variance, on [0,1] images) */
  double gamma_p, gamma_min, gamma_max;                      /* RandomGamma (gamma exponents, e.g. 0.8..1.2) */
  double ssr_p, shift_limit, scale_limit, rotate_limit_deg;  /* ShiftScaleRotate (0.1, 0.2, 45) */
  double bc_p, brightness_limit, contrast_limit;             /* RandomBrightnessContrast */
  double distort_p, distort_limit, shift_distort_limit;      /* OpticalDistortion */
  double channel_dropout_p;                                  /* ChannelDropout: one channel zeroed */
} shim_augment_config;

/* The paper's settings (probabilities and ranges named in the issue). */
void shim_augment_config_paper(shim_augment_config *c);

int shim_augment(const shim_augment_config *cfg, const char *device, const float *in, int B, int H, int W,
                 uint64_t seed, float *out, shim_err *err);

/* ---- full training (pretraining the tiny model) ---- */

/* Trains every parameter of the models, as the embedded tiny model's recipe does
 * (configs/pretrain_tiny.yaml): first the VAE alone (reconstruction + KL), then the text encoder
 * and the UNet together on the frozen VAE's latents (epsilon MSE). Models start from given
 * weights or from the reference libraries' default initialisation (seeded); one AdamW (torch
 * 1.13's, per tensor) runs over all their parameters. Noise, timesteps, captions (and their
 * dropout) and batches come from the caller, so a run is reproducible and resumable from the
 * state (every parameter and its AdamW moments, by the state-dict names shim_*_new load). */

typedef struct shim_pretrain shim_pretrain;

typedef struct shim_pretrain_opt {
  double beta1, beta2, eps, weight_decay; /* torch.optim.AdamW over all parameters */
  double max_grad_norm;                   /* clip_grad_norm_ over all parameters together; <= 0: none */
} shim_pretrain_opt;

/* VAE phase: an AutoencoderKL from `cfg` and weights (as shim_vae_new), or with n = 0 freshly
 * initialised as diffusers does (torch's default init of every conv and linear, norms 1 / 0),
 * from init_seed. Freed with shim_pretrain_free. */
int shim_pretrain_vae_new(const shim_vae_config *cfg, const shim_tensor_view *weights, size_t n, uint64_t init_seed,
                          const shim_pretrain_opt *opt, const shim_exec *exec, shim_pretrain **out, shim_err *err);

/* Denoiser phase: a text encoder and a UNet, each from its weights or, with its n = 0,
 * initialised (transformers' CLIPTextModel _init_weights for the text encoder, torch defaults for
 * the UNet) from init_seed. `noise` gives DDPMScheduler.from_config's betas for add_noise. */
int shim_pretrain_denoiser_new(const shim_clip_text_config *text_cfg, const shim_tensor_view *text_weights,
                               size_t text_n, const shim_unet_config *unet_cfg, const shim_tensor_view *unet_weights,
                               size_t unet_n, const shim_scheduler_config *noise, uint64_t init_seed,
                               const shim_pretrain_opt *opt, const shim_exec *exec, shim_pretrain **out,
                               shim_err *err);
void shim_pretrain_free(shim_pretrain *p);

/* The models being trained (owned by p, valid until shim_pretrain_free; NULL when the phase has
 * none), for encoding, previews and sampling between steps with the calls above. */
shim_vae *shim_pretrain_vae(shim_pretrain *p);
shim_clip_text *shim_pretrain_text(shim_pretrain *p);
shim_unet *shim_pretrain_unet(shim_pretrain *p);

typedef struct shim_pretrain_losses {
  double loss;      /* what was minimised */
  double rec, kl;   /* VAE: mean squared reconstruction error, mean KL per latent element */
  double grad_norm; /* L2 norm of all gradients before clipping */
} shim_pretrain_losses;

/* One VAE step: posterior of images [B, in_channels, H, W] float32 in [-1, 1],
 * z = mean + exp(logvar / 2) * noise (noise [B, latent_channels, h, w] float32, N(0,1)),
 * loss = mean((decode(z) - images)^2) + kl_weight * mean(0.5 (mean^2 + var - 1 - logvar)),
 * backward, clipping, one AdamW step at lr. A non-finite loss is SHIM_E_INVALID (nothing changes). */
int shim_pretrain_vae_step(shim_pretrain *p, const float *images, int B, int H, int W, const float *noise,
                           double kl_weight, double lr, shim_pretrain_losses *out, shim_err *err);

/* One denoiser step: noisy = add_noise(latents, noise, t); loss = mean((unet(noisy, t,
 * text(ids)) - noise)^2) (epsilon prediction), backward through the UNet and the whole text
 * encoder, clipping, one AdamW step at lr. latents and noise float32 [B, C, lat_h, lat_w]
 * (latents already multiplied by the VAE's scaling factor), timesteps int64 [B], ids int64
 * [B, seq_len] (the caller puts the empty caption in for classifier-free-guidance dropout). */
int shim_pretrain_denoiser_step(shim_pretrain *p, const float *latents, int B, int lat_h, int lat_w,
                                const float *noise, const int64_t *timesteps, const int64_t *ids, int seq_len,
                                double lr, shim_pretrain_losses *out, shim_err *err);

typedef enum shim_pretrain_role {
  SHIM_PT_PARAM = 0, SHIM_PT_EXP_AVG = 1, SHIM_PT_EXP_AVG_SQ = 2
} shim_pretrain_role;

/* The trained tensors, in a fixed order: entry i's component ("vae", "text_encoder", "unet"),
 * its state-dict key exactly as shim_vae_new / shim_clip_text_new / shim_unet_new load it, and
 * its shape. The strings live as long as p. */
size_t shim_pretrain_count(const shim_pretrain *p);
int shim_pretrain_info(const shim_pretrain *p, size_t i, const char **component, const char **name, int *ndim,
                       int64_t shape[SHIM_MAX_DIMS], shim_err *err);
/* Copies entry i's parameter or AdamW moment out, converted to dtype (SHIM_F32, SHIM_F16 or
 * SHIM_BF16), into data[numel]; set replaces it from float32 data (checkpoint resume). */
int shim_pretrain_get(const shim_pretrain *p, size_t i, shim_pretrain_role role, shim_dtype dtype, void *data,
                      shim_err *err);
int shim_pretrain_set(shim_pretrain *p, size_t i, shim_pretrain_role role, const float *data, shim_err *err);
/* Optimizer steps taken (AdamW's bias correction); set it when restoring a checkpoint. */
int64_t shim_pretrain_steps(const shim_pretrain *p);
int shim_pretrain_set_steps(shim_pretrain *p, int64_t steps, shim_err *err);

#ifdef __cplusplus
}
#endif
#endif
