/*
 * log.c - klog-style text and JSON-lines records for the whole process.
 *
 * One record is written with one fwrite() of a line built on the stack, so
 * records never interleave even if a helper thread ever logs. Text format
 * follows klog's structured output:
 *
 *   I1123 11:47:43.123456    4242 elector.c:88] "acquired lease" lease="ns/name"
 *
 * JSON follows the field names of Kubernetes' JSON logging (ts, caller, msg, v).
 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static enum log_format g_format = LOG_FORMAT_TEXT;
static int g_verbosity;
static FILE *g_out;

struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

void log_configure(enum log_format format, int verbosity, FILE *out)
{
    g_format = format;
    g_verbosity = verbosity;
    g_out = out;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

int log_verbosity(void)
{
    return g_verbosity;
}

int log_v_enabled(int level)
{
    return level <= g_verbosity;
}

static void put(struct line *l, const char *s, size_t n)
{
    /* Keep one byte for the newline; a record that does not fit is cut. */
    size_t room = sizeof(l->buf) - 1 - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void putf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct line *l, const char *fmt, ...)
{
    size_t room = sizeof(l->buf) - 1 - l->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    l->len += (size_t)n < room ? (size_t)n : room;
}

/* A quoted string escaped so that it stays on one line; valid JSON too. */
static void put_quoted(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char esc[6];
        switch (*p) {
        case '"': put(l, "\\\"", 2); break;
        case '\\': put(l, "\\\\", 2); break;
        case '\n': put(l, "\\n", 2); break;
        case '\r': put(l, "\\r", 2); break;
        case '\t': put(l, "\\t", 2); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                put(l, esc, 6);
            } else {
                put(l, (const char *)p, 1);
            }
        }
    }
    put(l, "\"", 1);
}

static void put_value(struct line *l, const struct log_field *f)
{
    switch (f->type) {
    case LOG_FIELD_STR: put_quoted(l, f->u.s); break;
    case LOG_FIELD_INT: putf(l, "%lld", (long long)f->u.i); break;
    case LOG_FIELD_DBL:
        /* JSON has no NaN or Inf: print them as strings in both formats. */
        if (f->u.d != f->u.d || f->u.d > 1e308 || f->u.d < -1e308)
            put_quoted(l, f->u.d != f->u.d ? "NaN" : f->u.d > 0 ? "+Inf" : "-Inf");
        else
            putf(l, "%.6g", f->u.d);
        break;
    case LOG_FIELD_BOOL: put(l, f->u.b ? "true" : "false", f->u.b ? 4 : 5); break;
    case LOG_FIELD_END: break;
    }
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void format_text(struct line *l, enum log_severity sev, const struct timeval *tv,
                        const char *file, int lineno, const char *msg,
                        const struct log_field *fields)
{
    static const char sevch[] = {'I', 'W', 'E'};
    struct tm tm;
    time_t secs = tv->tv_sec;
    gmtime_r(&secs, &tm);
    putf(l, "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] ", sevch[sev], tm.tm_mon + 1, tm.tm_mday,
         tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv->tv_usec, (int)getpid(), basename_of(file),
         lineno);
    put_quoted(l, msg);
    for (const struct log_field *f = fields; f && f->type != LOG_FIELD_END; f++) {
        putf(l, " %s=", f->key);
        put_value(l, f);
    }
}

static void format_json(struct line *l, enum log_severity sev, int vlevel, const struct timeval *tv,
                        const char *file, int lineno, const char *msg,
                        const struct log_field *fields)
{
    static const char *const sevname[] = {"info", "warning", "error"};
    putf(l,
         "{\"ts\":%lld.%06ld,\"caller\":\"%s:%d\",\"level\":\"%s\",\"msg\":", (long long)tv->tv_sec,
         (long)tv->tv_usec, basename_of(file), lineno, sevname[sev]);
    put_quoted(l, msg);
    putf(l, ",\"v\":%d", vlevel);
    for (const struct log_field *f = fields; f && f->type != LOG_FIELD_END; f++) {
        put(l, ",", 1);
        put_quoted(l, f->key);
        put(l, ":", 1);
        put_value(l, f);
    }
    put(l, "}", 1);
}

void log_write(enum log_severity sev, int vlevel, const char *file, int lineno, const char *msg,
               const struct log_field *fields)
{
    struct line l;
    struct timeval tv;
    FILE *out = g_out ? g_out : stderr;

    if (sev == LOG_SEV_INFO && vlevel > g_verbosity)
        return;
    l.len = 0;
    gettimeofday(&tv, NULL);
    if (g_format == LOG_FORMAT_JSON)
        format_json(&l, sev, vlevel, &tv, file, lineno, msg, fields);
    else
        format_text(&l, sev, &tv, file, lineno, msg, fields);
    l.buf[l.len++] = '\n';
    fwrite(l.buf, 1, l.len, out);
    fflush(out);
}
