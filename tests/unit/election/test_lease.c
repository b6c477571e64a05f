/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lease.c - MicroTime text and the Lease JSON (election/lease.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lease.h"
#include "kp_test.h"

static int64_t parse(const char *s)
{
    int64_t us = -1;
    assert_int_equal(lease_microtime_parse(s, strlen(s), &us), 0);
    return us;
}

KP_TEST(test_microtime_format)
{
    (void)state;
    char buf[MICROTIME_LEN + 1];
    assert_int_equal(lease_microtime_format(0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
    /* Go's reference time, as metav1.MicroTime marshals it. */
    assert_int_equal(lease_microtime_format(INT64_C(1136214245000000), buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2006-01-02T15:04:05.000000Z");
    assert_int_equal(lease_microtime_format(INT64_C(1709251199123456), buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2024-02-29T23:59:59.123456Z");
    assert_int_equal(lease_microtime_format(-1, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
    assert_int_equal(strlen(buf), MICROTIME_LEN);
    assert_int_equal(lease_microtime_format(0, buf, MICROTIME_LEN), -1); /* too small */
    assert_int_equal(lease_microtime_format(INT64_C(253402300800) * 1000000, buf, sizeof(buf)),
                     -1); /* year 10000 */
}

KP_TEST(test_microtime_round_trip)
{
    (void)state;
    char buf[MICROTIME_LEN + 1];
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t us = (int64_t)(x % (UINT64_C(253402300799) * 1000000));
        assert_int_equal(lease_microtime_format(us, buf, sizeof(buf)), 0);
        assert_true(parse(buf) == us);
    }
}

KP_TEST(test_microtime_parse_variants)
{
    (void)state;
    int64_t ref = INT64_C(1136214245000000);
    assert_true(parse("2006-01-02T15:04:05.000000Z") == ref);
    assert_true(parse("2006-01-02T16:04:05.000000+01:00") == ref);
    assert_true(parse("2006-01-02T07:34:05.000000-07:30") == ref);
    assert_true(parse("2006-01-02T15:04:05.500000Z") == ref + 500000);
    assert_true(parse("2006-01-02T15:04:05.000001-00:00") == ref + 1);
    assert_true(parse("2000-02-29T00:00:00.000000Z") == INT64_C(951782400) * 1000000);
}

KP_TEST(test_microtime_parse_rejects)
{
    (void)state;
    static const char *bad[] = {
        "",
        "2006",
        "2006-01-02",
        "2006-01-02T15:04:05",
        "2006-01-02T15:04:05.Z",
        "2006-01-02T15:04:05.1234567890Z",
        /* MicroTime is RFC3339Micro: six fractional digits, no fewer, no more */
        "2006-01-02T15:04:05Z",
        "2006-01-02T15:04:05.5Z",
        "2006-01-02T15:04:05.123456789Z",
        /* Go's upper-case 'T' and 'Z', no space */
        "2006-01-02t15:04:05.000000Z",
        "2006-01-02T15:04:05.000000z",
        "2006-01-02 15:04:05.000000Z",
        "2006-13-02T15:04:05Z",
        "2006-00-02T15:04:05Z",
        "2006-02-29T15:04:05Z",
        "1900-02-29T00:00:00Z",
        "2006-01-32T15:04:05Z",
        "2006-01-02T24:00:00Z",
        "2006-01-02T15:60:05Z",
        "2006-01-02T15:04:60Z",
        "2006-01-02T15:04:05+0100",
        "2006-01-02T15:04:05+24:00",
        "2006-01-02T15:04:05Zjunk",
        "2006-01-02X15:04:05Z",
        "-006-01-02T15:04:05Z",
        "2006-1-02T15:04:05Z",
        "2006-01-02T15:04:05.123456Z2006-01-02T15:04:05.123456Z2006-01-02T15:04:05Z",
    };
    int64_t us;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lease_microtime_parse(bad[i], strlen(bad[i]), &us) == 0)
            fail_msg("accepted '%s'", bad[i]);
    }
    /* len bounds the input: a valid prefix of a longer buffer is read as such. */
    assert_int_equal(lease_microtime_parse("2006-01-02T15:04:05.000000Zxx", 27, &us), 0);
    assert_int_equal(lease_microtime_parse(NULL, 0, &us), -1);
}

static json_object *js(const char *text)
{
    json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    return o;
}

KP_TEST(test_decode_full)
{
    (void)state;
    struct lease_record r;
    char err[256];
    json_object *o = js("{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                        "\"metadata\":{\"name\":\"kp\",\"resourceVersion\":\"4711\"},"
                        "\"spec\":{\"holderIdentity\":\"pod-a\",\"leaseDurationSeconds\":15,"
                        "\"acquireTime\":\"2006-01-02T15:04:05.000000Z\","
                        "\"renewTime\":\"2006-01-02T15:04:07.250000Z\",\"leaseTransitions\":3}}");
    assert_int_equal(lease_record_from_json(o, &r, err, sizeof(err)), 0);
    assert_string_equal(r.holder, "pod-a");
    assert_int_equal(r.duration_s, 15);
    assert_true(r.has_acquire && r.acquire_us == INT64_C(1136214245000000));
    assert_true(r.has_renew && r.renew_us == INT64_C(1136214247250000));
    assert_int_equal(r.transitions, 3);
    assert_string_equal(r.resource_version, "4711");
    json_object_put(o);
}

KP_TEST(test_decode_tolerant)
{
    (void)state;
    struct lease_record r;
    char err[256];
    static const char *docs[] = {
        "{}",
        "{\"metadata\":7,\"spec\":[]}",
        "{\"spec\":null}",
        "{\"metadata\":{\"resourceVersion\":12},\"spec\":{\"holderIdentity\":5,"
        "\"leaseDurationSeconds\":\"15\",\"acquireTime\":7,\"renewTime\":\"yesterday\","
        "\"leaseTransitions\":-3}}",
        "{\"spec\":{\"leaseDurationSeconds\":99999999999,\"leaseTransitions\":1.5}}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_object *o = js(docs[i]);
        assert_int_equal(lease_record_from_json(o, &r, err, sizeof(err)), 0);
        assert_string_equal(r.holder, "");
        assert_int_equal(r.duration_s, 0);
        assert_int_equal(r.transitions, 0);
        assert_false(r.has_acquire || r.has_renew);
        assert_string_equal(r.resource_version, "");
        json_object_put(o);
    }
    json_object *arr = js("[1,2]");
    assert_int_equal(lease_record_from_json(arr, &r, err, sizeof(err)), -1);
    assert_int_equal(lease_record_from_json(NULL, &r, err, sizeof(err)), -1);
    json_object_put(arr);
}

KP_TEST(test_decode_bounds)
{
    (void)state;
    struct lease_record r;
    char err[256];
    json_object *o = json_object_new_object(), *spec = json_object_new_object();
    char big[LEASE_HOLDER_MAX + 10];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_object_object_add(spec, "holderIdentity", json_object_new_string(big));
    json_object_object_add(o, "spec", spec);
    assert_int_equal(lease_record_from_json(o, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "holderIdentity"));
    json_object_put(o);
}

KP_TEST(test_encode)
{
    (void)state;
    struct lease_record r = {.duration_s = 1,
                             .has_acquire = true,
                             .has_renew = true,
                             .acquire_us = INT64_C(1136214245000000),
                             .renew_us = INT64_C(1136214245000001),
                             .transitions = 4};
    strcpy(r.resource_version, "77");
    json_object *spec = lease_spec_to_json(&r);
    /* A release: holderIdentity is present and empty, as client-go writes it. */
    assert_string_equal(json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN),
                        "{\"holderIdentity\":\"\",\"leaseDurationSeconds\":1,"
                        "\"acquireTime\":\"2006-01-02T15:04:05.000000Z\","
                        "\"renewTime\":\"2006-01-02T15:04:05.000001Z\",\"leaseTransitions\":4}");
    json_object_put(spec);

    json_object *base = js("{\"metadata\":{\"name\":\"old\",\"resourceVersion\":\"1\","
                           "\"labels\":{\"a\":\"b\"},\"uid\":\"u1\",\"managedFields\":[]},"
                           "\"spec\":{\"holderIdentity\":\"x\"},\"status\":{}}");
    strcpy(r.holder, "me");
    json_object *obj = lease_object_to_json("ns", "kp", &r, base);
    struct lease_record back;
    char err[128];
    assert_int_equal(lease_record_from_json(obj, &back, err, sizeof(err)), 0);
    assert_true(lease_record_equal(&r, &back));
    assert_string_equal(back.resource_version, "77");
    json_object *meta, *v;
    assert_true(json_object_object_get_ex(obj, "metadata", &meta));
    assert_true(json_object_object_get_ex(meta, "labels", &v)); /* kept */
    assert_true(json_object_object_get_ex(meta, "uid", &v));
    assert_false(json_object_object_get_ex(meta, "managedFields", &v));
    assert_false(json_object_object_get_ex(obj, "status", &v));
    assert_true(json_object_object_get_ex(meta, "name", &v));
    assert_string_equal(json_object_get_string(v), "kp");
    json_object_put(obj);
    /* No resourceVersion (a create): none is sent. */
    r.resource_version[0] = '\0';
    obj = lease_object_to_json("ns", "kp", &r, NULL);
    assert_true(json_object_object_get_ex(obj, "metadata", &meta));
    assert_false(json_object_object_get_ex(meta, "resourceVersion", &v));
    json_object_put(obj);
    json_object_put(base);
}

KP_TEST(test_watch_event)
{
    (void)state;
    struct lease_record r;
    const char *type = NULL;
    char err[128];
    json_object *ev = js("{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":"
                         "\"9\"},\"spec\":{\"holderIdentity\":\"\"}}}");
    assert_int_equal(lease_watch_event_decode(ev, &type, &r, err, sizeof(err)), 0);
    assert_string_equal(type, "MODIFIED");
    assert_string_equal(r.resource_version, "9");
    json_object_put(ev);
    ev = js("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}");
    assert_int_equal(lease_watch_event_decode(ev, &type, &r, err, sizeof(err)), 0);
    assert_string_equal(type, "ERROR");
    json_object_put(ev);
    ev = js("{\"type\":3,\"object\":{}}");
    assert_int_equal(lease_watch_event_decode(ev, &type, &r, err, sizeof(err)), -1);
    json_object_put(ev);
}

KP_TEST(test_record_equal)
{
    (void)state;
    struct lease_record a = {.duration_s = 15, .transitions = 1}, b;
    strcpy(a.holder, "x");
    strcpy(a.resource_version, "1");
    b = a;
    strcpy(b.resource_version, "2");
    assert_true(lease_record_equal(&a, &b)); /* resourceVersion is not part of the record */
    b.renew_us = 5;
    assert_true(lease_record_equal(&a, &b)); /* absent times compare equal */
    b.has_renew = true;
    assert_false(lease_record_equal(&a, &b));
}
