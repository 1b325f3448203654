// Training epochs on the GPU, queued from C++ on one stream (see fastcrl/cuda/nn.hpp): the iVAE epoch
// (the composition of cpp/src/ivae.cpp) and the MLP regression epoch (cpp/src/nn.cpp's
// mlp_regression_epoch).  The MLP passes, Gaussian kernels, Philox and Adam are the tested kernels of
// nn.cu; here are only the glue kernels (gather the batch, split the encoder output, residual,
// gradient sum, the prior table's gradient) and the loops.  Losses accumulate on the device, so the
// host never waits inside an epoch.
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
using detail::DeviceScope;

constexpr int kThreads = 256;
constexpr double kLog2Pi = 1.8378770664093454835606594728112;

int grid_for(int64_t work) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((work + kThreads - 1) / kThreads, 1 << 16)));
}

#define FASTCRL_GRID_STRIDE(i, count) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (count); i += int64_t(blockDim.x) * gridDim.x)

/// Adds the block's sum of `value` (one per thread) to *total: one atomic per block.
__device__ inline void block_add(double value, double* total) {
  __shared__ double partial[kThreads];
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(total, partial[0]);
}

/// The batch's rows of X and labels, the priors of their segments and the KL weights 1 / b.
template <class T>
__global__ void gather_kernel(const T* __restrict__ X, const int64_t* __restrict__ seg,
                              const int64_t* __restrict__ rows, int64_t b, int64_t width, int64_t d,
                              const T* __restrict__ prior_logvar,
                              const T* __restrict__ prior_mean, T* __restrict__ Xb, int64_t* __restrict__ segb,
                              T* __restrict__ plv, T* __restrict__ pm, T* __restrict__ weight) {
  FASTCRL_GRID_STRIDE(k, b * width) {
    const int64_t i = k / width, c = k % width, row = rows[i];
    Xb[k] = X[row * width + c];
    if (c == 0) {
      const int64_t u = seg[row];
      segb[i] = u;
      weight[i] = T(1) / T(b);
      for (int64_t j = 0; j < d; ++j) {
        plv[i * d + j] = prior_logvar[u * d + j];
        pm[i * d + j] = prior_mean[u * d + j];
      }
    }
  }
}

/// out (b x (d + r)) -> mu (b x d), raw (b x r).
template <class T>
__global__ void split_kernel(const T* __restrict__ out, int64_t b, int64_t d, int64_t r, T* __restrict__ mu,
                             T* __restrict__ raw) {
  FASTCRL_GRID_STRIDE(k, b * (d + r)) {
    const int64_t i = k / (d + r), c = k % (d + r);
    if (c < d)
      mu[i * d + c] = out[k];
    else
      raw[i * r + c - d] = out[k];
  }
}

/// Rows `rows[0..b)` of src (width columns) into dst.
template <class T>
__global__ void gather_rows_kernel(const T* __restrict__ src, const int64_t* __restrict__ rows, int64_t b,
                                   int64_t width, T* __restrict__ dst) {
  FASTCRL_GRID_STRIDE(k, b * width) dst[k] = src[rows[k / width] * width + k % width];
}

/// labels_b[i] = labels[rows[i]].
__global__ void gather_labels_kernel(const int64_t* __restrict__ labels, const int64_t* __restrict__ rows, int64_t b,
                                     int64_t* __restrict__ labels_b) {
  FASTCRL_GRID_STRIDE(i, b) labels_b[i] = labels[rows[i]];
}

/// out (b x D) becomes dloss/dout = (out - y) * scale, with y the first D columns of the rows of
/// `target` (row stride ld); factor * |out - y|^2 goes to *total.
template <class T>
__global__ void residual_kernel(T* __restrict__ out, const T* __restrict__ target, int64_t b, int64_t D, int64_t ld,
                                T scale, double factor, double* total) {
  double acc = 0.0;
  FASTCRL_GRID_STRIDE(k, b * D) {
    const int64_t i = k / D, j = k % D;
    const T diff = out[k] - target[i * ld + j];
    acc += double(diff) * double(diff);
    out[k] = diff * scale;
  }
  block_add(acc * factor, total);
}

/// gout = [gmu + kmu, graw + kraw]; the KL terms and b * log_norm go to *total.
template <class T>
__global__ void combine_kernel(const T* __restrict__ gmu, const T* __restrict__ kmu, const T* __restrict__ graw,
                               const T* __restrict__ kraw, const T* __restrict__ kl, int64_t b, int64_t d, int64_t r,
                               double norm_total, T* __restrict__ gout, double* total) {
  double acc = 0.0;
  FASTCRL_GRID_STRIDE(k, b * (d + r)) {
    const int64_t i = k / (d + r), c = k % (d + r);
    gout[k] = c < d ? gmu[i * d + c] + kmu[i * d + c] : graw[i * r + c - d] + kraw[i * r + c - d];
    if (k < b) acc += double(kl[k]);
    if (k == 0) acc += norm_total;
  }
  block_add(acc, total);
}

