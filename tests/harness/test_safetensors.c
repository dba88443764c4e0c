/* safetensors: round trips of every dtype, the writer's header layout, reference files, exact
 * half/bfloat16 conversion, and one rejected file per broken rule of the format. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "golden.h"
#include "harness/formats/safetensors.h"
#include "harness/util/fsutil.h"
#include "test_main.h"

static char *tmp_path(void) {
  char tmpl[] = "/tmp/mdh-st-XXXXXX";
  int fd = mkstemp(tmpl);
  assert_true(fd >= 0);
  close(fd);
  return strdup(tmpl);
}

/* A file made of a header length (`hlen`, or the header's own length when UINT64_MAX), the
 * header text and `dlen` data bytes (0, 1, 2, ...). */
static char *write_raw_len(const char *header, uint64_t hlen, size_t dlen) {
  char *path = tmp_path();
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  uint64_t n = hlen == UINT64_MAX ? strlen(header) : hlen;
  unsigned char lb[8];
  for (int i = 0; i < 8; i++) lb[i] = (unsigned char)(n >> (8 * i));
  assert_int_equal(fwrite(lb, 1, 8, fp), 8);
  assert_int_equal(fwrite(header, 1, strlen(header), fp), strlen(header));
  for (size_t i = 0; i < dlen; i++) fputc((int)(i & 0xFF), fp);
  fclose(fp);
  return path;
}

static char *write_raw(const char *header, size_t dlen) { return write_raw_len(header, UINT64_MAX, dlen); }

/* st_open must fail on the file, with a message naming the file and every string in `needles`. */
static void expect_rejected(char *path, const char *const *needles) {
  herr e = {{0}};
  st_file *f = st_open(path, &e);
  if (f) st_close(f);
  assert_null(f);
  print_message("  rejected: %s\n", e.msg);
  assert_non_null(strstr(e.msg, path));
  for (; *needles; needles++) {
    if (!strstr(e.msg, *needles)) fail_msg("message '%s' lacks '%s'", e.msg, *needles);
  }
  unlink(path);
  free(path);
}

#define REJECT(header, dlen, ...) expect_rejected(write_raw(header, dlen), (const char *const[]){__VA_ARGS__, NULL})

/* ---- round trips ---- */

static void round_trips_every_dtype_with_metadata(void **state) {
  unsigned char bytes[256];
  for (int i = 0; i < 256; i++) bytes[i] = (unsigned char)(i * 7 + 3);
  st_tensor in[] = {
      {"f64", ST_F64, 2, {2, 3}, bytes, 48},
      {"f32", ST_F32, 1, {5}, bytes + 1, 20}, /* unaligned source */
      {"f16", ST_F16, 3, {1, 2, 3}, bytes, 12},
      {"bf16", ST_BF16, 1, {4}, bytes, 8},
      {"i64", ST_I64, 1, {2}, bytes, 16},
      {"i32", ST_I32, 2, {1, 3}, bytes, 12},
      {"i16", ST_I16, 1, {3}, bytes, 6},
      {"i8", ST_I8, 1, {7}, bytes, 7},
      {"u8", ST_U8, 1, {5}, bytes, 5},
      {"bool", ST_BOOL, 1, {3}, bytes, 3},
      {"scalar", ST_F32, 0, {0}, bytes + 2, 4},
      {"empty", ST_F32, 2, {0, 3}, NULL, 0},
      {"empty_i8", ST_I8, 1, {0}, NULL, 0},
      {"name with \"quotes\" and \\ é", ST_U8, 1, {1}, bytes, 1},
  };
  size_t n = sizeof in / sizeof in[0];
  const char *mk[] = {"format", "note"};
  const char *mv[] = {"pt", "line\nbreak \"q\""};
  char *path = tmp_path();
  herr e = {{0}};
  assert_int_equal(st_write(path, in, n, mk, mv, 2, &e), 0);
  st_file *f = st_open(path, &e);
  if (!f) fail_msg("%s", e.msg);
  assert_int_equal(st_count(f), n);
  assert_string_equal(st_path(f), path);
  for (size_t i = 0; i < n; i++) {
    const st_tensor *t = st_at(f, i);
    assert_non_null(t);
    /* Offsets follow the given order; zero-size tensors tie at one offset and sort by name. */
    const st_tensor *want = &in[i];
    if (i == 11) want = &in[strcmp(in[11].name, in[12].name) < 0 ? 11 : 12];
    if (i == 12) want = &in[strcmp(in[11].name, in[12].name) < 0 ? 12 : 11];
    assert_string_equal(t->name, want->name);
    assert_int_equal(t->dtype, want->dtype);
    assert_int_equal(t->ndim, want->ndim);
    for (int d = 0; d < t->ndim; d++) assert_int_equal(t->shape[d], want->shape[d]);
    assert_int_equal(t->nbytes, want->nbytes);
    if (t->nbytes) assert_memory_equal(t->data, want->data, t->nbytes);
    assert_ptr_equal(st_find(f, t->name), t);
  }
  assert_int_equal(st_numel(st_find(f, "scalar")), 1);
  assert_int_equal(st_numel(st_find(f, "empty")), 0);
  assert_null(st_find(f, "nope"));
  assert_null(st_at(f, n));
  assert_string_equal(st_metadata(f, "format"), "pt");
  assert_string_equal(st_metadata(f, "note"), "line\nbreak \"q\"");
  assert_null(st_metadata(f, "other"));
  st_close(f);
  unlink(path);
  free(path);
}

