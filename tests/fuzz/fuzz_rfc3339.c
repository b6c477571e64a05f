/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_rfc3339.c - kp_rfc3339_parse (util.h), the one RFC 3339 parser: the Lease's MicroTime,
 * the Summary API's times and an exec plugin's expiry all come through it.
 *
 * The input is handed over without a NUL, in a buffer of exactly its size, so a read past len
 * is caught by ASan. Oracles on every accepted text: the six-digit form (MicroTime) is a subset
 * of the any-fraction form with the same result; the nanoseconds are the first nine fraction
 * digits; the fields of the text, shifted by its offset, are what glibc's gmtime_r gives for
 * the parsed second (an independent calendar); the canonical UTC text of that instant parses
 * back to it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static void check_accepted(const char *s, size_t len, int64_t sec, int32_t nsec)
{
    if (nsec < 0 || nsec > 999999999 || len < 20)
        __builtin_trap();
    /* the fraction: digits from s[20] up to the zone, nine kept */
    size_t i = 19;
    int32_t frac = 0;
    int nd = 0;
    if (s[i] == '.')
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            if (nd++ < 9)
                frac = frac * 10 + (s[i] - '0');
    for (; nd < 9; nd++)
        frac *= 10;
    if (frac != nsec)
        __builtin_trap();
    int64_t off = 0;
    if (s[i] != 'Z')
        off = (s[i] == '-' ? -1 : 1) * (int64_t)(num(s + i + 1, 2) * 3600 + num(s + i + 4, 2) * 60);
    /* the text's own fields are the local time of the instant at its offset */
    time_t local = (time_t)(sec + off);
    struct tm tm;
    if (!gmtime_r(&local, &tm) || tm.tm_year + 1900 != num(s, 4) ||
        tm.tm_mon + 1 != num(s + 5, 2) || tm.tm_mday != num(s + 8, 2) ||
        tm.tm_hour != num(s + 11, 2) || tm.tm_min != num(s + 14, 2) || tm.tm_sec != num(s + 17, 2))
        __builtin_trap();
    /* the canonical UTC text of the instant reads back to it */
    time_t t = (time_t)sec;
    char canon[48];
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return;
    int n = snprintf(canon, sizeof(canon), "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)nsec);
    int64_t sec2;
    int32_t nsec2;
    if (n != 30 || kp_rfc3339_parse(canon, (size_t)n, 9, &sec2, &nsec2) != 0 || sec2 != sec ||
        nsec2 != nsec)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    int64_t sec = 0, sec6 = 0;
    int32_t nsec = 0, nsec6 = 0;
    int any = kp_rfc3339_parse(s, size, -1, &sec, &nsec);
    int six = kp_rfc3339_parse(s, size, 6, &sec6, &nsec6);
    if ((any != 0 && any != -1) || (six != 0 && six != -1))
        __builtin_trap();
    if (six == 0 && (any != 0 || sec6 != sec || nsec6 != nsec || s[19] != '.' ||
                     (s[26] >= '0' && s[26] <= '9')))
        __builtin_trap(); /* six digits: s[20..25], then the zone, never a seventh digit */
    if (any == 0) {
        /* the checks read s as a C string: give them one */
        char *z = malloc(size + 1);
        if (z) {
            memcpy(z, s, size);
            z[size] = '\0';
            check_accepted(z, size, sec, nsec);
            free(z);
        }
    }
    free(s);
    return 0;
}
