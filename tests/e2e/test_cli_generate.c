/* End to end through the real `harness generate` on the tiny SD2 pipeline folder: with the
 * reference latents its PNGs and tensors equal diffusers' PNDM run; the PNGs carry A1111's
 * "parameters"; seeds reproduce and differ; usage errors exit 2 naming the problem; every
 * sampler gives a finite image. */
#include <math.h>

#include "cli_util.h"
#include "golden.h"
#include "harness/formats/png.h"
#include "harness/formats/safetensors.h"
#include "test_main.h"

#define PIPE "pipeline_sd2"
#define SIDE 32

static cli_result generate(const char *dir, char *const *args) {
  char *argv[48] = {"generate", "--threads", "2"};
  int n = 3;
  for (int i = 0; args[i] && n < 47; i++) argv[n++] = args[i];
  argv[n] = NULL;
  return cli_run(dir, argv);
}

static void expect_ok(const cli_result *r) {
  if (r->status != 0) print_error("harness generate failed (%d):\n%s\n", r->status, r->err);
  assert_int_equal(r->status, 0);
}

/* Reads dir/name as an RGB side x side PNG. */
static png_image8 read_png(const char *dir, const char *name, uint32_t side) {
  char *p = fs_join(dir, name);
  png_image8 img;
  herr e = {{0}};
  if (png_read8(p, &img, &e)) print_error("%s\n", e.msg);
  free(p);
  assert_int_equal(img.width, side);
  assert_int_equal(img.height, side);
  assert_int_equal(img.channels, 3);
  return img;
}

static char *read_bytes(const char *dir, const char *name, size_t *n) {
  char *p = fs_join(dir, name);
  herr e = {{0}};
  char *b = fs_read_file(p, n, &e);
  if (!b) print_error("%s\n", e.msg);
  assert_non_null(b);
  free(p);
  return b;
}

/* A float32 tensor of `path` as a malloc'ed copy with its element count in *n. */
static float *read_f32(const char *path, const char *name, int ndim, const int64_t *shape, size_t *n) {
  herr e = {{0}};
  st_file *f = st_open(path, &e);
  if (!f) print_error("%s\n", e.msg);
  assert_non_null(f);
  const st_tensor *t = st_expect(f, name, ST_DTYPE_ANY, ndim, shape, &e);
  if (!t) print_error("%s\n", e.msg);
  assert_non_null(t);
  *n = (size_t)st_numel(t);
  float *v = malloc(*n * sizeof *v);
  assert_non_null(v);
  assert_int_equal(st_to_f32(t, v, &e), 0);
  st_close(f);
  return v;
}

static void remove_dir(char *dir) {
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void latents_reproduce_the_reference_pndm_run(void **state) {
  (void)state;
  char *model = golden_path_or_skip(PIPE);
  char *inputs = golden_path_or_skip(PIPE "/expected/inputs.safetensors");
  char *ref = golden_path_or_skip(PIPE "/expected/run_pndm.safetensors");
  char *dir = make_tmp_dir();
  char *out = fs_join(dir, "out"), *tensors = fs_join(dir, "t.safetensors");
  /* The folder's scheduler is PNDM: no --sampler, as the reference ran it. */
  cli_result r = generate(dir, (char *[]){"--model", model, "--prompt", "a t2w prostate mri", "--prompt",
                                          "a photo of a cat", "--steps", "5", "--guidance", "7.5", "--latents",
                                          inputs, "--save-tensors", tensors, "--out", out, "--quiet", NULL});
  expect_ok(&r);
  const int64_t shape[4] = {2, SIDE, SIDE, 3};
  size_t n, n_ref;
  float *want = read_f32(ref, "images_np", 4, shape, &n_ref);
  float *got = read_f32(tensors, "images", 4, shape, &n);
  assert_int_equal(n, n_ref);
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
    den += (double)want[i] * want[i];
  }
  double rel = sqrt(num / den);
  if (!(rel < 1e-4)) print_error("--save-tensors images: rel L2 %.3g against images_np (want < 1e-4)\n", rel);
  assert_true(rel < 1e-4);
  const int64_t lat_shape[4] = {2, 4, SIDE / 2, SIDE / 2};
  free(read_f32(tensors, "latents", 4, lat_shape, &n));

  /* The PNG is diffusers' numpy_to_pil of the same images: round(x * 255). */
  const size_t per = (size_t)SIDE * SIDE * 3;
  for (int b = 0; b < 2; b++) {
    char name[16];
    snprintf(name, sizeof name, "%05d.png", b);
    png_image8 img = read_png(out, name, SIDE);
    int worst = 0;
    for (size_t i = 0; i < per; i++) {
      int expect = (int)lrint(fminf(fmaxf(want[b * per + i], 0.f), 1.f) * 255.f);
      int d = abs((int)img.pixels[i] - expect);
      if (d > worst) worst = d;
    }
    if (worst > 1) print_error("%s: a pixel differs by %d levels from round(images_np * 255)\n", name, worst);
    assert_true(worst <= 1);
    /* No --sampler: the model's own PNDM runs, named as A1111 names it. */
    const char *params = png_image8_text(&img, "parameters");
    assert_non_null(params);
    assert_non_null(strstr(params, "Sampler: PLMS, "));
    png_image8_free(&img);
  }
  free(want);
  free(got);
  cli_result_free(&r);
  free(out);
  free(tensors);
  free(model);
  free(inputs);
  free(ref);
  remove_dir(dir);
}

