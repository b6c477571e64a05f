/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procstat.c - process_* metrics from /proc/self/stat, /proc/stat (boot time),
 * /proc/self/fd and RLIMIT_NOFILE.
 */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "status.h"

#define PROCSTAT_MAX_AGE_S 1.0

struct proc_figures {
    double cpu_s, start_s;
    double rss_bytes, vsize_bytes;
    double open_fds, max_fds;
};

/* Boot time, read once: it does not change. */
static double boot_time(void)
{
    static double bt = -1;
    char line[256];
    if (bt >= 0)
        return bt;
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return 0;
    bt = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %lf", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

/* Fields after the ")" closing comm (which may hold spaces): state is field 3. */
static void read_stat(struct proc_figures *p)
{
    char buf[1024];
    unsigned long long utime, stime, start, vsize;
    long long rss;
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *s = strrchr(buf, ')');
    if (!s)
        return;
    /* 3 state ... 14 utime 15 stime ... 22 starttime 23 vsize 24 rss */
    if (sscanf(s + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return;
    double tck = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    p->cpu_s = (double)(utime + stime) / tck;
    p->start_s = boot_time() + (double)start / tck;
    p->vsize_bytes = (double)vsize;
    p->rss_bytes = (double)rss * page;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    double n = 0;
    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n > 3 ? n - 3 : 0; /* ".", ".." and the directory's own fd */
}

static void family(struct status_buf *b, const char *name, const char *type, const char *help,
                   double v)
{
    status_prom_family(b, name, type, help);
    status_prom_sample(b, name, NULL, v);
}

/* The figures are read at most once a second: counting /proc/self/fd costs one
 * entry per open fd, and a flood of /metrics requests on thousands of
 * connections must not turn that into seconds of loop time (issue #18). */
static void read_figures(struct proc_figures *p)
{
    static struct proc_figures cached;
    static double cached_at = -1;
    struct rlimit rl;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    if (cached_at >= 0 && now - cached_at < PROCSTAT_MAX_AGE_S) {
        *p = cached;
        return;
    }
    memset(p, 0, sizeof(*p));
    read_stat(p);
    p->open_fds = open_fds();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        p->max_fds = rl.rlim_cur == RLIM_INFINITY ? 1e19 : (double)rl.rlim_cur;
    cached = *p;
    cached_at = now;
}

void procstat_render_prom(struct status_buf *b)
{
    struct proc_figures p;
    read_figures(&p);
    family(b, "process_cpu_seconds_total", "counter", "User and system CPU time used, in seconds.",
           p.cpu_s);
    family(b, "process_open_fds", "gauge", "File descriptors open now.", p.open_fds);
    family(b, "process_max_fds", "gauge",
           "The soft limit on open file descriptors (RLIMIT_NOFILE).", p.max_fds);
    family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory mapped, in bytes.",
           p.vsize_bytes);
    family(b, "process_resident_memory_bytes", "gauge", "Resident memory (RSS), in bytes.",
           p.rss_bytes);
    family(b, "process_start_time_seconds", "gauge",
           "When the process started, in seconds since the Unix epoch.", p.start_s);
}
