#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.hpp"
#include "fastcrl/lasso.hpp"

namespace fastcrl::py_bindings {

namespace {

template <class T>
py::tuple lasso_path_gram_py(const carray<T>& G, const carray<T>& c, const carray<T>& lambdas,
                             const carray<T>& penalty, double tol, int max_sweeps) {
  require_square(G, "G");
  const auto p = G.shape(0);
  if (c.ndim() != 1 || c.shape(0) != p) throw std::invalid_argument("c must have shape (p,) matching G");
  if (penalty.ndim() != 1 || penalty.shape(0) != p)
    throw std::invalid_argument("penalty must have shape (p,) matching G");
  if (lambdas.ndim() != 1) throw std::invalid_argument("lambdas must be 1-D");
  if (max_sweeps < 1) throw std::invalid_argument("max_sweeps must be >= 1");
  carray<T> out({lambdas.shape(0), p});
  long sweeps;
  {
    py::gil_scoped_release release;
    sweeps = lasso_path_gram(G.data(), c.data(), static_cast<std::size_t>(p), lambdas.data(),
                             static_cast<std::size_t>(lambdas.shape(0)), penalty.data(), static_cast<T>(tol),
                             max_sweeps, out.mutable_data());
  }
  return py::make_tuple(out, sweeps);
}

}  // namespace

void bind_lasso(py::module_& m) {
  m.def("lasso_path_gram", &lasso_path_gram_py<double>, py::arg("G").noconvert(), py::arg("c").noconvert(),
        py::arg("lambdas").noconvert(), py::arg("penalty").noconvert(), py::arg("tol"), py::arg("max_sweeps"),
        "Coordinate-descent lasso path on sufficient statistics; returns (coefs (L, p), sweeps).");
  m.def("lasso_path_gram", &lasso_path_gram_py<float>, py::arg("G").noconvert(), py::arg("c").noconvert(),
        py::arg("lambdas").noconvert(), py::arg("penalty").noconvert(), py::arg("tol"), py::arg("max_sweeps"));
}

}  // namespace fastcrl::py_bindings
