// Projected L-BFGS with an active set and a projected Armijo backtracking search (see lbfgsb.hpp).
#include "fastcrl/lbfgsb.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastcrl/errors.hpp"

namespace fastcrl {

namespace {

double dot(const double* a, const double* b, std::size_t n) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;  // independent sums: the loop is latency-bound otherwise
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

/// Correction pairs (s, y) in a ring buffer, newest last.
class Memory {
 public:
  Memory(int m, std::size_t n) : m_(m), n_(n), S_(static_cast<std::size_t>(m) * n), Y_(S_.size()), rho_(m) {}

  void clear() { count_ = 0; }
  int size() const { return count_; }
  double gamma() const { return gamma_; }

  /// Keeps the pair only if it carries positive curvature (s.y > eps y.y), so H stays positive definite.
  bool push(const double* s, const double* y) {
    const double sy = dot(s, y, n_), yy = dot(y, y, n_);
    if (!(sy > std::numeric_limits<double>::epsilon() * yy) || !(yy > 0.0)) return false;
    const int slot = (head_ + count_) % m_;
    std::copy(s, s + n_, &S_[slot * n_]);
    std::copy(y, y + n_, &Y_[slot * n_]);
    rho_[slot] = 1.0 / sy;
    gamma_ = sy / yy;
    if (count_ < m_) ++count_; else head_ = (head_ + 1) % m_;
    return true;
  }

  /// r <- H q by the two-loop recursion restricted to the free variables (mask; inner products and
  /// the initial scaling use only those), so curvature from variables now held at a bound does not
  /// distort the step. q is overwritten; r is zero outside the mask. The pairs are gathered onto the
  /// free variables first: with W = W+ - W- most variables sit at their bound 0, and masked passes
  /// over all n variables cost more than the objective itself for d <= 100.
  /// dinv (nullable): a diagonal inverse-Hessian estimate; H0 = gamma diag(dinv) with gamma fitted to
  /// the newest pair (s.y / y.Dinv.y), instead of gamma I.
  void apply(double* q, double* r, std::vector<double>& a, const std::vector<char>& mask, const double* dinv) {
    a.assign(m_, 0.0);
    idx_.clear();
    for (std::size_t i = 0; i < n_; ++i)
      if (mask[i]) idx_.push_back(i);
    const std::size_t nf = idx_.size();
    Sf_.resize(static_cast<std::size_t>(count_) * nf);
    Yf_.resize(Sf_.size());
    qf_.resize(nf);
    rf_.resize(nf);
    for (int k = 0; k < count_; ++k) {
      const int slot = (head_ + k) % m_;
      const double* sv = &S_[slot * n_];
      const double* yv = &Y_[slot * n_];
      double* sf = &Sf_[static_cast<std::size_t>(k) * nf];
      double* yf = &Yf_[static_cast<std::size_t>(k) * nf];
      for (std::size_t t = 0; t < nf; ++t) {
        sf[t] = sv[idx_[t]];
        yf[t] = yv[idx_[t]];
      }
    }
    for (std::size_t t = 0; t < nf; ++t) qf_[t] = q[idx_[t]];
    df_.assign(nf, 1.0);
    if (dinv)
      for (std::size_t t = 0; t < nf; ++t) df_[t] = dinv[idx_[t]];
    std::vector<double>& rho_f = rho_f_;
    rho_f.assign(m_, 0.0);
    double g0 = 1.0;
    bool have = false;
    for (int k = count_ - 1; k >= 0; --k) {
      const double* sf = &Sf_[static_cast<std::size_t>(k) * nf];
      const double* yf = &Yf_[static_cast<std::size_t>(k) * nf];
      const double sy = dot(sf, yf, nf), yy = dot(yf, yf, nf);
      if (!(sy > 1e-10 * yy) || !(yy > 0.0)) continue;  // no usable curvature on the free subspace
      rho_f[k] = 1.0 / sy;
      if (!have) {
        double ydy = yy;
        if (dinv) {
          ydy = 0.0;
          for (std::size_t t = 0; t < nf; ++t) ydy += yf[t] * df_[t] * yf[t];
        }
        g0 = ydy > 0.0 ? sy / ydy : 1.0;
        have = true;
      }
      a[k] = rho_f[k] * dot(sf, qf_.data(), nf);
      for (std::size_t t = 0; t < nf; ++t) qf_[t] -= a[k] * yf[t];
    }
    for (std::size_t t = 0; t < nf; ++t) rf_[t] = g0 * df_[t] * qf_[t];
    for (int k = 0; k < count_; ++k) {
      if (rho_f[k] == 0.0) continue;
      const double* sf = &Sf_[static_cast<std::size_t>(k) * nf];
      const double* yf = &Yf_[static_cast<std::size_t>(k) * nf];
      const double b = rho_f[k] * dot(yf, rf_.data(), nf);
      for (std::size_t t = 0; t < nf; ++t) rf_[t] += sf[t] * (a[k] - b);
    }
    std::fill(r, r + n_, 0.0);
    for (std::size_t t = 0; t < nf; ++t) r[idx_[t]] = rf_[t];
  }

