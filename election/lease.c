/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lease.c - the Lease record, metav1.MicroTime text and the Lease JSON.
 *
 * MicroTime is read by kp_rfc3339_parse (util.h) with six fractional digits, as
 * apimachinery reads it, and written here; the date conversion is done by hand (civil
 * date from days) rather than with gmtime so the text never depends on TZ or the C library.
 */
#include "lease.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

#define US_PER_S  INT64_C(1000000)
#define S_PER_DAY INT64_C(86400)

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int lease_microtime_format(int64_t us, char *out, size_t outlen)
{
    int64_t secs = us >= 0 ? us / US_PER_S : -((-us + US_PER_S - 1) / US_PER_S);
    int64_t frac = us - secs * US_PER_S;
    int64_t days = secs >= 0 ? secs / S_PER_DAY : -((-secs + S_PER_DAY - 1) / S_PER_DAY);
    int64_t sod = secs - days * S_PER_DAY;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999 || outlen < MICROTIME_LEN + 1)
        return -1;
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", (int)y, m, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
    return 0;
}

int lease_microtime_parse(const char *s, size_t len, int64_t *us)
{
    int64_t sec;
    int32_t nsec;
    if (!s || len > MICROTIME_TEXT_MAX)
        return -1;
    if (kp_rfc3339_parse(s, strnlen(s, len), 6, &sec, &nsec) < 0)
        return -1;
    *us = sec * US_PER_S + nsec / 1000;
    return 0;
}

bool lease_record_equal(const struct lease_record *a, const struct lease_record *b)
{
    return strcmp(a->holder, b->holder) == 0 && a->duration_s == b->duration_s &&
           a->has_acquire == b->has_acquire &&
           (!a->has_acquire || a->acquire_us == b->acquire_us) && a->has_renew == b->has_renew &&
           (!a->has_renew || a->renew_us == b->renew_us) && a->transitions == b->transitions;
}

static json_object *member(json_object *obj, const char *key, json_type want)
{
    json_object *v = NULL;
    if (!obj || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, want))
        return NULL;
    return v;
}

/* Copy a string member; a missing or wrong-typed one is "". */
static int copy_str(json_object *obj, const char *key, char *dst, size_t dstlen, char *err,
                    size_t errlen)
{
    json_object *v = member(obj, key, json_type_string);
    dst[0] = '\0';
    if (!v)
        return 0;
    size_t n = (size_t)json_object_get_string_len(v);
    if (n >= dstlen) {
        snprintf(err, errlen, "lease field %s is too long (%zu bytes, limit %zu)", key, n,
                 dstlen - 1);
        return -1;
    }
    memcpy(dst, json_object_get_string(v), n);
    dst[n] = '\0';
    return 0;
}

/* An integer member within [0, INT32_MAX] (int32 in the API); anything else is 0. */
static int64_t get_int32(json_object *obj, const char *key)
{
    json_object *v = member(obj, key, json_type_int);
    if (!v)
        return 0;
    int64_t n = json_object_get_int64(v);
    return n >= 0 && n <= INT32_MAX ? n : 0;
}

static bool get_time(json_object *obj, const char *key, int64_t *us)
{
    json_object *v = member(obj, key, json_type_string);
    return v && lease_microtime_parse(json_object_get_string(v),
                                      (size_t)json_object_get_string_len(v), us) == 0;
}

int lease_record_from_json(json_object *obj, struct lease_record *rec, char *err, size_t errlen)
{
    memset(rec, 0, sizeof(*rec));
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        snprintf(err, errlen, "lease is not a JSON object");
        return -1;
    }
    json_object *meta = member(obj, "metadata", json_type_object);
    json_object *spec = member(obj, "spec", json_type_object);
    if (copy_str(meta, "resourceVersion", rec->resource_version, sizeof(rec->resource_version), err,
                 errlen) ||
        copy_str(spec, "holderIdentity", rec->holder, sizeof(rec->holder), err, errlen))
        return -1;
    rec->duration_s = get_int32(spec, "leaseDurationSeconds");
    rec->transitions = get_int32(spec, "leaseTransitions");
    rec->has_acquire = get_time(spec, "acquireTime", &rec->acquire_us);
    rec->has_renew = get_time(spec, "renewTime", &rec->renew_us);
    if (!rec->has_acquire)
        rec->acquire_us = 0;
    if (!rec->has_renew)
        rec->renew_us = 0;
    return 0;
}

int lease_watch_event_decode(json_object *ev, const char **type, struct lease_record *rec,
                             char *err, size_t errlen)
{
    json_object *t = member(ev, "type", json_type_string);
    json_object *obj = member(ev, "object", json_type_object);
    memset(rec, 0, sizeof(*rec));
    if (!t || !obj) {
        snprintf(err, errlen, "watch event without type or object");
        return -1;
    }
    *type = json_object_get_string(t);
    if (strcmp(*type, "ERROR") == 0)
        return 0; /* a Status object, not a Lease */
    return lease_record_from_json(obj, rec, err, errlen);
}

static int add_time(json_object *spec, const char *key, int64_t us)
{
    char buf[MICROTIME_LEN + 1];
    if (lease_microtime_format(us, buf, sizeof(buf)) != 0)
        return 0; /* out of range: leave it out rather than write garbage */
    return json_object_object_add(spec, key, json_object_new_string(buf));
}

json_object *lease_spec_to_json(const struct lease_record *rec)
{
    json_object *spec = json_object_new_object();
    if (!spec)
        return NULL;
    /* client-go always writes holderIdentity, "" included: that is what marks a release. */
    if (json_object_object_add(spec, "holderIdentity", json_object_new_string(rec->holder)) ||
        json_object_object_add(spec, "leaseDurationSeconds",
                               json_object_new_int64(rec->duration_s)) ||
        (rec->has_acquire && add_time(spec, "acquireTime", rec->acquire_us)) ||
        (rec->has_renew && add_time(spec, "renewTime", rec->renew_us)) ||
        json_object_object_add(spec, "leaseTransitions", json_object_new_int64(rec->transitions))) {
        json_object_put(spec);
        return NULL;
    }
    return spec;
}

json_object *lease_object_to_json(const char *ns, const char *name, const struct lease_record *rec,
                                  json_object *base)
{
    json_object *obj = NULL, *meta = NULL, *spec = NULL;
    if (base && json_object_is_type(base, json_type_object)) {
        if (json_object_deep_copy(base, &obj, NULL) != 0)
            return NULL;
        json_object_object_del(obj, "status");
    } else {
        obj = json_object_new_object();
    }
    if (!obj)
        return NULL;
    json_object_object_add(obj, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
    json_object_object_add(obj, "kind", json_object_new_string("Lease"));
    meta = member(obj, "metadata", json_type_object);
    if (!meta) {
        meta = json_object_new_object();
        if (!meta || json_object_object_add(obj, "metadata", meta))
            goto fail;
    }
    json_object_object_del(meta, "managedFields");
    json_object_object_add(meta, "name", json_object_new_string(name));
    json_object_object_add(meta, "namespace", json_object_new_string(ns));
    if (rec->resource_version[0])
        json_object_object_add(meta, "resourceVersion",
                               json_object_new_string(rec->resource_version));
    else
        json_object_object_del(meta, "resourceVersion");
    spec = lease_spec_to_json(rec);
    if (!spec || json_object_object_add(obj, "spec", spec))
        goto fail;
    return obj;
fail:
    json_object_put(spec);
    json_object_put(obj);
    return NULL;
}
