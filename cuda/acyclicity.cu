// Acyclicity constraints on the GPU: the CUDA twins of cpp/src/acyclicity.cpp.
//
// Layout: W is a stack of row-major d x d matrices.  cuBLAS/cuSOLVER are column-major, so they see
// every buffer as its transpose.  That is harmless for matrix functions of A = W∘W (a polynomial in
// A^T is the transpose of the same polynomial in A, so the memory holds the row-major result), and
// the log-det gradient is arranged so that its buffer also reads row-major (see logdet_constraint).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "check.cuh"
#include "fastcrl/cuda/acyclicity.hpp"

namespace fastcrl::cuda {

namespace {

using std::int64_t;

constexpr std::size_t kAlign = 256;
constexpr int kThreads = 256;
constexpr int kMaxTaylor = 30;  // Taylor degrees tried for exp(A / 2^s) - I
constexpr int kMaxPowers = 6;   // ceil(sqrt(kMaxTaylor)): powers kept by Paterson-Stockmeyer
constexpr int kCheckEvery = 16; // power-iteration steps between host convergence checks

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

std::size_t align_up(std::size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

/// batch * d * d elements, with the shape checks every entry point shares.
std::size_t stack_elems(int64_t batch, int64_t d) {
  require(batch >= 1, "W must hold at least one matrix; got batch=" + std::to_string(batch));
  require(d >= 1, "W must have at least one node; got d=" + std::to_string(d));
  // cuBLAS takes int dimensions and long long strides.
  require(d <= INT_MAX / 2 && batch <= INT_MAX, "W of shape (" + std::to_string(batch) + ", " + std::to_string(d) +
                                                    ", " + std::to_string(d) + ") is too large");
  std::size_t dd = 0, n = 0;
  if (__builtin_mul_overflow(static_cast<std::size_t>(d), static_cast<std::size_t>(d), &dd) ||
      __builtin_mul_overflow(dd, static_cast<std::size_t>(batch), &n))
    throw std::invalid_argument("W is too large");
  return n;
}

unsigned grid_for(std::size_t n) {
  return static_cast<unsigned>(std::min<std::size_t>((n + kThreads - 1) / kThreads, 65535u * 8u));
}

/// Hands out 256-byte aligned pieces of the caller's workspace.
class Carver {
 public:
  Carver(void* base, std::size_t bytes) : base_(static_cast<char*>(base)), bytes_(bytes) {}
  template <class U>
  U* take(std::size_t count) {
    U* p = reinterpret_cast<U*>(base_ + used_);
    used_ += align_up(count * sizeof(U));
    if (used_ > bytes_) throw std::invalid_argument("workspace too small");  // callers size it first
    return p;
  }

 private:
  char* base_;
  std::size_t bytes_;
  std::size_t used_ = 0;
};

void check_workspace(std::size_t have, std::size_t need, const char* what) {
  require(have >= need, std::string("workspace too small: ") + what + " needs " + std::to_string(need) +
                            " bytes, got " + std::to_string(have));
}

// ---------------------------------------------------------------------------------------------
// cuSOLVER handles, cached per device like the cuBLAS ones (check.cuh) and locked while in use.

const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default: return "cusolverStatus_t";
  }
}

void check_cusolver(cusolverStatus_t s, const char* call, int line) {
  if (s != CUSOLVER_STATUS_SUCCESS)
    throw CudaError(std::string(call) + " failed: " + cusolver_status_name(s) + " (" +
                    std::to_string(static_cast<int>(s)) +
                    ") (acyclicity.cu:" + std::to_string(line) + ")");
}
#define FASTCRL_CUSOLVER_CHECK(call) check_cusolver((call), #call, __LINE__)

struct SolverSlot {
  std::mutex mutex;
  cusolverDnHandle_t handle = nullptr;
};

class SolverHandle {
 public:
  SolverHandle(int device, cudaStream_t stream) {
    static std::mutex registry_mutex;
    // Leaked on purpose, as the cuBLAS handles: destroying them at interpreter exit can crash.
    static auto* registry = new std::map<int, std::unique_ptr<SolverSlot>>();
    SolverSlot* slot = nullptr;
    {
      std::lock_guard<std::mutex> guard(registry_mutex);
      auto& s = (*registry)[device];
      if (!s) s = std::make_unique<SolverSlot>();
      slot = s.get();
    }
    lock_ = std::unique_lock<std::mutex>(slot->mutex);
    if (slot->handle == nullptr) FASTCRL_CUSOLVER_CHECK(cusolverDnCreate(&slot->handle));
    FASTCRL_CUSOLVER_CHECK(cusolverDnSetStream(slot->handle, stream));
    handle_ = slot->handle;
  }
  cusolverDnHandle_t get() const { return handle_; }

 private:
  std::unique_lock<std::mutex> lock_;
  cusolverDnHandle_t handle_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Typed cuBLAS/cuSOLVER entry points.

cublasStatus_t gemm_batched(cublasHandle_t h, int d, const double* alpha, const double* A, const double* B,
                            const double* beta, double* C, int batch) {
  const long long s = static_cast<long long>(d) * d;
  return cublasDgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, d, d, d, alpha, A, d, s, B, d, s, beta, C, d, s, batch);
}
cublasStatus_t gemm_batched(cublasHandle_t h, int d, const float* alpha, const float* A, const float* B,
                            const float* beta, float* C, int batch) {
  const long long s = static_cast<long long>(d) * d;
  return cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, d, d, d, alpha, A, d, s, B, d, s, beta, C, d, s, batch);
}

