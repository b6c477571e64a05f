/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lineproto_golden.c - the encoder's exact bytes, pinned. The texts below were made by
 * the encoder of main ea4e62c (before the encoder was rewritten for speed in session 7) from
 * the batches here: for every option set the length and FNV-1a hash of the whole output and,
 * literally, the first line of each series and timestamp (which holds every tag string);
 * and one batch of numbers at their limits in full. Any change to the bytes written fails.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "lineproto.h"
#include "lp_test_encode.h"

/* The batches of test_golden_encoding: escapes in every position (also across and at the
 * edges of 8-byte words), NULL and empty keys and values, "time", a cluster_name label, the
 * id tags, NaN-free floats, integers and timestamps at the int64 limits. */
static const struct kp_label GOLD_S0[] = {
    {"container_name", "app"},
    {"host_id", "aws:///i-0abc"},
    {"hostname", "node-1.example"},
    {"labels", "app:web,tier:front end"},
    {"namespace_id", "5b1c9c62-0e4c-4b7e-9d1a-2f3e4a5b6c7d"},
    {"namespace_name", "default"},
    {"nodename", "node=1 x"},
    {"pod_id", "uid-pod"},
    {"pod_name", "web-7d9f8c6b5-abcde"},
    {"type", "pod_container"},
};
static const struct kp_label GOLD_S1[] = {
    {NULL, "x"},
    {"", "x"},
    {"a_key\\", "v\\"},
    {"cluster_name", "label-cluster"},
    {"empty", ""},
    {"k,ey", "va=l ue"},
    {"nl", "l1\nl2\r"},
    {"nothing", NULL},
    {"time", "t"},
    {"type", "node"},
    {"\xc3\xbcn\xc3\xaf", "\xc4\x87\xc3\xb6\x64\xc3\xa9 \xe2\x98\x83"},
};
static const struct kp_label GOLD_S3[] = {
    {"a", "01234567"},
    {"b", "0123456,"},
    {"c", ",1234567"},
    {"d", "0123456\\"},
    {"e", "abcdefghijklmnopqrstuvwxyz0123456789"},
    {"f", "abcdefg,ijklmnop=rstuvwx yz\\"},
    {"g", "abcdefghijklmno\n"},
    {"h", "\\\\\\\\\\\\\\\\\\"},
    {"i", "abcdefghij=lmnopqrst"},
    {"j", "abcdefghij,lmnopqrst"},
    {"k", "abcdefghij lmnopqrst"},
    {"l0", "abcdefghij\rlmnopqrst"},
    {"l1", "abcdefgh\\"},
    {"l2", "abcdefgh01234567\\"},
    {"longer_key_with spaces_and=equals", "v"},
    {"z", "0123456789abcdef0123456789abcdef="},
};
static const struct kp_label GOLD_S4[] = {
    {"aaa", "1"},
    {"cluster", "before"},
    {"cluster_namf", "after"},
    {"d", "2"},
};
static const struct kp_label GOLD_S5[] = {{"b", "x"}, {"cluster_name", "own"}};

static void gold_series(struct kp_series *s, const struct kp_label *l, size_t n)
{
    memset(s, 0, sizeof *s);
    if (n)
        memcpy(s->labels, l, n * sizeof l[0]);
    s->nlabels = (uint8_t)n;
}

/* Six series, and points of every metric over them with limit values. */
static size_t gold_batch(struct kp_series *s, struct kp_point *p)
{
    gold_series(&s[0], GOLD_S0, sizeof GOLD_S0 / sizeof GOLD_S0[0]);
    gold_series(&s[1], GOLD_S1, sizeof GOLD_S1 / sizeof GOLD_S1[0]);
    gold_series(&s[2], NULL, 0);
    gold_series(&s[3], GOLD_S3, sizeof GOLD_S3 / sizeof GOLD_S3[0]);
    gold_series(&s[4], GOLD_S4, sizeof GOLD_S4 / sizeof GOLD_S4[0]);
    gold_series(&s[5], GOLD_S5, sizeof GOLD_S5 / sizeof GOLD_S5[0]);
    static const int64_t ints[] = {0, 1, -1, 9, 10, 99, 100, 1000000007, INT64_MAX, INT64_MIN};
    static const double floats[] = {
        0.0, -0.0,     0.1,     1.0 / 3,    5e-324,   1.7976931348623157e308, 1e21, 1e-7, 100,
        NAN, INFINITY, -2.5e-5, 12345.6789, -INFINITY};
    static const int64_t ts[] = {1700000000000000000, 0, -1, INT64_MAX, INT64_MIN};
    size_t np = 0;
    for (uint32_t si = 0; si < 6; si++) {
        for (int t = 0; t < 2; t++) {
            for (int m = 0; m < KP_M__COUNT; m++) {
                struct kp_point *q = &p[np];
                q->series = si;
                q->metric = (uint16_t)m;
                q->ts_ns = ts[(si + (unsigned)t) % 5];
                if (kp_metrics[m].type == KP_VALUE_INT)
                    q->v.i = ints[(si * 7 + (unsigned)m + (unsigned)t) % 10];
                else
                    q->v.f = floats[(si * 5 + (unsigned)m + (unsigned)t) % 14];
                np++;
            }
        }
    }
    return np;
}

