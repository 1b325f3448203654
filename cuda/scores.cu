// Batched local scores on the GPU: the CUDA twins of GaussianBICScore/BGeScore::compute (Cholesky
// path, same singularity rules) and DiscreteScore::compute (BDeu / discrete BIC) of
// cpp/src/scores.cpp.
//
// Gaussian: one block of one warp per (node, parent set) pair, grid-striding over the batch: the
// k x k matrix M_PP is gathered into shared memory, factored column by column (thread r updates row
// r), and the triangular solve of M_Pj plus the final score run on thread 0 (O(k^2), k <= 32).
// Discrete: one block of 256 threads per pair, counts in shared memory (see below).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "check.cuh"
#include "fastcrl/cuda/scores.hpp"

namespace fastcrl::cuda {

namespace {

using std::int64_t;

constexpr int kWarp = 32;
static_assert(kMaxGaussianScoreParents <= kWarp, "one thread per row of the parents' factor");
// Enough blocks to fill any current GPU many times over; the kernel grid-strides beyond that.
constexpr int64_t kMaxBlocks = int64_t(1) << 22;

__device__ inline double quiet_nan() { return __longlong_as_double(0x7ff8000000000000LL); }

/// The score from the solve's results: explained = |L^{-1} M_Pj|^2, logdet = log det M_PP; NaN when the
/// residual variance M_jj - explained is not positive beyond rel_tol (as the CPU kernel).
__device__ inline double score_from_solve(double mjj, double explained, double logdet, int k,
                                          const GaussianScoreCoefficients& coef) {
  const double var = mjj - explained;
  if (!(var > coef.rel_tol * mjj && var > 0.0)) return quiet_nan();
  return coef.constant[k] + coef.log_det * logdet + coef.log_var[k] * log(var);
}

/// Block-collective: the Gaussian score of node j given the k parents idx[0..k) (shared), written to
/// *out by thread 0; NaN where undefined.  `bad` (shared) is set on entry when an index was rejected
/// and is 0 again on return; L and z are the block's shared scratch.
__device__ void gaussian_family_score(const double* __restrict__ M, int64_t d, int64_t j, int k,
                                      const int64_t* idx, double (*L)[kMaxGaussianScoreParents + 1], double* z,
                                      int& bad, const GaussianScoreCoefficients& coef, double* out) {
  const int t = static_cast<int>(threadIdx.x);
  if (!bad && t < k) {
    const double* row = M + idx[t] * d;
    for (int c = 0; c <= t; ++c) L[t][c] = row[idx[c]];
    z[t] = row[j];
  }
  __syncthreads();
  // Left-looking Cholesky of M_PP = L L^T.
  for (int c = 0; c < k && !bad; ++c) {
    if (t == c) {
      double s = L[c][c];
      for (int m = 0; m < c; ++m) s -= L[c][m] * L[c][m];
      // As the CPU kernel: reject a pivot that kept at most rel_tol of its parent's diagonal.
      if (!(s > coef.rel_tol * M[idx[c] * d + idx[c]]) || !(s > 0.0))
        bad = 1;
      else
        L[c][c] = sqrt(s);
    }
    __syncthreads();
    if (!bad && t > c && t < k) {
      double s = L[t][c];
      for (int m = 0; m < c; ++m) s -= L[t][m] * L[c][m];
      L[t][c] = s / L[c][c];
    }
    __syncthreads();
  }
  // Every thread reads `bad` for the loop test above before thread 0 resets it below.
  const int failed = bad;
  __syncthreads();
  if (t == 0) {
    double result = quiet_nan();
    if (!failed) {
      double logdet = 0.0, explained = 0.0;
      for (int c = 0; c < k; ++c) {  // z <- L^{-1} M_Pj
        double y = z[c];
        for (int m = 0; m < c; ++m) y -= L[c][m] * z[m];
        y /= L[c][c];
        z[c] = y;
        explained += y * y;
        logdet += 2.0 * log(L[c][c]);
      }
      result = score_from_solve(M[j * d + j], explained, logdet, k, coef);
    }
    *out = result;
    bad = 0;
  }
  __syncthreads();
}

/// One thread's score of node j given k <= kSmallGaussianFamily valid, distinct parents idx[0..k) (none
/// j): the same left-looking Cholesky, solve and score as gaussian_family_score, in the same order of
/// operations, with the factor in registers (the loops unroll over the fixed bound).
__device__ __forceinline__ double small_family_score(const double* __restrict__ M, int64_t d, int64_t j,
                                                     const int64_t (&idx)[kSmallGaussianFamily], int k,
                                                     const GaussianScoreCoefficients& coef) {
  constexpr int K = kSmallGaussianFamily;
  double L[K][K];
  double z[K];
  bool bad = false;
#pragma unroll
  for (int c = 0; c < K; ++c) {
    if (c < k && !bad) {
      const double* row_c = M + idx[c] * d;
      double s = row_c[idx[c]];
#pragma unroll
      for (int m = 0; m < c; ++m) s -= L[c][m] * L[c][m];
      if (!(s > coef.rel_tol * row_c[idx[c]]) || !(s > 0.0)) {
        bad = true;
      } else {
        L[c][c] = sqrt(s);
#pragma unroll
        for (int t = c + 1; t < K; ++t) {
          if (t < k) {
            double v = M[idx[t] * d + idx[c]];
#pragma unroll
            for (int m = 0; m < c; ++m) v -= L[t][m] * L[c][m];
            L[t][c] = v / L[c][c];
          }
        }
      }
    }
  }
  if (bad) return quiet_nan();
  double logdet = 0.0, explained = 0.0;
#pragma unroll
  for (int c = 0; c < K; ++c) {
    if (c < k) {
      double y = M[idx[c] * d + j];
#pragma unroll
      for (int m = 0; m < c; ++m) y -= L[c][m] * z[m];
      y /= L[c][c];
      z[c] = y;
      explained += y * y;
      logdet += 2.0 * log(L[c][c]);
    }
  }
  return score_from_solve(M[j * d + j], explained, logdet, k, coef);
}

/// One thread per family of at most kSmallGaussianFamily parents (larger ones are left to the warp
/// kernel), so small batches keep every thread of the GPU busy.
__global__ void gaussian_small_family_kernel(const double* __restrict__ M, int64_t d,
                                             const int64_t* __restrict__ nodes, const int64_t* __restrict__ offsets,
                                             const int64_t* __restrict__ parents, int64_t batch,
                                             GaussianScoreCoefficients coef, double* __restrict__ out) {
  constexpr int K = kSmallGaussianFamily;
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < batch; b += int64_t(blockDim.x) * gridDim.x) {
    const int64_t j = nodes[b];
    const int64_t begin = offsets[b];
    const int64_t k64 = offsets[b + 1] - begin;
    if (k64 > K) continue;  // the warp kernel's
    int64_t idx[K];
    bool bad = j < 0 || j >= d || k64 < 0;
    const int k = bad ? 0 : static_cast<int>(k64);
#pragma unroll
    for (int t = 0; t < K; ++t) {
      if (t < k) {
        const int64_t p = parents[begin + t];
        bad = bad || p < 0 || p >= d || p == j;
        idx[t] = (p < 0 || p >= d) ? 0 : p;
      }
    }
    out[b] = bad ? quiet_nan() : small_family_score(M, d, j, idx, k, coef);
  }
}

/// One warp per family with more than `min_k - 1` parents (smaller ones are the thread kernel's).
__global__ void gaussian_local_scores_kernel(const double* __restrict__ M, int64_t d,
                                             const int64_t* __restrict__ nodes, const int64_t* __restrict__ offsets,
                                             const int64_t* __restrict__ parents, int64_t batch, int64_t min_k,
                                             GaussianScoreCoefficients coef, double* __restrict__ out) {
  constexpr int K = kMaxGaussianScoreParents;
  __shared__ double L[K][K + 1];  // +1: rows and columns hit different banks
  __shared__ double z[K];
  __shared__ int64_t idx[K];
  __shared__ int bad;
  const int t = static_cast<int>(threadIdx.x);
  if (t == 0) bad = 0;
  __syncthreads();
  for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    // Every thread reads the same node and extent, so these branches are uniform over the block.
    const int64_t j = nodes[b];
    const int64_t begin = offsets[b];
    const int64_t k64 = offsets[b + 1] - begin;
    if (k64 < min_k) continue;  // (uniform over the block)
    if (j < 0 || j >= d || k64 > K) {
      if (t == 0) out[b] = quiet_nan();
      continue;
    }
    const int k = static_cast<int>(k64);
    if (t < k) {
      int64_t p = parents[begin + t];
      if (p < 0 || p >= d || p == j) {
        bad = 1;  // every writer writes 1: a benign race
        p = 0;
      }
      idx[t] = p;
    }
    __syncthreads();
    gaussian_family_score(M, d, j, k, idx, L, z, bad, coef, out + b);
  }
}

