#pragma once
/// Bound-constrained limited-memory quasi-Newton minimisation (L-BFGS-B family).
///
/// Minimises f(x) subject to lower <= x <= upper (entries may be -inf / +inf; lower == upper fixes a
/// variable) with a projected L-BFGS method: at each iterate the variables held at a bound by their
/// gradient form the active set; the search direction is the two-loop L-BFGS direction computed on the
/// reduced gradient (active components zeroed) and restricted to the free variables, so it is a descent
/// direction; the step is a projected backtracking (Armijo) search along x(a) = P(x + a p), the path that
/// the generalized Cauchy point of Byrd, Lu, Nocedal & Zhu (1995) follows. Trial points where f is not
/// finite (outside a domain) are rejected by the line search, so a caller can confine the iterates to
/// an open domain by returning +inf there. Stopping rules follow SciPy's L-BFGS-B: the projected
/// gradient's max-norm <= pgtol, or (f_k - f_{k+1}) <= ftol * max(|f_k|, |f_{k+1}|, 1).
#include <cstddef>
#include <functional>

#include "fastcrl/interrupt.hpp"

namespace fastcrl {

struct LbfgsbConfig {
  int memory = 10;        ///< number of correction pairs kept
  int max_iter = 15000;   ///< iterations
  int max_fun = 15000;    ///< function evaluations
  double ftol = 2.220446049250313e-09;  ///< SciPy's default factr * eps
  double pgtol = 1e-5;    ///< projected-gradient tolerance (max-norm)
  int max_ls = 40;        ///< backtracking steps per line search
  int ftol_patience = 1;  ///< stop on ftol only after this many consecutive iterations meet it (SciPy: 1)
  int precondition_every = 10;  ///< iterations between calls of the diagonal preconditioner (if given)
};

enum class LbfgsbStatus {
  Pgtol = 0,        ///< projected gradient below pgtol
  Ftol = 1,         ///< relative reduction below ftol
  MaxIter = 2,      ///< iteration or evaluation budget exhausted
  LineSearch = 3,   ///< no acceptable step even along the steepest descent path (x is the best point)
};

struct LbfgsbResult {
  double f = 0.0;
  double pg_norm = 0.0;  ///< max-norm of the projected gradient at x
  int n_iter = 0;
  int n_fun = 0;
  LbfgsbStatus status = LbfgsbStatus::MaxIter;
  bool converged() const { return status == LbfgsbStatus::Pgtol || status == LbfgsbStatus::Ftol; }
};

/// f(x, g): returns f(x) and writes its gradient to g (n values); may return +inf (or NaN) outside the
/// function's domain, in which case g is ignored.
using ObjectiveFn = std::function<double(const double* x, double* g)>;

/// Minimise from x (n values, overwritten with the solution; projected onto the bounds first).
/// lower/upper: n values each, or nullptr for -inf / +inf. Polls `interrupt` every iteration and
/// rethrows what it caught. Throws std::invalid_argument on lower > upper or bad config, and
/// NumericalError when f is not finite at the (projected) starting point.
LbfgsbResult lbfgsb_minimize(const ObjectiveFn& fg, std::size_t n, double* x, const double* lower,
                             const double* upper, const LbfgsbConfig& config,
                             Interrupt& interrupt = Interrupt::none());

/// diag(x, out): writes a positive estimate of the Hessian's diagonal at x (n values).
using DiagonalFn = std::function<void(const double* x, double* diag)>;

/// As above, preconditioned: the initial inverse Hessian of the two-loop recursion is gamma D^{-1}
/// (D from `diagonal`, called at the start and every config.precondition_every iterations; gamma
/// = s.y / y.D^{-1}.y for the newest pair) instead of gamma I. For badly scaled problems such as
/// barrier terms weighted by 1 / mu. An empty `diagonal` gives the plain method.
LbfgsbResult lbfgsb_minimize(const ObjectiveFn& fg, std::size_t n, double* x, const double* lower,
                             const double* upper, const LbfgsbConfig& config, const DiagonalFn& diagonal,
                             Interrupt& interrupt = Interrupt::none());

}  // namespace fastcrl
