#include "fastcrl/ivae.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastcrl/errors.hpp"

namespace fastcrl::nn {

namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

/// Scratch of one step for batches of up to `cap` rows, allocated once per epoch.
template <class T>
struct StepBuffers {
  std::vector<T> enc_ws, dec_ws, out, mu, raw, z, xh, gz, pm, plv, ones, kl, gmu, graw, kmu, kraw, kpm, kplv;
  std::vector<T> gout, Xb, eps;
  std::vector<std::int64_t> seg;
  std::vector<double> table;  // the prior table's gradient before rounding to T

  StepBuffers(const IVAEShape& s, std::size_t cap) {
    const std::size_t d = s.n_latents, r = s.n_raw(), D = s.n_features, K = s.n_segments;
    enc_ws.resize(s.encoder.workspace_size(cap));
    dec_ws.resize(s.decoder.workspace_size(cap));
    for (auto* b : {&mu, &z, &gz, &pm, &plv, &gmu, &kmu, &kpm, &kplv, &eps}) b->resize(cap * d);
    for (auto* b : {&raw, &graw, &kraw}) b->resize(cap * r);
    out.resize(cap * (d + r));
    gout.resize(cap * (d + r));
    xh.resize(cap * D);
    ones.resize(cap);
    kl.resize(cap);
    Xb.resize(cap * D);
    seg.resize(cap);
    table.resize(2 * K * d);
  }
};

/// The step on rows already in place (X, seg, eps); see ivae_loss_grad.
template <class T>
double loss_grad(const IVAEShape& s, const T* params, const T* X, const std::int64_t* seg, const T* eps,
                 std::size_t n, T* grad, StepBuffers<T>& w) {
  const std::size_t D = s.n_features, K = s.n_segments, d = s.n_latents, r = s.n_raw();
  const OneHotInput segments{seg, K};  // the encoder reads [x, onehot(u)] without materialising it
  const std::size_t ne = s.encoder.n_params(), nd = s.decoder.n_params();
  const T* enc = params;
  const T* dec = params + ne;
  const T* prior_logvar = dec + nd;
  const T* prior_mean = prior_logvar + K * d;
  T* g_enc = grad;
  T* g_dec = grad + ne;
  T* g_table = g_dec + nd;  // log-variances, then means
  const DiagTransform tr = DiagTransform::exp;

  mlp_forward(s.encoder, enc, X, n, w.out.data(), w.enc_ws.data(), true, segments);
  for (std::size_t i = 0; i < n; ++i) {
    const T* o = w.out.data() + i * (d + r);
    std::copy(o, o + d, w.mu.data() + i * d);
    std::copy(o + d, o + d + r, w.raw.data() + i * r);
  }
  if (s.full_posterior)
    chol_gaussian_sample(w.mu.data(), w.raw.data(), eps, n, d, tr, w.z.data());
  else
    diag_gaussian_sample(w.mu.data(), w.raw.data(), eps, n, d, w.z.data());
  mlp_forward(s.decoder, dec, w.z.data(), n, w.xh.data(), w.dec_ws.data(), true);

  // Residual in double for the loss; the buffer becomes dloss/dxh = (xh - x) / (var n).
  const T scale = static_cast<T>(1.0 / (s.decoder_var * static_cast<double>(n)));
  double sq = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const T* x = X + i * D;
    T* xh = w.xh.data() + i * D;
    for (std::size_t j = 0; j < D; ++j) {
      const T diff = xh[j] - x[j];
      sq += static_cast<double>(diff) * static_cast<double>(diff);
      xh[j] = diff * scale;
    }
  }
  mlp_backward(s.decoder, dec, w.z.data(), n, w.xh.data(), w.dec_ws.data(), g_dec, w.gz.data(), false);

  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t k = static_cast<std::size_t>(seg[i]);
    std::copy(prior_mean + k * d, prior_mean + (k + 1) * d, w.pm.data() + i * d);
    std::copy(prior_logvar + k * d, prior_logvar + (k + 1) * d, w.plv.data() + i * d);
  }
  std::fill(w.ones.begin(), w.ones.begin() + static_cast<std::ptrdiff_t>(n), static_cast<T>(1.0 / double(n)));
  T* kpm = s.learn_prior_mean ? w.kpm.data() : nullptr;
  if (s.full_posterior) {
    chol_gaussian_sample_backward(w.raw.data(), eps, w.gz.data(), n, d, tr, w.gmu.data(), w.graw.data());
    chol_gaussian_kl(w.mu.data(), w.raw.data(), w.pm.data(), w.plv.data(), n, d, tr, w.kl.data());
    chol_gaussian_kl_backward(w.mu.data(), w.raw.data(), w.pm.data(), w.plv.data(), w.ones.data(), n, d, tr,
                              w.kmu.data(), w.kraw.data(), kpm, w.kplv.data());
  } else {
    diag_gaussian_sample_backward(w.raw.data(), eps, w.gz.data(), n, d, w.gmu.data(), w.graw.data());
    diag_gaussian_kl(w.mu.data(), w.raw.data(), w.pm.data(), w.plv.data(), n, d, w.kl.data());
    diag_gaussian_kl_backward(w.mu.data(), w.raw.data(), w.pm.data(), w.plv.data(), w.ones.data(), n, d,
                              w.kmu.data(), w.kraw.data(), kpm, w.kplv.data());
  }
  for (std::size_t i = 0; i < n; ++i) {
    T* go = w.gout.data() + i * (d + r);
    for (std::size_t j = 0; j < d; ++j) go[j] = w.gmu[i * d + j] + w.kmu[i * d + j];
    for (std::size_t j = 0; j < r; ++j) go[d + j] = w.graw[i * r + j] + w.kraw[i * r + j];
  }
  mlp_backward(s.encoder, enc, X, n, w.gout.data(), w.enc_ws.data(), g_enc, static_cast<T*>(nullptr), false,
               segments);

  // The prior table's gradient: per-segment sums of the per-row gradients, accumulated in double.
  std::fill(w.table.begin(), w.table.end(), 0.0);
  double* t_logvar = w.table.data();
  double* t_mean = t_logvar + K * d;
  double kl_sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t k = static_cast<std::size_t>(seg[i]);
    for (std::size_t j = 0; j < d; ++j) t_logvar[k * d + j] += static_cast<double>(w.kplv[i * d + j]);
    if (kpm)
      for (std::size_t j = 0; j < d; ++j) t_mean[k * d + j] += static_cast<double>(kpm[i * d + j]);
    kl_sum += static_cast<double>(w.kl[i]);
  }
  for (std::size_t j = 0; j < 2 * K * d; ++j) g_table[j] = static_cast<T>(w.table[j]);
  const double log_norm = 0.5 * static_cast<double>(D) * (kLog2Pi + std::log(s.decoder_var));
  const double nn = static_cast<double>(n);
  return (0.5 * sq / s.decoder_var + nn * log_norm + kl_sum) / nn;
}

