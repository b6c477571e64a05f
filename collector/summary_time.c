/*
 * summary_time.c - RFC 3339 timestamps of the Summary API (summary_parse_time,
 * summary.h) to Unix nanoseconds, without libc time zone state.
 */
#include "summary.h"

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int time_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

int summary_parse_time(const char *s, int64_t *ns)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t frac = 0;
    const char *p = s;
    if (time_digits(&p, 4, &y) || *p++ != '-' || time_digits(&p, 2, &mo) || *p++ != '-' ||
        time_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' ') || !*p++ ||
        time_digits(&p, 2, &h) || *p++ != ':' || time_digits(&p, 2, &mi) || *p++ != ':' ||
        time_digits(&p, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (y < 1970 || y > 2200) {
        /* Go's zero time ("0001-01-01T00:00:00Z") means unset; other years would
         * overflow int64 nanoseconds: both read as absent */
        *ns = 0;
        return y == 1 ? 0 : -1;
    }
    if (*p == '.') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 9)
                frac = frac * 10 + (*p - '0');
        if (!nd)
            return -1;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (time_digits(&p, 2, &oh) || *p++ != ':' || time_digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   sec - sign * (oh * 3600 + om * 60);
    *ns = secs * 1000000000LL + frac;
    return 0;
}
