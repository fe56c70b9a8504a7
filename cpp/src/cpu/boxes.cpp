// CPU box kernels: the element-wise IoU family forward and backward (Note [Box IoU formulas]
// in ops/boxes.h), and greedy NMS (Note [NMS semantics]) with a uniform-grid index.
//
// Note [CPU NMS]
// 1. Order: a stable LSD radix sort of the scores' order keys (descending, NaN first: the
//    key of sort.cu's Note [CUDA sort], complemented), 8 bits a pass, a pass skipped when all
//    keys share its digit.
// 2. batched_nms: the sorted positions are grouped by idx (a counting sort when the idx range
//    is small, else a sort of (idx, position) pairs), so each group is one class in score
//    order; the groups are independent greedy problems, spread over threads (each thread
//    takes the next unclaimed group), and the kept positions are read back in score order,
//    which merges the classes as per-class NMS would.
// 3. One greedy problem visits its boxes in score order and keeps a box unless a kept box
//    has IoU > threshold with it (the same as "a kept box suppresses the later ones"). For
//    0 <= threshold < 1 the kept boxes are indexed by a uniform grid, so a candidate is
//    compared only with kept boxes in the cells where a suppressor must be:
//    - IoU > threshold >= 0 needs a positive intersection: min(x2) - max(x1) > 0 (and for y),
//      so both boxes contain the point (max(x1), max(y1)), and the (monotone) cell of that
//      point lies in both boxes' cell ranges. Pairs with no common cell have IoU 0 or NaN.
//      A larger threshold narrows it further: a suppressor overlaps the candidate by more
//      than ~threshold of its width and height, so it meets a window inside the candidate
//      (its centre, for threshold >= 0.5) and only the window's cells are scanned (Note [NMS
//      query window]); a cell's boxes are first tested against the window, several at a time
//      (Note [NMS cell scan]), and IoU is formed for those that pass.
//    - A box with a NaN coordinate, or with finite coordinates and zero width or height,
//      has IoU 0 or NaN with every box: kept, never compared.
//    - Boxes with an infinite coordinate, or spanning more than kMaxSpan cells, are "big":
//      compared with every kept box, and every candidate is compared with the kept big ones.
//    - Cells are about the mean box size (grid at most ~4 cells per box); a kept box is put
//      in every cell it spans; a pair met in several scanned cells is compared only in the
//      first (the cell of (max of the two first columns, max of the two first rows)).
//    A threshold >= 1 or NaN suppresses nothing (IoU <= 1 in floating point too: the
//    intersection's sides are at most each box's); a negative one takes the plain loop
//    (every kept box against every candidate), as do groups of at most kSmallGroup boxes and
//    coordinate ranges too wide to grid (near the float limits).
//    Every path decides IoU > threshold exactly as boxes_detail::nms_iou's quotient compared
//    in double (the grid path skips the division when products already decide it, Note [NMS
//    quotient test]), so the result does not depend on the path.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cpu/loops.h"
#include "ops/boxes.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

using boxes_detail::BoxIouTerms;
using boxes_detail::nms_iou;

constexpr int64_t kIouGrain = 4096;  // pairs per thread chunk

template <typename T>
void box_iou_typed(const Tensor& out, const Tensor& a, const Tensor& b, const BoxIouParams& p) {
  ElementwiseIter it(out, {box_coord0(a), box_coord0(b)});
  const int64_t sa = a->strides().back(), sb = b->strides().back();
  const T eps = static_cast<T>(p.eps);
  cpu_loop(it, [&](char** ptr, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const T* pa = reinterpret_cast<const T*>(ptr[1] + i * s[1]);
      const T* pb = reinterpret_cast<const T*>(ptr[2] + i * s[2]);
      BoxIouTerms<T> t;
      t.load(pa, sa, pb, sb);
      t.compute(p.kind, eps, p.loss_form);
      *reinterpret_cast<T*>(ptr[0] + i * s[0]) = t.value;
    }
  }, kIouGrain);
}