cublasStatus_t trsm(cublasHandle_t h, cublasFillMode_t fill, cublasDiagType_t diag, int d, const double* LU,
                    double* X) {
  const double one = 1.0;
  return cublasDtrsm(h, CUBLAS_SIDE_LEFT, fill, CUBLAS_OP_T, diag, d, d, &one, LU, d, X, d);
}
cublasStatus_t trsm(cublasHandle_t h, cublasFillMode_t fill, cublasDiagType_t diag, int d, const float* LU,
                    float* X) {
  const float one = 1.0f;
  return cublasStrsm(h, CUBLAS_SIDE_LEFT, fill, CUBLAS_OP_T, diag, d, d, &one, LU, d, X, d);
}

cusolverStatus_t getrf_buffer(cusolverDnHandle_t h, int d, double* A, int* lwork) {
  return cusolverDnDgetrf_bufferSize(h, d, d, A, d, lwork);
}
cusolverStatus_t getrf_buffer(cusolverDnHandle_t h, int d, float* A, int* lwork) {
  return cusolverDnSgetrf_bufferSize(h, d, d, A, d, lwork);
}
// devIpiv = nullptr: no pivoting (documented cuSOLVER behaviour), which the domain test needs.
cusolverStatus_t getrf_nopivot(cusolverDnHandle_t h, int d, double* A, double* work, int* info) {
  return cusolverDnDgetrf(h, d, d, A, d, work, nullptr, info);
}
cusolverStatus_t getrf_nopivot(cusolverDnHandle_t h, int d, float* A, float* work, int* info) {
  return cusolverDnSgetrf(h, d, d, A, d, work, nullptr, info);
}

// ---------------------------------------------------------------------------------------------
// Kernels.  Element loops are grid-stride over the whole stack (k = b * d*d + i * d + j).

__device__ __forceinline__ bool finite_value(double v) { return isfinite(v); }
__device__ __forceinline__ bool finite_value(float v) { return isfinite(v); }

/// Block-wide sum and max (256 threads), results valid in thread 0.
__device__ double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  const double r = shared[0];
  __syncthreads();
  return r;
}
__device__ double block_max(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) shared[threadIdx.x] = fmax(shared[threadIdx.x], shared[threadIdx.x + s]);
    __syncthreads();
  }
  const double r = shared[0];
  __syncthreads();
  return r;
}
__device__ double block_min(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) shared[threadIdx.x] = fmin(shared[threadIdx.x], shared[threadIdx.x + s]);
    __syncthreads();
  }
  const double r = shared[0];
  __syncthreads();
  return r;
}

/// A = W∘W / divisor (divisor 1, or d for the polynomial constraint).
template <class T, class U>
__global__ void square_entries(const T* __restrict__ W, std::size_t n, U divisor, U* __restrict__ A) {
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const U w = static_cast<U>(W[k]);
    A[k] = divisor == U(1) ? w * w : w * w / divisor;
  }
}

/// colsum[b * d + j] = sum_i A[b, i, j] (accumulated in double): block (32 columns x 8 rows), the
/// matrices grid-stride on the y axis (at most 65535 blocks there).
template <class T>
__global__ void column_sums(const T* __restrict__ A, int64_t batch, int64_t d, double* __restrict__ colsum) {
  __shared__ double acc[8][33];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  for (int64_t b = blockIdx.y; b < batch; b += gridDim.y) {  // uniform per block: barriers are safe
    const T* Ab = A + b * d * d;
    double s = 0.0;
    if (j < d)
      for (int64_t i = threadIdx.y; i < d; i += 8) s += static_cast<double>(Ab[i * d + j]);
    acc[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && j < d) {
      double t = 0.0;
      for (int k = 0; k < 8; ++k) t += acc[k][threadIdx.x];
      colsum[b * d + j] = t;
    }
    __syncthreads();  // acc is rewritten for the next matrix
  }
}

/// norms[b] = ||A_b||_1 = max_j colsum[b, j], one block per matrix (grid-stride).  A matrix whose
/// norm exceeds max_value or is NaN (a non-finite W) is marked kAcyclicityOverflow and gets norm 0,
/// so that it does not set the scaling of the others.
__global__ void matrix_norms(const double* __restrict__ colsum, int64_t batch, int64_t d, double max_value,
                             double* __restrict__ norms, std::int32_t* __restrict__ status) {
  __shared__ double sh[kThreads];
  for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    double m = 0.0, bad = 0.0;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      const double c = colsum[b * d + j];
      if (c <= max_value) m = fmax(m, c);
      else bad = 1.0;  // also NaN
    }
    m = block_max(m, sh);
    bad = block_max(bad, sh);
    if (threadIdx.x == 0) {
      norms[b] = bad > 0.0 ? 0.0 : m;
      if (bad > 0.0) status[b] = kAcyclicityOverflow;
    }
  }
}

/// out[0] = max of v[0..n) (one block); v holds no NaN (matrix_norms zeroes those norms).
__global__ void max_of(const double* __restrict__ v, std::size_t n, double* __restrict__ out) {
  __shared__ double sh[kThreads];
  double m = 0.0;
  for (std::size_t k = threadIdx.x; k < n; k += blockDim.x) m = fmax(m, v[k]);
  m = block_max(m, sh);
  if (threadIdx.x == 0) out[0] = m;
}

template <class T>
__global__ void scale_entries(T* __restrict__ x, std::size_t n, T alpha) {
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    x[k] *= alpha;
}

/// out = diag * I + sum_t coef[t] * P[t] over a stack (Paterson-Stockmeyer's blocks, sums of
/// non-negative terms).
template <class T>
struct LinComb {
  const T* P[kMaxPowers + 1];
  T coef[kMaxPowers + 1];
  int count;
  T diag;
};

template <class T>
__global__ void linear_combination(LinComb<T> lc, int64_t d, std::size_t n, T* __restrict__ out) {
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t r = k % dd;
    T v = (r / d == r % d) ? lc.diag : T(0);
    for (int t = 0; t < lc.count; ++t) v += lc.coef[t] * lc.P[t][k];
    out[k] = v;
  }
}

template <class T>
__global__ void add_entries(const T* __restrict__ x, const T* __restrict__ y, std::size_t n, T* __restrict__ out) {
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[k] = x[k] + y[k];
}

