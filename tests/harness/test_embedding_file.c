/* harness/model/embedding_file (+ formats/torch_zip, formats/pickle_lite): the paper's released
 * A1111 .pt embeddings against their torch.load dumps, the diffusers learned_embeds file,
 * diffusers' multi-vector token names, round trips in all three formats, and hostile or broken
 * files (disallowed globals, truncation, storages too small, absurd sizes) rejected by name. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "golden.h"
#include "harness/formats/json_file.h"
#include "harness/formats/pickle_lite.h"
#include "harness/formats/safetensors.h"
#include "harness/formats/torch_zip.h"
#include "harness/model/embedding_file.h"
#include "harness/util/fsutil.h"
#include "test_main.h"

static const char *const golden_pt[] = {"chexpert_cardiomegaly", "chexpert_healthy", "chexpert_pleural_effusion",
                                        "chexpert_pneumonia",    "pcam_neg",         "pcam_pos",
                                        "prostate_neg",          "prostate_pos"};

static char *tmp_path(const char *name) {
  static char dir[64];
  if (!dir[0]) {
    strcpy(dir, "/tmp/mdh-emb-XXXXXX");
    assert_non_null(mkdtemp(dir));
  }
  return fs_join(dir, name);
}

static char *data_file(const char *stem, const char *suffix) {
  char rel[256];
  snprintf(rel, sizeof rel, "embeddings/%s%s", stem, suffix);
  return test_data_path(rel);
}

/* Plain (unsynced) write: the corruption loops write hundreds of files. */
static void put_file(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  assert_int_equal(fclose(fp), 0);
}

static void assert_contains(const char *msg, const char *part) {
  if (!strstr(msg, part)) fail_msg("message \"%s\" does not contain \"%s\"", msg, part);
}

static void assert_same_embedding(const emb_file *a, const emb_file *b) {
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    assert_string_equal(a->items[i].token, b->items[i].token);
    assert_int_equal(a->items[i].n_vectors, b->items[i].n_vectors);
    assert_int_equal(a->items[i].dim, b->items[i].dim);
    assert_memory_equal(a->items[i].data, b->items[i].data,
                        (size_t)(a->items[i].n_vectors * a->items[i].dim) * sizeof(float));
  }
}

/* ---- golden files ---- */

static void golden_pt_files_match_torch_load(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof golden_pt / sizeof golden_pt[0]; k++) {
    char *pt = data_file(golden_pt[k], ".pt"), *exp_st = data_file(golden_pt[k], ".expected.safetensors");
    char *exp_json = data_file(golden_pt[k], ".expected.json");
    herr e = {{0}};
    emb_file f;
    if (emb_read(pt, &f, &e) != 0) fail_msg("%s", e.msg);
    cJSON *j = jf_read(exp_json, 1 << 20, &e);
    assert_non_null(j);
    const char *name, *ck, *ckn, *tok;
    long long step;
    assert_int_equal(jf_get_string(j, exp_json, "name", true, NULL, &name, &e), 0);
    assert_int_equal(jf_get_int(j, exp_json, "step", true, 0, LLONG_MIN, LLONG_MAX, &step, &e), 0);
    assert_int_equal(jf_get_string(j, exp_json, "sd_checkpoint", false, NULL, &ck, &e), 0);
    assert_int_equal(jf_get_string(j, exp_json, "sd_checkpoint_name", false, NULL, &ckn, &e), 0);
    assert_int_equal(jf_get_string(j, exp_json, "diffusers_default_token", true, NULL, &tok, &e), 0);
    assert_string_equal(f.format, "a1111-pt");
    assert_string_equal(f.name, name);
    assert_int_equal(f.step, step);
    if (ck)
      assert_string_equal(f.sd_checkpoint, ck);
    else
      assert_null(f.sd_checkpoint);
    if (ckn)
      assert_string_equal(f.sd_checkpoint_name, ckn);
    else
      assert_null(f.sd_checkpoint_name);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.items[0].token, tok);

    st_file *s = st_open(exp_st, &e);
    assert_non_null(s);
    const int64_t shape[2] = {64, 1024};
    const st_tensor *t = st_expect(s, "string_to_param.*", ST_F32, 2, shape, &e);
    if (!t) fail_msg("%s", e.msg);
    assert_int_equal(f.items[0].n_vectors, 64);
    assert_int_equal(f.items[0].dim, 1024);
    assert_memory_equal(f.items[0].data, t->data, t->nbytes); /* exact, bit for bit */
    size_t nbytes = t->nbytes;
    st_close(s);

    /* The expected file is itself an A1111 .safetensors: same rows, named after its stem. */
    emb_file g;
    if (emb_read(exp_st, &g, &e) != 0) fail_msg("%s", e.msg);
    assert_string_equal(g.format, "a1111-safetensors");
    char want[128];
    snprintf(want, sizeof want, "%s.expected", golden_pt[k]);
    assert_string_equal(g.name, want);
    assert_int_equal(g.step, -1);
    assert_memory_equal(g.items[0].data, f.items[0].data, nbytes);
    emb_file_free(&g);

    cJSON_Delete(j);
    emb_file_free(&f);
    free(pt);
    free(exp_st);
    free(exp_json);
  }
}