// ------------------------------------------------------------------------ families of exact search
// Exact search scores every parent set P (of at most `limit` members) of each node j among the
// other d - 1 nodes.  Its table row for j is indexed by the compressed set: P with bit j removed
// (bits above j shift down one).  The sets of one size m are enumerated by colexicographic rank.

__device__ inline std::uint64_t binomial(int n, int k) {
  if (k < 0 || k > n) return 0;
  std::uint64_t r = 1;
  for (int i = 1; i <= k; ++i) r = r * static_cast<std::uint64_t>(n - k + i) / static_cast<std::uint64_t>(i);
  return r;  // exact: each partial product is itself a binomial coefficient
}

/// The m-subset of {0, ..., n-1} of colexicographic rank `rank` (sum over members c_i of C(c_i, i)),
/// walking c down once with C(c, i) updated in place: O(n) steps.
__device__ inline std::uint32_t unrank_subset(std::uint64_t rank, int m, int n) {
  std::uint32_t set = 0;
  int c = n - 1;
  std::uint64_t bc = binomial(c, m);  // C(c, i) for the current i
  for (int i = m; i >= 1; --i) {
    while (c >= i && bc > rank) {  // C(c - 1, i) = C(c, i) (c - i) / c, exactly
      bc = bc * static_cast<std::uint64_t>(c - i) / static_cast<std::uint64_t>(c);
      --c;
    }
    if (c < i) {  // rank 0 is left: the members are 0 .. i-1
      set |= (1u << i) - 1u;
      break;
    }
    set |= 1u << c;
    rank -= bc;
    bc = bc * static_cast<std::uint64_t>(i) / static_cast<std::uint64_t>(c);  // C(c - 1, i - 1)
    --c;
  }
  return set;
}

