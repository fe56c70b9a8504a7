#include "common.h"

namespace dlcore {

void bind_cuda(py::module_& m) { (void)m; }

}  // namespace dlcore
