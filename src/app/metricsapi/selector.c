/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selector.c - label and field selectors as the API server parses and
 * matches them (k8s.io/apimachinery labels.Parse and fields.ParseSelector).
 *
 * Labels: comma-separated requirements "k=v", "k==v", "k!=v", "k in (a,b)",
 * "k notin (a,b)", "k" (exists), "!k" (does not exist), "k>1", "k<1"; blanks
 * around tokens; keys are qualified names ([prefix/]name), values label
 * values (63 bytes of [A-Za-z0-9-_.], alphanumeric at both ends, or empty).
 * Fields: "k=v", "k==v", "k!=v" joined by unescaped commas; "\," "\=" "\\"
 * escape. A field the object lacks compares as the empty string.
 *
 * Every bound is explicit: MAPI_SEL_MAX bytes, MAPI_SEL_MAX_REQS
 * requirements, MAPI_SEL_MAX_VALS values each.
 */
#include "mapi_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEL_GT 100 /* internal ops beyond the public enum */
#define SEL_LT 101

void mapi_selector_fini(struct mapi_selector *sel)
{
    for (size_t i = 0; i < sel->nreqs; i++) {
        free(sel->reqs[i].key);
        for (size_t j = 0; j < sel->reqs[i].nvals; j++)
            free(sel->reqs[i].vals[j]);
    }
    memset(sel, 0, sizeof(*sel));
}

/* ---- validation (IsQualifiedName, IsValidLabelValue) ------------------------ */

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

