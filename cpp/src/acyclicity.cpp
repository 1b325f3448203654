#include "fastcrl/acyclicity.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstddef>
#include <exception>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fastcrl/blas.hpp"
#include "fastcrl/errors.hpp"
#include "fastcrl/threads.hpp"

namespace fastcrl {

namespace {

// ---------------------------------------------------------------------------------------------------
// BLAS/LAPACK calls not (yet) wrapped in blas.hpp. LAPACK is called column-major on our row-major
// buffers, so it sees every matrix transposed; each call site says why that is what it needs. This
// avoids the layout copies LAPACKE's row-major path makes.

inline int lu(int n, double* a, int* ipiv) { return scipy_LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, n, n, a, n, ipiv); }
inline int lu(int n, float* a, int* ipiv) { return scipy_LAPACKE_sgetrf_work(LAPACK_COL_MAJOR, n, n, a, n, ipiv); }

inline int lu_solve(int n, int nrhs, const double* a, const int* ipiv, double* b) {
  return scipy_LAPACKE_dgetrs_work(LAPACK_COL_MAJOR, 'N', n, nrhs, a, n, ipiv, b, n);
}
inline int lu_solve(int n, int nrhs, const float* a, const int* ipiv, float* b) {
  return scipy_LAPACKE_sgetrs_work(LAPACK_COL_MAJOR, 'N', n, nrhs, a, n, ipiv, b, n);
}

/// In place inverse of a unit lower triangular matrix (column-major).
inline int unit_lower_inverse(int n, double* a) {
  return scipy_LAPACKE_dtrtri_work(LAPACK_COL_MAJOR, 'L', 'U', n, a, n);
}
inline int unit_lower_inverse(int n, float* a) {
  return scipy_LAPACKE_strtri_work(LAPACK_COL_MAJOR, 'L', 'U', n, a, n);
}


/// Column-major B <- L^{-1} B, L unit lower triangular m x m.
inline void trsm_unit_lower(int m, int n, const double* l, int ldl, double* b, int ldb) {
  scipy_cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, m, n, 1.0, l, ldl, b, ldb);
}
inline void trsm_unit_lower(int m, int n, const float* l, int ldl, float* b, int ldb) {
  scipy_cblas_strsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, m, n, 1.0f, l, ldl, b, ldb);
}

/// Column-major B <- U^{-1} B, U upper triangular n x n.
inline void trsm_upper(int n, int m, const double* u, int ldu, double* b, int ldb) {
  scipy_cblas_dtrsm(CblasColMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, n, m, 1.0, u, ldu, b, ldb);
}
inline void trsm_upper(int n, int m, const float* u, int ldu, float* b, int ldb) {
  scipy_cblas_strsm(CblasColMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, n, m, 1.0f, u, ldu, b, ldb);
}

/// Column-major C <- C - A B (A m x k, B k x n).
inline void gemm_sub(int m, int n, int k, const double* a, int lda, const double* b, int ldb, double* c, int ldc) {
  scipy_cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, -1.0, a, lda, b, ldb, 1.0, c, ldc);
}
inline void gemm_sub(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float* c, int ldc) {
  scipy_cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, -1.0f, a, lda, b, ldb, 1.0f, c, ldc);
}

/// y = A^T x (trans = true) or y = A x, A row-major n x n.
inline void gemv(bool trans, int n, const double* a, const double* x, double* y) {
  scipy_cblas_dgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, n, n, 1.0, a, n, x, 1, 0.0, y, 1);
}
inline void gemv(bool trans, int n, const float* a, const float* x, float* y) {
  scipy_cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, n, n, 1.0f, a, n, x, 1, 0.0f, y, 1);
}

/// Z = X Y + beta Z for row-major n x n matrices.
template <class T>
inline void matmul(int n, const T* x, const T* y, T beta, T* z) {
  blas::gemm(CblasNoTrans, CblasNoTrans, n, n, n, T(1), x, n, y, n, beta, z, n);
}

// ---------------------------------------------------------------------------------------------------
// Shared helpers.

