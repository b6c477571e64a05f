/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_tls_load.c - reads TLS material for http_tls.c: PEM given inline or read
 * from a file (a regular file of at most HTTP_TLS_FILE_MAX bytes, stamped with
 * the fstat of the descriptor read, so a later rename or rewrite is noticed),
 * parsed into an X509_STORE of CA certificates or a client X509, its chain and
 * its EVP_PKEY. Owns nothing between calls.
 *
 * Errors name the part ("CA certificates", "client certificate", "client key")
 * and its source (a path or "inline PEM data") with OpenSSL's reason; never the
 * bytes. Buffers that may hold a key are wiped before they are freed.
 */
#include "http_tls_load.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The last OpenSSL error's reason, then clear the queue. Never data. */
static const char *ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(buf, len, "%s", r ? r : "no PEM data found");
    ERR_clear_error();
    return buf;
}

/* No key password can be configured: fail instead of prompting on a terminal. */
static int no_password(char *buf, int size, int rwflag, void *ud)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)ud;
    return -1;
}

static void where(const struct http_tls_source *s, char *buf, size_t len)
{
    if (s->file)
        snprintf(buf, len, "file '%s'", s->file);
    else
        snprintf(buf, len, "inline PEM data");
}

/* ---- files -------------------------------------------------------------------------- */

static int stamp_set(struct http_tls_stamp *st, const char *path, const struct stat *sb)
{
    if (!(st->path = strdup(path)))
        return -1;
    st->dev = sb->st_dev;
    st->ino = sb->st_ino;
    st->size = sb->st_size;
    st->mtime = sb->st_mtim;
    return 0;
}

static int read_all(int fd, char *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -1 : -2; /* -2: the file shrank while read */
        got += (size_t)n;
    }
    return 0;
}

/* The file into a NUL-terminated buffer of *cap bytes; stamps st. */
static int read_stamped(const char *path, const char *what, char **out, size_t *out_len,
                        size_t *cap, struct http_tls_stamp *st, char *err, size_t errlen)
{
    struct stat sb;
    char *buf = NULL;
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0) {
        snprintf(err, errlen, "%s: cannot open '%s': %s", what, path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > (off_t)HTTP_TLS_FILE_MAX) {
        snprintf(err, errlen, "%s: '%s' is not a regular file of at most %u bytes", what, path,
                 HTTP_TLS_FILE_MAX);
        goto fail;
    }
    *cap = (size_t)sb.st_size + 1;
    if (!(buf = malloc(*cap)) || stamp_set(st, path, &sb) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((rc = read_all(fd, buf, (size_t)sb.st_size)) < 0) {
        snprintf(err, errlen, "%s: cannot read '%s': %s", what, path,
                 rc == -1 ? strerror(errno) : "the file shrank while read");
        goto fail;
    }
    buf[sb.st_size] = '\0';
    close(fd);
    *out = buf;
    *out_len = (size_t)sb.st_size;
    return 0;
fail:
    if (buf)
        OPENSSL_clear_free(buf, *cap);
    if (fd >= 0)
        close(fd);
    return -1;
}

bool http_tls_stamp_changed(const struct http_tls_stamp *st)
{
    struct stat sb;
    if (!st->path)
        return false;
    if (stat(st->path, &sb) < 0)
        return true; /* gone or unreadable: loading again reports why */
    return sb.st_dev != st->dev || sb.st_ino != st->ino || sb.st_size != st->size ||
           sb.st_mtim.tv_sec != st->mtime.tv_sec || sb.st_mtim.tv_nsec != st->mtime.tv_nsec;
}

void http_tls_stamp_fini(struct http_tls_stamp *st)
{
    free(st->path);
    memset(st, 0, sizeof(*st));
}

/* The PEM of one part: inline (borrowed) or read from its file (*owned, *cap bytes). */
static int part_pem(const struct http_tls_source *s, const char *what, struct http_tls_stamp *st,
                    const char **pem, size_t *len, char **owned, size_t *cap, char *err,
                    size_t errlen)
{
    *owned = NULL;
    *cap = 0;
    if (s->pem && s->len > HTTP_TLS_FILE_MAX) {
        snprintf(err, errlen, "%s: inline PEM data larger than %u bytes", what, HTTP_TLS_FILE_MAX);
        return -1;
    }
    if (s->pem) {
        *pem = s->pem;
        *len = s->len;
        return 0;
    }
    if (read_stamped(s->file, what, owned, len, cap, st, err, errlen) < 0)
        return -1;
    *pem = *owned;
    return 0;
}

/* ---- CA certificates ------------------------------------------------------------------ */

static int add_ca_pem(X509_STORE *store, const char *pem, size_t len, const char *loc, char *err,
                      size_t errlen)
{
    char why[160];
    int certs = 0;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509_INFO) *inf = bio ? PEM_X509_INFO_read_bio(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    if (!inf) {
        snprintf(err, errlen, "CA certificates (%s): cannot parse PEM: %s", loc,
                 ssl_reason(why, sizeof(why)));
        return -1;
    }
    for (int i = 0; i < sk_X509_INFO_num(inf); i++) {
        X509_INFO *it = sk_X509_INFO_value(inf, i);
        if (it->x509 && X509_STORE_add_cert(store, it->x509) == 1)
            certs++;
        if (it->crl)
            X509_STORE_add_crl(store, it->crl);
    }
    sk_X509_INFO_pop_free(inf, X509_INFO_free);
    ERR_clear_error(); /* a duplicate certificate is not an error */
    if (certs == 0) {
        snprintf(err, errlen, "CA certificates (%s): no certificate found", loc);
        return -1;
    }
    return 0;
}

int http_tls_load_ca(X509_STORE *store, const struct http_tls_source *s, struct http_tls_stamp *st,
                     char *err, size_t errlen)
{
    const char *pem;
    size_t len, cap;
    char *owned, loc[300];
    if (part_pem(s, "CA certificates", st, &pem, &len, &owned, &cap, err, errlen) < 0)
        return -1;
    where(s, loc, sizeof(loc));
    int rc = add_ca_pem(store, pem, len, loc, err, errlen);
    free(owned);
    return rc;
}

/* ---- client certificate and key ------------------------------------------------------- */

static int read_chain(struct http_tls_client *c, BIO *bio, const char *loc, char *err,
                      size_t errlen)
{
    char why[160];
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, no_password, NULL))) {
        if ((!c->chain && !(c->chain = sk_X509_new_null())) || !sk_X509_push(c->chain, x)) {
            X509_free(x);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    unsigned long e = ERR_peek_last_error();
    if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        snprintf(err, errlen, "client certificate (%s): cannot parse the chain: %s", loc,
                 ssl_reason(why, sizeof(why)));
        return -1;
    }
    ERR_clear_error(); /* the end of the PEM data */
    return 0;
}

