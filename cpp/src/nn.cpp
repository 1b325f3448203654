#include "fastcrl/nn.hpp"

#include "fastcrl/errors.hpp"

#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "fastcrl/blas.hpp"
#include "fastcrl/threads.hpp"

namespace fastcrl::nn {

namespace {

using idx = std::ptrdiff_t;
constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// Rough per-element costs (flops) for threads_for_work: transcendental functions count ~20.
constexpr double kCheapOp = 2.0;
constexpr double kTransOp = 25.0;

void require_int(std::size_t v, const char* what) {
  if (v > static_cast<std::size_t>(INT_MAX))
    throw std::invalid_argument(std::string(what) + " is too large for BLAS (> INT_MAX): " + std::to_string(v));
}

template <class T>
inline T softplus(T x) {
  return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}
template <class T>
inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

/// L_ii from its raw parameter, its log, and dL_ii / draw.
template <class T>
inline void diag_value(T raw, DiagTransform tr, T& L, T& logL, T& dL) {
  if (tr == DiagTransform::exp) {
    L = std::exp(raw);
    logL = raw;
    dL = L;
  } else {
    L = softplus(raw);
    logL = std::log(L);
    dL = sigmoid(raw);
  }
}

inline std::size_t tri(std::size_t i) { return i * (i + 1) / 2; }

// ---- fused bias + activation ------------------------------------------------------------------------

struct ActParams {
  double slope, alpha;
};

/// The activation's parameters in the element type, converted once per call.
template <class T>
struct ActParamsT {
  T slope, alpha;
  explicit ActParamsT(const ActParams& p) : slope(static_cast<T>(p.slope)), alpha(static_cast<T>(p.alpha)) {}
};

template <class T, Activation A>
inline void act(T a, T& y, T& dy, const ActParamsT<T>& p) {
  if constexpr (A == Activation::identity) {
    y = a;
    dy = T(1);
  } else if constexpr (A == Activation::leaky_relu) {
    const T k = a > T(0) ? T(1) : p.slope;  // a select: vectorised (with -fno-trapping-math)
    y = a * k;
    dy = k;
  } else if constexpr (A == Activation::tanh) {
    const T t = std::tanh(a);
    y = t;
    dy = T(1) - t * t;
  } else if constexpr (A == Activation::xtanh) {
    const T t = std::tanh(a);
    y = t + T(0.1) * a;
    dy = T(1.1) - t * t;
  } else {  // elu
    if (a > T(0)) {
      y = a;
      dy = T(1);
    } else {
      y = p.alpha * std::expm1(a);
      dy = y + p.alpha;
    }
  }
}

/// One row: h = act(h + b), dd = act'(h + b).
template <class T, Activation A, bool StoreD>
void bias_act_row(T* __restrict h, const T* __restrict b, T* __restrict dd, std::size_t m, ActParamsT<T> p) {
  for (std::size_t j = 0; j < m; ++j) {
    T y, dy;
    act<T, A>(h[j] + b[j], y, dy, p);
    h[j] = y;
    if constexpr (StoreD) dd[j] = dy;
  }
}

template <class T, Activation A, bool StoreD>
void bias_act_impl(T* H, const T* b, std::size_t n, std::size_t m, T* D, const ActParams& p0) {
  const ActParamsT<T> p(p0);
  const double cost = (A == Activation::tanh || A == Activation::xtanh || A == Activation::elu) ? kTransOp : kCheapOp;
  const int nt = threads_for_work(cost * static_cast<double>(n) * static_cast<double>(m));
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (idx i = 0; i < static_cast<idx>(n); ++i)
    bias_act_row<T, A, StoreD>(H + static_cast<std::size_t>(i) * m, b,
                               StoreD ? D + static_cast<std::size_t>(i) * m : nullptr, m, p);
}

template <class T, Activation A>
void bias_act_store(T* H, const T* b, std::size_t n, std::size_t m, T* D, const ActParams& p) {
  if (D)
    bias_act_impl<T, A, true>(H, b, n, m, D, p);
  else
    bias_act_impl<T, A, false>(H, b, n, m, D, p);
}

template <class T>
void bias_act(Activation a, T* H, const T* b, std::size_t n, std::size_t m, T* D, const ActParams& p) {
  switch (a) {
    case Activation::identity: return bias_act_impl<T, Activation::identity, false>(H, b, n, m, nullptr, p);
    case Activation::leaky_relu: return bias_act_store<T, Activation::leaky_relu>(H, b, n, m, D, p);
    case Activation::tanh: return bias_act_store<T, Activation::tanh>(H, b, n, m, D, p);
    case Activation::xtanh: return bias_act_store<T, Activation::xtanh>(H, b, n, m, D, p);
    case Activation::elu: return bias_act_store<T, Activation::elu>(H, b, n, m, D, p);
  }
}

/// dst = G * D (when D), and gb (+)= column sums of the result (G itself when no D). Serial: it costs a
/// fraction 1/fan_in of the layer's GEMMs, and a fixed summation order keeps gradients reproducible.
template <class T>
void grad_bias_fused(const T* G, const T* D, T* dst, std::size_t n, std::size_t m, T* __restrict gb,
                     bool accumulate) {
  if (!accumulate) std::fill(gb, gb + m, T(0));
  for (std::size_t i = 0; i < n; ++i) {
    const T* g = G + i * m;
    if (D) {
      const T* __restrict dd = D + i * m;
      T* o = dst + i * m;  // may alias g (in place), element by element
      for (std::size_t j = 0; j < m; ++j) {
        const T v = g[j] * dd[j];
        o[j] = v;
        gb[j] += v;
      }
    } else {
      for (std::size_t j = 0; j < m; ++j) gb[j] += g[j];
    }
  }
}

/// Offsets of H_l and D_l (npos when absent) in the workspace; returns the forward part's size.
constexpr std::size_t npos = static_cast<std::size_t>(-1);
std::size_t layer_offsets(const MLPSpec& s, std::size_t n, std::size_t layer, std::size_t* h_off, std::size_t* d_off) {
  std::size_t off = 0;
  const std::size_t L = s.n_layers();
  for (std::size_t l = 0; l < L; ++l) {
    const std::size_t fo = s.sizes[l + 1];
    if (l == layer && h_off) *h_off = l + 1 < L ? off : npos;
    if (l + 1 < L) off += n * fo;
    if (l == layer && d_off) *d_off = s.activations[l] != Activation::identity ? off : npos;
    if (s.activations[l] != Activation::identity) off += n * fo;
  }
  return off;
}

double mlp_flops(const MLPSpec& s, std::size_t n) {
  double f = 0;
  for (std::size_t l = 0; l < s.n_layers(); ++l) f += 2.0 * double(n) * double(s.sizes[l]) * double(s.sizes[l + 1]);
  return f;
}

std::size_t max_width(const MLPSpec& s) { return *std::max_element(s.sizes.begin() + 1, s.sizes.end()); }

/// Elementwise loops over n rows of width d, parallel only when the work pays for it.
template <class F>
void for_rows(std::size_t n, std::size_t d, double cost, F f) {
  const int nt = threads_for_work(cost * static_cast<double>(n) * static_cast<double>(d));
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (idx i = 0; i < static_cast<idx>(n); ++i) f(static_cast<std::size_t>(i));
}

// ---- Philox ------------------------------------------------------------------------------------------

constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;

inline void philox_block(std::uint64_t block, std::uint64_t seed, std::uint32_t out[4]) {
  const std::uint32_t c[4] = {static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32), 0u, 0u};
  const std::uint32_t k[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  philox4x32_10(c, k, out);
}

/// 53-bit uniform on [0, 1) from two words.
inline double u53(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t bits = ((static_cast<std::uint64_t>(hi) << 32) | lo) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}

template <class T>
inline T to_unit(double u) {
  // Rounding to float can reach 1.0; keep the documented half-open interval.
  if constexpr (sizeof(T) == sizeof(float)) {
    const float f = static_cast<float>(u);
    return f < 1.0f ? f : 0x1.fffffep-1f;
  } else {
    return u;
  }
}

/// Calls f(i, block words) for every block that covers draws offset..offset+n-1, in parallel.
template <class F>
void for_blocks(std::uint64_t seed, std::uint64_t offset, std::size_t n, double cost, F f) {
  if (n == 0) return;
  const std::uint64_t b0 = offset >> 1, b1 = (offset + n - 1) >> 1;
  const std::uint64_t nb = b1 - b0 + 1;
  const int nt = threads_for_work(cost * static_cast<double>(n));
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (idx bi = 0; bi < static_cast<idx>(nb); ++bi) {
    const std::uint64_t b = b0 + static_cast<std::uint64_t>(bi);
    std::uint32_t w[4];
    philox_block(b, seed, w);
    f(b, w);
  }
}

}  // namespace

// ---- spec ----------------------------------------------------------------------------------------------

Activation parse_activation(const std::string& name) {
  if (name == "identity") return Activation::identity;
  if (name == "leaky_relu") return Activation::leaky_relu;
  if (name == "tanh") return Activation::tanh;
  if (name == "xtanh") return Activation::xtanh;
  if (name == "elu") return Activation::elu;
  throw std::invalid_argument("unknown activation '" + name +
                              "'; expected one of identity, leaky_relu, tanh, xtanh, elu");
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::identity: return "identity";
    case Activation::leaky_relu: return "leaky_relu";
    case Activation::tanh: return "tanh";
    case Activation::xtanh: return "xtanh";
    case Activation::elu: return "elu";
  }
  return "?";
}

