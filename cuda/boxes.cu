// CUDA box kernels (CPU reference: cpu/boxes.cpp): the element-wise IoU family forward and
// backward over broadcast strided operands (Note [Box IoU formulas] in ops/boxes.h), and NMS
// (Note [NMS semantics]), float32 and float64.
//
// Note [CUDA NMS]
// 1. Inverted boxes: a grid-stride pass takes the lowest index with x2 < x1 or y2 < y1
//    (atomicMin); the host reads it back and raises the CPU's ValueError.
// 2. Order: dlcore's sort of the scores, descending (stable, NaN first: Note [CUDA sort]);
//    boxes (and batched_nms's idxs) are gathered into that order.
// 3. Mask: the sorted boxes in tiles of 64; block (column tile c, row tile r), c >= r, stages
//    tile c's boxes in shared memory and thread t writes the 64-bit word mask[i][c] (i = 64 r + t)
//    whose bit k says that box i suppresses box 64 c + k: k after i, the same idx (batched), and
//    IoU > threshold by the CPU's formula (boxes_detail::nms_iou, no fused multiply-add).
//    The mask takes N * ceil(N / 64) * 8 bytes (about N^2 / 8: 312 MB at N = 50,000).
// 4. Reduce: one block walks the boxes in order with the words of "removed" bits in shared
//    memory (global memory past 48 KB). Per word w, after one barrier, every thread holds
//    removed[w]; each box of the word not yet removed is kept, its own word of the mask is
//    or-ed into the thread-local copy, and the later words are or-ed into removed[] by the
//    threads (word j by one thread while w is fixed, so no two threads write one word).
// 5. The kept flags and the order go to the host, which writes the kept indices (score
//    order) and copies them back.
#include <vector>

#include "dlcore/autograd.h"
#include "loops.cuh"
#include "ops/boxes.h"

namespace dlcore {
namespace cuda {
namespace {

using boxes_detail::BoxIouTerms;
using boxes_detail::mul_rn;
using boxes_detail::nms_iou;

template <typename T>
__global__ void box_iou_fwd(StridedArgs<3> args, int64_t sa, int64_t sb, BoxIouParams p) {
  const T eps = static_cast<T>(p.eps);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < args.numel;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    args.offsets(i, off);
    const T* pa = reinterpret_cast<const T*>(args.data[1] + off[1]);
    const T* pb = reinterpret_cast<const T*>(args.data[2] + off[2]);
    BoxIouTerms<T> t;
t.load(pa, sa, pb, sb);
    t.compute(p.kind, eps, p.loss_form);
    *reinterpret_cast<T*>(args.data[0] + off[0]) = t.value;
  }
}

// Operands: grad_a (coordinate 0), grad_b (coordinate 0), grad_out, a, b.
template <typename T>
__global__ void box_iou_bwd(StridedArgs<5> args, int64_t sa, int64_t sb, BoxIouParams p) {
  const T eps = static_cast<T>(p.eps);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < args.numel;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[5];
    args.offsets(i, off);
    const T g = *reinterpret_cast<const T*>(args.data[2] + off[2]);
    const T* pa = reinterpret_cast<const T*>(args.data[3] + off[3]);
    const T* pb = reinterpret_cast<const T*>(args.data[4] + off[4]);
    BoxIouTerms<T> t;
t.load(pa, sa, pb, sb);
    t.compute(p.kind, eps, p.loss_form);
    T ga[4], gb[4];
    t.backward(g, p.kind, p.loss_form, ga, gb);
    T* oa = reinterpret_cast<T*>(args.data[0] + off[0]);  // contiguous (L..., 4)
    T* ob = reinterpret_cast<T*>(args.data[1] + off[1]);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      oa[k] = ga[k];
      ob[k] = gb[k];
    }
  }
}

void box_iou_cuda(const Tensor& out, const Tensor& a, const Tensor& b, BoxIouParams p) {
  ElementwiseIter it(out, {box_coord0(a), box_coord0(b)});
  if (it.numel == 0) return;
  DeviceGuard guard(out->device().index);
  const int64_t sa = a->strides().back(), sb = b->strides().back();
  float_dispatch(out->dtype(), "box_iou_elementwise", [&](auto zero) {
    using T = decltype(zero);
    box_iou_fwd<T><<<grid_for(it.numel), kBlock>>>(make_strided_args<3>(it), sa, sb, p);
  });
  DL_CUDA_LAUNCH_CHECK();
}