/// Insert a zero at bit j: the compressed set over the other nodes -> the d-bit parent set.
__device__ inline std::uint32_t expand_set(std::uint32_t compressed, int64_t j) {
  const std::uint32_t low = (1u << j) - 1u;
  return (compressed & low) | ((compressed >> j) << (j + 1));
}

/// Resolves family b of a SubsetFamilies launch on thread 0: returns the compressed slot, or -1 when
/// the set breaks a constraint (its slot keeps the caller's -inf).
__device__ inline int64_t subset_family(const SubsetFamilies& f, int64_t d, int64_t b, std::uint32_t& parents) {
  const std::uint32_t compressed = unrank_subset(static_cast<std::uint64_t>(f.first_rank + b), f.size,
                                                 static_cast<int>(d - 1));
  parents = expand_set(compressed, f.node);
  if ((parents & f.forbidden) != 0u || (parents & f.required) != f.required) return -1;
  return static_cast<int64_t>(compressed);
}

__global__ void gaussian_subset_scores_kernel(const double* __restrict__ M, int64_t d, SubsetFamilies fam,
                                              GaussianScoreCoefficients coef, double* __restrict__ row) {
  constexpr int K = kMaxGaussianScoreParents;
  __shared__ double L[K][K + 1];
  __shared__ double z[K];
  __shared__ int64_t idx[K];
  __shared__ int64_t slot;
  __shared__ std::uint32_t set;
  __shared__ int bad;
  const int t = static_cast<int>(threadIdx.x);
  if (t == 0) bad = 0;
  for (int64_t b = blockIdx.x; b < fam.count; b += gridDim.x) {
    if (t == 0) {
      std::uint32_t parents = 0;
      slot = subset_family(fam, d, b, parents);
      set = parents;
    }
    __syncthreads();
    const int64_t s = slot;
    if (s < 0) {
      __syncthreads();  // nobody rewrites slot before everyone has read it
      continue;
    }
    if (t < fam.size) {  // thread t takes the (t + 1)-th member
      std::uint32_t rest = set;
      for (int k = 0; k < t; ++k) rest &= rest - 1u;
      idx[t] = __ffs(static_cast<int>(rest)) - 1;
    }
    __syncthreads();
    gaussian_family_score(M, d, fam.node, fam.size, idx, L, z, bad, coef, row + s);
  }
}