void box_iou_cpu(const Tensor& out, const Tensor& a, const Tensor& b, BoxIouParams p) {
  DL_DISPATCH_FLOAT(out->dtype(), "box_iou_elementwise", [&] { box_iou_typed<scalar_t>(out, a, b, p); });
}

template <typename T>
void box_iou_backward_typed(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a, const Tensor& b,
                            const BoxIouParams& p) {
  ElementwiseIter it(box_coord0(ga), {box_coord0(gb), g, box_coord0(a), box_coord0(b)});
  const int64_t sa = a->strides().back(), sb = b->strides().back();
  const T eps = static_cast<T>(p.eps);
  cpu_loop(it, [&](char** ptr, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      T* oa = reinterpret_cast<T*>(ptr[0] + i * s[0]);
      T* ob = reinterpret_cast<T*>(ptr[1] + i * s[1]);
      const T gv = *reinterpret_cast<const T*>(ptr[2] + i * s[2]);
      const T* pa = reinterpret_cast<const T*>(ptr[3] + i * s[3]);
      const T* pb = reinterpret_cast<const T*>(ptr[4] + i * s[4]);
      BoxIouTerms<T> t;
      t.load(pa, sa, pb, sb);
      t.compute(p.kind, eps, p.loss_form);
      t.backward(gv, p.kind, p.loss_form, oa, ob);  // grad_a/grad_b are contiguous (L..., 4)
    }
  }, kIouGrain);
}

void box_iou_backward_cpu(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a, const Tensor& b,
                          BoxIouParams p) {
  DL_DISPATCH_FLOAT(ga->dtype(), "box_iou_elementwise_backward",
                    [&] { box_iou_backward_typed<scalar_t>(ga, gb, g, a, b, p); });
}

// ---- NMS ----------------------------------------------------------------------------------------

// Order keys: ascending key order = descending score order, NaN first, -0.0 == +0.0.
inline uint32_t desc_key(float v) {
  if (v != v) return 0;
  const float f = v == 0.0f ? 0.0f : v;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t asc = (u >> 31) ? ~u : (u | 0x80000000u);
  return ~asc;
}
inline uint64_t desc_key(double v) {
  if (v != v) return 0;
  const double f = v == 0.0 ? 0.0 : v;
  uint64_t u;
  std::memcpy(&u, &f, 8);
  const uint64_t asc = (u >> 63) ? ~u : (u | (uint64_t(1) << 63));
  return ~asc;
}

// order = the indices 0..n-1 stably sorted by decreasing score (Note [CPU NMS] 1).
template <typename S>
std::vector<int64_t> score_order(const S* scores, int64_t n) {
  using K = decltype(desc_key(S()));
  std::vector<K> k0(n), k1(n);
  std::vector<int64_t> i0(n), i1(n);
  for (int64_t i = 0; i < n; ++i) k0[i] = desc_key(scores[i]);
  std::iota(i0.begin(), i0.end(), int64_t(0));
  for (int shift = 0; shift < int(sizeof(K) * 8); shift += 8) {
    int64_t count[257] = {0};
    for (int64_t i = 0; i < n; ++i) ++count[((k0[i] >> shift) & 0xff) + 1];
    bool one_digit = false;
    for (int d = 1; d <= 256; ++d) one_digit = one_digit || count[d] == n;
    if (one_digit) continue;
    for (int d = 1; d <= 256; ++d) count[d] += count[d - 1];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t to = count[(k0[i] >> shift) & 0xff]++;
      k1[to] = k0[i];
      i1[to] = i0[i];
    }
    k0.swap(k1);
    i0.swap(i1);
  }
  return i0;
}

