// Sufficient statistics on the GPU: the CUDA twins of cpp/src/stats.cpp (same numerics).
//
// Layout: X is row-major (n, d).  cuBLAS is column-major, so it sees the same memory as X^T (d, n)
// with leading dimension d; syrk with CUBLAS_OP_N then gives X^T X directly.  A symmetric (d, d)
// result reads the same in either order, so no transposes are needed anywhere.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "check.cuh"
#include "fastcrl/cuda/stats.hpp"

namespace fastcrl::cuda {

namespace {

using std::int64_t;

// Blocks of kTile x kRows threads: the kTile threads of a warp read kTile adjacent columns of one
// row (one coalesced transaction); the kRows warps of a block walk down the rows.
constexpr int kTile = 32;
constexpr int kRows = 8;
// Row chunks of the column reduction: enough blocks to fill a large GPU when d is small, few enough
// that the second pass (one thread per column summing its chunks) stays trivial.
constexpr int64_t kTargetBlocks = 1024;
constexpr int64_t kMaxChunks = 256;
constexpr int64_t kMinRowsPerChunk = 64;
constexpr std::size_t kAlign = 256;  // sub-allocations inside the workspace start on cudaMalloc's alignment
constexpr int64_t kMaxGridY = 65535;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

std::size_t checked_bytes(int64_t n, int64_t d, std::size_t itemsize) {
  std::size_t elems = 0, bytes = 0;
  if (n < 0 || d < 0 || __builtin_mul_overflow(static_cast<std::size_t>(n), static_cast<std::size_t>(d), &elems) ||
      __builtin_mul_overflow(elems, itemsize, &bytes))
    throw std::invalid_argument("array of shape (" + std::to_string(n) + ", " + std::to_string(d) +
                                ") is too large");
  return bytes;
}

std::size_t align_up(std::size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// Chosen from (n, d) only, never from the device, so the summation order -- and so every bit of
// the result -- is the same on every GPU.
int64_t mean_chunks(int64_t n, int64_t d) {
  int64_t chunks = ceil_div(kTargetBlocks, ceil_div(d, kTile));
  chunks = std::min(chunks, kMaxChunks);
  chunks = std::min(chunks, ceil_div(n, kMinRowsPerChunk));
  return std::max<int64_t>(chunks, 1);
}

void check_shape(int64_t n, int64_t d) {
  require(n >= 1, "X needs at least one row; got n_samples=" + std::to_string(n));
  require(d >= 1, "X needs at least one column; got n_features=" + std::to_string(d));
}

// ---------------------------------------------------------------------------------------------
// Kernels

// partial[c, col] = sum of X[r, col] over the rows r of chunk c, accumulated in double (as the CPU
// kernel does) so float32 means do not drift with n.  Fixed order: deterministic.
template <class T>
__global__ void partial_column_sums(const T* __restrict__ X, int64_t n, int64_t d, int64_t rows_per_chunk,
                                    double* __restrict__ partial) {
  __shared__ double acc[kRows][kTile + 1];  // +1: no bank conflicts on the column-wise final sum
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kTile + threadIdx.x;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
  const int64_t end = min(n, begin + rows_per_chunk);
  double s = 0.0;
  if (col < d)
    for (int64_t r = begin + threadIdx.y; r < end; r += kRows) s += static_cast<double>(X[r * d + col]);
  acc[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && col < d) {
    double t = 0.0;
    for (int k = 0; k < kRows; ++k) t += acc[k][threadIdx.x];
    partial[static_cast<int64_t>(blockIdx.y) * d + col] = t;
  }
}

template <class T>
__global__ void finish_means(const double* __restrict__ partial, int64_t chunks, int64_t n, int64_t d,
                             T* __restrict__ means) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= d) return;
  double s = 0.0;
  for (int64_t c = 0; c < chunks; ++c) s += partial[c * d + col];
  means[col] = static_cast<T>(s / static_cast<double>(n));
}

template <class T>
__global__ void centre_columns(const T* __restrict__ X, int64_t n, int64_t d, const T* __restrict__ means,
                               T* __restrict__ Xc) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kTile + threadIdx.x;
  if (col >= d) return;
  const T m = means[col];
  const int64_t step = static_cast<int64_t>(gridDim.y) * kRows;
  for (int64_t r = static_cast<int64_t>(blockIdx.y) * kRows + threadIdx.y; r < n; r += step)
    Xc[r * d + col] = X[r * d + col] - m;
}

