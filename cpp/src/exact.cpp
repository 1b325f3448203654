#include "fastcrl/exact.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "fastcrl/errors.hpp"
#include "fastcrl/threads.hpp"

namespace fastcrl {

namespace {

using Mask = std::uint32_t;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
// Same relative thresholds as GaussianBICScore::compute, so both paths reject the same parent sets.
constexpr double kSingularRelative = 1e-12;

inline Mask bit(std::size_t i) { return Mask(1) << i; }
inline std::size_t popcount(Mask m) { return static_cast<std::size_t>(__builtin_popcount(m)); }
inline std::size_t lowest(Mask m) { return static_cast<std::size_t>(__builtin_ctz(m)); }

/// d-bit set P (j not in P) -> its index among the d - 1 other nodes (drop bit j).
inline std::size_t compress(Mask P, std::size_t j) {
  const Mask low = bit(j) - 1;
  return static_cast<std::size_t>((P & low) | ((P >> (j + 1)) << j));
}
/// Inverse of compress: insert a zero at bit j.
inline Mask expand(std::size_t index, std::size_t j) {
  const Mask idx = static_cast<Mask>(index);
  const Mask low = bit(j) - 1;
  return (idx & low) | ((idx >> j) << (j + 1));
}

std::string set_text(Mask P) {
  std::string s = "{";
  for (Mask m = P; m; m &= m - 1) {
    if (s.size() > 1) s += ", ";
    s += std::to_string(lowest(m));
  }
  return s + "}";
}

/// Constraints as bitmasks: parent set P is allowed for j iff P avoids forbidden[j] (which holds j),
/// contains required[j] and has at most `limit` members.
struct Masks {
  std::size_t d = 0;
  std::size_t limit = 0;
  std::vector<Mask> forbidden;
  std::vector<Mask> required;

