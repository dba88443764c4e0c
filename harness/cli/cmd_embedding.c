/* `harness embedding`: inspect a textual-inversion embedding file (info) and convert between
 * the A1111 .pt / .safetensors and diffusers learned_embeds layouts (convert). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli/cli.h"
#include "harness/model/embedding_file.h"
#include "harness/util/fsutil.h"
#include "harness/util/numfmt.h"

static const char usage[] =
    "usage: harness embedding info FILE [--json]\n"
    "       harness embedding convert IN OUT [--name N] [--format F] [--force]\n"
    "\n"
    "Textual-inversion embedding files: diffusers learned_embeds (.safetensors; .bin read only)\n"
    "and A1111 (.pt, .safetensors). Files are recognised by content, never executed.\n"
    "\n"
    "info FILE        format, name, token(s), vectors x dimension, training step, the SD checkpoint\n"
    "                 it was trained on, and the L2 norms of its vectors (min / mean / max)\n"
    "  --json         the same as one JSON object (numbers round-trip exactly)\n"
    "\n"
    "convert IN OUT   rewrite IN as OUT; the format follows OUT's extension: .pt is A1111's\n"
    "                 torch.save file, .safetensors A1111's safetensors layout, or diffusers'\n"
    "                 {token: [n, d]} when OUT is named learned_embeds.safetensors or with\n"
    "                 --format diffusers. .bin (a pickle) is not written.\n"
    "  --name N       the embedding's name (A1111) / token (diffusers) in OUT (default: IN's)\n"
    "  --format F     a1111-pt, a1111-safetensors or diffusers (must fit OUT's extension)\n"
    "  --force        replace an existing OUT\n"
    "\n"
    "  -h, --help     this text\n"
    "Exit status: 0 success, 2 bad usage or unreadable / invalid input, 3 write error.\n";

static int usage_error(const char *fmt, const char *arg) {
  fputs("harness embedding: ", stderr);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n%s", usage);
  return EXIT_USAGE;
}

typedef struct emb_stats {
  int64_t vectors;
  int64_t dim; /* -1 when the tokens differ */
  double norm_min, norm_mean, norm_max;
} emb_stats;

static emb_stats compute_stats(const emb_file *f) {
  emb_stats s = {.dim = f->n ? f->items[0].dim : 0, .norm_min = INFINITY, .norm_max = -INFINITY};
  double sum = 0;
  for (size_t i = 0; i < f->n; i++) {
    const emb_vectors *v = &f->items[i];
    if (v->dim != s.dim) s.dim = -1;
    for (int64_t r = 0; r < v->n_vectors; r++) {
      double ss = 0;
      const float *row = v->data + r * v->dim;
      for (int64_t k = 0; k < v->dim; k++) ss += (double)row[k] * row[k];
      double n = sqrt(ss);
      s.norm_min = fmin(s.norm_min, n);
      s.norm_max = fmax(s.norm_max, n);
      sum += n;
    }
    s.vectors += v->n_vectors;
  }
  s.norm_mean = s.vectors ? sum / (double)s.vectors : NAN;
  if (!s.vectors) s.norm_min = s.norm_max = NAN;
  return s;
}

static cJSON *json_num(double v) {
  if (!isfinite(v)) return cJSON_CreateNull();
  char buf[64];
  return cJSON_CreateRaw(fmt_double(v, buf, sizeof buf));
}

