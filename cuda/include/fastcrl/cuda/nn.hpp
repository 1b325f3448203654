#pragma once
/// CUDA twins of the latent-encoder kernels of fastcrl/nn.hpp (cpp/src/nn.cpp): MLP forward/backward
/// (cuBLAS GEMM + fused bias/activation kernels), diagonal and Cholesky Gaussian log-density, KL and
/// reparameterisation with gradients, fused Adam, and the counter-based Philox-4x32-10 generator.
///
/// Same conventions as the CPU kernels: row-major contiguous arrays, the same flat MLP parameter layout
/// and the same workspace layout (MLPShape::workspace_elems == MLPSpec::workspace_size), the same
/// Philox stream (draw k of (seed, offset) from block k / 2).  Plain C++17: pointers and streams are
/// integers-as-pointers from Python, so the g++-compiled bindings include this without CUDA headers.
/// Every function queues work on launch.stream and returns without synchronising.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "fastcrl/cuda/runtime.hpp"

namespace fastcrl::cuda::nn {

/// Codes as fastcrl::nn::Activation: identity 0, leaky_relu 1, tanh 2, xtanh 3, elu 4.
/// Diagonal transforms as fastcrl::nn::DiagTransform: exp 0, softplus 1.
struct MLPShape {
  std::vector<std::int64_t> sizes;  ///< [n_in, h_1, ..., n_out]
  std::vector<int> activations;     ///< one per layer
  double leaky_slope = 0.01;
  double elu_alpha = 1.0;

  /// Throws std::invalid_argument unless sizes has >= 2 entries >= 1 and one valid code per layer.
  void validate() const;
  std::int64_t n_params() const;
  std::int64_t weight_offset(std::size_t layer) const;
  /// Elements of workspace for a batch of n rows (the CPU layout).
  std::int64_t workspace_elems(std::int64_t n) const;
};

/// Largest latent dimension of the Cholesky kernels (per-thread triangular solves in registers/local memory).
constexpr std::int64_t kMaxCholeskyDim = 64;

/// With `labels` (device, n entries in [0, n_classes), 1 <= n_classes < sizes[0]) the input is
/// [X, onehot(labels)] with X holding the other columns only (fastcrl::nn::OneHotInput); grad_X then
/// covers those columns.
template <class T>
void mlp_forward(const Launch& launch, const MLPShape& shape, const T* params, const T* X, std::int64_t n, T* out,
                 T* workspace, bool training, const std::int64_t* labels = nullptr, std::int64_t n_classes = 0);
template <class T>
void mlp_backward(const Launch& launch, const MLPShape& shape, const T* params, const T* X, std::int64_t n,
                  const T* grad_out, T* workspace, T* grad_params, T* grad_X, bool accumulate,
                  const std::int64_t* labels = nullptr, std::int64_t n_classes = 0);

template <class T>
void diag_gaussian_logpdf(const Launch& launch, const T* x, const T* mu, const T* logvar, std::int64_t n,
                          std::int64_t d, T* out);
template <class T>
void diag_gaussian_logpdf_backward(const Launch& launch, const T* x, const T* mu, const T* logvar, const T* g,
                                   std::int64_t n, std::int64_t d, T* gx, T* gmu, T* glogvar);
template <class T>
void diag_gaussian_kl(const Launch& launch, const T* mu_q, const T* logvar_q, const T* mu_p, const T* logvar_p,
                      std::int64_t n, std::int64_t d, T* out);
template <class T>
void diag_gaussian_kl_backward(const Launch& launch, const T* mu_q, const T* logvar_q, const T* mu_p,
                               const T* logvar_p, const T* g, std::int64_t n, std::int64_t d, T* gmu_q, T* glogvar_q,
                               T* gmu_p, T* glogvar_p);
template <class T>
void diag_gaussian_sample(const Launch& launch, const T* mu, const T* logvar, const T* eps, std::int64_t n,
                          std::int64_t d, T* z);
template <class T>
void diag_gaussian_sample_backward(const Launch& launch, const T* logvar, const T* eps, const T* gz, std::int64_t n,
                                   std::int64_t d, T* gmu, T* glogvar);

template <class T>
void cholesky_unpack(const Launch& launch, const T* raw, std::int64_t n, std::int64_t d, int transform, T* L);
template <class T>
void chol_gaussian_logpdf(const Launch& launch, const T* x, const T* mu, const T* raw, std::int64_t n, std::int64_t d,
                          int transform, T* out);
template <class T>
void chol_gaussian_logpdf_backward(const Launch& launch, const T* x, const T* mu, const T* raw, const T* g,
                                   std::int64_t n, std::int64_t d, int transform, T* gx, T* gmu, T* graw);
template <class T>
void chol_gaussian_kl(const Launch& launch, const T* mu_q, const T* raw_q, const T* mu_p, const T* logvar_p,
                      std::int64_t n, std::int64_t d, int transform, T* out);
template <class T>
void chol_gaussian_kl_backward(const Launch& launch, const T* mu_q, const T* raw_q, const T* mu_p, const T* logvar_p,
                               const T* g, std::int64_t n, std::int64_t d, int transform, T* gmu_q, T* graw_q,
                               T* gmu_p, T* glogvar_p);
template <class T>
void chol_gaussian_sample(const Launch& launch, const T* mu, const T* raw, const T* eps, std::int64_t n,
                          std::int64_t d, int transform, T* z);
template <class T>
void chol_gaussian_sample_backward(const Launch& launch, const T* raw, const T* eps, const T* gz, std::int64_t n,
                                   std::int64_t d, int transform, T* gmu, T* graw);

/// Adam (PyTorch's formulation) in place; hyper-parameters validated by the caller.
template <class T>
void adam_update(const Launch& launch, T* params, const T* grads, T* m, T* v, std::int64_t n, std::int64_t step,
                 double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled);

/// out[i] = draw offset + i of the Philox stream `seed` (uniform on [0, 1) or standard normal).
template <class T>
void random_uniform(const Launch& launch, std::uint64_t seed, std::uint64_t offset, std::int64_t n, T* out);
template <class T>
void random_normal(const Launch& launch, std::uint64_t seed, std::uint64_t offset, std::int64_t n, T* out);

// ---------------------------------------------------------------------------------------------------
// Training epochs queued from C++ (cuda/training.cu).

/// Elements of T workspace mlp_regression_epoch needs for batches of up to `batch` rows.
std::int64_t regression_epoch_workspace_elems(const MLPShape& shape, std::int64_t batch);

/// The CUDA twin of fastcrl::nn::mlp_regression_epoch (cpp/include/fastcrl/nn.hpp): for each batch of
/// `order` (device, int64, entries in [0, n) checked by the caller) the rows of X and Y (device), the
/// squared error (divided by b * sizes[L] when mean_over_outputs, else by b), its gradient and an Adam
/// step (lr, weight decay as adam_update, step number adam_step + k + 1).  *loss_total (device double)
/// receives the sum over batches of loss * b; should_stop as for ivae_train_epoch.  With `labels`
/// (device, one per row of X, in
/// [0, n_classes)) the input is [X, onehot(labels)] as for mlp_forward, and label_workspace (device,
/// `batch` entries) holds each batch's labels.  Returns the number of steps queued.
template <class T>
std::int64_t mlp_regression_epoch(const Launch& launch, const MLPShape& shape, T* params, T* grad, T* m, T* v,
                                  std::int64_t adam_step, double lr, double beta1, double beta2, double eps,
                                  double weight_decay, bool decoupled, const T* X, const T* Y,
                                  const std::int64_t* order, std::int64_t n_order,
                                  std::int64_t batch, bool mean_over_outputs, const std::int64_t* labels,
                                  std::int64_t n_classes, std::int64_t* label_workspace, T* workspace,
                                  double* loss_total, const std::function<bool()>& should_stop);

// The iVAE training epoch: the CUDA twin of fastcrl::nn::ivae_train_epoch
// (cpp/include/fastcrl/ivae.hpp; same model layout, same batches, same noise stream), queued from
// C++ so a step costs kernel launches only, with no Python-side work and no host synchronisation.

struct IVAEDims {
  MLPShape encoder;  ///< sizes [D + K, ..., d + n_raw()]
  MLPShape decoder;  ///< sizes [d, ..., D]
  std::int64_t n_features = 0, n_segments = 0, n_latents = 0;  ///< D, K, d
  bool full_posterior = true;
  double decoder_var = 0.01;
  bool learn_prior_mean = false;

