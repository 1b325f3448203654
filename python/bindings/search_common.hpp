#pragma once
// Shared by the bindings of the score-based searches (bind_exact/hillclimb/ges.cpp).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common.hpp"
#include "fastcrl/search.hpp"

namespace fastcrl::py_bindings {

/// SearchConstraints from the (d, d) uint8 masks and max_parents made by fastcrl._search.search_constraints.
inline SearchConstraints search_constraints_from(std::size_t d, const carray<std::uint8_t>& forbidden,
                                                 const carray<std::uint8_t>& required, std::int64_t max_parents) {
  require_square(forbidden, "forbidden");
  require_square(required, "required");
  if (static_cast<std::size_t>(forbidden.shape(0)) != d || static_cast<std::size_t>(required.shape(0)) != d)
    throw std::invalid_argument("forbidden/required masks must be (d, d) with d = the score's number of nodes");
  SearchConstraints c;
  c.d = d;
  // Without knowledge the masks stay empty (the diagonal is always forbidden): no 2 d^2 bytes held,
  // and no mask reads in the searches' inner loops.
  const std::uint8_t* f = forbidden.data();
  const std::uint8_t* r = required.data();
  bool any_forbidden = false, any_required = false;
  for (std::size_t k = 0; k < d * d; ++k) {
    any_forbidden |= f[k] != 0 && k % (d + 1) != 0;
    any_required |= r[k] != 0;
  }
  if (any_forbidden) c.forbidden.assign(f, f + d * d);
  if (any_required) c.required.assign(r, r + d * d);
  c.max_parents = max_parents;
  c.validate();
  return c;
}

/// BatchScorer calling the Python callable batch_scores(nodes, offsets, parents) -> float64 scores
/// (NaN where undefined) under the GIL; empty for None.
inline BatchScorer batch_scorer_from(const py::object& batch_scores) {
  if (batch_scores.is_none()) return {};
  return [batch_scores](const std::vector<std::int64_t>& nodes, const std::vector<std::int64_t>& offsets,
                        const std::vector<std::int64_t>& parents, std::vector<double>& out) {
    py::gil_scoped_acquire gil;
    auto as_array = [](const std::vector<std::int64_t>& v) {
      return carray<std::int64_t>({static_cast<py::ssize_t>(v.size())}, v.data());
    };
    const auto scores = py::cast<carray<double>>(batch_scores(as_array(nodes), as_array(offsets), as_array(parents)));
    if (scores.ndim() != 1 || static_cast<std::size_t>(scores.shape(0)) != out.size())
      throw std::invalid_argument("batch_scores returned " + std::to_string(scores.size()) + " scores for " +
                                  std::to_string(out.size()) + " families");
    std::copy(scores.data(), scores.data() + scores.size(), out.begin());
  };
}

}  // namespace fastcrl::py_bindings