void box_iou_backward_cuda(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a, const Tensor& b,
                           BoxIouParams p) {
  ElementwiseIter it(box_coord0(ga), {box_coord0(gb), g, box_coord0(a), box_coord0(b)});
  if (it.numel == 0) return;
  DeviceGuard guard(ga->device().index);
  const int64_t sa = a->strides().back(), sb = b->strides().back();
  float_dispatch(ga->dtype(), "box_iou_elementwise_backward", [&](auto zero) {
    using T = decltype(zero);
    box_iou_bwd<T><<<grid_for(it.numel), kBlock>>>(make_strided_args<5>(it), sa, sb, p);
  });
  DL_CUDA_LAUNCH_CHECK();
}

// ---- NMS ----------------------------------------------------------------------------------------
constexpr int kTileBoxes = 64;         // boxes per mask word
constexpr int kReduceThreads = 256;
constexpr int64_t kMaxGridY = 65535;
constexpr size_t kSharedLimit = 48 * 1024;

template <typename T>
__global__ void nms_first_inverted(const T* b, int64_t n, unsigned long long* first) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const T* r = b + 4 * i;
    if (r[2] < r[0] || r[3] < r[1]) atomicMin(first, static_cast<unsigned long long>(i));
  }
}

// Step 3 of Note [CUDA NMS]. boxes: sorted (n, 4); cls: sorted idxs or null.
template <typename T>
__global__ void __launch_bounds__(kTileBoxes)
    nms_mask(const T* boxes, const int64_t* cls, int64_t n, int64_t col_blocks, double thr,
             unsigned long long* mask) {
  __shared__ T sbox[kTileBoxes][5];
  __shared__ int64_t scls[kTileBoxes];
  const int64_t col = blockIdx.x;
  const int64_t j0 = col * kTileBoxes;
  const int ncol = static_cast<int>(min(static_cast<int64_t>(kTileBoxes), n - j0));
  if (threadIdx.x < ncol) {
    const T* r = boxes + 4 * (j0 + threadIdx.x);
    sbox[threadIdx.x][0] = r[0];
    sbox[threadIdx.x][1] = r[1];
    sbox[threadIdx.x][2] = r[2];
    sbox[threadIdx.x][3] = r[3];
    sbox[threadIdx.x][4] = mul_rn(r[2] - r[0], r[3] - r[1]);
    if (cls) scls[threadIdx.x] = cls[j0 + threadIdx.x];
  }
  __syncthreads();
  for (int64_t row = blockIdx.y; row <= col; row += gridDim.y) {
    const int64_t i = row * kTileBoxes + threadIdx.x;
    if (i >= n) continue;
    const T* r = boxes + 4 * i;
    const T x1 = r[0], y1 = r[1], x2 = r[2], y2 = r[3];
    const T area = mul_rn(x2 - x1, y2 - y1);
    const int64_t ci = cls ? cls[i] : 0;
    unsigned long long bits = 0;
    for (int k = row == col ? threadIdx.x + 1 : 0; k < ncol; ++k) {
      if (cls && scls[k] != ci) continue;
      const T iou = nms_iou(x1, y1, x2, y2, area, sbox[k][0], sbox[k][1], sbox[k][2], sbox[k][3], sbox[k][4]);
      if (static_cast<double>(iou) > thr) bits |= 1ull << k;
    }
    mask[i * col_blocks + col] = bits;
  }
}

// Step 4 of Note [CUDA NMS]; keep: n zeroed bytes; removed: col_blocks words of global
// scratch, or null to use dynamic shared memory.
__global__ void __launch_bounds__(kReduceThreads)
    nms_reduce(const unsigned long long* mask, int64_t n, int64_t col_blocks, unsigned long long* removed,
               uint8_t* keep) {
  extern __shared__ unsigned long long shared_removed[];
  unsigned long long* rem = removed ? removed : shared_removed;
  for (int64_t w = threadIdx.x; w < col_blocks; w += blockDim.x) rem[w] = 0;
  for (int64_t w = 0; w < col_blocks; ++w) {
    __syncthreads();
    unsigned long long cur = rem[w];
    const int nb = static_cast<int>(min(static_cast<int64_t>(kTileBoxes), n - w * kTileBoxes));
    for (int bit = 0; bit < nb; ++bit) {
      if ((cur >> bit) & 1ull) continue;
      const int64_t i = w * kTileBoxes + bit;
      if (threadIdx.x == 0) keep[i] = 1;
      const unsigned long long* row = mask + i * col_blocks;
      cur |= row[w];
      for (int64_t j = w + 1 + threadIdx.x; j < col_blocks; j += blockDim.x) rem[j] |= row[j];
    }
  }
}