static void golden_pt_archive_layout_is_read_from_the_central_directory(void **state) {
  (void)state;
  char *pt = data_file("prostate_pos", ".pt");
  herr e = {{0}};
  tz_archive *z = tz_open(pt, &e);
  assert_non_null(z);
  assert_string_equal(tz_prefix(z), "archive");
  assert_int_equal(tz_count(z), 3);
  assert_string_equal(tz_name_at(z, 0), "archive/data.pkl");
  assert_string_equal(tz_name_at(z, 1), "archive/data/0");
  assert_string_equal(tz_name_at(z, 2), "archive/version");
  uint8_t *v;
  size_t n;
  assert_int_equal(tz_read(z, "archive/version", &v, &n, &e), 0);
  assert_int_equal(n, 2);
  assert_string_equal((char *)v, "3\n");
  free(v);
  assert_int_equal(tz_read(z, "archive/data/0", &v, &n, &e), 0);
  assert_int_equal(n, 64 * 1024 * 4);
  free(v);
  assert_int_equal(tz_read(z, "archive/nope", &v, &n, &e), -1);
  assert_contains(e.msg, "no entry 'archive/nope'");
  tz_close(z);
  free(pt);
}

static void diffusers_learned_embeds_matches_expected(void **state) {
  (void)state;
  char *p = data_file("learned_embeds", ".safetensors"), *js = data_file("learned_embeds", ".expected.json");
  herr e = {{0}};
  emb_file f;
  if (emb_read(p, &f, &e) != 0) fail_msg("%s", e.msg);
  cJSON *j = jf_read(js, 1 << 20, &e);
  assert_non_null(j);
  const char *tok;
  long long shape[2];
  size_t ns;
  assert_int_equal(jf_get_string(j, js, "token", true, NULL, &tok, &e), 0);
  assert_int_equal(jf_get_int_array(j, js, "shape", shape, 2, &ns, &e), 0);
  assert_string_equal(f.format, "diffusers");
  assert_int_equal(f.n, 1);
  assert_string_equal(f.items[0].token, tok);
  assert_int_equal(f.items[0].n_vectors, shape[0]);
  assert_int_equal(f.items[0].dim, shape[1]);
  st_file *s = st_open(p, &e);
  assert_non_null(s);
  assert_memory_equal(f.items[0].data, st_find(s, tok)->data, (size_t)(shape[0] * shape[1]) * 4);
  st_close(s);

  const char *loaded[8];
  size_t nl;
  assert_int_equal(jf_get_string_array(j, js, "loaded_tokens", loaded, 8, &nl, &e), 0);
  char **names;
  assert_int_equal(emb_placeholder_tokens(f.items[0].token, f.items[0].n_vectors, &names, &e), 0);
  assert_int_equal(nl, (size_t)f.items[0].n_vectors);
  for (size_t i = 0; i < nl; i++) assert_string_equal(names[i], loaded[i]);
  emb_tokens_free(names, f.items[0].n_vectors);
  cJSON_Delete(j);
  emb_file_free(&f);
  free(p);
  free(js);
}

static void placeholder_tokens_follow_diffusers(void **state) {
  (void)state;
  char *js = data_file("diffusers_load_check", ".json");
  herr e = {{0}};
  cJSON *j = jf_read(js, 1 << 20, &e);
  assert_non_null(j);
  const char *tok, *added[128];
  size_t n;
  assert_int_equal(jf_get_string(j, js, "load_textual_inversion_token", true, NULL, &tok, &e), 0);
  assert_int_equal(jf_get_string_array(j, js, "added_tokens", added, 128, &n, &e), 0);
  assert_int_equal(n, 64);
  char **names;
  assert_int_equal(emb_placeholder_tokens(tok, 64, &names, &e), 0);
  for (size_t i = 0; i < n; i++) assert_string_equal(names[i], added[i]);
  emb_tokens_free(names, 64);
  cJSON_Delete(j);
  free(js);

  assert_int_equal(emb_placeholder_tokens("<one>", 1, &names, &e), 0);
  assert_string_equal(names[0], "<one>");
  emb_tokens_free(names, 1);
  assert_int_equal(emb_placeholder_tokens("<t>", 0, &names, &e), -1);
  assert_contains(e.msg, "'<t>'");
  assert_null(names);
}

/* ---- round trips ---- */

static void round_trips_in_all_three_formats(void **state) {
  (void)state;
  char *pt = data_file("prostate_pos", ".pt");
  herr e = {{0}};
  emb_file src;
  if (emb_read(pt, &src, &e) != 0) fail_msg("%s", e.msg);

  char *out_pt = tmp_path("prostate_pos.pt");
  assert_int_equal(emb_write(out_pt, &src, "a1111-pt", &e), 0);
  emb_file back;
  if (emb_read(out_pt, &back, &e) != 0) fail_msg("%s", e.msg);
  assert_string_equal(back.format, "a1111-pt");
  assert_string_equal(back.name, "prostate_pos");
  assert_int_equal(back.step, 100000);
  assert_string_equal(back.sd_checkpoint, "09dd2ae4");
  assert_string_equal(back.sd_checkpoint_name, "checkpoints_512-base-ema");
  assert_same_embedding(&src, &back);
  emb_file_free(&back);

  /* A1111 .safetensors is named after its file, as A1111 does. */
  char *out_ast = tmp_path("prostate_pos.safetensors");
  assert_int_equal(emb_write(out_ast, &src, "a1111-safetensors", &e), 0);
  if (emb_read(out_ast, &back, &e) != 0) fail_msg("%s", e.msg);
  assert_string_equal(back.format, "a1111-safetensors");
  assert_string_equal(back.name, "prostate_pos");
  assert_int_equal(back.step, 100000);
  assert_string_equal(back.sd_checkpoint_name, "checkpoints_512-base-ema");
  assert_same_embedding(&src, &back);
  emb_file_free(&back);
  st_file *s = st_open(out_ast, &e);
  assert_non_null(s);
  assert_non_null(st_find(s, "string_to_param.*"));
  st_close(s);

  free(src.items[0].token);
  src.items[0].token = strdup("<prostate-pos>");
  char *out_d = tmp_path("learned_embeds.safetensors");
  assert_int_equal(emb_write(out_d, &src, "diffusers", &e), 0);
  if (emb_read(out_d, &back, &e) != 0) fail_msg("%s", e.msg);
  assert_string_equal(back.format, "diffusers");
  assert_same_embedding(&src, &back);
  emb_file_free(&back);
  s = st_open(out_d, &e);
  assert_non_null(s);
  assert_string_equal(st_metadata(s, "format"), "pt");
  const int64_t shape[2] = {64, 1024};
  assert_non_null(st_expect(s, "<prostate-pos>", ST_F32, 2, shape, &e));
  st_close(s);

  emb_file_free(&src);
  free(pt);
  free(out_pt);
  free(out_ast);
  free(out_d);
}

