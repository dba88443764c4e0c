/* `harness generate`: txt2img from a diffusers-format model folder — prompts, sampler, steps,
 * guidance, seed, batch, size, embeddings, given latents — writing PNGs that carry their
 * generation parameters (A1111's "parameters" text chunk) and optionally the raw tensors. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli/cli.h"
#include "harness/formats/png.h"
#include "harness/formats/safetensors.h"
#include "harness/loader/sd_model.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"
#include "mdh_shim.h"
#include "version.h"

static const char usage[] =
    "usage: harness generate --model DIR --prompt TEXT [--prompt TEXT ...] --out DIR [options]\n"
    "\n"
    "Text-to-image with a diffusers-format Stable Diffusion folder (SD 1.x / 2.x layout). Writes\n"
    "OUT/NNNNN.png for every prompt x batch image; each PNG carries its generation parameters in\n"
    "a \"parameters\" text chunk (the format A1111 writes).\n"
    "\n"
    "options:\n"
    "  --model DIR            model folder (model_index.json, text_encoder/, unet/, vae/, tokenizer/, scheduler/)\n"
    "  --prompt TEXT          a prompt; repeat for several (each gets --batch images)\n"
    "  --negative-prompt TEXT negative prompt for every image (default: empty)\n"
    "  --sampler NAME         ddim, pndm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lms, heun\n"
    "                         (default: the model's scheduler)\n"
    "  --steps N              sampling steps (default 50)\n"
    "  --guidance G           classifier-free guidance scale (default 7.5; <= 1 turns CFG off)\n"
    "  --seed S               seed of the CPU generator for latents and sampler noise (default 0)\n"
    "  --batch B              images per prompt (default 1)\n"
    "  --height H --width W   image size in pixels (default: the model's sample size)\n"
    "  --clip-skip K          use the K-th text-encoder layer from the end (default 1: the last)\n"
    "  --embedding FILE       a textual-inversion embedding (diffusers learned_embeds.safetensors or\n"
    "                         A1111 .safetensors/.pt); repeatable. Its token is used in prompts as is\n"
    "  --latents FILE         safetensors with \"latents\" [B,C,h,w] (N(0,1); scaled by the sampler's\n"
    "                         initial sigma), B = prompts x batch\n"
    "  --save-tensors FILE    write \"images\" [B,H,W,3] float32 in [0,1] and \"latents\" (final, before decoding)\n"
    "  --device D             cpu, cuda, cuda:N or auto (default auto)\n"
    "  --dtype T              fp32, fp16 (CUDA only) or bf16 (default fp32 on the CPU, fp16 on CUDA)\n"
    "  --threads N            CPU threads (default: one per core)\n"
    "  --quiet                no progress output\n"
    "  -h, --help             this text\n";

typedef struct gen_args {
  const char *model, *out, *negative, *sampler, *latents, *save_tensors, *device, *dtype;
  const char **prompts, **embeddings;
  size_t n_prompts, n_embeddings;
  int steps, batch, height, width, clip_skip, threads;
  double guidance;
  uint64_t seed;
  bool quiet;
} gen_args;

static const char *const sampler_names[] = {"ddim", "pndm", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras",
                                            "lms", "heun", NULL};

/* 0 ok, 1 help shown, -1 error shown. */
static int parse_args(int argc, char **argv, gen_args *a) {
  enum { O_MODEL = 256, O_PROMPT, O_NEG, O_SAMPLER, O_STEPS, O_GUIDANCE, O_SEED, O_BATCH, O_HEIGHT, O_WIDTH,
         O_CLIPSKIP, O_EMB, O_LATENTS, O_SAVE, O_DEVICE, O_DTYPE, O_THREADS, O_OUT, O_QUIET };
  static const struct option opts[] = {
      {"model", required_argument, NULL, O_MODEL},       {"prompt", required_argument, NULL, O_PROMPT},
      {"negative-prompt", required_argument, NULL, O_NEG}, {"sampler", required_argument, NULL, O_SAMPLER},
      {"steps", required_argument, NULL, O_STEPS},       {"guidance", required_argument, NULL, O_GUIDANCE},
      {"seed", required_argument, NULL, O_SEED},         {"batch", required_argument, NULL, O_BATCH},
      {"height", required_argument, NULL, O_HEIGHT},     {"width", required_argument, NULL, O_WIDTH},
      {"clip-skip", required_argument, NULL, O_CLIPSKIP}, {"embedding", required_argument, NULL, O_EMB},
      {"latents", required_argument, NULL, O_LATENTS},   {"save-tensors", required_argument, NULL, O_SAVE},
      {"device", required_argument, NULL, O_DEVICE},     {"dtype", required_argument, NULL, O_DTYPE},
      {"threads", required_argument, NULL, O_THREADS},   {"out", required_argument, NULL, O_OUT},
      {"quiet", no_argument, NULL, O_QUIET},             {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *a = (gen_args){.negative = "", .steps = 50, .batch = 1, .guidance = 7.5, .clip_skip = 1, .device = "auto"};
  a->prompts = calloc((size_t)argc + 1, sizeof *a->prompts);
  a->embeddings = calloc((size_t)argc + 1, sizeof *a->embeddings);
  if (!a->prompts || !a->embeddings) abort();
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
    switch (opt) {
      case O_MODEL: a->model = optarg; break;
      case O_PROMPT: a->prompts[a->n_prompts++] = optarg; break;
      case O_NEG: a->negative = optarg; break;
      case O_SAMPLER: {
        bool known = false;
        for (size_t i = 0; sampler_names[i]; i++) known |= !strcmp(sampler_names[i], optarg);
        if (!known) {
          fprintf(stderr, "harness generate: --sampler expects one of ddim, pndm, euler, euler_a, dpmpp_2m, "
                          "dpmpp_2m_karras, lms, heun; got '%s'\n", optarg);
          return -1;
        }
        a->sampler = optarg;
        break;
      }
      case O_STEPS: if (cli_parse_int("generate", "--steps", optarg, 1, 1000, &a->steps)) return -1; break;
      case O_BATCH: if (cli_parse_int("generate", "--batch", optarg, 1, 1024, &a->batch)) return -1; break;
      case O_HEIGHT: if (cli_parse_int("generate", "--height", optarg, 8, 8192, &a->height)) return -1; break;
      case O_WIDTH: if (cli_parse_int("generate", "--width", optarg, 8, 8192, &a->width)) return -1; break;
      case O_CLIPSKIP: if (cli_parse_int("generate", "--clip-skip", optarg, 1, 64, &a->clip_skip)) return -1; break;
      case O_THREADS: if (cli_parse_int("generate", "--threads", optarg, 0, 1024, &a->threads)) return -1; break;
      case O_GUIDANCE: if (cli_parse_double("generate", "--guidance", optarg, 0, 100, &a->guidance)) return -1; break;
      case O_SEED: if (cli_parse_seed("generate", "--seed", optarg, &a->seed)) return -1; break;
      case O_EMB: a->embeddings[a->n_embeddings++] = optarg; break;
      case O_LATENTS: a->latents = optarg; break;
      case O_SAVE: a->save_tensors = optarg; break;
      case O_DEVICE: a->device = optarg; break;
      case O_DTYPE:
        if (strcmp(optarg, "fp32") && strcmp(optarg, "fp16") && strcmp(optarg, "bf16")) {
          fprintf(stderr, "harness generate: --dtype expects fp32, fp16 or bf16, got '%s'\n", optarg);
          return -1;
        }
        a->dtype = optarg;
        break;
      case O_OUT: a->out = optarg; break;
      case O_QUIET: a->quiet = true; break;
      case 'h': fputs(usage, stdout); return 1;
      case ':': fprintf(stderr, "harness generate: option '%s' needs a value\n\n%s", argv[optind - 1], usage); return -1;
      default: fprintf(stderr, "harness generate: unknown option '%s'\n\n%s", argv[optind - 1], usage); return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "harness generate: unexpected argument '%s' (prompts go after --prompt)\n", argv[optind]);
    return -1;
  }
  const char *missing = !a->model ? "--model DIR" : !a->n_prompts ? "--prompt TEXT" : !a->out ? "--out DIR" : NULL;
  if (missing) {
    fprintf(stderr, "harness generate: %s is required\n\n%s", missing, usage);
    return -1;
  }
  return 0;
}

/* A1111's sampler names, so that tools reading "parameters" recognise them. */
static const char *a1111_sampler(const char *name, const char *model_class) {
  static const char *const map[][2] = {{"ddim", "DDIM"},         {"pndm", "PLMS"},
                                       {"euler", "Euler"},       {"euler_a", "Euler a"},
                                       {"dpmpp_2m", "DPM++ 2M"}, {"dpmpp_2m_karras", "DPM++ 2M Karras"},
                                       {"lms", "LMS"},           {"heun", "Heun"}};
  /* Without --sampler the model's own scheduler class runs: name it as A1111 would. */
  static const char *const by_class[][2] = {
      {"DDIMScheduler", "DDIM"},           {"PNDMScheduler", "PLMS"},
      {"EulerDiscreteScheduler", "Euler"}, {"EulerAncestralDiscreteScheduler", "Euler a"},
      {"LMSDiscreteScheduler", "LMS"},     {"HeunDiscreteScheduler", "Heun"},
      {"KDPM2DiscreteScheduler", "DPM2"},  {"DPMSolverMultistepScheduler", "DPM++ 2M"}};
  if (!name) {
    for (size_t i = 0; i < sizeof by_class / sizeof *by_class; i++)
      if (!strcmp(by_class[i][0], model_class)) return by_class[i][1];
    return model_class;
  }
  for (size_t i = 0; i < sizeof map / sizeof *map; i++)
    if (!strcmp(map[i][0], name)) return map[i][1];
  return name;
}

/* The bar begins before the first model evaluation (its total comes from the sampler's
 * schedule), so that the final rate counts every evaluation's time: begun at the first report,
 * it would divide n evaluations by the time of n - 1. */
static int on_progress(void *user, int done, int total) {
  (void)total;
  progress *bar = user;
  if (bar) progress_update(bar, (uint64_t)done);
  return 0;
}

/* The A1111 "parameters" text: prompt, negative prompt, then "Key: value" pairs. */
static char *parameters_text(const gen_args *a, const sd_model *m, const char *prompt, int width, int height,
                             size_t index, size_t total) {
  strbuf b = STRBUF_INIT;
  sb_appendf(&b, "%s", prompt);
  if (a->negative[0]) sb_appendf(&b, "\nNegative prompt: %s", a->negative);
  sb_appendf(&b, "\nSteps: %d, Sampler: %s, CFG scale: %g, Seed: %" PRIu64 ", Size: %dx%d, Model: %s", a->steps,
            a1111_sampler(a->sampler, m->scheduler_class), a->guidance, a->seed, width, height, m->dir);
  if (a->clip_skip > 1) sb_appendf(&b, ", Clip skip: %d", a->clip_skip);
  if (total > 1) sb_appendf(&b, ", Batch size: %zu, Batch pos: %zu", total, index);
  if (a->latents) sb_appendf(&b, ", Latents: %s", a->latents);
  for (size_t i = 0; i < a->n_embeddings; i++) sb_appendf(&b, "%s%s", i ? "; " : ", Embeddings: ", a->embeddings[i]);
  sb_appendf(&b, ", Version: harness %s (%s)", MDH_VERSION, MDH_GIT_COMMIT);
  return sb_take(&b);
}

static float *read_latents(const char *path, int64_t B, int64_t C, int64_t h, int64_t w, herr *e) {
  st_file *f = st_open(path, e);
  if (!f) return NULL;
  const int64_t shape[4] = {B, C, h, w};
  const st_tensor *t = st_find(f, "latents");
  if (!t) {
    herr_set(e, "%s: no tensor named 'latents' (expected [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "])",
             path, B, C, h, w);
    st_close(f);
    return NULL;
  }
  bool ok = t->ndim == 4;
  for (int i = 0; ok && i < 4; i++) ok = t->shape[i] == shape[i];
  if (!ok) {
    herr_set(e, "%s: 'latents' must have shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                "] (images = prompts x batch, the UNet's channels, size / VAE factor)",
             path, B, C, h, w);
    st_close(f);
    return NULL;
  }
  float *v = malloc((size_t)(B * C * h * w) * sizeof *v);
  if (!v || st_to_f32(t, v, e)) {
    if (!v) herr_set(e, "%s: out of memory", path);
    free(v);
    v = NULL;
  }
  st_close(f);
  return v;
}

