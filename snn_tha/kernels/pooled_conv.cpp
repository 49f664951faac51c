// The pooled convolution's kernels (`pooled_conv.py`): the 2x2 box mean of images, its adjoint
// (also fed from convolution columns, `cols_box_backward`, or from columns computed here,
// `box_conv_input_grad`), and the weight gradient over box means (`box_conv_weight_grad`):
//   forward  b[i, j] = ((x[i, j] + x[i, j+1]) + (x[i+1, j] + x[i+1, j+1])) * 0.25   (H-1 x W-1)
//   backward gx[i, j] = 0.25 * (sum of gb[i-di, j-dj] over di, dj in {0, 1} inside gb)
// Images are rows of W*C floats with C innermost: channels-last [N, H, W, C], or NCHW seen as
// [N*C, H, W, 1]. Each output row is written whole (no zero fill, no scatter), so the backward
// can write straight into a slice of a bigger gradient. On spikes (0/1) and other small integers
// every sum is exact, so the order of additions cannot change a value.
#include <algorithm>
#include <cstdint>
#include <vector>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {

// One output row of the adjoint from the gradient rows above (up) and below (dn) it, each of
// in_row = (W-1)*C values (zeros outside the image): out_row = W*C values written.
inline void adjoint_row(const float* __restrict__ up, const float* __restrict__ dn,
                        float* __restrict__ o, int64_t c, int64_t in_row, int64_t out_row) {
  for (int64_t k = 0; k < c; ++k) o[k] = (up[k] + dn[k]) * 0.25f;
  for (int64_t k = c; k < in_row; ++k) o[k] = ((up[k - c] + up[k]) + (dn[k - c] + dn[k])) * 0.25f;
  for (int64_t k = in_row; k < out_row; ++k) o[k] = (up[k - c] + dn[k - c]) * 0.25f;
}

// One image's geometry for the gradients of the stride-2 kxk convolution of box means: input
// h x w, box grid hb x wb, outputs oh x ow, columns kk = k*k*C.
struct GridShape {
  int64_t h, w, c, k, hb, wb, oh, ow, kk;
};

inline GridShape grid_shape(int64_t h, int64_t w, int64_t c, int64_t k) {
  const int64_t hb = h - 1, wb = w - 1;
  return {h, w, c, k, hb, wb, (hb - k) / 2 + 1, (wb - k) / 2 + 1, k * k * c};
}

// col2im of one image's columns [OH*OW][K] onto its box grid, then the box mean's adjoint into
// out [H, W*C], every element written (grid: hb*wb*C floats of scratch, zeros: wb*C zeros).
void image_from_columns(const float* __restrict__ col_img, float* out, float* grid,
                        const float* zeros, const GridShape& s) {
  const int64_t c = s.c, k = s.k;
  std::fill(grid, grid + s.hb * s.wb * c, 0.0f);
  for (int64_t i = 0; i < s.oh; ++i)
    for (int64_t j = 0; j < s.ow; ++j) {
      const float* __restrict__ col = col_img + (i * s.ow + j) * s.kk;
      for (int64_t a = 0; a < k; ++a) {
        float* __restrict__ g = grid + ((2 * i + a) * s.wb + 2 * j) * c;
        const float* __restrict__ src = col + a * k * c;
        for (int64_t q = 0; q < k * c; ++q) g[q] += src[q];
      }
    }
  const int64_t in_row = s.wb * c, out_row = s.w * c;
  for (int64_t y = 0; y < s.h; ++y) {
    const float* __restrict__ up = y > 0 ? grid + (y - 1) * in_row : zeros;
    const float* __restrict__ dn = y < s.hb ? grid + y * in_row : zeros;
    adjoint_row(up, dn, out + y * out_row, c, in_row, out_row);
  }
}

