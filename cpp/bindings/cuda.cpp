// dlcore._C._cuda_*: device queries and caching-allocator statistics, wrapped by
// python/dlcore/cuda.py. Built without CUDA, the same functions exist and report no device.
#include "common.h"

#ifdef DLCORE_WITH_CUDA
#include "runtime.cuh"  // cuda/: plain C++ declarations
#endif

namespace dlcore {

void bind_cuda(py::module_& m) {
#ifdef DLCORE_WITH_CUDA
  m.def("_cuda_is_available", [] { return cuda::is_available(); });
  m.def("_cuda_device_count", [] { return cuda::device_count(); });
  m.def("_cuda_unavailable_reason", [] { return cuda::unavailable_reason(); });
  m.def("_cuda_get_device_name", [](int device) { return cuda::device_name(device); }, py::arg("device"));
  m.def("_cuda_get_device_capability", [](int device) { return cuda::device_capability(device); },
        py::arg("device"));
  m.def("_cuda_synchronize", [](int device) {
    py::gil_scoped_release release;
    cuda::synchronize(device);
  }, py::arg("device"));
  m.def("_cuda_memory_stats", [](int device) {
    const cuda::MemoryStats s = cuda::memory_stats(device);
    py::dict d;
    d["allocated_bytes"] = s.allocated;
    d["peak_allocated_bytes"] = s.peak_allocated;
    d["reserved_bytes"] = s.reserved;
    d["peak_reserved_bytes"] = s.peak_reserved;
    d["cached_bytes"] = s.cached;
    d["num_allocs"] = s.num_allocs;
    d["num_cache_hits"] = s.num_cache_hits;
    d["num_device_mallocs"] = s.num_device_mallocs;
    d["num_device_frees"] = s.num_device_frees;
    return d;
  }, py::arg("device"));
  m.def("_cuda_empty_cache", [] { cuda::empty_cache(); });
  m.def("_cuda_reset_peak_memory_stats", [](int device) { cuda::reset_peak_memory_stats(device); }, py::arg("device"));
#else
  const char* reason = "dlcore was built without CUDA support";
  auto no_cuda = [reason](const char* what) {
    throw RuntimeError(str_cat(what, ": CUDA is not available (", reason, ")"));
  };
  m.def("_cuda_is_available", [] { return false; });
  m.def("_cuda_device_count", [] { return 0; });
  m.def("_cuda_unavailable_reason", [reason] { return std::string(reason); });
  m.def("_cuda_get_device_name", [no_cuda](int) -> std::string { no_cuda("get_device_name"); return {}; },
        py::arg("device"));
  m.def("_cuda_synchronize", [no_cuda](int) { no_cuda("synchronize"); }, py::arg("device"));
  m.def("_cuda_get_device_capability", [no_cuda](int) -> std::pair<int, int> {
    no_cuda("get_device_capability");
    return {};
  }, py::arg("device"));
  m.def("_cuda_memory_stats", [](int) {
    py::dict d;
    for (const char* k : {"allocated_bytes", "peak_allocated_bytes", "reserved_bytes", "peak_reserved_bytes",
                          "cached_bytes", "num_allocs", "num_cache_hits", "num_device_mallocs", "num_device_frees"})
      d[k] = 0;
    return d;
  }, py::arg("device"));
  m.def("_cuda_empty_cache", [] {});
  m.def("_cuda_reset_peak_memory_stats", [](int) {}, py::arg("device"));
#endif
}

}  // namespace dlcore
