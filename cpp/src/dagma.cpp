// DAGMA's central path (Bello, Aragam & Ravikumar 2022) with the published Adam recipe or L-BFGS-B.
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

namespace {

struct InnerOutcome {
  bool success = true;    ///< false: Adam left the domain where the published code restarts with a larger s
  bool converged = false;
  long iterations = 0;
  double lr = 0.0;
};

class DagmaProblem {
 public:
  DagmaProblem(const ContinuousData& data, const EdgeMasks& masks, const DagmaConfig& cfg, Interrupt& interrupt)
      : d_(data.d), dd_(data.d * data.d), cfg_(cfg), interrupt_(interrupt), loss_(data), free_(dd_), pen_(dd_, 1.0),
        GL_(dd_), Gh_(dd_), loss_curv_(loss_.row_curvature()), Minv_(dd_), piv_(d_) {
    for (std::size_t k = 0; k < dd_; ++k) {
      const bool diag = (k / d_) == (k % d_);
      free_[k] = masks.free ? (masks.free[k] != 0 && !diag) : !diag;
      if (masks.penalty) pen_[k] = masks.penalty[k];
    }
  }

  /// h_s(W) and its gradient in Gh_; +inf outside the domain s > rho(W o W).
  double h(const double* W, double s) {
    double v = 0.0;
    logdet_constraint<double>(W, 1, d_, s, DomainPolicy::Flag, &v, Gh_.data(), interrupt_);
    return v;
  }
  double l1(const double* W) const {
    double s = 0.0;
    for (std::size_t k = 0; k < dd_; ++k) s += pen_[k] * std::abs(W[k]);
    return s;
  }
  double loss(const double* W) { return loss_(W, GL_.data()); }

  /// Diagonal of the Hessian of loss + h_s / mu at W (d x d): loss_curv_i + (2 N_ji + 4 W_ij^2 N_ji^2) / mu
  /// with N = (sI - W o W)^{-1}, floored so that it is positive. For the preconditioner only, so an LU
  /// with partial pivoting is fine; outside the domain (not expected: W is a line-search iterate) the
  /// loss part alone is used.
  void hessian_diagonal(const double* W, double s, double mu, double* diag) {
    const int n = static_cast<int>(d_);
    for (std::size_t k = 0; k < dd_; ++k) Minv_[k] = -W[k] * W[k];
    for (std::size_t i = 0; i < d_; ++i) Minv_[i * d_ + i] += s;
    bool ok = scipy_LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, Minv_.data(), n, piv_.data()) == 0 &&
              scipy_LAPACKE_dgetri(LAPACK_ROW_MAJOR, n, Minv_.data(), n, piv_.data()) == 0;
    for (std::size_t k = 0; k < dd_ && ok; ++k) ok = std::isfinite(Minv_[k]);
    for (std::size_t i = 0; i < d_; ++i)
      for (std::size_t j = 0; j < d_; ++j) {
        const std::size_t k = i * d_ + j;
        double hk = loss_curv_[i];
        if (ok) {
          const double N = std::max(Minv_[j * d_ + i], 0.0);  // >= 0 inside the domain (an M-matrix inverse)
          hk += (2.0 * N + 4.0 * W[k] * W[k] * N * N) / mu;
        }
        diag[k] = std::max(hk, 1e-12);
      }
  }

