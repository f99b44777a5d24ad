/*
 * fuzz_amf3: amf3_decode on arbitrary input. Whatever decodes must re-encode
 * with amf3_write_value and decode to the same structure, and likewise
 * through amf0_write_value / amf0_decode (byte arrays become strings there).
 */
#include "amf/amf0.h"
#include "amf/amf3.h"
#include "amf/amf_internal.h"
#include "core/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct amf_value *v, int amf0)
{
    struct buf b;
    struct amf_value again;
    size_t used;
    const char *err = NULL;
    buf_init(&b, (size_t)1 << 30);
    if ((amf0 ? amf0_write_value(&b, v) : amf3_write_value(&b, v)) != ST_OK)
        __builtin_trap();
    int rc = amf0 ? amf0_decode(b.data, b.len, &again, &used, &err)
                  : amf3_decode(b.data, b.len, &again, &used, &err);
    if (rc != ST_OK || used != b.len || !amf_value_equal(v, &again, amf0))
        __builtin_trap();
    amf_value_free(&again);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct amf_value v;
    size_t used;
    const char *err = NULL;
    if (amf3_decode(data, size, &v, &used, &err) != ST_OK) {
        if (!err)
            __builtin_trap();
        return 0;
    }
    if (used > size)
        __builtin_trap();
    check(&v, 0);
    check(&v, 1);
    amf_value_free(&v);
    return 0;
}
