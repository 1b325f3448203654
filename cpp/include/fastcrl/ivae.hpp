#pragma once
/// The iVAE training step and epoch of fastcrl.crl.IVAE, composed from the kernels of fastcrl/nn.hpp
/// in one call, so a minibatch step costs no Python-side work (the same composition as the Python
/// model's loss_grad, which stays as the readable reference and the path for other settings).
///
/// Model (one flat parameter vector, so one Adam call updates everything):
///   [encoder MLP | decoder MLP | prior log-variances (K x d) | prior means (K x d)].
/// The encoder maps [x, onehot(u)] (D + K inputs; the one-hot block is a row lookup in its first
/// layer, see OneHotInput) to (mu, raw): raw is the packed Cholesky factor
/// with an exp-transformed diagonal (full posterior) or the log-variances (diagonal posterior); the
/// decoder maps z to the mean of p(x | z) = N(dec(z), decoder_var I).
#include <cstddef>
#include <cstdint>

#include "fastcrl/interrupt.hpp"
#include "fastcrl/nn.hpp"

namespace fastcrl::nn {

struct IVAEShape {
  MLPSpec encoder;  ///< sizes [D + K, ..., d + n_raw()]
  MLPSpec decoder;  ///< sizes [d, ..., D]
  std::size_t n_features = 0;  ///< D
  std::size_t n_segments = 0;  ///< K
  std::size_t n_latents = 0;   ///< d
  bool full_posterior = true;
  double decoder_var = 0.01;
  bool learn_prior_mean = false;

  /// Throws std::invalid_argument unless the MLPs' ends match D, K and d and decoder_var > 0.
  void validate() const;
  std::size_t n_raw() const { return full_posterior ? n_latents * (n_latents + 1) / 2 : n_latents; }
  std::size_t n_params() const;
};

/// Mean negative ELBO of a batch of n rows and its gradient (overwriting grad, n_params entries):
///   loss = (1/n) sum_i [ |dec(z_i) - x_i|^2 / (2 var) + (D/2) log(2 pi var) + KL(q_i || p(z | u_i)) ],
/// z_i = mu_i + L_i eps_i. X: the n observations (n x D); seg: their labels in [0, K), read by the
/// encoder as the one-hot block of its input (never materialised); eps: n x d.
/// Preconditions: shape validated, labels in range (checked by the callers).
template <class T>
double ivae_loss_grad(const IVAEShape& shape, const T* params, const T* X, const std::int64_t* seg, const T* eps,
                      std::size_t n, T* grad);

/// One epoch of minibatch training: for each batch of `batch` consecutive entries of `order` (the last
/// may be shorter), gather those rows of X (n_rows x D) and seg, draw eps from the Philox stream
/// `noise_seed` at the running offset (starting at noise_offset, advancing by b * d per batch), take
/// ivae_loss_grad, then one Adam step with lr = lrs[k] for the k-th batch and step number
/// adam_step + k + 1 (cfg.lr is ignored). Returns the sum over batches of loss * b. `steps_done` counts
/// the completed steps as they finish, so after an interruption the caller knows how far it got.
/// Throws NumericalError (nothing updated by that step) if a batch's loss is not finite.
template <class T>
double ivae_train_epoch(const IVAEShape& shape, T* params, T* grad, T* m, T* v, std::int64_t adam_step,
                        const double* lrs, const AdamConfig& cfg, const T* X, const std::int64_t* seg,
                        std::size_t n_rows, const std::int64_t* order, std::size_t n_order, std::size_t batch,
                        std::uint64_t noise_seed, std::uint64_t noise_offset, Interrupt& interrupt,
                        std::int64_t* steps_done);

}  // namespace fastcrl::nn
