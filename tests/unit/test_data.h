/*
 * test_data: reading the sample files of tests/data (SC_TEST_DATA, the
 * absolute path CMake passes) in unit tests. The returned buffer is
 * malloc'ed (one spare byte) and owned by the caller; a missing file fails
 * the test.
 */
#ifndef SC_TEST_DATA_H
#define SC_TEST_DATA_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

static inline uint8_t *test_data_load(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", SC_TEST_DATA, rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    cr_assert_not_null(p);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

#endif
