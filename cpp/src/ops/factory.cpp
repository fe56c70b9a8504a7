// Factories (zeros, ones, full, arange, linspace, eye), the global generator and random
// tensors, dropout.
#include "ops/factory.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include "dlcore/autograd.h"
#include "dlcore/ops.h"
#include "dlcore/philox.h"

namespace dlcore {

DL_DEFINE_KERNEL(uniform_kernel);
DL_DEFINE_KERNEL(normal_kernel);
DL_DEFINE_KERNEL(randint_kernel);

namespace {

struct Generator {
  std::mutex mu;
  GeneratorState state{67280421310721ull, 0};
  // The (seed, offset) of one random op: the offset advances by one per op.
  GeneratorState next() {
    std::lock_guard<std::mutex> g(mu);
    return {state.seed, state.offset++};
  }
};
Generator& generator() {
  static Generator g;
  return g;
}

// Builds a tensor on the CPU with f(scalar_t* data) and moves it to `device`.
template <typename F>
Tensor host_built(const Shape& shape, DType dtype, Device device, const char* op, F f) {
  Tensor t = empty(shape, dtype, Device{}, op);
  DL_DISPATCH_ALL_AND_HALF(dtype, op, [&] { f(t->data<scalar_t>()); });
  return to_device(t, device);
}

}  // namespace

void manual_seed(uint64_t seed) { set_rng_state({seed, 0}); }

uint64_t initial_seed() { return get_rng_state().seed; }

GeneratorState get_rng_state() {
  Generator& g = generator();
  std::lock_guard<std::mutex> lock(g.mu);
  return g.state;
}

void set_rng_state(GeneratorState state) {
  Generator& g = generator();
  std::lock_guard<std::mutex> lock(g.mu);
  g.state = state;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device, "full");
  fill_(t, value);
  return t;
}

// Note [Integral arange]
// For integer dtypes PyTorch truncates start and step (and, for int64, end) to integers
// before it computes anything: the values are trunc(start) + i * trunc(step). The length is
// ceil((end - start) / step) from the original values, except for int64, whose length
// counts the integers from trunc(start) to trunc(end) in steps of trunc(step) (so
// arange(-3, 7.25, dtype=int64) ends at 6 but the int32 one at 7). The step's sign is
// checked on the original values; an int64 step that truncates to 0 is an error.
Tensor arange(double start, double end, double step, DType dtype, Device device) {
  DL_CHECK(step != 0, ValueError, "arange: step must be non-zero");
  DL_CHECK((step > 0 && end >= start) || (step < 0 && end <= start), ValueError, "arange: upper bound ", end,
           " and lower bound ", start, " inconsistent with step sign ", step);
  DL_CHECK(std::isfinite(start) && std::isfinite(end), ValueError, "arange: start and end must be finite, got ",
           start, " and ", end);
  DL_CHECK(dtype != DType::Bool, TypeError, "arange: dtype bool is not supported");
  constexpr double kLimit = 9.2e18;  // below 2^63
  const bool integral = !is_floating(dtype);
  DL_CHECK(!integral || (std::abs(start) < kLimit && std::abs(end) < kLimit && std::abs(step) < kLimit),
           RuntimeError, "arange: start ", start, ", end ", end, " and step ", step, " must fit in int64 for ",
           dtype_name(dtype));
  const int64_t istart = integral ? static_cast<int64_t>(start) : 0, istep = integral ? static_cast<int64_t>(step) : 0;
  double count = std::ceil((end - start) / step);
  if (dtype == DType::Int64) {
    DL_CHECK(istep != 0, ValueError, "arange: step must be non-zero, got ", step, ", which is 0 as an int64");
    // ceil(|trunc(end) - trunc(start)| / |trunc(step)|), in uint64 so that nothing overflows.
    const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
    const int64_t iend = static_cast<int64_t>(end);
    const uint64_t span = istep > 0 ? u(iend) - u(istart) : u(istart) - u(iend);
    const uint64_t ustep = istep > 0 ? u(istep) : u(0) - u(istep);
    count = static_cast<double>(span / ustep + (span % ustep != 0 ? 1 : 0));
  }
  DL_CHECK(count < kLimit, RuntimeError, "arange: ", count, " elements (start ", start, ", end ", end, ", step ",
           step, ") is more than a tensor can hold");
  const int64_t n = static_cast<int64_t>(count);
  return host_built({n}, dtype, device, "arange", [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    if constexpr (std::is_integral_v<T>) {
      // In uint64, so that values past T's range wrap as the cast to T does, without overflow.
      const uint64_t s0 = static_cast<uint64_t>(istart), ds = static_cast<uint64_t>(istep);
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(static_cast<int64_t>(s0 + static_cast<uint64_t>(i) * ds));
    } else {
      for (int64_t i = 0; i < n; ++i) p[i] = convert<T>(start + static_cast<double>(i) * step);
    }
  });
}

