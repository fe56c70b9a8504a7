// CUDA kernels for the shape ops that copy (ops/shape.h; CPU reference: cpu/shape.cpp):
// remap_kernel, the index-map copy behind pad, flip and roll (Note [Index maps]), and
// tri_kernel (tril/triu). Every dtype, one thread per output element (grid-stride loops).
//
// remap: the host turns the maps into element offsets into `in` (map value * in's stride on
// that dim, or kFill for -1), all dims' tables end to end in one int64 device buffer (the sum
// of the output's dims, copied per call); a thread splits its output index into coordinates
// and adds up one table entry per dim. Output writes are coalesced; reads follow the maps.
#include <climits>

#include "loops.cuh"
#include "ops/shape.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int64_t kFill = INT64_MIN;  // a table entry meaning "write the fill value"

struct RemapArgs {
  int64_t size[kMaxDims];   // output shape
  int64_t start[kMaxDims];  // where dim d's table begins
  int nd;
  int64_t numel;
};

template <typename D>
__global__ void remap_kernel_impl(D* out, const D* in, const int64_t* table, RemapArgs a, double fill) {
  const D fv = cast<D>(fill);
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < a.numel; e += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = e, off = 0;
    bool filled = false;
    for (int d = a.nd - 1; d >= 0; --d) {
      const int64_t q = rem / a.size[d];
      const int64_t v = table[a.start[d] + (rem - q * a.size[d])];
      rem = q;
      if (v == kFill) filled = true;
      else off += v;
    }
    out[e] = filled ? fv : in[off];
  }
}

void remap_cuda(const Tensor& out, const Tensor& in, const IndexMaps& maps, double fill) {
  const int64_t nd = out->dim();
  DL_CHECK(out->is_contiguous() && in->dim() == nd && static_cast<int64_t>(maps.size()) == nd, RuntimeError,
           "remap_kernel: expected a contiguous output, an input of the same rank and one map per dim, got ",
           out->describe(), ", ", in->describe(), " and ", maps.size(), " maps");
  DL_CHECK(in->dtype() == out->dtype(), RuntimeError, "remap_kernel: dtypes differ: ", in->describe(), " and ",
           out->describe());
  DL_CHECK(nd <= kMaxDims, ValueError, "pad/flip/roll: at most ", kMaxDims, " dimensions on CUDA, got ",
           out->describe());
  if (out->numel() == 0) return;
  DeviceGuard guard(out->device().index);
  if (nd == 0) {
    DL_CUDA_CHECK(cudaMemcpyAsync(out->raw_data(), in->raw_data(), out->itemsize(), cudaMemcpyDeviceToDevice, 0));
    return;
  }
  RemapArgs a{};
  a.nd = static_cast<int>(nd);
  a.numel = out->numel();
  std::vector<int64_t> table;
  for (int64_t d = 0; d < nd; ++d) {
    const std::vector<int64_t>& m = maps[d];
    DL_CHECK(static_cast<int64_t>(m.size()) == out->shape()[d], RuntimeError, "remap_kernel: map ", d, " has ",
             m.size(), " entries for an output of shape ", shape_str(out->shape()));
    a.size[d] = out->shape()[d];
    a.start[d] = static_cast<int64_t>(table.size());
    for (int64_t v : m) table.push_back(v < 0 ? kFill : v * in->strides()[d]);
  }
  Tensor dev_table = empty({static_cast<int64_t>(table.size())}, DType::Int64, out->device());
  // From pageable memory the copy is staged before the call returns, so `table` may go.
  DL_CUDA_CHECK(cudaMemcpyAsync(dev_table->raw_data(), table.data(), table.size() * sizeof(int64_t),
                                cudaMemcpyHostToDevice, 0));
  DL_DISPATCH_ALL_AND_HALF(out->dtype(), "remap", [&] {
    using D = device_t<scalar_t>;
    remap_kernel_impl<D><<<grid_for(a.numel), kBlock>>>(static_cast<D*>(out->raw_data()),
                                                        static_cast<const D*>(in->raw_data()),
                                                        dev_table->data<int64_t>(), a, fill);
  });
  DL_CUDA_LAUNCH_CHECK();
}

// in, out: contiguous (batch, R, C). tril keeps c - r <= diagonal, triu keeps c - r >= diagonal.
template <typename D>
__global__ void tri_kernel_impl(D* out, const D* in, int64_t numel, int64_t R, int64_t C, int64_t diagonal,
                                bool upper) {
  const D zero = cast<D>(0.0f);
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < numel; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = e / C;
    const int64_t c = e - row * C, r = row % R;
    const bool keep = upper ? c - r >= diagonal : c - r <= diagonal;
    out[e] = keep ? in[e] : zero;
  }
}

void tri_cuda(const Tensor& out, const Tensor& in, int64_t diagonal, bool upper) {
  DL_CHECK(out->dim() >= 2 && out->is_contiguous() && in->is_contiguous() && in->shape() == out->shape() &&
               in->dtype() == out->dtype(),
           RuntimeError, "tri_kernel: expected contiguous input and output of one shape and dtype, got ",
           in->describe(), " and ", out->describe());
  const int64_t numel = out->numel();
  if (numel == 0) return;
  const int64_t R = out->shape()[out->dim() - 2], C = out->shape()[out->dim() - 1];
  DeviceGuard guard(out->device().index);
  DL_DISPATCH_ALL_AND_HALF(out->dtype(), upper ? "triu" : "tril", [&] {
    using D = device_t<scalar_t>;
    tri_kernel_impl<D><<<grid_for(numel), kBlock>>>(static_cast<D*>(out->raw_data()),
                                                    static_cast<const D*>(in->raw_data()), numel, R, C, diagonal,
                                                    upper);
  });
  DL_CUDA_LAUNCH_CHECK();
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(remap_kernel, CUDA, cuda::remap_cuda);
DL_REGISTER_KERNEL(tri_kernel, CUDA, cuda::tri_cuda);

}  // namespace dlcore
