// The tensor-core GEMM for bfloat16 operands (Note [Tensor-core GEMM] in cuda/gemm_mma.cu).
#include "gemm_mma_kernel.cuh"

namespace dlcore {
namespace cuda {

void gemm_mma_bf16(const GemmArgs& g) { gemm_mma_typed<__nv_bfloat16>(g); }

}  // namespace cuda
}  // namespace dlcore
