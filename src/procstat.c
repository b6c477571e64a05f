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
#include <unistd.h>

#include "status.h"

struct proc_figures {
    double cpu_s, start_s;
    double rss_bytes, vsize_bytes;
    double open_fds, max_fds;
};

static double boot_time(void)
{
    char line[256];
    double bt = 0;
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return 0;
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

void procstat_render_prom(struct status_buf *b)
{
    struct proc_figures p = {0};
    struct rlimit rl;
    read_stat(&p);
    p.open_fds = open_fds();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        p.max_fds = rl.rlim_cur == RLIM_INFINITY ? 1e19 : (double)rl.rlim_cur;
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