static void writer_pads_header_so_data_is_8_byte_aligned(void **state) {
  float v = 1.5f;
  for (int len = 1; len <= 9; len++) {
    char name[16];
    memset(name, 'a', (size_t)len);
    name[len] = '\0';
    st_tensor t = {name, ST_F32, 1, {1}, &v, 4};
    char *path = tmp_path();
    herr e = {{0}};
    assert_int_equal(st_write(path, &t, 1, NULL, NULL, 0, &e), 0);
    size_t flen;
    char *raw = fs_read_file(path, &flen, &e);
    assert_non_null(raw);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | (unsigned char)raw[i];
    assert_int_equal((8 + n) % 8, 0);
    assert_int_equal(flen, 8 + n + 4);
    assert_true(raw[8] == '{');
    size_t jl = strcspn(raw + 8, " "); /* no spaces inside this header: the rest is padding */
    assert_true(jl <= n && n - jl < 8);
    for (size_t i = 8 + jl; i < 8 + n; i++) assert_int_equal(raw[i], ' ');
    assert_null(strstr(raw + 8, "__metadata__")); /* only written when there is metadata */
    assert_memory_equal(raw + 8 + n, &v, 4);
    free(raw);
    unlink(path);
    free(path);
  }
}

static void writer_keeps_given_order_and_contiguous_offsets(void **state) {
  float a[2] = {1, 2}, b[3] = {3, 4, 5};
  st_tensor in[] = {{"zeta", ST_F32, 1, {3}, b, 12}, {"alpha", ST_F32, 1, {2}, a, 8}};
  char *path = tmp_path();
  herr e = {{0}};
  assert_int_equal(st_write(path, in, 2, NULL, NULL, 0, &e), 0);
  char *raw = fs_read_file(path, NULL, &e);
  assert_non_null(raw);
  assert_non_null(strstr(raw + 8, "{\"zeta\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                                   "\"alpha\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}"));
  free(raw);
  st_file *f = st_open(path, &e);
  assert_non_null(f);
  assert_string_equal(st_at(f, 0)->name, "zeta");
  assert_string_equal(st_at(f, 1)->name, "alpha");
  st_close(f);
  unlink(path);
  free(path);
}

static void writer_rejects_duplicates_and_size_mismatch(void **state) {
  float v[4] = {0};
  char *path = tmp_path();
  unlink(path);
  herr e = {{0}};
  st_tensor dup[] = {{"w", ST_F32, 1, {1}, v, 4}, {"b", ST_F32, 1, {1}, v, 4}, {"w", ST_F32, 1, {1}, v, 4}};
  assert_int_equal(st_write(path, dup, 3, NULL, NULL, 0, &e), -1);
  assert_non_null(strstr(e.msg, "'w'"));
  assert_non_null(strstr(e.msg, path));
  st_tensor bad = {"x", ST_F16, 2, {2, 3}, v, 16};
  assert_int_equal(st_write(path, &bad, 1, NULL, NULL, 0, &e), -1);
  assert_non_null(strstr(e.msg, "'x' has 16 bytes, but F16 shape [2, 3] needs 12"));
  st_tensor neg = {"n", ST_F32, 1, {-1}, v, 4};
  assert_int_equal(st_write(path, &neg, 1, NULL, NULL, 0, &e), -1);
  assert_non_null(strstr(e.msg, "'n'"));
  st_tensor meta_name = {"__metadata__", ST_F32, 1, {1}, v, 4};
  assert_int_equal(st_write(path, &meta_name, 1, NULL, NULL, 0, &e), -1);
  const char *k[] = {"a", "a"}, *vals[] = {"1", "2"};
  assert_int_equal(st_write(path, NULL, 0, k, vals, 2, &e), -1);
  assert_non_null(strstr(e.msg, "'a'"));
  assert_false(fs_exists(path)); /* nothing half-written */
  free(path);
}

