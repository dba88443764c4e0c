/* Pretraining the embedded tiny model: the corpus is deterministic and its captions name what is
 * drawn; a micro pretraining (a few steps of every stage through `harness run`) gives a folder
 * that sd_model_load loads and `harness generate` samples from; the shipped models/tiny-sd has the
 * SD 2.0 layout, loads, and stays under 20 MB. */
#include <math.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "harness/data/corpus.h"
#include "harness/formats/png.h"
#include "harness/loader/sd_model.h"
#include "test_main.h"

static void corpus_is_deterministic_per_seed(void **state) {
  (void)state;
  float a[16 * 16 * 3], b[16 * 16 * 3];
  int differ = 0;
  for (uint64_t i = 0; i < 20; i++) {
    corpus_item x, y, z;
    corpus_item_make(7, i, &x);
    corpus_item_make(7, i, &y);
    corpus_item_make(8, i, &z);
    assert_string_equal(x.caption, y.caption);
    herr e = {{0}};
    assert_int_equal(corpus_item_render(&x, 16, a, &e), 0);
    assert_int_equal(corpus_item_render(&y, 16, b, &e), 0);
    assert_memory_equal(a, b, sizeof a);
    differ += strcmp(x.caption, z.caption) != 0;
  }
  assert_true(differ >= 10); /* another seed, another corpus */
}

static void mean_in_box(const float *rgb, int s, double x0, double y0, double x1, double y1, float out[3]) {
  double acc[3] = {0, 0, 0};
  int n = 0;
  for (int y = (int)(y0 * s); y < (int)(y1 * s); y++)
    for (int x = (int)(x0 * s); x < (int)(x1 * s); x++, n++)
      for (int c = 0; c < 3; c++) acc[c] += rgb[((size_t)y * s + x) * 3 + c];
  for (int c = 0; c < 3; c++) out[c] = n ? (float)(acc[c] / n) : 0;
}

static void expect_colour(const float got[3], int colour) {
  float want[3];
  corpus_colour_rgb(colour, want);
  for (int c = 0; c < 3; c++) assert_true(fabsf(got[c] - want[c]) < 0.05f);
}

/* The named colours are where the caption puts them: the shape's colour at its centre, the
 * background's in a corner the shape does not reach, stripes alternating. */
static void captions_match_the_drawn_content(void **state) {
  (void)state;
  enum { S = 64 };
  static float rgb[S * S * 3];
  int objects = 0, stripes = 0, layouts = 0;
  for (uint64_t i = 0; i < 400; i++) {
    corpus_item it;
    corpus_item_make(3, i, &it);
    herr e = {{0}};
    assert_int_equal(corpus_item_render(&it, S, rgb, &e), 0);
    char word[48];
    float m[3];
    if (it.texture == CORPUS_PLAIN) {
      snprintf(word, sizeof word, "%s %s", corpus_colour_name(it.colour), corpus_shape_name(it.shape));
      assert_non_null(strstr(it.caption, word));
      const double h = it.r * 0.3;
      mean_in_box(rgb, S, it.cx[0] - h, it.cy[0] - h / 2, it.cx[0] + h, it.cy[0] + h, m);
      expect_colour(m, it.colour);
      if (strstr(it.caption, "background")) {
        snprintf(word, sizeof word, " %s background", corpus_colour_name(it.bg));
        assert_non_null(strstr(it.caption, word));
      }
      if (strstr(it.caption, "on the left")) {
        assert_true(it.cx[0] < 0.5);
        layouts++;
      }
      if (strstr(it.caption, "on the right")) assert_true(it.cx[0] > 0.5);
      if (it.n_objects == 2) assert_non_null(strstr(it.caption, "two "));
      objects++;
    } else if (it.texture == CORPUS_VSTRIPES) {
      snprintf(word, sizeof word, "vertical %s and %s stripes", corpus_colour_name(it.bg), corpus_colour_name(it.bg2));
      assert_string_equal(it.caption, word);
      mean_in_box(rgb, S, 0.01, 0.0, 0.11, 1.0, m); /* first stripe: bg */
      expect_colour(m, it.bg);
      mean_in_box(rgb, S, 0.14, 0.0, 0.23, 1.0, m); /* second stripe: bg2 */
      expect_colour(m, it.bg2);
      stripes++;
    }
  }
  assert_true(objects > 200);
  assert_true(stripes > 10);
  assert_true(layouts > 5);
}

