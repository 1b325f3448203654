// Losses shared by NOTEARS and DAGMA, and NOTEARS's augmented-Lagrangian outer loop.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastcrl/acyclicity.hpp"
#include "fastcrl/blas.hpp"
#include "fastcrl/continuous.hpp"
#include "fastcrl/errors.hpp"

namespace fastcrl {

ContinuousLossEval::ContinuousLossEval(const ContinuousData& data) : data_(data) {
  if (data.d < 1) throw std::invalid_argument("continuous: d must be >= 1");
  if (data.loss == ContinuousLoss::L2) {
    if (!data.S) throw std::invalid_argument("continuous: the l2 loss needs the covariance S");
    work_.resize(data.d * data.d);
  } else {
    if (!data.X || data.n < 1) throw std::invalid_argument("continuous: the logistic loss needs the data X");
    work_.resize(data.n * data.d);
  }
}

std::vector<double> ContinuousLossEval::row_curvature() const {
  const std::size_t d = data_.d;
  std::vector<double> curv(d);
  for (std::size_t i = 0; i < d; ++i) {
    if (data_.loss == ContinuousLoss::L2) {
      curv[i] = data_.S[i * d + i];
    } else {
      double m = 0.0;
      for (std::size_t r = 0; r < data_.n; ++r) m += data_.X[r * d + i] * data_.X[r * d + i];
      curv[i] = 0.25 * m / static_cast<double>(data_.n);
    }
  }
  return curv;
}

double ContinuousLossEval::operator()(const double* W, double* grad) {
  const std::size_t d = data_.d;
  const int di = static_cast<int>(d);
  if (data_.loss == ContinuousLoss::L2) {
    // R = S (I - W); loss = 0.5 <I - W, R>; grad = -R.
    double* R = work_.data();
    std::copy(data_.S, data_.S + d * d, R);
    blas::gemm(CblasNoTrans, CblasNoTrans, di, di, di, -1.0, data_.S, di, W, di, 1.0, R, di);
    double loss = 0.0;
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) {
        const std::size_t k = i * d + j;
        loss += ((i == j ? 1.0 : 0.0) - W[k]) * R[k];
        grad[k] = -R[k];
      }
    return 0.5 * loss;
  }
  const std::size_t n = data_.n;
  const int ni = static_cast<int>(n);
  double* M = work_.data();
  blas::gemm(CblasNoTrans, CblasNoTrans, ni, di, di, 1.0, data_.X, di, W, di, 0.0, M, di);
  double loss = 0.0;
  for (std::size_t k = 0; k < n * d; ++k) {
    const double m = M[k], x = data_.X[k];
    const double softplus = m > 0.0 ? m + std::log1p(std::exp(-m)) : std::log1p(std::exp(m));
    loss += softplus - x * m;
    const double sig = m >= 0.0 ? 1.0 / (1.0 + std::exp(-m)) : std::exp(m) / (1.0 + std::exp(m));
    M[k] = sig - x;
  }
  blas::gemm(CblasTrans, CblasNoTrans, di, di, ni, 1.0 / static_cast<double>(n), data_.X, di, M, di, 0.0, grad, di);
  return loss / static_cast<double>(n);
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Value and gradient of h for NOTEARS; +inf outside logdet's domain.
double notears_h(NotearsConstraint c, const double* W, std::size_t d, double* grad, Interrupt& interrupt) {
  double h = 0.0;
  switch (c) {
    case NotearsConstraint::Expm:
      expm_constraint<double>(W, 1, d, ExpmMethod::Taylor, &h, grad, interrupt);
      break;
    case NotearsConstraint::Poly:
      poly_constraint<double>(W, 1, d, &h, grad, interrupt);
      break;
    case NotearsConstraint::Logdet:
      logdet_constraint<double>(W, 1, d, 1.0, DomainPolicy::Flag, &h, grad, interrupt);
      break;
  }
  return h;
}

/// E ~ f(A) for the preconditioner (A = W o W >= 0): exp(A) for the trace-exponential and the
/// polynomial constraint ((I + A/d)^d ~ exp(A)), (I - A)^{-1} for log-det. Scaling and squaring with
/// a degree-8 Taylor polynomial: only a preconditioner, so a few digits are plenty. Returns false when
/// the result is not finite (then only the loss curvature is used).
bool constraint_matrix(NotearsConstraint c, const double* W, std::size_t d, std::vector<double>& E,
                       std::vector<double>& T1, std::vector<double>& T2) {
  const std::size_t dd = d * d;
  const int n = static_cast<int>(d);
  E.assign(dd, 0.0);
  if (c == NotearsConstraint::Logdet) {
    for (std::size_t k = 0; k < dd; ++k) E[k] = -W[k] * W[k];
    for (std::size_t i = 0; i < d; ++i) E[i * d + i] += 1.0;
    std::vector<lapack_int> piv(d);
    if (scipy_LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, E.data(), n, piv.data()) != 0 ||
        scipy_LAPACKE_dgetri(LAPACK_ROW_MAJOR, n, E.data(), n, piv.data()) != 0)
      return false;
  } else {
    T1.resize(dd);
    T2.resize(dd);
    double norm = 0.0;  // max row sum of A (A >= 0)
    for (std::size_t i = 0; i < d; ++i) {
      double r = 0.0;
      for (std::size_t j = 0; j < d; ++j) r += W[i * d + j] * W[i * d + j];
      norm = std::max(norm, r);
    }
    int squarings = 0;
    while (norm > 0.5 && squarings < 60) {
      norm *= 0.5;
      ++squarings;
    }
    const double scale = std::ldexp(1.0, -squarings);
    // Horner: E = I + B (I + B/2 (I + B/3 (... (I + B/8)))), B = scale A.
    std::vector<double>& B = T1;
    for (std::size_t k = 0; k < dd; ++k) B[k] = scale * W[k] * W[k];
    for (std::size_t i = 0; i < d; ++i) E[i * d + i] = 1.0;
    for (int m = 8; m >= 1; --m) {
      blas::gemm(CblasNoTrans, CblasNoTrans, n, n, n, 1.0 / m, B.data(), n, E.data(), n, 0.0, T2.data(), n);
      for (std::size_t i = 0; i < d; ++i) T2[i * d + i] += 1.0;
      E.swap(T2);
    }
    for (int q = 0; q < squarings; ++q) {
      blas::gemm(CblasNoTrans, CblasNoTrans, n, n, n, 1.0, E.data(), n, E.data(), n, 0.0, T2.data(), n);
      E.swap(T2);
    }
  }
  for (double v : E)
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

ContinuousResult notears_fit(const ContinuousData& data, const EdgeMasks& masks, const NotearsConfig& cfg,
                             const OuterCallback& callback, Interrupt& interrupt) {
  const std::size_t d = data.d, dd = d * d;
  if (!(cfg.lambda1 >= 0.0)) throw std::invalid_argument("NOTEARS: lambda1 must be >= 0");
  if (cfg.max_iter < 1) throw std::invalid_argument("NOTEARS: max_iter must be >= 1");
  if (!(cfg.h_tol >= 0.0)) throw std::invalid_argument("NOTEARS: h_tol must be >= 0");
  if (!(cfg.rho_max > 1.0)) throw std::invalid_argument("NOTEARS: rho_max must be > 1");
  const auto t0 = std::chrono::steady_clock::now();
  ContinuousLossEval loss_eval(data);

  // Bounds: W+ and W- in [0, inf) on free entries, [0, 0] elsewhere (diagonal, forbidden).
  std::vector<double> upper(2 * dd, 0.0), lower(2 * dd, 0.0), pen(dd, 1.0);
  for (std::size_t k = 0; k < dd; ++k) {
    const bool diag = (k / d) == (k % d);
    const bool free = masks.free ? masks.free[k] != 0 && !diag : !diag;
    upper[k] = upper[dd + k] = free ? std::numeric_limits<double>::infinity() : 0.0;
    if (masks.penalty) pen[k] = masks.penalty[k];
  }

  std::vector<double> W(dd), GL(dd), Gh(dd);
  double rho = 1.0, alpha = 0.0;
  auto to_W = [&](const double* w) {
    for (std::size_t k = 0; k < dd; ++k) W[k] = w[k] - w[dd + k];
  };
  auto l1 = [&](const double* w) {
    double s = 0.0;
    for (std::size_t k = 0; k < dd; ++k) s += pen[k] * (w[k] + w[dd + k]);
    return s;
  };
  const ObjectiveFn al = [&](const double* w, double* g) -> double {
    to_W(w);
    double h;
    try {
      h = notears_h(cfg.constraint, W.data(), d, Gh.data(), interrupt);
    } catch (const NumericalError&) {
      return std::numeric_limits<double>::infinity();  // exp(W o W) overflows: a trial step too far, rejected
    }
    if (!std::isfinite(h)) return std::numeric_limits<double>::infinity();
    const double L = loss_eval(W.data(), GL.data());
    const double c = rho * h + alpha;
    for (std::size_t k = 0; k < dd; ++k) {
      const double G = GL[k] + c * Gh[k];
      g[k] = G + cfg.lambda1 * pen[k];
      g[dd + k] = -G + cfg.lambda1 * pen[k];
    }
    return L + 0.5 * rho * h * h + alpha * h + cfg.lambda1 * l1(w);
  };

  // Diagonal preconditioner: the Hessian diagonal of loss + rho/2 h^2 + alpha h along W[i, j] is
  // S_ii + rho (dh/dW_ij)^2 + (rho h + alpha) d2h/dW_ij^2, with d2h/dW_ij^2 ~ 2 E_ji + 4 W_ij^2 E_ji^2
  // (E = exp(W o W), or (I - W o W)^{-1} for log-det). The penalty makes late solves stiff; without
  // it L-BFGS spent most of its iterations there.
  const std::vector<double> loss_curv = loss_eval.row_curvature();
  std::vector<double> Ep, T1, T2, Wp(dd), Ghp(dd);
  const DiagonalFn diagonal = [&](const double* w, double* D) {
    for (std::size_t k = 0; k < dd; ++k) Wp[k] = w[k] - w[dd + k];
    double hp = std::numeric_limits<double>::infinity();
    try {
      hp = notears_h(cfg.constraint, Wp.data(), d, Ghp.data(), interrupt);
    } catch (const NumericalError&) {
    }
    const bool ok = std::isfinite(hp) && constraint_matrix(cfg.constraint, Wp.data(), d, Ep, T1, T2);
    const double c = rho * hp + alpha;
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) {
        const std::size_t k = i * d + j;
        double hk = loss_curv[i];
        if (ok) {
          const double e = std::max(Ep[j * d + i], 0.0);
          hk += rho * Ghp[k] * Ghp[k] + std::max(c, 0.0) * (2.0 * e + 4.0 * Wp[k] * Wp[k] * e * e);
        }
        D[k] = D[dd + k] = std::max(hk, 1e-12);
      }
  };