/// The prior table's gradient (log-variances, then means: 2 K d entries), each a sum over the batch's
/// rows of that segment in row order, in double: deterministic, as the CPU's.
template <class T>
__global__ void segment_sum_kernel(const int64_t* __restrict__ segb, const T* __restrict__ kplv,
                                   const T* __restrict__ kpm, int64_t b, int64_t K, int64_t d,
                                   T* __restrict__ g_table) {
  FASTCRL_GRID_STRIDE(t, 2 * K * d) {
    const bool mean = t >= K * d;
    const int64_t e = mean ? t - K * d : t, k = e / d, j = e % d;
    const T* src = mean ? kpm : kplv;
    double acc = 0.0;
    if (src)
      for (int64_t i = 0; i < b; ++i)
        if (segb[i] == k) acc += double(src[i * d + j]);
    g_table[t] = static_cast<T>(acc);
  }
}

#define FASTCRL_TRAIN_LAUNCH(kernel, work, ...)                                      \
  do {                                                                              \
    kernel<<<grid_for(work), kThreads, 0, as_stream(launch.stream)>>>(__VA_ARGS__); \
    FASTCRL_CUDA_CHECK_LAUNCH(#kernel);                                             \
  } while (0)

/// The epoch's scratch, carved from one workspace in this order.
template <class T>
struct Scratch {
  T *enc_ws, *dec_ws, *Xb, *eps, *mu, *z, *gz, *pm, *plv, *gmu, *kmu, *kpm, *kplv, *raw, *graw, *kraw, *out, *gout,
      *xh, *weight, *kl;
};

template <class T>
int64_t carve(const IVAEDims& s, int64_t cap, T* base, Scratch<T>* sc) {
  const int64_t d = s.n_latents, r = s.n_raw(), D = s.n_features;
  int64_t off = 0;
  auto take = [&](T** p, int64_t n) {
    if (sc) *p = base + off;
    off += n;
  };
  Scratch<T> tmp{};
  Scratch<T>& w = sc ? *sc : tmp;
  take(&w.enc_ws, s.encoder.workspace_elems(cap));
  take(&w.dec_ws, s.decoder.workspace_elems(cap));
  take(&w.Xb, cap * D);
  for (T** p : {&w.eps, &w.mu, &w.z, &w.gz, &w.pm, &w.plv, &w.gmu, &w.kmu, &w.kpm, &w.kplv}) take(p, cap * d);
  for (T** p : {&w.raw, &w.graw, &w.kraw}) take(p, cap * r);
  take(&w.out, cap * (d + r));
  take(&w.gout, cap * (d + r));
  take(&w.xh, cap * D);
  take(&w.weight, cap);
  take(&w.kl, cap);
  return off;
}

}  // namespace

void IVAEDims::validate() const {
  encoder.validate();
  decoder.validate();
  if (n_features < 1 || n_segments < 1 || n_latents < 1) throw std::invalid_argument("IVAEDims needs D, K and d >= 1");
  if (encoder.sizes.front() != n_features + n_segments || encoder.sizes.back() != n_latents + n_raw())
    throw std::invalid_argument("the encoder must map D + K = " + std::to_string(n_features + n_segments) +
                                " inputs to d + n_raw = " + std::to_string(n_latents + n_raw()) + " outputs");
  if (decoder.sizes.front() != n_latents || decoder.sizes.back() != n_features)
    throw std::invalid_argument("the decoder must map d = " + std::to_string(n_latents) + " inputs to D = " +
                                std::to_string(n_features) + " outputs");
  if (full_posterior && n_latents > kMaxCholeskyDim)
    throw std::invalid_argument("the full posterior supports d <= " + std::to_string(kMaxCholeskyDim) + " on the GPU");
  if (!(decoder_var > 0) || !std::isfinite(decoder_var))
    throw std::invalid_argument("decoder_var must be finite and > 0");
}

std::int64_t IVAEDims::n_params() const {
  return encoder.n_params() + decoder.n_params() + 2 * n_segments * n_latents;
}

std::int64_t IVAEDims::epoch_workspace_elems(std::int64_t batch) const {
  return carve<float>(*this, batch, nullptr, nullptr);
}

