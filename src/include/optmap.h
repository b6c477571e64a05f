/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optmap.h - one option map for every setting kubepulse takes: the daemon's flags and config
 * keys (src/app/options.c), each sink's URI options (sinks/) and Heapster's --source options
 * (src/app/source.c). Like Fluent Bit's flb_config_map, a table of entries says once what an
 * option is called, its type, default, bounds, help text and where in the owner's struct its
 * value goes; setting, defaults, freeing, help and the unknown-option check all read it.
 *
 * An option is validated when it is set: type, bounds and its own check. Rules that tie
 * several options together belong to the table's owner, which runs them before anything
 * connects.
 */
#ifndef KP_OPTMAP_H
#define KP_OPTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct uri;

enum kp_opt_type {
    KP_OPT_STRING,   /* char * owned by the struct; NULL until set (def NULL) */
    KP_OPT_BOOL,     /* bool; kp_parse_bool's spellings */
    KP_OPT_INT,      /* long, in [min, max] */
    KP_OPT_DURATION, /* double seconds (kp_parse_duration), in [min, max] when max > 0 */
    KP_OPT_SIZE,     /* long long bytes ("64Mi", "1G", "4096") */
    KP_OPT_LIST,     /* struct kp_strlist; each occurrence appends; at most max items */
};

#define KP_STRLIST_MAX 32

/* A repeatable option's values (--sink, --store_label), owned. */
struct kp_strlist {
    char *v[KP_STRLIST_MAX]; /* owned */
    size_t n;
};

/* An option's own rule beyond its type and bounds: 0, or -1 with a message (without the
 * option's name, which the caller adds). */
typedef int (*kp_opt_check_fn)(const char *value, char *err, size_t errlen);

struct kp_opt {
    const char *name; /* flag (without "--"), config key or URI option */
    enum kp_opt_type type;
    const char *def; /* as text, shown by help and set by kp_opts_defaults; NULL: none */
    size_t offset;   /* of the value in the owner's struct */
    const char *help;
    double min, max;       /* KP_OPT_INT, KP_OPT_DURATION bounds; KP_OPT_LIST: max items */
    kp_opt_check_fn check; /* NULL: none */
};
/* A table ends with an entry whose name is NULL. */

/* Find name (n bytes) in tab. With dash_eq, '_' and '-' match each other (flag names, as
 * Heapster's pflag normalisation). */
const struct kp_opt *kp_opts_find(const struct kp_opt *tab, const char *name, size_t n,
                                  bool dash_eq);
/* Set one option of conf from text, checking type, bounds and check. where prefixes the
 * message ("flag --x", "c.yaml:3: key \"x\"", "option \"db\""). */
int kp_opt_set(const struct kp_opt *o, void *conf, const char *value, const char *where, char *err,
               size_t errlen);
/* Set every option to its default (lists emptied). */
int kp_opts_defaults(const struct kp_opt *tab, void *conf, char *err, size_t errlen);
/* Free what the table's strings and lists own in conf. NULL conf is a no-op. */
void kp_opts_free(const struct kp_opt *tab, void *conf);
void kp_strlist_clear(struct kp_strlist *l);

/* Defaults first, then each of u's options by table; an option the table does not know fails
 * naming it and listing the known ones ("unknown option "x" in WHAT (known: a b c)").
 * given (may be NULL) gets bit i set for each table entry i present in u (i < 64). */
int kp_opts_apply_uri(const struct kp_opt *tab, struct uri *u, void *conf, const char *what,
                      uint64_t *given, char *err, size_t errlen);

/* One line per option: "  PREFIX name TYPE   help (default D)". */
void kp_opts_print(const struct kp_opt *tab, FILE *out, const char *prefix, int width);

/* "15s", "1m30s", "250ms", "2h", "0" (Go's time.ParseDuration without a sign). */
int kp_parse_duration(const char *s, double *seconds);
/* Go's strconv.ParseBool spellings (1 t T TRUE true True, 0 f F FALSE false False) and YAML's
 * yes/no: the one boolean grammar of flags, config keys and URI options. */
int kp_parse_bool(const char *s, bool *out);

#endif