 private:
  int m_;
  std::size_t n_;
  std::vector<double> S_, Y_, rho_;
  int head_ = 0, count_ = 0;
  double gamma_ = 1.0;
  std::vector<std::size_t> idx_;                  // apply(): the free variables
  std::vector<double> Sf_, Yf_, qf_, rf_, rho_f_, df_;  // apply(): pairs and vectors gathered onto them
};

}  // namespace

LbfgsbResult lbfgsb_minimize(const ObjectiveFn& fg, std::size_t n, double* x, const double* lower,
                             const double* upper, const LbfgsbConfig& cfg, Interrupt& interrupt) {
  return lbfgsb_minimize(fg, n, x, lower, upper, cfg, DiagonalFn{}, interrupt);
}

LbfgsbResult lbfgsb_minimize(const ObjectiveFn& fg, std::size_t n, double* x, const double* lower,
                             const double* upper, const LbfgsbConfig& cfg, const DiagonalFn& diagonal,
                             Interrupt& interrupt) {
  if (cfg.memory < 1) throw std::invalid_argument("L-BFGS-B: memory must be >= 1");
  if (cfg.max_iter < 0 || cfg.max_fun < 1 || cfg.max_ls < 1)
    throw std::invalid_argument("L-BFGS-B: max_iter must be >= 0, max_fun and max_ls >= 1");
  if (!(cfg.ftol >= 0.0) || !(cfg.pgtol >= 0.0)) throw std::invalid_argument("L-BFGS-B: ftol and pgtol must be >= 0");
  if (cfg.precondition_every < 1 || cfg.ftol_patience < 1)
    throw std::invalid_argument("L-BFGS-B: precondition_every and ftol_patience must be >= 1");
  constexpr double inf = std::numeric_limits<double>::infinity();
  std::vector<double> lo(n, -inf), hi(n, inf);
  for (std::size_t i = 0; i < n; ++i) {
    if (lower) lo[i] = lower[i];
    if (upper) hi[i] = upper[i];
    if (!(lo[i] <= hi[i]))
      throw std::invalid_argument("L-BFGS-B: lower bound above upper bound at index " + std::to_string(i));
    x[i] = std::min(std::max(x[i], lo[i]), hi[i]);
  }
  auto project = [&](std::size_t i, double v) { return std::min(std::max(v, lo[i]), hi[i]); };

  LbfgsbResult res;
  std::vector<double> g(n), gn(n), xn(n), p(n), q(n), s(n), y(n), work;
  std::vector<char> is_free(n);
  double f = fg(x, g.data());
  res.n_fun = 1;
  if (!std::isfinite(f)) throw NumericalError("L-BFGS-B: the objective is not finite at the starting point");
  Memory mem(cfg.memory, n);
  int small_steps = 0;       // consecutive iterations that met the ftol test
  std::vector<double> dinv;  // the preconditioner's inverse diagonal, refreshed every precondition_every iterations
  auto refresh_preconditioner = [&]() {
    dinv.resize(n);
    diagonal(x, dinv.data());
    for (std::size_t i = 0; i < n; ++i) {
      const double h = dinv[i];
      if (!(h > 0.0) || !std::isfinite(h)) throw NumericalError("L-BFGS-B: the diagonal Hessian estimate must be > 0");
      dinv[i] = 1.0 / h;
    }
  };

  auto pg_norm = [&]() {
    double m = 0.0;
    for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::abs(project(i, x[i] - g[i]) - x[i]));
    return m;
  };
  auto x_swap = [&](std::vector<double>& xs, std::vector<double>& gs) {
    std::copy(xs.begin(), xs.end(), x);
    g.swap(gs);
  };
  auto check_interrupt = [&]() {
    if (interrupt.poll()) interrupt.rethrow_if_stopped();
  };

