#pragma once
/// Greedy hill climbing over DAGs with a decomposable score: add / delete / reverse one edge per
/// iteration, a tabu list, and iterated local search (random perturbation of the best DAG, then climb
/// again). Score deltas are kept in a d x d table and only the columns of nodes whose parent sets
/// changed are recomputed; acyclicity is checked against descendant bitsets updated on every move.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "fastcrl/interrupt.hpp"
#include "fastcrl/scores.hpp"
#include "fastcrl/search.hpp"

namespace fastcrl {

struct HillClimbConfig {
  /// Moves per climb (the first climb and each restart); >= 0.
  std::int64_t max_iter = 1000000;
  /// A move improves when its score delta is > epsilon; >= 0.
  double epsilon = 1e-8;
  /// The inverses of the last `tabu_length` moves are forbidden (0 = no tabu list).
  std::int64_t tabu_length = 0;
  /// With a tabu list, up to this many moves in a row may fail to improve on the climb's best score
  /// (the best non-tabu move is taken even when it lowers the score); the climb then returns to its
  /// best DAG. 0 = stop at the first local optimum, as plain hill climbing.
  std::int64_t tabu_patience = 0;
  /// Extra climbs, each from the best DAG so far after `perturb` random legal moves.
  std::int64_t restarts = 0;
  std::int64_t perturb = 0;
  /// Seed of the splitmix64 generator that draws the perturbation moves.
  std::uint64_t seed = 0;
  /// When set, the rescored columns (every candidate parent set of each changed node) are scored
  /// through it instead of the score object (the GPU); an undefined score is an error either way.
  BatchScorer batch_scores;
};

struct HillClimbResult {
  std::vector<std::uint8_t> adjacency;  ///< d x d row-major, [i * d + j] = 1 means i -> j
  double score = 0;                     ///< sum of local scores of `adjacency`, nodes in order 0..d-1
  std::int64_t n_iter = 0;              ///< moves applied over all climbs
  std::vector<double> history;          ///< start score, then the score after each applied move
  std::vector<double> climb_scores;     ///< best score reached by each climb (1 + restarts entries)
};

/// Called after each climb with (climb index, total moves so far, this climb's score, best score).
using HillClimbProgress = std::function<void(std::int64_t, std::int64_t, double, double)>;

/// Enumeration order shared with fastcrl.reference.hillclimb (ties go to the first move found):
/// for i in 0..d-1, for j in 0..d-1, j != i: if i -> j is present, delete(i, j) then reverse(i, j);
/// if neither i -> j nor j -> i is present, add(i, j). The best move is the first with the largest delta.
///
/// `start`: d x d row-major 0/1 DAG, or nullptr for the graph of the required edges. Throws
/// std::invalid_argument when `start` has a cycle or a self-loop, contains a forbidden edge, lacks a
/// required edge or exceeds max_parents, or when the config is out of range; NumericalError from the
/// score; the interrupt's exception on Ctrl-C (polled every iteration).
HillClimbResult hill_climb(DecomposableScore& score, const SearchConstraints& constraints, const std::uint8_t* start,
                           const HillClimbConfig& config, Interrupt& interrupt = Interrupt::none(),
                           const HillClimbProgress& progress = {});

}  // namespace fastcrl
