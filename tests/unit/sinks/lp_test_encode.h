/* SPDX-License-Identifier: Apache-2.0 */
/* lp_test_encode.h - one batch through a fresh encoder, for the sinks' unit tests (defined in
 * test_lineproto.c). */
#ifndef KP_TEST_LP_TEST_ENCODE_H
#define KP_TEST_LP_TEST_ENCODE_H

#include <stddef.h>

#include "lineproto.h"

/* b encoded with o, NUL-terminated and owned by the caller; fails the test when the encoder
 * does. *r (when not NULL) gets the encoder's counts, *len (when not NULL) the text's length. */
char *lp_test_encode(const struct lp_options *o, const struct kp_batch *b, struct lp_result *r,
                     size_t *len);

#endif