DiagTransform parse_diag_transform(const std::string& name) {
  if (name == "exp") return DiagTransform::exp;
  if (name == "softplus") return DiagTransform::softplus;
  throw std::invalid_argument("unknown diagonal transform '" + name + "'; expected 'exp' or 'softplus'");
}

void MLPSpec::validate() const {
  if (sizes.size() < 2)
    throw std::invalid_argument("MLP sizes need at least [n_in, n_out]; got " + std::to_string(sizes.size()) +
                                " entries");
  for (std::size_t s : sizes) {
    if (s < 1) throw std::invalid_argument("MLP layer sizes must be >= 1");
    require_int(s, "MLP layer size");
  }
  if (activations.size() != n_layers())
    throw std::invalid_argument("MLP needs one activation per layer (" + std::to_string(n_layers()) + "); got " +
                                std::to_string(activations.size()));
  for (Activation a : activations)
    if (static_cast<int>(a) < 0 || static_cast<int>(a) > 4) throw std::invalid_argument("invalid activation code");
  if (!std::isfinite(leaky_slope) || !std::isfinite(elu_alpha) || elu_alpha <= 0)
    throw std::invalid_argument("leaky_slope must be finite and elu_alpha finite and > 0");
}

std::size_t MLPSpec::n_params() const {
  std::size_t p = 0;
  for (std::size_t l = 0; l < n_layers(); ++l) p += sizes[l] * sizes[l + 1] + sizes[l + 1];
  return p;
}

