#include <pybind11/stl.h>

#include "fastcrl/ges.hpp"
#include "search_common.hpp"

namespace fastcrl::py_bindings {

namespace {

py::dict ges_py(DecomposableScore& score, const carray<std::uint8_t>& forbidden, const carray<std::uint8_t>& required,
                std::int64_t max_parents, bool forward, bool backward, bool turning, std::int64_t max_iter,
                py::object progress, py::object batch_scores, bool check_orientation) {
  const std::size_t d = score.n_nodes();
  const SearchConstraints constraints = search_constraints_from(d, forbidden, required, max_parents);
  GESConfig config;
  config.forward = forward;
  config.backward = backward;
  config.turning = turning;
  config.max_iter = max_iter;
  GESProgress report;
  if (!progress.is_none())
    report = [progress](const std::string& phase, std::int64_t applied, std::int64_t edges, double value) {
      py::gil_scoped_acquire gil;
      progress(phase, applied, edges, value);
    };
  config.batch_scores = batch_scorer_from(batch_scores);
  config.check_orientation = check_orientation;
  Interrupt interrupt = python_interrupt();
  GESResult result;
  {
    py::gil_scoped_release release;
    result = ges_search(score, constraints, config, interrupt, report);
  }
  carray<std::uint8_t> cpdag({static_cast<py::ssize_t>(d), static_cast<py::ssize_t>(d)});
  std::copy(result.cpdag.begin(), result.cpdag.end(), cpdag.mutable_data());
  py::list history;
  for (const GESStep& s : result.history)
    history.append(py::make_tuple(s.turn ? "turn" : s.insert ? "insert" : "delete", s.x, s.y, py::cast(s.set), s.delta, s.score,
                                  s.n_edges));
  py::dict out;
  out["cpdag"] = cpdag;
  out["score"] = result.score;
  out["history"] = history;
  out["n_insert"] = result.n_insert;
  out["n_delete"] = result.n_delete;
  out["n_turn"] = result.n_turn;
  out["n_evaluated"] = result.n_evaluated;
  return out;
}

}  // namespace

void bind_ges(py::module_& m) {
  m.def("ges", &ges_py, py::arg("score"), py::arg("forbidden"), py::arg("required"), py::arg("max_parents"),
        py::arg("forward") = true, py::arg("backward") = true, py::arg("turning") = false, py::arg("max_iter") = -1,
        py::arg("progress") = py::none(), py::arg("batch_scores") = py::none(),
        py::arg("check_orientation") = false,
        "Greedy equivalence search on a DecomposableScore; returns a dict (cpdag, score, history, counts). "
        "batch_scores(nodes, offsets, parents) -> float64 scores (NaN where undefined), when given, scores the "
        "Insert candidates in batches (the GPU). check_orientation (tests): compare each incremental "
        "re-orientation with one from scratch (RuntimeError on a difference).");
}

}  // namespace fastcrl::py_bindings
