#include <algorithm>
#include <cmath>
#include <string>

#include "fastcrl/exact.hpp"
#include "search_common.hpp"

namespace fastcrl::py_bindings {

namespace {

ExactLocalScores local_scores_method(const std::string& name) {
  if (name == "auto") return ExactLocalScores::Auto;
  if (name == "generic") return ExactLocalScores::Generic;
  if (name == "gaussian") return ExactLocalScores::Gaussian;
  throw std::invalid_argument("unknown local_scores method '" + name + "'; expected 'auto', 'generic' or 'gaussian'");
}

py::dict exact_search_py(DecomposableScore& score, const carray<std::uint8_t>& forbidden,
                         const carray<std::uint8_t>& required, std::int64_t max_parents, const std::string& method,
                         py::object progress, py::object score_filler) {
  const std::size_t d = score.n_nodes();
  const SearchConstraints constraints = search_constraints_from(d, forbidden, required, max_parents);
  ExactSearchOptions options;
  options.local_scores = local_scores_method(method);
  if (!progress.is_none())
    options.log = [progress](const std::string& line) {
      py::gil_scoped_acquire gil;
      progress(line);
    };
  if (!score_filler.is_none()) {
    const auto half = static_cast<py::ssize_t>(std::size_t(1) << (d - 1));
    options.external_scores = [score_filler, half](std::size_t j, std::uint32_t forbidden, std::uint32_t required,
                                                   std::size_t limit, double* row) {
      py::gil_scoped_acquire gil;
      // A view of the table row (no copy): the table outlives the call.
      py::array_t<double> view({half}, {static_cast<py::ssize_t>(sizeof(double))}, row,
                               py::capsule(row, [](void*) {}));
      score_filler(j, forbidden, required, limit, view);
    };
  }
  Interrupt interrupt = python_interrupt();
  ExactSearchResult result;
  {
    py::gil_scoped_release release;
    result = exact_search(score, constraints, options, interrupt);
  }
  const auto dd = static_cast<py::ssize_t>(d);
  carray<std::uint8_t> adjacency({dd, dd});
  std::copy(result.adjacency.begin(), result.adjacency.end(), adjacency.mutable_data());
  carray<std::int64_t> order({dd});
  std::copy(result.order.begin(), result.order.end(), order.mutable_data());
  py::dict out;
  out["adjacency"] = adjacency;
  out["order"] = order;
  out["score"] = result.score;
  out["n_local_scores"] = result.n_local_scores;
  out["gaussian_path"] = result.gaussian_path;
  out["external_scores"] = result.external_scores;
  out["seconds_local_scores"] = result.seconds_local_scores;
  out["seconds_dp"] = result.seconds_dp;
  return out;
}

carray<double> exact_local_score_table_py(DecomposableScore& score, const carray<std::uint8_t>& forbidden,
                                          const carray<std::uint8_t>& required, std::int64_t max_parents,
                                          const std::string& method) {
  const std::size_t d = score.n_nodes();
  const SearchConstraints constraints = search_constraints_from(d, forbidden, required, max_parents);
  const ExactLocalScores m = local_scores_method(method);
  if (d > 24) throw std::invalid_argument("the local-score table is for tests; d must be <= 24");
  Interrupt interrupt = python_interrupt();
  std::vector<double> table;
  {
    py::gil_scoped_release release;
    table = exact_local_score_table(score, constraints, m, interrupt);
  }
  carray<double> out({static_cast<py::ssize_t>(d), static_cast<py::ssize_t>(std::size_t(1) << (d - 1))});
  std::copy(table.begin(), table.end(), out.mutable_data());
  return out;
}

}  // namespace

void bind_exact(py::module_& m) {
  m.attr("EXACT_MAX_NODES") = kExactMaxNodes;
  m.def("exact_search", &exact_search_py, py::arg("score"), py::arg("forbidden").noconvert(),
        py::arg("required").noconvert(), py::arg("max_parents"), py::arg("local_scores") = "auto",
        py::arg("progress") = py::none(), py::arg("score_filler") = py::none(),
        "Exact DP structure search on a DecomposableScore; returns a dict (adjacency, order, score, counts). "
        "score_filler(j, forbidden, required, limit, row), when given, supplies node j's local scores (the GPU).");
  m.def("exact_local_score_table", &exact_local_score_table_py, py::arg("score"), py::arg("forbidden").noconvert(),
        py::arg("required").noconvert(), py::arg("max_parents"), py::arg("local_scores") = "auto",
        "(d, 2^(d-1)) local scores of every allowed parent set (-inf elsewhere); for tests.");
  m.def(
      "exact_search_memory_bytes",
      [](std::int64_t d, std::int64_t max_parents, int n_threads) {
        if (d < 0) throw std::invalid_argument("d must be >= 0");
        return exact_search_memory_bytes(static_cast<std::size_t>(d), max_parents, n_threads);
      },
      py::arg("d"), py::arg("max_parents"), py::arg("n_threads"),
      "Bytes exact_search allocates for d nodes (float, may exceed 2^63 for huge d).");
}

}  // namespace fastcrl::py_bindings