/* The option sets the golden texts were made with. */
static const struct lp_options GOLD_OPTS[] = {
    {.cluster_name = "c,1 x"},
    {0},
    {.withfields = true, .cluster_name = "default", .drop_ids = true},
    {.skip_cumulative = true, .drop_ids = true, .cluster_name = "zzz"},
    {.withfields = true, .skip_cumulative = true},
};
#define GOLD_NOPTS (sizeof GOLD_OPTS / sizeof GOLD_OPTS[0])

/* One unlabelled series: integers, floats and timestamps at their limits. */
static size_t gold_numbers(struct kp_point *p)
{
    static const int64_t ints[] = {
        INT64_MIN,  INT64_MIN + 1, -1,       0, 1, 9, 10, 99, 100, 999999999,
        1000000000, INT64_MAX - 1, INT64_MAX};
    static const double floats[] = {-0.0,
                                    5e-324,
                                    2.2250738585072014e-308,
                                    0.1,
                                    0.5,
                                    1.0 / 3,
                                    100,
                                    1e21,
                                    1.5e-7,
                                    9007199254740993.0,
                                    1.7976931348623157e308,
                                    -1.7976931348623157e308};
    size_t np = 0;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        p[np++] = (struct kp_point){0, KP_M_MEM_USAGE, {.i = ints[i]}, ints[i]};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        p[np++] = (struct kp_point){0, KP_M_NET_RX_RATE, {.f = floats[i]}, (int64_t)i};
    return np;
}

struct gold_text {
    size_t len;         /* of the whole output */
    uint64_t fnv;       /* FNV-1a 64 of the whole output */
    const char *firsts; /* the first line of each series and timestamp, in order */
};

