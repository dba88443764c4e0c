/* `harness train-embedding`: textual inversion of one embedding from a folder of images (or a
 * dataset's embedding subset) on a diffusers-format model, writing the embedding in the A1111
 * and diffusers formats, its loss curve, checkpoints (resumable) and previews. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli/cli.h"
#include "harness/data/dataset.h"
#include "harness/loader/sd_model.h"
#include "harness/pipeline/ti_train.h"
#include "harness/progress/progress.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static const char usage[] =
    "usage: harness train-embedding --model DIR (--images DIR | --dataset DIR --label L) --token T --out DIR [options]\n"
    "\n"
    "Textual inversion: trains only the vectors of a new token on a frozen Stable Diffusion model.\n"
    "Writes OUT/<name>.pt (A1111), OUT/learned_embeds.safetensors (diffusers), OUT/losses.csv,\n"
    "checkpoints in OUT/checkpoints (resume with --resume) and previews in OUT/previews.\n"
    "\n"
    "data:\n"
    "  --images DIR             the .png images to learn (a caption x.txt beside x.png fills [filewords])\n"
    "  --dataset DIR --label L  or: a prepared dataset's embedding subset of label L (0 or 1)\n"
    "  --template NAME|FILE     prompt templates: subject, style, subject_filewords, style_filewords, none,\n"
    "                           or a file of lines with [name] and [filewords] (default subject)\n"
    "  --resolution PX          training size (default: the model's)\n"
    "  --crop center|random     square crop before resizing (default center)\n"
    "  --filter NAME            resize filter: lanczos, bicubic, bilinear, nearest (default lanczos)\n"
    "  --flip P                 random horizontal flip probability (default 0)\n"
    "  --repeats N              times each image appears per epoch (default 1)\n"
    "  --latent-sampling M      once, deterministic or random (default once; see docs/textual_inversion.md)\n"
    "embedding:\n"
    "  --token T                placeholder token used in prompts, e.g. '<cspca>' (required)\n"
    "  --name N                 the embedding's name in the A1111 file (default: the token)\n"
    "  --vectors N              vectors per token (default 1)\n"
    "  --init text|zeros|random initialisation (default text)\n"
    "  --init-text TEXT         text whose token embeddings initialise the vectors (default '*')\n"
    "optimisation:\n"
    "  --steps N                optimizer steps (default 1000)\n"
    "  --batch-size B           images per micro-batch (default 1)\n"
    "  --grad-accum K           micro-batches per step (default 1)\n"
    "  --lr SPEC                rate, or A1111 schedule '0.005:100, 1e-3:1000, 1e-5' (default 0.005)\n"
    "  --lr-schedule KIND       constant, linear or cosine decay to 0 (default constant)\n"
    "  --warmup N               linear warm-up steps (default 0)\n"
    "  --weight-decay W         AdamW weight decay of the embedding (default 0)\n"
    "  --adam-beta1 B --adam-beta2 B --adam-eps E   (defaults 0.9, 0.999, 1e-8)\n"
    "  --clip-grad-norm X       clip the gradient's L2 norm to X\n"
    "  --clip-grad-value X      clamp every gradient element to [-X, X]\n"
    "  --seed S                 seed of order, timesteps, noise and flips (default 0)\n"
    "  --gradient-checkpointing recompute UNet blocks in the backward pass (less memory)\n"
    "checkpoints and previews:\n"
    "  --checkpoint-every N     save state and embedding every N steps (default 500)\n"
    "  --resume                 continue from OUT/checkpoints (bit-identical to an uninterrupted run on CPU)\n"
    "  --preview-every N        preview image every N steps (default 0: none)\n"
    "  --preview-prompt TEXT    (default: the first template with the token)\n"
    "  --preview-steps N --preview-seed S --preview-guidance G  (defaults 20, 0, 7.5)\n"
    "runtime:\n"
    "  --device D               cpu, cuda, cuda:N or auto (default auto)\n"
    "  --dtype T                UNet/VAE precision: fp32, fp16 (CUDA) or bf16; the embedding stays fp32\n"
    "  --threads N              CPU threads (default: one per core)\n"
    "  --quiet                  no progress output\n"
    "  -h, --help               this text\n";

typedef struct te_args {
  const char *model, *images, *dataset, *out, *device, *dtype;
  int label, threads;
  bool quiet;
  ti_train_opts o;
} te_args;

enum {
  O_MODEL = 256, O_IMAGES, O_DATASET, O_LABEL, O_TEMPLATE, O_RES, O_CROP, O_FILTER, O_FLIP, O_REPEATS, O_LATENT,
  O_TOKEN, O_NAME, O_VECTORS, O_INIT, O_INIT_TEXT, O_STEPS, O_BATCH, O_ACCUM, O_LR, O_LR_KIND, O_WARMUP, O_WD,
  O_B1, O_B2, O_EPS, O_CLIP_NORM, O_CLIP_VALUE, O_SEED, O_GC, O_CKPT, O_RESUME, O_PREV, O_PREV_PROMPT,
  O_PREV_STEPS, O_PREV_SEED, O_PREV_G, O_DEVICE, O_DTYPE, O_THREADS, O_OUT, O_QUIET
};

static const struct option opts[] = {
    {"model", required_argument, NULL, O_MODEL}, {"images", required_argument, NULL, O_IMAGES},
    {"dataset", required_argument, NULL, O_DATASET}, {"label", required_argument, NULL, O_LABEL},
    {"template", required_argument, NULL, O_TEMPLATE}, {"resolution", required_argument, NULL, O_RES},
    {"crop", required_argument, NULL, O_CROP}, {"filter", required_argument, NULL, O_FILTER},
    {"flip", required_argument, NULL, O_FLIP}, {"repeats", required_argument, NULL, O_REPEATS},
    {"latent-sampling", required_argument, NULL, O_LATENT}, {"token", required_argument, NULL, O_TOKEN},
    {"name", required_argument, NULL, O_NAME}, {"vectors", required_argument, NULL, O_VECTORS},
    {"init", required_argument, NULL, O_INIT}, {"init-text", required_argument, NULL, O_INIT_TEXT},
    {"steps", required_argument, NULL, O_STEPS}, {"batch-size", required_argument, NULL, O_BATCH},
    {"grad-accum", required_argument, NULL, O_ACCUM}, {"lr", required_argument, NULL, O_LR},
    {"lr-schedule", required_argument, NULL, O_LR_KIND}, {"warmup", required_argument, NULL, O_WARMUP},
    {"weight-decay", required_argument, NULL, O_WD}, {"adam-beta1", required_argument, NULL, O_B1},
    {"adam-beta2", required_argument, NULL, O_B2}, {"adam-eps", required_argument, NULL, O_EPS},
    {"clip-grad-norm", required_argument, NULL, O_CLIP_NORM}, {"clip-grad-value", required_argument, NULL, O_CLIP_VALUE},
    {"seed", required_argument, NULL, O_SEED}, {"gradient-checkpointing", no_argument, NULL, O_GC},
    {"checkpoint-every", required_argument, NULL, O_CKPT}, {"resume", no_argument, NULL, O_RESUME},
    {"preview-every", required_argument, NULL, O_PREV}, {"preview-prompt", required_argument, NULL, O_PREV_PROMPT},
    {"preview-steps", required_argument, NULL, O_PREV_STEPS}, {"preview-seed", required_argument, NULL, O_PREV_SEED},
    {"preview-guidance", required_argument, NULL, O_PREV_G}, {"device", required_argument, NULL, O_DEVICE},
    {"dtype", required_argument, NULL, O_DTYPE}, {"threads", required_argument, NULL, O_THREADS},
    {"out", required_argument, NULL, O_OUT}, {"quiet", no_argument, NULL, O_QUIET}, {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static int parse_ll(const char *opt, const char *text, long long lo, long long hi, long long *out) {
  int v;
  if (cli_parse_int("train-embedding", opt, text, (long)lo, (long)hi, &v)) return -1;
  *out = v;
  return 0;
}

static int one_of(const char *opt, const char *text, const char *const *names) {
  for (int i = 0; names[i]; i++)
    if (!strcmp(names[i], text)) return i;
  strbuf b = STRBUF_INIT;
  for (int i = 0; names[i]; i++) sb_appendf(&b, "%s%s", i ? ", " : "", names[i]);
  fprintf(stderr, "harness train-embedding: %s expects one of %s; got '%s'\n", opt, sb_str(&b), text);
  sb_free(&b);
  return -1;
}

/* 0 ok, 1 help shown, -1 error shown. */
static int parse_args(int argc, char **argv, te_args *a) {
  static const char *const crops[] = {"center", "random", NULL}, *const inits[] = {"text", "zeros", "random", NULL},
                           *const kinds[] = {"constant", "linear", "cosine", NULL},
                           *const dtypes[] = {"fp32", "fp16", "bf16", NULL};
  const char *cmd = "train-embedding";
  memset(a, 0, sizeof *a);
  a->label = -1;
  a->device = "auto";
  ti_train_opts_default(&a->o);
  a->o.token = NULL;
  ti_train_opts *o = &a->o;
  herr e = {{0}};
  int i, opt;
  optind = 1;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
    int rc = 0;
    switch (opt) {
      case O_MODEL: a->model = optarg; break;
      case O_IMAGES: a->images = optarg; break;
      case O_DATASET: a->dataset = optarg; break;
      case O_LABEL: rc = cli_parse_int(cmd, "--label", optarg, 0, 1, &a->label); break;
      case O_TEMPLATE: o->templates = optarg; break;
      case O_RES: rc = cli_parse_int(cmd, "--resolution", optarg, 8, 4096, &o->resolution); break;
      case O_CROP: rc = (i = one_of("--crop", optarg, crops)) < 0 ? -1 : (o->crop = (ti_crop)i, 0); break;
      case O_FILTER:
        if (img_filter_parse(optarg, &o->filter, &e)) {
          fprintf(stderr, "harness %s: --filter: %s\n", cmd, e.msg);
          rc = -1;
        }
        break;
      case O_FLIP: rc = cli_parse_double(cmd, "--flip", optarg, 0, 1, &o->flip_p); break;
      case O_REPEATS: rc = cli_parse_int(cmd, "--repeats", optarg, 1, 100000, &o->repeats); break;
      case O_LATENT:
        if (ti_latent_sampling_parse(optarg, &o->latent_sampling, &e)) {
          fprintf(stderr, "harness %s: --latent-sampling: %s\n", cmd, e.msg);
          rc = -1;
        }
        break;
      case O_TOKEN: o->token = optarg; break;
      case O_NAME: o->name = optarg; break;
      case O_VECTORS: rc = cli_parse_int(cmd, "--vectors", optarg, 1, EMB_MAX_VECTORS, &o->n_vectors); break;
      case O_INIT: rc = (i = one_of("--init", optarg, inits)) < 0 ? -1 : (o->init = inits[i], 0); break;
      case O_INIT_TEXT: o->init_text = optarg; break;
      case O_STEPS: rc = parse_ll("--steps", optarg, 1, 100000000, &o->steps); break;
      case O_BATCH: rc = cli_parse_int(cmd, "--batch-size", optarg, 1, 1024, &o->batch_size); break;
      case O_ACCUM: rc = cli_parse_int(cmd, "--grad-accum", optarg, 1, 1024, &o->grad_accum); break;
      case O_LR: o->lr = optarg; break;
      case O_LR_KIND: rc = (i = one_of("--lr-schedule", optarg, kinds)) < 0 ? -1 : (o->lr_kind = kinds[i], 0); break;
      case O_WARMUP: rc = parse_ll("--warmup", optarg, 0, 100000000, &o->warmup_steps); break;
      case O_WD: rc = cli_parse_double(cmd, "--weight-decay", optarg, 0, 10, &o->weight_decay); break;
      case O_B1: rc = cli_parse_double(cmd, "--adam-beta1", optarg, 0, 0.999999, &o->beta1); break;
      case O_B2: rc = cli_parse_double(cmd, "--adam-beta2", optarg, 0, 0.999999999, &o->beta2); break;
      case O_EPS: rc = cli_parse_double(cmd, "--adam-eps", optarg, 1e-30, 1, &o->eps); break;
      case O_CLIP_NORM: o->clip = SHIM_CLIP_NORM; rc = cli_parse_double(cmd, "--clip-grad-norm", optarg, 1e-12, 1e12, &o->clip_value); break;
      case O_CLIP_VALUE: o->clip = SHIM_CLIP_VALUE; rc = cli_parse_double(cmd, "--clip-grad-value", optarg, 1e-12, 1e12, &o->clip_value); break;
      case O_SEED: rc = cli_parse_seed(cmd, "--seed", optarg, &o->seed); break;
      case O_GC: o->grad_checkpointing = 1; break;
      case O_CKPT: rc = parse_ll("--checkpoint-every", optarg, 1, 100000000, &o->checkpoint_every); break;
      case O_RESUME: o->resume = true; break;
      case O_PREV: rc = parse_ll("--preview-every", optarg, 0, 100000000, &o->preview_every); break;
      case O_PREV_PROMPT: o->preview_prompt = optarg; break;
      case O_PREV_STEPS: rc = cli_parse_int(cmd, "--preview-steps", optarg, 1, 1000, &o->preview_steps); break;
      case O_PREV_SEED: rc = cli_parse_seed(cmd, "--preview-seed", optarg, &o->preview_seed); break;
      case O_PREV_G: rc = cli_parse_double(cmd, "--preview-guidance", optarg, 0, 100, &o->preview_guidance); break;
      case O_DEVICE: a->device = optarg; break;
      case O_DTYPE: rc = (i = one_of("--dtype", optarg, dtypes)) < 0 ? -1 : (a->dtype = dtypes[i], 0); break;
      case O_THREADS: rc = cli_parse_int(cmd, "--threads", optarg, 0, 1024, &a->threads); break;
      case O_OUT: a->out = optarg; break;
      case O_QUIET: a->quiet = true; break;
      case 'h': fputs(usage, stdout); return 1;
      case ':': fprintf(stderr, "harness %s: option '%s' needs a value\n\n%s", cmd, argv[optind - 1], usage); return -1;
      default: fprintf(stderr, "harness %s: unknown option '%s'\n\n%s", cmd, argv[optind - 1], usage); return -1;
    }
    if (rc) return -1;
  }
  if (optind < argc) {
    fprintf(stderr, "harness %s: unexpected argument '%s'\n", cmd, argv[optind]);
    return -1;
  }
  const char *missing = !a->model ? "--model DIR" : !a->images && !a->dataset ? "--images DIR (or --dataset DIR --label L)"
                        : !o->token ? "--token T" : !a->out ? "--out DIR" : NULL;
  if (missing) {
    fprintf(stderr, "harness %s: %s is required\n\n%s", cmd, missing, usage);
    return -1;
  }
  if (a->images && a->dataset) {
    fprintf(stderr, "harness %s: give --images or --dataset, not both\n", cmd);
    return -1;
  }
  if (a->dataset && a->label < 0) {
    fprintf(stderr, "harness %s: --dataset needs --label 0 or 1 (which class to learn)\n", cmd);
    return -1;
  }
  return 0;
}