static size_t local_data_offset(const uint8_t *raw, size_t len, const char *name) {
  size_t nl = strlen(name);
  for (size_t i = 0; i + 30 + nl <= len; i++) {
    if (memcmp(raw + i, "PK\3\4", 4) == 0 && (size_t)(raw[i + 26] | raw[i + 27] << 8) == nl &&
        memcmp(raw + i + 30, name, nl) == 0)
      return i + 30 + nl + (size_t)(raw[i + 28] | raw[i + 29] << 8);
  }
  fail_msg("no local header for %s", name);
  return 0;
}

static void written_pt_is_a_torch_zip(void **state) {
  (void)state;
  float rows[2 * 3] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
  emb_vectors v = {"tok", 2, 3, rows};
  emb_file f = {.n = 1, .items = &v, .format = "a1111-pt", .name = "my_embedding", .step = -1};
  char *p = tmp_path("small.pt");
  herr e = {{0}};
  assert_int_equal(emb_write(p, &f, NULL, &e), 0);
  tz_archive *z = tz_open(p, &e);
  assert_non_null(z);
  const char *want[] = {"archive/data.pkl", "archive/byteorder", "archive/data/0", "archive/version"};
  assert_int_equal(tz_count(z), 4);
  for (size_t i = 0; i < 4; i++) assert_string_equal(tz_name_at(z, i), want[i]);
  uint8_t *pkl;
  size_t n;
  assert_int_equal(tz_read(z, "archive/data.pkl", &pkl, &n, &e), 0);
  assert_int_equal(pkl[0], 0x80);
  assert_int_equal(pkl[1], 2); /* protocol 2, as torch.save uses */
  pk_doc *d = pk_load(pkl, n, "small", &e);
  assert_non_null(d);
  const pk_value *root = pk_root(d);
  assert_int_equal(root->u.dict.n, 6);
  const char *keys[] = {"string_to_token", "string_to_param", "name", "step", "sd_checkpoint", "sd_checkpoint_name"};
  for (size_t i = 0; i < 6; i++) assert_string_equal(root->u.dict.keys[i]->u.str.s, keys[i]);
  assert_int_equal(pk_dict_get(pk_dict_get(root, "string_to_token"), "*")->u.i, 265);
  assert_int_equal(pk_dict_get(root, "step")->kind, PK_NONE);
  const pk_value *t = pk_dict_get(pk_dict_get(root, "string_to_param"), "*");
  assert_int_equal(t->kind, PK_TENSOR);
  assert_true(t->u.tensor.requires_grad);
  assert_string_equal(t->u.tensor.storage->u.storage.location, "cpu");
  pk_doc_free(d);
  free(pkl);
  tz_close(z);
  size_t len;
  uint8_t *raw = (uint8_t *)fs_read_file(p, &len, &e);
  assert_non_null(raw);
  for (size_t i = 0; i < 4; i++) assert_int_equal(local_data_offset(raw, len, want[i]) % 64, 0);
  free(raw);
  emb_file back;
  assert_int_equal(emb_read(p, &back, &e), 0);
  assert_string_equal(back.name, "my_embedding");
  assert_string_equal(back.items[0].token, "my_embedding");
  assert_int_equal(back.step, -1);
  assert_null(back.sd_checkpoint);
  assert_memory_equal(back.items[0].data, rows, sizeof rows);
  emb_file_free(&back);
  free(p);
}

/* ---- hand-made torch files: other layouts, dtypes and strides ---- */

/* A torch zip under `prefix` with the given pickle and one storage record. */
static void write_torch_file(const char *path, const char *prefix, const pk_writer *w, const void *storage,
                             size_t storage_len) {
  char pkl[128], dat[128], ver[128];
  snprintf(pkl, sizeof pkl, "%s/data.pkl", prefix);
  snprintf(dat, sizeof dat, "%s/data/0", prefix);
  snprintf(ver, sizeof ver, "%s/version", prefix);
  tz_entry_in entries[] = {{pkl, w->out.data, w->out.len}, {dat, storage, storage_len}, {ver, "3\n", 2}};
  herr e = {{0}};
  if (tz_write(path, entries, 3, &e) != 0) fail_msg("%s", e.msg);
}

/* Pushes a _rebuild_tensor_v2(...) call onto the writer. */
static void put_tensor(pk_writer *w, const char *storage_type, int64_t numel, int64_t offset, int ndim,
                       const int64_t *size, const int64_t *stride) {
  pkw_global(w, "torch._utils", "_rebuild_tensor_v2");
  pkw_mark(w);
  pkw_mark(w);
  pkw_str(w, "storage");
  pkw_global(w, "torch", storage_type);
  pkw_str(w, "0");
  pkw_str(w, "cpu");
  pkw_int(w, numel);
  pkw_tuple(w);
  pkw_binpersid(w);
  pkw_int(w, offset);
  pkw_mark(w);
  for (int i = 0; i < ndim; i++) pkw_int(w, size[i]);
  pkw_tuple(w);
  pkw_mark(w);
  for (int i = 0; i < ndim; i++) pkw_int(w, stride[i]);
  pkw_tuple(w);
  pkw_bool(w, false);
  pkw_global(w, "collections", "OrderedDict");
  pkw_empty_tuple(w);
  pkw_reduce(w);
  pkw_tuple(w);
  pkw_reduce(w);
}

