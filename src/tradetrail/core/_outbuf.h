/* A growable output buffer for the compiled encoders (core/_rawjson.c, core/_shape.c): bytes
 * appended in place, in an inline array for the common small event and on the heap beyond.
 * Included by each (they are separate extension modules); every function is static. */
#ifndef TRADETRAIL_OUTBUF_H
#define TRADETRAIL_OUTBUF_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t len, cap;
    char inline_space[2048];
} Out;

static void out_init(Out *o)
{
    o->data = o->inline_space;
    o->len = 0;
    o->cap = sizeof o->inline_space;
}

static void out_free(Out *o)
{
    if (o->data != o->inline_space)
        PyMem_Free(o->data);
}

/* Room for `more` bytes past len; -1 with MemoryError set. */
static int out_grow(Out *o, Py_ssize_t more)
{
    Py_ssize_t cap = o->cap * 2;
    while (cap < o->len + more)
        cap *= 2;
    char *data;
    if (o->data == o->inline_space) {
        data = PyMem_Malloc((size_t)cap);
        if (data != NULL)
            memcpy(data, o->data, (size_t)o->len);
    } else {
        data = PyMem_Realloc(o->data, (size_t)cap);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->data = data;
    o->cap = cap;
    return 0;
}

static inline int out_reserve(Out *o, Py_ssize_t more)
{
    return o->len + more <= o->cap ? 0 : out_grow(o, more);
}

static inline int out_put(Out *o, const char *s, Py_ssize_t n)
{
    if (out_reserve(o, n) < 0)
        return -1;
    memcpy(o->data + o->len, s, (size_t)n);
    o->len += n;
    return 0;
}

static inline int out_char(Out *o, char c)
{
    if (out_reserve(o, 1) < 0)
        return -1;
    o->data[o->len++] = c;
    return 0;
}

#endif
