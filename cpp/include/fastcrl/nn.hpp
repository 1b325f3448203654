#pragma once
/// Differentiable building blocks of the neural CRL models (iVAE and friends): a multilayer perceptron
/// with fused forward/backward passes, Gaussian log-densities / KL / reparameterisation with exact
/// gradients, a fused Adam update and a counter-based random generator (Philox-4x32-10).
///
/// Every array is row-major and contiguous; batch rows come first. Kernels never allocate on the hot
/// path: the caller passes a workspace sized by MLPSpec::workspace_size.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fastcrl/interrupt.hpp"

namespace fastcrl::nn {

/// Elementwise activations. xtanh(x) = tanh(x) + 0.1 x (iVAE); elu uses alpha = MLPSpec::elu_alpha.
enum class Activation : int { identity = 0, leaky_relu = 1, tanh = 2, xtanh = 3, elu = 4 };

/// Parses "identity" | "leaky_relu" | "tanh" | "xtanh" | "elu"; throws std::invalid_argument otherwise.
Activation parse_activation(const std::string& name);
const char* activation_name(Activation a);

/// Shape of an MLP with L = sizes.size() - 1 dense layers: layer l maps sizes[l] -> sizes[l+1] as
/// H_l = act_l(H_{l-1} W_l + b_l), H_{-1} = X.
///
/// Flat parameter layout (one contiguous vector, so an optimiser updates everything in one call):
///   [W_0 (sizes[0] x sizes[1], row-major: fan_in x fan_out), b_0 (sizes[1]), W_1, b_1, ..., b_{L-1}].
/// Workspace layout for a batch of n rows (written by forward, read and partly overwritten by backward):
///   for l in 0..L-1: H_l (n x sizes[l+1]) if l < L-1, then D_l = act_l'(pre-activation) (same shape)
///   if act_l != identity; then two scratch buffers of n x max(sizes[1..L]) for backward.
struct MLPSpec {
  std::vector<std::size_t> sizes;
  std::vector<Activation> activations;  ///< one per layer
  double leaky_slope = 0.01;            ///< negative-side slope of leaky_relu
  double elu_alpha = 1.0;

