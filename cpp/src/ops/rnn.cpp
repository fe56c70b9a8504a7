// rnn_layer: checks, the timestep loops of one recurrent layer-direction (Note [RNN layer] in
// ops/rnn.h) forward and backward, and its autograd node. The loops call the GEMM slot and the
// cell kernel slots, so they run on any device that fills both.
#include "ops/rnn.h"

#include <utility>

#include "core/autocast.h"
#include "dlcore/autograd.h"
#include "ops/linalg.h"

namespace dlcore {

DL_DEFINE_KERNEL(rnn_cell_forward_kernel);
DL_DEFINE_KERNEL(rnn_cell_backward_kernel);

namespace {

constexpr const char* kOp = "rnn_layer";

RnnMode parse_mode(const std::string& m) {
  if (m == "RNN_TANH") return RnnMode::Tanh;
  if (m == "RNN_RELU") return RnnMode::Relu;
  if (m == "LSTM") return RnnMode::Lstm;
  if (m == "GRU") return RnnMode::Gru;
  throw ValueError(str_cat(kOp, ": mode must be 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU', got '", m, "'"));
}

bool present(const OptTensor& t) { return t && *t; }

// Pointer to row block `i` of a contiguous tensor whose blocks hold `block` elements.
const void* block_ptr(const Tensor& t, int64_t i, int64_t block) {
  return static_cast<const char*>(t->raw_data()) + i * block * static_cast<int64_t>(t->itemsize());
}
void* block_ptr_mut(const Tensor& t, int64_t i, int64_t block) {
  return static_cast<char*>(t->raw_data()) + i * block * static_cast<int64_t>(t->itemsize());
}

// C (m x n, contiguous rows) = A @ B + beta * C with A, B given by pointer and strides.
void gemm(DType dt, Device dev, int64_t m, int64_t n, int64_t k, const void* a, int64_t ars, int64_t acs,
          const void* b, int64_t brs, int64_t bcs, double beta, void* c) {
  GemmArgs g;
  g.dtype = dt;
  g.device = dev;
  g.m = m, g.n = n, g.k = k, g.alpha = 1.0, g.beta = beta;
  g.a = {const_cast<void*>(a), 0, ars, acs};
  g.b = {const_cast<void*>(b), 0, brs, bcs};
  g.c = {c, 0, n, 1};
  gemm_kernel[dev](g);
}

void check_args(const Tensor& input, const Tensor& hx, const OptTensor& cx, const Tensor& weight_ih,
                const Tensor& weight_hh, const OptTensor& bias_ih, const OptTensor& bias_hh, RnnMode mode) {
  DL_CHECK(input && hx && weight_ih && weight_hh, ValueError, kOp, ": input, hx, weight_ih and weight_hh are required");
  const int64_t G = rnn_gate_count(mode);
  DL_CHECK(input->dim() == 3, ValueError, kOp, ": input must be 3-d (T, B, input_size), got shape ",
           shape_str(input->shape()));
  DL_CHECK(input->size(0) >= 1, ValueError, kOp, ": input has no timesteps (shape ", shape_str(input->shape()), ")");
  DL_CHECK(weight_hh->dim() == 2 && weight_hh->size(0) == G * weight_hh->size(1), ValueError, kOp,
           ": weight_hh must be (", G, " * hidden_size, hidden_size), got shape ", shape_str(weight_hh->shape()));
  const int64_t B = input->size(1), I = input->size(2), H = weight_hh->size(1);
  DL_CHECK(weight_ih->dim() == 2 && weight_ih->size(0) == G * H && weight_ih->size(1) == I, ValueError, kOp,
           ": weight_ih must be [", G * H, ", ", I, "] for input ", shape_str(input->shape()), " and weight_hh ",
           shape_str(weight_hh->shape()), ", got ", shape_str(weight_ih->shape()));
  DL_CHECK(hx->dim() == 2 && hx->size(0) == B && hx->size(1) == H, ValueError, kOp, ": expected hx of shape [", B,
           ", ", H, "] for input ", shape_str(input->shape()), ", got ", shape_str(hx->shape()));
  if (mode == RnnMode::Lstm) {
    DL_CHECK(present(cx), ValueError, kOp, ": LSTM needs cx (the initial cell state)");
    DL_CHECK((*cx)->dim() == 2 && (*cx)->size(0) == B && (*cx)->size(1) == H, ValueError, kOp,
             ": expected cx of shape [", B, ", ", H, "] for input ", shape_str(input->shape()), ", got ",
             shape_str((*cx)->shape()));
  } else {
    DL_CHECK(!present(cx), ValueError, kOp, ": cx is only used by LSTM");
  }
  const char* bnames[] = {"bias_ih", "bias_hh"};
  const OptTensor* biases[] = {&bias_ih, &bias_hh};
  for (int i = 0; i < 2; ++i)
    if (present(*biases[i]))
      DL_CHECK((**biases[i])->dim() == 1 && (**biases[i])->size(0) == G * H, ValueError, kOp, ": ", bnames[i],
               " must be [", G * H, "], got ", shape_str((**biases[i])->shape()));
  DL_CHECK(is_floating(input->dtype()), TypeError, kOp, ": expected a floating point input, got ", input->describe());
  DL_CHECK(is_cpu_compute_type(input->dtype()) || !input->device().is_cpu(), TypeError, kOp, ": ",
           dtype_name(input->dtype()), " is not supported on CPU; convert with .float()");
  std::vector<std::pair<const char*, Tensor>> others{{"hx", hx}, {"weight_ih", weight_ih}, {"weight_hh", weight_hh}};
  if (present(cx)) others.emplace_back("cx", *cx);
  if (present(bias_ih)) others.emplace_back("bias_ih", *bias_ih);
  if (present(bias_hh)) others.emplace_back("bias_hh", *bias_hh);
  for (const auto& [name, t] : others) {
    DL_CHECK(t->dtype() == input->dtype(), TypeError, kOp, ": ", name, " is ", t->describe(), " but input is ",
             input->describe());
    check_same_device(kOp, input, t);
  }
}

}  // namespace

// Note [RNN layer backward]
// The node saves x (contiguous), h0, c0, W_ih, W_hh, the output and the per-step state of
// Note [RNN saved state]. Grads of output, h_n and c_n may each be absent. Walking the
// steps backwards, dh (B, H) and dc (B, H) carry the recurrent gradient; dxg (T, B, G*H)
// collects every step's pre-activation gradient (and for GRU dhg, that of h_prev @ W_hh^T).
// Parameter and input gradients are then whole-sequence GEMMs and sums over T*B rows.
// The backward is not itself differentiable (no create_graph).
std::tuple<Tensor, Tensor, Tensor> rnn_layer(const Tensor& input, const Tensor& hx, const OptTensor& cx,
                                             const Tensor& weight_ih, const Tensor& weight_hh,
                                             const OptTensor& bias_ih, const OptTensor& bias_hh,
                                             const std::string& mode_name, bool reverse) {
  DL_AUTOCAST(rnn_layer(autocast::lower(input), autocast::lower(hx), autocast::lower(cx), autocast::lower(weight_ih),
                        autocast::lower(weight_hh), autocast::lower(bias_ih), autocast::lower(bias_hh), mode_name,
                        reverse));
  const RnnMode mode = parse_mode(mode_name);
  check_args(input, hx, cx, weight_ih, weight_hh, bias_ih, bias_hh, mode);
  const bool lstm = mode == RnnMode::Lstm, gru = mode == RnnMode::Gru;
  const int64_t G = rnn_gate_count(mode);
  const int64_t T = input->size(0), B = input->size(1), I = input->size(2), H = weight_hh->size(1), GH = G * H;
  const DType dt = input->dtype();
  const Device dev = input->device();

  Tensor x = contiguous(input), wih = contiguous(weight_ih), whh = contiguous(weight_hh), h0 = contiguous(hx);
  Tensor c0 = lstm ? contiguous(*cx) : Tensor();
  Tensor bhh = present(bias_hh) ? contiguous(*bias_hh) : zeros({GH}, dt, dev);
  // Note [RNN weight layout]: the GEMMs read W^T as a (K, G*H) row-major copy, made once per
  // call, so that packing its panels streams contiguous rows instead of gathering columns.
  Tensor xg, whh_t;  // xg: (T * B, G*H) = x @ W_ih^T + b_ih, one GEMM for the whole sequence
  {
    GradModeGuard no_grad(false);
    Tensor x2 = reshape(x, {T * B, I});
    Tensor wih_t = contiguous(transpose(wih, 0, 1));  // (I, G*H)
    xg = contiguous(present(bias_ih) ? addmm(*bias_ih, x2, wih_t) : mm(x2, wih_t));
    whh_t = contiguous(transpose(whh, 0, 1));  // (H, G*H)
  }
  Tensor out = empty({T, B, H}, dt, dev);
  Tensor ws = lstm || gru ? empty({T, B, 4 * H}, dt, dev) : Tensor();
  Tensor cs = lstm ? empty({T, B, H}, dt, dev) : Tensor();
  Tensor hg = empty({B, GH}, dt, dev);
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s, prev = reverse ? t + 1 : t - 1;
    const void* hprev = s == 0 ? h0->raw_data() : block_ptr(out, prev, B * H);
    gemm(dt, dev, B, GH, H, hprev, H, 1, whh_t->raw_data(), GH, 1, 0.0, hg->raw_data());  // h_prev @ W_hh^T
    RnnCellForward a;
    a.dtype = dt, a.mode = mode, a.B = B, a.H = H;
    a.xg = block_ptr(xg, t, B * GH);
    a.hg = hg->raw_data();
    a.b_hh = bhh->raw_data();
    a.h_prev = hprev;
    a.h = block_ptr_mut(out, t, B * H);
    if (lstm) {
      a.c_prev = s == 0 ? c0->raw_data() : block_ptr(cs, prev, B * H);
      a.c = block_ptr_mut(cs, t, B * H);
    }
    if (ws) a.ws = block_ptr_mut(ws, t, B * 4 * H);
    rnn_cell_forward_kernel[dev](a);
  }
  const int64_t last = reverse ? 0 : T - 1;
  Tensor h_n = clone(select(out, 0, last));
  Tensor c_n = lstm ? clone(select(cs, 0, last)) : Tensor();

