/*
 * util.h - small helpers every module shares: bounded file reads, secrets read
 * from files and wiped when freed, base64, the monotonic clock.
 */
#ifndef KP_UTIL_H
#define KP_UTIL_H

#include <stddef.h>

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

/* Standard base64 (RFC 4648, '=' padding optional, whitespace ignored). Returns a
 * NUL-terminated malloc'd buffer and its length, or NULL on invalid input or when
 * the decoded size would exceed max_out. */
char *kp_base64_decode(const char *in, size_t in_len, size_t max_out, size_t *out_len);
/* Standard base64 with padding; malloc'd, NUL-terminated; NULL on OOM. */
char *kp_base64_encode(const char *in, size_t in_len);

/* Seconds on CLOCK_MONOTONIC: for durations and deadlines, never for timestamps. */
double kp_mono_now(void);

/* Make room for want elements of elsize bytes in *arr (capacity *cap): doubles from first
 * (or the current capacity). 0, or -1 on overflow or out of memory (*arr is unchanged). */
int kp_grow(void **arr, size_t *cap, size_t want, size_t elsize, size_t first);

/* A non-blocking listening TCP socket on "HOST:PORT", ":PORT" (every address, v4 and v6)
 * or "[v6]:PORT"; *port gets the port bound (for ":0"). The fd, or -1 with err naming addr. */
int kp_listen_tcp(const char *addr, int *port, char *err, size_t errlen);

#endif
