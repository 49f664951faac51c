// The 2x2 box mean of images and its adjoint, for `snn_tha/kernels/pooled_conv.py`:
//   forward  b[i, j] = ((x[i, j] + x[i, j+1]) + (x[i+1, j] + x[i+1, j+1])) * 0.25   (H-1 x W-1)
//   backward gx[i, j] = 0.25 * (sum of gb[i-di, j-dj] over di, dj in {0, 1} inside gb)
// Images are rows of W*C floats with C innermost: channels-last [N, H, W, C], or NCHW seen as
// [N*C, H, W, 1]. Each output row is written whole (no zero fill, no scatter), so the backward
// can write straight into a slice of a bigger gradient. On spikes (0/1) and other small integers
// every sum is exact, so the order of additions cannot change a value.
#include <cstdint>
#include <vector>

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
    float* __restrict__ o = out + r * out_row;
    for (int64_t k = 0; k < c; ++k) o[k] = (up[k] + dn[k]) * 0.25f;
    for (int64_t k = c; k < in_row; ++k) o[k] = ((up[k - c] + up[k]) + (dn[k - c] + dn[k])) * 0.25f;
    for (int64_t k = in_row; k < out_row; ++k) o[k] = (up[k - c] + dn[k - c]) * 0.25f;
  }
}

}  // extern "C"
