/* Two walks over JSON bytes, compiled, each run without the GIL: the element scan of positions.py (below) and the
   rate walk of rate_spans.py (after it).

   The element scan runs once per chunk of a document that arrives in chunks. For every element of a top-level
   value (a container opened at nesting depth 2, such as one in_network item) it records where the element starts
   and ends and how many "negotiated_rate" keys it holds, and where keys "billing_code" sit directly in such an
   element. It tracks strings, escapes and nesting across chunks in `state`, checks that brackets match and that
   only JSON's bytes appear outside strings, and stops at the first byte that breaks those rules. It allocates
   nothing. */

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

/* ---- the negotiated rates of whole items ------------------------------------------------------------------

   rates() walks complete in_network items (checked already by the scan above, or by msgspec) and records, for
   every element of each item's "negotiated_rates", where its "negotiated_prices", "provider_references" and
   "provider_groups" values lie, and for the first two the earliest rate of the call that wrote the same text: the
   parse then decodes each distinct list once and does no Python work per rate. */

enum { R_ITEM, R_PRICES, R_PRICES_END, R_PRICES_SAME, R_REFS, R_REFS_END, R_REFS_SAME, R_GROUPS, R_GROUPS_END, R_COLS };
enum { ITEM_NOT_OBJECT = 1, ITEM_MALFORMED, RATES_NOT_ARRAY, RATE_NOT_OBJECT, RATES_TWICE, OUT_FULL };

static uint8_t spaces[256], scalar_stops[256];

static inline Py_ssize_t skip_space(const uint8_t *d, Py_ssize_t i, Py_ssize_t e) {
    while (i < e && spaces[d[i]]) i++;
    return i;
}

/* i: just after an opening quote; returns just after the closing one, -1 when the span ends first. */
static Py_ssize_t string_end(const uint8_t *d, Py_ssize_t i, Py_ssize_t e) {
    for (;;) {
        i = string_stop(d, i, e);
        if (i >= e) return -1;
        if (d[i] == '"') return i + 1;
        i += 2;
    }
}

/* The end of the value that begins at d[i]; -1 when the span ends first or no value is there. */
static Py_ssize_t value_end(const uint8_t *d, Py_ssize_t i, Py_ssize_t e) {
    if (i >= e) return -1;
    if (d[i] == '"') return string_end(d, i + 1, e);
    if (d[i] == '{' || d[i] == '[') {
        Py_ssize_t depth = 0;
        while (i < e) {
            uint8_t c = d[i];
            if (c == '"') {
                i = string_end(d, i + 1, e);
                if (i < 0) return -1;
                continue;
            }
            if (c == '{' || c == '[') depth++;
            else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
            i++;
        }
        return -1;
    }
    Py_ssize_t start = i;
    while (i < e && !scalar_stops[d[i]]) i++;
    return i > start ? i : -1;
}

/* The next member of the object being read: 1 with its key, `*at` moved to where its value begins; 0 after the
   closing brace (`*at` just after it); -1 when malformed. `*at`: just after '{' (`first`) or after the previous
   value. */
static int next_key(const uint8_t *d, Py_ssize_t *at, Py_ssize_t e, int first, const uint8_t **key,
                    Py_ssize_t *key_len) {
    Py_ssize_t i = skip_space(d, *at, e);
    if (i < e && d[i] == '}') {
        *at = i + 1;
        return 0;
    }
    if (!first) {
        if (i >= e || d[i] != ',') return -1;
        i = skip_space(d, i + 1, e);
    }
    if (i >= e || d[i] != '"') return -1;
    Py_ssize_t key_stop = string_end(d, i + 1, e);
    if (key_stop < 0) return -1;
    *key = d + i + 1;
    *key_len = key_stop - i - 2;
    i = skip_space(d, key_stop, e);
    if (i >= e || d[i] != ':') return -1;
    i = skip_space(d, i + 1, e);
    if (i >= e) return -1;
    *at = i;
    return 1;
}

static inline int key_is(const uint8_t *key, Py_ssize_t len, const char *name, Py_ssize_t name_len) {
    return len == name_len && memcmp(key, name, (size_t)len) == 0;
}
#define KEY_IS(key, len, name) key_is(key, len, name, (Py_ssize_t)(sizeof name - 1))

static uint64_t span_hash(const uint8_t *p, Py_ssize_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n, w;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p + i, (size_t)(n - i));
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 29);
}

/* The texts of one column seen in one call: open addressing over row numbers, compared byte for byte (an equal
   hash is not enough). */
