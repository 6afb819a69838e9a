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
#define TILE_HEIGHT 8
#define TILE_WIDTH (1 << TILE_HEIGHT)
#define TILE_BYTES (TILE_WIDTH * LEAF_SIZE)
#define MAX_NODES 64 /* one per set bit of a 64-bit tree size */
#define MAX_LEVELS 8 /* heights 0, 8, ..., 56: every tile level of a tree of < 2**64 leaves */

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

/* A batch's parts, taken from the events and stamps while holding the GIL. The tuples are
 * snapshots (a part's __getattr__ running Python code cannot change the batch under us) and
 * `held` keeps every part alive while the GIL is released. */
typedef struct {
    PyObject *events, *stamps, *held;
    Line *lines;
    Py_ssize_t n;     /* events */
    Py_ssize_t total; /* bytes of the spliced lines, newlines included */
} Batch;

static void batch_free(Batch *b)
{
    Py_CLEAR(b->events);
    Py_CLEAR(b->stamps);
    Py_CLEAR(b->held);
    PyMem_Free(b->lines);
    b->lines = NULL;
}

/* Fill `b` (zeroed by the caller) from the arguments; -1 with an exception set on failure
 * (the caller still calls batch_free). `last` is how far past the batch's last seq the
 * caller needs 64 bits to reach: 0 for its seqs, 1 for the tree size after it. */
static int batch_collect(Batch *b, const char *fn, PyObject *event_list, PyObject *stamp_list,
                         PyObject *prev, unsigned long long seq, unsigned long long last)
{
    b->events = PyList_AsTuple(event_list);
    b->stamps = PyList_AsTuple(stamp_list);
    if (b->events == NULL || b->stamps == NULL)
        return -1;
    Py_ssize_t n = b->n = PyTuple_GET_SIZE(b->events);
    if (PyTuple_GET_SIZE(b->stamps) != n) {
        PyErr_Format(PyExc_ValueError, "%s: stamps has %zd item(s) for %zd event(s)", fn,
                     PyTuple_GET_SIZE(b->stamps), n);
        return -1;
    }
    if (n > 0 && seq > ULLONG_MAX - (unsigned long long)(n - 1) - last) {
        PyErr_Format(PyExc_OverflowError, "%s: seq overflows 64 bits", fn);
        return -1;
    }
    b->held = PyList_New(0);
    b->lines = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Line));
    if (b->held == NULL || b->lines == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *event = PyTuple_GET_ITEM(b->events, i);
        Line *line = &b->lines[i];
        for (int k = 0; k < 5; k++) {
            PyObject *part;
            if (k < 4) {
                part = PyObject_GetAttr(event, attr_names[k]);
                if (part == NULL)
                    return -1;
            } else {
                part = Py_NewRef(PyTuple_GET_ITEM(b->stamps, i));
            }
            int bad = !PyBytes_Check(part) || PyList_Append(b->held, part) < 0;
            if (bad && !PyErr_Occurred()) {
                if (k < 4)
                    PyErr_Format(PyExc_TypeError, "%s: events[%zd].p%d must be bytes, not %.100s",
                                 fn, i, k, Py_TYPE(part)->tp_name);
                else
                    PyErr_Format(PyExc_TypeError, "%s: stamps[%zd] must be bytes, not %.100s",
                                 fn, i, Py_TYPE(part)->tp_name);
            }
            Py_DECREF(part);
            if (bad)
                return -1;
            line->ptr[k] = PyBytes_AS_STRING(part);
            line->len[k] = PyBytes_GET_SIZE(part);
            if (add_size(&total, line->len[k]) < 0)
                return -1;
        }
        /* the prev (the given one or 64 hex), the seq's digits, the newline */
        char scratch[SEQ_DIGITS];
        Py_ssize_t prev_len = i ? HEX_SIZE : PyBytes_GET_SIZE(prev);
        int digits = format_seq(seq + (unsigned long long)i, scratch);
        if (add_size(&total, prev_len) < 0 || add_size(&total, digits + 1) < 0)
            return -1;
    }
    b->total = total;
    return 0;
}

/* The Merkle frontier and the tile builder of tradetrail.core.merkle / .tiles, in C: the
 * roots of the perfect subtrees (highest first) and each tile level's unfinished tile. Full
 * tiles are copied, in the order they complete, into buffers allocated beforehand. */
typedef struct {
    unsigned long long size;
    int n_nodes;
    unsigned char nodes[MAX_NODES][LEAF_SIZE];
    unsigned char *partial; /* MAX_LEVELS tiles of TILE_BYTES */
    char **full_data;
    int *full_level;
    unsigned long long *full_index;
    Py_ssize_t n_full;
} Tree;

