#include "common.h"

namespace dlcore {

void bind_attention(py::module_& m) { (void)m; }

}  // namespace dlcore
