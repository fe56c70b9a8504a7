#include "common.h"

namespace dlcore {

void bind_indexing(py::module_& m) { (void)m; }

}  // namespace dlcore
