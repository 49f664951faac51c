// Training-mode batch norm with statistics per (time step, channel), for
// `snn_tha/kernels/batch_norm.py` (its `_BatchNormPerStep` docstring has the equations), on
// channels-last rows x [T, M, C]: each step's M x C block is read once from memory and then
// reused from cache (sums, centred variance, output), where the torch composition makes a
// pass over all of x for each of them. Sums accumulate in double per channel, then round to
// float (torch's float sums round differently: the values agree to rounding).
#include <cmath>
#include <cstdint>
#include <vector>

extern "C" {

// y = shift + x * scale per (t, c), scale = rstd * w, shift = b - mean * scale,
// rstd = 1 / sqrt(var + eps); mean, var (biased), rstd [T, C] written too.
void bn_rows_forward(const float* x, const float* weight, const float* bias, float eps,
                     float* y, float* mean_out, float* var_out, float* rstd_out, int64_t steps,
                     int64_t rows, int64_t c, int threads) {
#pragma omp parallel num_threads(threads)
  {
    std::vector<double> acc(c);
    std::vector<float> mean(c), scale(c), shift(c);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < steps; ++t) {
      const float* __restrict__ xt = x + t * rows * c;
      float* __restrict__ yt = y + t * rows * c;
      const float n = static_cast<float>(rows);
      for (int64_t k = 0; k < c; ++k) acc[k] = 0.0;
      for (int64_t m = 0; m < rows; ++m)
        for (int64_t k = 0; k < c; ++k) acc[k] += xt[m * c + k];
      for (int64_t k = 0; k < c; ++k) mean[k] = static_cast<float>(acc[k]) / n;
      for (int64_t k = 0; k < c; ++k) acc[k] = 0.0;
      for (int64_t m = 0; m < rows; ++m)
        for (int64_t k = 0; k < c; ++k) {
          const float d = xt[m * c + k] - mean[k];
          acc[k] += d * d;
        }
      for (int64_t k = 0; k < c; ++k) {
        const float var = static_cast<float>(acc[k]) / n;
        const float rstd = 1.0f / std::sqrt(var + eps);
        scale[k] = rstd * weight[k];
        shift[k] = bias[k] - mean[k] * scale[k];
        mean_out[t * c + k] = mean[k];
        var_out[t * c + k] = var;
        rstd_out[t * c + k] = rstd;
      }
      for (int64_t m = 0; m < rows; ++m)
        for (int64_t k = 0; k < c; ++k) yt[m * c + k] = shift[k] + xt[m * c + k] * scale[k];
    }
  }
}

// The backward of `bn_rows_forward` per (t, c), n = M:
//   sum_dy_xhat = (sum(dy * x) - mean * sum(dy)) * rstd,  a = w * rstd,
//   b = -a * rstd * sum_dy_xhat / n,  c0 = -a * sum(dy) / n - mean * b,
//   grad_x = (c0 + dy * a) + x * b;  sum_dy, sum_dy_xhat [T, C] out (for dw, db).
void bn_rows_backward(const float* x, const float* dy, const float* mean, const float* rstd,
                      const float* weight, float* grad_x, float* sum_dy_out,
                      float* sum_dy_xhat_out, int64_t steps, int64_t rows, int64_t c,
                      int threads) {
#pragma omp parallel num_threads(threads)
  {
    std::vector<double> s(c), sx(c);
    std::vector<float> a(c), b(c), c0(c);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < steps; ++t) {
      const float* __restrict__ xt = x + t * rows * c;
      const float* __restrict__ gt = dy + t * rows * c;
      float* __restrict__ ot = grad_x + t * rows * c;
      const float n = static_cast<float>(rows);
      for (int64_t k = 0; k < c; ++k) s[k] = sx[k] = 0.0;
      for (int64_t m = 0; m < rows; ++m)
        for (int64_t k = 0; k < c; ++k) {
          const float g = gt[m * c + k];
          s[k] += g;
          sx[k] += g * xt[m * c + k];
        }
      for (int64_t k = 0; k < c; ++k) {
        const float mu = mean[t * c + k], r = rstd[t * c + k];
        const float sum_dy = static_cast<float>(s[k]);
        const float sum_dy_xhat = (static_cast<float>(sx[k]) - mu * sum_dy) * r;
        a[k] = weight[k] * r;
        b[k] = -a[k] * r * sum_dy_xhat / n;
        c0[k] = -a[k] * sum_dy / n - mu * b[k];
        sum_dy_out[t * c + k] = sum_dy;
        sum_dy_xhat_out[t * c + k] = sum_dy_xhat;
      }
      for (int64_t m = 0; m < rows; ++m)
        for (int64_t k = 0; k < c; ++k)
          ot[m * c + k] = (c0[k] + gt[m * c + k] * a[k]) + xt[m * c + k] * b[k];
    }
  }
}

}  // extern "C"