static void tree_entry(Tree *t, int level, unsigned long long index, const unsigned char *h)
{
    unsigned char *tile = t->partial + (size_t)level * TILE_BYTES;
    unsigned pos = (unsigned)(index % TILE_WIDTH);
    memcpy(tile + (size_t)pos * LEAF_SIZE, h, LEAF_SIZE);
    if (pos == TILE_WIDTH - 1) {
        memcpy(t->full_data[t->n_full], tile, TILE_BYTES);
        t->full_level[t->n_full] = level;
        t->full_index[t->n_full] = index / TILE_WIDTH;
        t->n_full++;
    }
}

/* Frontier.append + TileBuilder.add: every trailing 1 bit of the size is a left sibling to
 * merge with, SHA-256(0x01 || left || right); nodes at heights 0, 8, 16, ... are tile entries. */
static void tree_append(Tree *t, const unsigned char *leaf)
{
    static const unsigned char node_prefix = 1;
    unsigned long long index = t->size;
    unsigned char h[LEAF_SIZE];
    int height = 0;
    memcpy(h, leaf, LEAF_SIZE);
    tree_entry(t, 0, index, h);
    while (index & 1) {
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, &node_prefix, 1);
        SHA256_Update(&ctx, t->nodes[--t->n_nodes], LEAF_SIZE);
        SHA256_Update(&ctx, h, LEAF_SIZE);
        SHA256_Final(h, &ctx);
        height++;
        index >>= 1;
        if (height % TILE_HEIGHT == 0)
            tree_entry(t, height / TILE_HEIGHT, index, h);
    }
    memcpy(t->nodes[t->n_nodes++], h, LEAF_SIZE);
    t->size++;
}

/* The lines of the batch into `out`, their leaves into `digests` (or NULL) and the tree (or
 * NULL); the last leaf in hex into prev_hex. Runs without the GIL. */
static void batch_splice(const Batch *b, const char *prev_ptr, Py_ssize_t prev_len,
                         unsigned long long seq, char *out, unsigned char *digests, Tree *tree,
                         char *prev_hex)
{
    static const unsigned char leaf_prefix = 0;
    unsigned char leaf[LEAF_SIZE];
    for (Py_ssize_t i = 0; i < b->n; i++) {
        const Line *line = &b->lines[i];
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
        unsigned char *digest = digests ? digests + i * LEAF_SIZE : leaf;
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, &leaf_prefix, 1);
        SHA256_Update(&ctx, start, (size_t)(out - start));
        SHA256_Final(digest, &ctx);
        *out++ = '\n';
        if (tree)
            tree_append(tree, digest);
        to_hex(digest, prev_hex);
        prev_ptr = prev_hex;
        prev_len = HEX_SIZE;
    }
}

