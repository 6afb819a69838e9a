/* The writer's shaping of the common raw event, compiled: what core.canonical.prepare() (the
 * reference) makes of decode_raw() of a RawEvent's bytes, for events of a known flat type whose
 * values need no conversion beyond a decimal's text, and hold nothing a secret could hide in.
 *
 * It reads only the narrow form the caller's encoder writes (`["<type>","<event id>",{<string
 * fields>}(,{<data>})]`, no spaces, ASCII strings without escapes), checks every value against
 * the field kinds of its type (given by the event model, see core/fastshape.py), and splices
 * the bytes it read into the four parts of a Prepared. Anything else (an unknown type, a
 * missing or unknown field, a float, a string with a backslash, a colon, an equals sign, a
 * non-ASCII byte or a fragment of a secret pattern, a number in another form) makes it answer
 * None: the event then takes the reference path, which parses it with msgspec, validates,
 * redacts or records its schema error. So it parses no JSON beyond this form, and whenever it
 * answers, the answer is byte for byte prepare()'s (tests/core/test_fastshape.py). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>
#include <structmember.h>

#include "_outbuf.h"

#define MAX_FIELDS 64     /* data fields of one type (a wider type takes the full path) */
#define MAX_ENVELOPE 32   /* keys of the envelope order */
#define ID_CHARS 36

enum kind { K_DECLINE = 0, K_STR = 1, K_DEC = 2, K_INT = 3, K_BOOL = 4, K_LIT = 5, K_STRS = 6 };
enum role { R_STRING = 0, R_SECRET = 1, R_EVENT_ID = 2, R_DATA = 3, R_SOURCE = 4, R_TYPE = 5 };

typedef struct {
    char *name;
    Py_ssize_t len;
} Name;

typedef struct {
    Name key;
    int kind;
    int required;
    PyObject *literals; /* frozenset of str (K_LIT) */
} Field;

typedef struct {
    Field fields[MAX_FIELDS]; /* sorted by name: the order data is written in */
    int count;
    uint64_t required; /* bit i: fields[i] is required */
} TypeSpec;

typedef struct {
    Name key;
    int group;
    int role;
} Key;

typedef struct {
    PyObject_HEAD
    PyObject *types;    /* dict: type name (bytes) -> capsule of TypeSpec */
    Key keys[MAX_ENVELOPE]; /* every key a shaped record can have, sorted */
    int nkeys;
    int check_secrets;
    Py_ssize_t max_field_chars;
    Py_ssize_t max_bytes; /* max_event_bytes, as len(Prepared) counts them */
    PyObject *p1;       /* `","seq":`: the group between prev and seq is always empty here */
    PyTypeObject *prepared; /* core.canonical.Prepared, made here without a Python call */
    Py_ssize_t offsets[7];  /* of its slots, in SLOTS order */
} Shaper;

static const char *const SLOTS[7] = {"p0", "p1", "p2", "p3", "event_id", "redacted",
                                     "schema_error"};

/* ------------------------------------------------------------------ reading the raw form */

typedef struct {
    const char *s;
    Py_ssize_t len;
} Slice;

/* A string token at `p` (at its opening quote): printable ASCII without `"` and `\`, so that its
 * bytes are exactly orjson's encoding of its text. Returns the index after the closing quote,
 * or -1. */
static inline Py_ssize_t plain_string(const char *s, Py_ssize_t n, Py_ssize_t p)
{
    if (p >= n || s[p] != '"')
        return -1;
    for (Py_ssize_t i = p + 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20 || c > 0x7e || c == '\\')
            return -1;
    }
    return -1;
}

/* Fragments that the redactor's built-in value patterns (model/redact.py) start from, lower
 * case, grouped by their first letter. */
static const char *const fragments[] = {
    "bearer", "basic", "-----begin", "akia", "asia", "aiza", "gh", "github", "xox", "hooks.slack",
    "discord", "k_live_", "k_test_", "whsec_", "sk-", "eyj", NULL,
};
static unsigned char starts[256]; /* (lower-case) byte -> 1 if a fragment starts with it */

static void init_fragments(void)
{
    for (int k = 0; fragments[k] != NULL; k++)
        starts[(unsigned char)fragments[k][0]] = 1;
}

