/*
 * amf3: AMF3 decoding into struct amf_value (used for type-17 commands with
 * objectEncoding 3, and for the AMF0 AVM+ switch marker).
 *
 * Pure and bounded like amf0.h: depth cap AMF3_MAX_DEPTH, container cap
 * AMF3_MAX_ITEMS, string/object/trait reference tables per decode call with
 * bounds-checked indices, u29 integers sign-extended per the spec. Errors set
 * *err to a static reason string.
 */
#ifndef SC_AMF3_H
#define SC_AMF3_H

#include "amf/amf_value.h"
#include "core/buf.h"

#define AMF3_MAX_DEPTH 32
#define AMF3_MAX_ITEMS 4096

/* Decode one AMF3 value; same contract as amf0_decode. */
int amf3_decode(const uint8_t *data, size_t len, struct amf_value *out, size_t *consumed,
                const char **err);

/* Minimal AMF3 encoders (tests and replies to AMF3 clients). */
int amf3_write_value(struct buf *b, const struct amf_value *v);

#endif
