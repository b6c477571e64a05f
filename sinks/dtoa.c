/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dtoa.c - owns number-to-text conversion for the line-protocol encoder.
 *
 * Doubles use Florian Loitsch's Grisu2 ("Printing Floating-Point Numbers
 * Quickly and Accurately with Integers", PLDI 2010): the value and its
 * rounding boundaries are scaled by a cached power of ten in 64-bit
 * fixed point, then digits are generated until they fall strictly inside the
 * boundaries shrunk by one unit. Every output therefore reads back to the
 * input double; a few outputs are a digit longer than the shortest. That is
 * the trade we want: snprintf("%.17g") is correct but ~10x slower and longer.
 * The cached powers are exact values produced by tools/gen_pow10.py.
 */
#include "dtoa.h"

#include <string.h>

#include "dtoa_pow10.inc"

struct diyfp {
    uint64_t f;
    int e;
};

#define DP_HIDDEN_BIT (UINT64_C(1) << 52)
#define DP_SIG_MASK   (DP_HIDDEN_BIT - 1)

static struct diyfp diy_normalize(struct diyfp v)
{
    int s = __builtin_clzll(v.f);
    v.f <<= s;
    v.e -= s;
    return v;
}

/* Product rounded to the upper 64 bits. */
static struct diyfp diy_mul(struct diyfp a, struct diyfp b)
{
    unsigned __int128 p = (unsigned __int128)a.f * b.f;
    uint64_t h = (uint64_t)(p >> 64);
    uint64_t l = (uint64_t)p;
    if (l & (UINT64_C(1) << 63))
        h++;
    return (struct diyfp){h, a.e + b.e + 64};
}

static struct diyfp diy_from_double(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    int biased = (int)((u >> 52) & 0x7FF);
    uint64_t sig = u & DP_SIG_MASK;
    if (biased)
        return (struct diyfp){sig | DP_HIDDEN_BIT, biased - 1075};
    return (struct diyfp){sig, -1074};
}

/* m- and m+, the halfway points to the neighbouring doubles, with m+ normalised. */
static void diy_boundaries(struct diyfp v, struct diyfp *minus, struct diyfp *plus)
{
    struct diyfp pl = diy_normalize((struct diyfp){(v.f << 1) + 1, v.e - 1});
    struct diyfp mi = v.f == DP_HIDDEN_BIT ? (struct diyfp){(v.f << 2) - 1, v.e - 2}
                                           : (struct diyfp){(v.f << 1) - 1, v.e - 1};
    mi.f <<= mi.e - pl.e;
    mi.e = pl.e;
    *minus = mi;
    *plus = pl;
}

/* A cached power c = 10^-K such that c * 2^e lands the product's exponent in [-60, -32]. */
static struct diyfp cached_power(int e, int *K)
{
    double dk = (-61 - e) * 0.30102999566398114 + 347;
    int k = (int)dk;
    if (dk - k > 0.0)
        k++;
    unsigned index = (unsigned)((k >> 3) + 1);
    *K = -(-348 + (int)(index << 3));
    return (struct diyfp){DTOA_POW10_F[index], DTOA_POW10_E[index]};
}

static const uint64_t POW10_U64[] = {UINT64_C(1),
                                     UINT64_C(10),
                                     UINT64_C(100),
                                     UINT64_C(1000),
                                     UINT64_C(10000),
                                     UINT64_C(100000),
                                     UINT64_C(1000000),
                                     UINT64_C(10000000),
                                     UINT64_C(100000000),
                                     UINT64_C(1000000000),
                                     UINT64_C(10000000000),
                                     UINT64_C(100000000000),
                                     UINT64_C(1000000000000),
                                     UINT64_C(10000000000000),
                                     UINT64_C(100000000000000),
                                     UINT64_C(1000000000000000),
                                     UINT64_C(10000000000000000),
                                     UINT64_C(100000000000000000),
                                     UINT64_C(1000000000000000000),
                                     UINT64_C(10000000000000000000)};

/* Move the last digit towards w while it stays inside the safe interval. */
static void grisu_round(char *buf, int len, uint64_t delta, uint64_t rest, uint64_t ten_kappa,
                        uint64_t wp_w)
{
    while (rest < wp_w && delta - rest >= ten_kappa &&
           (rest + ten_kappa < wp_w || wp_w - rest > rest + ten_kappa - wp_w)) {
        buf[len - 1]--;
        rest += ten_kappa;
    }
}

static int count_digits32(uint32_t n)
{
    int d = 1;
    while (d < 10 && n >= POW10_U64[d])
        d++;
    return d;
}

