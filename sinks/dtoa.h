/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dtoa.h - fast number formatting for the line-protocol encoder: a double as
 * the shortest-or-nearly digits that read back to the very same double
 * (Grisu2), and a signed 64-bit integer in decimal.
 */
#ifndef KP_SINKS_DTOA_H
#define KP_SINKS_DTOA_H

#include <stddef.h>
#include <stdint.h>

/* Room every call below needs in its output buffer. */
#define DTOA_BUF_MIN 32

/*
 * Write a finite double to buf (at least DTOA_BUF_MIN bytes, not NUL-terminated); returns the
 * length. strtod() of the text gives back exactly v (round-trip guarantee of Grisu2; the
 * digits are the shortest in about 99.9% of cases). Plain notation for decimal exponents in
 * [-5, 21), otherwise "d.ddde+XX" / "d.ddde-XX". -0.0 prints as "-0". The caller must not
 * pass NaN or an infinity.
 */
size_t dtoa_format_double(char *buf, double v);

/* Decimal digits of v, with a leading '-' when negative; returns the length (<= 20). */
size_t dtoa_format_i64(char *buf, int64_t v);

#endif
