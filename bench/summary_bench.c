/* SPDX-License-Identifier: Apache-2.0 */
/*
 * summary_bench.c - micro-benchmark of the streaming Summary parser (collector/summary.h):
 * feeds a saved /stats/summary response from disk in 16 KiB reads, as curl hands it over,
 * `rounds` times, and prints bytes parsed per CPU second and the process's peak RSS, so runs on
 * a 1 MB and a 100 MB response show whether peak memory depends on the response size.
 * Usage: summary_bench FILE [rounds]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "summary.h"

struct tally {
    unsigned long long pods, containers, nodes;
};

static int on_node(const struct summary_node *n, void *ud)
{
    (void)n;
    ((struct tally *)ud)->nodes++;
    return 0;
}

static int on_pod(const struct summary_pod *p, void *ud)
{
    struct tally *t = ud;
    t->pods++;
    t->containers += p->ncontainers;
    return 0;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* VmHWM / VmRSS from /proc/self/status, in KiB. */
static long proc_kib(const char *key)
{
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            v = strtol(line + klen + 1, NULL, 10);
    fclose(f);
    return v;
}

static int parse_file(struct summary_parser *p, int fd, struct tally *t, unsigned long long *bytes)
{
    static char buf[16384];
    char err[256];
    struct summary_handlers h = {.node = on_node, .pod = on_pod};
    ssize_t n;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return -1;
    summary_parse_reset(p, &h, t);
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        *bytes += (unsigned long long)n;
        if (summary_parse_feed(p, buf, (size_t)n, err, sizeof err) < 0) {
            fprintf(stderr, "summary_bench: parse error: %s\n", err);
            return -1;
        }
    }
    if (n < 0 || summary_parse_finish(p, err, sizeof err) < 0) {
        fprintf(stderr, "summary_bench: %s\n", n < 0 ? "read error" : err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: summary_bench FILE [rounds]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || rounds < 1) {
        perror(argv[1]);
        return 2;
    }
    struct summary_parser *p = summary_parser_new();
    struct tally t = {0};
    unsigned long long bytes = 0;
    long hwm0 = proc_kib("VmHWM");
    double best = 1e30, total = 0;
    for (int r = 0; r < rounds; r++) {
        unsigned long long b = 0;
        double c0 = cpu_s();
        if (parse_file(p, fd, &t, &b) < 0)
            return 1;
        double dt = cpu_s() - c0;
        total += dt;
        if (dt < best)
            best = dt;
        bytes = b;
    }
    const struct summary_counts *c = summary_parse_counts(p);
    printf("file=%s bytes=%llu rounds=%d pods/response=%llu containers/response=%llu "
           "type_errors=%llu\n",
           argv[1], bytes, rounds, t.pods / (unsigned)rounds, t.containers / (unsigned)rounds,
           (unsigned long long)c->type_errors);
    printf("best: %.1f MB/cpu-s  mean: %.1f MB/cpu-s  (%.3f ms/response best)\n",
           bytes / best / 1e6, bytes * (double)rounds / total / 1e6, best * 1e3);
    printf("peak RSS: before parsing %ld KiB, after %ld KiB (current %ld KiB)\n", hwm0,
           proc_kib("VmHWM"), proc_kib("VmRSS"));
    summary_parser_free(p);
    close(fd);
    return 0;
}