  InnerOutcome lbfgs(std::vector<double>& W, double mu, double s, long cap, bool last) {
    // Scaled by 1/mu: loss + lambda1 |W|_1 + h_s / mu, on W = W+ - W-.
    std::vector<double> w(2 * dd_), lower(2 * dd_, 0.0), upper(2 * dd_, 0.0), Wt(dd_);
    for (std::size_t k = 0; k < dd_; ++k) {
      w[k] = std::max(W[k], 0.0);
      w[dd_ + k] = std::max(-W[k], 0.0);
      upper[k] = upper[dd_ + k] = free_[k] ? std::numeric_limits<double>::infinity() : 0.0;
    }
    const double lam = cfg_.lambda1, inv_mu = 1.0 / mu;
    const ObjectiveFn f = [&](const double* x, double* g) -> double {
      for (std::size_t k = 0; k < dd_; ++k) Wt[k] = x[k] - x[dd_ + k];
      const double hv = h(Wt.data(), s);
      if (!std::isfinite(hv)) return std::numeric_limits<double>::infinity();
      const double L = loss(Wt.data());
      double pen = 0.0;
      for (std::size_t k = 0; k < dd_; ++k) {
        const double G = GL_[k] + inv_mu * Gh_[k];
        g[k] = G + lam * pen_[k];
        g[dd_ + k] = -G + lam * pen_[k];
        pen += pen_[k] * (x[k] + x[dd_ + k]);
      }
      return L + lam * pen + inv_mu * hv;
    };
    LbfgsbConfig lc = cfg_.lbfgs;
    lc.max_iter = static_cast<int>(std::min<long>(cap, std::numeric_limits<int>::max() / 4));
    lc.max_fun = std::max(lc.max_fun, 2 * lc.max_iter + 10);
    // One iteration with little progress is common on these stiff problems long before the end (a
    // short step after an active-set change); demanding several in a row cost ~10% more iterations
    // and removed early stops that left the objective above Adam's.
    lc.ftol_patience = 5;
    // The warm-start problems only seed the next one on the central path: solving them to the final
    // tolerance cost 4-5x the time at d = 50-100 for the same final objective and graph.
    if (!last) lc.ftol = std::max(lc.ftol, cfg_.warm_ftol);
    std::vector<double> Dw(dd_);
    const DiagonalFn diag = [&](const double* x, double* D) {
      for (std::size_t k = 0; k < dd_; ++k) Wt[k] = x[k] - x[dd_ + k];
      hessian_diagonal(Wt.data(), s, mu, Dw.data());
      std::copy(Dw.begin(), Dw.end(), D);
      std::copy(Dw.begin(), Dw.end(), D + dd_);
    };
    // Diagonally preconditioned: the h_s / mu term makes the late problems stiff (curvature ~ 1 / (s mu)
    // along entries closing a cycle, S_ii along the others); with gamma I as initial Hessian L-BFGS needed
    // ~8x more iterations at d = 50 and stopped early at worse objectives.
    const LbfgsbResult r = lbfgsb_minimize(f, 2 * dd_, w.data(), lower.data(), upper.data(), lc, diag, interrupt_);
    for (std::size_t k = 0; k < dd_; ++k) W[k] = w[k] - w[dd_ + k];
    InnerOutcome out;
    out.converged = r.converged();
    out.iterations = r.n_iter;
    return out;
  }

  /// The published Adam loop (DagmaLinear.minimize), W updated in place.
  InnerOutcome adam(std::vector<double>& W, double mu, double s, double lr, long cap) {
    std::vector<double> m(dd_, 0.0), v(dd_, 0.0), step(dd_, 0.0);
    double b1t = 1.0, b2t = 1.0, obj_prev = 1e16;
    const double b1 = cfg_.beta_1, b2 = cfg_.beta_2, lam = cfg_.lambda1;
    InnerOutcome out;
    out.lr = lr;
    for (long it = 1; it <= cap; ++it) {
      out.iterations = it;
      if (interrupt_.poll()) interrupt_.rethrow_if_stopped();
      double hv = h(W.data(), s);
      while (!std::isfinite(hv)) {  // left the domain: undo the step, retry it with half the rate
        if (it == 1 || s <= 0.9) {
          out.success = false;
          return out;
        }
        for (std::size_t k = 0; k < dd_; ++k) W[k] += out.lr * step[k];
        out.lr *= 0.5;
        if (out.lr <= 1e-16) return out;
        for (std::size_t k = 0; k < dd_; ++k) W[k] -= out.lr * step[k];
        hv = h(W.data(), s);
      }
      loss(W.data());
      b1t *= b1;
      b2t *= b2;
      for (std::size_t k = 0; k < dd_; ++k) {
        if (!free_[k]) continue;
        const double sg = W[k] > 0.0 ? 1.0 : (W[k] < 0.0 ? -1.0 : 0.0);
        const double G = mu * (GL_[k] + lam * pen_[k] * sg) + Gh_[k];
        m[k] = b1 * m[k] + (1.0 - b1) * G;
        v[k] = b2 * v[k] + (1.0 - b2) * G * G;
        step[k] = (m[k] / (1.0 - b1t)) / (std::sqrt(v[k] / (1.0 - b2t)) + 1e-8);
        W[k] -= out.lr * step[k];
      }
      if (it % cfg_.checkpoint == 0 || it == cap) {
        const double hn = h(W.data(), s);
        if (!std::isfinite(hn)) continue;  // the next step backtracks into the domain first
        const double obj = mu * (loss(W.data()) + lam * l1(W.data())) + hn;
        if (!std::isfinite(obj)) throw NumericalError("DAGMA: the objective became non-finite");
        if (std::abs((obj_prev - obj) / obj_prev) <= cfg_.tol) {
          out.converged = true;
          break;
        }
        obj_prev = obj;
      }
    }
    return out;
  }