static const struct gold_text GOLD_TEXT[GOLD_NOPTS] = {
    /* GOLD_OPTS[0]: lines 407 points 407 nonfinite 37 filtered 0 */
    {78417, UINT64_C(0x2ff2f553561e65fc),
     "cpu/limit,cluster_name=c\\,1\\ "
     "x,container_name=app,host_id=aws:///"
     "i-0abc,hostname=node-1.example,labels=app:web\\,tier:front\\ "
     "end,namespace_id=5b1c9c62-0e4c-4b7e-9d1a-2f3e4a5b6c7d,namespace_name=default,nodename=node\\="
     "1\\ x,pod_id=uid-pod,pod_name=web-7d9f8c6b5-abcde,type=pod_container value=0i "
     "1700000000000000000\n"
     "cpu/limit,cluster_name=c\\,1\\ "
     "x,container_name=app,host_id=aws:///"
     "i-0abc,hostname=node-1.example,labels=app:web\\,tier:front\\ "
     "end,namespace_id=5b1c9c62-0e4c-4b7e-9d1a-2f3e4a5b6c7d,namespace_name=default,nodename=node\\="
     "1\\ x,pod_id=uid-pod,pod_name=web-7d9f8c6b5-abcde,type=pod_container value=1i 0\n"
     "cpu/limit,a_key\xef"
     "\xbc"
     "\xbc"
     "=v\xef"
     "\xbc"
     "\xbc"
     ",cluster_name=c\\,1\\ x,k\\,ey=va\\=l\\ ue,nl=l1\\nl2\\r,type=node,\xc3"
     "\xbc"
     "n\xc3"
     "\xaf"
     "=\xc4"
     "\x87"
     "\xc3"
     "\xb6"
     "d\xc3"
     "\xa9"
     "\\ \xe2"
     "\x98"
     "\x83"
     " value=1000000007i 0\n"
     "cpu/limit,a_key\xef"
     "\xbc"
     "\xbc"
     "=v\xef"
     "\xbc"
     "\xbc"
     ",cluster_name=c\\,1\\ x,k\\,ey=va\\=l\\ ue,nl=l1\\nl2\\r,type=node,\xc3"
     "\xbc"
     "n\xc3"
     "\xaf"
     "=\xc4"
     "\x87"
     "\xc3"
     "\xb6"
     "d\xc3"
     "\xa9"
     "\\ \xe2"
     "\x98"
     "\x83"
     " value=9223372036854775807i -1\n"
     "cpu/limit,cluster_name=c\\,1\\ x value=10i -1\n"
     "cpu/limit,cluster_name=c\\,1\\ x value=99i 9223372036854775807\n"
     "cpu/limit,a=01234567,b=0123456\\,,c=\\,1234567,cluster_name=c\\,1\\ x,d=0123456\xef"
     "\xbc"
     "\xbc"
     ",e=abcdefghijklmnopqrstuvwxyz0123456789,f=abcdefg\\,ijklmnop\\=rstuvwx\\ yz\xef"
     "\xbc"
     "\xbc"
     ",g=abcdefghijklmno\\n,h=\\\\\\\\\\\\\\\\\xef"
     "\xbc"
     "\xbc"
     ",i=abcdefghij\\=lmnopqrst,j=abcdefghij\\,lmnopqrst,k=abcdefghij\\ "
     "lmnopqrst,l0=abcdefghij\\rlmnopqrst,l1=abcdefgh\xef"
     "\xbc"
     "\xbc"
     ",l2=abcdefgh01234567\xef"
     "\xbc"
     "\xbc"
     ",longer_key_with\\ spaces_and\\=equals=v,z=0123456789abcdef0123456789abcdef\\= value=1i "
     "9223372036854775807\n"
     "cpu/limit,a=01234567,b=0123456\\,,c=\\,1234567,cluster_name=c\\,1\\ x,d=0123456\xef"
     "\xbc"
     "\xbc"
     ",e=abcdefghijklmnopqrstuvwxyz0123456789,f=abcdefg\\,ijklmnop\\=rstuvwx\\ yz\xef"
     "\xbc"
     "\xbc"
     ",g=abcdefghijklmno\\n,h=\\\\\\\\\\\\\\\\\xef"
     "\xbc"
     "\xbc"
     ",i=abcdefghij\\=lmnopqrst,j=abcdefghij\\,lmnopqrst,k=abcdefghij\\ "
     "lmnopqrst,l0=abcdefghij\\rlmnopqrst,l1=abcdefgh\xef"
     "\xbc"
     "\xbc"
     ",l2=abcdefgh01234567\xef"
     "\xbc"
     "\xbc"
     ",longer_key_with\\ spaces_and\\=equals=v,z=0123456789abcdef0123456789abcdef\\= value=-1i "
     "-9223372036854775808\n"
     "cpu/limit,aaa=1,cluster=before,cluster_name=c\\,1\\ x,cluster_namf=after,d=2 "
     "value=9223372036854775807i -9223372036854775808\n"
     "cpu/limit,aaa=1,cluster=before,cluster_name=c\\,1\\ x,cluster_namf=after,d=2 "
     "value=-9223372036854775808i 1700000000000000000\n"
     "cpu/limit,b=x,cluster_name=c\\,1\\ x value=99i 1700000000000000000\n"
     "cpu/limit,b=x,cluster_name=c\\,1\\ x value=100i 0\n"},
    /* GOLD_OPTS[1]: lines 407 points 407 nonfinite 37 filtered 0 */
    {72805, UINT64_C(0x1d513197ce2bd9b0),
     "cpu/limit,container_name=app,host_id=aws:///"
     "i-0abc,hostname=node-1.example,labels=app:web\\,tier:front\\ "
     "end,namespace_id=5b1c9c62-0e4c-4b7e-9d1a-2f3e4a5b6c7d,namespace_name=default,nodename=node\\="
     "1\\ x,pod_id=uid-pod,pod_name=web-7d9f8c6b5-abcde,type=pod_container value=0i "
     "1700000000000000000\n"
     "cpu/limit,container_name=app,host_id=aws:///"
     "i-0abc,hostname=node-1.example,labels=app:web\\,tier:front\\ "
     "end,namespace_id=5b1c9c62-0e4c-4b7e-9d1a-2f3e4a5b6c7d,namespace_name=default,nodename=node\\="
     "1\\ x,pod_id=uid-pod,pod_name=web-7d9f8c6b5-abcde,type=pod_container value=1i 0\n"
     "cpu/limit,a_key\xef"
     "\xbc"
     "\xbc"
     "=v\xef"
     "\xbc"
     "\xbc"
     ",cluster_name=label-cluster,k\\,ey=va\\=l\\ ue,nl=l1\\nl2\\r,type=node,\xc3"
     "\xbc"
     "n\xc3"
     "\xaf"
     "=\xc4"
     "\x87"
     "\xc3"
     "\xb6"
     "d\xc3"
     "\xa9"
     "\\ \xe2"
     "\x98"
     "\x83"
     " value=1000000007i 0\n"
     "cpu/limit,a_key\xef"
     "\xbc"
     "\xbc"
     "=v\xef"
     "\xbc"
     "\xbc"
     ",cluster_name=label-cluster,k\\,ey=va\\=l\\ ue,nl=l1\\nl2\\r,type=node,\xc3"
     "\xbc"
     "n\xc3"
     "\xaf"
     "=\xc4"
     "\x87"
     "\xc3"
     "\xb6"
     "d\xc3"
     "\xa9"
     "\\ \xe2"
     "\x98"
     "\x83"
     " value=9223372036854775807i -1\n"
     "cpu/limit value=10i -1\n"
     "cpu/limit value=99i 9223372036854775807\n"
     "cpu/limit,a=01234567,b=0123456\\,,c=\\,1234567,d=0123456\xef"
     "\xbc"
     "\xbc"
     ",e=abcdefghijklmnopqrstuvwxyz0123456789,f=abcdefg\\,ijklmnop\\=rstuvwx\\ yz\xef"
     "\xbc"
     "\xbc"
     ",g=abcdefghijklmno\\n,h=\\\\\\\\\\\\\\\\\xef"
     "\xbc"
     "\xbc"
     ",i=abcdefghij\\=lmnopqrst,j=abcdefghij\\,lmnopqrst,k=abcdefghij\\ "
     "lmnopqrst,l0=abcdefghij\\rlmnopqrst,l1=abcdefgh\xef"
     "\xbc"
     "\xbc"
     ",l2=abcdefgh01234567\xef"
     "\xbc"
     "\xbc"
     ",longer_key_with\\ spaces_and\\=equals=v,z=0123456789abcdef0123456789abcdef\\= value=1i "
     "9223372036854775807\n"
     "cpu/limit,a=01234567,b=0123456\\,,c=\\,1234567,d=0123456\xef"
     "\xbc"
     "\xbc"
     ",e=abcdefghijklmnopqrstuvwxyz0123456789,f=abcdefg\\,ijklmnop\\=rstuvwx\\ yz\xef"
     "\xbc"
     "\xbc"
     ",g=abcdefghijklmno\\n,h=\\\\\\\\\\\\\\\\\xef"
     "\xbc"
     "\xbc"
     ",i=abcdefghij\\=lmnopqrst,j=abcdefghij\\,lmnopqrst,k=abcdefghij\\ "
     "lmnopqrst,l0=abcdefghij\\rlmnopqrst,l1=abcdefgh\xef"
     "\xbc"
     "\xbc"
     ",l2=abcdefgh01234567\xef"
     "\xbc"
     "\xbc"
     ",longer_key_with\\ spaces_and\\=equals=v,z=0123456789abcdef0123456789abcdef\\= value=-1i "
     "-9223372036854775808\n"
     "cpu/limit,aaa=1,cluster=before,cluster_namf=after,d=2 value=9223372036854775807i "
     "-9223372036854775808\n"
     "cpu/limit,aaa=1,cluster=before,cluster_namf=after,d=2 value=-9223372036854775808i "
     "1700000000000000000\n"
     "cpu/limit,b=x,cluster_name=own value=99i 1700000000000000000\n"
     "cpu/limit,b=x,cluster_name=own value=100i 0\n"},
    /* GOLD_OPTS[2]: lines 72 points 407 nonfinite 37 filtered 0 */
    {18131, UINT64_C(0xbe30f203d4c7c725),
     "cpu,cluster_name=default,container_name=app,labels=app:web\\,tier:front\\ "
     "end,namespace_name=default,nodename=node\\=1\\ "
     "x,pod_name=web-7d9f8c6b5-abcde,type=pod_container "
     "limit=0i,node_allocatable=-0,node_capacity=0.1,node_reservation=0.3333333333333333,node_"
     "utilization=5e-324,request=99i,usage=100i,usage_rate=1000000007i 1700000000000000000\n"
     "cpu,cluster_name=default,container_name=app,labels=app:web\\,tier:front\\ "
     "end,namespace_name=default,nodename=node\\=1\\ "
     "x,pod_name=web-7d9f8c6b5-abcde,type=pod_container "
     "limit=1i,node_allocatable=0.1,node_capacity=0.3333333333333333,node_reservation=5e-324,node_"
     "utilization=1.7976931348623157e+308,request=100i,usage=1000000007i,usage_rate="
     "9223372036854775807i 0\n"
     "cpu,a_key\xef"
     "\xbc"
     "\xbc"
     "=v\xef"
     "\xbc"
     "\xbc"
     ",cluster_name=default,k\\,ey=va\\=l\\ ue,nl=l1\\nl2\\r,type=node,\xc3"
     "\xbc"
     "n\xc3"
     "\xaf"
     "=\xc4"
     "\x87"
     "\xc3"
     "\xb6"
     "d\xc3"
     "\xa9"
     "\\ \xe2"
     "\x98"
     "\x83"
     " limit=1000000007i,node_allocatable=1e+21,node_capacity=1e-7,node_reservation=100,request=-"
     "1i,usage=9i,usage_rate=10i 0\n"
     "cpu,a_key\xef"
     "\xbc"
     "\xbc"
     "=v\xef"
     "\xbc"
     "\xbc"
     ",cluster_name=default,k\\,ey=va\\=l\\ ue,nl=l1\\nl2\\r,type=node,\xc3"
     "\xbc"
     "n\xc3"
     "\xaf"
     "=\xc4"
     "\x87"
     "\xc3"
     "\xb6"
     "d\xc3"
     "\xa9"
     "\\ \xe2"
     "\x98"
     "\x83"
     " limit=9223372036854775807i,node_allocatable=1e-7,node_capacity=100,request=9i,usage=10i,"
     "usage_rate=99i -1\n"
     "cpu,cluster_name=default "
     "limit=10i,node_allocatable=-0.000025,node_capacity=12345.6789,node_utilization=0,request=-"
     "9223372036854775808i,usage=0i,usage_rate=1i -1\n"
     "cpu,cluster_name=default "
     "limit=99i,node_allocatable=12345.6789,node_reservation=0,node_utilization=-0,request=0i,"
     "usage=1i,usage_rate=-1i 9223372036854775807\n"
     "cpu,a=01234567,b=0123456\\,,c=\\,1234567,cluster_name=default,d=0123456\xef"
     "\xbc"
     "\xbc"
     ",e=abcdefghijklmnopqrstuvwxyz0123456789,f=abcdefg\\,ijklmnop\\=rstuvwx\\ yz\xef"
     "\xbc"
     "\xbc"
     ",g=abcdefghijklmno\\n,h=\\\\\\\\\\\\\\\\\xef"
     "\xbc"
     "\xbc"
     ",i=abcdefghij\\=lmnopqrst,j=abcdefghij\\,lmnopqrst,k=abcdefghij\\ "
     "lmnopqrst,l0=abcdefghij\\rlmnopqrst,l1=abcdefgh\xef"
     "\xbc"
     "\xbc"
     ",l2=abcdefgh01234567\xef"
     "\xbc"
     "\xbc"
     ",longer_key_with\\ spaces_and\\=equals=v,z=0123456789abcdef0123456789abcdef\\= "
     "limit=1i,node_allocatable=0.1,node_capacity=0.3333333333333333,node_reservation=5e-324,node_"
     "utilization=1.7976931348623157e+308,request=100i,usage=1000000007i,usage_rate="
     "9223372036854775807i 9223372036854775807\n"
     "cpu,a=01234567,b=0123456\\,,c=\\,1234567,cluster_name=default,d=0123456\xef"
     "\xbc"
     "\xbc"
     ",e=abcdefghijklmnopqrstuvwxyz0123456789,f=abcdefg\\,ijklmnop\\=rstuvwx\\ yz\xef"
     "\xbc"
     "\xbc"
     ",g=abcdefghijklmno\\n,h=\\\\\\\\\\\\\\\\\xef"
     "\xbc"
     "\xbc"
     ",i=abcdefghij\\=lmnopqrst,j=abcdefghij\\,lmnopqrst,k=abcdefghij\\ "
     "lmnopqrst,l0=abcdefghij\\rlmnopqrst,l1=abcdefgh\xef"
     "\xbc"
     "\xbc"
     ",l2=abcdefgh01234567\xef"
     "\xbc"
     "\xbc"
     ",longer_key_with\\ spaces_and\\=equals=v,z=0123456789abcdef0123456789abcdef\\= "
     "limit=-1i,node_allocatable=0.3333333333333333,node_capacity=5e-324,node_reservation=1."
     "7976931348623157e+308,node_utilization=1e+21,request=1000000007i,usage=9223372036854775807i,"
     "usage_rate=-9223372036854775808i -9223372036854775808\n"
     "cpu,aaa=1,cluster=before,cluster_name=default,cluster_namf=after,d=2 "
     "limit=9223372036854775807i,node_allocatable=1e-7,node_capacity=100,request=9i,usage=10i,"
     "usage_rate=99i -9223372036854775808\n"
     "cpu,aaa=1,cluster=before,cluster_name=default,cluster_namf=after,d=2 "
     "limit=-9223372036854775808i,node_allocatable=100,node_utilization=-0.000025,request=10i,"
     "usage=99i,usage_rate=100i 1700000000000000000\n"
     "cpu,b=x,cluster_name=default "
     "limit=99i,node_allocatable=12345.6789,node_reservation=0,node_utilization=-0,request=0i,"
     "usage=1i,usage_rate=-1i 1700000000000000000\n"
     "cpu,b=x,cluster_name=default "
     "limit=100i,node_capacity=0,node_reservation=-0,node_utilization=0.1,request=1i,usage=-1i,"
     "usage_rate=9i 0\n"},
    /* GOLD_OPTS[3]: lines 311 points 311 nonfinite 37 filtered 96 */
    {53149, UINT64_C(0x91cad17be8e7a2bf),
     "cpu/limit,cluster_name=zzz,container_name=app,labels=app:web\\,tier:front\\ "
     "end,namespace_name=default,nodename=node\\=1\\ "
     "x,pod_name=web-7d9f8c6b5-abcde,type=pod_container value=0i 1700000000000000000\n"
     "cpu/limit,cluster_name=zzz,container_name=app,labels=app:web\\,tier:front\\ "
     "end,namespace_name=default,nodename=node\\=1\\ "
     "x,pod_name=web-7d9f8c6b5-abcde,type=pod_container value=1i 0\n"
     "cpu/limit,a_key\xef"
     "\xbc"
     "\xbc"
     "=v\xef"
     "\xbc"
     "\xbc"
     ",cluster_name=zzz,k\\,ey=va\\=l\\ ue,nl=l1\\nl2\\r,type=node,\xc3"
     "\xbc"
     "n\xc3"
     "\xaf"
     "=\xc4"
     "\x87"
     "\xc3"
     "\xb6"
     "d\xc3"
     "\xa9"
     "\\ \xe2"
     "\x98"
     "\x83"
     " value=1000000007i 0\n"
     "cpu/limit,a_key\xef"
     "\xbc"
     "\xbc"
     "=v\xef"
     "\xbc"
     "\xbc"
     ",cluster_name=zzz,k\\,ey=va\\=l\\ ue,nl=l1\\nl2\\r,type=node,\xc3"
     "\xbc"
     "n\xc3"
     "\xaf"
     "=\xc4"
     "\x87"
     "\xc3"
     "\xb6"
     "d\xc3"
     "\xa9"
     "\\ \xe2"
     "\x98"
     "\x83"
     " value=9223372036854775807i -1\n"
     "cpu/limit,cluster_name=zzz value=10i -1\n"
     "cpu/limit,cluster_name=zzz value=99i 9223372036854775807\n"
     "cpu/limit,a=01234567,b=0123456\\,,c=\\,1234567,cluster_name=zzz,d=0123456\xef"
     "\xbc"
     "\xbc"
     ",e=abcdefghijklmnopqrstuvwxyz0123456789,f=abcdefg\\,ijklmnop\\=rstuvwx\\ yz\xef"
     "\xbc"
     "\xbc"
     ",g=abcdefghijklmno\\n,h=\\\\\\\\\\\\\\\\\xef"
     "\xbc"
     "\xbc"
     ",i=abcdefghij\\=lmnopqrst,j=abcdefghij\\,lmnopqrst,k=abcdefghij\\ "
     "lmnopqrst,l0=abcdefghij\\rlmnopqrst,l1=abcdefgh\xef"
     "\xbc"
     "\xbc"
     ",l2=abcdefgh01234567\xef"
     "\xbc"
     "\xbc"
     ",longer_key_with\\ spaces_and\\=equals=v,z=0123456789abcdef0123456789abcdef\\= value=1i "
     "9223372036854775807\n"
     "cpu/limit,a=01234567,b=0123456\\,,c=\\,1234567,cluster_name=zzz,d=0123456\xef"
     "\xbc"
     "\xbc"
     ",e=abcdefghijklmnopqrstuvwxyz0123456789,f=abcdefg\\,ijklmnop\\=rstuvwx\\ yz\xef"
     "\xbc"
     "\xbc"
     ",g=abcdefghijklmno\\n,h=\\\\\\\\\\\\\\\\\xef"
     "\xbc"
     "\xbc"
     ",i=abcdefghij\\=lmnopqrst,j=abcdefghij\\,lmnopqrst,k=abcdefghij\\ "
     "lmnopqrst,l0=abcdefghij\\rlmnopqrst,l1=abcdefgh\xef"
     "\xbc"
     "\xbc"
     ",l2=abcdefgh01234567\xef"
     "\xbc"
     "\xbc"
     ",longer_key_with\\ spaces_and\\=equals=v,z=0123456789abcdef0123456789abcdef\\= value=-1i "
     "-9223372036854775808\n"
     "cpu/limit,aaa=1,cluster=before,cluster_name=zzz,cluster_namf=after,d=2 "
     "value=9223372036854775807i -9223372036854775808\n"
     "cpu/limit,aaa=1,cluster=before,cluster_name=zzz,cluster_namf=after,d=2 "
     "value=-9223372036854775808i 1700000000000000000\n"
     "cpu/limit,b=x,cluster_name=zzz value=99i 1700000000000000000\n"
     "cpu/limit,b=x,cluster_name=zzz value=100i 0\n"},
    /* GOLD_OPTS[4]: lines 60 points 311 nonfinite 37 filtered 96 */
    {15127, UINT64_C(0x3161dd5c5e29f22a),
     "cpu,container_name=app,host_id=aws:///"
     "i-0abc,hostname=node-1.example,labels=app:web\\,tier:front\\ "
     "end,namespace_id=5b1c9c62-0e4c-4b7e-9d1a-2f3e4a5b6c7d,namespace_name=default,nodename=node\\="
     "1\\ x,pod_id=uid-pod,pod_name=web-7d9f8c6b5-abcde,type=pod_container "
     "limit=0i,node_allocatable=-0,node_capacity=0.1,node_reservation=0.3333333333333333,node_"
     "utilization=5e-324,request=99i,usage_rate=1000000007i 1700000000000000000\n"
     "cpu,container_name=app,host_id=aws:///"
     "i-0abc,hostname=node-1.example,labels=app:web\\,tier:front\\ "
     "end,namespace_id=5b1c9c62-0e4c-4b7e-9d1a-2f3e4a5b6c7d,namespace_name=default,nodename=node\\="
     "1\\ x,pod_id=uid-pod,pod_name=web-7d9f8c6b5-abcde,type=pod_container "
     "limit=1i,node_allocatable=0.1,node_capacity=0.3333333333333333,node_reservation=5e-324,node_"
     "utilization=1.7976931348623157e+308,request=100i,usage_rate=9223372036854775807i 0\n"
     "cpu,a_key\xef"
     "\xbc"
     "\xbc"
     "=v\xef"
     "\xbc"
     "\xbc"
     ",cluster_name=label-cluster,k\\,ey=va\\=l\\ ue,nl=l1\\nl2\\r,type=node,\xc3"
     "\xbc"
     "n\xc3"
     "\xaf"
     "=\xc4"
     "\x87"
     "\xc3"
     "\xb6"
     "d\xc3"
     "\xa9"
     "\\ \xe2"
     "\x98"
     "\x83"
     " limit=1000000007i,node_allocatable=1e+21,node_capacity=1e-7,node_reservation=100,request=-"
     "1i,usage_rate=10i 0\n"
     "cpu,a_key\xef"
     "\xbc"
     "\xbc"
     "=v\xef"
     "\xbc"
     "\xbc"
     ",cluster_name=label-cluster,k\\,ey=va\\=l\\ ue,nl=l1\\nl2\\r,type=node,\xc3"
     "\xbc"
     "n\xc3"
     "\xaf"
     "=\xc4"
     "\x87"
     "\xc3"
     "\xb6"
     "d\xc3"
     "\xa9"
     "\\ \xe2"
     "\x98"
     "\x83"
     " limit=9223372036854775807i,node_allocatable=1e-7,node_capacity=100,request=9i,usage_rate="
     "99i -1\n"
     "cpu "
     "limit=10i,node_allocatable=-0.000025,node_capacity=12345.6789,node_utilization=0,request=-"
     "9223372036854775808i,usage_rate=1i -1\n"
     "cpu "
     "limit=99i,node_allocatable=12345.6789,node_reservation=0,node_utilization=-0,request=0i,"
     "usage_rate=-1i 9223372036854775807\n"
     "cpu,a=01234567,b=0123456\\,,c=\\,1234567,d=0123456\xef"
     "\xbc"
     "\xbc"
     ",e=abcdefghijklmnopqrstuvwxyz0123456789,f=abcdefg\\,ijklmnop\\=rstuvwx\\ yz\xef"
     "\xbc"
     "\xbc"
     ",g=abcdefghijklmno\\n,h=\\\\\\\\\\\\\\\\\xef"
     "\xbc"
     "\xbc"
     ",i=abcdefghij\\=lmnopqrst,j=abcdefghij\\,lmnopqrst,k=abcdefghij\\ "
     "lmnopqrst,l0=abcdefghij\\rlmnopqrst,l1=abcdefgh\xef"
     "\xbc"
     "\xbc"
     ",l2=abcdefgh01234567\xef"
     "\xbc"
     "\xbc"
     ",longer_key_with\\ spaces_and\\=equals=v,z=0123456789abcdef0123456789abcdef\\= "
     "limit=1i,node_allocatable=0.1,node_capacity=0.3333333333333333,node_reservation=5e-324,node_"
     "utilization=1.7976931348623157e+308,request=100i,usage_rate=9223372036854775807i "
     "9223372036854775807\n"
     "cpu,a=01234567,b=0123456\\,,c=\\,1234567,d=0123456\xef"
     "\xbc"
     "\xbc"
     ",e=abcdefghijklmnopqrstuvwxyz0123456789,f=abcdefg\\,ijklmnop\\=rstuvwx\\ yz\xef"
     "\xbc"
     "\xbc"
     ",g=abcdefghijklmno\\n,h=\\\\\\\\\\\\\\\\\xef"
     "\xbc"
     "\xbc"
     ",i=abcdefghij\\=lmnopqrst,j=abcdefghij\\,lmnopqrst,k=abcdefghij\\ "
     "lmnopqrst,l0=abcdefghij\\rlmnopqrst,l1=abcdefgh\xef"
     "\xbc"
     "\xbc"
     ",l2=abcdefgh01234567\xef"
     "\xbc"
     "\xbc"
     ",longer_key_with\\ spaces_and\\=equals=v,z=0123456789abcdef0123456789abcdef\\= "
     "limit=-1i,node_allocatable=0.3333333333333333,node_capacity=5e-324,node_reservation=1."
     "7976931348623157e+308,node_utilization=1e+21,request=1000000007i,usage_rate=-"
     "9223372036854775808i -9223372036854775808\n"
     "cpu,aaa=1,cluster=before,cluster_namf=after,d=2 "
     "limit=9223372036854775807i,node_allocatable=1e-7,node_capacity=100,request=9i,usage_rate=99i "
     "-9223372036854775808\n"
     "cpu,aaa=1,cluster=before,cluster_namf=after,d=2 "
     "limit=-9223372036854775808i,node_allocatable=100,node_utilization=-0.000025,request=10i,"
     "usage_rate=100i 1700000000000000000\n"
     "cpu,b=x,cluster_name=own "
     "limit=99i,node_allocatable=12345.6789,node_reservation=0,node_utilization=-0,request=0i,"
     "usage_rate=-1i 1700000000000000000\n"
     "cpu,b=x,cluster_name=own "
     "limit=100i,node_capacity=0,node_reservation=-0,node_utilization=0.1,request=1i,usage_rate=9i "
     "0\n"},
};