static cJSON *json_str_or_null(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

static void print_info_json(const char *path, const emb_file *f, const emb_stats *s) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "file", path);
  cJSON_AddItemToObject(root, "format", json_str_or_null(f->format));
  cJSON_AddItemToObject(root, "name", json_str_or_null(f->name));
  cJSON *toks = cJSON_AddArrayToObject(root, "tokens");
  for (size_t i = 0; i < f->n; i++) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddItemToObject(t, "token", json_str_or_null(f->items[i].token));
    cJSON_AddItemToObject(t, "vectors", json_num((double)f->items[i].n_vectors));
    cJSON_AddItemToObject(t, "dimension", json_num((double)f->items[i].dim));
    cJSON_AddItemToArray(toks, t);
  }
  cJSON_AddItemToObject(root, "vectors", json_num((double)s->vectors));
  cJSON_AddItemToObject(root, "dimension", s->dim >= 0 ? json_num((double)s->dim) : cJSON_CreateNull());
  cJSON_AddItemToObject(root, "step", f->step >= 0 ? json_num((double)f->step) : cJSON_CreateNull());
  cJSON_AddItemToObject(root, "sd_checkpoint", json_str_or_null(f->sd_checkpoint));
  cJSON_AddItemToObject(root, "sd_checkpoint_name", json_str_or_null(f->sd_checkpoint_name));
  cJSON *norms = cJSON_AddObjectToObject(root, "norms");
  cJSON_AddItemToObject(norms, "min", json_num(s->norm_min));
  cJSON_AddItemToObject(norms, "mean", json_num(s->norm_mean));
  cJSON_AddItemToObject(norms, "max", json_num(s->norm_max));
  char *text = cJSON_Print(root);
  if (!text) abort();
  puts(text);
  free(text);
  cJSON_Delete(root);
}

static void print_info_text(const char *path, const emb_file *f, const emb_stats *s) {
  printf("file:               %s\n", path);
  printf("format:             %s\n", f->format ? f->format : "?");
  printf("name:               %s\n", f->name ? f->name : "(none)");
  if (f->n == 1) {
    printf("token:              %s\n", f->items[0].token);
  } else {
    printf("tokens:             ");
    for (size_t i = 0; i < f->n; i++)
      printf("%s%s (%lld x %lld)", i ? ", " : "", f->items[i].token, (long long)f->items[i].n_vectors,
             (long long)f->items[i].dim);
    printf("\n");
  }
  printf("vectors:            %lld\n", (long long)s->vectors);
  if (s->dim >= 0)
    printf("dimension:          %lld\n", (long long)s->dim);
  else
    printf("dimension:          mixed (see tokens)\n");
  if (f->step >= 0)
    printf("step:               %lld\n", (long long)f->step);
  else
    printf("step:               unknown\n");
  printf("sd_checkpoint:      %s\n", f->sd_checkpoint ? f->sd_checkpoint : "(none)");
  printf("sd_checkpoint_name: %s\n", f->sd_checkpoint_name ? f->sd_checkpoint_name : "(none)");
  printf("vector L2 norms:    min %.6g  mean %.6g  max %.6g\n", s->norm_min, s->norm_mean, s->norm_max);
}

