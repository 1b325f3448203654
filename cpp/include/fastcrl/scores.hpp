#pragma once
/// Decomposable structure scores (higher is better) for score-based causal discovery: the local score
/// of node j given a parent set P, evaluated one at a time or in parallel batches, with a thread-safe
/// cache of local scores keyed by (j, sorted P).
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "fastcrl/interrupt.hpp"

namespace fastcrl {

/// Hit/miss counters, entry count and bound of a LocalScoreCache.
struct ScoreCacheInfo {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t size = 0;
  std::uint64_t evictions = 0;  ///< entries dropped to stay within max_entries
  std::uint64_t max_entries = 0;
};

/// Sharded, mutex-protected map (j, sorted parents) -> local score. Safe to use from many threads.
///
/// Bounded: each shard keeps two generations of at most max_entries / (2 * kShards) entries; when the
/// current one is full it becomes the previous one and the old previous one is dropped, and a hit in
/// the previous generation is copied into the current one. Recently used scores therefore survive
/// (a cheap approximation of LRU with O(1) work per call), and memory stays below about
/// max_entries * kBytesPerEntry however long a search runs.
class LocalScoreCache {
 public:
  /// Default bound: about 0.5 GB of cached scores.
  static constexpr std::size_t kDefaultMaxEntries = std::size_t{1} << 22;
  /// Heap bytes of one entry with a parent set of a few nodes (hash node, key vector, bucket),
  /// with glibc malloc and its per-thread arenas (measured); for memory estimates.
  static constexpr std::size_t kBytesPerEntry = 128;

  explicit LocalScoreCache(std::size_t max_entries = kDefaultMaxEntries) { set_max_entries(max_entries); }
  /// key = {j, p_1 < p_2 < ...}. Returns true and sets `value` on a hit.
  bool lookup(const std::vector<std::int32_t>& key, double& value);
  void insert(std::vector<std::int32_t> key, double value);
  ScoreCacheInfo info() const;
  void clear();
  /// New bound (>= 1); entries beyond it are dropped at the next insertions.
  void set_max_entries(std::size_t max_entries);
  std::size_t max_entries() const { return max_entries_.load(std::memory_order_relaxed); }

 private:
  struct Hash {
    std::size_t operator()(const std::vector<std::int32_t>& k) const noexcept;
  };
  using Map = std::unordered_map<std::vector<std::int32_t>, double, Hash>;
  struct Shard {
    std::mutex mutex;
    Map current;
    Map previous;
  };
  void insert_locked(Shard& s, std::vector<std::int32_t> key, double value);
  static std::size_t shard_of(const std::vector<std::int32_t>& key);
  static constexpr std::size_t kShards = 64;
  Shard shards_[kShards];
  std::atomic<std::size_t> max_entries_{kDefaultMaxEntries};
  std::atomic<std::size_t> generation_capacity_{1};
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
  std::atomic<std::uint64_t> evictions_{0};
};

/// Base of every decomposable score: validation of parent sets, caching and batched evaluation.
/// Subclasses implement `compute` (no caching, parents sorted, validated).
class DecomposableScore {
 public:
  virtual ~DecomposableScore() = default;
  std::size_t n_nodes() const { return d_; }
  std::size_t n_samples() const { return n_; }

  /// Local score of node j with parents[0..k). Throws std::invalid_argument when j or a parent is out of
  /// range, a parent is repeated or equals j; NumericalError when the score is undefined (singular fit).
  double local_score(std::int64_t j, const std::int64_t* parents, std::size_t k);

  /// out[b] = local_score(nodes[b], parents[offsets[b]..offsets[b+1])) for b < batch, in parallel
  /// (OpenMP over the batch, BLAS single-threaded inside). Precondition: offsets has batch+1 entries,
  /// non-decreasing, offsets[0] = 0. The first error (lowest b) is rethrown on the calling thread;
  /// with undefined_as_nan, an undefined score (NumericalError) is NaN instead of an error.
  void local_scores(const std::int64_t* nodes, const std::int64_t* offsets, const std::int64_t* parents,
                    std::size_t batch, double* out, Interrupt& interrupt = Interrupt::none(),
                    bool undefined_as_nan = false);

