#pragma once
/// Smooth acyclicity constraints h(W) and their exact gradients on a CUDA device: the twins of
/// cpp/include/fastcrl/acyclicity.hpp (NOTEARS trace exponential, DAGMA log-det, DAG-GNN polynomial,
/// Perron root by power iteration).
///
/// W is a C-contiguous stack of `batch` row-major d x d matrices in device memory on launch.device;
/// A = W∘W.  Adjacency convention: W[i, j] != 0 is the edge i -> j.  Outputs h (batch values) and
/// grad (batch * d * d) have W's dtype.  Numerical trouble is never thrown from here: each matrix gets
/// a status code (device int32 array of `batch` entries, values of AcyclicityStatus) and the Python
/// layer turns non-zero codes into fastcrl.NumericalError, or, for the log-det constraint with
/// check_domain="flag", leaves h = +inf and grad = NaN for that matrix as the CPU kernel does.
///
/// Scratch memory comes from the caller (CuPy's pool): at least *_workspace_bytes() bytes, aligned to
/// 256 bytes.  Everything is queued on launch.stream; expm_constraint and spectral_radius also
/// synchronise that stream (they read a norm or a convergence flag on the host to choose their next
/// step), the others return as soon as the work is queued.
/// Preconditions that Python can violate throw std::invalid_argument; CUDA, cuBLAS and cuSOLVER
/// failures throw CudaError.  Outputs must not overlap W or the workspace.
#include <cstddef>
#include <cstdint>

#include "fastcrl/cuda/runtime.hpp"

namespace fastcrl::cuda {

/// Per-matrix outcome written by the kernels below.
enum AcyclicityStatus : std::int32_t {
  kAcyclicityOk = 0,
  kAcyclicityOverflow = 1,       ///< a matrix function overflowed the dtype (h or grad not finite)
  kAcyclicityOutsideDomain = 2,  ///< log-det: s is not above rho(W∘W) (a non-positive LU pivot)
  kAcyclicityNotConverged = 3,   ///< spectral radius: the bracket is still wider than tol
};

std::size_t expm_workspace_bytes(std::int64_t batch, std::int64_t d, std::size_t itemsize);
/// Asks cuSOLVER on launch.device; W (the stack the call will factor) is only passed to its size query.
std::size_t logdet_workspace_bytes(const Launch& launch, const void* W, std::int64_t batch, std::int64_t d,
                                   std::size_t itemsize);
std::size_t poly_workspace_bytes(std::int64_t batch, std::int64_t d, std::size_t itemsize);
std::size_t spectral_radius_workspace_bytes(std::int64_t batch, std::int64_t d, std::size_t itemsize);

/// NOTEARS: h = tr(exp(A)) - d, grad = 2 W ∘ exp(A)^T.  Scaling and squaring of the Taylor series of
/// exp(A) - I (Paterson-Stockmeyer, strided-batched gemms): only non-negative terms, so zeros stay
/// exact (h = 0 for DAGs) and small h keeps its relative accuracy.  The scaling 2^-s and degree K
/// (<= 30) come from ||A||_1 (the largest finite one over the batch), read once on the host: the
/// least number of products whose Taylor tail is below the unit roundoff relative to
/// ||exp(A/2^s) - I||_1.  A matrix whose ||A||_1 overflows gets kAcyclicityOverflow alone; the
/// others are computed.
template <class T>
void expm_constraint(const Launch& launch, const T* W, std::int64_t batch, std::int64_t d, T* h, T* grad,
                     std::int32_t* status, void* workspace, std::size_t workspace_bytes);

/// DAGMA: h = -log det(sI - A) + d log s, grad = 2 W ∘ (sI - A)^{-T}, for s > rho(A).  cuSOLVER getrf
/// without pivoting (stable for M-matrices), domain test as on the CPU: every pivot above
/// 2 (d + 1) eps s, else status kAcyclicityOutsideDomain with h = +inf and grad = NaN.  The inverse
/// by two triangular solves (cuBLAS trsm); an overflowing inverse gives kAcyclicityOverflow, h = +inf,
/// grad = NaN; a W that is not finite or whose W ∘ W overflows gives kAcyclicityOverflow with
/// h = NaN (so that h alone tells it from a domain failure).  No host synchronisation.
/// Pre: s > 0 and finite.
template <class T>
void logdet_constraint(const Launch& launch, const T* W, std::int64_t batch, std::int64_t d, double s, T* h,
                       T* grad, std::int32_t* status, void* workspace, std::size_t workspace_bytes);

/// DAG-GNN: h = tr((I + A/d)^d) - d, grad = 2 W ∘ ((I + A/d)^{d-1})^T by binary powering carried
/// as P^k - I (products as XY + X + Y: no cancellation, h = 0 exactly for DAGs).  No host
/// synchronisation.
template <class T>
void poly_constraint(const Launch& launch, const T* W, std::int64_t batch, std::int64_t d, T* h, T* grad,
                     std::int32_t* status, void* workspace, std::size_t workspace_bytes);

/// rho(A) by shifted power iteration on the whole matrix, x <- (A + c I) x with c the current
/// estimate, computed in double for either dtype; lo/hi (double) are the Collatz-Wielandt bounds
/// min_i (Ax)_i / x_i <= rho <= max_i (Ax)_i / x_i of the last iterate (rigorous for any A >= 0 and
/// x > 0), rho = (lo + hi) / 2.  Stops a matrix when hi - lo <= tol * hi (or A x = 0: rho = 0
/// exactly); unconverged matrices get kAcyclicityNotConverged.  Unlike the CPU kernel there is no
/// split into strongly connected components, so the bracket closes only for irreducible A (a strongly
/// connected graph); when it has not closed, the zero pattern of A is squared ceil(log2 d) times: a
/// nilpotent A (an acyclic graph) gets rho = lo = hi = 0 and a zero gradient, as on the CPU; for
/// other reducible A, lo stays at the smallest component's root and the caller warns.  iters (int32, device) = steps taken.  grad may be null; else
/// grad = 2 W ∘ v u^T / (v^T u) from the right and left iterates u, v.  Synchronises every 16 steps.
template <class T>
void spectral_radius(const Launch& launch, const T* W, std::int64_t batch, std::int64_t d, int max_iter,
                     double tol, T* rho, double* lo, double* hi, std::int32_t* iters, T* grad,
                     std::int32_t* status, void* workspace, std::size_t workspace_bytes);

}  // namespace fastcrl::cuda
