/* SPDX-License-Identifier: Apache-2.0 */
/*
 * https_head.c - the request head parser of the HTTPS server: request line,
 * header fields, the bounds and refusals of RFC 9112 that matter for a
 * GET-only API (no bodies, no obsolete line folding, no bare CR).
 */
#include "https_server.h"

#include <string.h>
#include <strings.h>

static int tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The next line of buf starting at *pos, NUL-terminated in place (without CRLF); NULL if
 * it does not end in CRLF or holds a bare CR, NUL or other control byte. */
static char *next_line(char *buf, size_t len, size_t *pos)
{
    char *start = buf + *pos;
    for (size_t i = *pos; i + 1 < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r') {
            if (buf[i + 1] != '\n')
                return NULL;
            buf[i] = '\0';
            *pos = i + 2;
            return start;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f || c == '\n')
            return NULL;
    }
    return NULL;
}

int https_head_parse(char *buf, size_t len, struct https_head *out)
{
    size_t pos = 0;
    memset(out, 0, sizeof(*out));
    char *line = next_line(buf, len, &pos);
    if (!line)
        return 400;
    char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strchr(sp2 + 1, ' '))
        return 400;
    *sp1 = *sp2 = '\0';
    for (const char *m = line; *m; m++)
        if (!tchar((unsigned char)*m))
            return 400;
    if (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0)
        return strncmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
    out->method = line;
    out->target = sp1 + 1;
    if (out->target[0] != '/')
        return 400; /* only origin-form: no proxy requests, no "*" */
    for (;;) {
        line = next_line(buf, len, &pos);
        if (!line)
            return 400;
        if (!*line)
            break;
        char *colon = strchr(line, ':');
        if (!colon || colon == line)
            return 400;
        for (char *p = line; p < colon; p++)
            if (!tchar((unsigned char)*p))
                return 400; /* also refuses folding (a leading blank) */
        *colon = '\0';
        char *v = colon + 1, *end = v + strlen(v);
        while (*v == ' ' || *v == '\t')
            v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (out->nheaders == HTTPS_MAX_HEADERS)
            return 431;
        out->headers[out->nheaders++] = (struct https_header){line, v};
    }
    const char *cl = https_head_get(out, "content-length");
    if (https_head_get(out, "transfer-encoding") || (cl && strcmp(cl, "0") != 0))
        return 400;
    return 0;
}

const char *https_head_get(const struct https_head *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, name) == 0)
            return h->headers[i].value;
    return NULL;
}
