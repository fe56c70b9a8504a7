// CPU row reductions over contiguous (outer, inner) inputs (Note [Reduction layout]).
#include "ops/reduce.h"

#include "cpu/loops.h"

namespace dlcore {
namespace {

template <typename T, typename Acc>
void sum_rows(T* out, const T* x, int64_t outer, int64_t inner) {
  parallel_for(0, outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const T* row = x + o * inner;
      // Four partial sums: pairwise-ish accuracy and a vectorisable loop.
      Acc s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t i = 0;
      for (; i + 4 <= inner; i += 4) {
        s0 += row[i];
        s1 += row[i + 1];
        s2 += row[i + 2];
        s3 += row[i + 3];
      }
      for (; i < inner; ++i) s0 += row[i];
      out[o] = static_cast<T>((s0 + s1) + (s2 + s3));
    }
  });
}

void reduce_rows_cpu(ReduceOp op, const Tensor& out, const Tensor& x, int64_t outer, int64_t inner) {
  switch (op) {
    case ReduceOp::Sum:
      DL_DISPATCH_NUMERIC(x->dtype(), "sum", [&] {
        using acc_t = std::conditional_t<std::is_same_v<scalar_t, float>, double, scalar_t>;
        sum_rows<scalar_t, acc_t>(out->data<scalar_t>(), x->data<scalar_t>(), outer, inner);
      });
      return;
    default: break;
  }
  throw NotImplementedError("reduce_rows_kernel: op not implemented on CPU");
}

}  // namespace

DL_REGISTER_CPU_KERNEL(reduce_rows_kernel, reduce_rows_cpu);

}  // namespace dlcore
