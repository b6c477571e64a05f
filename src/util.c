/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util.c - bounded file reads, secrets from files, base64 (OpenSSL's), the monotonic clock,
 * sizes with unit suffixes, retry backoff (util.h). RFC 3339 is in rfc3339.c.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int kp_read_file(const char *path, size_t max, char **out, size_t *out_len, char *err,
                 size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if ((size_t)st.st_size > max) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
        goto fail;
    }
    buf = malloc(max + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
            goto fail;
        }
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}

int kp_read_secret_file(const char *path, size_t max, char **out, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    if (kp_read_file(path, max, &buf, &len, err, errlen) < 0)
        return -1;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t'))
        buf[--len] = '\0';
    if (len == 0 || memchr(buf, '\n', len) || memchr(buf, '\r', len) || strlen(buf) != len) {
        snprintf(err, errlen, "%s: %s", path, len == 0 ? "empty" : "not a single line of text");
        explicit_bzero(buf, len);
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

void kp_secret_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

double kp_mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int kp_grow_by(void **arr, size_t *cap, size_t want, size_t elsize, size_t first, unsigned shift)
{
    if (want <= *cap)
        return 0;
    size_t n = *cap ? *cap : first ? first : 1;
    while (n < want) {
        size_t step = n >> shift;
        if (n > SIZE_MAX - (step ? step : 1))
            return -1;
        n += step ? step : 1;
    }
    if (elsize && n > SIZE_MAX / elsize)
        return -1;
    void *p = realloc(*arr, n * elsize);
    if (!p)
        return -1;
    *arr = p;
    *cap = n;
    return 0;
}

int kp_grow(void **arr, size_t *cap, size_t want, size_t elsize, size_t first)
{
    return kp_grow_by(arr, cap, want, elsize, first, 0);
}

/* A base64 alphabet character (RFC 4648 section 4)? */
static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

char *kp_base64_decode(const char *in, size_t in_len, size_t max_out, size_t *out_len)
{
    if (in_len > INT_MAX - 4)
        return NULL;
    /* OpenSSL decodes whole padded groups and reads '=' as zero bits, so the text is checked
     * and padded here first: whitespace out, '=' only at the end and only as many as the
     * last group lacks. */
    unsigned char *txt = malloc(in_len + 4);
    size_t n = 0, pad = 0;
    char *out = NULL;
    if (!txt)
        return NULL;
    for (size_t i = 0; i < in_len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=')
            pad++;
        else if (!b64_char(c) || pad) /* a bad character, or data after padding */
            goto fail;
        else
            txt[n++] = c;
    }
    size_t tail = n % 4; /* characters in the last group: 0, 2 ('==') or 3 ('=') */
    if (tail == 1 || (pad && (tail == 0 || pad != 4 - tail)))
        goto fail;
    size_t len = n / 4 * 3 + (tail ? tail - 1 : 0);
    if (len > max_out)
        goto fail;
    for (size_t k = tail ? tail : 4; k < 4; k++)
        txt[n++] = '=';
    if (!(out = malloc(n / 4 * 3 + 1)) || EVP_DecodeBlock((unsigned char *)out, txt, (int)n) < 0)
        goto fail;
    /* the last character's unused bits must be zero: re-encode the last group and compare */
    unsigned char last[5];
    if (tail &&
        (EVP_EncodeBlock(last, (unsigned char *)out + len - (tail - 1), (int)tail - 1) != 4 ||
         memcmp(last, txt + n - 4, 4) != 0))
        goto fail;
    free(txt);
    out[len] = '\0';
    *out_len = len;
    return out;
fail:
    free(txt);
    free(out);
    return NULL;
}

char *kp_base64_encode(const char *in, size_t in_len)
{
    if (in_len > (size_t)INT_MAX / 4 * 3 - 3)
        return NULL;
    char *out = malloc((in_len + 2) / 3 * 4 + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)in_len);
    return out;
}

int kp_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mul;
    } units[] = {
        {"", 1},
        {"Ki", UINT64_C(1) << 10},
        {"Mi", UINT64_C(1) << 20},
        {"Gi", UINT64_C(1) << 30},
        {"Ti", UINT64_C(1) << 40},
        {"k", UINT64_C(1000)},
        {"K", UINT64_C(1000)},
        {"M", UINT64_C(1000000)},
        {"G", UINT64_C(1000000000)},
    };
    char *end;
    if (!s || !(s[0] >= '0' && s[0] <= '9'))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > UINT64_MAX / units[i].mul)
                return -1;
            *out = v * units[i].mul;
            return 0;
        }
    }
    return -1;
}

double kp_backoff_delay(unsigned attempt, double base_s, double cap_s, double rnd01)
{
    double d = base_s * ldexp(1.0, attempt > 60 ? 60 : (int)attempt);
    if (d > cap_s)
        d = cap_s;
    if (rnd01 < 0)
        rnd01 = 0;
    if (rnd01 >= 1)
        rnd01 = 0.999999;
    return d * (0.5 + 0.5 * rnd01);
}

void kp_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

uint64_t kp_hash_more(uint64_t h, const void *s, size_t len)
{
    const unsigned char *p = s;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL; /* FNV-1a's prime */
    return h;
}

uint64_t kp_hash(const void *s, size_t len)
{
    return kp_hash_more(14695981039346656037ULL, s, len); /* FNV-1a's offset basis */
}