// The T nearest v from below / above (v's rounding to T, moved one step when it went the
// wrong way): a window widened by them still holds every point of [v1, v2].
template <typename T>
T round_down_to(double v) {
  const T f = static_cast<T>(v);
  return static_cast<double>(f) > v ? std::nextafter(f, -std::numeric_limits<T>::infinity()) : f;
}
template <typename T>
T round_up_to(double v) {
  const T f = static_cast<T>(v);
  return static_cast<double>(f) < v ? std::nextafter(f, std::numeric_limits<T>::infinity()) : f;
}

// Note [NMS cell scan]
// A cell keeps its kept boxes' coordinates in four arrays (and their box numbers), so a
// scan tests several of them at once against the query window (SSE2: 4 floats or 2 doubles
// a step): x1 <= wx2, x2 >= wx1, y1 <= wy2, y2 >= wy1. Only the boxes that meet the window
// reach hit(e), in order; the scan stops at the first hit that returns true.
template <typename T, typename F>
bool scan_window(const T* x1, const T* y1, const T* x2, const T* y2, int64_t b, int64_t end, T wx1, T wy1, T wx2,
                 T wy2, F&& hit) {
  int64_t e = b;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    const __m128 ax1 = _mm_set1_ps(wx1), ay1 = _mm_set1_ps(wy1), ax2 = _mm_set1_ps(wx2), ay2 = _mm_set1_ps(wy2);
    for (; e + 4 <= end; e += 4) {
      const __m128 in_x = _mm_and_ps(_mm_cmple_ps(_mm_loadu_ps(x1 + e), ax2), _mm_cmpge_ps(_mm_loadu_ps(x2 + e), ax1));
      const __m128 in_y = _mm_and_ps(_mm_cmple_ps(_mm_loadu_ps(y1 + e), ay2), _mm_cmpge_ps(_mm_loadu_ps(y2 + e), ay1));
      const __m128 in = _mm_and_ps(in_x, in_y);
      for (int mask = _mm_movemask_ps(in); mask; mask &= mask - 1)
        if (hit(e + __builtin_ctz(mask))) return true;
    }
  } else if constexpr (std::is_same_v<T, double>) {
    const __m128d ax1 = _mm_set1_pd(wx1), ay1 = _mm_set1_pd(wy1), ax2 = _mm_set1_pd(wx2), ay2 = _mm_set1_pd(wy2);
    for (; e + 2 <= end; e += 2) {
      const __m128d in_x = _mm_and_pd(_mm_cmple_pd(_mm_loadu_pd(x1 + e), ax2), _mm_cmpge_pd(_mm_loadu_pd(x2 + e), ax1));
      const __m128d in_y = _mm_and_pd(_mm_cmple_pd(_mm_loadu_pd(y1 + e), ay2), _mm_cmpge_pd(_mm_loadu_pd(y2 + e), ay1));
      const __m128d in = _mm_and_pd(in_x, in_y);
      for (int mask = _mm_movemask_pd(in); mask; mask &= mask - 1)
        if (hit(e + __builtin_ctz(mask))) return true;
    }
  }
#endif
  for (; e < end; ++e)
    if (x1[e] <= wx2 && x2[e] >= wx1 && y1[e] <= wy2 && y2[e] >= wy1 && hit(e)) return true;
  return false;
}

constexpr int64_t kSmallGroup = 48;  // boxes; fewer take the plain loop
constexpr int64_t kMaxSpan = 64;     // cells a grid box may span; more makes it "big"

// One greedy problem (Note [CPU NMS] 3) over m boxes given in score order as SoA arrays;
// sets keep[t] for the kept ones (keep is zeroed by the caller).
template <typename T>
class Greedy {
 public:
  Greedy(const T* x1, const T* y1, const T* x2, const T* y2, int64_t m, double thr, uint8_t* keep)
      : x1_(x1), y1_(y1), x2_(x2), y2_(y2), m_(m), thr_(thr), keep_(keep), area_(m) {
    for (int64_t t = 0; t < m; ++t) area_[t] = boxes_detail::mul_rn(x2[t] - x1[t], y2[t] - y1[t]);
  }