/// The exact-search families of one (node, size <= kSmallGaussianFamily) launch, one thread each.
__global__ void gaussian_small_subset_scores_kernel(const double* __restrict__ M, int64_t d, SubsetFamilies fam,
                                                    GaussianScoreCoefficients coef, double* __restrict__ row) {
  constexpr int K = kSmallGaussianFamily;
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < fam.count;
       b += int64_t(blockDim.x) * gridDim.x) {
    std::uint32_t rest = 0;
    const int64_t s = subset_family(fam, d, b, rest);
    if (s < 0) continue;
    int64_t idx[K];
#pragma unroll
    for (int t = 0; t < K; ++t) {  // the members in increasing order, as the warp kernel takes them
      if (t < fam.size) {
        idx[t] = __ffs(static_cast<int>(rest)) - 1;
        rest &= rest - 1u;
      }
    }
    row[s] = small_family_score(M, d, fam.node, idx, fam.size, coef);
  }
}

constexpr int kCountThreads = 256;

/// Block-collective: the BDeu / discrete-BIC score of node j given the k parents pidx[0..k) with
/// cardinalities radix[0..k) (q configurations, r levels of j), written to *out by thread 0.  Zeroes
/// the q r counts, counts the rows with shared atomics, then each thread sums the score terms of
/// configurations t, t + 256, ... and a tree reduction adds them up.
__device__ void discrete_family_score(const std::int32_t* __restrict__ codes, int64_t n, int64_t j, int k,
                                      const int64_t* pidx, const int64_t* radix, int64_t q, int64_t r, int kind,
                                      double ess, unsigned int* counts, double* partial, double* out) {
  const int t = static_cast<int>(threadIdx.x);
  const int64_t cells = q * r;
  for (int64_t c = t; c < cells; c += kCountThreads) counts[c] = 0u;
  __syncthreads();
  const std::int32_t* xj = codes + j * n;
  for (int64_t i = t; i < n; i += kCountThreads) {
    int64_t key = 0;
    for (int a = 0; a < k; ++a) key = key * radix[a] + codes[pidx[a] * n + i];
    key = key * r + xj[i];
    atomicAdd(&counts[key], 1u);
  }
  __syncthreads();
  const double qd = static_cast<double>(q), rd = static_cast<double>(r);
  const double a_ij = ess / qd, a_ijk = ess / (qd * rd);
  const double lg_aij = lgamma(a_ij), lg_aijk = lgamma(a_ijk);
  double acc = 0.0;
  for (int64_t c = t; c < q; c += kCountThreads) {
    const unsigned int* row = counts + c * r;
    double nij = 0.0;
    for (int64_t s = 0; s < r; ++s) nij += static_cast<double>(row[s]);
    if (nij == 0.0) continue;
    if (kind == static_cast<int>(DiscreteScoreKind::BDeu)) {
      double term = lg_aij - lgamma(a_ij + nij);
      for (int64_t s = 0; s < r; ++s)
        if (row[s] != 0u) term += lgamma(a_ijk + static_cast<double>(row[s])) - lg_aijk;
      acc += term;
    } else {
      const double log_nij = log(nij);
      for (int64_t s = 0; s < r; ++s)
        if (row[s] != 0u) {
          const double cnt = static_cast<double>(row[s]);
          acc += cnt * (log(cnt) - log_nij);
        }
    }
  }
  partial[t] = acc;
  __syncthreads();
  for (int stride = kCountThreads / 2; stride > 0; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
    __syncthreads();
  }
  if (t == 0) {
    double total = partial[0];
    if (kind == static_cast<int>(DiscreteScoreKind::BIC)) total -= log(static_cast<double>(n)) / 2.0 * qd * (rd - 1.0);
    *out = total;
  }
  __syncthreads();  // counts, partial and pidx are reused by the next pair
}