// As in PyTorch: one step gives start, and integer dtypes truncate start and end first
// (linspace(0.5, 9.5, 3, dtype=int64) is [0, 4, 9]).
Tensor linspace(double start, double end, int64_t steps, DType dtype, Device device) {
  DL_CHECK(steps >= 0, ValueError, "linspace: number of steps must be non-negative, got ", steps);
  if (!is_floating(dtype) && dtype != DType::Bool) {
    start = std::trunc(start);
    end = std::trunc(end);
  }
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  return host_built({steps}, dtype, device, "linspace", [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    // Fill symmetrically from both ends, as PyTorch does, so the last value is exactly `end`.
    const int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; ++i)
      p[i] = convert<T>(i < half || steps == 1 ? start + step * static_cast<double>(i)
                                               : end - step * static_cast<double>(steps - 1 - i));
  });
}

Tensor eye(int64_t n, int64_t m, DType dtype, Device device) {
  if (m < 0) m = n;
  DL_CHECK(n >= 0, ValueError, "eye: n must be non-negative, got ", n);
  check_shape({n, m}, "eye", dtype_size(dtype));
  return host_built({n, m}, dtype, device, "eye", [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (int64_t i = 0; i < n * m; ++i) p[i] = convert<T>(0.0);
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = convert<T>(1.0);
  });
}

Tensor rand(const Shape& shape, DType dtype, Device device) {
  DL_CHECK(is_floating(dtype), TypeError, "rand: expected a floating dtype, got ", dtype_name(dtype));
  Tensor t = empty(shape, dtype, device, "rand");
  const GeneratorState s = generator().next();
  uniform_kernel[device](t, 0.0, 1.0, s.seed, s.offset);
  return t;
}

Tensor randn(const Shape& shape, DType dtype, Device device) {
  DL_CHECK(is_floating(dtype), TypeError, "randn: expected a floating dtype, got ", dtype_name(dtype));
  Tensor t = empty(shape, dtype, device, "randn");
  const GeneratorState s = generator().next();
  normal_kernel[device](t, 0.0, 1.0, s.seed, s.offset);
  return t;
}

// As in PyTorch, an integer dtype must hold low and high - 1; a floating one rounds values
// past its exact-integer range (2^24 for float32) to nearby integers.
Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype, Device device) {
  DL_CHECK(high > low, ValueError, "randint: expected high > low, got low=", low, " high=", high);
  if (dtype == DType::Int32 || dtype == DType::Bool) {
    const int64_t lo = dtype == DType::Bool ? 0 : std::numeric_limits<int32_t>::min();
    const int64_t hi = dtype == DType::Bool ? 1 : std::numeric_limits<int32_t>::max();
    DL_CHECK(low >= lo && high - 1 <= hi, RuntimeError, "randint: low=", low, " and high - 1=", high - 1,
             " must be in [", lo, ", ", hi, "] for dtype ", dtype_name(dtype));
  }
  DL_CHECK(check_shape(shape, "randint", dtype_size(dtype)) < (int64_t{1} << kRetryShift), RuntimeError,
           "randint: shape ", shape_str(shape), " has more elements than the generator's counter supports (2^",
           kRetryShift, ")");
  Tensor t = empty(shape, dtype, device, "randint");
  const GeneratorState s = generator().next();
  randint_kernel[device](t, low, static_cast<uint64_t>(high) - static_cast<uint64_t>(low), s.seed, s.offset);
  return t;
}

Tensor randperm(int64_t n, DType dtype, Device device) {
  DL_CHECK(n >= 0, ValueError, "randperm: n must be non-negative, got ", n);
  check_shape({n}, "randperm", sizeof(double) + sizeof(int64_t) + dtype_size(dtype));
  // Sort-free: rank by random keys is O(n log n); Fisher-Yates over Philox draws is O(n).
  Tensor keys = rand({n}, DType::Float64, Device{});
  const double* u = keys->data<double>();
  std::vector<int64_t> perm(n);
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(u[i] * static_cast<double>(i + 1));
    std::swap(perm[i], perm[j]);
  }
  return host_built({n}, dtype, device, "randperm", [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (int64_t i = 0; i < n; ++i) p[i] = convert<T>(static_cast<double>(perm[i]));
  });
}

