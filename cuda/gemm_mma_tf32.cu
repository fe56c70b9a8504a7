// The tensor-core GEMM for float32 rounded to TF32 operands (Note [Tensor-core GEMM] in cuda/gemm_mma.cu).
#include "gemm_mma_kernel.cuh"

namespace dlcore {
namespace cuda {

void gemm_mma_tf32(const GemmArgs& g) { gemm_mma_typed<float>(g); }

}  // namespace cuda
}  // namespace dlcore
