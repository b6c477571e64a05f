/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_lease_json.c - libFuzzer target for the Lease decoder (election/lease.c):
 * a Lease object as GET/PUT return it, or a watch event wrapping one. Whatever
 * decodes must encode again and decode to the same record.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lease.h"

static void check_round_trip(const struct lease_record *rec)
{
    struct lease_record back;
    char err[256];
    json_object *obj = lease_object_to_json("ns", "name", rec, NULL);
    if (!obj)
        return;
    if (lease_record_from_json(obj, &back, err, sizeof(err)) != 0)
        __builtin_trap();
    /* Times outside 0000..9999 are left out when encoding; all else must survive. */
    if (strcmp(back.holder, rec->holder) != 0 || back.duration_s != rec->duration_s ||
        back.transitions != rec->transitions)
        __builtin_trap();
    json_object_put(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lease_record rec;
    const char *type;
    char err[256];
    if (size > 1 << 16)
        return 0;
    json_tokener *tok = json_tokener_new_ex(32);
    json_object *obj = json_tokener_parse_ex(tok, (const char *)data, (int)size);
    json_tokener_free(tok);
    if (lease_record_from_json(obj, &rec, err, sizeof(err)) == 0)
        check_round_trip(&rec);
    if (lease_watch_event_decode(obj, &type, &rec, err, sizeof(err)) == 0 &&
        strcmp(type, "ERROR") != 0)
        check_round_trip(&rec);
    int64_t us;
    if (size <= MICROTIME_TEXT_MAX && lease_microtime_parse((const char *)data, size, &us) == 0) {
        char buf[MICROTIME_LEN + 1];
        int64_t again;
        if (lease_microtime_format(us, buf, sizeof(buf)) == 0 &&
            (lease_microtime_parse(buf, strlen(buf), &again) != 0 || again != us))
            __builtin_trap();
    }
    json_object_put(obj);
    return 0;
}
