// A linear layer on sparse spike inputs, for `snn_tha/kernels/sparse_linear.py`:
//   forward   y[r, :] = (sum over i with x[r, i] != 0 of x[r, i] * Wt[i, :]) + b
//   backward  gWt[i, :] = sum over r with x[r, i] != 0 of x[r, i] * g[r, :]
// x [R, K] is kept as compressed rows (row_start [R+1], index, value), built once per forward.
// On spikes and spike counts times +-1 weights every product and partial sum is an integer, so
// the sum is exact in any order and the bias is added once, last, as a BLAS adds its C.
// Built with -ffp-contract=off: no fused multiply-add.
#include <algorithm>
#include <cstdint>
#include <vector>

extern "C" {

// nonzeros per row of x [R, K] into count [R]
void sparse_rows_count(const float* x, int64_t rows, int64_t k, int64_t* count, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * k;
    int64_t c = 0;
    for (int64_t i = 0; i < k; ++i) c += row[i] != 0.0f;
    count[r] = c;
  }
}

// index and value of row r's nonzeros at row_start[r] (row_start: exclusive prefix sums of count)
void sparse_rows_fill(const float* x, int64_t rows, int64_t k, const int64_t* row_start,
                      int32_t* index, float* value, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * k;
    int64_t at = row_start[r];
    for (int64_t i = 0; i < k; ++i)
      if (row[i] != 0.0f) {
        index[at] = static_cast<int32_t>(i);
        value[at++] = row[i];
      }
  }
}

// y [R, N] = x Wt + bias (bias may be null); wt [K, N]: each row adds the whole rows of wt of
// its nonzeros (12 KB each for SHD: a few pages, so few TLB misses), its sums in L1
void sparse_linear_forward(const int64_t* row_start, const int32_t* index, const float* value,
                           const float* wt, const float* bias, float* y, int64_t rows, int64_t n,
                           int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict__ out = y + r * n;
    std::fill(out, out + n, 0.0f);
    for (int64_t e = row_start[r]; e < row_start[r + 1]; ++e) {
      const float v = value[e];
      const float* __restrict__ w = wt + int64_t(index[e]) * n;
      for (int64_t j = 0; j < n; ++j) out[j] += v * w[j];
    }
    if (bias)
      for (int64_t j = 0; j < n; ++j) out[j] += bias[j];
  }
}

// gwt [K, N] = x^T g, g [R, N]: each row's gradient added to the rows of gwt of its nonzeros,
// columns split in blocks so that a block of gwt (K x 128 floats, 358 KB for SHD) stays in L2
void sparse_linear_weight_grad(const int64_t* row_start, const int32_t* index, const float* value,
                               const float* g, float* gwt, int64_t rows, int64_t k, int64_t n,
                               int threads) {
  constexpr int64_t kCols = 128;
  const int64_t blocks = (n + kCols - 1) / kCols;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * kCols, len = std::min(kCols, n - c0);
    for (int64_t i = 0; i < k; ++i) std::fill(gwt + i * n + c0, gwt + i * n + c0 + len, 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      const float* __restrict__ gr = g + r * n + c0;
      for (int64_t e = row_start[r]; e < row_start[r + 1]; ++e) {
        const float v = value[e];
        float* __restrict__ out = gwt + int64_t(index[e]) * n + c0;
        for (int64_t j = 0; j < len; ++j) out[j] += v * gr[j];
      }
    }
  }
}

}  // extern "C"
