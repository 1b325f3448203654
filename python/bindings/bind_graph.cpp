#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "common.hpp"
#include "fastcrl/graph.hpp"

namespace fastcrl::py_bindings {

namespace {

using pattern = carray<std::uint8_t>;

std::size_t square_size(const pattern& A, const char* name) {
  require_square(A, name);
  return static_cast<std::size_t>(A.shape(0));
}

py::array_t<std::int64_t> topological_sort_py(const pattern& A) {
  const std::size_t d = square_size(A, "A");
  std::vector<std::int64_t> order(d);
  std::size_t k = 0;
  {
    Interrupt interrupt = python_interrupt();
    py::gil_scoped_release release;
    k = topological_sort(A.data(), d, order.data(), interrupt);
  }
  py::array_t<std::int64_t> out(static_cast<py::ssize_t>(k));
  if (k) std::memcpy(out.mutable_data(), order.data(), k * sizeof(std::int64_t));
  return out;
}

std::vector<std::int64_t> find_cycle_py(const pattern& A, bool directed_only) {
  const std::size_t d = square_size(A, "A");
  Interrupt interrupt = python_interrupt();
  py::gil_scoped_release release;
  return find_cycle(A.data(), d, directed_only, interrupt);
}

pattern transitive_closure_py(const pattern& A, bool reflexive) {
  const std::size_t d = square_size(A, "A");
  pattern R({A.shape(0), A.shape(0)});
  {
    Interrupt interrupt = python_interrupt();
    py::gil_scoped_release release;
    transitive_closure(A.data(), d, reflexive, R.mutable_data(), interrupt);
  }
  return R;
}

pattern meek_orient_py(const pattern& P) {
  const std::size_t d = square_size(P, "P");
  pattern out({P.shape(0), P.shape(0)});
  {
    Interrupt interrupt = python_interrupt();
    py::gil_scoped_release release;
    std::memcpy(out.mutable_data(), P.data(), d * d);
    meek_orient(out.mutable_data(), d, interrupt);
  }
  return out;
}

pattern dag_to_cpdag_py(const pattern& A) {
  const std::size_t d = square_size(A, "A");
  pattern out({A.shape(0), A.shape(0)});
  {
    Interrupt interrupt = python_interrupt();
    py::gil_scoped_release release;
    dag_to_cpdag(A.data(), d, out.mutable_data(), interrupt);
  }
  return out;
}

py::tuple pdag_to_dag_py(const pattern& P) {
  const std::size_t d = square_size(P, "P");
  pattern out({P.shape(0), P.shape(0)});
  std::vector<std::int64_t> left;
  {
    Interrupt interrupt = python_interrupt();
    py::gil_scoped_release release;
    left = pdag_to_dag(P.data(), d, out.mutable_data(), interrupt);
  }
  return py::make_tuple(out, left);
}

}  // namespace

void bind_graph(py::module_& m) {
  m.def("topological_sort", &topological_sort_py, py::arg("A").noconvert(),
        "Lexicographically smallest topological order of the uint8 (d, d) digraph A; shorter than d "
        "iff A has a cycle.");
  m.def("find_cycle", &find_cycle_py, py::arg("A").noconvert(), py::arg("directed_only") = false,
        "A directed cycle of A as a node list (empty if none); directed_only ignores symmetric pairs.");
  m.def("transitive_closure", &transitive_closure_py, py::arg("A").noconvert(), py::arg("reflexive") = false,
        "uint8 (d, d) reachability by directed paths of length >= 1 (plus the diagonal if reflexive).");
  m.def("meek_orient", &meek_orient_py, py::arg("P").noconvert(),
        "Meek rules R1-R4 to closure on the uint8 PDAG P; returns a new matrix.");
  m.def("dag_to_cpdag", &dag_to_cpdag_py, py::arg("A").noconvert(), "CPDAG of the uint8 DAG A.");
  m.def("pdag_to_dag", &pdag_to_dag_py, py::arg("P").noconvert(),
        "Dor-Tarsi consistent extension of the uint8 PDAG P: (dag, nodes_left); nodes_left is empty "
        "on success.");
}

}  // namespace fastcrl::py_bindings