typedef struct {
    int64_t *slots; /* row + 1; 0: empty */
    uint64_t *hashes;
    Py_ssize_t mask;
} Seen;

/* The first row of the call whose column `col` holds the same text as `row`'s (`row` itself when new); -1 when
   the rate has no such value. */
static int64_t same_as(Seen *seen, const uint8_t *d, const int64_t *out, Py_ssize_t cap, Py_ssize_t row, int col) {
    const int64_t *starts = out + col * cap, *ends = starts + cap;
    int64_t s = starts[row], n = ends[row] - s;
    if (s < 0) return -1;
    uint64_t h = span_hash(d + s, n);
    seen->hashes[row] = h;
    for (Py_ssize_t slot = (Py_ssize_t)(h & (uint64_t)seen->mask);; slot = (slot + 1) & seen->mask) {
        int64_t other = seen->slots[slot] - 1;
        if (other < 0) {
            seen->slots[slot] = row + 1;
            return row;
        }
        int64_t os = starts[other];
        if (seen->hashes[other] == h && ends[other] - os == n && !memcmp(d + os, d + s, (size_t)n))
            return other;
    }
}

/* One negotiated rate (the object at d[*at]) into the row at `o` (columns `cap` apart), `*at` moved past it; 0, or
   a reason. */
static int one_rate(const uint8_t *d, Py_ssize_t *at, Py_ssize_t e, int64_t *o, Py_ssize_t cap) {
    const uint8_t *key;
    Py_ssize_t key_len, i = *at + 1;
    for (int c = R_PRICES; c < R_COLS; c++) o[c * cap] = -1;
    for (int first = 1;; first = 0) {
        int r = next_key(d, &i, e, first, &key, &key_len);
        if (r == 0) {
            *at = i;
            return 0;
        }
        if (r < 0) return ITEM_MALFORMED;
        Py_ssize_t value = i;
        i = value_end(d, value, e);
        if (i < 0) return ITEM_MALFORMED;
        int col = KEY_IS(key, key_len, "negotiated_prices")     ? R_PRICES
                  : KEY_IS(key, key_len, "provider_references") ? R_REFS
                  : KEY_IS(key, key_len, "provider_groups")     ? R_GROUPS
                                                                : -1;
        if (col >= 0) { /* a repeated key: the last one counts, as when decoded */
            o[col * cap] = value;
            o[(col + 1) * cap] = i;
        }
    }
}

/* The elements of the negotiated_rates array at d[*at] into `out` from `*row`, `*at` moved past it; 0, or a
   reason (OUT_FULL: `out` has no room for all of them). */
static int rate_list(const uint8_t *d, Py_ssize_t *at, Py_ssize_t e, int64_t item, int64_t *out, Py_ssize_t *row,
                     Py_ssize_t cap) {
    Py_ssize_t j = skip_space(d, *at + 1, e);
    if (j < e && d[j] == ']') {
        *at = j + 1;
        return 0;
    }
    for (;;) {
        if (j >= e || d[j] != '{') return RATE_NOT_OBJECT;
        if (*row == cap) return OUT_FULL;
        int64_t *o = out + *row;
        o[R_ITEM * cap] = item;
        int bad = one_rate(d, &j, e, o, cap);
        if (bad) return bad;
        ++*row;
        j = skip_space(d, j, e);
        if (j < e && d[j] == ']') {
            *at = j + 1;
            return 0;
        }
        if (j >= e || d[j] != ',') return ITEM_MALFORMED;
        j = skip_space(d, j + 1, e);
    }
}

/* One item's rates into `out` from `*row`; 0, or a reason. `span`: where the item's "negotiated_rates" value lies
   (-1 when it has none). */
static int item_rates(const uint8_t *d, Py_ssize_t i, Py_ssize_t e, int64_t item, int64_t *out, Py_ssize_t *row,
                      Py_ssize_t cap, int64_t *span) {
    const uint8_t *key;
    Py_ssize_t key_len;
    span[0] = span[1] = -1;
    i = skip_space(d, i, e);
    if (i >= e || d[i] != '{') return ITEM_NOT_OBJECT;
    i++;
    for (int first = 1;; first = 0) {
        int r = next_key(d, &i, e, first, &key, &key_len);
        if (r == 0) return 0;
        if (r < 0) return ITEM_MALFORMED;
        Py_ssize_t value = i;
        if (!KEY_IS(key, key_len, "negotiated_rates")) {
            i = value_end(d, value, e);
            if (i < 0) return ITEM_MALFORMED;
            continue;
        }
        if (span[0] >= 0) return RATES_TWICE; /* which one would count is not worth guessing */
        if (d[value] == '[') {
            int bad = rate_list(d, &i, e, item, out, row, cap);
            if (bad) return bad;
        } else {
            i = value_end(d, value, e);
            if (i < 0) return ITEM_MALFORMED;
            if (i - value != 4 || memcmp(d + value, "null", 4)) return RATES_NOT_ARRAY;
        }
        span[0] = value;
        span[1] = i;
    }
}