  void run() {
    if (!(thr_ < 1.0)) {  // >= 1 or NaN: IoU > thr never holds
      std::fill(keep_, keep_ + m_, uint8_t(1));
      return;
    }
    if (thr_ < 0.0 || m_ <= kSmallGroup || !plan_grid()) {
      plain();
      return;
    }
    grid();
  }

 private:
  bool has_nan(int64_t t) const { return x1_[t] != x1_[t] || y1_[t] != y1_[t] || x2_[t] != x2_[t] || y2_[t] != y2_[t]; }
  bool suppresses(int64_t k, int64_t t) const {
    const T iou = nms_iou(x1_[k], y1_[k], x2_[k], y2_[k], area_[k], x1_[t], y1_[t], x2_[t], y2_[t], area_[t]);
    return static_cast<double>(iou) > thr_;
  }
  bool any_suppresses(const std::vector<int64_t>& kept, int64_t t) const {
    return std::any_of(kept.begin(), kept.end(), [&](int64_t k) { return suppresses(k, t); });
  }

  // Every candidate against every kept box; NaN boxes never interact (their IoU is NaN).
  void plain() {
    std::vector<int64_t> kept;
    for (int64_t t = 0; t < m_; ++t) {
      if (has_nan(t)) {
        keep_[t] = 1;
        continue;
      }
      if (!any_suppresses(kept, t)) {
        keep_[t] = 1;
        kept.push_back(t);
      }
    }
  }

  enum Kind : uint8_t { kInert, kGrid, kBig };

  // Classifies the boxes and sizes the grid; false when it cannot be built (then: plain()).
  bool plan_grid() {
    if (m_ >= (int64_t(1) << 28)) return false;  // box and cell numbers are stored as int32
    kind_.assign(m_, kInert);
    double minx = 0, miny = 0, maxx = 0, maxy = 0, sw = 0, sh = 0;
    int64_t ng = 0;
    for (int64_t t = 0; t < m_; ++t) {
      if (has_nan(t)) continue;
      const double bx1 = x1_[t], by1 = y1_[t], bx2 = x2_[t], by2 = y2_[t];
      const bool finite = std::isfinite(bx1) && std::isfinite(by1) && std::isfinite(bx2) && std::isfinite(by2);
      if (!finite) {
        kind_[t] = kBig;
        continue;
      }
      const T w = x2_[t] - x1_[t], h = y2_[t] - y1_[t];
      if (!(w > T(0) && h > T(0))) continue;  // zero width or height: inert
      if (!std::isfinite(static_cast<double>(w)) || !std::isfinite(static_cast<double>(h))) {
        kind_[t] = kBig;
        continue;
      }
      kind_[t] = kGrid;
      if (ng == 0) {
        minx = bx1, miny = by1, maxx = bx2, maxy = by2;
      } else {
        minx = std::min(minx, bx1), miny = std::min(miny, by1);
        maxx = std::max(maxx, bx2), maxy = std::max(maxy, by2);
      }
      sw += static_cast<double>(w);
      sh += static_cast<double>(h);
      ++ng;
    }
    if (ng == 0) {  // no grid boxes: an empty one-cell grid
      nx_ = ny_ = 1;
      start_.assign(2, 0);
      return true;
    }
    const double rx = maxx - minx, ry = maxy - miny;
    double cw = sw / ng, ch = sh / ng;
    if (!(std::isfinite(rx) && std::isfinite(ry) && std::isfinite(cw) && std::isfinite(ch) && cw > 0 && ch > 0))
      return false;
    const double limit = 4.0 * static_cast<double>(ng) + 16.0;
    double nx = std::floor(rx / cw) + 1, ny = std::floor(ry / ch) + 1;
    if (nx * ny > limit) {
      const double f = std::sqrt(nx * ny / limit) * 1.01;
      cw *= f;
      ch *= f;
      nx = std::floor(rx / cw) + 1;
      ny = std::floor(ry / ch) + 1;
    }
    if (!(nx * ny <= 2 * limit)) return false;
    nx_ = static_cast<int64_t>(nx);
    ny_ = static_cast<int64_t>(ny);
    minx_ = minx, miny_ = miny, inv_w_ = 1.0 / cw, inv_h_ = 1.0 / ch;
    if (!(std::isfinite(inv_w_) && std::isfinite(inv_h_) && inv_w_ > 0 && inv_h_ > 0)) return false;
    cx1_.resize(m_), cy1_.resize(m_), cx2_.resize(m_), cy2_.resize(m_);
    // cell capacities: every grid box could be kept
    start_.assign(nx_ * ny_ + 1, 0);
    for (int64_t t = 0; t < m_; ++t) {
      if (kind_[t] != kGrid) continue;
      cx1_[t] = cell(x1_[t], minx_, inv_w_, nx_), cx2_[t] = cell(x2_[t], minx_, inv_w_, nx_);
      cy1_[t] = cell(y1_[t], miny_, inv_h_, ny_), cy2_[t] = cell(y2_[t], miny_, inv_h_, ny_);
      if ((cx2_[t] - cx1_[t] + 1) * (cy2_[t] - cy1_[t] + 1) > kMaxSpan) {
        kind_[t] = kBig;
        continue;
      }
      for (int64_t cy = cy1_[t]; cy <= cy2_[t]; ++cy)
        for (int64_t cx = cx1_[t]; cx <= cx2_[t]; ++cx) ++start_[cy * nx_ + cx + 1];
    }
    for (int64_t c = 0; c < nx_ * ny_; ++c) start_[c + 1] += start_[c];
    return true;
  }

