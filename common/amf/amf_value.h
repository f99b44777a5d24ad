/*
 * amf_value: the decoded form of an AMF0 or AMF3 value, shared by both decoders.
 *
 * Ownership: a decoded value tree is owned by whoever received it from a
 * decoder and is released with amf_value_free (which frees children and
 * strings, but not the top-level struct when it lives on the stack or in an
 * array: see amf_value_free). Strings are NUL-terminated copies (len excludes
 * the NUL) and may contain NULs inside. Values are plain data: no loop calls.
 *
 * Mapping of AMF3 onto this model: integer and double -> AMF_NUMBER,
 * false/true -> AMF_BOOLEAN, string -> AMF_STRING, xml/xml-doc -> AMF_XML,
 * date -> AMF_DATE, array -> AMF_STRICT_ARRAY (dense part only) or
 * AMF_ECMA_ARRAY (when it has associative members), object -> AMF_OBJECT
 * (class name kept in class_name when not anonymous), byte array ->
 * AMF_BYTE_ARRAY (data in str/len).
 */
#ifndef SC_AMF_VALUE_H
#define SC_AMF_VALUE_H

#include <stddef.h>
#include <stdint.h>

enum amf_type {
    AMF_NUMBER,
    AMF_BOOLEAN,
    AMF_STRING,       /* AMF0 string and long string alike */
    AMF_OBJECT,       /* anonymous or typed object: props; class_name for typed */
    AMF_NULL,
    AMF_UNDEFINED,
    AMF_ECMA_ARRAY,   /* associative array: props */
    AMF_STRICT_ARRAY, /* dense array: items */
    AMF_DATE,         /* num = ms since epoch, tz = minutes offset */
    AMF_XML,          /* str/len */
    AMF_BYTE_ARRAY,   /* AMF3 only: str/len */
    AMF_UNSUPPORTED   /* AMF0 type 0x0d: decodes to this, carries nothing */
};

struct amf_prop;

struct amf_value {
    enum amf_type type;
    double num;             /* NUMBER, DATE */
    int boolean;            /* BOOLEAN: 0 or 1 */
    int16_t tz;             /* DATE */
    char *str;              /* STRING, XML, BYTE_ARRAY: owned, NUL-terminated */
    size_t len;             /* STRING, XML, BYTE_ARRAY: bytes, excluding the NUL */
    char *class_name;       /* typed OBJECT: owned, else NULL */
    struct amf_prop *props; /* OBJECT, ECMA_ARRAY: owned array */
    size_t nprops;
    struct amf_value *items; /* STRICT_ARRAY: owned array */
    size_t nitems;
};

struct amf_prop {
    char *name; /* owned, NUL-terminated */
    size_t name_len;
    struct amf_value value;
};

/* Free everything the value owns and reset it to AMF_UNDEFINED; the struct
 * itself is not freed. Safe on a zeroed value. */
void amf_value_free(struct amf_value *v);

/* Property of an OBJECT or ECMA_ARRAY by name, or NULL. Borrowed from v. */
const struct amf_value *amf_value_get(const struct amf_value *v, const char *name);
/* Convenience: the string of a STRING property, or NULL. */
const char *amf_value_get_string(const struct amf_value *v, const char *name);
/* Convenience: the number of a NUMBER property, or dflt. */
double amf_value_get_number(const struct amf_value *v, const char *name, double dflt);

#endif
