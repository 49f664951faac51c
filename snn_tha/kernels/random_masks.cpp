// Bernoulli masks from torch's default CPU generator, the same numbers torch's CPU
// `bernoulli_(p)` draws (`snn_tha/kernels/random_masks.py` checks that once per process):
//   - the generator is MT19937 (the standard twist and tempering); torch draws a word by
//       left -= 1; if left == 0: twist, left = 624, next = 0;  word = temper(state[next++])
//   - each sample takes two words, hi then lo: v = (hi << 32) | lo, u = (v mod 2^53) * 2^-53
//     (a double in [0, 1)), and the sample is 1 when u < p.
// torch draws one sample after another on one thread (about 10 ns each); here the twist and the
// tempering run over whole blocks, which the compiler vectorises, and u < p is the integer test
// (v mod 2^53) < ceil(p * 2^53), the same comparison without the conversion.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace {
constexpr int kN = 624, kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfu, kUpper = 0x80000000u, kLower = 0x7fffffffu;

inline uint32_t twisted(uint32_t u, uint32_t v) {
  return (((u & kUpper) | (v & kLower)) >> 1) ^ ((v & 1u) ? kMatrixA : 0u);
}

void twist(uint32_t* s) {
  for (int i = 0; i < kN - kM; ++i) s[i] = s[i + kM] ^ twisted(s[i], s[i + 1]);
  for (int i = kN - kM; i < kN - 1; ++i) s[i] = s[i + kM - kN] ^ twisted(s[i], s[i + 1]);
  s[kN - 1] = s[kM - 1] ^ twisted(s[kN - 1], s[0]);
}

inline uint32_t temper(uint32_t y) {
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  return y ^ (y >> 18);
}

// `count` tempered words in torch's order, advancing state, left and next as torch does
void words(uint32_t* s, int64_t& left, int64_t& next, uint32_t* out, int64_t count) {
  while (count > 0) {
    if (left == 1) {   // torch's next draw twists first
      twist(s);
      left = kN + 1;
      next = 0;
    }
    const int64_t take = std::min(count, left - 1);
    for (int64_t i = 0; i < take; ++i) out[i] = temper(s[next + i]);
    next += take;
    left -= take;
    out += take;
    count -= take;
  }
}
}  // namespace

extern "C" {

// out[n] = 1.0f with probability p (0.0f else), as n calls of torch's Bernoulli draw
void bernoulli_masks(uint32_t* state, int64_t* left, int64_t* next, float* out, int64_t n,
                     double p) {
  constexpr int64_t kBlock = 2048;   // samples per block: 16 KB of words on the stack
  const uint64_t mask = (uint64_t(1) << 53) - 1;
  const uint64_t bound = static_cast<uint64_t>(std::ceil(std::ldexp(p, 53)));   // p <= 1: exact
  uint32_t w[2 * kBlock];
  int64_t l = *left, x = *next;
  for (int64_t done = 0; done < n; done += kBlock) {
    const int64_t len = std::min(kBlock, n - done);
    words(state, l, x, w, 2 * len);
    for (int64_t i = 0; i < len; ++i) {
      const uint64_t v = (uint64_t(w[2 * i]) << 32) | w[2 * i + 1];
      out[done + i] = (v & mask) < bound ? 1.0f : 0.0f;
    }
  }
  *left = l;
  *next = x;
}

}  // extern "C"
