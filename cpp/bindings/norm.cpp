#include "common.h"

namespace dlcore {

void bind_norm(py::module_& m) { (void)m; }

}  // namespace dlcore
