/* Ingestion's compiled fast path: runs of common, valid records straight into a chunk.
 *
 * prepare.prepare_chunk hands a chunk's records to jsonl_run or csv_run with the chunk's state
 * (the set of event ids seen, the rows or COPY buffers, row line numbers, rows per day). Each
 * takes records from `start` for as long as every one is plainly valid and returns the index of
 * the first record it did not take: Python decides that one (validate_event, with its reason),
 * then calls again after it. A record is taken only when it is certain that
 * validate_event accepts it and gives the same row; anything unusual (an escape, a float that
 * would print differently, a duplicate key, a frozen day, a BOM, deep nesting, ...) stops the
 * run. analytics_pipeline_tests/ingestion/test_fast_path_property.py holds this to the Python
 * path, line by line, on hostile input.
 *
 * The rules are validate.fast_line_row's: SPEC section 2, for the shape of the common event.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
#define MAX_PROPERTIES_BYTES 16384
#define MAX_URL_PATH 2048
#define MAX_EVENT_NAME 128

/* ---- growable byte buffer (properties scratch, CSV fields) ---------------------------------- */

typedef struct {
    char *data;
    Py_ssize_t size;
    Py_ssize_t cap;
    Py_ssize_t limit;  /* the most it may hold */
} Buf;

/* Properties are refused by the rules beyond MAX_PROPERTIES_BYTES: the scratch holds one byte
 * more, so the general way says so, and memory stays small whatever the input. */
#define PROPERTIES_SCRATCH {NULL, 0, 0, MAX_PROPERTIES_BYTES + 1}