static const char GOLD_NUMBERS[] = "memory/usage value=-9223372036854775808i -9223372036854775808\n"
                                   "memory/usage value=-9223372036854775807i -9223372036854775807\n"
                                   "memory/usage value=-1i -1\n"
                                   "memory/usage value=0i 0\n"
                                   "memory/usage value=1i 1\n"
                                   "memory/usage value=9i 9\n"
                                   "memory/usage value=10i 10\n"
                                   "memory/usage value=99i 99\n"
                                   "memory/usage value=100i 100\n"
                                   "memory/usage value=999999999i 999999999\n"
                                   "memory/usage value=1000000000i 1000000000\n"
                                   "memory/usage value=9223372036854775806i 9223372036854775806\n"
                                   "memory/usage value=9223372036854775807i 9223372036854775807\n"
                                   "network/rx_rate value=-0 0\n"
                                   "network/rx_rate value=5e-324 1\n"
                                   "network/rx_rate value=2.2250738585072014e-308 2\n"
                                   "network/rx_rate value=0.1 3\n"
                                   "network/rx_rate value=0.5 4\n"
                                   "network/rx_rate value=0.3333333333333333 5\n"
                                   "network/rx_rate value=100 6\n"
                                   "network/rx_rate value=1e+21 7\n"
                                   "network/rx_rate value=1.5e-7 8\n"
                                   "network/rx_rate value=9007199254740992 9\n"
                                   "network/rx_rate value=1.7976931348623157e+308 10\n"
                                   "network/rx_rate value=-1.7976931348623157e+308 11\n";

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

