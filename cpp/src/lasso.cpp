#include "fastcrl/lasso.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace fastcrl {

namespace {

template <class T>
T soft_threshold(T x, T t) {
  return x > t ? x - t : (x < -t ? x + t : T(0));
}

// One sweep over `coords`; keeps grad = G b up to date. Returns the largest coefficient change
// scaled by the coordinate's curvature, so the tolerance is in units of the objective.
template <class T>
T sweep(const T* G, const T* c, std::size_t p, T lambda, const T* penalty, const std::vector<std::size_t>& coords,
        std::vector<T>& b, std::vector<T>& grad) {
  T max_change = 0;
  for (std::size_t i : coords) {
    const T gii = G[i * p + i];
    const T rho = c[i] - grad[i] + gii * b[i];
    const T updated = soft_threshold(rho, lambda * penalty[i]) / gii;
    const T delta = updated - b[i];
    if (delta != T(0)) {
      const T* col = G + i * p;  // G is symmetric: row i == column i
      for (std::size_t k = 0; k < p; ++k) grad[k] += col[k] * delta;
      b[i] = updated;
      max_change = std::max(max_change, std::abs(delta) * std::sqrt(gii));
    }
  }
  return max_change;
}

}  // namespace

template <class T>
long lasso_path_gram(const T* G, const T* c, std::size_t p, const T* lambdas, std::size_t n_lambdas,
                     const T* penalty, T tol, int max_sweeps, T* out) {
  for (std::size_t i = 0; i < p; ++i) {
    if (!(G[i * p + i] > T(0)))
      throw std::invalid_argument("lasso: G must have a positive diagonal; G[" + std::to_string(i) + ", " +
                                  std::to_string(i) + "] = " + std::to_string(static_cast<double>(G[i * p + i])));
    if (!(penalty[i] >= T(0))) throw std::invalid_argument("lasso: penalty factors must be >= 0");
  }
  for (std::size_t l = 0; l < n_lambdas; ++l)
    if (!(lambdas[l] >= T(0))) throw std::invalid_argument("lasso: lambdas must be >= 0");
  std::vector<T> b(p, T(0)), grad(p, T(0));
  std::vector<std::size_t> all(p), active;
  for (std::size_t i = 0; i < p; ++i) all[i] = i;
  long sweeps = 0;
  for (std::size_t l = 0; l < n_lambdas; ++l) {
    const T lambda = lambdas[l];
    for (int outer = 0; outer < max_sweeps; ++outer) {
      const T full_change = sweep(G, c, p, lambda, penalty, all, b, grad);
      ++sweeps;
      if (full_change < tol) break;
      active.clear();
      for (std::size_t i = 0; i < p; ++i)
        if (b[i] != T(0)) active.push_back(i);
      for (int inner = 0; inner < max_sweeps; ++inner) {
        ++sweeps;
        if (sweep(G, c, p, lambda, penalty, active, b, grad) < tol) break;
      }
    }
    for (std::size_t i = 0; i < p; ++i) out[l * p + i] = b[i];
  }
  return sweeps;
}

template long lasso_path_gram<double>(const double*, const double*, std::size_t, const double*, std::size_t,
                                      const double*, double, int, double*);
template long lasso_path_gram<float>(const float*, const float*, std::size_t, const float*, std::size_t,
                                     const float*, float, int, float*);

}  // namespace fastcrl