  /// The local score without the cache, for searches that enumerate far more parent sets than are
  /// worth keeping (exact DP, GES's initial pairwise sweep). Preconditions: parents sorted ascending,
  /// distinct, in range and none equal to j (not checked). Thread-safe.
  double local_score_uncached(std::int32_t j, const std::int32_t* parents, std::size_t k) const {
    return compute(j, parents, k);
  }

  /// Wall seconds per uncached local score of a random single-parent family, measured over `count`
  /// of them in parallel with the searches' threading: the unit of the searches' time estimates.
  /// 0 when d < 2.
  double time_pair_scores(std::size_t count, std::uint64_t seed) const;

  ScoreCacheInfo cache_info() const { return cache_.info(); }
  void clear_cache() { cache_.clear(); }
  void set_cache_limit(std::size_t max_entries) { cache_.set_max_entries(max_entries); }
  std::size_t cache_limit() const { return cache_.max_entries(); }
  /// Parent sets smaller than this are recomputed rather than cached: for the Gaussian scores a
  /// small Cholesky costs less than a hash lookup (and the cache would only fill memory).
  virtual std::size_t min_cached_parents() const { return 0; }

  /// `score` (a local score of j with k parents) as the searches should use it: NaN (undefined, the
  /// move is skipped) when it is too close to a score's own "undefined" limit for another route to
  /// the same family (different rounding) to be sure to agree. Identity unless a score has such a
  /// limit (GaussianBICScore).
  virtual double for_search(std::int32_t j, std::size_t k, double score) const {
    (void)j;
    (void)k;
    return score;
  }

 protected:
  DecomposableScore(std::size_t n, std::size_t d) : n_(n), d_(d) {}
  /// parents sorted ascending, validated, none equal to j.
  virtual double compute(std::int32_t j, const std::int32_t* parents, std::size_t k) const = 0;

  std::size_t n_;
  std::size_t d_;

 private:
  std::vector<std::int32_t> make_key(std::int64_t j, const std::int64_t* parents, std::size_t k) const;
  LocalScoreCache cache_;
};

/// Gaussian scores cache parent sets of at least this many nodes: below it, a score (an in-register
/// Cholesky, ~30-300 ns) is cheaper than a cache lookup with its hashing, locking and allocation.
constexpr std::size_t kGaussianMinCachedParents = 16;

/// Linear-Gaussian BIC from the MLE covariance S (ddof = 0):
///   local(j, P) = -(n/2) log(S_jj - S_jP S_PP^{-1} S_Pj) - penalty_discount (|P| + 1) log(n) / 2.
/// The residual variance comes from a Cholesky factor of S_PP (in registers up to 32 parents, LAPACK above).
class GaussianBICScore final : public DecomposableScore {
 public:
  /// X row-major (n x d). Preconditions: n >= 2, d >= 1, penalty_discount >= 0.
  GaussianBICScore(const double* X, std::size_t n, std::size_t d, double penalty_discount);
  /// From an MLE (ddof = 0) covariance `cov` (d x d, row-major) of n samples computed elsewhere
  /// (e.g. on a GPU), made exactly symmetric. Same preconditions; the diagonal must be positive and
  /// finite.
  static std::unique_ptr<GaussianBICScore> from_covariance(const double* cov, std::size_t n, std::size_t d,
                                                           double penalty_discount);
  const std::vector<double>& covariance() const { return cov_; }
  double penalty_discount() const { return penalty_discount_; }
  /// out[i] = the local score of j given parents[0..k) without parents[i], for every i, from one
  /// factorisation of the parents' covariance (dropping a regressor raises the residual variance by
  /// beta_i^2 / (S_PP^-1)_ii): O(k^3) for all k sets instead of k fits. Returns false, out untouched,
  /// when the full set fails compute()'s singularity tests (every smaller set then passes them).
  /// Preconditions as compute's: k >= 1, parents sorted, distinct, in range, none equal to j.
  bool drop_one_scores(std::int32_t j, const std::int32_t* parents, std::size_t k, double* out) const;
  /// The scores around one family, from one factorisation of the parents' covariance: *base = the
  /// local score of j given parents[0..k); without[i] = without parents[i] (as drop_one_scores);
  /// with[i] = with extra[i] added, for i < m (one triangular solve for all of them: O(k^3 + k^2 m)
  /// instead of m fits), NaN where that family fails compute()'s tests (extra[i] collinear with the
  /// parents, or j fitted to the floor). Null outputs are skipped. Returns false, outputs untouched,
  /// when the parents alone fail the tests. Preconditions: parents as compute's (k >= 0, k >= 1 for
  /// without); each extra[i] in range, not j and not among the parents.
  bool family_scores(std::int32_t j, const std::int32_t* parents, std::size_t k, const std::int32_t* extra,
                     std::size_t m, double* base, double* without, double* with) const;
  std::size_t min_cached_parents() const override { return kGaussianMinCachedParents; }

