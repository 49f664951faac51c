// The bit-packed engine's integer currents and its LIF (snn_tha/kernels/popcount.py calls these; the numpy
// path in packed.py computes the same integers). For +-1 weights with sign bits `plus` and
// binary inputs s packed into 64-bit words:
//     current = 2 * popcount(plus AND s) - popcount(s)
// Weights come as [words][out] so the loop over outputs is contiguous, counted with AVX-512's
// VPOPCNTQ where the CPU has it, an explicit nibble-table count (VPSHUFB) with AVX2 only (the
// compiler's own vectorisation of the plain loop is 2x slower on both), the plain loop else.
// Integers only: exact on every CPU, whichever path (tests compare each built here with numpy).
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>
#if defined(__AVX512VPOPCNTDQ__) && defined(__AVX512F__)
#include <immintrin.h>
#define SNN_THA_VPOPCNT 1
#elif defined(__AVX2__)
#include <immintrin.h>
#define SNN_THA_NIBBLE_POPCOUNT 1
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace {

// both[o] = sum_w popcount(row[w] AND plus[w][o]), the portable loop.
inline void count_both(const uint64_t *row, int64_t words, const uint64_t *plus, int64_t out,
                       int64_t *both) {
    for (int64_t o = 0; o < out; ++o) both[o] = 0;
    for (int64_t w = 0; w < words; ++w) {
        const uint64_t word = row[w];
        const uint64_t *signs = plus + w * out;
        for (int64_t o = 0; o < out; ++o) both[o] += __builtin_popcountll(word & signs[o]);
    }
}

#ifdef SNN_THA_NIBBLE_POPCOUNT
// The same sums four outputs per 256-bit register: per-byte counts from a 16-entry table of
// nibble counts, added up bytewise (at most 8 * words <= 248 per byte for words <= 31), then
// summed per 64-bit lane by VPSADBW.
inline void count_both_avx2(const uint64_t *row, int64_t words, const uint64_t *plus, int64_t out,
                            int64_t *both) {
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                           0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    int64_t o = 0;
    for (; o + 4 <= out; o += 4) {
        __m256i bytes = zero;
        for (int64_t w = 0; w < words; ++w) {
            const __m256i x = _mm256_and_si256(
                _mm256_set1_epi64x(static_cast<long long>(row[w])),
                _mm256_loadu_si256(reinterpret_cast<const __m256i *>(plus + w * out + o)));
            const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(x, low));
            const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(x, 4), low));
            bytes = _mm256_add_epi8(bytes, _mm256_add_epi8(lo, hi));
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(both + o), _mm256_sad_epu8(bytes, zero));
    }
    for (; o < out; ++o) {
        both[o] = 0;
        for (int64_t w = 0; w < words; ++w) both[o] += __builtin_popcountll(row[w] & plus[w * out + o]);
    }
}
#endif

#ifdef SNN_THA_VPOPCNT
// The same sums eight outputs per 512-bit register, each block's sums kept in the register
// across the words (the compiler's own vectorisation stores them every word).
inline void count_both_avx512(const uint64_t *row, int64_t words, const uint64_t *plus,
                              int64_t out, int64_t *both) {
    int64_t o = 0;
    for (; o + 8 <= out; o += 8) {
        __m512i sums = _mm512_setzero_si512();
        for (int64_t w = 0; w < words; ++w)
            sums = _mm512_add_epi64(sums, _mm512_popcnt_epi64(_mm512_and_si512(
                _mm512_set1_epi64(static_cast<long long>(row[w])),
                _mm512_loadu_si512(plus + w * out + o))));
        _mm512_storeu_si512(both + o, sums);
    }
    for (; o < out; ++o) {
        both[o] = 0;
        for (int64_t w = 0; w < words; ++w) both[o] += __builtin_popcountll(row[w] & plus[w * out + o]);
    }
}
#endif

// acc[o] += 2 * popcount(row AND plus[., o]) - popcount(row), over `words` words. `both` is
// scratch for `out` sums.
inline void add_row_current(const uint64_t *row, int64_t words, const uint64_t *plus,
                            int64_t out, int64_t *both, int32_t *acc) {
    int64_t ones = 0;
    for (int64_t w = 0; w < words; ++w) ones += __builtin_popcountll(row[w]);
#if defined(SNN_THA_VPOPCNT)
    count_both_avx512(row, words, plus, out, both);
#elif defined(SNN_THA_NIBBLE_POPCOUNT)
    if (words <= 31) count_both_avx2(row, words, plus, out, both);
    else count_both(row, words, plus, out, both);
#else
    count_both(row, words, plus, out, both);
#endif
    for (int64_t o = 0; o < out; ++o) acc[o] += static_cast<int32_t>(2 * both[o] - ones);
}

