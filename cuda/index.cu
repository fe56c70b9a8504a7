// CUDA indexing kernels over restrided operands (Note [Restrided operands] in ops/index.h; CPU
// reference: cpu/index.cpp): gather, scatter (= or +=), the element offsets of advanced
// indexing, and the range of an index tensor (nonzero: cuda/scan.cu).
//
// Note [CUDA index kernels]
// The operands come as an ElementwiseIter over the iteration shape; each thread turns its
// linear index into per-operand byte offsets (StridedArgs in loops.cuh) and reads or writes
// the indexed element at index * d.stride from there. Accumulating scatters use atomicAdd, so
// duplicate positions add up in no fixed order (float sums may differ in the last bits from
// run to run; bool accumulation is an idempotent store of true). Index values are checked on
// the device: a bad one is recorded for the host (Note [Deferred device errors] in
// device_errors.cuh), which raises IndexError with the CPU's message at its next
// synchronisation (launches do not wait); nothing is written for a bad element.
#include <climits>

#include "device_errors.cuh"
#include "loops.cuh"
#include "ops/index.h"

namespace dlcore {
namespace cuda {
namespace {

// The checked (and wrapped) index, or -1 after recording a bad one (d.size < 0: raw offsets).
__device__ __forceinline__ int64_t checked(int64_t k, int64_t size, bool wrap, const ErrorRecord& bad, int which) {
  if (size < 0) return k;
  const int64_t orig = k;
  if (k < 0 && wrap) k += size;
  if (k < 0 || k >= size) {
    record_error(bad, orig, which);
    return -1;
  }
  return k;
}

// The error context of a launch over the index dims `dims` (Note [Deferred device errors]).
ErrorRecord index_errors(int dev, std::vector<IndexDim> dims) {
  return error_context(dev, [dims](int64_t value, int64_t which) {
    const IndexDim& d = dims[static_cast<size_t>(which)];
    return str_cat(d.op, ": index ", value, " is out of bounds for dimension ", d.dim, " with size ", d.size);
  });
}

// out, src (restrided), index: out[i] = src[i + index[i] * stride].
template <typename T>
__global__ void gather_kernel(StridedArgs<3> a, int64_t step, int64_t size, bool wrap, ErrorRecord bad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < a.numel; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    a.offsets(i, off);
    const int64_t k = checked(*reinterpret_cast<const int64_t*>(a.data[2] + off[2]), size, wrap, bad, 0);
    if (k < 0 && size >= 0) continue;
    *reinterpret_cast<T*>(a.data[0] + off[0]) = *reinterpret_cast<const T*>(a.data[1] + off[1] + k * step);
  }
}

template <typename T>
__device__ __forceinline__ void add_to(T* o, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    if (v) *o = true;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(o), static_cast<unsigned long long>(v));
  } else {
    atomicAdd(o, v);  // float, double, int, __half, __nv_bfloat16
  }
}

// dst (restrided), index, src: dst[i + index[i] * stride] (+)= src[i].
template <typename T, bool kAccumulate>
__global__ void scatter_kernel(StridedArgs<3> a, int64_t step, int64_t size, bool wrap, ErrorRecord bad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < a.numel; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    a.offsets(i, off);
    const int64_t k = checked(*reinterpret_cast<const int64_t*>(a.data[1] + off[1]), size, wrap, bad, 0);
    if (k < 0 && size >= 0) continue;
    T* o = reinterpret_cast<T*>(a.data[0] + off[0] + k * step);
    const T v = *reinterpret_cast<const T*>(a.data[2] + off[2]);
    if (kAccumulate) add_to(o, v);
    else *o = v;
  }
}

// The device storage type of each dtype.
template <typename F>
void dispatch_storage(DType dt, const char* op, F f) {
  switch (dt) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Float16: return f(__half{});
    case DType::BFloat16: return f(__nv_bfloat16{});
    case DType::Int32: return f(int32_t{});
    case DType::Int64: return f(int64_t{});
    case DType::Bool: return f(bool{});
    default: break;
  }
  throw TypeError(str_cat(op, ": unsupported dtype ", dtype_name(dt), " on CUDA"));
}

void index_gather_cuda(const Tensor& out, const Tensor& src, const Tensor& index, const IndexDim& d) {
  ElementwiseIter it(out, {src, index});
  if (it.numel == 0) return;
  const int dev = out->device().index;
  DeviceGuard guard(dev);
  const ErrorRecord bad = d.size >= 0 ? index_errors(dev, {d}) : ErrorRecord{};
  dispatch_storage(out->dtype(), d.op, [&](auto zero) {
    using T = decltype(zero);
    gather_kernel<T><<<grid_for(it.numel), kBlock>>>(make_strided_args<3>(it), d.stride * int64_t(sizeof(T)), d.size, d.wrap,
                                                    bad);
  });
  DL_CUDA_LAUNCH_CHECK();
}

