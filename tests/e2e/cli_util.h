/* Helpers for end-to-end tests that drive the real `harness` program: run it with captured
 * output, write config files, list stage directories. */
#ifndef MDH_E2E_CLI_UTIL_H
#define MDH_E2E_CLI_UTIL_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/util/fsutil.h"

typedef struct cli_result {
  int status; /* exit code, or 128 + signal */
  char *out;
  char *err;
} cli_result;

static inline void cli_result_free(cli_result *r) {
  free(r->out);
  free(r->err);
}

/* Starts harness with args (NULL-terminated) in cwd, stdout/stderr into files under dir. */
static inline pid_t cli_spawn(const char *cwd, const char *out_path, const char *err_path, char *const *args) {
  pid_t pid = fork();
  if (pid == 0) {
    if (cwd && chdir(cwd) != 0) _exit(126);
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (o < 0 || e < 0) _exit(126);
    dup2(o, 1);
    dup2(e, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    int n = 0;
    while (args[n]) n++;
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    argv[0] = (char *)MDH_HARNESS_BIN;
    for (int i = 0; i < n; i++) argv[i + 1] = args[i];
    execv(MDH_HARNESS_BIN, argv);
    _exit(127);
  }
  return pid;
}

static inline int cli_wait(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs harness to completion in `dir` and captures its output. The capture files live in a
 * temporary directory of their own: `dir` may be the source tree, which a test must not write. */
static inline cli_result cli_run(const char *dir, char *const *args) {
  char cap[] = "/tmp/mdh-cli-out-XXXXXX";
  cli_result r = {.status = -1};
  if (!mkdtemp(cap)) return r;
  char *out = fs_join(cap, "stdout"), *err = fs_join(cap, "stderr");
  r.status = cli_wait(cli_spawn(dir, out, err, args));
  r.out = fs_read_file(out, NULL, NULL);
  r.err = fs_read_file(err, NULL, NULL);
  fs_remove_tree(cap, NULL);
  free(out);
  free(err);
  return r;
}

static inline void write_text(const char *dir, const char *name, const char *text) {
  char *p = fs_join(dir, name);
  FILE *f = fopen(p, "w");
  fputs(text, f);
  fclose(f);
  free(p);
}

static inline char *make_tmp_dir(void) {
  char tmpl[] = "/tmp/mdh-e2e-XXXXXX";
  if (!mkdtemp(tmpl)) abort();
  return strdup(tmpl);
}

#endif
