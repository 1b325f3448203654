#pragma once
/// Exact score-based DAG learning by dynamic programming over subsets (Silander & Myllymäki 2006):
/// the DAG maximising a decomposable score, subject to forbidden/required edges and a parent limit.
///
/// Three tables, all computed here:
///   1. local scores ls(j, P) for every node j and parent set P of the other d-1 nodes
///      (-inf where P breaks a constraint), stored in table[j][index_j(P)];
///   2. in place, the best score of a parent set inside each candidate set C:
///      bps(j, C) = max_{P subset of C} ls(j, P) (a max-"zeta" transform over the d-1 bits);
///   3. best[S] = max_{s in S} best[S \ s] + bps(s, S \ s), the best DAG on the nodes S.
/// The optimal order and parent sets are read back by equality tests on the stored (exactly copied)
/// maxima, so no arg-max tables are kept: memory is d 2^(d-1) + 2^d doubles.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fastcrl/interrupt.hpp"
#include "fastcrl/scores.hpp"
#include "fastcrl/search.hpp"

namespace fastcrl {

/// How local scores are computed.
enum class ExactLocalScores {
  Auto,      ///< Gaussian incremental-Cholesky path for GaussianBICScore, else generic
  Generic,   ///< score.local_score_uncached for every (node, parent set), OpenMP over parent sets
  Gaussian,  ///< the incremental path; throws std::invalid_argument unless the score is GaussianBICScore
};

/// An external source of one node's local scores (the GPU): fill(j, forbidden, required, limit, row)
/// must write ls(j, P) at row[index_j(P)] for every parent set P allowed by the d-bit masks
/// (P avoids `forbidden`, which holds j; P contains `required`; |P| <= limit), NaN where the score is
/// undefined, and leave the other entries of the row (2^(d-1) doubles, preset to -inf) alone.
using ExactScoreFiller =
    std::function<void(std::size_t j, std::uint32_t forbidden, std::uint32_t required, std::size_t limit, double* row)>;

struct ExactSearchOptions {
  ExactLocalScores local_scores = ExactLocalScores::Auto;
  /// When set, the local scores come from here (called on the searching thread, node by node)
  /// instead of from the score object; `local_scores` is then ignored.
  ExactScoreFiller external_scores;
  /// Progress lines, called only on the calling thread (may be empty = silent).
  std::function<void(const std::string&)> log;
};

struct ExactSearchResult {
  std::size_t d = 0;
  std::vector<std::uint8_t> adjacency;  ///< row-major d x d, [i * d + j] = 1 means i -> j
  std::vector<std::int32_t> order;      ///< a topological order of the result (sources first)
  double score = 0.0;                   ///< sum of the chosen local scores (the optimum)
  std::uint64_t n_local_scores = 0;     ///< (node, parent set) pairs scored
  bool gaussian_path = false;           ///< whether the incremental Gaussian path was used
  bool external_scores = false;         ///< whether options.external_scores supplied the local scores
  double seconds_local_scores = 0.0;
  double seconds_dp = 0.0;
};

/// Largest d accepted (the subset tables are indexed by 32-bit masks).
inline constexpr std::size_t kExactMaxNodes = 31;

/// Bytes exact_search allocates for d nodes (the two subset tables plus per-thread and per-node
/// buffers), given the parent limit (negative = none) and the thread count. The parent limit does not
/// shrink the tables (every candidate set is still needed); it only bounds the work.
double exact_search_memory_bytes(std::size_t d, std::int64_t max_parents, int n_threads);

/// The optimal DAG. Preconditions: constraints.d == score.n_nodes() <= kExactMaxNodes and
/// constraints.validate() passes; required edges acyclic (else throws std::invalid_argument: no DAG
/// satisfies them). Throws NumericalError when an allowed parent set has an undefined score
/// (collinear data), and rethrows the interrupt's exception when stopped.
ExactSearchResult exact_search(const DecomposableScore& score, const SearchConstraints& constraints,
                               const ExactSearchOptions& options, Interrupt& interrupt = Interrupt::none());

/// Step 1 alone, for tests: row-major d x 2^(d-1) table of ls(j, P) with P indexed over the other
/// nodes (bit b is node b for b < j and node b + 1 for b >= j); -inf where P breaks a constraint.
std::vector<double> exact_local_score_table(const DecomposableScore& score, const SearchConstraints& constraints,
                                            ExactLocalScores method, Interrupt& interrupt = Interrupt::none());

}  // namespace fastcrl
