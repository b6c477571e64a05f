/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lease.h - the coordination.k8s.io/v1 Lease as the election sees it (private).
 *
 * Owns the Lease record (the leader election fields of LeaseSpec plus the
 * resourceVersion that makes updates conditional), metav1.MicroTime text and
 * the JSON mapping. Everything here is pure: no I/O, no clocks, no logging, so
 * the fuzzer and the unit tests drive it directly.
 */
#ifndef KP_ELECTION_LEASE_H
#define KP_ELECTION_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/* Bounds on what the API server may hand us. A holder identity is usually a
 * pod name (<= 253); anything longer is rejected rather than truncated, because
 * two truncated identities could compare equal. */
#define LEASE_HOLDER_MAX   1024
#define LEASE_RV_MAX       128
#define LEASE_NAME_MAX     254 /* DNS subdomain: 253 + NUL */
#define LEASE_NS_MAX       64  /* DNS label: 63 + NUL */
#define MICROTIME_LEN      27  /* "2006-01-02T15:04:05.000000Z" */
#define MICROTIME_TEXT_MAX 64  /* longest RFC 3339 text we accept */

/* The leader election record of one Lease. Times are microseconds since the
 * Unix epoch; has_* says whether the field was present and valid. */
struct lease_record {
    char holder[LEASE_HOLDER_MAX]; /* "" when released or missing */
    int64_t duration_s;            /* leaseDurationSeconds, 0 when missing */
    int64_t acquire_us;
    int64_t renew_us;
    bool has_acquire;
    bool has_renew;
    int64_t transitions;                 /* leaseTransitions, 0 when missing */
    char resource_version[LEASE_RV_MAX]; /* metadata.resourceVersion, "" when missing */
};

/* metav1.MicroTime as the API server writes it: RFC 3339, UTC, exactly six
 * fractional digits, "Z". out must hold MICROTIME_LEN + 1 bytes. Returns 0, or
 * -1 for a year outside 0000..9999. */
int lease_microtime_format(int64_t us, char *out, size_t outlen);
/* metav1.MicroTime text as apimachinery reads it (time.Parse(RFC3339Micro)): RFC 3339
 * with exactly six fractional digits, "Z" or a +hh:mm / -hh:mm offset (kp_rfc3339_parse).
 * Returns 0 or -1; len bounds the input (it need not be NUL-terminated; a NUL ends it). */
int lease_microtime_parse(const char *s, size_t len, int64_t *us);

/* Record equality as client-go judges "the lease changed": every election
 * field, not the resourceVersion. */
bool lease_record_equal(const struct lease_record *a, const struct lease_record *b);

/* Decode a Lease object (the GET/PUT/POST body or a watch event's object).
 * Missing or wrong-typed fields read as empty/zero; returns -1 with err filled
 * only when obj is not an object or a bound is exceeded. */
int lease_record_from_json(json_object *obj, struct lease_record *rec, char *err, size_t errlen);
/* Decode a watch event {"type": "...", "object": {...}}: *type gets "ADDED",
 * "MODIFIED", "DELETED", "BOOKMARK" or "ERROR" (borrowed from obj). */
int lease_watch_event_decode(json_object *ev, const char **type, struct lease_record *rec,
                             char *err, size_t errlen);

/* The spec object client-go's LeaseLock writes for rec. Returns a new
 * reference (caller owns it) or NULL on allocation failure. */
json_object *lease_spec_to_json(const struct lease_record *rec);
/* A whole Lease for POST/PUT. base (borrowed, may be NULL) is the last object
 * read from the server: its metadata (labels, annotations, owners, uid) is kept
 * and only spec and metadata.resourceVersion are replaced, like client-go. */
json_object *lease_object_to_json(const char *ns, const char *name, const struct lease_record *rec,
                                  json_object *base);

#endif
