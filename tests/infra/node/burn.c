/* SPDX-License-Identifier: Apache-2.0 */
/*
 * burn.c - the workload of the test nodes' pods (image kubepulse.test/workload): uses a known
 * amount of CPU and memory so the kubelet's Summary has something to measure.
 *
 *   burn [--cpu MILLICORES] [--mem MIB] [--period MS]
 *
 * --mem MIB allocates MIB mebibytes once and writes every page (resident, charged to the
 * container's memory cgroup); --cpu MILLICORES spins for that share of every period (100 ms)
 * and sleeps the rest, so 250 uses a quarter of one core. Without options it just sleeps.
 * SIGTERM or SIGINT ends it with status 0 (the kubelet's graceful stop).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t burn_stop;

static void burn_on_signal(int sig)
{
    (void)sig;
    burn_stop = 1;
}

static long burn_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int burn_parse(const char *s, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static void burn_sleep_ns(long ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L};

    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    long cpu = 0, mem = 0, period_ms = 100;
    struct sigaction sa;
    char *block = NULL;

    for (int i = 1; i < argc; i++) {
        long *dst = NULL, max = 0;

        if (strcmp(argv[i], "--cpu") == 0) {
            dst = &cpu, max = 64000;
        } else if (strcmp(argv[i], "--mem") == 0) {
            dst = &mem, max = 1L << 20;
        } else if (strcmp(argv[i], "--period") == 0) {
            dst = &period_ms, max = 10000;
        }
        if (dst == NULL || i + 1 >= argc || burn_parse(argv[i + 1], max, dst) < 0) {
            fprintf(stderr, "usage: burn [--cpu MILLICORES] [--mem MIB] [--period MS]\n");
            return 2;
        }
        i++;
    }
    if (period_ms == 0)
        period_ms = 100;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = burn_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (mem > 0) {
        size_t size = (size_t)mem << 20;
        long page = sysconf(_SC_PAGESIZE);

        block = malloc(size);
        if (block == NULL) {
            fprintf(stderr, "burn: cannot allocate %ld MiB\n", mem);
            return 1;
        }
        for (size_t off = 0; off < size; off += (size_t)page)
            block[off] = (char)(off / (size_t)page + 1);
    }
    printf("burn: cpu=%ldm mem=%ldMiB period=%ldms\n", cpu, mem, period_ms);
    fflush(stdout);
    while (!burn_stop) {
        long period_ns = period_ms * 1000000L;
        long busy_ns = cpu >= 1000 ? period_ns : period_ns / 1000 * cpu;
        long start = burn_now_ns();
        volatile unsigned long spin = 0;

        while (burn_now_ns() - start < busy_ns && !burn_stop)
            spin++;
        if (busy_ns < period_ns)
            burn_sleep_ns(period_ns - (burn_now_ns() - start));
    }
    free(block);
    return 0;
}
