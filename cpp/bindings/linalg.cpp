#include "common.h"

namespace dlcore {

void bind_linalg(py::module_& m) { (void)m; }

}  // namespace dlcore
