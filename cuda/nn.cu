// CUDA twins of the latent-encoder kernels of cpp/src/nn.cpp (see fastcrl/cuda/nn.hpp).
//
// MLP: one cuBLAS GEMM per layer and pass (row-major arrays are read as their column-major transposes),
// one fused bias + activation kernel per layer forward (it also stores the activation derivative), one
// fused "multiply by the derivative + bias-gradient column sum" kernel per layer backward.  Elementwise
// Gaussian kernels run one thread per element or per row (the per-row sums are over the latent dimension,
// which is small); the Cholesky kernels do each sample's triangular solves in one thread, in double.
// Philox: one thread per 4x32 block, the same arithmetic as the CPU, so uniforms are bit-identical and
// normals differ from the CPU's only by the libm-vs-CUDA rounding of log/sqrt/cos/sin (<= a few ulp).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "check.cuh"
#include "fastcrl/cuda/nn.hpp"

namespace fastcrl::cuda::nn {

namespace {

using std::int64_t;
using detail::as_stream;
using detail::BlasHandle;
using detail::DeviceScope;

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 20;  // grid-stride beyond
constexpr double kLog2Pi = 1.8378770664093454835606594728112;

int blocks_for(int64_t work) {
  const int64_t b = (work + kThreads - 1) / kThreads;
  return static_cast<int>(std::max<int64_t>(1, std::min(b, kMaxBlocks)));
}

#define FASTCRL_GRID_STRIDE(i, count) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (count); i += int64_t(blockDim.x) * gridDim.x)

// ---- scalar helpers (double precision where the CPU kernel uses double) --------------------------

__device__ inline double softplus_d(double x) { return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
__device__ inline double sigmoid_d(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

/// L_ii, log L_ii and dL_ii/draw, computed in T as on the CPU (diag_value<T>).
template <class T>
__device__ inline void diag_value(T raw, int tr, T& L, T& logL, T& dL) {
  if (tr == 0) {
    L = exp(raw);
    logL = raw;
    dL = L;
  } else {
    // the CPU computes softplus in T; T = float uses float math there too
    if constexpr (sizeof(T) == sizeof(float)) {
      const float x = static_cast<float>(raw);
      L = x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
      logL = logf(L);
      dL = x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
    } else {
      L = softplus_d(raw);
      logL = log(L);
      dL = sigmoid_d(raw);
    }
  }
}

__device__ inline int64_t tri(int64_t i) { return i * (i + 1) / 2; }

// ---- MLP -------------------------------------------------------------------------------------------

template <class T>
__device__ inline void activate(int a, T x, T slope, T alpha, T& y, T& dy) {
  switch (a) {
    case 1: {
      const T k = x > T(0) ? T(1) : slope;
      y = x * k;
      dy = k;
      break;
    }
    case 2: {
      const T t = tanh(x);
      y = t;
      dy = T(1) - t * t;
      break;
    }
    case 3: {
      const T t = tanh(x);
      y = t + T(0.1) * x;
      dy = T(1.1) - t * t;
      break;
    }
    case 4:
      if (x > T(0)) {
        y = x;
        dy = T(1);
      } else {
        y = alpha * expm1(x);
        dy = y + alpha;
      }
      break;
    default:
      y = x;
      dy = T(1);
  }
}

/// H = act(H + b) in place (n x m), D = act'(.) when D is not null.  With labels, row i also gets
/// row labels[i] of `label_rows` (the one-hot block of the first layer's input, see OneHot below).
template <class T>
__global__ void bias_act_kernel(T* __restrict__ H, const T* __restrict__ b, int64_t n, int64_t m, int act, T slope,
                                T alpha, T* __restrict__ D, const T* __restrict__ label_rows,
                                const int64_t* __restrict__ labels) {
  FASTCRL_GRID_STRIDE(k, n * m) {
    T y, dy;
    T pre = H[k];
    if (labels) pre += label_rows[labels[k / m] * m + k % m];
    activate<T>(act, pre + b[k % m], slope, alpha, y, dy);
    H[k] = y;
    if (D) D[k] = dy;
  }
}

constexpr int kColTile = 32, kRowLanes = 8;

/// dst = G * D (when D) and gb (+)= column sums of the result (G when no D).  Block (32, 8): 32 columns,
/// 8 row lanes reduced in shared memory.  dst may alias G (element by element).
template <class T>
__global__ void grad_bias_kernel(const T* G, const T* __restrict__ D, T* dst, int64_t n, int64_t m,
                                 T* __restrict__ gb, bool accumulate) {
  __shared__ T partial[kRowLanes][kColTile + 1];
  const int64_t j = blockIdx.x * int64_t(kColTile) + threadIdx.x;
  T acc = T(0);
  if (j < m) {
    for (int64_t i = threadIdx.y; i < n; i += kRowLanes) {
      T v = G[i * m + j];
      if (D) {
        v *= D[i * m + j];
        dst[i * m + j] = v;
      }
      acc += v;
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < m) {
    T s = T(0);
    for (int r = 0; r < kRowLanes; ++r) s += partial[r][threadIdx.x];
    gb[j] = accumulate ? gb[j] + s : s;
  }
}

cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const double* alpha, const double* A, int lda, const double* B, int ldb, const double* beta,
                    double* C, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta, float* C,
                    int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

int as_blas_int(int64_t v, const char* what) {
  if (v < 0 || v > INT32_MAX) throw std::invalid_argument(std::string(what) + " is too large for cuBLAS (> 2^31 - 1)");
  return static_cast<int>(v);
}

constexpr int64_t npos = -1;

/// Offsets of H_l and D_l in the workspace (npos when absent); returns the forward part's size.  The
/// CPU layout (layer_offsets in cpp/src/nn.cpp).
int64_t layer_offsets(const MLPShape& s, int64_t n, int64_t layer, int64_t* h_off, int64_t* d_off) {
  int64_t off = 0;
  const int64_t L = static_cast<int64_t>(s.sizes.size()) - 1;
  for (int64_t l = 0; l < L; ++l) {
    const int64_t fo = s.sizes[l + 1];
    if (l == layer && h_off) *h_off = l + 1 < L ? off : npos;
    if (l + 1 < L) off += n * fo;
    if (l == layer && d_off) *d_off = s.activations[l] != 0 ? off : npos;
    if (s.activations[l] != 0) off += n * fo;
  }
  return off;
}

int64_t max_width(const MLPShape& s) { return *std::max_element(s.sizes.begin() + 1, s.sizes.end()); }

}  // namespace

void MLPShape::validate() const {
  if (sizes.size() < 2) throw std::invalid_argument("MLP sizes need at least [n_in, n_out]");
  for (auto v : sizes) {
    if (v < 1) throw std::invalid_argument("MLP layer sizes must be >= 1");
    as_blas_int(v, "MLP layer size");
  }
  if (activations.size() + 1 != sizes.size())
    throw std::invalid_argument("MLP needs one activation per layer (" + std::to_string(sizes.size() - 1) + "); got " +
                                std::to_string(activations.size()));
  for (int a : activations)
    if (a < 0 || a > 4) throw std::invalid_argument("invalid activation code " + std::to_string(a));
  if (!std::isfinite(leaky_slope) || !std::isfinite(elu_alpha) || elu_alpha <= 0)
    throw std::invalid_argument("leaky_slope must be finite and elu_alpha finite and > 0");
}

std::int64_t MLPShape::n_params() const { return weight_offset(sizes.size() - 1); }

std::int64_t MLPShape::weight_offset(std::size_t layer) const {
  int64_t p = 0;
  for (std::size_t l = 0; l < layer; ++l) p += sizes[l] * sizes[l + 1] + sizes[l + 1];
  return p;
}

std::int64_t MLPShape::workspace_elems(std::int64_t n) const {
  return layer_offsets(*this, n, npos, nullptr, nullptr) + 2 * n * max_width(*this);
}

namespace {

/// Columns of the dense input: sizes[0], less the one-hot block's classes when there is one.
int64_t dense_inputs(const MLPShape& s, const std::int64_t* labels, int64_t n_classes) {
  if (!labels) return s.sizes.front();
  if (n_classes < 1 || n_classes >= s.sizes.front())
    throw std::invalid_argument("a one-hot input needs 1 <= n_classes < sizes[0]");
  return s.sizes.front() - n_classes;
}

/// dW_0's one-hot rows (n_classes x m): per-label sums of the rows of dA (n x m), in row order (so
/// deterministic, as the CPU's); added to the contents when `accumulate`.
template <class T>
__global__ void label_row_sums_kernel(const T* __restrict__ dA, const int64_t* __restrict__ labels, int64_t n,
                                      int64_t m, int64_t n_classes, T* __restrict__ g, bool accumulate) {
  FASTCRL_GRID_STRIDE(t, n_classes * m) {
    const int64_t c = t / m, j = t % m;
    T acc = accumulate ? g[t] : T(0);
    for (int64_t i = 0; i < n; ++i)
      if (labels[i] == c) acc += dA[i * m + j];
    g[t] = acc;
  }
}

}  // namespace

template <class T>
void mlp_forward(const Launch& launch, const MLPShape& s, const T* params, const T* X, int64_t n, T* out, T* ws,
                 bool training, const std::int64_t* labels, std::int64_t n_classes) {
  s.validate();
  const int64_t dense = dense_inputs(s, labels, n_classes);
  const int nn = as_blas_int(n, "batch size");
  if (n == 0) return;
  DeviceScope scope(launch.device);
  const cudaStream_t stream = as_stream(launch.stream);
  BlasHandle blas(launch.device, stream);
  const T one(1), zero(0);
  const T slope = static_cast<T>(s.leaky_slope), alpha = static_cast<T>(s.elu_alpha);
  const int64_t L = static_cast<int64_t>(s.sizes.size()) - 1;
  const T* in = X;
  for (int64_t l = 0; l < L; ++l) {
    const int fi = static_cast<int>(s.sizes[l]), fo = static_cast<int>(s.sizes[l + 1]);
    const T* W = params + s.weight_offset(l);
    const T* b = W + int64_t(fi) * fo;
    int64_t h_off = npos, d_off = npos;
    layer_offsets(s, n, l, &h_off, &d_off);
    T* H = h_off == npos ? out : ws + h_off;
    T* D = (training && d_off != npos) ? ws + d_off : nullptr;
    // row-major H (n x fo) = in (n x fi) W (fi x fo)  <=>  column-major H^T = W^T in^T; with a one-hot
    // input, layer 0 multiplies the dense columns and adds the labels' rows of W in bias_act_kernel
    const int k = l == 0 ? static_cast<int>(dense) : fi;
    FASTCRL_CUBLAS_CHECK(gemm(blas.get(), CUBLAS_OP_N, CUBLAS_OP_N, fo, nn, k, &one, W, fo, in, k, &zero, H, fo));
    const bool onehot = l == 0 && labels;
    bias_act_kernel<T><<<blocks_for(n * fo), kThreads, 0, stream>>>(H, b, n, fo, s.activations[l], slope, alpha, D,
                                                                     onehot ? W + dense * fo : nullptr,
                                                                     onehot ? labels : nullptr);
    FASTCRL_CUDA_CHECK_LAUNCH("bias_act_kernel");
    in = H;
  }
}

template <class T>
void mlp_backward(const Launch& launch, const MLPShape& s, const T* params, const T* X, int64_t n, const T* grad_out,
                  T* ws, T* grad_params, T* grad_X, bool accumulate, const std::int64_t* labels,
                  std::int64_t n_classes) {
  s.validate();
  const int64_t dense = dense_inputs(s, labels, n_classes);
  const int nn = as_blas_int(n, "batch size");
  DeviceScope scope(launch.device);
  const cudaStream_t stream = as_stream(launch.stream);
  const int64_t L = static_cast<int64_t>(s.sizes.size()) - 1;
  if (n == 0) {
    if (!accumulate) FASTCRL_CUDA_CHECK(cudaMemsetAsync(grad_params, 0, s.n_params() * sizeof(T), stream));
    return;
  }
  BlasHandle blas(launch.device, stream);
  const T one(1), zero(0), beta = accumulate ? T(1) : T(0);
  T* bufA = ws + layer_offsets(s, n, npos, nullptr, nullptr);
  T* bufB = bufA + n * max_width(s);
  const T* G = grad_out;
  for (int64_t l = L; l-- > 0;) {
    const int fi = static_cast<int>(s.sizes[l]), fo = static_cast<int>(s.sizes[l + 1]);
    const int64_t woff = s.weight_offset(l);
    const T* W = params + woff;
    T* gW = grad_params + woff;
    T* gb = gW + int64_t(fi) * fo;
    int64_t d_off = npos;
    layer_offsets(s, n, l, nullptr, &d_off);
    const T* Hin = X;
    if (l > 0) {
      int64_t h_prev = npos;
      layer_offsets(s, n, l - 1, &h_prev, nullptr);
      Hin = ws + h_prev;
    }
    const T* dA = G;
    const dim3 grid(static_cast<unsigned>((fo + kColTile - 1) / kColTile)), block(kColTile, kRowLanes);
    if (d_off != npos) {
      T* dst = (G == bufB) ? bufB : bufA;  // the caller's grad_out is never written
      grad_bias_kernel<T><<<grid, block, 0, stream>>>(G, ws + d_off, dst, n, fo, gb, accumulate);
      dA = dst;
    } else {
      grad_bias_kernel<T><<<grid, block, 0, stream>>>(G, nullptr, nullptr, n, fo, gb, accumulate);
    }
    FASTCRL_CUDA_CHECK_LAUNCH("grad_bias_kernel");
    // gW (fi x fo) = Hin^T dA  <=>  column-major gW^T (fo x fi) = dA^T Hin (the dense rows of W_0 only
    // with a one-hot input; its rows get per-label sums)
    const int k = l == 0 ? static_cast<int>(dense) : fi;
    FASTCRL_CUBLAS_CHECK(gemm(blas.get(), CUBLAS_OP_N, CUBLAS_OP_T, fo, k, nn, &one, dA, fo, Hin, k, &beta, gW, fo));
    if (l == 0 && labels) {
      label_row_sums_kernel<T><<<blocks_for(n_classes * fo), kThreads, 0, stream>>>(dA, labels, n, fo, n_classes,
                                                                                     gW + dense * fo, accumulate);
      FASTCRL_CUDA_CHECK_LAUNCH("label_row_sums_kernel");
    }
    if (l > 0 || grad_X) {
      T* Gn = l > 0 ? (dA == bufA ? bufB : bufA) : grad_X;
      // Gn (n x k) = dA W^T  <=>  column-major Gn^T (k x n) = W dA^T
      FASTCRL_CUBLAS_CHECK(gemm(blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, k, nn, fo, &one, W, fo, dA, fo, &zero, Gn, k));
      G = Gn;
    }
  }
}

// ---- diagonal Gaussians ----------------------------------------------------------------------------

namespace {

template <class T>
__global__ void diag_logpdf_kernel(const T* __restrict__ x, const T* __restrict__ mu, const T* __restrict__ lv,
                                   int64_t n, int64_t d, T* __restrict__ out) {
  FASTCRL_GRID_STRIDE(i, n) {
    double acc = 0;
    for (int64_t j = i * d; j < (i + 1) * d; ++j) {
      const double r = double(x[j]) - double(mu[j]);
      acc += kLog2Pi + double(lv[j]) + r * r * exp(-double(lv[j]));
    }
    out[i] = static_cast<T>(-0.5 * acc);
  }
}

template <class T>
__global__ void diag_logpdf_backward_kernel(const T* __restrict__ x, const T* __restrict__ mu,
                                            const T* __restrict__ lv, const T* __restrict__ g, int64_t n, int64_t d,
                                            T* __restrict__ gx, T* __restrict__ gmu, T* __restrict__ glv) {
  FASTCRL_GRID_STRIDE(j, n * d) {
    const T gi = g[j / d];
    const T r = x[j] - mu[j];
    const T riv = r * exp(-lv[j]);
    if (gx) gx[j] = -gi * riv;
    if (gmu) gmu[j] = gi * riv;
    if (glv) glv[j] = gi * T(0.5) * (r * riv - T(1));
  }
}

template <class T>
__global__ void diag_kl_kernel(const T* __restrict__ mq, const T* __restrict__ lvq, const T* __restrict__ mp,
                               const T* __restrict__ lvp, int64_t n, int64_t d, T* __restrict__ out) {
  FASTCRL_GRID_STRIDE(i, n) {
    double acc = 0;
    for (int64_t j = i * d; j < (i + 1) * d; ++j) {
      const double dm = double(mq[j]) - double(mp[j]);
      acc += double(lvp[j]) - double(lvq[j]) + (exp(double(lvq[j])) + dm * dm) * exp(-double(lvp[j])) - 1.0;
    }
    out[i] = static_cast<T>(0.5 * acc);
  }
}

template <class T>
__global__ void diag_kl_backward_kernel(const T* __restrict__ mq, const T* __restrict__ lvq, const T* __restrict__ mp,
                                        const T* __restrict__ lvp, const T* __restrict__ g, int64_t n, int64_t d,
                                        T* __restrict__ gmq, T* __restrict__ glvq, T* __restrict__ gmp,
                                        T* __restrict__ glvp) {
  FASTCRL_GRID_STRIDE(j, n * d) {
    const T gi = g[j / d];
    const T dm = mq[j] - mp[j];
    const T ivp = exp(-lvp[j]);
    const T vq = exp(lvq[j]);
    if (gmq) gmq[j] = gi * dm * ivp;
    if (gmp) gmp[j] = -gi * dm * ivp;
    if (glvq) glvq[j] = gi * T(0.5) * (vq * ivp - T(1));
    if (glvp) glvp[j] = gi * T(0.5) * (T(1) - (vq + dm * dm) * ivp);
  }
}

template <class T>
__global__ void diag_sample_kernel(const T* __restrict__ mu, const T* __restrict__ lv, const T* __restrict__ eps,
                                   int64_t count, T* __restrict__ z) {
  FASTCRL_GRID_STRIDE(j, count) { z[j] = mu[j] + exp(T(0.5) * lv[j]) * eps[j]; }
}

template <class T>
__global__ void diag_sample_backward_kernel(const T* __restrict__ lv, const T* __restrict__ eps,
                                            const T* __restrict__ gz, int64_t count, T* __restrict__ gmu,
                                            T* __restrict__ glv) {
  FASTCRL_GRID_STRIDE(j, count) {
    if (gmu) gmu[j] = gz[j];
    if (glv) glv[j] = gz[j] * T(0.5) * exp(T(0.5) * lv[j]) * eps[j];
  }
}

}  // namespace

#define FASTCRL_LAUNCH(kernel, work, ...)                                                               \
  do {                                                                                                  \
    if ((work) > 0) {                                                                                   \
      DeviceScope scope_(launch.device);                                                                \
      kernel<<<blocks_for(work), kThreads, 0, as_stream(launch.stream)>>>(__VA_ARGS__);                \
      FASTCRL_CUDA_CHECK_LAUNCH(#kernel);                                                               \
    }                                                                                                   \
  } while (0)

template <class T>
void diag_gaussian_logpdf(const Launch& launch, const T* x, const T* mu, const T* lv, int64_t n, int64_t d, T* out) {
  FASTCRL_LAUNCH(diag_logpdf_kernel<T>, n, x, mu, lv, n, d, out);
}
template <class T>
void diag_gaussian_logpdf_backward(const Launch& launch, const T* x, const T* mu, const T* lv, const T* g, int64_t n,
                                   int64_t d, T* gx, T* gmu, T* glv) {
  FASTCRL_LAUNCH(diag_logpdf_backward_kernel<T>, n * d, x, mu, lv, g, n, d, gx, gmu, glv);
}
template <class T>
void diag_gaussian_kl(const Launch& launch, const T* mq, const T* lvq, const T* mp, const T* lvp, int64_t n, int64_t d,
                      T* out) {
  FASTCRL_LAUNCH(diag_kl_kernel<T>, n, mq, lvq, mp, lvp, n, d, out);
}
template <class T>
void diag_gaussian_kl_backward(const Launch& launch, const T* mq, const T* lvq, const T* mp, const T* lvp, const T* g,
                               int64_t n, int64_t d, T* gmq, T* glvq, T* gmp, T* glvp) {
  FASTCRL_LAUNCH(diag_kl_backward_kernel<T>, n * d, mq, lvq, mp, lvp, g, n, d, gmq, glvq, gmp, glvp);
}
template <class T>
void diag_gaussian_sample(const Launch& launch, const T* mu, const T* lv, const T* eps, int64_t n, int64_t d, T* z) {
  FASTCRL_LAUNCH(diag_sample_kernel<T>, n * d, mu, lv, eps, n * d, z);
}
template <class T>
void diag_gaussian_sample_backward(const Launch& launch, const T* lv, const T* eps, const T* gz, int64_t n, int64_t d,
                                   T* gmu, T* glv) {
  FASTCRL_LAUNCH(diag_sample_backward_kernel<T>, n * d, lv, eps, gz, n * d, gmu, glv);
}

// ---- Cholesky-parameterised Gaussians -------------------------------------------------------------

namespace {

void require_chol_dim(int64_t d) {
  if (d < 1 || d > kMaxCholeskyDim)
    throw std::invalid_argument("the CUDA Cholesky Gaussian kernels take 1 <= d <= " +
                                std::to_string(kMaxCholeskyDim) + "; got d = " + std::to_string(d) +
                                " (use NumPy arrays for the CPU kernels)");
}

template <class T>
__global__ void chol_unpack_kernel(const T* __restrict__ raw, int64_t n, int64_t d, int tr, T* __restrict__ Lout) {
  const int64_t P = tri(d);
  FASTCRL_GRID_STRIDE(k, n * d * d) {
    const int64_t s = k / (d * d), i = (k / d) % d, j = k % d;
    const T* r = raw + s * P;
    T v = T(0);
    if (j < i) {
      v = r[tri(i) + j];
    } else if (j == i) {
      T logL, dL;
      diag_value<T>(r[tri(i) + i], tr, v, logL, dL);
    }
    Lout[k] = v;
  }
}

/// s = L^{-1} r (and t = L^{-T} s when t), diag[0..d) = L_ii, diag[d..2d) = dL_ii/draw; returns sum log L_ii.
template <class T>
__device__ double chol_solve(const double* r, const T* raw, int64_t d, int tr, double* s, double* t, double* diag) {
  double logdet = 0;
  for (int64_t i = 0; i < d; ++i) {
    T Lii, logL, dL;
    diag_value<T>(raw[tri(i) + i], tr, Lii, logL, dL);
    diag[i] = Lii;
    diag[d + i] = dL;
    logdet += logL;
    double acc = r[i];
    for (int64_t j = 0; j < i; ++j) acc -= double(raw[tri(i) + j]) * s[j];
    s[i] = acc / double(Lii);
  }
  if (t) {
    for (int64_t i = d; i-- > 0;) {
      double acc = s[i];
      for (int64_t k = i + 1; k < d; ++k) acc -= double(raw[tri(k) + i]) * t[k];
      t[i] = acc / diag[i];
    }
  }
  return logdet;
}

template <class T>
__global__ void chol_logpdf_kernel(const T* __restrict__ x, const T* __restrict__ mu, const T* __restrict__ raw,
                                   int64_t n, int64_t d, int tr, const T* __restrict__ g, T* __restrict__ out,
                                   T* __restrict__ gx, T* __restrict__ gmu, T* __restrict__ graw, bool backward) {
  constexpr int K = static_cast<int>(kMaxCholeskyDim);
  double r[K], s[K], t[K], diag[2 * K];
  const int64_t P = tri(d);
  FASTCRL_GRID_STRIDE(i, n) {
    const T* rw = raw + i * P;
    for (int64_t j = 0; j < d; ++j) r[j] = double(x[i * d + j]) - double(mu[i * d + j]);
    const double logdet = chol_solve<T>(r, rw, d, tr, s, backward ? t : nullptr, diag);
    if (!backward) {
      double q = 0;
      for (int64_t j = 0; j < d; ++j) q += s[j] * s[j];
      out[i] = static_cast<T>(-0.5 * (double(d) * kLog2Pi + q) - logdet);
      continue;
    }
    const double gi = double(g[i]);
    for (int64_t j = 0; j < d; ++j) {
      if (gx) gx[i * d + j] = static_cast<T>(-gi * t[j]);
      if (gmu) gmu[i * d + j] = static_cast<T>(gi * t[j]);
    }
    if (graw) {
      T* gr = graw + i * P;
      for (int64_t a = 0; a < d; ++a) {
        for (int64_t b = 0; b < a; ++b) gr[tri(a) + b] = static_cast<T>(gi * t[a] * s[b]);
        gr[tri(a) + a] = static_cast<T>(gi * (t[a] * s[a] - 1.0 / diag[a]) * diag[d + a]);
      }
    }
  }
}

template <class T>
__global__ void chol_kl_kernel(const T* __restrict__ mq, const T* __restrict__ raw, const T* __restrict__ mp,
                               const T* __restrict__ lvp, int64_t n, int64_t d, int tr, T* __restrict__ out) {
  const int64_t P = tri(d);
  FASTCRL_GRID_STRIDE(s, n) {
    const T* rw = raw + s * P;
    double acc = 0;
    for (int64_t i = 0; i < d; ++i) {
      T Lii, logL, dL;
      diag_value<T>(rw[tri(i) + i], tr, Lii, logL, dL);
      double row = double(Lii) * double(Lii);
      for (int64_t j = 0; j < i; ++j) row += double(rw[tri(i) + j]) * double(rw[tri(i) + j]);
      const double dm = double(mq[s * d + i]) - double(mp[s * d + i]);
      const double lp = double(lvp[s * d + i]);
      acc += (row + dm * dm) * exp(-lp) - 1.0 + lp - 2.0 * double(logL);
    }
    out[s] = static_cast<T>(0.5 * acc);
  }
}

/// One thread per (sample, latent row i): row i's d_i + 1 raw entries and coordinate i.
template <class T>
__global__ void chol_kl_backward_kernel(const T* __restrict__ mq, const T* __restrict__ raw, const T* __restrict__ mp,
                                        const T* __restrict__ lvp, const T* __restrict__ g, int64_t n, int64_t d,
                                        int tr, T* __restrict__ gmq, T* __restrict__ graw, T* __restrict__ gmp,
                                        T* __restrict__ glvp) {
  const int64_t P = tri(d);
  FASTCRL_GRID_STRIDE(k, n * d) {
    const int64_t s = k / d, i = k % d;
    const T* rw = raw + s * P;
    const double gi = double(g[s]);
    T Lii, logL, dL;
    diag_value<T>(rw[tri(i) + i], tr, Lii, logL, dL);
    const double ivp = exp(-double(lvp[k]));
    double row = double(Lii) * double(Lii);
    for (int64_t j = 0; j < i; ++j) {
      const double Lij = double(rw[tri(i) + j]);
      row += Lij * Lij;
      if (graw) graw[s * P + tri(i) + j] = static_cast<T>(gi * Lij * ivp);
    }
    if (graw) graw[s * P + tri(i) + i] = static_cast<T>(gi * (double(Lii) * ivp - 1.0 / double(Lii)) * double(dL));
    const double dm = double(mq[k]) - double(mp[k]);
    if (gmq) gmq[k] = static_cast<T>(gi * dm * ivp);
    if (gmp) gmp[k] = static_cast<T>(-gi * dm * ivp);
    if (glvp) glvp[k] = static_cast<T>(gi * 0.5 * (1.0 - (row + dm * dm) * ivp));
  }
}

/// One thread per (sample, latent row i): z_i = mu_i + sum_{j<i} L_ij eps_j + L_ii eps_i (in T, as the CPU).
template <class T>
__global__ void chol_sample_kernel(const T* __restrict__ mu, const T* __restrict__ raw, const T* __restrict__ eps,
                                   int64_t n, int64_t d, int tr, T* __restrict__ z) {
  const int64_t P = tri(d);
  FASTCRL_GRID_STRIDE(k, n * d) {
    const int64_t s = k / d, i = k % d;
    const T* rw = raw + s * P;
    const T* e = eps + s * d;
    T Lii, logL, dL;
    diag_value<T>(rw[tri(i) + i], tr, Lii, logL, dL);
    T acc = mu[k] + Lii * e[i];
    for (int64_t j = 0; j < i; ++j) acc += rw[tri(i) + j] * e[j];
    z[k] = acc;
  }
}

template <class T>
__global__ void chol_sample_backward_kernel(const T* __restrict__ raw, const T* __restrict__ eps,
                                            const T* __restrict__ gz, int64_t n, int64_t d, int tr,
                                            T* __restrict__ gmu, T* __restrict__ graw) {
  const int64_t P = tri(d);
  FASTCRL_GRID_STRIDE(k, n * d) {
    const int64_t s = k / d, i = k % d;
    const T gi = gz[k];
    if (gmu) gmu[k] = gi;
    if (graw) {
      const T* rw = raw + s * P;
      const T* e = eps + s * d;
      T Lii, logL, dL;
      diag_value<T>(rw[tri(i) + i], tr, Lii, logL, dL);
      for (int64_t j = 0; j < i; ++j) graw[s * P + tri(i) + j] = gi * e[j];
      graw[s * P + tri(i) + i] = gi * e[i] * dL;
    }
  }
}

void require_transform(int tr) {
  if (tr != 0 && tr != 1) throw std::invalid_argument("transform code must be 0 (exp) or 1 (softplus)");
}

}  // namespace

template <class T>
void cholesky_unpack(const Launch& launch, const T* raw, int64_t n, int64_t d, int tr, T* L) {
  require_transform(tr);
  FASTCRL_LAUNCH(chol_unpack_kernel<T>, n * d * d, raw, n, d, tr, L);
}
template <class T>
void chol_gaussian_logpdf(const Launch& launch, const T* x, const T* mu, const T* raw, int64_t n, int64_t d, int tr,
                          T* out) {
  require_chol_dim(d);
  require_transform(tr);
  FASTCRL_LAUNCH(chol_logpdf_kernel<T>, n, x, mu, raw, n, d, tr, static_cast<const T*>(nullptr), out,
                 static_cast<T*>(nullptr), static_cast<T*>(nullptr), static_cast<T*>(nullptr), false);
}
template <class T>
void chol_gaussian_logpdf_backward(const Launch& launch, const T* x, const T* mu, const T* raw, const T* g, int64_t n,
                                   int64_t d, int tr, T* gx, T* gmu, T* graw) {
  require_chol_dim(d);
  require_transform(tr);
  FASTCRL_LAUNCH(chol_logpdf_kernel<T>, n, x, mu, raw, n, d, tr, g, static_cast<T*>(nullptr), gx, gmu, graw, true);
}
template <class T>
void chol_gaussian_kl(const Launch& launch, const T* mq, const T* raw, const T* mp, const T* lvp, int64_t n, int64_t d,
                      int tr, T* out) {
  require_transform(tr);
  FASTCRL_LAUNCH(chol_kl_kernel<T>, n, mq, raw, mp, lvp, n, d, tr, out);
}
template <class T>
void chol_gaussian_kl_backward(const Launch& launch, const T* mq, const T* raw, const T* mp, const T* lvp, const T* g,
                               int64_t n, int64_t d, int tr, T* gmq, T* graw, T* gmp, T* glvp) {
  require_transform(tr);
  FASTCRL_LAUNCH(chol_kl_backward_kernel<T>, n * d, mq, raw, mp, lvp, g, n, d, tr, gmq, graw, gmp, glvp);
}
template <class T>
void chol_gaussian_sample(const Launch& launch, const T* mu, const T* raw, const T* eps, int64_t n, int64_t d, int tr,
                          T* z) {
  require_transform(tr);
  FASTCRL_LAUNCH(chol_sample_kernel<T>, n * d, mu, raw, eps, n, d, tr, z);
}
template <class T>
void chol_gaussian_sample_backward(const Launch& launch, const T* raw, const T* eps, const T* gz, int64_t n, int64_t d,
                                   int tr, T* gmu, T* graw) {
  require_transform(tr);
  FASTCRL_LAUNCH(chol_sample_backward_kernel<T>, n * d, raw, eps, gz, n, d, tr, gmu, graw);
}

// ---- Adam ------------------------------------------------------------------------------------------

namespace {

template <class T>
__global__ void adam_kernel(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ m, T* __restrict__ v,
                            int64_t n, T step_size, T inv_sqrt_bc2, T b1, T b2, T eps, T wd, T decay, bool l2,
                            bool dec) {
  FASTCRL_GRID_STRIDE(i, n) {
    T g = grad[i];
    T pi = p[i];
    if (l2) g += wd * pi;
    if (dec) pi *= decay;
    const T mi = b1 * m[i] + (T(1) - b1) * g;
    const T vi = b2 * v[i] + (T(1) - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step_size * mi / (sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

}  // namespace

template <class T>
void adam_update(const Launch& launch, T* p, const T* grad, T* m, T* v, int64_t n, int64_t step, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled) {
  if (step < 1) throw std::invalid_argument("Adam step must be >= 1; got " + std::to_string(step));
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    throw std::invalid_argument("Adam betas must lie in [0, 1)");
  if (!(lr >= 0) || !(eps > 0) || !(weight_decay >= 0))
    throw std::invalid_argument("Adam needs lr >= 0, eps > 0 and weight_decay >= 0");
  // the same host-side constants as the CPU kernel, so both round alike
  const double bc1 = 1.0 - std::pow(beta1, double(step));
  const double bc2 = 1.0 - std::pow(beta2, double(step));
  const bool l2 = weight_decay != 0 && !decoupled, dec = weight_decay != 0 && decoupled;
  FASTCRL_LAUNCH(adam_kernel<T>, n, p, grad, m, v, n, static_cast<T>(lr / bc1), static_cast<T>(1.0 / std::sqrt(bc2)),
                 static_cast<T>(beta1), static_cast<T>(beta2), static_cast<T>(eps), static_cast<T>(weight_decay),
                 static_cast<T>(1.0 - lr * weight_decay), l2, dec);
}

// ---- Philox ----------------------------------------------------------------------------------------

namespace {

__device__ inline void philox_block(std::uint64_t block, std::uint64_t seed, std::uint32_t out[4]) {
  std::uint32_t c0 = static_cast<std::uint32_t>(block), c1 = static_cast<std::uint32_t>(block >> 32), c2 = 0, c3 = 0;
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const std::uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const std::uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

__device__ inline double u53(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t bits = ((static_cast<std::uint64_t>(hi) << 32) | lo) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}

template <class T>
__device__ inline T to_unit(double u) {
  if constexpr (sizeof(T) == sizeof(float)) {
    const float f = __double2float_rn(u);
    return f < 1.0f ? f : 0x1.fffffep-1f;
  } else {
    return u;
  }
}

/// Thread b' handles Philox block b0 + b' (draws 2b and 2b + 1 that fall in [offset, offset + n)).
template <class T, bool Normal>
__global__ void philox_kernel(std::uint64_t seed, std::uint64_t offset, std::uint64_t n, std::uint64_t b0,
                              std::uint64_t nb, T* __restrict__ out) {
  const std::uint64_t end = offset + n;
  for (std::uint64_t bi = blockIdx.x * std::uint64_t(blockDim.x) + threadIdx.x; bi < nb;
       bi += std::uint64_t(blockDim.x) * gridDim.x) {
    const std::uint64_t b = b0 + bi;
    std::uint32_t w[4];
    philox_block(b, seed, w);
    T v0, v1;
    if constexpr (Normal) {
      const double u1 = u53(w[0], w[1]) + 0x1.0p-53;
      const double u2 = u53(w[2], w[3]);
      const double r = sqrt(-2.0 * log(u1));
      const double th = 6.283185307179586476925286766559 * u2;
      // no fused multiply-adds and no sincos: keep each operation as the CPU rounds it
      v0 = static_cast<T>(__dmul_rn(r, cos(th)));
      v1 = static_cast<T>(__dmul_rn(r, sin(th)));
    } else {
      v0 = to_unit<T>(u53(w[0], w[1]));
      v1 = to_unit<T>(u53(w[2], w[3]));
    }
    const std::uint64_t k0 = 2 * b;
    if (k0 >= offset && k0 < end) out[k0 - offset] = v0;
    if (k0 + 1 >= offset && k0 + 1 < end) out[k0 + 1 - offset] = v1;
  }
}

template <class T, bool Normal>
void philox_fill(const Launch& launch, std::uint64_t seed, std::uint64_t offset, int64_t n, T* out) {
  if (n <= 0) return;
  const std::uint64_t un = static_cast<std::uint64_t>(n);
  if (offset + un - 1 < offset) throw std::invalid_argument("random offset + size overflows 2^64");
  const std::uint64_t b0 = offset >> 1, b1 = (offset + un - 1) >> 1, nb = b1 - b0 + 1;
  DeviceScope scope(launch.device);
  philox_kernel<T, Normal><<<blocks_for(static_cast<int64_t>(nb)), kThreads, 0, as_stream(launch.stream)>>>(
      seed, offset, un, b0, nb, out);
  FASTCRL_CUDA_CHECK_LAUNCH("philox_kernel");
}

}  // namespace

template <class T>
void random_uniform(const Launch& launch, std::uint64_t seed, std::uint64_t offset, int64_t n, T* out) {
  philox_fill<T, false>(launch, seed, offset, n, out);
}
template <class T>
void random_normal(const Launch& launch, std::uint64_t seed, std::uint64_t offset, int64_t n, T* out) {
  philox_fill<T, true>(launch, seed, offset, n, out);
}

#undef FASTCRL_LAUNCH
#undef FASTCRL_GRID_STRIDE

#define FASTCRL_CUDA_NN_INSTANTIATE(T)                                                                              \
  template void mlp_forward<T>(const Launch&, const MLPShape&, const T*, const T*, int64_t, T*, T*, bool,          \
                               const std::int64_t*, std::int64_t);                                                  \
  template void mlp_backward<T>(const Launch&, const MLPShape&, const T*, const T*, int64_t, const T*, T*, T*, T*,  \
                                bool, const std::int64_t*, std::int64_t);                                          \
  template void diag_gaussian_logpdf<T>(const Launch&, const T*, const T*, const T*, int64_t, int64_t, T*);         \
  template void diag_gaussian_logpdf_backward<T>(const Launch&, const T*, const T*, const T*, const T*, int64_t,    \
                                                 int64_t, T*, T*, T*);                                              \
  template void diag_gaussian_kl<T>(const Launch&, const T*, const T*, const T*, const T*, int64_t, int64_t, T*);   \
  template void diag_gaussian_kl_backward<T>(const Launch&, const T*, const T*, const T*, const T*, const T*,       \
                                             int64_t, int64_t, T*, T*, T*, T*);                                     \
  template void diag_gaussian_sample<T>(const Launch&, const T*, const T*, const T*, int64_t, int64_t, T*);         \
  template void diag_gaussian_sample_backward<T>(const Launch&, const T*, const T*, const T*, int64_t, int64_t, T*, \
                                                 T*);                                                               \
  template void cholesky_unpack<T>(const Launch&, const T*, int64_t, int64_t, int, T*);                             \
  template void chol_gaussian_logpdf<T>(const Launch&, const T*, const T*, const T*, int64_t, int64_t, int, T*);    \
  template void chol_gaussian_logpdf_backward<T>(const Launch&, const T*, const T*, const T*, const T*, int64_t,    \
                                                 int64_t, int, T*, T*, T*);                                         \
  template void chol_gaussian_kl<T>(const Launch&, const T*, const T*, const T*, const T*, int64_t, int64_t, int,   \
                                    T*);                                                                            \
  template void chol_gaussian_kl_backward<T>(const Launch&, const T*, const T*, const T*, const T*, const T*,       \
                                             int64_t, int64_t, int, T*, T*, T*, T*);                                \
  template void chol_gaussian_sample<T>(const Launch&, const T*, const T*, const T*, int64_t, int64_t, int, T*);    \
  template void chol_gaussian_sample_backward<T>(const Launch&, const T*, const T*, const T*, int64_t, int64_t,     \
                                                 int, T*, T*);                                                      \
  template void adam_update<T>(const Launch&, T*, const T*, T*, T*, int64_t, int64_t, double, double, double,       \
                               double, double, bool);                                                               \
  template void random_uniform<T>(const Launch&, std::uint64_t, std::uint64_t, int64_t, T*);                        \
  template void random_normal<T>(const Launch&, std::uint64_t, std::uint64_t, int64_t, T*);

FASTCRL_CUDA_NN_INSTANTIATE(double)
FASTCRL_CUDA_NN_INSTANTIATE(float)
#undef FASTCRL_CUDA_NN_INSTANTIATE

}  // namespace fastcrl::cuda::nn