static void expect_in(const char *text, const char *want) {
  if (!strstr(text, want)) print_error("expected '%s' in the parameters:\n%s\n", want, text);
  assert_non_null(strstr(text, want));
}

static int n_lines(const char *s) {
  int n = 1;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static void png_parameters_follow_the_a1111_format(void **state) {
  (void)state;
  char *model = golden_path_or_skip(PIPE);
  char *dir = make_tmp_dir();
  char *out = fs_join(dir, "out");
  cli_result r = generate(dir, (char *[]){"--model", model, "--prompt", "a photo of a cat", "--negative-prompt",
                                          "blurry, low quality", "--sampler", "euler_a", "--steps", "3",
                                          "--guidance", "5", "--seed", "42", "--height", "32", "--width", "32",
                                          "--out", out, "--quiet", NULL});
  expect_ok(&r);
  png_image8 img = read_png(out, "00000.png", SIDE);
  const char *p = png_image8_text(&img, "parameters");
  if (!p) print_error("00000.png has no 'parameters' text chunk\n");
  assert_non_null(p);
  /* A1111: the prompt, then "Negative prompt: ...", then one line of "Key: value" pairs. */
  const char *head = "a photo of a cat\nNegative prompt: blurry, low quality\nSteps: 3, ";
  if (strncmp(p, head, strlen(head))) print_error("the parameters do not begin with\n%s\ngot:\n%s\n", head, p);
  assert_int_equal(strncmp(p, head, strlen(head)), 0);
  expect_in(p, "Steps: 3, Sampler: Euler a, CFG scale: 5, Seed: 42, Size: 32x32, Model: ");
  expect_in(p, model);
  expect_in(p, ", Version: harness ");
  assert_int_equal(n_lines(p), 3);
  assert_null(strstr(p, "Batch size"));
  png_image8_free(&img);
  cli_result_free(&r);

  /* No negative prompt: no such line; a batch names its size and each image's position. */
  r = generate(dir, (char *[]){"--model", model, "--prompt", "a t2w prostate mri", "--sampler", "ddim", "--steps", "2",
                               "--batch", "2", "--seed", "7", "--out", out, "--quiet", NULL});
  expect_ok(&r);
  img = read_png(out, "00001.png", SIDE);
  p = png_image8_text(&img, "parameters");
  assert_non_null(p);
  const char *head2 = "a t2w prostate mri\nSteps: 2, Sampler: DDIM, CFG scale: 7.5, Seed: 7, Size: 32x32, ";
  if (strncmp(p, head2, strlen(head2))) print_error("the parameters do not begin with\n%s\ngot:\n%s\n", head2, p);
  assert_int_equal(strncmp(p, head2, strlen(head2)), 0);
  assert_null(strstr(p, "Negative prompt"));
  assert_int_equal(n_lines(p), 2);
  expect_in(p, ", Batch size: 2, Batch pos: 1");
  png_image8_free(&img);
  cli_result_free(&r);
  free(out);
  free(model);
  remove_dir(dir);
}

static int n_differing(const png_image8 *a, const png_image8 *b) {
  int n = 0;
  for (size_t i = 0; i < (size_t)a->width * a->height * 3; i++) n += a->pixels[i] != b->pixels[i];
  return n;
}

static void seed_reproduces_and_batch_images_differ(void **state) {
  (void)state;
  char *model = golden_path_or_skip(PIPE);
  char *dir = make_tmp_dir();
  char *const out_names[3] = {"s42a", "s42b", "s43"};
  char *const seeds[3] = {"42", "42", "43"};
  for (int i = 0; i < 3; i++) {
    char *out = fs_join(dir, out_names[i]);
    cli_result r = generate(dir, (char *[]){"--model", model, "--prompt", "a photo of a cat", "--sampler", "euler_a",
                                            "--steps", "3", "--seed", seeds[i], "--out", out, "--quiet", NULL});
    expect_ok(&r);
    cli_result_free(&r);
    free(out);
  }
  size_t na, nb;
  char *a = read_bytes(dir, "s42a/00000.png", &na), *b = read_bytes(dir, "s42b/00000.png", &nb);
  if (na != nb || memcmp(a, b, na)) print_error("seed 42 twice gave different PNG files\n");
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  free(a);
  free(b);
  char *pa = fs_join(dir, "s42a"), *pc = fs_join(dir, "s43");
  png_image8 i42 = read_png(pa, "00000.png", SIDE), i43 = read_png(pc, "00000.png", SIDE);
  int diff = n_differing(&i42, &i43);
  if (diff < 100) print_error("seeds 42 and 43 differ in only %d of %d values\n", diff, SIDE * SIDE * 3);
  assert_true(diff >= 100);
  png_image8_free(&i42);
  png_image8_free(&i43);
  free(pa);
  free(pc);

  char *out = fs_join(dir, "batch");
  cli_result r = generate(dir, (char *[]){"--model", model, "--prompt", "a photo of a cat", "--sampler", "euler_a",
                                          "--steps", "3", "--seed", "42", "--batch", "3", "--out", out, "--quiet",
                                          NULL});
  expect_ok(&r);
  png_image8 img[3];
  for (int i = 0; i < 3; i++) {
    char name[16];
    snprintf(name, sizeof name, "%05d.png", i);
    img[i] = read_png(out, name, SIDE);
  }
  char *extra = fs_join(out, "00003.png");
  assert_false(fs_exists(extra));
  free(extra);
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++) {
      int d = n_differing(&img[i], &img[j]);
      if (d < 100) print_error("batch images %d and %d differ in only %d values\n", i, j, d);
      assert_true(d >= 100);
    }
  for (int i = 0; i < 3; i++) png_image8_free(&img[i]);
  cli_result_free(&r);
  free(out);
  free(model);
  remove_dir(dir);
}