/* Appends; 0 done, 1 beyond its limit, -1 error set. */
static int buf_put(Buf *b, const char *s, Py_ssize_t n) {
    if (b->size + n > b->limit) return 1;
    if (b->size + n > b->cap) {
        Py_ssize_t cap = b->cap ? b->cap : 1024;
        while (cap < b->size + n) cap *= 2;
        char *data = PyMem_Realloc(b->data, cap);
        if (!data) {
            PyErr_NoMemory();
            return -1;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->size, s, n);
    b->size += n;
    return 0;
}

/* In a function returning 1 / 0 / -1: append, or return 0 (too long) or -1 (error). */
#define PUT(out, s, n)                       \
    do {                                     \
        int put_ = buf_put((out), (s), (n)); \
        if (put_) return put_ < 0 ? -1 : 0;  \
    } while (0)

/* ---- UTF-8 ------------------------------------------------------------------------------ */

/* Strict UTF-8, as bytes.decode("utf-8") checks it: no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static int valid_utf8(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
            if (c == 0xE0 && s[i + 1] < 0xA0) return 0;  /* overlong */
            if (c == 0xED && s[i + 1] > 0x9F) return 0;  /* surrogate */
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80
                || (s[i + 3] & 0xC0) != 0x80) return 0;
            if (c == 0xF0 && s[i + 1] < 0x90) return 0;  /* overlong */
            if (c == 0xF4 && s[i + 1] > 0x8F) return 0;  /* above U+10FFFF */
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* Code points in valid UTF-8 (what Python's len() counts). */
static Py_ssize_t code_points(const char *s, Py_ssize_t n) {
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

/* ---- JSON scanning (lines hold no backslash: no escapes to undo) ------------------------- */

typedef struct {
    const char *p;
    const char *end;
} Cur;

static void skip_ws(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* A string at c->p (at its opening quote): its bytes without quotes. 0: not a plain string. */
static int scan_string(Cur *c, const char **s, Py_ssize_t *n) {
    if (c->p >= c->end || *c->p != '"') return 0;
    const char *start = ++c->p;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            *s = start;
            *n = c->p - start;
            c->p++;
            return 1;
        }
        if (ch < 0x20 || ch == '\\') return 0;
        c->p++;
    }
    return 0;
}

static int scan_literal(Cur *c, const char *word, Py_ssize_t n) {
    if (c->end - c->p < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

/* A JSON number at c->p. *integer: no fraction or exponent. 0: not a JSON number, or one
 * orjson refuses (infinite as a double). */
static int scan_number(Cur *c, const char **s, Py_ssize_t *n, int *integer) {
    const char *start = c->p, *p = c->p, *end = c->end;
    *integer = 1;
    if (p < end && *p == '-') p++;
    if (p >= end) return 0;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return 0;
    }
    if (p < end && *p == '.') {
        *integer = 0;
        p++;
        if (p >= end || *p < '0' || *p > '9') return 0;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *integer = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return 0;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    Py_ssize_t len = p - start;
    if (len > 64) return 0;  /* long numbers go the general way */
    if (!*integer || len > 18) {
        char tmp[72];
        memcpy(tmp, start, len);
        tmp[len] = '\0';
        if (isinf(strtod(tmp, NULL))) return 0;
    }
    *s = start;
    *n = len;
    c->p = p;
    return 1;
}

/* A number exactly as orjson.dumps(orjson.loads(text)) prints it: integers of up to 18 digits
 * but -0, and decimals of up to 15 significant digits in [0.001, 1e15) written without an
 * exponent or trailing zeros (x.0 aside; then the shortest round-trip form is the text). */
static int canonical_number(const char *s, Py_ssize_t n, int integer) {
    const char *p = s, *end = s + n;
    if (*p == '-') p++;
    if (integer) return end - p <= 18 && !(n == 2 && s[0] == '-' && s[1] == '0');
    const char *dot = memchr(p, '.', end - p);
    if (!dot || memchr(p, 'e', end - p) || memchr(p, 'E', end - p)) return 0;
    const char *frac = dot + 1;
    Py_ssize_t frac_len = end - frac, int_len = dot - p, digits;
    if (frac_len == 1 && frac[0] == '0') {
        /* x.0: 0.0 (not -0.0) or an integer part of up to 15 digits */
        if (int_len == 1 && p[0] == '0') return s[0] != '-';
        return int_len <= 15;
    }
    if (end[-1] == '0') return 0;  /* 1.50 prints 1.5 */
    if (int_len == 1 && p[0] == '0') {
        if (frac_len >= 3 && frac[0] == '0' && frac[1] == '0' && frac[2] == '0') return 0;  /* < 0.001 */
        const char *q = frac;
        while (q < end && *q == '0') q++;
        digits = end - q;
    } else {
        digits = int_len + frac_len;
    }
    return int_len <= 15 && digits <= 15;
}

/* The JSON value at c->p, skipped; with `out`, also its canonical (orjson.dumps) text appended.
 * 1: done; 0: not a value this can take (invalid JSON, too deep, or, with `out`, one whose
 * canonical text this cannot reproduce exactly: the general way then decides); -1: error. */
static int scan_value(Cur *c, Buf *out, int depth);

/* Appends when there is an output; see PUT. */
#define EMIT(out, s, n)           \
    do {                          \
        if (out) PUT(out, s, n);  \
    } while (0)

static int scan_container(Cur *c, Buf *out, int depth, char close) {
    if (depth > MAX_DEPTH) return 0;
    /* key slices of this object, to refuse duplicate keys (orjson keeps the last value) */
    const char *keys[32];
    Py_ssize_t key_len[32];
    int nkeys = 0;
    char open = close == '}' ? '{' : '[';
    EMIT(out, &open, 1);
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        EMIT(out, &close, 1);
        return 1;
    }
    for (int first = 1;; first = 0) {
        if (!first) EMIT(out, ",", 1);
        if (close == '}') {
            const char *s;
            Py_ssize_t n;
            if (!scan_string(c, &s, &n)) return 0;
            if (out) {
                if (nkeys == 32) return 0;
                for (int k = 0; k < nkeys; k++)
                    if (key_len[k] == n && memcmp(keys[k], s, n) == 0) return 0;
                keys[nkeys] = s;
                key_len[nkeys++] = n;
                PUT(out, "\"", 1);
                PUT(out, s, n);
                PUT(out, "\":", 2);
            }
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return 0;
            c->p++;
            skip_ws(c);
        }
        int ok = scan_value(c, out, depth + 1);
        if (ok <= 0) return ok;
        skip_ws(c);
        if (c->p >= c->end) return 0;
        if (*c->p == ',') {
            c->p++;
            skip_ws(c);
            continue;
        }
        if (*c->p == close) {
            c->p++;
            EMIT(out, &close, 1);
            return 1;
        }
        return 0;
    }
}

static int scan_value(Cur *c, Buf *out, int depth) {
    if (c->p >= c->end) return 0;
    const char *s;
    Py_ssize_t n;
    int integer;
    const char *start = c->p;
    switch (*c->p) {
        case '{': return scan_container(c, out, depth, '}');
        case '[': return scan_container(c, out, depth, ']');
        case '"':
            if (!scan_string(c, &s, &n)) return 0;
            break;
        case 't':
            if (!scan_literal(c, "true", 4)) return 0;
            break;
        case 'f':
            if (!scan_literal(c, "false", 5)) return 0;
            break;
        case 'n':
            if (!scan_literal(c, "null", 4)) return 0;
            break;
        default:
            if (!scan_number(c, &s, &n, &integer) || (out && !canonical_number(s, n, integer))) return 0;
    }
    EMIT(out, start, c->p - start);
    return 1;
}

static int skip_value(Cur *c, int depth) { return scan_value(c, NULL, depth); }

/* ---- timestamps -------------------------------------------------------------------------- */

static int digits(const char *s, int n) {
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int num(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
    return v;
}

/* validate._fast_timestamp_text: "YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+00:00)", valid and within
 * [floor, limit], as the stored text "YYYY-MM-DD HH:MM:SS.ffffff" in out[26]. */
static int timestamp_text(const char *s, Py_ssize_t n, const char *limit, Py_ssize_t limit_len,
                          const char *floor, Py_ssize_t floor_len, char *out) {
    if (n < 16) return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    if (s[0] == '0' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':') return 0;
    if (!digits(s, 4) || !digits(s + 5, 2) || !digits(s + 8, 2) || !digits(s + 11, 2) || !digits(s + 14, 2))
        return 0;
    int year = num(s, 4), month = num(s + 5, 2), day = num(s + 8, 2);
    int hour = num(s + 11, 2), minute = num(s + 14, 2);
    static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59) return 0;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > days_in[month - 1] + (month == 2 && leap)) return 0;
    const char *rest = s + 16;
    Py_ssize_t rest_len = n - 16, body_len;
    if (rest_len >= 1 && rest[rest_len - 1] == 'Z') {
        body_len = rest_len - 1;
    } else if (rest_len >= 6 && memcmp(rest + rest_len - 6, "+00:00", 6) == 0) {
        body_len = rest_len - 6;
    } else {
        return 0;
    }
    const char *body = rest;
    if (body_len < 3 || body[0] != ':' || !digits(body + 1, 2) || num(body + 1, 2) > 59) return 0;
    memcpy(out, s, 10);
    out[10] = ' ';
    memcpy(out + 11, s + 11, 5);
    memcpy(out + 16, body, 3);
    out[19] = '.';
    if (body_len == 3) {
        memcpy(out + 20, "000000", 6);
    } else if (body_len >= 5 && body_len <= 10 && body[3] == '.' && digits(body + 4, (int)body_len - 4)) {
        memcpy(out + 20, body + 4, body_len - 4);
        memset(out + 20 + body_len - 4, '0', 6 - (body_len - 4));
    } else {
        return 0;
    }
    /* text > limit or text < floor: refused here (and by validate_event, with its reason) */
    Py_ssize_t m = limit_len < 26 ? limit_len : 26;
    int cmp = memcmp(out, limit, m);
    if (cmp > 0 || (cmp == 0 && 26 > limit_len)) return 0;
    if (floor_len) {
        m = floor_len < 26 ? floor_len : 26;
        cmp = memcmp(out, floor, m);
        if (cmp < 0 || (cmp == 0 && 26 < floor_len)) return 0;
    }
    return 1;
}

/* ---- one event ---------------------------------------------------------------------------- */

enum { F_EVENT_ID, F_WEBSITE_ID, F_SESSION_ID, F_VISITOR_ID, F_EVENT_TYPE, F_OCCURRED_AT, F_EVENT_NAME,
       F_URL_PATH, F_REFERRER, F_PROPERTIES, N_FIELDS };

static const char *FIELD_NAMES[N_FIELDS] = {"event_id", "website_id", "session_id", "visitor_id", "event_type",
                                            "occurred_at", "event_name", "url_path", "referrer", "properties"};

typedef struct {
    const char *s[N_FIELDS];  /* NULL: absent or null */
    Py_ssize_t n[N_FIELDS];
    const char *properties;  /* canonical JSON in scratch (n[F_PROPERTIES] bytes), or NULL */
} Event;

static int field_of(const char *s, Py_ssize_t n) {
    for (int f = 0; f < N_FIELDS; f++)
        if ((Py_ssize_t)strlen(FIELD_NAMES[f]) == n && memcmp(FIELD_NAMES[f], s, n) == 0) return f;
    return -1;
}

/* The event of one JSON line into *ev (strings point into the line). 1: parsed; 0: unusual;
 * -1: error set. */
static int parse_line(const char *line, Py_ssize_t len, Event *ev, Buf *scratch) {
    if (len && (unsigned char)line[0] == 0xEF) return 0;  /* a byte-order mark: Python strips it */
    if (memchr(line, '\\', len)) return 0;
    if (!valid_utf8((const unsigned char *)line, len)) return 0;
    Cur c = {line, line + len};
    unsigned seen = 0;
    memset(ev, 0, sizeof(*ev));
    scratch->size = 0;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') return 0;
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        return 0;  /* {} lacks every required field */
    }
    for (;;) {
        const char *key;
        Py_ssize_t key_len;
        if (!scan_string(&c, &key, &key_len)) return 0;
        skip_ws(&c);
        if (c.p >= c.end || *c.p != ':') return 0;
        c.p++;
        skip_ws(&c);
        int f = field_of(key, key_len);
        if (f < 0) {
            if (!skip_value(&c, 1)) return 0;
        } else {
            if (seen & (1u << f)) return 0;  /* a repeated field: the general way */
            seen |= 1u << f;
            if (c.p < c.end && *c.p == 'n') {
                if (!scan_literal(&c, "null", 4)) return 0;
            } else if (f == F_PROPERTIES) {
                if (c.p >= c.end || *c.p != '{') return 0;
                int ok = scan_value(&c, scratch, 1);
                if (ok <= 0) return ok;
                ev->properties = scratch->data;
                ev->n[f] = scratch->size;
            } else {
                if (!scan_string(&c, &ev->s[f], &ev->n[f])) return 0;
            }
        }
        skip_ws(&c);
        if (c.p >= c.end) return 0;
        if (*c.p == ',') {
            c.p++;
            skip_ws(&c);
            continue;
        }
        if (*c.p != '}') return 0;
        c.p++;
        break;
    }
    skip_ws(&c);
    return c.p == c.end;
}