  std::vector<double> w_est(2 * dd, 0.0), w_new(2 * dd);
  double h = std::numeric_limits<double>::infinity();
  ContinuousResult res;
  for (int it = 1; it <= cfg.max_iter; ++it) {
    long nit = 0;
    int n_solves = 0;
    bool ok = true;
    double h_new = 0.0, rho_used = rho;
    for (;;) {
      rho_used = rho;
      w_new = w_est;
      const LbfgsbResult r =
          lbfgsb_minimize(al, 2 * dd, w_new.data(), lower.data(), upper.data(), cfg.lbfgs, diagonal, interrupt);
      nit += r.n_iter;
      ++n_solves;
      ok = ok && r.converged();
      to_W(w_new.data());
      h_new = notears_h(cfg.constraint, W.data(), d, Gh.data(), interrupt);
      if (!std::isfinite(h_new)) throw NumericalError("NOTEARS: h became non-finite");
      if (h_new > 0.25 * h) {
        rho *= 10.0;
        if (rho >= cfg.rho_max) break;
      } else {
        break;
      }
    }
    w_est = w_new;
    h = h_new;
    alpha += rho * h;
    to_W(w_est.data());
    OuterRecord rec;
    rec.iteration = it;
    rec.rho = rho_used;
    rec.alpha = alpha;
    rec.h = h;
    rec.loss = loss_eval(W.data(), GL.data());
    rec.objective = rec.loss + cfg.lambda1 * l1(w_est.data());
    rec.inner_iterations = nit;
    rec.n_solves = n_solves;
    rec.inner_converged = ok;
    rec.seconds = seconds_since(t0);
    res.history.push_back(rec);
    if (callback) callback(rec);
    if (interrupt.poll()) interrupt.rethrow_if_stopped();
    if (h <= cfg.h_tol || rho >= cfg.rho_max) break;
  }
  to_W(w_est.data());
  res.W = W;
  res.h = h;
  res.loss = res.history.back().loss;
  res.n_iter = static_cast<int>(res.history.size());
  res.converged = h <= cfg.h_tol;
  return res;
}

}  // namespace fastcrl
