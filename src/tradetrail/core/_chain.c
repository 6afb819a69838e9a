/* The writer's per-batch hot loop in C: splice each record's line from its prepared parts and
 * the writer's prev/seq/ts, hash it as an RFC 6962 leaf, chain the next prev. The reference is
 * tradetrail.core.chain.splice_and_hash_py; both must give the same bytes (tests/core/
 * test_chain.py). No JSON is parsed here: the parts are spliced as they are.
 *
 * SHA-256 is OpenSSL's (libcrypto, which hashlib already loads): its assembly uses the CPU's
 * SHA extensions, several times faster than a portable C implementation. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* SHA256_Init/Update/Final: deprecated by OpenSSL 3 in favour of EVP, which allocates a
 * context per call; the low-level functions remain and use the same assembly */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define LEAF_SIZE 32
#define HEX_SIZE (2 * LEAF_SIZE)
#define SEQ_DIGITS 20 /* enough for any uint64 */

static PyObject *attr_names[4];

typedef struct {
    const char *ptr[5]; /* p0 p1 p2 p3 ts */
    Py_ssize_t len[5];
} Line;

static void to_hex(const unsigned char *digest, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < LEAF_SIZE; i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 15];
    }
}

static int format_seq(unsigned long long seq, char *out)
{
    char tmp[SEQ_DIGITS];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + seq % 10);
        seq /= 10;
    } while (seq);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Add b to *total, refusing a sum that a Python bytes object cannot hold. */
static int add_size(Py_ssize_t *total, Py_ssize_t b)
{
    if (b > PY_SSIZE_T_MAX - *total) {
        PyErr_SetString(PyExc_OverflowError, "splice_and_hash: the batch is too large");
        return -1;
    }
    *total += b;
    return 0;
}

/* splice_and_hash(events, prev, seq, stamps) -> (data, leaves, prev) */
static PyObject *splice_and_hash(PyObject *module, PyObject *args)
{
    PyObject *event_list, *stamp_list, *prev, *seq_obj;
    PyObject *events = NULL, *stamps = NULL, *held = NULL, *data = NULL, *leaves = NULL;
    PyObject *result = NULL;
    unsigned long long seq;
    Line *lines = NULL;
    unsigned char *digests = NULL;
    char prev_hex[HEX_SIZE];
    (void)module;

    if (!PyArg_ParseTuple(args, "O!O!OO!:splice_and_hash", &PyList_Type, &event_list,
                          &PyBytes_Type, &prev, &seq_obj, &PyList_Type, &stamp_list))
        return NULL;
    seq = PyLong_AsUnsignedLongLong(seq_obj);
    if (seq == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    /* tuples: a part's __getattr__ running Python code cannot change the batch under us */
    events = PyList_AsTuple(event_list);
    stamps = PyList_AsTuple(stamp_list);
    if (events == NULL || stamps == NULL)
        goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(events);
    if (PyTuple_GET_SIZE(stamps) != n) {
        PyErr_Format(PyExc_ValueError,
                     "splice_and_hash: stamps has %zd item(s) for %zd event(s)",
                     PyTuple_GET_SIZE(stamps), n);
        goto done;
    }
    if (n > 0 && seq > ULLONG_MAX - (unsigned long long)(n - 1)) {
        PyErr_SetString(PyExc_OverflowError, "splice_and_hash: seq overflows 64 bits");
        goto done;
    }
    /* the parts stay referenced by `held` while the GIL is released */
    held = PyList_New(0);
    lines = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Line));
    digests = PyMem_Malloc(n ? (size_t)n * LEAF_SIZE : 1);
    if (held == NULL || lines == NULL || digests == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *event = PyTuple_GET_ITEM(events, i);
        for (int k = 0; k < 5; k++) {
            PyObject *part;
            if (k < 4) {
                part = PyObject_GetAttr(event, attr_names[k]);
                if (part == NULL)
                    goto done;
            } else {
                part = Py_NewRef(PyTuple_GET_ITEM(stamps, i));
            }
            int bad = !PyBytes_Check(part) || PyList_Append(held, part) < 0;
            if (bad && !PyErr_Occurred()) {
                if (k < 4)
                    PyErr_Format(PyExc_TypeError,
                                 "splice_and_hash: events[%zd].p%d must be bytes, not %.100s", i,
                                 k, Py_TYPE(part)->tp_name);
                else
                    PyErr_Format(PyExc_TypeError,
                                 "splice_and_hash: stamps[%zd] must be bytes, not %.100s", i,
                                 Py_TYPE(part)->tp_name);
            }
            Py_DECREF(part);
            if (bad)
                goto done;
            lines[i].ptr[k] = PyBytes_AS_STRING(part);
            lines[i].len[k] = PyBytes_GET_SIZE(part);
            if (add_size(&total, lines[i].len[k]) < 0)
                goto done;
        }
        /* the prev (the given one or 64 hex), the seq's digits, the newline */
        char scratch[SEQ_DIGITS];
        Py_ssize_t prev_len = i ? HEX_SIZE : PyBytes_GET_SIZE(prev);
        int digits = format_seq(seq + (unsigned long long)i, scratch);
        if (add_size(&total, prev_len) < 0 || add_size(&total, digits + 1) < 0)
            goto done;
    }
    data = PyBytes_FromStringAndSize(NULL, total);
    if (data == NULL)
        goto done;
    char *out = PyBytes_AS_STRING(data);
    Py_BEGIN_ALLOW_THREADS
    const char *prev_ptr = PyBytes_AS_STRING(prev);
    Py_ssize_t prev_len = PyBytes_GET_SIZE(prev);
    static const unsigned char leaf_prefix = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Line *line = &lines[i];
        char *start = out;