__global__ void fill_status(std::int32_t* status, int64_t batch, std::int32_t value) {
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < batch;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x)
    status[b] = value;
}

/// grad = 2 W ∘ (F^T + I) for F = f(A) - I, and h[b] = sum_i F[b, i, i] + extra (extra: the poly
/// constraint's tr((G - I)(P - I)) + tr(P - I), computed by poly_trace_extra first, else 0).
/// Non-finite F entries mark the matrix kAcyclicityOverflow.
template <class T>
__global__ void grad_from_function(const T* __restrict__ W, const T* __restrict__ F, int64_t d, std::size_t n,
                                   T* __restrict__ grad, std::int32_t* __restrict__ status) {
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t b = k / dd, r = k % dd, i = r / d, j = r % d;
    const T f = F[b * dd + j * d + i];
    if (!finite_value(f)) atomicMax(status + b, static_cast<std::int32_t>(kAcyclicityOverflow));
    grad[k] = T(2) * W[k] * (i == j ? f + T(1) : f);
  }
}

/// h[b] = trace(F[b]) + extra, in double, one block per matrix (fixed order: deterministic).
/// With `poly`, extra = sum_ij F[i, j] P[j, i] + tr(P) for P = W∘W / d (P^k - I carried).
template <class T>
__global__ void trace_value(const T* __restrict__ F, const T* __restrict__ W, int64_t d, bool poly, T* __restrict__ h,
                            std::int32_t* __restrict__ status) {
  __shared__ double sh[kThreads];
  const int64_t b = blockIdx.x;
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  const T* Fb = F + b * dd;
  const T* Wb = W + b * dd;
  double s = 0.0;
  if (!poly) {
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) s += static_cast<double>(Fb[i * d + i]);
  } else {
    const double inv_d = 1.0 / static_cast<double>(d);
    for (std::size_t r = threadIdx.x; r < dd; r += blockDim.x) {
      const std::size_t i = r / d, j = r % d;
      const double w = static_cast<double>(Wb[j * d + i]);
      s += static_cast<double>(Fb[r]) * (w * w * inv_d);
      if (i == j) s += static_cast<double>(Fb[r]) + w * w * inv_d;
    }
  }
  s = block_sum(s, sh);
  if (threadIdx.x == 0) {
    const T v = static_cast<T>(s) + T(0);  // + 0: no -0.0
    if (!finite_value(v)) atomicMax(status + b, static_cast<std::int32_t>(kAcyclicityOverflow));
    h[b] = v;
  }
}

// --- log-det

/// M = sI - W∘W; square_bad[b] = 1 (zeroed before) where a square overflows or W is not finite, which
/// the CPU kernel reports as "W∘W overflows" whatever the domain policy.
template <class T>
__global__ void form_mmatrix(const T* __restrict__ W, int64_t d, std::size_t n, T s, T max_value,
                             int* __restrict__ square_bad, T* __restrict__ M) {
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t r = k % dd;
    const T a = W[k] * W[k];
    if (!(a <= max_value)) square_bad[k / dd] = 1;  // every writer stores 1: no atomic needed
    M[k] = (r / d == r % d) ? -a + s : -a;
  }
}

template <class T>
__global__ void set_identity(T* __restrict__ X, int64_t d, std::size_t n) {
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t r = k % dd;
    X[k] = (r / d == r % d) ? T(1) : T(0);
  }
}

/// Domain test and h from the LU pivots (the diagonal of U): every pivot above min_pivot, else the
/// matrix is outside the domain; h = -sum log(pivot / s) in double, as the CPU kernel.  A matrix with
/// square_bad set is kAcyclicityOverflow whatever its pivots (the CPU kernel checks W∘W first).
template <class T>
__global__ void logdet_from_pivots(const T* __restrict__ LU, int64_t d, double s, T min_pivot,
                                   const int* __restrict__ square_bad, T* __restrict__ h,
                                   std::int32_t* __restrict__ status) {
  __shared__ double sh[kThreads];
  const int64_t b = blockIdx.x;
  const T* Ub = LU + b * d * d;
  double sum = 0.0, bad = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const T p = Ub[i * d + i];
    if (!(p > min_pivot) || !finite_value(p)) bad = 1.0;
    else sum += log(static_cast<double>(p) / s);
  }
  sum = block_sum(sum, sh);
  bad = block_max(bad, sh);
  if (threadIdx.x == 0) {
    if (square_bad[b]) {
      status[b] = kAcyclicityOverflow;  // h is set by logdet_grad
    } else if (bad > 0.0) {
      status[b] = kAcyclicityOutsideDomain;
      h[b] = static_cast<T>(INFINITY);
    } else {
      status[b] = kAcyclicityOk;
      h[b] = static_cast<T>(-sum) + T(0);
    }
  }
}

template <class T>
__global__ void flag_nonfinite(const T* __restrict__ X, int64_t d, std::size_t n, std::int32_t* __restrict__ status) {
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    if (!finite_value(X[k]))
      atomicMax(status + k / dd, static_cast<std::int32_t>(kAcyclicityOverflow));
}

/// grad = 2 W ∘ Y (Y holds (sI - A)^{-T} row-major); flagged matrices get NaN and h = +inf, or
/// h = NaN where W∘W overflows, so that a caller reading only h can tell that error from leaving
/// the domain (the GPU optimisers: one host read per step).
template <class T>
__global__ void logdet_grad(const T* __restrict__ W, const T* __restrict__ Y, int64_t d, std::size_t n,
                            const std::int32_t* __restrict__ status, const int* __restrict__ square_bad,
                            T* __restrict__ grad, T* __restrict__ h) {
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t b = k / dd;
    if (status[b] != kAcyclicityOk) {
      grad[k] = static_cast<T>(NAN);
      if (k % dd == 0) h[b] = square_bad[b] ? static_cast<T>(NAN) : static_cast<T>(INFINITY);
    } else {
      grad[k] = T(2) * W[k] * Y[k];
    }
  }
}