/* ---- the chunk's state ---------------------------------------------------------------------- */

typedef struct {
    int postgres;
    const char *limit, *floor;
    Py_ssize_t limit_len, floor_len;
    PyObject *frozen;      /* frozenset of UTC days, or NULL */
    PyObject *seen;        /* set of event ids */
    PyObject *row_lines;   /* list */
    PyObject *day_counts;  /* dict */
    PyObject *rows;        /* list (SQLite) */
    PyObject *copy;        /* bytearray (PostgreSQL) */
    PyObject *keys;        /* bytearray (PostgreSQL) */
    PyObject *referrers;   /* dict: validate._REFERRER_CACHE */
    PyObject *normalise;   /* validate.normalise_referrer */
    /* rows of the current day not yet added to day_counts */
    char day[10];
    PyObject *day_obj;
    long day_pending;
} State;

static PyObject *pageview_str, *custom_str;

static int flush_day(State *st) {
    if (!st->day_obj) return 0;
    PyObject *old = PyDict_GetItemWithError(st->day_counts, st->day_obj);
    if (!old && PyErr_Occurred()) return -1;
    long total = st->day_pending + (old ? PyLong_AsLong(old) : 0);
    PyObject *value = PyLong_FromLong(total);
    int rc = value ? PyDict_SetItem(st->day_counts, st->day_obj, value) : -1;
    Py_XDECREF(value);
    Py_CLEAR(st->day_obj);
    st->day_pending = 0;
    return rc;
}

/* The day's str object (cached while the day repeats). Borrowed. */
static PyObject *day_of(State *st, const char *ts) {
    if (st->day_obj && memcmp(st->day, ts, 10) == 0) return st->day_obj;
    if (flush_day(st) < 0) return NULL;
    st->day_obj = PyUnicode_FromStringAndSize(ts, 10);
    if (!st->day_obj) return NULL;
    memcpy(st->day, ts, 10);
    return st->day_obj;
}

static int append_bytes(PyObject *array, const char *s, Py_ssize_t n) {
    Py_ssize_t size = PyByteArray_GET_SIZE(array);
    if (PyByteArray_Resize(array, size + n) < 0) return -1;
    memcpy(PyByteArray_AS_STRING(array) + size, s, n);
    return 0;
}

/* ---- binary COPY ---------------------------------------------------------------------------
 * A row is a 16-bit field count, then per field a 32-bit length (-1: null) and its bytes, all
 * big-endian. An event row in a chunk holds its first 10 columns under a count of 13: the
 * loader adds ingested_at, source_file and batch_id to each (copy_stream). A timestamptz is
 * 64-bit microseconds since 2000-01-01 00:00 UTC, a jsonb is the byte 1 and the JSON text. */

static int put_be(PyObject *array, unsigned long long value, int bytes) {
    char b[8];
    for (int i = 0; i < bytes; i++) b[i] = (char)(value >> (8 * (bytes - 1 - i)));
    return append_bytes(array, b, bytes);
}

static int put_field(PyObject *array, const char *s, Py_ssize_t n) {
    if (!s) return put_be(array, 0xFFFFFFFFu, 4);
    if (put_be(array, (unsigned long long)n, 4) < 0) return -1;
    return append_bytes(array, s, n);
}

static long long days_from_civil(long long y, int m, int d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD HH:MM:SS.ffffff" (UTC) as PostgreSQL's binary timestamptz */
static int put_timestamp(PyObject *array, const char *ts) {
    long long days = days_from_civil(num(ts, 4), num(ts + 5, 2), num(ts + 8, 2)) - 10957;  /* 2000-01-01 */
    long long seconds = ((days * 24 + num(ts + 11, 2)) * 60 + num(ts + 14, 2)) * 60 + num(ts + 17, 2);
    if (put_be(array, 8, 4) < 0) return -1;
    return put_be(array, (unsigned long long)(seconds * 1000000 + num(ts + 20, 6)), 8);
}

static PyObject *str_or_none(const char *s, Py_ssize_t n) {
    if (!s) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, n, NULL);
}

/* Values of one event, validated: 1 taken (or a duplicate skipped), 0 unusual, -1 error.
 * `ev` holds UTF-8 slices; `line` is the record's line number object. */