/* Tokenizes `text` (multi-vector placeholders expanded) into n_rows identical rows. */
static int tokenize_rows(const sd_model *m, const char *text, int seq_len, int64_t *rows, int n_rows, herr *e) {
  if (sd_model_tokenize(m, text, rows, e)) return -1;
  for (int r = 1; r < n_rows; r++) memcpy(rows + (size_t)r * seq_len, rows, (size_t)seq_len * sizeof *rows);
  return 0;
}

int cmd_generate(int argc, char **argv) {
  gen_args a;
  int rc = parse_args(argc, argv, &a);
  int status = EXIT_USAGE;
  sd_model *m = NULL;
  shim_sampler *sampler = NULL;
  int64_t *cond = NULL, *uncond = NULL;
  float *init = NULL, *images = NULL, *latents = NULL;
  progress *bar = NULL;
  herr e = {{0}};
  shim_err serr = {{0}};
  if (rc) {
    status = rc > 0 ? EXIT_OK : EXIT_USAGE;
    goto done;
  }
  cli_common common = {.threads = a.threads, .device = a.device};
  char device[64];
  int threads;
  if (cli_runtime_init(&common, NULL, device, sizeof device, &threads)) goto done;
  shim_exec exec;
  const char *dt = cli_model_dtype(device, a.dtype, &exec);

  status = EXIT_ERROR;
  if (sd_model_load(a.model, &exec, &m, &e)) {
    fprintf(stderr, "harness generate: %s\n", e.msg);
    status = EXIT_USAGE;
    goto done;
  }
  for (size_t i = 0; i < a.n_embeddings; i++) {
    if (sd_model_add_embedding(m, a.embeddings[i], &e)) {
      fprintf(stderr, "harness generate: %s\n", e.msg);
      status = EXIT_USAGE;
      goto done;
    }
  }
  if (shim_sampler_new(&m->scheduler, a.sampler, &sampler, &serr)) {
    fprintf(stderr, "harness generate: %s: %s\n", a.model, serr.msg);
    status = EXIT_USAGE;
    goto done;
  }
  int height = a.height ? a.height : m->sample_size * m->vae_scale_factor;
  int width = a.width ? a.width : m->sample_size * m->vae_scale_factor;
  if (height % m->vae_scale_factor || width % m->vae_scale_factor) {
    fprintf(stderr, "harness generate: --height and --width must be multiples of %d (the VAE's downscale factor)\n",
            m->vae_scale_factor);
    status = EXIT_USAGE;
    goto done;
  }
  size_t n_images = a.n_prompts * (size_t)a.batch;
  if (n_images > 4096) {
    fprintf(stderr, "harness generate: %zu images in one call is more than 4096\n", n_images);
    status = EXIT_USAGE;
    goto done;
  }
  const int L = m->seq_len;
  cond = malloc(n_images * (size_t)L * sizeof *cond);
  uncond = malloc(n_images * (size_t)L * sizeof *uncond);
  if (!cond || !uncond) abort();
  for (size_t p = 0; p < a.n_prompts; p++) {
    if (tokenize_rows(m, a.prompts[p], L, cond + p * a.batch * L, a.batch, &e) ||
        tokenize_rows(m, a.negative, L, uncond + p * a.batch * L, a.batch, &e)) {
      fprintf(stderr, "harness generate: %s\n", e.msg);
      status = EXIT_USAGE;
      goto done;
    }
  }
  const int h = height / m->vae_scale_factor, w = width / m->vae_scale_factor;
  if (a.latents && !(init = read_latents(a.latents, (int64_t)n_images, m->latent_channels, h, w, &e))) {
    fprintf(stderr, "harness generate: --latents %s\n", e.msg);
    status = EXIT_USAGE;
    goto done;
  }
  size_t n_pix = n_images * (size_t)height * (size_t)width * 3;
  size_t n_lat = n_images * (size_t)m->latent_channels * (size_t)h * (size_t)w;
  images = malloc(n_pix * sizeof *images);
  latents = malloc(n_lat * sizeof *latents);
  if (!images || !latents) {
    fprintf(stderr, "harness generate: out of memory for %zu images of %dx%d\n", n_images, width, height);
    goto done;
  }
  char what[160];
  snprintf(what, sizeof what, "%zu image%s %dx%d, %d steps on %s (%s, %d threads)", n_images,
           n_images == 1 ? "" : "s", width, height, a.steps, device, dt, threads);
  if (shim_sampler_set_timesteps(sampler, a.steps, &serr)) {
    fprintf(stderr, "harness generate: --steps %d: %s\n", a.steps, serr.msg);
    status = EXIT_USAGE;
    goto done;
  }
  if (!a.quiet) {
    bar = progress_new(stderr, progress_is_terminal(stderr));
    progress_begin(bar, "generate", what, (uint64_t)shim_sampler_num_model_evals(sampler));
  }
  shim_txt2img_params tp = {.n_images = (int)n_images, .seq_len = L, .cond_ids = cond, .uncond_ids = uncond,
                            .clip_skip = a.clip_skip, .height = height, .width = width, .steps = a.steps,
                            .guidance = a.guidance, .seed = a.seed, .init_latents = init,
                            .vae_scaling_factor = m->scaling_factor, .progress = on_progress, .progress_user = bar};
  if (shim_txt2img(m->text_encoder, m->unet, m->vae, sampler, &tp, images, latents, &serr)) {
    if (bar) progress_end(bar);
    fprintf(stderr, "harness generate: %s\n", serr.msg);
    goto done;
  }
  if (bar) progress_end(bar);
  if (fs_mkdir_p(a.out, &e)) {
    fprintf(stderr, "harness generate: --out %s\n", e.msg);
    goto done;
  }
  uint8_t *px = malloc((size_t)height * width * 3);
  if (!px) abort();
  for (size_t i = 0; i < n_images; i++) {
    png_from_unit_float(images + i * (size_t)height * width * 3, (size_t)height * width * 3, px);
    char name[32];
    snprintf(name, sizeof name, "%05zu.png", i);
    char *path = fs_join(a.out, name);
    char *params = parameters_text(&a, m, a.prompts[i / (size_t)a.batch], width, height, i, n_images);
    png_text_kv kv[] = {{"parameters", params}};
    int wrc = png_write8(path, px, (uint32_t)width, (uint32_t)height, 3, kv, 1, &e);
    free(params);
    free(path);
    if (wrc) {
      free(px);
      fprintf(stderr, "harness generate: %s\n", e.msg);
      goto done;
    }
  }
  free(px);
  if (a.save_tensors) {
    st_tensor t[2] = {
        {.name = "images", .dtype = ST_F32, .ndim = 4, .shape = {(int64_t)n_images, height, width, 3},
         .data = images, .nbytes = n_pix * sizeof *images},
        {.name = "latents", .dtype = ST_F32, .ndim = 4, .shape = {(int64_t)n_images, m->latent_channels, h, w},
         .data = latents, .nbytes = n_lat * sizeof *latents}};
    if (st_write(a.save_tensors, t, 2, NULL, NULL, 0, &e)) {
      fprintf(stderr, "harness generate: --save-tensors %s\n", e.msg);
      goto done;
    }
  }
  if (!a.quiet) fprintf(stderr, "harness generate: wrote %zu image%s to %s\n", n_images, n_images == 1 ? "" : "s", a.out);
  status = EXIT_OK;
done:
  progress_free(bar);
  shim_sampler_free(sampler);
  sd_model_free(m);
  free(cond);
  free(uncond);
  free(init);
  free(images);
  free(latents);
  free(a.prompts);
  free(a.embeddings);
  return status;
}