  /// Throws std::invalid_argument unless the MLPs' ends match D, K, d and decoder_var > 0 (and d is
  /// within kMaxCholeskyDim for the full posterior).
  void validate() const;
  std::int64_t n_raw() const { return full_posterior ? n_latents * (n_latents + 1) / 2 : n_latents; }
  std::int64_t n_params() const;
  /// Elements of T workspace the epoch needs for batches of up to `batch` rows.
  std::int64_t epoch_workspace_elems(std::int64_t batch) const;
};

/// One epoch: for the k-th batch of `batch` consecutive entries of `order` (device, int64; the last
/// batch may be shorter) gather those rows of X (n_rows x D, device) and seg (device, int64 in
/// [0, K); the encoder's one-hot block), draw eps from the Philox stream (noise_seed, running offset
/// from noise_offset, + b * d per batch), take the negative ELBO's gradient and one Adam step with
/// lr = lrs[k] (host array) and step
/// number adam_step + k + 1.  *loss_total (one double, device) receives the sum over batches of the
/// batch's mean loss times b.  `should_stop` (may be empty) is called on the host between steps; once
/// it returns true no further step is queued.  Returns the number of steps queued.
/// Preconditions: dims validated; order entries in [0, n_rows) and labels in range (checked by the
/// callers); workspace has dims.epoch_workspace_elems(batch) elements, seg_workspace `batch`.
template <class T>
std::int64_t ivae_train_epoch(const Launch& launch, const IVAEDims& dims, T* params, T* grad, T* m, T* v,
                              std::int64_t adam_step, const double* lrs, double beta1, double beta2, double eps,
                              const T* X, const std::int64_t* seg, const std::int64_t* order, std::int64_t n_order,
                              std::int64_t batch, std::uint64_t noise_seed, std::uint64_t noise_offset, T* workspace,
                              std::int64_t* seg_workspace, double* loss_total,
                              const std::function<bool()>& should_stop);

}  // namespace fastcrl::cuda::nn
