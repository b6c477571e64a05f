/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lp_strict_parse.h - a strict InfluxDB line-protocol parser for the tests (unit and fuzz):
 * it unescapes exactly as InfluxDB 1.x does and rejects anything kubepulse must never emit
 * (empty tag values, raw CR/LF, malformed numbers, floats that do not read back exactly).
 */
#ifndef KP_TEST_LP_STRICT_PARSE_H
#define KP_TEST_LP_STRICT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define LPS_MAX_TAGS   40
#define LPS_MAX_FIELDS 64

enum lps_type { LPS_INT, LPS_FLOAT, LPS_STRING };

struct lps_field {
    char *key; /* owned */
    enum lps_type type;
    int64_t i;
    double f;
    char *s; /* owned, LPS_STRING */
};

struct lps_line {
    char *measurement; /* owned */
    struct {
        char *key, *value; /* owned */
    } tags[LPS_MAX_TAGS];
    int ntags;
    struct lps_field fields[LPS_MAX_FIELDS];
    int nfields;
    int64_t ts;
};

/* Parse one line (n bytes, without its '\n'). 0, or -1 with err filled. */
int lps_parse_line(const char *s, size_t n, struct lps_line *out, char *err, size_t errlen);
void lps_line_fini(struct lps_line *l);
/* What the parser reads back for a tag key or value s that the encoder wrote: its documented
 * rewrites applied (CR and LF as \r and \n, a trailing backslash as U+FF3C). out needs room
 * for 3 * strlen(s) + 1 bytes. */
void lps_expected(const char *s, char *out);

#endif