template <class T>
std::int64_t ivae_train_epoch(const Launch& launch, const IVAEDims& s, T* params, T* grad, T* m, T* v,
                              std::int64_t adam_step, const double* lrs, double beta1, double beta2, double eps,
                              const T* X, const std::int64_t* seg, const std::int64_t* order, std::int64_t n_order,
                              std::int64_t batch, std::uint64_t noise_seed, std::uint64_t noise_offset, T* workspace,
                              std::int64_t* seg_workspace, double* loss_total,
                              const std::function<bool()>& should_stop) {
  s.validate();
  if (batch < 1) throw std::invalid_argument("batch must be >= 1");
  const int64_t D = s.n_features, K = s.n_segments, d = s.n_latents, r = s.n_raw();
  const int64_t ne = s.encoder.n_params(), nd = s.decoder.n_params(), np = s.n_params();
  const int tr = 0;  // exp-transformed Cholesky diagonal, as the CPU model
  const double log_norm = 0.5 * double(D) * (kLog2Pi + std::log(s.decoder_var));
  Scratch<T> w{};
  carve(s, batch, workspace, &w);
  T* enc = params;
  T* dec = params + ne;
  const T* prior_logvar = dec + nd;
  const T* prior_mean = prior_logvar + K * d;
  T* g_enc = grad;
  T* g_dec = grad + ne;
  T* g_table = g_dec + nd;

  DeviceScope scope(launch.device);
  FASTCRL_CUDA_CHECK(cudaMemsetAsync(loss_total, 0, sizeof(double), as_stream(launch.stream)));
  int64_t steps = 0;
  for (int64_t start = 0; start < n_order; start += batch, ++steps) {
    const int64_t b = std::min(batch, n_order - start);
    FASTCRL_TRAIN_LAUNCH(gather_kernel<T>, b * D, X, seg, order + start, b, D, d, prior_logvar, prior_mean, w.Xb,
                         seg_workspace, w.plv, w.pm, w.weight);
    random_normal<T>(launch, noise_seed, noise_offset, b * d, w.eps);
    noise_offset += static_cast<std::uint64_t>(b * d);
    // the encoder reads [x, onehot(u)] with the one-hot block as the labels (never materialised)
    mlp_forward<T>(launch, s.encoder, enc, w.Xb, b, w.out, w.enc_ws, true, seg_workspace, K);
    FASTCRL_TRAIN_LAUNCH(split_kernel<T>, b * (d + r), w.out, b, d, r, w.mu, w.raw);
    if (s.full_posterior)
      chol_gaussian_sample<T>(launch, w.mu, w.raw, w.eps, b, d, tr, w.z);
    else
      diag_gaussian_sample<T>(launch, w.mu, w.raw, w.eps, b, d, w.z);
    mlp_forward<T>(launch, s.decoder, dec, w.z, b, w.xh, w.dec_ws, true);
    const T scale = static_cast<T>(1.0 / (s.decoder_var * double(b)));
    FASTCRL_TRAIN_LAUNCH(residual_kernel<T>, b * D, w.xh, w.Xb, b, D, D, scale, 0.5 / s.decoder_var, loss_total);
    mlp_backward<T>(launch, s.decoder, dec, w.z, b, w.xh, w.dec_ws, g_dec, w.gz, false);
    T* kpm = s.learn_prior_mean ? w.kpm : nullptr;
    if (s.full_posterior) {
      chol_gaussian_sample_backward<T>(launch, w.raw, w.eps, w.gz, b, d, tr, w.gmu, w.graw);
      chol_gaussian_kl<T>(launch, w.mu, w.raw, w.pm, w.plv, b, d, tr, w.kl);
      chol_gaussian_kl_backward<T>(launch, w.mu, w.raw, w.pm, w.plv, w.weight, b, d, tr, w.kmu, w.kraw, kpm, w.kplv);
    } else {
      diag_gaussian_sample_backward<T>(launch, w.raw, w.eps, w.gz, b, d, w.gmu, w.graw);
      diag_gaussian_kl<T>(launch, w.mu, w.raw, w.pm, w.plv, b, d, w.kl);
      diag_gaussian_kl_backward<T>(launch, w.mu, w.raw, w.pm, w.plv, w.weight, b, d, w.kmu, w.kraw, kpm, w.kplv);
    }
    FASTCRL_TRAIN_LAUNCH(combine_kernel<T>, b * (d + r), w.gmu, w.kmu, w.graw, w.kraw, w.kl, b, d, r,
                        double(b) * log_norm, w.gout, loss_total);
    mlp_backward<T>(launch, s.encoder, enc, w.Xb, b, w.gout, w.enc_ws, g_enc, static_cast<T*>(nullptr), false,
                    seg_workspace, K);
    FASTCRL_TRAIN_LAUNCH(segment_sum_kernel<T>, 2 * K * d, seg_workspace, w.kplv, kpm, b, K, d, g_table);
    adam_update<T>(launch, params, grad, m, v, np, adam_step + steps + 1, lrs[steps], beta1, beta2, eps, 0.0, false);
    if (should_stop && should_stop()) {
      ++steps;
      break;
    }
  }
  return steps;
}