static uint16_t f32_to_f16_exact(float f) {
  /* Only for values exactly representable as normal halves (the test's). */
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7FFFFFFF) == 0) return (uint16_t)(u >> 16);
  uint32_t sign = u >> 31, exp = (u >> 23) & 0xFF, man = u & 0x7FFFFF;
  return (uint16_t)((sign << 15) | ((exp - 127 + 15) << 10) | (man >> 13));
}

static void strided_half_parameter_in_a_diffusers_bin(void **state) {
  (void)state;
  /* Storage holds a 3x2 matrix; the embedding is its transpose (size [2, 3], stride [1, 2]),
   * offset by one leading element, wrapped as an nn.Parameter. */
  const float vals[7] = {99.0f, 1.0f, 4.0f, 2.0f, 5.0f, 3.0f, 6.0f};
  uint16_t half[7];
  for (int i = 0; i < 7; i++) half[i] = f32_to_f16_exact(vals[i]);
  pk_writer w;
  pkw_begin(&w);
  pkw_empty_dict(&w);
  pkw_str(&w, "<cat-toy>");
  pkw_global(&w, "torch._utils", "_rebuild_parameter");
  pkw_mark(&w);
  const int64_t size[2] = {2, 3}, stride[2] = {1, 2};
  put_tensor(&w, "HalfStorage", 7, 1, 2, size, stride);
  pkw_bool(&w, true);
  pkw_global(&w, "collections", "OrderedDict");
  pkw_empty_tuple(&w);
  pkw_reduce(&w);
  pkw_tuple(&w);
  pkw_reduce(&w);
  pkw_setitem(&w);
  pkw_end(&w);
  char *p = tmp_path("learned_embeds.bin");
  write_torch_file(p, "learned_embeds", &w, half, sizeof half);
  sb_free(&w.out);
  herr e = {{0}};
  emb_file f;
  if (emb_read(p, &f, &e) != 0) fail_msg("%s", e.msg);
  assert_string_equal(f.format, "diffusers");
  assert_int_equal(f.n, 1);
  assert_string_equal(f.items[0].token, "<cat-toy>");
  assert_int_equal(f.items[0].n_vectors, 2);
  assert_int_equal(f.items[0].dim, 3);
  const float want[6] = {1, 2, 3, 4, 5, 6};
  assert_memory_equal(f.items[0].data, want, sizeof want);
  emb_file_free(&f);
  free(p);
}

static void emb_params_and_one_dim_tensors(void **state) {
  (void)state;
  /* A .pt holding {"emb_params": double tensor [4]}: one vector, named after the file. */
  const double vals[4] = {0.5, -1.25, 3.0, 1e-3};
  pk_writer w;
  pkw_begin(&w);
  pkw_empty_dict(&w);
  pkw_str(&w, "emb_params");
  const int64_t size[1] = {4}, stride[1] = {1};
  put_tensor(&w, "DoubleStorage", 4, 0, 1, size, stride);
  pkw_setitem(&w);
  pkw_end(&w);
  char *p = tmp_path("my-style.pt");
  write_torch_file(p, "my-style", &w, vals, sizeof vals);
  sb_free(&w.out);
  herr e = {{0}};
  emb_file f;
  if (emb_read(p, &f, &e) != 0) fail_msg("%s", e.msg);
  assert_string_equal(f.format, "a1111-pt");
  assert_string_equal(f.name, "my-style");
  assert_int_equal(f.items[0].n_vectors, 1);
  assert_int_equal(f.items[0].dim, 4);
  for (int i = 0; i < 4; i++) assert_true(f.items[0].data[i] == (float)vals[i]);
  emb_file_free(&f);
  free(p);

  /* A1111 .safetensors with "emb_params" (BF16 [2, 2]) and a diffusers file with a 1-D F16 tensor. */
  uint16_t bf[4] = {0x3F80, 0xC000, 0x3E80, 0x0000}; /* 1, -2, 0.25, 0 */
  st_tensor t = {"emb_params", ST_BF16, 2, {2, 2}, bf, sizeof bf};
  p = tmp_path("bf16 style.safetensors");
  assert_int_equal(st_write(p, &t, 1, NULL, NULL, 0, &e), 0);
  if (emb_read(p, &f, &e) != 0) fail_msg("%s", e.msg);
  assert_string_equal(f.format, "a1111-safetensors");
  assert_string_equal(f.name, "bf16 style");
  const float want_bf[4] = {1, -2, 0.25f, 0};
  assert_memory_equal(f.items[0].data, want_bf, sizeof want_bf);
  emb_file_free(&f);
  free(p);
  uint16_t h[3] = {0x3C00, 0xBC00, 0x3800}; /* 1, -1, 0.5 */
  st_tensor t1 = {"<x>", ST_F16, 1, {3}, h, sizeof h};
  p = tmp_path("one.safetensors");
  assert_int_equal(st_write(p, &t1, 1, NULL, NULL, 0, &e), 0);
  if (emb_read(p, &f, &e) != 0) fail_msg("%s", e.msg);
  assert_string_equal(f.format, "diffusers");
  assert_string_equal(f.items[0].token, "<x>");
  assert_int_equal(f.items[0].n_vectors, 1);
  assert_int_equal(f.items[0].dim, 3);
  const float want_h[3] = {1, -1, 0.5f};
  assert_memory_equal(f.items[0].data, want_h, sizeof want_h);
  emb_file_free(&f);
  free(p);
}