static bool valid_name_part(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

/* DNS-1123 subdomain: lower-case labels of [a-z0-9-] joined by dots, at most 253. */
static bool valid_dns_subdomain(const char *s, size_t n)
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

static bool valid_key(const char *k)
{
    const char *slash = strchr(k, '/');
    if (!slash)
        return valid_name_part(k, strlen(k));
    if (strchr(slash + 1, '/'))
        return false;
    return valid_dns_subdomain(k, (size_t)(slash - k)) &&
           valid_name_part(slash + 1, strlen(slash + 1));
}

static bool valid_value(const char *v)
{
    size_t n = strlen(v);
    return n == 0 || valid_name_part(v, n);
}

/* ---- the label selector lexer (labels.Lexer) ------------------------------- */

enum tok {
    T_END,
    T_ID,
    T_COMMA,
    T_NOT,
    T_EQ,
    T_DEQ,
    T_NE,
    T_IN,
    T_NOTIN,
    T_OPEN,
    T_CLOSE,
    T_GT,
    T_LT,
    T_ERR
};

struct lexer {
    const char *s;
    size_t pos;
    char id[MAPI_SEL_MAX + 1];
};

static bool special(char c)
{
    return c == '!' || c == '=' || c == ',' || c == '(' || c == ')' || c == '<' || c == '>';
}

static enum tok lex(struct lexer *l)
{
    while (isspace((unsigned char)l->s[l->pos]))
        l->pos++;
    const char *p = l->s + l->pos;
    if (!*p)
        return T_END;
    if (special(*p)) {
        l->pos++;
        switch (*p) {
        case ',': return T_COMMA;
        case '(': return T_OPEN;
        case ')': return T_CLOSE;
        case '<': return T_LT;
        case '>': return T_GT;
        case '!':
            if (p[1] == '=') {
                l->pos++;
                return T_NE;
            }
            return T_NOT;
        default: /* '=' */
            if (p[1] == '=') {
                l->pos++;
                return T_DEQ;
            }
            return T_EQ;
        }
    }
    size_t n = 0;
    while (p[n] && !special(p[n]) && !isspace((unsigned char)p[n]))
        n++;
    if (n > MAPI_SEL_MAX)
        return T_ERR;
    memcpy(l->id, p, n);
    l->id[n] = '\0';
    l->pos += n;
    if (!strcmp(l->id, "in"))
        return T_IN;
    if (!strcmp(l->id, "notin"))
        return T_NOTIN;
    return T_ID;
}

static enum tok peek(struct lexer *l)
{
    size_t save = l->pos;
    enum tok t = lex(l);
    l->pos = save;
    return t;
}

static int fail(char *err, size_t errlen, const char *what, const char *near)
{
    snprintf(err, errlen, "unable to parse requirement: %s%s%.64s%s", what, near ? " near '" : "",
             near ? near : "", near ? "'" : "");
    return -1;
}

static int add_val(struct mapi_sel_req *r, const char *v, char *err, size_t errlen)
{
    if (r->nvals == MAPI_SEL_MAX_VALS)
        return fail(err, errlen, "too many values", NULL);
    if (!valid_value(v))
        return fail(err, errlen, "invalid label value", v);
    if (!(r->vals[r->nvals] = strdup(v)))
        return fail(err, errlen, "out of memory", NULL);
    r->nvals++;
    return 0;
}

/* "(a, b, c)" after in/notin; the set must not be empty. */
static int parse_set(struct lexer *l, struct mapi_sel_req *r, char *err, size_t errlen)
{
    if (lex(l) != T_OPEN)
        return fail(err, errlen, "expected '(' after in/notin", NULL);
    for (;;) {
        enum tok t = lex(l);
        if (t == T_CLOSE && r->nvals == 0)
            break; /* "()": rejected below */
        if (t == T_CLOSE)
            break;
        if (t == T_COMMA) { /* an empty value: "(a,,b)" or "(,a)" */
            if (add_val(r, "", err, errlen) < 0)
                return -1;
            continue;
        }
        if (t != T_ID && t != T_IN && t != T_NOTIN)
            return fail(err, errlen, "expected a value", l->id);
        if (add_val(r, l->id, err, errlen) < 0)
            return -1;
        t = lex(l);
        if (t == T_CLOSE)
            break;
        if (t != T_COMMA)
            return fail(err, errlen, "expected ',' or ')'", NULL);
        if (peek(l) == T_CLOSE && add_val(r, "", err, errlen) < 0)
            return -1;
    }
    if (r->nvals == 0)
        return fail(err, errlen, "for 'in', 'notin' operators, values set can't be empty", NULL);
    return 0;
}

static bool is_int(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static int parse_req(struct lexer *l, struct mapi_sel_req *r, char *err, size_t errlen)
{
    enum tok t = lex(l);
    bool neg = false;
    if (t == T_NOT) {
        neg = true;
        t = lex(l);
    }
    if (t != T_ID)
        return fail(err, errlen, "expected a key", l->s + l->pos);
    if (!valid_key(l->id))
        return fail(err, errlen, "invalid label key", l->id);
    if (!(r->key = strdup(l->id)))
        return fail(err, errlen, "out of memory", NULL);
    t = peek(l);
    if (neg || t == T_END || t == T_COMMA) {
        if (neg && t != T_END && t != T_COMMA)
            return fail(err, errlen, "'!' takes a key alone", r->key);
        r->op = neg ? SEL_NOT_EXISTS : SEL_EXISTS;
        return 0;
    }
    t = lex(l);
    switch (t) {
    case T_EQ:
    case T_DEQ: r->op = SEL_EQ; break;
    case T_NE: r->op = SEL_NE; break;
    case T_IN: r->op = SEL_IN; return parse_set(l, r, err, errlen);
    case T_NOTIN: r->op = SEL_NOTIN; return parse_set(l, r, err, errlen);
    case T_GT: r->op = (enum mapi_sel_op)SEL_GT; break;
    case T_LT: r->op = (enum mapi_sel_op)SEL_LT; break;
    default: return fail(err, errlen, "expected an operator after the key", r->key);
    }
    t = peek(l);
    if (t == T_END || t == T_COMMA) /* "k=" : the empty value */
        return add_val(r, "", err, errlen);
    t = lex(l);
    if (t != T_ID && t != T_IN && t != T_NOTIN)
        return fail(err, errlen, "expected a value", l->s + l->pos);
    if ((int)r->op >= SEL_GT && !is_int(l->id))
        return fail(err, errlen, "for 'Gt', 'Lt' operators, the value must be an integer", l->id);
    return add_val(r, l->id, err, errlen);
}

int mapi_label_selector_parse(const char *text, struct mapi_selector *sel, char *err, size_t errlen)
{
    memset(sel, 0, sizeof(*sel));
    if (strlen(text) > MAPI_SEL_MAX)
        return fail(err, errlen, "selector too long", NULL);
    struct lexer *l = calloc(1, sizeof(*l));
    if (!l)
        return fail(err, errlen, "out of memory", NULL);
    l->s = text;
    int rc = 0;
    if (peek(l) == T_END)
        goto out;
    for (;;) {
        if (sel->nreqs == MAPI_SEL_MAX_REQS) {
            rc = fail(err, errlen, "too many requirements", NULL);
            break;
        }
        rc = parse_req(l, &sel->reqs[sel->nreqs++], err, errlen);
        if (rc < 0)
            break;
        enum tok t = lex(l);
        if (t == T_END)
            break;
        if (t != T_COMMA) {
            rc = fail(err, errlen, "expected ','", l->s + l->pos);
            break;
        }
    }
out:
    free(l);
    if (rc < 0)
        mapi_selector_fini(sel);
    return rc;
}

/* ---- field selectors ---------------------------------------------------------- */

/* Copy s[0..n) dropping the backslash of each escape; a lone trailing backslash or an
 * escape of anything but '\\', ',' and '=' is an error, as in fields.UnescapeValue. */
static char *unescape(const char *s, size_t n)
{
    char *o = malloc(n + 1), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            if (i + 1 == n || (s[i + 1] != '\\' && s[i + 1] != ',' && s[i + 1] != '=')) {
                free(o);
                return NULL;
            }
            i++;
        }
        *w++ = s[i];
    }
    *w = '\0';
    return o;
}