static int cmd_info_sub(int argc, char **argv) {
  static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  bool json = false;
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (opt) {
      case 'j': json = true; break;
      case 'h': fputs(usage, stdout); return EXIT_OK;
      default: return usage_error("info: unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind != argc - 1)
    return usage_error("info expects one FILE%s", optind < argc ? " (got several)" : " (none given)");
  const char *path = argv[optind];
  emb_file f;
  herr e = {{0}};
  if (emb_read(path, &f, &e)) {
    fprintf(stderr, "harness embedding info: %s\n", e.msg);
    emb_file_free(&f);
    return EXIT_USAGE;
  }
  emb_stats s = compute_stats(&f);
  if (json)
    print_info_json(path, &f, &s);
  else
    print_info_text(path, &f, &s);
  emb_file_free(&f);
  return EXIT_OK;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

static const char *base_name(const char *path) {
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

/* The output format from OUT's extension and --format; NULL after printing why not. */
static const char *output_format(const char *out, const char *requested) {
  const char *by_ext;
  if (ends_with(out, ".pt")) {
    by_ext = "a1111-pt";
  } else if (ends_with(out, ".safetensors")) {
    by_ext = !strcmp(base_name(out), "learned_embeds.safetensors") ? "diffusers" : "a1111-safetensors";
    if (requested && !strcmp(requested, "diffusers")) by_ext = "diffusers";
    if (requested && !strcmp(requested, "a1111-safetensors")) by_ext = "a1111-safetensors";
  } else if (ends_with(out, ".bin")) {
    fprintf(stderr,
            "harness embedding convert: %s: writing .bin is refused (it is a pickle, which loaders must execute); "
            "use learned_embeds.safetensors\n",
            out);
    return NULL;
  } else {
    fprintf(stderr, "harness embedding convert: %s: unknown extension (expected .pt or .safetensors)\n", out);
    return NULL;
  }
  if (requested && strcmp(requested, by_ext)) {
    fprintf(stderr, "harness embedding convert: --format %s does not fit %s (its extension means %s)\n", requested,
            out, by_ext);
    return NULL;
  }
  return by_ext;
}

static int cmd_convert_sub(int argc, char **argv) {
  static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"force", no_argument, NULL, 'F'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *name = NULL, *format = NULL;
  bool force = false;
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (opt) {
      case 'n': name = optarg; break;
      case 'f':
        if (strcmp(optarg, "diffusers") && strcmp(optarg, "a1111-pt") && strcmp(optarg, "a1111-safetensors"))
          return usage_error("convert: --format expects diffusers, a1111-pt or a1111-safetensors, got '%s'", optarg);
        format = optarg;
        break;
      case 'F': force = true; break;
      case 'h': fputs(usage, stdout); return EXIT_OK;
      case ':': return usage_error("convert: option '%s' needs a value", argv[optind - 1]);
      default: return usage_error("convert: unknown option '%s'", argv[optind - 1]);
    }
  }
  if (argc - optind != 2) return usage_error("convert expects IN and OUT%s", argc - optind > 2 ? " (got more)" : "");
  const char *in = argv[optind], *out = argv[optind + 1];
  if (name && !*name) return usage_error("convert: --name must not be empty%s", "");
  const char *fmt = output_format(out, format);
  if (!fmt) return EXIT_USAGE;
  if (fs_exists(out) && !force) {
    fprintf(stderr, "harness embedding convert: %s exists (use --force to replace it)\n", out);
    return EXIT_USAGE;
  }
  emb_file f;
  herr e = {{0}};
  if (emb_read(in, &f, &e)) {
    fprintf(stderr, "harness embedding convert: %s\n", e.msg);
    emb_file_free(&f);
    return EXIT_USAGE;
  }
  int status = EXIT_OK;
  if (strcmp(fmt, "diffusers") && f.n != 1) {
    fprintf(stderr, "harness embedding convert: %s holds %zu tokens; %s holds exactly one (use a diffusers "
                    "learned_embeds.safetensors)\n", in, f.n, fmt);
    status = EXIT_USAGE;
  } else if (name && f.n != 1) {
    fprintf(stderr, "harness embedding convert: --name needs a single-token embedding; %s holds %zu tokens\n", in, f.n);
    status = EXIT_USAGE;
  } else {
    if (name) { /* a diffusers file has no name besides its token: rename both */
      free(f.name);
      free(f.items[0].token);
      f.name = strdup(name);
      f.items[0].token = strdup(name);
      if (!f.name || !f.items[0].token) abort();
    }
    if (emb_write(out, &f, fmt, &e)) {
      fprintf(stderr, "harness embedding convert: %s\n", e.msg);
      status = EXIT_ERROR;
    } else {
      emb_stats s = compute_stats(&f);
      printf("wrote %s (%s, %lld vectors x %lld) from %s (%s)\n", out, fmt, (long long)s.vectors, (long long)s.dim,
             in, f.format);
    }
  }
  emb_file_free(&f);
  return status;
}

int cmd_embedding(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return EXIT_USAGE;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
    fputs(usage, stdout);
    return EXIT_OK;
  }
  if (!strcmp(sub, "info")) return cmd_info_sub(argc - 1, argv + 1);
  if (!strcmp(sub, "convert")) return cmd_convert_sub(argc - 1, argv + 1);
  return usage_error("unknown subcommand '%s' (expected info or convert)", sub);
}
