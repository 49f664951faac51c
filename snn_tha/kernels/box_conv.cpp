// avg_pool2(conv_k(s, w)) for binary spikes s and weights w in {-1, 0, +1}, in 16-bit integers,
// for `snn_tha/kernels/box_conv.py`. As in pooled_conv.py, pooling after the convolution is a
// stride-2 convolution of the 2x2 box sum of the input:
//     current[i, j, o] = 0.25 * sum_{a, b, ch} w[o, ch, a, b] * box4[2i + a, 2j + b, ch],
//     box4[y, x] = s[y, x] + s[y, x+1] + s[y+1, x] + s[y+1, x+1]   (0..4)
// Every product and sum is an integer (|sum| <= 4 * k * k * C < 2^15), so any order gives the
// same value, and 0.25 * sum is the float the box-mean convolution computes exactly: the same
// bits as the float paths. With AVX2, VPMADDUBSW multiplies 32 bytes of box4 by 32 signed bytes
// of weights and adds pairs into 16-bit lanes: 16 outputs x 2 inputs per instruction.
// Spikes [N, H, W, C] (channels-last), uint8 or float32 0/1; weights as pairs [K/2][O][2]
// (K = k * k * C, padded to even with zeros, index (a * k + b) * C + ch); out [N, OH, OW, O].
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace {

constexpr int64_t kImagesPerBlock = 8;   // one block's patches stay in L2

// The box4 rows of one image's output positions, each kpad bytes: [OH * OW][kpad].
template <typename In>
void patches_of(const In* image, int64_t h, int64_t w, int64_t c, int64_t k, int64_t kpad,
                uint8_t* box, uint8_t* rows) {
  const int64_t hb = h - 1, wb = w - 1, oh = (hb - k) / 2 + 1, ow = (wb - k) / 2 + 1;
  for (int64_t y = 0; y < hb; ++y)
    for (int64_t x = 0; x < wb * c; ++x) {
      const In* p = image + y * w * c + x;
      box[y * wb * c + x] = static_cast<uint8_t>((p[0] != 0) + (p[c] != 0) + (p[w * c] != 0) +
                                                 (p[w * c + c] != 0));
    }
  for (int64_t i = 0; i < oh; ++i)
    for (int64_t j = 0; j < ow; ++j) {
      uint8_t* row = rows + (i * ow + j) * kpad;
      for (int64_t a = 0; a < k; ++a)
        std::memcpy(row + a * k * c, box + ((2 * i + a) * wb + 2 * j) * c, k * c);
      for (int64_t q = k * k * c; q < kpad; ++q) row[q] = 0;
    }
}

// out[r][o] = 0.25 * sum_q rows[r][q] * w[q][o] for rows [m][kpad], the portable loop.
void gemm_plain(const uint8_t* rows, int64_t m, int64_t kpad, const int8_t* pairs, int64_t out_ch,
                float* out) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t o = 0; o < out_ch; ++o) {
      int32_t acc = 0;
      for (int64_t p = 0; p < kpad / 2; ++p)
        acc += rows[r * kpad + 2 * p] * pairs[(p * out_ch + o) * 2] +
               rows[r * kpad + 2 * p + 1] * pairs[(p * out_ch + o) * 2 + 1];
      out[r * out_ch + o] = 0.25f * static_cast<float>(acc);
    }
}

#if defined(__AVX2__)
inline void store_quarter(__m256i acc, float* out) {   // 16 int16 sums -> 16 floats * 0.25
  const __m256 quarter = _mm256_set1_ps(0.25f);
  const __m256i lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(acc));
  const __m256i hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(acc, 1));
  _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_cvtepi32_ps(lo), quarter));
  _mm256_storeu_ps(out + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(hi), quarter));
}

// R rows x 32 outputs per tile: 2R accumulators, the weights' two registers reused R times.
template <int R>
void tile32(const uint8_t* rows, int64_t kpad, const int8_t* pairs, int64_t out_ch, int64_t o,
            float* out) {
  __m256i acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (int64_t p = 0; p < kpad / 2; ++p) {
    const int8_t* wp = pairs + (p * out_ch + o) * 2;
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 32));
    for (int r = 0; r < R; ++r) {
      int16_t two;
      std::memcpy(&two, rows + r * kpad + 2 * p, 2);
      const __m256i a = _mm256_set1_epi16(two);
      acc[r][0] = _mm256_add_epi16(acc[r][0], _mm256_maddubs_epi16(a, w0));
      acc[r][1] = _mm256_add_epi16(acc[r][1], _mm256_maddubs_epi16(a, w1));
    }
  }
  for (int r = 0; r < R; ++r) {
    store_quarter(acc[r][0], out + r * out_ch + o);
    store_quarter(acc[r][1], out + r * out_ch + o + 16);
  }
}

void gemm_avx2(const uint8_t* rows, int64_t m, int64_t kpad, const int8_t* pairs, int64_t out_ch,
               float* out) {
  int64_t r = 0;
  for (; r + 4 <= m; r += 4)
    for (int64_t o = 0; o < out_ch; o += 32)
      tile32<4>(rows + r * kpad, kpad, pairs, out_ch, o, out + r * out_ch);
  for (; r < m; ++r)
    for (int64_t o = 0; o < out_ch; o += 32)
      tile32<1>(rows + r * kpad, kpad, pairs, out_ch, o, out + r * out_ch);
}
#endif

template <typename In>
void box_conv(const In* spikes, int64_t n, int64_t h, int64_t w, int64_t c, int64_t k,
              const int8_t* pairs, int64_t kpad, int64_t out_ch, float* out, int threads) {
  const int64_t oh = (h - 1 - k) / 2 + 1, ow = (w - 1 - k) / 2 + 1, per_image = oh * ow;
  const int64_t blocks = (n + kImagesPerBlock - 1) / kImagesPerBlock;
#pragma omp parallel num_threads(threads)
  {
    std::vector<uint8_t> box((h - 1) * (w - 1) * c), rows(kImagesPerBlock * per_image * kpad);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t first = b * kImagesPerBlock;
      const int64_t count = (first + kImagesPerBlock <= n) ? kImagesPerBlock : n - first;
      for (int64_t i = 0; i < count; ++i)
        patches_of(spikes + (first + i) * h * w * c, h, w, c, k, kpad, box.data(),
                   rows.data() + i * per_image * kpad);
      float* o = out + first * per_image * out_ch;
#if defined(__AVX2__)
      if (out_ch % 32 == 0) {
        gemm_avx2(rows.data(), count * per_image, kpad, pairs, out_ch, o);
        continue;
      }
#endif
      gemm_plain(rows.data(), count * per_image, kpad, pairs, out_ch, o);
    }
  }
}

}  // namespace

extern "C" {

void box_conv_u8(const uint8_t* spikes, int64_t n, int64_t h, int64_t w, int64_t c, int64_t k,
                 const int8_t* pairs, int64_t kpad, int64_t out_ch, float* out, int threads) {
  box_conv(spikes, n, h, w, c, k, pairs, kpad, out_ch, out, threads);
}

void box_conv_f32(const float* spikes, int64_t n, int64_t h, int64_t w, int64_t c, int64_t k,
                  const int8_t* pairs, int64_t kpad, int64_t out_ch, float* out, int threads) {
  box_conv(spikes, n, h, w, c, k, pairs, kpad, out_ch, out, threads);
}

}  // extern "C"
