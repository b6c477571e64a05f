/* SPDX-License-Identifier: Apache-2.0 */
/*
 * format.c - the value formats the API's objects carry: resource.Quantity's
 * canonical strings (CPU as DecimalSI nanocores, memory as BinarySI bytes),
 * metav1.Duration (Go's time.Duration.String()) and metav1.Time (RFC 3339,
 * whole seconds, UTC).
 */
#include "mapi_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* DecimalSI: the mantissa loses its trailing zeros and the exponent is rounded down to a
 * multiple of 3 with a suffix (n u m "" k M G T P E), as Quantity.String() does. */
void mapi_fmt_decimal(char out[32], uint64_t value, int scale)
{
    static const char *const sfx[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
    if (value == 0) {
        strcpy(out, "0");
        return;
    }
    while (value % 10 == 0 && scale < 18) {
        value /= 10;
        scale++;
    }
    /* round the exponent down to a multiple of 3: the mantissa grows */
    while (((scale % 3) + 3) % 3 != 0) {
        value *= 10;
        scale--;
    }
    int idx = scale / 3 + 3;
    if (idx < 0 || idx > 9) {
        snprintf(out, 32, "%" PRIu64 "e%d", value, scale);
        return;
    }
    snprintf(out, 32, "%" PRIu64 "%s", value, sfx[idx]);
}

/* BinarySI: under 1024 it is printed as DecimalSI ("1k" for 1000); else a power-of-1024
 * suffix while the value divides evenly. */
void mapi_fmt_binary(char out[32], uint64_t bytes)
{
    static const char *const sfx[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    if (bytes < 1024) {
        mapi_fmt_decimal(out, bytes, 0);
        return;
    }
    int i = 0;
    while (bytes % 1024 == 0 && i < 6) {
        bytes /= 1024;
        i++;
    }
    snprintf(out, 32, "%" PRIu64 "%s", bytes, sfx[i]);
}

/* Go's fmtFrac: digits after the point without trailing zeros. */
static size_t frac(char *buf, uint64_t v, int prec)
{
    char d[24];
    int n = 0;
    bool print = false;
    for (int i = 0; i < prec; i++) {
        int digit = (int)(v % 10);
        print = print || digit != 0;
        if (print)
            d[n++] = (char)('0' + digit);
        v /= 10;
    }
    size_t len = 0;
    if (print) {
        buf[len++] = '.';
        while (n > 0)
            buf[len++] = d[--n];
    }
    buf[len] = '\0';
    return len;
}

void mapi_fmt_duration(char out[40], int64_t ns)
{
    bool neg = ns < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    char f[24];
    const char *sign = neg ? "-" : "";
    if (u == 0) {
        strcpy(out, "0s");
        return;
    }
    if (u < 1000000000ULL) {
        const char *unit = "ns";
        int prec = 0;
        if (u >= 1000000) {
            unit = "ms";
            prec = 6;
        } else if (u >= 1000) {
            unit = "\xc2\xb5s";
            prec = 3;
        }
        uint64_t p = 1;
        for (int i = 0; i < prec; i++)
            p *= 10;
        frac(f, u % p, prec);
        snprintf(out, 40, "%s%" PRIu64 "%s%s", sign, u / p, f, unit);
        return;
    }
    frac(f, u % 1000000000ULL, 9);
    uint64_t s = u / 1000000000ULL, h = s / 3600, m = (s / 60) % 60;
    s %= 60;
    if (h)
        snprintf(out, 40, "%s%" PRIu64 "h%" PRIu64 "m%" PRIu64 "%ss", sign, h, m, s, f);
    else if (m)
        snprintf(out, 40, "%s%" PRIu64 "m%" PRIu64 "%ss", sign, m, s, f);
    else
        snprintf(out, 40, "%s%" PRIu64 "%ss", sign, s, f);
}

void mapi_fmt_time(char out[32], int64_t unix_ns)
{
    time_t t = (time_t)(unix_ns / 1000000000LL);
    if (unix_ns < 0 && unix_ns % 1000000000LL)
        t--;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        strcpy(out, "1970-01-01T00:00:00Z");
}
