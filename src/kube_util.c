/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_util.c - a small bounded decoder of the Kubernetes API layer: metav1.Status bodies.
 * (RFC 3339 times are kp_rfc3339_parse's, util.h.)
 */
#include <string.h>

#include "kube_internal.h"

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
