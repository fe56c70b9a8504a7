// CUDA convolution kernels for conv_forward_kernel, conv_backward_input_kernel and
// conv_backward_weight_kernel (Note [Convolution geometry] in ops/conv.h; CPU reference:
// cpu/conv.cpp, cpu/conv_weight_grad.cpp), which serve conv1d/2d/3d and, as their adjoints,
// conv_transpose1d/2d/3d. float32, float64, float16 and bfloat16 (the GEMM accumulates in
// float for the 16-bit types; the weight grad's per-segment and per-chunk sums are rounded to
// the 16-bit type between steps). All tensors are contiguous: x (N, C, D, H, W),
// w (K, C/groups, KD, KH, KW), y (N, K, OD, OH, OW).
//
// Note [CUDA convolution as GEMM]
// With Cg = C/groups, Kg = K/groups, T = KD*KH*KW taps, CK = Cg*T and P = OD*OH*OW, the three
// products of Note [Convolution as GEMM] (cpu/conv.cpp) run on the gemm_kernel slot, over a
// column buffer col built in a device workspace (a dlcore tensor, so the caching allocator
// serves it):
//   forward       y[n, g] (Kg x P) = W[g] (Kg x CK) @ col[n, g] (CK x P)     (+ bias: y is
//                 first filled with it and the GEMM adds, beta = 1)
//   input grad    col[n, g] = W[g]^T @ gy[n, g], then gx = col2im(col)
//   weight grad   gW[g] = sum_n gy[n, g] (Kg x P) @ col[n, g]^T              gb = sum of gy
// col's row (c, kd, kh, kw) and column p = (od, oh, ow) hold the input element that tap
// meets at output p (0 in the padding). The work goes in chunks whose col fits in
// kWorkspaceBytes: several whole images, or, when one image's col is larger, runs of output
// positions [p0, p0 + pl) of one image. Products within a chunk are batched over groups
// (one call per image) or over images (one call per group), whichever makes fewer calls.
// - im2col: one thread per col element, writing col in memory order. Two layouts:
//   image-major (image, row, column) for the forward and the input grad, whose products run
//   per image; row-major (row, image, column) for the weight grad, whose product sums over
//   images and positions in one reduction of length nb * pl (gy's chunk is gathered into the
//   same (K, image, column) order).
// - col2im is a gather: one thread per input element sums, in a fixed order, the col entries
//   of the taps that meet it (for dilation 1 only the taps of the right stride phase are
//   visited, so a patchify convolution, kernel == stride, visits one per dim). No atomics:
//   results are deterministic. A chunk of positions adds into gx (zeroed first) over the box
//   of input elements its outputs can reach.
// - Weight grad: the reduction is split into S segments (a GEMM batch over segments) when
//   the product alone would fill too few blocks, each segment's product written to its own
//   slice of a partial buffer; a second kernel adds the slices in order, onto gW from the
//   previous chunks. Chunks run in order: deterministic.
// - A 1x1 convolution with stride 1 and no padding reads x (forward) and writes gx (input
//   grad) as col directly, without a workspace.
#include <algorithm>

#include "block.cuh"
#include "loops.cuh"
#include "ops/conv.h"
#include "ops/linalg.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int64_t kWorkspaceBytes = int64_t(256) << 20;  // col (and the weight grad's gathered gy)
constexpr int64_t kPartialBytes = int64_t(64) << 20;     // the weight grad's split-reduction partials
constexpr int64_t kMinSegment = 1024;                   // shortest split of the weight grad's reduction
constexpr int64_t kTargetBlocks = 512;                  // GEMM blocks the weight grad aims for
constexpr int64_t kGemmTile = 128;                      // the CUDA GEMM's output tile (for the above)
constexpr int kReduceThreads = 256;

struct Geom {
  int64_t c, k, groups, cg, kg, taps, ck, rows, p, in_plane;  // rows = C * taps (all groups)
  int64_t in[3], out[3], kernel[3], stride[3], pad[3], dil[3];
};

