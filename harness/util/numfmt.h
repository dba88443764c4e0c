/* Number text that reads back exactly: the shortest "%.Ng" that strtod returns to the same
 * double, whole numbers in full ("10", not "1e+01"). Used for canonical config text and for
 * JSON output that scripts must be able to round-trip. */
#ifndef MDH_NUMFMT_H
#define MDH_NUMFMT_H

#include <stddef.h>

const char *fmt_double(double v, char *buf, size_t size);

#endif