std::int64_t regression_epoch_workspace_elems(const MLPShape& shape, std::int64_t batch) {
  // (sizes[0] columns for the gathered batch: enough with or without a one-hot block)
  return shape.workspace_elems(batch) + batch * (shape.sizes.front() + 2 * shape.sizes.back());
}

template <class T>
std::int64_t mlp_regression_epoch(const Launch& launch, const MLPShape& s, T* params, T* grad, T* m, T* v,
                                  std::int64_t adam_step, double lr, double beta1, double beta2, double eps,
                                  double weight_decay, bool decoupled, const T* X, const T* Y,
                                  const std::int64_t* order, std::int64_t n_order,
                                  std::int64_t batch, bool mean_over_outputs, const std::int64_t* labels,
                                  std::int64_t n_classes, std::int64_t* label_workspace, T* workspace,
                                  double* loss_total, const std::function<bool()>& should_stop) {
  s.validate();
  if (batch < 1) throw std::invalid_argument("batch must be >= 1");
  if (labels && (n_classes < 1 || n_classes >= s.sizes.front() || !label_workspace))
    throw std::invalid_argument("a one-hot input needs 1 <= n_classes < sizes[0] and a label workspace");
  const int64_t d_in = s.sizes.front() - (labels ? n_classes : 0), d_out = s.sizes.back();
  T* passes = workspace;
  T* Xb = passes + s.workspace_elems(batch);
  T* Yb = Xb + batch * d_in;
  T* out = Yb + batch * d_out;
  DeviceScope scope(launch.device);
  FASTCRL_CUDA_CHECK(cudaMemsetAsync(loss_total, 0, sizeof(double), as_stream(launch.stream)));
  int64_t steps = 0;
  for (int64_t start = 0; start < n_order; start += batch, ++steps) {
    const int64_t b = std::min(batch, n_order - start);
    FASTCRL_TRAIN_LAUNCH(gather_rows_kernel<T>, b * d_in, X, order + start, b, d_in, Xb);
    FASTCRL_TRAIN_LAUNCH(gather_rows_kernel<T>, b * d_out, Y, order + start, b, d_out, Yb);
    if (labels) FASTCRL_TRAIN_LAUNCH(gather_labels_kernel, b, labels, order + start, b, label_workspace);
    const std::int64_t* labels_b = labels ? label_workspace : nullptr;
    mlp_forward<T>(launch, s, params, Xb, b, out, passes, true, labels_b, n_classes);
    // loss = |out - y|^2 / count; the epoch sums loss * b
    const double count = double(mean_over_outputs ? b * d_out : b);
    FASTCRL_TRAIN_LAUNCH(residual_kernel<T>, b * d_out, out, Yb, b, d_out, d_out, static_cast<T>(2.0 / count),
                        double(b) / count, loss_total);
    mlp_backward<T>(launch, s, params, Xb, b, out, passes, grad, static_cast<T*>(nullptr), false, labels_b,
                    n_classes);
    adam_update<T>(launch, params, grad, m, v, s.n_params(), adam_step + steps + 1, lr, beta1, beta2, eps,
                   weight_decay, decoupled);
    if (should_stop && should_stop()) {
      ++steps;
      break;
    }
  }
  return steps;
}

#undef FASTCRL_TRAIN_LAUNCH
#undef FASTCRL_GRID_STRIDE

template std::int64_t ivae_train_epoch<double>(const Launch&, const IVAEDims&, double*, double*, double*, double*,
                                               std::int64_t, const double*, double, double, double, const double*,
                                               const std::int64_t*, const std::int64_t*, std::int64_t, std::int64_t,
                                               std::uint64_t, std::uint64_t, double*, std::int64_t*, double*,
                                               const std::function<bool()>&);
template std::int64_t ivae_train_epoch<float>(const Launch&, const IVAEDims&, float*, float*, float*, float*,
                                              std::int64_t, const double*, double, double, double, const float*,
                                              const std::int64_t*, const std::int64_t*, std::int64_t, std::int64_t,
                                              std::uint64_t, std::uint64_t, float*, std::int64_t*, double*,
                                              const std::function<bool()>&);
#define FASTCRL_REGRESSION_INSTANTIATE(T)                                                                        \
  template std::int64_t mlp_regression_epoch<T>(const Launch&, const MLPShape&, T*, T*, T*, T*, std::int64_t,    \
                                                double, double, double, double, double, bool, const T*,          \
                                                const T*,                                                        \
                                                const std::int64_t*, std::int64_t, std::int64_t, bool,           \
                                                const std::int64_t*, std::int64_t, std::int64_t*, T*, double*,   \
                                                const std::function<bool()>&);
FASTCRL_REGRESSION_INSTANTIATE(double)
FASTCRL_REGRESSION_INSTANTIATE(float)
#undef FASTCRL_REGRESSION_INSTANTIATE

}  // namespace fastcrl::cuda::nn
