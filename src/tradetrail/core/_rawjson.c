/* The caller's minimum for the common event, compiled: tradetrail.core.canonical.encode_raw
 * (the reference) done in C, so that record() in a trading loop costs well under its Python
 * cost. Returns the same thing: the JSON `[type, event_id, fields(, data)]` of an event whose
 * values JSON carries as prepare() would write them, or None when the event needs the full
 * prepare() in the caller. It may say None more often than the reference (it never guesses);
 * whenever it returns bytes, decode_raw() of them gives the values the caller passed (tests/
 * core/test_rawjson.py holds it to that). No JSON is parsed here.
 *
 * The event id is a UUIDv7 (RFC 9562): 48-bit Unix milliseconds, 12 bits of sub-millisecond
 * time, 62 random bits from getrandom(); the random pool is dropped in a fork()ed child so that
 * parent and child never share ids. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "_outbuf.h"

#define MAX_NESTING 32 /* containers inside data; deeper events take the full path */

static PyObject *valid_types;   /* set: event types seen valid */
static PyObject *string_fields; /* frozenset: envelope fields that are plain strings */
static PyObject *decimal_type;  /* decimal.Decimal */
static Py_ssize_t max_field_chars = 512;
static Py_ssize_t raw_margin = 1024;

/* ------------------------------------------------------------------ values
 * Each returns 0 when written, 1 when the event must take the full path, -1 on an error set. */

static int put_string(Out *o, PyObject *s)
{
    Py_ssize_t n;
    const char *utf8 = PyUnicode_AsUTF8AndSize(s, &n);
    if (utf8 == NULL) { /* a lone surrogate: prepare() names it */
        PyErr_Clear();
        return 1;
    }
    if (out_reserve(o, n * 6 + 2) < 0)
        return -1;
    char *w = o->data + o->len;
    *w++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)utf8[i];
        if (c == '"' || c == '\\') {
            *w++ = '\\';
            *w++ = (char)c;
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            memcpy(w, "\\u00", 4);
            w[4] = hex[c >> 4];
            w[5] = hex[c & 15];
            w += 6;
        } else {
            *w++ = (char)c;
        }
    }
    *w++ = '"';
    o->len = w - o->data;
    return 0;
}

static int put_int(Out *o, PyObject *v)
{
    int overflow;
    char text[32];
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (overflow == 0)
        return out_put(o, text, snprintf(text, sizeof text, "%lld", x));
    if (overflow < 0)
        return 1; /* below int64: orjson refuses it, so does the reference */
    unsigned long long u = PyLong_AsUnsignedLongLong(v);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    return out_put(o, text, snprintf(text, sizeof text, "%llu", u));
}

/* A finite Decimal with -256 < adjusted() < 256 as a JSON number in exponent form with a
 * capital E (`1.50E0`, `1E+2`), which orjson never writes for a float: the writer reads it
 * back as this very Decimal (core.canonical._raw_default). */
static int put_decimal(Out *o, PyObject *v)
{
    PyObject *str = PyObject_Str(v);
    if (str == NULL)
        return -1;
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(str, &n);
    int rc = 1;
    if (text == NULL) {
        PyErr_Clear();
        goto done;
    }
    const char *e = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = text[i];
        if (c == 'E')
            e = text + i;
        else if (!(c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9')))
            goto done; /* NaN, sNaN, Infinity */
    }
    if (e == NULL) {
        if (n >= 250) /* its adjusted exponent could reach 256 */
            goto done;
        rc = out_put(o, text, n) < 0 || out_put(o, "E0", 2) < 0 ? -1 : 0;
    } else {
        /* the scientific form has one digit before the point: adjusted() is the exponent */
        char *end;
        long adjusted = strtol(e + 1, &end, 10);
        if (end != text + n || adjusted <= -256 || adjusted >= 256)
            goto done;
        rc = out_put(o, text, n) < 0 ? -1 : 0;
    }
done:
    Py_DECREF(str);
    return rc;
}

static int put_value(Out *o, PyObject *v, int depth);

static int put_items(Out *o, PyObject *seq, int depth)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    if (out_char(o, '[') < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i && out_char(o, ',') < 0)
            return -1;
        int rc = put_value(o, items[i], depth + 1);
        if (rc)
            return rc;
    }
    return out_char(o, ']');
}

static int put_object(Out *o, PyObject *dict, int depth)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    int first = 1;
    if (out_char(o, '{') < 0)
        return -1;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key))
            return 1;
        if (!first && out_char(o, ',') < 0)
            return -1;
        first = 0;
        int rc = put_string(o, key);
        if (rc)
            return rc;
        if (out_char(o, ':') < 0)
            return -1;
        rc = put_value(o, value, depth + 1);
        if (rc)
            return rc;
    }
    return out_char(o, '}');
}

static int put_value(Out *o, PyObject *v, int depth)
{
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyUnicode_Type)
        return put_string(o, v);
    if (v == Py_True)
        return out_put(o, "true", 4);
    if (v == Py_False)
        return out_put(o, "false", 5);
    if (t == &PyLong_Type)
        return put_int(o, v);
    if ((PyObject *)t == decimal_type)
        return put_decimal(o, v);
    if (depth >= MAX_NESTING)
        return 1;
    if (t == &PyDict_Type) {
        if (Py_EnterRecursiveCall(" in encode_raw"))
            return -1;
        int rc = put_object(o, v, depth);
        Py_LeaveRecursiveCall();
        return rc;
    }
    if (t == &PyList_Type || t == &PyTuple_Type) {
        if (Py_EnterRecursiveCall(" in encode_raw"))
            return -1;
        /* a list is iterated through a snapshot: no Python code runs meanwhile, but be safe */
        PyObject *seq = PySequence_Fast(v, "");
        if (seq == NULL) {
            Py_LeaveRecursiveCall();
            return -1;
        }
        int rc = put_items(o, seq, depth);
        Py_DECREF(seq);
        Py_LeaveRecursiveCall();
        return rc;
    }
    return 1; /* None, floats (NaN among them), datetimes, subclasses: prepare() decides */
}

