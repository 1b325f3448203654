// Greedy equivalence search (Chickering 2002) with Tetrad-style per-target candidate bookkeeping.
#include "fastcrl/ges.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "fastcrl/errors.hpp"
#include "fastcrl/graph.hpp"
#include "fastcrl/threads.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastcrl {

namespace {

constexpr double kNone = -std::numeric_limits<double>::infinity();
constexpr double kTurnTolerance = 1e-9;
/// A turning round must raise the class's score by more than this (relative) to be kept.
constexpr double kRoundTolerance = 1e-12;
/// Turning rounds at most (each raises the score: far more than any search takes).
constexpr std::int64_t kMaxTurningRounds = 10000;
/// One target's Insert sweep is split over the threads from this many variables on, though the
/// generic work threshold (threads_for_work) rates it too small: the phase re-scores a few targets
/// per operator, so an unsplit sweep leaves the other cores idle for the whole forward phase.
/// Measured on 2 cores: d=2000 (ER-1, n=1000, plain BIC) 3.3 s -> 2.9 s; a denser d=2000 search
/// (n=500) 20.8 s -> 17.0 s.
constexpr std::size_t kSplitSweepMinNodes = 1000;
/// Parents from which a Gaussian Delete scan takes its "without x" scores from one factorisation.
constexpr std::size_t kDropOneMinParents = 8;

/// One scored operator of a target Y: Insert(x, Y, set) or Delete(x, Y, set = H).
struct Candidate {
  double delta = kNone;
  std::int32_t x = -1;
  std::int32_t order = 0;  // position of `set` in the depth-first enumeration (tie-breaking)
  std::vector<std::int32_t> set;
};

bool better(const Candidate& a, const Candidate& b) {
  if (a.delta != b.delta) return a.delta > b.delta;
  if (a.x != b.x) return a.x < b.x;
  return a.order < b.order;
}

/// Sorted union of sorted ranges, optionally with one extra element (`extra` < 0: none).
std::vector<std::int32_t> sorted_union(std::vector<std::int32_t> a, const std::vector<std::int32_t>& b,
                                       std::int32_t extra = -1) {
  a.insert(a.end(), b.begin(), b.end());
  if (extra >= 0) a.push_back(extra);
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  return a;
}

class GesSearch {
 public:
  GesSearch(DecomposableScore& score, const SearchConstraints& c, Interrupt& interrupt, BatchScorer batch_scores)
      : score_(score),
        c_(c),
        d_(score.n_nodes()),
        interrupt_(interrupt),
        E_(d_ * d_, 0),
        adj_(d_),
        batch_scores_(std::move(batch_scores)) {
    threads_ = std::max(1, get_num_threads());
    gaussian_ = dynamic_cast<const GaussianBICScore*>(&score);
    if (gaussian_) {
      const auto& S = gaussian_->covariance();
      diag_.resize(d_);
      for (std::size_t j = 0; j < d_; ++j) diag_[j] = S[j * d_ + j];
    }
    has_knowledge_ = false;
    for (std::size_t i = 0; i < d_ && !has_knowledge_; ++i)
      for (std::size_t j = 0; j < d_; ++j)
        if (i != j && (c_.is_forbidden(i, j) || c_.is_required(i, j))) {
          has_knowledge_ = true;
          break;
        }
  }

  GESResult run(const GESConfig& config, const GESProgress& progress) {
    GESResult result;
    check_orientation_ = config.check_orientation;
    // Start from the required edges, oriented as required.
    for (std::size_t i = 0; i < d_; ++i)
      for (std::size_t j = 0; j < d_; ++j)
        if (c_.is_required(i, j) && !adjacent(i, j)) {
          set_mark(i, j, true);
          link(static_cast<std::int32_t>(i), static_cast<std::int32_t>(j));
        }
    for (std::size_t j = 0; j < d_; ++j) {
      std::vector<std::int32_t> pa;
      for (std::size_t i = 0; i < d_; ++i)
        if (c_.is_required(i, j)) pa.push_back(static_cast<std::int32_t>(i));
      score_total_ += cached(static_cast<std::int32_t>(j), pa);
    }
    rebuild();
    if (config.forward) phase(true, config, progress, result);
    if (config.backward) phase(false, config, progress, result);
    if (!config.turning) {
      result.cpdag = marks();
      result.score = score_total_;
      result.n_evaluated = n_evaluated_;
      return result;
    }
    // Turning rounds, each kept only while it raises the true score of the class (an extension's,
    // from the local scores): without knowledge every round does, but under knowledge a round's
    // reversals and the phases after it can undo each other (their running total drifting upwards)
    // and would never stop. The best class seen is the result.
    std::vector<std::uint8_t> best = marks();
    double best_score = class_score(best);
    for (std::int64_t round = 0; round < kMaxTurningRounds; ++round) {
      if (turn_phase(config, progress, result) == 0) break;
      if (config.forward) phase(true, config, progress, result);
      if (config.backward) phase(false, config, progress, result);
      std::vector<std::uint8_t> now = marks();
      const double now_score = class_score(now);
      if (!(now_score > best_score + kRoundTolerance * (1.0 + std::abs(best_score)))) break;
      best = std::move(now);
      best_score = now_score;
    }
    result.cpdag = std::move(best);
    result.score = std::isfinite(best_score) ? best_score : score_total_;
    result.n_evaluated = n_evaluated_;
    return result;
  }

 private:
  // ------------------------------------------------------------------------------------ graph state
  // E_[a * d + b] holds both marks of the pair: bit 0 the mark a -> b, bit 1 the mark b -> a (so
  // 1: a -> b, 2: b -> a, 3: a -- b), stored at (a, b) and mirrored at (b, a). Every query about a's
  // edges then reads row a: the loops below walk one node's neighbours, and a column of the d x d
  // matrix touches a new page per neighbour (at d = 5000 that made the re-orientation memory-bound).
  bool mark(std::size_t a, std::size_t b) const { return E_[a * d_ + b] & 1; }
  void set_mark(std::size_t a, std::size_t b, bool on) {
    const std::uint8_t before = E_[a * d_ + b];
    const auto after = static_cast<std::uint8_t>((before & 2) | (on ? 1 : 0));
    E_[a * d_ + b] = after;
    E_[b * d_ + a] = static_cast<std::uint8_t>((E_[b * d_ + a] & 1) | (on ? 2 : 0));
    if ((before == 3) != (after == 3)) {
      const std::int32_t step = after == 3 ? 1 : -1;
      n_undirected_[a] += step;
      n_undirected_[b] += step;
    }
    refresh_facts(static_cast<std::int32_t>(a));
    refresh_facts(static_cast<std::int32_t>(b));
  }
  /// n_undirected_ from E_ (after E_ was assigned whole).
  void recount_undirected() {
    for (std::size_t a = 0; a < d_; ++a) {
      n_undirected_[a] = 0;
      for (std::int32_t b : adj_[a]) n_undirected_[a] += undirected(a, static_cast<std::size_t>(b)) ? 1 : 0;
    }
  }
  /// The marks as a d x d 0/1 matrix (M[a * d + b] = mark a -> b), the layout the callers share.
  /// Whether some DAG of the current (knowledge-restricted) class agrees with the knowledge and the
  /// parent limit: no forbidden edge directed, a consistent extension (its directed edges close no
  /// cycle), which keeps every required edge as required and gives no node more than the limit.
  bool knowledge_consistent() {
    const std::vector<std::uint8_t> M = marks();
    for (std::size_t u = 0; u < d_; ++u)
      for (std::int32_t v : adj_[u]) {
        const auto w = static_cast<std::size_t>(v);
        const bool uv = M[u * d_ + w] != 0, vu = M[w * d_ + u] != 0;
        if (uv && !vu && c_.is_forbidden(u, w)) return false;
        if (c_.is_required(u, w) && !uv) return false;
      }
    std::vector<std::uint8_t> dag(d_ * d_);
    if (!pdag_to_dag(M.data(), d_, dag.data(), interrupt_).empty()) return false;
    const std::size_t limit = c_.parent_limit();
    for (std::size_t j = 0; j < d_; ++j) {
      std::size_t parents = 0;
      for (std::size_t i = 0; i < d_; ++i) {
        if (!dag[i * d_ + j]) continue;
        if (c_.is_forbidden(i, j)) return false;
        ++parents;
      }
      if (parents > limit) return false;
    }
    return true;
  }

  /// The score of the class with marks M: the sum of the local scores of a consistent extension;
  /// -inf when M has none (its directed edges close a cycle).
  double class_score(const std::vector<std::uint8_t>& M) {
    std::vector<std::uint8_t> dag(d_ * d_);
    if (!pdag_to_dag(M.data(), d_, dag.data(), interrupt_).empty()) return -std::numeric_limits<double>::infinity();
    double total = 0.0;
    std::vector<std::int32_t> parents;
    for (std::size_t j = 0; j < d_; ++j) {
      parents.clear();
      for (std::size_t i = 0; i < d_; ++i)
        if (dag[i * d_ + j]) parents.push_back(static_cast<std::int32_t>(i));
      total += cached(static_cast<std::int32_t>(j), parents);
    }
    return total;
  }

  std::vector<std::uint8_t> marks() const {
    std::vector<std::uint8_t> M(E_.size());
    for (std::size_t i = 0; i < E_.size(); ++i) M[i] = E_[i] & 1;
    return M;
  }
  void set_marks(const std::vector<std::uint8_t>& M) {
    for (std::size_t a = 0; a < d_; ++a)
      for (std::size_t b = 0; b < d_; ++b)
        E_[a * d_ + b] = static_cast<std::uint8_t>((M[a * d_ + b] ? 1 : 0) | (M[b * d_ + a] ? 2 : 0));
    recount_undirected();
    refresh_all_facts();
  }
  // Each reads row a: put the node whose neighbours are being walked first.
  bool adjacent(std::size_t a, std::size_t b) const { return E_[a * d_ + b] != 0; }
  bool directed(std::size_t a, std::size_t b) const { return E_[a * d_ + b] == 1; }
  bool undirected(std::size_t a, std::size_t b) const { return E_[a * d_ + b] == 3; }
  /// u -> v, read from v's row.
  bool has_parent(std::size_t v, std::size_t u) const { return E_[v * d_ + u] == 2; }
  /// a and b became (non-)adjacent: that can change which edges into a or b, or into a common
  /// neighbour, are unshielded colliders.
  void adjacency_changed(std::int32_t a, std::int32_t b) {
    refresh_facts(a);
    refresh_facts(b);
    for (std::int32_t w : adj_[a])
      if (adjacent(static_cast<std::size_t>(b), static_cast<std::size_t>(w))) refresh_facts(w);
  }

  void link(std::int32_t a, std::int32_t b) {
    adj_[a].push_back(b);
    adj_[b].push_back(a);
    ++n_edges_;
    adjacency_changed(a, b);
  }
  void unlink(std::int32_t a, std::int32_t b) {
    adj_[a].erase(std::find(adj_[a].begin(), adj_[a].end(), b));
    adj_[b].erase(std::find(adj_[b].begin(), adj_[b].end(), a));
    if (undirected(static_cast<std::size_t>(a), static_cast<std::size_t>(b))) {
      --n_undirected_[a];
      --n_undirected_[b];
    }
    E_[static_cast<std::size_t>(a) * d_ + b] = 0;
    E_[static_cast<std::size_t>(b) * d_ + a] = 0;
    --n_edges_;
    adjacency_changed(a, b);
  }

