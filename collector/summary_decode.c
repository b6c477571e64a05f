/*
 * summary_decode.c - one decoded Summary element (json-c object of the node
 * or of one pod) into the compact structs of summary.h. Unknown fields are
 * ignored, missing ones left unset; a value of the wrong type, a negative or
 * a non-finite number is skipped and counted, never fatal.
 */
#include "summary_int.h"

#include <math.h>
#include <string.h>

static json_object *dec_field(json_object *obj, const char *key, json_type want,
                              struct summary_counts *cnt)
{
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || !v)
        return NULL; /* missing or null: absent, as Go's decoder treats it */
    if (json_object_get_type(v) != want) {
        cnt->type_errors++;
        return NULL;
    }
    return v;
}

/* A non-negative integer counter; 1 when *out was set. */
static int dec_u64(json_object *obj, const char *key, uint64_t *out, struct summary_counts *cnt)
{
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || !v)
        return 0;
    switch (json_object_get_type(v)) {
    case json_type_int:
        /* json-c saturates out-of-range integers; a count beyond INT64_MAX
         * cannot be emitted (line protocol integers are signed 64-bit) */
        if (json_object_get_int64(v) < 0 || json_object_get_int64(v) == INT64_MAX) {
            cnt->negatives++;
            return 0;
        }
        *out = (uint64_t)json_object_get_int64(v);
        return 1;
    case json_type_double: {
        double d = json_object_get_double(v);
        if (!isfinite(d) || d < 0) {
            cnt->negatives++;
            return 0;
        }
        if (d >= 9223372036854775807.0) {
            cnt->negatives++; /* out of range, as above */
            return 0;
        }
        if (d != floor(d)) {
            cnt->type_errors++;
            return 0;
        }
        *out = (uint64_t)d;
        return 1;
    }
    default: cnt->type_errors++; return 0;
    }
}

static void dec_str(json_object *obj, const char *key, char *dst, size_t cap,
                    struct summary_counts *cnt)
{
    json_object *v = dec_field(obj, key, json_type_string, cnt);
    dst[0] = '\0';
    if (!v)
        return;
    size_t len = (size_t)json_object_get_string_len(v);
    const char *s = json_object_get_string(v);
    if (len >= cap || memchr(s, '\0', len)) {
        cnt->type_errors++;
        return;
    }
    memcpy(dst, s, len + 1);
}

static int64_t dec_time(json_object *obj, const char *key, struct summary_counts *cnt)
{
    json_object *v = dec_field(obj, key, json_type_string, cnt);
    int64_t ns;
    if (!v)
        return 0;
    if (summary_parse_time(json_object_get_string(v), &ns) < 0) {
        cnt->type_errors++;
        return 0;
    }
    return ns;
}

static void dec_val(json_object *obj, const char *key, struct summary_stats *st,
                    enum summary_value which, struct summary_counts *cnt)
{
    if (dec_u64(obj, key, &st->v[which], cnt))
        st->has |= 1u << which;
}

static void dec_stats(json_object *el, struct summary_stats *st, struct summary_counts *cnt)
{
    json_object *o;
    memset(st, 0, sizeof(*st));
    st->start_ns = dec_time(el, "startTime", cnt);
    if ((o = dec_field(el, "cpu", json_type_object, cnt))) {
        st->ts_ns[SG_CPU] = dec_time(o, "time", cnt);
        dec_val(o, "usageCoreNanoSeconds", st, SV_CPU_USAGE, cnt);
    }
    if ((o = dec_field(el, "memory", json_type_object, cnt))) {
        st->ts_ns[SG_MEM] = dec_time(o, "time", cnt);
        dec_val(o, "usageBytes", st, SV_MEM_USAGE, cnt);
        dec_val(o, "workingSetBytes", st, SV_MEM_WORKING_SET, cnt);
        dec_val(o, "rssBytes", st, SV_MEM_RSS, cnt);
        dec_val(o, "pageFaults", st, SV_MEM_PAGE_FAULTS, cnt);
        dec_val(o, "majorPageFaults", st, SV_MEM_MAJOR_PAGE_FAULTS, cnt);
    }
    if ((o = dec_field(el, "network", json_type_object, cnt))) {
        /* the inline fields are the default interface, as Heapster reads them */
        st->ts_ns[SG_NET] = dec_time(o, "time", cnt);
        dec_val(o, "rxBytes", st, SV_NET_RX, cnt);
        dec_val(o, "rxErrors", st, SV_NET_RX_ERRORS, cnt);
        dec_val(o, "txBytes", st, SV_NET_TX, cnt);
        dec_val(o, "txErrors", st, SV_NET_TX_ERRORS, cnt);
    }
}

static void dec_fs(json_object *o, struct summary_fs *fs, struct summary_counts *cnt)
{
    static const char *const keys[SF__COUNT] = {"availableBytes", "capacityBytes", "usedBytes",
                                                "inodes", "inodesFree"};
    fs->has = 0;
    if (!o)
        return;
    fs->ts_ns = dec_time(o, "time", cnt);
    for (int i = 0; i < SF__COUNT; i++)
        if (dec_u64(o, keys[i], &fs->v[i], cnt))
            fs->has |= (uint8_t)(1u << i);
}

static void dec_container(json_object *el, struct summary_container *c, struct summary_counts *cnt)
{
    dec_str(el, "name", c->name, sizeof(c->name), cnt);
    dec_stats(el, &c->st, cnt);
    c->rootfs.name[0] = c->logs.name[0] = '\0';
    dec_fs(dec_field(el, "rootfs", json_type_object, cnt), &c->rootfs, cnt);
    dec_fs(dec_field(el, "logs", json_type_object, cnt), &c->logs, cnt);
}