/* ------------------------------------------------------------------ UUIDv7 */

static unsigned char pool[4096];
static size_t pool_left; /* unused bytes at the end of pool */
static uint64_t last_ms;
static unsigned last_sub;

static void forget_pool(void) { pool_left = 0; }

static int random_bytes(unsigned char *out, size_t n)
{
    if (pool_left < n) {
        size_t got = 0;
        while (got < sizeof pool) {
            ssize_t r = getrandom(pool + got, sizeof pool - got, 0);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                PyErr_SetFromErrno(PyExc_OSError);
                return -1;
            }
            got += (size_t)r;
        }
        pool_left = sizeof pool;
    }
    memcpy(out, pool + sizeof pool - pool_left, n);
    pool_left -= n;
    return 0;
}

static int put_uuid7(Out *o)
{
    struct timespec now;
    unsigned char b[16];
    static const char hex[] = "0123456789abcdef";
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    /* 12 bits of sub-millisecond time, kept increasing within one millisecond */
    unsigned sub = (unsigned)(((uint64_t)now.tv_nsec % 1000000u) * 4096u / 1000000u);
    if (ms == last_ms && sub <= last_sub)
        sub = last_sub < 4095 ? last_sub + 1 : last_sub;
    last_ms = ms;
    last_sub = sub;
    if (random_bytes(b + 8, 8) < 0)
        return -1;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (sub >> 8));
    b[7] = (unsigned char)(sub & 0xff);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    if (out_reserve(o, 38) < 0)
        return -1;
    char *w = o->data + o->len;
    *w++ = '"';
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *w++ = '-';
        *w++ = hex[b[i] >> 4];
        *w++ = hex[b[i] & 15];
    }
    *w++ = '"';
    o->len = w - o->data;
    return 0;
}

/* ------------------------------------------------------------------ the API */

static PyObject *configure(PyObject *module, PyObject *args)
{
    PyObject *types, *fields, *decimal;
    Py_ssize_t chars, margin;
    (void)module;
    if (!PyArg_ParseTuple(args, "O!O!Onn:configure", &PySet_Type, &types, &PyFrozenSet_Type,
                          &fields, &decimal, &chars, &margin))
        return NULL;
    Py_XSETREF(valid_types, Py_NewRef(types));
    Py_XSETREF(string_fields, Py_NewRef(fields));
    Py_XSETREF(decimal_type, Py_NewRef(decimal));
    max_field_chars = chars;
    raw_margin = margin;
    Py_RETURN_NONE;
}

static PyObject *encode_raw(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "encode_raw(event_type, data, fields, max_bytes)");
        return NULL;
    }
    if (valid_types == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "encode_raw: configure() was not called");
        return NULL;
    }
    PyObject *event_type = args[0], *data = args[1], *fields = args[2];
    Py_ssize_t max_bytes = PyLong_AsSsize_t(args[3]);
    if (max_bytes == -1 && PyErr_Occurred())
        return NULL;
    if (!PyUnicode_CheckExact(event_type))
        Py_RETURN_NONE;
    int known = PySet_Contains(valid_types, event_type);
    if (known <= 0)
        return known < 0 ? NULL : Py_NewRef(Py_None);
    if (!PyDict_CheckExact(fields) || (data != Py_None && !PyDict_CheckExact(data)))
        Py_RETURN_NONE;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(fields, &pos, &key, &value)) {
        int ok = PySet_Contains(string_fields, key);
        if (ok < 0)
            return NULL;
        if (!ok || !PyUnicode_CheckExact(key) || !PyUnicode_CheckExact(value))
            Py_RETURN_NONE;
        Py_ssize_t chars = PyUnicode_GET_LENGTH(value);
        if (chars == 0 || chars > max_field_chars)
            Py_RETURN_NONE;
    }
    Out o;
    out_init(&o);
    int rc = out_char(&o, '[');
    if (!rc)
        rc = put_string(&o, event_type);
    if (!rc)
        rc = out_char(&o, ',');
    if (!rc)
        rc = put_uuid7(&o);
    if (!rc)
        rc = out_char(&o, ',');
    if (!rc)
        rc = put_object(&o, fields, 0);
    if (!rc && data != Py_None) {
        rc = out_char(&o, ',');
        if (!rc) /* (a None anywhere in it takes the full path, as in the reference) */
            rc = put_object(&o, data, 0);
    }
    if (!rc)
        rc = out_char(&o, ']');
    PyObject *result = NULL;
    if (rc == 0) {
        if (o.len + raw_margin > max_bytes)
            result = Py_NewRef(Py_None);
        else
            result = PyBytes_FromStringAndSize(o.data, o.len);
    } else if (rc == 1) {
        result = Py_NewRef(Py_None);
    }
    out_free(&o);
    return result;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(valid_types, string_fields, decimal_type, max_field_chars, raw_margin)"},
    {"encode_raw", (PyCFunction)(void (*)(void))encode_raw, METH_FASTCALL,
     "encode_raw(event_type, data, fields, max_bytes) -> bytes | None: see "
     "tradetrail.core.canonical.encode_raw."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_rawjson", "The caller's encoding of a raw event, compiled.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__rawjson(void)
{
    static int registered;
    if (!registered) {
        if (pthread_atfork(NULL, NULL, forget_pool) != 0)
            return PyErr_Format(PyExc_OSError, "pthread_atfork failed");
        registered = 1;
    }
    return PyModule_Create(&module_def);
}