  std::vector<std::int32_t> parents_of(std::int32_t v) const {
    std::vector<std::int32_t> out;
    for (std::int32_t u : adj_[v])
      if (has_parent(v, u)) out.push_back(u);
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::int32_t> neighbors_of(std::int32_t v) const {
    std::vector<std::int32_t> out;
    for (std::int32_t u : adj_[v])
      if (undirected(v, u)) out.push_back(u);
    std::sort(out.begin(), out.end());
    return out;
  }

  bool is_clique(const std::vector<std::int32_t>& s) const {
    for (std::size_t a = 0; a < s.size(); ++a)
      for (std::size_t b = a + 1; b < s.size(); ++b)
        if (!adjacent(s[a], s[b])) return false;
    return true;
  }

  /// Meek's rules (R1-R4) say the undirected edge a -- b must be a -> b.
  bool meek_says(std::size_t a, std::size_t b) const {
    for (std::int32_t c : adj_[a]) {
      if (has_parent(a, c) && !adjacent(b, c)) return true;  // R1
      if (directed(a, c) && has_parent(b, c)) return true;   // R2
    }
    // R3: a -- c -> b and a -- e -> b with c, e non-adjacent.
    for (std::int32_t c : adj_[a]) {
      if (!undirected(a, c) || !has_parent(b, c)) continue;
      for (std::int32_t e : adj_[a])
        if (e > c && undirected(a, e) && has_parent(b, e) && !adjacent(c, e)) return true;
    }
    // R4: e -> c -> b, a -- e, a adjacent to c, e not adjacent to b.
    for (std::int32_t c : adj_[b]) {
      if (!has_parent(b, c) || !adjacent(a, c)) continue;
      for (std::int32_t e : adj_[c])
        if (has_parent(c, e) && undirected(a, e) && !adjacent(b, e)) return true;
    }
    return false;
  }

  /// The operator's PDAG -> the (knowledge-restricted) CPDAG of its class: keep only the unshielded
  /// colliders directed, orient by knowledge, then close under Meek's rules.
  void rebuild() {
    steps_all_stale_ = true;
    bulk_edit_ = true;  // the lists are recomputed once at the end
    std::vector<std::pair<std::int32_t, std::int32_t>> loosen;
    std::vector<std::int32_t> non;
    for (std::size_t v = 0; v < d_; ++v) {
      compute_non_facts(static_cast<std::int32_t>(v), non);
      for (std::int32_t a : non) loosen.emplace_back(a, static_cast<std::int32_t>(v));
    }
    for (auto [a, v] : loosen) set_mark(static_cast<std::size_t>(v), static_cast<std::size_t>(a), true);
    if (has_knowledge_)
      for (std::size_t u = 0; u < d_; ++u)
        for (std::int32_t v : adj_[u]) {
          if (static_cast<std::size_t>(v) < u || !undirected(u, v)) continue;
          if (c_.is_required(u, v) || c_.is_forbidden(v, u))
            set_mark(v, u, false);
          else if (c_.is_required(v, u) || c_.is_forbidden(u, v))
            set_mark(u, v, false);
        }
    for (bool changed = true; changed;) {
      changed = false;
      for (std::size_t u = 0; u < d_; ++u)
        for (std::int32_t v : adj_[u]) {
          if (static_cast<std::size_t>(v) < u || !undirected(u, v)) continue;
          if (meek_says(u, v)) {
            set_mark(v, u, false);
            changed = true;
          } else if (meek_says(v, u)) {
            set_mark(u, v, false);
            changed = true;
          }
        }
    }
    bulk_edit_ = false;
    refresh_all_facts();
  }

  /// Scratch of the path searches (one per thread).
  struct Scratch {
    std::vector<std::uint32_t> mark;
    std::uint32_t stamp = 0;
    std::vector<std::int32_t> queue, prev, back_queue, next;
    explicit Scratch(std::size_t d) : mark(d, 0), prev(d, -1), next(d, -1) {}
    /// The first of `count` mark values no node holds yet (marks are cleared only when the
    /// counter wraps); stamp is the last of them.
    std::uint32_t fresh(std::uint32_t count) {
      if (stamp > std::numeric_limits<std::uint32_t>::max() - count) {
        std::fill(mark.begin(), mark.end(), 0u);
        stamp = 0;
      }
      const std::uint32_t first = stamp + 1;
      stamp += count;
      return first;
    }
    /// A fresh visit mark (`stamp`) and a queue holding `source`, marked.
    void start(std::int32_t source) {
      mark[source] = fresh(1);
      queue.assign(1, source);
    }
  };

  /// Whether every semi-directed path from y to x passes through `blocked`. Breadth-first from
  /// both ends (steps forwards from y, backwards from x), always growing the side with the smaller
  /// frontier, never entering a blocked node: in a dense class the two sides meet after a few
  /// hundred steps where a search from y alone visits most of the graph, and when there is no path
  /// the smaller of the two reachable sets runs out first. When not, `witness` gets one such path
  /// y ... x. build_steps() ran since the graph last changed.
  bool paths_blocked(std::int32_t y, std::int32_t x, const std::vector<std::int32_t>& blocked, Scratch& s,
                     std::vector<std::int32_t>* witness = nullptr) const {
    const std::uint32_t kBlocked = s.fresh(3), kFore = kBlocked + 1, kBack = kBlocked + 2;
    for (std::int32_t b : blocked) s.mark[b] = kBlocked;
    if (s.mark[x] == kBlocked) return true;
    s.mark[y] = kFore;
    s.mark[x] = kBack;
    s.queue.assign(1, y);
    s.back_queue.assign(1, x);
    // The step u -> w joins the forward tree (y ... u) to the backward one (w ... x).
    auto meet = [&](std::int32_t u, std::int32_t w) {
      if (witness) {
        witness->clear();
        for (std::int32_t v = u; v != y; v = s.prev[v]) witness->push_back(v);
        witness->push_back(y);
        std::reverse(witness->begin(), witness->end());
        for (std::int32_t v = w; v != x; v = s.next[v]) witness->push_back(v);
        witness->push_back(x);
      }
      return false;
    };
    // Visits the unvisited neighbours (in `rows`) of the next node of one side; returns the
    // neighbour that belongs to the other side, or -1.
    auto grow = [&](std::vector<std::int32_t>& queue, std::size_t& head, const std::vector<std::vector<std::int32_t>>& rows,
                    std::uint32_t own, std::uint32_t other, std::vector<std::int32_t>& link, std::int32_t& from) {
      from = queue[head++];
      for (std::int32_t w : rows[static_cast<std::size_t>(from)]) {
        const std::uint32_t m = s.mark[w];
        if (m == other) return w;
        if (m == own || m == kBlocked) continue;
        s.mark[w] = own;
        link[w] = from;
        queue.push_back(w);
      }
      return std::int32_t{-1};
    };
    std::size_t fore = 0, back = 0;
    std::int32_t from = -1;
    while (fore < s.queue.size() && back < s.back_queue.size()) {
      if (s.queue.size() - fore <= s.back_queue.size() - back) {
        const std::int32_t w = grow(s.queue, fore, steps_, kFore, kBack, s.prev, from);
        if (w >= 0) return meet(from, w);
      } else {
        const std::int32_t u = grow(s.back_queue, back, steps_into_, kBack, kFore, s.next, from);
        if (u >= 0) return meet(u, from);
      }
    }
    return true;  // one side ran out without meeting the other
  }

  /// The semi-directed steps u -> w (u -> w or u -- w) of each node, and the same steps by their
  /// head (steps_into_[w] holds u), for the path searches (no probing of the d x d matrix at every
  /// step). Both rows of a node depend on its own edges only, so they are refreshed only for nodes
  /// whose edges changed since the last call (all of them after a rebuild from scratch).
  void build_steps() {
    auto build_row = [&](std::size_t u) {
      steps_[u].clear();
      steps_into_[u].clear();
      for (std::int32_t w : adj_[u]) {
        if (mark(u, static_cast<std::size_t>(w))) steps_[u].push_back(w);
        if (mark(static_cast<std::size_t>(w), u)) steps_into_[u].push_back(w);
      }
    };
    if (steps_all_stale_) {
      steps_.resize(d_);
      steps_into_.resize(d_);
      for (std::size_t u = 0; u < d_; ++u) build_row(u);
      steps_all_stale_ = false;
    } else {
      for (std::int32_t u : stale_rows_) build_row(static_cast<std::size_t>(u));
    }
    for (std::int32_t u : stale_rows_) row_stale_[u] = 0;
    stale_rows_.clear();
  }
  void steps_stale(std::int32_t u) {
    if (!row_stale_[u]) {
      row_stale_[u] = 1;
      stale_rows_.push_back(u);
    }
  }

  /// Whether the semi-directed path `path` still exists (every step still traversable).
  bool path_intact(const std::vector<std::int32_t>& path) const {
    for (std::size_t i = 0; i + 1 < path.size(); ++i)
      if (!mark(static_cast<std::size_t>(path[i]), static_cast<std::size_t>(path[i + 1]))) return false;
    return true;
  }

  // ------------------------------------------------------------------------------------------ scores
  double cached(std::int32_t j, const std::vector<std::int32_t>& parents) {
    std::vector<std::int64_t> p(parents.begin(), parents.end());
    return score_.local_score(j, p.data(), p.size());
  }
  /// NaN when the score is undefined for this parent set (collinear parents, or too near a
  /// Gaussian family's undefined limit: DecomposableScore::for_search): such operators are skipped.
  double cached_or_nan(std::int32_t j, const std::vector<std::int32_t>& parents) {
    try {
      return score_.for_search(j, parents.size(), cached(j, parents));
    } catch (const NumericalError&) {
      return std::numeric_limits<double>::quiet_NaN();
    }
  }
  double uncached_or_nan(std::int32_t j, const std::vector<std::int32_t>& parents) const {
    try {
      return score_.for_search(j, parents.size(), score_.local_score_uncached(j, parents.data(), parents.size()));
    } catch (const NumericalError&) {
      return std::numeric_limits<double>::quiet_NaN();
    }
  }

  /// Depth-first enumeration of the subsets S of `pool` (ascending) such that `base` u S is a clique
  /// and every member passes `allowed`; calls visit(S, order) with the empty set first. `visit`
  /// returns false to prune the supersets of S.
  template <class Allowed, class Visit>
  void cliques(const std::vector<std::int32_t>& pool, const std::vector<std::int32_t>& base, Allowed allowed,
               Visit visit) const {
    std::vector<std::int32_t> cur;
    std::int32_t order = 0;
    auto rec = [&](auto&& self, std::size_t from) -> void {
      if (!visit(cur, order++)) return;
      for (std::size_t i = from; i < pool.size(); ++i) {
        const std::int32_t t = pool[i];
        if (!allowed(t)) continue;
        bool ok = true;
        for (std::int32_t b : base)
          if (!adjacent(b, t)) {
            ok = false;
            break;
          }
        for (std::size_t k = 0; ok && k < cur.size(); ++k) ok = adjacent(cur[k], t);
        if (!ok) continue;
        cur.push_back(t);
        self(self, i + 1);
        cur.pop_back();
      }
    };
    rec(rec, 0);
  }

  /// Gaussian BIC of y given a base set B, factored once so that adding any one more parent x costs
  /// O(|B|^2): S_BB = L L^T, w = L^{-1} S_By, var = S_yy - |w|^2.
  struct BaseFactor {
    bool ok = false;
    std::vector<double> L, w;
    double var = 0;
    double score = 0;
    /// One more parent raises the score only if the residual variance drops below this (a margin of
    /// 1e-12 above the exact threshold, far beyond rounding): most candidates are rejected without a log.
    double gain_below = 0;
  };

  BaseFactor factor(std::int32_t y, const std::vector<std::int32_t>& B) const {
    const auto& S = gaussian_->covariance();
    const std::size_t k = B.size(), d = d_;
    BaseFactor f;
    f.L.assign(k * k, 0.0);
    f.w.assign(k, 0.0);
    for (std::size_t a = 0; a < k; ++a) {
      const std::size_t pa = static_cast<std::size_t>(B[a]);
      for (std::size_t b = 0; b <= a; ++b) {
        double v = S[pa * d + static_cast<std::size_t>(B[b])];
        for (std::size_t c = 0; c < b; ++c) v -= f.L[a * k + c] * f.L[b * k + c];
        if (a == b) {
          if (!(v > S[pa * d + pa] * 1e-12)) return f;  // collinear base: every operator on it is skipped
          f.L[a * k + a] = std::sqrt(v);
        } else {
          f.L[a * k + b] = v / f.L[b * k + b];
        }
      }
      double v = S[pa * d + static_cast<std::size_t>(y)];
      for (std::size_t c = 0; c < a; ++c) v -= f.L[a * k + c] * f.w[c];
      f.w[a] = v / f.L[a * k + a];
    }
    f.var = S[static_cast<std::size_t>(y) * d + static_cast<std::size_t>(y)];
    for (double v : f.w) f.var -= v * v;
    score_base(f, y, k);
    return f;
  }

  /// f.ok, f.score and f.gain_below of a base of k parents from f.var = S_yy|B.
  void score_base(BaseFactor& f, std::int32_t y, std::size_t k) const {
    const auto& S = gaussian_->covariance();
    const double syy = S[static_cast<std::size_t>(y) * d_ + static_cast<std::size_t>(y)];
    if (!(f.var > syy * GaussianBICScore::kSearchResidualFloor)) return;
    f.ok = true;
    const double n = static_cast<double>(n_samples_);
    f.score = gaussian_->score_of_variance(f.var, k);
    // delta > 0  <=>  -(n/2) log(var / f.var) > penalty log(n) / 2  <=>  var < f.var n^(-penalty/n)
    f.gain_below = f.var * std::exp(-gaussian_->penalty_discount() * std::log(n) / n) * (1.0 + 1e-12);
  }

  /// Gaussian BIC of y given B u {x} from the factor of B (NaN when undefined; -inf when it is certainly
  /// no higher than B's score, so that the caller's delta is not positive). S is read as S[b, x]
  /// (S is exactly symmetric): callers sweep x upwards, so these reads walk rows of S in order
  /// instead of jumping d entries per x (a cache miss each at thousands of variables).
  double with_one_more(const BaseFactor& f, std::int32_t y, const std::vector<std::int32_t>& B, std::int32_t x,
                       std::vector<double>& u) const {
    const auto& S = gaussian_->covariance();
    const std::size_t k = B.size(), d = d_, xs = static_cast<std::size_t>(x);
    u.resize(k);
    double rx = diag_[xs], cxy = S[static_cast<std::size_t>(y) * d + xs];
    for (std::size_t a = 0; a < k; ++a) {
      double v = S[static_cast<std::size_t>(B[a]) * d + xs];
      for (std::size_t c = 0; c < a; ++c) v -= f.L[a * k + c] * u[c];
      u[a] = v / f.L[a * k + a];
      rx -= u[a] * u[a];
      cxy -= u[a] * f.w[a];
    }
    if (!(rx > diag_[xs] * 1e-12)) return std::numeric_limits<double>::quiet_NaN();
    const double syy = S[static_cast<std::size_t>(y) * d + static_cast<std::size_t>(y)];
    const double var = f.var - cxy * cxy / rx;
    if (!(var > syy * GaussianBICScore::kSearchResidualFloor)) return std::numeric_limits<double>::quiet_NaN();
    if (var >= f.gain_below) return -std::numeric_limits<double>::infinity();  // no gain: skip the log
    return gaussian_->score_of_variance(var, k + 1);
  }

  /// Residuals of every x in [begin, end) given the base B of factor f, by the triangular solve
  /// u = L^{-1} S_B,x: rx[i] = S_xx|B and cxy[i] = S_xy|B for x = begin + i. U: scratch.
  void residual_sweep(const std::vector<std::int32_t>& B, const BaseFactor& f, std::int32_t y, std::int32_t begin,
                      std::int32_t end, std::vector<double>& U, double* rx, double* cxy) const {
    const auto& S = gaussian_->covariance();
    const std::size_t k = B.size(), d = d_, R = static_cast<std::size_t>(end - begin);
    const auto first = static_cast<std::size_t>(begin);
    U.resize(k * R);
    std::copy(diag_.begin() + static_cast<std::ptrdiff_t>(first), diag_.begin() + static_cast<std::ptrdiff_t>(first + R), rx);
    const double* sy = S.data() + static_cast<std::size_t>(y) * d + first;
    std::copy(sy, sy + R, cxy);
    // Row a of U over a block of kBlock x at a time held in registers while the c < a terms are
    // subtracted (a store per term otherwise); per x, the same operations in the same order as
    // with_one_more.
    constexpr std::size_t kBlock = 16;
    for (std::size_t a = 0; a < k; ++a) {
      double* ua = U.data() + a * R;
      const double* sa = S.data() + static_cast<std::size_t>(B[a]) * d + first;
      const double* La = f.L.data() + a * k;
      const double pivot = La[a], wa = f.w[a];
      std::size_t i0 = 0;
      for (; i0 + kBlock <= R; i0 += kBlock) {
        double acc[kBlock];
        for (std::size_t j = 0; j < kBlock; ++j) acc[j] = sa[i0 + j];
        for (std::size_t c = 0; c < a; ++c) {
          const double l = La[c];
          const double* uc = U.data() + c * R + i0;
          for (std::size_t j = 0; j < kBlock; ++j) acc[j] -= l * uc[j];
        }
        for (std::size_t j = 0; j < kBlock; ++j) {
          const double u = acc[j] / pivot;
          ua[i0 + j] = u;
          rx[i0 + j] -= u * u;
          cxy[i0 + j] -= u * wa;
        }
      }
      for (std::size_t i = i0; i < R; ++i) {
        double v = sa[i];
        for (std::size_t c = 0; c < a; ++c) v -= La[c] * U[c * R + i];
        const double u = v / pivot;
        ua[i] = u;
        rx[i] -= u * u;
        cxy[i] -= u * wa;
      }
    }
  }

  /// with_one_more's scores from residuals: swept[i] for x = begin + i given rx, cxy (as made by
  /// residual_sweep or kept) and f (f.var = S_yy|B), for a base of k parents.
  void with_scores(const BaseFactor& f, std::size_t k, std::int32_t y, std::int32_t begin, std::int32_t end,
                   const double* rx, const double* cxy, double* swept) const {
    const auto& S = gaussian_->covariance();
    const auto first = static_cast<std::size_t>(begin), R = static_cast<std::size_t>(end - begin);
    const double syy = S[static_cast<std::size_t>(y) * d_ + static_cast<std::size_t>(y)];
    const double n = static_cast<double>(n_samples_);
    const double with_penalty = gaussian_->penalty(k + 1);
    for (std::size_t i = 0; i < R; ++i) {
      double with = std::numeric_limits<double>::quiet_NaN();
      if (rx[i] > diag_[first + i] * 1e-12) {
        const double var = f.var - cxy[i] * cxy[i] / rx[i];
        if (var > syy * GaussianBICScore::kSearchResidualFloor)
          with = var >= f.gain_below ? -std::numeric_limits<double>::infinity()
                                     : -0.5 * n * std::log(var) - with_penalty;
      }
      swept[i] = with;
    }
  }

  /// The residuals of every x given a target's parents P (the base of its empty-T shared Insert
  /// set), kept between the target's evaluations: rx[x] = S_xx|P, cxy[x] = S_xy|P, var = S_yy|P.
  /// The next evaluation usually finds P unchanged (y's neighbourhood changed) or grown by one
  /// parent: reused, or updated in O(|P| d) instead of swept again in O(|P|^2 d).
  /// Its Cholesky factor is kept too, in the order the parents came (packed rows: row a starts at
  /// a (a + 1) / 2), so that neither the old nor the new parent set is factored again.
  struct Residuals {
    std::vector<std::int32_t> base, order;  // P sorted, and in the factor's order
    std::vector<double> rx, cxy, L;
    double var = 0;
    bool valid = false;
  };
  static constexpr std::size_t kResidualBytes = std::size_t(1) << 30;  // new ones refused beyond
  static constexpr std::size_t kMaxAdded = 3;  // parents added to a kept base before sweeping anew

  /// How one shared base's with-scores are made (prepared before threads split the x range).
  struct ResidualPlan {
    enum Kind { kSweep, kFull, kExtend, kReuse };
    Kind kind = kSweep;            // kSweep: a plain sweep into scratch, nothing kept
    Residuals* kept = nullptr;
    std::vector<std::int32_t> old_base, added;  // kExtend: base = old_base u added (m parents)
    std::vector<double> gamma;     // m x |old_base|: S_{old,old}^{-1} S_{old,p_j}
    std::vector<double> t_at;      // m x m: t_i at p_j, t_i = S_{x p_i | old u p_<i}
    std::vector<double> pivot, c;  // t_j at p_j, and S_{p_j y | old u p_<j}
    double var = 0;                // S_yy given the new base (kExtend, kReuse)
  };

  Residuals* residuals_for(std::int32_t y) {
    auto& slot = residuals_[static_cast<std::size_t>(y)];
    if (slot) return slot.get();
    const std::size_t bytes = 2 * d_ * sizeof(double);
    if (residual_bytes_.fetch_add(bytes) + bytes > kResidualBytes) {
      residual_bytes_.fetch_sub(bytes);
      return nullptr;
    }
    slot = std::make_unique<Residuals>();
    slot->rx.resize(d_);
    slot->cxy.resize(d_);
    return slot.get();
  }

  /// Appends parent p to the kept factor: z = L^{-1} S_{order,p}, pivot = sqrt(S_pp - |z|^2).
  /// False when p is (numerically) collinear with the kept parents.
  bool append_parent(Residuals& kept, std::int32_t p) {
    const auto& S = gaussian_->covariance();
    const std::size_t k = kept.order.size(), ps = static_cast<std::size_t>(p);
    const std::size_t before = kept.L.size();
    kept.L.resize(before + k + 1);
    double* z = kept.L.data() + before;
    double rest = S[ps * d_ + ps];
    for (std::size_t a = 0; a < k; ++a) {
      const double* La = kept.L.data() + a * (a + 1) / 2;
      double v = S[static_cast<std::size_t>(kept.order[a]) * d_ + ps];
      for (std::size_t c = 0; c < a; ++c) v -= La[c] * z[c];
      z[a] = v / La[a];
      rest -= z[a] * z[a];
    }
    if (!(rest > S[ps * d_ + ps] * 1e-12)) {
      kept.L.resize(before);  // as it was, and as counted
      return false;
    }
    z[k] = std::sqrt(rest);
    kept.order.push_back(p);
    residual_bytes_.fetch_add((k + 1) * sizeof(double));
    return true;
  }

  /// The kept factor made anew from a full factor f of the sorted base B.
  void reset_factor(Residuals& kept, const std::vector<std::int32_t>& B, const BaseFactor& f) {
    const std::size_t k = B.size();
    const std::size_t before = kept.L.size();
    kept.order = B;
    kept.L.resize(k * (k + 1) / 2);
    for (std::size_t a = 0; a < k; ++a)
      std::copy(f.L.begin() + static_cast<std::ptrdiff_t>(a * k), f.L.begin() + static_cast<std::ptrdiff_t>(a * k + a + 1),
                kept.L.begin() + static_cast<std::ptrdiff_t>(a * (a + 1) / 2));
    if (kept.L.size() > before)
      residual_bytes_.fetch_add((kept.L.size() - before) * sizeof(double));
    else
      residual_bytes_.fetch_sub((before - kept.L.size()) * sizeof(double));
  }

  /// Plans the sweep of the shared base B = P of target y: reuse or extend y's kept residuals when
  /// they are for a subset of B missing at most kMaxAdded parents (kReuse, kExtend), else sweep anew
  /// into them (kFull; the caller factors B), or into scratch when none can be kept (kSweep).
  ResidualPlan plan_residuals(std::int32_t y, const std::vector<std::int32_t>& B) {
    ResidualPlan plan;
    Residuals* kept = residuals_for(y);
    if (!kept) return plan;
    plan.kept = kept;
    plan.kind = ResidualPlan::kFull;
    const bool usable = kept->valid && kept->base.size() <= B.size() &&
                        B.size() - kept->base.size() <= kMaxAdded &&
                        std::includes(B.begin(), B.end(), kept->base.begin(), kept->base.end());
    kept->valid = false;  // until commit_residuals, after every part of the x range is done
    if (!usable) return plan;
    if (B.size() == kept->base.size()) {
      plan.kind = ResidualPlan::kReuse;
      plan.var = kept->var;
      return plan;
    }
    const auto& S = gaussian_->covariance();
    const std::size_t d = d_;
    plan.old_base = kept->order;
    std::set_difference(B.begin(), B.end(), kept->base.begin(), kept->base.end(), std::back_inserter(plan.added));
    const std::size_t k = plan.old_base.size(), m = plan.added.size();
    // gamma_j = S_{old,old}^{-1} S_{old,p_j} by the two triangular solves with the kept factor.
    const double* L = kept->L.data();
    auto row = [&](std::size_t a) { return L + a * (a + 1) / 2; };
    plan.gamma.assign(m * k, 0.0);
    for (std::size_t j = 0; j < m; ++j) {
      double* g = plan.gamma.data() + j * k;
      const std::size_t p = static_cast<std::size_t>(plan.added[j]);
      for (std::size_t a = 0; a < k; ++a) {
        double v = S[static_cast<std::size_t>(plan.old_base[a]) * d + p];
        for (std::size_t c = 0; c < a; ++c) v -= row(a)[c] * g[c];
        g[a] = v / row(a)[a];
      }
      for (std::size_t a = k; a-- > 0;) {
        double v = g[a];
        for (std::size_t c = a + 1; c < k; ++c) v -= row(c)[a] * g[c];
        g[a] = v / row(a)[a];
      }
    }
    // The added parents' own residuals, by the same arithmetic extend_residuals applies to every x.
    std::vector<double> at(m * m);  // at[l * m + j] = g_j at x = p_l
    for (std::size_t l = 0; l < m; ++l) {
      const std::size_t x = static_cast<std::size_t>(plan.added[l]);
      for (std::size_t j = 0; j < m; ++j) {
        const double* g = plan.gamma.data() + j * k;
        double v = S[static_cast<std::size_t>(plan.added[j]) * d + x];
        for (std::size_t a = 0; a < k; ++a) v -= g[a] * S[static_cast<std::size_t>(plan.old_base[a]) * d + x];
        at[l * m + j] = v;
      }
    }
    plan.pivot.assign(m, 0.0);
    plan.c.assign(m, 0.0);
    plan.t_at.assign(m * m, 0.0);
    double var = kept->var;
    // Gram-Schmidt over the added parents in order: t_j = g_j - sum_{i<j} t_i t_i(p_j) / pivot_i.
    std::vector<double> cy(m);
    for (std::size_t l = 0; l < m; ++l) cy[l] = kept->cxy[static_cast<std::size_t>(plan.added[l])];
    for (std::size_t j = 0; j < m; ++j) {
      for (std::size_t l = 0; l < m; ++l) {
        double t = at[l * m + j];
        for (std::size_t i = 0; i < j; ++i) t -= plan.t_at[i * m + l] * (plan.t_at[i * m + j] / plan.pivot[i]);
        plan.t_at[j * m + l] = t;
      }
      const std::size_t pj = static_cast<std::size_t>(plan.added[j]);
      plan.pivot[j] = plan.t_at[j * m + j];
      if (!(plan.pivot[j] > diag_[pj] * 1e-12)) return plan;  // collinear: sweep anew
      plan.c[j] = cy[j];
      var -= plan.c[j] * plan.c[j] / plan.pivot[j];
      for (std::size_t l = j + 1; l < m; ++l) cy[l] -= plan.t_at[j * m + l] * (plan.c[j] / plan.pivot[j]);
    }
    for (std::int32_t p : plan.added)
      if (!append_parent(*kept, p)) return plan;  // collinear after all: sweep anew
    plan.kind = ResidualPlan::kExtend;
    plan.var = var;
    return plan;
  }

  /// Applies an extension plan to the kept residuals of x in [begin, end). G: scratch.
  void extend_residuals(const ResidualPlan& plan, std::int32_t begin, std::int32_t end, std::vector<double>& G) const {
    const auto& S = gaussian_->covariance();
    const std::size_t d = d_, k = plan.old_base.size(), m = plan.added.size();
    const auto first = static_cast<std::size_t>(begin), R = static_cast<std::size_t>(end - begin);
    G.resize(m * R);
    for (std::size_t j = 0; j < m; ++j) {
      double* g = G.data() + j * R;
      const double* sp = S.data() + static_cast<std::size_t>(plan.added[j]) * d + first;
      std::copy(sp, sp + R, g);
      const double* gamma = plan.gamma.data() + j * k;
      for (std::size_t a = 0; a < k; ++a) {
        const double ga = gamma[a];
        const double* sa = S.data() + static_cast<std::size_t>(plan.old_base[a]) * d + first;
        for (std::size_t i = 0; i < R; ++i) g[i] -= ga * sa[i];
      }
    }
    double* rx = plan.kept->rx.data() + first;
    double* cxy = plan.kept->cxy.data() + first;
    for (std::size_t j = 0; j < m; ++j) {
      double* tj = G.data() + j * R;
      for (std::size_t i = 0; i < j; ++i) {
        const double f = plan.t_at[i * m + j] / plan.pivot[i];
        const double* ti = G.data() + i * R;
        for (std::size_t x = 0; x < R; ++x) tj[x] -= ti[x] * f;
      }
      const double inv = 1.0 / plan.pivot[j], cj = plan.c[j] * inv;
      for (std::size_t x = 0; x < R; ++x) {
        rx[x] -= tj[x] * tj[x] * inv;
        cxy[x] -= tj[x] * cj;
      }
    }
  }

  /// The with-scores of shared entry e over x in [begin, end) into e.swept, by its plan.
  template <class Entry>
  void sweep_entry(Entry& e, std::int32_t y, std::int32_t begin, std::int32_t end, std::vector<double>& U,
                   std::vector<double>& rx, std::vector<double>& cxy) const {
    const ResidualPlan& plan = e.plan;
    const auto first = static_cast<std::size_t>(begin), R = static_cast<std::size_t>(end - begin);
    const double* rx_at;
    const double* cxy_at;
    if (plan.kind == ResidualPlan::kSweep) {
      rx.resize(R);
      cxy.resize(R);
      residual_sweep(e.base, e.f, y, begin, end, U, rx.data(), cxy.data());
      rx_at = rx.data();
      cxy_at = cxy.data();
    } else {
      double* keep_rx = plan.kept->rx.data() + first;
      double* keep_cxy = plan.kept->cxy.data() + first;
      if (plan.kind == ResidualPlan::kFull) residual_sweep(e.base, e.f, y, begin, end, U, keep_rx, keep_cxy);
      if (plan.kind == ResidualPlan::kExtend) extend_residuals(plan, begin, end, U);
      rx_at = keep_rx;
      cxy_at = keep_cxy;
    }
    with_scores(e.f, e.base.size(), y, begin, end, rx_at, cxy_at, e.swept.data() + first);
  }

  /// The kept residuals now hold the entry's base (every part of the x range was swept).
  template <class Entry>
  static void commit_residuals(Entry& e) {
    const ResidualPlan& plan = e.plan;
    if (!plan.kept) return;
    plan.kept->base = e.base;
    plan.kept->var = e.f.var;
    plan.kept->valid = true;
  }

  /// A base set shared by every x adjacent to no neighbour of y (NA empty): B = P u T for a clique T
  /// of N. Most x are of this kind, so these are enumerated (and scored) once per target.
  template <class Base>
  struct SharedBase {
    std::int32_t order;
    std::vector<std::int32_t> T, base;
    Base scored;
  };

  template <class Policy>
  std::vector<SharedBase<typename Policy::Base>> shared_bases(std::int32_t y, const std::vector<std::int32_t>& P,
                                                             const std::vector<std::int32_t>& N, Policy& policy) {
    const std::size_t limit = c_.parent_limit();
    std::vector<SharedBase<typename Policy::Base>> shared;
    if (P.size() + 1 > limit) return shared;
    cliques(
        N, {}, [&](std::int32_t t) { return !c_.is_forbidden(t, y); },
        [&](const std::vector<std::int32_t>& T, std::int32_t order) {
          if (P.size() + T.size() + 1 > limit) return false;
          auto base = sorted_union(P, T);
          auto scored = policy.shared_base(base, T.empty());
          shared.push_back({order, T, std::move(base), std::move(scored)});
          return true;
        });
    policy.prepare_shared(shared);
    return shared;
  }

  /// Every Insert(x, y, T) candidate for x in [x_begin, x_end) (validity of the semi-directed path
  /// condition not checked here), in the tie-breaking order: policy.base(B) once per base set
  /// B = P u NA u T and policy.candidate(base, B, x, order, T) per candidate.  The policy scores them
  /// (now, or later in one batch). `pre`: the target's shared bases from shared_bases (made here
  /// when null), so that threads splitting one target's x range do not each score them again.
  template <class Policy>
  void enumerate_inserts(std::int32_t y, const std::vector<std::int32_t>& P, const std::vector<std::int32_t>& N,
                         std::int32_t x_begin, std::int32_t x_end, Policy& policy,
                         const std::vector<SharedBase<typename Policy::Base>>* pre = nullptr) {
    const std::size_t limit = c_.parent_limit();
    if (P.size() + 1 > limit) return;
    std::vector<SharedBase<typename Policy::Base>> own;
    if (!pre) own = shared_bases(y, P, N, policy);
    const auto& shared = pre ? *pre : own;
    policy.sweep_shared(x_begin, x_end, shared);
    if (!pre && x_begin == 0 && x_end == static_cast<std::int32_t>(d_)) policy.finish_shared(own);
    // From the adjacency lists, per x in range: bit 0 = adjacent to y, bit 1 = adjacent to a node of N.
    // The sweep below then reads no d x d matrix column-wise.
    std::vector<std::uint8_t> near(static_cast<std::size_t>(x_end - x_begin), 0);
    auto mark = [&](std::int32_t v, std::uint8_t bit) {
      if (v >= x_begin && v < x_end) near[static_cast<std::size_t>(v - x_begin)] |= bit;
    };
    for (std::int32_t v : adj_[y]) mark(v, 1);
    for (std::int32_t t : N)
      for (std::int32_t v : adj_[t]) mark(v, 2);
    std::vector<std::int32_t> NA, T0;
    for (std::int32_t x = x_begin; x < x_end; ++x) {
      if ((x & 63) == 0 && interrupt_.poll()) return;
      const std::uint8_t near_x = near[static_cast<std::size_t>(x - x_begin)];
      if (x == y || (near_x & 1) || (has_knowledge_ && c_.is_forbidden(x, y))) continue;
      if (!(near_x & 2)) {
        for (const auto& e : shared) policy.candidate(e.scored, e.base, x, e.order, e.T);
        continue;
      }
      NA.clear();
      T0.clear();
      for (std::int32_t t : N) (adjacent(x, t) ? NA : T0).push_back(t);
      if (!is_clique(NA)) continue;
      const auto PNA = sorted_union(P, NA);
      cliques(
          T0, NA, [&](std::int32_t t) { return !c_.is_forbidden(t, y); },
          [&](const std::vector<std::int32_t>& T, std::int32_t order) {
            if (PNA.size() + T.size() + 1 > limit) return false;
            const auto base = sorted_union(PNA, T);
            policy.candidate(policy.base(base), base, x, order, T);
            return true;
          });
    }
  }

  /// Scores each candidate at once and keeps those with a positive delta.
  struct ImmediateInserts {
    GesSearch& g;
    std::int32_t y;
    std::vector<Candidate>& out;
    std::int64_t& evaluated;
    void keep(double with, double without, bool base_empty, std::int32_t x, std::int32_t order,
              const std::vector<std::int32_t>& T) {
      if (base_empty && std::isnan(with)) throw_single_parent_undefined(y, x);
      ++evaluated;
      const double delta = with - without;
      if (delta > 0) out.push_back(Candidate{delta, x, order, T});
    }
  };

  /// Gaussian BIC: base sets factored once per call, one more parent in O(|B|^2).
  struct GaussianInserts : ImmediateInserts {
    struct Entry {
      std::vector<std::int32_t> base;
      BaseFactor f;
      std::vector<double> swept;  // with-scores by x, for the shared bases prepare_shared picked
      ResidualPlan plan;          // how `swept` is made
    };
    using Base = Entry*;
    std::deque<Entry> factors;  // base sets recur across x
    std::vector<double> u, U, rx, cxy;
    Base base(const std::vector<std::int32_t>& B) {
      for (Entry& e : factors)
        if (e.base == B) return &e;
      factors.push_back(Entry{B, this->g.factor(this->y, B), {}, {}});
      return &factors.back();
    }
    /// The base P itself (T empty, `parents`) comes from y's kept residuals (see Residuals): when
    /// they are reused or extended, P is not factored at all.
    Base shared_base(const std::vector<std::int32_t>& B, bool parents) {
      if (!parents || B.size() < 4) return base(B);
      ResidualPlan plan = this->g.plan_residuals(this->y, B);
      BaseFactor f;
      if (plan.kind == ResidualPlan::kReuse || plan.kind == ResidualPlan::kExtend) {
        f.var = plan.var;
        this->g.score_base(f, this->y, B.size());
      } else {
        f = this->g.factor(this->y, B);
        if (plan.kept && f.ok) this->g.reset_factor(*plan.kept, B, f);
      }
      if (!f.ok) plan = ResidualPlan{};  // kept residuals stay invalid
      factors.push_back(Entry{B, std::move(f), {}, std::move(plan)});
      return &factors.back();
    }
    /// Shared bases of four or more parents are swept: every x at once, the triangular solve and
    /// the two dot products as contiguous loops over x (same arithmetic as with_one_more, in the
    /// same order), instead of a strided O(k^2) solve per x. Sized here, before threads that split
    /// the x range fill their parts.
    void prepare_shared(const std::vector<SharedBase<Base>>& shared) {
      for (const auto& s : shared)
        if (s.scored->f.ok && s.base.size() >= 4) s.scored->swept.resize(this->g.d_);
    }
    void sweep_shared(std::int32_t begin, std::int32_t end, const std::vector<SharedBase<Base>>& shared) {
      for (const auto& s : shared)
        if (!s.scored->swept.empty()) this->g.sweep_entry(*s.scored, this->y, begin, end, U, rx, cxy);
    }
    void finish_shared(const std::vector<SharedBase<Base>>& shared) {
      for (const auto& s : shared) commit_residuals(*s.scored);
    }
    void candidate(Base e, const std::vector<std::int32_t>& B, std::int32_t x, std::int32_t order,
                   const std::vector<std::int32_t>& T) {
      constexpr double nan = std::numeric_limits<double>::quiet_NaN();
      const BaseFactor& f = e->f;
      const double with = !f.ok                ? nan
                          : !e->swept.empty() ? e->swept[static_cast<std::size_t>(x)]
                                              : this->g.with_one_more(f, this->y, B, x, u);
      this->keep(with, f.ok ? f.score : nan, B.empty(), x, order, T);
    }
  };

  /// Any score: the base through the score's cache, the candidate uncached (each is new).
  struct GenericInserts : ImmediateInserts {
    using Base = double;
    std::vector<std::int32_t> with_set;
    void prepare_shared(const std::vector<SharedBase<Base>>&) {}
    void sweep_shared(std::int32_t, std::int32_t, const std::vector<SharedBase<Base>>&) {}
    void finish_shared(const std::vector<SharedBase<Base>>&) {}
    Base base(const std::vector<std::int32_t>& B) { return this->g.cached_or_nan(this->y, B); }
    Base shared_base(const std::vector<std::int32_t>& B, bool) { return base(B); }
    void candidate(Base without, const std::vector<std::int32_t>& B, std::int32_t x, std::int32_t order,
                   const std::vector<std::int32_t>& T) {
      with_set = B;
      with_set.insert(std::upper_bound(with_set.begin(), with_set.end(), x), x);
      this->keep(this->g.uncached_or_nan(this->y, with_set), without, B.empty(), x, order, T);
    }
  };

  /// One target's shared bases, scored once for the threads that split its x range.
  struct SharedInserts {
    std::int64_t unused_count = 0;
    std::vector<Candidate> unused_out;
    std::optional<GaussianInserts> gaussian_owner;  // owns the factors that `gaussian` points to
    std::vector<SharedBase<GaussianInserts::Base>> gaussian;
    std::vector<SharedBase<GenericInserts::Base>> generic;
  };

  void prepare_inserts(std::int32_t y, const std::vector<std::int32_t>& P, const std::vector<std::int32_t>& N,
                       SharedInserts& out) {
    if (gaussian_) {
      out.gaussian_owner.emplace(GaussianInserts{{*this, y, out.unused_out, out.unused_count}, {}, {}, {}, {}, {}});
      out.gaussian = shared_bases(y, P, N, *out.gaussian_owner);
    } else {
      GenericInserts policy{{*this, y, out.unused_out, out.unused_count}, {}};
      out.generic = shared_bases(y, P, N, policy);
    }
  }

  /// Positive-delta Insert(x, y, T) for x in [x_begin, x_end), appended to `out`; `pre`: the
  /// target's shared bases from prepare_inserts (made here when null).
  void collect_inserts(std::int32_t y, const std::vector<std::int32_t>& P, const std::vector<std::int32_t>& N,
                       std::int32_t x_begin, std::int32_t x_end, std::vector<Candidate>& out, std::int64_t& evaluated,
                       const SharedInserts* pre = nullptr) {
    if (gaussian_) {
      GaussianInserts policy{{*this, y, out, evaluated}, {}, {}, {}, {}, {}};
      enumerate_inserts(y, P, N, x_begin, x_end, policy, pre ? &pre->gaussian : nullptr);
    } else {
      GenericInserts policy{{*this, y, out, evaluated}, {}};
      enumerate_inserts(y, P, N, x_begin, x_end, policy, pre ? &pre->generic : nullptr);
    }
  }

  // ---------------------------------------------------------------- inserts scored in one batch
  /// Families to score in one call of the external scorer, as CSR (node, sorted parents).
  struct FamilyBatch {
    std::vector<std::int64_t> nodes, offsets{0}, parents;
    std::int64_t add(std::int32_t y, const std::vector<std::int32_t>& set, std::int32_t extra = -1) {
      nodes.push_back(y);
      const auto begin = parents.size();
      parents.insert(parents.end(), set.begin(), set.end());
      if (extra >= 0)
        parents.insert(std::upper_bound(parents.begin() + static_cast<std::ptrdiff_t>(begin), parents.end(),
                                        static_cast<std::int64_t>(extra)),
                       extra);
      offsets.push_back(static_cast<std::int64_t>(parents.size()));
      return static_cast<std::int64_t>(nodes.size()) - 1;
    }
  };

  /// An Insert candidate whose delta is scores[with] - scores[without] once the batch is scored.
  struct PendingInsert {
    std::int32_t y, x, order;
    bool base_empty;
    std::int64_t with, without;
    std::vector<std::int32_t> T;
  };

  /// Records the families instead of scoring them (base sets once per target).
  struct DeferredInserts {
    using Base = std::int64_t;
    void prepare_shared(const std::vector<SharedBase<Base>>&) {}
    void sweep_shared(std::int32_t, std::int32_t, const std::vector<SharedBase<Base>>&) {}
    void finish_shared(const std::vector<SharedBase<Base>>&) {}
    FamilyBatch& batch;
    std::vector<PendingInsert>& pending;
    std::int32_t y;
    std::vector<std::pair<std::vector<std::int32_t>, std::int64_t>> bases;
    Base shared_base(const std::vector<std::int32_t>& B, bool) { return base(B); }
    Base base(const std::vector<std::int32_t>& B) {
      for (const auto& [b, index] : bases)
        if (b == B) return index;
      bases.emplace_back(B, batch.add(y, B));
      return bases.back().second;
    }
    void candidate(Base without, const std::vector<std::int32_t>& B, std::int32_t x, std::int32_t order,
                   const std::vector<std::int32_t>& T) {
      pending.push_back(PendingInsert{y, x, order, B.empty(), batch.add(y, B, x), without, T});
    }
  };

  /// Insert evaluation through the external scorer: targets are enumerated in groups of about
  /// kBatchFamilies families, each group scored in one call, then finalized as usual.
  void evaluate_inserts_batched(const std::vector<std::int32_t>& targets) {
    constexpr std::size_t kBatchFamilies = std::size_t(1) << 20;
    Scratch scratch(d_);
    std::vector<double> scores;
    std::vector<Candidate> cands;
    for (std::size_t next = 0; next < targets.size();) {
      FamilyBatch batch;
      std::vector<PendingInsert> pending;
      const std::size_t first = next;
      while (next < targets.size() && batch.nodes.size() < kBatchFamilies) {
        const std::int32_t y = targets[next++];
        DeferredInserts policy{batch, pending, y, {}};
        enumerate_inserts(y, parents_of(y), neighbors_of(y), 0, static_cast<std::int32_t>(d_), policy);
        interrupt_.rethrow_if_stopped();
      }
      scores.assign(batch.nodes.size(), std::numeric_limits<double>::quiet_NaN());
      if (!batch.nodes.empty()) batch_scores_(batch.nodes, batch.offsets, batch.parents, scores);
      for (std::size_t f = 0; f < scores.size(); ++f)
        scores[f] = score_.for_search(static_cast<std::int32_t>(batch.nodes[f]),
                                   static_cast<std::size_t>(batch.offsets[f + 1] - batch.offsets[f]), scores[f]);
      n_evaluated_ += static_cast<std::int64_t>(pending.size());
      // pending is grouped by target in the order of `targets`
      std::size_t at = 0;
      for (std::size_t i = first; i < next; ++i) {
        const std::int32_t y = targets[i];
        cands.clear();
        for (; at < pending.size() && pending[at].y == y; ++at) {
          const PendingInsert& p = pending[at];
          const double with = scores[static_cast<std::size_t>(p.with)];
          if (p.base_empty && std::isnan(with)) throw_single_parent_undefined(y, p.x);
          const double delta = with - scores[static_cast<std::size_t>(p.without)];
          if (delta > 0) cands.push_back(Candidate{delta, p.x, p.order, p.T});
        }
        finalize(y, cands, true, scratch);
      }
    }
  }

  /// Best positive-delta Delete(x, y, H) of target y.
  /// Gaussian BIC with kDropOneMinParents or more parents: the scores of y given P without each
  /// parent in turn, from one factorisation of P. Fresh fits cost O(|P|^4) per node, which at the
  /// hundreds of parents of a dense large search made a backward or turning pass take minutes.
  /// Empty otherwise, or when P fails the singularity tests: callers then fit each set themselves.
  std::vector<double> scores_without_each(std::int32_t y, const std::vector<std::int32_t>& P) const {
    std::vector<double> out;
    if (gaussian_ && P.size() >= kDropOneMinParents) {
      out.resize(P.size());
      if (!gaussian_->drop_one_scores(y, P.data(), P.size(), out.data())) out.clear();
    }
    return out;
  }

  void collect_deletes(std::int32_t y, std::vector<Candidate>& out, std::int64_t& evaluated) {
    const auto P = parents_of(y);
    const auto N = neighbors_of(y);
    const auto without_parent = scores_without_each(y, P);
    // Deleting a parent x (with C empty) compares against the score of P itself. When that is
    // undefined (P collinear up to rounding) every such delta is NaN and skipped: say so once
    // instead of failing two fits of |P| parents per x (failures are not cached).
    const double score_p = P.empty() ? kNone : cached_or_nan(y, P);
    const bool p_undefined = std::isnan(score_p);
    std::vector<std::int32_t> xs = sorted_union(P, N);
    for (std::int32_t x : xs) {
      if (c_.is_required(x, y) || c_.is_required(y, x)) continue;
      std::vector<std::int32_t> NA;
      for (std::int32_t t : N)
        if (t != x && adjacent(x, t)) NA.push_back(t);
      cliques(
          NA, {}, [](std::int32_t) { return true; },
          [&](const std::vector<std::int32_t>& C, std::int32_t order) {
            std::vector<std::int32_t> H;
            std::set_difference(NA.begin(), NA.end(), C.begin(), C.end(), std::back_inserter(H));
            for (std::int32_t h : H)
              if (c_.is_forbidden(y, h) || (undirected(x, h) && c_.is_forbidden(x, h))) return true;
            const auto in_p = std::lower_bound(P.begin(), P.end(), x);
            const bool parent_alone = C.empty() && in_p != P.end() && *in_p == x;  // P -> P \ {x}
            ++evaluated;
            if (parent_alone && p_undefined) return true;
            double without, with;
            if (parent_alone) {
              with = score_p;
              if (!without_parent.empty()) {
                without = without_parent[static_cast<std::size_t>(in_p - P.begin())];
              } else {
                auto base = P;
                base.erase(base.begin() + (in_p - P.begin()));
                without = cached_or_nan(y, base);
              }
            } else {
              auto base = sorted_union(P, C);
              base.erase(std::remove(base.begin(), base.end(), x), base.end());
              without = cached_or_nan(y, base);
              with = cached_or_nan(y, sorted_union(base, {}, x));
            }
            const double delta = without - with;
            if (delta > 0) out.push_back(Candidate{delta, x, order, H});
            return true;
          });
    }
  }

  /// An Insert rejected by the path condition, with the semi-directed path that blocked it.
  struct Blocked {
    double delta;
    std::vector<std::int32_t> path;
    bool broken = false;  // a step of `path` lost its direction since (recheck with path_intact)
  };

  struct Best {
    Candidate op;
    std::vector<Blocked> blocked;  // rejected Inserts better than `op`, best first
  };

  /// best_[y] from its candidates: the first (in `better` order) valid one.
  void finalize(std::int32_t y, std::vector<Candidate>& cands, bool insert, Scratch& scratch) {
    if (!banned_.empty())
      cands.erase(std::remove_if(cands.begin(), cands.end(),
                                 [&](const Candidate& c) {
                                   return banned_[static_cast<std::size_t>(c.x) * d_ + static_cast<std::size_t>(y)] != 0;
                                 }),
                  cands.end());
    Best b;
    if (!insert) {
      if (!cands.empty()) b.op = std::move(*std::min_element(cands.begin(), cands.end(), better));
    } else if (!cands.empty()) {
      // Best first, popped from a heap: usually the first is valid, so no full sort of the (at
      // large d, thousands of) positive candidates.
      auto worse = [](const Candidate& p, const Candidate& q) { return better(q, p); };
      std::make_heap(cands.begin(), cands.end(), worse);
      const auto N = neighbors_of(y);
      std::vector<std::int32_t> path;
      for (auto end = cands.end(); end != cands.begin(); --end) {
        std::pop_heap(cands.begin(), end, worse);
        Candidate& cand = *(end - 1);
        if (insert_valid(y, cand, N, scratch, &path)) {
          b.op = std::move(cand);
          break;
        }
        b.blocked.push_back(Blocked{cand.delta, path, false});
      }
    }
    best_[y] = std::move(b);
    if (insert) n_broken_[y] = 0;  // a new list: nothing flagged (targets differ across threads)
  }

  bool insert_valid(std::int32_t y, const Candidate& cand, const std::vector<std::int32_t>& N, Scratch& scratch,
                    std::vector<std::int32_t>* witness = nullptr) const {
    std::vector<std::int32_t> blocked = cand.set;
    for (std::int32_t t : N)
      if (adjacent(cand.x, t)) blocked.push_back(t);
    return paths_blocked(y, cand.x, blocked, scratch, witness);
  }

  void evaluate(const std::vector<std::int32_t>& targets, bool insert) {
    if (targets.empty()) return;
    if (insert) build_steps();  // finalize's path searches, possibly from several threads
    if (insert && batch_scores_)
      evaluate_inserts_batched(targets);
    else
      evaluate_scored(targets, insert);
    if (insert)
      for (std::int32_t y : targets) register_blocked(y);
  }

  // ------------------------------------------------------------- blocked Inserts, indexed by step
  // A blocked Insert can become valid only when a step of its path loses its direction. Each path's
  // steps are indexed by their tail node, so an operator flags exactly the paths through the steps
  // it removed, instead of every path being walked again after every operator.
  struct PathRef {
    std::int32_t y;
    std::uint32_t version;  // best_version_[y] when registered; stale once best_[y] is replaced
    std::int32_t index;     // into best_[y].blocked
  };

  void register_blocked(std::int32_t y) {
    const std::uint32_t version = ++best_version_[y];
    const auto& blocked = best_[y].blocked;
    for (std::size_t i = 0; i < blocked.size(); ++i)
      for (std::size_t k = 0; k + 1 < blocked[i].path.size(); ++k) {
        auto& refs = through_[blocked[i].path[k]];
        refs.push_back(PathRef{y, version, static_cast<std::int32_t>(i)});
        if (refs.size() >= 64 && (refs.size() & (refs.size() - 1)) == 0) drop_stale(refs);
      }
  }

  void drop_stale(std::vector<PathRef>& refs) const {
    refs.erase(std::remove_if(refs.begin(), refs.end(),
                              [&](const PathRef& r) { return r.version != best_version_[r.y]; }),
               refs.end());
  }

  /// The step a -> b is gone: flag the blocked paths that use it.
  void step_lost(std::int32_t a, std::int32_t b) {
    auto& refs = through_[a];
    drop_stale(refs);
    for (const PathRef& r : refs) {
      Blocked& blocked = best_[r.y].blocked[static_cast<std::size_t>(r.index)];
      if (blocked.broken) continue;
      const auto& p = blocked.path;
      for (std::size_t k = 0; k + 1 < p.size(); ++k)
        if (p[k] == a && p[k + 1] == b) {
          blocked.broken = true;
          if (n_broken_[r.y]++ == 0 && !listed_broken_[r.y]) {
            listed_broken_[r.y] = 1;
            broken_targets_.push_back(r.y);
          }
          break;
        }
    }
  }

  void evaluate_scored(const std::vector<std::int32_t>& targets, bool insert) {
    std::exception_ptr error;
    std::mutex error_mutex;
    std::int64_t evaluated = 0;
    // Many targets (the first sweep of a phase): one thread per target. Few: threads share the x range.
    const double per_target = insert ? static_cast<double>(d_) * 2e3 : 2e4;
    if (targets.size() >= static_cast<std::size_t>(4 * threads_) || !insert) {
      double work = per_target * static_cast<double>(targets.size());
      if (!insert)  // a Delete scan factors the target's family: ~|P|^3 (hundreds of parents in dense searches)
        for (std::int32_t y : targets) work += std::pow(static_cast<double>(adj_[y].size()), 3.0);
      const int nthreads = threads_for_work(work);
      // Deletes factor families of tens to hundreds of parents: BLAS threads only add hand-offs there
      // (a dense d = 5000 backward phase spent a third of its time in OpenBLAS's thread server).
      SingleThreadedBlas single(nthreads > 1 || !insert);
#pragma omp parallel num_threads(nthreads) reduction(+ : evaluated)
      {
        Scratch scratch(d_);
        std::vector<Candidate> cands;
#pragma omp for schedule(dynamic, 1)
        for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(targets.size()); ++i) {
          if (interrupt_.poll()) continue;
          const std::int32_t y = targets[static_cast<std::size_t>(i)];
          try {
            cands.clear();
            if (insert)
              collect_inserts(y, parents_of(y), neighbors_of(y), 0, static_cast<std::int32_t>(d_), cands, evaluated);
            else
              collect_deletes(y, cands, evaluated);
            finalize(y, cands, insert, scratch);
          } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
          }
        }
      }
    } else {
      Scratch scratch(d_);
      for (std::int32_t y : targets) {
        const auto P = parents_of(y);
        const auto N = neighbors_of(y);
        std::vector<Candidate> cands;
        SharedInserts shared;
        try {
          prepare_inserts(y, P, N, shared);
        } catch (...) {
          error = std::current_exception();
          break;
        }
        const int nthreads = d_ >= kSplitSweepMinNodes ? threads_ : threads_for_work(per_target);
        const std::int32_t chunk = 64;
        const auto n_chunks = static_cast<std::ptrdiff_t>((d_ + chunk - 1) / chunk);
        SingleThreadedBlas single(nthreads > 1);
#pragma omp parallel num_threads(nthreads) reduction(+ : evaluated)
        {
          std::vector<Candidate> local;
#pragma omp for schedule(dynamic, 1) nowait
          for (std::ptrdiff_t ci = 0; ci < n_chunks; ++ci) {
            if (interrupt_.poll()) continue;
            const auto lo = static_cast<std::int32_t>(ci * chunk);
            const auto hi = std::min<std::int32_t>(lo + chunk, static_cast<std::int32_t>(d_));
            try {
              collect_inserts(y, P, N, lo, hi, local, evaluated, &shared);
            } catch (...) {
              std::lock_guard<std::mutex> lock(error_mutex);
              if (!error) error = std::current_exception();
            }
          }
          std::lock_guard<std::mutex> lock(error_mutex);
          cands.insert(cands.end(), std::make_move_iterator(local.begin()), std::make_move_iterator(local.end()));
        }
        interrupt_.rethrow_if_stopped();
        if (error) std::rethrow_exception(error);
        if (shared.gaussian_owner) shared.gaussian_owner->finish_shared(shared.gaussian);
        finalize(y, cands, insert, scratch);
      }
    }
    n_evaluated_ += evaluated;
    interrupt_.rethrow_if_stopped();
    if (error) std::rethrow_exception(error);
  }

