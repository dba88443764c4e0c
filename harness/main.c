/* harness: the command-line entry point; dispatches to the subcommands in harness/cli/. */
#include <stdio.h>
#include <string.h>

#include "harness/cli/cli.h"
#include "harness/runner/stage.h"
#include "version.h"

static const char usage[] =
    "usage: harness COMMAND [ARGS]\n"
    "\n"
    "Experiment harness for medical image generation with textual inversion\n"
    "(reproduces and extends \"Medical diffusion on a budget\", arXiv 2303.13430).\n"
    "\n"
    "commands:\n"
    "  run CONFIG [KEY=VALUE ...]     run a config's sweep (resumes; shared stages run once)\n"
    "  plan CONFIG [KEY=VALUE ...]    show the points and stage graph, and what would run\n"
    "  validate CONFIG [KEY=VALUE ...] check a config without running anything\n"
    "  status RESULTS_DIR             state of every point and stage of a run\n"
    "  report RESULTS_DIR             HTML/Markdown report: tables vs the paper, figures, images\n"
    "  run-stage RESULTS_DIR STAGE_ID run one stage by its identity (for cluster jobs)\n"
    "  stats FILE.csv --label C --score C  AUC with DeLong and bootstrap intervals, paired tests\n"
    "  regress --baseline DIR --current DIR  fail (exit 1) on a significant AUC drop vs a baseline\n"
    "  baseline RESULTS_DIR --out DIR  slim copy of a results directory to regress against\n"
    "  generate --model DIR --prompt T --out DIR  text-to-image with a Stable Diffusion folder\n"
    "  embedding info|convert FILE    inspect or convert a textual-inversion embedding file\n"
    "  prepare phantom|picai ...      make a dataset (simulated phantom set, or PI-CAI slices)\n"
    "  train-embedding --model DIR --images DIR --token T --out DIR  textual inversion of one embedding\n"
    "  predict --classifier W --images DIR --out F  score PNGs with a classifier checkpoint\n"
    "  info                           versions, threads, devices and a libtorch self-test\n"
    "  stages                         the stage kinds this build knows\n"
    "  help [COMMAND]                 this text, or a command's\n"
    "\n"
    "`harness COMMAND --help` explains each command. Exit status: 0 success, 1 a stage\n"
    "failed, 2 bad usage or config, 3 other error, 130 interrupted.\n";

typedef struct command {
  const char *name;
  int (*fn)(int, char **);
} command;

static int cmd_stages(int argc, char **argv) {
  (void)argc, (void)argv;
  const stage_kind *const *kinds = stage_kinds();
  for (size_t i = 0; kinds[i]; i++)
    printf("%-12s %s (config section '%s')\n", kinds[i]->name, kinds[i]->summary,
           kinds[i]->section ? kinds[i]->section : "-");
  return EXIT_OK;
}

static const command commands[] = {
    {"run", cmd_run},       {"plan", cmd_plan},           {"validate", cmd_validate}, {"status", cmd_status},
    {"run-stage", cmd_run_stage}, {"info", cmd_info}, {"stages", cmd_stages},      {"stats", cmd_stats},  {"generate", cmd_generate}, {"embedding", cmd_embedding},
    {"prepare", cmd_prepare},
    {"train-embedding", cmd_train_embedding},
    {"predict", cmd_predict},
    {"report", cmd_report},
    {"regress", cmd_regress},
    {"baseline", cmd_baseline},
    {NULL, NULL}};

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : EXIT_OK;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    printf("harness %s (commit %s)\n", MDH_VERSION, MDH_GIT_COMMIT);
    return EXIT_OK;
  }
  if (!strcmp(argv[1], "help")) {
    if (argc < 3) {
      fputs(usage, stdout);
      return EXIT_OK;
    }
    char *help_argv[] = {argv[2], "--help", NULL};
    for (const command *c = commands; c->name; c++)
      if (!strcmp(c->name, argv[2])) return c->fn(2, help_argv);
    fprintf(stderr, "harness: no command '%s'\n", argv[2]);
    return EXIT_USAGE;
  }
  for (const command *c = commands; c->name; c++)
    if (!strcmp(c->name, argv[1])) return c->fn(argc - 1, argv + 1);
  fprintf(stderr, "harness: unknown command '%s'\n\n%s", argv[1], usage);
  return EXIT_USAGE;
}