PyDoc_STRVAR(rates_doc,
             "rates(data, starts, ends, out, spans) -> (rows, items, reason)\n\n"
             "The negotiated rates of the items ``data[starts[k]:ends[k]]``, one column of ``out`` (int64, 9 rows,\n"
             "C order) each: item k; start, end and first equal rate of its negotiated_prices; the same of its\n"
             "provider_references; start and end of its provider_groups (-1: not there). ``spans`` (int64, 2 per\n"
             "item): each item's negotiated_rates value. Stops after ``items`` items; ``reason`` says why when\n"
             "that is before the last (1 not an object, 2 malformed, 3 negotiated_rates not an array, 4 a rate\n"
             "not an object, 5 negotiated_rates twice, 6 no room left in ``out``).");

static PyObject *rates(PyObject *self, PyObject *args) {
    Py_buffer data, starts, ends, out, spans;
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*", &data, &starts, &ends, &out, &spans)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n_items, n_ends, cap, n_spans, row = 0, k = 0;
    int reason = 0;
    Seen seen[2] = {{0}};
    if (!int64s(&starts, "starts", &n_items) || !int64s(&ends, "ends", &n_ends) || !int64s(&out, "out", &cap) ||
        !int64s(&spans, "spans", &n_spans))
        goto done;
    cap /= R_COLS;
    if (n_ends != n_items || n_spans != 2 * n_items) {
        PyErr_SetString(PyExc_ValueError, "rates: starts and ends of one length, spans twice that");
        goto done;
    }
    const int64_t *s = starts.buf, *e = ends.buf;
    for (Py_ssize_t j = 0; j < n_items; j++)
        if (s[j] < 0 || e[j] < s[j] || e[j] > data.len) {
            PyErr_SetString(PyExc_ValueError, "rates: an item outside the data");
            goto done;
        }
    Py_ssize_t size = 1024;
    while (size < 2 * cap) size <<= 1;
    for (int c = 0; c < 2; c++) {
        seen[c].slots = calloc((size_t)size, sizeof(int64_t));
        seen[c].hashes = malloc((size_t)(cap ? cap : 1) * sizeof(uint64_t));
        seen[c].mask = size - 1;
        if (!seen[c].slots || !seen[c].hashes) {
            PyErr_NoMemory();
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *d = data.buf;
    int64_t *o = out.buf, *sp = spans.buf;
    for (; k < n_items; k++) {
        Py_ssize_t before = row;
        reason = item_rates(d, s[k], e[k], k, o, &row, cap, sp + 2 * k);
        if (reason) {
            row = before;
            break;
        }
        for (Py_ssize_t r = before; r < row; r++) {
            o[R_PRICES_SAME * cap + r] = same_as(&seen[0], d, o, cap, r, R_PRICES);
            o[R_REFS_SAME * cap + r] = same_as(&seen[1], d, o, cap, r, R_REFS);
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("nni", row, k, reason);
done:
    for (int c = 0; c < 2; c++) {
        free(seen[c].slots);
        free(seen[c].hashes);
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&out);
    PyBuffer_Release(&spans);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc}, {"rates", rates, METH_VARARGS, rates_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jsonscan",
                                    "The element scan of positions.py and the rate walk of rate_spans.py.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__jsonscan(void) {
    const char *plain = " \t\r\n,:0123456789+-.eEtruefalsn";
    for (const char *p = plain; *p; p++) classes[(uint8_t)*p] = PLAIN;
    classes['"'] = QUOTE;
    classes['{'] = OPEN;
    classes['['] = OPEN;
    classes['}'] = CLOSE;
    classes[']'] = CLOSE;
    for (const char *p = " \t\r\n"; *p; p++) spaces[(uint8_t)*p] = scalar_stops[(uint8_t)*p] = 1;
    for (const char *p = ",]}"; *p; p++) scalar_stops[(uint8_t)*p] = 1;
    return PyModule_Create(&module);
}