  /// A family is undefined when its residual variance is at most kResidualFloor times the node's
  /// variance (the node is a linear function of its parents up to rounding; the likelihood is
  /// unbounded). Searches use kSearchResidualFloor, 100x higher, far beyond the rounding between an
  /// incremental update, a fresh fit and a differently blocked LAPACK factorisation of one family:
  /// a family a search accepted then never fails when the result is scored again. Near the floor a
  /// weak penalty draws a greedy search to chance parents until a node is fitted exactly (as the
  /// number of parents approaches n), so that margin is met in practice.
  static constexpr double kResidualFloor = 1e-12;
  static constexpr double kSearchResidualFloor = 1e-10;
  /// NaN when the residual variance behind `score` (recovered from it to ~1e-13 relative) is at
  /// most kSearchResidualFloor of node j's variance.
  double for_search(std::int32_t j, std::size_t k, double score) const override;
  /// The BIC of a node with k parents and residual variance var (MLE covariance scale): the one
  /// formula the searches' incremental updates share with compute().
  double score_of_variance(double var, std::size_t k) const {
    return -0.5 * static_cast<double>(n_) * std::log(var) - penalty(k);
  }
  /// The BIC penalty of a family of k parents: penalty_discount (k + 1) log(n) / 2.
  double penalty(std::size_t k) const {
    return penalty_discount_ * static_cast<double>(k + 1) * std::log(static_cast<double>(n_)) / 2.0;
  }

 protected:
  double compute(std::int32_t j, const std::int32_t* parents, std::size_t k) const override;