  // ------------------------------------------------------------------------------------------ turning
  struct Turn {
    double delta;
    std::int32_t a, b;  // the extension's a -> b becomes b -> a
  };
  /// Heap order: x ranks below y (smaller gain, then larger a, then larger b).
  static bool worse_turn(const Turn& x, const Turn& y) {
    if (x.delta != y.delta) return x.delta < y.delta;
    return x.a != y.a ? x.a > y.a : x.b > y.b;
  }

  /// A node of the turning phase's extension: its parents and children there and the scores that
  /// reversal gains are made of. The gain of reversing a -> b is
  ///   with_child of a at b + without of b at a - base of a - base of b,
  /// so a reversal, which changes the parents of a and b only, re-scores those two nodes only.
  struct TurnNode {
    std::vector<std::int32_t> parents, children;  // sorted
    double base = kNone;                            // s(v, parents)
    std::vector<double> without;                    // s(v, parents - parents[i])
    std::vector<double> with_child;                 // s(v, parents + children[i])
  };

  /// The scores of a TurnNode (NaN where undefined, as the searches count it): for the Gaussian BIC
  /// from one factorisation of the parents (the first pass over a dense class otherwise fits two
  /// families per edge, at hundreds of parents each), else one cached fit per family.
  void score_turn_node(std::int32_t v, TurnNode& t) {
    const auto& P = t.parents;
    const auto& C = t.children;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    t.without.assign(P.size(), nan);
    t.with_child.assign(C.size(), nan);
    if (gaussian_ && gaussian_->family_scores(v, P.data(), P.size(), C.data(), C.size(), &t.base,
                                              P.empty() ? nullptr : t.without.data(), t.with_child.data())) {
      t.base = score_.for_search(v, P.size(), t.base);
      for (double& w : t.with_child) w = score_.for_search(v, P.size() + 1, w);
      return;
    }
    t.base = cached_or_nan(v, P);
    for (std::size_t i = 0; i < P.size(); ++i) {
      auto less = P;
      less.erase(less.begin() + static_cast<std::ptrdiff_t>(i));
      t.without[i] = cached_or_nan(v, less);
    }
    for (std::size_t i = 0; i < C.size(); ++i) t.with_child[i] = cached_or_nan(v, sorted_union(P, {}, C[i]));
  }