Geom geom_of(const ConvParams& q) {
  Geom g{};
  g.c = q.c, g.k = q.k, g.groups = q.groups;
  g.cg = q.c / q.groups, g.kg = q.k / q.groups;
  g.taps = q.kernel_numel(), g.ck = g.cg * g.taps, g.rows = q.c * g.taps;
  g.p = q.out_numel(), g.in_plane = q.in_numel();
  for (int d = 0; d < 3; ++d) {
    g.in[d] = q.in[d], g.out[d] = q.out[d], g.kernel[d] = q.kernel[d];
    g.stride[d] = q.stride[d], g.pad[d] = q.pad[d], g.dil[d] = q.dilation[d];
  }
  return g;
}

bool is_pointwise(const Geom& g) {
  for (int d = 0; d < 3; ++d)
    if (g.kernel[d] != 1 || g.stride[d] != 1 || g.pad[d] != 0) return false;
  return true;
}

// A chunk: images [n0, n0 + nb), output positions [p0, p0 + pl) of each.
struct Chunk {
  int64_t n0, nb, p0, pl;
};

// Chunk sizes whose workspace, `per_col` elements per column, fits in kWorkspaceBytes.
Chunk chunk_size(const Geom& g, int64_t n, int64_t per_col, int64_t itemsize) {
  const int64_t cols = std::max<int64_t>(1, kWorkspaceBytes / itemsize / std::max<int64_t>(1, per_col));
  if (g.p <= cols) return {0, std::max<int64_t>(1, std::min(n, cols / g.p)), 0, g.p};
  return {0, 1, 0, cols};
}

// Calls f(chunk) for every chunk of the given size, images outer, positions inner.
template <typename F>
void for_each_chunk(const Geom& g, int64_t n, const Chunk& size, F f) {
  for (int64_t n0 = 0; n0 < n; n0 += size.nb)
    for (int64_t p0 = 0; p0 < g.p; p0 += size.pl)
      f(Chunk{n0, std::min(size.nb, n - n0), p0, std::min(size.pl, g.p - p0)});
}

// ---- GEMM through the slot (Note [GEMM operands] in ops/linalg.h) ---------------------------

template <typename T>
GemmMatrix mat(const T* data, int64_t batch_stride, int64_t row_stride, int64_t col_stride) {
  return GemmMatrix{const_cast<T*>(data), batch_stride, row_stride, col_stride};
}

void gemm_call(const Tensor& like, int64_t batch, int64_t m, int64_t n, int64_t k, double beta, const GemmMatrix& a,
          const GemmMatrix& b, const GemmMatrix& c) {
  GemmArgs args;
  args.dtype = like->dtype();
  args.device = like->device();
  args.batch = batch, args.m = m, args.n = n, args.k = k;
  args.alpha = 1.0, args.beta = beta;
  args.a = a, args.b = b, args.c = c;
  args.allow_tf32 = conv_allow_tf32();  // torch.backends.cudnn.allow_tf32
  gemm_kernel[args.device](args);
}

// ---- kernels ---------------------------------------------------------------------------------

// Grid-stride loop over [0, total) in index type I (uint32_t when total < 2^31: cheaper
// division; the grid is capped by grid_for, so idx + step stays below 2^32).
#define DL_CONV_LOOP(I, idx, total)                                                                 \
  for (I idx = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; idx < static_cast<I>(total); \
       idx += static_cast<I>(gridDim.x) * blockDim.x)

