#include "common.h"

namespace dlcore {

void bind_reduce(py::module_& m) { (void)m; }

}  // namespace dlcore