  /// Reversals of edges of a consistent extension, best first, while one raises the score. The
  /// extension is made once per pass; after reversing a -> b it is kept with that edge reversed (a
  /// member of the new class, whose pattern turn() re-orients), so a reversal costs the re-scoring
  /// of a and b, not a new extension of the whole class. Returns how many were applied.
  std::int64_t turn_phase(const GESConfig& config, const GESProgress& progress, GESResult& result) {
    std::int64_t applied = 0;
    std::vector<std::uint8_t> dag(d_ * d_);
    if (!pdag_to_dag(marks().data(), d_, dag.data(), interrupt_).empty()) return 0;  // no extension
    Scratch scratch(d_);
    const std::size_t limit = c_.parent_limit();
    auto last = std::chrono::steady_clock::now();
    std::vector<TurnNode> nodes(d_);
    for (std::size_t v = 0; v < d_; ++v)
      for (std::int32_t u : adj_[v]) {
        auto& list = dag[static_cast<std::size_t>(u) * d_ + v] ? nodes[v].parents : nodes[v].children;
        list.push_back(u);
      }
    for (auto& t : nodes) {
      std::sort(t.parents.begin(), t.parents.end());
      std::sort(t.children.begin(), t.children.end());
    }
    {
      std::exception_ptr error;
      std::mutex error_mutex;
      double work = 0;
      for (const auto& t : nodes) work += std::pow(static_cast<double>(t.parents.size()) + 1.0, 3.0) + 1e3;
      const int nthreads = threads_for_work(work);
      SingleThreadedBlas single(nthreads > 1);
#pragma omp parallel for schedule(dynamic, 8) num_threads(nthreads)
      for (std::ptrdiff_t v = 0; v < static_cast<std::ptrdiff_t>(d_); ++v) {
        if (interrupt_.poll()) continue;
        try {
          score_turn_node(static_cast<std::int32_t>(v), nodes[static_cast<std::size_t>(v)]);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
        }
      }
      if (error) std::rethrow_exception(error);
      n_evaluated_ += n_edges_;
    }
    auto position = [](const std::vector<std::int32_t>& list, std::int32_t u) {
      return static_cast<std::size_t>(std::lower_bound(list.begin(), list.end(), u) - list.begin());
    };
    std::vector<Turn> turns;
    std::unordered_map<std::int64_t, std::vector<std::int32_t>> cycles;  // (a, b) -> a path a ... b
    std::vector<std::int32_t> witness;
    while (config.max_iter < 0 || applied < config.max_iter) {
      if (interrupt_.poll()) break;
      turns.clear();
      for (std::int32_t b = 0; b < static_cast<std::int32_t>(d_); ++b) {
        const TurnNode& tb = nodes[static_cast<std::size_t>(b)];
        for (std::size_t i = 0; i < tb.parents.size(); ++i) {
          const std::int32_t a = tb.parents[i];
          if (c_.is_forbidden(b, a) || c_.is_required(a, b)) continue;
          const TurnNode& ta = nodes[static_cast<std::size_t>(a)];
          if (ta.parents.size() + 1 > limit) continue;
          const double delta = ta.with_child[position(ta.children, b)] + tb.without[i] - ta.base - tb.base;
          // Reversing a covered edge stays in the class (delta 0 up to rounding): demand a real
          // gain, or the search would flip such an edge back and forth forever.
          if (delta > kTurnTolerance * (1.0 + std::abs(ta.base) + std::abs(tb.base))) turns.push_back(Turn{delta, a, b});
        }
      }
      std::make_heap(turns.begin(), turns.end(), worse_turn);
      bool chosen = false;
      Turn t{};
      while (!turns.empty()) {
        std::pop_heap(turns.begin(), turns.end(), worse_turn);
        t = turns.back();
        turns.pop_back();
        // The best gains often belong to reversals that would close a cycle, popped again after
        // every reversal: a path found once is kept and re-checked edge by edge, a search over
        // the extension (most of a dense class) only when one of its edges was reversed.
        const auto key = static_cast<std::int64_t>(t.a) * static_cast<std::int64_t>(d_) + t.b;
        const auto known = cycles.find(key);
        if (known != cycles.end() && path_present(dag, known->second)) continue;
        if (other_path(nodes, t.a, t.b, scratch, witness)) {
          cycles[key] = witness;
          continue;
        }
        if (known != cycles.end()) cycles.erase(known);
        chosen = true;
        break;
      }
      if (!chosen) break;
      turn(dag, t.a, t.b);
      dag[static_cast<std::size_t>(t.a) * d_ + t.b] = 0;
      dag[static_cast<std::size_t>(t.b) * d_ + t.a] = 1;
      TurnNode& ta = nodes[static_cast<std::size_t>(t.a)];
      TurnNode& tb = nodes[static_cast<std::size_t>(t.b)];
      ta.children.erase(ta.children.begin() + static_cast<std::ptrdiff_t>(position(ta.children, t.b)));
      ta.parents.insert(ta.parents.begin() + static_cast<std::ptrdiff_t>(position(ta.parents, t.b)), t.b);
      tb.parents.erase(tb.parents.begin() + static_cast<std::ptrdiff_t>(position(tb.parents, t.a)));
      tb.children.insert(tb.children.begin() + static_cast<std::ptrdiff_t>(position(tb.children, t.a)), t.a);
      score_turn_node(t.a, ta);
      score_turn_node(t.b, tb);
      n_evaluated_ += static_cast<std::int64_t>(adj_[t.a].size() + adj_[t.b].size());
      score_total_ += t.delta;
      ++applied;
      ++result.n_turn;
      result.history.push_back(GESStep{false, true, t.b, t.a, {}, t.delta, score_total_, n_edges_});
      const auto now = std::chrono::steady_clock::now();
      if (progress && now - last >= std::chrono::seconds(1)) {
        progress("turning", applied, n_edges_, score_total_);
        last = now;
      }
    }
    interrupt_.rethrow_if_stopped();
    if (progress) progress("turning", applied, n_edges_, score_total_);
    return applied;
  }

