/* The element scan of positions.py, compiled: one call per chunk, run without the GIL.

   A JSON document arrives in chunks. For every element of a top-level value (a container opened at nesting
   depth 2, such as one in_network item) the scan records where it starts and ends and how many
   "negotiated_rate" keys it holds, and where keys "billing_code" sit directly in such an element. It tracks
   strings, escapes and nesting across chunks in `state`, checks that brackets match and that only JSON's
   bytes appear outside strings, and stops at the first byte that breaks those rules. Nothing is allocated. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { DEPTH, IN_STRING, ESCAPED, ELEMENT_START, COUNT, FAILED_AT, REASON, STATE_SIZE };
enum { NOT_JSON = 1, MISMATCH = 2, TOO_DEEP = 3 };
enum { OTHER, PLAIN, QUOTE, OPEN, CLOSE };

static const char KEY[] = "billing_code\"";    /* after the opening quote */
static const char COUNTED[] = "negotiated_rate\"";
static uint8_t classes[256];

typedef struct {
    const uint8_t *data, *look;
    Py_ssize_t n, nlook;
} Bytes;

/* Whether `needle` (length m) follows position i, reading on into the look-ahead bytes. */
static int follows(const Bytes *b, Py_ssize_t i, const char *needle, Py_ssize_t m) {
    if (i + m <= b->n) return memcmp(b->data + i, needle, (size_t)m) == 0;
    for (Py_ssize_t k = 0; k < m; k++) {
        Py_ssize_t j = i + k;
        uint8_t c;
        if (j < b->n) c = b->data[j];
        else if (j - b->n < b->nlook) c = b->look[j - b->n];
        else return 0;
        if (c != (uint8_t)needle[k]) return 0;
    }
    return 1;
}

/* The next '"' or '\\' at or after i (n if none): 16 bytes a step where SSE2 is there, strings being most bytes. */
static inline Py_ssize_t string_stop(const uint8_t *data, Py_ssize_t i, Py_ssize_t n) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(data + i));
        int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
        if (mask) return i + __builtin_ctz((unsigned)mask);
    }
#endif
    while (i < n && data[i] != '"' && data[i] != '\\') i++;
    return i;
}

/* Returns where the scan stopped (n when the chunk is done, -1 when the document is not JSON); an output array
   that fills up stops it early, to be called again from there. */
static Py_ssize_t scan_chunk(const Bytes *b, int64_t base, Py_ssize_t i, int64_t *state, uint8_t *stack,
                             Py_ssize_t max_depth, int64_t *starts, int64_t *ends, int64_t *counts, int64_t *codes,
                             Py_ssize_t cap, Py_ssize_t *n_elements, Py_ssize_t *n_codes) {
    const uint8_t *data = b->data;
    const Py_ssize_t n = b->n;
    int64_t depth = state[DEPTH], element_start = state[ELEMENT_START], count = state[COUNT];
    int in_string = (int)state[IN_STRING];
    Py_ssize_t ne = 0, nk = 0;
    if (state[ESCAPED] && i == 0) { /* the previous chunk ended on a backslash inside a string */
        state[ESCAPED] = 0;
        i = 1;
    }
    while (i < n) {
        if (in_string) {
            i = string_stop(data, i, n);
            if (i >= n) break;
            if (data[i] == '\\') {
                i += 2;
                if (i > n) state[ESCAPED] = 1;
                continue;
            }
            in_string = 0;
            i++;
            continue;
        }
        while (i < n && classes[data[i]] == PLAIN) i++;
        if (i >= n) break;
        uint8_t c = data[i];
        switch (classes[c]) {
        case QUOTE:
            if (depth == 3) {
                if (nk == cap) goto paused;
                if (follows(b, i + 1, KEY, sizeof KEY - 1)) codes[nk++] = base + i;
            } else if (depth > 3 && (i + 1 >= n || data[i + 1] == 'n') &&
                       follows(b, i + 1, COUNTED, sizeof COUNTED - 1)) {
                count++;
            }
            in_string = 1;
            break;
        case OPEN:
            if (depth >= max_depth) {
                state[FAILED_AT] = base + i;
                state[REASON] = TOO_DEEP;
                goto failed;
            }
            if (depth == 2) {
                if (ne == cap) goto paused;
                element_start = base + i;
                count = 0;
            }
            stack[depth++] = c;
            break;
        case CLOSE:
            if (depth == 0 || stack[depth - 1] != c - 2) { /* '}' - 2 == '{', ']' - 2 == '[' */
                state[FAILED_AT] = base + i;
                state[REASON] = MISMATCH;
                goto failed;
            }
            if (--depth == 2) {
                starts[ne] = element_start;
                ends[ne] = base + i + 1;
                counts[ne++] = count;
            }
            break;
        default:
            state[FAILED_AT] = base + i;
            state[REASON] = NOT_JSON;
            goto failed;
        }
        i++;
    }
    if (i > n) i = n;
paused:
    state[DEPTH] = depth;
    state[IN_STRING] = in_string;
    state[ELEMENT_START] = element_start;
    state[COUNT] = count;
    *n_elements = ne;
    *n_codes = nk;
    return i;
failed:
    *n_elements = ne;
    *n_codes = nk;
    return -1;
}

