/* A single-producer, single-consumer ring in memory shared by one client process and its writer
 * process (a sealed memfd the client passes over the channel: see writer/ring.py). The client's
 * record() appends an event with one call and no system call; the writer takes batches.
 *
 * Layout (little-endian, offsets in bytes): 0 magic, 8 capacity (a power of two), 64 head (bytes
 * ever written, the producer's), 128 tail (bytes ever taken, the consumer's), 192 the consumer's
 * "asleep" flag, 256 the data. An entry is `length u32 | kind u32 | index u64 | since u64 |
 * payload`, padded to 8 bytes, never split at the end of the data: a length of 0xFFFFFFFF there
 * says "continue at the start". The producer publishes head with release order after writing,
 * the consumer reads it with acquire order (and tail the other way round), so the bytes of an
 * entry are complete before its head is seen.
 *
 * The consumer never trusts the memory: the client may be broken or hostile and may change any
 * byte at any time. Every length and position is read once into a local, checked, and the
 * payload copied out; anything inconsistent raises RingError (the writer then quarantines and
 * drops that client), never a read outside the mapping. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define MAGIC 0x31474e4952545454ULL /* "TTTRING1" */
#define OFF_MAGIC 0
#define OFF_CAP 8
#define OFF_HEAD 64
#define OFF_TAIL 128
#define OFF_ASLEEP 192
#define OFF_DATA 256
#define ENTRY_HEAD 24
#define WRAP 0xFFFFFFFFu
#define MIN_CAPACITY 4096

static PyObject *RingError;
static PyObject *name_index, *name_result, *name_seq, *name_state;

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int has_view;
    unsigned char *base;
    uint64_t cap;
    int producer;
    uint64_t pos;        /* the producer's head, or the consumer's tail */
    uint64_t next_index; /* the producer's next event number */
    uint64_t count;      /* events put or taken */
} Ring;

static uint64_t *at(Ring *r, size_t off) { return (uint64_t *)(r->base + off); }

static int ring_init(Ring *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"buffer", "producer", NULL};
    PyObject *buffer;
    int producer;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Op:Ring", kwlist, &buffer, &producer))
        return -1;
    if (self->has_view) {
        PyErr_SetString(PyExc_TypeError, "Ring: already initialised");
        return -1;
    }
    if (PyObject_GetBuffer(buffer, &self->view, PyBUF_WRITABLE) < 0)
        return -1;
    self->has_view = 1;
    self->base = self->view.buf;
    Py_ssize_t size = self->view.len;
    if (size < OFF_DATA + MIN_CAPACITY || ((uintptr_t)self->base & 63)) {
        PyErr_Format(RingError, "a ring needs an aligned buffer of at least %d bytes, not %zd",
                     OFF_DATA + MIN_CAPACITY, size);
        return -1;
    }
    uint64_t cap = (uint64_t)(size - OFF_DATA);
    if (cap & (cap - 1)) {
        PyErr_Format(RingError, "ring capacity %llu is not a power of two",
                     (unsigned long long)cap);
        return -1;
    }
    self->cap = cap;
    self->producer = producer;
    if (producer) {
        memset(self->base, 0, OFF_DATA);
        *at(self, OFF_CAP) = cap;
        __atomic_store_n(at(self, OFF_MAGIC), MAGIC, __ATOMIC_RELEASE);
        self->pos = 0;
    } else {
        uint64_t magic = __atomic_load_n(at(self, OFF_MAGIC), __ATOMIC_ACQUIRE);
        uint64_t said = *at(self, OFF_CAP);
        if (magic != MAGIC || said != cap) {
            PyErr_SetString(RingError, "not a tradetrail ring (magic or capacity differ)");
            return -1;
        }
        self->pos = __atomic_load_n(at(self, OFF_TAIL), __ATOMIC_ACQUIRE);
    }
    return 0;
}

static void ring_release_view(Ring *self)
{
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
        self->base = NULL;
    }
}

