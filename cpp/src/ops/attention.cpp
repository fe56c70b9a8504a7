// scaled_dot_product_attention: checks, the (seed, stream) of its dropout, dispatch to the
// fused kernels (Note [Attention layout] in ops/attention.h) and the autograd node.
#include "ops/attention.h"

#include <algorithm>
#include <cmath>

#include "core/autocast.h"
#include "dlcore/autograd.h"

namespace dlcore {

DL_DEFINE_KERNEL(attention_forward_kernel);
DL_DEFINE_KERNEL(attention_backward_kernel);

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

Shape batch_of(const Tensor& t) { return Shape(t->shape().begin(), t->shape().end() - 2); }

// Broadcasts batch shapes right-aligned; false if they do not broadcast.
bool broadcast_batch(const Shape& a, const Shape& b, Shape& out) {
  const size_t n = std::max(a.size(), b.size());
  out.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1) return false;
    out[i] = x == 1 ? y : x;
  }
  return true;
}

// The operand view of t (batch'..., R, C) broadcast to batch + (R, C): stride 0 on broadcast
// and missing batch dims.
AttnOperand operand(const Tensor& t, const Shape& batch) {
  AttnOperand o;
  o.data = t->raw_data();
  const int64_t nd = t->dim(), nb = static_cast<int64_t>(batch.size()), tb = nd - 2;
  o.batch_strides.assign(batch.size(), 0);
  for (int64_t i = 0; i < tb; ++i)
    if (t->shape()[i] != 1) o.batch_strides[nb - tb + i] = t->strides()[i];
  o.row_stride = t->shape()[nd - 2] == 1 ? 0 : t->strides()[nd - 2];
  o.col_stride = t->shape()[nd - 1] == 1 ? 0 : t->strides()[nd - 1];
  return o;
}

// A contiguous (B..., R, C) buffer as an operand.
AttnOperand dense_operand(const Tensor& t) {
  AttnOperand o;
  o.data = t->raw_data();
  const int64_t nd = t->dim();
  o.batch_strides.assign(t->strides().begin(), t->strides().end() - 2);
  o.row_stride = t->strides()[nd - 2];
  o.col_stride = 1;
  return o;
}

// The kernels read q, k, v, out and grad_out rows as contiguous runs (column stride 1).
Tensor unit_columns(const Tensor& t) { return t->stride(-1) == 1 || t->size(-1) == 1 ? t : contiguous(t); }

struct Prepared {
  Tensor q, k, v, mask;  // mask: bool, or additive in q's dtype, or null
  AttnParams p;
};