 private:
  GaussianBICScore(std::size_t n, std::size_t d, double penalty_discount);
  /// L (row-major lower, k x k) = chol(S_PP), z = L^-1 S_Pj and var = S_jj|P, with compute()'s
  /// singularity tests; false when one fails.
  bool factor_family(std::int32_t j, const std::int32_t* parents, std::size_t k, std::vector<double>& L,
                     std::vector<double>& z, double& var) const;
  std::vector<double> cov_;
  double penalty_discount_;
};

/// Bayesian Gaussian equivalent score (Geiger & Heckerman 1994, 2002; in the corrected form of
/// Kuipers, Moffa & Heckerman 2014, as bnlearn computes it) under a normal-Wishart prior with mean
/// `nu`, imaginary sample sizes iss_mu (mean) and iss_w (Wishart degrees of freedom) and prior scale
/// T = t I, t = iss_mu (iss_w - d - 1) / (iss_mu + 1). With the posterior scale matrix
///   R = T + sum_i (x_i - xbar)(x_i - xbar)^T + (n iss_mu / (n + iss_mu)) (xbar - nu)(xbar - nu)^T
/// and p = |P|, a = iss_w - d + p + 1,
///   local(j, P) = (1/2) log(iss_mu / (n + iss_mu)) - (n/2) log(pi) + lgamma((n + a)/2) - lgamma(a/2)
///               + (a (p + 1) - (a - 1) p) log(t) / 2
///               + ((n + a - 1)/2) log det R_PP - ((n + a)/2) log det R_{P+j, P+j},
/// the log marginal likelihood of the family {j} u P minus that of P. One Cholesky of R_PP per call.
class BGeScore final : public DecomposableScore {
 public:
  /// X row-major (n x d); nu (d values) or nullptr for the column means.
  /// Preconditions: n >= 2, d >= 1, iss_mu > 0, iss_w > d + 1 (so that t > 0), all finite.
  BGeScore(const double* X, std::size_t n, std::size_t d, double iss_mu, double iss_w, const double* nu);
  /// From a posterior scale matrix R (d x d, row-major) computed elsewhere (e.g. on a GPU) from n
  /// samples with these iss_mu and iss_w. Same preconditions; R's diagonal must be positive and finite.
  static std::unique_ptr<BGeScore> from_posterior_scale(const double* R, std::size_t n, std::size_t d, double iss_mu,
                                                        double iss_w);
  /// The posterior scale matrix R (d x d, row-major).
  const std::vector<double>& posterior_scale() const { return R_; }
  std::size_t min_cached_parents() const override { return kGaussianMinCachedParents; }
  double iss_mu() const { return iss_mu_; }
  double iss_w() const { return iss_w_; }
  /// t of the prior scale matrix T = t I.
  double prior_scale() const { return t_; }
  /// The terms of local(j, P) that depend on p = |P| only: local = constant_term(p)
  ///   - log det(R_PP) / 2 - ((n + iss_w - d + p + 1) / 2) log(R_jj - R_jP R_PP^{-1} R_Pj).
  double constant_term(std::size_t p) const;

 protected:
  double compute(std::int32_t j, const std::int32_t* parents, std::size_t k) const override;

 private:
  BGeScore(std::size_t n, std::size_t d, double iss_mu, double iss_w);
  std::vector<double> R_;
  double iss_mu_;
  double iss_w_;
  double t_;
};

/// Which discrete score a DiscreteScore computes.
enum class DiscreteScoreKind { BDeu, BIC };

/// Scores of categorical data coded 0..r_j-1: BDeu (Heckerman et al. 1995, uniform prior ess/(q r)) or
/// BIC = log-likelihood - (log n / 2) q (r - 1). Counts N_ijk are obtained per call by encoding parent
/// configurations by mixed radix into a 64-bit key per row, then dense counting (small q r) or sorting.
class DiscreteScore final : public DecomposableScore {
 public:
  /// X row-major (n x d) int32 codes with 0 <= X[i, j] < cardinalities[j]; cardinalities >= 2.
  /// Preconditions: n >= 2; ess > 0 for BDeu. Throws std::invalid_argument on a code out of range.
  DiscreteScore(const std::int32_t* X, std::size_t n, std::size_t d, const std::int64_t* cardinalities,
                DiscreteScoreKind kind, double ess);

  /// The codes column by column (column j at [j * n, (j + 1) * n)), the cardinalities, the kind and ess:
  /// everything the score is computed from (pickling rebuilds it from them).
  const std::vector<std::int32_t>& column_codes() const { return data_; }
  const std::vector<std::int64_t>& cardinalities() const { return card_; }
  DiscreteScoreKind kind() const { return kind_; }
  double ess() const { return ess_; }

 protected:
  double compute(std::int32_t j, const std::int32_t* parents, std::size_t k) const override;

 private:
  std::vector<std::int32_t> data_;  // column-major copy: one column is contiguous for counting
  std::vector<std::int64_t> card_;
  DiscreteScoreKind kind_;
  double ess_;
};

}  // namespace fastcrl