static int take_event(State *st, Event *ev, PyObject *line) {
    static const Py_ssize_t max_id[4] = {128, 64, 128, 128};
    for (int f = F_EVENT_ID; f <= F_VISITOR_ID; f++) {
        if (!ev->s[f] || ev->n[f] == 0) return 0;
        if (ev->n[f] > max_id[f] && code_points(ev->s[f], ev->n[f]) > max_id[f]) return 0;
        if (memchr(ev->s[f], '\0', ev->n[f])) return 0;
    }
    const char *type = ev->s[F_EVENT_TYPE];
    Py_ssize_t type_len = ev->n[F_EVENT_TYPE];
    int pageview;
    if (type && type_len == 8 && memcmp(type, "pageview", 8) == 0) {
        pageview = 1;
    } else if (type && type_len == 6 && memcmp(type, "custom", 6) == 0) {
        pageview = 0;
    } else {
        return 0;
    }
    const char *name = ev->s[F_EVENT_NAME];
    if (name) {
        if (ev->n[F_EVENT_NAME] == 0 || memchr(name, '\0', ev->n[F_EVENT_NAME])) return 0;
        if (ev->n[F_EVENT_NAME] > MAX_EVENT_NAME && code_points(name, ev->n[F_EVENT_NAME]) > MAX_EVENT_NAME)
            return 0;
    }
    if (pageview) {
        name = NULL;  /* ignored by the rules */
        if (!ev->s[F_URL_PATH]) return 0;
    } else if (!name) {
        return 0;
    }
    const char *path = ev->s[F_URL_PATH];
    Py_ssize_t path_len = ev->n[F_URL_PATH];
    if (path) {
        if (path_len == 0 || path[0] != '/' || memchr(path, '\0', path_len)) return 0;
        if (path_len > MAX_URL_PATH && code_points(path, path_len) > MAX_URL_PATH) return 0;
    }
    if (ev->s[F_REFERRER] && memchr(ev->s[F_REFERRER], '\0', ev->n[F_REFERRER])) return 0;
    if (!ev->s[F_OCCURRED_AT]) return 0;
    char ts[26];
    if (!timestamp_text(ev->s[F_OCCURRED_AT], ev->n[F_OCCURRED_AT], st->limit, st->limit_len, st->floor,
                        st->floor_len, ts))
        return 0;
    if (ev->properties) {
        if (ev->n[F_PROPERTIES] > MAX_PROPERTIES_BYTES) return 0;
        /* "ip" and "context" (which may hold an ip) at the top: strip_ip's work, in Python */
        Cur c = {ev->properties + 1, ev->properties + ev->n[F_PROPERTIES]};
        while (c.p < c.end && *c.p == '"') {
            const char *key;
            Py_ssize_t key_len;
            if (!scan_string(&c, &key, &key_len)) return 0;
            if ((key_len == 2 && memcmp(key, "ip", 2) == 0) || (key_len == 7 && memcmp(key, "context", 7) == 0))
                return 0;
            c.p++;  /* ':' */
            if (!skip_value(&c, 1)) return 0;
            if (c.p < c.end && *c.p == ',') c.p++;
        }
    }

    /* Frozen day: validate_event's path rejects it with its reason. */
    PyObject *day = day_of(st, ts);
    if (!day) return -1;
    if (st->frozen) {
        int frozen = PySet_Contains(st->frozen, day);
        if (frozen < 0) return -1;
        if (frozen) return 0;
    }

    PyObject *event_id = PyUnicode_DecodeUTF8(ev->s[F_EVENT_ID], ev->n[F_EVENT_ID], NULL);
    if (!event_id) return -1;
    int dup = PySet_Contains(st->seen, event_id);
    if (dup != 0) {
        Py_DECREF(event_id);
        return dup < 0 ? -1 : 1;  /* a repeat of the chunk: first one wins */
    }
    if (PySet_Add(st->seen, event_id) < 0) goto fail_id;

    /* the referrer, normalised as validate.normalise_referrer does (its cache first) */
    PyObject *referrer = NULL;
    if (ev->s[F_REFERRER]) {
        PyObject *raw = PyUnicode_DecodeUTF8(ev->s[F_REFERRER], ev->n[F_REFERRER], NULL);
        if (!raw) goto fail_id;
        referrer = PyDict_GetItemWithError(st->referrers, raw);
        if (referrer) {
            Py_INCREF(referrer);
        } else if (PyErr_Occurred()) {
            Py_DECREF(raw);
            goto fail_id;
        } else {
            referrer = PyObject_CallOneArg(st->normalise, raw);
            if (!referrer) {
                Py_DECREF(raw);
                goto fail_id;
            }
        }
        Py_DECREF(raw);
        if (referrer == Py_None) Py_CLEAR(referrer);
        else if (!PyUnicode_Check(referrer)) {
            Py_DECREF(referrer);
            PyErr_SetString(PyExc_TypeError, "normalise_referrer returned neither str nor None");
            goto fail_id;
        }
    }

    if (PyList_Append(st->row_lines, line) < 0) goto fail_ref;
    st->day_pending++;

    if (st->postgres) {
        PyObject *copy = st->copy;
        const char *ref = NULL;
        Py_ssize_t ref_len = 0;
        if (referrer && !(ref = PyUnicode_AsUTF8AndSize(referrer, &ref_len))) goto fail_ref;
        const char *values[8] = {ev->s[F_EVENT_ID], ev->s[F_WEBSITE_ID], ev->s[F_SESSION_ID], ev->s[F_VISITOR_ID],
                                 pageview ? "pageview" : "custom", name, path, ref};
        Py_ssize_t sizes[8] = {ev->n[F_EVENT_ID], ev->n[F_WEBSITE_ID], ev->n[F_SESSION_ID], ev->n[F_VISITOR_ID],
                               pageview ? 8 : 6, ev->n[F_EVENT_NAME], path_len, ref_len};
        if (put_be(copy, 13, 2) < 0) goto fail_ref;
        for (int i = 0; i < 8; i++)
            if (put_field(copy, values[i], sizes[i]) < 0) goto fail_ref;
        if (put_timestamp(copy, ts) < 0) goto fail_ref;
        if (!ev->properties ? put_be(copy, 0xFFFFFFFFu, 4) < 0
                            : put_be(copy, (unsigned long long)ev->n[F_PROPERTIES] + 1, 4) < 0
                                  || append_bytes(copy, "\x01", 1) < 0
                                  || append_bytes(copy, ev->properties, ev->n[F_PROPERTIES]) < 0)
            goto fail_ref;
        if (put_be(st->keys, 2, 2) < 0 || put_field(st->keys, ev->s[F_EVENT_ID], ev->n[F_EVENT_ID]) < 0
            || put_timestamp(st->keys, ts) < 0)
            goto fail_ref;
        Py_XDECREF(referrer);
        Py_DECREF(event_id);
        return 1;
    }

    PyObject *row = PyTuple_New(10);
    if (!row) goto fail_ref;
    PyTuple_SET_ITEM(row, 0, event_id);  /* stolen */
    PyObject *items[9];
    items[0] = PyUnicode_DecodeUTF8(ev->s[F_WEBSITE_ID], ev->n[F_WEBSITE_ID], NULL);
    items[1] = PyUnicode_DecodeUTF8(ev->s[F_SESSION_ID], ev->n[F_SESSION_ID], NULL);
    items[2] = PyUnicode_DecodeUTF8(ev->s[F_VISITOR_ID], ev->n[F_VISITOR_ID], NULL);
    items[3] = Py_NewRef(pageview ? pageview_str : custom_str);
    items[4] = str_or_none(name, ev->n[F_EVENT_NAME]);
    items[5] = str_or_none(path, path_len);
    items[6] = referrer ? referrer : Py_NewRef(Py_None);
    items[7] = PyUnicode_FromStringAndSize(ts, 26);
    items[8] = str_or_none(ev->properties, ev->n[F_PROPERTIES]);
    int failed = 0;
    for (int i = 0; i < 9; i++) {
        if (!items[i]) {
            failed = 1;
            items[i] = Py_NewRef(Py_None);
        }
        PyTuple_SET_ITEM(row, i + 1, items[i]);
    }
    if (failed || PyList_Append(st->rows, row) < 0) {
        Py_DECREF(row);
        return -1;
    }
    Py_DECREF(row);
    return 1;

fail_ref:
    Py_XDECREF(referrer);
fail_id:
    Py_DECREF(event_id);
    return -1;
}

