#pragma once
/// Sufficient statistics on a CUDA device: column means, covariance, Gram and correlation matrices.
///
/// The CUDA twins of cpp/include/fastcrl/stats.hpp, with the same numerics (means accumulated in
/// double, two-pass covariance through a centred copy and one syrk, full symmetric output).
/// All arrays are C-contiguous (row-major) device memory on `launch.device`; every call is only
/// queued on `launch.stream` (no host synchronisation) and returns once queued.
/// Preconditions that Python can violate throw std::invalid_argument; CUDA/cuBLAS failures throw
/// CudaError.  Outputs must not overlap inputs or the workspace.
///
/// Scratch memory is never allocated here: callers (fastcrl.stats, through CuPy's memory pool) pass a
/// workspace of at least *_workspace_bytes() bytes, so all device memory stays in one pool that the
/// user can inspect and free, and allocations are ordered on the caller's stream.
#include <cstddef>
#include <cstdint>

#include "fastcrl/cuda/runtime.hpp"

namespace fastcrl::cuda {

/// Workspace that column_means needs for X of shape (n, d); depends only on (n, d) so results are
/// bit-identical on every GPU.
std::size_t column_means_workspace_bytes(std::int64_t n, std::int64_t d, std::size_t itemsize);

/// Workspace that covariance needs: the centred copy (n*d*itemsize) plus column_means' workspace.
std::size_t covariance_workspace_bytes(std::int64_t n, std::int64_t d, std::size_t itemsize);

/// means (d) = column means of X (n, d).  Pre: n >= 1, d >= 1, workspace_bytes >= column_means_workspace_bytes.
template <class T>
void column_means(const Launch& launch, const T* X, std::int64_t n, std::int64_t d, T* means, void* workspace,
                  std::size_t workspace_bytes);

/// cov (d, d, full symmetric) = (X - mean)^T (X - mean) / (n - ddof); means (d) written too.
/// Pre: 0 <= ddof < n, d >= 1, workspace_bytes >= covariance_workspace_bytes.
template <class T>
void covariance(const Launch& launch, const T* X, std::int64_t n, std::int64_t d, std::int64_t ddof, T* cov,
                T* means, void* workspace, std::size_t workspace_bytes);

/// out (d, d, full symmetric) = X^T X / scale.  Pre: scale > 0 and finite, n >= 1, d >= 1.
template <class T>
void gram(const Launch& launch, const T* X, std::int64_t n, std::int64_t d, double scale, T* out);

/// corr (d, d) = cov[i, j] / sqrt(cov[i, i] cov[j, j]), unit diagonal.  corr must not alias cov.
/// Pre: the diagonal of cov is positive (fastcrl.correlation checks it and raises NumericalError;
/// here a non-positive variance yields inf/NaN entries instead of an error, to avoid a host sync).
template <class T>
void correlation_from_covariance(const Launch& launch, const T* cov, std::int64_t d, T* corr);

}  // namespace fastcrl::cuda
