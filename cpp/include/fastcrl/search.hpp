#pragma once
/// What every score-based search (exact DP, hill climbing, GES) is allowed to do: forbidden and
/// required edges (from fastcrl.Knowledge: explicit lists and tiers, already expanded to masks) and a
/// cap on the number of parents. Searches take a DecomposableScore& and one of these.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastcrl/errors.hpp"

namespace fastcrl {

/// The score of y with the single parent x is undefined: no search can use these two columns, and
/// every search says so instead of quietly keeping them apart.
[[noreturn]] inline void throw_single_parent_undefined(std::int32_t y, std::int32_t x) {
  throw NumericalError("the score of node " + std::to_string(y) + " with the single parent " + std::to_string(x) +
                       " is undefined: the two columns are duplicates or exactly collinear; drop one of them");
}

/// Scores many families at once (the GPU): out[b] = local score of (nodes[b], the sorted parents
/// parents[offsets[b] .. offsets[b+1])), NaN where undefined; `out` arrives sized to the batch.
/// Searches call it on their own thread only.
using BatchScorer =
    std::function<void(const std::vector<std::int64_t>& nodes, const std::vector<std::int64_t>& offsets,
                       const std::vector<std::int64_t>& parents, std::vector<double>& out)>;

struct SearchConstraints {
  std::size_t d = 0;
  /// Row-major d x d; forbidden[i * d + j] != 0 means the edge i -> j may not appear. Empty = none.
  std::vector<std::uint8_t> forbidden;
  /// Row-major d x d; required[i * d + j] != 0 means i -> j must appear in the result. Empty = none.
  std::vector<std::uint8_t> required;
  /// Maximum number of parents per node; negative = unlimited.
  std::int64_t max_parents = -1;

  bool is_forbidden(std::size_t i, std::size_t j) const {
    return i == j || (!forbidden.empty() && forbidden[i * d + j] != 0);
  }
  bool is_required(std::size_t i, std::size_t j) const { return !required.empty() && required[i * d + j] != 0; }
  /// Largest parent-set size allowed (d - 1 when unlimited).
  std::size_t parent_limit() const {
    return max_parents < 0 ? (d == 0 ? 0 : d - 1) : static_cast<std::size_t>(max_parents);
  }
  bool has_required() const {
    for (auto r : required)
      if (r) return true;
    return false;
  }

  /// Throws std::invalid_argument when the masks have the wrong size, an edge is both required and
  /// forbidden, or a node has more required parents than max_parents.
  void validate() const {
    if (!forbidden.empty() && forbidden.size() != d * d)
      throw std::invalid_argument("forbidden mask must be d x d");
    if (!required.empty() && required.size() != d * d) throw std::invalid_argument("required mask must be d x d");
    for (std::size_t j = 0; j < d; ++j) {
      std::size_t n_required = 0;
      for (std::size_t i = 0; i < d; ++i) {
        if (!is_required(i, j)) continue;
        if (is_forbidden(i, j))
          throw std::invalid_argument("edge " + std::to_string(i) + " -> " + std::to_string(j) +
                                      " is both required and forbidden");
        ++n_required;
      }
      if (max_parents >= 0 && n_required > static_cast<std::size_t>(max_parents))
        throw std::invalid_argument("node " + std::to_string(j) + " has more required parents than max_parents");
    }
  }
};

}  // namespace fastcrl
