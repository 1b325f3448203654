// fastcrl._core: the CPU extension. Each area's bindings live in bind_<area>.cpp.
#include <omp.h>
#include <pybind11/pybind11.h>

#include "common.hpp"
#include "fastcrl/blas.hpp"
#include "fastcrl/errors.hpp"
#include "fastcrl/threads.hpp"

namespace py = pybind11;
using namespace fastcrl::py_bindings;

namespace {

py::dict build_info() {
  py::dict info;
  info["version"] = FASTCRL_VERSION;
  info["compiler"] = FASTCRL_COMPILER;
  info["cxx_standard"] = __cplusplus;
  info["blas"] = std::string("scipy-openblas32: ") + fastcrl::blas::config();
  info["blas_core"] = fastcrl::blas::corename();
  info["openmp"] = _OPENMP;
  info["openmp_max_threads"] = omp_get_max_threads();
  info["blas_threads"] = fastcrl::get_blas_num_threads();
#ifdef NDEBUG
  info["debug"] = false;
#else
  info["debug"] = true;
#endif
  return info;
}

}  // namespace

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
  m.doc() = "fastcrl CPU kernels (C++17, OpenBLAS, OpenMP). Use the public fastcrl API instead.";
  py::register_exception<fastcrl::NumericalError>(m, "NumericalError", PyExc_ArithmeticError);

  m.def("build_info", &build_info);
  m.def("set_num_threads", &fastcrl::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &fastcrl::get_num_threads);
  m.def("get_blas_num_threads", &fastcrl::get_blas_num_threads);

  bind_stats(m);
  bind_acyclicity(m);
  bind_lasso(m);
  bind_graph(m);
  bind_continuous(m);
  bind_nn(m);
  bind_scores(m);
  bind_ges(m);
  bind_hillclimb(m);
  bind_exact(m);
}
