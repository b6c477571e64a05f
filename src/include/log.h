/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - the one logging API of kubepulse.
 *
 * Two output formats share one call site, each written as Kubernetes components write it:
 * klog's text (the default, what operators read every day) and component-base's JSON lines
 * (--logging-format=json). Every record is a message plus structured key=value fields:
 *
 *     log_info("acquired lease", LF_STR("lease", "kube-system/kubepulse"),
 *              LF_INT("transitions", 3));
 *     log_error("lease operation failed", LF_ERR(msg), LF_STR("op", "update"));
 *
 * An error is LF_ERR: the key is "err", as klog's ErrorS and component-base write it (in an
 * error record, first after the message in text and last in JSON, where they put it).
 *
 * Info records carry a verbosity (klog's V level); log_v(2, ...) is emitted only when --v is
 * 2 or more, or --vmodule gives its source file (the name without ".c", or a glob) 2 or more.
 * Never pass a token, password or key as a field: there is no redaction layer, by design,
 * so secrets must never reach here.
 */
#ifndef KP_LOG_H
#define KP_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum log_severity { LOG_SEV_INFO, LOG_SEV_WARNING, LOG_SEV_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

enum log_field_type {
    LOG_FIELD_END,
    LOG_FIELD_STR,
    LOG_FIELD_INT,
    LOG_FIELD_DBL,
    LOG_FIELD_BOOL,
    LOG_FIELD_ERR, /* a string under the key "err" */
};

struct log_field {
    const char *key; /* borrowed */
    enum log_field_type type;
    union {
        const char *s; /* borrowed; NULL prints as "" */
        int64_t i;
        double d;
        int b;
    } u;
};

#define LF_STR(k, v)  ((struct log_field){.key = (k), .type = LOG_FIELD_STR, .u.s = (v)})
#define LF_INT(k, v)  ((struct log_field){.key = (k), .type = LOG_FIELD_INT, .u.i = (int64_t)(v)})
#define LF_DBL(k, v)  ((struct log_field){.key = (k), .type = LOG_FIELD_DBL, .u.d = (double)(v)})
#define LF_BOOL(k, v) ((struct log_field){.key = (k), .type = LOG_FIELD_BOOL, .u.b = !!(v)})
#define LF_ERR(v)     ((struct log_field){.key = "err", .type = LOG_FIELD_ERR, .u.s = (v)})
#define LF_END        ((struct log_field){.key = NULL, .type = LOG_FIELD_END})

/* Configure the process-wide logger. Default: text, verbosity 0, stderr. */
void log_configure(enum log_format format, int verbosity, FILE *out);
/* Parse "text" or "json"; returns 0 or -1. */
int log_format_parse(const char *s, enum log_format *out);
/* --vmodule: "pattern=N,..." as klog takes it; a pattern is a source file's name without
 * ".c" or a glob of it; the first pattern that matches a file gives its level. "" clears.
 * Returns 0, or -1 with a message (nothing changes). _check only checks. */
int log_vmodule_set(const char *spec, char *err, size_t errlen);
int log_vmodule_check(const char *spec, char *err, size_t errlen);
int log_verbosity(void);

/* One call site of log_v, with its file's --vmodule level cached. */
struct log_site {
    const char *file;
    unsigned gen; /* the --vmodule generation the cached level belongs to; 0: none */
    int level;
};
/* True when records of this V level are emitted at this site. */
int log_v_site(struct log_site *site, int level);

void log_write(enum log_severity sev, int vlevel, const char *file, int line, const char *msg,
               const struct log_field *fields);

#define LOG_FIELDS_(...) ((const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ) LF_END})
#define log_error(msg, ...)                                                                        \
    log_write(LOG_SEV_ERROR, 0, __FILE__, __LINE__, (msg), LOG_FIELDS_(__VA_ARGS__))
#define log_warn(msg, ...)                                                                         \
    log_write(LOG_SEV_WARNING, 0, __FILE__, __LINE__, (msg), LOG_FIELDS_(__VA_ARGS__))
#define log_info(msg, ...)                                                                         \
    log_write(LOG_SEV_INFO, 0, __FILE__, __LINE__, (msg), LOG_FIELDS_(__VA_ARGS__))
/* True when log_v(level, ...) in this file would write: guard costly field building. */
#define log_v_enabled(level) log_v_file((level), __FILE__)
int log_v_file(int level, const char *file);
#define log_v(level, msg, ...)                                                                     \
    do {                                                                                           \
        static struct log_site kp_log_site_ = {__FILE__, 0, 0};                                    \
        if (log_v_site(&kp_log_site_, (level)))                                                    \
            log_write(LOG_SEV_INFO, (level), __FILE__, __LINE__, (msg), LOG_FIELDS_(__VA_ARGS__)); \
    } while (0)

#endif
