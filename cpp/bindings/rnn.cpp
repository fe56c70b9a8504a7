// Recurrent layers: dlcore.rnn_layer, one layer-direction of an RNN/LSTM/GRU over a sequence
// (the nn.RNN, nn.LSTM and nn.GRU modules stack it over layers and directions).
#include "common.h"
#include "ops/rnn.h"

namespace dlcore {

void bind_rnn(py::module_& m) {
  m.def(
      "rnn_layer",
      [](const Tensor& input, const Tensor& hx, const OptTensor& cx, const Tensor& weight_ih, const Tensor& weight_hh,
         const OptTensor& bias_ih, const OptTensor& bias_hh, const std::string& mode, bool reverse) {
        auto [out, h_n, c_n] = rnn_layer(input, hx, cx, weight_ih, weight_hh, bias_ih, bias_hh, mode, reverse);
        return py::make_tuple(out, h_n, c_n ? py::cast(c_n) : py::none());
      },
      py::arg("input"), py::arg("hx"), py::arg("cx"), py::arg("weight_ih"), py::arg("weight_hh"),
      py::arg("bias_ih") = py::none(), py::arg("bias_hh") = py::none(), py::arg("mode") = "LSTM",
      py::arg("reverse") = false,
      "One layer-direction of an RNN (mode 'RNN_TANH' or 'RNN_RELU'), LSTM or GRU over input (T, B, I)\n"
      "from hx (B, H) (and cx (B, H) for LSTM; None otherwise). Returns (output (T, B, H), h_n, c_n or None).");
}

}  // namespace dlcore