// syrk wrote the upper triangle in cuBLAS's column-major view (element (i, j), i <= j, at i + j*d).
// Copy it onto the lower triangle so callers get the full, exactly symmetric matrix.  Each block
// handles one 32x32 destination tile below the diagonal and goes through shared memory, so both the
// reads (of the mirrored source tile) and the writes run along contiguous memory.
template <class T>
__global__ void mirror_upper_to_lower(T* C, int64_t d) {
  __shared__ T tile[kTile][kTile + 1];
  const int64_t bi = blockIdx.y, bj = blockIdx.x;  // destination tile: rows bi*32.., columns bj*32..
  if (bi < bj) return;                             // entirely above the diagonal: nothing to write
  const int64_t r0 = bi * kTile, c0 = bj * kTile;
  // Load source elements (c0 + tx, r0 + y), which sit in the upper triangle when c0 + tx <= r0 + y.
  for (int y = threadIdx.y; y < kTile; y += kRows) {
    const int64_t i = c0 + threadIdx.x, j = r0 + y;
    if (i < d && j < d && i <= j) tile[y][threadIdx.x] = C[i + j * d];
  }
  __syncthreads();
  // Store destination (r0 + tx, c0 + y) = source (c0 + y, r0 + tx) = tile[tx][y], strictly below the diagonal.
  for (int y = threadIdx.y; y < kTile; y += kRows) {
    const int64_t i = r0 + threadIdx.x, j = c0 + y;
    if (i < d && j < d && i > j) C[i + j * d] = tile[threadIdx.x][y];
  }
}

template <class T>
__global__ void correlation_kernel(const T* __restrict__ cov, int64_t d, T* __restrict__ corr) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kTile + threadIdx.x;
  if (col >= d) return;
  // Same arithmetic as the CPU kernel: cov[i, j] * (1/sd_i) * (1/sd_j) in T.
  const T inv_sd_col = T(1) / sqrt(cov[col * d + col]);
  const int64_t step = static_cast<int64_t>(gridDim.y) * kRows;
  for (int64_t row = static_cast<int64_t>(blockIdx.y) * kRows + threadIdx.y; row < d; row += step) {
    const T inv_sd_row = T(1) / sqrt(cov[row * d + row]);
    corr[row * d + col] = row == col ? T(1) : cov[row * d + col] * inv_sd_row * inv_sd_col;
  }
}

// ---------------------------------------------------------------------------------------------
// Host helpers

dim3 tile_block() { return dim3(kTile, kRows); }

// Grid for the row-walking kernels: one block column per 32 columns, enough block rows that each
// thread handles a few rows (fewer blocks than rows/8, capped by the grid's y limit).
dim3 row_walk_grid(int64_t rows, int64_t cols) {
  const int64_t gy = std::min(std::max<int64_t>(ceil_div(rows, kRows * 4), 1), kMaxGridY);
  return dim3(static_cast<unsigned>(ceil_div(cols, kTile)), static_cast<unsigned>(gy));
}

template <class T>
void launch_means(cudaStream_t stream, const T* X, int64_t n, int64_t d, T* means, void* workspace) {
  const int64_t chunks = mean_chunks(n, d);
  auto* partial = static_cast<double*>(workspace);
  const dim3 grid(static_cast<unsigned>(ceil_div(d, kTile)), static_cast<unsigned>(chunks));
  partial_column_sums<T><<<grid, tile_block(), 0, stream>>>(X, n, d, ceil_div(n, chunks), partial);
  FASTCRL_CUDA_CHECK_LAUNCH("partial_column_sums");
  finish_means<T><<<static_cast<unsigned>(ceil_div(d, 256)), 256, 0, stream>>>(partial, chunks, n, d, means);
  FASTCRL_CUDA_CHECK_LAUNCH("finish_means");
}

cublasStatus_t syrk_upper(cublasHandle_t h, int64_t d, int64_t k, const double* alpha, const double* A,
                          double* C) {
  const double beta = 0.0;
  return cublasDsyrk_64(h, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, d, k, alpha, A, d, &beta, C, d);
}
cublasStatus_t syrk_upper(cublasHandle_t h, int64_t d, int64_t k, const float* alpha, const float* A, float* C) {
  const float beta = 0.0f;
  return cublasSsyrk_64(h, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, d, k, alpha, A, d, &beta, C, d);
}