static void writes_and_reads_an_empty_file(void **state) {
  char *path = tmp_path();
  herr e = {{0}};
  assert_int_equal(st_write(path, NULL, 0, NULL, NULL, 0, &e), 0);
  st_file *f = st_open(path, &e);
  assert_non_null(f);
  assert_int_equal(st_count(f), 0);
  assert_null(st_at(f, 0));
  st_close(f);
  unlink(path);
  free(path);
}

static void writer_replaces_existing_file(void **state) {
  char *path = tmp_path();
  float a = 1, b = 2;
  st_tensor t = {"v", ST_F32, 0, {0}, &a, 4};
  herr e = {{0}};
  assert_int_equal(st_write(path, &t, 1, NULL, NULL, 0, &e), 0);
  t.data = &b;
  assert_int_equal(st_write(path, &t, 1, NULL, NULL, 0, &e), 0);
  st_file *f = st_open(path, &e);
  assert_non_null(f);
  float got;
  assert_int_equal(st_to_f32(st_find(f, "v"), &got, &e), 0);
  assert_true(got == 2.0f);
  st_close(f);
  unlink(path);
  free(path);
}

/* ---- reference files ---- */

static void reads_reference_latents(void **state) {
  char *path = golden_path_or_skip("schedulers/latents.safetensors");
  herr e = {{0}};
  st_file *f = st_open(path, &e);
  if (!f) fail_msg("%s", e.msg);
  assert_int_equal(st_count(f), 1);
  const int64_t shape[] = {1, 4, 8, 8};
  const st_tensor *t = st_expect(f, "latents", ST_F32, 4, shape, &e);
  if (!t) fail_msg("%s", e.msg);
  float *x = malloc(256 * sizeof *x);
  assert_int_equal(st_to_f32(t, x, &e), 0);
  double sum2 = 0;
  for (int i = 0; i < 256; i++) {
    assert_true(isfinite(x[i]));
    sum2 += (double)x[i] * x[i];
  }
  assert_true(sum2 / 256 > 0.3 && sum2 / 256 < 3); /* roughly unit-variance noise */
  free(x);
  const int64_t wrong[] = {1, 4, 8, 9};
  assert_null(st_expect(f, "latents", ST_F32, 4, wrong, &e));
  char want[1024];
  snprintf(want, sizeof want, "%s: tensor 'latents' has shape [1, 4, 8, 8], expected [1, 4, 8, 9]", path);
  assert_string_equal(e.msg, want);
  assert_null(st_expect(f, "latents", ST_F16, -1, NULL, &e));
  assert_non_null(strstr(e.msg, "'latents' has dtype F32, expected F16"));
  assert_null(st_expect(f, "noise", ST_F32, -1, NULL, &e));
  assert_non_null(strstr(e.msg, "'noise'"));
  assert_non_null(strstr(e.msg, path));
  assert_non_null(st_expect(f, "latents", ST_DTYPE_ANY, -1, NULL, &e));
  st_close(f);
  free(path);
}

static void reads_reference_unet_weights(void **state) {
  char *path = golden_path_or_skip("unet_sd2/diffusion_pytorch_model.safetensors");
  herr e = {{0}};
  st_file *f = st_open(path, &e);
  if (!f) fail_msg("%s", e.msg);
  assert_int_equal(st_count(f), 684);
  assert_string_equal(st_metadata(f, "format"), "pt");
  const int64_t shape[] = {32, 4, 3, 3};
  assert_non_null(st_expect(f, "conv_in.weight", ST_F32, 4, shape, &e));
  const unsigned char *prev_end = NULL;
  for (size_t i = 0; i < st_count(f); i++) {
    const st_tensor *t = st_at(f, i);
    if (prev_end) assert_ptr_equal(t->data, prev_end); /* offset order, no holes */
    prev_end = (const unsigned char *)t->data + t->nbytes;
    assert_ptr_equal(st_find(f, t->name), t);
  }
  st_close(f);
  free(path);
}

