/*
 * test_util.c - bounded file reads and secrets read from files (util.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util.h"

static char *write_tmp(const char *data, size_t len)
{
    char *path = strdup("/tmp/kp-test-util-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static void expect_secret(const char *content, size_t len, const char *want)
{
    char *path = write_tmp(content, len), *s = NULL, err[256] = "";
    int rc = kp_read_secret_file(path, 64, &s, err, sizeof(err));
    if (want) {
        assert_int_equal(rc, 0);
        assert_string_equal(s, want);
    } else {
        assert_int_equal(rc, -1);
        assert_null(s);
        assert_non_null(strstr(err, path));
        /* the error names the file, never its content */
        if (len > 2)
            assert_null(strstr(err, "hunter"));
    }
    kp_secret_free(s);
    unlink(path);
    free(path);
}

static void test_secret_files(void **state)
{
    (void)state;
    expect_secret("hunter2", 7, "hunter2");
    expect_secret("hunter2\n", 8, "hunter2");
    expect_secret("hunter2 \r\n\t\n", 12, "hunter2");
    expect_secret("", 0, NULL);                    /* empty */
    expect_secret("\n\n", 2, NULL);                /* only whitespace */
    expect_secret("hunter2\nhunter3\n", 16, NULL); /* two lines */
    expect_secret("hunter\0002", 8, NULL);         /* a NUL inside */
    char big[100];
    memset(big, 'a', sizeof(big));
    expect_secret(big, sizeof(big), NULL); /* over the bound */
}

static void test_read_file_bounds(void **state)
{
    (void)state;
    char *buf = NULL, err[256] = "";
    size_t len = 0;
    char *path = write_tmp("0123456789", 10);
    assert_int_equal(kp_read_file(path, 10, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 10);
    assert_string_equal(buf, "0123456789");
    free(buf);
    buf = NULL;
    assert_int_equal(kp_read_file(path, 9, &buf, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than 9 bytes"));
    assert_int_equal(kp_read_file("/nonexistent/kp", 9, &buf, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/kp: No such file"));
    assert_int_equal(kp_read_file("/tmp", 9, &buf, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(path);
    free(path);
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    const char *cases[] = {"", "f", "fo", "foo", "user:pass", "\xff\x00\x80"};
    const size_t lens[] = {0, 1, 2, 3, 9, 3};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = 0;
        char *enc = kp_base64_encode(cases[i], lens[i]);
        char *dec = kp_base64_decode(enc, strlen(enc), 64, &n);
        assert_non_null(dec);
        assert_int_equal(n, lens[i]);
        assert_memory_equal(dec, cases[i], n);
        free(enc);
        free(dec);
    }
    char *enc = kp_base64_encode("user:pass", 9);
    assert_string_equal(enc, "dXNlcjpwYXNz");
    free(enc);
}

static void test_grow(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(kp_grow((void **)&a, &cap, 1, sizeof(*a), 8), 0);
    assert_int_equal(cap, 8);
    for (int i = 0; i < 8; i++)
        a[i] = i;
    assert_int_equal(kp_grow((void **)&a, &cap, 8, sizeof(*a), 8), 0); /* room already */
    assert_int_equal(cap, 8);
    assert_int_equal(kp_grow((void **)&a, &cap, 33, sizeof(*a), 8), 0); /* doubles past want */
    assert_int_equal(cap, 64);
    assert_int_equal(a[7], 7); /* contents kept */
    int *before = a;
    assert_int_equal(kp_grow((void **)&a, &cap, SIZE_MAX / 2, sizeof(*a), 8), -1);
    assert_ptr_equal(a, before); /* a refusal leaves the array as it was */
    assert_int_equal(cap, 64);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_files),
        cmocka_unit_test(test_read_file_bounds),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