void check_batch(std::size_t n) {
  if (n == 0) throw std::invalid_argument("the batch is empty");
}

}  // namespace

void IVAEShape::validate() const {
  encoder.validate();
  decoder.validate();
  if (n_features < 1 || n_segments < 1 || n_latents < 1)
    throw std::invalid_argument("IVAEShape needs D, K and d >= 1");
  if (encoder.sizes.front() != n_features + n_segments || encoder.sizes.back() != n_latents + n_raw())
    throw std::invalid_argument("the encoder must map D + K = " + std::to_string(n_features + n_segments) +
                                " inputs to d + n_raw = " + std::to_string(n_latents + n_raw()) + " outputs");
  if (decoder.sizes.front() != n_latents || decoder.sizes.back() != n_features)
    throw std::invalid_argument("the decoder must map d = " + std::to_string(n_latents) +
                                " inputs to D = " + std::to_string(n_features) + " outputs");
  if (!(decoder_var > 0) || !std::isfinite(decoder_var))
    throw std::invalid_argument("decoder_var must be finite and > 0");
}

std::size_t IVAEShape::n_params() const {
  return encoder.n_params() + decoder.n_params() + 2 * n_segments * n_latents;
}

template <class T>
double ivae_loss_grad(const IVAEShape& shape, const T* params, const T* X, const std::int64_t* seg, const T* eps,
                      std::size_t n, T* grad) {
  check_batch(n);
  StepBuffers<T> w(shape, n);
  return loss_grad(shape, params, X, seg, eps, n, grad, w);
}

template <class T>
double ivae_train_epoch(const IVAEShape& shape, T* params, T* grad, T* m, T* v, std::int64_t adam_step,
                        const double* lrs, const AdamConfig& cfg, const T* X, const std::int64_t* seg,
                        std::size_t n_rows, const std::int64_t* order, std::size_t n_order, std::size_t batch,
                        std::uint64_t noise_seed, std::uint64_t noise_offset, Interrupt& interrupt,
                        std::int64_t* steps_done) {
  check_batch(batch);
  const std::size_t D = shape.n_features, d = shape.n_latents;
  const std::size_t n_params = shape.n_params();
  StepBuffers<T> w(shape, std::min(batch, std::max<std::size_t>(n_order, 1)));
  AdamConfig c = cfg;
  double total = 0.0;
  std::size_t k = 0;
  for (std::size_t s = 0; s < n_order; s += batch, ++k) {
    const std::size_t b = std::min(batch, n_order - s);
    for (std::size_t i = 0; i < b; ++i) {
      const auto row = static_cast<std::size_t>(order[s + i]);
      if (row >= n_rows) throw std::invalid_argument("order holds a row outside [0, n_rows)");
      std::copy(X + row * D, X + (row + 1) * D, w.Xb.data() + i * D);
      w.seg[i] = seg[row];
    }
    random_normal(noise_seed, noise_offset, b * d, w.eps.data());
    noise_offset += b * d;
    const double loss = loss_grad(shape, params, w.Xb.data(), w.seg.data(), w.eps.data(), b, grad, w);
    if (!std::isfinite(loss))
      throw NumericalError("the ELBO became NaN/inf during training; lower lr or raise decoder_var");
    total += loss * static_cast<double>(b);
    c.lr = lrs[k];
    adam_update(params, grad, m, v, n_params, adam_step + static_cast<std::int64_t>(k) + 1, c);
    if (steps_done) *steps_done = static_cast<std::int64_t>(k) + 1;
    if (interrupt.poll()) break;
  }
  return total;
}

#define FASTCRL_IVAE_INSTANTIATE(T)                                                                                  \
  template double ivae_loss_grad<T>(const IVAEShape&, const T*, const T*, const std::int64_t*, const T*,             \
                                    std::size_t, T*);                                                                \
  template double ivae_train_epoch<T>(const IVAEShape&, T*, T*, T*, T*, std::int64_t, const double*,                 \
                                      const AdamConfig&, const T*, const std::int64_t*, std::size_t,                 \
                                      const std::int64_t*, std::size_t, std::size_t, std::uint64_t, std::uint64_t,   \
                                      Interrupt&, std::int64_t*);

FASTCRL_IVAE_INSTANTIATE(double)
FASTCRL_IVAE_INSTANTIATE(float)
#undef FASTCRL_IVAE_INSTANTIATE

}  // namespace fastcrl::nn