/* splice_and_hash(events, prev, seq, stamps) -> (data, leaves, prev) */
static PyObject *splice_and_hash(PyObject *module, PyObject *args)
{
    static const char fn[] = "splice_and_hash";
    PyObject *event_list, *stamp_list, *prev, *seq_obj;
    PyObject *data = NULL, *leaves = NULL, *result = NULL;
    Batch batch = {0};
    unsigned long long seq;
    unsigned char *digests = NULL;
    char prev_hex[HEX_SIZE];
    (void)module;

    if (!PyArg_ParseTuple(args, "O!O!OO!:splice_and_hash", &PyList_Type, &event_list,
                          &PyBytes_Type, &prev, &seq_obj, &PyList_Type, &stamp_list))
        return NULL;
    seq = PyLong_AsUnsignedLongLong(seq_obj);
    if (seq == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (batch_collect(&batch, fn, event_list, stamp_list, prev, seq, 0) < 0)
        goto done;
    Py_ssize_t n = batch.n;
    digests = PyMem_Malloc(n ? (size_t)n * LEAF_SIZE : 1);
    if (digests == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    data = PyBytes_FromStringAndSize(NULL, batch.total);
    if (data == NULL)
        goto done;
    char *out = PyBytes_AS_STRING(data);
    Py_BEGIN_ALLOW_THREADS
    batch_splice(&batch, PyBytes_AS_STRING(prev), PyBytes_GET_SIZE(prev), seq, out, digests,
                 NULL, prev_hex);
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
    batch_free(&batch);
    Py_XDECREF(data);
    Py_XDECREF(leaves);
    PyMem_Free(digests);
    return result;
}

/* Nodes at tile level `level` (height 8 * level) in a tree of `size` leaves. */
static unsigned long long level_count(unsigned long long size, Py_ssize_t level)
{
    return level < MAX_LEVELS ? size >> (TILE_HEIGHT * level) : 0;
}

/* Tile levels a tree of `size` leaves has nodes at. */
static Py_ssize_t levels_for(unsigned long long size)
{
    Py_ssize_t levels = 0;
    while (levels < MAX_LEVELS && level_count(size, levels))
        levels++;
    return levels;
}

/* The frontier's nodes and the unfinished tiles into `t` (partial allocated); -1 with an
 * exception naming the argument at fault. */
static int tree_load(Tree *t, const char *fn, unsigned long long size, PyObject *node_seq,
                     PyObject *tile_seq, Py_ssize_t *n_levels)
{
    int want = 0;
    for (unsigned long long s = size; s; s &= s - 1)
        want++;
    Py_ssize_t count = PyTuple_GET_SIZE(node_seq);
    if (count != want) {
        PyErr_Format(PyExc_ValueError, "%s: a frontier of size %llu has %d node(s), got %zd", fn,
                     size, want, count);
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *node = PyTuple_GET_ITEM(node_seq, i);
        if (!PyBytes_Check(node)) {
            PyErr_Format(PyExc_TypeError, "%s: nodes[%zd] must be bytes, not %.100s", fn, i,
                         Py_TYPE(node)->tp_name);
            return -1;
        }
        if (PyBytes_GET_SIZE(node) != LEAF_SIZE) {
            PyErr_Format(PyExc_ValueError, "%s: nodes[%zd] must be %d bytes, got %zd", fn, i,
                         LEAF_SIZE, PyBytes_GET_SIZE(node));
            return -1;
        }
        memcpy(t->nodes[i], PyBytes_AS_STRING(node), LEAF_SIZE);
    }
    t->n_nodes = (int)count;
    t->size = size;
    Py_ssize_t levels = PyTuple_GET_SIZE(tile_seq);
    if (levels < levels_for(size)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: a tree of size %llu has nodes at %zd tile level(s), tiles has %zd", fn,
                     size, levels_for(size), levels);
        return -1;
    }
    for (Py_ssize_t level = 0; level < levels; level++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(tile_seq, level), &view, PyBUF_SIMPLE)) {
            PyErr_Format(PyExc_TypeError, "%s: tiles[%zd] (tile level %zd) must be bytes", fn,
                         level, level);
            return -1;
        }
        Py_ssize_t bytes = (Py_ssize_t)(level_count(size, level) % TILE_WIDTH) * LEAF_SIZE;
        if (view.len != bytes) {
            PyErr_Format(PyExc_ValueError,
                         "%s: tiles[%zd] (tile level %zd) has %zd byte(s), a tree of size %llu "
                         "wants %zd",
                         fn, level, level, view.len, size, bytes);
            PyBuffer_Release(&view);
            return -1;
        }
        if (bytes)
            memcpy(t->partial + (size_t)level * TILE_BYTES, view.buf, (size_t)bytes);
        PyBuffer_Release(&view);
    }
    *n_levels = levels;
    return 0;
}

/* splice_hash_extend(events, prev, seq, stamps, nodes, tiles)
 *     -> (data, prev, nodes, tiles, full) */