static const char micro_yaml[] =
    "name: micro_pretrain\n"
    "stages: [pretrain_export]\n"
    "results_dir: out\n"
    "pretrain:\n"
    "  corpus: {size: 12, image_size: 16}\n"
    "  model:\n"
    "    tokenizer: {bpe_dir: " MDH_TEST_DATA_DIR "/tokenizer, config_dir: " MDH_TEST_DATA_DIR "/tokenizer/sd2}\n"
    "    text: {hidden_size: 16, layers: 1, heads: 2, intermediate_size: 32}\n"
    "    vae: {block_out_channels: [8, 16], layers_per_block: 1, norm_num_groups: 4}\n"
    "    unet: {block_out_channels: [8, 16], attention_heads: [1, 2], layers_per_block: 1, norm_num_groups: 4}\n"
    "  vae: {steps: 3, batch: 2, warmup: 1, checkpoint_every: 2}\n"
    "  denoiser: {steps: 3, batch: 2, warmup: 1, checkpoint_every: 2}\n"
    "  export:\n"
    "    install_dir: model\n"
    "    samples: {captions: [a red circle], seeds: 2, steps: 2}\n";

static void micro_pretraining_gives_a_loadable_model(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  write_text(dir, "c.yaml", micro_yaml);
  cli_result r = cli_run(dir, (char *[]){"run", "c.yaml", "--quiet", "--threads", "2", NULL});
  if (r.status) print_error("harness run failed (%d):\n%s\n", r.status, r.err);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  char *model = fs_join(dir, "model");
  static const char *const files[] = {"model_index.json", "text_encoder/config.json", "text_encoder/model.safetensors",
                                      "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                                      "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
                                      "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
                                      "tokenizer/tokenizer_config.json", "scheduler/scheduler_config.json",
                                      "PROVENANCE.md", "samples/a_red_circle.png", NULL};
  for (int i = 0; files[i]; i++) {
    char *p = fs_join(model, files[i]);
    if (!fs_exists(p)) print_error("missing %s\n", p);
    assert_true(fs_exists(p));
    free(p);
  }
  sd_model *m = NULL;
  herr e = {{0}};
  const shim_exec ex = {"cpu", SHIM_F32};
  if (sd_model_load(model, &ex, &m, &e)) print_error("%s\n", e.msg);
  assert_non_null(m);
  assert_string_equal(m->scheduler_class, "PNDMScheduler");
  assert_int_equal(m->vae_scale_factor, 2);
  assert_true(m->scaling_factor > 0 && isfinite(m->scaling_factor));
  sd_model_free(m);
  /* the sample grid: one 16 x 16 image per seed */
  char *grid = fs_join(model, "samples/a_red_circle.png");
  png_image8 img;
  assert_int_equal(png_read8(grid, &img, &e), 0);
  assert_int_equal(img.width, 32);
  assert_int_equal(img.height, 16);
  png_image8_free(&img);
  char *gen = fs_join(dir, "gen");
  r = cli_run(dir, (char *[]){"generate", "--model", model, "--prompt", "a red circle", "--steps", "2", "--out", gen,
                              "--threads", "2", NULL});
  if (r.status) print_error("harness generate failed (%d):\n%s\n", r.status, r.err);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  /* a second run finds every stage complete */
  r = cli_run(dir, (char *[]){"run", "c.yaml", "--quiet", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.err, "already complete"));
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(grid);
  free(gen);
  free(model);
  free(dir);
}

static long long file_size(const char *dir, const char *name) {
  char *p = fs_join(dir, name);
  struct stat st;
  long long n = stat(p, &st) ? -1 : (long long)st.st_size;
  free(p);
  return n;
}

static void shipped_model_has_the_sd2_layout(void **state) {
  (void)state;
  char *model = fs_join(MDH_SOURCE_DIR, "models/tiny-sd");
  if (!fs_exists(model)) {
    free(model);
    skip();
  }
  static const char *const files[] = {"model_index.json", "text_encoder/config.json", "text_encoder/model.safetensors",
                                      "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                                      "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
                                      "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
                                      "tokenizer/tokenizer_config.json", "scheduler/scheduler_config.json",
                                      "PROVENANCE.md", NULL};
  long long total = 0;
  for (int i = 0; files[i]; i++) {
    const long long n = file_size(model, files[i]);
    if (n < 0) print_error("missing %s/%s\n", model, files[i]);
    assert_true(n > 0);
    total += n;
  }
  assert_true(total < 20 * 1000 * 1000);
  sd_model *m = NULL;
  herr e = {{0}};
  const shim_exec ex = {"cpu", SHIM_F32};
  if (sd_model_load(model, &ex, &m, &e)) print_error("%s\n", e.msg);
  assert_non_null(m);
  assert_string_equal(m->scheduler_class, "PNDMScheduler");
  assert_int_equal(m->seq_len, 77);
  int64_t ids[77];
  assert_int_equal(sd_model_tokenize(m, "a red circle", ids, &e), 0);
  assert_int_equal(ids[76], 0); /* SD2 pads with "!" (id 0) */
  sd_model_free(m);
  free(model);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(corpus_is_deterministic_per_seed),
      cmocka_unit_test(captions_match_the_drawn_content),
      cmocka_unit_test(micro_pretraining_gives_a_loadable_model),
      cmocka_unit_test(shipped_model_has_the_sd2_layout),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
