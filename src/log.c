/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - records as klog writes them in text and component-base in JSON, for the whole
 * process.
 *
 * One record is written with one fwrite() of a line built on the stack, so records never
 * interleave. Text is klog's structured output (InfoS / ErrorS):
 *
 *   I1123 11:47:43.123456    4242 elector.c:88] "acquired lease" lease="ns/name" n=3
 *   E1123 11:47:44.000001    4242 elector.c:97] "lease operation failed" err="forbidden" op="get"
 *
 * with Go's quoting of strings (strconv.Quote), a multi-line value as klog's key=<...> block,
 * numbers and booleans as JSON encodes them, and the error first in an error record. JSON is
 * what component-base's logger (zap through zapr) writes:
 *
 *   {"ts":1700000000123.4568,"caller":"src/elector.c:88","msg":"acquired lease","v":0,"n":3}
 *   {"ts":1700000000124.001,"caller":"src/elector.c:97","msg":"lease operation
 * failed","op":"get","err":"forbidden"}
 *
 * ts in milliseconds since the epoch, "v" on info records only (a warning is an info record
 * at V 0, as klog hands it to a logr sink), "err" last in error records, no other keys.
 * tests/integration/test_log_format.py compares both with klog and component-base byte for
 * byte.
 */
#include "log.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX    4096
#define LOG_VMODULE_MAX 32

static enum log_format g_format = LOG_FORMAT_TEXT;
static int g_verbosity;
static FILE *g_out;

struct vmodule_pat {
    char pattern[128];
    int level;
};
static struct vmodule_pat g_vmodule[LOG_VMODULE_MAX];
static size_t g_nvmodule;
static unsigned g_vmodule_gen = 1;

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

/* ---- verbosity ------------------------------------------------------------------ */

static int vmodule_parse(const char *spec, struct vmodule_pat *pats, size_t *npats, char *err,
                         size_t errlen)
{
    size_t n = 0;
    const char *p = spec ? spec : "";
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        char *end;
        if (len == 0) { /* an empty item, as from a trailing comma */
            p++;
            continue;
        }
        if (!eq || eq == p || eq + 1 == p + len || memchr(eq + 1, '=', (size_t)(p + len - eq - 1)))
            goto syntax;
        long v = strtol(eq + 1, &end, 10);
        if (end != p + len)
            goto syntax;
        if (v < 0 || v > 1000) {
            snprintf(err, errlen, "level out of range in \"%.*s\" (0 to 1000)", (int)len, p);
            return -1;
        }
        if ((size_t)(eq - p) >= sizeof(pats[0].pattern) || n == LOG_VMODULE_MAX) {
            snprintf(err, errlen, "too long (at most %d patterns of 127 bytes)", LOG_VMODULE_MAX);
            return -1;
        }
        if (v > 0) { /* a 0 changes nothing: klog drops it too */
            snprintf(pats[n].pattern, sizeof(pats[n].pattern), "%.*s", (int)(eq - p), p);
            pats[n++].level = (int)v;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    *npats = n;
    return 0;
syntax:
    snprintf(err, errlen, "syntax error: expect comma-separated list of filename=N");
    return -1;
}

int log_vmodule_check(const char *spec, char *err, size_t errlen)
{
    struct vmodule_pat pats[LOG_VMODULE_MAX];
    size_t n;
    return vmodule_parse(spec, pats, &n, err, errlen);
}

int log_vmodule_set(const char *spec, char *err, size_t errlen)
{
    struct vmodule_pat pats[LOG_VMODULE_MAX];
    size_t n;
    if (vmodule_parse(spec, pats, &n, err, errlen) < 0)
        return -1;
    memcpy(g_vmodule, pats, n * sizeof(pats[0]));
    g_nvmodule = n;
    g_vmodule_gen++;
    return 0;
}

/* The --vmodule level of a source file: its name without directory and ".c". */
static int vmodule_level(const char *file)
{
    char name[128];
    const char *slash = strrchr(file, '/');
    const char *base = slash ? slash + 1 : file;
    size_t len = strlen(base);
    if (len > 2 && strcmp(base + len - 2, ".c") == 0)
        len -= 2;
    snprintf(name, sizeof(name), "%.*s", (int)len, base);
    for (size_t i = 0; i < g_nvmodule; i++)
        if (fnmatch(g_vmodule[i].pattern, name, 0) == 0)
            return g_vmodule[i].level;
    return 0;
}

int log_v_file(int level, const char *file)
{
    if (level <= g_verbosity)
        return 1;
    return g_nvmodule && level <= vmodule_level(file);
}

int log_v_site(struct log_site *site, int level)
{
    if (level <= g_verbosity)
        return 1;
    if (!g_nvmodule)
        return 0;
    if (site->gen != g_vmodule_gen) {
        site->level = vmodule_level(site->file);
        site->gen = g_vmodule_gen;
    }
    return level <= site->level;
}

/* ---- building a line -------------------------------------------------------------- */

static void put(struct line *l, const char *s, size_t n)
{
    /* Keep one byte for the newline; a record that does not fit is cut. */
    size_t room = sizeof(l->buf) - 1 - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
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

/* Length of the UTF-8 sequence at p (1-4) and its code point, or 0 when it is not valid
 * UTF-8 as Go decodes it (overlong forms, surrogates and values past U+10FFFF included). */
static int utf8_decode(const unsigned char *p, unsigned *cp)
{
    unsigned c = p[0], min;
    int n;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xe0) == 0xc0) {
        n = 2, c &= 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, c &= 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* Go's unicode.IsPrint for code points past ASCII, for the characters a log line may
 * plausibly hold: C1 controls, spaces other than U+0020, line and paragraph separators,
 * format characters and private use are not printable; the rest is. */
static bool go_is_print(unsigned c)
{
    if (c < 0xa0)
        return false;
    if (c == 0xa0 || c == 0xad || c == 0x1680 || (c >= 0x2000 && c <= 0x200f) ||
        (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) || c == 0x3000 ||
        c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xe000 && c <= 0xf8ff) ||
        c >= 0xf0000 || c == 0xfffe || c == 0xffff)
        return false;
    return true;
}

/* strconv.Quote: what klog writes for a message and for a one-line string value. */
static void put_go_quoted(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        unsigned cp;
        int n = utf8_decode(p, &cp);
        char esc[12];
        if (n == 0) {
            esc[0] = '\\', esc[1] = 'x', esc[2] = hex[*p >> 4], esc[3] = hex[*p & 15];
            put(l, esc, 4);
            p++;
            continue;
        }
        if (cp == '"' || cp == '\\') {
            esc[0] = '\\', esc[1] = (char)cp;
            put(l, esc, 2);
        } else if (cp >= 0x20 && cp < 0x7f) {
            put(l, (const char *)p, 1);
        } else if (cp >= 0x80 && go_is_print(cp)) {
            put(l, (const char *)p, (size_t)n);
        } else {
            switch (cp) {
            case '\a': puts_(l, "\\a"); break;
            case '\b': puts_(l, "\\b"); break;
            case '\f': puts_(l, "\\f"); break;
            case '\n': puts_(l, "\\n"); break;
            case '\r': puts_(l, "\\r"); break;
            case '\t': puts_(l, "\\t"); break;
            case '\v': puts_(l, "\\v"); break;
            default:
                if (cp < 0x80)
                    putf(l, "\\x%02x", cp);
                else if (cp < 0x10000)
                    putf(l, "\\u%04x", cp);
                else
                    putf(l, "\\U%08x", cp);
            }
        }
        p += n;
    }
    put(l, "\"", 1);
}

/* A string as zap's JSON encoder writes it: \" \\ \n \r \t, other controls as \u00XX,
 * invalid UTF-8 as \ufffd, everything else as it is. */
static void put_json_string(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        unsigned cp;
        int n = utf8_decode(p, &cp);
        if (n == 0) {
            puts_(l, "\\ufffd");
            p++;
            continue;
        }
        switch (cp) {
        case '"': puts_(l, "\\\""); break;
        case '\\': puts_(l, "\\\\"); break;
        case '\n': puts_(l, "\\n"); break;
        case '\r': puts_(l, "\\r"); break;
        case '\t': puts_(l, "\\t"); break;
        default:
            if (cp < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[cp >> 4], hex[cp & 15]};
                put(l, esc, 6);
            } else {
                put(l, (const char *)p, (size_t)n);
            }
        }
        p += n;
    }
    put(l, "\"", 1);
}