static int fragment_at(const char *s, Py_ssize_t n, Py_ssize_t i, unsigned char first)
{
    for (int k = 0; fragments[k] != NULL; k++) {
        const char *f = fragments[k];
        if ((unsigned char)f[0] != first)
            continue;
        Py_ssize_t j = 1;
        while (f[j] != 0 && i + j < n) {
            char c = s[i + j];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c + 32);
            if (c != f[j])
                break;
            j++;
        }
        if (f[j] == 0)
            return 1;
    }
    return 0;
}

/* Whether the text of a plain string (between its quotes) is certainly left alone by the
 * redactor's built-in value patterns: each of them needs a ':' or '=' (labels, URLs with a
 * password, Telegram tokens), or one of the fragments above, in either case (Bearer and Basic
 * credentials, PEM keys, AWS, GitHub, Slack, Discord, Stripe, Google, OpenAI-style keys, JWTs).
 * A string that has one is not judged here: the event takes the full path. */
static int text_clean(const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ':' || c == '=')
            return 0;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (starts[c] && fragment_at(s, n, i, c))
            return 0;
    }
    return 1;
}

/* A JSON integer token: -?(0|[1-9][0-9]*), at most `max_digits` digits, not -0. Returns its
 * end or -1. */
static Py_ssize_t integer(const char *s, Py_ssize_t n, Py_ssize_t p, int max_digits)
{
    Py_ssize_t i = p;
    if (i < n && s[i] == '-')
        i++;
    Py_ssize_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    Py_ssize_t digits = i - start;
    if (digits == 0 || digits > max_digits || (digits > 1 && s[start] == '0'))
        return -1;
    if (s[p] == '-' && digits == 1 && s[start] == '0')
        return -1;
    return i;
}

/* The text of a decimal that Decimal() reads and format(d, "f") writes back unchanged:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?, at most 40 characters. Returns its end or -1. */
static Py_ssize_t plain_decimal(const char *s, Py_ssize_t n, Py_ssize_t p)
{
    Py_ssize_t i = p;
    if (i < n && s[i] == '-')
        i++;
    Py_ssize_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == start || (i - start > 1 && s[start] == '0'))
        return -1;
    if (i < n && s[i] == '.') {
        Py_ssize_t frac = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == frac)
            return -1;
    }
    if (i - p > 40)
        return -1;
    return i;
}

/* The `"key":` of an object member at p (just after `{` or `,`): its text in `key` and the
 * index after the colon, or -1 when it is not a plain string followed by a colon. */
static Py_ssize_t member_key(const char *s, Py_ssize_t n, Py_ssize_t p, Slice *key)
{
    Py_ssize_t end = plain_string(s, n, p);
    if (end < 0 || end >= n || s[end] != ':')
        return -1;
    key->s = s + p + 1;
    key->len = end - p - 2;
    return end + 1;
}

/* The index of `key` among `count` names, each the first member of an item `stride` bytes
 * long (Field or Key), or -1. */
static int name_index(const Slice *key, const void *items, size_t stride, int count)
{
    for (int i = 0; i < count; i++) {
        const Name *name = (const Name *)((const char *)items + (size_t)i * stride);
        if (name->len == key->len && memcmp(name->name, key->s, (size_t)key->len) == 0)
            return i;
    }
    return -1;
}

/* ------------------------------------------------------------------ the shaper */

static void spec_free(PyObject *capsule)
{
    TypeSpec *spec = PyCapsule_GetPointer(capsule, "tradetrail.shape.spec");
    if (spec == NULL)
        return;
    for (int i = 0; i < spec->count; i++) {
        PyMem_Free(spec->fields[i].key.name);
        Py_XDECREF(spec->fields[i].literals);
    }
    PyMem_Free(spec);
}

