/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_https_head.c - the metrics API's request heads and front-proxy headers: the HTTPS
 * server's head parser (https_head_parse), then the user, groups and extras the headers name
 * (kube_auth_user_from_headers); and the extension-apiserver-authentication ConfigMap's
 * data (kube_auth_config_parse). The first byte picks one. Nothing may crash, leak or read
 * out of bounds; a parsed head's strings lie inside the buffer.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube_auth.h"

static struct kube_auth_config *config(void)
{
    static struct kube_auth_config *c;
    if (c)
        return c;
    json_object *d = json_object_new_object();
    json_object_object_add(d, "requestheader-username-headers",
                           json_object_new_string("[\"X-Remote-User\"]"));
    json_object_object_add(d, "requestheader-group-headers",
                           json_object_new_string("[\"X-Remote-Group\"]"));
    json_object_object_add(d, "requestheader-extra-headers-prefix",
                           json_object_new_string("[\"X-Remote-Extra-\"]"));
    char err[256];
    c = kube_auth_config_parse(d, err, sizeof(err));
    json_object_put(d);
    if (!c)
        abort();
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 32768)
        return 0;
    size_t len = size - 1;
    char *buf = malloc(len + 1);
    memcpy(buf, data + 1, len);
    buf[len] = '\0';
    if (data[0] & 1) {
        char err[256];
        json_object *o = json_tokener_parse(buf);
        kube_auth_config_free(kube_auth_config_parse(o, err, sizeof(err)));
        json_object_put(o);
    } else {
        struct https_head h;
        if (https_head_parse(buf, len, &h) == 0) {
            if (h.method < buf || h.method >= buf + len || h.target < buf || h.target >= buf + len)
                abort();
            json_object *u = NULL;
            if (kube_auth_user_from_headers(config(), &h, &u) == 0 && !u)
                abort();
            json_object_put(u);
        }
    }
    free(buf);
    return 0;
}
