/* stage_dir: file-level state of one stage (paths, state, spec, lock, failure record). */
#include "harness/runner/stage_dir.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/runner/plan.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

const char *stage_state_name(stage_state s) {
  switch (s) {
    case STAGE_PENDING: return "pending";
    case STAGE_RUNNING: return "running";
    case STAGE_COMPLETE: return "complete";
    case STAGE_FAILED: return "failed";
    case STAGE_BLOCKED: return "blocked";
  }
  return "?";
}

const char *utc_timestamp(char buf[32]) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

char *stage_dir_path(const char *results_dir, const char *id) {
  strbuf sb = STRBUF_INIT;
  sb_appendf(&sb, "%s/stages/%s", results_dir, id);
  return sb_take(&sb);
}

char *stage_file_path(const char *results_dir, const char *id, const char *name) {
  strbuf sb = STRBUF_INIT;
  sb_appendf(&sb, "%s/stages/%s/%s", results_dir, id, name);
  return sb_take(&sb);
}

bool stage_dir_complete(const char *results_dir, const char *id) {
  char *p = stage_file_path(results_dir, id, "stage.h5");
  bool ok = fs_exists(p);
  free(p);
  return ok;
}

stage_state stage_dir_state(const char *results_dir, const char *id) {
  if (stage_dir_complete(results_dir, id)) return STAGE_COMPLETE;
  /* Test the lock without taking it or creating anything: looking must not disturb a run. */
  char *lock = stage_file_path(results_dir, id, "lock");
  bool held = fs_lock_held(lock);
  free(lock);
  if (held) return STAGE_RUNNING;
  char *p = stage_file_path(results_dir, id, "failed.json");
  bool failed = fs_exists(p);
  free(p);
  return failed ? STAGE_FAILED : STAGE_PENDING;
}

int stage_dir_write_spec(const char *results_dir, const char *id, const cfg_node *spec, herr *e) {
  char *dir = stage_dir_path(results_dir, id);
  char *path = stage_file_path(results_dir, id, "spec.yaml");
  char *yaml = cfg_to_yaml(spec);
  int rc = fs_mkdir_p(dir, e);
  if (rc == 0) {
    char *old = fs_exists(path) ? fs_read_file(path, NULL, NULL) : NULL;
    if (!old)
      rc = fs_write_atomic(path, yaml, strlen(yaml), e);
    else if (strcmp(old, yaml) != 0) {
      /* Only the runtime part may change between runs; anything else means the file was
       * edited or the hash collided, and the results there belong to another spec. */
      cfg_node *prev = cfg_parse_string(old, path, NULL);
      char prev_id[PLAN_ID_MAX] = "";
      const cfg_node *kind = prev ? cfg_map_get(prev, "kind") : NULL;
      if (kind && kind->kind == CFG_SCALAR) plan_identity(prev, kind->str, prev_id, NULL);
      cfg_free(prev);
      if (!strcmp(prev_id, id))
        rc = fs_write_atomic(path, yaml, strlen(yaml), e);
      else
        rc = herr_set(e, "%s differs from the spec planned for stage %s (edited by hand? remove the stage directory)",
                      path, id);
    }
    free(old);
  }
  free(yaml);
  free(path);
  free(dir);
  return rc;
}

cfg_node *stage_dir_read_spec(const char *results_dir, const char *id, herr *e) {
  char *path = stage_file_path(results_dir, id, "spec.yaml");
  cfg_node *spec = cfg_parse_file(path, e);
  if (spec) {
    const cfg_node *kind = cfg_map_get(spec, "kind");
    char again[PLAN_ID_MAX];
    if (!kind || kind->kind != CFG_SCALAR) {
      herr_set(e, "%s: no 'kind' in the stage spec", path);
      cfg_free(spec);
      spec = NULL;
    } else {
      plan_identity(spec, kind->str, again, NULL);
      if (strcmp(again, id) != 0) {
        herr_set(e, "%s does not hash to %s (it hashes to %s): the spec was changed after planning", path, id, again);
        cfg_free(spec);
        spec = NULL;
      }
    }
  }
  free(path);
  return spec;
}

static char *lock_path(const char *results_dir, const char *id, herr *e) {
  char *dir = stage_dir_path(results_dir, id);
  int rc = fs_mkdir_p(dir, e);
  free(dir);
  return rc ? NULL : stage_file_path(results_dir, id, "lock");
}

int stage_lock_try(const char *results_dir, const char *id, int *fd, herr *e) {
  *fd = -1;
  char *path = lock_path(results_dir, id, e);
  int rc = path ? fs_lock(path, false, NULL, fd, e) : -1;
  free(path);
  return rc;
}

int stage_lock_wait(const char *results_dir, const char *id, volatile sig_atomic_t *stop, int *fd, herr *e) {
  *fd = -1;
  char *path = lock_path(results_dir, id, e);
  int rc = path ? fs_lock(path, true, stop, fd, e) : -1;
  free(path);
  return rc;
}

void stage_lock_release(int fd) {
  if (fd >= 0) close(fd); /* closing the descriptor drops its lock */
}

int stage_dir_record_failure(const char *results_dir, const char *id, const char *message, herr *e) {
  char ts[32], host[256] = "";
  gethostname(host, sizeof host - 1);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", message);
  cJSON_AddStringToObject(o, "time", utc_timestamp(ts));
  cJSON_AddStringToObject(o, "host", host);
  cJSON_AddNumberToObject(o, "pid", (double)getpid());
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  char *path = stage_file_path(results_dir, id, "failed.json");
  int rc = fs_write_atomic(path, text, strlen(text), e);
  free(path);
  free(text);
  return rc;
}

char *stage_dir_failure(const char *results_dir, const char *id) {
  char *path = stage_file_path(results_dir, id, "failed.json");
  char *text = fs_exists(path) ? fs_read_file(path, NULL, NULL) : NULL;
  free(path);
  if (!text) return NULL;
  cJSON *o = cJSON_Parse(text);
  free(text);
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
  char *msg = cJSON_IsString(err) ? strdup(err->valuestring) : strdup("(unreadable failure record)");
  cJSON_Delete(o);
  return msg;
}

void run_event(const char *results_dir, const char *event, const char *id, const char *detail) {
  char ts[32], host[256] = "";
  gethostname(host, sizeof host - 1);
  strbuf line = STRBUF_INIT;
  sb_appendf(&line, "%s %s %ld %s %s", utc_timestamp(ts), host, (long)getpid(), event, id);
  if (detail && *detail) {
    sb_append_char(&line, ' ');
    for (const char *c = detail; *c; c++) sb_append_char(&line, *c == '\n' ? ' ' : *c);
  }
  sb_append_char(&line, '\n');
  char *path = fs_join(results_dir, "events.log");
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd >= 0) {
    ssize_t w = write(fd, line.data, line.len);
    (void)w;
    close(fd);
  }
  free(path);
  sb_free(&line);
}
