/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kplogemit - write log records through kubepulse's log API (log.h), for
 * test_log_format.py to compare with what klog and component-base write for the same
 * records (tests/infra/klogfmt, which reads the same file).
 *
 *     kplogemit text|json RECORDS.jsonl     (the records' format: see klogfmt/main.go)
 *
 * An info or warning record's error goes last, as klogfmt appends it ("err" key/value).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_FIELDS 32

static int field_of(json_object *kv, struct log_field *f)
{
    const char *key = json_object_get_string(json_object_array_get_idx(kv, 0));
    const char *type = json_object_get_string(json_object_array_get_idx(kv, 1));
    json_object *v = json_object_array_get_idx(kv, 2);
    if (!key || !type || !v)
        return -1;
    if (strcmp(type, "s") == 0)
        *f = LF_STR(key, json_object_get_string(v));
    else if (strcmp(type, "i") == 0)
        *f = LF_INT(key, json_object_get_int64(v));
    else if (strcmp(type, "f") == 0)
        *f = LF_DBL(key, json_object_get_double(v));
    else if (strcmp(type, "b") == 0)
        *f = LF_BOOL(key, json_object_get_boolean(v));
    else
        return -1;
    return 0;
}

static int emit(json_object *r)
{
    struct log_field fields[MAX_FIELDS + 2];
    json_object *sev, *v, *msg, *err, *kv;
    size_t n = 0;
    enum log_severity s = LOG_SEV_INFO;
    if (!json_object_object_get_ex(r, "sev", &sev) || !json_object_object_get_ex(r, "msg", &msg))
        return -1;
    if (strcmp(json_object_get_string(sev), "warning") == 0)
        s = LOG_SEV_WARNING;
    else if (strcmp(json_object_get_string(sev), "error") == 0)
        s = LOG_SEV_ERROR;
    int level = json_object_object_get_ex(r, "v", &v) ? json_object_get_int(v) : 0;
    if (json_object_object_get_ex(r, "kv", &kv))
        for (size_t i = 0; i < json_object_array_length(kv) && n < MAX_FIELDS; i++)
            if (field_of(json_object_array_get_idx(kv, i), &fields[n++]) < 0)
                return -1;
    if (json_object_object_get_ex(r, "err", &err))
        fields[n++] = LF_ERR(json_object_get_string(err));
    fields[n] = LF_END;
    log_write(s, level, __FILE__, __LINE__, json_object_get_string(msg), fields);
    return 0;
}

int main(int argc, char **argv)
{
    enum log_format fmt;
    char line[1 << 16];
    if (argc != 3 || log_format_parse(argv[1], &fmt) < 0) {
        fprintf(stderr, "usage: kplogemit text|json RECORDS.jsonl\n");
        return 2;
    }
    FILE *in = fopen(argv[2], "r");
    if (!in) {
        perror(argv[2]);
        return 2;
    }
    log_configure(fmt, 10, stderr);
    while (fgets(line, sizeof(line), in)) {
        json_object *r = json_tokener_parse(line);
        if (!r || emit(r) < 0) {
            fprintf(stderr, "kplogemit: bad record: %s", line);
            json_object_put(r);
            fclose(in);
            return 2;
        }
        json_object_put(r);
    }
    fclose(in);
    return 0;
}