// --- spectral radius (all in double)

__global__ void fill_double(double* x, std::size_t n, double v) {
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    x[k] = v;
}

/// One step for matrix blockIdx.x: bracket from y = A x, then x <- (y + c x) / max, v <- (z + c v) / max
/// with z = A^T v and c the bracket's midpoint.  Converged matrices are left alone.
__global__ void power_step(double* __restrict__ x, double* __restrict__ v, const double* __restrict__ y,
                           const double* __restrict__ z, int64_t d, double tol, int step, double* __restrict__ lo,
                           double* __restrict__ hi, std::int32_t* __restrict__ iters,
                           std::int32_t* __restrict__ status) {
  __shared__ double sh[kThreads];
  const int64_t b = blockIdx.x;
  if (status[b] == kAcyclicityOk) return;  // uniform per block: no thread is left at a barrier
  double* xb = x + b * d;
  double* vb = v + b * d;
  const double* yb = y + b * d;
  const double* zb = z + b * d;
  double mn = INFINITY, mx = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const double r = yb[i] / xb[i];
    mn = fmin(mn, r);
    mx = fmax(mx, r);
  }
  mn = block_min(mn, sh);
  mx = block_max(mx, sh);
  const bool done = mx == 0.0 || mx - mn <= tol * mx;
  if (threadIdx.x == 0) {
    lo[b] = mx == 0.0 ? 0.0 : mn;
    hi[b] = mx;
    iters[b] = step;
    if (done) status[b] = kAcyclicityOk;
  }
  if (done) return;
  const double c = 0.5 * (mn + mx);
  double xm = 0.0, vm = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    xm = fmax(xm, yb[i] + c * xb[i]);
    vm = fmax(vm, zb[i] + c * vb[i]);
  }
  xm = block_max(xm, sh);
  vm = block_max(vm, sh);
  // Floored at a tiny normal number: the Collatz-Wielandt bounds need x > 0, and entries of nodes
  // that do not reach the dominant component would otherwise underflow to 0 over many steps.
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    xb[i] = fmax((yb[i] + c * xb[i]) / xm, 1e-300);
    vb[i] = fmax((zb[i] + c * vb[i]) / vm, 1e-300);
  }
}

/// rho[b] = midpoint, dots[b] = v^T u.
template <class T>
__global__ void power_finish(const double* __restrict__ x, const double* __restrict__ v, int64_t d,
                             const double* __restrict__ lo, const double* __restrict__ hi, T* __restrict__ rho,
                             double* __restrict__ dots) {
  __shared__ double sh[kThreads];
  const int64_t b = blockIdx.x;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) s += x[b * d + i] * v[b * d + i];
  s = block_sum(s, sh);
  if (threadIdx.x == 0) {
    rho[b] = static_cast<T>(0.5 * (lo[b] + hi[b]));
    dots[b] = s;
  }
}

/// grad = 2 W ∘ v u^T / (v^T u) (zero when rho = 0).
template <class T>
__global__ void power_grad(const T* __restrict__ W, const double* __restrict__ x, const double* __restrict__ v,
                           const double* __restrict__ dots, const double* __restrict__ hi, int64_t d, std::size_t n,
                           T* __restrict__ grad) {
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t b = k / dd, r = k % dd, i = r / d, j = r % d;
    const double g = hi[b] == 0.0 ? 0.0 : 2.0 * static_cast<double>(W[k]) * v[b * d + i] * x[b * d + j] / dots[b];
    grad[k] = static_cast<T>(g);
  }
}

/// P = the zero pattern of A = W∘W (squared in double, as square_entries<T, double>) as 0/1 floats.
template <class T>
__global__ void square_pattern(const T* __restrict__ W, std::size_t n, float* __restrict__ P) {
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const double w = static_cast<double>(W[k]);
    P[k] = w * w > 0.0 ? 1.0f : 0.0f;
  }
}

__global__ void binarize(float* __restrict__ P, std::size_t n) {
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    P[k] = P[k] > 0.0f ? 1.0f : 0.0f;
}

/// Unconverged matrices whose pattern P (of A^(2^k), 2^k >= d) is empty are nilpotent: rho = 0
/// exactly, lo = hi = 0 (so power_finish and power_grad give 0), status ok.  One block per matrix.
__global__ void accept_nilpotent(const float* __restrict__ P, int64_t batch, int64_t d, double* __restrict__ lo,
                                 double* __restrict__ hi, std::int32_t* __restrict__ status) {
  __shared__ double sh[kThreads];
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    double any = 0.0;
    for (std::size_t r = threadIdx.x; r < dd; r += blockDim.x) any = fmax(any, static_cast<double>(P[b * dd + r]));
    any = block_max(any, sh);
    if (threadIdx.x == 0 && any == 0.0 && status[b] == kAcyclicityNotConverged) {
      lo[b] = hi[b] = 0.0;
      status[b] = kAcyclicityOk;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Taylor degree and scaling for exp(A / 2^s) - I.

struct TaylorPlan {
  int s = 0;
  int K = 1;
};

/// Products Paterson-Stockmeyer needs for degree K: powers B^2..B^m and q Horner steps, the first
/// one free when the top block is a multiple of I.
int ps_products(int K) {
  const int m = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(K))));
  const int q = K / m;
  return (m - 1) + q - (K % m == 0 ? 1 : 0);
}