static int field_term(const char *s, size_t n, struct mapi_sel_req *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        size_t oplen = 0;
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] == '!' && i + 1 < n && s[i + 1] == '=') {
            r->op = SEL_NE;
            oplen = 2;
        } else if (s[i] == '=') {
            r->op = SEL_EQ;
            oplen = i + 1 < n && s[i + 1] == '=' ? 2 : 1;
        } else {
            continue;
        }
        r->key = unescape(s, i);
        r->vals[0] = unescape(s + i + oplen, n - i - oplen);
        r->nvals = r->vals[0] ? 1 : 0;
        if (!r->key || !r->vals[0] || !*r->key) {
            snprintf(err, errlen, "invalid field selector term '%.*s'", (int)(n > 64 ? 64 : n), s);
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "invalid selector: '%.*s'; can't understand '%.*s'",
             (int)(n > 64 ? 64 : n), s, (int)(n > 64 ? 64 : n), s);
    return -1;
}

int mapi_field_selector_parse(const char *text, struct mapi_selector *sel, char *err, size_t errlen)
{
    memset(sel, 0, sizeof(*sel));
    size_t len = strlen(text);
    if (len > MAPI_SEL_MAX)
        return fail(err, errlen, "selector too long", NULL);
    if (len == 0)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i + 1 < len && text[i] == '\\') {
            i++;
            continue;
        }
        if (i < len && text[i] != ',')
            continue;
        if (sel->nreqs == MAPI_SEL_MAX_REQS) {
            mapi_selector_fini(sel);
            return fail(err, errlen, "too many requirements", NULL);
        }
        if (field_term(text + start, i - start, &sel->reqs[sel->nreqs++], err, errlen) < 0) {
            mapi_selector_fini(sel);
            return -1;
        }
        start = i + 1;
    }
    return 0;
}

/* ---- matching ----------------------------------------------------------------- */

/* The value of key in "k:v,k:v" copied into out; false when absent. */
static bool label_get(const char *labels, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    for (const char *p = labels; p && *p;) {
        const char *end = strchr(p, ','), *colon = strchr(p, ':');
        if (!end)
            end = p + strlen(p);
        if (colon && colon < end && (size_t)(colon - p) == klen && !strncmp(p, key, klen)) {
            size_t vlen = (size_t)(end - colon - 1);
            if (vlen >= outlen)
                vlen = outlen - 1;
            memcpy(out, colon + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

static bool in_vals(const struct mapi_sel_req *r, const char *v)
{
    for (size_t i = 0; i < r->nvals; i++)
        if (!strcmp(r->vals[i], v))
            return true;
    return false;
}

static bool req_match(const struct mapi_sel_req *r, bool present, const char *v)
{
    switch ((int)r->op) {
    case SEL_EQ: return present && in_vals(r, v);
    case SEL_NE: return !present || !in_vals(r, v);
    case SEL_IN: return present && in_vals(r, v);
    case SEL_NOTIN: return !present || !in_vals(r, v);
    case SEL_EXISTS: return present;
    case SEL_NOT_EXISTS: return !present;
    case SEL_GT:
    case SEL_LT: {
        if (!present || !is_int(v))
            return false;
        long long a = strtoll(v, NULL, 10), b = strtoll(r->vals[0], NULL, 10);
        return (int)r->op == SEL_GT ? a > b : a < b;
    }
    default: return false;
    }
}

bool mapi_selector_match_labels(const struct mapi_selector *sel, const char *labels)
{
    char v[256];
    for (size_t i = 0; i < sel->nreqs; i++) {
        bool present = label_get(labels, sel->reqs[i].key, v, sizeof(v));
        if (!req_match(&sel->reqs[i], present, present ? v : ""))
            return false;
    }
    return true;
}

bool mapi_selector_match_fields(const struct mapi_selector *sel,
                                const char *(*get)(const char *key, const void *obj),
                                const void *obj)
{
    for (size_t i = 0; i < sel->nreqs; i++) {
        const char *v = get(sel->reqs[i].key, obj);
        /* fields.Set: a missing field is the empty string, always "present" */
        if (!req_match(&sel->reqs[i], true, v ? v : ""))
            return false;
    }
    return true;
}