  for (;;) {
    res.pg_norm = pg_norm();
    if (res.pg_norm <= cfg.pgtol) { res.status = LbfgsbStatus::Pgtol; break; }
    if (res.n_iter >= cfg.max_iter || res.n_fun >= cfg.max_fun) { res.status = LbfgsbStatus::MaxIter; break; }
    check_interrupt();
    if (diagonal && res.n_iter % cfg.precondition_every == 0) refresh_preconditioner();

    // Active set: variables at a bound that the gradient pushes outwards, and fixed ones.
    for (std::size_t i = 0; i < n; ++i) {
      const bool at_lo = x[i] <= lo[i] && g[i] > 0.0, at_hi = x[i] >= hi[i] && g[i] < 0.0;
      is_free[i] = !(lo[i] == hi[i] || at_lo || at_hi);
      q[i] = is_free[i] ? g[i] : 0.0;
    }
    bool accepted = false;
    double fold = f;
    for (int attempt = 0; attempt < 2 && !accepted; ++attempt) {
      if (attempt == 1) {
        if (mem.size() == 0 && !diagonal) break;  // already steepest descent
        mem.clear();
        for (std::size_t i = 0; i < n; ++i) q[i] = is_free[i] ? g[i] : 0.0;
      }
      std::copy(q.begin(), q.end(), s.begin());  // s: scratch copy, apply() overwrites its input
      mem.apply(s.data(), p.data(), work, is_free, diagonal && attempt == 0 ? dinv.data() : nullptr);
      double gp = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        p[i] = is_free[i] ? -p[i] : 0.0;
        gp += g[i] * p[i];
      }
      if (!(gp < 0.0)) {  // not a descent direction (rounding): use the reduced steepest descent
        mem.clear();
        gp = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
          p[i] = -q[i];
          gp += g[i] * p[i];
        }
        if (!(gp < 0.0)) break;
      }
      double pmax = 0.0;
      for (std::size_t i = 0; i < n; ++i) pmax = std::max(pmax, std::abs(p[i]));
      // Without pairs the direction is -g (unit step normalised) or, preconditioned, a diagonal Newton step.
      double alpha = mem.size() == 0 && !(diagonal && attempt == 0)
                         ? std::min(1.0, 1.0 / std::sqrt(dot(p.data(), p.data(), n)))
                         : 1.0;
      for (int ls = 0; ls < cfg.max_ls && res.n_fun < cfg.max_fun; ++ls) {
        if (ls > 0) check_interrupt();
        double dec = 0.0, moved = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
          xn[i] = project(i, x[i] + alpha * p[i]);
          dec += g[i] * (xn[i] - x[i]);
          moved = std::max(moved, std::abs(xn[i] - x[i]));
        }
        if (moved == 0.0 || alpha * pmax < 1e-300) break;
        const double fnew = fg(xn.data(), gn.data());
        ++res.n_fun;
        if (std::isfinite(fnew) && dec < 0.0 && fnew <= f + 1e-4 * dec) {
          for (std::size_t i = 0; i < n; ++i) {
            s[i] = xn[i] - x[i];
            y[i] = gn[i] - g[i];
          }
          mem.push(s.data(), y.data());
          fold = f;
          f = fnew;
          x_swap(xn, gn);
          accepted = true;
          break;
        }
        // Backtrack: safeguarded quadratic interpolation on the projected path, halving outside the domain.
        double next = 0.5 * alpha;
        if (std::isfinite(fnew) && dec < 0.0) {
          const double curv = fnew - f - dec;  // > 0 when Armijo failed
          if (curv > 0.0) next = std::min(0.5 * alpha, std::max(0.1 * alpha, -0.5 * dec * alpha / curv));
        }
        alpha = next;
      }
    }
    if (!accepted) {
      res.status = res.n_fun >= cfg.max_fun ? LbfgsbStatus::MaxIter : LbfgsbStatus::LineSearch;
      break;
    }
    ++res.n_iter;
    small_steps = fold - f <= cfg.ftol * std::max({std::abs(fold), std::abs(f), 1.0}) ? small_steps + 1 : 0;
    if (small_steps >= cfg.ftol_patience) {
      res.pg_norm = pg_norm();
      res.status = LbfgsbStatus::Ftol;
      break;
    }
  }
  res.f = f;
  return res;
}

}  // namespace fastcrl