/* ---- conversion ---- */

/* Half-precision value computed from its definition, to check the bit-twiddling against. */
static double f16_reference(uint16_t h) {
  int s = h >> 15, ex = (h >> 10) & 0x1F, m = h & 0x3FF;
  double v = ex == 0 ? ldexp(m, -24) : ldexp(1024 + m, ex - 25);
  return s ? -v : v;
}

static void f16_conversion_is_exact(void **state) {
  struct { uint16_t bits; float want; } known[] = {
      {0x0000, 0.0f}, {0x3C00, 1.0f}, {0xC000, -2.0f}, {0x7BFF, 65504.0f}, {0x0001, 5.9604644775390625e-8f},
      {0x03FF, 6.0975551605224609375e-5f}, {0x0400, 6.103515625e-5f}, {0x3555, 0.333251953125f},
      {0x3BFF, 0.99951171875f}, {0x8001, -5.9604644775390625e-8f},
  };
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) assert_true(st_f16_to_f32(known[i].bits) == known[i].want);
  assert_true(signbit(st_f16_to_f32(0x8000)) && st_f16_to_f32(0x8000) == 0.0f);
  assert_true(isinf(st_f16_to_f32(0x7C00)) && st_f16_to_f32(0x7C00) > 0);
  assert_true(isinf(st_f16_to_f32(0xFC00)) && st_f16_to_f32(0xFC00) < 0);
  assert_true(isnan(st_f16_to_f32(0x7E00)));
  assert_true(isnan(st_f16_to_f32(0x7C01)));  /* signalling NaN stays NaN, not inf */
  assert_true(isnan(st_f16_to_f32(0xFE00)));
  for (uint32_t h = 0; h < 0x10000; h++) {
    if (((h >> 10) & 0x1F) == 0x1F) continue;
    float got = st_f16_to_f32((uint16_t)h);
    if ((double)got != f16_reference((uint16_t)h)) fail_msg("f16 0x%04x: got %.9g", h, got);
  }
}

static void bf16_is_top_half_of_f32(void **state) {
  assert_true(st_bf16_to_f32(0x3F80) == 1.0f);
  assert_true(st_bf16_to_f32(0xC049) == -3.140625f);
  assert_true(st_bf16_to_f32(0x0001) == ldexpf(1.0f, -133)); /* subnormal */
  assert_true(isinf(st_bf16_to_f32(0x7F80)));
  assert_true(isnan(st_bf16_to_f32(0x7FC0)));
  for (uint32_t h = 0; h < 0x10000; h += 7) {
    float got = st_bf16_to_f32((uint16_t)h);
    uint32_t bits;
    memcpy(&bits, &got, 4);
    assert_int_equal(bits, h << 16);
  }
}

static void to_f32_converts_unaligned_data_of_each_float_dtype(void **state) {
  unsigned char buf[64];
  float out[3];
  herr e = {{0}};
  /* F16 1.0, -2.0, 65504 at an odd address */
  const uint16_t h[3] = {0x3C00, 0xC000, 0x7BFF};
  memcpy(buf + 1, h, sizeof h);
  st_tensor t = {"h", ST_F16, 1, {3}, buf + 1, 6};
  assert_int_equal(st_to_f32(&t, out, &e), 0);
  assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == 65504.0f);
  const uint16_t b[3] = {0x3F80, 0xC049, 0x0000};
  memcpy(buf + 3, b, sizeof b);
  t = (st_tensor){"b", ST_BF16, 1, {3}, buf + 3, 6};
  assert_int_equal(st_to_f32(&t, out, &e), 0);
  assert_true(out[0] == 1.0f && out[1] == -3.140625f && out[2] == 0.0f);
  const double d[3] = {0.1, -1e300, 3.0};
  memcpy(buf + 5, d, sizeof d);
  t = (st_tensor){"d", ST_F64, 1, {3}, buf + 5, 24};
  assert_int_equal(st_to_f32(&t, out, &e), 0);
  assert_true(out[0] == 0.1f && isinf(out[1]) && out[2] == 3.0f);
  const float f[3] = {1.25f, -0.5f, 7.0f};
  memcpy(buf + 7, f, sizeof f);
  t = (st_tensor){"f", ST_F32, 1, {3}, buf + 7, 12};
  assert_int_equal(st_to_f32(&t, out, &e), 0);
  assert_memory_equal(out, f, sizeof f);
  t = (st_tensor){"ids", ST_I64, 1, {1}, buf, 8};
  assert_int_equal(st_to_f32(&t, out, &e), -1);
  assert_non_null(strstr(e.msg, "'ids' has dtype I64"));
}