  explicit Masks(const SearchConstraints& c) : d(c.d), limit(c.parent_limit()), forbidden(c.d), required(c.d) {
    for (std::size_t j = 0; j < d; ++j)
      for (std::size_t i = 0; i < d; ++i) {
        if (c.is_forbidden(i, j)) forbidden[j] |= bit(i);
        if (c.is_required(i, j)) required[j] |= bit(i);
      }
    limit = std::min(limit, d == 0 ? 0 : d - 1);
  }
  bool allowed(std::size_t j, Mask P) const {
    return (P & forbidden[j]) == 0 && (P & required[j]) == required[j] && popcount(P) <= limit;
  }
  /// Whether some node outside P may have all of P as parents (else no superset of P is ever used).
  bool usable(Mask P) const {
    for (std::size_t j = 0; j < d; ++j)
      if ((P & forbidden[j]) == 0) return true;  // forbidden[j] holds j, so j is outside P here
    return false;
  }
};

/// Progress lines at most once a second, only from the thread that started the search.
class Progress {
 public:
  explicit Progress(const ExactSearchOptions& o)
      : log_(o.log), owner_(std::this_thread::get_id()), last_(std::chrono::steady_clock::now()) {}
  void line(const std::string& text) {
    if (!log_ || std::this_thread::get_id() != owner_) return;
    try {
      log_(text);
    } catch (...) {  // a failing progress printer must not abort the search
    }
  }
  void maybe(const char* phase, double fraction) {
    if (!log_ || std::this_thread::get_id() != owner_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s: %.0f%%", phase, 100.0 * std::min(1.0, fraction));
    line(buf);
  }

 private:
  // A reference, not a copy: copying a callback that holds a Python object needs the GIL.
  const std::function<void(const std::string&)>& log_;
  std::thread::id owner_;
  std::chrono::steady_clock::time_point last_;
};

/// First exception thrown inside a parallel region, rethrown after it.
class FirstError {
 public:
  void capture() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = std::current_exception();
    failed_.store(true, std::memory_order_relaxed);
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

/// Leaves doubles uninitialised on resize: the big tables are then filled in parallel, interruptibly.
template <class T>
struct UninitializedAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <class U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using Table = std::vector<double, UninitializedAllocator<double>>;

/// n doubles set to `value`; the first touch of gigabytes of pages takes seconds, so it is shared
/// among threads and polls the interrupt.
Table make_table(std::size_t n, double value, Interrupt& interrupt) {
  Table table(n);
  constexpr std::size_t kChunk = std::size_t(1) << 16;
  const auto n_chunks = static_cast<std::ptrdiff_t>((n + kChunk - 1) / kChunk);
  const int nthreads = threads_for_work(static_cast<double>(n));
#pragma omp parallel for schedule(static) num_threads(nthreads)
  for (std::ptrdiff_t c = 0; c < n_chunks; ++c) {
    if (interrupt.poll()) continue;
    const std::size_t begin = static_cast<std::size_t>(c) * kChunk;
    std::fill(table.begin() + static_cast<std::ptrdiff_t>(begin),
              table.begin() + static_cast<std::ptrdiff_t>(std::min(n, begin + kChunk)), value);
  }
  interrupt.rethrow_if_stopped();
  return table;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::size_t binomial(std::size_t n, std::size_t k) {
  if (k > n) return 0;
  double r = 1.0;
  for (std::size_t i = 1; i <= k; ++i) r = r * static_cast<double>(n - k + i) / static_cast<double>(i);
  return static_cast<std::size_t>(std::llround(r));
}

std::size_t sets_up_to(std::size_t d, std::size_t limit) {
  std::size_t total = 0;
  for (std::size_t m = 0; m <= limit; ++m) total += binomial(d, m);
  return total;
}

// Subsets up to this size are the parallel work items of the Gaussian path; each item of exactly this
// size also owns a subtree of supersets. Size 3 bounds the largest item at 1/8 of the work.
constexpr std::size_t kItemDepth = 3;

std::size_t item_depth(std::size_t limit) { return std::min(limit, kItemDepth); }

/// Work items of the Gaussian path: every subset of size <= depth, as masks, largest subtree first. An
/// item of exactly `depth` members owns the sets whose `depth` largest members it is: 2^min(item) sets.
std::vector<Mask> gaussian_items(std::size_t d, std::size_t depth) {
  if (depth == 0) return {Mask(0)};  // parent limit 0: only the empty set
  std::vector<Mask> items;
  items.reserve(sets_up_to(d, depth));
  for (Mask m = 0; m < bit(d); ++m)
    if (popcount(m) <= depth) items.push_back(m);
  auto work = [depth](Mask m) { return popcount(m) == depth ? lowest(m) + 1 : 0; };
  std::stable_sort(items.begin(), items.end(), [&](Mask a, Mask b) { return work(a) > work(b); });
  return items;
}

// ------------------------------------------------------------------------------- Gaussian local scores

/// One thread's state of the Gaussian enumeration. Sets are grown by one node at a time, in decreasing
/// node order; row t of W is the t-th row of the forward solve L^{-1} S_{P,:} for the current path
/// (L the Cholesky factor of S_PP), so adding node p costs O(|P| d) and gives, for every node j at
/// once, the explained variance E[|P|][j] = |L^{-1} S_Pj|^2.
class GaussianEnumerator {
 public:
  GaussianEnumerator(const GaussianBICScore& score, const Masks& masks, double* table)
      : score_(score),
        masks_(masks),
        d_(masks.d),
        half_(std::size_t(1) << (masks.d - 1)),
        S_(score.covariance().data()),
        table_(table),
        W_(std::max<std::size_t>(masks.limit, 1) * masks.d),
        E_((masks.limit + 1) * masks.d, 0.0) {
    const double n = static_cast<double>(score.n_samples());
    half_n_ = 0.5 * n;
  }

  std::uint64_t n_scored() const { return n_scored_; }

  /// Scores the item's set Q and, when it has `depth` members and more may follow, every set made of Q and
  /// nodes below min(Q). The depth-first walk adds ever smaller nodes, which visits the sets in increasing
  /// integer order: the writes to each node's row of the table stream instead of scattering.
  void run_item(Mask Q, std::size_t depth, Interrupt& interrupt) {
    if (!masks_.usable(Q)) return;
    std::size_t m = 0;
    Mask prefix = 0;
    for (std::size_t p = d_; p-- > 0;) {
      if (!(Q & bit(p))) continue;
      prefix |= bit(p);
      push(p, m++, prefix);
    }
    emit(Q, m);
    if (Q != 0 && m == depth && m < masks_.limit) dfs(Q, m, lowest(Q), interrupt);
  }

 private:
  void dfs(Mask P, std::size_t m, std::size_t below, Interrupt& interrupt) {
    for (std::size_t p = 0; p < below; ++p) {
      const Mask Q = P | bit(p);
      if (!masks_.usable(Q)) continue;
      if ((++visits_ & 1023) == 0 && interrupt.poll()) return;
      push(p, m, Q);
      emit(Q, m + 1);
      if (m + 1 < masks_.limit) dfs(Q, m + 1, p, interrupt);
      if (interrupt.stopped()) return;
    }
  }

  /// Appends node p as member m of the current set (`Q` is the set after adding it, for messages).
  void push(std::size_t p, std::size_t m, Mask Q) {
    const std::size_t d = d_;
    const double* Sp = S_ + p * d;
    double* row = W_.data() + m * d;
    for (std::size_t j = 0; j < d; ++j) row[j] = Sp[j];
    for (std::size_t t = 0; t < m; ++t) {
      const double* Wt = W_.data() + t * d;
      const double c = Wt[p];
      for (std::size_t j = 0; j < d; ++j) row[j] -= c * Wt[j];
    }
    const double pivot2 = row[p];  // S_pp minus what the earlier members explain of p
    if (!(pivot2 > Sp[p] * kSingularRelative))
      throw NumericalError("covariance of the parent set " + set_text(Q) +
                           " is singular (collinear or duplicate columns); exact search scores every allowed "
                           "parent set, so remove the redundant columns or forbid those parent sets");
    const double inv = 1.0 / std::sqrt(pivot2);
    const double* Eprev = E_.data() + m * d;
    double* Enext = E_.data() + (m + 1) * d;
    for (std::size_t j = 0; j < d; ++j) {
      row[j] *= inv;
      Enext[j] = Eprev[j] + row[j] * row[j];
    }
  }

  /// Writes ls(j, P) for every j outside P for which P is allowed; |P| = size.
  void emit(Mask P, std::size_t size) {
    if (size > masks_.limit) return;
    const double* E = E_.data() + size * d_;
    const double penalty = score_.penalty(size);
    for (std::size_t j = 0; j < d_; ++j) {
      // forbidden[j] holds j, so this also skips the members of P
      if ((P & masks_.forbidden[j]) || (P & masks_.required[j]) != masks_.required[j]) continue;
      const double sjj = S_[j * d_ + j];
      const double var = sjj - E[j];
      if (!(var > sjj * kSingularRelative))
        throw NumericalError("residual variance of node " + std::to_string(j) + " given parents " + set_text(P) +
                             " is zero (it is a linear function of them)");
      table_[j * half_ + compress(P, j)] = -half_n_ * std::log(var) - penalty;
      ++n_scored_;
    }
  }

  const GaussianBICScore& score_;
  const Masks& masks_;
  std::size_t d_;
  std::size_t half_;
  const double* S_;
  double* table_;
  std::vector<double> W_;  // limit x d: rows of the forward solve along the current path
  std::vector<double> E_;  // (limit + 1) x d: explained variance of every node by the first m members
  double half_n_ = 0.0;
  std::uint64_t n_scored_ = 0;
  std::uint64_t visits_ = 0;
};

std::uint64_t gaussian_local_scores(const GaussianBICScore& score, const Masks& masks, double* table,
                                    Interrupt& interrupt, Progress& progress) {
  const std::size_t d = masks.d;
  const std::size_t depth = item_depth(masks.limit);
  const std::vector<Mask> items = gaussian_items(d, depth);
  const double n_sets = static_cast<double>(sets_up_to(d, masks.limit));
  const double work = n_sets * static_cast<double>(d) * (1.0 + static_cast<double>(masks.limit) / 2.0);
  const int nthreads = threads_for_work(work);
  std::atomic<std::uint64_t> n_scored{0};
  std::atomic<std::size_t> items_done{0};
  FirstError error;
#pragma omp parallel num_threads(nthreads)
  {
    GaussianEnumerator worker(score, masks, table);
#pragma omp for schedule(dynamic, 1)
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(items.size()); ++i) {
      if (error.failed() || interrupt.poll()) continue;
      try {
        worker.run_item(items[static_cast<std::size_t>(i)], depth, interrupt);
      } catch (...) {
        error.capture();
      }
      const std::size_t done = items_done.fetch_add(1, std::memory_order_relaxed) + 1;
      progress.maybe("local scores (Gaussian path, work items)", static_cast<double>(done) / items.size());
    }
    n_scored.fetch_add(worker.n_scored(), std::memory_order_relaxed);
  }
  interrupt.rethrow_if_stopped();
  error.rethrow();
  return n_scored.load();
}

// -------------------------------------------------------------------------------- generic local scores

std::uint64_t generic_local_scores(const DecomposableScore& score, const Masks& masks, double* table,
                                   Interrupt& interrupt, Progress& progress) {
  const std::size_t d = masks.d;
  const std::size_t half = std::size_t(1) << (d - 1);
  const std::size_t total = d * half;
  constexpr std::size_t kChunk = 256;
  const std::size_t n_chunks = (total + kChunk - 1) / kChunk;
  // Each local score is a Cholesky solve or a counting pass over the data: far above the threshold.
  const int nthreads = threads_for_work(static_cast<double>(total) * 1e4);
  SingleThreadedBlas single(nthreads > 1);
  std::atomic<std::uint64_t> n_scored{0};
  std::atomic<std::size_t> chunks_done{0};
  FirstError error;
#pragma omp parallel num_threads(nthreads)
  {
    std::int32_t parents[32];
    std::uint64_t local_count = 0;
#pragma omp for schedule(dynamic, 1)
    for (std::ptrdiff_t c = 0; c < static_cast<std::ptrdiff_t>(n_chunks); ++c) {
      if (error.failed() || interrupt.poll()) continue;
      const std::size_t begin = static_cast<std::size_t>(c) * kChunk;
      const std::size_t end = std::min(total, begin + kChunk);
      try {
        for (std::size_t t = begin; t < end; ++t) {
          const std::size_t j = t / half;
          const Mask P = expand(t % half, j);
          if (!masks.allowed(j, P)) continue;
          std::size_t k = 0;
          for (Mask rest = P; rest; rest &= rest - 1) parents[k++] = static_cast<std::int32_t>(lowest(rest));
          table[t] = score.local_score_uncached(static_cast<std::int32_t>(j), parents, k);
          ++local_count;
        }
      } catch (...) {
        error.capture();
      }
      const std::size_t done = chunks_done.fetch_add(1, std::memory_order_relaxed) + 1;
      progress.maybe("local scores (generic path)", static_cast<double>(done) / n_chunks);
    }
    n_scored.fetch_add(local_count, std::memory_order_relaxed);
  }
  interrupt.rethrow_if_stopped();
  error.rethrow();
  return n_scored.load();
}

bool use_gaussian_path(const DecomposableScore& score, ExactLocalScores method) {
  const bool gaussian = dynamic_cast<const GaussianBICScore*>(&score) != nullptr;
  if (method == ExactLocalScores::Gaussian && !gaussian)
    throw std::invalid_argument("the Gaussian local-score path needs a GaussianBIC score");
  return gaussian && method != ExactLocalScores::Generic;
}

void check_problem(const DecomposableScore& score, const SearchConstraints& c) {
  const std::size_t d = score.n_nodes();
  if (d < 1) throw std::invalid_argument("exact search needs at least one node");
  if (d > kExactMaxNodes)
    throw std::invalid_argument("exact search supports at most " + std::to_string(kExactMaxNodes) + " nodes; got " +
                                std::to_string(d));
  if (c.d != d)
    throw std::invalid_argument("constraints are for " + std::to_string(c.d) + " nodes but the score has " +
                                std::to_string(d));
  c.validate();
}

/// Fills the table from an external source node by node; an allowed set left NaN (undefined) is an
/// error, as on the CPU paths. Returns how many scores were supplied.
std::uint64_t external_local_scores(const ExactScoreFiller& fill, const Masks& masks, double* table,
                                    Interrupt& interrupt, Progress& progress) {
  const std::size_t d = masks.d;
  const std::size_t half = std::size_t(1) << (d - 1);
  std::uint64_t n_scored = 0;
  for (std::size_t j = 0; j < d; ++j) {
    interrupt.rethrow_if_stopped();
    double* row = table + j * half;
    fill(j, masks.forbidden[j], masks.required[j], masks.limit, row);
    for (std::size_t i = 0; i < half; ++i) {
      if (std::isnan(row[i]))
        throw NumericalError("local score of node " + std::to_string(j) + " given parents " + set_text(expand(i, j)) +
                             " is undefined (collinear parents, or a node that is a function of them)");
      n_scored += row[i] > kNegInf;
    }
    progress.maybe("local scores", static_cast<double>(j + 1) / static_cast<double>(d));
  }
  return n_scored;
}

/// Fills table (d x 2^(d-1), preset to -inf) with the allowed local scores; returns how many.
std::uint64_t fill_local_scores(const DecomposableScore& score, const Masks& masks, bool gaussian, double* table,
                                Interrupt& interrupt, Progress& progress) {
  if (gaussian)
    return gaussian_local_scores(static_cast<const GaussianBICScore&>(score), masks, table, interrupt, progress);
  return generic_local_scores(score, masks, table, interrupt, progress);
}

// ------------------------------------------------------------------------------------------------ DP

/// In place: T[C] = max over subsets P of C of T[P], for every node's row (length 2^(d-1)).
void best_parent_scores(Table& table, std::size_t d, Interrupt& interrupt, Progress& progress) {
  const std::size_t bits = d - 1;
  const std::size_t half = std::size_t(1) << bits;
  // The low bits are done block by block while the block sits in cache; the high bits stream.
  constexpr std::size_t kBlockBits = 12;
  const std::size_t block_bits = std::min(bits, kBlockBits);
  const std::size_t block = std::size_t(1) << block_bits;
  const int nthreads = threads_for_work(static_cast<double>(d) * static_cast<double>(half) * bits);
  std::atomic<std::size_t> nodes_done{0};
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
  for (std::ptrdiff_t jj = 0; jj < static_cast<std::ptrdiff_t>(d); ++jj) {
    double* T = table.data() + static_cast<std::size_t>(jj) * half;
    for (std::size_t base = 0; base < half; base += block) {
      if (interrupt.poll()) break;
      double* B = T + base;
      for (std::size_t b = 0; b < block_bits; ++b) {
        const std::size_t step = std::size_t(1) << b;
        for (std::size_t s = 0; s < block; s += 2 * step)
          for (std::size_t i = s; i < s + step; ++i) B[i + step] = std::max(B[i + step], B[i]);
      }
    }
    for (std::size_t b = block_bits; b < bits; ++b) {
      if (interrupt.poll()) break;
      const std::size_t step = std::size_t(1) << b;
      for (std::size_t s = 0; s < half && !interrupt.poll(); s += 2 * step)
        for (std::size_t i = s; i < s + step; ++i) T[i + step] = std::max(T[i + step], T[i]);
    }
    const std::size_t done = nodes_done.fetch_add(1, std::memory_order_relaxed) + 1;
    progress.maybe("best parent sets", static_cast<double>(done) / d);
  }
  interrupt.rethrow_if_stopped();
}

/// Subsets of {0..d-1} with m members in increasing integer (colexicographic) order: the one of a
/// given rank, and the next one (Gosper's hack).
class Combinations {
 public:
  explicit Combinations(std::size_t d) : d_(d), choose_((d + 1) * (d + 1), 0) {
    for (std::size_t n = 0; n <= d; ++n) {
      at(n, 0) = 1;
      for (std::size_t k = 1; k <= n; ++k) at(n, k) = at(n - 1, k - 1) + (k <= n - 1 ? at(n - 1, k) : 0);
    }
  }
  std::uint64_t count(std::size_t m) const { return choose(d_, m); }
  /// The combination of rank `rank` (colex rank = sum_i C(c_i, i) over members c_1 < ... < c_m).
  Mask unrank(std::uint64_t rank, std::size_t m) const {
    Mask S = 0;
    for (std::size_t i = m; i >= 1; --i) {
      std::size_t c = i - 1;
      while (choose(c + 1, i) <= rank) ++c;
      S |= bit(c);
      rank -= choose(c, i);
    }
    return S;
  }
  static Mask next(Mask S) {
    const std::uint64_t s = S, low = s & (~s + 1), ripple = s + low;
    return static_cast<Mask>((((ripple ^ s) >> 2) / low) | ripple);
  }