// C (d, d) = alpha * A^T A over the (k, d) row-major A, full symmetric.
template <class T>
void launch_syrk_full(int device, cudaStream_t stream, const T* A, int64_t k, int64_t d, T alpha, T* C) {
  require(ceil_div(d, kTile) <= kMaxGridY, "n_features=" + std::to_string(d) + " is too large");
  {
    detail::BlasHandle blas(device, stream);
    FASTCRL_CUBLAS_CHECK(syrk_upper(blas.get(), d, k, &alpha, A, C));
  }
  if (d > 1) {
    const auto tiles = static_cast<unsigned>(ceil_div(d, kTile));
    mirror_upper_to_lower<T><<<dim3(tiles, tiles), tile_block(), 0, stream>>>(C, d);
    FASTCRL_CUDA_CHECK_LAUNCH("mirror_upper_to_lower");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public launchers

std::size_t column_means_workspace_bytes(int64_t n, int64_t d, std::size_t /*itemsize*/) {
  check_shape(n, d);
  return align_up(checked_bytes(mean_chunks(n, d), d, sizeof(double)));
}

std::size_t covariance_workspace_bytes(int64_t n, int64_t d, std::size_t itemsize) {
  check_shape(n, d);
  return align_up(checked_bytes(n, d, itemsize)) + column_means_workspace_bytes(n, d, itemsize);
}

template <class T>
void column_means(const Launch& launch, const T* X, int64_t n, int64_t d, T* means, void* workspace,
                  std::size_t workspace_bytes) {
  const std::size_t need = column_means_workspace_bytes(n, d, sizeof(T));
  require(workspace_bytes >= need, "workspace too small: column_means needs " + std::to_string(need) +
                                       " bytes, got " + std::to_string(workspace_bytes));
  detail::DeviceScope scope(launch.device);
  launch_means(detail::as_stream(launch.stream), X, n, d, means, workspace);
}

template <class T>
void covariance(const Launch& launch, const T* X, int64_t n, int64_t d, int64_t ddof, T* cov, T* means,
                void* workspace, std::size_t workspace_bytes) {
  check_shape(n, d);
  require(ddof >= 0, "ddof must be >= 0; got " + std::to_string(ddof));
  require(n > ddof, "covariance needs n_samples > ddof; got n=" + std::to_string(n) + ", ddof=" + std::to_string(ddof));
  const std::size_t need = covariance_workspace_bytes(n, d, sizeof(T));
  require(workspace_bytes >= need, "workspace too small: covariance needs " + std::to_string(need) +
                                       " bytes, got " + std::to_string(workspace_bytes));
  detail::DeviceScope scope(launch.device);
  cudaStream_t stream = detail::as_stream(launch.stream);
  auto* centred = static_cast<T*>(workspace);
  void* means_ws = static_cast<char*>(workspace) + align_up(checked_bytes(n, d, sizeof(T)));
  launch_means(stream, X, n, d, means, means_ws);
  // Two-pass like np.cov: centring first keeps the accuracy when the means are large compared with
  // the spread (the one-pass X^T X - n m m^T would cancel catastrophically).
  centre_columns<T><<<row_walk_grid(n, d), tile_block(), 0, stream>>>(X, n, d, means, centred);
  FASTCRL_CUDA_CHECK_LAUNCH("centre_columns");
  const T alpha = T(1) / static_cast<T>(n - ddof);
  launch_syrk_full(launch.device, stream, centred, n, d, alpha, cov);
}

template <class T>
void gram(const Launch& launch, const T* X, int64_t n, int64_t d, double scale, T* out) {
  check_shape(n, d);
  require(scale > 0.0 && std::isfinite(scale), "gram scale must be positive and finite; got " + std::to_string(scale));
  detail::DeviceScope scope(launch.device);
  const T alpha = T(1) / static_cast<T>(scale);
  launch_syrk_full(launch.device, detail::as_stream(launch.stream), X, n, d, alpha, out);
}

template <class T>
void correlation_from_covariance(const Launch& launch, const T* cov, int64_t d, T* corr) {
  require(d >= 1, "cov must have at least one row and column");
  require(static_cast<const void*>(cov) != static_cast<const void*>(corr),
          "correlation_from_covariance cannot work in place: the diagonal is read while being overwritten");
  detail::DeviceScope scope(launch.device);
  correlation_kernel<T><<<row_walk_grid(d, d), tile_block(), 0, detail::as_stream(launch.stream)>>>(cov, d, corr);
  FASTCRL_CUDA_CHECK_LAUNCH("correlation_kernel");
}

#define FASTCRL_CUDA_INSTANTIATE(T)                                                                      \
  template void column_means<T>(const Launch&, const T*, int64_t, int64_t, T*, void*, std::size_t);       \
  template void covariance<T>(const Launch&, const T*, int64_t, int64_t, int64_t, T*, T*, void*,          \
                              std::size_t);                                                              \
  template void gram<T>(const Launch&, const T*, int64_t, int64_t, double, T*);                          \
  template void correlation_from_covariance<T>(const Launch&, const T*, int64_t, T*);
FASTCRL_CUDA_INSTANTIATE(double)
FASTCRL_CUDA_INSTANTIATE(float)
#undef FASTCRL_CUDA_INSTANTIATE

}  // namespace fastcrl::cuda
