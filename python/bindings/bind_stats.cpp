#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.hpp"
#include "fastcrl/stats.hpp"

namespace fastcrl::py_bindings {

namespace {

template <class T>
py::tuple covariance_py(const carray<T>& X, int ddof) {
  require_2d(X, "X");
  const auto n = static_cast<std::size_t>(X.shape(0));
  const auto d = static_cast<std::size_t>(X.shape(1));
  carray<T> cov({X.shape(1), X.shape(1)});
  carray<T> means({X.shape(1)});
  {
    py::gil_scoped_release release;
    covariance(X.data(), n, d, ddof, cov.mutable_data(), means.mutable_data());
  }
  return py::make_tuple(cov, means);
}

template <class T>
carray<T> gram_py(const carray<T>& X, double scale) {
  require_2d(X, "X");
  const auto n = static_cast<std::size_t>(X.shape(0));
  const auto d = static_cast<std::size_t>(X.shape(1));
  carray<T> out({X.shape(1), X.shape(1)});
  {
    py::gil_scoped_release release;
    gram(X.data(), n, d, static_cast<T>(scale), out.mutable_data());
  }
  return out;
}

template <class T>
carray<T> means_py(const carray<T>& X) {
  require_2d(X, "X");
  const auto d = static_cast<std::size_t>(X.shape(1));
  carray<T> out({X.shape(1)});
  {
    py::gil_scoped_release release;
    column_means(X.data(), static_cast<std::size_t>(X.shape(0)), d, out.mutable_data());
  }
  return out;
}

template <class T>
carray<T> corr_from_cov_py(const carray<T>& cov) {
  require_square(cov, "cov");
  const auto d = static_cast<std::size_t>(cov.shape(0));
  carray<T> out({cov.shape(0), cov.shape(0)});
  {
    py::gil_scoped_release release;
    correlation_from_covariance(cov.data(), d, out.mutable_data());
  }
  return out;
}

template <class T>
void def_stats(py::module_& m) {
  m.def("covariance", &covariance_py<T>, py::arg("X").noconvert(), py::arg("ddof") = 1,
        "Covariance (d, d) and column means (d,) of X (n, d); returns (cov, means).");
  m.def("gram", &gram_py<T>, py::arg("X").noconvert(), py::arg("scale") = 1.0, "X^T X / scale.");
  m.def("column_means", &means_py<T>, py::arg("X").noconvert(), "Column means of X (n, d).");
  m.def("correlation_from_covariance", &corr_from_cov_py<T>, py::arg("cov").noconvert(),
        "Correlation matrix from a covariance matrix.");
}

}  // namespace

void bind_stats(py::module_& m) {
  def_stats<double>(m);
  def_stats<float>(m);
}

}  // namespace fastcrl::py_bindings