int checked_dim(std::size_t d) {
  // LAPACK and BLAS take 32-bit ints; d * d elements must also be addressable as a row stride.
  if (d == 0) throw std::invalid_argument("W must have at least one node; got d = 0");
  if (d > 46340) throw std::invalid_argument("d = " + std::to_string(d) + " is too large for 32-bit BLAS");
  return static_cast<int>(d);
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

template <class T>
const char* dtype_name() {
  return sizeof(T) == 8 ? "float64" : "float32";
}

/// A = W∘W. Throws NumericalError when a square overflows (finite W of magnitude above ~1e154 / 1e19).
template <class T>
void square_entries(const T* W, std::size_t n2, T* A) {
  bool finite = true;
  for (std::size_t i = 0; i < n2; ++i) {
    A[i] = W[i] * W[i];
    finite &= A[i] <= std::numeric_limits<T>::max();
  }
  if (!finite)
    throw NumericalError(std::string("W∘W overflows in ") + dtype_name<T>() + ": the weights are too large");
}

/// A scratch array from a per-thread cache. Optimisers call these kernels thousands of times with the
/// same d; fresh multi-megabyte allocations would be page-faulted in on every call, which costs about
/// one dgemm per call at d = 1000. Released buffers stay cached up to kScratchCacheBytes per thread
/// and dtype (larger ones are freed). Contents are uninitialised.
template <class T>
class Scratch {
 public:
  static constexpr std::size_t kScratchCacheBytes = std::size_t(96) << 20;

  Scratch() = default;
  explicit Scratch(std::size_t n) { resize(n); }
  Scratch(Scratch&& o) noexcept : buf_(std::move(o.buf_)), size_(o.size_), capacity_(o.capacity_) {
    o.size_ = o.capacity_ = 0;
  }
  Scratch& operator=(Scratch&& o) noexcept {
    if (this != &o) {
      release();
      buf_ = std::move(o.buf_);
      size_ = o.size_;
      capacity_ = o.capacity_;
      o.size_ = o.capacity_ = 0;
    }
    return *this;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { release(); }

  /// Acquire n elements (only on an empty Scratch).
  void resize(std::size_t n) {
    Cache& c = cache();
    std::size_t best = c.free.size();
    for (std::size_t i = 0; i < c.free.size(); ++i)
      if (c.free[i].first >= n && (best == c.free.size() || c.free[i].first < c.free[best].first)) best = i;
    if (best < c.free.size()) {
      capacity_ = c.free[best].first;
      buf_ = std::move(c.free[best].second);
      c.bytes -= capacity_ * sizeof(T);
      c.free.erase(c.free.begin() + static_cast<std::ptrdiff_t>(best));
    } else {
      buf_.reset(new T[n]);
      capacity_ = n;
    }
    size_ = n;
  }
  T* data() { return buf_.get(); }
  const T* data() const { return buf_.get(); }
  bool empty() const { return !buf_; }
  T& operator[](std::size_t i) { return buf_[i]; }
  const T& operator[](std::size_t i) const { return buf_[i]; }
  T* begin() { return buf_.get(); }
  T* end() { return buf_.get() + size_; }

 private:
  struct Cache {
    std::vector<std::pair<std::size_t, std::unique_ptr<T[]>>> free;
    std::size_t bytes = 0;
  };
  static Cache& cache() {
    thread_local Cache c;
    return c;
  }
  void release() {
    if (!buf_) return;
    Cache& c = cache();
    if (c.bytes + capacity_ * sizeof(T) <= kScratchCacheBytes) {
      c.bytes += capacity_ * sizeof(T);
      c.free.emplace_back(capacity_, std::move(buf_));
    }
    buf_.reset();
    size_ = capacity_ = 0;
  }

  std::unique_ptr<T[]> buf_;
  std::size_t size_ = 0, capacity_ = 0;
};

/// Calls f(i, j) for all 0 <= i, j < n in 64 x 64 tiles, so that a loop reading both X[i, j] and
/// X[j, i] of row-major matrices stays in cache (a plain row loop misses the TLB on every transposed
/// access at d ~ 1000).
template <class F>
void for_each_tiled(int n, F&& f) {
  constexpr int tile = 64;
  for (int i0 = 0; i0 < n; i0 += tile)
    for (int j0 = 0; j0 < n; j0 += tile) {
      const int i1 = std::min(n, i0 + tile), j1 = std::min(n, j0 + tile);
      for (int i = i0; i < i1; ++i)
        for (int j = j0; j < j1; ++j) f(i, j);
    }
}

/// dst = sum_t coef[t] * src[t] (+ diag on the diagonal of the row-major n x n result), in one pass
/// over memory: chunks small enough for L1 take every term before moving on.
template <class T>
void linear_combination(int n, const std::vector<T>& coef, const std::vector<const T*>& src, T diag, T* dst) {
  const std::size_t nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  constexpr std::size_t chunk = 512;
  for (std::size_t e0 = 0; e0 < nn; e0 += chunk) {
    const std::size_t e1 = std::min(nn, e0 + chunk);
    if (src.empty()) {
      std::fill(dst + e0, dst + e1, T(0));
    } else {
      const T c0 = coef[0];
      const T* s0 = src[0];
      for (std::size_t e = e0; e < e1; ++e) dst[e] = c0 * s0[e];
      for (std::size_t t = 1; t < src.size(); ++t) {
        const T c = coef[t];
        const T* st = src[t];
        for (std::size_t e = e0; e < e1; ++e) dst[e] += c * st[e];
      }
    }
  }
  if (diag != T(0))
    for (int i = 0; i < n; ++i) dst[static_cast<std::size_t>(i) * n + i] += diag;
}

/// Runs body(b) for every matrix of the stack; see the header for the threading policy.
/// A NumericalError from matrix b is rethrown as "W[b]: ..." when the stack has several matrices.
template <class F>
void for_each_matrix(std::size_t batch, std::size_t d, Interrupt& interrupt, F&& body) {
  std::exception_ptr first;
  std::size_t first_index = batch;
  auto run = [&](std::size_t b) -> std::exception_ptr {
    try {
      body(b);
    } catch (const NumericalError& e) {
      if (batch == 1) return std::current_exception();
      return std::make_exception_ptr(NumericalError("W[" + std::to_string(b) + "]: " + e.what()));
    } catch (...) {
      return std::current_exception();
    }
    return nullptr;
  };
  const int nthreads = omp_get_max_threads();
  // One matrix per thread keeps every core busy with single-threaded BLAS, which beats threaded BLAS
  // on one matrix at a time unless the matrices are large and too few to go around.
  const bool parallel = batch > 1 && nthreads > 1 && (d < 256 || batch >= static_cast<std::size_t>(nthreads));
  if (!parallel) {
    for (std::size_t b = 0; b < batch && !first; ++b) {
      if (interrupt.poll()) break;
      first = run(b);
    }
  } else {
    // openblas_set_num_threads is process-wide, so switch it once here rather than in every thread.
    SingleThreadedBlas single;
#pragma omp parallel for schedule(dynamic) num_threads(nthreads)
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(batch); ++i) {
      const auto b = static_cast<std::size_t>(i);
      if (interrupt.poll()) continue;
      std::exception_ptr err = run(b);
      if (err) {
#pragma omp critical(fastcrl_acyclicity_error)
        if (b < first_index) {
          first_index = b;
          first = err;
        }
      }
    }
  }
  interrupt.rethrow_if_stopped();
  if (first) std::rethrow_exception(first);
}

/// Exact log 1-norms of the powers of a non-negative matrix A: ||A^k||_1 = max_j (1^T A^k)_j, so the
/// row vector 1^T A^k, built by matrix-vector products, gives it with no estimation (the norm
/// estimators that general-purpose expm codes need are unnecessary here). Powers A^q already formed
/// can be registered to take several steps in one product. Vectors are rescaled to max 1 to avoid
/// overflow; the scale is kept as a logarithm.
template <class T>
class PowerNorms {
 public:
  explicit PowerNorms(int n) : n_(n) {
    entries_.resize(1);
    entries_[0].vec.assign(static_cast<std::size_t>(n), T(1));
    entries_[0].log_norm = 0.0;
    entries_[0].known = true;
  }

  /// Register the formed power A^q (A^1 must be registered before any query).
  void add_power(int q, const T* aq) {
    if (static_cast<std::size_t>(q) >= powers_.size()) powers_.resize(static_cast<std::size_t>(q) + 1, nullptr);
    powers_[static_cast<std::size_t>(q)] = aq;
  }

  /// log ||A^k||_1 (-inf when A^k = 0).
  double log_norm(int k) {
    if (static_cast<std::size_t>(k) < entries_.size() && entries_[static_cast<std::size_t>(k)].known)
      return entries_[static_cast<std::size_t>(k)].log_norm;
    int j = 0;
    for (int i = std::min(k, static_cast<int>(entries_.size()) - 1); i > 0; --i)
      if (entries_[static_cast<std::size_t>(i)].known) {
        j = i;
        break;
      }
    if (entries_[static_cast<std::size_t>(j)].log_norm == -kInf) return store(k, {}, -kInf);
    std::vector<T> v = entries_[static_cast<std::size_t>(j)].vec;
    double log_scale = entries_[static_cast<std::size_t>(j)].log_norm;
    std::vector<T> y(v.size());
    while (j < k) {
      int q = std::min(k - j, static_cast<int>(powers_.size()) - 1);
      while (q > 1 && powers_[static_cast<std::size_t>(q)] == nullptr) --q;
      gemv(true, n_, powers_[static_cast<std::size_t>(q)], v.data(), y.data());
      const T mx = *std::max_element(y.begin(), y.end());
      j += q;
      if (!(mx > T(0))) return store(k, {}, -kInf);
      for (std::size_t i = 0; i < y.size(); ++i) v[i] = y[i] / mx;
      log_scale += std::log(static_cast<double>(mx));
      if (j < k) store(j, v, log_scale);
    }
    return store(k, std::move(v), log_scale);
  }

  /// ||A^k||_1^(1/k)
  double root_norm(int k) {
    const double l = log_norm(k);
    return l == -kInf ? 0.0 : std::exp(l / k);
  }

  static constexpr double kInf = std::numeric_limits<double>::infinity();

  /// Slot for power_bound's memo at p_max (negative: not computed yet).
  double& bound_memo(int p_max) {
    if (static_cast<std::size_t>(p_max) >= bound_memo_.size()) bound_memo_.resize(static_cast<std::size_t>(p_max) + 1, -1.0);
    return bound_memo_[static_cast<std::size_t>(p_max)];
  }

 private:
  struct Entry {
    std::vector<T> vec;
    double log_norm = 0.0;
    bool known = false;
  };
  double store(int k, std::vector<T> v, double log_norm) {
    if (static_cast<std::size_t>(k) >= entries_.size()) entries_.resize(static_cast<std::size_t>(k) + 1);
    auto& e = entries_[static_cast<std::size_t>(k)];
    e.vec = std::move(v);
    e.log_norm = log_norm;
    e.known = true;
    return log_norm;
  }

  int n_;
  std::vector<const T*> powers_;
  std::vector<Entry> entries_;
  std::vector<double> bound_memo_;
};

/// eta = min over p with p(p-1) <= l of max(d_p, d_{p+1}), d_k = ||A^k||^(1/k): every k >= p(p-1) is a
/// sum of p's and (p+1)'s, so ||A^k|| <= eta^k for all k >= l (Al-Mohy & Higham 2009, Lemma 4.1).
/// The value depends on l only through the largest admissible p, so it is memoised per p (the degree
/// searches ask for it at every degree and scaling).
template <class T>
double power_bound(PowerNorms<T>& norms, int l) {
  int p_max = 1;
  while ((p_max + 1) * p_max <= l) ++p_max;
  double& memo = norms.bound_memo(p_max);
  if (memo < 0.0) {
    double best = std::numeric_limits<double>::infinity();
    for (int p = 1; p <= p_max; ++p) best = std::min(best, std::max(norms.root_norm(p), norms.root_norm(p + 1)));
    memo = best;
  }
  return memo;
}

/// F <- (I + F)^(2^s) - I by s squarings in the form (I + F)^2 - I = F F + 2F, which keeps a small
/// result accurate (no I to cancel). tmp: n x n scratch.
template <class T>
void square_from_identity(T* F, int n, int s, T* tmp, Interrupt& interrupt) {
  const auto nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  T* cur = F;
  T* nxt = tmp;
  for (int k = 0; k < s; ++k) {
    if (interrupt.poll()) return;
    for (std::size_t i = 0; i < nn; ++i) nxt[i] = T(2) * cur[i];
    matmul(n, cur, cur, T(1), nxt);
    std::swap(cur, nxt);
  }
  if (cur != F) std::copy(cur, cur + nn, F);
}

// ---------------------------------------------------------------------------------------------------
// Trace exponential.

template <class T>
struct PadeTable;
// Degrees and theta_m of Al-Mohy & Higham (2009), Table 3.1 and Algorithm 5.1 (theta_13 = 4.25).
template <>
struct PadeTable<double> {
  static constexpr int n = 5;
  static constexpr int m[n] = {3, 5, 7, 9, 13};
  static constexpr double theta[n] = {1.495585217958292e-2, 2.539398330063230e-1, 9.504178996162932e-1,
                                      2.097847961257068e0, 4.25};
  static constexpr double log2_u = -53.0;
};
// Single precision: degrees 3, 5, 7 with Higham (2005)'s single-precision theta_m.
template <>
struct PadeTable<float> {
  static constexpr int n = 3;
  static constexpr int m[n] = {3, 5, 7};
  static constexpr double theta[n] = {4.258730016922831e-1, 1.880152677804762e0, 3.925724783138660e0};
  static constexpr double log2_u = -24.0;
};

/// Coefficients of the [m/m] Padé numerator p_m(x) = sum_j b_j x^j of exp(x), scaled to b_0 = 1;
/// b_j = (2m - j)! m! / ((2m)! j! (m - j)!).
std::vector<double> pade_coefficients(int m) {
  std::vector<double> b(static_cast<std::size_t>(m) + 1);
  b[0] = 1.0;
  for (int j = 0; j < m; ++j)
    b[static_cast<std::size_t>(j) + 1] = b[static_cast<std::size_t>(j)] * (m - j) / ((j + 1.0) * (2.0 * m - j));
  return b;
}

/// log2 of the scaling that keeps the rounding errors of r_m from dominating (Al-Mohy & Higham 2009,
/// eq. (5.1)): ceil(log2(|c_{2m+1}| ||A^{2m+1}|| / (u ||A||)) / (2m)) for A >= 0, with
/// |c_{2m+1}| = (m!)^2 / ((2m)! (2m+1)!). The correction for 2^-s A is max(0, this - s).
template <class T>
double ell_raw(PowerNorms<T>& norms, int m) {
  const double l_top = norms.log_norm(2 * m + 1);
  if (l_top == -PowerNorms<T>::kInf) return -std::numeric_limits<double>::infinity();
  const double log2c =
      (2.0 * std::lgamma(m + 1.0) - std::lgamma(2.0 * m + 1.0) - std::lgamma(2.0 * m + 2.0)) / std::log(2.0);
  const double x = log2c + (l_top - norms.log_norm(1)) / std::log(2.0) - PadeTable<T>::log2_u;
  return std::ceil(x / (2.0 * m));
}

/// F = exp(A) - I for A >= 0 (row-major n x n) by Padé scaling and squaring. A is overwritten (scaled).
template <class T>
void expm_minus_identity(T* A, int n, T* F, Interrupt& interrupt) {
  const auto nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  using Tab = PadeTable<T>;
  PowerNorms<T> norms(n);
  norms.add_power(1, A);

  // Powers are formed unscaled for the degree selection; pre-scale A when they could overflow.
  int s = 0;
  const double log2_norm = norms.log_norm(1) / std::log(2.0);
  if (log2_norm == -PowerNorms<T>::kInf) {  // A = 0
    std::fill(F, F + nn, T(0));
    return;
  }
  if (!std::isfinite(log2_norm)) throw NumericalError("||W∘W|| overflows");
  const double log2_max = std::log2(static_cast<double>(std::numeric_limits<T>::max()));
  if (8.0 * log2_norm > log2_max - 16.0) {
    s = static_cast<int>(std::ceil(log2_norm));
    const T f = static_cast<T>(std::ldexp(1.0, -s));
    for (std::size_t i = 0; i < nn; ++i) A[i] *= f;
    norms = PowerNorms<T>(n);
    norms.add_power(1, A);
  }

  Scratch<T> A2(nn), A4, A6, A8;
  matmul(n, A, A, T(0), A2.data());
  norms.add_power(2, A2.data());

  int m = Tab::m[Tab::n - 1];
  int extra = 0;  // squarings beyond the pre-scaling
  bool chosen = false;
  for (int i = 0; i + 1 < Tab::n && !chosen; ++i) {
    const int mi = Tab::m[i];
    if (mi >= 5 && A4.empty()) {
      A4.resize(nn);
      matmul(n, A2.data(), A2.data(), T(0), A4.data());
      norms.add_power(4, A4.data());
    }
    if (mi >= 7 && A6.empty()) {
      A6.resize(nn);
      matmul(n, A4.data(), A2.data(), T(0), A6.data());
      norms.add_power(6, A6.data());
    }
    if (power_bound(norms, 2 * mi + 1) <= Tab::theta[i] && ell_raw(norms, mi) <= 0.0) {
      m = mi;
      chosen = true;
    }
  }
  if (!chosen) {
    if (m >= 7 && A6.empty()) {  // single precision reaches its top degree 7 without having formed A6
      if (A4.empty()) {
        A4.resize(nn);
        matmul(n, A2.data(), A2.data(), T(0), A4.data());
        norms.add_power(4, A4.data());
      }
      A6.resize(nn);
      matmul(n, A4.data(), A2.data(), T(0), A6.data());
      norms.add_power(6, A6.data());
    }
    const double eta = power_bound(norms, 2 * m + 1);
    const double base = std::max(0.0, std::ceil(std::log2(eta / Tab::theta[Tab::n - 1])));
    extra = static_cast<int>(std::max(base, ell_raw(norms, m)));
  }
  if (m == 9) {
    A8.resize(nn);
    matmul(n, A4.data(), A4.data(), T(0), A8.data());
  }
  if (interrupt.poll()) return;

  // Scale A and its powers by 2^-extra.
  if (extra > 0) {
    auto scale = [&](Scratch<T>& P, int k) {
      if (P.empty()) return;
      const T f = static_cast<T>(std::ldexp(1.0, -extra * k));
      for (auto& x : P) x *= f;
    };
    const T f1 = static_cast<T>(std::ldexp(1.0, -extra));
    for (std::size_t i = 0; i < nn; ++i) A[i] *= f1;
    scale(A2, 2);
    scale(A4, 4);
    scale(A6, 6);
    scale(A8, 8);
  }
  s += extra;

  // r_m(A) = q_m(A)^{-1} p_m(A) with p_m = V + U, q_m = V - U, U odd and V even in A.
  const std::vector<double> b = pade_coefficients(m);
  const T* pw[9] = {nullptr, A, A2.data(), nullptr, A4.empty() ? nullptr : A4.data(), nullptr,
                    A6.empty() ? nullptr : A6.data(), nullptr, A8.empty() ? nullptr : A8.data()};
  // out = sum_k coef[k] * A^(2k) (k = 0: identity) over the even powers up to 2 * (count - 1).
  auto even_combination = [&](T* out, const std::vector<double>& coef) {
    std::vector<T> c;
    std::vector<const T*> src;
    for (std::size_t k = 1; k < coef.size(); ++k) {
      c.push_back(static_cast<T>(coef[k]));
      src.push_back(pw[2 * k]);
    }
    linear_combination(n, c, src, static_cast<T>(coef[0]), out);
  };
  Scratch<T> U(nn), V(nn), tmp(nn);
  if (m <= 9) {
    std::vector<double> cu, cv;
    for (int j = 1; j <= m; j += 2) cu.push_back(b[static_cast<std::size_t>(j)]);
    for (int j = 0; j <= m; j += 2) cv.push_back(b[static_cast<std::size_t>(j)]);
    even_combination(tmp.data(), cu);
    matmul(n, A, tmp.data(), T(0), U.data());
    even_combination(V.data(), cv);
  } else {  // m == 13: A6 (b13 A6 + b11 A4 + b9 A2) + ..., as in Higham (2005)
    even_combination(tmp.data(), {0.0, b[9], b[11], b[13]});
    even_combination(V.data(), {b[1], b[3], b[5], b[7]});
    matmul(n, A6.data(), tmp.data(), T(1), V.data());  // V holds the inner factor of U for now
    matmul(n, A, V.data(), T(0), U.data());
    even_combination(tmp.data(), {0.0, b[8], b[10], b[12]});
    even_combination(V.data(), {b[0], b[2], b[4], b[6]});
    matmul(n, A6.data(), tmp.data(), T(1), V.data());
  }
  // r_m - I = q^{-1} (p - q) = q^{-1} (2U): solve q F = 2U. LAPACK sees the transposes: it factors
  // q^T and solves q^T X = (2U)^T, so X^T = 2U q^{-1} = q^{-1} 2U (they commute) lands row-major in F.
  for (std::size_t i = 0; i < nn; ++i) {
    V[i] -= U[i];
    F[i] = T(2) * U[i];
  }
  std::vector<int> ipiv(static_cast<std::size_t>(n));
  if (lu(n, V.data(), ipiv.data()) != 0) throw NumericalError("the Padé denominator is singular");
  lu_solve(n, n, V.data(), ipiv.data(), F);

  square_from_identity(F, n, s, tmp.data(), interrupt);
}

template <class T>
void expm_taylor_minus_identity(T* A, int n, T* F, Interrupt& interrupt);

template <class T>
void expm_one(const T* W, int n, ExpmMethod method, T* h, T* grad, Interrupt& interrupt) {
  const auto nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  Scratch<T> A(nn), F(nn);
  square_entries(W, nn, A.data());
  if (method == ExpmMethod::Pade)
    expm_minus_identity(A.data(), n, F.data(), interrupt);
  else
    expm_taylor_minus_identity(A.data(), n, F.data(), interrupt);
  if (interrupt.stopped()) return;
  double tr = 0.0;
  bool finite = true;
  for (int i = 0; i < n; ++i) tr += static_cast<double>(F[static_cast<std::size_t>(i) * n + i]);
  for_each_tiled(n, [&](int i, int j) {
    const T e = F[static_cast<std::size_t>(j) * n + i] + (i == j ? T(1) : T(0));
    finite &= e <= std::numeric_limits<T>::max();
    grad[static_cast<std::size_t>(i) * n + j] = T(2) * W[static_cast<std::size_t>(i) * n + j] * e;
  });
  if (!finite || !std::isfinite(static_cast<T>(tr)))
    throw NumericalError(std::string("exp(W∘W) overflows in ") + dtype_name<T>() +
                         ": the trace-exponential constraint is not representable for weights this large");
  *h = static_cast<T>(tr);
}

// ---------------------------------------------------------------------------------------------------
// Log-det.

/// Upper and lower Collatz-Wielandt bounds on rho for an error message (cheap, few iterations).
template <class T>
std::string rho_hint(const T* W, std::size_t d);

/// LU factorisation without pivoting of a column-major m x n panel (m >= n, leading dimension lda),
/// in place (LAPACK's layout: unit L below the diagonal, U on and above), recursive (Toledo 1997):
/// factor the left half, trsm for the top right block, gemm for the Schur complement, recurse on it.
/// Nearly all the work is in large trsm/gemm calls, which keep BLAS threads busy; the column loops
/// left over are O(16 d^2). Stops at the first pivot <= min_pivot and returns its 1-based index
/// (0 on success).
/// For a Z-matrix (off-diagonal <= 0) all pivots are positive exactly when it is a nonsingular
/// M-matrix (all leading principal minors positive), and elimination without pivoting is then
/// stable. The off-diagonal entries of every Schur complement stay <= 0 and their updates add
/// numbers of one sign, so signs and zero patterns off the diagonal are exact in floating point;
/// only a pivot (a difference of positive numbers) can have its sign changed by rounding.
template <class T>
int lu_no_pivoting(int m, int n, T* a, int lda, T min_pivot) {
  constexpr int base = 16;
  if (n <= base) {
    for (int j = 0; j < n; ++j) {
      T* cj = a + static_cast<std::size_t>(j) * lda;
      const T p = cj[j];
      if (!(p > min_pivot) || !(p <= std::numeric_limits<T>::max())) return j + 1;
      const T inv = T(1) / p;
      for (int i = j + 1; i < m; ++i) cj[i] *= inv;
      for (int c = j + 1; c < n; ++c) {
        T* cc = a + static_cast<std::size_t>(c) * lda;
        const T f = cc[j];
        if (f != T(0))
          for (int i = j + 1; i < m; ++i) cc[i] -= cj[i] * f;
      }
    }
    return 0;
  }
  const int n1 = n / 2, n2 = n - n1;
  if (const int bad = lu_no_pivoting(m, n1, a, lda, min_pivot)) return bad;
  T* a12 = a + static_cast<std::size_t>(n1) * lda;
  trsm_unit_lower(n1, n2, a, lda, a12, lda);
  gemm_sub(m - n1, n2, n1, a + n1, lda, a12, lda, a12 + n1, lda);
  if (const int bad = lu_no_pivoting(m - n1, n2, a12 + n1, lda, min_pivot)) return bad + n1;
  return 0;
}

template <class T>
void logdet_one(const T* W, int n, double s, DomainPolicy policy, T* h, T* grad) {
  const auto nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  Scratch<T> M(nn), Minv(nn);
  square_entries(W, nn, M.data());
  for (std::size_t i = 0; i < nn; ++i) M[i] = -M[i];
  for (int i = 0; i < n; ++i) M[static_cast<std::size_t>(i) * n + i] += static_cast<T>(s);

  auto outside = [&](const char* why) {
    if (policy == DomainPolicy::Flag) {
      *h = std::numeric_limits<T>::infinity();
      std::fill(grad, grad + nn, std::numeric_limits<T>::quiet_NaN());
      return;
    }
    throw NumericalError("s = " + fmt(s) + " is not above the spectral radius of W∘W (" + why +
                         "; " + rho_hint(W, static_cast<std::size_t>(n)) +
                         "): the log-det constraint is only defined where sI - W∘W is a nonsingular M-matrix; "
                         "use a larger s or smaller weights");
  };

  // The row-major buffer is M^T column-major; M^T is an M-matrix exactly when M is, det(M^T) = det(M).
  // Domain test: all pivots positive. A pivot is m_jj minus a sum of non-negative products that is
  // below m_jj <= s inside the domain, so its rounding error is below about 2 (d + 1) u s; pivots
  // under that margin are numerically on the boundary and refused. This stops the work early.
  const T min_pivot = static_cast<T>(2.0 * (n + 1) * std::numeric_limits<T>::epsilon() * s);
  if (lu_no_pivoting(n, n, M.data(), n, min_pivot) != 0)
    return outside("sI - W∘W has a non-positive LU pivot, or one within rounding of 0");
  double logdet = 0.0;
  for (int i = 0; i < n; ++i) logdet += std::log(static_cast<double>(M[static_cast<std::size_t>(i) * n + i]) / s);

  // (M^T)^{-1} = U^{-1} L^{-1}: L^{-1} by trtri on a copy of L, then one trsm with U, 4/3 d^3 flops
  // like getri but in two calls that OpenBLAS implements itself (getri, reference LAPACK around many
  // smaller BLAS calls, was several times slower with two threads on a busy machine).
  // The factors of an M-matrix invert without cancellation (L^{-1}, U^{-1} >= 0), so the zeros of
  // M^{-1} are exact. The result, (M^T)^{-1} column-major, is M^{-1} row-major.
  for (int j = 0; j < n; ++j) {
    const T* src = M.data() + static_cast<std::size_t>(j) * n;
    T* dst = Minv.data() + static_cast<std::size_t>(j) * n;
    std::fill(dst, dst + j, T(0));
    dst[j] = T(1);
    std::copy(src + j + 1, src + n, dst + j + 1);
  }
  if (unit_lower_inverse(n, Minv.data()) != 0) return outside("sI - W∘W is singular");
  trsm_upper(n, n, M.data(), n, Minv.data(), n);

  bool finite = true;
  for (std::size_t i = 0; i < nn; ++i) finite &= Minv[i] <= std::numeric_limits<T>::max();
  if (!finite) {
    if (policy == DomainPolicy::Flag) return outside("");
    throw NumericalError(std::string("(sI - W∘W)^{-1} overflows in ") + dtype_name<T>() +
                         ": sI - W∘W is too close to singular for this dtype");
  }

  *h = static_cast<T>(-logdet) + T(0);  // + 0: no -0.0 for DAGs
  for_each_tiled(n, [&](int i, int j) {
    grad[static_cast<std::size_t>(i) * n + j] =
        T(2) * W[static_cast<std::size_t>(i) * n + j] * Minv[static_cast<std::size_t>(j) * n + i];
  });
}

// ---------------------------------------------------------------------------------------------------
// Polynomial.

/// Knuth's power tree: the path from 1 to n is a short addition chain (13 products for n = 999 where
/// binary powering needs 16; optimal is 13). Returns the chain and, for each step k >= 1, the index j
/// with chain[k] = chain[k-1] + chain[j].
std::pair<std::vector<int>, std::vector<int>> power_tree_chain(int n) {
  std::vector<int> parent(static_cast<std::size_t>(n) + 1, -1);
  parent[1] = 0;
  std::vector<int> level{1}, next, path;
  while (parent[static_cast<std::size_t>(n)] < 0) {
    next.clear();
    for (int k : level) {
      path.clear();
      for (int j = k; j != 0; j = parent[static_cast<std::size_t>(j)]) path.push_back(j);
      for (auto it = path.rbegin(); it != path.rend(); ++it) {
        const long v = static_cast<long>(k) + *it;
        if (v <= n && parent[static_cast<std::size_t>(v)] < 0) {
          parent[static_cast<std::size_t>(v)] = k;
          next.push_back(static_cast<int>(v));
        }
      }
    }
    level.swap(next);
  }
  std::vector<int> chain;
  for (int j = n; j != 0; j = parent[static_cast<std::size_t>(j)]) chain.push_back(j);
  std::reverse(chain.begin(), chain.end());
  std::vector<int> addend(chain.size(), -1);
  for (std::size_t k = 1; k < chain.size(); ++k) {
    const int a = chain[k] - chain[k - 1];
    addend[k] = static_cast<int>(std::find(chain.begin(), chain.end(), a) - chain.begin());
  }
  return {chain, addend};
}

/// Matrix products for Paterson-Stockmeyer evaluation of a degree-K polynomial with block size b.
int ps_cost(int K, int b) { return (b - 1) + K / b - (K % b == 0 ? 1 : 0); }
int ps_block(int K) {
  int best = 1;
  for (int b = 2; b <= K; ++b)
    if (ps_cost(K, b) < ps_cost(K, best)) best = b;
  return best;
}
int ps_products(int K) { return ps_cost(K, ps_block(K)); }

/// Least degree K <= k_max at which the power series sum_k c_k X^k, X = scale * A, A >= 0, may be
/// truncated with a tail below the unit roundoff times the norm of the whole sum; -1 if none. On
/// success c holds c_0 .. c_K. next(k, c_k) gives c_{k+1}, which must be <= c_k / (k + 1) (true for
/// exp and for (1 + x/d)^n); 0 ends a finite series, which is then summed exactly.
/// For k > K the terms are non-negative, c_k <= c_{K+1} / (K + 2)^(k-K-1) and ||X^k|| <= eta^k (power_bound
/// with l = K + 1), so the tail is at most c_{K+1} eta^(K+1) / (1 - eta / (K + 2)): a rigorous bound, not
/// an estimate. The norm of the sum is at least 1 (identity term) and at least c_j ||X^j|| for each j
/// (all terms are non-negative); only the norms power_bound already paid for enter.
template <class T, class Next>
int series_degree(PowerNorms<T>& norms, double scale, Next next, int k_max, std::vector<double>& c) {
  const double log_u = PadeTable<T>::log2_u * std::log(2.0);
  const double log_scale = std::log(scale);
  c.assign(1, 1.0);
  double log_lower = 0.0;
  int known = 0;
  for (int k = 1; k <= k_max; ++k) {
    c.push_back(next(k - 1, c.back()));
    if (c.back() == 0.0) {
      c.pop_back();
      return k - 1;
    }
    const double c_next = next(k, c.back());
    if (c_next == 0.0) return k;
    const double eta = scale * power_bound(norms, k + 1);
    int reach = 1;
    while ((reach + 1) * reach <= k + 1) ++reach;
    for (; known < std::min(reach + 1, k); ++known) {
      const double lj = norms.log_norm(known + 1);
      if (lj != -PowerNorms<T>::kInf)
        log_lower =
            std::max(log_lower, std::log(c[static_cast<std::size_t>(known) + 1]) + (known + 1) * log_scale + lj);
    }
    if (eta == 0.0) return k;
    if (eta < k + 2.0) {
      const double log_tail = std::log(c_next) + (k + 1.0) * std::log(eta) - std::log1p(-eta / (k + 2.0));
      if (log_tail <= log_u + log_lower) return k;
    }
  }
  return -1;
}

/// out = sum_{k=1..K} c_k X^k for X >= 0 (row-major d x d) by Paterson-Stockmeyer with block b:
/// p(X) = sum_i (X^b)^i Q_i(X), Horner in X^b, ps_products(K) matrix products. With c_k >= 0 nothing
/// cancels and the zero pattern of the exact result is kept.
template <class T>
void paterson_stockmeyer(const T* X, int d, const std::vector<double>& c, int K, T* out, Interrupt& interrupt) {
  const auto nn = static_cast<std::size_t>(d) * static_cast<std::size_t>(d);
  const int b = ps_block(K);
  std::vector<Scratch<T>> pw(static_cast<std::size_t>(b) + 1);
  for (int j = 2; j <= b; ++j) {
    if (interrupt.poll()) return;
    pw[static_cast<std::size_t>(j)].resize(nn);
    matmul(d, j == 2 ? X : pw[static_cast<std::size_t>(j) - 1].data(), X, T(0), pw[static_cast<std::size_t>(j)].data());
  }
  auto power = [&](int j) -> const T* { return j == 1 ? X : pw[static_cast<std::size_t>(j)].data(); };
  // dst = Q_i(X) = sum_{j < b, ib + j <= K} c_{ib+j} X^j (+ extra * X^b), leaving out c_0 I.
  std::vector<T> coef;
  std::vector<const T*> src;
  auto block = [&](int i, T* dst, T extra = T(0)) {
    coef.clear();
    src.clear();
    for (int j = 1; j < b && i * b + j <= K; ++j) {
      coef.push_back(static_cast<T>(c[static_cast<std::size_t>(i * b + j)]));
      src.push_back(power(j));
    }
    if (extra != T(0)) {
      coef.push_back(extra);
      src.push_back(power(b));
    }
    linear_combination(d, coef, src, i == 0 ? T(0) : static_cast<T>(c[static_cast<std::size_t>(i * b)]), dst);
  };
  Scratch<T> tmp(nn);
  T* cur = out;
  T* nxt = tmp.data();
  const int r = K / b;
  int i = r;
  if (K % b == 0) {  // Q_r = c_K I: its product with X^b is a scaling
    block(r - 1, cur, static_cast<T>(c[static_cast<std::size_t>(K)]));
    i = r - 1;
  } else {
    block(r, cur);
  }
  for (; i > 0; --i) {
    if (interrupt.poll()) return;
    block(i - 1, nxt);
    matmul(d, cur, power(b), T(1), nxt);
    std::swap(cur, nxt);
  }
  if (cur != out) std::copy(cur, cur + nn, out);
}

/// The least scaling 2^-s worth trying for a series whose terms grow like eta^k / k!: below
/// eta(2^-s A) ~ 8 the degree (and cost) only grows with s.
inline int first_useful_scaling(double eta) {
  return eta > 8.0 ? static_cast<int>(std::ceil(std::log2(eta / 8.0))) : 0;
}

/// A truncated power series sum_{k<=K} c_k X^k evaluated after scaling by 2^-s (or an equivalent
/// change of the series), then squared s times: ps_products(K) + s matrix products.
struct SeriesPlan {
  int s = -1;
  int K = -1;
  int cost = std::numeric_limits<int>::max();
  std::vector<double> c;
};

/// The plan with the fewest products over s = s_lo .. s_hi, costing less than cost_limit (K = -1 if
/// none). degree(s, c) returns the truncation degree for scaling s (-1 if none) and fills c.
template <class Degree>
SeriesPlan cheapest_series(int s_lo, int s_hi, int cost_limit, Degree degree) {
  SeriesPlan best;
  best.cost = cost_limit;
  std::vector<double> c;
  for (int s = s_lo; s <= s_hi && s < best.cost; ++s) {
    const int K = degree(s, c);
    if (K < 0) continue;
    const int cost = ps_products(K) + s;
    if (cost < best.cost) {
      best.cost = cost;
      best.s = s;
      best.K = K;
      best.c = c;
    }
  }
  return best;
}

/// F = exp(A) - I for A >= 0 (row-major n x n) by a truncated Taylor series and squaring; see the
/// header. A is overwritten (scaled).
template <class T>
void expm_taylor_minus_identity(T* A, int n, T* F, Interrupt& interrupt) {
  const auto nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  PowerNorms<T> norms(n);
  norms.add_power(1, A);
  const double l1 = norms.log_norm(1);
  if (l1 == -PowerNorms<T>::kInf) {  // A = 0
    std::fill(F, F + nn, T(0));
    return;
  }
  if (!std::isfinite(l1)) throw NumericalError("||W∘W|| overflows");
  const double eta = power_bound(norms, 42);
  if (!std::isfinite(eta)) throw NumericalError("the norms of powers of W∘W overflow");
  const int s_start = first_useful_scaling(eta);
  auto next = [](int k, double ck) { return ck / (k + 1.0); };
  const SeriesPlan plan = cheapest_series(s_start, s_start + 8, std::numeric_limits<int>::max(),
                                          [&](int s, std::vector<double>& c) {
                                            return series_degree(norms, std::ldexp(1.0, -s), next, 40, c);
                                          });
  if (plan.K < 0) throw NumericalError("no Taylor degree <= 40 reaches the unit roundoff");  // unreachable
  if (plan.s > 0) {
    const T f = static_cast<T>(std::ldexp(1.0, -plan.s));
    for (std::size_t i = 0; i < nn; ++i) A[i] *= f;
  }
  paterson_stockmeyer(A, n, plan.c, plan.K, F, interrupt);
  Scratch<T> tmp(nn);
  square_from_identity(F, n, plan.s, tmp.data(), interrupt);
}

/// G = (I + A/d)^n - I, n = d - 1, for A >= 0 (row-major n x n). See the header.
template <class T>
void poly_minus_identity(const T* A, int d, T* G, Interrupt& interrupt) {
  const auto nn = static_cast<std::size_t>(d) * static_cast<std::size_t>(d);
  const int n = d - 1;
  if (n == 0) {
    std::fill(G, G + nn, T(0));
    return;
  }
  const auto [chain, addend] = power_tree_chain(n);
  const int chain_cost = static_cast<int>(chain.size()) - 1;

  // Or (I + A/d)^n = ((I + A/d)^alpha)^(2^s), alpha = n / 2^s: the binomial series
  // sum_k c_k X^k, X = (alpha / d) A, c_k = C(alpha, k) / alpha^k <= 1/k!, truncated where
  // series_degree allows and squared s times, when that takes fewer products than the chain. With
  // alpha an integer (s = 0) the series is finite. Otherwise the scaled series costs like the
  // exponential's, whatever d: terms up to k <= floor(alpha) + 1 are non-negative, and with
  // K <= alpha - 2 every later coefficient ratio |alpha - k| / ((k + 1) alpha) is below 1 / (K + 2)
  // (for k < alpha as for exp, for k >= alpha because it is below 1 / alpha), the decay series_degree's
  // tail bound assumes, so the bound stays rigorous.
  PowerNorms<T> norms(d);
  norms.add_power(1, A);
  const double eta = power_bound(norms, 42) * n / d;  // norm bound of X at s = 0
  if (!std::isfinite(eta)) throw NumericalError("the norms of powers of W∘W overflow");
  const int s_start = first_useful_scaling(eta);
  auto degree = [&](int s, std::vector<double>& c) {
    if (s >= 31 || (1L << s) > n) return -1;
    const double alpha = std::ldexp(static_cast<double>(n), -s);
    const bool finite = alpha == std::floor(alpha);
    const int k_max = static_cast<int>(std::min(40.0, finite ? alpha : std::floor(alpha) - 2.0));
    if (k_max <= 0) return -1;
    auto next = [alpha](int k, double ck) { return k >= alpha ? 0.0 : ck * (alpha - k) / ((k + 1.0) * alpha); };
    return series_degree(norms, alpha / d, next, k_max, c);
  };
  SeriesPlan plan = cheapest_series(0, 0, chain_cost, degree);
  if (s_start > 0) {
    const SeriesPlan scaled = cheapest_series(s_start, s_start + 8, plan.cost, degree);
    if (scaled.K >= 0) plan = scaled;
  }
  if (plan.K > 0) {
    Scratch<T> X(nn);
    const T f = static_cast<T>(std::ldexp(static_cast<double>(n), -plan.s) / d);
    for (std::size_t e = 0; e < nn; ++e) X[e] = A[e] * f;
    paterson_stockmeyer(X.data(), d, plan.c, plan.K, G, interrupt);
    square_from_identity(G, d, plan.s, X.data(), interrupt);
    return;
  }

  // Addition chain on X_k = (I + A/d)^{chain[k]} - I: (I + X)(I + Y) - I = X Y + X + Y, all >= 0.
  std::vector<int> last_use(chain.size(), 0);
  for (std::size_t k = 1; k < chain.size(); ++k) {
    last_use[k - 1] = static_cast<int>(k);
    auto& last = last_use[static_cast<std::size_t>(addend[k])];
    last = std::max(last, static_cast<int>(k));
  }
  std::vector<Scratch<T>> pool;
  std::vector<std::size_t> free_slots;
  std::vector<std::size_t> slot(chain.size());
  auto acquire = [&]() {
    if (!free_slots.empty()) {
      const std::size_t id = free_slots.back();
      free_slots.pop_back();
      return id;
    }
    pool.emplace_back(nn);
    return pool.size() - 1;
  };
  slot[0] = acquire();
  {
    T* X = pool[slot[0]].data();
    const T inv_d = T(1) / static_cast<T>(d);
    for (std::size_t e = 0; e < nn; ++e) X[e] = A[e] * inv_d;
  }
  for (std::size_t k = 1; k < chain.size(); ++k) {
    if (interrupt.poll()) return;
    const std::size_t j = static_cast<std::size_t>(addend[k]);
    slot[k] = acquire();
    T* Z = pool[slot[k]].data();
    const T* X = pool[slot[k - 1]].data();
    const T* Y = pool[slot[j]].data();
    for (std::size_t e = 0; e < nn; ++e) Z[e] = X[e] + Y[e];
    matmul(d, X, Y, T(1), Z);
    for (std::size_t i = 0; i < k; ++i)
      if (last_use[i] == static_cast<int>(k) && slot[i] != static_cast<std::size_t>(-1)) {
        free_slots.push_back(slot[i]);
        slot[i] = static_cast<std::size_t>(-1);
      }
  }
  const T* X = pool[slot.back()].data();
  std::copy(X, X + nn, G);
}

template <class T>
void poly_one(const T* W, int d, T* h, T* grad, Interrupt& interrupt) {
  const auto nn = static_cast<std::size_t>(d) * static_cast<std::size_t>(d);
  Scratch<T> A(nn), G(nn);
  square_entries(W, nn, A.data());
  poly_minus_identity(A.data(), d, G.data(), interrupt);
  if (interrupt.stopped()) return;
  // tr((I + B)^d) - d = tr(G) + tr(B) + tr(G B) with B = A/d, every term non-negative.
  double tr_g = 0.0, tr_b = 0.0, tr_gb = 0.0;
  bool finite = true;
  for (int i = 0; i < d; ++i) {
    tr_g += static_cast<double>(G[static_cast<std::size_t>(i) * d + i]);
    tr_b += static_cast<double>(A[static_cast<std::size_t>(i) * d + i]);
  }
  for_each_tiled(d, [&](int i, int j) {
    const T g = G[static_cast<std::size_t>(i) * d + j];
    tr_gb += static_cast<double>(g) * static_cast<double>(A[static_cast<std::size_t>(j) * d + i]);
    finite &= g <= std::numeric_limits<T>::max();
  });
  const double value = tr_g + (tr_b + tr_gb) / d;
  if (!finite || !std::isfinite(static_cast<T>(value)))
    throw NumericalError(std::string("(I + W∘W/d)^d overflows in ") + dtype_name<T>() +
                         ": the polynomial constraint is not representable for weights this large");
  *h = static_cast<T>(value);
  for_each_tiled(d, [&](int i, int j) {
    const T g = G[static_cast<std::size_t>(j) * d + i] + (i == j ? T(1) : T(0));
    grad[static_cast<std::size_t>(i) * d + j] = T(2) * W[static_cast<std::size_t>(i) * d + j] * g;
  });
}

// ---------------------------------------------------------------------------------------------------
// Spectral radius.

/// Strongly connected components of the graph i -> j for W[i, j] != 0 (i != j), iterative Tarjan.
template <class T>
std::vector<std::vector<int>> strong_components(const T* W, int d) {
  std::vector<int> index(static_cast<std::size_t>(d), -1), low(static_cast<std::size_t>(d), 0);
  std::vector<char> on_stack(static_cast<std::size_t>(d), 0);
  std::vector<int> stack;
  std::vector<std::pair<int, int>> calls;  // (node, next neighbour to scan)
  std::vector<std::vector<int>> comps;
  int counter = 0;
  for (int root = 0; root < d; ++root) {
    if (index[static_cast<std::size_t>(root)] >= 0) continue;
    auto visit = [&](int v) {
      index[static_cast<std::size_t>(v)] = low[static_cast<std::size_t>(v)] = counter++;
      stack.push_back(v);
      on_stack[static_cast<std::size_t>(v)] = 1;
      calls.emplace_back(v, 0);
    };
    visit(root);
    while (!calls.empty()) {
      const int v = calls.back().first;
      int& next = calls.back().second;
      const T* row = W + static_cast<std::size_t>(v) * d;
      while (next < d && (row[next] == T(0) || next == v)) ++next;
      if (next < d) {
        const int w = next++;
        if (index[static_cast<std::size_t>(w)] < 0) {
          visit(w);
        } else if (on_stack[static_cast<std::size_t>(w)]) {
          auto& lv = low[static_cast<std::size_t>(v)];
          lv = std::min(lv, index[static_cast<std::size_t>(w)]);
        }
        continue;
      }
      if (low[static_cast<std::size_t>(v)] == index[static_cast<std::size_t>(v)]) {
        comps.emplace_back();
        int w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[static_cast<std::size_t>(w)] = 0;
          comps.back().push_back(w);
        } while (w != v);
      }
      calls.pop_back();
      if (!calls.empty()) {
        const int u = calls.back().first;
        low[static_cast<std::size_t>(u)] = std::min(low[static_cast<std::size_t>(u)], low[static_cast<std::size_t>(v)]);
      }
    }
  }
  return comps;
}

