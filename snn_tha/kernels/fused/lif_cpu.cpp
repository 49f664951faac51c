// Fused LIF kernels for the CPU: one pass over the membrane per time step, forward and backward.
// Semantics of snn_tha/equations.py (called by the torch path), op for op:
//   forward   u[t] = (beta*u[t-1] + I[t]) - H(u[t-1] - theta)*theta ;  z[t] = (u[t] > theta)
//   surrogate s[t] = gz[t] / (k*|u[t] - c| + 1)^2
//   backward  delta[t] = (beta*delta[t+1] + gu[t]) + s[t]   (terms in autograd's order)
// Built with -ffp-contract=off: a fused multiply-add would round differently from torch's
// separate mul and add kernels. Neurons are independent, so OpenMP splits them; time is serial.
#include <cmath>
#include <cstdint>

namespace {
constexpr int64_t kBlock = 4096;  // neurons per task: whole pages per row (prefetch), state in L1-L2

inline int64_t block_count(int64_t n) { return (n + kBlock - 1) / kBlock; }

// The forward, for training (membranes and float spikes) and for evaluation (spikes only, as
// bytes: no membrane record, a quarter of the traffic, what the popcount convolution reads).
template <bool kMembranes, typename Spike>   // compile-time: the inner loop stays branch-free
void forward_steps(const float* cur, float* mem, Spike* spk, int64_t steps, int64_t n,
                   float beta, float theta, int is_static, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t b = 0; b < block_count(n); ++b) {
    const int64_t lo = b * kBlock, len = (lo + kBlock <= n) ? kBlock : n - lo;
    float prev[kBlock] = {0.0f};
    for (int64_t t = 0; t < steps; ++t) {
      const float* __restrict__ c = cur + (is_static ? 0 : t * n) + lo;
      float* __restrict__ m = kMembranes ? mem + t * n + lo : nullptr;
      Spike* __restrict__ z = spk + t * n + lo;
      for (int64_t i = 0; i < len; ++i) {
        const float p = prev[i];
        float u = beta * p + c[i];
        u = (p > theta) ? u - theta : u;
        if (kMembranes) m[i] = u;
        z[i] = (u > theta) ? Spike(1) : Spike(0);
        prev[i] = u;
      }
    }
  }
}
}  // namespace

extern "C" {

// cur: [T, N] (or [N] when is_static); mem, spk: [T, N]
void lif_forward(const float* cur, float* mem, float* spk, int64_t steps, int64_t n,
                 float beta, float theta, int is_static, int threads) {
  forward_steps<true>(cur, mem, spk, steps, n, beta, theta, is_static, threads);
}

// lif_forward for evaluation: spk [T, N] as 0/1 bytes, no membranes
void lif_forward_spikes(const float* cur, uint8_t* spk, int64_t steps, int64_t n, float beta,
                        float theta, int is_static, int threads) {
  forward_steps<false, uint8_t>(cur, nullptr, spk, steps, n, beta, theta, is_static, threads);
}

// grad_spk, grad_mem: [T, N] or null; out: [T, N], or [N] (summed over time) when sum_time.
void lif_backward(const float* mem, const float* grad_spk, const float* grad_mem, float* out,
                  int64_t steps, int64_t n, float beta, float centre, float slope, int sum_time, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t b = 0; b < block_count(n); ++b) {
    const int64_t lo = b * kBlock, len = (lo + kBlock <= n) ? kBlock : n - lo;
    float delta[kBlock] = {0.0f};
    double total[kBlock] = {0.0};
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t off = t * n + lo;
      const bool last = (t == steps - 1);
      for (int64_t i = 0; i < len; ++i) {
        float g = last ? 0.0f : delta[i] * beta;
        if (grad_mem) g = last ? grad_mem[off + i] : g + grad_mem[off + i];
        if (grad_spk) {
          float d = std::fabs(mem[off + i] - centre) * slope + 1.0f;
          d = d * d;
          g = g + grad_spk[off + i] / d;
        }
        delta[i] = g;
        if (sum_time) total[i] += g; else out[off + i] = g;
      }
    }
    if (sum_time)
      for (int64_t i = 0; i < len; ++i) out[lo + i] = static_cast<float>(total[i]);
  }
}

}  // extern "C"
