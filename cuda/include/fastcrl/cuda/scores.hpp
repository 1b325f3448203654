#pragma once
/// Batched Gaussian local scores on a CUDA device (GaussianBIC and BGe of fastcrl.scores).
///
/// Both scores are functions of one symmetric positive (semi)definite matrix M (the MLE covariance
/// for GaussianBIC, the posterior scale matrix R for BGe) through, for a node j and parent set P
/// with k = |P|,
///   logdet = log det M_PP,   var = M_jj - M_jP M_PP^{-1} M_Pj,
///   score  = constant[k] + log_det * logdet + log_var[k] * log(var).
/// Plain C++17 (no CUDA headers), like runtime.hpp, so the g++-compiled bindings can include it.
#include <cstddef>
#include <cstdint>

#include "fastcrl/cuda/runtime.hpp"

namespace fastcrl::cuda {

/// Largest parent set one block handles (one warp, the factor in shared memory); callers score
/// larger sets on the CPU.
constexpr int kMaxGaussianScoreParents = 32;

/// Per-score coefficients of the formula above, indexed by the number of parents k.
/// A pair is "undefined" (its output is NaN) when a Cholesky pivot^2 of M_PP is <= rel_tol times
/// the parent's diagonal entry, or var <= rel_tol * M_jj (GaussianBIC: 1e-12, as the CPU kernel;
/// BGe: 0, since R >= t I is positive definite).
struct GaussianScoreCoefficients {
  double constant[kMaxGaussianScoreParents + 1] = {};
  double log_var[kMaxGaussianScoreParents + 1] = {};
  double log_det = 0.0;
  double rel_tol = 0.0;
};

/// out[b] = score of (nodes[b], parents[offsets[b]..offsets[b+1])) for b < batch, NaN where undefined.
/// All arrays are device memory on launch.device; M is (d, d) row-major float64.  Queued on
/// launch.stream, no host synchronisation.
/// Preconditions (checked by fastcrl.scores before the launch): offsets non-decreasing with
/// offsets[0] = 0, every set of at most kMaxGaussianScoreParents distinct parents in [0, d), none
/// equal to its node.  The kernel still writes NaN instead of reading out of bounds for a bad index
/// or an oversized set.  Throws std::invalid_argument on bad sizes, CudaError on CUDA failures.
/// `max_parents`: the largest set in the batch when the caller knows it (-1: unknown).  Sets of at
/// most kSmallGaussianFamily parents are scored one per thread; larger ones one per warp, a kernel
/// launched only when the batch may hold such sets.
void gaussian_local_scores(const Launch& launch, const double* M, std::int64_t d, const std::int64_t* nodes,
                           const std::int64_t* offsets, const std::int64_t* parents, std::int64_t batch,
                           const GaussianScoreCoefficients& coefficients, double* out, int max_parents = -1);

/// Families with at most this many parents are scored by one thread each (factor in registers).
constexpr int kSmallGaussianFamily = 8;

/// Largest parent set of the discrete kernel, and the most count cells q * r (q = product of the
/// parents' cardinalities, r the node's) one block counts in shared memory; callers score larger
/// families on the CPU.
constexpr int kMaxDiscreteScoreParents = 32;
constexpr std::int64_t kMaxDiscreteScoreCells = 8192;

/// Which discrete score: BDeu with equivalent sample size `ess`, or BIC (ess unused).
enum class DiscreteScoreKind { BDeu = 0, BIC = 1 };

/// out[b] = BDeu / discrete-BIC local score of (nodes[b], parents[offsets[b]..offsets[b+1])), exactly
/// as fastcrl::DiscreteScore computes it, from codes stored column by column: codes[j * n + i] is
/// row i of column j, in 0..cardinalities[j]-1.  One block per pair counts the family's
/// configurations with shared-memory atomics on mixed-radix keys.  NaN (never an out-of-bounds
/// access) for a pair with a bad index, more than kMaxDiscreteScoreParents parents or more than
/// kMaxDiscreteScoreCells cells: the caller scores those on the CPU.  Codes must be in range
/// (fastcrl.scores validates them).  Queued on launch.stream.
void discrete_local_scores(const Launch& launch, const std::int32_t* codes, std::int64_t n, std::int64_t d,
                           const std::int64_t* cardinalities, const std::int64_t* nodes, const std::int64_t* offsets,
                           const std::int64_t* parents, std::int64_t batch, DiscreteScoreKind kind, double ess,
                           double* out);

/// Exact search's families of one node: every parent set P of `node` with `size` members, among the
/// other d - 1 nodes, enumerated by colexicographic rank of the compressed set (P with bit `node`
/// removed, the bits above it shifted down one), ranks first_rank .. first_rank + count - 1.  A set
/// meeting `forbidden` (d-bit mask) or missing part of `required` is skipped.
struct SubsetFamilies {
  std::int64_t node = 0;
  int size = 0;
  std::int64_t first_rank = 0;
  std::int64_t count = 0;
  std::uint32_t forbidden = 0;
  std::uint32_t required = 0;
};

/// row[compressed P] = the Gaussian score of (node, P) for each allowed family (NaN where undefined);
/// other entries untouched.  row has 2^(d-1) float64 entries on launch.device; d <= 31.
void gaussian_subset_scores(const Launch& launch, const double* M, std::int64_t d, const SubsetFamilies& families,
                            const GaussianScoreCoefficients& coefficients, double* row);

/// The discrete twin (codes as in discrete_local_scores): NaN in the slot of a family with more than
/// kMaxDiscreteScoreCells cells, which the caller scores on the CPU.
void discrete_subset_scores(const Launch& launch, const std::int32_t* codes, std::int64_t n, std::int64_t d,
                            const std::int64_t* cardinalities, const SubsetFamilies& families,
                            DiscreteScoreKind kind, double ess, double* row);

}  // namespace fastcrl::cuda
