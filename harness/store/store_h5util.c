/* store_h5util: HDF5 helpers shared by the store's writer and reader (UTF-8 strings, name
 * checks, error-stack capture). */
#include "harness/store/store_h5util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sh5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct innermost {
  char desc[512];
  bool found;
} innermost;

/* Walking upward starts at the function where the error arose: its description is the most
 * specific one ("truncated file: eof = ...", "unable to open file: name = ..."). */
static herr_t take_innermost(unsigned n, const H5E_error2_t *err, void *data) {
  innermost *in = data;
  if (in->found) return 0;
  const char *desc = err->desc;
  char minor[256] = "";
  if (!desc || !*desc) {
    if (H5Eget_msg(err->min_num, NULL, minor, sizeof minor) > 0) desc = minor;
  }
  if (desc && *desc) {
    snprintf(in->desc, sizeof in->desc, "%s", desc);
    in->found = true;
  }
  return 0;
}

int sh5_fail(herr *e, const char *fmt, ...) {
  char head[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  innermost in = {.found = false};
  hid_t stack = H5Eget_current_stack(); /* takes the stack over and clears the current one */
  if (stack >= 0) {
    H5Ewalk2(stack, H5E_WALK_UPWARD, take_innermost, &in);
    H5Eclose_stack(stack);
  }
  if (in.found) return herr_set(e, "%s: %s", head, in.desc);
  return herr_set(e, "%s: HDF5 call failed", head);
}

hid_t sh5_err_save(int rc) { return rc < 0 ? H5Eget_current_stack() : -1; }

void sh5_err_restore(hid_t saved) {
  if (saved >= 0) H5Eset_current_stack(saved); /* also closes `saved` */
}

static bool name_char_ok(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-';
}

bool sh5_valid_name(const char *name) {
  if (!name) return false;
  size_t len = strlen(name);
  if (len == 0 || len > SH5_NAME_MAX) return false;
  const char *seg = name;
  for (const char *p = name;; p++) {
    if (*p == '/' || *p == '\0') {
      size_t n = (size_t)(p - seg);
      if (n == 0) return false; /* leading, trailing or doubled '/' */
      /* HDF5 resolves "." in paths; ".." would only confuse readers. */
      if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) return false;
      if (*p == '\0') return true;
      seg = p + 1;
    } else if (!name_char_ok(*p)) {
      return false;
    }
  }
}

