// Fused LIF kernels for the CPU: one pass over the membrane per time step, forward and backward.
// Semantics of snn_tha/equations.py (called by the torch path), op for op:
//   forward   u[t] = (beta*u[t-1] + I[t]) - H(u[t-1] - theta)*theta ;  z[t] = (u[t] > theta)
//   surrogate s[t] = gz[t] / (k*|u[t] - c| + 1)^2
//   backward  delta[t] = (beta*delta[t+1] + gu[t]) + s[t]   (terms in autograd's order)
// Built with -ffp-contract=off: a fused multiply-add would round differently from torch's
// separate mul and add kernels. Neurons are independent, so OpenMP splits them; time is serial.
#include <cmath>
#include <cstdint>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SNN_THA_X86 1
#endif

namespace {
constexpr int64_t kBlock = 4096;  // neurons per task: whole pages per row (prefetch), state in L1-L2

inline int64_t block_count(int64_t n) { return (n + kBlock - 1) / kBlock; }

// Training's records (membranes and float spikes, T x N each) are far larger than the caches
// and read again only later, so they are written with streaming stores: a plain store first
// reads each line it writes (write-allocate), twice the traffic. The same operations as the
// loop below (multiply, add, subtract, compare), so the same bits; returns how many neurons it
// did (0 where the rows are not aligned for streaming, or no vector unit is targeted).
#if defined(SNN_THA_X86) && defined(__AVX512F__)
constexpr int64_t kLanes = 16;
inline int64_t stream_step(const float* c, float* m, float* z, float* prev, int64_t len,
                           float beta, float theta) {
  if ((reinterpret_cast<uintptr_t>(m) | reinterpret_cast<uintptr_t>(z)) % 64) return 0;
  const __m512 vb = _mm512_set1_ps(beta), vt = _mm512_set1_ps(theta), one = _mm512_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + kLanes <= len; i += kLanes) {
    const __m512 p = _mm512_loadu_ps(prev + i);
    __m512 u = _mm512_add_ps(_mm512_mul_ps(vb, p), _mm512_loadu_ps(c + i));
    u = _mm512_mask_sub_ps(u, _mm512_cmp_ps_mask(p, vt, _CMP_GT_OQ), u, vt);
    _mm512_stream_ps(m + i, u);
    _mm512_stream_ps(z + i, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(u, vt, _CMP_GT_OQ), one));
    _mm512_storeu_ps(prev + i, u);
  }
  return i;
}
#elif defined(SNN_THA_X86) && defined(__AVX__)
constexpr int64_t kLanes = 8;
inline int64_t stream_step(const float* c, float* m, float* z, float* prev, int64_t len,
                           float beta, float theta) {
  if ((reinterpret_cast<uintptr_t>(m) | reinterpret_cast<uintptr_t>(z)) % 32) return 0;
  const __m256 vb = _mm256_set1_ps(beta), vt = _mm256_set1_ps(theta), one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + kLanes <= len; i += kLanes) {
    const __m256 p = _mm256_loadu_ps(prev + i);
    __m256 u = _mm256_add_ps(_mm256_mul_ps(vb, p), _mm256_loadu_ps(c + i));
    u = _mm256_blendv_ps(u, _mm256_sub_ps(u, vt), _mm256_cmp_ps(p, vt, _CMP_GT_OQ));
    _mm256_stream_ps(m + i, u);
    _mm256_stream_ps(z + i, _mm256_and_ps(_mm256_cmp_ps(u, vt, _CMP_GT_OQ), one));
    _mm256_storeu_ps(prev + i, u);
  }
  return i;
}
#else
inline int64_t stream_step(const float*, float*, float*, float*, int64_t, float, float) { return 0; }
#endif

// Evaluation's step, spikes as 0/1 bytes: the same operations 8 neurons per register, 32 per
// store (the plain loop below, which the compiler leaves scalar, took ~1 ns a neuron-step).
#if defined(SNN_THA_X86) && defined(__AVX2__)
inline int64_t bytes_step(const float* c, uint8_t* z, float* prev, int64_t len, float beta,
                          float theta) {
  const __m256 vb = _mm256_set1_ps(beta), vt = _mm256_set1_ps(theta);
  const __m256i one = _mm256_set1_epi32(1), order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int64_t i = 0;
  for (; i + 32 <= len; i += 32) {
    __m256i bits[4];
    for (int q = 0; q < 4; ++q) {
      const __m256 p = _mm256_loadu_ps(prev + i + 8 * q);
      __m256 u = _mm256_add_ps(_mm256_mul_ps(vb, p), _mm256_loadu_ps(c + i + 8 * q));
      u = _mm256_blendv_ps(u, _mm256_sub_ps(u, vt), _mm256_cmp_ps(p, vt, _CMP_GT_OQ));
      _mm256_storeu_ps(prev + i + 8 * q, u);
      bits[q] = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(u, vt, _CMP_GT_OQ)), one);
    }
    // 4 x 8 int32 -> 32 bytes; the packs interleave 128-bit lanes, the permute undoes it
    const __m256i packed = _mm256_packus_epi16(_mm256_packs_epi32(bits[0], bits[1]),
                                               _mm256_packs_epi32(bits[2], bits[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(z + i),
                        _mm256_permutevar8x32_epi32(packed, order));
  }
  return i;
}
#else
inline int64_t bytes_step(const float*, uint8_t*, float*, int64_t, float, float) { return 0; }
#endif

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
      int64_t i = 0;
      if constexpr (kMembranes && sizeof(Spike) == sizeof(float))
        i = stream_step(c, m, reinterpret_cast<float*>(z), prev, len, beta, theta);
      if constexpr (!kMembranes && sizeof(Spike) == 1)
        i = bytes_step(c, reinterpret_cast<uint8_t*>(z), prev, len, beta, theta);
      for (; i < len; ++i) {
        const float p = prev[i];
        float u = beta * p + c[i];
        u = (p > theta) ? u - theta : u;
        if (kMembranes) m[i] = u;
        z[i] = (u > theta) ? Spike(1) : Spike(0);
        prev[i] = u;
      }
    }
#ifdef SNN_THA_X86
    _mm_sfence();   // streamed stores visible before the task ends
#endif
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