/* The shortest decimal that reads back as v (Go's strconv.FormatFloat with precision -1),
 * in 'f' form, or in 'e' form with at least two exponent digits. */
static void put_shortest(struct line *l, double v, char form)
{
    char e[40], digits[20], out[400];
    int prec, exp10;
    for (prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, v);
        if (strtod(e, NULL) == v)
            break;
    }
    /* e is "-d.ddde+XX": take the digits and the exponent */
    const char *p = e;
    size_t nd = 0, o = 0;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    digits[nd] = '\0';
    exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') /* "%.0e" of 100 is "1e+02": digits "1" */
        digits[--nd] = '\0';
    if (neg)
        out[o++] = '-';
    if (form == 'e') {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, nd - 1);
            o += nd - 1;
        }
        o += (size_t)snprintf(out + o, sizeof(out) - o, "e%c%02d", exp10 < 0 ? '-' : '+',
                              exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = -1; i > exp10; i--)
            out[o++] = '0';
        memcpy(out + o, digits, nd);
        o += nd;
    } else {
        for (int i = 0; i <= exp10 || (size_t)i < nd; i++) {
            if (i == exp10 + 1)
                out[o++] = '.';
            out[o++] = (size_t)i < nd ? digits[i] : '0';
        }
    }
    put(l, out, o);
}

