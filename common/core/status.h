/*
 * status: the one return vocabulary of the project (STYLE.md 4).
 *
 * Every fallible function returns one of these; lengths and counts travel in
 * out-parameters, never mixed into the status.
 */
#ifndef SC_STATUS_H
#define SC_STATUS_H

enum {
    ST_OK = 0,     /* done, result in the out-parameters */
    ST_ERROR = -1, /* failed; the module's state says why (usually an error string) */
    ST_AGAIN = -2, /* would block / needs more input; state kept, nothing lost */
    ST_DONE = -3   /* clean end (peer finished, handshake complete, ...) */
};

#endif
