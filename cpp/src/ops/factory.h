// Kernel slots for random tensors (cpu/factory.cpp, cuda/factory.cu). Both fill a
// contiguous tensor from Philox with the given (seed, offset): see dlcore/philox.h.
#pragma once

#include "dlcore/dispatch.h"

namespace dlcore {

DL_DECLARE_KERNEL(uniform_kernel, void (*)(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset));
DL_DECLARE_KERNEL(normal_kernel, void (*)(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset));
// low + an integer uniform in [0, range) (Note [Uniform integers]), converted to out's dtype.
DL_DECLARE_KERNEL(randint_kernel,
                  void (*)(const Tensor& out, int64_t low, uint64_t range, uint64_t seed, uint64_t offset));

// The global generator's state: its seed and the offset its next random op takes. Setting it
// is O(1): every random op draws from the Philox stream (seed, offset) alone.
struct GeneratorState {
  uint64_t seed;
  uint64_t offset;
};
GeneratorState get_rng_state();
void set_rng_state(GeneratorState state);

// Draws num_samples category indices per row of probs ((V) or (B, V) non-negative weights, not
// necessarily normalised): int64 of shape (num_samples) or (B, num_samples). Runs on the host.
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false);

}  // namespace dlcore