static void digit_gen(struct diyfp w, struct diyfp mp, uint64_t delta, char *buf, int *len, int *K)
{
    struct diyfp one = {UINT64_C(1) << -mp.e, mp.e};
    uint64_t wp_w = mp.f - w.f;
    uint32_t p1 = (uint32_t)(mp.f >> -one.e);
    uint64_t p2 = mp.f & (one.f - 1);
    int kappa = count_digits32(p1);
    *len = 0;
    while (kappa > 0) {
        uint32_t div = (uint32_t)POW10_U64[kappa - 1];
        uint32_t d = p1 / div;
        p1 %= div;
        if (d || *len)
            buf[(*len)++] = (char)('0' + d);
        kappa--;
        uint64_t tmp = ((uint64_t)p1 << -one.e) + p2;
        if (tmp <= delta) {
            *K += kappa;
            grisu_round(buf, *len, delta, tmp, POW10_U64[kappa] << -one.e, wp_w);
            return;
        }
    }
    for (;;) {
        p2 *= 10;
        delta *= 10;
        char d = (char)(p2 >> -one.e);
        if (d || *len)
            buf[(*len)++] = (char)('0' + d);
        p2 &= one.f - 1;
        kappa--;
        if (p2 < delta) {
            *K += kappa;
            int index = -kappa;
            grisu_round(buf, *len, delta, p2, one.f, wp_w * (index < 20 ? POW10_U64[index] : 0));
            return;
        }
    }
}

/* Digits of v > 0 into buf (no sign, no point); value = digits * 10^K. */
static int grisu2(double v, char *buf, int *K)
{
    struct diyfp dv = diy_from_double(v);
    struct diyfp mminus, mplus;
    diy_boundaries(dv, &mminus, &mplus);
    struct diyfp c = cached_power(mplus.e, K);
    struct diyfp w = diy_mul(diy_normalize(dv), c);
    struct diyfp wp = diy_mul(mplus, c);
    struct diyfp wm = diy_mul(mminus, c);
    wm.f++;
    wp.f--;
    int len;
    digit_gen(w, wp, wp.f - wm.f, buf, &len, K);
    return len;
}

static size_t write_exp(char *p, int e)
{
    char *s = p;
    *p++ = 'e';
    if (e < 0) {
        *p++ = '-';
        e = -e;
    } else {
        *p++ = '+';
    }
    if (e >= 100) {
        *p++ = (char)('0' + e / 100);
        e %= 100;
        *p++ = (char)('0' + e / 10);
    } else if (e >= 10) {
        *p++ = (char)('0' + e / 10);
    }
    *p++ = (char)('0' + e % 10);
    return (size_t)(p - s);
}

/* Lay out len digits with value digits * 10^k as plain or exponent notation. */
static size_t prettify(char *buf, int len, int k)
{
    int kk = len + k; /* 10^(kk-1) <= v < 10^kk */
    if (k >= 0 && kk <= 21) {
        memset(buf + len, '0', (size_t)k);
        return (size_t)kk;
    }
    if (kk > 0 && kk <= 21) {
        memmove(buf + kk + 1, buf + kk, (size_t)(len - kk));
        buf[kk] = '.';
        return (size_t)len + 1;
    }
    if (kk > -6 && kk <= 0) {
        int off = 2 - kk;
        memmove(buf + off, buf, (size_t)len);
        buf[0] = '0';
        buf[1] = '.';
        memset(buf + 2, '0', (size_t)(-kk));
        return (size_t)(len + off);
    }
    if (len == 1)
        return 1 + write_exp(buf + 1, kk - 1);
    memmove(buf + 2, buf + 1, (size_t)(len - 1));
    buf[1] = '.';
    return (size_t)len + 1 + write_exp(buf + len + 1, kk - 1);
}

size_t dtoa_format_double(char *buf, double v)
{
    char *p = buf;
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    if (u >> 63) {
        *p++ = '-';
        v = -v;
    }
    if (v == 0.0) {
        *p++ = '0';
        return (size_t)(p - buf);
    }
    int K;
    int len = grisu2(v, p, &K);
    return (size_t)(p - buf) + prettify(p, len, K);
}

static const char DIGITS2[201] = "00010203040506070809"
                                 "10111213141516171819"
                                 "20212223242526272829"
                                 "30313233343536373839"
                                 "40414243444546474849"
                                 "50515253545556575859"
                                 "60616263646566676869"
                                 "70717273747576777879"
                                 "80818283848586878889"
                                 "90919293949596979899";

/* Decimal digits of u (1 for 0). */
static inline unsigned u64_digits(uint64_t u)
{
    unsigned n = 1;
    for (;;) {
        if (u < 10)
            return n;
        if (u < 100)
            return n + 1;
        if (u < 1000)
            return n + 2;
        if (u < 10000)
            return n + 3;
        u /= 10000;
        n += 4;
    }
}

/* Written straight into buf from its last digit back, two digits a step. */
size_t dtoa_format_i64(char *buf, int64_t v)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t sign = v < 0;
    size_t n = sign + u64_digits(u);
    char *p = buf + n;
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        p -= 2;
        memcpy(p, DIGITS2 + 2 * r, 2);
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, DIGITS2 + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (sign)
        buf[0] = '-';
    return n;
}