/* Runs generate with `args` and expects exit 2, no output file, and every `want` in stderr. */
static void expect_usage_error(const char *dir, char *const *args, const char *const *want) {
  cli_result r = generate(dir, args);
  if (r.status != 2) print_error("expected exit 2, got %d; stderr:\n%s\n", r.status, r.err);
  assert_int_equal(r.status, 2);
  for (int i = 0; want[i]; i++) {
    if (!strstr(r.err, want[i])) print_error("expected '%s' in stderr:\n%s\n", want[i], r.err);
    assert_non_null(strstr(r.err, want[i]));
  }
  char *png = fs_join(dir, "out/00000.png");
  assert_false(fs_exists(png));
  free(png);
  cli_result_free(&r);
}

static void usage_errors_exit_2_naming_the_problem(void **state) {
  (void)state;
  char *model = golden_path_or_skip(PIPE);
  char *dir = make_tmp_dir();
  char *emb = test_data_path("embeddings/prostate_pos.pt");
  char *bad_latents = fs_join(dir, "bad.safetensors");
  float zeros[4 * 8 * 8] = {0};
  st_tensor t = {.name = "latents", .dtype = ST_F32, .ndim = 4, .shape = {1, 4, 8, 8}, .data = zeros,
                 .nbytes = sizeof zeros};
  herr e = {{0}};
  assert_int_equal(st_write(bad_latents, &t, 1, NULL, NULL, 0, &e), 0);
  char *missing_model = fs_join(dir, "no_such_model");

  expect_usage_error(dir, (char *[]){"--model", model, "--prompt", "x", "--out", "out", "--sampler", "plms", NULL},
                     (const char *[]){"--sampler", "'plms'", "euler_a", NULL});
  expect_usage_error(dir, (char *[]){"--model", model, "--prompt", "x", "--out", "out", "--steps", "0", NULL},
                     (const char *[]){"--steps", "'0'", NULL});
  expect_usage_error(dir, (char *[]){"--prompt", "x", "--out", "out", NULL}, (const char *[]){"--model", "required", NULL});
  expect_usage_error(dir, (char *[]){"--model", model, "--out", "out", NULL},
                     (const char *[]){"--prompt", "required", NULL});
  expect_usage_error(dir, (char *[]){"--model", model, "--prompt", "x", "--out", "out", "--height", "31", NULL},
                     (const char *[]){"--height", "multiples of 2", NULL});
  /* Two prompts make two images: [1,4,8,8] is wrong in batch and size. */
  expect_usage_error(dir, (char *[]){"--model", model, "--prompt", "x", "--prompt", "y", "--out", "out", "--latents",
                                     bad_latents, NULL},
                     (const char *[]){"bad.safetensors", "'latents'", "[2, 4, 16, 16]", NULL});
  expect_usage_error(dir, (char *[]){"--model", missing_model, "--prompt", "x", "--out", "out", NULL},
                     (const char *[]){"no_such_model", NULL});
  expect_usage_error(dir, (char *[]){"--model", model, "--prompt", "x", "--out", "out", "--embedding", emb, NULL},
                     (const char *[]){"prostate_pos.pt", "1024", "32", NULL});
  free(emb);
  free(bad_latents);
  free(missing_model);
  free(model);
  remove_dir(dir);
}

