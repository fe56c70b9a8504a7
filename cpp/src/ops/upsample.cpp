// interpolate: argument rules of torch.nn.functional.interpolate (size or scale_factor, the
// mode's input rank, align_corners only for linear modes), then one linear resampling map
// (Note [Linear pools] in ops/pool.cpp) with the source-index math of Note [Interpolate
// source index].
#include "ops/upsample.h"

#include <cmath>

#include "core/autocast.h"
#include "dlcore/ops.h"

namespace dlcore {

DL_DEFINE_KERNEL(upsample_nearest_kernel);
DL_DEFINE_KERNEL(upsample_nearest_backward_kernel);
DL_DEFINE_KERNEL(upsample_linear_kernel);
DL_DEFINE_KERNEL(upsample_linear_backward_kernel);

Tensor interpolate(const Tensor& x, const std::optional<Shape>& size,
                   const std::optional<std::vector<double>>& scale_factor, const std::string& mode,
                   std::optional<bool> align_corners, std::optional<bool> recompute_scale_factor) {
  DL_AUTOCAST(interpolate(autocast::fp32(x), size, scale_factor, mode, align_corners, recompute_scale_factor));
  const char* op = "interpolate";
  const int64_t nd = x->dim();
  DL_CHECK(nd >= 3 && nd <= 5, ValueError, op, ": expected a 3-d, 4-d or 5-d input (N, C, *spatial), got input ",
           x->describe());
  const int dims = static_cast<int>(nd - 2);
  const bool linear = mode == "linear" || mode == "bilinear" || mode == "trilinear";
  DL_CHECK(linear || mode == "nearest" || mode == "area", NotImplementedError, op, ": mode '", mode,
           "' is not supported (use 'nearest', 'linear', 'bilinear', 'trilinear' or 'area'); input ",
           shape_str(x->shape()));
  if (linear) {
    const int want = mode == "linear" ? 1 : mode == "bilinear" ? 2 : 3;
    DL_CHECK(dims == want, ValueError, op, ": mode '", mode, "' needs a ", want + 2, "-d input, got input ",
             shape_str(x->shape()));
  } else {
    DL_CHECK(!align_corners, ValueError, op, ": align_corners can only be set with the linear modes "
             "(linear, bilinear, trilinear), not '", mode, "' (input ", shape_str(x->shape()), ")");
  }
  DL_CHECK(size.has_value() != scale_factor.has_value(), ValueError, op,
           size ? ": give either size or scale_factor, not both" : ": give either size or scale_factor",
           " (input ", shape_str(x->shape()), ")");
  DL_CHECK(!(size && recompute_scale_factor.value_or(false)), ValueError, op,
           ": recompute_scale_factor is not meaningful with an explicit size (input ", shape_str(x->shape()), ")");
  PoolParams p;
  Shape lead = pool_fold_input(x, dims, op, p);
  if (size) {
    DL_CHECK(size->size() == 1 || size->size() == static_cast<size_t>(dims), ValueError, op, ": size ",
             shape_str(*size), " must be an int or have ", dims, " entries for input ", shape_str(x->shape()));
    for (int i = 0; i < dims; ++i) p.out[3 - dims + i] = size->size() == 1 ? (*size)[0] : (*size)[i];
  } else {
    const auto& sf = *scale_factor;
    DL_CHECK(sf.size() == 1 || sf.size() == static_cast<size_t>(dims), ValueError, op, ": scale_factor has ",
             sf.size(), " entries but input ", shape_str(x->shape()), " has ", dims, " spatial dims");
    for (int i = 0; i < dims; ++i) {
      const double s = sf.size() == 1 ? sf[0] : sf[i];
      DL_CHECK(std::isfinite(s) && s > 0, ValueError, op, ": scale_factor must be positive and finite, got ", s,
               " (input ", shape_str(x->shape()), ")");
      const int slot = 3 - dims + i;
      const double out = std::floor(static_cast<double>(p.in[slot]) * s);
      DL_CHECK(out < 9.2e18, RuntimeError, op, ": scale_factor ", s, " makes an output size of ", out,
               " that overflows int64 (input ", shape_str(x->shape()), ")");
      p.out[slot] = static_cast<int64_t>(out);
      if (!recompute_scale_factor.value_or(false)) p.scale[slot] = s;
    }
  }
  for (int i = 3 - dims; i < 3; ++i)
    DL_CHECK(p.out[i] > 0, ValueError, op, ": output size ", shape_str(Shape(p.out + 3 - dims, p.out + 3)),
             " must be positive (input ", shape_str(x->shape()), ")");
  check_shape({p.nc, p.out[0], p.out[1], p.out[2]}, op, x->itemsize());
  if (mode == "area") {
    std::vector<std::optional<int64_t>> out(p.out + 3 - dims, p.out + 3);
    return adaptive_avg_pool(x, dims, out);
  }
  p.align_corners = align_corners.value_or(false);
  static const char* nearest_nodes[] = {"UpsampleNearest1DBackward", "UpsampleNearest2DBackward",
                                        "UpsampleNearest3DBackward"};
  static const char* linear_nodes[] = {"UpsampleLinear1DBackward", "UpsampleBilinear2DBackward",
                                       "UpsampleTrilinear3DBackward"};
  LinearPool lp{linear ? LinearPoolKind::Linear : LinearPoolKind::Nearest, p, x->shape(),
                pool_out_shape(lead, dims, p), (linear ? linear_nodes : nearest_nodes)[dims - 1]};
  return apply_linear_pool(lp, x, false);
}

DL_REGISTER_OPS({"interpolate", "upsample", true});

}  // namespace dlcore