std::size_t MLPSpec::weight_offset(std::size_t layer) const {
  std::size_t p = 0;
  for (std::size_t l = 0; l < layer; ++l) p += sizes[l] * sizes[l + 1] + sizes[l + 1];
  return p;
}

std::size_t MLPSpec::workspace_size(std::size_t batch) const {
  return layer_offsets(*this, batch, npos, nullptr, nullptr) + 2 * batch * max_width(*this);
}

// ---- MLP -------------------------------------------------------------------------------------------

namespace {

/// Columns of the dense input (all of sizes[0] without a one-hot block).
std::size_t dense_inputs(const MLPSpec& spec, const OneHotInput& onehot) {
  if (!onehot.labels) return spec.sizes.front();
  if (onehot.n_classes < 1 || onehot.n_classes >= spec.sizes.front())
    throw std::invalid_argument("a one-hot input needs 1 <= n_classes < sizes[0]");
  return spec.sizes.front() - onehot.n_classes;
}

}  // namespace

template <class T>
void mlp_forward(const MLPSpec& spec, const T* params, const T* X, std::size_t n, T* out, T* ws, bool training,
                 OneHotInput onehot) {
  require_int(n, "batch size");
  const std::size_t dense = dense_inputs(spec, onehot);
  // Small GEMMs (typical minibatches) run faster on one thread than a woken, possibly descheduled team.
  SingleThreadedBlas blas_guard(threads_for_work(mlp_flops(spec, n)) == 1);
  const ActParams ap{spec.leaky_slope, spec.elu_alpha};
  const std::size_t L = spec.n_layers();
  const T* in = X;
  for (std::size_t l = 0; l < L; ++l) {
    const std::size_t fi = spec.sizes[l], fo = spec.sizes[l + 1];
    const T* W = params + spec.weight_offset(l);
    const T* b = W + fi * fo;
    std::size_t h_off = npos, d_off = npos;
    layer_offsets(spec, n, l, &h_off, &d_off);
    T* H = h_off == npos ? out : ws + h_off;
    T* D = (training && d_off != npos) ? ws + d_off : nullptr;
    const std::size_t k = l == 0 ? dense : fi;  // the one-hot rows of W_0 are added below instead
    blas::gemm(CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(fo), static_cast<int>(k), T(1), in,
               static_cast<int>(k), W, static_cast<int>(fo), T(0), H, static_cast<int>(fo));
    if (l == 0 && onehot.labels) {
      for (std::size_t i = 0; i < n; ++i) {
        const T* __restrict w = W + (dense + static_cast<std::size_t>(onehot.labels[i])) * fo;
        T* __restrict h = H + i * fo;
        for (std::size_t j = 0; j < fo; ++j) h[j] += w[j];
      }
    }
    bias_act(spec.activations[l], H, b, n, fo, D, ap);
    in = H;
  }
}

template <class T>
void mlp_backward(const MLPSpec& spec, const T* params, const T* X, std::size_t n, const T* grad_out, T* ws,
                  T* grad_params, T* grad_X, bool accumulate, OneHotInput onehot) {
  require_int(n, "batch size");
  const std::size_t dense = dense_inputs(spec, onehot);
  SingleThreadedBlas blas_guard(threads_for_work(2 * mlp_flops(spec, n)) == 1);
  const std::size_t L = spec.n_layers();
  T* bufA = ws + layer_offsets(spec, n, npos, nullptr, nullptr);
  T* bufB = bufA + n * max_width(spec);
  const T* G = grad_out;
  const T beta = accumulate ? T(1) : T(0);
  for (std::size_t l = L; l-- > 0;) {
    const std::size_t fi = spec.sizes[l], fo = spec.sizes[l + 1];
    const std::size_t woff = spec.weight_offset(l);
    const T* W = params + woff;
    T* gW = grad_params + woff;
    T* gb = gW + fi * fo;
    std::size_t d_off = npos;
    layer_offsets(spec, n, l, nullptr, &d_off);
    const T* Hin = X;
    if (l > 0) {
      std::size_t h_prev = npos;
      layer_offsets(spec, n, l - 1, &h_prev, nullptr);
      Hin = ws + h_prev;
    }
    const T* dA = G;
    if (d_off != npos) {
      // In place when G is already scratch; the caller's grad_out is never written.
      T* dst = (G == bufB) ? bufB : bufA;
      grad_bias_fused(G, ws + d_off, dst, n, fo, gb, accumulate);
      dA = dst;
    } else {
      grad_bias_fused<T>(G, nullptr, nullptr, n, fo, gb, accumulate);
    }
    const std::size_t k = l == 0 ? dense : fi;
    blas::gemm(CblasTrans, CblasNoTrans, static_cast<int>(k), static_cast<int>(fo), static_cast<int>(n), T(1), Hin,
               static_cast<int>(k), dA, static_cast<int>(fo), beta, gW, static_cast<int>(fo));
    if (l == 0 && onehot.labels) {  // the one-hot rows of dW_0: per-label sums of dA's rows
      T* gW_onehot = gW + dense * fo;
      if (!accumulate) std::fill(gW_onehot, gW_onehot + onehot.n_classes * fo, T(0));
      for (std::size_t i = 0; i < n; ++i) {
        T* __restrict g = gW_onehot + static_cast<std::size_t>(onehot.labels[i]) * fo;
        const T* __restrict a = dA + i * fo;
        for (std::size_t j = 0; j < fo; ++j) g[j] += a[j];
      }
    }
    if (l > 0 || grad_X) {
      T* Gn = l > 0 ? (dA == bufA ? bufB : bufA) : grad_X;
      blas::gemm(CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(k), static_cast<int>(fo), T(1), dA,
                 static_cast<int>(fo), W, static_cast<int>(fo), T(0), Gn, static_cast<int>(k));
      G = Gn;
    }
  }
}