// col[idx] for one chunk, idx in memory order: image-major (image, row, column) or
// row-major (row, image, column), columns pl wide; rows (c, kd, kh, kw) over all C channels.
template <typename T, typename I>
__global__ void im2col(T* __restrict__ col, const T* __restrict__ x, Geom g, Chunk ch, bool image_major,
                       int64_t total) {
  DL_CONV_LOOP(I, idx, total) {
    const I j = idx % static_cast<I>(ch.pl), q = idx / static_cast<I>(ch.pl);
    I i, r;
    if (image_major) {
      i = q / static_cast<I>(g.rows), r = q - i * static_cast<I>(g.rows);
    } else {
      r = q / static_cast<I>(ch.nb), i = q - r * static_cast<I>(ch.nb);
    }
    const I c = r / static_cast<I>(g.taps), t = r - c * static_cast<I>(g.taps);
    const I kw = t % static_cast<I>(g.kernel[2]), khd = t / static_cast<I>(g.kernel[2]);
    const I kh = khd % static_cast<I>(g.kernel[1]), kd = khd / static_cast<I>(g.kernel[1]);
    const I p = static_cast<I>(ch.p0) + j;
    const I ow = p % static_cast<I>(g.out[2]), ohd = p / static_cast<I>(g.out[2]);
    const I oh = ohd % static_cast<I>(g.out[1]), od = ohd / static_cast<I>(g.out[1]);
    const int64_t id = static_cast<int64_t>(od) * g.stride[0] - g.pad[0] + static_cast<int64_t>(kd) * g.dil[0];
    const int64_t ih = static_cast<int64_t>(oh) * g.stride[1] - g.pad[1] + static_cast<int64_t>(kh) * g.dil[1];
    const int64_t iw = static_cast<int64_t>(ow) * g.stride[2] - g.pad[2] + static_cast<int64_t>(kw) * g.dil[2];
    T v = cast<T>(acc_t<T>(0));
    if (id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2])
      v = x[((ch.n0 + static_cast<int64_t>(i)) * g.c + static_cast<int64_t>(c)) * g.in_plane +
            (id * g.in[1] + ih) * g.in[2] + iw];
    col[idx] = v;
  }
}

// The input elements [lo, lo + len) per dim that one chunk's outputs can reach.
struct Box {
  int64_t lo[3], len[3];
};

// The first tap of dim d that can meet input coordinate v (of v + pad), and the step to the
// next: with dilation 1 the taps meeting it are those of its stride phase.
__device__ __forceinline__ void tap_walk(const Geom& g, int d, int64_t vp, int64_t& first, int64_t& step) {
  if (g.dil[d] == 1) {
    first = vp % g.stride[d], step = g.stride[d];
  } else {
    first = 0, step = 1;
  }
}

// gx (image-major, the chunk's images) = or += col2im(col): one thread per input element of
// the box, in all C channels; sums the col entries of the taps and outputs (within the chunk)
// that meet it.
template <typename T, typename I>
__global__ void col2im(T* __restrict__ gx, const T* __restrict__ col, Geom g, Chunk ch, Box box, bool accumulate,
                       int64_t total) {
  using A = acc_t<T>;
  DL_CONV_LOOP(I, idx, total) {
    I rem = idx;
    const int64_t iw = box.lo[2] + static_cast<int64_t>(rem % static_cast<I>(box.len[2]));
    rem /= static_cast<I>(box.len[2]);
    const int64_t ih = box.lo[1] + static_cast<int64_t>(rem % static_cast<I>(box.len[1]));
    rem /= static_cast<I>(box.len[1]);
    const int64_t id = box.lo[0] + static_cast<int64_t>(rem % static_cast<I>(box.len[0]));
    rem /= static_cast<I>(box.len[0]);
    const int64_t c = static_cast<int64_t>(rem % static_cast<I>(g.c));
    const int64_t i = static_cast<int64_t>(rem / static_cast<I>(g.c));
    const int64_t base = (i * g.rows + c * g.taps) * ch.pl;  // col row (c, tap 0) of image i
    const int64_t vd = id + g.pad[0], vh = ih + g.pad[1], vw = iw + g.pad[2];
    int64_t fd, sd, fh, sh, fw, sw;
    tap_walk(g, 0, vd, fd, sd);
    tap_walk(g, 1, vh, fh, sh);
    tap_walk(g, 2, vw, fw, sw);
    A acc = A(0);
    for (int64_t kd = fd; kd < g.kernel[0]; kd += sd) {
      const int64_t ud = vd - kd * g.dil[0];
      if (ud < 0) break;
      if (ud % g.stride[0] != 0) continue;
      const int64_t od = ud / g.stride[0];
      if (od >= g.out[0]) continue;
      for (int64_t kh = fh; kh < g.kernel[1]; kh += sh) {
        const int64_t uh = vh - kh * g.dil[1];
        if (uh < 0) break;
        if (uh % g.stride[1] != 0) continue;
        const int64_t oh = uh / g.stride[1];
        if (oh >= g.out[1]) continue;
        for (int64_t kw = fw; kw < g.kernel[2]; kw += sw) {
          const int64_t uw = vw - kw * g.dil[2];
          if (uw < 0) break;
          if (uw % g.stride[2] != 0) continue;
          const int64_t ow = uw / g.stride[2];
          if (ow >= g.out[2]) continue;
          const int64_t j = (od * g.out[1] + oh) * g.out[2] + ow - ch.p0;
          if (j < 0 || j >= ch.pl) continue;
          acc += cast<A>(col[base + ((kd * g.kernel[1] + kh) * g.kernel[2] + kw) * ch.pl + j]);
        }
      }
    }
    T& out = gx[((ch.n0 + i) * g.c + c) * g.in_plane + (id * g.in[1] + ih) * g.in[2] + iw];
    out = cast<T>(accumulate ? cast<A>(out) + acc : acc);
  }
}