/// Thread 0: radix[a] = card[pidx[a]] and the configuration count q; false when a cardinality is
/// bad or the q r cells do not fit in shared memory (this also keeps every key far from overflow).
__device__ inline bool discrete_cells(const int64_t* __restrict__ card, int64_t j, int k, const int64_t* pidx,
                                      int64_t* radix, int64_t& q) {
  q = 1;
  for (int a = 0; a < k; ++a) {
    radix[a] = card[pidx[a]];
    if (radix[a] < 1 || q > kMaxDiscreteScoreCells / radix[a]) return false;
    q *= radix[a];
  }
  const int64_t r = card[j];
  return r >= 1 && q <= kMaxDiscreteScoreCells / r;
}

// One block per pair (grid-striding over the batch).
__global__ void __launch_bounds__(kCountThreads)
    discrete_local_scores_kernel(const std::int32_t* __restrict__ codes, int64_t n, int64_t d,
                                 const int64_t* __restrict__ card, const int64_t* __restrict__ nodes,
                                 const int64_t* __restrict__ offsets, const int64_t* __restrict__ parents,
                                 int64_t batch, int kind, double ess, double* __restrict__ out) {
  constexpr int K = kMaxDiscreteScoreParents;
  __shared__ unsigned int counts[kMaxDiscreteScoreCells];
  __shared__ double partial[kCountThreads];
  __shared__ int64_t pidx[K];
  __shared__ int64_t radix[K];
  __shared__ int64_t q_shared;
  __shared__ int bad;
  const int t = static_cast<int>(threadIdx.x);
  for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    const int64_t j = nodes[b];
    const int64_t begin = offsets[b];
    const int64_t k64 = offsets[b + 1] - begin;
    if (j < 0 || j >= d || k64 < 0 || k64 > K) {  // uniform: every thread read the same values
      if (t == 0) out[b] = quiet_nan();
      continue;
    }
    const int k = static_cast<int>(k64);
    if (t == 0) {
      int flag = 0;
      for (int a = 0; a < k; ++a) {
        const int64_t p = parents[begin + a];
        if (p < 0 || p >= d || p == j) {
          flag = 1;
          break;
        }
        pidx[a] = p;
      }
      int64_t q = 1;
      if (!flag && !discrete_cells(card, j, k, pidx, radix, q)) flag = 1;
      q_shared = q;
      bad = flag;
    }
    __syncthreads();
    if (bad) {
      if (t == 0) out[b] = quiet_nan();
      __syncthreads();  // nobody rewrites pidx/bad for the next pair before everyone has read them
      continue;
    }
    discrete_family_score(codes, n, j, k, pidx, radix, q_shared, card[j], kind, ess, counts, partial, out + b);
  }
}