// ---- diagonal Gaussians -----------------------------------------------------------------------------

template <class T>
void diag_gaussian_logpdf(const T* x, const T* mu, const T* lv, std::size_t n, std::size_t d, T* out) {
  for_rows(n, d, kTransOp, [&](std::size_t i) {
    double acc = 0;
    for (std::size_t j = i * d; j < (i + 1) * d; ++j) {
      const double r = double(x[j]) - double(mu[j]);
      acc += kLog2Pi + double(lv[j]) + r * r * std::exp(-double(lv[j]));
    }
    out[i] = static_cast<T>(-0.5 * acc);
  });
}

template <class T>
void diag_gaussian_logpdf_backward(const T* x, const T* mu, const T* lv, const T* g, std::size_t n, std::size_t d,
                                   T* gx, T* gmu, T* glv) {
  for_rows(n, d, kTransOp, [&](std::size_t i) {
    const T gi = g[i];
    for (std::size_t j = i * d; j < (i + 1) * d; ++j) {
      const T r = x[j] - mu[j];
      const T riv = r * std::exp(-lv[j]);
      if (gx) gx[j] = -gi * riv;
      if (gmu) gmu[j] = gi * riv;
      if (glv) glv[j] = gi * T(0.5) * (r * riv - T(1));
    }
  });
}

template <class T>
void diag_gaussian_kl(const T* mq, const T* lvq, const T* mp, const T* lvp, std::size_t n, std::size_t d, T* out) {
  for_rows(n, d, 2 * kTransOp, [&](std::size_t i) {
    double acc = 0;
    for (std::size_t j = i * d; j < (i + 1) * d; ++j) {
      const double dm = double(mq[j]) - double(mp[j]);
      acc += double(lvp[j]) - double(lvq[j]) + (std::exp(double(lvq[j])) + dm * dm) * std::exp(-double(lvp[j])) - 1.0;
    }
    out[i] = static_cast<T>(0.5 * acc);
  });
}

template <class T>
void diag_gaussian_kl_backward(const T* mq, const T* lvq, const T* mp, const T* lvp, const T* g, std::size_t n,
                               std::size_t d, T* gmq, T* glvq, T* gmp, T* glvp) {
  for_rows(n, d, 2 * kTransOp, [&](std::size_t i) {
    const T gi = g[i];
    for (std::size_t j = i * d; j < (i + 1) * d; ++j) {
      const T dm = mq[j] - mp[j];
      const T ivp = std::exp(-lvp[j]);
      const T vq = std::exp(lvq[j]);
      if (gmq) gmq[j] = gi * dm * ivp;
      if (gmp) gmp[j] = -gi * dm * ivp;
      if (glvq) glvq[j] = gi * T(0.5) * (vq * ivp - T(1));
      if (glvp) glvp[j] = gi * T(0.5) * (T(1) - (vq + dm * dm) * ivp);
    }
  });
}

template <class T>
void diag_gaussian_sample(const T* mu, const T* lv, const T* eps, std::size_t n, std::size_t d, T* z) {
  for_rows(n, d, kTransOp, [&](std::size_t i) {
    for (std::size_t j = i * d; j < (i + 1) * d; ++j) z[j] = mu[j] + std::exp(T(0.5) * lv[j]) * eps[j];
  });
}

template <class T>
void diag_gaussian_sample_backward(const T* lv, const T* eps, const T* gz, std::size_t n, std::size_t d, T* gmu,
                                   T* glv) {
  for_rows(n, d, kTransOp, [&](std::size_t i) {
    for (std::size_t j = i * d; j < (i + 1) * d; ++j) {
      if (gmu) gmu[j] = gz[j];
      if (glv) glv[j] = gz[j] * T(0.5) * std::exp(T(0.5) * lv[j]) * eps[j];
    }
  });
}

// ---- Cholesky-parameterised Gaussians ----------------------------------------------------------------

template <class T>
void cholesky_unpack(const T* raw, std::size_t n, std::size_t d, DiagTransform tr, T* Lout) {
  const std::size_t P = tri(d);
  for_rows(n, d * d, kCheapOp, [&](std::size_t s) {
    const T* r = raw + s * P;
    T* L = Lout + s * d * d;
    for (std::size_t i = 0; i < d; ++i) {
      for (std::size_t j = 0; j < i; ++j) L[i * d + j] = r[tri(i) + j];
      T Lii, logL, dL;
      diag_value(r[tri(i) + i], tr, Lii, logL, dL);
      L[i * d + i] = Lii;
      for (std::size_t j = i + 1; j < d; ++j) L[i * d + j] = T(0);
    }
  });
}

namespace {

/// Per-sample triangular solves for the Cholesky log-density: s = L^{-1} r and (optionally) t = L^{-T} s.
/// Diagonal values, logs and derivatives go into diag (3 x d). Returns sum of log L_ii.
template <class T>
double chol_solve(const double* r, const T* raw, std::size_t d, DiagTransform tr, double* s, double* t, double* diag) {
  double logdet = 0;
  for (std::size_t i = 0; i < d; ++i) {
    T Lii, logL, dL;
    diag_value(raw[tri(i) + i], tr, Lii, logL, dL);
    diag[i] = Lii;
    diag[d + i] = dL;
    logdet += logL;
    double acc = r[i];
    for (std::size_t j = 0; j < i; ++j) acc -= double(raw[tri(i) + j]) * s[j];
    s[i] = acc / double(Lii);
  }
  if (t) {
    for (std::size_t i = d; i-- > 0;) {
      double acc = s[i];
      for (std::size_t k = i + 1; k < d; ++k) acc -= double(raw[tri(k) + i]) * t[k];
      t[i] = acc / diag[i];
    }
  }
  return logdet;
}

}  // namespace

