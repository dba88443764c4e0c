/* Shared entry point for cmocka test programs: `prog [CASE]` runs one case (ctest registers
 * each case separately), no argument runs them all. */
#ifndef MDH_TEST_MAIN_H
#define MDH_TEST_MAIN_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define MDH_TEST_MAIN(tests)                                          \
  int main(int argc, char **argv) {                                   \
    if (argc > 1) cmocka_set_test_filter(argv[1]);                    \
    return cmocka_run_group_tests(tests, NULL, NULL);                 \
  }
#endif
