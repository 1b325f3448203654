#pragma once
/// Smooth acyclicity constraints h(W) of continuous DAG learning and their exact gradients.
///
/// Every function takes a stack of `batch` row-major d x d matrices W (contiguous, batch * d * d
/// values), forms A = W∘W (elementwise square, so A >= 0) and writes h (batch values) and, where
/// asked, grad = dh/dW (batch * d * d values). Adjacency convention: W[i, j] != 0 is the edge i -> j.
/// h(W) = 0 exactly when the graph of W is acyclic, h > 0 otherwise.
///
/// Threads: with batch > 1 the matrices are processed in parallel (OpenMP, one matrix per thread,
/// OpenBLAS single-threaded); a single large matrix uses OpenBLAS's threads instead. Exceptions
/// thrown for one matrix are rethrown on the calling thread, lowest batch index first.
#include <cstddef>

#include "fastcrl/interrupt.hpp"

namespace fastcrl {

/// How expm_constraint computes exp(A); both scale and square, and both carry exp(A) - I so that
/// small h keeps its relative accuracy. Degrees and scalings come from exact 1-norms of powers of A,
/// cheap because A >= 0 (1^T A^k by matrix-vector products).
enum class ExpmMethod {
  /// Truncated Taylor series, Paterson-Stockmeyer: only non-negative terms, so every entry is computed
  /// to high relative accuracy, exact zeros stay zero (h = 0 exactly for DAGs, h >= 0 always). The
  /// degree is the least whose rigorously bounded tail is below the unit roundoff.
  Taylor,
  /// Diagonal Padé approximant with Al-Mohy & Higham (2009)'s degree selection, LAPACK getrf/getrs.
  /// Normwise accurate; the solve mixes signs, so entries that should be 0 or tiny carry errors of
  /// order u ||exp(A)||, which squaring amplifies for DAGs with large weights.
  Pade,
};

/// NOTEARS: h = tr(exp(A)) - d, grad = 2 W ∘ exp(A)^T. Throws NumericalError when exp(A) overflows.
template <class T>
void expm_constraint(const T* W, std::size_t batch, std::size_t d, ExpmMethod method, T* h, T* grad,
                     Interrupt& interrupt = Interrupt::none());

/// What the log-det constraint does with a matrix outside its domain s > rho(A).
enum class DomainPolicy {
  Raise,  ///< throw NumericalError
  Flag,   ///< h = +inf, grad = NaN for that matrix (also if its inverse overflows); the others as usual
};

/// DAGMA: h = -log det(sI - A) + d log s, grad = 2 W ∘ (sI - A)^{-T}, defined for s > rho(A).
/// One recursive LU without pivoting (trsm/gemm), inverse from the factors (trtri + trsm). Domain
/// test: every LU pivot above 2 (d + 1) eps s (sI - A is a Z-matrix, which is a nonsingular M-matrix
/// iff all its pivots are positive; the margin covers their rounding). With DomainPolicy::Raise,
/// throws NumericalError outside the domain or if the inverse overflows. Precondition: s > 0.
template <class T>
void logdet_constraint(const T* W, std::size_t batch, std::size_t d, double s, DomainPolicy policy, T* h, T* grad,
                       Interrupt& interrupt = Interrupt::none());

/// DAG-GNN: h = tr((I + A/d)^d) - d, grad = 2 W ∘ ((I + A/d)^{d-1})^T.
/// (I + A/d)^{d-1} by the cheapest of a power-tree addition chain (exact up to rounding), a truncated
/// binomial series evaluated by Paterson-Stockmeyer whose tail is bounded below the unit roundoff
/// (all terms are non-negative, so the bound is rigorous), and ((I + A/d)^{(d-1)/2^s})^{2^s} with the
/// inner power by the same kind of series (its cost depends on ||A||, not on d). Carried as
/// (I + A/d)^k - I throughout: no cancellation, h is exactly 0 for DAGs. Throws NumericalError on overflow.
template <class T>
void poly_constraint(const T* W, std::size_t batch, std::size_t d, T* h, T* grad,
                     Interrupt& interrupt = Interrupt::none());

struct SpectralRadiusConfig {
  int max_iter = 1000;  ///< power-iteration steps per strongly connected component
  double tol = 1e-8;    ///< stop when the Collatz-Wielandt bracket satisfies hi - lo <= tol * hi
};

/// rho(A), the Perron root of A = W∘W, with a rigorous bracket lo <= rho <= hi (computed in double).
/// The graph of W is split into strongly connected components (rho is the largest of theirs); on each
/// irreducible block, shifted power iteration x <- (A_C + c I) x with c > 0 converges also when the
/// block is periodic (a plain power iteration would oscillate there). rho = (lo + hi) / 2. Acyclic
/// graphs (nilpotent A, including d = 1 without a self-loop) give exactly 0.
/// iters[b] = power-iteration steps used (0 when no iteration was needed). grad may be nullptr; else
/// grad = 2 W ∘ v u^T / (v^T u) with u, v the right and left Perron vectors of the dominant component
/// (the derivative where rho is a simple eigenvalue; zero for acyclic graphs).
template <class T>
void spectral_radius(const T* W, std::size_t batch, std::size_t d, const SpectralRadiusConfig& config, T* rho,
                     double* lo, double* hi, int* iters, T* grad, Interrupt& interrupt = Interrupt::none());

}  // namespace fastcrl