static char *copy_name(PyObject *name, Py_ssize_t *len)
{
    const char *utf8 = PyUnicode_AsUTF8AndSize(name, len);
    if (utf8 == NULL)
        return NULL;
    char *copy = PyMem_Malloc((size_t)*len + 1);
    if (copy == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(copy, utf8, (size_t)*len + 1);
    return copy;
}

/* One type's spec from [(name, kind, required, literals), ...] sorted by name. */
static PyObject *make_spec(PyObject *fields)
{
    PyObject *seq = PySequence_Fast(fields, "a type's fields must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    if (count > MAX_FIELDS) {
        Py_DECREF(seq);
        Py_RETURN_NONE; /* too wide: its events take the full path */
    }
    TypeSpec *spec = PyMem_Calloc(1, sizeof(TypeSpec));
    if (spec == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    PyObject *capsule = PyCapsule_New(spec, "tradetrail.shape.spec", spec_free);
    if (capsule == NULL) {
        PyMem_Free(spec);
        Py_DECREF(seq);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *name, *literals;
        int kind, required;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "UipO", &name, &kind, &required,
                              &literals))
            goto fail;
        Field *f = &spec->fields[i];
        f->key.name = copy_name(name, &f->key.len);
        if (f->key.name == NULL)
            goto fail;
        spec->count = (int)i + 1;
        f->kind = kind;
        f->required = required;
        if (required)
            spec->required |= (uint64_t)1 << i;
        if (kind == K_LIT) {
            f->literals = PyFrozenSet_New(literals);
            if (f->literals == NULL)
                goto fail;
        }
        if (i > 0) {
            Field *g = &spec->fields[i - 1];
            Py_ssize_t m = g->key.len < f->key.len ? g->key.len : f->key.len;
            int c = memcmp(g->key.name, f->key.name, (size_t)m);
            if (c > 0 || (c == 0 && g->key.len >= f->key.len)) {
                PyErr_SetString(PyExc_ValueError, "a type's fields must be sorted by name");
                goto fail;
            }
        }
    }
    Py_DECREF(seq);
    return capsule;
fail:
    Py_DECREF(seq);
    Py_DECREF(capsule);
    return NULL;
}

static void shaper_dealloc(Shaper *self)
{
    Py_XDECREF(self->types);
    Py_XDECREF(self->p1);
    Py_XDECREF(self->prepared);
    for (int i = 0; i < self->nkeys; i++)
        PyMem_Free(self->keys[i].key.name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int shaper_init(Shaper *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"types",     "keys",     "check_secrets", "max_field_chars",
                            "max_bytes", "prepared", NULL};
    PyObject *types, *keys;
    PyTypeObject *prepared;
    int check_secrets;
    Py_ssize_t max_field_chars, max_bytes;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OpnnO!", names, &PyDict_Type, &types,
                                     &keys, &check_secrets, &max_field_chars, &max_bytes,
                                     &PyType_Type, &prepared))
        return -1;
    if (self->types != NULL) {
        PyErr_SetString(PyExc_TypeError, "a Shaper is configured once");
        return -1;
    }
    /* the slots of Prepared (a __slots__ class): their offsets, from their member descriptors */
    for (int i = 0; i < 7; i++) {
        PyObject *descr = PyDict_GetItemString(prepared->tp_dict, SLOTS[i]);
        if (descr == NULL || Py_TYPE(descr) != &PyMemberDescr_Type ||
            ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
            PyErr_Format(PyExc_TypeError, "prepared: no slot %s", SLOTS[i]);
            return -1;
        }
        self->offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
    }
    Py_INCREF(prepared);
    self->prepared = prepared;
    self->check_secrets = check_secrets;
    self->max_field_chars = max_field_chars;
    self->max_bytes = max_bytes;
    self->p1 = PyBytes_FromString("\",\"seq\":");
    self->types = PyDict_New();
    if (self->p1 == NULL || self->types == NULL)
        return -1;
    PyObject *name, *fields;
    Py_ssize_t pos = 0;
    while (PyDict_Next(types, &pos, &name, &fields)) {
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "type names must be str");
            return -1;
        }
        PyObject *spec = make_spec(fields);
        if (spec == NULL)
            return -1;
        PyObject *key = PyUnicode_AsUTF8String(name);
        if (key == NULL || (spec != Py_None && PyDict_SetItem(self->types, key, spec) < 0)) {
            Py_XDECREF(key);
            Py_DECREF(spec);
            return -1;
        }
        Py_DECREF(key);
        Py_DECREF(spec);
    }
    PyObject *seq = PySequence_Fast(keys, "keys must be a sequence");
    if (seq == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    if (count > MAX_ENVELOPE) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many envelope keys");
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key;
        int group, role;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "Uii", &key, &group, &role)) {
            Py_DECREF(seq);
            return -1;
        }
        Key *k = &self->keys[i];
        k->key.name = copy_name(key, &k->key.len);
        if (k->key.name == NULL) {
            Py_DECREF(seq);
            return -1;
        }
        self->nkeys = (int)i + 1;
        k->group = group;
        k->role = role;
    }
    Py_DECREF(seq);
    return 0;
}

