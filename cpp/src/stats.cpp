#include "fastcrl/stats.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastcrl/blas.hpp"
#include "fastcrl/errors.hpp"
#include "fastcrl/threads.hpp"

namespace fastcrl {

namespace {

// BLAS takes int dimensions: reject what would overflow instead of corrupting memory.
int checked_int(std::size_t v, const char* what) {
  if (v > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::invalid_argument(std::string(what) + " is too large for 32-bit BLAS: " + std::to_string(v));
  return static_cast<int>(v);
}

template <class T>
void mirror_upper(T* a, std::size_t d) {
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < i; ++j) a[i * d + j] = a[j * d + i];
}

}  // namespace

template <class T>
void column_means(const T* X, std::size_t n, std::size_t d, T* means) {
  if (n == 0) throw std::invalid_argument("column_means needs at least one row");
  // Accumulate in double for float input; each thread sums a block of rows, then blocks are merged,
  // which keeps the summation order fixed for a given thread count.
  const int nthreads = threads_for_work(static_cast<double>(n) * static_cast<double>(d));
  std::vector<double> partial(static_cast<std::size_t>(nthreads) * d, 0.0);
#pragma omp parallel num_threads(nthreads)
  {
    double* acc = partial.data() + static_cast<std::size_t>(omp_get_thread_num()) * d;
#pragma omp for schedule(static)
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) {
      const T* row = X + static_cast<std::size_t>(i) * d;
      for (std::size_t j = 0; j < d; ++j) acc[j] += row[j];
    }
  }
  for (std::size_t j = 0; j < d; ++j) {
    double s = 0.0;
    for (int t = 0; t < nthreads; ++t) s += partial[static_cast<std::size_t>(t) * d + j];
    means[j] = static_cast<T>(s / static_cast<double>(n));
  }
}

template <class T>
void covariance(const T* X, std::size_t n, std::size_t d, int ddof, T* cov, T* means_out) {
  if (ddof < 0) throw std::invalid_argument("ddof must be >= 0; got " + std::to_string(ddof));
  if (n <= static_cast<std::size_t>(ddof))
    throw std::invalid_argument("covariance needs n_samples > ddof; got n=" + std::to_string(n) +
                                ", ddof=" + std::to_string(ddof));
  checked_int(n, "n_samples");
  const int di = checked_int(d, "n_features");
  std::vector<T> means(d);
  column_means(X, n, d, means.data());
  // Centre a block of rows at a time into a reused buffer and accumulate with syrk (beta = 1): one
  // pass over X and no n x d centred copy (whose page faults alone cost as much as the centring).
  // syrk is the right BLAS call here: a blocked gemm over the upper triangle measured slower.
  const std::size_t block = std::min(n, std::max<std::size_t>(256, (std::size_t(1) << 20) / std::max<std::size_t>(d, 1)));
  std::unique_ptr<T[]> centered(new T[block * d]);
  const T alpha = T(1) / static_cast<T>(n - static_cast<std::size_t>(ddof));
  SingleThreadedBlas small_work(threads_for_work(static_cast<double>(n) * d * d) == 1);
  for (std::size_t start = 0; start < n; start += block) {
    const std::size_t rows = std::min(block, n - start);
    for (std::size_t i = 0; i < rows; ++i) {
      const T* row = X + (start + i) * d;
      T* out = centered.get() + i * d;
      for (std::size_t j = 0; j < d; ++j) out[j] = row[j] - means[j];
    }
    blas::syrk_t(di, static_cast<int>(rows), alpha, centered.get(), di, start == 0 ? T(0) : T(1), cov, di);
  }
  mirror_upper(cov, d);
  if (means_out)
    for (std::size_t j = 0; j < d; ++j) means_out[j] = means[j];
}

template <class T>
void gram(const T* X, std::size_t n, std::size_t d, T scale, T* out) {
  if (!(scale > T(0))) throw std::invalid_argument("gram scale must be > 0");
  const int ni = checked_int(n, "n_samples");
  const int di = checked_int(d, "n_features");
  SingleThreadedBlas small_work(threads_for_work(static_cast<double>(n) * d * d) == 1);
  blas::syrk_t(di, ni, T(1) / scale, X, di, T(0), out, di);
  mirror_upper(out, d);
}

template <class T>
void correlation_from_covariance(const T* cov, std::size_t d, T* corr) {
  std::vector<T> inv_sd(d);
  for (std::size_t j = 0; j < d; ++j) {
    const T v = cov[j * d + j];
    if (!(v > T(0)) || !std::isfinite(v))
      throw NumericalError("correlation is undefined: variance of column " + std::to_string(j) +
                           " is not positive and finite (" + std::to_string(static_cast<double>(v)) + ")");
    inv_sd[j] = T(1) / std::sqrt(v);
  }
  for (std::size_t i = 0; i < d; ++i) {
    for (std::size_t j = 0; j < d; ++j) corr[i * d + j] = cov[i * d + j] * inv_sd[i] * inv_sd[j];
    corr[i * d + i] = T(1);
  }
}

#define FASTCRL_INSTANTIATE(T)                                                               \
  template void column_means<T>(const T*, std::size_t, std::size_t, T*);                     \
  template void covariance<T>(const T*, std::size_t, std::size_t, int, T*, T*);              \
  template void gram<T>(const T*, std::size_t, std::size_t, T, T*);                          \
  template void correlation_from_covariance<T>(const T*, std::size_t, T*);
FASTCRL_INSTANTIATE(double)
FASTCRL_INSTANTIATE(float)
#undef FASTCRL_INSTANTIATE

}  // namespace fastcrl