KP_TEST(test_golden_encoding)
{
    (void)state;
    static struct kp_series s[6];
    static struct kp_point p[6 * 2 * KP_M__COUNT];
    struct kp_batch b = {s, 6, p, gold_batch(s, p), NULL};
    for (size_t o = 0; o < GOLD_NOPTS; o++) {
        size_t len;
        char *text = lp_test_encode(&GOLD_OPTS[o], &b, NULL, &len);
        /* each expected first line is a whole line of the output, in order */
        const char *at = text;
        for (const char *l = GOLD_TEXT[o].firsts; *l;) {
            size_t n = (size_t)(strchr(l, '\n') - l) + 1;
            while (*at && strncmp(at, l, n) != 0)
                at = strchr(at, '\n') + 1;
            if (!*at)
                fail_msg("options %zu: expected line not found: %.*s", o, (int)n, l);
            at += n;
            l += n;
        }
        if (len != GOLD_TEXT[o].len || fnv1a(text, len) != GOLD_TEXT[o].fnv)
            fail_msg("options %zu: %zu bytes, hash %016llx; golden %zu bytes, %016llx", o, len,
                     (unsigned long long)fnv1a(text, len), GOLD_TEXT[o].len,
                     (unsigned long long)GOLD_TEXT[o].fnv);
        free(text);
    }
}

KP_TEST(test_golden_numbers)
{
    (void)state;
    struct kp_series one = {0};
    struct kp_point p[32];
    struct kp_batch b = {&one, 1, p, gold_numbers(p), NULL};
    struct lp_options o = {0};
    size_t len;
    char *text = lp_test_encode(&o, &b, NULL, &len);
    assert_string_equal(text, GOLD_NUMBERS);
    free(text);
}