/// Exact search's families (see above) of one node and size; NaN in the slot of a family with too
/// many cells (the caller scores it on the CPU), nothing written for a set breaking a constraint.
__global__ void __launch_bounds__(kCountThreads)
    discrete_subset_scores_kernel(const std::int32_t* __restrict__ codes, int64_t n, int64_t d,
                                  const int64_t* __restrict__ card, SubsetFamilies fam, int kind, double ess,
                                  double* __restrict__ row) {
  constexpr int K = kMaxDiscreteScoreParents;
  __shared__ unsigned int counts[kMaxDiscreteScoreCells];
  __shared__ double partial[kCountThreads];
  __shared__ int64_t pidx[K];
  __shared__ int64_t radix[K];
  __shared__ int64_t q_shared;
  __shared__ int64_t slot;
  __shared__ int bad;
  const int t = static_cast<int>(threadIdx.x);
  for (int64_t b = blockIdx.x; b < fam.count; b += gridDim.x) {
    if (t == 0) {
      std::uint32_t parents = 0;
      slot = subset_family(fam, d, b, parents);
      int a = 0;
      for (std::uint32_t m = parents; m; m &= m - 1u) pidx[a++] = __ffs(static_cast<int>(m)) - 1;
      int64_t q = 1;
      bad = slot >= 0 && !discrete_cells(card, fam.node, fam.size, pidx, radix, q);
      q_shared = q;
    }
    __syncthreads();
    const int64_t s = slot;
    if (s < 0 || bad) {
      if (t == 0 && s >= 0) row[s] = quiet_nan();
      __syncthreads();
      continue;
    }
    discrete_family_score(codes, n, fam.node, fam.size, pidx, radix, q_shared, card[fam.node], kind, ess, counts,
                          partial, row + s);
  }
}

}  // namespace

void discrete_local_scores(const Launch& launch, const std::int32_t* codes, int64_t n, int64_t d,
                           const int64_t* cardinalities, const int64_t* nodes, const int64_t* offsets,
                           const int64_t* parents, int64_t batch, DiscreteScoreKind kind, double ess, double* out) {
  if (n < 1 || d < 1)
    throw std::invalid_argument("codes must have at least one row and column; got n=" + std::to_string(n) +
                                ", d=" + std::to_string(d));
  if (batch < 0) throw std::invalid_argument("batch must be >= 0; got " + std::to_string(batch));
  if (kind == DiscreteScoreKind::BDeu && !(ess > 0.0))
    throw std::invalid_argument("ess must be > 0; got " + std::to_string(ess));
  if (batch == 0) return;
  detail::DeviceScope scope(launch.device);
  const auto blocks = static_cast<unsigned>(std::min(batch, kMaxBlocks));
  discrete_local_scores_kernel<<<blocks, kCountThreads, 0, detail::as_stream(launch.stream)>>>(
      codes, n, d, cardinalities, nodes, offsets, parents, batch, static_cast<int>(kind), ess, out);
  FASTCRL_CUDA_CHECK_LAUNCH("discrete_local_scores_kernel");
}

void gaussian_local_scores(const Launch& launch, const double* M, int64_t d, const int64_t* nodes,
                           const int64_t* offsets, const int64_t* parents, int64_t batch,
                           const GaussianScoreCoefficients& coefficients, double* out, int max_parents) {
  if (d < 1) throw std::invalid_argument("the score matrix needs at least one row; got d=" + std::to_string(d));
  if (batch < 0) throw std::invalid_argument("batch must be >= 0; got " + std::to_string(batch));
  if (batch == 0) return;
  detail::DeviceScope scope(launch.device);
  const cudaStream_t stream = detail::as_stream(launch.stream);
  constexpr int kSmallThreads = 128;
  const auto small_blocks = static_cast<unsigned>(std::min((batch + kSmallThreads - 1) / kSmallThreads, kMaxBlocks));
  gaussian_small_family_kernel<<<small_blocks, kSmallThreads, 0, stream>>>(M, d, nodes, offsets, parents, batch,
                                                                           coefficients, out);
  FASTCRL_CUDA_CHECK_LAUNCH("gaussian_small_family_kernel");
  if (max_parents >= 0 && max_parents <= kSmallGaussianFamily) return;
  const auto blocks = static_cast<unsigned>(std::min(batch, kMaxBlocks));
  gaussian_local_scores_kernel<<<blocks, kWarp, 0, stream>>>(M, d, nodes, offsets, parents, batch,
                                                            kSmallGaussianFamily + 1, coefficients, out);
  FASTCRL_CUDA_CHECK_LAUNCH("gaussian_local_scores_kernel");
}