  static T round_down(double v) { return round_down_to<T>(v); }
  static T round_up(double v) { return round_up_to<T>(v); }

  static int64_t cell(double v, double lo, double inv, int64_t n) {
    const double f = (v - lo) * inv;
    const int64_t c = f <= 0 ? 0 : static_cast<int64_t>(f);
    return c < n ? c : n - 1;
  }

  // fl(inter / union) > thr for a positive intersection of two grid boxes (finite coordinates,
  // sides > 0), 0 <= thr < 1: nms_iou's decision, the quotient formed only when the products
  // cannot tell its rounded value from the threshold (Note [NMS quotient test]).
  bool quotient_above(T inter, T uni) const {
    if (fast_quotient_) {
      const double id = inter, ud = uni;
      if (ud > 1e-250 && ud < 1e250 && id < 1e250) {
        if (id > ud * thr_hi_) return true;
        if (id < ud * thr_lo_) return false;
      }
    }
    return static_cast<double>(inter / uni) > thr_;
  }

  // Note [NMS quotient test]
  // q = fl(inter / union) (T's rounding, relative error <= eps_T / 2 for a normal result) is
  // > thr when inter > union * thr * (1 + 4 eps_T) and is not when inter < union * thr *
  // (1 - 4 eps_T), the products taken in double (a few 2^-53 rounding errors, far inside the
  // 4 eps_T band). Only used for thr >= 1e-30 (then q near thr is a normal number) and a union
  // in [1e-250, 1e250] (no overflow or underflow in the products); otherwise, and inside the
  // band, q itself is compared.
  // Note [NMS query window]
  // A kept box k with IoU(k, j) > t >= 0 overlaps candidate j by more than t' = t (1 - 1e-4)
  // of j's width: inter > t * union >= t * area_j and inter <= iw * h_j give iw > t * w_j for
  // exact arithmetic, and the float rounding of the computed IoU (a few ulps, all quantities
  // normal when j's sides and area are >= 1e-30) is far inside the 1e-4. An interval
  // [a, b] inside [x1, x2] with b - a > t' w meets [x1 + s w, x2 - s w], s = min(t', 1/2) (for
  // t' >= 1/2 it contains j's centre), so k meets that window, widened by 1e-9 of the
  // coordinates' size for the rounding of its ends; both in y too. Only the cells of the
  // window are scanned: one cell around j's centre for t >= 0.5, instead of all of j's cells.
  // (Any double in k, j and the window lies in a cell of all three: the cells are monotone.)
  void grid() {
    constexpr double kBand = 4.0 * std::numeric_limits<T>::epsilon();
    fast_quotient_ = thr_ >= 1e-30;
    const double shrink = thr_ >= 1e-3 ? std::min(thr_ * (1.0 - 1e-4), 0.5) : 0.0;
    thr_hi_ = thr_ * (1.0 + kBand);
    thr_lo_ = thr_ * (1.0 - kBand);
    std::vector<int64_t> fill(start_.begin(), start_.end() - 1);  // next free slot per cell
    // the kept boxes of each cell, structure of arrays (Note [NMS cell scan])
    const int64_t total = start_.back();
    std::vector<T> ex1(total), ey1(total), ex2(total), ey2(total);
    std::vector<int32_t> eid(total);
    std::vector<int64_t> kept, kept_big;
    for (int64_t t = 0; t < m_; ++t) {
      const uint8_t kind = kind_[t];
      if (kind == kInert) {
        keep_[t] = 1;
        continue;
      }
      if (kind == kBig) {
        if (!any_suppresses(kept, t)) {
          keep_[t] = 1;
          kept.push_back(t);
          kept_big.push_back(t);
        }
        continue;
      }
      bool sup = any_suppresses(kept_big, t);
      const T x1 = x1_[t], y1 = y1_[t], x2 = x2_[t], y2 = y2_[t], area = area_[t];
      const int32_t c0 = static_cast<int32_t>(cx1_[t]), c1 = static_cast<int32_t>(cx2_[t]);
      const int32_t r0 = static_cast<int32_t>(cy1_[t]), r1 = static_cast<int32_t>(cy2_[t]);
      // the cells a suppressor must reach, and the window it must meet (Note [NMS query window])
      int32_t q0 = c0, q1 = c1, s0 = r0, s1 = r1;
      T wx1 = x1, wx2 = x2, wy1 = y1, wy2 = y2;
      if (shrink > 0 && x2 - x1 >= T(1e-30) && y2 - y1 >= T(1e-30) && area >= T(1e-30)) {
        const double dx1 = x1, dx2 = x2, dy1 = y1, dy2 = y2;
        const double ex = 1e-9 * (std::abs(dx1) + std::abs(dx2)), ey = 1e-9 * (std::abs(dy1) + std::abs(dy2));
        const double dw = dx2 - dx1, dh = dy2 - dy1;
        const double ax = dx1 + shrink * dw - ex, bx = dx2 - shrink * dw + ex;
        const double ay = dy1 + shrink * dh - ey, by = dy2 - shrink * dh + ey;
        q0 = std::max(c0, static_cast<int32_t>(cell(ax, minx_, inv_w_, nx_)));
        q1 = std::min(c1, static_cast<int32_t>(cell(bx, minx_, inv_w_, nx_)));
        s0 = std::max(r0, static_cast<int32_t>(cell(ay, miny_, inv_h_, ny_)));
        s1 = std::min(r1, static_cast<int32_t>(cell(by, miny_, inv_h_, ny_)));
        wx1 = std::max(x1, round_down(ax)), wx2 = std::min(x2, round_up(bx));
        wy1 = std::max(y1, round_down(ay)), wy2 = std::min(y2, round_up(by));
      }
      auto hit = [&](int64_t e, int32_t cx, int32_t cy) {
        const int32_t k = eid[e];
        // without a positive intersection the IoU is 0 (or 0 / 0): never > thr >= 0
        const T w = std::min(ex2[e], x2) - std::max(ex1[e], x1);
        const T h = std::min(ey2[e], y2) - std::max(ey1[e], y1);
        if (!(w > T(0) && h > T(0))) return false;
        // a pair met in several scanned cells is decided in the first one
        if (std::max(static_cast<int32_t>(cx1_[k]), q0) != cx || std::max(static_cast<int32_t>(cy1_[k]), s0) != cy)
          return false;
        const T inter = w * h;
        return quotient_above(inter, (area_[k] + area) - inter);
      };
      for (int32_t cy = s0; cy <= s1 && !sup; ++cy)
        for (int32_t cx = q0; cx <= q1 && !sup; ++cx) {
          const int64_t c = int64_t(cy) * nx_ + cx;
          sup = scan_window(ex1.data(), ey1.data(), ex2.data(), ey2.data(), start_[c], fill[c], wx1, wy1, wx2, wy2,
                            [&](int64_t e) { return hit(e, cx, cy); });
        }
      if (sup) continue;
      keep_[t] = 1;
      kept.push_back(t);
      for (int32_t cy = r0; cy <= r1; ++cy)
        for (int32_t cx = c0; cx <= c1; ++cx) {
          const int64_t e = fill[int64_t(cy) * nx_ + cx]++;
          ex1[e] = x1, ey1[e] = y1, ex2[e] = x2, ey2[e] = y2;
          eid[e] = static_cast<int32_t>(t);
        }
    }
  }