/* The embedding subset of one label of a prepared dataset. */
static int images_from_dataset(const char *dir, int label, ti_image_set *set, herr *e) {
  ds_manifest m;
  if (ds_manifest_read(dir, &m, e)) return -1;
  int rc = 0;
  for (size_t i = 0; i < m.n && !rc; i++) {
    const ds_case *c = &m.cases[i];
    if (!c->ok || !c->embed || c->label != label) continue;
    char *path = ds_case_path(&m, c->image);
    rc = ti_image_set_add(set, path, "", e);
    free(path);
  }
  ds_manifest_free(&m);
  if (!rc && !set->n)
    rc = herr_set(e, "%s: no case of label %d is in the embedding subset (assign splits first: the data stage "
                     "or `harness prepare … ` marks them in the manifest's 'embed' column)",
                  dir, label);
  return rc;
}

typedef struct te_ui {
  progress *bar;
} te_ui;

static int on_step(void *user, const ti_step_info *s, herr *e) {
  (void)e;
  te_ui *ui = user;
  if (ui->bar) {
    long long every = s->total >= 10 ? s->total / 10 : 1;
    if (s->step % every == 0) progress_log(ui->bar, "step %lld/%lld loss %.4f lr %.3g", s->step, s->total, s->loss, s->lr);
    progress_update(ui->bar, (uint64_t)s->step);
  }
  return 0;
}

