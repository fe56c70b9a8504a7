#include "common.h"

namespace dlcore {

void bind_interop(py::module_& m) { (void)m; }

}  // namespace dlcore