/* A float as Go's encoding/json writes it (klog's text values): 'f', or 'e' below 1e-6
 * and from 1e21 on, with "e-07" written "e-7". */
static void put_json_encoded_float(struct line *l, double v)
{
    double a = v < 0 ? -v : v;
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        size_t start = l->len;
        put_shortest(l, v, 'e');
        char *b = l->buf + start;
        size_t n = l->len - start;
        if (n >= 4 && b[n - 4] == 'e' && b[n - 3] == '-' && b[n - 2] == '0') {
            b[n - 2] = b[n - 1];
            l->len--;
        }
    } else {
        put_shortest(l, v, 'f');
    }
}

/* klog's value for a string: quoted, or a block when it holds a line break:
 *   key=<
 *   <TAB>line 1
 *   <TAB>line 2
 *    > */
static void put_text_string(struct line *l, const char *s)
{
    s = s ? s : "";
    if (!strchr(s, '\n')) {
        put(l, "=", 1);
        put_go_quoted(l, s);
        return;
    }
    puts_(l, "=<\n");
    for (const char *nl; (nl = strchr(s, '\n')); s = nl + 1) {
        put(l, "\t", 1);
        put(l, s, (size_t)(nl - s + 1));
    }
    if (*s) {
        put(l, "\t", 1);
        puts_(l, s);
        puts_(l, "\n >");
    } else {
        puts_(l, " >");
    }
}

static bool is_finite(double d)
{
    return d == d && d <= 1.7976931348623157e308 && d >= -1.7976931348623157e308;
}

static void put_text_field(struct line *l, const struct log_field *f)
{
    put(l, " ", 1);
    puts_(l, f->key);
    switch (f->type) {
    case LOG_FIELD_STR:
    case LOG_FIELD_ERR: put_text_string(l, f->u.s); break;
    case LOG_FIELD_INT: putf(l, "=%lld", (long long)f->u.i); break;
    case LOG_FIELD_DBL:
        if (is_finite(f->u.d)) {
            put(l, "=", 1);
            put_json_encoded_float(l, f->u.d);
        } else { /* what klog writes when encoding/json refuses the value */
            putf(l, "=\"<internal error: json: unsupported value: %s>\"",
                 f->u.d != f->u.d ? "NaN"
                 : f->u.d > 0     ? "+Inf"
                                  : "-Inf");
        }
        break;
    case LOG_FIELD_BOOL: puts_(l, f->u.b ? "=true" : "=false"); break;
    case LOG_FIELD_END: break;
    }
}

