#pragma once
/// Greedy equivalence search (Chickering 2002) over CPDAGs with a decomposable score.
///
/// Forward phase: the best valid Insert(X, Y, T) while its score delta is > 0; backward phase: the
/// best valid Delete(X, Y, H) while its delta is > 0. Candidate bookkeeping follows Tetrad's fast
/// GES: each target node Y keeps its best operator over all X (and T / H); after an operator only
/// the targets whose neighbourhood could have changed are re-evaluated (in parallel over X), and the
/// semi-directed-path condition of Insert is checked lazily, best candidate first.
///
/// After each operator the graph is re-oriented exactly (no DAG -> CPDAG rebuild): the pattern of
/// the new class is the skeleton plus the unshielded colliders of the operator's PDAG (Chickering's
/// theorems 15/17: that PDAG has a consistent extension), then background knowledge orientations,
/// then Meek's rules R1-R4 to closure (Meek 1995). Without knowledge this is done incrementally,
/// around the operator (see ges.cpp); with knowledge over the whole graph, O(sum of degree^2).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fastcrl/interrupt.hpp"
#include "fastcrl/scores.hpp"
#include "fastcrl/search.hpp"

namespace fastcrl {

struct GESConfig {
  bool forward = true;
  bool backward = true;
  /// After the backward phase, reverse edges of the consistent extension while that raises the
  /// score (a turning phase in the spirit of Hauser & Buehlmann 2012), then rerun the forward and
  /// backward phases; repeat until a turning phase finds nothing.
  bool turning = false;
  /// Stop each phase after this many operators; negative = no limit.
  std::int64_t max_iter = -1;
  /// When set, Insert candidates (the bulk of the work: O(d) families per re-evaluated target) are
  /// scored through it, many targets per call, on the searching thread; Deletes and turns, a few
  /// families each, use the score object.  Same operators and result as without it.
  BatchScorer batch_scores;
  /// For tests: after every operator, compare the incremental re-orientation with a re-orientation
  /// from scratch; a difference throws std::logic_error.
  bool check_orientation = false;
};

/// One applied operator: Insert(x, y, set = T) or Delete(x, y, set = H).
struct GESStep {
  bool insert = true;
  bool turn = false;  ///< a reversal: the extension's edge y -> x became x -> y
  std::int32_t x = 0;
  std::int32_t y = 0;
  std::vector<std::int32_t> set;
  double delta = 0;
  double score = 0;  ///< score of the class after the operator
  std::int64_t n_edges = 0;
};

struct GESResult {
  std::vector<std::uint8_t> cpdag;  ///< d x d row-major PDAG: i->j is [i,j]=1,[j,i]=0; i--j both 1
  double score = 0;                 ///< start score plus the applied deltas
  std::vector<GESStep> history;
  std::int64_t n_insert = 0;
  std::int64_t n_delete = 0;
  std::int64_t n_turn = 0;
  std::int64_t n_evaluated = 0;  ///< operators whose delta was computed
};

/// Called at most about once a second and at the end of each phase with
/// (phase "forward"/"backward"/"turning", operators applied in the phase, edges, score).
using GESProgress = std::function<void(const std::string&, std::int64_t, std::int64_t, double)>;

/// Tie-breaking, shared with fastcrl.reference.ges: the first operator with the largest delta in the
/// order target Y ascending, X ascending, then the sets T (Insert) / C = NA \ H (Delete) in the
/// depth-first order "empty set first, then add candidates in ascending index order". Turning:
/// the extension is pdag_to_dag's; the first reversal a -> b (a, then b ascending) with the
/// largest delta that keeps it acyclic.
///
/// Knowledge: Insert never creates a forbidden orientation (X -> Y, T -> Y); required edges start in
/// the graph, are oriented as required and are never deleted; an undirected edge whose one direction
/// is forbidden or required is oriented accordingly before Meek's rules. max_parents bounds the
/// parent sets scored (|Pa(Y) u NA u T| + 1). Throws the interrupt's exception on Ctrl-C.
GESResult ges_search(DecomposableScore& score, const SearchConstraints& constraints, const GESConfig& config,
                     Interrupt& interrupt = Interrupt::none(), const GESProgress& progress = {});

}  // namespace fastcrl