static int int64s(Py_buffer *view, const char *name, Py_ssize_t *length) {
    if (view->itemsize != 8 || view->len % 8) {
        PyErr_Format(PyExc_ValueError, "%s must be an int64 array", name);
        return 0;
    }
    *length = view->len / 8;
    return 1;
}

PyDoc_STRVAR(scan_doc,
             "scan(data, look, base, start, state, stack, starts, ends, counts, codes) -> (elements, keys, stop)\n\n"
             "Scan ``data`` (document bytes from offset ``base``) from index ``start``; ``look``: the bytes after it.\n"
             "``state`` (7 int64) carries the scan between chunks; ``stack`` (uint8) is the nesting, its length the\n"
             "deepest nesting followed. Outputs go to the int64 arrays ``starts``, ``ends``, ``counts`` (elements)\n"
             "and ``codes`` (keys), all of one length; ``stop`` is -1 when the document is not JSON.");

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer data, look, state, stack, starts, ends, counts, codes;
    long long base;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "y*y*Lnw*w*w*w*w*w*", &data, &look, &base, &start, &state, &stack, &starts, &ends,
                          &counts, &codes))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n_state, cap, cap2, cap3, cap4, ne = 0, nk = 0, stop;
    if (!int64s(&state, "state", &n_state) || !int64s(&starts, "starts", &cap) || !int64s(&ends, "ends", &cap2) ||
        !int64s(&counts, "counts", &cap3) || !int64s(&codes, "codes", &cap4))
        goto done;
    if (n_state < STATE_SIZE || cap2 != cap || cap3 != cap || cap4 != cap || start < 0 || start > data.len) {
        PyErr_SetString(PyExc_ValueError, "scan: state needs 7 values, the outputs one length, start within data");
        goto done;
    }
    Bytes b = {(const uint8_t *)data.buf, (const uint8_t *)look.buf, data.len, look.len};
    Py_BEGIN_ALLOW_THREADS
    stop = scan_chunk(&b, (int64_t)base, start, (int64_t *)state.buf, (uint8_t *)stack.buf, stack.len,
                      (int64_t *)starts.buf, (int64_t *)ends.buf, (int64_t *)counts.buf, (int64_t *)codes.buf, cap,
                      &ne, &nk);
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("nnn", ne, nk, stop);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&look);
    PyBuffer_Release(&state);
    PyBuffer_Release(&stack);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&codes);
    return result;
}

static PyMethodDef methods[] = {{"scan", scan, METH_VARARGS, scan_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jsonscan",
                                    "The element scan of positions.py, compiled.", -1, methods};

PyMODINIT_FUNC PyInit__jsonscan(void) {
    const char *plain = " \t\r\n,:0123456789+-.eEtruefalsn";
    for (const char *p = plain; *p; p++) classes[(uint8_t)*p] = PLAIN;
    classes['"'] = QUOTE;
    classes['{'] = OPEN;
    classes['['] = OPEN;
    classes['}'] = CLOSE;
    classes[']'] = CLOSE;
    return PyModule_Create(&module);
}