static void ring_dealloc(Ring *self)
{
    ring_release_view(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int usable(Ring *self, int producer)
{
    if (!self->has_view) {
        PyErr_SetString(PyExc_ValueError, "the ring was released");
        return 0;
    }
    if (self->producer != producer) {
        PyErr_SetString(PyExc_TypeError,
                        producer ? "only the producer puts" : "only the consumer takes");
        return 0;
    }
    return 1;
}

/* put(kind, since, payload, unacked, receipt) -> (index << 1) | doorbell, or -1 when full.
 * The receipt is registered in `unacked` under its index (and told its index and `since` as
 * `_index` and `_result`) before the entry is published: its acknowledgement cannot come first.
 * doorbell: the consumer was asleep; the caller must wake it (one frame on the socket). */
static PyObject *ring_put(Ring *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "put(kind, since, payload, unacked, receipt)");
        return NULL;
    }
    if (!usable(self, 1))
        return NULL;
    unsigned long kind = PyLong_AsUnsignedLong(args[0]);
    if (kind == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    unsigned long long since = PyLong_AsUnsignedLongLong(args[1]);
    if (since == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    PyObject *payload = args[2], *unacked = args[3], *receipt = args[4];
    if (!PyBytes_Check(payload) || !PyDict_Check(unacked)) {
        PyErr_SetString(PyExc_TypeError, "put: payload must be bytes, unacked a dict");
        return NULL;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(payload);
    uint64_t need = ((uint64_t)ENTRY_HEAD + (uint64_t)len + 7) & ~(uint64_t)7;
    if ((uint64_t)len >= WRAP || need > self->cap / 2) {
        PyErr_Format(PyExc_ValueError, "put: an entry of %zd bytes does not fit a ring of %llu",
                     len, (unsigned long long)self->cap);
        return NULL;
    }
    uint64_t head = self->pos;
    uint64_t tail = __atomic_load_n(at(self, OFF_TAIL), __ATOMIC_ACQUIRE);
    uint64_t off = head & (self->cap - 1);
    uint64_t to_end = self->cap - off;
    uint64_t total = need > to_end ? to_end + need : need;
    if (head + total - tail > self->cap)
        return PyLong_FromLong(-1);
    PyObject *index = PyLong_FromUnsignedLongLong(self->next_index);
    PyObject *since_obj = PyLong_FromUnsignedLongLong(since);
    int failed = index == NULL || since_obj == NULL || PyDict_SetItem(unacked, index, receipt) < 0;
    if (!failed && (PyObject_SetAttr(receipt, name_index, index) < 0 ||
                    PyObject_SetAttr(receipt, name_result, since_obj) < 0)) {
        failed = 1;
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (PyDict_DelItem(unacked, index) < 0)
            PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
    Py_XDECREF(since_obj);
    if (failed) {
        Py_XDECREF(index);
        return NULL;
    }
    unsigned char *data = self->base + OFF_DATA;
    if (need > to_end) {
        uint32_t wrap = WRAP;
        memcpy(data + off, &wrap, 4);
        head += to_end;
        off = 0;
    }
    uint32_t head32[2] = {(uint32_t)len, (uint32_t)kind};
    uint64_t head64[2] = {self->next_index, since};
    memcpy(data + off, head32, 8);
    memcpy(data + off + 8, head64, 16);
    memcpy(data + off + ENTRY_HEAD, PyBytes_AS_STRING(payload), (size_t)len);
    head += need;
    self->pos = head;
    self->next_index++;
    self->count++;
    __atomic_store_n(at(self, OFF_HEAD), head, __ATOMIC_SEQ_CST);
    uint32_t *asleep = (uint32_t *)(self->base + OFF_ASLEEP);
    int bell = __atomic_load_n(asleep, __ATOMIC_SEQ_CST) &&
               __atomic_exchange_n(asleep, 0, __ATOMIC_SEQ_CST);
    Py_DECREF(index);
    return PyLong_FromUnsignedLongLong(((self->next_index - 1) << 1) | (uint64_t)(bell != 0));
}

static PyObject *corrupt(Ring *self, const char *what, uint64_t where)
{
    PyErr_Format(RingError, "ring entry at byte %llu (event %llu taken so far): %s",
                 (unsigned long long)where, (unsigned long long)self->count, what);
    return NULL;
}

/* take(max_events, max_bytes) -> [(kind, index, since, payload), ...]: what is published,
 * copied out; RingError when the memory does not hold well-formed entries. */
static PyObject *ring_take(Ring *self, PyObject *args)
{
    Py_ssize_t max_events, max_bytes;
    if (!PyArg_ParseTuple(args, "nn:take", &max_events, &max_bytes))
        return NULL;
    if (!usable(self, 0))
        return NULL;
    uint64_t head = __atomic_load_n(at(self, OFF_HEAD), __ATOMIC_ACQUIRE);
    uint64_t tail = self->pos;
    if (head - tail > self->cap || (head & 7))
        return corrupt(self, "head is not within one capacity ahead of tail", tail);
    if (tail & 7) /* entries and wrap marks start on 8 bytes: 4 bytes always fit */
        return corrupt(self, "tail is not on an 8-byte boundary", tail);
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    unsigned char *data = self->base + OFF_DATA;
    Py_ssize_t bytes = 0;
    /* `head - tail` (what is published and not taken) only shrinks, by no more than it is:
     * positions are compared by their difference, which stays right past 2^64 */
    while (head != tail && PyList_GET_SIZE(out) < max_events && bytes < max_bytes) {
        uint64_t off = tail & (self->cap - 1);
        uint32_t head32[2];
        uint64_t head64[2];
        memcpy(head32, data + off, 4);
        if (head32[0] == WRAP) {
            if (off == 0) {
                Py_DECREF(out);
                return corrupt(self, "a wrap mark at the start of the data", tail);
            }
            if (self->cap - off > head - tail) {
                Py_DECREF(out);
                return corrupt(self, "a wrap mark past the published head", tail);
            }
            tail += self->cap - off;
            continue;
        }
        if (self->cap - off < ENTRY_HEAD) {
            Py_DECREF(out);
            return corrupt(self, "an entry header split at the end of the data", tail);
        }
        memcpy(head32, data + off, 8);
        memcpy(head64, data + off + 8, 16);
        uint64_t len = head32[0];
        uint64_t need = (ENTRY_HEAD + len + 7) & ~(uint64_t)7;
        if (need > self->cap - off || need > head - tail) {
            Py_DECREF(out);
            return corrupt(self, "an entry longer than what was published", tail);
        }
        PyObject *payload = PyBytes_FromStringAndSize((const char *)data + off + ENTRY_HEAD,
                                                      (Py_ssize_t)len);
        PyObject *item = payload == NULL ? NULL
                                         : Py_BuildValue("(kKKN)", (unsigned long)head32[1],
                                                         (unsigned long long)head64[0],
                                                         (unsigned long long)head64[1], payload);
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
        bytes += (Py_ssize_t)len;
        tail += need;
        self->count++;
    }
    self->pos = tail;
    __atomic_store_n(at(self, OFF_TAIL), tail, __ATOMIC_RELEASE);
    return out;
}

/* sleep() -> bool: the consumer marks itself asleep, unless something was published meanwhile
 * (then False: take again). After True, a producer's next put() reports the doorbell. */
static PyObject *ring_sleep(Ring *self, PyObject *unused)
{
    (void)unused;
    if (!usable(self, 0))
        return NULL;
    uint32_t *asleep = (uint32_t *)(self->base + OFF_ASLEEP);
    __atomic_store_n(asleep, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(at(self, OFF_HEAD), __ATOMIC_SEQ_CST) != self->pos) {
        __atomic_store_n(asleep, 0, __ATOMIC_SEQ_CST);
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyObject *ring_awake(Ring *self, PyObject *unused)
{
    (void)unused;
    if (!usable(self, 0))
        return NULL;
    __atomic_store_n((uint32_t *)(self->base + OFF_ASLEEP), 0, __ATOMIC_SEQ_CST);
    Py_RETURN_NONE;
}

static PyObject *ring_pending(Ring *self, PyObject *unused)
{
    (void)unused;
    if (!self->has_view)
        Py_RETURN_FALSE;
    uint64_t head = __atomic_load_n(at(self, OFF_HEAD), __ATOMIC_ACQUIRE);
    uint64_t tail = __atomic_load_n(at(self, OFF_TAIL), __ATOMIC_ACQUIRE);
    return PyBool_FromLong(head != tail);
}

static PyObject *ring_release(Ring *self, PyObject *unused)
{
    (void)unused;
    ring_release_view(self);
    Py_RETURN_NONE;
}

/* lock(): keep the ring's pages in RAM (mlock), never in swap: it may hold events before the
 * writer redacts them. OSError when RLIMIT_MEMLOCK (or the lack of CAP_IPC_LOCK) forbids. */
static PyObject *ring_lock(Ring *self, PyObject *unused)
{
    (void)unused;
    if (!self->has_view) {
        PyErr_SetString(PyExc_ValueError, "the ring was released");
        return NULL;
    }
    if (mlock(self->base, (size_t)self->view.len) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* reserve() -> the next event number, taken (for events that go elsewhere, e.g. a spill) */
static PyObject *ring_reserve(Ring *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromUnsignedLongLong(self->next_index++);
}

static PyObject *get_next_index(Ring *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLongLong(self->next_index);
}

static int set_next_index(Ring *self, PyObject *value, void *closure)
{
    (void)closure;
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "next_index cannot be deleted");
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(value);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    self->next_index = v;
    return 0;
}

static PyObject *get_count(Ring *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLongLong(self->count);
}

static PyObject *get_capacity(Ring *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLongLong(self->cap);
}

static PyMethodDef ring_methods[] = {
    {"put", (PyCFunction)(void (*)(void))ring_put, METH_FASTCALL,
     "put(kind, since, payload, unacked, receipt) -> (index << 1) | doorbell, or -1 if full"},
    {"take", (PyCFunction)ring_take, METH_VARARGS,
     "take(max_events, max_bytes) -> [(kind, index, since, payload)]"},
    {"sleep", (PyCFunction)ring_sleep, METH_NOARGS, "mark the consumer asleep unless data came"},
    {"awake", (PyCFunction)ring_awake, METH_NOARGS, "clear the consumer's asleep mark"},
    {"pending", (PyCFunction)ring_pending, METH_NOARGS, "published and not taken yet"},
    {"lock", (PyCFunction)ring_lock, METH_NOARGS, "keep the ring's pages out of swap (mlock)"},
    {"reserve", (PyCFunction)ring_reserve, METH_NOARGS, "take the next event number"},
    {"release", (PyCFunction)ring_release, METH_NOARGS, "let go of the shared memory"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ring_getset[] = {
    {"next_index", (getter)get_next_index, (setter)set_next_index, "the next event's number",
     NULL},
    {"count", (getter)get_count, NULL, "events put (producer) or taken (consumer)", NULL},
    {"capacity", (getter)get_capacity, NULL, "bytes of data", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject RingType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tradetrail.writer._ring.Ring",
    .tp_basicsize = sizeof(Ring),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One client's shared-memory ring (see the module's source).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ring_init,
    .tp_dealloc = (destructor)ring_dealloc,
    .tp_methods = ring_methods,
    .tp_getset = ring_getset,
};

/* settle(unacked, first, seq, count, state) -> [indexes not in unacked]: the client's side of
 * one acknowledgement run of journaled events (writer/client.py _settle), each receipt popped
 * and given its seq and state, in C: the reader thread holds the GIL for the run's length, and
 * the trading thread waits for it meanwhile. */
static PyObject *settle(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "settle(unacked: dict, first, seq, count, state)");
        return NULL;
    }
    PyObject *unacked = args[0], *state = args[4];
    unsigned long long first = PyLong_AsUnsignedLongLong(args[1]);
    unsigned long long seq = first == (unsigned long long)-1 && PyErr_Occurred()
                                 ? 0
                                 : PyLong_AsUnsignedLongLong(args[2]);
    unsigned long long count = PyErr_Occurred() ? 0 : PyLong_AsUnsignedLongLong(args[3]);
    if (PyErr_Occurred())
        return NULL;
    PyObject *missing = PyList_New(0);
    if (missing == NULL)
        return NULL;
    for (unsigned long long k = 0; k < count; k++) {
        PyObject *index = PyLong_FromUnsignedLongLong(first + k);
        if (index == NULL)
            goto fail;
        PyObject *receipt = PyDict_GetItemWithError(unacked, index);
        if (receipt == NULL) {
            int bad = PyErr_Occurred() != NULL || PyList_Append(missing, index) < 0;
            Py_DECREF(index);
            if (bad)
                goto fail;
            continue;
        }
        Py_INCREF(receipt);
        PyObject *number = PyLong_FromUnsignedLongLong(seq + k);
        int bad = number == NULL || PyObject_SetAttr(receipt, name_seq, number) < 0 ||
                  PyObject_SetAttr(receipt, name_state, state) < 0 ||
                  PyDict_DelItem(unacked, index) < 0;
        Py_XDECREF(number);
        Py_DECREF(receipt);
        Py_DECREF(index);
        if (bad)
            goto fail;
    }
    return missing;
fail:
    Py_DECREF(missing);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"settle", (PyCFunction)(void (*)(void))settle, METH_FASTCALL,
     "settle(unacked, first, seq, count, state) -> [indexes not in unacked]"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_ring", "A client's shared-memory ring to its writer.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ring(void)
{
    if (PyType_Ready(&RingType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    name_index = PyUnicode_InternFromString("_index");
    name_result = PyUnicode_InternFromString("_result");
    name_seq = PyUnicode_InternFromString("seq");
    name_state = PyUnicode_InternFromString("_state");
    RingError = PyErr_NewException("tradetrail.writer._ring.RingError", PyExc_ValueError, NULL);
    if (name_index == NULL || name_result == NULL || name_seq == NULL || name_state == NULL ||
        RingError == NULL ||
        PyModule_AddObjectRef(m, "RingError", RingError) < 0 ||
        PyModule_AddObjectRef(m, "Ring", (PyObject *)&RingType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