  /// Throws std::invalid_argument unless sizes has >= 2 entries, all >= 1, one activation per layer.
  void validate() const;
  std::size_t n_layers() const { return sizes.size() - 1; }
  std::size_t n_params() const;
  /// Offset of W_l in the flat vector; b_l starts at weight_offset(l) + sizes[l] * sizes[l+1].
  std::size_t weight_offset(std::size_t l) const;
  std::size_t workspace_size(std::size_t batch) const;
};

/// An input whose last `n_classes` columns are the one-hot code of a label: the network reads
/// [X, onehot(labels[i])] but X holds only the sizes[0] - n_classes dense columns, and the one-hot
/// block enters as a row lookup in W_0 (and its gradient as per-label row sums), never materialised.
/// Empty (labels == nullptr): X has all sizes[0] columns.
struct OneHotInput {
  const std::int64_t* labels = nullptr;  ///< n labels in [0, n_classes) (unchecked: callers check)
  std::size_t n_classes = 0;
};

/// out (n x sizes[L]) = MLP(X (n x sizes[0])). When `training`, stores in `workspace` what backward needs
/// (hidden activations and activation derivatives); otherwise the derivatives are skipped.
/// Preconditions: spec validated; workspace has spec.workspace_size(n) entries; with a one-hot input,
/// 1 <= n_classes < sizes[0].
template <class T>
void mlp_forward(const MLPSpec& spec, const T* params, const T* X, std::size_t n, T* out, T* workspace,
                 bool training = true, OneHotInput onehot = {});

/// Backward pass after mlp_forward(..., training=true) on the same params, X, one-hot input and workspace.
/// grad_params (n_params) receives dL/dparams (added to its contents when `accumulate`, else overwritten);
/// grad_X (n x its columns) receives dL/dX unless nullptr (the dense columns only with a one-hot
/// input). grad_out (n x sizes[L]) is dL/dout.
template <class T>
void mlp_backward(const MLPSpec& spec, const T* params, const T* X, std::size_t n, const T* grad_out,
                  T* workspace, T* grad_params, T* grad_X, bool accumulate = false, OneHotInput onehot = {});

// ---------------------------------------------------------------------------------------------------
// Diagonal Gaussians: every argument is (n x d); per-sample results are (n).
// The variance is parameterised by its log: var = exp(logvar).

/// out[i] = log N(x_i; mu_i, diag(exp(logvar_i))).
template <class T>
void diag_gaussian_logpdf(const T* x, const T* mu, const T* logvar, std::size_t n, std::size_t d, T* out);
/// Gradients of sum_i g[i] * out[i]; any output pointer may be nullptr.
template <class T>
void diag_gaussian_logpdf_backward(const T* x, const T* mu, const T* logvar, const T* g, std::size_t n,
                                   std::size_t d, T* gx, T* gmu, T* glogvar);

/// out[i] = KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))), summed over the d coordinates.
template <class T>
void diag_gaussian_kl(const T* mu_q, const T* logvar_q, const T* mu_p, const T* logvar_p, std::size_t n,
                      std::size_t d, T* out);
template <class T>
void diag_gaussian_kl_backward(const T* mu_q, const T* logvar_q, const T* mu_p, const T* logvar_p, const T* g,
                               std::size_t n, std::size_t d, T* gmu_q, T* glogvar_q, T* gmu_p, T* glogvar_p);

/// z = mu + exp(logvar / 2) * eps.
template <class T>
void diag_gaussian_sample(const T* mu, const T* logvar, const T* eps, std::size_t n, std::size_t d, T* z);
/// Gradients of sum(gz * z) w.r.t. mu and logvar (either may be nullptr).
template <class T>
void diag_gaussian_sample_backward(const T* logvar, const T* eps, const T* gz, std::size_t n, std::size_t d,
                                   T* gmu, T* glogvar);

// ---------------------------------------------------------------------------------------------------
// Full-covariance Gaussians with a Cholesky factor L (Sigma = L L^T), one per sample, packed row by row
// from the raw parameters: raw[i*(i+1)/2 + j] for j <= i (d(d+1)/2 entries per sample). Off-diagonal
// entries are used as is; the diagonal is L_ii = exp(raw_ii) or softplus(raw_ii), always positive.

enum class DiagTransform : int { exp = 0, softplus = 1 };
DiagTransform parse_diag_transform(const std::string& name);

/// Unpacks the raw parameters into dense lower-triangular factors L (n x d x d, zeros above).
template <class T>
void cholesky_unpack(const T* raw, std::size_t n, std::size_t d, DiagTransform tr, T* L);

/// out[i] = log N(x_i; mu_i, L_i L_i^T).
template <class T>
void chol_gaussian_logpdf(const T* x, const T* mu, const T* raw, std::size_t n, std::size_t d, DiagTransform tr,
                          T* out);
/// Gradients of sum_i g[i] * out[i] w.r.t. x, mu and the raw packed factor (any may be nullptr).
template <class T>
void chol_gaussian_logpdf_backward(const T* x, const T* mu, const T* raw, const T* g, std::size_t n, std::size_t d,
                                   DiagTransform tr, T* gx, T* gmu, T* graw);

/// out[i] = KL(N(mu_q, L L^T) || N(mu_p, diag(exp(logvar_p)))).
template <class T>
void chol_gaussian_kl(const T* mu_q, const T* raw_q, const T* mu_p, const T* logvar_p, std::size_t n, std::size_t d,
                      DiagTransform tr, T* out);
template <class T>
void chol_gaussian_kl_backward(const T* mu_q, const T* raw_q, const T* mu_p, const T* logvar_p, const T* g,
                               std::size_t n, std::size_t d, DiagTransform tr, T* gmu_q, T* graw_q, T* gmu_p,
                               T* glogvar_p);

/// z = mu + L eps.
template <class T>
void chol_gaussian_sample(const T* mu, const T* raw, const T* eps, std::size_t n, std::size_t d, DiagTransform tr,
                          T* z);
/// Gradients of sum(gz * z) w.r.t. mu and the raw packed factor (either may be nullptr).
template <class T>
void chol_gaussian_sample_backward(const T* raw, const T* eps, const T* gz, std::size_t n, std::size_t d,
                                   DiagTransform tr, T* gmu, T* graw);

// ---------------------------------------------------------------------------------------------------

/// Adam hyper-parameters. weight_decay is added to the gradient (Adam, L2) or, when `decoupled`, applied
/// to the parameters as p -= lr * weight_decay * p (AdamW).
struct AdamConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;
};