/// For B >= 0 with ||B||_1 = beta the tail sum_{k>K} B^k/k! has norm <= beta^(K+1)/(K+1)! / (1 - beta/(K+2)),
/// and ||exp(B) - I||_1 >= beta: pick the cheapest (s, K) with the relative tail below u.
TaylorPlan plan_taylor(double norm, double unit_roundoff) {
  TaylorPlan best;
  if (!(norm > 0.0)) return best;  // A = 0: exp(A) - I = 0, one term is exact
  int best_cost = INT_MAX;
  const double log_u = std::log(unit_roundoff);
  for (int s = 0; s < 1100 && s < best_cost; ++s) {
    const double beta = std::ldexp(norm, -s);
    for (int K = 1; K <= kMaxTaylor; ++K) {
      if (beta >= K + 2) continue;
      const double log_tail = K * std::log(beta) - std::lgamma(K + 2.0) - std::log1p(-beta / (K + 2));
      if (log_tail <= log_u) {
        const int cost = ps_products(K) + s;
        if (cost < best_cost) {
          best_cost = cost;
          best.s = s;
          best.K = K;
        }
        break;
      }
    }
  }
  return best;
}

template <class T>
void launch_lincomb(cudaStream_t stream, const LinComb<T>& lc, int64_t d, std::size_t n, T* out) {
  linear_combination<T><<<grid_for(n), kThreads, 0, stream>>>(lc, d, n, out);
  FASTCRL_CUDA_CHECK_LAUNCH("linear_combination");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public launchers

std::size_t expm_workspace_bytes(int64_t batch, int64_t d, std::size_t itemsize) {
  const std::size_t n = stack_elems(batch, d);
  // Powers B..B^m (m <= 6), the Horner accumulator and its successor; column sums; the norms of
  // the matrices; their maximum.
  return (kMaxPowers + 2) * align_up(n * itemsize) + align_up(static_cast<std::size_t>(batch * d) * sizeof(double)) +
         align_up(static_cast<std::size_t>(batch) * sizeof(double)) + kAlign;
}

std::size_t poly_workspace_bytes(int64_t batch, int64_t d, std::size_t itemsize) {
  return 4 * align_up(stack_elems(batch, d) * itemsize);
}

std::size_t spectral_radius_workspace_bytes(int64_t batch, int64_t d, std::size_t /*itemsize*/) {
  const std::size_t n = stack_elems(batch, d);
  return align_up(n * sizeof(double)) + 4 * align_up(static_cast<std::size_t>(batch * d) * sizeof(double)) +
         align_up(static_cast<std::size_t>(batch) * sizeof(double));
}

namespace {
/// M and Y (n elements each), getrf's work array, its info per matrix, the square_bad flags.
std::size_t logdet_need(std::size_t n, int64_t batch, int lwork, std::size_t itemsize) {
  return 2 * align_up(n * itemsize) + align_up(static_cast<std::size_t>(std::max(lwork, 1)) * itemsize) +
         2 * align_up(static_cast<std::size_t>(batch) * sizeof(int));
}

template <class T>
std::size_t logdet_bytes(const Launch& launch, const void* W, int64_t batch, int64_t d) {
  const std::size_t n = stack_elems(batch, d);
  int lwork = 0;
  {
    detail::DeviceScope scope(launch.device);
    SolverHandle solver(launch.device, detail::as_stream(launch.stream));
    // The query never writes; a real matrix pointer rather than null keeps it within the API's contract.
    T* A = static_cast<T*>(const_cast<void*>(W));
    FASTCRL_CUSOLVER_CHECK(getrf_buffer(solver.get(), static_cast<int>(d), A, &lwork));
  }
  return logdet_need(n, batch, lwork, sizeof(T));
}
}  // namespace

std::size_t logdet_workspace_bytes(const Launch& launch, const void* W, int64_t batch, int64_t d,
                                   std::size_t itemsize) {
  require(itemsize == 4 || itemsize == 8, "itemsize must be 4 or 8");
  return itemsize == 8 ? logdet_bytes<double>(launch, W, batch, d) : logdet_bytes<float>(launch, W, batch, d);
}

template <class T>
void expm_constraint(const Launch& launch, const T* W, int64_t batch, int64_t d, T* h, T* grad, std::int32_t* status,
                     void* workspace, std::size_t workspace_bytes) {
  const std::size_t n = stack_elems(batch, d);
  check_workspace(workspace_bytes, expm_workspace_bytes(batch, d, sizeof(T)), "expm_constraint");
  detail::DeviceScope scope(launch.device);
  cudaStream_t stream = detail::as_stream(launch.stream);
  Carver ws(workspace, workspace_bytes);
  T* pw[kMaxPowers + 1] = {};  // pw[i] = B^i, i = 1..m
  for (int i = 1; i <= kMaxPowers; ++i) pw[i] = ws.template take<T>(n);
  T* P = ws.template take<T>(n);
  T* C = ws.template take<T>(n);
  auto* colsum = ws.template take<double>(static_cast<std::size_t>(batch * d));
  auto* norms = ws.template take<double>(static_cast<std::size_t>(batch));
  auto* norm_dev = ws.template take<double>(1);

  fill_status<<<1, kThreads, 0, stream>>>(status, batch, kAcyclicityOk);
  FASTCRL_CUDA_CHECK_LAUNCH("fill_status");
  square_entries<T, T><<<grid_for(n), kThreads, 0, stream>>>(W, n, T(1), pw[1]);
  FASTCRL_CUDA_CHECK_LAUNCH("square_entries");
  column_sums<T><<<dim3(static_cast<unsigned>((d + 31) / 32), static_cast<unsigned>(std::min<int64_t>(batch, 65535))),
                   dim3(32, 8), 0, stream>>>(pw[1], batch, d, colsum);
  FASTCRL_CUDA_CHECK_LAUNCH("column_sums");
  // A matrix whose ||A||_1 overflows is flagged alone (its exp overflows too); the others are
  // planned from the largest finite norm, as if they had been passed without it.
  matrix_norms<<<static_cast<unsigned>(std::min<int64_t>(batch, 65535)), kThreads, 0, stream>>>(
      colsum, batch, d, static_cast<double>(std::numeric_limits<T>::max()), norms, status);
  FASTCRL_CUDA_CHECK_LAUNCH("matrix_norms");
  max_of<<<1, kThreads, 0, stream>>>(norms, static_cast<std::size_t>(batch), norm_dev);
  FASTCRL_CUDA_CHECK_LAUNCH("max_of");
  // The one host synchronisation: the degree and the scaling depend on ||A||_1.
  double norm = 0.0;
  FASTCRL_CUDA_CHECK(cudaMemcpyAsync(&norm, norm_dev, sizeof(double), cudaMemcpyDeviceToHost, stream));
  FASTCRL_CUDA_CHECK(cudaStreamSynchronize(stream));
  const TaylorPlan plan = plan_taylor(norm, std::numeric_limits<T>::epsilon() / 2);
  if (plan.s > 0) {
    // 2^-s is exact: the scaled matrix carries no new rounding (unless entries underflow).
    scale_entries<T><<<grid_for(n), kThreads, 0, stream>>>(pw[1], n, static_cast<T>(std::ldexp(1.0, -plan.s)));
    FASTCRL_CUDA_CHECK_LAUNCH("scale_entries");
  }
  const int K = plan.K;
  const int m = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(K))));
  const int q = K / m;
  auto coef = [K](int k) { return (k < 1 || k > K) ? 0.0 : std::exp(-std::lgamma(k + 1.0)); };
  const int di = static_cast<int>(d), bi = static_cast<int>(batch);
  const T one = 1, two = 2, zero = 0;
  // Q_j = sum_{i<m} c_{jm+i} B^i (B^0 = I) into `out`.
  auto block = [&](int j, T* out) {
    LinComb<T> lc{};
    lc.diag = static_cast<T>(coef(j * m));
    lc.count = 0;
    for (int i = 1; i < m; ++i) {
      const double c = coef(j * m + i);
      if (c == 0.0) continue;
      lc.P[lc.count] = pw[i];
      lc.coef[lc.count] = static_cast<T>(c);
      ++lc.count;
    }
    launch_lincomb(stream, lc, d, n, out);
  };
  {
    detail::BlasHandle blas(launch.device, stream);
    for (int i = 2; i <= m; ++i)
      FASTCRL_CUBLAS_CHECK(gemm_batched(blas.get(), di, &one, pw[i - 1], pw[1], &zero, pw[i], bi));
    int j;
    if (K % m == 0) {  // the top block is c_K I: P = c_K B^m + Q_{q-1} without a product
      block(q - 1, P);
      LinComb<T> lc{};
      lc.P[0] = P;
      lc.coef[0] = one;
      lc.P[1] = pw[m];
      lc.coef[1] = static_cast<T>(coef(K));
      lc.count = 2;
      lc.diag = zero;
      launch_lincomb(stream, lc, d, n, C);
      std::swap(P, C);
      j = q - 2;
    } else {
      block(q, P);
      j = q - 1;
    }
    for (; j >= 0; --j) {
      block(j, C);
      FASTCRL_CUBLAS_CHECK(gemm_batched(blas.get(), di, &one, P, pw[m], &one, C, bi));
      std::swap(P, C);
    }
    // Squaring on F = exp(B) - I: (F + I)^2 - I = F F + 2F.
    for (int k = 0; k < plan.s; ++k) {
      FASTCRL_CUDA_CHECK(cudaMemcpyAsync(C, P, n * sizeof(T), cudaMemcpyDeviceToDevice, stream));
      FASTCRL_CUBLAS_CHECK(gemm_batched(blas.get(), di, &one, P, P, &two, C, bi));
      std::swap(P, C);
    }
  }
  grad_from_function<T><<<grid_for(n), kThreads, 0, stream>>>(W, P, d, n, grad, status);
  FASTCRL_CUDA_CHECK_LAUNCH("grad_from_function");
  trace_value<T><<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(P, W, d, false, h, status);
  FASTCRL_CUDA_CHECK_LAUNCH("trace_value");
}

