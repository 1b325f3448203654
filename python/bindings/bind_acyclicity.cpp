// Bindings for fastcrl/acyclicity.hpp. Every function takes a C-contiguous stack W (B, d, d) of one
// dtype (no conversion: the Python layer converts visibly) and returns batched outputs; fastcrl.acyclicity
// adds and removes the batch axis.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "common.hpp"
#include "fastcrl/acyclicity.hpp"

namespace fastcrl::py_bindings {

namespace {

template <class T>
void require_stack(const carray<T>& W) {
  if (W.ndim() != 3 || W.shape(1) != W.shape(2))
    throw std::invalid_argument("W must be a stack of square matrices (B, d, d); got " + std::to_string(W.ndim()) +
                                "-D input");
  if (W.shape(1) < 1) throw std::invalid_argument("W must have at least one node");
}

template <class T, class Kernel>
py::tuple value_and_grad(const carray<T>& W, Kernel&& kernel) {
  require_stack(W);
  const auto B = static_cast<std::size_t>(W.shape(0));
  const auto d = static_cast<std::size_t>(W.shape(1));
  carray<T> h({W.shape(0)});
  carray<T> grad({W.shape(0), W.shape(1), W.shape(2)});
  Interrupt interrupt = python_interrupt();
  {
    py::gil_scoped_release release;
    kernel(W.data(), B, d, h.mutable_data(), grad.mutable_data(), interrupt);
  }
  return py::make_tuple(h, grad);
}

template <class T>
py::tuple expm_py(const carray<T>& W, bool pade) {
  const ExpmMethod method = pade ? ExpmMethod::Pade : ExpmMethod::Taylor;
  return value_and_grad(W, [method](const T* w, std::size_t B, std::size_t d, T* h, T* g, Interrupt& it) {
    expm_constraint(w, B, d, method, h, g, it);
  });
}

template <class T>
py::tuple poly_py(const carray<T>& W) {
  return value_and_grad(W, [](const T* w, std::size_t B, std::size_t d, T* h, T* g, Interrupt& it) {
    poly_constraint(w, B, d, h, g, it);
  });
}

template <class T>
py::tuple logdet_py(const carray<T>& W, double s, bool flag) {
  const DomainPolicy policy = flag ? DomainPolicy::Flag : DomainPolicy::Raise;
  return value_and_grad(W, [s, policy](const T* w, std::size_t B, std::size_t d, T* h, T* g, Interrupt& it) {
    logdet_constraint(w, B, d, s, policy, h, g, it);
  });
}

template <class T>
py::tuple spectral_radius_py(const carray<T>& W, int max_iter, double tol, bool with_grad) {
  require_stack(W);
  const auto B = static_cast<std::size_t>(W.shape(0));
  const auto d = static_cast<std::size_t>(W.shape(1));
  SpectralRadiusConfig cfg;
  cfg.max_iter = max_iter;
  cfg.tol = tol;
  carray<T> rho({W.shape(0)});
  carray<double> lo({W.shape(0)}), hi({W.shape(0)});
  py::array_t<int> iters({W.shape(0)});
  py::object grad_obj = py::none();
  T* grad = nullptr;
  if (with_grad) {
    carray<T> g({W.shape(0), W.shape(1), W.shape(2)});
    grad = g.mutable_data();
    grad_obj = g;
  }
  Interrupt interrupt = python_interrupt();
  {
    py::gil_scoped_release release;
    spectral_radius(W.data(), B, d, cfg, rho.mutable_data(), lo.mutable_data(), hi.mutable_data(),
                    iters.mutable_data(), grad, interrupt);
  }
  return py::make_tuple(rho, lo, hi, iters, grad_obj);
}

template <class T>
void def_acyclicity(py::module_& m) {
  m.def("expm_constraint", &expm_py<T>, py::arg("W").noconvert(), py::arg("pade"),
        "NOTEARS h = tr(exp(W∘W)) - d and its gradient for a stack W (B, d, d); returns (h (B,), grad). "
        "pade: Padé instead of the Taylor method.");
  m.def("logdet_constraint", &logdet_py<T>, py::arg("W").noconvert(), py::arg("s"), py::arg("flag"),
        "DAGMA h = -log det(sI - W∘W) + d log s and its gradient; flag: +inf/NaN instead of raising "
        "outside the domain.");
  m.def("poly_constraint", &poly_py<T>, py::arg("W").noconvert(),
        "DAG-GNN h = tr((I + W∘W/d)^d) - d and its gradient; returns (h (B,), grad).");
  m.def("spectral_radius", &spectral_radius_py<T>, py::arg("W").noconvert(), py::arg("max_iter"), py::arg("tol"),
        py::arg("with_grad"), "rho(W∘W) per matrix: returns (rho, lo, hi, iterations, grad or None).");
}

}  // namespace

void bind_acyclicity(py::module_& m) {
  def_acyclicity<double>(m);
  def_acyclicity<float>(m);
}

}  // namespace fastcrl::py_bindings