// acc[o] = sum over the nq patches of 2 * popcount(patch AND plus[., o]) - popcount(patch): a
// pooling window's current at once. With VPOPCNTQ each block of eight outputs keeps its sum in
// a register over every patch and word, and each row of signs is loaded once for all patches;
// elsewhere (the AVX2 nibble table, plain code) patch by patch through add_row_current.
inline void window_current(const uint64_t *patches, int64_t nq, int64_t words,
                           const uint64_t *plus, int64_t out, int64_t *both, int32_t *acc) {
#if defined(SNN_THA_VPOPCNT)
    int64_t ones = 0;
    for (int64_t w = 0; w < nq * words; ++w) ones += __builtin_popcountll(patches[w]);
    int64_t o = 0;
    for (; o + 8 <= out; o += 8) {
        __m512i sums = _mm512_setzero_si512();
        for (int64_t w = 0; w < words; ++w) {
            const __m512i signs = _mm512_loadu_si512(plus + w * out + o);
            for (int64_t q = 0; q < nq; ++q)
                sums = _mm512_add_epi64(sums, _mm512_popcnt_epi64(_mm512_and_si512(
                    _mm512_set1_epi64(static_cast<long long>(patches[q * words + w])), signs)));
        }
        _mm512_storeu_si512(both + o, sums);
    }
    for (int64_t r = o; r < out; ++r) both[r] = 0;
    for (int64_t q = 0; q < nq; ++q)
        for (int64_t w = 0; w < words; ++w)
            for (int64_t r = o; r < out; ++r)
                both[r] += __builtin_popcountll(patches[q * words + w] & plus[w * out + r]);
    for (int64_t r = 0; r < out; ++r) acc[r] = static_cast<int32_t>(2 * both[r] - ones);
#else
    for (int64_t r = 0; r < out; ++r) acc[r] = 0;
    for (int64_t q = 0; q < nq; ++q)
        add_row_current(patches + q * words, words, plus, out, both, acc);
#endif
}

}  // namespace

extern "C" {

// result[r][o] for rows [rows][words] of packed inputs (a dense layer). Every kernel takes the
// sizes of both sides and returns -1, touching nothing, where they disagree (the weights'
// `plus_words` per row against the input's `words`): a mismatch is never a read past a buffer.
int popcount_dense(const uint64_t *rows, int64_t nrows, int64_t words, const uint64_t *plus,
                   int64_t plus_words, int64_t out, int32_t *result) {
    if (words != plus_words || words < 1 || nrows < 0 || out < 1) return -1;
    std::vector<int64_t> both(out);
    for (int64_t r = 0; r < nrows; ++r) {
        int32_t *acc = result + r * out;
        for (int64_t o = 0; o < out; ++o) acc[o] = 0;
        add_row_current(rows + r * words, words, plus, out, both.data(), acc);
    }
    return 0;
}

}  // extern "C"

namespace {

// The conv layer below, for NCHW or channels-last ([n][h][w][c]) bytes, written as int32 or as
// float32 times `scale` (exact: |sums| < 2^24 and scale a power of two)
template <bool kChannelsLast, typename Out>
void conv_pool(const uint8_t *spikes, int64_t n, int64_t c, int64_t h, int64_t w, int64_t k,
               const uint64_t *plus, int64_t out, Out *result, float scale) {
    const int64_t ph = (h - k + 1) / 2, pw = (w - k + 1) / 2, per_word = 64 / c;
    const int64_t words = (k * k + per_word - 1) / per_word;
    std::vector<uint64_t> pixels(h * w), patch(4 * words);   // the 4 patches of a window
    // where each patch pixel sits: image offset, word, shift (no divisions in the inner loops)
    std::vector<int64_t> at(k * k), word_of(k * k), shift_of(k * k);
    for (int64_t p = 0; p < k * k; ++p) {
        at[p] = (p / k) * w + p % k;
        word_of[p] = p / per_word;
        shift_of[p] = (p % per_word) * c;
    }
    std::vector<int64_t> both(out);
    std::vector<int32_t> acc(out);
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t *image = spikes + i * c * h * w;
        for (int64_t p = 0; p < h * w; ++p) pixels[p] = 0;
        if (kChannelsLast) {                             // a pixel's channels are adjacent bytes
#if defined(__SSE2__)
            if (c % 16 == 0) {   // 16 channels at once: compare with zero, one bit per byte
                const __m128i zero = _mm_setzero_si128();
                for (int64_t p = 0; p < h * w; ++p)
                    for (int64_t j = 0; j < c; j += 16) {
                        const __m128i bytes = _mm_loadu_si128(
                            reinterpret_cast<const __m128i *>(image + p * c + j));
                        const uint64_t nonzero = ~static_cast<uint64_t>(
                            _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, zero))) & 0xffffu;
                        pixels[p] |= nonzero << j;
                    }
            } else
#endif
            for (int64_t p = 0; p < h * w; ++p)
                for (int64_t ch = 0; ch < c; ++ch)
                    pixels[p] |= static_cast<uint64_t>(image[p * c + ch] != 0) << ch;
        } else {
            for (int64_t ch = 0; ch < c; ++ch)           // channel-major: contiguous reads
                for (int64_t p = 0; p < h * w; ++p)
                    pixels[p] |= static_cast<uint64_t>(image[ch * h * w + p] != 0) << ch;
        }
        for (int64_t py = 0; py < ph; ++py)
            for (int64_t px = 0; px < pw; ++px) {
                for (int64_t q = 0; q < 4; ++q) {          // the 2x2 pooling window
                    const int64_t y = 2 * py + q / 2, x = 2 * px + q % 2;
                    const uint64_t *corner = pixels.data() + y * w + x;
                    for (int64_t word = 0, p = 0; word < words; ++word) {   // in a register:
                        uint64_t bits = 0;                                  // no store chains
                        for (const int64_t end = std::min(k * k, p + per_word); p < end; ++p)
                            bits |= corner[at[p]] << shift_of[p];
                        patch[q * words + word] = bits;
                    }
                }
                window_current(patch.data(), 4, words, plus, out, both.data(), acc.data());
                Out *cell = result + (i * out) * ph * pw + py * pw + px;
                for (int64_t o = 0; o < out; ++o)
                    cell[o * ph * pw] = std::is_same<Out, float>::value
                        ? static_cast<Out>(static_cast<float>(acc[o]) * scale) : static_cast<Out>(acc[o]);
            }
    }
}

}  // namespace

