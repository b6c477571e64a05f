/*
 * kube_util.c - small bounded decoders of the Kubernetes API layer: base64
 * (kubeconfig *-data fields, basic auth), RFC 3339 timestamps (ExecCredential
 * expiry) and metav1.Status bodies.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_internal.h"

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

char *kube_base64_decode(const char *in, size_t in_len, size_t max_out, size_t *out_len)
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

char *kube_base64_encode(const char *in, size_t in_len)
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

int kube_parse_rfc3339(const char *s, time_t *out)
{
    struct tm tm = {0};
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p)
        return -1;
    if (*p == '.') /* fractional seconds: ignored */
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
               isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
               isdigit((unsigned char)p[5])) {
        off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L + ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
        if (*p == '-')
            off = -off;
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = t - off;
    return 0;
}

long kube_status_parse(json_object *body, const char **reason, const char **message)
{
    json_object *kind, *v;
    *reason = *message = NULL;
    if (!body || !json_object_is_type(body, json_type_object) ||
        !json_object_object_get_ex(body, "kind", &kind) ||
        !json_object_is_type(kind, json_type_string) ||
        strcmp(json_object_get_string(kind), "Status") != 0)
        return -1;
    if (json_object_object_get_ex(body, "reason", &v) && json_object_is_type(v, json_type_string))
        *reason = json_object_get_string(v);
    if (json_object_object_get_ex(body, "message", &v) && json_object_is_type(v, json_type_string))
        *message = json_object_get_string(v);
    if (json_object_object_get_ex(body, "code", &v) && json_object_is_type(v, json_type_int))
        return (long)json_object_get_int64(v);
    return 0;
}