/// One Adam step (PyTorch's formulation, bias-corrected) on n parameters, in place on params, m, v.
/// `step` is the 1-based index of this step. Preconditions: step >= 1, 0 <= beta < 1, lr >= 0, eps > 0.
template <class T>
void adam_update(T* params, const T* grads, T* m, T* v, std::size_t n, std::int64_t step, const AdamConfig& cfg);

/// Scratch entries mlp_mse_adam_step needs for a batch of n rows: the passes' workspace, the gathered
/// batch and the output.
std::size_t mse_step_workspace_size(const MLPSpec& spec, std::size_t n);

/// One fused regression training step on a batch of n rows: out = MLP(X_b), loss = mean((out - Y_b)^2)
/// over all n * sizes[L] entries (PyTorch's MSELoss), grad = dloss/dparams (left in `grad`), then one
/// Adam step (`step`: 1-based) on params, m, v. X_b, Y_b are the rows `rows[0..n)` of X (n_total x
/// sizes[0]) and Y (n_total x sizes[L]), or their first n rows when rows is nullptr. Returns the loss
/// before the update. Preconditions: spec validated; rows in [0, n_total); workspace has
/// mse_step_workspace_size(spec, n) entries, grad spec.n_params(). With a one-hot input X holds the dense
/// columns and onehot.labels one label per row of X (gathered with the rows; in range: callers check).
template <class T>
double mlp_mse_adam_step(const MLPSpec& spec, T* params, T* m, T* v, std::int64_t step, const AdamConfig& cfg,
                         const T* X, const T* Y, const std::int64_t* rows, std::size_t n, T* workspace, T* grad,
                         OneHotInput onehot = {});

/// One epoch of minibatch regression: for the k-th batch of `batch` consecutive entries of `order` (the
/// last may be shorter), the rows of X (n_rows x sizes[0]) and Y (n_rows x sizes[L]), out = MLP(X_b),
/// loss = sum((out - Y_b)^2) / (n_b * sizes[L]) when mean_over_outputs (PyTorch's MSELoss), else / n_b
/// (the mean over rows of each row's squared error); its gradient, then one Adam step (cfg, step number
/// adam_step + k + 1). Returns the sum over batches of loss * n_b; `steps_done` counts finished steps
/// (the loop stops between steps when `interrupt` fires). With a one-hot input X holds the dense
/// columns and onehot.labels the label of each of the n_rows rows (checked to lie in range).
/// Preconditions: spec validated; order entries in [0, n_rows) (checked); grad has spec.n_params().
template <class T>
double mlp_regression_epoch(const MLPSpec& spec, T* params, T* grad, T* m, T* v, std::int64_t adam_step,
                            const AdamConfig& cfg, const T* X, const T* Y, std::size_t n_rows,
                            const std::int64_t* order, std::size_t n_order, std::size_t batch, bool mean_over_outputs,
                            Interrupt& interrupt, std::int64_t* steps_done, OneHotInput onehot = {});

// ---------------------------------------------------------------------------------------------------
// Counter-based random numbers. Philox-4x32-10 (Salmon et al., SC'11) keyed by the 64-bit seed;
// draw k of a stream (k = offset + i) comes from block k / 2 (counter = (lo32(b), hi32(b), 0, 0)), whose
// four 32-bit words give two 53-bit uniforms. Draw k depends only on (seed, k): identical for any thread
// count, and float32 draws are the float64 draws rounded.

/// One Philox-4x32-10 block.
void philox4x32_10(const std::uint32_t counter[4], const std::uint32_t key[2], std::uint32_t out[4]);

/// out[i] = uniform on [0, 1) for draw offset + i.
template <class T>
void random_uniform(std::uint64_t seed, std::uint64_t offset, std::size_t n, T* out);
/// out[i] = standard normal for draw offset + i (Box-Muller on the block's two uniforms).
template <class T>
void random_normal(std::uint64_t seed, std::uint64_t offset, std::size_t n, T* out);

}  // namespace fastcrl::nn
