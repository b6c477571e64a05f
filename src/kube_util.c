/*
 * kube_util.c - small bounded decoders of the Kubernetes API layer: RFC 3339
 * timestamps (ExecCredential expiry) and metav1.Status bodies.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_internal.h"

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