static void put_json_field(struct line *l, const struct log_field *f)
{
    put(l, ",", 1);
    put_json_string(l, f->key);
    put(l, ":", 1);
    switch (f->type) {
    case LOG_FIELD_STR:
    case LOG_FIELD_ERR: put_json_string(l, f->u.s); break;
    case LOG_FIELD_INT: putf(l, "%lld", (long long)f->u.i); break;
    case LOG_FIELD_DBL:
        if (is_finite(f->u.d))
            put_shortest(l, f->u.d, 'f');
        else
            puts_(l, f->u.d != f->u.d ? "\"NaN\"" : f->u.d > 0 ? "\"+Inf\"" : "\"-Inf\"");
        break;
    case LOG_FIELD_BOOL: puts_(l, f->u.b ? "true" : "false"); break;
    case LOG_FIELD_END: break;
    }
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* zap's short caller: the file's last directory and name ("src/log.c"). */
static const char *trimmed_path(const char *path)
{
    const char *last = strrchr(path, '/');
    if (!last)
        return path;
    for (const char *p = last - 1; p >= path; p--)
        if (*p == '/')
            return p + 1;
    return path;
}

/* In an error record the error goes first (klog) or last (zapr); elsewhere it is a
 * key/value like any other. */
static bool hoisted(enum log_severity sev, const struct log_field *f)
{
    return sev == LOG_SEV_ERROR && f->type == LOG_FIELD_ERR;
}

static void format_text(struct line *l, enum log_severity sev, const struct timeval *tv,
                        const char *file, int lineno, const char *msg,
                        const struct log_field *fields)
{
    static const char sevch[] = {'I', 'W', 'E'};
    struct tm tm;
    time_t secs = tv->tv_sec;
    localtime_r(&secs, &tm); /* klog writes local time */
    putf(l, "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] ", sevch[sev], tm.tm_mon + 1, tm.tm_mday,
         tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv->tv_usec, (int)getpid(), basename_of(file),
         lineno);
    put_go_quoted(l, msg);
    for (const struct log_field *f = fields; f && f->type != LOG_FIELD_END; f++)
        if (hoisted(sev, f))
            put_text_field(l, f);
    for (const struct log_field *f = fields; f && f->type != LOG_FIELD_END; f++)
        if (!hoisted(sev, f))
            put_text_field(l, f);
}

static void format_json(struct line *l, enum log_severity sev, int vlevel, const struct timeval *tv,
                        const char *file, int lineno, const char *msg,
                        const struct log_field *fields)
{
    puts_(l, "{\"ts\":");
    put_shortest(l, (double)tv->tv_sec * 1000.0 + (double)tv->tv_usec / 1000.0, 'f');
    puts_(l, ",\"caller\":");
    char caller[256];
    snprintf(caller, sizeof(caller), "%s:%d", trimmed_path(file), lineno);
    put_json_string(l, caller);
    puts_(l, ",\"msg\":");
    put_json_string(l, msg);
    if (sev != LOG_SEV_ERROR)
        putf(l, ",\"v\":%d", vlevel);
    for (const struct log_field *f = fields; f && f->type != LOG_FIELD_END; f++)
        if (!hoisted(sev, f))
            put_json_field(l, f);
    for (const struct log_field *f = fields; f && f->type != LOG_FIELD_END; f++)
        if (hoisted(sev, f))
            put_json_field(l, f);
    put(l, "}", 1);
}

void log_write(enum log_severity sev, int vlevel, const char *file, int lineno, const char *msg,
               const struct log_field *fields)
{
    struct line l;
    struct timeval tv;
    FILE *out = g_out ? g_out : stderr;

    if (sev == LOG_SEV_INFO && vlevel > g_verbosity && !log_v_file(vlevel, file))
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