  const T *x1_, *y1_, *x2_, *y2_;
  int64_t m_;
  double thr_;
  uint8_t* keep_;
  std::vector<T> area_;
  std::vector<uint8_t> kind_;
  int64_t nx_ = 0, ny_ = 0;
  double minx_ = 0, miny_ = 0, inv_w_ = 0, inv_h_ = 0;
  std::vector<int64_t> cx1_, cy1_, cx2_, cy2_, start_;
  bool fast_quotient_ = false;
  double thr_hi_ = 0, thr_lo_ = 0;
};

// Runs the greedy problem of the positions pos[0..m) (sorted-order positions, increasing)
// and marks the kept ones in keep_pos.
template <typename T>
void greedy_positions(const T* boxes, const int64_t* order, const int64_t* pos, int64_t m, double thr,
                      uint8_t* keep_pos) {
  if (m == 1) {
    keep_pos[pos[0]] = 1;
    return;
  }
  std::vector<T> x1(m), y1(m), x2(m), y2(m);
  for (int64_t t = 0; t < m; ++t) {
    const T* b = boxes + 4 * order[pos[t]];
    x1[t] = b[0], y1[t] = b[1], x2[t] = b[2], y2[t] = b[3];
  }
  std::vector<uint8_t> keep(m, 0);
  Greedy<T>(x1.data(), y1.data(), x2.data(), y2.data(), m, thr, keep.data()).run();
  for (int64_t t = 0; t < m; ++t)
    if (keep[t]) keep_pos[pos[t]] = 1;
}