template <class T>
void chol_gaussian_logpdf(const T* x, const T* mu, const T* raw, std::size_t n, std::size_t d, DiagTransform tr,
                          T* out) {
  const std::size_t P = tri(d);
  const int nt = threads_for_work(kCheapOp * static_cast<double>(n) * static_cast<double>(P + d));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    std::vector<double> r(d), s(d), diag(2 * d);
#pragma omp for schedule(static)
    for (idx ii = 0; ii < static_cast<idx>(n); ++ii) {
      const std::size_t i = static_cast<std::size_t>(ii);
      for (std::size_t j = 0; j < d; ++j) r[j] = double(x[i * d + j]) - double(mu[i * d + j]);
      const double logdet = chol_solve(r.data(), raw + i * P, d, tr, s.data(), nullptr, diag.data());
      double q = 0;
      for (std::size_t j = 0; j < d; ++j) q += s[j] * s[j];
      out[i] = static_cast<T>(-0.5 * (double(d) * kLog2Pi + q) - logdet);
    }
  }
}

template <class T>
void chol_gaussian_logpdf_backward(const T* x, const T* mu, const T* raw, const T* g, std::size_t n, std::size_t d,
                                   DiagTransform tr, T* gx, T* gmu, T* graw) {
  const std::size_t P = tri(d);
  const int nt = threads_for_work(2 * kCheapOp * static_cast<double>(n) * static_cast<double>(P + d));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    std::vector<double> r(d), s(d), t(d), diag(2 * d);
#pragma omp for schedule(static)
    for (idx ii = 0; ii < static_cast<idx>(n); ++ii) {
      const std::size_t i = static_cast<std::size_t>(ii);
      const T* rw = raw + i * P;
      for (std::size_t j = 0; j < d; ++j) r[j] = double(x[i * d + j]) - double(mu[i * d + j]);
      chol_solve(r.data(), rw, d, tr, s.data(), t.data(), diag.data());
      const double gi = double(g[i]);
      for (std::size_t j = 0; j < d; ++j) {
        if (gx) gx[i * d + j] = static_cast<T>(-gi * t[j]);
        if (gmu) gmu[i * d + j] = static_cast<T>(gi * t[j]);
      }
      if (graw) {
        T* gr = graw + i * P;
        for (std::size_t a = 0; a < d; ++a) {
          for (std::size_t b = 0; b < a; ++b) gr[tri(a) + b] = static_cast<T>(gi * t[a] * s[b]);
          gr[tri(a) + a] = static_cast<T>(gi * (t[a] * s[a] - 1.0 / diag[a]) * diag[d + a]);
        }
      }
    }
  }
}

template <class T>
void chol_gaussian_kl(const T* mq, const T* raw, const T* mp, const T* lvp, std::size_t n, std::size_t d,
                      DiagTransform tr, T* out) {
  const std::size_t P = tri(d);
  for_rows(n, P + d, kCheapOp, [&](std::size_t s) {
    const T* rw = raw + s * P;
    double acc = 0;
    for (std::size_t i = 0; i < d; ++i) {
      T Lii, logL, dL;
      diag_value(rw[tri(i) + i], tr, Lii, logL, dL);
      double row = double(Lii) * double(Lii);
      for (std::size_t j = 0; j < i; ++j) row += double(rw[tri(i) + j]) * double(rw[tri(i) + j]);
      const double dm = double(mq[s * d + i]) - double(mp[s * d + i]);
      const double lp = double(lvp[s * d + i]);
      acc += (row + dm * dm) * std::exp(-lp) - 1.0 + lp - 2.0 * double(logL);
    }
    out[s] = static_cast<T>(0.5 * acc);
  });
}

template <class T>
void chol_gaussian_kl_backward(const T* mq, const T* raw, const T* mp, const T* lvp, const T* g, std::size_t n,
                               std::size_t d, DiagTransform tr, T* gmq, T* graw, T* gmp, T* glvp) {
  const std::size_t P = tri(d);
  for_rows(n, P + d, 2 * kCheapOp, [&](std::size_t s) {
    const T* rw = raw + s * P;
    const double gi = double(g[s]);
    for (std::size_t i = 0; i < d; ++i) {
      T Lii, logL, dL;
      diag_value(rw[tri(i) + i], tr, Lii, logL, dL);
      const double ivp = std::exp(-double(lvp[s * d + i]));
      double row = double(Lii) * double(Lii);
      for (std::size_t j = 0; j < i; ++j) {
        const double Lij = double(rw[tri(i) + j]);
        row += Lij * Lij;
        if (graw) graw[s * P + tri(i) + j] = static_cast<T>(gi * Lij * ivp);
      }
      if (graw) graw[s * P + tri(i) + i] = static_cast<T>(gi * (double(Lii) * ivp - 1.0 / double(Lii)) * double(dL));
      const double dm = double(mq[s * d + i]) - double(mp[s * d + i]);
      if (gmq) gmq[s * d + i] = static_cast<T>(gi * dm * ivp);
      if (gmp) gmp[s * d + i] = static_cast<T>(-gi * dm * ivp);
      if (glvp) glvp[s * d + i] = static_cast<T>(gi * 0.5 * (1.0 - (row + dm * dm) * ivp));
    }
  });
}

