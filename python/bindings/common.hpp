#pragma once
// Shared by the pybind11 translation units of fastcrl._core (and _cuda's host side).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "fastcrl/interrupt.hpp"

namespace fastcrl::py_bindings {

namespace py = pybind11;

template <class T>
using carray = py::array_t<T, py::array::c_style>;

/// An Interrupt whose callback briefly takes the GIL to run Python's signal handlers; a pending
/// Ctrl-C surfaces as KeyboardInterrupt once the kernel unwinds. Create it while holding the GIL.
inline Interrupt python_interrupt() {
  return Interrupt([] {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  });
}

/// Throws std::invalid_argument (-> ValueError) unless `a` is 2-D.
template <class T>
void require_2d(const carray<T>& a, const char* name) {
  if (a.ndim() != 2)
    throw std::invalid_argument(std::string(name) + " must be 2-D; got " + std::to_string(a.ndim()) + "-D");
}

template <class T>
void require_square(const carray<T>& a, const char* name) {
  require_2d(a, name);
  if (a.shape(0) != a.shape(1))
    throw std::invalid_argument(std::string(name) + " must be square; got (" + std::to_string(a.shape(0)) + ", " +
                                std::to_string(a.shape(1)) + ")");
}

void bind_stats(py::module_& m);
void bind_acyclicity(py::module_& m);
void bind_lasso(py::module_& m);
void bind_graph(py::module_& m);
void bind_continuous(py::module_& m);
void bind_nn(py::module_& m);
void bind_scores(py::module_& m);
void bind_ges(py::module_& m);
void bind_hillclimb(py::module_& m);
void bind_exact(py::module_& m);

}  // namespace fastcrl::py_bindings