static int read_cert(struct http_tls_client *c, const char *pem, size_t len, const char *loc,
                     char *err, size_t errlen)
{
    char why[160];
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio || !(c->cert = PEM_read_bio_X509_AUX(bio, NULL, no_password, NULL))) {
        snprintf(err, errlen, "client certificate (%s): cannot parse PEM: %s", loc,
                 ssl_reason(why, sizeof(why)));
        BIO_free(bio);
        return -1;
    }
    int rc = read_chain(c, bio, loc, err, errlen);
    BIO_free(bio);
    return rc;
}

static int read_key(struct http_tls_client *c, const char *pem, size_t len, const char *loc,
                    char *err, size_t errlen)
{
    char why[160];
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    c->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    if (!c->key) {
        snprintf(err, errlen, "client key (%s): cannot parse PEM: %s", loc,
                 ssl_reason(why, sizeof(why)));
        return -1;
    }
    if (X509_check_private_key(c->cert, c->key) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "client key (%s) does not match the client certificate", loc);
        return -1;
    }
    return 0;
}

int http_tls_load_client(const struct http_tls_source *cert, const struct http_tls_source *key,
                         struct http_tls_client *out, struct http_tls_stamp st[2], char *err,
                         size_t errlen)
{
    const char *pem;
    size_t len, cap;
    char *owned, loc[300];
    int rc;
    if (part_pem(cert, "client certificate", &st[0], &pem, &len, &owned, &cap, err, errlen) < 0)
        return -1;
    where(cert, loc, sizeof(loc));
    rc = read_cert(out, pem, len, loc, err, errlen);
    if (owned)
        OPENSSL_clear_free(owned, cap); /* the file may hold the key too */
    if (rc < 0)
        return -1;
    if (part_pem(key, "client key", &st[1], &pem, &len, &owned, &cap, err, errlen) < 0)
        return -1;
    where(key, loc, sizeof(loc));
    rc = read_key(out, pem, len, loc, err, errlen);
    if (owned)
        OPENSSL_clear_free(owned, cap);
    return rc;
}

void http_tls_client_fini(struct http_tls_client *c)
{
    X509_free(c->cert);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    memset(c, 0, sizeof(*c));
}