template <class T>
void chol_gaussian_sample(const T* mu, const T* raw, const T* eps, std::size_t n, std::size_t d, DiagTransform tr,
                          T* z) {
  const std::size_t P = tri(d);
  for_rows(n, P + d, kCheapOp, [&](std::size_t s) {
    const T* rw = raw + s * P;
    const T* e = eps + s * d;
    for (std::size_t i = 0; i < d; ++i) {
      T Lii, logL, dL;
      diag_value(rw[tri(i) + i], tr, Lii, logL, dL);
      T acc = mu[s * d + i] + Lii * e[i];
      for (std::size_t j = 0; j < i; ++j) acc += rw[tri(i) + j] * e[j];
      z[s * d + i] = acc;
    }
  });
}

template <class T>
void chol_gaussian_sample_backward(const T* raw, const T* eps, const T* gz, std::size_t n, std::size_t d,
                                   DiagTransform tr, T* gmu, T* graw) {
  const std::size_t P = tri(d);
  for_rows(n, P + d, kCheapOp, [&](std::size_t s) {
    const T* rw = raw + s * P;
    const T* e = eps + s * d;
    for (std::size_t i = 0; i < d; ++i) {
      const T gi = gz[s * d + i];
      if (gmu) gmu[s * d + i] = gi;
      if (graw) {
        T Lii, logL, dL;
        diag_value(rw[tri(i) + i], tr, Lii, logL, dL);
        for (std::size_t j = 0; j < i; ++j) graw[s * P + tri(i) + j] = gi * e[j];
        graw[s * P + tri(i) + i] = gi * e[i] * dL;
      }
    }
  });
}

// ---- Adam --------------------------------------------------------------------------------------------

namespace {

template <class T>
struct AdamScalars {
  T b1, b2, eps, wd, decay, step_size, inv_sqrt_bc2;
};

/// Adam on one chunk; restrict-qualified, with the options as template flags, so that it vectorises.
template <class T, bool L2, bool Decoupled>
void adam_chunk(T* __restrict p, const T* __restrict grad, T* __restrict m, T* __restrict v, std::size_t n,
                AdamScalars<T> s) {
  for (std::size_t i = 0; i < n; ++i) {
    T g = grad[i];
    if constexpr (L2) g += s.wd * p[i];
    T pi = p[i];
    if constexpr (Decoupled) pi *= s.decay;
    const T mi = s.b1 * m[i] + (T(1) - s.b1) * g;
    const T vi = s.b2 * v[i] + (T(1) - s.b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - s.step_size * mi / (std::sqrt(vi) * s.inv_sqrt_bc2 + s.eps);
  }
}

}  // namespace

template <class T>
void adam_update(T* p, const T* grad, T* m, T* v, std::size_t n, std::int64_t step, const AdamConfig& c) {
  if (step < 1) throw std::invalid_argument("Adam step must be >= 1; got " + std::to_string(step));
  if (!(c.beta1 >= 0 && c.beta1 < 1) || !(c.beta2 >= 0 && c.beta2 < 1))
    throw std::invalid_argument("Adam betas must lie in [0, 1)");
  if (!(c.lr >= 0) || !(c.eps > 0) || !(c.weight_decay >= 0))
    throw std::invalid_argument("Adam needs lr >= 0, eps > 0 and weight_decay >= 0");
  const double bc1 = 1.0 - std::pow(c.beta1, double(step));
  const double bc2 = 1.0 - std::pow(c.beta2, double(step));
  const T step_size = static_cast<T>(c.lr / bc1);
  const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(bc2));
  const T b1 = static_cast<T>(c.beta1), b2 = static_cast<T>(c.beta2), eps = static_cast<T>(c.eps);
  const T wd = static_cast<T>(c.weight_decay);
  const T decay = static_cast<T>(1.0 - c.lr * c.weight_decay);
  const bool l2 = c.weight_decay != 0 && !c.decoupled, dec = c.weight_decay != 0 && c.decoupled;
  const AdamScalars<T> sc{b1, b2, eps, wd, decay, step_size, inv_sqrt_bc2};
  const int nt = threads_for_work(10.0 * static_cast<double>(n));
  constexpr std::size_t kChunk = 4096;
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (idx ci = 0; ci < static_cast<idx>(chunks); ++ci) {
    const std::size_t lo = static_cast<std::size_t>(ci) * kChunk, len = std::min(kChunk, n - lo);
    if (l2)
      adam_chunk<T, true, false>(p + lo, grad + lo, m + lo, v + lo, len, sc);
    else if (dec)
      adam_chunk<T, false, true>(p + lo, grad + lo, m + lo, v + lo, len, sc);
    else
      adam_chunk<T, false, false>(p + lo, grad + lo, m + lo, v + lo, len, sc);
  }
}

// ---- random numbers --------------------------------------------------------------------------------

