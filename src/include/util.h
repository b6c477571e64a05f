/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util.h - small helpers every module shares, one owner per concept: bounded file reads,
 * secrets read from files and wiped when freed, base64, the monotonic clock, RFC 3339
 * times, sizes with unit suffixes, retry backoff.
 */
#ifndef KP_UTIL_H
#define KP_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole regular file of at most max bytes into a malloc'd, NUL-terminated
 * buffer. Errors name the path. */
int kp_read_file(const char *path, size_t max, char **out, size_t *out_len, char *err,
                 size_t errlen);

/* A secret (token, password) from a file of at most max bytes: one line, trailing
 * whitespace trimmed; empty or multi-line files are errors. The error never holds
 * the file's content. Free with kp_secret_free. */
int kp_read_secret_file(const char *path, size_t max, char **out, char *err, size_t errlen);

/* Wipe then free a NUL-terminated secret. NULL is a no-op. */
void kp_secret_free(char *s);

/* Standard base64 (RFC 4648, '=' padding optional, whitespace ignored, the unused bits of
 * the last character zero), decoded by OpenSSL. Returns a NUL-terminated malloc'd buffer and
 * its length, or NULL on invalid input or when the decoded size would exceed max_out. */
char *kp_base64_decode(const char *in, size_t in_len, size_t max_out, size_t *out_len);
/* Standard base64 with padding (OpenSSL); malloc'd, NUL-terminated; NULL on OOM. */
char *kp_base64_encode(const char *in, size_t in_len);

/* An RFC 3339 date-time as Go parses it (rfc3339.c says which forms): "2006-01-02T15:04:05",
 * an optional fraction of any length (nine digits kept), then "Z" or "+hh:mm"/"-hh:mm";
 * 'T' and 'Z' upper case, years 0000..9999, days checked against the month, no leap second.
 * frac_digits -1 takes any fraction (time.RFC3339); 6 demands exactly six digits
 * (metav1.MicroTime). s need not be NUL-terminated: exactly len bytes are read. On success
 * *sec (Unix seconds) and *nsec (0..999999999) are set; returns 0 or -1. */
int kp_rfc3339_parse(const char *s, size_t len, int frac_digits, int64_t *sec, int32_t *nsec);

/* A size with an optional unit suffix: "4096", "64Ki", "1Mi", "2Gi", "1Ti" (powers of 1024) or
 * "500k" (also "500K"), "10M", "1G" (of 1000). Digits first, nothing after the suffix, no
 * overflow; 0 or -1. (The chart's _validate.tpl checks the same grammar.) */
int kp_parse_size(const char *s, uint64_t *out);

/* Exponential backoff with "equal jitter": base_s * 2^attempt, capped at cap_s, then half of
 * it fixed and half scaled by rnd01 (a uniform draw in [0, 1)), so replicas retrying the same
 * server spread out. attempt counts the failures before this one (0 for the first). */
double kp_backoff_delay(unsigned attempt, double base_s, double cap_s, double rnd01);

/* Seconds on CLOCK_MONOTONIC: for durations and deadlines, never for timestamps. */
double kp_mono_now(void);

/* Intrusive doubly linked lists: a node type with prev and next pointers, a head pointer.
 * KP_DLIST_PUSH puts node first; KP_DLIST_UNLINK takes it out (its own pointers are left as
 * they were). */
#define KP_DLIST_PUSH(head, node)                                                                  \
    do {                                                                                           \
        (node)->prev = NULL;                                                                       \
        (node)->next = (head);                                                                     \
        if (head)                                                                                  \
            (head)->prev = (node);                                                                 \
        (head) = (node);                                                                           \
    } while (0)
#define KP_DLIST_UNLINK(head, node)                                                                \
    do {                                                                                           \
        if ((node)->prev)                                                                          \
            (node)->prev->next = (node)->next;                                                     \
        else                                                                                       \
            (head) = (node)->next;                                                                 \
        if ((node)->next)                                                                          \
            (node)->next->prev = (node)->prev;                                                     \
    } while (0)

/* The same with a tail too (first is the oldest, last the newest): KP_DQUEUE_APPEND puts node
 * last, KP_DQUEUE_UNLINK takes a node that is in the queue out. */
#define KP_DQUEUE_APPEND(first, last, node)                                                        \
    do {                                                                                           \
        (node)->next = NULL;                                                                       \
        (node)->prev = (last);                                                                     \
        if (last)                                                                                  \
            (last)->next = (node);                                                                 \
        else                                                                                       \
            (first) = (node);                                                                      \
        (last) = (node);                                                                           \
    } while (0)
#define KP_DQUEUE_UNLINK(first, last, node)                                                        \
    do {                                                                                           \
        KP_DLIST_UNLINK(first, node);                                                              \
        if (!(node)->next)                                                                         \
            (last) = (node)->prev;                                                                 \
    } while (0)

/* Make room for want elements of elsize bytes in *arr (capacity *cap): doubles from first
 * (or the current capacity). 0, or -1 on overflow or out of memory (*arr is unchanged). */
int kp_grow(void **arr, size_t *cap, size_t want, size_t elsize, size_t first);
/* As kp_grow, growing by 1/2^shift of the capacity at each step (shift 0: doubling), for
 * buffers that stay allocated and whose slack would stay resident. */
int kp_grow_by(void **arr, size_t *cap, size_t want, size_t elsize, size_t first, unsigned shift);

/* qsort that takes an empty array as it comes (NULL included): qsort itself wants a valid
 * pointer even for 0 elements (C17 7.22.5), and UBSan holds it to that. */
/* FNV-1a, 64 bits, of len bytes: the one string hash (hash maps, series identities, the
 * HTTP client's shard of a server). */
uint64_t kp_hash(const void *s, size_t len);
/* FNV-1a continued: kp_hash_more(kp_hash(a, n), b, m) is the hash of a's n bytes followed by
 * b's m, so a key made of parts is hashed without being assembled (the rate keys). */
uint64_t kp_hash_more(uint64_t h, const void *s, size_t len);

void kp_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

/* A non-blocking listening TCP socket on "HOST:PORT", ":PORT" (every address, v4 and v6)
 * or "[v6]:PORT"; *port gets the port bound (for ":0"). The fd, or -1 with err naming addr. */
int kp_listen_tcp(const char *addr, int *port, char *err, size_t errlen);

#endif
