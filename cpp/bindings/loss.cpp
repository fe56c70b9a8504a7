#include "common.h"

namespace dlcore {

void bind_loss(py::module_& m) { (void)m; }

}  // namespace dlcore
