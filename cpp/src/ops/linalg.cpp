// Matrix products: matmul (numpy semantics), mm, bmm, addmm and linear. Checks, the batched
// product behind them (one gemm_kernel call, Note [GEMM operands]) and their gradients.
//
// Note [Matmul by composition]
// Every op here reduces to one recorded primitive, `product` (a (..., M, K) @ b (..., K, N)
// with broadcast batch dims), or to addmm, glued with differentiable views: matmul turns a
// 1-d operand into a matrix with unsqueeze and removes that dim again with squeeze, and folds
// the batch dims of `a` into its rows when `b` is a plain matrix (reshape to (B*M, K), one
// GEMM, reshape back). The views' own backwards then handle the vector and fold cases, and
// the engine sums gradients over broadcast batch dims (Note [Node inputs and outputs]), so
// the backward formulas are the two matrix identities, written with matmul itself so that
// they run on any device and can be differentiated again:
//     grad_a = grad @ b^T        grad_b = a^T @ grad
#include "ops/linalg.h"

#include <algorithm>
#include <atomic>

#include "core/autocast.h"
#include "dlcore/autograd.h"
#include "dlcore/ops.h"

namespace dlcore {

DL_DEFINE_KERNEL(gemm_kernel);

namespace {

// ---- layout helpers -------------------------------------------------------------------------

// Whether dims [begin, end) of (shape, strides) can be walked with one stride, and which.
// Size-1 dims are skipped; no dims (or only size-1 ones) collapse to stride 0.
bool collapse_dims(const Shape& shape, const Shape& strides, int64_t begin, int64_t end, int64_t& stride) {
  stride = 0;
  int64_t inner = -1;  // the previous (more inner) dim of size > 1
  for (int64_t d = end - 1; d >= begin; --d) {
    if (shape[d] == 1) continue;
    if (inner < 0) {
      stride = strides[d];
    } else if (strides[d] != strides[inner] * shape[inner]) {
      return false;
    }
    inner = d;
  }
  return true;
}

// An (R, C) matrix with strides (rs, cs) in BLAS layout (Note [GEMM operands]): row-major
// with cs == 1 and rs >= C, or column-major with rs == 1 and cs >= R. The strides of size-1
// dims carry no information and are normalised.
bool blas_layout(int64_t R, int64_t C, int64_t& rs, int64_t& cs) {
  const int64_t r1 = std::max<int64_t>(R, 1), c1 = std::max<int64_t>(C, 1);
  if ((C == 1 || cs == 1) && (R == 1 || rs >= c1)) {
    if (R == 1) rs = c1;
    cs = 1;
    return true;
  }
  if ((R == 1 || rs == 1) && (C == 1 || cs >= r1)) {
    if (C == 1) cs = r1;
    rs = 1;
    return true;
  }
  return false;
}

// t broadcast to `shape` (a plain strided view; no autograd).
Tensor broadcast_view(const Tensor& t, const Shape& shape) {
  if (t->shape() == shape) return t;
  const int64_t n = static_cast<int64_t>(shape.size()), lead = n - t->dim();
  Shape strides(n, 0);
  for (int64_t d = lead; d < n; ++d)
    if (t->shape()[d - lead] == shape[d]) strides[d] = t->strides()[d - lead];
  return make_view(t, shape, strides, t->offset());
}

Shape batch_shape(const Tensor& t) { return Shape(t->shape().begin(), t->shape().end() - 2); }

Shape concat(Shape a, const Shape& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Tensor mT(const Tensor& t) { return transpose(t, -2, -1); }

}  // namespace

GemmMatrix gemm_operand(const Tensor& t, const Shape& batch, Tensor& keep) {
  const int64_t R = t->shape()[t->dim() - 2], C = t->shape()[t->dim() - 1];
  keep = broadcast_view(t, concat(batch, {R, C}));
  const int64_t nb = static_cast<int64_t>(batch.size());
  int64_t bs = 0, rs = keep->strides()[nb], cs = keep->strides()[nb + 1];
  if (!collapse_dims(keep->shape(), keep->strides(), 0, nb, bs) || !blas_layout(R, C, rs, cs)) {
    GradModeGuard no_grad(false);
    keep = contiguous(keep);
    bs = R * C;
    rs = C;
    cs = 1;
  }
  return {keep->raw_data(), bs, rs, cs};
}

namespace {

// ---- checks ---------------------------------------------------------------------------------

void check_dtype(const char* op, const Tensor& t) {
  DL_CHECK(t->dtype() != DType::Bool, TypeError, op, ": bool tensors are not supported (", t->describe(), ")");
  DL_CHECK(is_cpu_compute_type(t->dtype()) || !t->device().is_cpu(), TypeError, op, ": ", dtype_name(t->dtype()),
           " is not supported on CPU (", t->describe(), "); convert with .float()");
}

void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_same_device(op, a, b);
  DL_CHECK(a->dtype() == b->dtype(), TypeError, op, ": expected both operands to have the same dtype, got ",
           a->describe(), " and ", b->describe());
  check_dtype(op, a);
}

void check_inner(const char* op, const Tensor& a, const Tensor& b, int64_t ka, int64_t kb) {
  DL_CHECK(ka == kb, ValueError, op, ": shapes ", shape_str(a->shape()), " and ", shape_str(b->shape()),
           " cannot be multiplied (", ka, " != ", kb, ")");
}

// ---- the batched product --------------------------------------------------------------------

// out = act(alpha * a @ b + beta * out + bias) for a (..., M, K) and b (..., K, N) broadcast to
// the batch dims `batch`, out contiguous (batch..., M, N) and bias, when given, a vector of N
// (Note [GEMM epilogue]). No checks (callers did them), no autograd.
void gemm_into(const Tensor& out, const Tensor& a, const Tensor& b, const Shape& batch, double beta, double alpha,
               const Tensor& bias = Tensor(), GemmActivation act = GemmActivation::None) {
  if (out->numel() == 0) return;
  GemmArgs g;
  g.dtype = a->dtype();
  g.device = a->device();
  g.batch = shape_numel(batch);
  g.m = a->shape()[a->dim() - 2];
  g.n = b->shape().back();
  g.k = a->shape().back();
  g.alpha = alpha;
  g.beta = beta;
  Tensor keep_a, keep_b;
  g.a = gemm_operand(a, batch, keep_a);
  g.b = gemm_operand(b, batch, keep_b);
  g.c = {out->raw_data(), g.m * g.n, g.n, 1};
  if (bias) {
    g.bias = bias->raw_data();
    g.bias_col_stride = bias->strides()[0];
  }
  g.activation = act;
  g.allow_tf32 = matmul_allow_tf32();
  gemm_kernel[a->device()](g);
}

// a @ b for a (..., M, K), b (..., K, N) with broadcast batch dims; records the backward.
Tensor product(const Tensor& a, const Tensor& b, const char* node_name) {
  const Shape batch = broadcast_shapes(batch_shape(a), batch_shape(b), "matmul");
  Tensor out = empty(concat(batch, {a->shape()[a->dim() - 2], b->shape().back()}), a->dtype(), a->device());
  gemm_into(out, a, b, batch, 0.0, 1.0);
  if (any_requires_grad({&a, &b})) {
    // Saves b for grad_a and a for grad_b, only where that grad is wanted.
    const bool ga_needed = a->requires_grad(), gb_needed = b->requires_grad();
    SavedTensor sa = gb_needed ? SavedTensor(a, false) : SavedTensor();
    SavedTensor sb = ga_needed ? SavedTensor(b, false) : SavedTensor();
    record(node_name, {a, b}, {out}, [sa, sb](const std::vector<Tensor>& g, const Node& n) {
      Tensor ga, gb;
      if (n.needs_input_grad(0)) ga = matmul(g[0], mT(sb.unpack(n)));
      if (n.needs_input_grad(1)) gb = matmul(mT(sa.unpack(n)), g[0]);
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

// Whether a's batch dims and rows merge into one dim without a copy (Note [Matmul by
// composition]).
bool rows_foldable(const Tensor& a) {
  int64_t stride;
  return collapse_dims(a->shape(), a->strides(), 0, a->dim() - 1, stride);
}

// a (..., M, K) @ w (K, N) as one (B*M, K) @ (K, N) product; a is rows_foldable.
template <typename F>
Tensor fold_rows(const Tensor& a, int64_t N, F&& matrix_op) {
  Shape out_shape = a->shape();
  out_shape.back() = N;
  int64_t rows = 1;  // not inferred with -1: K may be 0
  for (int64_t d = 0; d < a->dim() - 1; ++d) rows *= a->shape()[d];
  Tensor out = matrix_op(reshape(a, {rows, a->shape().back()}));
  return reshape(out, out_shape);
}

// Note [Linear]
// linear is its own node rather than addmm(bias, x, weight^T): the backward then computes
// grad_weight = grad^T @ x directly in weight's (out, in) layout, where the composition would
// produce the (in, out) product and hand the leaf a transposed view that AccumulateGrad has
// to copy, and it records no transpose node. The bias is broadcast into the output and the
// GEMM adds the product to it (beta = 1); its gradient is grad summed over the rows.
//   grad_x = grad @ W        grad_W = grad^T @ x        grad_b = sum_rows(grad)
// The formulas use mm/sum, so they run on any device and can be differentiated again.
Tensor linear_rows(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const int64_t rows = x->shape()[0], out_features = weight->shape()[0];
  Tensor out = empty({rows, out_features}, x->dtype(), x->device());
  const Tensor wt = make_view(weight, {weight->shape()[1], out_features}, {weight->strides()[1], weight->strides()[0]},
                              weight->offset());  // weight^T, no history
  // On CUDA the GEMM's epilogue adds the bias (Note [GEMM epilogue]), so the forward is one
  // launch. The CPU kernel would add it in a pass of its own, so there the bias is copied
  // into out first and the product added to it (beta = 1): the same pass, and the sums of
  // the CPU reference are kept as they are.
  const bool bias_in_epilogue = bias && x->device().is_cuda();
  if (bias && !bias_in_epilogue) {
    GradModeGuard no_grad(false);
    copy_(out, expand(detach(bias), {rows, out_features}));
  }
  gemm_into(out, x, wt, {}, bias && !bias_in_epilogue ? 1.0 : 0.0, 1.0, bias_in_epilogue ? bias : Tensor());
  if (any_requires_grad({&x, &weight, &bias})) {
    SavedTensor sx = weight->requires_grad() ? SavedTensor(x, false) : SavedTensor();
    SavedTensor sw = x->requires_grad() ? SavedTensor(weight, false) : SavedTensor();
    record("LinearBackward", {x, weight, bias}, {out}, [sx, sw](const std::vector<Tensor>& g, const Node& n) {
      Tensor gx, gw, gb;
      if (n.needs_input_grad(0)) gx = mm(g[0], sw.unpack(n));
      if (n.needs_input_grad(1)) gw = mm(mT(g[0]), sx.unpack(n));
      if (n.needs_input_grad(2)) gb = sum(g[0], {0});
      return std::vector<Tensor>{gx, gw, gb};
    });
  }
  return out;
}

void check_linear(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_pair(op, x, weight);
  DL_CHECK(weight->dim() == 2, ValueError, op, ": weight must be 2-d (out_features, in_features), got shape ",
           shape_str(weight->shape()));
  DL_CHECK(x->dim() >= 1, ValueError, op, ": input must have at least 1 dimension, got shape ",
           shape_str(x->shape()));
  const int64_t in = weight->shape()[1], out_features = weight->shape()[0];
  DL_CHECK(x->shape().back() == in, ValueError, op, ": input has ", x->shape().back(),
           " features in its last dim but weight expects ", in, " (input ", shape_str(x->shape()), ", weight ",
           shape_str(weight->shape()), ")");
  if (bias) {
    check_pair(op, bias, weight);
    DL_CHECK(bias->dim() == 1 && bias->shape()[0] == out_features, ValueError, op, ": bias must have shape [",
             out_features, "] to match weight ", shape_str(weight->shape()), ", got ", shape_str(bias->shape()));
  }
}

std::atomic<bool> g_matmul_allow_tf32{false};
std::atomic<bool> g_conv_allow_tf32{true};

}  // namespace

bool matmul_allow_tf32() { return g_matmul_allow_tf32.load(std::memory_order_relaxed); }
void set_matmul_allow_tf32(bool allow) { g_matmul_allow_tf32.store(allow, std::memory_order_relaxed); }
bool conv_allow_tf32() { return g_conv_allow_tf32.load(std::memory_order_relaxed); }
void set_conv_allow_tf32(bool allow) { g_conv_allow_tf32.store(allow, std::memory_order_relaxed); }

GemmActivation gemm_activation(const std::string& name, const char* op) {
  if (name == "none") return GemmActivation::None;
  if (name == "relu") return GemmActivation::Relu;
  if (name == "gelu") return GemmActivation::Gelu;
  if (name == "gelu_tanh") return GemmActivation::GeluTanh;
  if (name == "silu") return GemmActivation::Silu;
  throw ValueError(str_cat(op, ": unknown activation '", name, "' (expected none, relu, gelu, gelu_tanh or silu)"));
}

// ---- ops ------------------------------------------------------------------------------------

Tensor matmul(const Tensor& a, const Tensor& b) {
  DL_AUTOCAST(matmul(autocast::lower(a), autocast::lower(b)));
  check_pair("matmul", a, b);
  DL_CHECK(a->dim() >= 1 && b->dim() >= 1, ValueError, "matmul: both arguments need at least 1 dimension, got shapes ",
           shape_str(a->shape()), " and ", shape_str(b->shape()));
  const int64_t ka = a->shape().back();
  const int64_t kb = b->dim() == 1 ? b->shape()[0] : b->shape()[b->dim() - 2];
  check_inner("matmul", a, b, ka, kb);
  const Shape ba = a->dim() > 2 ? batch_shape(a) : Shape{}, bb = b->dim() > 2 ? batch_shape(b) : Shape{};
  const size_t nb = std::max(ba.size(), bb.size());
  for (size_t i = 0; i < nb; ++i) {
    const int64_t da = i + ba.size() < nb ? 1 : ba[i + ba.size() - nb];
    const int64_t db = i + bb.size() < nb ? 1 : bb[i + bb.size() - nb];
    DL_CHECK(da == db || da == 1 || db == 1, ValueError, "matmul: batch dims ", shape_str(ba), " and ", shape_str(bb),
             " of shapes ", shape_str(a->shape()), " and ", shape_str(b->shape()), " cannot be broadcast");
  }
  // Note [Matmul by composition]: vectors become matrices here and lose that dim below.
  const Tensor a2 = a->dim() == 1 ? unsqueeze(a, 0) : a;
  const Tensor b2 = b->dim() == 1 ? unsqueeze(b, 1) : b;
  Tensor out;
  if (a2->dim() > 2 && b2->dim() == 2 && rows_foldable(a2)) {
    out = fold_rows(a2, b2->shape()[1], [&](const Tensor& rows) { return product(rows, b2, "MmBackward"); });
  } else {
    out = product(a2, b2, "MatmulBackward");
  }
  if (b->dim() == 1) out = squeeze(out, -1);
  if (a->dim() == 1) out = squeeze(out, b->dim() == 1 ? -1 : -2);
  return out;
}

Tensor mm(const Tensor& a, const Tensor& b) {
  DL_AUTOCAST(mm(autocast::lower(a), autocast::lower(b)));
  check_pair("mm", a, b);
  DL_CHECK(a->dim() == 2 && b->dim() == 2, ValueError, "mm: expected two matrices (2-d), got shapes ",
           shape_str(a->shape()), " and ", shape_str(b->shape()));
  check_inner("mm", a, b, a->shape()[1], b->shape()[0]);
  return product(a, b, "MmBackward");
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  DL_AUTOCAST(bmm(autocast::lower(a), autocast::lower(b)));
  check_pair("bmm", a, b);
  DL_CHECK(a->dim() == 3 && b->dim() == 3, ValueError, "bmm: expected two batches of matrices (3-d), got shapes ",
           shape_str(a->shape()), " and ", shape_str(b->shape()));
  DL_CHECK(a->shape()[0] == b->shape()[0], ValueError, "bmm: batch sizes differ (", a->shape()[0], " != ",
           b->shape()[0], ") for shapes ", shape_str(a->shape()), " and ", shape_str(b->shape()));
  check_inner("bmm", a, b, a->shape()[2], b->shape()[1]);
  return product(a, b, "BmmBackward");
}

// Note [addmm]
// out = beta * bias + alpha * (a @ b) in one GEMM: bias is broadcast into the output first and
// the kernel scales it by beta while adding the product. beta == 0 ignores bias entirely
// (NaN in it does not propagate), as in PyTorch. The backward saves a and b only.
Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b, double beta, double alpha) {
  DL_AUTOCAST(addmm(autocast::lower(bias), autocast::lower(a), autocast::lower(b), beta, alpha));
  check_pair("addmm", a, b);
  check_same_device("addmm", bias, a);
  DL_CHECK(bias->dtype() == a->dtype(), TypeError, "addmm: expected input to have the dtype of the matrices, got ",
           bias->describe(), " and ", a->describe());
  DL_CHECK(a->dim() == 2 && b->dim() == 2, ValueError, "addmm: expected two matrices (2-d), got shapes ",
           shape_str(a->shape()), " and ", shape_str(b->shape()));
  check_inner("addmm", a, b, a->shape()[1], b->shape()[0]);
  DL_CHECK(is_floating(a->dtype()) || (beta == static_cast<int64_t>(beta) && alpha == static_cast<int64_t>(alpha)),
           TypeError, "addmm: beta and alpha must be integers for ", dtype_name(a->dtype()), " tensors, got beta=",
           beta, ", alpha=", alpha);
  const Shape out_shape{a->shape()[0], b->shape()[1]};
  bool broadcastable = bias->dim() <= 2;
  for (int64_t d = 0; d < bias->dim() && broadcastable; ++d) {
    const int64_t s = bias->shape()[d], want = out_shape[2 - bias->dim() + d];
    broadcastable = s == want || s == 1;
  }
  DL_CHECK(broadcastable, ValueError, "addmm: input of shape ", shape_str(bias->shape()),
           " cannot be broadcast to the product's shape ", shape_str(out_shape), " (", shape_str(a->shape()), " @ ",
           shape_str(b->shape()), ")");
  Tensor out = empty(out_shape, a->dtype(), a->device());
  if (beta != 0.0) {
    GradModeGuard no_grad(false);
    copy_(out, detach(bias));
  }
  gemm_into(out, a, b, {}, beta, alpha);
  if (any_requires_grad({&bias, &a, &b})) {
    SavedTensor sa = b->requires_grad() ? SavedTensor(a, false) : SavedTensor();
    SavedTensor sb = a->requires_grad() ? SavedTensor(b, false) : SavedTensor();
    record("AddmmBackward", {bias, a, b}, {out}, [sa, sb, beta, alpha](const std::vector<Tensor>& g, const Node& n) {
      Tensor gbias, ga, gb;
      if (n.needs_input_grad(0)) gbias = beta == 1.0 ? g[0] : g[0] * beta;  // summed to bias's shape by the engine
      if (n.needs_input_grad(1)) ga = mm(g[0], mT(sb.unpack(n)));
      if (n.needs_input_grad(2)) gb = mm(mT(sa.unpack(n)), g[0]);
      if (alpha != 1.0) {
        if (ga) ga = ga * alpha;
        if (gb) gb = gb * alpha;
      }
      return std::vector<Tensor>{gbias, ga, gb};
    });
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const OptTensor& bias_opt) {
  DL_AUTOCAST(linear(autocast::lower(x), autocast::lower(weight), autocast::lower(bias_opt)));
  const Tensor bias = bias_opt ? *bias_opt : Tensor();
  check_linear("linear", x, weight, bias);
  const int64_t out_features = weight->shape()[0];
  // y = x @ weight^T + bias: one recorded product on the rows of x (its leading dims folded
  // into rows, Note [Linear]).
  if (x->dim() == 2) return linear_rows(x, weight, bias);
  if (x->dim() > 2 && rows_foldable(x))
    return fold_rows(x, out_features, [&](const Tensor& rows) { return linear_rows(rows, weight, bias); });
  Tensor y = matmul(x, mT(weight));
  return bias ? add(y, bias) : y;
}

Tensor linear_activation(const Tensor& x, const Tensor& weight, const Tensor& bias, GemmActivation act) {
  DL_AUTOCAST(
      linear_activation(autocast::lower(x), autocast::lower(weight), bias ? autocast::lower(bias) : bias, act));
  check_linear("linear_activation", x, weight, bias);
  DL_CHECK(act == GemmActivation::None || is_floating(x->dtype()), TypeError,
           "linear_activation: activations need a floating dtype, got ", x->describe());
  const int64_t out_features = weight->shape()[0];
  // One GEMM with the bias and the activation in its epilogue when no graph is recorded (the
  // backward of gelu/silu would need the pre-activation, which the fused kernel never stores).
  if (!any_requires_grad({&x, &weight, &bias}) && (x->dim() == 2 || (x->dim() > 2 && rows_foldable(x)))) {
    const Tensor wt = make_view(weight, {weight->shape()[1], out_features},
                                {weight->strides()[1], weight->strides()[0]}, weight->offset());  // weight^T
    return fold_rows(x, out_features, [&](const Tensor& rows) {
      Tensor out = empty({rows->shape()[0], out_features}, x->dtype(), x->device());
      gemm_into(out, rows, wt, {}, 0.0, 1.0, bias, act);
      return out;
    });
  }
  const Tensor y = linear(x, weight, bias ? OptTensor(bias) : std::nullopt);
  switch (act) {
    case GemmActivation::Relu: return relu(y);
    case GemmActivation::Gelu: return gelu(y, false);
    case GemmActivation::GeluTanh: return gelu(y, true);
    case GemmActivation::Silu: return silu(y);
    default: return y;
  }
}

DL_REGISTER_OPS({"matmul", "linalg", true}, {"mm", "linalg", true}, {"bmm", "linalg", true},
                {"addmm", "linalg", true}, {"linear", "linalg", true});

}  // namespace dlcore
