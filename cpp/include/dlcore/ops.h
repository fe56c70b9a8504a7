// The C++ op API, one section per op family. Each family lives in cpp/src/ops/<family>.cpp
// (checks, dispatch, autograd) with its kernels in cpp/src/cpu/<family>.cpp and
// cuda/<family>.cu, and its Python bindings in cpp/bindings/<family>.cpp.
// Every op validates its arguments first and raises naming the op, the argument and shapes.
#pragma once

#include <optional>
#include <tuple>
#include <vector>

#include "dlcore/tensor.h"

namespace dlcore {

using OptTensor = std::optional<Tensor>;  // nullopt or a null Tensor both mean "absent"

// ---- copy and conversion (ops/copy.cpp) ---------------------------------------------------
void copy_(const Tensor& dst, const Tensor& src);  // src broadcast to dst, cast to dst's dtype
void fill_(const Tensor& t, double value);
void zero_(const Tensor& t);
Tensor contiguous(const Tensor& t);                // t itself when already contiguous
Tensor clone(const Tensor& t);
Tensor to_dtype(const Tensor& t, DType dtype);     // t itself when already that dtype
Tensor to_device(const Tensor& t, Device device);  // t itself when already there
Tensor detach(const Tensor& t);                    // same storage, no history

// ---- factories and random numbers (ops/factory.cpp) -------------------------------------
Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = {});
Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = {});
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = {});
Tensor arange(double start, double end, double step, DType dtype, Device device = {});
Tensor linspace(double start, double end, int64_t steps, DType dtype, Device device = {});
Tensor eye(int64_t n, int64_t m, DType dtype, Device device = {});
void manual_seed(uint64_t seed);
uint64_t initial_seed();
Tensor rand(const Shape& shape, DType dtype = DType::Float32, Device device = {});
Tensor randn(const Shape& shape, DType dtype = DType::Float32, Device device = {});
Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype = DType::Int64, Device device = {});
Tensor randperm(int64_t n, DType dtype = DType::Int64, Device device = {});
Tensor dropout(const Tensor& x, double p, bool training);

// ---- views (ops/view.cpp): all share storage with their input -----------------------------
Tensor view(const Tensor& t, const Shape& shape);      // -1 allowed; raises if not viewable
Tensor reshape(const Tensor& t, const Shape& shape);   // a view when possible, else a copy
Tensor permute(const Tensor& t, const Shape& dims);
Tensor transpose(const Tensor& t, int64_t d0, int64_t d1);
Tensor expand(const Tensor& t, const Shape& shape);    // -1 keeps a dim
Tensor squeeze(const Tensor& t, std::optional<int64_t> dim = std::nullopt);
Tensor unsqueeze(const Tensor& t, int64_t dim);
Tensor flatten(const Tensor& t, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& t, int64_t dim, int64_t index);
Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step);  // clamped like Python
Tensor as_strided(const Tensor& t, const Shape& shape, const Shape& strides, int64_t offset);