template <class T>
void logdet_constraint(const Launch& launch, const T* W, int64_t batch, int64_t d, double s, T* h, T* grad,
                       std::int32_t* status, void* workspace, std::size_t workspace_bytes) {
  const std::size_t n = stack_elems(batch, d);
  require(s > 0.0 && std::isfinite(s), "s must be positive and finite; got " + std::to_string(s));
  detail::DeviceScope scope(launch.device);
  cudaStream_t stream = detail::as_stream(launch.stream);
  const int di = static_cast<int>(d);
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  SolverHandle solver(launch.device, stream);  // taken before the cuBLAS handle: one lock order everywhere
  int lwork = 0;
  FASTCRL_CUSOLVER_CHECK(getrf_buffer(solver.get(), di, const_cast<T*>(W), &lwork));
  check_workspace(workspace_bytes, logdet_need(n, batch, lwork, sizeof(T)), "logdet_constraint");
  Carver ws(workspace, workspace_bytes);
  T* M = ws.template take<T>(n);
  T* Y = ws.template take<T>(n);
  T* work = ws.template take<T>(static_cast<std::size_t>(std::max(lwork, 1)));
  int* info = ws.template take<int>(static_cast<std::size_t>(batch));
  int* square_bad = ws.template take<int>(static_cast<std::size_t>(batch));

  // Row-major M = sI - A is M^T column-major; det and the no-pivoting pivots of M^T equal M's.
  FASTCRL_CUDA_CHECK(cudaMemsetAsync(square_bad, 0, static_cast<std::size_t>(batch) * sizeof(int), stream));
  form_mmatrix<T><<<grid_for(n), kThreads, 0, stream>>>(W, d, n, static_cast<T>(s), std::numeric_limits<T>::max(),
                                                        square_bad, M);
  FASTCRL_CUDA_CHECK_LAUNCH("form_mmatrix");
  for (int64_t b = 0; b < batch; ++b)
    FASTCRL_CUSOLVER_CHECK(getrf_nopivot(solver.get(), di, M + b * dd, work, info + b));
  // The margin of the CPU kernel: pivots within 2 (d + 1) eps s of 0 count as outside the domain.
  const T min_pivot = static_cast<T>(2.0 * static_cast<double>(d + 1) * std::numeric_limits<T>::epsilon() * s);
  logdet_from_pivots<T><<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(M, d, s, min_pivot, square_bad, h,
                                                                                status);
  FASTCRL_CUDA_CHECK_LAUNCH("logdet_from_pivots");
  // Y with (M^T)^T Y = I column-major, i.e. Y = M^{-1} column-major = M^{-T} row-major: solve
  // U^T Z = I, then L^T Y = Z (M^T = L U).  The factors of an M-matrix have non-positive
  // off-diagonal entries, so the substitutions only add non-negative numbers.
  set_identity<T><<<grid_for(n), kThreads, 0, stream>>>(Y, d, n);
  FASTCRL_CUDA_CHECK_LAUNCH("set_identity");
  {
    detail::BlasHandle blas(launch.device, stream);
    for (int64_t b = 0; b < batch; ++b) {
      FASTCRL_CUBLAS_CHECK(trsm(blas.get(), CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, di, M + b * dd, Y + b * dd));
      FASTCRL_CUBLAS_CHECK(trsm(blas.get(), CUBLAS_FILL_MODE_LOWER, CUBLAS_DIAG_UNIT, di, M + b * dd, Y + b * dd));
    }
  }
  flag_nonfinite<T><<<grid_for(n), kThreads, 0, stream>>>(Y, d, n, status);
  FASTCRL_CUDA_CHECK_LAUNCH("flag_nonfinite");
  logdet_grad<T><<<grid_for(n), kThreads, 0, stream>>>(W, Y, d, n, status, square_bad, grad, h);
  FASTCRL_CUDA_CHECK_LAUNCH("logdet_grad");
}

