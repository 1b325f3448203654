#include "common.hpp"

namespace fastcrl::py_bindings {

void bind_hillclimb(py::module_& m) { (void)m; }

}  // namespace fastcrl::py_bindings
