#pragma once
/// Sufficient statistics of a data matrix: column means, covariance, Gram and correlation matrices.
/// Every Gaussian score and CI test starts from these.
#include <cstddef>

namespace fastcrl {

/// means[j] = mean of column j of row-major X (n x d). Precondition: n >= 1.
template <class T>
void column_means(const T* X, std::size_t n, std::size_t d, T* means);

/// cov (d x d, row-major, full symmetric) = (X - mean)^T (X - mean) / (n - ddof).
/// Centers into a scratch copy (n x d) and calls BLAS syrk; pass means if already known (else nullptr).
/// Preconditions: n - ddof >= 1.
template <class T>
void covariance(const T* X, std::size_t n, std::size_t d, int ddof, T* cov, T* means_out);

/// gram (d x d) = X^T X / scale (no centering), full symmetric. Precondition: scale > 0.
template <class T>
void gram(const T* X, std::size_t n, std::size_t d, T scale, T* gram);

/// corr (d x d) from a covariance matrix, in place allowed. Diagonal is exactly 1.
/// Throws NumericalError when a variance is not positive.
template <class T>
void correlation_from_covariance(const T* cov, std::size_t d, T* corr);

}  // namespace fastcrl
