/*
 * amf0: AMF0 decoding into struct amf_value, and AMF0 encoding into a struct buf.
 *
 * Decoding is pure and bounded: nesting deeper than AMF0_MAX_DEPTH, more than
 * AMF0_MAX_ITEMS properties/items in one container, or a string longer than
 * the remaining input are errors with a reason in *err (a static string).
 * Complex values referenced by AMF0 type 0x07 (reference) are resolved by
 * deep copy from the table of objects decoded so far in the same call to
 * amf0_decode_all / amf0_decode (one table per call); a bad index is an error.
 * Type 0x11 (AVM+ switch) decodes the following AMF3 value (amf3.h).
 *
 * Encoders append to a buf and return ST_OK or ST_ERROR (buffer cap).
 */
#ifndef SC_AMF0_H
#define SC_AMF0_H

#include "amf/amf_value.h"
#include "core/buf.h"

#define AMF0_MAX_DEPTH 32
#define AMF0_MAX_ITEMS 4096

/* Decode one value from data[0..len). ST_OK: *out filled (caller frees with
 * amf_value_free), *consumed bytes used. ST_ERROR: *err says why, *out is
 * left AMF_UNDEFINED with nothing to free. Truncated input is ST_ERROR (an
 * RTMP message always carries whole values). */
int amf0_decode(const uint8_t *data, size_t len, struct amf_value *out, size_t *consumed,
                const char **err);

/* Decode values until the input ends, at most max_values. ST_OK: *out is a
 * malloc'd array of *count values (free each with amf_value_free, then free
 * the array; amf_values_free does both). */
int amf0_decode_all(const uint8_t *data, size_t len, size_t max_values, struct amf_value **out,
                    size_t *count, const char **err);
void amf_values_free(struct amf_value *values, size_t count);

int amf0_write_number(struct buf *b, double v);
int amf0_write_bool(struct buf *b, int v);
/* Uses the long-string marker automatically when len > 65535. */
int amf0_write_string(struct buf *b, const char *s, size_t len);
int amf0_write_cstring(struct buf *b, const char *s);
int amf0_write_null(struct buf *b);
int amf0_write_undefined(struct buf *b);
/* Object: amf0_write_object_start, then per property amf0_write_key + a value,
 * then amf0_write_object_end. Same for ECMA arrays with the count up front. */
int amf0_write_object_start(struct buf *b);
int amf0_write_ecma_array_start(struct buf *b, uint32_t count);
int amf0_write_key(struct buf *b, const char *name);
int amf0_write_object_end(struct buf *b);
/* Encode any decoded value (every type; BYTE_ARRAY as a long string). */
int amf0_write_value(struct buf *b, const struct amf_value *v);

#endif