static void dtype_names_round_trip(void **state) {
  for (int i = 0; i < ST_DTYPE_COUNT; i++) {
    st_dtype d;
    assert_int_equal(st_dtype_from_name(st_dtype_name((st_dtype)i), &d), 0);
    assert_int_equal(d, i);
  }
  st_dtype d;
  assert_int_equal(st_dtype_from_name("f32", &d), -1);
  assert_int_equal(st_dtype_size(ST_BF16), 2);
  assert_int_equal(st_dtype_size(ST_F64), 8);
  assert_int_equal(st_dtype_size(ST_BOOL), 1);
}

/* ---- accepted oddities ---- */

static void accepts_reference_padding_and_zero_size_ties(void **state) {
  char *path = write_raw("{\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                         "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                         "\"c\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
                         "\"__metadata__\":null}     \n  ",
                         4);
  herr e = {{0}};
  st_file *f = st_open(path, &e);
  if (!f) fail_msg("%s", e.msg);
  assert_int_equal(st_count(f), 3);
  assert_string_equal(st_at(f, 0)->name, "a");
  assert_int_equal(st_at(f, 0)->ndim, 0);
  assert_string_equal(st_at(f, 1)->name, "b");
  assert_string_equal(st_at(f, 2)->name, "c");
  assert_null(st_metadata(f, "format"));
  st_close(f);
  unlink(path);
  free(path);
}

/* ---- corrupt files: each one rule broken ---- */

static void rejects_file_shorter_than_length_field(void **state) {
  char *path = tmp_path();
  FILE *fp = fopen(path, "wb");
  fwrite("\x02\0\0", 1, 3, fp);
  fclose(fp);
  expect_rejected(path, (const char *const[]){"too short", NULL});
}

static void rejects_truncated_data(void **state) {
  /* The tensor's data is one byte short of what its offsets promise. */
  REJECT("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 15, "'w'", "past the end");
}

static void rejects_truncated_written_file(void **state) {
  float v[4] = {1, 2, 3, 4};
  st_tensor t = {"weight", ST_F32, 2, {2, 2}, v, 16};
  herr e = {{0}};
  char *path = tmp_path();
  assert_int_equal(st_write(path, &t, 1, NULL, NULL, 0, &e), 0);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(truncate(path, sb.st_size - 1), 0); /* one data byte lost */
  char *p2 = strdup(path);
  expect_rejected(path, (const char *const[]){"'weight'", "past the end", NULL});
  path = p2;
  assert_int_equal(st_write(path, &t, 1, NULL, NULL, 0, &e), 0);
  assert_int_equal(truncate(path, 20), 0); /* inside the header */
  expect_rejected(path, (const char *const[]){"runs past the end", "truncated", NULL});
}

static void rejects_header_length_past_end(void **state) {
  expect_rejected(write_raw_len("{}", 500, 0), (const char *const[]){"500", "past the end", NULL});
}

static void rejects_header_length_over_limit(void **state) {
  expect_rejected(write_raw_len("{}", 200000000, 0), (const char *const[]){"100 MB", NULL});
}

static void rejects_header_length_too_small(void **state) {
  expect_rejected(write_raw_len("{}", 1, 0), (const char *const[]){"too small", NULL});
}

static void rejects_header_not_json(void **state) {
  REJECT("{\"w\":{\"dtype\":\"F32\",", 0, "not valid JSON");
  REJECT("[1, 2]", 0, "must be a JSON object");
  REJECT("{} x", 0, "extra bytes");
  REJECT("{\"w\":\xff}", 0, "UTF-8");
}

static void rejects_tensor_entry_not_object(void **state) {
  REJECT("{\"w\":[1,2]}", 0, "'w'", "must be an object");
  REJECT("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'w'", "dtype");
  REJECT("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'w'", "twice");
}

static void rejects_unknown_dtype(void **state) {
  REJECT("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "'w'", "'F8_E4M3'", "F32");
  REJECT("{\"w\":{\"dtype\":3,\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "'w'", "dtype must be a string");
}

static void rejects_shape_offset_mismatch(void **state) {
  REJECT("{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16, "'w'", "16 bytes", "needs 12");
}

static void rejects_overlapping_tensors(void **state) {
  REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "'b'", "overlaps tensor 'a'");
}

static void rejects_hole_in_buffer(void **state) {
  REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12, "'b'", "expected 4", "hole after tensor 'a'");
  REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "'a'", "expected 0");
  /* bytes after the last tensor */
  REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6, "'a'", "holds 6 bytes");
  REJECT("{}", 3, "no tensors", "3 bytes");
}

