/*
 * log.h - the one logging API of kubepulse.
 *
 * Two output formats share one call site: klog-style text (the default, what
 * Kubernetes operators read every day) and JSON lines (--log-format=json).
 * Every record is a message plus structured key=value fields:
 *
 *     log_info("acquired lease", LF_STR("lease", "kube-system/kubepulse"),
 *              LF_INT("transitions", 3));
 *
 * Info records carry a verbosity (klog's V level); log_v(2, ...) is emitted
 * only when --v is 2 or more. Never pass a token, password or key as a field:
 * there is no redaction layer, by design, so secrets must never reach here.
 */
#ifndef KP_LOG_H
#define KP_LOG_H

#include <stdint.h>
#include <stdio.h>

enum log_severity { LOG_SEV_INFO, LOG_SEV_WARNING, LOG_SEV_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

enum log_field_type { LOG_FIELD_END, LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_DBL, LOG_FIELD_BOOL };

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
#define LF_END        ((struct log_field){.key = NULL, .type = LOG_FIELD_END})

/* Configure the process-wide logger. Default: text, verbosity 0, stderr. */
void log_configure(enum log_format format, int verbosity, FILE *out);
/* Parse "text" or "json"; returns 0 or -1. */
int log_format_parse(const char *s, enum log_format *out);
int log_verbosity(void);
/* True when records of this V level are emitted: guard costly field building. */
int log_v_enabled(int level);

void log_write(enum log_severity sev, int vlevel, const char *file, int line, const char *msg,
               const struct log_field *fields);

#define LOG_FIELDS_(...) ((const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ) LF_END})
#define log_error(msg, ...)                                                                        \
    log_write(LOG_SEV_ERROR, 0, __FILE__, __LINE__, (msg), LOG_FIELDS_(__VA_ARGS__))
#define log_warn(msg, ...)                                                                         \
    log_write(LOG_SEV_WARNING, 0, __FILE__, __LINE__, (msg), LOG_FIELDS_(__VA_ARGS__))
#define log_info(msg, ...)                                                                         \
    log_write(LOG_SEV_INFO, 0, __FILE__, __LINE__, (msg), LOG_FIELDS_(__VA_ARGS__))
#define log_v(level, msg, ...)                                                                     \
    do {                                                                                           \
        if (log_v_enabled(level))                                                                  \
            log_write(LOG_SEV_INFO, (level), __FILE__, __LINE__, (msg), LOG_FIELDS_(__VA_ARGS__)); \
    } while (0)

#endif
