// Data errors found by kernels (an index out of range, an invalid class target), reported
// without making the host wait for the kernel.
//
// Note [Deferred device errors]
// A kernel that validates data gets an ErrorRecord: the device's error record and the id of
// an error context the host registered just before the launch (error_context: a function that
// words the message). The first bad value any kernel meets is recorded there (first writer
// wins: the context id, the value and which operand it came from) and the bad element is
// skipped. The host reads the record only where it waits for the device anyway
// (raise_deferred_errors): dlcore.cuda.synchronize(), copies to the host (.cpu(), .item(),
// .numpy(), printing) and the ops that read device values on the host. A recorded error is
// raised there as IndexError with the message of the op that met it, and the record is
// cleared, so the device stays usable, unlike a device-side assert. Launches never
// synchronise for validation (Note [CUDA index kernels], the loss kernels).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace dlcore {
namespace cuda {

struct ErrorRecord {
  unsigned long long* word = nullptr;  // device: [context id (0: none), value, which]
  unsigned long long context = 0;
};

#if defined(__CUDACC__)
__device__ __forceinline__ void record_error(const ErrorRecord& r, long long value, long long which) {
  if (atomicCAS(r.word, 0ull, r.context) == 0ull) {
    r.word[1] = static_cast<unsigned long long>(value);
    r.word[2] = static_cast<unsigned long long>(which);
  }
}
#endif

// The message for a recorded error: f(value, which).
using ErrorMessage = std::function<std::string(int64_t value, int64_t which)>;
// Registers the context of the launches about to be made on device `dev`.
ErrorRecord error_context(int dev, ErrorMessage message);
// Raises IndexError for the first error recorded on `dev` since the last call, and clears it.
// Call only after the host has waited for the device (it reads the record).
void raise_deferred_errors(int dev);

}  // namespace cuda
}  // namespace dlcore