static void help_lists_every_option(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  cli_result r = generate(dir, (char *[]){"--help", NULL});
  assert_int_equal(r.status, 0);
  static const char *const opts[] = {"--model", "--prompt", "--negative-prompt", "--sampler", "--steps",
                                     "--guidance", "--seed", "--batch", "--height", "--width", "--clip-skip",
                                     "--embedding", "--latents", "--save-tensors", "--device", "--dtype",
                                     "--threads", "--out", "--quiet", "--help", NULL};
  for (int i = 0; opts[i]; i++) {
    if (!strstr(r.out, opts[i])) print_error("--help does not mention %s:\n%s\n", opts[i], r.out);
    assert_non_null(strstr(r.out, opts[i]));
  }
  static const char *const samplers[] = {"ddim", "pndm", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras",
                                         "lms", "heun", NULL};
  for (int i = 0; samplers[i]; i++) assert_non_null(strstr(r.out, samplers[i]));
  cli_result_free(&r);
  remove_dir(dir);
}

static void every_sampler_writes_a_finite_image(void **state) {
  (void)state;
  char *model = golden_path_or_skip(PIPE);
  char *dir = make_tmp_dir();
  static char *const samplers[] = {"ddim", "pndm", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras",
                                   "lms", "heun", NULL};
  for (int s = 0; samplers[s]; s++) {
    char *out = fs_join(dir, samplers[s]);
    char *tensors = fs_join(out, "t.safetensors");
    cli_result r = generate(dir, (char *[]){"--model", model, "--prompt", "a t2w prostate mri", "--sampler",
                                            samplers[s], "--steps", "4", "--seed", "3", "--save-tensors", tensors,
                                            "--out", out, "--quiet", NULL});
    if (r.status) print_error("--sampler %s:\n", samplers[s]);
    expect_ok(&r);
    const int64_t shape[4] = {1, SIDE, SIDE, 3}, lat_shape[4] = {1, 4, SIDE / 2, SIDE / 2};
    size_t n, n_lat;
    float *img = read_f32(tensors, "images", 4, shape, &n);
    float *lat = read_f32(tensors, "latents", 4, lat_shape, &n_lat);
    size_t bad = 0;
    float lo = 1, hi = 0;
    for (size_t i = 0; i < n; i++) {
      bad += !(img[i] >= 0.f && img[i] <= 1.f);
      lo = fminf(lo, img[i]);
      hi = fmaxf(hi, img[i]);
    }
    for (size_t i = 0; i < n_lat; i++) bad += !isfinite(lat[i]);
    if (bad) print_error("--sampler %s: %zu non-finite or out-of-range values\n", samplers[s], bad);
    assert_int_equal(bad, 0);
    /* A real image, not a constant one. */
    if (!(hi - lo > 0.05f)) print_error("--sampler %s: image values span only [%g, %g]\n", samplers[s], lo, hi);
    assert_true(hi - lo > 0.05f);
    png_image8 png = read_png(out, "00000.png", SIDE);
    png_image8_free(&png);
    free(img);
    free(lat);
    cli_result_free(&r);
    free(tensors);
    free(out);
  }
  free(model);
  remove_dir(dir);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(latents_reproduce_the_reference_pndm_run),
      cmocka_unit_test(png_parameters_follow_the_a1111_format),
      cmocka_unit_test(seed_reproduces_and_batch_images_differ),
      cmocka_unit_test(usage_errors_exit_2_naming_the_problem),
      cmocka_unit_test(help_lists_every_option),
      cmocka_unit_test(every_sampler_writes_a_finite_image),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