// ---- elementwise binary with broadcasting and type promotion (ops/binary.cpp) -------------
DType result_type(const std::vector<Tensor>& ts);  // PyTorch's promotion incl. wrapped numbers
Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);  // true division: integers give float32
Tensor pow(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
// Bitwise ops: integer and bool tensors (on bool they are the logical ops).
Tensor bitwise_and(const Tensor& a, const Tensor& b);
Tensor bitwise_or(const Tensor& a, const Tensor& b);
Tensor bitwise_xor(const Tensor& a, const Tensor& b);
Tensor bitwise_not(const Tensor& x);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// In place: a op= b (b broadcast to a; the result type must cast to a's dtype).
Tensor& add_(Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor& sub_(Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor& mul_(Tensor& a, const Tensor& b);
Tensor& div_(Tensor& a, const Tensor& b);
Tensor& bitwise_and_(Tensor& a, const Tensor& b);
Tensor& bitwise_or_(Tensor& a, const Tensor& b);
Tensor& bitwise_xor_(Tensor& a, const Tensor& b);
// Math functions of two arguments. Integer inputs give float32 for atan2, copysign and xlogy;
// hypot, nextafter and logaddexp(2) take floating inputs only; fmod, remainder (the sign of
// b) and floor_divide keep integer dtypes; gcd, lcm and the shifts take integers only.
Tensor atan2(const Tensor& a, const Tensor& b);
Tensor copysign(const Tensor& a, const Tensor& b);
Tensor xlogy(const Tensor& a, const Tensor& b);
Tensor hypot(const Tensor& a, const Tensor& b);
Tensor nextafter(const Tensor& a, const Tensor& b);
Tensor logaddexp(const Tensor& a, const Tensor& b);
Tensor logaddexp2(const Tensor& a, const Tensor& b);
Tensor fmod(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor floor_divide(const Tensor& a, const Tensor& b);
Tensor heaviside(const Tensor& x, const Tensor& values);
Tensor fmax(const Tensor& a, const Tensor& b);
Tensor fmin(const Tensor& a, const Tensor& b);
Tensor gcd(const Tensor& a, const Tensor& b);
Tensor lcm(const Tensor& a, const Tensor& b);
Tensor bitwise_left_shift(const Tensor& a, const Tensor& b);
Tensor bitwise_right_shift(const Tensor& a, const Tensor& b);
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight);  // floating, one dtype

// ---- elementwise unary and activations (ops/unary.cpp) ------------------------------------
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor logical_not(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor prelu(const Tensor& x, const Tensor& weight);  // weight: 1 or x.shape[1] elements
Tensor gelu(const Tensor& x, bool tanh_approx = false);
Tensor silu(const Tensor& x);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
// Math functions: integer inputs give float32 results except for the rounding ops (the
// identity on integers) and nan_to_num; the predicates give bool.
Tensor acos(const Tensor& x);
Tensor asin(const Tensor& x);
Tensor atan(const Tensor& x);
Tensor sinh(const Tensor& x);
Tensor cosh(const Tensor& x);
Tensor tan(const Tensor& x);
Tensor asinh(const Tensor& x);
Tensor acosh(const Tensor& x);
Tensor atanh(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor erfc(const Tensor& x);
Tensor erfinv(const Tensor& x);
Tensor lgamma(const Tensor& x);
Tensor digamma(const Tensor& x);
Tensor polygamma(int64_t n, const Tensor& x);  // the n-th derivative of digamma
Tensor exp2(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor log2(const Tensor& x);
Tensor log10(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor i0(const Tensor& x);
Tensor sinc(const Tensor& x);
Tensor logit(const Tensor& x, std::optional<double> eps = std::nullopt);  // eps: clamp to [eps, 1 - eps]
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x, int64_t decimals = 0);  // half to even
Tensor trunc(const Tensor& x);
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);
Tensor isposinf(const Tensor& x);
Tensor isneginf(const Tensor& x);
Tensor signbit(const Tensor& x);
// NaN, +inf and -inf replaced; the infinities default to the dtype's largest finite values.
Tensor nan_to_num(const Tensor& x, std::optional<double> nan = std::nullopt, std::optional<double> posinf = std::nullopt,
                  std::optional<double> neginf = std::nullopt);

// ---- reductions (ops/reduce.cpp): empty `dims` means all dims --------------------------
Tensor sum(const Tensor& x, const Shape& dims = {}, bool keepdim = false, std::optional<DType> dtype = std::nullopt);
Tensor mean(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor prod(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor amax(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
std::tuple<Tensor, Tensor> max_dim(const Tensor& x, int64_t dim, bool keepdim = false);  // values, indices
std::tuple<Tensor, Tensor> min_dim(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor var(const Tensor& x, const Shape& dims = {}, double correction = 1.0, bool keepdim = false);
Tensor std(const Tensor& x, const Shape& dims = {}, double correction = 1.0, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor norm(const Tensor& x, double p = 2.0, const Shape& dims = {}, bool keepdim = false);
Tensor all(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor any(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor cumsum(const Tensor& x, int64_t dim);
// Sums `grad` down to `shape` (the inverse of broadcasting); used by the autograd engine.
Tensor sum_to(const Tensor& grad, const Shape& shape);

// ---- softmax family (ops/softmax.cpp) ------------------------------------------------------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---- matrix products (ops/linalg.cpp) -------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b);  // numpy semantics, batch dims broadcast
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b, double beta = 1.0, double alpha = 1.0);
Tensor linear(const Tensor& x, const Tensor& weight, const OptTensor& bias);  // x @ weight.T + bias

// ---- shape ops that copy (ops/shape.cpp) ----------------------------------------------------
Tensor cat(const std::vector<Tensor>& ts, int64_t dim);
Tensor stack(const std::vector<Tensor>& ts, int64_t dim);
std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t dim);
std::vector<Tensor> split_with_sizes(const Tensor& t, const Shape& sizes, int64_t dim);
std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim);
// pad: (left, right) pairs from the last dim backwards, like torch.nn.functional.pad.
Tensor pad(const Tensor& t, const Shape& pad, const std::string& mode = "constant", double value = 0.0);
Tensor repeat(const Tensor& t, const Shape& repeats);
Tensor tile(const Tensor& t, const Shape& reps);
Tensor flip(const Tensor& t, const Shape& dims);
Tensor roll(const Tensor& t, const Shape& shifts, const Shape& dims);
Tensor tril(const Tensor& t, int64_t diagonal = 0);
Tensor triu(const Tensor& t, int64_t diagonal = 0);

// ---- indexing (ops/index.cpp) -------------------------------------------------------------
Tensor gather(const Tensor& t, int64_t dim, const Tensor& index);
Tensor scatter(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src);
Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index);
Tensor masked_fill(const Tensor& t, const Tensor& mask, const Tensor& value);
Tensor one_hot(const Tensor& t, int64_t num_classes = -1);
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = std::nullopt);
Tensor nonzero(const Tensor& t);  // (n, ndim) int64
// Advanced indexing: indices[i] indexes dim i (null = full slice), numpy/PyTorch rules for
// where the broadcast index dims go.
Tensor index(const Tensor& t, const std::vector<Tensor>& indices);
void index_put_(Tensor& t, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate = false);

// ---- sorting (ops/sort.cpp) ---------------------------------------------------------------
std::tuple<Tensor, Tensor> sort(const Tensor& t, int64_t dim = -1, bool descending = false);
Tensor argsort(const Tensor& t, int64_t dim = -1, bool descending = false);
std::tuple<Tensor, Tensor> topk(const Tensor& t, int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true);

// ---- operators for backward formulas ------------------------------------------------------
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator*(const Tensor& a, double s);
inline Tensor operator*(double s, const Tensor& a) { return a * s; }
Tensor operator+(const Tensor& a, double s);

}  // namespace dlcore