/* ---- hostile and broken files ---- */

static int read_fails(const char *path, herr *e) {
  emb_file f;
  int rc = emb_read(path, &f, e);
  if (rc == 0) emb_file_free(&f);
  /* a failed read leaves an empty, freeable struct */
  if (rc != 0) {
    assert_int_equal(f.n, 0);
    assert_null(f.items);
    emb_file_free(&f);
  }
  return rc != 0;
}

/* A zip with deflated entries and torch-style data descriptors (zero sizes in the local
 * headers), as other zip tools may re-pack a .pt. */
static void write_deflated_zip(const char *path, const tz_entry_in *ent, size_t n) {
  uint8_t *out = malloc(1 << 20), *cd = malloc(1 << 16);
  assert_non_null(out);
  assert_non_null(cd);
  size_t len = 0, cdlen = 0;
#define PUT16(b, l, v) (b[l] = (uint8_t)((v)&0xFF), b[l + 1] = (uint8_t)(((v) >> 8) & 0xFF), l += 2)
#define PUT32(b, l, v) (PUT16(b, l, (v)&0xFFFF), PUT16(b, l, ((uint32_t)(v)) >> 16))
  for (size_t i = 0; i < n; i++) {
    size_t nl = strlen(ent[i].name), off = len;
    uLong crc = crc32(crc32(0, Z_NULL, 0), ent[i].data, (uInt)ent[i].len);
    PUT32(out, len, 0x04034b50u);
    PUT16(out, len, 20);
    PUT16(out, len, 0x0008);
    PUT16(out, len, 8);
    PUT16(out, len, 0);
    PUT16(out, len, 0x21);
    PUT32(out, len, 0);
    PUT32(out, len, 0);
    PUT32(out, len, 0);
    PUT16(out, len, nl);
    PUT16(out, len, 0);
    memcpy(out + len, ent[i].name, nl);
    len += nl;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)ent[i].data;
    zs.avail_in = (uInt)ent[i].len;
    zs.next_out = out + len;
    zs.avail_out = (uInt)((1 << 20) - len - 4096);
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t comp = zs.total_out;
    deflateEnd(&zs);
    len += comp;
    PUT32(out, len, 0x08074b50u);
    PUT32(out, len, crc);
    PUT32(out, len, comp);
    PUT32(out, len, ent[i].len);
    PUT32(cd, cdlen, 0x02014b50u);
    PUT16(cd, cdlen, 20);
    PUT16(cd, cdlen, 20);
    PUT16(cd, cdlen, 0x0008);
    PUT16(cd, cdlen, 8);
    PUT16(cd, cdlen, 0);
    PUT16(cd, cdlen, 0x21);
    PUT32(cd, cdlen, crc);
    PUT32(cd, cdlen, comp);
    PUT32(cd, cdlen, ent[i].len);
    PUT16(cd, cdlen, nl);
    for (int k = 0; k < 4; k++) PUT16(cd, cdlen, 0);
    PUT32(cd, cdlen, 0);
    PUT32(cd, cdlen, off);
    memcpy(cd + cdlen, ent[i].name, nl);
    cdlen += nl;
  }
  size_t cd_off = len;
  memcpy(out + len, cd, cdlen);
  len += cdlen;
  PUT32(out, len, 0x06054b50u);
  PUT32(out, len, 0);
  PUT16(out, len, n);
  PUT16(out, len, n);
  PUT32(out, len, cdlen);
  PUT32(out, len, cd_off);
  PUT16(out, len, 0);
#undef PUT16
#undef PUT32
  put_file(path, out, len);
  free(out);
  free(cd);
}

static void deflated_archives_are_read(void **state) {
  (void)state;
  char *pt = data_file("pcam_neg", ".pt");
  herr e = {{0}};
  emb_file want;
  if (emb_read(pt, &want, &e) != 0) fail_msg("%s", e.msg);
  tz_archive *z = tz_open(pt, &e);
  assert_non_null(z);
  uint8_t *pkl, *dat;
  size_t pn, dn;
  assert_int_equal(tz_read(z, "archive/data.pkl", &pkl, &pn, &e), 0);
  assert_int_equal(tz_read(z, "archive/data/0", &dat, &dn, &e), 0);
  tz_close(z);
  tz_entry_in ent[] = {{"pcam_neg/data.pkl", pkl, pn}, {"pcam_neg/data/0", dat, dn}, {"pcam_neg/version", "3\n", 2}};
  char *p = tmp_path("pcam_neg_deflated.pt");
  write_deflated_zip(p, ent, 3);
  emb_file got;
  if (emb_read(p, &got, &e) != 0) fail_msg("%s", e.msg);
  assert_string_equal(got.name, "pcam_neg");
  assert_same_embedding(&want, &got);
  emb_file_free(&got);

  /* A corrupted deflate stream is reported as such. */
  size_t len;
  uint8_t *raw = (uint8_t *)fs_read_file(p, &len, &e);
  assert_non_null(raw);
  size_t at = 30 + strlen("pcam_neg/data.pkl") + 3;
  raw[at] ^= 0xFF;
  raw[at + 1] ^= 0xFF;
  put_file(p, raw, len);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "pcam_neg/data.pkl");
  free(raw);
  emb_file_free(&want);
  free(pkl);
  free(dat);
  free(pt);
  free(p);
}