hid_t sh5_str_type(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

static H5O_type_t kind_one(hid_t loc, const char *path) {
  H5O_type_t kind = H5O_TYPE_UNKNOWN;
  if (H5Lexists(loc, path, H5P_DEFAULT) <= 0) return kind;
  hid_t obj = H5Oopen(loc, path, H5P_DEFAULT);
  if (obj < 0) return kind;
  switch (H5Iget_type(obj)) {
    case H5I_GROUP: kind = H5O_TYPE_GROUP; break;
    case H5I_DATASET: kind = H5O_TYPE_DATASET; break;
    case H5I_DATATYPE: kind = H5O_TYPE_NAMED_DATATYPE; break;
    default: break;
  }
  H5Oclose(obj);
  return kind;
}

H5O_type_t sh5_kind(hid_t loc, const char *path) {
  char *p = strdup(path);
  if (!p) abort();
  H5O_type_t kind = H5O_TYPE_UNKNOWN;
  for (char *s = p;; s++) {
    if (*s == '/' && s != p) {
      *s = '\0';
      H5O_type_t k = kind_one(loc, p);
      *s = '/';
      if (k != H5O_TYPE_GROUP) break;
    } else if (*s == '\0') {
      kind = kind_one(loc, p);
      break;
    }
  }
  free(p);
  H5Eclear2(H5E_DEFAULT);
  return kind;
}

int sh5_check_parents(hid_t loc, const char *path, const char *what, const char *name,
                      const char *file, herr *e) {
  char *p = strdup(path);
  if (!p) abort();
  int rc = 0;
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    H5O_type_t k = kind_one(loc, p);
    if (k == H5O_TYPE_UNKNOWN) {
      *s = '/';
      break; /* missing: created on the way */
    }
    if (k != H5O_TYPE_GROUP) {
      rc = herr_set(e, "%s '%s' in %s: /%s is a dataset, not a group", what, name, file, p);
      break;
    }
    *s = '/';
  }
  free(p);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

hid_t sh5_strong_fapl(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

hid_t sh5_lcpl(void) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  if (lcpl < 0) return lcpl;
  if (H5Pset_create_intermediate_group(lcpl, 1) < 0) {
    H5Pclose(lcpl);
    return -1;
  }
  return lcpl;
}

static int put_attr(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                    const void *value) {
  if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
  hid_t space = H5Screate(H5S_SCALAR);
  if (space < 0) return -1;
  hid_t attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
  int rc = attr < 0 || H5Awrite(attr, mem_type, value) < 0 ? -1 : 0;
  hid_t err = sh5_err_save(rc);
  if (attr >= 0 && H5Aclose(attr) < 0 && rc == 0) rc = -1, err = sh5_err_save(rc);
  H5Sclose(space);
  sh5_err_restore(err);
  return rc;
}

int sh5_put_str_attr(hid_t obj, const char *name, const char *value) {
  hid_t t = sh5_str_type();
  if (t < 0) return -1;
  const char *v = value ? value : "";
  int rc = put_attr(obj, name, t, t, &v);
  hid_t err = sh5_err_save(rc);
  H5Tclose(t);
  sh5_err_restore(err);
  return rc;
}

int sh5_put_i32_attr(hid_t obj, const char *name, int32_t value) {
  return put_attr(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value);
}

int sh5_put_u64_attr(hid_t obj, const char *name, uint64_t value) {
  return put_attr(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value);
}

/* Reads one string from an attribute or dataset whose file type is `ftype`; `read` does the
 * H5Aread/H5Dread with the memory type it is given. */
typedef herr_t (*read_fn)(hid_t obj, hid_t mem_type, void *buf);
static herr_t read_attr(hid_t obj, hid_t mem_type, void *buf) { return H5Aread(obj, mem_type, buf); }
static herr_t read_dset(hid_t obj, hid_t mem_type, void *buf) {
  return H5Dread(obj, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

static char *read_string(hid_t obj, hid_t ftype, hid_t space, read_fn read) {
  if (H5Tget_class(ftype) != H5T_STRING || H5Sget_simple_extent_npoints(space) != 1) return NULL;
  hid_t mt = H5Tcopy(H5T_C_S1);
  if (mt < 0) return NULL;
  char *out = NULL;
  H5T_cset_t cset = H5Tget_cset(ftype);
  if (H5Tis_variable_str(ftype) > 0) {
    char *v = NULL;
    if (H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Tset_cset(mt, cset) >= 0 && read(obj, mt, &v) >= 0) {
      out = strdup(v ? v : "");
      if (!out) abort();
    }
    if (v) H5free_memory(v);
  } else {
    size_t n = H5Tget_size(ftype);
    char *buf = calloc(n + 1, 1);
    if (!buf) abort();
    if (n > 0 && H5Tset_size(mt, n + 1) >= 0 && H5Tset_cset(mt, cset) >= 0 &&
        H5Tset_strpad(mt, H5T_STR_NULLTERM) >= 0 && read(obj, mt, buf) >= 0) {
      buf[n] = '\0';
      out = buf;
    } else if (n == 0) {
      out = buf;
    } else {
      free(buf);
    }
  }
  hid_t err = sh5_err_save(out ? 0 : -1);
  H5Tclose(mt);
  sh5_err_restore(err);
  return out;
}

char *sh5_get_str_attr(hid_t obj, const char *name, bool *missing) {
  if (missing) *missing = false;
  if (H5Aexists(obj, name) <= 0) {
    if (missing) *missing = true;
    return NULL;
  }
  hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
  if (attr < 0) return NULL;
  hid_t ft = H5Aget_type(attr), sp = H5Aget_space(attr);
  char *out = NULL;
  if (ft >= 0 && sp >= 0) out = read_string(attr, ft, sp, read_attr);
  hid_t err = sh5_err_save(out ? 0 : -1);
  if (ft >= 0) H5Tclose(ft);
  if (sp >= 0) H5Sclose(sp);
  H5Aclose(attr);
  sh5_err_restore(err);
  return out;
}

int sh5_get_int_attr(hid_t obj, const char *name, long long *out) {
  if (H5Aexists(obj, name) <= 0) return -1;
  hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
  if (attr < 0) return -1;
  hid_t ft = H5Aget_type(attr), sp = H5Aget_space(attr);
  int rc = -1;
  if (ft >= 0 && sp >= 0 && H5Tget_class(ft) == H5T_INTEGER &&
      H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(attr, H5T_NATIVE_LLONG, out) >= 0)
    rc = 0;
  if (ft >= 0) H5Tclose(ft);
  if (sp >= 0) H5Sclose(sp);
  H5Aclose(attr);
  return rc;
}

int sh5_unlink_dataset(hid_t loc, const char *path) {
  if (sh5_kind(loc, path) != H5O_TYPE_DATASET) return 0;
  return H5Ldelete(loc, path, H5P_DEFAULT) < 0 ? -1 : 0;
}

int sh5_put_str_dataset(hid_t loc, const char *path, const char *value) {
  if (sh5_unlink_dataset(loc, path) < 0) return -1;
  hid_t t = sh5_str_type(), space = H5Screate(H5S_SCALAR), lcpl = sh5_lcpl();
  int rc = -1;
  if (t >= 0 && space >= 0 && lcpl >= 0) {
    hid_t d = H5Dcreate2(loc, path, t, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    const char *v = value ? value : "";
    rc = d < 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0 ? -1 : 0;
    hid_t err = sh5_err_save(rc);
    if (d >= 0 && H5Dclose(d) < 0 && rc == 0) rc = -1, err = sh5_err_save(rc);
    sh5_err_restore(err);
  }
  hid_t err = sh5_err_save(rc);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (space >= 0) H5Sclose(space);
  if (t >= 0) H5Tclose(t);
  sh5_err_restore(err);
  return rc;
}

char *sh5_get_str_dataset(hid_t loc, const char *path) {
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0) return NULL;
  hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
  char *out = NULL;
  if (ft >= 0 && sp >= 0) out = read_string(d, ft, sp, read_dset);
  hid_t err = sh5_err_save(out ? 0 : -1);
  if (ft >= 0) H5Tclose(ft);
  if (sp >= 0) H5Sclose(sp);
  H5Dclose(d);
  sh5_err_restore(err);
  return out;
}

int sh5_prepare_slot(hid_t file, const char *file_path, const char *group, const char *what,
                     const char *name, bool replace, char **full, herr *e) {
  *full = NULL;
  if (!sh5_valid_name(name))
    return herr_set(e,
                    "invalid %s name '%s' in %s (expected [A-Za-z0-9_.-]+ segments separated "
                    "by '/', at most %d characters)",
                    what, name ? name : "(null)", file_path, SH5_NAME_MAX);
  size_t n = strlen(group) + strlen(name) + 2;
  char *path = malloc(n);
  if (!path) abort();
  snprintf(path, n, "%s/%s", group, name);
  if (sh5_check_parents(file, path, what, name, file_path, e) < 0) {
    free(path);
    return -1;
  }
  H5O_type_t k = sh5_kind(file, path);
  int rc = 0;
  if (k == H5O_TYPE_GROUP)
    rc = herr_set(e, "%s '%s' in %s: /%s is a group", what, name, file_path, path);
  else if (k != H5O_TYPE_UNKNOWN && !replace)
    rc = herr_set(e, "%s '%s' already exists in %s", what, name, file_path);
  else if (k != H5O_TYPE_UNKNOWN && H5Ldelete(file, path, H5P_DEFAULT) < 0)
    rc = sh5_fail(e, "replacing /%s in %s", path, file_path);
  if (rc < 0) {
    free(path);
    return -1;
  }
  *full = path;
  return 0;
}
