#pragma once
/// Lasso on sufficient statistics: the building block of regression-based structure learners.
#include <cstddef>

namespace fastcrl {

/// Coordinate-descent lasso path for
///     min_b  0.5 b^T G b - c^T b + lambda * sum_i penalty[i] * |b_i|
/// at each lambda in `lambdas` (any order; decreasing is fastest), warm-started from the previous
/// solution. G (p x p, row-major) must be symmetric positive semidefinite with a positive diagonal.
/// out (n_lambdas x p) receives the solutions. Uses glmnet's active-set strategy: sweeps over the
/// nonzero coordinates until they settle, then one full sweep to check that no other enters.
/// Returns the total number of coordinate sweeps. Throws std::invalid_argument on a non-positive
/// diagonal or negative lambda/penalty.
template <class T>
long lasso_path_gram(const T* G, const T* c, std::size_t p, const T* lambdas, std::size_t n_lambdas,
                     const T* penalty, T tol, int max_sweeps, T* out);

}  // namespace fastcrl
