/* harness/util: SHA-256 against the FIPS 180-4 vectors, the string builder, file-system
 * helpers (in a fresh mkdtemp directory per test) and the seeded random numbers. */
#include "test_main.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/util/fsutil.h"
#include "harness/util/rng.h"
#include "harness/util/sha256.h"
#include "harness/util/strbuf.h"

/* ---- sha256 ---- */

static void digest_hex(sha256_ctx *c, char hex[65]) {
  unsigned char d[32];
  sha256_final(c, d);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void assert_sha256_hex(const char *msg, const char *expected) {
  char hex[65];
  sha256_hex(msg, hex);
  assert_string_equal(hex, expected);
  /* the streaming interface gives the same digest, one byte at a time */
  sha256_ctx c;
  sha256_init(&c);
  for (size_t i = 0; msg[i]; i++) sha256_update(&c, msg + i, 1);
  digest_hex(&c, hex);
  assert_string_equal(hex, expected);
}

static void sha256_matches_fips_short_vectors(void **state) {
  assert_sha256_hex("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_sha256_hex("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  assert_sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsm"
                    "nopqrstnopqrstu",
                    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void sha256_pads_correctly_at_block_boundaries(void **state) {
  char a[65];
  memset(a, 'a', 64);
  a[55] = '\0'; /* the length still fits in the same block */
  assert_sha256_hex(a, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  a[55] = 'a';
  a[56] = '\0'; /* the length needs a second block */
  assert_sha256_hex(a, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  a[56] = 'a';
  a[64] = '\0'; /* exactly one block of data */
  assert_sha256_hex(a, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

static void sha256_of_one_million_a_fed_in_pieces(void **state) {
  static const char expected[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  char chunk[1000];
  memset(chunk, 'a', sizeof chunk);
  sha256_ctx c;
  char hex[65];
  /* uneven pieces that straddle block edges: 1000 x 1000 bytes */
  sha256_init(&c);
  for (int i = 0; i < 1000; i++) sha256_update(&c, chunk, 1000);
  digest_hex(&c, hex);
  assert_string_equal(hex, expected);
  /* pieces of 7, 13 and 997 bytes in turn */
  static const size_t sizes[] = {7, 13, 997};
  sha256_init(&c);
  size_t left = 1000000;
  for (int k = 0; left > 0; k++) {
    size_t take = sizes[k % 3] < left ? sizes[k % 3] : left;
    sha256_update(&c, chunk, take);
    left -= take;
  }
  digest_hex(&c, hex);
  assert_string_equal(hex, expected);
}

/* ---- strbuf ---- */

static void strbuf_appendf_grows_and_keeps_everything(void **state) {
  strbuf sb = STRBUF_INIT;
  assert_string_equal(sb_str(&sb), "");
  sb_append(&sb, "x=");
  sb_appendf(&sb, "%d/%s/%.2f", 42, "abc", 0.5);
  sb_append_char(&sb, ';');
  sb_append_n(&sb, "hello", 3);
  assert_string_equal(sb_str(&sb), "x=42/abc/0.50;hel");
  assert_int_equal(sb.len, 17);
  for (int i = 0; i < 1000; i++) sb_appendf(&sb, "%03d", i);
  assert_int_equal(sb.len, 17 + 3000);
  assert_int_equal(strlen(sb_str(&sb)), sb.len);
  assert_memory_equal(sb_str(&sb) + 17, "000001002", 9);
  assert_string_equal(sb_str(&sb) + sb.len - 6, "998999");
  sb_free(&sb);
  assert_null(sb.data);
  assert_int_equal(sb.len, 0);
  assert_string_equal(sb_str(&sb), "");
}

static void strbuf_quoted_escapes_quotes_backslashes_and_control_chars(void **state) {
  strbuf sb = STRBUF_INIT;
  sb_append_quoted(&sb, "a\"b\\c\nd\re\tf\x01g\x1fh\x7f" "\xc3\xa9");
  assert_string_equal(sb_str(&sb), "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh\\u007f\xc3\xa9\"");
  sb_free(&sb);
  sb_append_quoted(&sb, "");
  assert_string_equal(sb_str(&sb), "\"\"");
  sb_free(&sb);
}

static void strbuf_take_on_empty_gives_an_empty_string_and_resets(void **state) {
  strbuf sb = STRBUF_INIT;
  char *s = sb_take(&sb);
  assert_non_null(s);
  assert_string_equal(s, "");
  free(s);
  sb_append(&sb, "abc");
  s = sb_take(&sb);
  assert_string_equal(s, "abc");
  assert_null(sb.data);
  assert_int_equal(sb.len, 0);
  assert_int_equal(sb.cap, 0);
  assert_string_equal(sb_str(&sb), "");
  free(s);
}

/* ---- fsutil ---- */

static char *make_tmpdir(void) {
  char tmpl[] = "/tmp/mdh_util_XXXXXX";
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  return strdup(d);
}

static void remove_tmpdir(char *dir) {
  herr e = {{0}};
  assert_int_equal(fs_remove_tree(dir, &e), 0);
  assert_false(fs_exists(dir));
  free(dir);
}

static size_t count_entries(const char *dir, char *only, size_t only_len) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (only) snprintf(only, only_len, "%s", de->d_name);
    n++;
  }
  closedir(d);
  return n;
}

static void mkdir_p_creates_nested_dirs_and_accepts_existing(void **state) {
  char *dir = make_tmpdir();
  char *deep = fs_join(dir, "a/b/c");
  herr e = {{0}};
  assert_int_equal(fs_mkdir_p(deep, &e), 0);
  assert_true(fs_is_dir(deep));
  char *mid = fs_join(dir, "a/b");
  assert_true(fs_is_dir(mid));
  assert_int_equal(fs_mkdir_p(deep, &e), 0); /* again: fine */
  assert_int_equal(fs_mkdir_p(mid, &e), 0);
  char *slash = fs_join(dir, "x/y/");
  assert_int_equal(fs_mkdir_p(slash, &e), 0);
  char *xy = fs_join(dir, "x/y");
  assert_true(fs_is_dir(xy));
  free(xy);
  free(slash);
  free(mid);
  free(deep);
  remove_tmpdir(dir);
}

static void mkdir_p_over_a_file_is_an_error_naming_it(void **state) {
  char *dir = make_tmpdir();
  char *file = fs_join(dir, "f");
  herr e = {{0}};
  assert_int_equal(fs_write_atomic(file, "x", 1, &e), 0);
  assert_int_equal(fs_mkdir_p(file, &e), -1);
  char want[512];
  snprintf(want, sizeof want, "%s exists and is not a directory", file);
  assert_string_equal(e.msg, want);
  char *below = fs_join(file, "sub");
  assert_int_equal(fs_mkdir_p(below, &e), -1);
  snprintf(want, sizeof want, "cannot create directory %s: ", below);
  assert_non_null(strstr(e.msg, want));
  free(below);
  free(file);
  remove_tmpdir(dir);
}

static void write_atomic_replaces_contents_and_leaves_no_temp_files(void **state) {
  char *dir = make_tmpdir();
  char *path = fs_join(dir, "data.txt");
  herr e = {{0}};
  assert_int_equal(fs_write_atomic(path, "first version", 13, &e), 0);
  size_t len = 0;
  char *got = fs_read_file(path, &len, &e);
  assert_non_null(got);
  assert_int_equal(len, 13);
  assert_string_equal(got, "first version");
  free(got);

  assert_int_equal(fs_write_atomic(path, "2nd", 3, &e), 0);
  got = fs_read_file(path, &len, &e);
  assert_non_null(got);
  assert_int_equal(len, 3);
  assert_string_equal(got, "2nd");
  free(got);

  char only[256] = "";
  assert_int_equal(count_entries(dir, only, sizeof only), 1);
  assert_string_equal(only, "data.txt");
  free(path);
  remove_tmpdir(dir);
}

static void write_atomic_and_read_file_keep_binary_data(void **state) {
  char *dir = make_tmpdir();
  char *path = fs_join(dir, "bin");
  herr e = {{0}};
  /* larger than read_file's first 4096-byte buffer, with NUL bytes inside */
  size_t n = 10000;
  unsigned char *data = malloc(n);
  assert_non_null(data);
  for (size_t i = 0; i < n; i++) data[i] = (unsigned char)(i * 7);
  assert_int_equal(fs_write_atomic(path, data, n, &e), 0);
  size_t len = 0;
  char *got = fs_read_file(path, &len, &e);
  assert_non_null(got);
  assert_int_equal(len, n);
  assert_memory_equal(got, data, n);
  assert_int_equal(got[n], '\0');
  free(got);
  free(data);
  /* an empty file reads as "" */
  assert_int_equal(fs_write_atomic(path, "", 0, &e), 0);
  got = fs_read_file(path, NULL, &e);
  assert_non_null(got);
  assert_string_equal(got, "");
  free(got);
  free(path);
  remove_tmpdir(dir);
}

static void write_atomic_into_missing_dir_is_an_error_and_leaves_nothing(void **state) {
  char *dir = make_tmpdir();
  char *path = fs_join(dir, "nope/file");
  herr e = {{0}};
  assert_int_equal(fs_write_atomic(path, "x", 1, &e), -1);
  char want[512];
  snprintf(want, sizeof want, "cannot create %s.tmp.", path);
  assert_non_null(strstr(e.msg, want));
  assert_non_null(strstr(e.msg, "No such file or directory"));
  assert_int_equal(count_entries(dir, NULL, 0), 0);
  free(path);
  remove_tmpdir(dir);
}

static void read_file_of_missing_file_names_the_path(void **state) {
  char *dir = make_tmpdir();
  char *path = fs_join(dir, "missing.yaml");
  herr e = {{0}};
  size_t len = 123;
  assert_null(fs_read_file(path, &len, &e));
  char want[512];
  snprintf(want, sizeof want, "cannot open %s: No such file or directory", path);
  assert_string_equal(e.msg, want);
  assert_int_equal(len, 123);
  free(path);
  remove_tmpdir(dir);
}

static void remove_tree_removes_nested_contents_and_accepts_missing(void **state) {
  char *dir = make_tmpdir();
  herr e = {{0}};
  char *root = fs_join(dir, "tree");
  char *deep = fs_join(root, "a/b/c");
  assert_int_equal(fs_mkdir_p(deep, &e), 0);
  static const char *const files[] = {"f0", "a/f1", "a/b/f2", "a/b/c/f3"};
  for (size_t i = 0; i < 4; i++) {
    char *p = fs_join(root, files[i]);
    assert_int_equal(fs_write_atomic(p, "data", 4, &e), 0);
    free(p);
  }
  char *other = fs_join(dir, "keep");
  assert_int_equal(fs_write_atomic(other, "k", 1, &e), 0);

  assert_int_equal(fs_remove_tree(root, &e), 0);
  assert_false(fs_exists(root));
  assert_true(fs_exists(other)); /* siblings are left alone */
  assert_int_equal(fs_remove_tree(root, &e), 0); /* missing: fine */
  /* a plain file is removed too */
  assert_int_equal(fs_remove_tree(other, &e), 0);
  assert_false(fs_exists(other));
  assert_int_equal(count_entries(dir, NULL, 0), 0);
  free(other);
  free(deep);
  free(root);
  remove_tmpdir(dir);
}

static void dirname_and_join_split_and_build_paths(void **state) {
  static const char *const cases[][2] = {
      {"a/b/c", "a/b"}, {"a/b", "a"}, {"file", "."}, {"/x", "/"}, {"/a/b.yaml", "/a"}, {"./f", "."},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *d = fs_dirname(cases[i][0]);
    assert_string_equal(d, cases[i][1]);
    free(d);
  }
  char *j = fs_join("a", "b");
  assert_string_equal(j, "a/b");
  free(j);
  j = fs_join("a/", "b");
  assert_string_equal(j, "a/b");
  free(j);
  j = fs_join("", "b");
  assert_string_equal(j, "b");
  free(j);
  j = fs_join("/", "etc");
  assert_string_equal(j, "/etc");
  free(j);
  j = fs_join("/tmp/x", "y/z.h5");
  assert_string_equal(j, "/tmp/x/y/z.h5");
  free(j);
}

/* ---- rng ---- */

static void rng_next_is_xoshiro256starstar(void **state) {
  /* reference outputs of xoshiro256** from the state {1, 2, 3, 4} */
  rng r = {{1, 2, 3, 4}};
  assert_true(rng_next(&r) == 11520ULL);
  assert_true(rng_next(&r) == 0ULL);
  assert_true(rng_next(&r) == 1509978240ULL);
  assert_true(rng_next(&r) == 1215971899390074240ULL);
}

static void rng_same_seed_and_stream_give_the_same_sequence(void **state) {
  rng a, b;
  rng_seed(&a, 42, 3);
  rng_seed(&b, 42, 3);
  for (int i = 0; i < 1000; i++) assert_true(rng_next(&a) == rng_next(&b));
  rng_seed(&a, 42, 3);
  rng_seed(&b, 42, 3);
  for (int i = 0; i < 100; i++) assert_true(rng_uniform(&a) == rng_uniform(&b));
}

static void rng_different_streams_and_seeds_differ(void **state) {
  rng base, other_stream, other_seed;
  rng_seed(&base, 42, 0);
  rng_seed(&other_stream, 42, 1);
  rng_seed(&other_seed, 43, 0);
  int same_stream = 0, same_seed = 0;
  for (int i = 0; i < 1000; i++) {
    uint64_t x = rng_next(&base);
    same_stream += x == rng_next(&other_stream);
    same_seed += x == rng_next(&other_seed);
  }
  assert_int_equal(same_stream, 0);
  assert_int_equal(same_seed, 0);
}

static void rng_uniform_is_in_unit_interval_with_mean_one_half(void **state) {
  rng r;
  rng_seed(&r, 7, 0);
  double sum = 0, lo = 1, hi = 0;
  for (int i = 0; i < 100000; i++) {
    double u = rng_uniform(&r);
    assert_true(u >= 0.0 && u < 1.0);
    sum += u;
    if (u < lo) lo = u;
    if (u > hi) hi = u;
  }
  assert_true(fabs(sum / 100000 - 0.5) < 0.01);
  assert_true(lo < 0.001);
  assert_true(hi > 0.999);
}

static void rng_below_stays_in_bounds_and_is_roughly_uniform(void **state) {
  rng r;
  rng_seed(&r, 11, 2);
  for (int i = 0; i < 1000; i++) assert_int_equal(rng_below(&r, 1), 0);
  for (int i = 0; i < 1000; i++) assert_true(rng_below(&r, 3) < 3);
  /* a bound that is not a power of two and close to 2^64 still stays below it */
  uint64_t big = UINT64_MAX / 3 * 2;
  for (int i = 0; i < 1000; i++) assert_true(rng_below(&r, big) < big);
  size_t buckets[10] = {0};
  for (int i = 0; i < 100000; i++) {
    uint64_t k = rng_below(&r, 10);
    assert_true(k < 10);
    buckets[k]++;
  }
  for (int k = 0; k < 10; k++)
    if (buckets[k] < 9500 || buckets[k] > 10500) fail_msg("bucket %d has %zu of 100000 draws", k, buckets[k]);
}

static void rng_normal_has_mean_zero_and_variance_one(void **state) {
  rng r;
  rng_seed(&r, 2024, 5);
  double sum = 0, sumsq = 0;
  const int n = 100000;
  for (int i = 0; i < n; i++) {
    double x = rng_normal(&r);
    assert_true(isfinite(x));
    sum += x;
    sumsq += x * x;
  }
  double mean = sum / n, var = sumsq / n - mean * mean;
  if (fabs(mean) >= 0.02) fail_msg("mean %g", mean);
  if (fabs(var - 1.0) >= 0.02) fail_msg("variance %g", var);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sha256_matches_fips_short_vectors),
    cmocka_unit_test(sha256_pads_correctly_at_block_boundaries),
    cmocka_unit_test(sha256_of_one_million_a_fed_in_pieces),
    cmocka_unit_test(strbuf_appendf_grows_and_keeps_everything),
    cmocka_unit_test(strbuf_quoted_escapes_quotes_backslashes_and_control_chars),
    cmocka_unit_test(strbuf_take_on_empty_gives_an_empty_string_and_resets),
    cmocka_unit_test(mkdir_p_creates_nested_dirs_and_accepts_existing),
    cmocka_unit_test(mkdir_p_over_a_file_is_an_error_naming_it),
    cmocka_unit_test(write_atomic_replaces_contents_and_leaves_no_temp_files),
    cmocka_unit_test(write_atomic_and_read_file_keep_binary_data),
    cmocka_unit_test(write_atomic_into_missing_dir_is_an_error_and_leaves_nothing),
    cmocka_unit_test(read_file_of_missing_file_names_the_path),
    cmocka_unit_test(remove_tree_removes_nested_contents_and_accepts_missing),
    cmocka_unit_test(dirname_and_join_split_and_build_paths),
    cmocka_unit_test(rng_next_is_xoshiro256starstar),
    cmocka_unit_test(rng_same_seed_and_stream_give_the_same_sequence),
    cmocka_unit_test(rng_different_streams_and_seeds_differ),
    cmocka_unit_test(rng_uniform_is_in_unit_interval_with_mean_one_half),
    cmocka_unit_test(rng_below_stays_in_bounds_and_is_roughly_uniform),
    cmocka_unit_test(rng_normal_has_mean_zero_and_variance_one),
};

MDH_TEST_MAIN(tests)