// The vector of floats both gradient kernels tile with: zmm on AVX-512 builds, ymm on AVX2
// (the same operations lane by lane, so the same bits on either).
#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kVecsPerTile = 4, kLanes = 16;
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline Vec vbroadcast(const float* p) { return _mm512_set1_ps(*p); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec vzero() { return _mm512_setzero_ps(); }
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256;
constexpr int kVecsPerTile = 2, kLanes = 8;
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, Vec v) { _mm256_storeu_ps(p, v); }
// set1, not _mm256_broadcast_ss: GCC 12 kept the accumulators in memory with that (36 vs 18.6 ms)
inline Vec vbroadcast(const float* p) { return _mm256_set1_ps(*p); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vzero() { return _mm256_setzero_ps(); }
#endif

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define SNN_THA_VECTOR_TILES 1
constexpr int kOutBlock = kVecsPerTile * kLanes;   // outputs per register tile
// Layers take it when their outputs are a multiple of 64 on either build: the same bits on both.
constexpr int kOutputsMultiple = 64;
static_assert(kOutputsMultiple % kOutBlock == 0, "a layer's outputs split into whole tiles");

// The weight gradient's register tiles (`box_conv_weight_grad`): QB weight columns q x
// kOutBlock outputs, summed over the rows (n, i, j) of images n0..n1 in order:
//   gw[q][o] += sum box[n, 2i + a, 2j + b, ch] * g[n, i, j, o],   q = (a * k + b) * C + ch
// off[q] = (a * WB + b) * C + ch: the box value's place from the patch's corner. AVX-512 tiles
// are 6 columns x 4 zmm (64 outputs, 24 accumulators); AVX2 tiles 6 columns x 2 ymm (16 outputs,
// 12 of its 16 registers). Every output sums the same products in the same order with one FMA
// each, so both builds give the same bits, whatever the tile.
template <int QB>
void weight_grad_tile(const float* box, const float* g, const int64_t* off, int64_t n0,
                      int64_t n1, const GridShape& s, int64_t out_ch, int64_t o0, int64_t q0,
                      float* gw) {
  Vec acc[QB][kVecsPerTile];
  for (int t = 0; t < QB; ++t)
    for (int v = 0; v < kVecsPerTile; ++v)
      acc[t][v] = vload(gw + (q0 + t) * out_ch + o0 + kLanes * v);
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t i = 0; i < s.oh; ++i)
      for (int64_t j = 0; j < s.ow; ++j) {
        const float* grow = g + ((n * s.oh + i) * s.ow + j) * out_ch + o0;
        const float* corner = box + ((n * s.hb + 2 * i) * s.wb + 2 * j) * s.c;
        Vec gv[kVecsPerTile];
        for (int v = 0; v < kVecsPerTile; ++v) gv[v] = vload(grow + kLanes * v);
        for (int t = 0; t < QB; ++t) {
          const Vec b = vbroadcast(corner + off[q0 + t]);
          for (int v = 0; v < kVecsPerTile; ++v) acc[t][v] = vfma(gv[v], b, acc[t][v]);
        }
      }
  for (int t = 0; t < QB; ++t)
    for (int v = 0; v < kVecsPerTile; ++v)
      vstore(gw + (q0 + t) * out_ch + o0 + kLanes * v, acc[t][v]);
}

constexpr int kColumnBlock = 6;
constexpr int64_t kImagesPerPass = 32;   // a pass stays in L2 (8-128 images: 7.6-6.9-7.7 ms a chunk)

// One tile of up to kColumnBlock columns (the last of a row may be shorter).
void weight_grad_columns(int64_t columns, const float* box, const float* g, const int64_t* off,
                         int64_t n0, int64_t n1, const GridShape& s, int64_t out_ch,
                         int64_t o0, int64_t q0, float* gw) {
  switch (columns) {
    case 6: weight_grad_tile<6>(box, g, off, n0, n1, s, out_ch, o0, q0, gw); break;
    case 5: weight_grad_tile<5>(box, g, off, n0, n1, s, out_ch, o0, q0, gw); break;
    case 4: weight_grad_tile<4>(box, g, off, n0, n1, s, out_ch, o0, q0, gw); break;
    case 3: weight_grad_tile<3>(box, g, off, n0, n1, s, out_ch, o0, q0, gw); break;
    case 2: weight_grad_tile<2>(box, g, off, n0, n1, s, out_ch, o0, q0, gw); break;
    default: weight_grad_tile<1>(box, g, off, n0, n1, s, out_ch, o0, q0, gw); break;
  }
}

// The input gradient's columns (`box_conv_input_grad`): RB rows p x kColsVecs vectors of
// columns q, cols[p][q] = sum_o g[p][o] * wm[o][q], o in order from zero. AVX-512: 4 rows x 5
// zmm (80 columns, 20 accumulators); AVX2: 6 rows x 2 ymm (16 columns, 12 accumulators).
#if defined(__AVX512F__)
constexpr int kColsVecs = 5, kRowBlock = 4;
#else
constexpr int kColsVecs = 2, kRowBlock = 6;
#endif
constexpr int64_t kColumnTile = kColsVecs * kLanes;
// Layers take it when K is a multiple of 80 on either build: the same layers, the same bits.
constexpr int64_t kColumnsMultiple = 80;
static_assert(kColumnsMultiple % kColumnTile == 0, "K splits into whole column tiles");