// Sorted positions grouped by class (stable within a class); group g is
// grouped[bounds[g] .. bounds[g + 1]).
void group_by_class(const int64_t* idxs, const std::vector<int64_t>& order, std::vector<int64_t>& grouped,
                    std::vector<int64_t>& bounds) {
  const int64_t n = static_cast<int64_t>(order.size());
  grouped.resize(n);
  bounds.clear();
  int64_t lo = idxs[0], hi = idxs[0];
  for (int64_t i = 1; i < n; ++i) lo = std::min(lo, idxs[i]), hi = std::max(hi, idxs[i]);
  const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);  // no overflow in uint64
  if (range < static_cast<uint64_t>(2 * n + 64)) {  // counting sort by idx - lo
    std::vector<int64_t> count(range + 2, 0);
    for (int64_t p = 0; p < n; ++p) ++count[static_cast<uint64_t>(idxs[order[p]]) - static_cast<uint64_t>(lo) + 1];
    for (uint64_t c = 0; c <= range; ++c) {
      if (count[c + 1] > 0) bounds.push_back(count[c]);
      count[c + 1] += count[c];
    }
    for (int64_t p = 0; p < n; ++p)
      grouped[count[static_cast<uint64_t>(idxs[order[p]]) - static_cast<uint64_t>(lo)]++] = p;
  } else {
    std::vector<std::pair<int64_t, int64_t>> pairs(n);
    for (int64_t p = 0; p < n; ++p) pairs[p] = {idxs[order[p]], p};
    std::sort(pairs.begin(), pairs.end());
    for (int64_t p = 0; p < n; ++p) {
      if (p == 0 || pairs[p].first != pairs[p - 1].first) bounds.push_back(p);
      grouped[p] = pairs[p].second;
    }
  }
  bounds.push_back(n);
}