template <class T>
void poly_constraint(const Launch& launch, const T* W, int64_t batch, int64_t d, T* h, T* grad, std::int32_t* status,
                     void* workspace, std::size_t workspace_bytes) {
  const std::size_t n = stack_elems(batch, d);
  check_workspace(workspace_bytes, poly_workspace_bytes(batch, d, sizeof(T)), "poly_constraint");
  detail::DeviceScope scope(launch.device);
  cudaStream_t stream = detail::as_stream(launch.stream);
  Carver ws(workspace, workspace_bytes);
  T* X = ws.template take<T>(n);  // (I + A/d)^(2^k) - I
  T* Xn = ws.template take<T>(n);
  T* R = ws.template take<T>(n);  // the partial product, minus I
  T* Rn = ws.template take<T>(n);
  const int di = static_cast<int>(d), bi = static_cast<int>(batch);
  const T one = 1, two = 2;

  fill_status<<<1, kThreads, 0, stream>>>(status, batch, kAcyclicityOk);
  FASTCRL_CUDA_CHECK_LAUNCH("fill_status");
  square_entries<T, T><<<grid_for(n), kThreads, 0, stream>>>(W, n, static_cast<T>(d), X);
  FASTCRL_CUDA_CHECK_LAUNCH("square_entries");
  FASTCRL_CUDA_CHECK(cudaMemsetAsync(R, 0, n * sizeof(T), stream));  // R - I = 0 for d = 1
  bool r_is_identity = true;
  {
    detail::BlasHandle blas(launch.device, stream);
    // Binary powering of P = I + A/d to the power d - 1, every factor carried minus I:
    // (X + I)(Y + I) - I = X Y + X + Y adds non-negative numbers only.
    for (int64_t e = d - 1; e > 0;) {
      if (e & 1) {
        if (r_is_identity) {
          FASTCRL_CUDA_CHECK(cudaMemcpyAsync(R, X, n * sizeof(T), cudaMemcpyDeviceToDevice, stream));
          r_is_identity = false;
        } else {
          add_entries<T><<<grid_for(n), kThreads, 0, stream>>>(R, X, n, Rn);
          FASTCRL_CUDA_CHECK_LAUNCH("add_entries");
          FASTCRL_CUBLAS_CHECK(gemm_batched(blas.get(), di, &one, R, X, &one, Rn, bi));
          std::swap(R, Rn);
        }
      }
      e >>= 1;
      if (e > 0) {
        FASTCRL_CUDA_CHECK(cudaMemcpyAsync(Xn, X, n * sizeof(T), cudaMemcpyDeviceToDevice, stream));
        FASTCRL_CUBLAS_CHECK(gemm_batched(blas.get(), di, &one, X, X, &two, Xn, bi));
        std::swap(X, Xn);
      }
    }
  }
  grad_from_function<T><<<grid_for(n), kThreads, 0, stream>>>(W, R, d, n, grad, status);
  FASTCRL_CUDA_CHECK_LAUNCH("grad_from_function");
  // h = tr(G P) - d = tr((G - I)(P - I)) + tr(G - I) + tr(P - I).
  trace_value<T><<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(R, W, d, true, h, status);
  FASTCRL_CUDA_CHECK_LAUNCH("trace_value");
}