// y (N, K, P) = bias[k].
template <typename T>
__global__ void fill_bias(T* __restrict__ y, const T* __restrict__ b, int64_t K, int64_t P, int64_t total) {
  DL_CONV_LOOP(int64_t, idx, total) y[idx] = b[idx / P % K];
}

// dst (K, nb, pl) = gy[n0 + i, k, p0 + j]: the weight grad's A operand for several images.
template <typename T, typename I>
__global__ void gather_gy(T* __restrict__ dst, const T* __restrict__ gy, int64_t K, int64_t P, Chunk ch,
                          int64_t total) {
  DL_CONV_LOOP(I, idx, total) {
    const I j = idx % static_cast<I>(ch.pl), q = idx / static_cast<I>(ch.pl);
    const I i = q % static_cast<I>(ch.nb), k = q / static_cast<I>(ch.nb);
    const int64_t row = (ch.n0 + static_cast<int64_t>(i)) * K + static_cast<int64_t>(k);
    dst[idx] = gy[row * P + ch.p0 + static_cast<int64_t>(j)];
  }
}

// gw[e] = (accumulate ? gw[e] : 0) + sum over s of part[s][e], in order of s.
template <typename T>
__global__ void add_partials(T* __restrict__ gw, const T* __restrict__ part, int64_t S, int64_t n, bool accumulate) {
  using A = acc_t<T>;
  DL_CONV_LOOP(int64_t, e, n) {
    A acc = accumulate ? cast<A>(gw[e]) : A(0);
    for (int64_t s = 0; s < S; ++s) acc += cast<A>(part[s * n + e]);
    gw[e] = cast<T>(acc);
  }
}

// gb[k] = sum of gy[n, k, p] over n and p: one block per channel, a fixed split over threads.
template <typename T>
__global__ void __launch_bounds__(kReduceThreads) bias_grad(T* __restrict__ gb, const T* __restrict__ gy, int64_t N,
                                                            int64_t K, int64_t P) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  for (int64_t k = blockIdx.x; k < K; k += gridDim.x) {
    A acc = A(0);
    for (int64_t e = threadIdx.x; e < N * P; e += blockDim.x) {
      const int64_t n = e / P;
      acc += cast<A>(gy[(n * K + k) * P + (e - n * P)]);
    }
    acc = block_reduce(acc, SumOp(), A(0), scratch);
    if (threadIdx.x == 0) gb[k] = cast<T>(acc);
  }
}

// ---- launchers -------------------------------------------------------------------------------

// Launches kernel<T, I>(args..., total) over `total` threads, I = uint32_t when every index
// the kernel decodes is below 2^31 (`small`).
#define DL_CONV_LAUNCH(kernel, T, small, total, ...)                                                  \
  do {                                                                                                \
    if ((small) && (total) <= INT32_MAX) kernel<T, uint32_t><<<grid_for(total), kBlock>>>(__VA_ARGS__, total); \
    else kernel<T, int64_t><<<grid_for(total), kBlock>>>(__VA_ARGS__, total);                         \
    DL_CUDA_LAUNCH_CHECK();                                                                           \
  } while (0)

template <typename T>
void run_im2col(T* col, const T* x, const Geom& g, const Chunk& ch, bool image_major) {
  const int64_t total = ch.nb * g.rows * ch.pl;
  DL_CONV_LAUNCH(im2col, T, g.p <= INT32_MAX, total, col, x, g, ch, image_major);
}

