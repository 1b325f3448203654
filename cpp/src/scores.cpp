#include "fastcrl/scores.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

#include "fastcrl/blas.hpp"
#include "fastcrl/errors.hpp"
#include "fastcrl/stats.hpp"
#include "fastcrl/threads.hpp"

namespace fastcrl {

namespace {

// std::lgamma writes the global `signgam` in glibc, a data race inside our parallel batches.
inline double log_gamma(double x) {
#if defined(__GLIBC__)
  int sign;
  return ::lgamma_r(x, &sign);
#else
  return std::lgamma(x);
#endif
}

inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  // splitmix64 finaliser over the running hash: cheap and well spread for small integer keys.
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

}  // namespace

// ----------------------------------------------------------------------------------------------- cache

std::size_t LocalScoreCache::Hash::operator()(const std::vector<std::int32_t>& k) const noexcept {
  // Two nodes per 64-bit word into two independent multiply lanes, then one finaliser: the maps
  // hash every key several times (lookup, insert, rehash), and with the large parent sets of a
  // dense search a serial mix per node made hashing the backward phase's main cost.
  std::uint64_t a = 0x9e3779b97f4a7c15ULL ^ k.size(), b = 0xc2b2ae3d27d4eb4fULL;
  const std::size_t n = k.size();
  auto word = [&](std::size_t i) {
    return static_cast<std::uint64_t>(static_cast<std::uint32_t>(k[i])) |
           (static_cast<std::uint64_t>(i + 1 < n ? static_cast<std::uint32_t>(k[i + 1]) + 1u : 0u) << 32);
  };
  std::size_t i = 0;
  for (; i + 3 < n; i += 4) {
    a = (a ^ word(i)) * 0xff51afd7ed558ccdULL;
    b = (b ^ word(i + 2)) * 0xc4ceb9fe1a85ec53ULL;
    a ^= a >> 29;
    b ^= b >> 29;
  }
  if (i < n) a = (a ^ word(i)) * 0xff51afd7ed558ccdULL;
  if (i + 2 < n) b = (b ^ word(i + 2)) * 0xc4ceb9fe1a85ec53ULL;
  return static_cast<std::size_t>(mix(a, b));
}

/// The shard of a key from its node and size only (no pass over the key): each thread of a search
/// mostly works on one node, so threads rarely share a shard's lock.
std::size_t LocalScoreCache::shard_of(const std::vector<std::int32_t>& key) {
  const auto node = static_cast<std::uint64_t>(static_cast<std::uint32_t>(key.empty() ? 0 : key[0]));
  return static_cast<std::size_t>(mix(node, key.size()) % kShards);
}

bool LocalScoreCache::lookup(const std::vector<std::int32_t>& key, double& value) {
  Shard& s = shards_[shard_of(key)];
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.current.find(key);
    bool found = it != s.current.end();
    if (found) {
      value = it->second;
    } else if (!s.previous.empty()) {
      auto old = s.previous.find(key);
      found = old != s.previous.end();
      if (found) {
        value = old->second;
        s.previous.erase(old);  // moved, not copied: size() and memory count it once
        insert_locked(s, key, value);  // still in use: keep it through the next rotation
      }
    }
    if (found) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void LocalScoreCache::insert_locked(Shard& s, std::vector<std::int32_t> key, double value) {
  if (s.current.size() >= generation_capacity_.load(std::memory_order_relaxed)) {
    evictions_.fetch_add(s.previous.size(), std::memory_order_relaxed);
    s.previous = std::move(s.current);
    s.current = Map();
  }
  s.current.emplace(std::move(key), value);
}

void LocalScoreCache::insert(std::vector<std::int32_t> key, double value) {
  Shard& s = shards_[shard_of(key)];
  std::lock_guard<std::mutex> lock(s.mutex);
  insert_locked(s, std::move(key), value);
}

void LocalScoreCache::set_max_entries(std::size_t max_entries) {
  if (max_entries < 1) throw std::invalid_argument("the local-score cache needs room for at least one entry");
  max_entries_.store(max_entries, std::memory_order_relaxed);
  generation_capacity_.store(std::max<std::size_t>(1, max_entries / (2 * kShards)), std::memory_order_relaxed);
}

ScoreCacheInfo LocalScoreCache::info() const {
  ScoreCacheInfo out;
  out.hits = hits_.load(std::memory_order_relaxed);
  out.misses = misses_.load(std::memory_order_relaxed);
  out.evictions = evictions_.load(std::memory_order_relaxed);
  out.max_entries = max_entries();
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(const_cast<std::mutex&>(s.mutex));
    out.size += s.current.size() + s.previous.size();
  }
  return out;
}

void LocalScoreCache::clear() {
  for (Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.current = Map();
    s.previous = Map();
  }
  hits_.store(0, std::memory_order_relaxed);
  misses_.store(0, std::memory_order_relaxed);
  evictions_.store(0, std::memory_order_relaxed);
}

// ------------------------------------------------------------------------------------------------ base

std::vector<std::int32_t> DecomposableScore::make_key(std::int64_t j, const std::int64_t* parents,
                                                      std::size_t k) const {
  const auto d = static_cast<std::int64_t>(d_);
  if (j < 0 || j >= d)
    throw std::invalid_argument("node index " + std::to_string(j) + " is out of range [0, " + std::to_string(d) + ")");
  std::vector<std::int32_t> key(k + 1);
  key[0] = static_cast<std::int32_t>(j);
  for (std::size_t i = 0; i < k; ++i) {
    const std::int64_t p = parents[i];
    if (p < 0 || p >= d)
      throw std::invalid_argument("parent index " + std::to_string(p) + " of node " + std::to_string(j) +
                                  " is out of range [0, " + std::to_string(d) + ")");
    if (p == j) throw std::invalid_argument("node " + std::to_string(j) + " cannot be its own parent");
    key[i + 1] = static_cast<std::int32_t>(p);
  }
  std::sort(key.begin() + 1, key.end());
  if (std::adjacent_find(key.begin() + 1, key.end()) != key.end())
    throw std::invalid_argument("parents of node " + std::to_string(j) + " contain duplicates");
  return key;
}

double DecomposableScore::local_score(std::int64_t j, const std::int64_t* parents, std::size_t k) {
  std::vector<std::int32_t> key = make_key(j, parents, k);
  if (k < min_cached_parents()) return compute(key[0], key.data() + 1, k);
  double value;
  if (cache_.lookup(key, value)) return value;
  value = compute(key[0], key.data() + 1, k);
  cache_.insert(std::move(key), value);  // the key's buffer becomes the entry's: one allocation, not two
  return value;
}

void DecomposableScore::local_scores(const std::int64_t* nodes, const std::int64_t* offsets,
                                     const std::int64_t* parents, std::size_t batch, double* out,
                                     Interrupt& interrupt, bool undefined_as_nan) {
  if (batch == 0) return;
  if (offsets[0] != 0) throw std::invalid_argument("offsets[0] must be 0");
  for (std::size_t b = 0; b < batch; ++b)
    if (offsets[b + 1] < offsets[b]) throw std::invalid_argument("offsets must be non-decreasing");
  // Work per item: counting passes over n rows (discrete) or a small Cholesky (Gaussian); either way a
  // batch of a few hundred items is worth the threads.
  const double work = static_cast<double>(batch) * std::max<double>(static_cast<double>(n_), 1e4);
  const int nthreads = std::min<int>(threads_for_work(work), static_cast<int>(std::min<std::size_t>(batch, 1 << 20)));
  SingleThreadedBlas single(nthreads > 1);
  std::exception_ptr error;
  std::size_t error_at = batch;
  std::mutex error_mutex;
#pragma omp parallel for schedule(dynamic, 4) num_threads(nthreads)
  for (std::ptrdiff_t bi = 0; bi < static_cast<std::ptrdiff_t>(batch); ++bi) {
    if (interrupt.poll()) continue;
    const auto b = static_cast<std::size_t>(bi);
    try {
      out[b] = local_score(nodes[b], parents + offsets[b], static_cast<std::size_t>(offsets[b + 1] - offsets[b]));
    } catch (const NumericalError&) {
      if (undefined_as_nan) {
        out[b] = std::numeric_limits<double>::quiet_NaN();
      } else {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (b < error_at) {
          error_at = b;
          error = std::current_exception();
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (b < error_at) {
        error_at = b;
        error = std::current_exception();
      }
    }
  }
  interrupt.rethrow_if_stopped();
  if (error) std::rethrow_exception(error);
}

double DecomposableScore::time_pair_scores(std::size_t count, std::uint64_t seed) const {
  if (d_ < 2 || count == 0) return 0.0;
  // Whole columns (node j against every other node in turn), as the searches' sweeps visit them.
  std::vector<std::int32_t> nodes(count), parents(count);
  std::uint64_t state = seed;
  std::int32_t j = 0, p = 0;
  for (std::size_t b = 0; b < count; ++b) {
    if (b % (d_ - 1) == 0) {
      state += 0x9e3779b97f4a7c15ULL;  // splitmix64 stream
      j = static_cast<std::int32_t>(mix(state, 0) % d_);
      p = j;
    }
    p = static_cast<std::int32_t>((static_cast<std::size_t>(p) + 1) % d_);
    nodes[b] = j;
    parents[b] = p;
  }
  const double work = static_cast<double>(count) * std::max<double>(static_cast<double>(n_), 1e4);
  const int nthreads = threads_for_work(work);
  SingleThreadedBlas single(nthreads > 1);
  double sink = 0.0;
  const double start = omp_get_wtime();
#pragma omp parallel for schedule(dynamic, 64) num_threads(nthreads) reduction(+ : sink)
  for (std::ptrdiff_t b = 0; b < static_cast<std::ptrdiff_t>(count); ++b) {
    try {
      sink += compute(nodes[b], &parents[b], 1);
    } catch (...) {  // a singular pair costs about as much; only the time matters here
    }
  }
  const double elapsed = omp_get_wtime() - start;
  volatile double keep = sink;  // the scores are only timed
  (void)keep;
  return elapsed / static_cast<double>(count);
}

// -------------------------------------------------------------------------------------------- Gaussian

namespace {

/// Cholesky factor L of M_PP (M symmetric, d x d row-major; P = parents[0..k)) and z = L^{-1} M_Pj.
/// Writes L's diagonal to pivots[0..k) and |z|^2 to explained; false when M_PP is not numerically
/// positive definite. Small sets (the searches' usual case) use an unblocked in-register factorisation:
/// two LAPACK calls and two heap buffers cost more than the arithmetic below 32 parents.
bool factor_parents(const std::vector<double>& M, std::size_t d, std::int32_t j, const std::int32_t* parents,
                    std::size_t k, double* pivots, double& explained) {
  constexpr std::size_t kSmall = 32;
  const auto col = static_cast<std::size_t>(j);
  explained = 0.0;
  if (k <= kSmall) {
    double L[kSmall * kSmall];
    double z[kSmall];
    for (std::size_t a = 0; a < k; ++a) {
      const double* row = &M[static_cast<std::size_t>(parents[a]) * d];
      for (std::size_t b = 0; b <= a; ++b) {
        double v = row[static_cast<std::size_t>(parents[b])];
        for (std::size_t c = 0; c < b; ++c) v -= L[a * kSmall + c] * L[b * kSmall + c];
        if (b < a) {
          L[a * kSmall + b] = v / L[b * kSmall + b];
        } else {
          if (!(v > 0)) return false;
          L[a * kSmall + a] = pivots[a] = std::sqrt(v);
        }
      }
      double w = row[col];
      for (std::size_t c = 0; c < a; ++c) w -= L[a * kSmall + c] * z[c];
      z[a] = w / L[a * kSmall + a];
      explained += z[a] * z[a];
    }
    return true;
  }
  std::vector<double> A(k * k), z(k);
  for (std::size_t a = 0; a < k; ++a) {
    const std::size_t pa = static_cast<std::size_t>(parents[a]);
    z[a] = M[pa * d + col];
    for (std::size_t b = 0; b <= a; ++b) A[a * k + b] = M[pa * d + static_cast<std::size_t>(parents[b])];
  }
  const int ki = static_cast<int>(k);
  if (blas::potrf('L', ki, A.data(), ki) != 0) return false;
  for (std::size_t a = 0; a < k; ++a) {
    pivots[a] = A[a * k + a];
    if (!(pivots[a] > 0)) return false;
  }
  blas::trsv(CblasLower, CblasNoTrans, CblasNonUnit, ki, A.data(), ki, z.data(), 1);
  for (double v : z) explained += v * v;
  return true;
}

/// Holds k pivots on the stack for the usual small parent sets.
class PivotBuffer {
 public:
  explicit PivotBuffer(std::size_t k) : heap_(k > kStack ? k : 0) {}
  double* data() { return heap_.empty() ? stack_ : heap_.data(); }

 private:
  static constexpr std::size_t kStack = 64;
  double stack_[kStack];
  std::vector<double> heap_;
};

}  // namespace

GaussianBICScore::GaussianBICScore(std::size_t n, std::size_t d, double penalty_discount)
    : DecomposableScore(n, d), cov_(d * d), penalty_discount_(penalty_discount) {
  if (n < 2) throw std::invalid_argument("GaussianBIC needs at least 2 samples; got " + std::to_string(n));
  if (d < 1) throw std::invalid_argument("GaussianBIC needs at least one variable");
  if (!(penalty_discount >= 0) || !std::isfinite(penalty_discount))
    throw std::invalid_argument("penalty_discount must be finite and >= 0; got " + std::to_string(penalty_discount));
}

namespace {
void require_positive_diagonal(const std::vector<double>& M, std::size_t d, const char* what) {
  for (std::size_t j = 0; j < d; ++j)
    if (!(M[j * d + j] > 0) || !std::isfinite(M[j * d + j]))
      throw std::invalid_argument("column " + std::to_string(j) + " of X is constant (or the " + what +
                                  " has a non-positive diagonal); its Gaussian score is undefined");
}
}  // namespace

GaussianBICScore::GaussianBICScore(const double* X, std::size_t n, std::size_t d, double penalty_discount)
    : GaussianBICScore(n, d, penalty_discount) {
  fastcrl::covariance(X, n, d, /*ddof=*/0, cov_.data(), static_cast<double*>(nullptr));
  require_positive_diagonal(cov_, d, "covariance");
}

std::unique_ptr<GaussianBICScore> GaussianBICScore::from_covariance(const double* cov, std::size_t n, std::size_t d,
                                                                    double penalty_discount) {
  std::unique_ptr<GaussianBICScore> s(new GaussianBICScore(n, d, penalty_discount));
  std::copy(cov, cov + d * d, s->cov_.begin());
  // Exactly symmetric (searches read S[i, j] or S[j, i], whichever is in memory order); a no-op for a
  // covariance that already is.
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = i + 1; j < d; ++j)
      s->cov_[i * d + j] = s->cov_[j * d + i] = 0.5 * (s->cov_[i * d + j] + s->cov_[j * d + i]);
  require_positive_diagonal(s->cov_, d, "covariance");
  return s;
}

double GaussianBICScore::compute(std::int32_t j, const std::int32_t* parents, std::size_t k) const {
  const std::size_t d = d_;
  const double sjj = cov_[static_cast<std::size_t>(j) * d + static_cast<std::size_t>(j)];
  double var = sjj;
  if (k > 0) {
    PivotBuffer pivots(k);
    double explained = 0.0;
    // Also reject a pivot that lost all but ~1e-12 of its parent's variance (that parent is a linear
    // function of the earlier ones): a factorisation can succeed on a matrix singular up to rounding.
    bool singular = !factor_parents(cov_, d, j, parents, k, pivots.data(), explained);
    for (std::size_t a = 0; a < k && !singular; ++a) {
      const std::size_t pa = static_cast<std::size_t>(parents[a]);
      singular = !(pivots.data()[a] * pivots.data()[a] > cov_[pa * d + pa] * 1e-12);
    }
    if (singular)
      throw NumericalError("covariance of the parents of node " + std::to_string(j) +
                           " is singular (collinear or duplicate parent columns)");
    var = sjj - explained;
  }
  // A residual variance at rounding level means j is a linear function of its parents: the likelihood is
  // unbounded, so report it rather than return a meaningless huge score.
  if (!(var > sjj * kResidualFloor))
    throw NumericalError("residual variance of node " + std::to_string(j) +
                         " given its parents is zero (it is a linear function of them)");
  return score_of_variance(var, k);
}

double GaussianBICScore::for_search(std::int32_t j, std::size_t k, double score) const {
  if (!std::isfinite(score)) return score;
  const double n = static_cast<double>(n_);
  const double log_var = -2.0 / n * (score + penalty(k));
  const auto col = static_cast<std::size_t>(j);
  return log_var > std::log(cov_[col * d_ + col] * kSearchResidualFloor) ? score
                                                                          : std::numeric_limits<double>::quiet_NaN();
}

bool GaussianBICScore::factor_family(std::int32_t j, const std::int32_t* parents, std::size_t k, std::vector<double>& L,
                                     std::vector<double>& z, double& var) const {
  const std::size_t d = d_;
  const auto col = static_cast<std::size_t>(j);
  const double sjj = cov_[col * d + col];
  L.assign(k * k, 0.0);
  z.resize(k);
  for (std::size_t a = 0; a < k; ++a) {
    const auto pa = static_cast<std::size_t>(parents[a]);
    z[a] = cov_[pa * d + col];
    for (std::size_t b = 0; b <= a; ++b) L[a * k + b] = cov_[pa * d + static_cast<std::size_t>(parents[b])];
  }
  const int ki = static_cast<int>(k);
  if (k > 0 && blas::potrf('L', ki, L.data(), ki) != 0) return false;
  for (std::size_t a = 0; a < k; ++a) {
    const auto pa = static_cast<std::size_t>(parents[a]);
    const double pivot = L[a * k + a];
    if (!(pivot > 0) || !(pivot * pivot > cov_[pa * d + pa] * 1e-12)) return false;
  }
  if (k > 0) blas::trsv(CblasLower, CblasNoTrans, CblasNonUnit, ki, L.data(), ki, z.data(), 1);
  double explained = 0.0;
  for (double v : z) explained += v * v;
  var = sjj - explained;
  return var > sjj * kResidualFloor;
}

bool GaussianBICScore::family_scores(std::int32_t j, const std::int32_t* parents, std::size_t k,
                                     const std::int32_t* extra, std::size_t m, double* base, double* without,
                                     double* with) const {
  std::vector<double> L, z;
  double var = 0.0;
  if (!factor_family(j, parents, k, L, z, var)) return false;
  if (base) *base = score_of_variance(var, k);
  const std::size_t d = d_;
  const auto col = static_cast<std::size_t>(j);
  const double sjj = cov_[col * d + col];
  const int ki = static_cast<int>(k);
  if (with && m > 0) {
    // U = L^-1 S_{P,extra} (k x m, row-major) in one triangular solve; then for x = extra[i]:
    // S_xx|P = S_xx - |U_i|^2, S_xj|P = S_xj - U_i . z, var(j | P + x) = var - S_xj|P^2 / S_xx|P.
    std::vector<double> U(k * m);
    for (std::size_t a = 0; a < k; ++a) {
      const double* row = &cov_[static_cast<std::size_t>(parents[a]) * d];
      for (std::size_t i = 0; i < m; ++i) U[a * m + i] = row[static_cast<std::size_t>(extra[i])];
    }
    if (k > 0) blas::trsm_left_lower(ki, static_cast<int>(m), L.data(), ki, U.data(), static_cast<int>(m));
    for (std::size_t i = 0; i < m; ++i) {
      const auto x = static_cast<std::size_t>(extra[i]);
      double rx = cov_[x * d + x], cxj = cov_[x * d + col];
      for (std::size_t a = 0; a < k; ++a) {
        const double u = U[a * m + i];
        rx -= u * u;
        cxj -= u * z[a];
      }
      const double v = var - cxj * cxj / rx;
      with[i] = rx > cov_[x * d + x] * 1e-12 && v > sjj * kResidualFloor ? score_of_variance(v, k + 1)
                                                                          : std::numeric_limits<double>::quiet_NaN();
    }
  }
  if (without && k > 0) {
    if (blas::trtri('L', 'N', ki, L.data(), ki) != 0) return false;  // L <- L^-1
    // Dropping regressor i raises the residual variance by beta_i^2 / (S_PP^-1)_ii, with
    // S_PP^-1 = L^-T L^-1 and beta = L^-T z: both read column i of L^-1 (rows r >= i).
    for (std::size_t i = 0; i < k; ++i) {
      double inv_ii = 0.0, beta_i = 0.0;
      for (std::size_t r = i; r < k; ++r) {
        const double l = L[r * k + i];
        inv_ii += l * l;
        beta_i += l * z[r];
      }
      without[i] = score_of_variance(var + beta_i * beta_i / inv_ii, k - 1);
    }
  }
  return true;
}

bool GaussianBICScore::drop_one_scores(std::int32_t j, const std::int32_t* parents, std::size_t k,
                                       double* out) const {
  return family_scores(j, parents, k, nullptr, 0, nullptr, out, nullptr);
}

// ------------------------------------------------------------------------------------------------- BGe

BGeScore::BGeScore(std::size_t n, std::size_t d, double iss_mu, double iss_w)
    : DecomposableScore(n, d), R_(d * d), iss_mu_(iss_mu), iss_w_(iss_w), t_(0.0) {
  if (n < 2) throw std::invalid_argument("BGe needs at least 2 samples; got " + std::to_string(n));
  if (d < 1) throw std::invalid_argument("BGe needs at least one variable");
  if (!(iss_mu > 0) || !std::isfinite(iss_mu))
    throw std::invalid_argument("iss_mu must be finite and > 0; got " + std::to_string(iss_mu));
  const double dd = static_cast<double>(d);
  if (!(iss_w > dd + 1) || !std::isfinite(iss_w))
    throw std::invalid_argument("iss_w must be finite and > n_features + 1 = " + std::to_string(d + 1) +
                                " (so that the prior scale t is positive); got " + std::to_string(iss_w));
  t_ = iss_mu * (iss_w - dd - 1.0) / (iss_mu + 1.0);
}

std::unique_ptr<BGeScore> BGeScore::from_posterior_scale(const double* R, std::size_t n, std::size_t d, double iss_mu,
                                                         double iss_w) {
  std::unique_ptr<BGeScore> s(new BGeScore(n, d, iss_mu, iss_w));
  std::copy(R, R + d * d, s->R_.begin());
  require_positive_diagonal(s->R_, d, "posterior scale matrix");
  return s;
}

BGeScore::BGeScore(const double* X, std::size_t n, std::size_t d, double iss_mu, double iss_w, const double* nu)
    : BGeScore(n, d, iss_mu, iss_w) {
  std::vector<double> means(d);
  fastcrl::covariance(X, n, d, /*ddof=*/0, R_.data(), means.data());
  const double nd = static_cast<double>(n);
  const double shrink = nd * iss_mu / (nd + iss_mu);
  std::vector<double> diff(d, 0.0);
  if (nu != nullptr)
    for (std::size_t a = 0; a < d; ++a) {
      if (!std::isfinite(nu[a])) throw std::invalid_argument("nu must be finite");
      diff[a] = means[a] - nu[a];
    }
  // R = T + (scatter matrix = n * MLE covariance) + shrink (xbar - nu)(xbar - nu)^T.
  for (std::size_t a = 0; a < d; ++a)
    for (std::size_t b = 0; b < d; ++b)
      R_[a * d + b] = nd * R_[a * d + b] + shrink * diff[a] * diff[b] + (a == b ? t_ : 0.0);
}

double BGeScore::constant_term(std::size_t p) const {
  const double nd = static_cast<double>(n_), pd = static_cast<double>(p);
  const double a = iss_w_ - static_cast<double>(d_) + pd + 1.0;
  const double log_pi = std::log(3.14159265358979323846);
  return 0.5 * (std::log(iss_mu_) - std::log(nd + iss_mu_)) - 0.5 * nd * log_pi + log_gamma(0.5 * (nd + a)) -
         log_gamma(0.5 * a) + 0.5 * (a * (pd + 1.0) - (a - 1.0) * pd) * std::log(t_);
}

double BGeScore::compute(std::int32_t j, const std::int32_t* parents, std::size_t k) const {
  const std::size_t d = d_;
  const double rjj = R_[static_cast<std::size_t>(j) * d + static_cast<std::size_t>(j)];
  double cond = rjj, logdet_pp = 0.0;
  if (k > 0) {
    PivotBuffer pivots(k);
    double explained = 0.0;
    // R >= t I, so R_PP is positive definite; the factorisation can fail only when t is negligible next
    // to the scatter of nearly collinear parents.
    if (!factor_parents(R_, d, j, parents, k, pivots.data(), explained))
      throw NumericalError("posterior scale matrix of the parents of node " + std::to_string(j) +
                           " is numerically singular");
    for (std::size_t a = 0; a < k; ++a) logdet_pp += 2.0 * std::log(pivots.data()[a]);
    cond = rjj - explained;
  }
  if (!(cond > 0))
    throw NumericalError("conditional posterior scale of node " + std::to_string(j) +
                         " given its parents is not positive (rounding on nearly collinear data)");
  const double a = iss_w_ - static_cast<double>(d) + static_cast<double>(k) + 1.0;
  // log det R_YY = log det R_PP + log(R_jj - R_jP R_PP^{-1} R_Pj) for Y = P + {j}.
  return constant_term(k) - 0.5 * logdet_pp - 0.5 * (static_cast<double>(n_) + a) * std::log(cond);
}

// -------------------------------------------------------------------------------------------- discrete

DiscreteScore::DiscreteScore(const std::int32_t* X, std::size_t n, std::size_t d, const std::int64_t* cardinalities,
                             DiscreteScoreKind kind, double ess)
    : DecomposableScore(n, d), data_(n * d), card_(cardinalities, cardinalities + d), kind_(kind), ess_(ess) {
  if (n < 2) throw std::invalid_argument("discrete scores need at least 2 samples; got " + std::to_string(n));
  if (n > static_cast<std::size_t>(std::numeric_limits<std::uint32_t>::max()))
    throw std::invalid_argument("discrete scores support at most 2^32 - 1 samples");
  if (kind == DiscreteScoreKind::BDeu && (!(ess > 0) || !std::isfinite(ess)))
    throw std::invalid_argument("ess must be finite and > 0; got " + std::to_string(ess));
  for (std::size_t j = 0; j < d; ++j)
    if (card_[j] < 2 || card_[j] > std::numeric_limits<std::int32_t>::max())
      throw std::invalid_argument("cardinality of column " + std::to_string(j) + " must be in [2, 2^31); got " +
                                  std::to_string(card_[j]));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) {
      const std::int32_t v = X[i * d + j];
      if (v < 0 || v >= card_[j])
        throw std::invalid_argument("X[" + std::to_string(i) + ", " + std::to_string(j) + "] = " + std::to_string(v) +
                                    " is outside 0.." + std::to_string(card_[j] - 1));
      data_[j * n + i] = v;
    }
}

double DiscreteScore::compute(std::int32_t j, const std::int32_t* parents, std::size_t k) const {
  const std::size_t n = n_;
  const auto r = static_cast<std::uint64_t>(card_[static_cast<std::size_t>(j)]);
  // q = prod r_p; the row key is config * r + x_j, so q * r must fit (kept below 2^63).
  std::uint64_t q = 1;
  constexpr std::uint64_t kMax = std::uint64_t(1) << 63;
  for (std::size_t a = 0; a < k; ++a) {
    const auto rp = static_cast<std::uint64_t>(card_[static_cast<std::size_t>(parents[a])]);
    if (q > kMax / rp / r)
      throw std::invalid_argument("the parent configurations of node " + std::to_string(j) +
                                  " overflow a 64-bit key (product of cardinalities too large); use fewer parents");
    q *= rp;
  }
  std::vector<std::uint64_t> keys(n, 0);
  for (std::size_t a = 0; a < k; ++a) {
    const std::uint64_t rp = static_cast<std::uint64_t>(card_[static_cast<std::size_t>(parents[a])]);
    const std::int32_t* col = data_.data() + static_cast<std::size_t>(parents[a]) * n;
    for (std::size_t i = 0; i < n; ++i) keys[i] = keys[i] * rp + static_cast<std::uint64_t>(col[i]);
  }
  const std::int32_t* xj = data_.data() + static_cast<std::size_t>(j) * n;
  for (std::size_t i = 0; i < n; ++i) keys[i] = keys[i] * r + static_cast<std::uint64_t>(xj[i]);

  const double qd = static_cast<double>(q), rd = static_cast<double>(r);
  const double a_ij = ess_ / qd, a_ijk = ess_ / (qd * rd);
  const double lg_aij = log_gamma(a_ij), lg_aijk = log_gamma(a_ijk);
  double total = 0.0;
  // One parent configuration: its child counts nijk[0..m) (only the non-zero ones) and their sum nij.
  auto add_config = [&](const std::uint32_t* nijk, std::size_t m, std::uint64_t nij) {
    const double Nij = static_cast<double>(nij);
    if (kind_ == DiscreteScoreKind::BDeu) {
      double s = lg_aij - log_gamma(a_ij + Nij);
      for (std::size_t t = 0; t < m; ++t) s += log_gamma(a_ijk + static_cast<double>(nijk[t])) - lg_aijk;
      total += s;
    } else {
      const double log_nij = std::log(Nij);
      for (std::size_t t = 0; t < m; ++t) {
        const double c = static_cast<double>(nijk[t]);
        total += c * (std::log(c) - log_nij);
      }
    }
  };

  const std::uint64_t cells = q * r;
  std::vector<std::uint32_t> buf;
  if (cells <= std::max<std::uint64_t>(4 * static_cast<std::uint64_t>(n), 4096) && cells <= (std::uint64_t(1) << 26)) {
    // Dense table of q * r counts: no larger than a few passes over the data.
    std::vector<std::uint32_t> counts(static_cast<std::size_t>(cells), 0);
    for (std::size_t i = 0; i < n; ++i) ++counts[static_cast<std::size_t>(keys[i])];
    buf.resize(static_cast<std::size_t>(r));
    for (std::uint64_t c = 0; c < q; ++c) {
      const std::uint32_t* row = counts.data() + c * r;
      std::size_t m = 0;
      std::uint64_t nij = 0;
      for (std::uint64_t t = 0; t < r; ++t)
        if (row[t] != 0) {
          buf[m++] = row[t];
          nij += row[t];
        }
      if (nij != 0) add_config(buf.data(), m, nij);
    }
  } else {
    // Sparse: sort the keys; rows of one parent configuration (key / r) are then contiguous.
    std::sort(keys.begin(), keys.end());
    std::size_t i = 0;
    while (i < n) {
      const std::uint64_t config = keys[i] / r;
      buf.clear();
      std::uint64_t nij = 0;
      while (i < n && keys[i] / r == config) {
        const std::uint64_t cell = keys[i];
        std::uint32_t c = 0;
        while (i < n && keys[i] == cell) {
          ++c;
          ++i;
        }
        buf.push_back(c);
        nij += c;
      }
      add_config(buf.data(), buf.size(), nij);
    }
  }
  if (kind_ == DiscreteScoreKind::BIC) total -= std::log(static_cast<double>(n)) / 2.0 * qd * (rd - 1.0);
  return total;
}

}  // namespace fastcrl