static PyObject *splice_hash_extend(PyObject *module, PyObject *args)
{
    static const char fn[] = "splice_hash_extend";
    PyObject *event_list, *stamp_list, *prev, *seq_obj, *node_arg, *tile_arg;
    PyObject *node_seq = NULL, *tile_seq = NULL, *data = NULL, *nodes = NULL, *tiles = NULL;
    PyObject *full = NULL, *result = NULL;
    PyObject **full_bytes = NULL;
    Batch batch = {0};
    Tree *tree = NULL;
    Py_ssize_t n_full = 0, levels_in = 0;
    unsigned long long seq;
    char prev_hex[HEX_SIZE];
    (void)module;

    if (!PyArg_ParseTuple(args, "O!O!OO!OO:splice_hash_extend", &PyList_Type, &event_list,
                          &PyBytes_Type, &prev, &seq_obj, &PyList_Type, &stamp_list, &node_arg,
                          &tile_arg))
        return NULL;
    seq = PyLong_AsUnsignedLongLong(seq_obj);
    if (seq == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    /* tuples, as for the events: nothing run while they are read can change them */
    node_seq = PySequence_Tuple(node_arg);
    tile_seq = PySequence_Tuple(tile_arg);
    if (node_seq == NULL || tile_seq == NULL)
        goto done;
    tree = PyMem_Calloc(1, sizeof(Tree));
    if (tree == NULL || (tree->partial = PyMem_Malloc((size_t)MAX_LEVELS * TILE_BYTES)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* the tree's state first: it is checked before any part's __getattr__ runs */
    if (tree_load(tree, fn, seq, node_seq, tile_seq, &levels_in) < 0)
        goto done;
    if (batch_collect(&batch, fn, event_list, stamp_list, prev, seq, 1) < 0)
        goto done;
    unsigned long long end = seq + (unsigned long long)batch.n;
    for (Py_ssize_t level = 0; level + 1 < MAX_LEVELS; level++)
        n_full += (Py_ssize_t)(level_count(end, level + 1) - level_count(seq, level + 1));
    full_bytes = PyMem_Calloc(n_full ? (size_t)n_full : 1, sizeof(PyObject *));
    tree->full_data = PyMem_Calloc(n_full ? (size_t)n_full : 1, sizeof(char *));
    tree->full_level = PyMem_Calloc(n_full ? (size_t)n_full : 1, sizeof(int));
    tree->full_index = PyMem_Calloc(n_full ? (size_t)n_full : 1, sizeof(unsigned long long));
    if (full_bytes == NULL || tree->full_data == NULL || tree->full_level == NULL ||
        tree->full_index == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_full; i++) {
        full_bytes[i] = PyBytes_FromStringAndSize(NULL, TILE_BYTES);
        if (full_bytes[i] == NULL)
            goto done;
        tree->full_data[i] = PyBytes_AS_STRING(full_bytes[i]);
    }
    data = PyBytes_FromStringAndSize(NULL, batch.total);
    if (data == NULL)
        goto done;
    char *out = PyBytes_AS_STRING(data);
    Py_BEGIN_ALLOW_THREADS
    batch_splice(&batch, PyBytes_AS_STRING(prev), PyBytes_GET_SIZE(prev), seq, out, NULL, tree,
                 prev_hex);
    Py_END_ALLOW_THREADS
    if (tree->n_full != n_full) { /* cannot happen: the count above is the tree's */
        PyErr_Format(PyExc_SystemError, "%s: %zd full tile(s), %zd expected", fn, tree->n_full,
                     n_full);
        goto done;
    }
    nodes = PyList_New(tree->n_nodes);
    if (nodes == NULL)
        goto done;
    for (int i = 0; i < tree->n_nodes; i++) {
        PyObject *node = PyBytes_FromStringAndSize((const char *)tree->nodes[i], LEAF_SIZE);
        if (node == NULL)
            goto done;
        PyList_SET_ITEM(nodes, i, node);
    }
    Py_ssize_t levels_out = levels_for(end);
    if (levels_out < levels_in)
        levels_out = levels_in;
    tiles = PyList_New(levels_out);
    if (tiles == NULL)
        goto done;
    for (Py_ssize_t level = 0; level < levels_out; level++) {
        Py_ssize_t bytes = (Py_ssize_t)(level_count(end, level) % TILE_WIDTH) * LEAF_SIZE;
        PyObject *tile = PyBytes_FromStringAndSize(
            bytes ? (const char *)tree->partial + (size_t)level * TILE_BYTES : NULL, bytes);
        if (tile == NULL)
            goto done;
        PyList_SET_ITEM(tiles, level, tile);
    }
    full = PyList_New(n_full);
    if (full == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n_full; i++) {
        PyObject *item =
            Py_BuildValue("(iKO)", tree->full_level[i], tree->full_index[i], full_bytes[i]);
        if (item == NULL)
            goto done;
        PyList_SET_ITEM(full, i, item);
    }
    if (batch.n)
        result = Py_BuildValue("(Oy#OOO)", data, prev_hex, (Py_ssize_t)HEX_SIZE, nodes, tiles,
                               full);
    else
        result = Py_BuildValue("(OOOOO)", data, prev, nodes, tiles, full);
done:
    batch_free(&batch);
    Py_XDECREF(node_seq);
    Py_XDECREF(tile_seq);
    Py_XDECREF(data);
    Py_XDECREF(nodes);
    Py_XDECREF(tiles);
    Py_XDECREF(full);
    if (full_bytes != NULL) {
        for (Py_ssize_t i = 0; i < n_full; i++)
            Py_XDECREF(full_bytes[i]);
        PyMem_Free(full_bytes);
    }
    if (tree != NULL) {
        PyMem_Free(tree->partial);
        PyMem_Free(tree->full_data);
        PyMem_Free(tree->full_level);
        PyMem_Free(tree->full_index);
        PyMem_Free(tree);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"splice_and_hash", splice_and_hash, METH_VARARGS,
     "splice_and_hash(events, prev, seq, stamps) -> (data, leaves, prev): the batch's lines "
     "(each ending in a newline), their RFC 6962 leaf hashes and the last leaf in hex."},
    {"splice_hash_extend", splice_hash_extend, METH_VARARGS,
     "splice_hash_extend(events, prev, seq, stamps, nodes, tiles) -> (data, prev, nodes, tiles, "
     "full): splice_and_hash, and the leaves appended to the Merkle frontier `nodes` of a tree "
     "of `seq` leaves and to the unfinished hash tiles `tiles` (one bytes per level): the new "
     "frontier, the new unfinished tiles and the completed full tiles (level, index, data)."},
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