template <int RB>
void columns_tile(const float* g, const float* wm, int64_t out_ch, int64_t kk, int64_t p0,
                  int64_t q0, float* cols) {
  Vec acc[RB][kColsVecs];
  for (int t = 0; t < RB; ++t)
    for (int v = 0; v < kColsVecs; ++v) acc[t][v] = vzero();
  for (int64_t o = 0; o < out_ch; ++o) {
    Vec wv[kColsVecs];
    for (int v = 0; v < kColsVecs; ++v) {
      wv[v] = vload(wm + o * kk + q0 + kLanes * v);
      // Held in a register: GCC otherwise reloads it inside each row's FMA, 24 zmm loads
      // per 20 FMAs, which bounds a Zen 4 (one zmm load a cycle): 21.0 ms a chunk without
      // this line against 15.5 with it (AVX-512 build).
      asm("" : "+x"(wv[v]));
    }
    for (int t = 0; t < RB; ++t) {
      const Vec b = vbroadcast(g + (p0 + t) * out_ch + o);
      for (int v = 0; v < kColsVecs; ++v) acc[t][v] = vfma(b, wv[v], acc[t][v]);
    }
  }
  for (int t = 0; t < RB; ++t)
    for (int v = 0; v < kColsVecs; ++v) vstore(cols + (p0 + t) * kk + q0 + kLanes * v, acc[t][v]);
}

void columns_rows(int64_t rows, const float* g, const float* wm, int64_t out_ch, int64_t kk,
                  int64_t p0, int64_t q0, float* cols) {
  switch (rows) {
#if !defined(__AVX512F__)
    case 6: columns_tile<6>(g, wm, out_ch, kk, p0, q0, cols); break;
    case 5: columns_tile<5>(g, wm, out_ch, kk, p0, q0, cols); break;
#endif
    case 4: columns_tile<4>(g, wm, out_ch, kk, p0, q0, cols); break;
    case 3: columns_tile<3>(g, wm, out_ch, kk, p0, q0, cols); break;
    case 2: columns_tile<2>(g, wm, out_ch, kk, p0, q0, cols); break;
    default: columns_tile<1>(g, wm, out_ch, kk, p0, q0, cols); break;
  }
}
#else
// Without AVX2 and FMA: both multiples are 0 and pooled_conv.py calls neither kernel (oneDNN's).
constexpr int kOutputsMultiple = 0;
constexpr int64_t kColumnsMultiple = 0;
#endif

}  // namespace

extern "C" {
// x: [N, H, W*C]; out: [N, H-1, (W-1)*C]
void box_mean_forward(const float* x, float* out, int64_t n, int64_t h, int64_t w, int64_t c,
                      int threads) {
  const int64_t in_row = w * c, out_row = (w - 1) * c;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < n * (h - 1); ++r) {
    const int64_t img = r / (h - 1), i = r % (h - 1);
    const float* __restrict__ a = x + (img * h + i) * in_row;
    const float* __restrict__ b = a + in_row;
    float* __restrict__ o = out + r * out_row;
    for (int64_t k = 0; k < out_row; ++k) o[k] = ((a[k] + a[k + c]) + (b[k] + b[k + c])) * 0.25f;
  }
}

// grad_box: [N, H-1, (W-1)*C]; out: [N, H, W*C], every element written
void box_mean_backward(const float* grad_box, float* out, int64_t n, int64_t h, int64_t w,
                       int64_t c, int threads) {
  const int64_t in_row = (w - 1) * c, out_row = w * c;
  const std::vector<float> zeros(in_row, 0.0f);   // the rows above the first and below the last
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < n * h; ++r) {
    const int64_t img = r / h, i = r % h;
    const float* __restrict__ up = i > 0 ? grad_box + (img * (h - 1) + i - 1) * in_row : zeros.data();
    const float* __restrict__ dn = i < h - 1 ? grad_box + (img * (h - 1) + i) * in_row : zeros.data();
    adjoint_row(up, dn, out + r * out_row, c, in_row, out_row);
  }
}