  /// Whether the extension (children lists of `nodes`) has a directed path a ... b other than the
  /// edge a -> b itself (reversing that edge would then close a cycle); if so, `path` gets one.
  bool other_path(const std::vector<TurnNode>& nodes, std::int32_t a, std::int32_t b, Scratch& s,
                  std::vector<std::int32_t>& path) const {
    s.start(a);
    for (std::size_t head = 0; head < s.queue.size(); ++head) {
      const std::int32_t u = s.queue[head];
      for (std::int32_t w : nodes[static_cast<std::size_t>(u)].children) {
        if (s.mark[w] == s.stamp || (u == a && w == b)) continue;
        s.prev[w] = u;
        if (w == b) {
          path.assign(1, b);
          for (std::int32_t v = b; v != a;) path.push_back(v = s.prev[v]);
          std::reverse(path.begin(), path.end());
          return true;
        }
        s.mark[w] = s.stamp;
        s.queue.push_back(w);
      }
    }
    return false;
  }

  /// Whether every edge of the path is still in the DAG.
  bool path_present(const std::vector<std::uint8_t>& dag, const std::vector<std::int32_t>& path) const {
    for (std::size_t i = 0; i + 1 < path.size(); ++i)
      if (!dag[static_cast<std::size_t>(path[i]) * d_ + static_cast<std::size_t>(path[i + 1])]) return false;
    return true;
  }