struct PerronResult {
  double lo = 0.0, hi = 0.0;
  int iters = 0;
  std::vector<double> right, left;  // Perron vectors (left only when asked)
};

/// Shifted power iteration on an irreducible non-negative block (row-major m x m, m >= 2).
/// Collatz-Wielandt: for x > 0, min_i (Bx)_i/x_i <= rho(B) <= max_i (Bx)_i/x_i, and both converge to
/// rho for irreducible B once x nears the Perron vector. The positive shift c makes rho + c the only
/// eigenvalue of B + cI of largest modulus, so the iteration converges for periodic blocks too
/// (at a rate set by the gap, which is small for long cycles). c follows the current estimate,
/// which is near the shift that best separates eigenvalues on the circle |z| = rho.
PerronResult perron_block(const std::vector<double>& B, int m, const SpectralRadiusConfig& cfg, bool want_left,
                          Interrupt& interrupt) {
  PerronResult res;
  std::vector<double> x(static_cast<std::size_t>(m), 1.0 / m), y(static_cast<std::size_t>(m));
  std::vector<double> z, yz;
  if (want_left) {
    z.assign(static_cast<std::size_t>(m), 1.0 / m);
    yz.resize(static_cast<std::size_t>(m));
  }
  auto bracket = [&](const std::vector<double>& v, const std::vector<double>& bv, double& lo, double& hi) {
    lo = std::numeric_limits<double>::infinity();
    hi = 0.0;
    for (int i = 0; i < m; ++i) {
      const double r = bv[static_cast<std::size_t>(i)] / std::max(v[static_cast<std::size_t>(i)], 1e-300);
      lo = std::min(lo, r);
      hi = std::max(hi, r);
    }
  };
  auto step = [&](std::vector<double>& v, const std::vector<double>& bv, double c) {
    double sum = 0.0;
    for (std::size_t i = 0; i < v.size(); ++i) sum += (v[i] = bv[i] + c * v[i]);
    for (auto& e : v) e /= sum;
  };
  double lo = 0.0, hi = std::numeric_limits<double>::infinity();
  for (int it = 0;; ++it) {
    gemv(false, m, B.data(), x.data(), y.data());
    double lo_r, hi_r;
    bracket(x, y, lo_r, hi_r);
    lo = lo_r;
    hi = hi_r;
    bool done = hi - lo <= cfg.tol * hi;
    if (want_left) {
      gemv(true, m, B.data(), z.data(), yz.data());
      double lo_l, hi_l;
      bracket(z, yz, lo_l, hi_l);
      lo = std::max(lo, lo_l);
      hi = std::min(hi, hi_l);
      done = done && hi_l - lo_l <= cfg.tol * hi_l;
    }
    res.iters = it + 1;
    if (done || it >= cfg.max_iter || interrupt.poll()) break;
    const double c = 0.5 * (lo + hi);
    step(x, y, c);
    if (want_left) step(z, yz, c);
  }
  res.lo = lo;
  res.hi = hi;
  res.right = std::move(x);
  if (want_left) res.left = std::move(z);
  return res;
}