/* ---- the entry points --------------------------------------------------------------------- */

static int state_from(State *st, PyObject *const *args) {
    /* args: postgres, limit, floor, frozen, seen, row_lines, day_counts, rows, copy, keys,
     *       referrers, normalise */
    memset(st, 0, sizeof(*st));
    st->postgres = PyObject_IsTrue(args[0]);
    if (st->postgres < 0) return -1;
    if (!(st->limit = PyUnicode_AsUTF8AndSize(args[1], &st->limit_len))) return -1;
    if (!(st->floor = PyUnicode_AsUTF8AndSize(args[2], &st->floor_len))) return -1;
    st->frozen = NULL;
    if (args[3] != Py_None) {
        if (!PyAnySet_Check(args[3])) {
            PyErr_SetString(PyExc_TypeError, "frozen must be a set of days or None");
            return -1;
        }
        if (PySet_GET_SIZE(args[3]) > 0) st->frozen = args[3];
    }
    st->seen = args[4];
    st->row_lines = args[5];
    st->day_counts = args[6];
    st->rows = args[7];
    st->copy = args[8];
    st->keys = args[9];
    st->referrers = args[10];
    st->normalise = args[11];
    if (!PyAnySet_Check(st->seen) || !PyList_Check(st->row_lines) || !PyDict_Check(st->day_counts)
        || !PyDict_Check(st->referrers) || (st->frozen && !PyAnySet_Check(st->frozen))) {
        PyErr_SetString(PyExc_TypeError, "unexpected state types");
        return -1;
    }
    if (st->postgres ? !PyByteArray_Check(st->copy) || !PyByteArray_Check(st->keys) : !PyList_Check(st->rows)) {
        PyErr_SetString(PyExc_TypeError, "unexpected output types");
        return -1;
    }
    return 0;
}

#define N_STATE_ARGS 12

static PyObject *finish(State *st, Py_ssize_t index) {
    if (flush_day(st) < 0) return NULL;
    return PyLong_FromSsize_t(index);
}

/* jsonl_run(records, start, *state) -> index of the first record not taken */
static PyObject *jsonl_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 + N_STATE_ARGS) {
        PyErr_SetString(PyExc_TypeError, "jsonl_run: wrong number of arguments");
        return NULL;
    }
    PyObject *records = args[0];
    if (!PyList_Check(records)) {
        PyErr_SetString(PyExc_TypeError, "records must be a list");
        return NULL;
    }
    Py_ssize_t index = PyLong_AsSsize_t(args[1]);
    if (index == -1 && PyErr_Occurred()) return NULL;
    State st;
    if (state_from(&st, args + 2) < 0) return NULL;
    /* properties' canonical text; one per call: normalise_referrer (Python) may let another
     * thread run in between */
    Buf scratch = PROPERTIES_SCRATCH;
    Event ev;
    for (; index < PyList_GET_SIZE(records); index++) {
        PyObject *record = PyList_GET_ITEM(records, index);
        if (!PyTuple_Check(record) || PyTuple_GET_SIZE(record) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(record, 1)))
            break;
        PyObject *payload = PyTuple_GET_ITEM(record, 1);
        int ok = parse_line(PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), &ev, &scratch);
        if (ok > 0) ok = take_event(&st, &ev, PyTuple_GET_ITEM(record, 0));
        if (ok < 0) {
            PyMem_Free(scratch.data);
            Py_CLEAR(st.day_obj);
            return NULL;
        }
        if (ok == 0) break;
    }
    PyMem_Free(scratch.data);
    return finish(&st, index);
}

/* csv_run(records, start, columns, width, *state): columns[f] is the index of field f's cell
 * (-1: no such column), width the header's length. */