static void disallowed_globals_are_rejected_by_name(void **state) {
  (void)state;
  const float zero = 0;
  herr e = {{0}};
  /* protocol 2: GLOBAL 'os system' ('echo pwned',) REDUCE */
  pk_writer w;
  pkw_begin(&w);
  pkw_global(&w, "os", "system");
  pkw_mark(&w);
  pkw_str(&w, "echo pwned > /tmp/mdh-emb-pwned");
  pkw_tuple(&w);
  pkw_reduce(&w);
  pkw_end(&w);
  char *p = tmp_path("evil.pt");
  write_torch_file(p, "archive", &w, &zero, 4);
  sb_free(&w.out);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "global 'os.system' is not allowed");
  assert_contains(e.msg, p);
  assert_contains(e.msg, "archive/data.pkl");
  assert_false(fs_exists("/tmp/mdh-emb-pwned"));

  /* protocol 4: STACK_GLOBAL builtins.eval, in a FRAME, with MEMOIZE */
  static const uint8_t p4[] = {0x80, 4,   0x95, 30,   0,    0,    0,   0,   0,    0,    0,  0x8c, 8,
                               'b',  'u', 'i',  'l',  't',  'i',  'n', 's', 0x94, 0x8c, 4,  'e',  'v',
                               'a',  'l', 0x94, 0x93, 0x94, 0x8c, 1,   '1', 0x85, 'R',  '.'};
  tz_entry_in ent[] = {{"x/data.pkl", p4, sizeof p4}, {"x/version", "3\n", 2}};
  assert_int_equal(tz_write(p, ent, 2, &e), 0);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "global 'builtins.eval' is not allowed");

  /* A storage type outside the whitelist, and an allowed callable reached by NEWOBJ. */
  pkw_begin(&w);
  pkw_empty_dict(&w);
  pkw_str(&w, "emb_params");
  const int64_t size[1] = {1}, stride[1] = {1};
  put_tensor(&w, "LongStorage", 1, 0, 1, size, stride);
  pkw_setitem(&w);
  pkw_end(&w);
  write_torch_file(p, "archive", &w, &zero, 4);
  sb_free(&w.out);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "global 'torch.LongStorage' is not allowed");

  static const uint8_t newobj[] = {0x80, 2,   'c', 'c', 'o', 'l', 'l', 'e', 'c', 't', 'i', 'o',  'n', 's',  '\n',
                                   'O',  'r', 'd', 'e', 'r', 'e', 'd', 'D', 'i', 'c', 't', '\n', ')', 0x81, '.'};
  tz_entry_in ent2[] = {{"x/data.pkl", newobj, sizeof newobj}, {"x/version", "3\n", 2}};
  assert_int_equal(tz_write(p, ent2, 2, &e), 0);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "constructs an object");
  free(p);
}

static void truncated_and_corrupt_archives_fail_cleanly(void **state) {
  (void)state;
  float rows[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8};
  emb_vectors v = {"t", 2, 4, rows};
  emb_file f = {.n = 1, .items = &v, .name = "t", .step = 7};
  char *good = tmp_path("good.pt"), *bad = tmp_path("bad.pt");
  herr e = {{0}};
  assert_int_equal(emb_write(good, &f, "a1111-pt", &e), 0);
  size_t len;
  uint8_t *raw = (uint8_t *)fs_read_file(good, &len, &e);
  assert_non_null(raw);

  /* Every truncation fails with a message naming the file. */
  for (size_t cut = 0; cut < len; cut += (cut < 64 || len - cut < 64) ? 1 : 37) {
    put_file(bad, raw, cut);
    if (!read_fails(bad, &e)) fail_msg("truncation to %zu of %zu bytes was accepted", cut, len);
    assert_contains(e.msg, bad);
  }
  assert_int_equal(fs_write_atomic(bad, raw, len - 10, &e), 0);
  assert_true(read_fails(bad, &e));
  assert_contains(e.msg, "end-of-central-directory");

  /* A flipped bit in the stored floats is caught by the CRC. */
  size_t off = local_data_offset(raw, len, "archive/data/0");
  raw[off + 5] ^= 0x10;
  assert_int_equal(fs_write_atomic(bad, raw, len, &e), 0);
  assert_true(read_fails(bad, &e));
  assert_contains(e.msg, "CRC-32");
  raw[off + 5] ^= 0x10;

  /* Single-byte corruption anywhere: an error or a clean read, never a crash (memcheck runs this). */
  for (size_t i = 0; i < len; i += 3) {
    uint8_t keep = raw[i];
    raw[i] = (uint8_t)(keep ^ (0x5A + i));
    put_file(bad, raw, len);
    read_fails(bad, &e);
    raw[i] = keep;
  }
  free(raw);

  /* Not a zip at all, and the legacy torch format. */
  assert_int_equal(fs_write_atomic(bad, "PK\3\4 nothing else", 18, &e), 0);
  assert_true(read_fails(bad, &e));
  assert_contains(e.msg, "not a zip archive");
  static const uint8_t legacy[] = {0x80, 2,    0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                   0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
  assert_int_equal(fs_write_atomic(bad, legacy, sizeof legacy, &e), 0);
  assert_true(read_fails(bad, &e));
  assert_contains(e.msg, "legacy");
  assert_true(read_fails("/nonexistent/x.pt", &e));
  assert_contains(e.msg, "/nonexistent/x.pt");
  free(good);
  free(bad);
}

static void storages_too_small_are_rejected(void **state) {
  (void)state;
  float rows[6] = {1, 2, 3, 4, 5, 6};
  herr e = {{0}};
  char *p = tmp_path("short.pt");
  pk_writer w;
  const int64_t size[2] = {2, 3}, stride[2] = {3, 1};

  /* The record holds 4 floats but the persistent id declares 6. */
  pkw_begin(&w);
  pkw_empty_dict(&w);
  pkw_str(&w, "emb_params");
  put_tensor(&w, "FloatStorage", 6, 0, 2, size, stride);
  pkw_setitem(&w);
  pkw_end(&w);
  write_torch_file(p, "archive", &w, rows, 4 * sizeof(float));
  sb_free(&w.out);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "storage 'archive/data/0' has 16 bytes, too small for the 6 F32 elements");

  /* The tensor view reaches past the declared storage (offset 1 + 6 elements > 6). */
  pkw_begin(&w);
  pkw_empty_dict(&w);
  pkw_str(&w, "emb_params");
  put_tensor(&w, "FloatStorage", 6, 1, 2, size, stride);
  pkw_setitem(&w);
  pkw_end(&w);
  write_torch_file(p, "archive", &w, rows, sizeof rows);
  sb_free(&w.out);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "reaches element 6 but storage '0' holds only 6 elements");

  /* Absurd sizes: 2^40 x 2^40 overflows; [5000, 2] is beyond the vector limit. */
  const int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40}, hs[2] = {(int64_t)1 << 40, 1};
  pkw_begin(&w);
  pkw_empty_dict(&w);
  pkw_str(&w, "emb_params");
  put_tensor(&w, "FloatStorage", 6, 0, 2, huge, hs);
  pkw_setitem(&w);
  pkw_end(&w);
  write_torch_file(p, "archive", &w, rows, sizeof rows);
  sb_free(&w.out);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "overflows");

  const int64_t many[2] = {5000, 2}, ms[2] = {0, 0}; /* zero strides: legal view, too many vectors */
  pkw_begin(&w);
  pkw_empty_dict(&w);
  pkw_str(&w, "emb_params");
  put_tensor(&w, "FloatStorage", 6, 0, 2, many, ms);
  pkw_setitem(&w);
  pkw_end(&w);
  write_torch_file(p, "archive", &w, rows, sizeof rows);
  sb_free(&w.out);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "shape [5000, 2]");
  free(p);
}

