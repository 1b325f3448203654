#pragma once
/// Continuous-optimisation structure learning for linear SEMs: NOTEARS (augmented Lagrangian) and
/// DAGMA (central path of log-det problems). Adjacency convention: W[i, j] != 0 is the edge i -> j,
/// X ~ X W + E. All matrices are row-major d x d, double precision.
///
/// Data enter as sufficient statistics for the least-squares loss (the covariance S of the centred
/// data, so every iteration costs O(d^3) whatever n is) or as the n x d 0/1 matrix for the logistic
/// loss (O(n d^2) per evaluation).
#include <cstddef>
#include <functional>
#include <vector>

#include "fastcrl/interrupt.hpp"
#include "fastcrl/lbfgsb.hpp"

namespace fastcrl {

enum class ContinuousLoss {
  L2,        ///< 0.5 tr((I - W)^T S (I - W)) = 0.5 / n ||Xc - Xc W||_F^2
  Logistic,  ///< 1/n sum(log(1 + exp(X W)) - X o (X W)) for 0/1 data
};

enum class NotearsConstraint { Expm, Poly, Logdet };
enum class DagmaSolver { Lbfgs, Adam };

/// The data a loss needs: S (d x d) for L2, X (n x d) for Logistic; the other may be nullptr.
struct ContinuousData {
  ContinuousLoss loss = ContinuousLoss::L2;
  const double* S = nullptr;
  const double* X = nullptr;
  std::size_t n = 0;
  std::size_t d = 0;
};

/// Loss value and gradient at W (d x d) with reusable scratch space.
class ContinuousLossEval {
 public:
  explicit ContinuousLossEval(const ContinuousData& data);
  double operator()(const double* W, double* grad);
  /// Curvature of the loss along W[i, j], per source row i (the preconditioners' loss part):
  /// S_ii for l2; for the logistic loss its bound mean(X_i^2) / 4.
  std::vector<double> row_curvature() const;

 private:
  ContinuousData data_;
  std::vector<double> work_;
};

/// Which entries of W are optimised and how they are penalised. Both nullable.
struct EdgeMasks {
  const unsigned char* free = nullptr;  ///< d x d, 1 = optimised, 0 = fixed at 0; nullptr = off-diagonal
  const double* penalty = nullptr;      ///< d x d L1 weights (0 for required edges); nullptr = all 1
};

/// One outer iteration, reported to the progress callback and kept in the history.
struct OuterRecord {
  int iteration = 0;
  double rho = 0.0;     ///< NOTEARS penalty weight used for the accepted solve; DAGMA: mu
  double alpha = 0.0;   ///< NOTEARS Lagrange multiplier after its update; DAGMA: s as used
  double h = 0.0;       ///< NOTEARS: h(W); DAGMA: h_s(W)
  double loss = 0.0;
  double objective = 0.0;  ///< NOTEARS: loss + lambda1 |W|_1 (weighted); DAGMA: mu (loss + l1) + h_s
  long inner_iterations = 0;
  int n_solves = 0;     ///< NOTEARS: inner solves (rho increases); DAGMA: 1 + domain retries
  bool inner_converged = true;
  double lr = 0.0;      ///< DAGMA Adam: learning rate after backtracking (0 for L-BFGS)
  double seconds = 0.0; ///< since the start of the fit
};
using OuterCallback = std::function<void(const OuterRecord&)>;

struct NotearsConfig {
  double lambda1 = 0.1;
  NotearsConstraint constraint = NotearsConstraint::Expm;
  int max_iter = 100;
  double h_tol = 1e-8;
  double rho_max = 1e16;
  LbfgsbConfig lbfgs{};
};

struct ContinuousResult {
  std::vector<double> W;  ///< the final iterate (d x d, before thresholding)
  double h = 0.0;         ///< NOTEARS: constraint value; DAGMA: -log det(I - W o W) (s = 1)
  double loss = 0.0;
  int n_iter = 0;
  bool converged = false;
  std::vector<OuterRecord> history;
  std::vector<double> s_used;  ///< DAGMA: s per outer iteration after domain retries
};

/// NOTEARS (Zheng et al. 2018) with the published rules: rho = 1, alpha = 0; solve the inner problem
/// from the current W (L-BFGS-B on W = W+ - W-, W+/- >= 0) until h(W_new) <= h(W_old) / 4 (rho *= 10
/// otherwise, stopping at rho_max); alpha += rho h; stop when h <= h_tol or rho >= rho_max.
/// Starts at W = 0. Throws std::invalid_argument on bad config, NumericalError on divergence.
ContinuousResult notears_fit(const ContinuousData& data, const EdgeMasks& masks, const NotearsConfig& config,
                             const OuterCallback& callback = {}, Interrupt& interrupt = Interrupt::none());

struct DagmaConfig {
  double lambda1 = 0.02;
  int T = 5;
  double mu_init = 1.0;
  double mu_factor = 0.1;
  std::vector<double> s{1.0, 0.9, 0.8, 0.7, 0.6};  ///< one per outer iteration (padded by the caller)
  DagmaSolver solver = DagmaSolver::Lbfgs;
  long warm_iter = 30000;  ///< inner iteration cap for the first T - 1 problems
  long max_iter = 60000;   ///< for the last problem
  double lr = 3e-4;        ///< Adam
  double beta_1 = 0.99;
  double beta_2 = 0.999;
  int checkpoint = 1000;   ///< Adam: convergence test interval
  double tol = 1e-6;       ///< Adam: relative objective change between checkpoints
  LbfgsbConfig lbfgs{};    ///< L-BFGS: max_iter is overridden by warm_iter / max_iter
  double warm_ftol = 1e-5;  ///< L-BFGS: ftol of the first T - 1 (warm-start) problems; lbfgs.ftol for the last
};

/// DAGMA (Bello et al. 2022): for t < T minimise mu_t (loss + lambda1 |W|_1) + h_{s_t}(W) from the
/// previous solution (W = 0 first), mu_{t+1} = mu_factor mu_t. Adam follows the published recipe
/// (domain backtracking, retry with s + 0.1); L-BFGS (the default) works on W+/W-, diagonally
/// preconditioned by the Hessian diagonal of loss + h_s / mu, and its line search rejects
/// trial points outside the domain s > rho(W o W). Non-free entries (and the diagonal) stay 0.
ContinuousResult dagma_fit(const ContinuousData& data, const EdgeMasks& masks, const DagmaConfig& config,
                           const OuterCallback& callback = {}, Interrupt& interrupt = Interrupt::none());

}  // namespace fastcrl
