/*
 * util.c - bounded file reads, secrets from files, base64, the monotonic clock
 * (util.h).
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
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

int kp_grow(void **arr, size_t *cap, size_t want, size_t elsize, size_t first)
{
    if (want <= *cap)
        return 0;
    size_t n = *cap ? *cap : first ? first : 1;
    while (n < want) {
        if (n > SIZE_MAX / 2)
            return -1;
        n *= 2;
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

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

char *kp_base64_decode(const char *in, size_t in_len, size_t max_out, size_t *out_len)
{
    size_t cap = in_len / 4 * 3 + 3;
    if (cap > max_out + 3)
        cap = max_out + 3;
    char *out = malloc(cap + 1);
    if (!out)
        return NULL;
    size_t n = 0, pad = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < in_len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad)
            goto fail; /* bad character, or data after padding */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= max_out)
                goto fail;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* Leftover bits: 0 (complete), 2 (one '==' group) or 4 ('='); 6 is impossible. */
    if (bits >= 6 || pad > 2 || (pad && (bits / 2) != (int)pad) || (acc & ((1u << bits) - 1)))
        goto fail;
    out[n] = '\0';
    *out_len = n;
    return out;
fail:
    free(out);
    return NULL;
}

char *kp_base64_encode(const char *in, size_t in_len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((in_len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    const unsigned char *p = (const unsigned char *)in;
    for (; i + 2 < in_len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < in_len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < in_len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < in_len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}