void zero(const Tensor& t) {
  if (t && t->numel() > 0)
    DL_CUDA_CHECK(cudaMemsetAsync(t->raw_data(), 0, static_cast<size_t>(t->numel()) * t->itemsize(), 0));
}

// The per-image products of a chunk, f(i, g, batch, image_batched): when there are more groups
// than images, one call per image batched over groups, else one per group batched over images.
template <typename F>
void per_image_products(const Geom& g, const Chunk& ch, F f) {
  if (g.groups >= ch.nb) {
    for (int64_t i = 0; i < ch.nb; ++i) f(i, int64_t(0), g.groups, false);
  } else {
    for (int64_t gi = 0; gi < g.groups; ++gi) f(int64_t(0), gi, ch.nb, true);
  }
}

template <typename T>
void forward_typed(const ConvParams& q, const Tensor& yt, const Tensor& xt, const Tensor& wt, const Tensor& bt) {
  const Geom g = geom_of(q);
  T* y = static_cast<T*>(yt->raw_data());
  const T* x = static_cast<const T*>(xt->raw_data());
  const T* w = static_cast<const T*>(wt->raw_data());
  const int64_t ny = yt->numel();
  if (bt) {
    fill_bias<T><<<grid_for(ny), kBlock>>>(y, static_cast<const T*>(bt->raw_data()), g.k, g.p, ny);
    DL_CUDA_LAUNCH_CHECK();
  } else if (g.ck == 0) {
    zero(yt);
  }
  if (g.ck == 0) return;  // no input channels: y is the bias
  const double beta = bt ? 1.0 : 0.0;

  // The products of one chunk whose col (image-major) starts at `col` with the given image
  // and row strides.
  auto products = [&](const Chunk& ch, const T* col, int64_t img_stride, int64_t row_stride) {
    per_image_products(g, ch, [&](int64_t i, int64_t gi, int64_t batch, bool images) {
      const T* b = col + i * img_stride + gi * g.ck * row_stride;
      T* c = y + ((ch.n0 + i) * g.k + gi * g.kg) * g.p + ch.p0;
      gemm_call(xt, batch, g.kg, ch.pl, g.ck, beta, mat(w + gi * g.kg * g.ck, images ? 0 : g.kg * g.ck, g.ck, 1),
                mat(b, images ? img_stride : g.ck * row_stride, row_stride, 1),
                mat(c, images ? g.k * g.p : g.kg * g.p, g.p, 1));
    });
  };
  if (is_pointwise(g)) {  // col is x itself
    products(Chunk{0, q.n, 0, g.p}, x, g.c * g.p, g.p);
    return;
  }
  const Chunk size = chunk_size(g, q.n, g.rows, sizeof(T));
  Tensor ws = empty({size.nb * g.rows * size.pl}, xt->dtype(), xt->device());
  T* col = static_cast<T*>(ws->raw_data());
  for_each_chunk(g, q.n, size, [&](const Chunk& ch) {
    run_im2col(col, x, g, ch, true);
    products(ch, col, g.rows * ch.pl, ch.pl);
  });
}

// The box of input elements that the outputs [p0, p0 + pl) can reach.
Box reach(const Geom& g, const Chunk& ch) {
  int64_t lo[3], hi[3];
  const int64_t first = ch.p0, last = ch.p0 + ch.pl - 1;
  const int64_t a[3] = {first / (g.out[1] * g.out[2]), first / g.out[2] % g.out[1], first % g.out[2]};
  const int64_t b[3] = {last / (g.out[1] * g.out[2]), last / g.out[2] % g.out[1], last % g.out[2]};
  bool same = true;  // the outer dims hold one value: this dim's outputs are a range
  for (int d = 0; d < 3; ++d) {
    lo[d] = same ? a[d] : 0;
    hi[d] = same ? b[d] : g.out[d] - 1;
    same = same && a[d] == b[d];
  }
  Box box{};
  for (int d = 0; d < 3; ++d) {
    const int64_t l = std::max<int64_t>(0, lo[d] * g.stride[d] - g.pad[d]);
    const int64_t h = std::min<int64_t>(g.in[d] - 1, hi[d] * g.stride[d] - g.pad[d] + (g.kernel[d] - 1) * g.dil[d]);
    box.lo[d] = l;
    box.len[d] = std::max<int64_t>(0, h - l + 1);
  }
  return box;
}

