#include "common.h"

namespace dlcore {

void bind_conv(py::module_& m) { (void)m; }

}  // namespace dlcore