extern "C" {

// A conv layer: spikes [n][c][h][w] (0/1 bytes, c <= 64) by k x k sign kernels at stride 1,
// then the 2x2 sum pooling (an odd last row / column dropped): result [n][out][ho/2][wo/2].
// Patch bits: channel ch of patch pixel p (row-major) at bit (p % per_word) * c + ch of word
// p / per_word, per_word = 64 / c (the layout of packed.pixel_words and packed.pack_weights).
// The input's channels and kernel size give the words per patch; the weights hold plus_words.
bool conv_sizes_agree(int64_t c, int64_t h, int64_t w, int64_t k, int64_t plus_words, int64_t out) {
    if (c < 1 || c > 64 || k < 1 || h < k + 1 || w < k + 1 || out < 1) return false;
    const int64_t per_word = 64 / c;
    return (k * k + per_word - 1) / per_word == plus_words;
}

int popcount_conv_pool(const uint8_t *spikes, int64_t n, int64_t c, int64_t h, int64_t w,
                       int64_t k, const uint64_t *plus, int64_t plus_words, int64_t out,
                       int32_t *result) {
    if (!conv_sizes_agree(c, h, w, k, plus_words, out)) return -1;
    conv_pool<false, int32_t>(spikes, n, c, h, w, k, plus, out, result, 1.0f);
    return 0;
}

// The same sums as float32 times `scale` (evaluation: the pooled mean is sum / 4), from NCHW or,
// when channels_last, [n][h][w][c] bytes (how evaluation's LIF stores the spikes a conv reads)
int popcount_conv_pool_float(const uint8_t *spikes, int64_t n, int64_t c, int64_t h, int64_t w,
                             int64_t k, const uint64_t *plus, int64_t plus_words, int64_t out,
                             float *result, int channels_last, float scale) {
    if (!conv_sizes_agree(c, h, w, k, plus_words, out)) return -1;
    if (channels_last) conv_pool<true, float>(spikes, n, c, h, w, k, plus, out, result, scale);
    else conv_pool<false, float>(spikes, n, c, h, w, k, plus, out, result, scale);
    return 0;
}

// The LIF of snn_tha.deploy.ops.lif_step over T steps, the same float32 operations in the same
// order (built without fused multiply-add or fast math, so every rounding is numpy's):
//     v[t] = beta*v[t-1] + (c[t] + offset) - H(v[t-1] - theta)*theta,  z[t] = H(v[t] - theta)
// current [T][n] (or [n] shown at every step when `static_input`), n = batch * channels * spatial,
// per-channel offset and theta; writes the spikes [T][n] as 0/1 bytes.
int lif_spikes(const int32_t *current, int64_t steps, int64_t batch, int64_t channels,
               int64_t spatial, int static_input, const float *offset, int64_t offsets,
               const float *theta, int64_t thetas, float beta, uint8_t *spikes) {
    if (offsets != channels || thetas != channels || spatial < 1) return -1;
    const int64_t n = batch * channels * spatial;
    constexpr int64_t CHUNK = 2048;   // neurons per pass over the T steps: their state stays in L1
    float v[CHUNK], drive[CHUNK], th[CHUNK], off[CHUNK];
    for (int64_t start = 0; start < n; start += CHUNK) {
        const int64_t m = n - start < CHUNK ? n - start : CHUNK;
        for (int64_t i = 0; i < m; ++i) {
            const int64_t channel = ((start + i) / spatial) % channels;
            th[i] = theta[channel];
            off[i] = offset[channel];
            v[i] = 0.0f;
            if (static_input) drive[i] = static_cast<float>(current[start + i]) + off[i];
        }
        for (int64_t t = 0; t < steps; ++t) {
            if (!static_input)
                for (int64_t i = 0; i < m; ++i)
                    drive[i] = static_cast<float>(current[t * n + start + i]) + off[i];
            uint8_t *z = spikes + t * n + start;
            for (int64_t i = 0; i < m; ++i) {
                const float prev = v[i];
                float mem = prev * beta;
                mem = mem + drive[i];
                if (prev > th[i]) mem = mem - th[i];
                v[i] = mem;
                z[i] = mem > th[i];
            }
        }
    }
    return 0;
}

}  // extern "C"