namespace {

void check_subset_families(int64_t d, const SubsetFamilies& f, int max_size) {
  if (d < 1 || d > 31) throw std::invalid_argument("exact-search families need 1 <= d <= 31; got d=" + std::to_string(d));
  if (f.node < 0 || f.node >= d)
    throw std::invalid_argument("node " + std::to_string(f.node) + " is out of range for d=" + std::to_string(d));
  if (f.size < 0 || f.size > d - 1 || f.size > max_size)
    throw std::invalid_argument("family size " + std::to_string(f.size) + " is out of range (d=" + std::to_string(d) +
                                ", at most " + std::to_string(max_size) + ")");
  if (f.first_rank < 0 || f.count < 0) throw std::invalid_argument("first_rank and count must be >= 0");
}

}  // namespace

void gaussian_subset_scores(const Launch& launch, const double* M, int64_t d, const SubsetFamilies& families,
                            const GaussianScoreCoefficients& coefficients, double* row) {
  check_subset_families(d, families, kMaxGaussianScoreParents);
  if (families.count == 0) return;
  detail::DeviceScope scope(launch.device);
  if (families.size <= kSmallGaussianFamily) {  // one thread per family
    constexpr int kSmallThreads = 128;
    const auto blocks =
        static_cast<unsigned>(std::min((families.count + kSmallThreads - 1) / kSmallThreads, kMaxBlocks));
    gaussian_small_subset_scores_kernel<<<blocks, kSmallThreads, 0, detail::as_stream(launch.stream)>>>(
        M, d, families, coefficients, row);
    FASTCRL_CUDA_CHECK_LAUNCH("gaussian_small_subset_scores_kernel");
    return;
  }
  const auto blocks = static_cast<unsigned>(std::min(families.count, kMaxBlocks));
  gaussian_subset_scores_kernel<<<blocks, kWarp, 0, detail::as_stream(launch.stream)>>>(M, d, families, coefficients,
                                                                                        row);
  FASTCRL_CUDA_CHECK_LAUNCH("gaussian_subset_scores_kernel");
}

void discrete_subset_scores(const Launch& launch, const std::int32_t* codes, int64_t n, int64_t d,
                            const int64_t* cardinalities, const SubsetFamilies& families, DiscreteScoreKind kind,
                            double ess, double* row) {
  check_subset_families(d, families, kMaxDiscreteScoreParents);
  if (n < 1) throw std::invalid_argument("codes must have at least one row; got n=" + std::to_string(n));
  if (kind == DiscreteScoreKind::BDeu && !(ess > 0.0))
    throw std::invalid_argument("ess must be > 0; got " + std::to_string(ess));
  if (families.count == 0) return;
  detail::DeviceScope scope(launch.device);
  const auto blocks = static_cast<unsigned>(std::min(families.count, kMaxBlocks));
  discrete_subset_scores_kernel<<<blocks, kCountThreads, 0, detail::as_stream(launch.stream)>>>(
      codes, n, d, cardinalities, families, static_cast<int>(kind), ess, row);
  FASTCRL_CUDA_CHECK_LAUNCH("discrete_subset_scores_kernel");
}

}  // namespace fastcrl::cuda
