/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quantity.c - resource.Quantity parsing. The value is kept exact as an
 * integer mantissa, a power of ten and a power of two, then scaled and
 * rounded up once, so "0.1" CPU is exactly 100 millicores and "1Ki" bytes
 * exactly 1024.
 */
#include "quantity.h"

#include <string.h>

#define QTY_MAX_DIGITS 30 /* more significant digits than int64 can hold anyway */

struct qty_suffix {
    const char *s;
    int pow10, pow2;
};

static const struct qty_suffix qty_suffixes[] = {
    {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"", 0, 0},    {"k", 3, 0},   {"M", 6, 0},
    {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
};

static int qty_suffix_parse(const char *s, int *pow10, int *pow2)
{
    if (*s == 'e' || *s == 'E') {
        const char *p = s + 1;
        int neg = 0, exp = 0, nd = 0;
        if (*p == '+' || *p == '-')
            neg = *p++ == '-';
        for (; *p >= '0' && *p <= '9'; p++, nd++) {
            if (exp > 1000)
                return -1;
            exp = exp * 10 + (*p - '0');
        }
        if (!nd || *p)
            return -1;
        *pow10 = neg ? -exp : exp;
        *pow2 = 0;
        return 0;
    }
    for (size_t i = 0; i < sizeof(qty_suffixes) / sizeof(qty_suffixes[0]); i++) {
        if (strcmp(s, qty_suffixes[i].s) == 0) {
            *pow10 = qty_suffixes[i].pow10;
            *pow2 = qty_suffixes[i].pow2;
            return 0;
        }
    }
    return -1;
}

int quantity_parse(const char *s, int scale_pow10, int64_t *out)
{
    typedef unsigned __int128 u128;
    u128 mant = 0;
    int pow10 = scale_pow10, pow2 = 0, ndigits = 0, sig = 0, seen_dot = 0;
    const char *p = s;

    if (!s)
        return -1;
    if (*p == '+')
        p++;
    else if (*p == '-') {
        /* "-0" is still zero; any other negative is not a capacity */
        p++;
    }
    for (;; p++) {
        if (*p == '.' && !seen_dot) {
            seen_dot = 1;
        } else if (*p >= '0' && *p <= '9') {
            ndigits++;
            if (sig < QTY_MAX_DIGITS) {
                if (mant || *p != '0')
                    sig++;
                mant = mant * 10 + (u128)(*p - '0');
                if (seen_dot)
                    pow10--;
            } else if (!seen_dot) {
                pow10++; /* dropped integer digit: keep the magnitude */
            } else if (*p != '0') {
                mant++; /* dropped fraction digit: round up, as Quantity does */
            }
        } else {
            break;
        }
    }
    if (!ndigits)
        return -1;
    int sp10, sp2;
    if (qty_suffix_parse(p, &sp10, &sp2) < 0)
        return -1;
    if (s[0] == '-' && mant != 0)
        return -1;
    pow10 += sp10;
    pow2 += sp2;
    if (mant == 0) {
        *out = 0;
        return 0;
    }
    const u128 limit = (u128)INT64_MAX;
    for (; pow2 > 0; pow2--) {
        mant <<= 1;
        if (mant > limit)
            return -1;
    }
    for (; pow10 > 0; pow10--) {
        mant *= 10;
        if (mant > limit)
            return -1;
    }
    for (; pow10 < 0; pow10++) {
        u128 q = mant / 10;
        mant = q + (mant % 10 != 0); /* ceil */
        if (mant <= 1 && pow10 < -1) {
            mant = 1; /* any positive remainder rounds up to one unit */
            break;
        }
    }
    if (mant > limit)
        return -1;
    *out = (int64_t)mant;
    return 0;
}