static void hostile_pickles_hit_limits(void **state) {
  (void)state;
  herr e = {{0}};
  /* A string claiming 4 GiB, a memo index of 2^32-1, a 300-byte integer, 5000 nested MARKs,
   * a BINGET of an unset memo slot, a pickle without STOP, an unknown opcode. */
  static const uint8_t big_str[] = {0x80, 2, 'X', 0xFF, 0xFF, 0xFF, 0xFF, 'a', '.'};
  static const uint8_t big_memo[] = {0x80, 2, 'N', 'r', 0xFF, 0xFF, 0xFF, 0xFF, '.'};
  static const uint8_t big_long[] = {0x80, 2, 0x8b, 0x2c, 0x01, 0, 0, '.'};
  static const uint8_t unset_get[] = {0x80, 2, 'h', 9, '.'};
  static const uint8_t no_stop[] = {0x80, 2, '}', 'X', 1, 0, 0, 0, 'a', 'N', 's'};
  static const uint8_t unknown[] = {0x80, 2, 'I', '1', '\n', '.'};
  static const uint8_t underflow[] = {0x80, 2, 's', '.'};
  struct {
    const uint8_t *p;
    size_t n;
    const char *msg;
  } cases[] = {
      {big_str, sizeof big_str, "string needs 4294967295 bytes but only 2 remain"},
      {big_memo, sizeof big_memo, "memo index 4294967295 beyond the limit"},
      {big_long, sizeof big_long, "integer of 300 bytes"},
      {unset_get, sizeof unset_get, "memo index 9 was never set"},
      {no_stop, sizeof no_stop, "without STOP"},
      {unknown, sizeof unknown, "unsupported pickle opcode 0x49"},
      {underflow, sizeof underflow, "stack underflow"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pk_doc *d = pk_load(cases[i].p, cases[i].n, "case", &e);
    assert_null(d);
    assert_contains(e.msg, cases[i].msg);
    assert_contains(e.msg, "case: byte ");
  }
  uint8_t *marks = malloc(5003);
  assert_non_null(marks);
  marks[0] = 0x80;
  marks[1] = 2;
  memset(marks + 2, '(', 5000);
  marks[5002] = '.';
  assert_null(pk_load(marks, 5003, "marks", &e));
  assert_contains(e.msg, "nested MARKs");
  free(marks);

  /* Non-dict roots and wrong field types are explained. */
  static const uint8_t list_root[] = {0x80, 2, ']', '.'};
  tz_entry_in ent[] = {{"a/data.pkl", list_root, sizeof list_root}, {"a/version", "3\n", 2}};
  char *p = tmp_path("list.pt");
  assert_int_equal(tz_write(p, ent, 2, &e), 0);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "the pickle holds a list, expected a dict");
  static const uint8_t stp_int[] = {0x80, 2,   '}', 'X', 15,  0,   0,   0,   's', 't', 'r', 'i', 'n', 'g',
                                    '_',  't', 'o', '_', 'p', 'a', 'r', 'a', 'm', 'K', 3,   's', '.'};
  tz_entry_in ent2[] = {{"a/data.pkl", stp_int, sizeof stp_int}, {"a/version", "3\n", 2}};
  assert_int_equal(tz_write(p, ent2, 2, &e), 0);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "'string_to_param' is a int, expected a dict");
  free(p);
}

/* Every truncation and many byte mutations of the real A1111 pickle: an error or a parse, never
 * a crash or a leak (memcheck runs this program); mutated small files also go through emb_read. */
