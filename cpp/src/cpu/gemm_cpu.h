// The blocked GEMM's pieces for kernels that build their operands themselves (cpu/conv.cpp):
// the tile sizes, a packed A operand kept for many products, and a product whose B panels
// come from a callback instead of a strided matrix. Compiled per CPU capability with
// cpu/gemm.cpp (Note [CPU capability variants] in cpu/loops.h).
//
// Note [Packed GEMM operands]
// gemm_kernel packs both operands of every product (Note [Blocked GEMM] in cpu/gemm.cpp). A
// caller that multiplies one A by many B's (a convolution's weight by the columns of every
// image) packs A once into a PackedA, shared read-only by its threads; and a caller whose B
// is not a strided matrix (the im2col of an image, never materialised) supplies a BPanels
// that writes B's blocks straight into the micro-kernel's panel order. gemm_packed then
// runs the same block loops and micro-kernel as gemm_kernel, on the calling thread, and
// each C element is the same sum in the same order as gemm_kernel's for the same A and B.
// When each row of a B panel is one or two vectors lying somewhere in memory, gemm_in_place
// skips packing B altogether: the micro-kernel loads a panel's row p from an offset table
// (BInPlace), one more load per step beside its MR broadcasts and two B loads.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <new>

#include "cpu/vec_math.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace gemm_cpu {

constexpr int kVecRegs = kVecBytes == 64 ? 32 : 16;

// Note [GEMM tiles]
// The micro-tile is MR rows x NV = 2 vectors: MR * NV accumulator registers plus NV for the
// B row and one broadcast of A must fit the vector registers.
//   AVX-512 (32 registers): MR = 14, 28 accumulators; float 14 x 32, double 14 x 16.
//   AVX2 / SSE2 (16):       MR = 6, 12 accumulators;  float 6 x 16 / 6 x 8, double 6 x 8 / 6 x 4.
// Cache blocks (Note [Blocked GEMM]), sized in bytes so that float and double share them:
// the MR x KC A panel takes under a third of L1 (48 KiB per core here), the KC x NC B
// block half of L2 (2 MiB per core), leaving room for the C rows in flight and for the
// A block, which is kept small (a few panels, packed just before use) so that packing it
// does not evict the B block. A is repacked for every B block, so NC is large.
template <typename T>
struct Tiles {
  using Vec = typename VecOf<T>::type;
  static constexpr int kLanes = kVecBytes / static_cast<int>(sizeof(T));
  static constexpr int MR = kVecRegs == 32 ? 14 : 6;
  static constexpr int NV = 2;
  static constexpr int NR = NV * kLanes;
#if defined(__AVX512F__)
  static constexpr int64_t KC = 1024 / sizeof(T);  // A panel 14 x 256 floats: 14 KiB
  static constexpr int64_t NC = 1024;              // B block 256 x 1024 floats: 1 MiB
  static constexpr int64_t MC = 14 * 8;            // A block 112 x 256 floats: 112 KiB
#else
  static constexpr int64_t KC = 1024 / sizeof(T);  // A panel 6 x 256 floats: 6 KiB
  static constexpr int64_t NC = 1024;              // B block 256 x 1024 floats: 1 MiB
  static constexpr int64_t MC = 6 * 64;
#endif
};

constexpr int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// A 64-byte aligned buffer that only grows; reused memory is much faster to write than
// freshly mapped pages.
struct AlignedBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(ptr); }
  template <typename T>
  T* get(int64_t n) {
    const size_t need = static_cast<size_t>(round_up(n * static_cast<int64_t>(sizeof(T)), 64));
    if (need > bytes) {
      std::free(ptr);
      ptr = std::aligned_alloc(64, need);
      bytes = ptr ? need : 0;
      if (!ptr) throw std::bad_alloc();
    }
    return static_cast<T*>(ptr);
  }
};

// An m x k matrix in the micro-kernel's A order: for each k block of KC columns (the last
// may be shorter), MR-row panels of the whole m, each (kc, MR) row-major, rows >= m zero.
template <typename T>
class PackedA {
 public:
  // A (m x k): element (i, p) at a[i * rs + p * cs].
  void pack(int64_t m, int64_t k, const T* a, int64_t rs, int64_t cs);
  int64_t rows() const { return m_; }
  int64_t depth() const { return k_; }
  // The panel of rows [ir, ir + MR) in the k block starting at pc (kc columns long).
  const T* panel(int64_t pc, int64_t ir, int64_t kc) const { return data_ + pc * m_pad_ + ir * kc; }

 private:
  int64_t m_ = 0, k_ = 0, m_pad_ = 0;
  T* data_ = nullptr;
  AlignedBuffer buf_;
};

// B (k x n) delivered block by block: pack(p0, kc, j0, nc, out) writes rows [p0, p0 + kc)
// and columns [j0, j0 + nc) as NR-column panels, panel q holding columns j0 + q*NR ..
// j0 + q*NR + NR - 1 as a (kc, NR) row-major array at out + q * NR * kc, columns >= j0 + nc
// zero. j0 is always a multiple of NR.
template <typename T>
struct BPanels {
  virtual void pack(int64_t p0, int64_t kc, int64_t j0, int64_t nc, T* out) const = 0;

 protected:
  ~BPanels() = default;
};

// C (a.rows() x n, row stride ldc, unit column stride) = A @ B + beta * C on this thread.
template <typename T>
void gemm_packed(const PackedA<T>& a, int64_t n, const BPanels<T>& b, T beta, T* c, int64_t ldc);

// B (k x n, n a multiple of NR) read where it lies, without packing: the NR columns of panel
// q in row p are the two vectors at base + panels[q] + rows[p] and vs elements further.
template <typename T>
struct BInPlace {
  const T* base;
  const int64_t* rows;    // k offsets
  const int64_t* panels;  // n / NR offsets
  int64_t vs;
};

// C (a.rows() x n, row stride ldc, unit column stride) = A @ B + beta * C on this thread.
template <typename T>
void gemm_in_place(const PackedA<T>& a, int64_t n, const BInPlace<T>& b, T beta, T* c, int64_t ldc);

}  // namespace gemm_cpu
}  // namespace CPU_CAPABILITY
}  // namespace dlcore
