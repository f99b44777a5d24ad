/*
 * fuzz_amf0: amf0_decode_all on arbitrary input. Whatever decodes must
 * re-encode with amf0_write_value and decode again to the same structure
 * (byte arrays from the AVM+ switch come back as strings, by design).
 */
#include "amf/amf0.h"
#include "amf/amf_internal.h"
#include "core/status.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct amf_value *vals, *again;
    size_t n, m;
    const char *err = NULL;
    if (amf0_decode_all(data, size, 64, &vals, &n, &err) != ST_OK) {
        if (!err)
            __builtin_trap();
        return 0;
    }
    struct buf b;
    buf_init(&b, (size_t)1 << 30);
    for (size_t i = 0; i < n; i++)
        if (amf0_write_value(&b, &vals[i]) != ST_OK)
            __builtin_trap();
    if (amf0_decode_all(b.data, b.len, 64, &again, &m, &err) != ST_OK || m != n)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (!amf_value_equal(&vals[i], &again[i], 1))
            __builtin_trap();
    amf_values_free(again, m);
    buf_free(&b);

    /* Single-value entry point agrees with the first value. */
    struct amf_value one;
    size_t used;
    if (amf0_decode(data, size, &one, &used, &err) == ST_OK) {
        if (n == 0 || used > size || !amf_value_equal(&one, &vals[0], 0))
            __builtin_trap();
        amf_value_free(&one);
    }
    amf_values_free(vals, n);
    return 0;
}