  std::vector<Tensor> inputs{input, hx, present(cx) ? *cx : Tensor(), weight_ih, weight_hh,
                             present(bias_ih) ? *bias_ih : Tensor(), present(bias_hh) ? *bias_hh : Tensor()};
  if (!any_requires_grad(inputs)) return {out, h_n, c_n};
  std::vector<Tensor> outputs{out, h_n};
  if (lstm) outputs.push_back(c_n);
  SavedTensor sx(x, false), sh0(h0, false), sc0 = lstm ? SavedTensor(c0, false) : SavedTensor();
  SavedTensor swih(wih, false), swhh(whh, false), sout(out, true);
  SavedTensor sws = ws ? SavedTensor(ws, false) : SavedTensor(), scs = lstm ? SavedTensor(cs, false) : SavedTensor();
  record("RnnLayerBackward", inputs, outputs,
         [sx, sh0, sc0, swih, swhh, sout, sws, scs, mode, lstm, gru, reverse, T, B, I, H, GH, dt, dev](
             const std::vector<Tensor>& g, const Node& n) -> std::vector<Tensor> {
           check_no_double_backward(n);
           Tensor xs = sx.unpack(n), h0s = sh0.unpack(n), Wih = swih.unpack(n), Whh = swhh.unpack(n);
           Tensor o = sout.unpack(n);
           Tensor c0s = lstm ? sc0.unpack(n) : Tensor(), w = sws.defined() ? sws.unpack(n) : Tensor();
           Tensor c = lstm ? scs.unpack(n) : Tensor();
           auto grad_of = [&](size_t k) {
             return k < g.size() && g[k] ? contiguous(to_dtype(g[k], dt)) : Tensor();
           };
           Tensor gout = grad_of(0), ghn = grad_of(1), gcn = lstm ? grad_of(2) : Tensor();
           if (!gout) gout = zeros({T, B, H}, dt, dev);
           Tensor dxg = empty({T, B, GH}, dt, dev);
           Tensor dhg = gru ? empty({T, B, GH}, dt, dev) : dxg;
           Tensor dh = ghn ? clone(ghn) : zeros({B, H}, dt, dev);
           Tensor dh_other = empty({B, H}, dt, dev);
           Tensor dc = lstm ? (gcn ? clone(gcn) : zeros({B, H}, dt, dev)) : Tensor();
           const bool need_h0 = n.needs_input_grad(1);
           for (int64_t s = 0; s < T; ++s) {
             const int64_t t = reverse ? s : T - 1 - s, prev = reverse ? t + 1 : t - 1;
             const bool first = s == T - 1;  // the first step of the forward
             RnnCellBackward a;
             a.dtype = dt, a.mode = mode, a.B = B, a.H = H;
             a.grad_h = block_ptr(gout, t, B * H);
             a.dh_next = dh->raw_data();
             a.h = block_ptr(o, t, B * H);
             a.h_prev = first ? h0s->raw_data() : block_ptr(o, prev, B * H);
             if (lstm) {
               a.c = block_ptr(c, t, B * H);
               a.c_prev = first ? c0s->raw_data() : block_ptr(c, prev, B * H);
               a.dc = dc->raw_data();
             }
             if (w) a.ws = block_ptr(w, t, B * 4 * H);
             a.dxg = block_ptr_mut(dxg, t, B * GH);
             if (gru) {
               a.dhg = block_ptr_mut(dhg, t, B * GH);
               a.dh_prev = dh_other->raw_data();
             }
             rnn_cell_backward_kernel[dev](a);
             if (first && !need_h0) break;
             // dh_prev (+)= dhg[t] @ W_hh
             gemm(dt, dev, B, H, GH, block_ptr(dhg, t, B * GH), GH, 1, Whh->raw_data(), H, 1, gru ? 1.0 : 0.0,
                  dh_other->raw_data());
             std::swap(dh, dh_other);
           }
           std::vector<Tensor> grads(7);
           Tensor dxg2 = reshape(dxg, {T * B, GH}), dhg2 = reshape(dhg, {T * B, GH});
           if (n.needs_input_grad(0)) grads[0] = reshape(mm(dxg2, Wih), {T, B, I});
           if (need_h0) grads[1] = dh;
           if (lstm && n.needs_input_grad(2)) grads[2] = dc;
           if (n.needs_input_grad(3)) grads[3] = mm(transpose(dxg2, 0, 1), reshape(xs, {T * B, I}));
           if (n.needs_input_grad(4)) {
             // dW_hh = sum_t dhg[t]^T h_prev(t): h0 at the first step, the output elsewhere.
             const int64_t t0 = reverse ? T - 1 : 0;
             Tensor gw = mm(transpose(select(dhg, 0, t0), 0, 1), h0s);
             if (T > 1) {
               Tensor dpart = reshape(narrow(dhg, 0, reverse ? 0 : 1, T - 1), {(T - 1) * B, GH});
               Tensor hpart = reshape(narrow(o, 0, reverse ? 1 : 0, T - 1), {(T - 1) * B, H});
               gw = addmm(gw, transpose(dpart, 0, 1), hpart);
             }
             grads[4] = gw;
           }
           if (n.needs_input_grad(5)) grads[5] = sum(dxg2, {0});
           if (n.needs_input_grad(6)) grads[6] = sum(dhg2, {0});
           return grads;
         });
  return {out, h_n, c_n};
}

DL_REGISTER_OPS({"rnn_layer", "rnn", true});

}  // namespace dlcore
