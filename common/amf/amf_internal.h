/*
 * amf_internal: helpers shared by amf_value.c, amf0.c and amf3.c only (and by
 * the AMF unit tests and fuzz drivers). Not part of the public API.
 *
 * Allocation budget: one decode call gets amf_value_budget(len) bytes for the
 * whole value tree it builds (strings, property and item arrays, deep copies
 * made for references). References make a few input bytes stand for a large
 * subtree; the budget keeps total allocation proportional to the input, so a
 * 10-byte message can never allocate megabytes. Every helper below charges
 * the budget before allocating and fails with nothing allocated when it is
 * exhausted.
 */
#ifndef SC_AMF_INTERNAL_H
#define SC_AMF_INTERNAL_H

#include "amf/amf_value.h"

#include <stddef.h>
#include <stdint.h>

/* Budget of a decode call over len input bytes. The factor covers the worst
 * reference-free encoding (one 1-byte null item per struct amf_value) with
 * room to spare, so re-decoding anything the encoders wrote always fits. */
size_t amf_value_budget(size_t len);

/* Zeroed array of n elements of size bytes, or NULL (budget, overflow, memory). */
void *amf_value_calloc(size_t *budget, size_t n, size_t size);

/* Grow *arr (capacity *cap elements of size bytes) to hold at least need
 * elements; new elements are zeroed. ST_OK or ST_ERROR (arr unchanged). */
int amf_value_grow(size_t *budget, void **arr, size_t *cap, size_t need, size_t size);

/* NUL-terminated copy of len bytes, or NULL. */
char *amf_value_strdup(size_t *budget, const void *p, size_t len);

/* Deep copy of src into *dst (overwritten, not freed). ST_ERROR leaves *dst
 * AMF_UNDEFINED with nothing to free. */
int amf_value_copy(struct amf_value *dst, const struct amf_value *src, size_t *budget);

/* Container levels in v: 0 for a scalar, 1 for a container holding only
 * scalars, and so on. Decoders use it to keep a deep copy made for a
 * reference within the depth cap at the place the reference appears. */
int amf_value_height(const struct amf_value *v);

/* Structural equality: same types, bit-identical numbers, same bytes, same
 * property order. With bytes_as_string, BYTE_ARRAY equals a STRING of the
 * same bytes (AMF0 carries byte arrays as long strings). 1 if equal. */
int amf_value_equal(const struct amf_value *a, const struct amf_value *b, int bytes_as_string);

/* amf3_decode for the AVM+ switch inside AMF0: the AMF3 value starts at the
 * given nesting depth and charges the caller's budget. */
int amf3_decode_nested(const uint8_t *data, size_t len, struct amf_value *out, size_t *consumed,
                       const char **err, int depth, size_t *budget);

#endif
