/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_selector.c - owns the grammar of a Kubernetes label selector, as the API server parses
 * a labelSelector (k8s.io/apimachinery labels.Parse): requirements separated by commas, each
 * `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (v1,v2)`,
 * `key notin (v1,v2)`, `key>N` or `key<N`; keys are qualified names ([prefix/]name), values
 * label values. Used to refuse a bad --node-selector when the flag is parsed, before the API
 * server would.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kube.h"

enum tok { T_END, T_ID, T_EQ, T_DEQ, T_NEQ, T_NOT, T_LP, T_RP, T_COMMA, T_IN, T_NOTIN, T_GT, T_LT };

struct lexer {
    const char *p;
    char id[320];
};

static bool special(char c)
{
    return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '<' || c == '>' ||
           isspace((unsigned char)c);
}

static enum tok lex(struct lexer *l)
{
    while (isspace((unsigned char)*l->p))
        l->p++;
    const char *s = l->p;
    switch (*s) {
    case '\0': return T_END;
    case '(': l->p++; return T_LP;
    case ')': l->p++; return T_RP;
    case ',': l->p++; return T_COMMA;
    case '<': l->p++; return T_LT;
    case '>': l->p++; return T_GT;
    case '=': l->p += s[1] == '=' ? 2 : 1; return s[1] == '=' ? T_DEQ : T_EQ;
    case '!': l->p += s[1] == '=' ? 2 : 1; return s[1] == '=' ? T_NEQ : T_NOT;
    }
    size_t n = 0;
    while (s[n] && !special(s[n]))
        n++;
    snprintf(l->id, sizeof(l->id), "%.*s", (int)(n < sizeof(l->id) ? n : sizeof(l->id) - 1), s);
    l->p += n;
    if (strcmp(l->id, "in") == 0)
        return T_IN;
    if (strcmp(l->id, "notin") == 0)
        return T_NOTIN;
    return T_ID;
}

/* A label value or the name part of a key: at most 63 of [A-Za-z0-9-_.], alphanumeric at
 * both ends; empty only where allow_empty. */
static bool label_name_ok(const char *s, size_t n, bool allow_empty)
{
    if (n == 0)
        return allow_empty;
    if (n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

/* A DNS-1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253. */
static bool subdomain_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
              s[i] == '.'))
            return false;
    return true;
}

static bool key_ok(const char *k)
{
    const char *slash = strchr(k, '/');
    if (!slash)
        return label_name_ok(k, strlen(k), false);
    return subdomain_ok(k, (size_t)(slash - k)) &&
           label_name_ok(slash + 1, strlen(slash + 1), false);
}

static int bad(const char *sel, char *err, size_t errlen, const char *why, const char *what)
{
    snprintf(err, errlen, "invalid label selector \"%.200s\": %s%s%.64s%s", sel, why,
             what ? " \"" : "", what ? what : "", what ? "\"" : "");
    return -1;
}

/* One requirement; t is its first token. Returns the token after it. */
static int requirement(struct lexer *l, enum tok t, const char *sel, enum tok *next, char *err,
                       size_t errlen)
{
    bool negated = t == T_NOT;
    if (negated)
        t = lex(l);
    if (t != T_ID)
        return bad(sel, err, errlen, "expected a label key", NULL);
    if (!key_ok(l->id))
        return bad(sel, err, errlen,
                   "a key is [prefix/]name: name at most 63 of A-Z a-z 0-9 - _ . with "
                   "alphanumerics at both ends, prefix a DNS subdomain; not",
                   l->id);
    t = lex(l);
    if (t == T_END || t == T_COMMA) {
        *next = t;
        return 0;
    }
    if (negated)
        return bad(sel, err, errlen, "!key takes no operator; expected ',' after", l->id);
    if (t == T_EQ || t == T_DEQ || t == T_NEQ || t == T_GT || t == T_LT) {
        enum tok op = t;
        const char *before = l->p;
        t = lex(l);
        if (t != T_ID) { /* "key=" selects an empty value */
            if (op == T_GT || op == T_LT)
                return bad(sel, err, errlen, "> and < need an integer value", NULL);
            l->p = before;
            *next = lex(l);
            return *next == T_END || *next == T_COMMA
                       ? 0
                       : bad(sel, err, errlen, "expected a value or ',' after the operator", NULL);
        }
        if (op == T_GT || op == T_LT) {
            const char *d = l->id + (l->id[0] == '-');
            if (!*d || strspn(d, "0123456789") != strlen(d))
                return bad(sel, err, errlen, "> and < need an integer value, not", l->id);
        } else if (!label_name_ok(l->id, strlen(l->id), true)) {
            return bad(sel, err, errlen,
                       "a value is at most 63 of A-Z a-z 0-9 - _ . with alphanumerics at "
                       "both ends; not",
                       l->id);
        }
        *next = lex(l);
        return *next == T_END || *next == T_COMMA
                   ? 0
                   : bad(sel, err, errlen, "expected ',' between requirements", NULL);
    }
    if (t != T_IN && t != T_NOTIN)
        return bad(sel, err, errlen, "expected =, ==, !=, in, notin, >, < or ',' after a key",
                   NULL);
    if (lex(l) != T_LP)
        return bad(sel, err, errlen, "expected '(' after in/notin", NULL);
    int nvalues = 0;
    for (;;) {
        t = lex(l);
        if (t == T_RP && nvalues == 0)
            return bad(sel, err, errlen, "in and notin need at least one value", NULL);
        if (t != T_ID)
            return bad(sel, err, errlen, "expected a value in ( )", NULL);
        if (!label_name_ok(l->id, strlen(l->id), true))
            return bad(sel, err, errlen, "not a label value:", l->id);
        nvalues++;
        t = lex(l);
        if (t == T_RP)
            break;
        if (t != T_COMMA)
            return bad(sel, err, errlen, "expected ',' or ')' in the value list", NULL);
    }
    *next = lex(l);
    return *next == T_END || *next == T_COMMA
               ? 0
               : bad(sel, err, errlen, "expected ',' between requirements", NULL);
}

int kube_label_selector_check(const char *sel, char *err, size_t errlen)
{
    struct lexer l = {.p = sel ? sel : ""};
    enum tok t = lex(&l);
    if (t == T_END)
        return 0; /* empty: every object */
    for (;;) {
        enum tok next;
        if (requirement(&l, t, sel, &next, err, errlen) < 0)
            return -1;
        if (next == T_END)
            return 0;
        t = lex(&l); /* after ',' */
        if (t == T_END)
            return bad(sel, err, errlen, "a ',' must be followed by a requirement", NULL);
    }
}