template <typename T>
void check_inverted(const Tensor& boxes, int64_t n, const char* op) {
  const Tensor first = empty({1}, DType::Int64, boxes->device(), op);
  unsigned long long* d_first = reinterpret_cast<unsigned long long*>(first->raw_data());
  const unsigned long long init = static_cast<unsigned long long>(n);
  DL_CUDA_CHECK(cudaMemcpyAsync(d_first, &init, sizeof(init), cudaMemcpyHostToDevice, 0));
  nms_first_inverted<T><<<grid_for(n), kBlock>>>(boxes->data<T>(), n, d_first);
  DL_CUDA_LAUNCH_CHECK();
  unsigned long long h_first = 0;
  DL_CUDA_CHECK(cudaMemcpy(&h_first, d_first, sizeof(h_first), cudaMemcpyDeviceToHost));
  if (h_first >= static_cast<unsigned long long>(n)) return;
  T r[4];
  DL_CUDA_CHECK(cudaMemcpy(r, boxes->data<T>() + 4 * h_first, sizeof(r), cudaMemcpyDeviceToHost));
  throw ValueError(nms_inverted_box_message(op, static_cast<int64_t>(h_first), r[0], r[1], r[2], r[3]));
}

template <typename T>
Tensor nms_typed(const Tensor& boxes, const Tensor& scores, const Tensor& idxs, double thr, const char* op) {
  const int64_t n = boxes->shape()[0];
  const Device dev = boxes->device();
  check_inverted<T>(boxes, n, op);
  GradModeGuard no_grad(false);
  const Tensor order = std::get<1>(sort(scores, 0, /*descending=*/true));
  const Tensor sboxes = contiguous(index_select(boxes, 0, order));
  const Tensor scls = idxs ? contiguous(index_select(idxs, 0, order)) : Tensor();
  const int64_t col_blocks = ceil_div(n, kTileBoxes);
  const Tensor mask = empty({n, col_blocks}, DType::Int64, dev, op);
  unsigned long long* d_mask = reinterpret_cast<unsigned long long*>(mask->raw_data());
  const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(std::min(col_blocks, kMaxGridY)));
  nms_mask<T><<<grid, kTileBoxes>>>(sboxes->data<T>(), data_or_null<int64_t>(scls), n, col_blocks, thr, d_mask);
  DL_CUDA_LAUNCH_CHECK();
  const Tensor keep = empty({n}, DType::Bool, dev, op);
  DL_CUDA_CHECK(cudaMemsetAsync(keep->raw_data(), 0, static_cast<size_t>(n), 0));
  size_t shared = static_cast<size_t>(col_blocks) * sizeof(unsigned long long);
  Tensor scratch;
  if (shared > kSharedLimit) {
    scratch = empty({col_blocks}, DType::Int64, dev, op);
    shared = 0;
  }
  nms_reduce<<<1, kReduceThreads, shared>>>(d_mask, n, col_blocks,
                                            scratch ? reinterpret_cast<unsigned long long*>(scratch->raw_data())
                                                    : nullptr,
                                            static_cast<uint8_t*>(keep->raw_data()));
  DL_CUDA_LAUNCH_CHECK();
  const Tensor keep_h = to_device(keep, Device{}), order_h = to_device(order, Device{});
  const uint8_t* k = static_cast<const uint8_t*>(keep_h->raw_data());
  const int64_t* o = order_h->data<int64_t>();
  std::vector<int64_t> kept;
  for (int64_t p = 0; p < n; ++p)
    if (k[p]) kept.push_back(o[p]);
  Tensor out_h = empty({static_cast<int64_t>(kept.size())}, DType::Int64, Device{}, op);
  if (!kept.empty()) std::copy(kept.begin(), kept.end(), out_h->data<int64_t>());
  return to_device(out_h, dev);
}

Tensor nms_cuda(const Tensor& boxes, const Tensor& scores, const Tensor& idxs, double thr, const char* op) {
  const int64_t n = boxes->shape()[0];
  if (n == 0) return empty({0}, DType::Int64, boxes->device(), op);
  DeviceGuard guard(boxes->device().index);
  Tensor out;
  float_dispatch(boxes->dtype(), op, [&](auto zero) { out = nms_typed<decltype(zero)>(boxes, scores, idxs, thr, op); });
  return out;
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(box_iou_elementwise_kernel, CUDA, cuda::box_iou_cuda);
DL_REGISTER_KERNEL(box_iou_elementwise_backward_kernel, CUDA, cuda::box_iou_backward_cuda);
DL_REGISTER_KERNEL(nms_kernel, CUDA, cuda::nms_cuda);

}  // namespace dlcore
