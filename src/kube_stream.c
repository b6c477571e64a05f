/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_stream.c - the incremental decoder of watch responses: a sequence of
 * JSON objects in arbitrary chunks, fed to one json_tokener as bytes arrive.
 * Bounds the size and nesting depth of a single object.
 *
 * json-c (0.16) mis-parses a number whose characters arrive in two calls
 * ("9" then "-}" yields 9 instead of an error), so a chunk's trailing run of
 * number characters is held back (up to CARRY_MAX bytes) and fed together
 * with the byte that follows it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_internal.h"

#define CARRY_MAX 64

struct kube_stream {
    json_tokener *tok; /* owned */
    char carry[CARRY_MAX];
    size_t carry_len;
    size_t max_object;
    size_t cur_bytes; /* bytes fed to the object in progress */
    bool in_object;
    bool broken;
};

struct kube_stream *kube_stream_new(size_t max_object)
{
    struct kube_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->max_object = max_object ? max_object : KUBE_STREAM_MAX_OBJECT;
    s->tok = json_tokener_new_ex(KUBE_STREAM_MAX_DEPTH);
    if (!s->tok) {
        free(s);
        return NULL;
    }
    /* Strict: the API server writes plain JSON, and json-c's lenient mode reads
     * past an object's end looking for comments, which makes the result depend
     * on where chunks happen to end. */
#ifdef JSON_TOKENER_ALLOW_TRAILING_CHARS
    json_tokener_set_flags(s->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
#endif
    return s;
}

void kube_stream_free(struct kube_stream *s)
{
    if (!s)
        return;
    json_tokener_free(s->tok);
    free(s);
}

void kube_stream_reset(struct kube_stream *s)
{
    json_tokener_reset(s->tok);
    s->cur_bytes = 0;
    s->in_object = false;
    s->broken = false;
    s->carry_len = 0;
}

static bool is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int feed_raw(struct kube_stream *s, const char *data, size_t len,
                    kube_stream_object_fn on_object, void *ud, char *err, size_t errlen)
{
    while (len > 0) {
        if (!s->in_object) {
            while (len > 0 && is_space(*data)) {
                data++;
                len--;
            }
            if (len == 0)
                break;
            if (*data != '{') {
                snprintf(err, errlen, "watch stream: expected '{' at the start of an event");
                goto broken;
            }
            s->in_object = true;
            s->cur_bytes = 0;
        }
        /* Never hand the tokener more than the object may still grow by. */
        size_t room = s->max_object - s->cur_bytes;
        size_t n = len < room ? len : room;
        if (n > (size_t)INT32_MAX)
            n = INT32_MAX;
        json_object *obj = json_tokener_parse_ex(s->tok, data, (int)n);
        enum json_tokener_error jerr = json_tokener_get_error(s->tok);
        if (!obj) {
            if (jerr != json_tokener_continue) {
                snprintf(err, errlen, "watch stream: invalid JSON: %s",
                         json_tokener_error_desc(jerr));
                goto broken;
            }
            /* A NUL byte ends json-c's input early without an error. */
            size_t used = (size_t)json_tokener_get_parse_end(s->tok);
            if (used < n) {
                snprintf(err, errlen, "watch stream: invalid JSON: unexpected NUL byte");
                goto broken;
            }
            s->cur_bytes += n;
            if (s->cur_bytes >= s->max_object) {
                snprintf(err, errlen, "watch stream: event larger than %zu bytes", s->max_object);
                goto broken;
            }
            data += n;
            len -= n;
            continue;
        }
        size_t used = (size_t)json_tokener_get_parse_end(s->tok);
        if (used == 0 || used > n)
            used = n;
        data += used;
        len -= used;
        json_tokener_reset(s->tok);
        s->in_object = false;
        if (!json_object_is_type(obj, json_type_object)) {
            json_object_put(obj);
            snprintf(err, errlen, "watch stream: event is not a JSON object");
            goto broken;
        }
        int rc = on_object(obj, ud);
        json_object_put(obj);
        if (rc < 0)
            return rc;
    }
    return 0;
broken:
    s->broken = true;
    return -1;
}

int kube_stream_feed(struct kube_stream *s, const char *data, size_t len,
                     kube_stream_object_fn on_object, void *ud, char *err, size_t errlen)
{
    int rc;
    if (s->broken) {
        snprintf(err, errlen, "watch stream already failed");
        return -1;
    }
    if (s->carry_len > 0) {
        size_t j = 0;
        while (j < len && is_number_char(data[j]))
            j++;
        if (j == len && s->carry_len + len <= CARRY_MAX) { /* still inside the run */
            memcpy(s->carry + s->carry_len, data, len);
            s->carry_len += len;
            return 0;
        }
        char tmp[2 * CARRY_MAX + 1];
        size_t take = j < len ? j + 1 : j; /* the run and the byte ending it */
        if (take > CARRY_MAX + 1)
            take = 0; /* an absurdly long run: json-c may be lenient; feed as is */
        memcpy(tmp, s->carry, s->carry_len);
        memcpy(tmp + s->carry_len, data, take);
        size_t n = s->carry_len + take;
        s->carry_len = 0;
        if ((rc = feed_raw(s, tmp, n, on_object, ud, err, errlen)) < 0)
            return rc;
        data += take;
        len -= take;
    }
    size_t t = 0;
    while (t < len && t < CARRY_MAX && is_number_char(data[len - 1 - t]))
        t++;
    if ((rc = feed_raw(s, data, len - t, on_object, ud, err, errlen)) < 0)
        return rc;
    memcpy(s->carry, data + len - t, t);
    s->carry_len = t;
    return 0;
}

int kube_event_split(json_object *ev, const char **type, json_object **obj)
{
    json_object *t, *o;
    if (!json_object_object_get_ex(ev, "type", &t) || !json_object_is_type(t, json_type_string) ||
        !json_object_object_get_ex(ev, "object", &o) || !json_object_is_type(o, json_type_object))
        return -1;
    *type = json_object_get_string(t);
    *obj = o;
    return 0;
}