Prepared prepare(const Tensor& query, const Tensor& key, const Tensor& value, const OptTensor& attn_mask,
                 double dropout_p, bool is_causal, std::optional<double> scale,
                 std::pair<int64_t, int64_t> window_size) {
  const Tensor* ts[] = {&query, &key, &value};
  const char* names[] = {"query", "key", "value"};
  for (int i = 0; i < 3; ++i) {
    DL_CHECK(*ts[i], ValueError, kOp, ": ", names[i], " must be a tensor");
    DL_CHECK((*ts[i])->dim() >= 2, ValueError, kOp, ": ", names[i], " needs at least 2 dims (..., ",
             i == 0 ? "L" : "S", ", ", i == 2 ? "Ev" : "E", "), got shape ", shape_str((*ts[i])->shape()));
  }
  const std::string shapes = "(query " + shape_str(query->shape()) + ", key " + shape_str(key->shape()) +
                             ", value " + shape_str(value->shape()) + ")";
  DL_CHECK(is_floating(query->dtype()), TypeError, kOp, ": expected floating point inputs, got query ",
           query->describe());
  DL_CHECK(key->dtype() == query->dtype() && value->dtype() == query->dtype(), TypeError, kOp,
           ": expected query, key and value to have the same dtype, got ", dtype_name(query->dtype()), ", ",
           dtype_name(key->dtype()), " and ", dtype_name(value->dtype()));
  DL_CHECK(is_cpu_compute_type(query->dtype()) || !query->device().is_cpu(), TypeError, kOp, ": ",
           dtype_name(query->dtype()), " is not supported on CPU; convert with .float()");
  check_same_device(kOp, query, key);
  check_same_device(kOp, query, value);
  DL_CHECK(query->size(-1) == key->size(-1), ValueError, kOp, ": query has embedding size E = ", query->size(-1),
           " but key has ", key->size(-1), " ", shapes);
  DL_CHECK(key->size(-2) == value->size(-2), ValueError, kOp, ": key has ", key->size(-2),
           " positions (S) but value has ", value->size(-2), " ", shapes);
  Shape batch, qk;
  DL_CHECK(broadcast_batch(batch_of(query), batch_of(key), qk) && broadcast_batch(qk, batch_of(value), batch),
           ValueError, kOp, ": batch dims of query, key and value cannot be broadcast together ", shapes);
  DL_CHECK(dropout_p >= 0 && dropout_p <= 1, ValueError, kOp, ": dropout_p has to be between 0 and 1, got ",
           dropout_p);
  DL_CHECK(window_size.first >= -1 && window_size.second >= -1, ValueError, kOp,
           ": window_size entries must be >= 0, or -1 for no bound, got (", window_size.first, ", ",
           window_size.second, ")");

  Prepared r;
  AttnParams& p = r.p;
  p.dtype = query->dtype();
  p.device = query->device();
  p.batch = batch;
  p.L = query->size(-2);
  p.S = key->size(-2);
  p.E = query->size(-1);
  p.Ev = value->size(-1);
  // With E = 0 every score is an empty dot product, 0, whatever the scale (PyTorch's result).
  p.scale = p.E == 0 ? 0.0 : scale ? *scale : 1.0 / std::sqrt(static_cast<double>(p.E));
  p.window_left = window_size.first;
  p.window_right = window_size.second;
  if (is_causal) p.window_right = 0;  // j <= i, whatever window_size's right bound
  p.dropout_p = dropout_p;

  if (attn_mask && *attn_mask) {
    const Tensor& m = *attn_mask;
    DL_CHECK(!is_causal, ValueError, kOp, ": attn_mask and is_causal=True cannot be combined (attn_mask ",
             shape_str(m->shape()), ")");
    check_same_device(kOp, query, m);
    Shape full = batch;
    full.push_back(p.L);
    full.push_back(p.S);
    bool ok = m->dim() <= static_cast<int64_t>(full.size());
    for (int64_t i = 1; ok && i <= m->dim(); ++i) {
      const int64_t ms = m->shape()[m->dim() - i], fs = full[full.size() - i];
      ok = ms == fs || ms == 1;
    }
    DL_CHECK(ok, ValueError, kOp, ": attn_mask of shape ", shape_str(m->shape()),
             " cannot be broadcast to the attention shape ", shape_str(full), " ", shapes);
    DL_CHECK(m->dtype() == DType::Bool || is_floating(m->dtype()), TypeError, kOp,
             ": attn_mask must be bool or floating point, got ", m->describe());
    r.mask = m->dtype() == DType::Bool ? m : to_dtype(m, p.dtype);
    if (r.mask->dim() < 2) r.mask = reshape(r.mask, r.mask->dim() == 1 ? Shape{1, m->size(0)} : Shape{1, 1});
    p.mask_kind = m->dtype() == DType::Bool ? AttnMask::Bool : AttnMask::Additive;
    p.mask = operand(r.mask, batch);
  }
  r.q = unit_columns(query);
  r.k = unit_columns(key);
  r.v = unit_columns(value);
  p.q = operand(r.q, batch);
  p.k = operand(r.k, batch);
  p.v = operand(r.v, batch);
  for (AttnOperand* o : {&p.q, &p.k, &p.v}) o->col_stride = 1;
  return r;
}

Shape with_matrix(Shape s, int64_t rows, int64_t cols) {
  s.push_back(rows);
  s.push_back(cols);
  return s;
}

}  // namespace