static int literal_ok(PyObject *literals, const char *s, Py_ssize_t n)
{
    PyObject *text = PyUnicode_DecodeASCII(s, n, NULL);
    if (text == NULL)
        return -1;
    int found = PySet_Contains(literals, text);
    Py_DECREF(text);
    return found;
}

/* Checks one data value of kind `f->kind` at `p`; its end, or -1 (decline), or -2 (error). The
 * bytes to write go to `*put` (a decimal's text is written as a JSON string). */
static Py_ssize_t data_value(Shaper *self, const Field *f, const char *s, Py_ssize_t n,
                             Py_ssize_t p, Slice *put, int *quote)
{
    Py_ssize_t end;
    *quote = 0;
    switch (f->kind) {
    case K_STR:
    case K_LIT:
        end = plain_string(s, n, p);
        if (end < 0 || (self->check_secrets && !text_clean(s + p + 1, end - p - 2)))
            return -1;
        if (f->kind == K_LIT) {
            int ok = literal_ok(f->literals, s + p + 1, end - p - 2);
            if (ok < 0)
                return -2;
            if (!ok)
                return -1;
        }
        put->s = s + p;
        put->len = end - p;
        return end;
    case K_STRS: /* a list of plain strings */
        end = p;
        if (end >= n || s[end++] != '[')
            return -1;
        if (end < n && s[end] == ']') {
            end++;
        } else {
            for (;;) {
                Py_ssize_t item = end;
                end = plain_string(s, n, item);
                if (end < 0 || (self->check_secrets && !text_clean(s + item + 1, end - item - 2)))
                    return -1;
                if (end < n && s[end] == ',') {
                    end++;
                    continue;
                }
                if (end >= n || s[end] != ']')
                    return -1;
                end++;
                break;
            }
        }
        put->s = s + p;
        put->len = end - p;
        return end;
    case K_INT: /* within +-(2^53-1): 15 digits */
        end = integer(s, n, p, 15);
        if (end < 0)
            return -1;
        put->s = s + p;
        put->len = end - p;
        return end;
    case K_BOOL:
        if (n - p >= 4 && memcmp(s + p, "true", 4) == 0)
            end = p + 4;
        else if (n - p >= 5 && memcmp(s + p, "false", 5) == 0)
            end = p + 5;
        else
            return -1;
        put->s = s + p;
        put->len = end - p;
        return end;
    case K_DEC:
        *quote = 1;
        if (p >= n)
            return -1;
        if (s[p] == '"') { /* a decimal given as text, as the event model asks */
            end = plain_decimal(s, n, p + 1);
            if (end < 0 || end >= n || s[end] != '"')
                return -1;
            put->s = s + p + 1;
            put->len = end - p - 1;
            return end + 1;
        }
        /* an int (Decimal(int) writes its digits), or a Decimal as the caller's encoder
         * writes one with exponent 0 (`1.50E0`), which format(d, "f") writes as `1.50` */
        end = integer(s, n, p, 30);
        if (end >= 0 && (end >= n || (s[end] != '.' && s[end] != 'E' && s[end] != 'e'))) {
            put->s = s + p;
            put->len = end - p;
            return end;
        }
        end = plain_decimal(s, n, p);
        if (end < 0 || n - end < 2 || s[end] != 'E' || s[end + 1] != '0')
            return -1;
        if (end + 2 < n && s[end + 2] >= '0' && s[end + 2] <= '9')
            return -1;
        put->s = s + p;
        put->len = end - p;
        return end + 2;
    default:
        return -1;
    }
}

#define EXPECT(c)                  \
    do {                           \
        if (p >= n || s[p] != (c)) \
            goto decline;          \
        p++;                       \
    } while (0)