void index_scatter_cuda(const Tensor& dst, const Tensor& index, const Tensor& src, const IndexDim& d,
                        bool accumulate) {
  if (accumulate && deterministic_algorithms() && is_floating(dst->dtype()))
    throw RuntimeError(str_cat(d.op, ": the CUDA kernel adds duplicate indices with atomics, whose order (and so the "
                               "float result) varies from run to run, and dlcore.use_deterministic_algorithms(True) "
                               "is set (Note [Deterministic algorithms])"));
  ElementwiseIter it(dst, {index, src});
  if (it.numel == 0) return;
  const int dev = dst->device().index;
  DeviceGuard guard(dev);
  const ErrorRecord bad = d.size >= 0 ? index_errors(dev, {d}) : ErrorRecord{};
  dispatch_storage(dst->dtype(), d.op, [&](auto zero) {
    using T = decltype(zero);
    const StridedArgs<3> a = make_strided_args<3>(it);
    const int64_t step = d.stride * int64_t(sizeof(T));
    if (accumulate) scatter_kernel<T, true><<<grid_for(it.numel), kBlock>>>(a, step, d.size, d.wrap, bad);
    else scatter_kernel<T, false><<<grid_for(it.numel), kBlock>>>(a, step, d.size, d.wrap, bad);
  });
  DL_CUDA_LAUNCH_CHECK();
}

constexpr int kMaxIndices = 7;
struct IndexDims {
  int64_t size[kMaxIndices], stride[kMaxIndices];
  bool wrap[kMaxIndices];
};

// offsets[b] = sum_j checked(indices[j][b]) * stride[j].
template <int NT>
__global__ void offsets_kernel(StridedArgs<NT> a, IndexDims dims, ErrorRecord bad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < a.numel; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[NT];
    a.offsets(i, off);
    int64_t total = 0;
#pragma unroll
    for (int j = 0; j < NT - 1; ++j) {
      const int64_t v = checked(*reinterpret_cast<const int64_t*>(a.data[j + 1] + off[j + 1]), dims.size[j],
                                dims.wrap[j], bad, j);
      total += v * dims.stride[j];
    }
    *reinterpret_cast<int64_t*>(a.data[0] + off[0]) = total;
  }
}

template <int NT>
void launch_offsets(const ElementwiseIter& it, const IndexDims& dims, ErrorRecord bad) {
  offsets_kernel<NT><<<grid_for(it.numel), kBlock>>>(make_strided_args<NT>(it), dims, bad);
}

void index_offsets_cuda(const Tensor& offsets, const std::vector<Tensor>& indices, const std::vector<IndexDim>& dims) {
  const int k = static_cast<int>(indices.size());
  DL_CHECK(k >= 1 && k <= kMaxIndices, ValueError, "index: ", k, " index tensors (at most ", kMaxIndices,
           " on CUDA)");
  ElementwiseIter it(offsets, indices);
  if (it.numel == 0) return;
  const int dev = offsets->device().index;
  DeviceGuard guard(dev);
  const ErrorRecord bad = index_errors(dev, dims);
  IndexDims dd{};
  for (int j = 0; j < k; ++j) dd.size[j] = dims[j].size, dd.stride[j] = dims[j].stride, dd.wrap[j] = dims[j].wrap;
  switch (k) {
    case 1: launch_offsets<2>(it, dd, bad); break;
    case 2: launch_offsets<3>(it, dd, bad); break;
    case 3: launch_offsets<4>(it, dd, bad); break;
    case 4: launch_offsets<5>(it, dd, bad); break;
    case 5: launch_offsets<6>(it, dd, bad); break;
    case 6: launch_offsets<7>(it, dd, bad); break;
    default: launch_offsets<8>(it, dd, bad); break;
  }
  DL_CUDA_LAUNCH_CHECK();
}

// lohi[0] = min, lohi[1] = max of n int64 values (lohi preset to INT64_MAX, INT64_MIN).
__global__ void range_kernel(const int64_t* x, int64_t n, long long* lohi) {
  long long lo = LLONG_MAX, hi = LLONG_MIN;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  atomicMin(lohi, lo);
  atomicMax(lohi + 1, hi);
}

void index_range_cuda(const Tensor& index, int64_t* lo, int64_t* hi) {
  const int64_t n = index->numel();
  DL_CHECK(n > 0, ValueError, "index_range: empty index");
  const int dev = index->device().index;
  DeviceGuard guard(dev);
  Tensor lohi = empty({2}, DType::Int64, index->device());
  const long long init[2] = {LLONG_MAX, LLONG_MIN};
  DL_CUDA_CHECK(cudaMemcpyAsync(lohi->raw_data(), init, sizeof(init), cudaMemcpyHostToDevice, 0));  // staged
  range_kernel<<<std::min<unsigned>(grid_for(n), 1024u), kBlock>>>(index->data<int64_t>(), n,
                                                                  static_cast<long long*>(lohi->raw_data()));
  DL_CUDA_LAUNCH_CHECK();
  long long h[2];
  DL_CUDA_CHECK(cudaMemcpy(h, lohi->raw_data(), sizeof(h), cudaMemcpyDeviceToHost));
  raise_deferred_errors(dev);  // the host has waited for the device
  *lo = h[0];
  *hi = h[1];
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(index_gather_kernel, CUDA, cuda::index_gather_cuda);
DL_REGISTER_KERNEL(index_scatter_kernel, CUDA, cuda::index_scatter_cuda);
DL_REGISTER_KERNEL(index_offsets_kernel, CUDA, cuda::index_offsets_cuda);
DL_REGISTER_KERNEL(index_range_kernel, CUDA, cuda::index_range_cuda);

}  // namespace dlcore