template <typename T>
void backward_input_typed(const ConvParams& q, const Tensor& gxt, const Tensor& gyt, const Tensor& wt) {
  const Geom g = geom_of(q);
  T* gx = static_cast<T*>(gxt->raw_data());
  const T* gy = static_cast<const T*>(gyt->raw_data());
  const T* w = static_cast<const T*>(wt->raw_data());

  // col (image-major, strides img_stride / row_stride) = W[g]^T @ gy for one chunk.
  auto products = [&](const Chunk& ch, T* col, int64_t img_stride, int64_t row_stride) {
    per_image_products(g, ch, [&](int64_t i, int64_t gi, int64_t batch, bool images) {
      const T* b = gy + ((ch.n0 + i) * g.k + gi * g.kg) * g.p + ch.p0;
      T* c = col + i * img_stride + gi * g.ck * row_stride;
      gemm_call(gxt, batch, g.ck, ch.pl, g.kg, 0.0, mat(w + gi * g.kg * g.ck, images ? 0 : g.kg * g.ck, 1, g.ck),
                mat(b, images ? g.k * g.p : g.kg * g.p, g.p, 1),
                mat(c, images ? img_stride : g.ck * row_stride, row_stride, 1));
    });
  };
  if (is_pointwise(g)) {  // col is gx itself
    products(Chunk{0, q.n, 0, g.p}, gx, g.c * g.p, g.p);
    return;
  }
  const Chunk size = chunk_size(g, q.n, g.rows, sizeof(T));
  const bool split = size.pl < g.p;  // chunks of one image's positions add into gx
  if (split) zero(gxt);
  Tensor ws = empty({size.nb * g.rows * size.pl}, gxt->dtype(), gxt->device());
  T* col = static_cast<T*>(ws->raw_data());
  for_each_chunk(g, q.n, size, [&](const Chunk& ch) {
    products(ch, col, g.rows * ch.pl, ch.pl);
    const Box box = split ? reach(g, ch) : Box{{0, 0, 0}, {g.in[0], g.in[1], g.in[2]}};
    const int64_t total = ch.nb * g.c * box.len[0] * box.len[1] * box.len[2];
    if (total > 0) DL_CONV_LAUNCH(col2im, T, true, total, gx, col, g, ch, box, split);
  });
}

