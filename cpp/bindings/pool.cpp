#include "common.h"

namespace dlcore {

void bind_pool(py::module_& m) { (void)m; }

}  // namespace dlcore
