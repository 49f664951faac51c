// The 2x2 box mean of images and its adjoint, for `snn_tha/kernels/pooled_conv.py` (and the
// adjoint fed from convolution columns, `cols_box_backward`, below):
//   forward  b[i, j] = ((x[i, j] + x[i, j+1]) + (x[i+1, j] + x[i+1, j+1])) * 0.25   (H-1 x W-1)
//   backward gx[i, j] = 0.25 * (sum of gb[i-di, j-dj] over di, dj in {0, 1} inside gb)
// Images are rows of W*C floats with C innermost: channels-last [N, H, W, C], or NCHW seen as
// [N*C, H, W, 1]. Each output row is written whole (no zero fill, no scatter), so the backward
// can write straight into a slice of a bigger gradient. On spikes (0/1) and other small integers
// every sum is exact, so the order of additions cannot change a value.
#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

// One output row of the adjoint from the gradient rows above (up) and below (dn) it, each of
// in_row = (W-1)*C values (zeros outside the image): out_row = W*C values written.
inline void adjoint_row(const float* __restrict__ up, const float* __restrict__ dn,
                        float* __restrict__ o, int64_t c, int64_t in_row, int64_t out_row) {
  for (int64_t k = 0; k < c; ++k) o[k] = (up[k] + dn[k]) * 0.25f;
  for (int64_t k = c; k < in_row; ++k) o[k] = ((up[k - c] + up[k]) + (dn[k - c] + dn[k])) * 0.25f;
  for (int64_t k = in_row; k < out_row; ++k) o[k] = (up[k - c] + dn[k - c]) * 0.25f;
}

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

// The input gradient of the stride-2 convolution of box means, from its columns: gcols
// [N, OH*OW, K] (K = k*k*C in (a, b, c) order: the output gradient times the weights, one
// matmul), scattered back onto each image's box grid (col2im), then through the box mean's
// adjoint into out [N, H, W*C] (channels-last), every element written. One image's box-grid
// gradient stays in cache between the two.
void cols_box_backward(const float* gcols, float* out, int64_t n, int64_t h, int64_t w,
                       int64_t c, int64_t k, int threads) {
  const int64_t hb = h - 1, wb = w - 1, oh = (hb - k) / 2 + 1, ow = (wb - k) / 2 + 1;
  const int64_t kk = k * k * c;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> grid(hb * wb * c), zeros(wb * c, 0.0f);
#pragma omp for schedule(static)
    for (int64_t img = 0; img < n; ++img) {
      std::fill(grid.begin(), grid.end(), 0.0f);
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          const float* __restrict__ col = gcols + (img * oh * ow + i * ow + j) * kk;
          for (int64_t a = 0; a < k; ++a) {
            float* __restrict__ g = grid.data() + ((2 * i + a) * wb + 2 * j) * c;
            const float* __restrict__ src = col + a * k * c;
            for (int64_t q = 0; q < k * c; ++q) g[q] += src[q];
          }
        }
      const int64_t in_row = wb * c, out_row = w * c;
      for (int64_t y = 0; y < h; ++y) {
        const float* __restrict__ up = y > 0 ? grid.data() + (y - 1) * in_row : zeros.data();
        const float* __restrict__ dn = y < hb ? grid.data() + y * in_row : zeros.data();
        adjoint_row(up, dn, out + (img * h + y) * out_row, c, in_row, out_row);
      }
    }
  }
}

}  // extern "C"