// Note [Attention backward]
// The node saves q, k, v (as the kernels read them), the output, the (B, L) logsumexp and
// the mask; the dropout mask is regenerated (Note [Attention dropout]). One kernel call
// gives grad_q, grad_k and grad_v of the broadcast batch shape (the engine sums them to the
// inputs' shapes) and, for an additive mask that requires grad, grad_mask = dS of shape
// (batch..., L, S), the one O(L * S) buffer, allocated only then. The backward is not itself
// differentiable (no create_graph).
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const OptTensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale, std::pair<int64_t, int64_t> window_size) {
  DL_AUTOCAST(scaled_dot_product_attention(autocast::lower(query), autocast::lower(key), autocast::lower(value),
                                           autocast::lower(attn_mask), dropout_p, is_causal, scale, window_size));
  Prepared r = prepare(query, key, value, attn_mask, dropout_p, is_causal, scale, window_size);
  AttnParams& p = r.p;
  const Device dev = query->device();
  if (p.dropout_p > 0) {
    // Two fresh uniforms give the Philox stream: reproducible under manual_seed, different
    // on every call.
    Tensor u = to_device(rand({2}, DType::Float64, dev), Device{});
    const double* ud = u->data<double>();
    p.seed = initial_seed();
    p.stream = static_cast<uint64_t>(ud[0] * 4294967296.0) << 32 | static_cast<uint64_t>(ud[1] * 4294967296.0);
  }
  const Shape out_shape = with_matrix(p.batch, p.L, p.Ev);
  check_shape(out_shape, kOp, query->itemsize());
  if (shape_numel(out_shape) == 0 || p.S == 0) {
    // Nothing to attend to or nothing to write: out is 0, as PyTorch's for S = 0, with zero grads.
    Tensor out = zeros(out_shape, p.dtype, dev);
    std::vector<Tensor> inputs{query, key, value};
    if (r.mask && p.mask_kind == AttnMask::Additive) inputs.push_back(r.mask);
    record_zero_grads("ScaledDotProductAttentionBackward", inputs, {out});
    return out;
  }
  Tensor out = empty(out_shape, p.dtype, dev);
  Tensor lse = empty({shape_numel(p.batch), p.L}, attn_lse_dtype(p.dtype), dev);
  p.out = dense_operand(out);
  p.lse = lse->raw_data();
  attention_forward_kernel[dev](p);

  const bool mask_grad = p.mask_kind == AttnMask::Additive && r.mask->requires_grad();
  std::vector<Tensor> inputs{query, key, value};
  if (mask_grad) inputs.push_back(r.mask);
  if (any_requires_grad(inputs)) {
    SavedTensor sq(r.q, false), sk(r.k, false), sv(r.v, false), so(out, true), sl(lse, false);
    SavedTensor sm = r.mask ? SavedTensor(r.mask, false) : SavedTensor();
    const AttnParams meta = p;
    record("ScaledDotProductAttentionBackward", inputs, {out},
           [sq, sk, sv, so, sl, sm, meta, mask_grad](const std::vector<Tensor>& g, const Node& n) {
             check_no_double_backward(n);
             AttnParams b = meta;
             Tensor q = sq.unpack(n), k = sk.unpack(n), v = sv.unpack(n), o = so.unpack(n), l = sl.unpack(n);
             Tensor m = meta.mask_kind != AttnMask::None ? sm.unpack(n) : Tensor();
             Tensor go = unit_columns(g[0]->dtype() == b.dtype ? g[0] : to_dtype(g[0], b.dtype));
             const Device d = q->device();
             b.q = operand(q, b.batch);
             b.k = operand(k, b.batch);
             b.v = operand(v, b.batch);
             for (AttnOperand* x : {&b.q, &b.k, &b.v}) x->col_stride = 1;
             if (m) b.mask = operand(m, b.batch);
             b.out = dense_operand(o);
             b.lse = l->raw_data();
             b.grad_out = operand(go, b.batch);
             b.grad_out.col_stride = 1;
             Tensor gq = empty(with_matrix(b.batch, b.L, b.E), b.dtype, d);
             Tensor gk = empty(with_matrix(b.batch, b.S, b.E), b.dtype, d);
             Tensor gv = empty(with_matrix(b.batch, b.S, b.Ev), b.dtype, d);
             Tensor gm;
             b.grad_q = gq->raw_data();
             b.grad_k = gk->raw_data();
             b.grad_v = gv->raw_data();
             if (mask_grad && n.needs_input_grad(3)) {
               gm = empty(with_matrix(b.batch, b.L, b.S), b.dtype, d);
               b.grad_mask = gm->raw_data();
             }
             attention_backward_kernel[d](b);
             std::vector<Tensor> grads{n.needs_input_grad(0) ? gq : Tensor(), n.needs_input_grad(1) ? gk : Tensor(),
                                       n.needs_input_grad(2) ? gv : Tensor()};
             if (mask_grad) grads.push_back(gm);
             return grads;
           });
  }
  return out;
}

DL_REGISTER_OPS({"scaled_dot_product_attention", "attention", true});

}  // namespace dlcore