// The input gradient of the stride-2 convolution of box means from its columns gcols [N, OH*OW,
// K] (K = k*k*C, (a, b, c) order): col2im onto each image's box grid (in cache), then the box
// mean's adjoint into out [N, H, W*C] (channels-last), every element written.
void cols_box_backward(const float* gcols, float* out, int64_t n, int64_t h, int64_t w,
                       int64_t c, int64_t k, int threads) {
  const GridShape s = grid_shape(h, w, c, k);
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> grid(s.hb * s.wb * c), zeros(s.wb * c, 0.0f);
#pragma omp for schedule(static)
    for (int64_t img = 0; img < n; ++img)
      image_from_columns(gcols + img * s.oh * s.ow * s.kk, out + img * h * w * c, grid.data(),
                         zeros.data(), s);
  }
}

// The same input gradient with the columns computed here, image by image, into a buffer that
// stays in L1: cols[p][q] = sum_o g[n, p, o] * wm[o][q] (p = (i, j), q = (a, b, c)), each a
// sum over o in order from zero with one FMA a term, so the same bits on either build; then
// `image_from_columns` as above. g [N, OH, OW, O] channels-last, wm [O][k*k*C] (the weight's
// channels-last rows), out [N, H, W, C]. K must be a multiple of box_conv_input_grad_columns().
void box_conv_input_grad(const float* g, const float* wm, float* out, int64_t n, int64_t h,
                         int64_t w, int64_t c, int64_t k, int64_t out_ch, int threads) {
#if defined(SNN_THA_VECTOR_TILES)
  const GridShape s = grid_shape(h, w, c, k);
  const int64_t rows = s.oh * s.ow;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> cols(rows * s.kk), grid(s.hb * s.wb * c), zeros(s.wb * c, 0.0f);
#pragma omp for schedule(static)
    for (int64_t img = 0; img < n; ++img) {
      const float* gi = g + img * rows * out_ch;
      for (int64_t p0 = 0; p0 < rows; p0 += kRowBlock)
        for (int64_t q0 = 0; q0 < s.kk; q0 += kColumnTile)
          columns_rows(std::min<int64_t>(kRowBlock, rows - p0), gi, wm, out_ch, s.kk, p0, q0,
                       cols.data());
      image_from_columns(cols.data(), out + img * h * w * c, grid.data(), zeros.data(), s);
    }
  }
#endif
}

// The multiples of K = k*k*C and of outputs `box_conv_input_grad` and `box_conv_weight_grad`
// take (whole register tiles on either build; 0 without AVX-512 or AVX2 with FMA).
int64_t box_conv_input_grad_columns() { return kColumnsMultiple; }
int64_t box_conv_weight_grad_outputs() { return kOutputsMultiple; }

// The weight gradient of the stride-2 kxk convolution of box means, added into gw [k*k*C][O]
// (the weight's channels-last storage transposed): box [N, HB, WB, C] and the output gradient
// g [N, OH, OW, O], channels-last. Passes of kImagesPerPass images; threads own disjoint tiles,
// each summing its images in order: the result does not depend on the thread count.
void box_conv_weight_grad(const float* box, const float* g, float* gw, int64_t n, int64_t hb,
                          int64_t wb, int64_t c, int64_t k, int64_t out_ch, int threads) {
#if defined(SNN_THA_VECTOR_TILES)
  const GridShape s = grid_shape(hb + 1, wb + 1, c, k);
  const int64_t q_all = k * k * c;
  std::vector<int64_t> off(q_all);
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = 0; b < k; ++b)
      for (int64_t ch = 0; ch < c; ++ch) off[(a * k + b) * c + ch] = (a * wb + b) * c + ch;
  const int64_t q_tiles = (q_all + kColumnBlock - 1) / kColumnBlock;
  const int64_t tiles = q_tiles * (out_ch / kOutBlock);
#pragma omp parallel num_threads(threads)
  for (int64_t n0 = 0; n0 < n; n0 += kImagesPerPass) {
    const int64_t n1 = std::min(n, n0 + kImagesPerPass);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t q0 = (t % q_tiles) * kColumnBlock, o0 = (t / q_tiles) * kOutBlock;
      weight_grad_columns(std::min<int64_t>(kColumnBlock, q_all - q0), box, g, off.data(), n0,
                          n1, s, out_ch, o0, q0, gw);
    }
  }
#endif
}
}  // extern "C"
