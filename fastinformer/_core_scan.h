/* Structural scan of JSON text, 64 bytes at a time (used by _core_scan.pxi).
 *
 * fi_skip_container(buf, len, start), where buf[start] is '{' or '[', returns the index
 * just past the bracket that closes it; -1 when the text ends first (truncated, or a
 * string left open) or holds a backslash outside a string before that bracket. Strings
 * are followed with their escapes; brackets outside strings are counted, not matched by
 * kind, and nothing else is checked: callers hand what they keep to a real decoder.
 *
 * Each 64-byte block gives four bit masks (quotes, backslashes, opening and closing
 * brackets: '[' | 0x20 == '{' and ']' | 0x20 == '}'). Escaped quotes are removed, a
 * prefix XOR of the quotes gives the bytes inside strings, and the depth moves by the
 * popcounts of the brackets outside strings; a block is walked bracket by bracket only
 * when the depth could reach zero in it. Three implementations compute the masks: a
 * portable byte loop (level 0), SSE2 with POPCNT (level 1) and AVX2 (level 2); the best
 * level the CPU supports is chosen once, and fi_scan_select() lets tests pick another.
 */
#ifndef FASTINFORMER_CORE_SCAN_H
#define FASTINFORMER_CORE_SCAN_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define FI_SCAN_X86 1
#include <immintrin.h>
#else
#define FI_SCAN_X86 0
#endif

#if defined(__GNUC__)
#define FI_CTZ(x) __builtin_ctzll(x)
#define FI_POPCOUNT(x) __builtin_popcountll(x)
#else
static int fi_ctz_portable(uint64_t x) {
    int n = 0;
    while (!(x & 1)) { x >>= 1; n++; }
    return n;
}
static int fi_popcount_portable(uint64_t x) {
    int n = 0;
    while (x) { x &= x - 1; n++; }
    return n;
}
#define FI_CTZ(x) fi_ctz_portable(x)
#define FI_POPCOUNT(x) fi_popcount_portable(x)
#endif

typedef struct {
    uint64_t quote, backslash, open, close;
} fi_masks;

/* Bit i set when byte i of the block is inside a string (its opening quote included),
 * given the bit of each unescaped quote. */
static inline uint64_t fi_prefix_xor(uint64_t x) {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* The bytes escaped by a backslash; *carry is 1 when the previous block ended with a
 * backslash that escapes this block's first byte, and is set likewise for the next. */
static inline uint64_t fi_escaped(uint64_t backslash, uint64_t *carry) {
    uint64_t escaped = *carry;
    *carry = 0;
    backslash &= ~escaped;
    while (backslash) {
        int i = FI_CTZ(backslash);
        if (i == 63) {
            *carry = 1;
            break;
        }
        escaped |= (uint64_t)2 << i;
        backslash &= ~((uint64_t)3 << i);
    }
    return escaped;
}

static inline void fi_block_portable(const unsigned char *p, fi_masks *m) {
    uint64_t q = 0, b = 0, o = 0, c = 0;
    int i;
    for (i = 0; i < 64; i++) {
        unsigned char ch = p[i];
        uint64_t bit = (uint64_t)1 << i;
        if (ch == '"') q |= bit;
        else if (ch == '\\') b |= bit;
        else if ((ch | 0x20) == '{') o |= bit;
        else if ((ch | 0x20) == '}') c |= bit;
    }
    m->quote = q;
    m->backslash = b;
    m->open = o;
    m->close = c;
}

#if FI_SCAN_X86
static inline uint64_t fi_eq_sse2(__m128i a, __m128i b, __m128i c, __m128i d, char ch) {
    __m128i v = _mm_set1_epi8(ch);
    uint64_t r0 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a, v));
    uint64_t r1 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, v));
    uint64_t r2 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(c, v));
    uint64_t r3 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(d, v));
    return r0 | (r1 << 16) | (r2 << 32) | (r3 << 48);
}

static inline void fi_block_sse2(const unsigned char *p, fi_masks *m) {
    __m128i a = _mm_loadu_si128((const __m128i *)p);
    __m128i b = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i d = _mm_loadu_si128((const __m128i *)(p + 48));
    __m128i low = _mm_set1_epi8(0x20);
    m->quote = fi_eq_sse2(a, b, c, d, '"');
    m->backslash = fi_eq_sse2(a, b, c, d, '\\');
    a = _mm_or_si128(a, low);
    b = _mm_or_si128(b, low);
    c = _mm_or_si128(c, low);
    d = _mm_or_si128(d, low);
    m->open = fi_eq_sse2(a, b, c, d, '{');
    m->close = fi_eq_sse2(a, b, c, d, '}');
}

__attribute__((target("avx2"))) static inline uint64_t
fi_eq_avx2(__m256i a, __m256i b, char ch) {
    __m256i v = _mm256_set1_epi8(ch);
    uint64_t lo = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, v));
    uint64_t hi = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, v));
    return lo | (hi << 32);
}