static PyObject *csv_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 + N_STATE_ARGS) {
        PyErr_SetString(PyExc_TypeError, "csv_run: wrong number of arguments");
        return NULL;
    }
    PyObject *records = args[0];
    PyObject *columns = args[2];
    if (!PyList_Check(records) || !PyTuple_Check(columns) || PyTuple_GET_SIZE(columns) != N_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "records must be a list, columns a tuple of 10");
        return NULL;
    }
    Py_ssize_t index = PyLong_AsSsize_t(args[1]);
    if (index == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t width = PyLong_AsSsize_t(args[3]);
    if (width == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t column[N_FIELDS];
    for (int f = 0; f < N_FIELDS; f++) {
        column[f] = PyLong_AsSsize_t(PyTuple_GET_ITEM(columns, f));
        if (column[f] == -1 && PyErr_Occurred()) return NULL;
    }
    State st;
    if (state_from(&st, args + 4) < 0) return NULL;
    Buf scratch = PROPERTIES_SCRATCH;  /* one per call, as in jsonl_run */
    Event ev;
    for (; index < PyList_GET_SIZE(records); index++) {
        PyObject *record = PyList_GET_ITEM(records, index);
        if (!PyTuple_Check(record) || PyTuple_GET_SIZE(record) != 2 || !PyList_Check(PyTuple_GET_ITEM(record, 1)))
            break;
        PyObject *cells = PyTuple_GET_ITEM(record, 1);
        if (PyList_GET_SIZE(cells) != width) break;
        memset(&ev, 0, sizeof(ev));
        int ok = 1;
        /* every cell must be valid UTF-8 (cells with undecodable bytes hold surrogates) */
        for (Py_ssize_t i = 0; i < width && ok; i++) {
            PyObject *cell = PyList_GET_ITEM(cells, i);
            if (!PyUnicode_Check(cell)) {
                ok = 0;
                break;
            }
            Py_ssize_t n;
            const char *s = PyUnicode_AsUTF8AndSize(cell, &n);
            if (!s) {
                PyErr_Clear();  /* a lone surrogate: "line is not valid UTF-8", in Python */
                ok = 0;
                break;
            }
            if (memchr(s, '\0', n)) ok = 0;
        }
        for (int f = 0; f < N_FIELDS && ok; f++) {
            if (column[f] < 0) continue;
            Py_ssize_t n;
            const char *s = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(cells, column[f]), &n);
            if (!s) goto error;
            if (n == 0) continue;  /* an empty cell is null */
            if (f == F_PROPERTIES) {
                if (memchr(s, '\\', n)) {
                    ok = 0;
                    break;
                }
                Cur c = {s, s + n};
                scratch.size = 0;
                skip_ws(&c);
                if (c.p >= c.end || *c.p != '{') {
                    ok = 0;
                    break;
                }
                ok = scan_value(&c, &scratch, 1);
                if (ok < 0) goto error;
                skip_ws(&c);
                if (ok && c.p != c.end) ok = 0;
                ev.properties = scratch.data;
                ev.n[f] = scratch.size;
            } else {
                ev.s[f] = s;
                ev.n[f] = n;
            }
        }
        if (ok) ok = take_event(&st, &ev, PyTuple_GET_ITEM(record, 0));
        if (ok < 0) goto error;
        if (ok == 0) break;
    }
    PyMem_Free(scratch.data);
    return finish(&st, index);

error:
    PyMem_Free(scratch.data);
    Py_CLEAR(st.day_obj);
    return NULL;
}

/* copy_stream(data, present, tail, lo, hi) -> (bytes, rows): a whole binary COPY stream (header,
 * rows, trailer) of the rows lo..hi (hi < 0: to the end) of `data` (binary rows of `present`
 * fields each, as take_event writes them), each followed by `tail` (the fields the loader
 * adds), and how many rows it holds. */
static const char COPY_HEADER[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static Py_ssize_t row_end(const unsigned char *d, Py_ssize_t n, Py_ssize_t pos, long present) {
    if (pos + 2 > n) return -1;
    pos += 2;
    for (long f = 0; f < present; f++) {
        if (pos + 4 > n) return -1;
        long long len = (long long)(((unsigned long)d[pos] << 24) | ((unsigned long)d[pos + 1] << 16)
                                    | ((unsigned long)d[pos + 2] << 8) | d[pos + 3]);
        pos += 4;
        if (len == 0xFFFFFFFFLL) continue;
        if (len > n - pos) return -1;
        pos += (Py_ssize_t)len;
    }
    return pos;
}

static PyObject *copy_stream(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "copy_stream(data: bytes-like, present: int, tail: bytes, lo: int, hi: int)");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *d = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    long present = PyLong_AsLong(args[1]);
    const char *tail = PyBytes_AS_STRING(args[2]);
    Py_ssize_t tail_len = PyBytes_GET_SIZE(args[2]);
    Py_ssize_t lo = PyLong_AsSsize_t(args[3]), hi = PyLong_AsSsize_t(args[4]);
    PyObject *out = NULL;
    if (PyErr_Occurred()) goto done;
    /* where rows lo and hi start */
    Py_ssize_t pos = 0, row = 0, start = -1, end;
    while (pos < n && (hi < 0 || row < hi)) {
        if (row == lo) start = pos;
        Py_ssize_t next = row_end(d, n, pos, present);
        if (next < 0) {
            PyErr_SetString(PyExc_ValueError, "copy_stream: data is not whole binary COPY rows");
            goto done;
        }
        pos = next;
        row++;
    }
    if (start < 0) start = pos;
    end = pos;
    Py_ssize_t rows = row > lo ? row - lo : 0;
    PyObject *stream = PyBytes_FromStringAndSize(NULL, 19 + (end - start) + rows * tail_len + 2);
    if (!stream) goto done;
    char *o = PyBytes_AS_STRING(stream);
    memcpy(o, COPY_HEADER, 19);
    o += 19;
    for (pos = start; pos < end;) {
        Py_ssize_t next = row_end(d, n, pos, present);
        memcpy(o, d + pos, next - pos);
        o += next - pos;
        memcpy(o, tail, tail_len);
        o += tail_len;
        pos = next;
    }
    o[0] = (char)0xFF;
    o[1] = (char)0xFF;
    out = Py_BuildValue("(Nn)", stream, rows);
done:
    PyBuffer_Release(&view);
    return out;
}

/* ---- JSON lines from bytes ------------------------------------------------------------------
 *
 * jsonl_records(data, pos, line_num, max_records, final, skip_through) -> (records, pos, line_num)
 *
 * The (line number, line) records that readers.iter_jsonl yields (a line ends after "\n"; one
 * holding only ASCII whitespace is left out), read from data[pos:]: at most max_records of them
 * (-1: no limit), lines up to skip_through left out. Without final, a last line that has no
 * "\n" yet is left for the next call, which starts from the returned pos and line_num. */
static int line_blank(const char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\x0b' && c != '\x0c') return 0;
    }
    return 1;
}