static void mutated_pickles_fail_cleanly(void **state) {
  (void)state;
  char *pt = data_file("prostate_pos", ".pt");
  herr e = {{0}};
  tz_archive *z = tz_open(pt, &e);
  assert_non_null(z);
  uint8_t *pkl;
  size_t n;
  assert_int_equal(tz_read(z, "archive/data.pkl", &pkl, &n, &e), 0);
  tz_close(z);
  free(pt);
  for (size_t cut = 0; cut < n; cut++) {
    pk_doc *d = pk_load(pkl, cut, "cut", &e);
    assert_null(d);
  }
  static const uint8_t flips[] = {0x01, 0x80, 0xFF, 0x2A};
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < sizeof flips; k++) {
      uint8_t keep = pkl[i];
      pkl[i] ^= flips[k];
      pk_doc_free(pk_load(pkl, n, "mutated", &e));
      pkl[i] = keep;
    }
  free(pkl);

  float rows[2 * 3] = {1, 2, 3, 4, 5, 6};
  emb_vectors v = {"t", 2, 3, rows};
  emb_file f = {.n = 1, .items = &v, .name = "t", .step = 3, .sd_checkpoint = "abc"};
  char *good = tmp_path("m.pt"), *bad = tmp_path("m_bad.pt");
  assert_int_equal(emb_write(good, &f, "a1111-pt", &e), 0);
  z = tz_open(good, &e);
  assert_non_null(z);
  uint8_t *small, *data;
  size_t sn, dn;
  assert_int_equal(tz_read(z, "archive/data.pkl", &small, &sn, &e), 0);
  assert_int_equal(tz_read(z, "archive/data/0", &data, &dn, &e), 0);
  tz_close(z);
  for (size_t i = 2; i < sn; i += 5) {
    uint8_t keep = small[i];
    small[i] ^= 0x41;
    tz_entry_in ent[] = {{"archive/data.pkl", small, sn}, {"archive/data/0", data, dn}, {"archive/version", "3\n", 2}};
    assert_int_equal(tz_write(bad, ent, 3, &e), 0);
    emb_file g;
    if (emb_read(bad, &g, &e) == 0) {
      /* Accepted mutations (a changed name letter, say) still give well-formed rows. */
      assert_int_equal(g.n, 1);
      assert_true(g.items[0].n_vectors * g.items[0].dim <= 6);
      emb_file_free(&g);
    } else {
      assert_contains(e.msg, bad);
    }
    small[i] = keep;
  }
  free(small);
  free(data);
  free(good);
  free(bad);
}

static void writer_rejects_what_the_formats_cannot_hold(void **state) {
  (void)state;
  float rows[4] = {1, 2, 3, 4};
  emb_vectors two[2] = {{"<a>", 1, 4, rows}, {"<b>", 2, 2, rows}};
  emb_file f = {.n = 2, .items = two, .format = "diffusers", .step = -1};
  char *p = tmp_path("w.safetensors");
  herr e = {{0}};
  assert_int_equal(emb_write(p, &f, "a1111-pt", &e), -1);
  assert_contains(e.msg, "exactly one embedding, got 2");
  assert_int_equal(emb_write(p, &f, "ckpt", &e), -1);
  assert_contains(e.msg, "unknown embedding format 'ckpt'");
  two[1].token = "<a>";
  assert_int_equal(emb_write(p, &f, NULL, &e), -1);
  assert_contains(e.msg, "token '<a>' appears twice");
  two[1].token = "<b>";
  two[1].n_vectors = 0;
  assert_int_equal(emb_write(p, &f, NULL, &e), -1);
  assert_contains(e.msg, "token '<b>' has shape [0, 2]");
  assert_false(fs_exists(p));
  two[1].n_vectors = 2;
  /* Two diffusers tokens in one file are written and read back (diffusers itself loads one). */
  assert_int_equal(emb_write(p, &f, NULL, &e), 0);
  emb_file back;
  assert_int_equal(emb_read(p, &back, &e), 0);
  assert_same_embedding(&f, &back);
  emb_file_free(&back);
  /* An A1111 tensor next to others is refused as A1111 refuses it. */
  st_tensor ts[2] = {{"string_to_param.*", ST_F32, 2, {1, 4}, rows, 16}, {"x", ST_F32, 1, {4}, rows, 16}};
  assert_int_equal(st_write(p, ts, 2, NULL, NULL, 0, &e), 0);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "A1111 embeddings hold exactly one");
  st_tensor i64 = {"<i>", ST_I64, 1, {2}, rows, 16};
  assert_int_equal(st_write(p, &i64, 1, NULL, NULL, 0, &e), 0);
  assert_true(read_fails(p, &e));
  assert_contains(e.msg, "tensor '<i>' is I64");
  free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(golden_pt_files_match_torch_load),
      cmocka_unit_test(golden_pt_archive_layout_is_read_from_the_central_directory),
      cmocka_unit_test(diffusers_learned_embeds_matches_expected),
      cmocka_unit_test(placeholder_tokens_follow_diffusers),
      cmocka_unit_test(round_trips_in_all_three_formats),
      cmocka_unit_test(written_pt_is_a_torch_zip),
      cmocka_unit_test(strided_half_parameter_in_a_diffusers_bin),
      cmocka_unit_test(emb_params_and_one_dim_tensors),
      cmocka_unit_test(deflated_archives_are_read),
      cmocka_unit_test(disallowed_globals_are_rejected_by_name),
      cmocka_unit_test(truncated_and_corrupt_archives_fail_cleanly),
      cmocka_unit_test(storages_too_small_are_rejected),
      cmocka_unit_test(hostile_pickles_hit_limits),
      cmocka_unit_test(mutated_pickles_fail_cleanly),
      cmocka_unit_test(writer_rejects_what_the_formats_cannot_hold),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