void philox4x32_10(const std::uint32_t counter[4], const std::uint32_t key[2], std::uint32_t out[4]) {
  std::uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  std::uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    const std::uint64_t p0 = static_cast<std::uint64_t>(kPhiloxM0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(kPhiloxM1) * c2;
    const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
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

template <class T>
void random_uniform(std::uint64_t seed, std::uint64_t offset, std::size_t n, T* out) {
  if (n > 0 && offset + n - 1 < offset) throw std::invalid_argument("random offset + size overflows 2^64");
  const std::uint64_t end = offset + n;
  for_blocks(seed, offset, n, 8.0, [&](std::uint64_t b, const std::uint32_t* w) {
    const std::uint64_t k0 = 2 * b;
    if (k0 >= offset && k0 < end) out[k0 - offset] = to_unit<T>(u53(w[0], w[1]));
    if (k0 + 1 >= offset && k0 + 1 < end) out[k0 + 1 - offset] = to_unit<T>(u53(w[2], w[3]));
  });
}

template <class T>
void random_normal(std::uint64_t seed, std::uint64_t offset, std::size_t n, T* out) {
  if (n > 0 && offset + n - 1 < offset) throw std::invalid_argument("random offset + size overflows 2^64");
  const std::uint64_t end = offset + n;
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for_blocks(seed, offset, n, 40.0, [&](std::uint64_t b, const std::uint32_t* w) {
    const double u1 = u53(w[0], w[1]) + 0x1.0p-53;  // (0, 1]: log is finite
    const double u2 = u53(w[2], w[3]);
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double th = kTwoPi * u2;
    const std::uint64_t k0 = 2 * b;
    if (k0 >= offset && k0 < end) out[k0 - offset] = static_cast<T>(r * std::cos(th));
    if (k0 + 1 >= offset && k0 + 1 < end) out[k0 + 1 - offset] = static_cast<T>(r * std::sin(th));
  });
}

// ---- instantiations ---------------------------------------------------------------------------------

namespace {
/// No NaN or inf among p[0..n): an OR over the exponent bits (all ones exactly for NaN and inf),
/// which vectorises where a chain of std::isfinite calls does not.
template <class T>
bool all_finite(const T* p, std::size_t n) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr int mantissa = std::numeric_limits<T>::digits - 1;
  constexpr Bits exponent = ((Bits{1} << (sizeof(T) * 8 - 1 - mantissa)) - 1) << mantissa;
  Bits bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, p + i, sizeof b);
    bad |= static_cast<Bits>((b & exponent) == exponent);
  }
  return bad == 0;
}
}  // namespace

std::size_t mse_step_workspace_size(const MLPSpec& spec, std::size_t n) {
  return spec.workspace_size(n) + n * spec.sizes.front() + n * spec.sizes.back();
}

namespace {

/// mlp_mse_adam_step with the loss divided by n * d_out (mean_over_outputs) or by n; with a one-hot
/// input, X holds the dense columns and `onehot` the labels of the batch's n rows (already gathered).
template <class T>
double regression_adam_step(const MLPSpec& spec, T* params, T* m, T* v, std::int64_t step, const AdamConfig& cfg,
                            const T* X, const T* Y, const std::int64_t* rows, std::size_t n, T* workspace, T* grad,
                            bool mean_over_outputs, OneHotInput onehot = {}) {
  const std::size_t d_in = dense_inputs(spec, onehot), d_out = spec.sizes.back();
  T* passes = workspace;
  T* batch = passes + spec.workspace_size(n);
  T* out = batch + n * d_in;
  const T* Xb = X;
  if (rows) {
    for (std::size_t i = 0; i < n; ++i) {
      const T* src = X + static_cast<std::size_t>(rows[i]) * d_in;
      std::copy(src, src + d_in, batch + i * d_in);
    }
    Xb = batch;
  }
  // The batch is checked here rather than the whole data set on every step.
  bool finite = all_finite(Xb, n * d_in);
  for (std::size_t i = 0; i < n && finite; ++i)
    finite = all_finite(Y + (rows ? static_cast<std::size_t>(rows[i]) : i) * d_out, d_out);
  if (!finite) throw std::invalid_argument("the batch rows of X or Y contain NaN or inf");
  mlp_forward(spec, params, Xb, n, out, passes, true, onehot);
  // The loss in double; the output buffer becomes dloss/dout = 2 (out - y) / count.
  const double count = static_cast<double>(mean_over_outputs ? n * d_out : n);
  const T scale = static_cast<T>(2.0 / count);
  double loss = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const T* y = Y + (rows ? static_cast<std::size_t>(rows[i]) : i) * d_out;
    T* o = out + i * d_out;
    for (std::size_t j = 0; j < d_out; ++j) {
      const T diff = o[j] - y[j];
      loss += static_cast<double>(diff) * static_cast<double>(diff);
      o[j] = scale * diff;
    }
  }
  if (!std::isfinite(loss))
    throw NumericalError("the MLP's output or the squared error overflows on this batch; nothing was updated");
  mlp_backward(spec, params, Xb, n, out, passes, grad, static_cast<T*>(nullptr), false, onehot);
  adam_update(params, grad, m, v, spec.n_params(), step, cfg);
  return loss / count;
}

}  // namespace

template <class T>
double mlp_mse_adam_step(const MLPSpec& spec, T* params, T* m, T* v, std::int64_t step, const AdamConfig& cfg,
                         const T* X, const T* Y, const std::int64_t* rows, std::size_t n, T* workspace, T* grad,
                         OneHotInput onehot) {
  std::vector<std::int64_t> labels;  // the batch's labels, gathered with its rows
  if (onehot.labels && rows) {
    labels.resize(n);
    for (std::size_t i = 0; i < n; ++i) labels[i] = onehot.labels[rows[i]];
    onehot.labels = labels.data();
  }
  return regression_adam_step(spec, params, m, v, step, cfg, X, Y, rows, n, workspace, grad, true, onehot);
}

