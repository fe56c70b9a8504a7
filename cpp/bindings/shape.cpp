#include "common.h"

namespace dlcore {

void bind_shape(py::module_& m) { (void)m; }

}  // namespace dlcore