__attribute__((target("avx2"))) static inline void
fi_block_avx2(const unsigned char *p, fi_masks *m) {
    __m256i a = _mm256_loadu_si256((const __m256i *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(p + 32));
    __m256i low = _mm256_set1_epi8(0x20);
    m->quote = fi_eq_avx2(a, b, '"');
    m->backslash = fi_eq_avx2(a, b, '\\');
    a = _mm256_or_si256(a, low);
    b = _mm256_or_si256(b, low);
    m->open = fi_eq_avx2(a, b, '{');
    m->close = fi_eq_avx2(a, b, '}');
}
#endif

/* The body of one implementation of fi_skip_container; BLOCK fills the masks. */
#define FI_SKIP_BODY(BLOCK)                                                              \
    Py_ssize_t depth = 0, pos = start;                                                   \
    uint64_t in_string = 0, carry = 0;                                                   \
    unsigned char tail[64];                                                              \
    while (pos < len) {                                                                  \
        const unsigned char *p;                                                          \
        Py_ssize_t n = len - pos;                                                        \
        fi_masks m;                                                                      \
        uint64_t quote, inside, bad, opening, closing;                                   \
        int closes;                                                                      \
        if (n >= 64) {                                                                   \
            p = (const unsigned char *)buf + pos;                                        \
        } else {                                                                         \
            memcpy(tail, buf + pos, (size_t)n);                                          \
            memset(tail + n, ' ', (size_t)(64 - n));                                     \
            p = tail;                                                                    \
        }                                                                                \
        BLOCK(p, &m);                                                                    \
        quote = m.quote;                                                                 \
        if (m.backslash | carry) quote &= ~fi_escaped(m.backslash, &carry);             \
        inside = fi_prefix_xor(quote) ^ in_string;                                       \
        in_string = (uint64_t)0 - (inside >> 63);                                        \
        bad = m.backslash & ~inside;                                                     \
        opening = m.open & ~inside;                                                      \
        closing = m.close & ~inside;                                                     \
        closes = FI_POPCOUNT(closing);                                                   \
        if (depth > closes) {                                                            \
            if (bad) return -1;                                                          \
            depth += FI_POPCOUNT(opening) - closes;                                      \
        } else {                                                                         \
            uint64_t brackets = opening | closing;                                       \
            while (brackets) {                                                           \
                int i = FI_CTZ(brackets);                                                \
                brackets &= brackets - 1;                                                \
                if ((opening >> i) & 1) {                                                \
                    depth++;                                                             \
                } else if (--depth == 0) {                                               \
                    if (bad & (((uint64_t)2 << i) - 1)) return -1;                       \
                    return pos + i + 1;                                                  \
                }                                                                        \
            }                                                                            \
            if (bad) return -1;                                                          \
        }                                                                                \
        pos += 64;                                                                       \
    }                                                                                    \
    return -1;

typedef Py_ssize_t (*fi_skip_fn)(const char *, Py_ssize_t, Py_ssize_t);

static Py_ssize_t fi_skip_portable(const char *buf, Py_ssize_t len, Py_ssize_t start) {
    FI_SKIP_BODY(fi_block_portable)
}

#if FI_SCAN_X86
__attribute__((target("popcnt"))) static Py_ssize_t
fi_skip_sse2(const char *buf, Py_ssize_t len, Py_ssize_t start) {
    FI_SKIP_BODY(fi_block_sse2)
}

__attribute__((target("avx2,popcnt"))) static Py_ssize_t
fi_skip_avx2(const char *buf, Py_ssize_t len, Py_ssize_t start) {
    FI_SKIP_BODY(fi_block_avx2)
}
#endif

static fi_skip_fn fi_skip_impl = fi_skip_portable;
static int fi_scan_current = 0;

/* The best level this CPU supports. */
static int fi_scan_best(void) {
#if FI_SCAN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) return 2;
    if (__builtin_cpu_supports("popcnt")) return 1;
#endif
    return 0;
}

/* Use the implementation of `level` (0, 1 or 2) if the CPU supports it, else the best
 * one below it; returns the level now in use. */
static int fi_scan_select(int level) {
    int best = fi_scan_best();
    if (level > best) level = best;
    if (level < 0) level = 0;
#if FI_SCAN_X86
    if (level == 2) fi_skip_impl = fi_skip_avx2;
    else if (level == 1) fi_skip_impl = fi_skip_sse2;
    else fi_skip_impl = fi_skip_portable;
#else
    fi_skip_impl = fi_skip_portable;
#endif
    fi_scan_current = level;
    return level;
}

static inline Py_ssize_t fi_skip_container(const char *buf, Py_ssize_t len, Py_ssize_t start) {
    if (start < 0 || start >= len || (buf[start] != '{' && buf[start] != '[')) return -1;
    return fi_skip_impl(buf, len, start);
}

#endif /* FASTINFORMER_CORE_SCAN_H */