template <typename T>
void backward_weight_typed(const ConvParams& q, const Tensor& gwt, const Tensor& gbt, const Tensor& gyt,
                           const Tensor& xt) {
  const Geom g = geom_of(q);
  const T* gy = static_cast<const T*>(gyt->raw_data());
  const T* x = static_cast<const T*>(xt->raw_data());
  if (gbt) {
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(g.k, kMaxGrid));
    bias_grad<T><<<blocks, kReduceThreads>>>(static_cast<T*>(gbt->raw_data()), gy, q.n, g.k, g.p);
    DL_CUDA_LAUNCH_CHECK();
  }
  if (!gwt || gwt->numel() == 0) return;
  T* gw = static_cast<T*>(gwt->raw_data());

  // Workspace per column: col's rows and, for chunks of several images, gy's gathered rows.
  const Chunk size = chunk_size(g, q.n, g.rows + g.k, sizeof(T));
  const bool gather = size.nb > 1;
  Tensor ws = empty({size.nb * (g.rows + (gather ? g.k : 0)) * size.pl}, gwt->dtype(), gwt->device());
  T* col = static_cast<T*>(ws->raw_data());
  T* gyc = col + size.nb * g.rows * size.pl;

  // Reduction segments: enough GEMM blocks to fill the GPU, segments of >= kMinSegment,
  // partials within kPartialBytes.
  const int64_t longest = size.nb * size.pl;
  const int64_t blocks = ceil_div(g.kg, kGemmTile) * ceil_div(g.ck, kGemmTile) * g.groups;
  int64_t S = std::min({ceil_div(kTargetBlocks, blocks), std::max<int64_t>(1, longest / kMinSegment),
                        std::max<int64_t>(1, kPartialBytes / static_cast<int64_t>(sizeof(T)) / gwt->numel())});
  S = std::max<int64_t>(1, S);
  const int64_t nw = gwt->numel();  // K * CK
  Tensor part_t = empty({S * nw}, gwt->dtype(), gwt->device());
  T* part = static_cast<T*>(part_t->raw_data());

  bool first = true;
  for_each_chunk(g, q.n, size, [&](const Chunk& ch) {
    const int64_t L = ch.nb * ch.pl;  // the reduction: images x positions
    run_im2col(col, x, g, ch, false);  // (rows, L)
    // A: gy's chunk (K, L) with row stride lda.
    const T* a = gy + ch.n0 * g.k * g.p + ch.p0;
    int64_t lda = g.p;
    if (ch.nb > 1) {
      const int64_t total = g.k * L;
      DL_CONV_LAUNCH(gather_gy, T, true, total, gyc, gy, g.k, g.p, ch);
      a = gyc, lda = L;
    }
    // part[s][g*Kg + k][r] = sum over l in segment s of A[g*Kg + k][l] * col[g*CK + r][l]
    const int64_t s_here = std::max<int64_t>(1, std::min(S, L / kMinSegment));
    const int64_t seg = L / s_here, rest = L - s_here * seg;
    if (s_here == 1) {
      gemm_call(gwt, g.groups, g.kg, g.ck, L, 0.0, mat(a, g.kg * lda, lda, 1), mat(col, g.ck * L, 1, L),
                mat(part, g.kg * g.ck, g.ck, 1));
    } else {
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        const T* ag = a + gi * g.kg * lda;
        const T* bg = col + gi * g.ck * L;
        T* cg = part + gi * g.kg * g.ck;
        gemm_call(gwt, s_here, g.kg, g.ck, seg, 0.0, mat(ag, seg, lda, 1), mat(bg, seg, 1, L), mat(cg, nw, g.ck, 1));
        if (rest > 0)  // the tail, added to the last segment
          gemm_call(gwt, 1, g.kg, g.ck, rest, 1.0, mat(ag + s_here * seg, 0, lda, 1),
                    mat(bg + s_here * seg, 0, 1, L), mat(cg + (s_here - 1) * nw, 0, g.ck, 1));
      }
    }
    add_partials<T><<<grid_for(nw), kBlock>>>(gw, part, s_here, nw, !first);
    DL_CUDA_LAUNCH_CHECK();
    first = false;
  });
}

// ---- entry points ----------------------------------------------------------------------------

void conv_forward_cuda(const ConvParams& q, const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b) {
  if (y->numel() == 0) return;
  DeviceGuard guard(y->device().index);
  floating_dispatch(y->dtype(), "conv", [&](auto tag) { forward_typed<decltype(tag)>(q, y, x, w, b); });
}

void conv_backward_input_cuda(const ConvParams& q, const Tensor& gx, const Tensor& gy, const Tensor& w) {
  if (gx->numel() == 0) return;
  DeviceGuard guard(gx->device().index);
  if (gy->numel() == 0) return zero(gx);
  floating_dispatch(gx->dtype(), "conv_backward_input",
                [&](auto tag) { backward_input_typed<decltype(tag)>(q, gx, gy, w); });
}

void conv_backward_weight_cuda(const ConvParams& q, const Tensor& gw, const Tensor& gb, const Tensor& gy,
                               const Tensor& x) {
  const Tensor& any = gw ? gw : gb;
  if (!any) return;
  DeviceGuard guard(any->device().index);
  if (q.n == 0 || gy->numel() == 0) {
    zero(gw);
    zero(gb);
    return;
  }
  floating_dispatch(gy->dtype(), "conv_backward_weight",
                [&](auto tag) { backward_weight_typed<decltype(tag)>(q, gw, gb, gy, x); });
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(conv_forward_kernel, CUDA, cuda::conv_forward_cuda);
DL_REGISTER_KERNEL(conv_backward_input_kernel, CUDA, cuda::conv_backward_input_cuda);
DL_REGISTER_KERNEL(conv_backward_weight_kernel, CUDA, cuda::conv_backward_weight_cuda);

}  // namespace dlcore