 private:
  std::size_t d_, dd_;
  const DagmaConfig& cfg_;
  Interrupt& interrupt_;
  ContinuousLossEval loss_;
  std::vector<char> free_;
  std::vector<double> pen_, GL_, Gh_, loss_curv_, Minv_;
  std::vector<lapack_int> piv_;
};

}  // namespace

ContinuousResult dagma_fit(const ContinuousData& data, const EdgeMasks& masks, const DagmaConfig& cfg,
                           const OuterCallback& callback, Interrupt& interrupt) {
  if (!(cfg.lambda1 >= 0.0)) throw std::invalid_argument("DAGMA: lambda1 must be >= 0");
  if (cfg.T < 1) throw std::invalid_argument("DAGMA: T must be >= 1");
  if (static_cast<int>(cfg.s.size()) != cfg.T) throw std::invalid_argument("DAGMA: s must have T entries");
  for (double s : cfg.s)
    if (!(s > 0.0)) throw std::invalid_argument("DAGMA: every s must be > 0");
  if (!(cfg.mu_init > 0.0) || !(cfg.mu_factor > 0.0 && cfg.mu_factor <= 1.0))
    throw std::invalid_argument("DAGMA: need mu_init > 0 and 0 < mu_factor <= 1");
  if (cfg.warm_iter < 1 || cfg.max_iter < 1 || cfg.checkpoint < 1)
    throw std::invalid_argument("DAGMA: warm_iter, max_iter and checkpoint must be >= 1");
  if (!(cfg.lr > 0.0) || !(cfg.beta_1 >= 0.0 && cfg.beta_1 < 1.0) || !(cfg.beta_2 >= 0.0 && cfg.beta_2 < 1.0))
    throw std::invalid_argument("DAGMA: need lr > 0 and betas in [0, 1)");
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t dd = data.d * data.d;
  DagmaProblem prob(data, masks, cfg, interrupt);
  std::vector<double> W(dd, 0.0);
  ContinuousResult res;
  double mu = cfg.mu_init;
  for (int t = 0; t < cfg.T; ++t) {
    const long cap = t == cfg.T - 1 ? cfg.max_iter : cfg.warm_iter;
    double s = cfg.s[t];
    int retries = 0;
    InnerOutcome out;
    if (cfg.solver == DagmaSolver::Lbfgs) {
      // The previous solution may lie outside the smaller domain: enlarge s as the published retry does.
      while (!std::isfinite(prob.h(W.data(), s))) {
        s += 0.1;
        if (++retries > 1000) throw NumericalError("DAGMA: the warm start is outside every domain tried");
      }
      out = prob.lbfgs(W, mu, s, cap, t == cfg.T - 1);
    } else {
      double lr = cfg.lr;
      for (;;) {
        std::vector<double> Wt = W;
        out = prob.adam(Wt, mu, s, lr, cap);
        if (out.success) {
          W.swap(Wt);
          break;
        }
        if (++retries > 1000) throw NumericalError("DAGMA: the iterate left the domain 1000 times");
        lr *= 0.5;
        s += 0.1;
      }
    }
    OuterRecord rec;
    rec.iteration = t + 1;
    rec.rho = mu;
    rec.alpha = s;
    rec.h = prob.h(W.data(), s);
    rec.loss = prob.loss(W.data());
    rec.objective = mu * (rec.loss + cfg.lambda1 * prob.l1(W.data())) + rec.h;
    rec.inner_iterations = out.iterations;
    rec.n_solves = 1 + retries;
    rec.inner_converged = out.converged;
    rec.lr = out.lr;
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.history.push_back(rec);
    res.s_used.push_back(s);
    if (callback) callback(rec);
    if (interrupt.poll()) interrupt.rethrow_if_stopped();
    mu *= cfg.mu_factor;
  }
  res.W = W;
  res.h = prob.h(W.data(), 1.0);
  res.loss = prob.loss(W.data());
  res.n_iter = cfg.T;
  res.converged = res.history.back().inner_converged;
  return res;
}

}  // namespace fastcrl