static PyObject *shaper_shape(Shaper *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_Check(args[0]) || (args[1] != Py_None && !PyBytes_Check(args[1]))) {
        PyErr_SetString(PyExc_TypeError, "shape(raw: bytes, source: bytes | None)");
        return NULL;
    }
    if (self->types == NULL) {
        PyErr_SetString(PyExc_TypeError, "Shaper not configured");
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Slice envelope[MAX_ENVELOPE];
    Slice data[MAX_FIELDS];
    int quoted[MAX_FIELDS];
    uint64_t seen = 0;
    memset(envelope, 0, sizeof envelope);
    Py_ssize_t p = 0, end;
    const TypeSpec *spec;
    Slice type_name, event_id;
    int has_data = 0;

    EXPECT('[');
    end = plain_string(s, n, p);
    if (end < 0)
        goto decline;
    type_name.s = s + p + 1;
    type_name.len = end - p - 2;
    p = end;
    {
        PyObject *key = PyBytes_FromStringAndSize(type_name.s, type_name.len);
        if (key == NULL)
            return NULL;
        PyObject *capsule = PyDict_GetItemWithError(self->types, key);
        Py_DECREF(key);
        if (capsule == NULL) {
            if (PyErr_Occurred())
                return NULL;
            goto decline;
        }
        spec = PyCapsule_GetPointer(capsule, "tradetrail.shape.spec");
        if (spec == NULL)
            return NULL;
    }
    EXPECT(',');
    end = plain_string(s, n, p);
    if (end - p - 2 != ID_CHARS)
        goto decline;
    for (int i = 0; i < ID_CHARS; i++) {
        char c = s[p + 1 + i];
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            goto decline;
    }
    event_id.s = s + p;
    event_id.len = end - p;
    p = end;
    EXPECT(',');
    EXPECT('{');
    if (p < n && s[p] == '}') {
        p++;
    } else {
        for (;;) { /* the string fields of the envelope */
            Slice key;
            p = member_key(s, n, p, &key);
            if (p < 0)
                goto decline;
            int found = name_index(&key, self->keys, sizeof(Key), self->nkeys);
            if (found < 0 || self->keys[found].role != R_STRING || envelope[found].s != NULL)
                goto decline; /* not a plain string field, a secret one, or a duplicate */
            end = plain_string(s, n, p);
            if (end < 0 || end - p - 2 < 1 || end - p - 2 > self->max_field_chars)
                goto decline;
            if (self->check_secrets && !text_clean(s + p + 1, end - p - 2))
                goto decline;
            envelope[found].s = s + p;
            envelope[found].len = end - p;
            p = end;
            if (p < n && s[p] == ',') {
                p++;
                continue;
            }
            EXPECT('}');
            break;
        }
    }
    if (p < n && s[p] == ',') { /* data */
        p++;
        has_data = 1;
        EXPECT('{');
        if (p < n && s[p] == '}') {
            p++;
        } else {
            for (;;) {
                Slice key;
                p = member_key(s, n, p, &key);
                if (p < 0)
                    goto decline;
                int found = name_index(&key, spec->fields, sizeof(Field), spec->count);
                if (found < 0 || (seen >> found) & 1)
                    goto decline; /* not a field of the type (a schema error), or twice */
                seen |= (uint64_t)1 << found;
                end = data_value(self, &spec->fields[found], s, n, p, &data[found],
                                 &quoted[found]);
                if (end == -2)
                    return NULL;
                if (end < 0)
                    goto decline;
                p = end;
                if (p < n && s[p] == ',') {
                    p++;
                    continue;
                }
                EXPECT('}');
                break;
            }
        }
    }
    EXPECT(']');
    if (p != n || (spec->required & ~seen) != 0)
        goto decline;

    /* the four parts, keys in canonical (sorted) order, cut where prev, seq and ts go */
    Out out[3];
    PyObject *parts[3] = {NULL, NULL, NULL};
    const Slice source = {args[1] == Py_None ? NULL : PyBytes_AS_STRING(args[1]),
                          args[1] == Py_None ? 0 : PyBytes_GET_SIZE(args[1])};
    int count[3] = {0, 0, 0};
    int failed = 0;
    for (int g = 0; g < 3; g++)
        out_init(&out[g]);
    failed |= out_put(&out[0], "{", 1);
    failed |= out_put(&out[2], "\",", 2);
    for (int i = 0; i < self->nkeys && !failed; i++) {
        const Key *k = &self->keys[i];
        int g = k->group == 0 ? 0 : k->group == 2 ? 1 : 2;
        Out *o = &out[g];
        Slice value = {NULL, 0};
        switch (k->role) {
        case R_STRING:
            value = envelope[i];
            break;
        case R_EVENT_ID:
            value = event_id;
            break;
        case R_SOURCE:
            value = source;
            break;
        case R_TYPE:
            value.s = type_name.s - 1; /* with its quotes */
            value.len = type_name.len + 2;
            break;
        case R_DATA:
            if (!has_data)
                break;
            if (count[g]++ > 0 || g == 1)
                failed |= out_put(o, ",", 1);
            failed |= out_put(o, "\"data\":{", 8);
            int first = 1;
            for (int j = 0; j < spec->count; j++) {
                if (!((seen >> j) & 1))
                    continue;
                const Field *f = &spec->fields[j];
                if (!first)
                    failed |= out_put(o, ",", 1);
                first = 0;
                failed |= out_put(o, "\"", 1);
                failed |= out_put(o, f->key.name, f->key.len);
                failed |= out_put(o, "\":", 2);
                if (quoted[j])
                    failed |= out_put(o, "\"", 1);
                failed |= out_put(o, data[j].s, data[j].len);
                if (quoted[j])
                    failed |= out_put(o, "\"", 1);
            }
            failed |= out_put(o, "}", 1);
            continue;
        default:
            break;
        }
        if (value.s == NULL)
            continue;
        if (count[g]++ > 0 || g == 1)
            failed |= out_put(o, ",", 1);
        failed |= out_put(o, "\"", 1);
        failed |= out_put(o, k->key.name, k->key.len);
        failed |= out_put(o, "\":", 2);
        failed |= out_put(o, value.s, value.len);
    }
    failed |= out_put(&out[0], ",\"prev\":\"", 9);
    failed |= out_put(&out[1], ",\"ts\":\"", 7);
    failed |= out_put(&out[2], "}", 1);
    PyObject *result = NULL;
    /* prepare() refuses an event longer than max_event_bytes (with the writer's 160) */
    if (!failed && out[0].len + out[1].len + out[2].len + 8 + 160 > self->max_bytes) {
        for (int g = 0; g < 3; g++)
            out_free(&out[g]);
        goto decline;
    }
    if (!failed) {
        for (int g = 0; g < 3; g++) {
            parts[g] = PyBytes_FromStringAndSize(out[g].data, out[g].len);
            if (parts[g] == NULL)
                break;
        }
        PyObject *id = PyUnicode_DecodeASCII(event_id.s + 1, ID_CHARS, NULL);
        if (parts[0] != NULL && parts[1] != NULL && parts[2] != NULL && id != NULL)
            result = self->prepared->tp_alloc(self->prepared, 0);
        if (result != NULL) {
            PyObject *values[7] = {parts[0], self->p1, parts[1], parts[2], id, Py_None, Py_None};
            for (int i = 0; i < 7; i++) {
                Py_INCREF(values[i]);
                *(PyObject **)((char *)result + self->offsets[i]) = values[i];
            }
            /* it holds bytes, a str and None only, so it can be in no cycle: kept out of the
             * collector's lists, which a writer holding 100k+ of them would scan again and
             * again (measured: a third of its time) */
            if (PyObject_IS_GC(result))
                PyObject_GC_UnTrack(result);
        }
        Py_XDECREF(id);
    }
    for (int g = 0; g < 3; g++) {
        Py_XDECREF(parts[g]);
        out_free(&out[g]);
    }
    return result;
decline:
    Py_RETURN_NONE;
}

static PyMethodDef shaper_methods[] = {
    {"shape", (PyCFunction)(void (*)(void))shaper_shape, METH_FASTCALL,
     "shape(raw, source) -> Prepared | None: see core/fastshape.py."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ShaperType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tradetrail.core._shape.Shaper",
    .tp_basicsize = sizeof(Shaper),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Shaper(types, keys, check_secrets, max_field_chars, max_bytes, prepared): see "
               "core/fastshape.py.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)shaper_init,
    .tp_dealloc = (destructor)shaper_dealloc,
    .tp_methods = shaper_methods,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_shape", "The writer's shaping of the common raw event, compiled.",
    -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__shape(void)
{
    init_fragments();
    if (PyType_Ready(&ShaperType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    Py_INCREF(&ShaperType);
    if (PyModule_AddObject(module, "Shaper", (PyObject *)&ShaperType) < 0) {
        Py_DECREF(&ShaperType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