static void rejects_offsets_past_end(void **state) {
  REJECT("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 4, "'a'", "[0, 8]", "4-byte");
  REJECT("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "'a'", "end before");
  REJECT("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1, "'a'", "[begin, end]");
  REJECT("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,-1]}}", 1, "'a'", "data_offsets");
}

static void rejects_negative_or_fractional_shape(void **state) {
  REJECT("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "'w'", "shape[0]", "-1");
  REJECT("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,12]}}", 12, "'w'", "shape[1]", "1.5");
  REJECT("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "'w'", "shape[0]", "a string");
  REJECT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "'w'", "9 dimensions");
  REJECT("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "'w'",
         "overflows");
}

static void rejects_duplicate_tensor_name(void **state) {
  REJECT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "'w'", "defined twice");
}

static void rejects_non_string_metadata(void **state) {
  REJECT("{\"__metadata__\":{\"format\":\"pt\",\"step\":3},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, "__metadata__", "'step'", "must be a string");
  REJECT("{\"__metadata__\":[\"pt\"]}", 0, "__metadata__", "an object");
}

static void open_reports_missing_file(void **state) {
  herr e = {{0}};
  assert_null(st_open("/nonexistent/dir/x.safetensors", &e));
  assert_non_null(strstr(e.msg, "/nonexistent/dir/x.safetensors"));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trips_every_dtype_with_metadata),
      cmocka_unit_test(writer_pads_header_so_data_is_8_byte_aligned),
      cmocka_unit_test(writer_keeps_given_order_and_contiguous_offsets),
      cmocka_unit_test(writer_rejects_duplicates_and_size_mismatch),
      cmocka_unit_test(writes_and_reads_an_empty_file),
      cmocka_unit_test(writer_replaces_existing_file),
      cmocka_unit_test(reads_reference_latents),
      cmocka_unit_test(reads_reference_unet_weights),
      cmocka_unit_test(f16_conversion_is_exact),
      cmocka_unit_test(bf16_is_top_half_of_f32),
      cmocka_unit_test(to_f32_converts_unaligned_data_of_each_float_dtype),
      cmocka_unit_test(dtype_names_round_trip),
      cmocka_unit_test(accepts_reference_padding_and_zero_size_ties),
      cmocka_unit_test(rejects_file_shorter_than_length_field),
      cmocka_unit_test(rejects_truncated_data),
      cmocka_unit_test(rejects_truncated_written_file),
      cmocka_unit_test(rejects_header_length_past_end),
      cmocka_unit_test(rejects_header_length_over_limit),
      cmocka_unit_test(rejects_header_length_too_small),
      cmocka_unit_test(rejects_header_not_json),
      cmocka_unit_test(rejects_tensor_entry_not_object),
      cmocka_unit_test(rejects_unknown_dtype),
      cmocka_unit_test(rejects_shape_offset_mismatch),
      cmocka_unit_test(rejects_overlapping_tensors),
      cmocka_unit_test(rejects_hole_in_buffer),
      cmocka_unit_test(rejects_offsets_past_end),
      cmocka_unit_test(rejects_negative_or_fractional_shape),
      cmocka_unit_test(rejects_duplicate_tensor_name),
      cmocka_unit_test(rejects_non_string_metadata),
      cmocka_unit_test(open_reports_missing_file),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
