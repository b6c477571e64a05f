/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_selector.c - owns Kubernetes label selectors: the grammar as the API server parses a
 * labelSelector (k8s.io/apimachinery labels.Parse) and what each requirement matches.
 * Requirements are separated by commas, each `key`, `!key`, `key=value`, `key==value`,
 * `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`, `key>N` or `key<N`; keys are qualified
 * names ([prefix/]name), values label values, empty ones too (also inside a set: "(a,,b)").
 * --node-selector is checked with it when the flag is parsed, before the API server would
 * refuse it; the metrics API parses and matches labelSelector with it.
 *
 * Every bound is explicit: KUBE_SEL_MAX bytes, KUBE_SEL_MAX_REQS requirements,
 * KUBE_SEL_MAX_VALS values each.
 */
#include "kube_selector.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tok { T_END, T_ID, T_EQ, T_DEQ, T_NEQ, T_NOT, T_LP, T_RP, T_COMMA, T_IN, T_NOTIN, T_GT, T_LT };

struct lexer {
    const char *sel; /* the whole selector, for messages */
    const char *p;
    const char *id; /* the last identifier (T_ID, T_IN, T_NOTIN): idlen bytes */
    size_t idlen;
    char *err;
    size_t errlen;
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
    l->id = s;
    l->idlen = n;
    l->p += n;
    if (n == 2 && !memcmp(s, "in", 2))
        return T_IN;
    if (n == 5 && !memcmp(s, "notin", 5))
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

/* A DNS-1123 subdomain: lower-case labels of [a-z0-9-], alphanumeric at both ends, joined by
 * dots; at most 253. */
static bool subdomain_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
                return false;
            continue;
        }
        if (i == start || s[start] == '-' || s[i - 1] == '-')
            return false;
        start = i + 1;
    }
    return true;
}

static bool key_ok(const char *k, size_t n)
{
    const char *slash = memchr(k, '/', n);
    if (!slash)
        return label_name_ok(k, n, false);
    size_t plen = (size_t)(slash - k);
    return subdomain_ok(k, plen) && label_name_ok(slash + 1, n - plen - 1, false);
}