template <class T>
void spectral_one(const T* W, int d, const SpectralRadiusConfig& cfg, T* rho, double* lo_out, double* hi_out,
                  int* iters, T* grad, Interrupt& interrupt) {
  const auto comps = strong_components(W, d);
  struct Candidate {
    std::size_t comp;
    double bound;
  };
  std::vector<Candidate> order;
  double best_lo = 0.0, best_hi = 0.0, best_mid = -1.0;
  int total_iters = 0;
  std::size_t best_comp = comps.size();
  PerronResult best_res;
  auto sq = [&](int i, int j) {
    const double w = static_cast<double>(W[static_cast<std::size_t>(i) * d + j]);
    return w * w;
  };
  for (std::size_t c = 0; c < comps.size(); ++c) {
    const auto& C = comps[c];
    if (C.size() == 1) {  // a node outside every cycle; its self-loop (if any) is an eigenvalue
      const double a = sq(C[0], C[0]);
      if (!std::isfinite(a)) throw NumericalError("W∘W overflows");
      if (a > best_mid) {
        best_mid = a;
        best_comp = c;
      }
      best_lo = std::max(best_lo, a);
      best_hi = std::max(best_hi, a);
      continue;
    }
    double bound = 0.0;  // max row sum of the block >= its rho
    for (int i : C) {
      double r = 0.0;
      for (int j : C) r += sq(i, j);
      bound = std::max(bound, r);
    }
    order.push_back({c, bound});
  }
  std::sort(order.begin(), order.end(), [](const Candidate& a, const Candidate& b) { return a.bound > b.bound; });
  for (const auto& cand : order) {
    if (cand.bound <= best_lo) break;  // cannot beat a component already bracketed above it
    const auto& C = comps[cand.comp];
    const int m = static_cast<int>(C.size());
    std::vector<double> B(static_cast<std::size_t>(m) * m);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j)
        B[static_cast<std::size_t>(i) * m + j] = sq(C[static_cast<std::size_t>(i)], C[static_cast<std::size_t>(j)]);
    if (!std::isfinite(cand.bound)) throw NumericalError("W∘W overflows");
    PerronResult res = perron_block(B, m, cfg, grad != nullptr, interrupt);
    total_iters += res.iters;
    best_lo = std::max(best_lo, res.lo);
    best_hi = std::max(best_hi, res.hi);
    const double mid = 0.5 * (res.lo + res.hi);
    if (mid > best_mid) {
      best_mid = mid;
      best_comp = cand.comp;
      best_res = std::move(res);
    }
    if (interrupt.stopped()) return;
  }
  // Components never iterated have rho below best_lo, so they do not move the upper end either.
  if (!std::isfinite(static_cast<T>(best_hi)))
    throw NumericalError(std::string("rho(W∘W) overflows in ") + dtype_name<T>());
  *lo_out = best_lo;
  *hi_out = best_hi;
  *rho = static_cast<T>(0.5 * (best_lo + best_hi));
  *iters = total_iters;
  if (grad != nullptr) {
    const auto nn = static_cast<std::size_t>(d) * static_cast<std::size_t>(d);
    std::fill(grad, grad + nn, T(0));
    if (best_comp < comps.size() && best_mid > 0.0) {
      const auto& C = comps[best_comp];
      if (C.size() == 1) {
        const std::size_t e = static_cast<std::size_t>(C[0]) * d + C[0];
        grad[e] = T(2) * W[e];
      } else {
        const auto& u = best_res.right;
        const auto& v = best_res.left;
        double vu = 0.0;
        for (std::size_t i = 0; i < C.size(); ++i) vu += v[i] * u[i];
        for (std::size_t i = 0; i < C.size(); ++i)
          for (std::size_t j = 0; j < C.size(); ++j) {
            const std::size_t e = static_cast<std::size_t>(C[i]) * d + C[j];
            grad[e] = static_cast<T>(2.0 * static_cast<double>(W[e]) * v[i] * u[j] / vu);
          }
      }
    }
  }
}