static PyObject *jsonl_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "jsonl_records(data: bytes, pos, line_num, max_records, final, skip_through)");
        return NULL;
    }
    const char *d = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t line_num = PyLong_AsSsize_t(args[2]);
    Py_ssize_t max_records = PyLong_AsSsize_t(args[3]);
    int final = PyObject_IsTrue(args[4]);
    Py_ssize_t skip_through = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred()) return NULL;
    if (pos < 0 || pos > n) {
        PyErr_SetString(PyExc_ValueError, "pos outside data");
        return NULL;
    }
    PyObject *records = PyList_New(0);
    if (!records) return NULL;
    Py_ssize_t taken = 0;
    while (pos < n && (max_records < 0 || taken < max_records)) {
        const char *nl = memchr(d + pos, '\n', n - pos);
        Py_ssize_t end = nl ? nl - d + 1 : n;
        if (!nl && !final) break;
        line_num++;
        if (line_num > skip_through && (d[pos] == '{' || !line_blank(d + pos, end - pos))) {
            PyObject *record = Py_BuildValue("(ny#)", line_num, d + pos, end - pos);
            if (!record || PyList_Append(records, record) < 0) {
                Py_XDECREF(record);
                Py_DECREF(records);
                return NULL;
            }
            Py_DECREF(record);
            taken++;
        }
        pos = end;
    }
    return Py_BuildValue("(Nnn)", records, pos, line_num);
}

/* ---- CSV records from bytes: the csv module's reader, in one pass -------------------------
 *
 * csv_records(data, pos, final, line_num, limit, max_results, keep_blank, marker)
 *   -> (results, pos, line_num)
 *
 * What csv.reader(TextIOWrapper(file, "utf-8", errors="surrogateescape", newline=""),
 * strict=False) yields, read from data[pos:] (the excel dialect: comma, double quote, doubled
 * quotes, no escape character). A physical line ends at "\n", "\r\n" or a lone "\r" (as the
 * TextIOWrapper splits them); line_num counts the physical lines read, as reader.line_num does.
 * Each result is (first line, cells) for a record, cells decoded as the TextIOWrapper would;
 * a record the csv module refuses (a field over `limit`, counted here in bytes) is
 * (first line, [marker, the csv module's message]), and the rest of its physical line is
 * skipped, as csv.reader does. Records that are empty or only whitespace are left out unless
 * keep_blank. It stops after max_results (-1: no limit), or, when not final, before a record
 * that data does not hold to its end: the caller reads on and calls again from the returned
 * pos and line_num. readers.iter_csv uses it; test_csv_reader_property.py holds it to the
 * csv module on hostile input. */

enum { START_RECORD, START_FIELD, IN_FIELD, IN_QUOTED_FIELD, QUOTE_IN_QUOTED_FIELD, EAT_CRNL };

/* The field so far appended to cells as str; 0 done, -1 error set. */
static int field_save(Buf *f, PyObject *cells) {
    PyObject *cell = PyUnicode_DecodeUTF8(f->data ? f->data : "", f->size, "surrogateescape");
    f->size = 0;
    if (!cell) return -1;
    int rc = PyList_Append(cells, cell);
    Py_DECREF(cell);
    return rc;
}

/* 1 when some cell holds a character that is not whitespace (str.strip would leave it) */
static int cells_not_blank(PyObject *cells) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(cells); i++) {
        PyObject *cell = PyList_GET_ITEM(cells, i);
        int kind = PyUnicode_KIND(cell);
        const void *chars = PyUnicode_DATA(cell);
        for (Py_ssize_t k = 0; k < PyUnicode_GET_LENGTH(cell); k++)
            if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, chars, k))) return 1;
    }
    return 0;
}

static PyObject *csv_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "csv_records(data: bytes, pos, final, line_num, limit, max_results, keep_blank, marker)");
        return NULL;
    }
    const char *d = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    int final = PyObject_IsTrue(args[2]);
    Py_ssize_t line_num = PyLong_AsSsize_t(args[3]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[4]);
    Py_ssize_t max_results = PyLong_AsSsize_t(args[5]);
    int keep_blank = PyObject_IsTrue(args[6]);
    PyObject *marker = args[7];
    if (PyErr_Occurred()) return NULL;
    if (pos < 0 || pos > n) {
        PyErr_SetString(PyExc_ValueError, "pos outside data");
        return NULL;
    }
    PyObject *results = PyList_New(0);
    if (!results) return NULL;
    Buf field = {NULL, 0, 0, limit};
    PyObject *cells = NULL;
    Py_ssize_t taken = 0;
    while (max_results < 0 || taken < max_results) {
        Py_ssize_t record_pos = pos, record_line = line_num;
        int state = START_RECORD;
        const char *error = NULL;
        field.size = 0;
        cells = PyList_New(0);
        if (!cells) goto fail;
        for (;;) {  /* one physical line per turn */
            if (pos >= n) {
                if (!final) goto need_more;
                /* end of data: a quoted field still open is the record's last (strict=False) */
                if (field.size != 0 || state == IN_QUOTED_FIELD) {
                    if (field_save(&field, cells) < 0) goto fail;
                    break;
                }
                Py_CLEAR(cells);
                goto done;
            }
            /* the line: up to and including its terminator */
            Py_ssize_t end = pos;
            while (end < n && d[end] != '\n' && d[end] != '\r') end++;
            if (end == n) {
                if (!final) goto need_more;
            } else if (d[end] == '\r') {
                if (end + 1 == n && !final) goto need_more;  /* "\r" or "\r\n": read on */
                end += (end + 1 < n && d[end + 1] == '\n') ? 2 : 1;
            } else {
                end += 1;
            }
            line_num++;
            Py_ssize_t i = pos;
            while (i < end && !error) {
                unsigned char c = (unsigned char)d[i];
                int put = 0;
                switch (state) {
                case START_RECORD:
                    if (c == '\n' || c == '\r') {
                        state = EAT_CRNL;
                        i++;
                        break;
                    }
                    state = START_FIELD;
                    /* fall through */
                case START_FIELD:
                    if (c == '\n' || c == '\r') {
                        if (field_save(&field, cells) < 0) goto fail;
                        state = EAT_CRNL;
                        i++;
                    } else if (c == '"') {
                        state = IN_QUOTED_FIELD;
                        i++;
                    } else if (c == ',') {
                        if (field_save(&field, cells) < 0) goto fail;
                        i++;
                    } else {
                        state = IN_FIELD;  /* the character is the field's first, below */
                    }
                    break;
                case IN_FIELD: {
                    Py_ssize_t j = i;
                    while (j < end && d[j] != ',' && d[j] != '\n' && d[j] != '\r') j++;
                    put = buf_put(&field, d + i, j - i);
                    if (put) break;
                    i = j;
                    if (i < end) {
                        if (field_save(&field, cells) < 0) goto fail;
                        state = d[i] == ',' ? START_FIELD : EAT_CRNL;
                        i++;
                    }
                    break;
                }
                case IN_QUOTED_FIELD: {
                    const char *q = memchr(d + i, '"', end - i);
                    Py_ssize_t j = q ? q - d : end;
                    put = buf_put(&field, d + i, j - i);
                    if (put) break;
                    i = j;
                    if (i < end) {
                        state = QUOTE_IN_QUOTED_FIELD;
                        i++;
                    }
                    break;
                }
                case QUOTE_IN_QUOTED_FIELD:
                    if (c == '"') {
                        put = buf_put(&field, "\"", 1);
                        state = IN_QUOTED_FIELD;
                    } else if (c == ',') {
                        if (field_save(&field, cells) < 0) goto fail;
                        state = START_FIELD;
                    } else if (c == '\n' || c == '\r') {
                        if (field_save(&field, cells) < 0) goto fail;
                        state = EAT_CRNL;
                    } else {
                        put = buf_put(&field, (const char *)d + i, 1);
                        state = IN_FIELD;
                    }
                    if (!put) i++;
                    break;
                default: /* EAT_CRNL */
                    if (c == '\n' || c == '\r')
                        i++;
                    else
                        error = "new-line character seen in unquoted field - do you need to open the file with newline=''?";
                    break;
                }
                if (put < 0) goto fail;
                if (put) error = "";  /* over the limit: the message is made below */
            }
            pos = end;
            if (error) break;  /* the rest of the line is skipped */
            /* the end of the line */
            if (state == START_FIELD || state == IN_FIELD || state == QUOTE_IN_QUOTED_FIELD) {
                if (field_save(&field, cells) < 0) goto fail;
                state = START_RECORD;
            } else if (state == EAT_CRNL) {
                state = START_RECORD;
            }
            if (state == START_RECORD) break;
        }
        PyObject *result;
        if (error) {
            Py_CLEAR(cells);
            PyObject *message = *error ? PyUnicode_FromString(error)
                                       : PyUnicode_FromFormat("field larger than field limit (%zd)", limit);
            cells = message ? PyList_New(2) : NULL;
            if (!cells) {
                Py_XDECREF(message);
                goto fail;
            }
            Py_INCREF(marker);
            PyList_SET_ITEM(cells, 0, marker);
            PyList_SET_ITEM(cells, 1, message);
        } else if (!keep_blank && (PyList_GET_SIZE(cells) == 0 || !cells_not_blank(cells))) {
            Py_CLEAR(cells);
            taken++;
            continue;
        }
        result = Py_BuildValue("(nN)", record_line + 1, cells);
        cells = NULL;
        if (!result) goto fail;
        int rc = PyList_Append(results, result);
        Py_DECREF(result);
        if (rc < 0) goto fail;
        taken++;
        continue;
    need_more:
        pos = record_pos;
        line_num = record_line;
        Py_CLEAR(cells);
        goto done;
    }