/* An integer as strconv.ParseInt reads it: an optional sign, then digits. */
static bool int_ok(const char *s, size_t n)
{
    size_t i = n > 0 && (s[0] == '-' || s[0] == '+');
    if (i == n)
        return false;
    for (; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int bad(struct lexer *l, const char *why, const char *what, size_t whatlen)
{
    snprintf(l->err, l->errlen, "invalid label selector \"%.200s\": %s%s%.*s%s", l->sel, why,
             what ? " \"" : "", what ? (int)(whatlen < 64 ? whatlen : 64) : 0, what ? what : "",
             what ? "\"" : "");
    return -1;
}

static int add_val(struct lexer *l, struct kube_sel_req *r, const char *v, size_t n)
{
    if (r->nvals == KUBE_SEL_MAX_VALS)
        return bad(l, "more than 32 values in ( )", NULL, 0);
    if (!(r->vals[r->nvals] = strndup(v, n)))
        return bad(l, "out of memory", NULL, 0);
    r->nvals++;
    return 0;
}

/* After a requirement: the next token must end the selector or start the next one. */
static int requirement_end(struct lexer *l, enum tok *next)
{
    *next = lex(l);
    return *next == T_END || *next == T_COMMA
               ? 0
               : bad(l, "expected ',' between requirements", NULL, 0);
}

/* "(a, b, c)" after in/notin. An empty value counts ("(a,,b)", "(,a)", "(a,)"), as in
 * labels.Parse; an empty set does not. */
static int value_set(struct lexer *l, struct kube_sel_req *r, enum tok *next)
{
    if (lex(l) != T_LP)
        return bad(l, "expected '(' after in/notin", NULL, 0);
    enum tok t = lex(l);
    if (t == T_RP)
        return bad(l, "in and notin need at least one value", NULL, 0);
    for (;;) {
        if (t == T_COMMA || t == T_RP) {
            if (add_val(l, r, "", 0) < 0)
                return -1;
        } else if (t == T_ID || t == T_IN || t == T_NOTIN) {
            if (!label_name_ok(l->id, l->idlen, true))
                return bad(l, "not a label value:", l->id, l->idlen);
            if (add_val(l, r, l->id, l->idlen) < 0)
                return -1;
            t = lex(l);
        } else {
            return bad(l, "expected a value in ( )", NULL, 0);
        }
        if (t == T_RP)
            break;
        if (t != T_COMMA)
            return bad(l, "expected ',' or ')' in the value list", NULL, 0);
        t = lex(l);
    }
    return requirement_end(l, next);
}

/* The value after =, ==, !=, > or <; "key=" selects the empty value. */
static int single_value(struct lexer *l, struct kube_sel_req *r, enum tok *next)
{
    bool num = r->op == KUBE_SEL_GT || r->op == KUBE_SEL_LT;
    enum tok t = lex(l);
    if (t == T_END || t == T_COMMA) {
        if (num)
            return bad(l, "> and < need an integer value", NULL, 0);
        *next = t;
        return add_val(l, r, "", 0);
    }
    if (t != T_ID && t != T_IN && t != T_NOTIN)
        return bad(l, "expected a value or ',' after the operator", NULL, 0);
    if (num && !int_ok(l->id, l->idlen))
        return bad(l, "> and < need an integer value, not", l->id, l->idlen);
    if (!num && !label_name_ok(l->id, l->idlen, true))
        return bad(l,
                   "a value is at most 63 of A-Z a-z 0-9 - _ . with alphanumerics at "
                   "both ends; not",
                   l->id, l->idlen);
    if (add_val(l, r, l->id, l->idlen) < 0)
        return -1;
    return requirement_end(l, next);
}

/* One requirement; t is its first token. *next is the token after it (T_END or T_COMMA). */
static int requirement(struct lexer *l, enum tok t, struct kube_sel_req *r, enum tok *next)
{
    bool negated = t == T_NOT;
    if (negated)
        t = lex(l);
    if (t != T_ID)
        return bad(l, "expected a label key", NULL, 0);
    if (!key_ok(l->id, l->idlen))
        return bad(l,
                   "a key is [prefix/]name: name at most 63 of A-Z a-z 0-9 - _ . with "
                   "alphanumerics at both ends, prefix a DNS subdomain; not",
                   l->id, l->idlen);
    if (!(r->key = strndup(l->id, l->idlen)))
        return bad(l, "out of memory", NULL, 0);
    r->op = negated ? KUBE_SEL_NOT_EXISTS : KUBE_SEL_EXISTS;
    t = lex(l);
    if (t == T_END || t == T_COMMA) {
        *next = t;
        return 0;
    }
    if (negated)
        return bad(l, "!key takes no operator; expected ',' after", r->key, strlen(r->key));
    switch (t) {
    case T_EQ:
    case T_DEQ: r->op = KUBE_SEL_EQ; break;
    case T_NEQ: r->op = KUBE_SEL_NE; break;
    case T_GT: r->op = KUBE_SEL_GT; break;
    case T_LT: r->op = KUBE_SEL_LT; break;
    case T_IN: r->op = KUBE_SEL_IN; return value_set(l, r, next);
    case T_NOTIN: r->op = KUBE_SEL_NOTIN; return value_set(l, r, next);
    default: return bad(l, "expected =, ==, !=, in, notin, >, < or ',' after a key", NULL, 0);
    }
    return single_value(l, r, next);
}

int kube_selector_parse(const char *text, struct kube_selector *sel, char *err, size_t errlen)
{
    struct lexer l = {.sel = text ? text : "", .err = err, .errlen = errlen};
    l.p = l.sel;
    memset(sel, 0, sizeof(*sel));
    if (strlen(l.sel) > KUBE_SEL_MAX)
        return bad(&l, "longer than 4096 bytes", NULL, 0);
    enum tok t = lex(&l);
    if (t == T_END)
        return 0; /* empty: every object */
    for (;;) {
        enum tok next;
        if (sel->nreqs == KUBE_SEL_MAX_REQS) {
            bad(&l, "more than 32 requirements", NULL, 0);
            goto fail;
        }
        if (requirement(&l, t, &sel->reqs[sel->nreqs++], &next) < 0)
            goto fail;
        if (next == T_END)
            return 0;
        t = lex(&l); /* after ',' */
        if (t == T_END) {
            bad(&l, "a ',' must be followed by a requirement", NULL, 0);
            goto fail;
        }
    }
fail:
    kube_selector_fini(sel);
    return -1;
}

void kube_selector_fini(struct kube_selector *sel)
{
    for (size_t i = 0; i < sel->nreqs; i++) {
        free(sel->reqs[i].key);
        for (size_t j = 0; j < sel->reqs[i].nvals; j++)
            free(sel->reqs[i].vals[j]);
    }
    memset(sel, 0, sizeof(*sel));
}

int kube_label_selector_check(const char *sel, char *err, size_t errlen)
{
    struct kube_selector parsed;
    if (kube_selector_parse(sel, &parsed, err, errlen) < 0)
        return -1;
    kube_selector_fini(&parsed);
    return 0;
}

static bool in_vals(const struct kube_sel_req *r, const char *v)
{
    for (size_t i = 0; i < r->nvals; i++)
        if (!strcmp(r->vals[i], v))
            return true;
    return false;
}

bool kube_sel_req_match(const struct kube_sel_req *r, const char *value)
{
    switch (r->op) {
    case KUBE_SEL_EQ:
    case KUBE_SEL_IN: return value && in_vals(r, value);
    case KUBE_SEL_NE:
    case KUBE_SEL_NOTIN: return !value || !in_vals(r, value);
    case KUBE_SEL_EXISTS: return value != NULL;
    case KUBE_SEL_NOT_EXISTS: return value == NULL;
    case KUBE_SEL_GT:
    case KUBE_SEL_LT: {
        if (!value || !int_ok(value, strlen(value)))
            return false;
        long long a = strtoll(value, NULL, 10), b = strtoll(r->vals[0], NULL, 10);
        return r->op == KUBE_SEL_GT ? a > b : a < b;
    }
    }
    return false;
}