  // ------------------------------------------------------------------------------------------- phases
  /// Edge orientations as (u, v, state) for u < v: 1 = u->v, 2 = v->u, 3 = u--v.
  std::vector<std::pair<std::int64_t, std::uint8_t>> snapshot() const {
    std::vector<std::pair<std::int64_t, std::uint8_t>> out;
    for (std::size_t u = 0; u < d_; ++u)
      for (std::int32_t v : adj_[u])
        if (static_cast<std::size_t>(v) > u)
          out.emplace_back(static_cast<std::int64_t>(u * d_ + v), E_[u * d_ + v]);
    return out;
  }

  // ------------------------------------------------------------------ incremental re-orientation
  // After an operator, the new CPDAG is the Meek closure of the pattern of the operator's PDAG P'
  // (what rebuild() computes from scratch). Incrementally: every directed edge of P' that is not
  // an unshielded-collider edge ("fact") was derived by Meek's rules in the old CPDAG, from premises
  // that touch its endpoints or their neighbours (R1-R4), plus the absence of v-structures there.
  // Facts change only around the operator. So (1) the derived edges within reach of the operator are
  // undirected, transitively through the derived edges whose premises they were, (2) the rules are
  // re-applied with a worklist seeded around every change. The directed edges kept in (1) are
  // compelled in the new class and (2) reaches the same closure (Meek 1995: the rules with
  // compelled background orientations yield the CPDAG), i.e. exactly rebuild()'s result.

