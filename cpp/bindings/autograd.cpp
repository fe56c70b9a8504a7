// Autograd from Python: grad mode, backward, autograd.grad, and graph nodes (grad_fn).
#include "common.h"

namespace dlcore {

void bind_autograd(py::module_& m) {
  py::class_<Node, std::shared_ptr<Node>>(m, "Node")
      .def("name", &Node::name)
      .def("__repr__", [](const Node& n) { return "<" + n.name() + ">"; })
      .def_property_readonly("next_functions", [](const Node& n) {
        py::list out;
        for (const Edge& e : n.next_edges)
          out.append(py::make_tuple(e.fn ? py::cast(e.fn) : py::object(py::none()), e.input_nr));
        return py::tuple(out);
      });

  m.def("is_grad_enabled", &grad_enabled);
  m.def("_set_grad_enabled", &set_grad_enabled, py::arg("mode"));

  m.def("_run_backward", [](const std::vector<Tensor>& roots, const std::vector<std::optional<Tensor>>& grads,
                            bool retain_graph, bool create_graph, const std::vector<Tensor>& inputs,
                            bool allow_unused) {
    std::vector<Tensor> seeds;
    for (size_t i = 0; i < roots.size(); ++i) {
      if (i < grads.size() && grads[i] && *grads[i]) {
        seeds.push_back(*grads[i]);
      } else {
        DL_CHECK(roots[i]->numel() == 1, RuntimeError, "grad can be implicitly created only for scalar outputs (got ",
                 roots[i]->describe(), "); pass gradient=");
        seeds.push_back(ones(roots[i]->shape(), roots[i]->dtype(), roots[i]->device()));
      }
    }
    py::gil_scoped_release release;
    return run_backward(roots, seeds, retain_graph, create_graph, inputs, allow_unused);
  }, py::arg("roots"), py::arg("grads"), py::arg("retain_graph"), py::arg("create_graph"), py::arg("inputs"),
     py::arg("allow_unused"));
}

}  // namespace dlcore
