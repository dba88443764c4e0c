/* pickle_lite: a restricted unpickler for torch.save's data.pkl that builds plain values and
 * never calls anything — only an explicit whitelist of globals is accepted and each is
 * interpreted here (OrderedDict, torch's tensor/parameter rebuilders, float storage types) —
 * plus a small protocol-2 pickle writer for the same subset. */
#ifndef MDH_FORMATS_PICKLE_LITE_H
#define MDH_FORMATS_PICKLE_LITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/formats/safetensors.h"
#include "harness/util/herr.h"
#include "harness/util/strbuf.h"

/* Limits against hostile input (sizes are additionally checked against the bytes left). */
#define PK_MAX_STACK 65536     /* values on the stack */
#define PK_MAX_MARKS 4096      /* open MARKs */
#define PK_MAX_MEMO 1048576    /* highest memo index + 1 */
#define PK_MAX_CONTAINER 65536 /* entries of one list/tuple/dict */
#define PK_MAX_DIMS 8

typedef enum pk_kind {
  PK_NONE,
  PK_BOOL,
  PK_INT,
  PK_FLOAT,
  PK_STR,
  PK_BYTES,
  PK_TUPLE,
  PK_LIST,
  PK_DICT,
  PK_GLOBAL,  /* a whitelisted callable or class, only meaningful as REDUCE's target */
  PK_STORAGE, /* a persistent id ('storage', type, key, location, numel) */
  PK_TENSOR   /* the result of torch._utils._rebuild_tensor_v2 / _rebuild_parameter */
} pk_kind;

typedef enum pk_global_id {
  PK_G_ORDERED_DICT,
  PK_G_REBUILD_TENSOR_V2,
  PK_G_REBUILD_PARAMETER,
  PK_G_REBUILD_PARAMETER_WITH_STATE,
  PK_G_STORAGE_TYPE
} pk_global_id;

typedef struct pk_value pk_value;
struct pk_value {
  pk_kind kind;
  union {
    bool b;
    int64_t i;
    double f;
    struct {
      char *s;
      size_t len;
    } str; /* PK_STR (UTF-8, no NUL) / PK_BYTES */
    struct {
      pk_value **items;
      size_t n, cap;
    } seq; /* PK_TUPLE / PK_LIST */
    struct {
      pk_value **keys, **vals;
      size_t n, cap;
      bool ordered;
    } dict;
    struct {
      pk_global_id id;
      st_dtype dtype;
      const char *name;
    } global; /* dtype for storage types */
    struct {
      st_dtype dtype;
      char *key;
      char *location;
      int64_t numel;
    } storage;
    struct {
      const pk_value *storage; /* PK_STORAGE */
      int64_t offset;          /* in elements */
      int ndim;
      int64_t size[PK_MAX_DIMS], stride[PK_MAX_DIMS];
      bool requires_grad, is_parameter;
    } tensor;
  } u;
};

/* Everything one load produced; all values are freed together with pk_doc_free. */
typedef struct pk_doc pk_doc;

/* Parses `len` bytes of pickle (protocols 2-5, the binary opcodes torch.save emits). `label`
 * names the data in messages ("x.pt: archive/data.pkl"). Errors name the label, the byte
 * offset and the problem: "x.pt: archive/data.pkl: byte 70: global 'os.system' is not allowed". */
pk_doc *pk_load(const uint8_t *data, size_t len, const char *label, herr *e);
void pk_doc_free(pk_doc *d);
const pk_value *pk_root(const pk_doc *d);

/* A dict's value under a string key (NULL when absent or `d` is not a dict). */
const pk_value *pk_dict_get(const pk_value *d, const char *key);
const char *pk_kind_name(pk_kind k);
/* Tensor element count (product of sizes); -1 when it overflows. */
int64_t pk_tensor_numel(const pk_value *t);

/* ---- protocol-2 writer: appends opcodes to a byte buffer ---- */
typedef struct pk_writer {
  strbuf out;
  uint32_t next_memo;
} pk_writer;

void pkw_begin(pk_writer *w);   /* PROTO 2 */
void pkw_end(pk_writer *w);     /* STOP */
void pkw_memoize(pk_writer *w); /* BINPUT / LONG_BINPUT of the top value, as Python does */
void pkw_mark(pk_writer *w);
void pkw_empty_dict(pk_writer *w);
void pkw_empty_tuple(pk_writer *w);
void pkw_setitem(pk_writer *w);
void pkw_setitems(pk_writer *w);
void pkw_tuple(pk_writer *w); /* from the last MARK */
void pkw_tuple2(pk_writer *w);
void pkw_str(pk_writer *w, const char *s);
void pkw_int(pk_writer *w, int64_t v);
void pkw_none(pk_writer *w);
void pkw_bool(pk_writer *w, bool v);
void pkw_global(pk_writer *w, const char *module, const char *name);
void pkw_reduce(pk_writer *w);
void pkw_binpersid(pk_writer *w);

#endif
