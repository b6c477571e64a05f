/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selector.c - the metrics API's selectors: field selectors as the API server parses them
 * (k8s.io/apimachinery fields.ParseSelector), and matching both kinds against a pod's or
 * node's labels and fields. Label selectors are parsed by kp_common (kube_selector.c), which
 * also says what each requirement matches.
 *
 * Fields: "k=v", "k==v", "k!=v" joined by unescaped commas; "\," "\=" "\\" escape. A field
 * the object lacks compares as the empty string. Bounds: KUBE_SEL_MAX bytes,
 * KUBE_SEL_MAX_REQS terms.
 */
#include "mapi_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int field_term(const char *s, size_t n, struct kube_sel_req *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        size_t oplen = 0;
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] == '!' && i + 1 < n && s[i + 1] == '=') {
            r->op = KUBE_SEL_NE;
            oplen = 2;
        } else if (s[i] == '=') {
            r->op = KUBE_SEL_EQ;
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

int mapi_field_selector_parse(const char *text, struct kube_selector *sel, char *err, size_t errlen)
{
    memset(sel, 0, sizeof(*sel));
    size_t len = strlen(text);
    if (len > KUBE_SEL_MAX) {
        snprintf(err, errlen, "invalid field selector: longer than %d bytes", KUBE_SEL_MAX);
        return -1;
    }
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
        if (sel->nreqs == KUBE_SEL_MAX_REQS) {
            kube_selector_fini(sel);
            snprintf(err, errlen, "invalid field selector: more than %d terms", KUBE_SEL_MAX_REQS);
            return -1;
        }
        if (field_term(text + start, i - start, &sel->reqs[sel->nreqs++], err, errlen) < 0) {
            kube_selector_fini(sel);
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

bool mapi_selector_match_labels(const struct kube_selector *sel, const char *labels)
{
    char v[256];
    for (size_t i = 0; i < sel->nreqs; i++) {
        bool present = label_get(labels, sel->reqs[i].key, v, sizeof(v));
        if (!kube_sel_req_match(&sel->reqs[i], present ? v : NULL))
            return false;
    }
    return true;
}

bool mapi_selector_match_fields(const struct kube_selector *sel,
                                const char *(*get)(const char *key, const void *obj),
                                const void *obj)
{
    for (size_t i = 0; i < sel->nreqs; i++) {
        const char *v = get(sel->reqs[i].key, obj);
        /* fields.Set: a missing field is the empty string, always "present" */
        if (!kube_sel_req_match(&sel->reqs[i], v ? v : ""))
            return false;
    }
    return true;
}