 private:
  std::uint64_t choose(std::size_t n, std::size_t k) const { return k > n ? 0 : choose_[n * (d_ + 1) + k]; }
  std::uint64_t& at(std::size_t n, std::size_t k) { return choose_[n * (d_ + 1) + k]; }
  std::size_t d_;
  std::vector<std::uint64_t> choose_;
};

/// best[S] = the best score of a DAG on the node set S (sinks recursion). Sets of one size depend only on
/// smaller ones, so each size is a parallel loop over rank ranges of its combinations.
Table best_subnetworks(const Table& table, std::size_t d, Interrupt& interrupt, Progress& progress) {
  const std::size_t half = std::size_t(1) << (d - 1);
  const std::size_t full = std::size_t(1) << d;
  Table best(full);  // every entry is written below, layer by layer
  best[0] = 0.0;
  const Combinations combinations(d);
  const int nthreads = threads_for_work(static_cast<double>(full) * static_cast<double>(d));
  std::atomic<std::uint64_t> sets_done{0};
  for (std::size_t m = 1; m <= d; ++m) {
    const std::uint64_t total = combinations.count(m);
    const std::uint64_t chunk = std::max<std::uint64_t>(4096, total / (16 * static_cast<std::uint64_t>(nthreads)));
    const auto n_chunks = static_cast<std::ptrdiff_t>((total + chunk - 1) / chunk);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (std::ptrdiff_t c = 0; c < n_chunks; ++c) {
      if (interrupt.poll()) continue;
      const std::uint64_t begin = static_cast<std::uint64_t>(c) * chunk;
      const std::uint64_t end = std::min(total, begin + chunk);
      Mask S = combinations.unrank(begin, m);
      for (std::uint64_t r = begin; r < end; ++r, S = Combinations::next(S)) {
        double b = kNegInf;
        for (Mask rest = S; rest; rest &= rest - 1) {
          const std::size_t s = lowest(rest);
          const Mask R = S ^ bit(s);
          b = std::max(b, best[R] + table[s * half + compress(R, s)]);
        }
        best[S] = b;
      }
      const std::uint64_t done = sets_done.fetch_add(end - begin, std::memory_order_relaxed) + (end - begin);
      progress.maybe("best sinks", static_cast<double>(done) / static_cast<double>(full));
    }
    interrupt.rethrow_if_stopped();
  }
  return best;
}

/// The parent set (d-bit mask) reached by walking down the subset-max table from candidate set `index`.
Mask best_parent_set(const double* T, std::size_t index, std::size_t j) {
  std::size_t C = index;
  for (bool moved = true; moved;) {
    moved = false;
    for (Mask rest = static_cast<Mask>(C); rest; rest &= rest - 1) {
      const std::size_t smaller = C ^ bit(lowest(rest));
      if (T[smaller] == T[C]) {  // exact copies of one maximum: a subset attains it
        C = smaller;
        moved = true;
        break;
      }
    }
  }
  return expand(C, j);
}

}  // namespace

double exact_search_memory_bytes(std::size_t d, std::int64_t max_parents, int n_threads) {
  if (d == 0) return 0.0;
  const double dd = static_cast<double>(d);
  const std::size_t limit =
      max_parents < 0 ? d - 1 : std::min<std::size_t>(static_cast<std::size_t>(max_parents), d - 1);
  const double table = dd * std::ldexp(1.0, static_cast<int>(d) - 1) * sizeof(double);
  const double best = std::ldexp(1.0, static_cast<int>(d)) * sizeof(double);
  const double per_thread = (2.0 * static_cast<double>(limit) + 2.0) * dd * sizeof(double);
  const double items = d <= kExactMaxNodes
                           ? static_cast<double>(sets_up_to(d, item_depth(limit))) * sizeof(Mask)
                           : 0.0;
  const double result = dd * dd * 2.0 + dd * 8.0;
  return table + best + std::max(n_threads, 1) * per_thread + items + result;
}

std::vector<double> exact_local_score_table(const DecomposableScore& score, const SearchConstraints& constraints,
                                            ExactLocalScores method, Interrupt& interrupt) {
  check_problem(score, constraints);
  const Masks masks(constraints);
  std::vector<double> table(masks.d << (masks.d - 1), kNegInf);
  ExactSearchOptions quiet;
  Progress progress(quiet);
  fill_local_scores(score, masks, use_gaussian_path(score, method), table.data(), interrupt, progress);
  return table;
}

ExactSearchResult exact_search(const DecomposableScore& score, const SearchConstraints& constraints,
                               const ExactSearchOptions& options, Interrupt& interrupt) {
  check_problem(score, constraints);
  const Masks masks(constraints);
  const std::size_t d = masks.d;
  const std::size_t half = std::size_t(1) << (d - 1);
  Progress progress(options);
  ExactSearchResult result;
  result.d = d;
  result.external_scores = static_cast<bool>(options.external_scores);
  result.gaussian_path = !result.external_scores && use_gaussian_path(score, options.local_scores);

  progress.line("exact search: d=" + std::to_string(d) + ", parent limit " + std::to_string(masks.limit) + ", " +
                (result.external_scores ? "external (GPU)"
                 : result.gaussian_path ? "Gaussian incremental"
                                        : "generic") +
                " local scores");
  auto t0 = std::chrono::steady_clock::now();
  Table table = make_table(d * half, kNegInf, interrupt);
  progress.line("tables allocated: " + std::to_string(seconds_since(t0)) + " s");
  result.n_local_scores =
      result.external_scores
          ? external_local_scores(options.external_scores, masks, table.data(), interrupt, progress)
          : fill_local_scores(score, masks, result.gaussian_path, table.data(), interrupt, progress);
  result.seconds_local_scores = seconds_since(t0);
  progress.line("local scores: " + std::to_string(result.n_local_scores) + " in " +
                std::to_string(result.seconds_local_scores) + " s");

  t0 = std::chrono::steady_clock::now();
  best_parent_scores(table, d, interrupt, progress);
  progress.line("best parent sets: " + std::to_string(seconds_since(t0)) + " s");
  const Table best = best_subnetworks(table, d, interrupt, progress);
  const std::size_t full = (std::size_t(1) << d) - 1;
  if (!(best[full] > kNegInf))
    throw std::invalid_argument(
        "no DAG satisfies the constraints (the required edges form a cycle or conflict with the forbidden ones)");

  // Read back: peel off a sink whose term reproduces best[S] exactly, then its parents within S \ sink.
  result.adjacency.assign(d * d, 0);
  result.order.assign(d, 0);
  std::size_t S = full;
  for (std::size_t pos = d; pos > 0; --pos) {
    bool found = false;
    for (Mask rest = static_cast<Mask>(S); rest && !found; rest &= rest - 1) {
      const std::size_t s = lowest(rest);
      const Mask R = static_cast<Mask>(S) ^ bit(s);
      const std::size_t index = compress(R, s);
      if (best[R] + table[s * half + index] != best[S]) continue;
      found = true;
      result.order[pos - 1] = static_cast<std::int32_t>(s);
      for (Mask P = best_parent_set(table.data() + s * half, index, s); P; P &= P - 1)
        result.adjacency[lowest(P) * d + s] = 1;
      S = R;
    }
    if (!found) throw std::logic_error("exact search: could not read back the optimal DAG");
  }
  result.score = best[full];
  result.seconds_dp = seconds_since(t0);
  progress.line("dynamic programming: " + std::to_string(result.seconds_dp) + " s; score " +
                std::to_string(result.score));
  return result;
}

}  // namespace fastcrl
