/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_selector.c - label and field selectors: the grammar the API server
 * accepts (and what it refuses), and matching.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mapi_int.h"
#include "kp_test.h"

static bool lmatch(const char *sel, const char *labels)
{
    struct kube_selector s;
    char err[256];
    if (kube_selector_parse(sel, &s, err, sizeof err) < 0)
        fail_msg("'%s' refused: %s", sel, err);
    bool m = mapi_selector_match_labels(&s, labels);
    kube_selector_fini(&s);
    return m;
}

KP_TEST(test_label_grammar)
{
    (void)state;
    const char *l = "app:web,app.kubernetes.io/name:kp,tier:front,n:5";
    assert_true(lmatch("", l));
    assert_true(lmatch("app=web", l));
    assert_true(lmatch("app==web", l));
    assert_true(lmatch(" app = web , tier=front ", l));
    assert_false(lmatch("app!=web", l));
    assert_true(lmatch("missing!=x", l));
    assert_true(lmatch("app in (db, web)", l));
    assert_false(lmatch("app notin (db,web)", l));
    assert_true(lmatch("missing notin (a)", l));
    assert_false(lmatch("missing in (a)", l));
    assert_true(lmatch("app.kubernetes.io/name", l));
    assert_false(lmatch("!app", l));
    assert_true(lmatch("!missing", l));
    assert_true(lmatch("app.kubernetes.io/name=kp,!db", l));
    assert_true(lmatch("n>4", l));
    assert_false(lmatch("n<5", l));
    assert_true(lmatch("x=", "x:"));
    assert_false(lmatch("x=", l));
    assert_true(lmatch("x in (,a)", "x:"));
    assert_false(lmatch("app=web", NULL));
    assert_true(lmatch("!app", NULL));
    /* a prefix of a key is not the key */
    assert_false(lmatch("ap=web", l));
    assert_false(lmatch("tier=fron", l));

    static const char *const bad[] = {
        "app in ()", "app in (a", "app in a", "=web",     "app=web=x",  "app=we b",
        "!app=web",  "-app=x",    "app=-x",   "app,",     "a b",        "Bad_/x=y",
        "a/b/c=d",   "n>x",       "app=(",    "a=b,,c=d", "x in (a b)", "n>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kube_selector s;
        char err[256] = "";
        if (kube_selector_parse(bad[i], &s, err, sizeof err) == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(err[0] != '\0');
    }
    /* 64-byte name part: too long */
    char longkey[80];
    memset(longkey, 'a', 64);
    strcpy(longkey + 64, "=x");
    struct kube_selector s;
    char err[256];
    assert_int_equal(kube_selector_parse(longkey, &s, err, sizeof err), -1);
    longkey[63] = '=';
    longkey[64] = 'x';
    longkey[65] = '\0';
    assert_int_equal(kube_selector_parse(longkey, &s, err, sizeof err), 0);
    kube_selector_fini(&s);
}

static const char *fget(const char *key, const void *obj)
{
    const char *const *kv = obj;
    for (; kv[0]; kv += 2)
        if (!strcmp(kv[0], key))
            return kv[1];
    return NULL;
}

static bool fmatch(const char *sel, const char *const *obj)
{
    struct kube_selector s;
    char err[256];
    if (mapi_field_selector_parse(sel, &s, err, sizeof err) < 0)
        fail_msg("'%s' refused: %s", sel, err);
    bool m = mapi_selector_match_fields(&s, fget, obj);
    kube_selector_fini(&s);
    return m;
}

KP_TEST(test_field_grammar)
{
    (void)state;
    const char *const obj[] = {"metadata.name", "a,b=c", "metadata.namespace", "ns", NULL};
    assert_true(fmatch("", obj));
    assert_true(fmatch("metadata.namespace=ns", obj));
    assert_true(fmatch("metadata.namespace==ns", obj));
    assert_false(fmatch("metadata.namespace!=ns", obj));
    assert_true(fmatch("metadata.name=a\\,b\\=c,metadata.namespace=ns", obj));
    assert_false(fmatch("metadata.name=a", obj));
    /* a field the object lacks is the empty string */
    assert_true(fmatch("spec.nodeName=", obj));
    assert_true(fmatch("spec.nodeName!=x", obj));
    assert_false(fmatch("spec.nodeName=x", obj));
    static const char *const bad[] = {"metadata.name", "=x", "a=\\q", "a=b\\", ",", "a=b,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kube_selector s;
        char err[256];
        if (mapi_field_selector_parse(bad[i], &s, err, sizeof err) == 0)
            fail_msg("'%s' accepted", bad[i]);
    }
}