  /// The pair's state for u < v: bit 0 the mark u -> v, bit 1 the mark v -> u.
  std::uint8_t edge_state(std::int32_t u, std::int32_t v) const {
    return E_[static_cast<std::size_t>(std::min(u, v)) * d_ + static_cast<std::size_t>(std::max(u, v))];
  }
  /// Remember the state of u -- v before its first change in this operator.
  void record(std::int32_t u, std::int32_t v) {
    const auto key = static_cast<std::int64_t>(std::min(u, v)) * static_cast<std::int64_t>(d_) + std::max(u, v);
    if (recorded_.insert(key).second) changes_.emplace_back(key, edge_state(u, v));
  }

  // The parents a of each node v whose edge a -> v is not a fact (not in an unshielded collider
  // a -> v <- b), kept for every node, with n_derived_[z] = the directed non-fact edges at z (either
  // end). They depend only on a node's parents and the adjacencies among them, so every edit refreshes
  // the nodes it can affect (set_mark: both ends; (un)link: both ends and their common neighbours).
  // The re-orientation then visits only the nodes that have derived edges: in a large search most
  // have none, and checking every edge around the operator was most of its time.
  void compute_non_facts(std::int32_t v, std::vector<std::int32_t>& out) {
    out.clear();
    parents_scratch_.clear();
    for (std::int32_t a : adj_[v])
      if (has_parent(static_cast<std::size_t>(v), static_cast<std::size_t>(a))) parents_scratch_.push_back(a);
    for (std::int32_t a : parents_scratch_) {
      bool collider = false;
      for (std::int32_t b : parents_scratch_)
        if (b != a && !adjacent(static_cast<std::size_t>(a), static_cast<std::size_t>(b))) {
          collider = true;
          break;
        }
      if (!collider) out.push_back(a);
    }
  }
  void refresh_facts(std::int32_t v) {
    if (bulk_edit_) return;  // refresh_all_facts() follows
    auto& list = non_facts_[v];
    for (std::int32_t a : list) --n_derived_[a];
    n_derived_[v] -= static_cast<std::int32_t>(list.size());
    compute_non_facts(v, list);
    for (std::int32_t a : list) ++n_derived_[a];
    n_derived_[v] += static_cast<std::int32_t>(list.size());
  }
  void refresh_all_facts() {
    std::fill(n_derived_.begin(), n_derived_.end(), 0);
    for (std::size_t v = 0; v < d_; ++v) {
      auto& list = non_facts_[v];
      compute_non_facts(static_cast<std::int32_t>(v), list);
      for (std::int32_t a : list) ++n_derived_[a];
      n_derived_[v] += static_cast<std::int32_t>(list.size());
    }
  }
  /// The edge a -> v is a fact: one edge of an unshielded collider a -> v <- b.
  bool fact(std::int32_t a, std::int32_t v) const {
    const auto& non = non_facts_[v];
    return std::find(non.begin(), non.end(), a) == non.end();
  }
  /// The kept lists and counts, saved around a from-scratch comparison (check_orientation mode).
  struct FactsState {
    std::vector<std::vector<std::int32_t>> non_facts;
    std::vector<std::int32_t> n_derived;
  };

  /// Queue every undirected edge incident to z for a rule check.
  void queue_node(std::int32_t z) {
    if (n_undirected_[z] == 0) return;  // most nodes of a large sparse search: skip the scan
    for (std::int32_t w : adj_[z])
      if (undirected(z, w)) {
        const auto key = static_cast<std::int64_t>(std::min(z, w)) * static_cast<std::int64_t>(d_) + std::max(z, w);
        if (queued_.insert(key).second) work_.emplace_back(std::min(z, w), std::max(z, w));
      }
  }
  /// Queue every undirected edge incident to u, v or a neighbour of either for a rule check.
  void queue_around(std::int32_t u, std::int32_t v) {
    for (std::int32_t a : {u, v}) {
      queue_node(a);
      for (std::int32_t w : adj_[a]) queue_node(w);
    }
  }

  /// Steps (1) and (2) above, from the operator's changed edges (already recorded, with their
  /// nodes in `seeds`).
  void reorient_from(const std::vector<std::int32_t>& seeds) {
    if (++stamp_ == 0) {
      std::fill(node_tainted_.begin(), node_tainted_.end(), 0u);
      std::fill(node_queued_.begin(), node_queued_.end(), 0u);
      std::fill(node_around_.begin(), node_around_.end(), 0u);
      stamp_ = 1;
    }
    queued_.clear();
    work_.clear();
    // (1) Undirect derived edges, transitively.
    std::vector<std::int32_t> stack;
    auto taint = [&](std::int32_t z) {
      if (node_tainted_[z] != stamp_) {
        node_tainted_[z] = stamp_;
        stack.push_back(z);
      }
    };
    for (std::int32_t z : seeds) {
      taint(z);
      for (std::int32_t w : adj_[z]) taint(w);
    }
    std::vector<std::pair<std::int32_t, std::int32_t>> loosened;
    while (!stack.empty()) {
      const std::int32_t z = stack.back();
      stack.pop_back();
      if (n_derived_[z] == 0) continue;  // every directed edge at z is a fact
      loosened.clear();
      for (std::int32_t w : adj_[z]) {
        if (directed(z, w) && !fact(z, w))
          loosened.emplace_back(z, w);
        else if (has_parent(z, w) && !fact(w, z))
          loosened.emplace_back(w, z);
      }
      for (auto [a, b] : loosened) {  // a -> b becomes a -- b; its dependants are around a and b
        record(a, b);
        set_mark(static_cast<std::size_t>(b), static_cast<std::size_t>(a), true);
        taint(a);
        taint(b);
        for (std::int32_t w : adj_[b]) taint(w);
      }
    }
    // (2) Meek's rules to closure over a worklist seeded around every change so far.
    // Before the worklist runs, queueing a node twice adds nothing: the changes share their nodes
    // (every Insert's changes meet at y), so visit each node and neighbour once.
    auto queue_once = [&](std::int32_t z) {
      if (node_queued_[z] != stamp_) {
        node_queued_[z] = stamp_;
        queue_node(z);
      }
    };
    for (std::size_t i = 0; i < changes_.size(); ++i) {
      const auto u = static_cast<std::int32_t>(changes_[i].first / static_cast<std::int64_t>(d_));
      const auto v = static_cast<std::int32_t>(changes_[i].first % static_cast<std::int64_t>(d_));
      for (std::int32_t a : {u, v}) {
        if (node_around_[a] == stamp_) continue;
        node_around_[a] = stamp_;
        queue_once(a);
        for (std::int32_t w : adj_[a]) queue_once(w);
      }
    }
    for (std::size_t head = 0; head < work_.size(); ++head) {
      const auto [a, b] = work_[head];
      queued_.erase(static_cast<std::int64_t>(a) * static_cast<std::int64_t>(d_) + b);
      if (!undirected(a, b)) continue;
      std::int32_t from = -1, to = -1;
      if (meek_says(a, b)) {
        from = a;
        to = b;
      } else if (meek_says(b, a)) {
        from = b;
        to = a;
      } else {
        continue;
      }
      record(from, to);
      set_mark(static_cast<std::size_t>(to), static_cast<std::size_t>(from), false);
      queue_around(from, to);
    }
  }

  /// Apply the operator and re-orient; afterwards changes_ lists (u * d + v with u < v, state
  /// before) every edge that may have changed (a superset, each state taken before its change).
  void restore(const std::vector<std::uint8_t>& pdag, const FactsState& facts) {
    E_ = pdag;
    recount_undirected();
    non_facts_ = facts.non_facts;
    n_derived_ = facts.n_derived;
  }

  /// check_orientation mode: the incremental re-orientation (E_) must equal `full` (the same class
  /// re-oriented from scratch), and every kept non-fact list must equal a fresh one.
  void check_reorientation(const std::vector<std::uint8_t>& full, const std::vector<std::uint8_t>& pdag,
                           const std::string& what) {
    if (full != E_) {
      std::string diff;
      for (std::size_t u = 0; u < d_; ++u)
        for (std::size_t v = u + 1; v < d_; ++v)
          if (full[u * d_ + v] != E_[u * d_ + v])
            diff += " " + std::to_string(u) + "-" + std::to_string(v) + ": full " + std::to_string(full[u * d_ + v]) +
                    " incremental " + std::to_string(E_[u * d_ + v]) + " pdag " + std::to_string(pdag[u * d_ + v]) +
                    ";";
      throw std::logic_error("GES: incremental re-orientation differs from the full rebuild (" + what + "):" + diff);
    }
    const FactsState kept{non_facts_, n_derived_};
    refresh_all_facts();
    for (std::size_t v = 0; v < d_; ++v) {
      auto was = kept.non_facts[v];
      auto fresh = non_facts_[v];
      std::sort(was.begin(), was.end());
      std::sort(fresh.begin(), fresh.end());
      if (was != fresh || kept.n_derived[v] != n_derived_[v])
        throw std::logic_error("GES: the kept non-collider parents are stale at node " + std::to_string(v) +
                               " after " + what);
    }
  }

  /// The class of the extension `dag` with a -> b reversed. Its v-structures are the extension's
  /// except those through a -> b, plus b -> a <- y for the parents y of a not adjacent to b; so the
  /// current CPDAG with those edges directed is that pattern plus edges derived in the old class,
  /// the situation after an Insert or a Delete, and the same incremental re-orientation applies
  /// (no d x d rebuild per reversal).
  void turn(const std::vector<std::uint8_t>& dag, std::int32_t a, std::int32_t b) {
    changes_.clear();
    recorded_.clear();
    std::vector<std::int32_t> seeds{a, b};
    record(a, b);
    set_mark(static_cast<std::size_t>(a), static_cast<std::size_t>(b), false);
    set_mark(static_cast<std::size_t>(b), static_cast<std::size_t>(a), true);
    for (std::int32_t y : adj_[a])
      if (y != b && dag[static_cast<std::size_t>(y) * d_ + a] && !adjacent(static_cast<std::size_t>(b), y)) {
        record(y, a);
        set_mark(static_cast<std::size_t>(a), static_cast<std::size_t>(y), false);
        set_mark(static_cast<std::size_t>(y), static_cast<std::size_t>(a), true);
        seeds.push_back(y);
      }
    steps_all_stale_ = true;
    finish_operator(
        seeds,
        [&] {  // the class of the reversed extension itself
          std::vector<std::uint8_t> reversed = dag;
          reversed[static_cast<std::size_t>(a) * d_ + b] = 0;
          reversed[static_cast<std::size_t>(b) * d_ + a] = 1;
          set_marks(reversed);
          rebuild();
        },
        [&] { return "reversal " + std::to_string(a) + " -> " + std::to_string(b); });
  }

