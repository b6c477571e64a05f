/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rfc3339.c - the one RFC 3339 date-time parser (kp_rfc3339_parse, util.h): the Lease's
 * MicroTime, the Summary API's sample times and an exec plugin's expirationTimestamp all
 * come through here.
 *
 * The grammar is Go's: what time.Parse(time.RFC3339, s) accepts on its strict path
 * (time/format_rfc3339.go), which is all a Go program writes, and with six fractional digits
 * required, what time.Parse(metav1.RFC3339Micro, s) accepts (apimachinery's MicroTime).
 * Go's generic layout fallback also takes a one-digit hour, a ',' before the fraction and
 * offsets such as +24:00; no Kubernetes component writes those, and they are refused here.
 * The date is converted by hand (days from the civil date), never through timegm or TZ.
 */
#include "util.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* The n digits at s (n <= 4) as a number in [min, max], else -1. */
static int field(const char *s, int n, int min, int max)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < min || v > max ? -1 : v;
}

int kp_rfc3339_parse(const char *s, size_t len, int frac_digits, int64_t *sec, int32_t *nsec)
{
    /* "2006-01-02T15:04:05" */
    if (!s || len < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return -1;
    int y = field(s, 4, 0, 9999), mo = field(s + 5, 2, 1, 12);
    int d = field(s + 8, 2, 1, 31), h = field(s + 11, 2, 0, 23);
    int mi = field(s + 14, 2, 0, 59), se = field(s + 17, 2, 0, 59);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0 || d > days_in_month(y, mo))
        return -1;
    size_t i = 19;

    /* ".999999999": beyond nine digits the rest is read and dropped, as Go does */
    int32_t frac = 0;
    size_t nd = 0;
    if (i + 1 < len && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
            if (nd < 9)
                frac = frac * 10 + (s[i] - '0');
        for (size_t k = nd; k < 9; k++)
            frac *= 10;
    }
    if (frac_digits >= 0 && nd != (size_t)frac_digits)
        return -1;

    /* "Z" or "+07:00" / "-07:00", then the end */
    int64_t off = 0;
    if (len - i == 1 && s[i] == 'Z') {
        i++;
    } else if (len - i == 6 && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh = field(s + i + 1, 2, 0, 23), om = field(s + i + 4, 2, 0, 59);
        if (oh < 0 || om < 0)
            return -1;
        off = (s[i] == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
    } else {
        return -1;
    }
    *sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    *nsec = frac;
    return 0;
}