#define PUT(p, l)                                                                              \
    do {                                                                                       \
        if (l) {                                                                               \
            memcpy(out, (p), (size_t)(l));                                                     \
            out += (l);                                                                        \
        }                                                                                      \
    } while (0)
        PUT(line->ptr[0], line->len[0]);
        PUT(prev_ptr, prev_len);
        PUT(line->ptr[1], line->len[1]);
        out += format_seq(seq + (unsigned long long)i, out);
        PUT(line->ptr[2], line->len[2]);
        PUT(line->ptr[4], line->len[4]);
        PUT(line->ptr[3], line->len[3]);
#undef PUT
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, &leaf_prefix, 1);
        SHA256_Update(&ctx, start, (size_t)(out - start));
        SHA256_Final(digests + i * LEAF_SIZE, &ctx);
        *out++ = '\n';
        to_hex(digests + i * LEAF_SIZE, prev_hex);
        prev_ptr = prev_hex;
        prev_len = HEX_SIZE;
    }
    Py_END_ALLOW_THREADS
    leaves = PyList_New(n);
    if (leaves == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *leaf = PyBytes_FromStringAndSize((const char *)digests + i * LEAF_SIZE, LEAF_SIZE);
        if (leaf == NULL)
            goto done;
        PyList_SET_ITEM(leaves, i, leaf);
    }
    result = n ? Py_BuildValue("(OOy#)", data, leaves, prev_hex, (Py_ssize_t)HEX_SIZE)
               : Py_BuildValue("(OOO)", data, leaves, prev);
done:
    Py_XDECREF(events);
    Py_XDECREF(stamps);
    Py_XDECREF(held);
    Py_XDECREF(data);
    Py_XDECREF(leaves);
    PyMem_Free(lines);
    PyMem_Free(digests);
    return result;
}

static PyMethodDef methods[] = {
    {"splice_and_hash", splice_and_hash, METH_VARARGS,
     "splice_and_hash(events, prev, seq, stamps) -> (data, leaves, prev): the batch's lines "
     "(each ending in a newline), their RFC 6962 leaf hashes and the last leaf in hex."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_chain", "The writer's per-batch hot loop, compiled.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__chain(void)
{
    static const char *names[4] = {"p0", "p1", "p2", "p3"};
    for (int k = 0; k < 4; k++) {
        if (attr_names[k] == NULL) {
            attr_names[k] = PyUnicode_InternFromString(names[k]);
            if (attr_names[k] == NULL)
                return NULL;
        }
    }
    return PyModule_Create(&module_def);
}
