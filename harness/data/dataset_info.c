/* dataset_info: DIR/dataset.json, which says what made a dataset (its kind and parameters). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/dataset.h"
#include "harness/formats/json_file.h"
#include "harness/util/fsutil.h"

#define DS_INFO_MAX_BYTES (16u << 20)

int ds_write_info(const char *dir, const char *kind, const char *params_json, herr *e) {
  if (!kind || !kind[0]) return herr_set(e, "%s/dataset.json: no dataset kind given", dir);
  cJSON *params = cJSON_Parse(params_json && params_json[0] ? params_json : "{}");
  if (!params || !cJSON_IsObject(params)) {
    cJSON_Delete(params);
    return herr_set(e, "%s/dataset.json: the parameters must be a JSON object, got '%.200s'", dir,
                    params_json);
  }
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "format", DS_FORMAT_NAME);
  cJSON_AddNumberToObject(root, "version", DS_FORMAT_VERSION);
  cJSON_AddStringToObject(root, "kind", kind);
  cJSON_AddItemToObject(root, "params", params);
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) abort();
  size_t len = strlen(text);
  char *buf = malloc(len + 2);
  if (!buf) abort();
  memcpy(buf, text, len);
  buf[len] = '\n';
  buf[len + 1] = '\0';
  free(text);
  char *path = fs_join(dir, "dataset.json");
  int rc = fs_mkdir_p(dir, e);
  if (!rc) rc = fs_write_atomic(path, buf, len + 1, e);
  free(path);
  free(buf);
  return rc;
}

int ds_read_info(const char *dir, char **kind, char **params_json, herr *e) {
  if (kind) *kind = NULL;
  if (params_json) *params_json = NULL;
  char *path = fs_join(dir, "dataset.json");
  cJSON *root = jf_read(path, DS_INFO_MAX_BYTES, e);
  int rc = root ? 0 : -1;
  const char *format = NULL, *k = NULL;
  long long version = 0;
  const cJSON *params = NULL;
  if (!rc) rc = jf_get_string(root, path, "format", true, NULL, &format, e);
  if (!rc && strcmp(format, DS_FORMAT_NAME))
    rc = herr_set(e, "%s: key 'format' must be '%s', got '%s'", path, DS_FORMAT_NAME, format);
  if (!rc) rc = jf_get_int(root, path, "version", true, 0, DS_FORMAT_VERSION, DS_FORMAT_VERSION, &version, e);
  if (!rc) rc = jf_get_string(root, path, "kind", true, NULL, &k, e);
  if (!rc) rc = jf_get_object(root, path, "params", false, &params, e);
  if (!rc && kind) {
    *kind = strdup(k);
    if (!*kind) abort();
  }
  if (!rc && params_json) {
    *params_json = params ? cJSON_PrintUnformatted(params) : strdup("{}");
    if (!*params_json) abort();
  }
  cJSON_Delete(root);
  free(path);
  return rc;
}