int summary_decode_node(json_object *el, struct summary_node *n, struct summary_counts *cnt)
{
    json_object *arr;
    if (json_object_get_type(el) != json_type_object) {
        cnt->type_errors++;
        return -1;
    }
    dec_str(el, "nodeName", n->name, sizeof(n->name), cnt);
    dec_stats(el, &n->st, cnt);
    n->fs.name[0] = '\0';
    dec_fs(dec_field(el, "fs", json_type_object, cnt), &n->fs, cnt);
    n->nsys = 0;
    if ((arr = dec_field(el, "systemContainers", json_type_array, cnt))) {
        size_t len = json_object_array_length(arr);
        for (size_t i = 0; i < len; i++) {
            json_object *c = json_object_array_get_idx(arr, i);
            if (json_object_get_type(c) != json_type_object) {
                cnt->type_errors++;
                continue;
            }
            if (n->nsys == SUMMARY_MAX_SYSCONTAINER) {
                cnt->dropped++;
                continue;
            }
            dec_container(c, &n->sys[n->nsys], cnt);
            if (n->sys[n->nsys].name[0])
                n->nsys++;
        }
    }
    return 0;
}

static int dec_grow(void **arr, size_t *cap, size_t want, size_t elsize)
{
    if (want <= *cap)
        return 0;
    void *n = realloc(*arr, want * elsize);
    if (!n)
        return -1;
    *arr = n;
    *cap = want;
    return 0;
}

int summary_decode_pod(json_object *el, struct summary_pod *p, struct summary_pod_bufs *b,
                       struct summary_counts *cnt)
{
    json_object *o, *arr;
    if (json_object_get_type(el) != json_type_object) {
        cnt->type_errors++;
        return -1;
    }
    o = dec_field(el, "podRef", json_type_object, cnt);
    dec_str(o, "name", p->name, sizeof(p->name), cnt);
    dec_str(o, "namespace", p->ns, sizeof(p->ns), cnt);
    dec_str(o, "uid", p->uid, sizeof(p->uid), cnt);
    dec_stats(el, &p->st, cnt);
    p->has_ephemeral = 0;
    if ((o = dec_field(el, "ephemeral-storage", json_type_object, cnt))) {
        p->ephemeral_ts_ns = dec_time(o, "time", cnt);
        p->has_ephemeral = dec_u64(o, "usedBytes", &p->ephemeral_used, cnt);
    }
    p->ncontainers = p->nvolumes = 0;
    if ((arr = dec_field(el, "containers", json_type_array, cnt))) {
        size_t len = json_object_array_length(arr);
        for (size_t i = 0; i < len; i++) {
            json_object *c = json_object_array_get_idx(arr, i);
            if (json_object_get_type(c) != json_type_object) {
                cnt->type_errors++;
                continue;
            }
            if (p->ncontainers == SUMMARY_MAX_CONTAINERS ||
                dec_grow((void **)&b->containers, &b->ccap, p->ncontainers + 1,
                         sizeof(*b->containers)) < 0) {
                cnt->dropped++;
                continue;
            }
            dec_container(c, &b->containers[p->ncontainers], cnt);
            if (b->containers[p->ncontainers].name[0])
                p->ncontainers++;
        }
    }
    if ((arr = dec_field(el, "volume", json_type_array, cnt))) {
        size_t len = json_object_array_length(arr);
        for (size_t i = 0; i < len; i++) {
            json_object *v = json_object_array_get_idx(arr, i);
            if (json_object_get_type(v) != json_type_object) {
                cnt->type_errors++;
                continue;
            }
            if (p->nvolumes == SUMMARY_MAX_VOLUMES ||
                dec_grow((void **)&b->volumes, &b->vcap, p->nvolumes + 1, sizeof(*b->volumes)) <
                    0) {
                cnt->dropped++;
                continue;
            }
            struct summary_fs *fs = &b->volumes[p->nvolumes];
            dec_str(v, "name", fs->name, sizeof(fs->name), cnt);
            dec_fs(v, fs, cnt);
            if (fs->name[0])
                p->nvolumes++;
        }
    }
    p->containers = b->containers;
    p->volumes = b->volumes;
    return 0;
}

/* ---- RFC 3339 ------------------------------------------------------------ */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int time_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

int summary_parse_time(const char *s, int64_t *ns)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t frac = 0;
    const char *p = s;
    if (time_digits(&p, 4, &y) || *p++ != '-' || time_digits(&p, 2, &mo) || *p++ != '-' ||
        time_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' ') || !*p++ ||
        time_digits(&p, 2, &h) || *p++ != ':' || time_digits(&p, 2, &mi) || *p++ != ':' ||
        time_digits(&p, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (y < 1970 || y > 2200) {
        /* Go's zero time ("0001-01-01T00:00:00Z") means unset; other years would
         * overflow int64 nanoseconds: both read as absent */
        *ns = 0;
        return y == 1 ? 0 : -1;
    }
    if (*p == '.') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 9)
                frac = frac * 10 + (*p - '0');
        if (!nd)
            return -1;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (time_digits(&p, 2, &oh) || *p++ != ':' || time_digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   sec - sign * (oh * 3600 + om * 60);
    *ns = secs * 1000000000LL + frac;
    return 0;
}
