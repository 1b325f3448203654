#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>

#include "common.hpp"
#include "fastcrl/hillclimb.hpp"
#include "search_common.hpp"

namespace fastcrl::py_bindings {

namespace {

py::dict hill_climb_py(DecomposableScore& score, const carray<std::uint8_t>& forbidden,
                       const carray<std::uint8_t>& required, std::int64_t max_parents,
                       const std::optional<carray<std::uint8_t>>& start, std::int64_t max_iter, double epsilon,
                       std::int64_t tabu_length, std::int64_t tabu_patience, std::int64_t restarts,
                       std::int64_t perturb, std::uint64_t seed, const py::object& progress,
                       const py::object& batch_scores) {
  const std::size_t d = score.n_nodes();
  const SearchConstraints constraints = search_constraints_from(d, forbidden, required, max_parents);
  if (start) {
    require_square(*start, "start");
    if (static_cast<std::size_t>(start->shape(0)) != d)
      throw std::invalid_argument("start must be (d, d) with d = the score's number of nodes");
  }
  HillClimbConfig config;
  config.max_iter = max_iter;
  config.epsilon = epsilon;
  config.tabu_length = tabu_length;
  config.tabu_patience = tabu_patience;
  config.restarts = restarts;
  config.perturb = perturb;
  config.seed = seed;
  config.batch_scores = batch_scorer_from(batch_scores);
  HillClimbProgress callback;
  if (!progress.is_none()) {
    callback = [&progress](std::int64_t climb, std::int64_t n_iter, double s, double best) {
      py::gil_scoped_acquire gil;
      progress(climb, n_iter, s, best);
    };
  }
  Interrupt interrupt = python_interrupt();
  HillClimbResult result;
  {
    py::gil_scoped_release release;
    result = hill_climb(score, constraints, start ? start->data() : nullptr, config, interrupt, callback);
  }
  const auto n = static_cast<py::ssize_t>(d);
  carray<std::uint8_t> adjacency({n, n});
  std::memcpy(adjacency.mutable_data(), result.adjacency.data(), result.adjacency.size());
  py::dict out;
  out["adjacency"] = adjacency;
  out["score"] = result.score;
  out["n_iter"] = result.n_iter;
  out["history"] = carray<double>(static_cast<py::ssize_t>(result.history.size()), result.history.data());
  out["climb_scores"] =
      carray<double>(static_cast<py::ssize_t>(result.climb_scores.size()), result.climb_scores.data());
  return out;
}

}  // namespace

void bind_hillclimb(py::module_& m) {
  m.def("hill_climb", &hill_climb_py, py::arg("score"), py::arg("forbidden").noconvert(),
        py::arg("required").noconvert(), py::arg("max_parents"), py::arg("start").noconvert() = py::none(),
        py::arg("max_iter") = 1000000, py::arg("epsilon") = 1e-8, py::arg("tabu_length") = 0,
        py::arg("tabu_patience") = 0, py::arg("restarts") = 0, py::arg("perturb") = 0, py::arg("seed") = 0,
        py::arg("progress") = py::none(), py::arg("batch_scores") = py::none(),
        "Greedy hill climbing over DAGs (add/delete/reverse, tabu list, perturbed restarts); returns a dict "
        "with adjacency (uint8, [i, j] = 1 means i -> j), score, n_iter, history and climb_scores. "
        "batch_scores(nodes, offsets, parents) -> float64 scores, when given, scores the changed columns "
        "(the GPU).");
}

}  // namespace fastcrl::py_bindings
