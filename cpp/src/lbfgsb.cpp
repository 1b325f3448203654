// Projected L-BFGS with an active set and a projected Armijo backtracking search (see lbfgsb.hpp).
#include "fastcrl/lbfgsb.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
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

/// max over i < n of term(i) (>= 0), with four independent maxima for the same reason as dot().
template <class Term>
double max_of(std::size_t n, Term term) {
  double m0 = 0.0, m1 = 0.0, m2 = 0.0, m3 = 0.0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    m0 = std::max(m0, term(i));
    m1 = std::max(m1, term(i + 1));
    m2 = std::max(m2, term(i + 2));
    m3 = std::max(m3, term(i + 3));
  }
  for (; i < n; ++i) m0 = std::max(m0, term(i));
  return std::max(std::max(m0, m1), std::max(m2, m3));
}

/// sum over i < n of term(i), four independent sums.
template <class Term>
double sum_of(std::size_t n, Term term) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += term(i);
    s1 += term(i + 1);
    s2 += term(i + 2);
    s3 += term(i + 3);
  }
  for (; i < n; ++i) s0 += term(i);
  return (s0 + s1) + (s2 + s3);
}

/// Correction pairs (s, y) in a ring buffer, newest last.
class Memory {
 public:
  // The pair stores are left uninitialised (only written slots are read): zero-filling 4 m n doubles up
  // front page-faults hundreds of megabytes at d ~ 1000 that most fits never use, which is slow on
  // virtual machines. The gathered copies get the same capacity once, so they never regrow.
  Memory(int m, std::size_t n)
      : m_(m),
        n_(n),
        S_(new double[static_cast<std::size_t>(m) * n]),
        Y_(new double[static_cast<std::size_t>(m) * n]),
        Sf_(new double[static_cast<std::size_t>(m) * n]),
        Yf_(new double[static_cast<std::size_t>(m) * n]),
        rho_(m),
        gathered_(static_cast<std::size_t>(m), 0) {}

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
    if (static_cast<std::size_t>(slot) < gathered_.size()) gathered_[static_cast<std::size_t>(slot)] = 0;
    gamma_ = sy / yy;
    if (count_ < m_) ++count_; else head_ = (head_ + 1) % m_;
    return true;
  }

  /// r <- H q by the two-loop recursion restricted to the free variables (free_idx, increasing; inner
  /// products and the initial scaling use only those), so curvature from variables now held at a bound
  /// does not distort the step. r is zero off the free variables. The pairs are gathered onto the free
  /// variables first: with W = W+ - W- most variables sit at their bound 0, and passes over all n
  /// variables cost more than the objective itself for d <= 100. The gathered pairs are kept while
  /// the free set stays the same (most iterations), so only the newest pair is gathered then.
  /// dinv (nullable): a diagonal inverse-Hessian estimate; H0 = gamma diag(dinv) with gamma fitted to
  /// the newest pair (s.y / y.Dinv.y), instead of gamma I.
  void apply(const double* q, double* r, const std::size_t* free_idx, std::size_t nf, const double* dinv) {
    if (nf != gathered_idx_.size() || !std::equal(free_idx, free_idx + nf, gathered_idx_.begin())) {
      gathered_idx_.assign(free_idx, free_idx + nf);
      gathered_.assign(static_cast<std::size_t>(m_), 0);
    }
    for (int k = 0; k < count_; ++k) {
      const auto slot = static_cast<std::size_t>((head_ + k) % m_);
      if (gathered_[slot]) continue;
      const double* sv = &S_[slot * n_];
      const double* yv = &Y_[slot * n_];
      double* sf = Sf_.get() + slot * nf;
      double* yf = Yf_.get() + slot * nf;
      for (std::size_t t = 0; t < nf; ++t) {
        sf[t] = sv[free_idx[t]];
        yf[t] = yv[free_idx[t]];
      }
      gathered_[slot] = 1;
    }
    qf_.resize(nf);
    rf_.resize(nf);
    for (std::size_t t = 0; t < nf; ++t) qf_[t] = q[free_idx[t]];
    df_.assign(nf, 1.0);
    if (dinv)
      for (std::size_t t = 0; t < nf; ++t) df_[t] = dinv[free_idx[t]];
    a_.assign(static_cast<std::size_t>(m_), 0.0);
    rho_f_.assign(static_cast<std::size_t>(m_), 0.0);
    auto pair = [&](int k, const double*& sf, const double*& yf) {
      const auto slot = static_cast<std::size_t>((head_ + k) % m_);
      sf = Sf_.get() + slot * nf;
      yf = Yf_.get() + slot * nf;
    };
    double g0 = 1.0;
    bool have = false;
    for (int k = count_ - 1; k >= 0; --k) {
      const double *sf, *yf;
      pair(k, sf, yf);
      const double sy = dot(sf, yf, nf), yy = dot(yf, yf, nf);
      if (!(sy > 1e-10 * yy) || !(yy > 0.0)) continue;  // no usable curvature on the free subspace
      rho_f_[k] = 1.0 / sy;
      if (!have) {
        double ydy = yy;
        if (dinv) ydy = sum_of(nf, [&](std::size_t t) { return yf[t] * df_[t] * yf[t]; });
        g0 = ydy > 0.0 ? sy / ydy : 1.0;
        have = true;
      }
      a_[k] = rho_f_[k] * dot(sf, qf_.data(), nf);
      for (std::size_t t = 0; t < nf; ++t) qf_[t] -= a_[k] * yf[t];
    }
    for (std::size_t t = 0; t < nf; ++t) rf_[t] = g0 * df_[t] * qf_[t];
    for (int k = 0; k < count_; ++k) {
      if (rho_f_[k] == 0.0) continue;
      const double *sf, *yf;
      pair(k, sf, yf);
      const double b = rho_f_[k] * dot(yf, rf_.data(), nf);
      for (std::size_t t = 0; t < nf; ++t) rf_[t] += sf[t] * (a_[k] - b);
    }
    std::fill(r, r + n_, 0.0);
    for (std::size_t t = 0; t < nf; ++t) r[free_idx[t]] = rf_[t];
  }

 private:
  int m_;
  std::size_t n_;
  std::unique_ptr<double[]> S_, Y_, Sf_, Yf_;  // m slots of n (gathered: of nf) values each
  std::vector<double> rho_;
  int head_ = 0, count_ = 0;
  double gamma_ = 1.0;
  std::vector<std::size_t> gathered_idx_;          // apply(): the free variables at the last gather
  std::vector<char> gathered_;                     // per ring slot: its pair is in Sf_/Yf_ for gathered_idx_
  std::vector<double> qf_, rf_, rho_f_, df_, a_;  // apply(): vectors gathered onto the free variables
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
  std::vector<double> g(n), gn(n), xn(n), p(n), q(n), s(n), y(n);
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

  auto pg_norm = [&]() { return max_of(n, [&](std::size_t i) { return std::abs(project(i, x[i] - g[i]) - x[i]); }); };
  auto x_swap = [&](std::vector<double>& xs, std::vector<double>& gs) {
    std::copy(xs.begin(), xs.end(), x);
    g.swap(gs);
  };
  auto check_interrupt = [&]() {
    if (interrupt.poll()) interrupt.rethrow_if_stopped();
  };

  // One pass over the variables per iteration: the projected-gradient norm, the active set (variables
  // at a bound that the gradient pushes outwards, and fixed ones), the reduced gradient q and the list
  // of free variables, written without branches on the data.
  std::vector<std::size_t> free_idx(n);
  std::size_t n_free = 0;
  auto scan = [&]() {
    n_free = 0;
    return max_of(n, [&](std::size_t i) {
      const double xi = x[i], gi = g[i];
      const bool held = ((xi <= lo[i]) & (gi > 0.0)) | ((xi >= hi[i]) & (gi < 0.0)) | (lo[i] == hi[i]);
      q[i] = held ? 0.0 : gi;
      free_idx[n_free] = i;
      n_free += static_cast<std::size_t>(!held);
      return std::abs(project(i, xi - gi) - xi);
    });
  };

  for (;;) {
    res.pg_norm = scan();
    if (res.pg_norm <= cfg.pgtol) { res.status = LbfgsbStatus::Pgtol; break; }
    if (res.n_iter >= cfg.max_iter || res.n_fun >= cfg.max_fun) { res.status = LbfgsbStatus::MaxIter; break; }
    check_interrupt();
    if (diagonal && res.n_iter % cfg.precondition_every == 0) refresh_preconditioner();

    bool accepted = false;
    double fold = f;
    for (int attempt = 0; attempt < 2 && !accepted; ++attempt) {
      if (attempt == 1) {
        if (mem.size() == 0 && !diagonal) break;  // already steepest descent
        mem.clear();
      }
      mem.apply(q.data(), p.data(), free_idx.data(), n_free, diagonal && attempt == 0 ? dinv.data() : nullptr);
      for (std::size_t i = 0; i < n; ++i) p[i] = -p[i];  // H q is zero off the free variables
      double gp = dot(g.data(), p.data(), n);
      if (!(gp < 0.0)) {  // not a descent direction (rounding): use the reduced steepest descent
        mem.clear();
        for (std::size_t i = 0; i < n; ++i) p[i] = -q[i];
        gp = dot(g.data(), p.data(), n);
        if (!(gp < 0.0)) break;
      }
      const double pmax = max_of(n, [&](std::size_t i) { return std::abs(p[i]); });
      // Without pairs the direction is -g (unit step normalised) or, preconditioned, a diagonal Newton step.
      double alpha = mem.size() == 0 && !(diagonal && attempt == 0)
                         ? std::min(1.0, 1.0 / std::sqrt(dot(p.data(), p.data(), n)))
                         : 1.0;
      for (int ls = 0; ls < cfg.max_ls && res.n_fun < cfg.max_fun; ++ls) {
        if (ls > 0) check_interrupt();
        for (std::size_t i = 0; i < n; ++i) {
          xn[i] = project(i, x[i] + alpha * p[i]);
          s[i] = xn[i] - x[i];  // the step, kept for the correction pair
        }
        const double dec = dot(g.data(), s.data(), n);
        const double moved = max_of(n, [&](std::size_t i) { return std::abs(s[i]); });
        if (moved == 0.0 || alpha * pmax < 1e-300) break;
        const double fnew = fg(xn.data(), gn.data());
        ++res.n_fun;
        if (std::isfinite(fnew) && dec < 0.0 && fnew <= f + 1e-4 * dec) {
          for (std::size_t i = 0; i < n; ++i) y[i] = gn[i] - g[i];
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
