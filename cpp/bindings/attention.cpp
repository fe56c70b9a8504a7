// Attention: dlcore.scaled_dot_product_attention with torch.nn.functional's signature.
#include <utility>

#include "common.h"
#include "ops/attention.h"

namespace dlcore {

void bind_attention(py::module_& m) {
  m.def(
      "scaled_dot_product_attention",
      [](const Tensor& query, const Tensor& key, const Tensor& value, const OptTensor& attn_mask, double dropout_p,
         bool is_causal, std::optional<double> scale, std::optional<std::pair<int64_t, int64_t>> window_size) {
        return scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal, scale,
                                            window_size.value_or(std::pair<int64_t, int64_t>{-1, -1}));
      },
      py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask") = py::none(),
      py::arg("dropout_p") = 0.0, py::arg("is_causal") = false, py::kw_only(), py::arg("scale") = py::none(),
      py::arg("window_size") = py::none());
}

}  // namespace dlcore
