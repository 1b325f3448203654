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

__global__ void gaussian_local_scores_kernel(const double* __restrict__ M, int64_t d,
                                             const int64_t* __restrict__ nodes, const int64_t* __restrict__ offsets,
                                             const int64_t* __restrict__ parents, int64_t batch,
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
    if (j < 0 || j >= d || k64 < 0 || k64 > K) {
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
    if (t == 0) {
      double result = quiet_nan();
      if (!bad) {
        double logdet = 0.0, explained = 0.0;
        for (int c = 0; c < k; ++c) {  // z <- L^{-1} M_Pj
          double y = z[c];
          for (int m = 0; m < c; ++m) y -= L[c][m] * z[m];
          y /= L[c][c];
          z[c] = y;
          explained += y * y;
          logdet += 2.0 * log(L[c][c]);
        }
        const double mjj = M[j * d + j];
        const double var = mjj - explained;
        if (var > coef.rel_tol * mjj && var > 0.0)
          result = coef.constant[k] + coef.log_det * logdet + coef.log_var[k] * log(var);
      }
      out[b] = result;
      bad = 0;
    }
    __syncthreads();
  }
}

constexpr int kCountThreads = 256;

// One block per pair: zero the q r counts, count the rows with shared atomics, then each thread
// sums the score terms of configurations t, t + 256, ... and a tree reduction adds them up.
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
      int64_t q = 1;
      const int64_t r = card[j];
      for (int a = 0; a < k && !flag; ++a) {
        const int64_t p = parents[begin + a];
        if (p < 0 || p >= d || p == j) {
          flag = 1;
          break;
        }
        pidx[a] = p;
        radix[a] = card[p];
        if (radix[a] < 1 || q > kMaxDiscreteScoreCells / radix[a]) {
          flag = 1;  // too many cells for shared memory (this also keeps every key far from overflow)
        } else {
          q *= radix[a];
        }
      }
      if (!flag && (r < 1 || q > kMaxDiscreteScoreCells / r)) flag = 1;
      q_shared = q;
      bad = flag;
    }
    __syncthreads();
    if (bad) {
      if (t == 0) out[b] = quiet_nan();
      __syncthreads();  // nobody rewrites pidx/bad for the next pair before everyone has read them
      continue;
    }
    const int64_t q = q_shared;
    const int64_t r = card[j];
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
      out[b] = total;
    }
    __syncthreads();  // counts, partial and pidx are reused by the next pair
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
                           const GaussianScoreCoefficients& coefficients, double* out) {
  if (d < 1) throw std::invalid_argument("the score matrix needs at least one row; got d=" + std::to_string(d));
  if (batch < 0) throw std::invalid_argument("batch must be >= 0; got " + std::to_string(batch));
  if (batch == 0) return;
  detail::DeviceScope scope(launch.device);
  const auto blocks = static_cast<unsigned>(std::min(batch, kMaxBlocks));
  gaussian_local_scores_kernel<<<blocks, kWarp, 0, detail::as_stream(launch.stream)>>>(M, d, nodes, offsets, parents,
                                                                                      batch, coefficients, out);
  FASTCRL_CUDA_CHECK_LAUNCH("gaussian_local_scores_kernel");
}

}  // namespace fastcrl::cuda