static void on_log(void *user, const char *msg) {
  (void)user;
  fprintf(stderr, "harness train-embedding: %s\n", msg);
}

static int write_outputs(const te_args *a, const ti_train_result *r, herr *e) {
  const char *name = a->o.name ? a->o.name : a->o.token;
  char file[300];
  snprintf(file, sizeof file, "%s.pt", name);
  char *pt = fs_join(a->out, file), *diff = fs_join(a->out, "learned_embeds.safetensors"),
       *csv = fs_join(a->out, "losses.csv");
  int rc = emb_write(pt, &r->embedding, "a1111-pt", e);
  if (!rc) rc = emb_write(diff, &r->embedding, "diffusers", e);
  if (!rc) {
    strbuf b = STRBUF_INIT;
    sb_append(&b, "step,loss,lr\n");
    for (long long s = 0; s < r->n_steps; s++) sb_appendf(&b, "%lld,%.9g,%.9g\n", s + 1, r->losses[s], r->lrs[s]);
    rc = fs_write_atomic(csv, sb_str(&b), b.len, e);
    sb_free(&b);
  }
  free(pt);
  free(diff);
  free(csv);
  return rc;
}

int cmd_train_embedding(int argc, char **argv) {
  te_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
  cli_common common = {.threads = a.threads, .device = a.device};
  char device[64];
  int threads;
  if (cli_runtime_init(&common, NULL, device, sizeof device, &threads)) return EXIT_USAGE;
  shim_exec exec;
  const char *dt = cli_model_dtype(device, a.dtype, &exec);
  herr e = {{0}};
  sd_model *m = NULL;
  ti_image_set set = {0};
  int status = EXIT_USAGE;
  te_ui ui = {0};
  ti_train_result res = {0};
  char *ckpt = fs_join(a.out, "checkpoints"), *prev = fs_join(a.out, "previews");
  if (a.images ? ti_image_set_from_dir(a.images, &set, &e) : images_from_dataset(a.dataset, a.label, &set, &e)) goto fail;
  if (sd_model_load(a.model, &exec, &m, &e)) goto fail;
  if (fs_mkdir_p(a.out, &e)) goto fail;
  a.o.checkpoint_dir = ckpt;
  a.o.preview_dir = prev;
  a.o.on_step = on_step;
  a.o.log = on_log;
  a.o.user = &ui;
  if (!a.quiet) {
    ui.bar = progress_new(stderr, progress_is_terminal(stderr));
    char what[200];
    snprintf(what, sizeof what, "'%s' (%d vector%s) on %zu image%s, %s %s, %d threads", a.o.token, a.o.n_vectors,
             a.o.n_vectors == 1 ? "" : "s", set.n, set.n == 1 ? "" : "s", device, dt, threads);
    progress_begin(ui.bar, "train-embedding", what, (uint64_t)a.o.steps);
  }
  status = EXIT_ERROR;
  rc = ti_train(m, &set, &a.o, &res, &e);
  if (ui.bar) progress_end(ui.bar);
  if (rc || write_outputs(&a, &res, &e)) goto fail;
  if (!a.quiet)
    fprintf(stderr, "harness train-embedding: %lld steps (%.2f steps/s), final loss %.4f, %lld VAE passes; wrote %s\n",
            res.n_steps - res.resumed_from, (double)(res.n_steps - res.resumed_from) / (res.seconds > 0 ? res.seconds : 1),
            res.n_steps ? res.losses[res.n_steps - 1] : 0.0, res.vae_passes, a.out);
  status = EXIT_OK;
  goto done;
fail:
  fprintf(stderr, "harness train-embedding: %s\n", e.msg);
done:
  progress_free(ui.bar);
  ti_train_result_free(&res);
  ti_image_set_free(&set);
  sd_model_free(m);
  free(ckpt);
  free(prev);
  return status;
}