template <class T>
void spectral_radius(const Launch& launch, const T* W, int64_t batch, int64_t d, int max_iter, double tol, T* rho,
                     double* lo, double* hi, std::int32_t* iters, T* grad, std::int32_t* status, void* workspace,
                     std::size_t workspace_bytes) {
  const std::size_t n = stack_elems(batch, d);
  require(max_iter >= 1, "max_iter must be >= 1");
  require(tol > 0.0 && tol < 1.0, "tol must be in (0, 1)");
  check_workspace(workspace_bytes, spectral_radius_workspace_bytes(batch, d, sizeof(T)), "spectral_radius");
  detail::DeviceScope scope(launch.device);
  cudaStream_t stream = detail::as_stream(launch.stream);
  Carver ws(workspace, workspace_bytes);
  const std::size_t nv = static_cast<std::size_t>(batch * d);
  double* A = ws.template take<double>(n);
  double* x = ws.template take<double>(nv);
  double* v = ws.template take<double>(nv);
  double* y = ws.template take<double>(nv);
  double* z = ws.template take<double>(nv);
  double* dots = ws.template take<double>(static_cast<std::size_t>(batch));
  const int di = static_cast<int>(d), bi = static_cast<int>(batch);

  square_entries<T, double><<<grid_for(n), kThreads, 0, stream>>>(W, n, 1.0, A);
  FASTCRL_CUDA_CHECK_LAUNCH("square_entries");
  fill_double<<<grid_for(nv), kThreads, 0, stream>>>(x, nv, 1.0);
  FASTCRL_CUDA_CHECK_LAUNCH("fill_double");
  fill_double<<<grid_for(nv), kThreads, 0, stream>>>(v, nv, 1.0);
  FASTCRL_CUDA_CHECK_LAUNCH("fill_double");
  fill_status<<<1, kThreads, 0, stream>>>(status, batch, kAcyclicityNotConverged);
  FASTCRL_CUDA_CHECK_LAUNCH("fill_status");
  std::vector<std::int32_t> host_status(static_cast<std::size_t>(batch));
  const double one = 1.0, zero = 0.0;
  const long long sA = static_cast<long long>(d) * d;
  for (int step = 1; step <= max_iter; ++step) {
    {
      detail::BlasHandle blas(launch.device, stream);
      // Column-major, the buffer is A^T: y = A x is op T, z = A^T v is op N.
      FASTCRL_CUBLAS_CHECK(cublasDgemvStridedBatched(blas.get(), CUBLAS_OP_T, di, di, &one, A, di, sA, x, 1, d, &zero,
                                                     y, 1, d, bi));
      FASTCRL_CUBLAS_CHECK(cublasDgemvStridedBatched(blas.get(), CUBLAS_OP_N, di, di, &one, A, di, sA, v, 1, d, &zero,
                                                     z, 1, d, bi));
    }
    power_step<<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(x, v, y, z, d, tol, step, lo, hi, iters, status);
    FASTCRL_CUDA_CHECK_LAUNCH("power_step");
    if (step % kCheckEvery == 0 || step == max_iter) {
      FASTCRL_CUDA_CHECK(cudaMemcpyAsync(host_status.data(), status, host_status.size() * sizeof(std::int32_t),
                                         cudaMemcpyDeviceToHost, stream));
      FASTCRL_CUDA_CHECK(cudaStreamSynchronize(stream));
      if (std::all_of(host_status.begin(), host_status.end(), [](std::int32_t s) { return s == kAcyclicityOk; }))
        break;
    }
  }
  if (std::any_of(host_status.begin(), host_status.end(),
                  [](std::int32_t s) { return s == kAcyclicityNotConverged; })) {
    // The bracket closes only for irreducible A.  Acyclic graphs, where the CPU kernel returns 0
    // exactly, are recognised exactly: A >= 0 is nilpotent iff the zero pattern of A^(2^k) is empty
    // for 2^k >= d, and boolean squaring (products of 0/1 floats, whose sums of non-negative terms
    // cannot cancel to 0) computes those patterns in ceil(log2 d) products.  A is no longer needed:
    // its n doubles hold the two float patterns.
    float* P = reinterpret_cast<float*>(A);
    float* Q = P + n;
    square_pattern<T><<<grid_for(n), kThreads, 0, stream>>>(W, n, P);
    FASTCRL_CUDA_CHECK_LAUNCH("square_pattern");
    {
      detail::BlasHandle blas(launch.device, stream);
      const float onef = 1.0f, zerof = 0.0f;
      for (int64_t span = 1; span < d; span *= 2) {  // P holds the pattern of A^span
        FASTCRL_CUBLAS_CHECK(gemm_batched(blas.get(), di, &onef, P, P, &zerof, Q, bi));
        binarize<<<grid_for(n), kThreads, 0, stream>>>(Q, n);
        FASTCRL_CUDA_CHECK_LAUNCH("binarize");
        std::swap(P, Q);
      }
    }
    accept_nilpotent<<<static_cast<unsigned>(std::min<int64_t>(batch, 65535)), kThreads, 0, stream>>>(P, batch, d,
                                                                                                       lo, hi, status);
    FASTCRL_CUDA_CHECK_LAUNCH("accept_nilpotent");
  }
  power_finish<T><<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(x, v, d, lo, hi, rho, dots);
  FASTCRL_CUDA_CHECK_LAUNCH("power_finish");
  if (grad != nullptr) {
    power_grad<T><<<grid_for(n), kThreads, 0, stream>>>(W, x, v, dots, hi, d, n, grad);
    FASTCRL_CUDA_CHECK_LAUNCH("power_grad");
  }
}

#define FASTCRL_CUDA_INSTANTIATE(T)                                                                            \
  template void expm_constraint<T>(const Launch&, const T*, int64_t, int64_t, T*, T*, std::int32_t*, void*,    \
                                   std::size_t);                                                              \
  template void logdet_constraint<T>(const Launch&, const T*, int64_t, int64_t, double, T*, T*, std::int32_t*, \
                                     void*, std::size_t);                                                     \
  template void poly_constraint<T>(const Launch&, const T*, int64_t, int64_t, T*, T*, std::int32_t*, void*,    \
                                   std::size_t);                                                              \
  template void spectral_radius<T>(const Launch&, const T*, int64_t, int64_t, int, double, T*, double*,        \
                                   double*, std::int32_t*, T*, std::int32_t*, void*, std::size_t);
FASTCRL_CUDA_INSTANTIATE(double)
FASTCRL_CUDA_INSTANTIATE(float)
#undef FASTCRL_CUDA_INSTANTIATE

}  // namespace fastcrl::cuda