done:
    PyMem_Free(field.data);
    return Py_BuildValue("(Nnn)", results, pos, line_num);
fail:
    Py_XDECREF(cells);
    Py_DECREF(results);
    PyMem_Free(field.data);
    return NULL;
}

/* parse_only(records) -> records parsed: the parsing half of jsonl_run / csv_run alone (JSON
 * scanned, properties made canonical; CSV cells made UTF-8), for the benchmark's split of CPU
 * time between parsing and validation. */
static PyObject *parse_only(PyObject *self, PyObject *records) {
    if (!PyList_Check(records)) {
        PyErr_SetString(PyExc_TypeError, "records must be a list");
        return NULL;
    }
    Py_ssize_t parsed = 0;
    Buf scratch = PROPERTIES_SCRATCH;
    Event ev;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(records); i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        if (!PyTuple_Check(record) || PyTuple_GET_SIZE(record) != 2) continue;
        PyObject *payload = PyTuple_GET_ITEM(record, 1);
        if (PyBytes_Check(payload)) {
            int ok = parse_line(PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), &ev, &scratch);
            if (ok < 0) {
                PyMem_Free(scratch.data);
                return NULL;
            }
            parsed += ok;
        } else if (PyList_Check(payload)) {
            int ok = 1;
            for (Py_ssize_t k = 0; k < PyList_GET_SIZE(payload) && ok; k++) {
                PyObject *cell = PyList_GET_ITEM(payload, k);
                Py_ssize_t n;
                if (!PyUnicode_Check(cell) || !PyUnicode_AsUTF8AndSize(cell, &n)) {
                    PyErr_Clear();
                    ok = 0;
                }
            }
            parsed += ok;
        }
    }
    PyMem_Free(scratch.data);
    return PyLong_FromSsize_t(parsed);
}

static PyMethodDef methods[] = {
    {"parse_only", (PyCFunction)parse_only, METH_O,
     "parse_only(records) -> records parsed (the parsing half alone, for benchmarks)"},
    {"jsonl_run", (PyCFunction)(void (*)(void))jsonl_run, METH_FASTCALL,
     "jsonl_run(records, start, postgres, limit, floor, frozen, seen, row_lines, day_counts, rows, copy, keys, "
     "referrers, normalise) -> index of the first record not taken"},
    {"csv_run", (PyCFunction)(void (*)(void))csv_run, METH_FASTCALL,
     "csv_run(records, start, columns, width, postgres, limit, floor, frozen, seen, row_lines, day_counts, rows, "
     "copy, keys, referrers, normalise) -> index of the first record not taken"},
    {"copy_stream", (PyCFunction)(void (*)(void))copy_stream, METH_FASTCALL,
     "copy_stream(data, present, tail, lo, hi) -> (binary COPY stream of rows lo..hi, each with tail; rows)"},
    {"jsonl_records", (PyCFunction)(void (*)(void))jsonl_records, METH_FASTCALL,
     "jsonl_records(data, pos, line_num, max_records, final, skip_through) -> (records, pos, line_num)"},
    {"csv_records", (PyCFunction)(void (*)(void))csv_records, METH_FASTCALL,
     "csv_records(data, pos, final, line_num, limit, max_results, keep_blank, marker) -> (results, pos, line_num)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastpath",
                                    "Ingestion's compiled fast path (see prepare.prepare_chunk).", -1, methods};

PyMODINIT_FUNC PyInit__fastpath(void) {
    pageview_str = PyUnicode_InternFromString("pageview");
    custom_str = PyUnicode_InternFromString("custom");
    if (!pageview_str || !custom_str) return NULL;
    return PyModule_Create(&module);
}