  /// After an operator's edits, the new class: from scratch under knowledge (its orientations are
  /// global), else incrementally from `seeds`; in check_orientation mode also from scratch
  /// (`from_scratch` leaves that class in E_) and the two compared.
  template <class FromScratch, class Describe>
  void finish_operator(const std::vector<std::int32_t>& seeds, FromScratch from_scratch, Describe describe) {
    if (has_knowledge_) {
      rebuild();
      return;
    }
    if (check_orientation_) {
      const std::vector<std::uint8_t> pdag = E_;
      const FactsState facts{non_facts_, n_derived_};
      from_scratch();
      const std::vector<std::uint8_t> full = E_;
      // Back to the PDAG with the lists kept through the operator's edits: the comparison also
      // checks their upkeep.
      restore(pdag, facts);
      reorient_from(seeds);
      check_reorientation(full, pdag, describe());
      return;
    }
    reorient_from(seeds);
  }

  void apply(bool insert, const Candidate& op, std::int32_t y) {
    const std::int32_t x = op.x;
    changes_.clear();
    recorded_.clear();
    if (has_knowledge_ || check_orientation_) {
      // Knowledge orientations are global: rebuild from scratch, comparing every edge.
      for (const auto& [key, state] : snapshot())
        if (recorded_.insert(key).second) changes_.emplace_back(key, state);
    }
    std::vector<std::int32_t> seeds{x, y};
    seeds.insert(seeds.end(), op.set.begin(), op.set.end());
    record(x, y);
    if (insert) {
      set_mark(static_cast<std::size_t>(x), static_cast<std::size_t>(y), true);
      link(x, y);
      for (std::int32_t t : op.set) {
        record(t, y);
        set_mark(static_cast<std::size_t>(y), static_cast<std::size_t>(t), false);  // t -> y
      }
    } else {
      unlink(x, y);
      for (std::int32_t h : op.set) {
        record(y, h);
        record(x, h);
        if (undirected(y, h)) set_mark(static_cast<std::size_t>(h), static_cast<std::size_t>(y), false);  // y -> h
        if (undirected(x, h)) set_mark(static_cast<std::size_t>(h), static_cast<std::size_t>(x), false);  // x -> h
      }
    }
    finish_operator(
        seeds, [&] { rebuild(); },
        [&] { return std::string(insert ? "insert " : "delete ") + std::to_string(x) + " " + std::to_string(y); });
  }

  void phase(bool insert, const GESConfig& config, const GESProgress& progress, GESResult& result) {
    const char* name = insert ? "forward" : "backward";
    banned_.clear();
    best_.assign(d_, Best{});
    through_.assign(d_, {});
    best_version_.assign(d_, 0u);
    n_broken_.assign(d_, 0);
    listed_broken_.assign(d_, 0);
    broken_targets_.clear();
    std::vector<std::int32_t> dirty(d_);
    for (std::size_t i = 0; i < d_; ++i) dirty[i] = static_cast<std::int32_t>(i);
    std::vector<std::uint8_t> fresh(d_, 0), in_dirty(d_, 0);
    Scratch scratch(d_);
    std::int64_t applied = 0;
    auto last = std::chrono::steady_clock::now();
    while (config.max_iter < 0 || applied < config.max_iter) {
      if (interrupt_.poll()) break;
      evaluate(dirty, insert);
      std::fill(fresh.begin(), fresh.end(), 0);
      for (std::int32_t y : dirty) fresh[y] = 1;
      std::int32_t chosen = -1;
      for (;;) {
        chosen = -1;
        for (std::size_t y = 0; y < d_; ++y)
          if (best_[y].op.x >= 0 && (chosen < 0 || best_[y].op.delta > best_[chosen].op.delta))
            chosen = static_cast<std::int32_t>(y);
        const double bar = chosen < 0 ? 0.0 : std::max(0.0, best_[chosen].op.delta);
        // Inserts once blocked by a semi-directed path may be valid now: recheck any that could win.
        // Only an edge that lost a direction can unblock one: a blocked Insert whose path still
        // exists stays blocked.
        std::vector<std::int32_t> recheck;
        if (insert) {
          std::size_t kept = 0;
          for (const std::int32_t y : broken_targets_) {
            if (!fresh[y] && n_broken_[y] > 0)
              for (Blocked& b : best_[y].blocked) {
                if (b.delta < bar || !(b.delta > 0)) break;
                if (!b.broken) continue;
                if (!path_intact(b.path)) {
                  recheck.push_back(y);
                  break;
                }
                b.broken = false;  // its steps came back (a later loss flags it again)
                --n_broken_[y];
              }
            if (n_broken_[y] > 0)
              broken_targets_[kept++] = y;
            else
              listed_broken_[y] = 0;
          }
          broken_targets_.resize(kept);
          std::sort(recheck.begin(), recheck.end());
        }
        if (!recheck.empty()) {
          evaluate(recheck, insert);
          for (std::int32_t y : recheck) fresh[y] = 1;
          continue;
        }
        if (chosen < 0 || !(best_[chosen].op.delta > 0)) {
          chosen = -1;
          break;
        }
        if (insert) build_steps();
        if (insert && !fresh[chosen] &&
            !insert_valid(chosen, best_[chosen].op, neighbors_of(chosen), scratch)) {
          evaluate({chosen}, insert);
          fresh[chosen] = 1;
          continue;
        }
        break;
      }
      if (chosen < 0) break;
      const Candidate op = best_[chosen].op;
      const std::int32_t x = op.x, y = chosen;
      // Targets whose candidates can change: nodes with a changed incident edge and the nodes
      // whose NA sets or cliques involve the pair x, y (below).
      std::fill(in_dirty.begin(), in_dirty.end(), 0);
      dirty.clear();
      auto touch = [&](std::int32_t v) {
        if (!in_dirty[v]) {
          in_dirty[v] = 1;
          dirty.push_back(v);
        }
      };
      touch(x);
      touch(y);
      // A target v reads the pair x, y only through its undirected neighbours: Insert's and
      // Delete's NA sets are N(v) ∩ adj(w) for a neighbour w of v, and their clique tests look at
      // pairs inside N(v). So beyond the changed edges only v with x or y in N(v) can change (all
      // of x's and y's neighbours, in a dense backward phase, meant refactoring ~180 families of
      // dozens of parents per Delete).
      auto touch_around = [&](std::int32_t a) {
        for (std::int32_t v : adj_[a])
          if (undirected(a, v)) touch(v);
      };
      touch_around(x);
      touch_around(y);
      std::vector<std::uint8_t> before;
      if (has_knowledge_) before = E_;
      apply(insert, op, y);
      if (has_knowledge_ && !knowledge_consistent()) {
        // No DAG of the new class agrees with the knowledge (or with max_parents): undo the
        // operator, and leave the pair out of this phase's candidates.
        if (insert)
          unlink(x, y);
        else
          link(x, y);
        E_ = std::move(before);
        rebuild();
        if (banned_.empty()) banned_.assign(d_ * d_, 0);
        banned_[static_cast<std::size_t>(x) * d_ + static_cast<std::size_t>(y)] = 1;
        dirty.assign(1, y);
        continue;
      }
      for (const auto& [key, state] : changes_) {
        const auto u = static_cast<std::size_t>(key / static_cast<std::int64_t>(d_));
        const auto v = static_cast<std::size_t>(key % static_cast<std::int64_t>(d_));
        const std::uint8_t now = E_[u * d_ + v];
        if (insert && (state & 1) && !(now & 1)) step_lost(static_cast<std::int32_t>(u), static_cast<std::int32_t>(v));
        if (insert && (state & 2) && !(now & 2)) step_lost(static_cast<std::int32_t>(v), static_cast<std::int32_t>(u));
        if (now != state) {
          steps_stale(static_cast<std::int32_t>(u));
          steps_stale(static_cast<std::int32_t>(v));
          touch(static_cast<std::int32_t>(u));
          touch(static_cast<std::int32_t>(v));
          // A Delete's forbidden-orientation check reads the edges among y's neighbours.
          if (!insert && has_knowledge_) {
            for (std::int32_t w : adj_[u]) touch(w);
            for (std::int32_t w : adj_[v]) touch(w);
          }
        }
      }
      touch_around(x);
      touch_around(y);
      score_total_ += op.delta;
      ++applied;
      (insert ? result.n_insert : result.n_delete) += 1;
      result.history.push_back(GESStep{insert, false, x, y, op.set, op.delta, score_total_, n_edges_});
      const auto now = std::chrono::steady_clock::now();
      if (progress && now - last >= std::chrono::seconds(1)) {
        progress(name, applied, n_edges_, score_total_);
        last = now;
      }
    }
    interrupt_.rethrow_if_stopped();
    if (progress) progress(name, applied, n_edges_, score_total_);
  }

  DecomposableScore& score_;
  const SearchConstraints& c_;
  std::size_t d_;
  std::size_t n_samples_ = score_.n_samples();
  Interrupt& interrupt_;
  std::vector<std::uint8_t> E_;
  /// Under knowledge, the (x, y) pairs whose operator this phase undid (x * d + y); empty otherwise.
  std::vector<std::uint8_t> banned_;
  std::vector<std::vector<std::int32_t>> adj_;
  std::vector<Best> best_;
  std::vector<std::vector<PathRef>> through_;  // blocked paths by the tail node of each step
  std::vector<std::uint32_t> best_version_;
  // Targets with blocked Inserts flagged by step_lost (n_broken_ > 0; listed once, dropped lazily),
  // so that the phase's recheck visits those targets instead of every target after every operator.
  std::vector<std::int32_t> n_broken_;
  std::vector<std::int32_t> broken_targets_;
  std::vector<std::uint8_t> listed_broken_;
  int threads_ = 1;
  const GaussianBICScore* gaussian_ = nullptr;
  bool has_knowledge_ = false;
  std::vector<double> diag_;  // the covariance's diagonal (Gaussian BIC), read in sweep order
  std::vector<std::unique_ptr<Residuals>> residuals_ = std::vector<std::unique_ptr<Residuals>>(d_);
  std::atomic<std::size_t> residual_bytes_{0};
  BatchScorer batch_scores_;  // when set, Insert candidates are scored through it in batches
  bool check_orientation_ = false;
  // build_steps()'s rows, and the nodes whose rows are stale
  std::vector<std::vector<std::int32_t>> steps_, steps_into_;
  std::vector<std::uint8_t> row_stale_ = std::vector<std::uint8_t>(d_, 0);
  std::vector<std::int32_t> stale_rows_;
  bool steps_all_stale_ = true;  // compare every incremental re-orientation with rebuild() (tests)
  // Incremental re-orientation: the changed edges (key, state before) of the last operator, and
  // the per-operator marks and worklist.
  std::vector<std::pair<std::int64_t, std::uint8_t>> changes_;
  std::unordered_set<std::int64_t> recorded_, queued_;
  std::vector<std::pair<std::int32_t, std::int32_t>> work_;
  std::vector<std::uint32_t> node_tainted_ = std::vector<std::uint32_t>(d_, 0u);
  std::vector<std::uint32_t> node_queued_ = std::vector<std::uint32_t>(d_, 0u);
  std::vector<std::uint32_t> node_around_ = std::vector<std::uint32_t>(d_, 0u);
  std::vector<std::int32_t> n_undirected_ = std::vector<std::int32_t>(d_, 0);  // undirected edges per node
  // See compute_non_facts.
  std::vector<std::vector<std::int32_t>> non_facts_ = std::vector<std::vector<std::int32_t>>(d_);
  std::vector<std::int32_t> n_derived_ = std::vector<std::int32_t>(d_, 0);
  bool bulk_edit_ = false;
  std::vector<std::int32_t> parents_scratch_;
  std::uint32_t stamp_ = 0;
  std::int64_t n_edges_ = 0;
  std::int64_t n_evaluated_ = 0;
  double score_total_ = 0;
};

}  // namespace

GESResult ges_search(DecomposableScore& score, const SearchConstraints& constraints, const GESConfig& config,
                     Interrupt& interrupt, const GESProgress& progress) {
  if (constraints.d != score.n_nodes())
    throw std::invalid_argument("constraints are for " + std::to_string(constraints.d) + " nodes but the score has " +
                                std::to_string(score.n_nodes()));
  constraints.validate();
  GesSearch search(score, constraints, interrupt, config.batch_scores);
  return search.run(config, progress);
}

}  // namespace fastcrl