// Note [Multinomial sampling]: with replacement, each draw inverts the row's cumulative sums
// (binary search for u * total). Without replacement, the draws are the num_samples smallest
// keys -log(u_i) / w_i (exponential races: the first arrival is category i with probability
// w_i / sum w, and the later ones follow the same rule among the rest), so one pass over the row
// and a partial sort give the whole ordered sample. Zero-weight categories are never drawn.
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  DL_CHECK(probs->dim() == 1 || probs->dim() == 2, ValueError,
           "multinomial: expected probs of 1 or 2 dimensions, got ", probs->describe());
  DL_CHECK(is_floating(probs->dtype()), TypeError, "multinomial: expected a floating probs tensor, got ",
           probs->describe());
  DL_CHECK(num_samples > 0, ValueError, "multinomial: num_samples must be positive, got ", num_samples);
  const int64_t rows = probs->dim() == 2 ? probs->shape()[0] : 1, v = probs->shape().back();
  DL_CHECK(v > 0, ValueError, "multinomial: probs has no categories, shape ", probs->describe());
  DL_CHECK(replacement || num_samples <= v, ValueError, "multinomial: cannot draw ", num_samples,
           " samples without replacement from ", v, " categories");
  Tensor w = contiguous(to_device(to_dtype(probs, DType::Float64), Device{}));
  const double* pw = w->data<double>();
  Tensor u = rand({rows, replacement ? num_samples : v}, DType::Float64, Device{});
  const double* pu = u->data<double>();
  Shape out_shape = probs->dim() == 2 ? Shape{rows, num_samples} : Shape{num_samples};
  Tensor out = empty(out_shape, DType::Int64, Device{});
  int64_t* po = out->data<int64_t>();
  std::vector<double> cum(v);
  std::vector<std::pair<double, int64_t>> keys(v);
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = pw + r * v;
    double total = 0;
    int64_t positive = 0;
    for (int64_t i = 0; i < v; ++i) {
      DL_CHECK(std::isfinite(row[i]) && row[i] >= 0, ValueError,
               "multinomial: probs must be finite and non-negative, got ", row[i], " at row ", r, ", index ", i);
      total += row[i];
      cum[i] = total;
      positive += row[i] > 0;
    }
    DL_CHECK(total > 0, ValueError, "multinomial: row ", r, " of probs sums to zero");
    DL_CHECK(replacement || num_samples <= positive, ValueError, "multinomial: cannot draw ", num_samples,
             " samples without replacement from row ", r, ", which has ", positive, " non-zero weights");
    int64_t* dst = po + r * num_samples;
    if (replacement) {
      for (int64_t s = 0; s < num_samples; ++s) {
        const double target = pu[r * num_samples + s] * total;
        int64_t i = std::upper_bound(cum.begin(), cum.end(), target) - cum.begin();
        i = std::min(i, v - 1);
        while (row[i] == 0 && i > 0) --i;  // u * total landing exactly on a boundary
        dst[s] = i;
      }
      continue;
    }
    for (int64_t i = 0; i < v; ++i) {
      const double e = -std::log1p(-pu[r * v + i]);  // Exp(1) from u in [0, 1)
      keys[i] = {row[i] > 0 ? e / row[i] : std::numeric_limits<double>::infinity(), i};
    }
    std::partial_sort(keys.begin(), keys.begin() + num_samples, keys.end());
    for (int64_t s = 0; s < num_samples; ++s) dst[s] = keys[s].second;
  }
  return to_device(out, probs->device());
}

Tensor dropout(const Tensor& x, double p, bool training) {
  DL_CHECK(p >= 0 && p <= 1, ValueError, "dropout: probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0) return x;
  if (p == 1) return mul(x, wrap_scalar(0.0, x->dtype()));
  DL_CHECK(is_floating(x->dtype()), TypeError, "dropout: expected a floating tensor, got ", x->describe());
  Tensor keep = ge(rand(x->shape(), x->dtype(), x->device()), wrap_scalar(p, DType::Float64));
  Tensor scale = mul(to_dtype(keep, x->dtype()), wrap_scalar(1.0 / (1.0 - p), DType::Float64));
  return mul(x, scale);
}

DL_REGISTER_OPS({"zeros", "factory", false}, {"ones", "factory", false}, {"full", "factory", false},
                {"arange", "factory", false}, {"linspace", "factory", false}, {"eye", "factory", false},
                {"rand", "random", false}, {"randn", "random", false}, {"randint", "random", false},
                {"randperm", "random", false}, {"multinomial", "random", false},
                {"dropout", "random", true});

}  // namespace dlcore