template <typename T>
void check_not_inverted(const T* b, int64_t n, const char* op) {
  for (int64_t i = 0; i < n; ++i) {
    const T* r = b + 4 * i;
    if (r[2] < r[0] || r[3] < r[1]) throw ValueError(nms_inverted_box_message(op, i, r[0], r[1], r[2], r[3]));
  }
}

template <typename T, typename S>
Tensor nms_typed(const Tensor& boxes_t, const Tensor& scores_t, const Tensor& idxs_t, double thr, const char* op) {
  const int64_t n = boxes_t->shape()[0];
  const T* boxes = boxes_t->data<T>();
  check_not_inverted(boxes, n, op);
  std::vector<int64_t> order = score_order(scores_t->data<S>(), n);
  std::vector<uint8_t> keep_pos(n, 0);
  if (!idxs_t) {
    std::vector<int64_t> pos(n);
    std::iota(pos.begin(), pos.end(), int64_t(0));
    greedy_positions(boxes, order.data(), pos.data(), n, thr, keep_pos.data());
  } else {
    std::vector<int64_t> grouped, bounds;
    group_by_class(idxs_t->data<int64_t>(), order, grouped, bounds);
    const int64_t groups = static_cast<int64_t>(bounds.size()) - 1;
    std::atomic<int64_t> next{0};
    auto work = [&](int64_t, int64_t) {
      for (int64_t g = next.fetch_add(1); g < groups; g = next.fetch_add(1))
        greedy_positions(boxes, order.data(), grouped.data() + bounds[g], bounds[g + 1] - bounds[g], thr,
                         keep_pos.data());
    };
    // Groups are claimed one at a time, so threads balance however the classes are sized;
    // keep_pos entries of different groups are distinct bytes.
    if (groups > 1 && n >= 4096) {
      parallel_for(0, get_num_threads(), 1, work);
    } else {
      work(0, 1);
    }
  }
  int64_t kept = 0;
  for (int64_t p = 0; p < n; ++p) kept += keep_pos[p];
  Tensor out = empty({kept}, DType::Int64, boxes_t->device(), op);
  int64_t* o = out->data<int64_t>();
  for (int64_t p = 0, k = 0; p < n; ++p)
    if (keep_pos[p]) o[k++] = order[p];
  return out;
}

Tensor nms_cpu(const Tensor& boxes, const Tensor& scores, const Tensor& idxs, double thr, const char* op) {
  if (boxes->shape()[0] == 0) return empty({0}, DType::Int64, boxes->device(), op);
  return DL_DISPATCH_FLOAT(boxes->dtype(), op, [&] {
    using T = scalar_t;
    return DL_DISPATCH_FLOAT(scores->dtype(), op, [&] { return nms_typed<T, scalar_t>(boxes, scores, idxs, thr, op); });
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(box_iou_elementwise_kernel, box_iou_cpu);
DL_REGISTER_CPU_KERNEL(box_iou_elementwise_backward_kernel, box_iou_backward_cpu);
DL_REGISTER_CPU_KERNEL(nms_kernel, nms_cpu);

}  // namespace dlcore