template <class T>
double mlp_regression_epoch(const MLPSpec& spec, T* params, T* grad, T* m, T* v, std::int64_t adam_step,
                            const AdamConfig& cfg, const T* X, const T* Y, std::size_t n_rows,
                            const std::int64_t* order, std::size_t n_order, std::size_t batch, bool mean_over_outputs,
                            Interrupt& interrupt, std::int64_t* steps_done, OneHotInput onehot) {
  if (batch == 0) throw std::invalid_argument("batch must be >= 1");
  dense_inputs(spec, onehot);  // validates the one-hot block
  if (onehot.labels)
    for (std::size_t i = 0; i < n_rows; ++i)
      if (onehot.labels[i] < 0 || static_cast<std::size_t>(onehot.labels[i]) >= onehot.n_classes)
        throw std::invalid_argument("labels hold a value outside [0, n_classes)");
  for (std::size_t i = 0; i < n_order; ++i)
    if (order[i] < 0 || static_cast<std::size_t>(order[i]) >= n_rows)
      throw std::invalid_argument("order holds a row outside [0, n_rows)");
  const std::size_t cap = std::min(batch, std::max<std::size_t>(n_order, 1));
  std::vector<T> workspace(mse_step_workspace_size(spec, cap));
  std::vector<std::int64_t> labels(onehot.labels ? cap : 0);
  double total = 0.0;
  std::size_t k = 0;
  for (std::size_t s = 0; s < n_order; s += batch, ++k) {
    const std::size_t b = std::min(batch, n_order - s);
    OneHotInput batch_onehot;
    if (onehot.labels) {
      for (std::size_t i = 0; i < b; ++i) labels[i] = onehot.labels[order[s + i]];
      batch_onehot = {labels.data(), onehot.n_classes};
    }
    total += static_cast<double>(b) * regression_adam_step(spec, params, m, v, adam_step + std::int64_t(k) + 1, cfg,
                                                           X, Y, order + s, b, workspace.data(), grad,
                                                           mean_over_outputs, batch_onehot);
    if (steps_done) *steps_done = static_cast<std::int64_t>(k) + 1;
    if (interrupt.poll()) break;
  }
  return total;
}

#define FASTCRL_NN_INSTANTIATE(T)                                                                                   \
  template void mlp_forward<T>(const MLPSpec&, const T*, const T*, std::size_t, T*, T*, bool, OneHotInput);        \
  template void mlp_backward<T>(const MLPSpec&, const T*, const T*, std::size_t, const T*, T*, T*, T*, bool,       \
                                OneHotInput);                                                                      \
  template void diag_gaussian_logpdf<T>(const T*, const T*, const T*, std::size_t, std::size_t, T*);               \
  template void diag_gaussian_logpdf_backward<T>(const T*, const T*, const T*, const T*, std::size_t, std::size_t, \
                                                 T*, T*, T*);                                                      \
  template void diag_gaussian_kl<T>(const T*, const T*, const T*, const T*, std::size_t, std::size_t, T*);         \
  template void diag_gaussian_kl_backward<T>(const T*, const T*, const T*, const T*, const T*, std::size_t,        \
                                             std::size_t, T*, T*, T*, T*);                                         \
  template void diag_gaussian_sample<T>(const T*, const T*, const T*, std::size_t, std::size_t, T*);               \
  template void diag_gaussian_sample_backward<T>(const T*, const T*, const T*, std::size_t, std::size_t, T*, T*);  \
  template void cholesky_unpack<T>(const T*, std::size_t, std::size_t, DiagTransform, T*);                         \
  template void chol_gaussian_logpdf<T>(const T*, const T*, const T*, std::size_t, std::size_t, DiagTransform,     \
                                        T*);                                                                       \
  template void chol_gaussian_logpdf_backward<T>(const T*, const T*, const T*, const T*, std::size_t, std::size_t, \
                                                 DiagTransform, T*, T*, T*);                                       \
  template void chol_gaussian_kl<T>(const T*, const T*, const T*, const T*, std::size_t, std::size_t,              \
                                    DiagTransform, T*);                                                            \
  template void chol_gaussian_kl_backward<T>(const T*, const T*, const T*, const T*, const T*, std::size_t,        \
                                             std::size_t, DiagTransform, T*, T*, T*, T*);                          \
  template void chol_gaussian_sample<T>(const T*, const T*, const T*, std::size_t, std::size_t, DiagTransform,     \
                                        T*);                                                                       \
  template void chol_gaussian_sample_backward<T>(const T*, const T*, const T*, std::size_t, std::size_t,           \
                                                 DiagTransform, T*, T*);                                           \
  template void adam_update<T>(T*, const T*, T*, T*, std::size_t, std::int64_t, const AdamConfig&);                \
  template double mlp_mse_adam_step<T>(const MLPSpec&, T*, T*, T*, std::int64_t, const AdamConfig&, const T*,      \
                                       const T*, const std::int64_t*, std::size_t, T*, T*, OneHotInput);           \
  template double mlp_regression_epoch<T>(const MLPSpec&, T*, T*, T*, T*, std::int64_t, const AdamConfig&,         \
                                          const T*, const T*, std::size_t, const std::int64_t*, std::size_t,       \
                                          std::size_t, bool, Interrupt&, std::int64_t*, OneHotInput);              \
  template void random_uniform<T>(std::uint64_t, std::uint64_t, std::size_t, T*);                                  \
  template void random_normal<T>(std::uint64_t, std::uint64_t, std::size_t, T*);

FASTCRL_NN_INSTANTIATE(double)
FASTCRL_NN_INSTANTIATE(float)
#undef FASTCRL_NN_INSTANTIATE

}  // namespace fastcrl::nn
