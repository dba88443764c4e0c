/* report_gnuplot: runs gnuplot on the report's figure scripts as a child process (fork/exec of
 * the program itself, never a shell, so no path or title is ever interpreted), in the figures
 * folder so that every script refers to its files by plain relative names. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analysis/report/report_doc.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static const char install_hint[] =
    "install gnuplot (Debian/Ubuntu: apt-get install gnuplot-nox; scripts/setup does it), or pass --no-figures";

char *rp_gnuplot_find(const char *given, herr *e) {
  if (given && strchr(given, '/')) {
    if (access(given, X_OK) == 0) return strdup(given);
    herr_errno(e, "gnuplot '%s' cannot be run (%s)", given, install_hint);
    return NULL;
  }
  const char *name = given && *given ? given : "gnuplot";
  const char *path = getenv("PATH");
  char *copy = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
  if (!copy) abort();
  for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    char *cand = fs_join(*dir ? dir : ".", name);
    if (access(cand, X_OK) == 0 && !fs_is_dir(cand)) {
      free(copy);
      return cand;
    }
    free(cand);
  }
  free(copy);
  herr_set(e, "%s not found on PATH: the figures are drawn with gnuplot; %s", name, install_hint);
  return NULL;
}

void rp_gp_quote(strbuf *sb, const char *s) {
  sb_append_char(sb, '\'');
  for (; s && *s; s++) {
    if ((unsigned char)*s < 0x20) continue; /* a newline would end the command */
    if (*s == '\'') sb_append_char(sb, '\'');
    sb_append_char(sb, *s);
  }
  sb_append_char(sb, '\'');
}

/* The last lines of the log, for the error message. */
static void log_tail(const char *log, char *out, size_t n) {
  char *text = fs_read_file(log, NULL, NULL);
  out[0] = 0;
  if (!text) return;
  size_t len = strlen(text);
  const char *from = len > n - 1 ? text + len - (n - 1) : text;
  snprintf(out, n, "%s", from);
  free(text);
}

int rp_gnuplot_run(const char *gnuplot, const char *dir, char *const *scripts, size_t n, herr *e) {
  if (!n) return 0;
  char *log = fs_join(dir, "gnuplot.log");
  char **argv = calloc(n + 2, sizeof *argv);
  if (!argv) abort();
  argv[0] = (char *)gnuplot;
  for (size_t i = 0; i < n; i++) argv[i + 1] = scripts[i];
  int rc = 0;
  pid_t pid = fork();
  if (pid < 0) {
    rc = herr_errno(e, "starting %s", gnuplot);
  } else if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY);
    if (fd < 0 || null < 0 || chdir(dir) || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
    execv(gnuplot, argv);
    dprintf(2, "cannot run %s: %s\n", gnuplot, strerror(errno));
    _exit(127);
  } else {
    int status;
    while (waitpid(pid, &status, 0) < 0)
      if (errno != EINTR) {
        rc = herr_errno(e, "waiting for %s", gnuplot);
        break;
      }
    if (!rc && (!WIFEXITED(status) || WEXITSTATUS(status))) {
      char tail[2048];
      log_tail(log, tail, sizeof tail);
      rc = herr_set(e, "gnuplot failed (%s %d) drawing the figures in %s:\n%s", WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), dir, tail);
    }
  }
  free(argv);
  free(log);
  return rc;
}