template <class T>
std::string rho_hint(const T* W, std::size_t d) {
  SpectralRadiusConfig cfg;
  cfg.max_iter = 200;
  cfg.tol = 1e-3;
  T rho;
  double lo, hi;
  int iters;
  try {
    spectral_one(W, static_cast<int>(d), cfg, &rho, &lo, &hi, &iters, static_cast<T*>(nullptr), Interrupt::none());
  } catch (const std::exception&) {
    return "rho(W∘W) could not be estimated";
  }
  return "rho(W∘W) is in [" + fmt(lo) + ", " + fmt(hi) + "]";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Public entry points.

template <class T>
void expm_constraint(const T* W, std::size_t batch, std::size_t d, ExpmMethod method, T* h, T* grad,
                     Interrupt& interrupt) {
  const int n = checked_dim(d);
  const std::size_t nn = d * d;
  for_each_matrix(batch, d, interrupt,
                  [&](std::size_t b) { expm_one(W + b * nn, n, method, h + b, grad + b * nn, interrupt); });
}

template <class T>
void logdet_constraint(const T* W, std::size_t batch, std::size_t d, double s, DomainPolicy policy, T* h, T* grad,
                       Interrupt& interrupt) {
  const int n = checked_dim(d);
  if (!(s > 0.0) || !std::isfinite(s))
    throw std::invalid_argument("s must be a finite number > 0; got " + std::to_string(s));
  const std::size_t nn = d * d;
  for_each_matrix(batch, d, interrupt,
                  [&](std::size_t b) { logdet_one(W + b * nn, n, s, policy, h + b, grad + b * nn); });
}

template <class T>
void poly_constraint(const T* W, std::size_t batch, std::size_t d, T* h, T* grad, Interrupt& interrupt) {
  const int n = checked_dim(d);
  const std::size_t nn = d * d;
  for_each_matrix(batch, d, interrupt,
                  [&](std::size_t b) { poly_one(W + b * nn, n, h + b, grad + b * nn, interrupt); });
}

template <class T>
void spectral_radius(const T* W, std::size_t batch, std::size_t d, const SpectralRadiusConfig& config, T* rho,
                     double* lo, double* hi, int* iters, T* grad, Interrupt& interrupt) {
  const int n = checked_dim(d);
  if (config.max_iter < 1) throw std::invalid_argument("n_iter must be >= 1; got " + std::to_string(config.max_iter));
  if (!(config.tol > 0.0) || !(config.tol < 1.0))
    throw std::invalid_argument("tol must be in (0, 1); got " + std::to_string(config.tol));
  const std::size_t nn = d * d;
  // Hundreds of matrix-vector products, each too small to pay for waking BLAS threads.
  std::unique_ptr<SingleThreadedBlas> single;
  if (d <= 2048) single = std::make_unique<SingleThreadedBlas>();
  for_each_matrix(batch, d, interrupt, [&](std::size_t b) {
    spectral_one(W + b * nn, n, config, rho + b, lo + b, hi + b, iters + b, grad ? grad + b * nn : nullptr, interrupt);
  });
}

#define FASTCRL_INSTANTIATE(T)                                                                                   \
  template void expm_constraint<T>(const T*, std::size_t, std::size_t, ExpmMethod, T*, T*, Interrupt&);          \
  template void logdet_constraint<T>(const T*, std::size_t, std::size_t, double, DomainPolicy, T*, T*,           \
                                     Interrupt&);                                                                \
  template void poly_constraint<T>(const T*, std::size_t, std::size_t, T*, T*, Interrupt&);                      \
  template void spectral_radius<T>(const T*, std::size_t, std::size_t, const SpectralRadiusConfig&, T*, double*, \
                                   double*, int*, T*, Interrupt&);
FASTCRL_INSTANTIATE(double)
FASTCRL_INSTANTIATE(float)
#undef FASTCRL_INSTANTIATE

}  // namespace fastcrl
