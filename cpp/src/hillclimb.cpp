#include "fastcrl/hillclimb.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fastcrl/errors.hpp"

namespace fastcrl {

namespace {

/// Ties between moves and between climbs, relative to the sum of |local scores| (tie_tolerance).
/// The first of tied moves is taken; a tied graph or climb replaces the best so far, which over 40
/// seeds (d = 20, 50) ended at or above the true DAG's score as often as the rounding-driven choice
/// or more often, where keeping the first tied climb did less well at d = 50 (benchmarks/RESULTS.md).
constexpr double kTieRelative = 1e-9;

enum MoveKind : std::uint8_t { kAdd = 0, kDelete = 1, kReverse = 2 };

struct Move {
  MoveKind kind;
  std::int32_t i;  // the edge i -> j (for kReverse, the edge before reversal)
  std::int32_t j;
};

Move inverse(const Move& m) {
  switch (m.kind) {
    case kAdd:
      return {kDelete, m.i, m.j};
    case kDelete:
      return {kAdd, m.i, m.j};
    default:
      return {kReverse, m.j, m.i};
  }
}

/// splitmix64 (Steele, Lea & Flood 2014): tiny, and trivially reproduced in the Python reference.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

/// Recent moves whose inverses are forbidden. Memory O(length), not O(d^2): best_move asks only about
/// moves that beat the best so far, so the count lookups are rare.
class TabuList {
 public:
  explicit TabuList(std::size_t length) : length_(length) {}
  bool contains(MoveKind kind, std::size_t i, std::size_t j) const {
    return length_ != 0 && count_.count(key(kind, i, j)) != 0;
  }
  void push(const Move& m) {
    if (length_ == 0) return;
    recent_.push_back(m);
    ++count_[key(m.kind, static_cast<std::size_t>(m.i), static_cast<std::size_t>(m.j))];
    if (recent_.size() > length_) {
      const Move& old = recent_.front();
      auto it = count_.find(key(old.kind, static_cast<std::size_t>(old.i), static_cast<std::size_t>(old.j)));
      if (--it->second == 0) count_.erase(it);
      recent_.pop_front();
    }
  }
  void clear() {
    recent_.clear();
    count_.clear();
  }

 private:
  static std::uint64_t key(MoveKind kind, std::size_t i, std::size_t j) {
    return (static_cast<std::uint64_t>(kind) << 62) | (static_cast<std::uint64_t>(i) << 31) | j;
  }
  std::size_t length_;
  std::unordered_map<std::uint64_t, std::uint32_t> count_;
  std::deque<Move> recent_;
};

/// The current DAG with everything a move needs: parent counts, local scores, descendant bitsets and
/// the delta table delta_[i * d + j] = local(j, pa(j) toggled at i) - local(j, pa(j)).
class ClimbState {
 public:
  ClimbState(DecomposableScore& score, const SearchConstraints& c, Interrupt& interrupt, BatchScorer batch_scores)
      : batch_scores_(std::move(batch_scores)),
        score_(score),
        c_(c),
        interrupt_(interrupt),
        d_(score.n_nodes()),
        words_((d_ + 63) / 64),
        limit_(c.parent_limit()),
        adj_(d_ * d_, 0),
        n_parents_(d_, 0),
        local_(d_, 0.0),
        delta_(d_ * d_, kInvalid),
        desc_(d_ * words_, 0),
        dirty_(d_, 1) {}

  const std::vector<std::uint8_t>& adjacency() const { return adj_; }

  /// Replace the graph (assumed valid); only columns whose parent sets change are rescored.
  void set_graph(const std::vector<std::uint8_t>& A) {
    for (std::size_t j = 0; j < d_; ++j) {
      std::size_t count = 0;
      for (std::size_t i = 0; i < d_; ++i) {
        if (adj_[i * d_ + j] != A[i * d_ + j]) dirty_[j] = 1;
        count += A[i * d_ + j] != 0;
      }
      n_parents_[j] = count;
    }
    adj_ = A;
    rebuild_descendants();
    refresh();
  }

  double total_score() const {
    double s = 0.0;
    for (double v : local_) s += v;
    return s;
  }

  /// Score differences at or below this are ties: Markov-equivalent moves and graphs score equal
  /// only up to rounding, which differs between the CPU and GPU scorers (or covariances computed
  /// in another order); without a tolerance the rounding picks among them and the climbs diverge.
  double tie_tolerance() const {
    double magnitude = 0.0;
    for (double v : local_) magnitude += std::fabs(v);
    return kTieRelative * (1.0 + magnitude);
  }

  bool reaches(std::size_t a, std::size_t b) const { return (desc_[a * words_ + b / 64] >> (b % 64)) & 1U; }

  /// Whether i -> j (present) can be reversed without a cycle: no other directed path from i to j.
  bool reversible(std::size_t i, std::size_t j) const {
    for (std::size_t c = 0; c < d_; ++c)
      if (c != j && adj_[i * d_ + c] && reaches(c, j)) return false;
    return true;
  }

  bool can_add_parent(std::size_t i, std::size_t j) const {
    return !c_.is_forbidden(i, j) && n_parents_[j] < limit_;
  }

  /// The first non-tabu legal move with the largest delta (see hill_climb's enumeration order); a
  /// later move replaces it only when better by more than `tie`.
  bool best_move(const TabuList& tabu, double tie, Move& best, double& best_delta) const {
    bool found = false;
    best_delta = -std::numeric_limits<double>::infinity();
    constexpr std::size_t kBlock = 16;
    for (std::size_t i = 0; i < d_; ++i) {
      const double* drow = &delta_[i * d_];
      const std::uint8_t* arow = &adj_[i * d_];
      for (std::size_t j0 = 0; j0 < d_; j0 += kBlock) {
        const std::size_t j1 = std::min(d_, j0 + kBlock);
        if (found) {
          // Skip a block in which no addition or deletion can beat the best so far and no edge
          // (hence no reversal) exists: one vectorised pass instead of the legality checks per pair.
          bool any = false;
          for (std::size_t j = j0; j < j1; ++j) any |= (drow[j] > best_delta) | (arow[j] != 0);
          if (!any) continue;
        }
        for (std::size_t j = j0; j < j1; ++j) {
          if (i == j) continue;
          if (arow[j]) {
            if (c_.is_required(i, j)) continue;
            const double del = drow[j];
            if (del == kInvalid) continue;
            if ((!found || del > best_delta + tie) && !tabu.contains(kDelete, i, j)) {
              found = true;
              best_delta = del;
              best = {kDelete, static_cast<std::int32_t>(i), static_cast<std::int32_t>(j)};
            }
            if (!can_add_parent(j, i)) continue;
            const double rev = del + delta_[j * d_ + i];
            if (rev == kInvalid) continue;  // the reversed family is undefined
            if ((!found || rev > best_delta + tie) && !tabu.contains(kReverse, i, j) && reversible(i, j)) {
              found = true;
              best_delta = rev;
              best = {kReverse, static_cast<std::int32_t>(i), static_cast<std::int32_t>(j)};
            }
          } else {
            const double add = drow[j];
            if (add == kInvalid) continue;  // undefined family, or not a legal addition
            if ((!found || add > best_delta + tie) && !adj_[j * d_ + i] && can_add_parent(i, j) &&
                !tabu.contains(kAdd, i, j) && !reaches(j, i)) {
              found = true;
              best_delta = add;
              best = {kAdd, static_cast<std::int32_t>(i), static_cast<std::int32_t>(j)};
            }
          }
        }
      }
    }
    return found;
  }

  /// Calls f(move) for every legal move, in enumeration order (tabu ignored): the candidates of a
  /// random perturbation. Visiting instead of collecting keeps memory O(1) at thousands of nodes.
  template <class F>
  void for_each_legal_move(F&& f) const {
    for (std::size_t i = 0; i < d_; ++i) {
      for (std::size_t j = 0; j < d_; ++j) {
        if (i == j) continue;
        const auto ii = static_cast<std::int32_t>(i), jj = static_cast<std::int32_t>(j);
        if (adj_[i * d_ + j]) {
          if (c_.is_required(i, j)) continue;
          f(Move{kDelete, ii, jj});
          if (can_add_parent(j, i) && reversible(i, j)) f(Move{kReverse, ii, jj});
        } else if (!adj_[j * d_ + i] && can_add_parent(i, j) && !reaches(j, i)) {
          f(Move{kAdd, ii, jj});
        }
      }
    }
  }

  /// Whether the family a move enlarges keeps a defined score, as the searches count it
  /// (for_search): a random perturbation must not leave the climb at a graph it cannot score.
  bool keeps_scores_defined(const Move& m) {
    if (m.kind == kDelete) return true;
    const auto child = static_cast<std::size_t>(m.kind == kAdd ? m.j : m.i);
    const auto gained = static_cast<std::size_t>(m.kind == kAdd ? m.i : m.j);
    std::vector<std::int64_t> parents;
    for (std::size_t p = 0; p < d_; ++p)
      if (adj_[p * d_ + child] || p == gained) parents.push_back(static_cast<std::int64_t>(p));
    try {
      const double s = score_.local_score(static_cast<std::int64_t>(child), parents.data(), parents.size());
      return !std::isnan(score_.for_search(static_cast<std::int32_t>(child), parents.size(), s));
    } catch (const NumericalError&) {
      return false;
    }
  }

  /// Change the graph and the descendant sets; the columns touched are rescored by refresh().
  void apply(const Move& m) {
    const auto i = static_cast<std::size_t>(m.i), j = static_cast<std::size_t>(m.j);
    switch (m.kind) {
      case kAdd:
        add_edge(i, j);
        break;
      case kDelete:
        delete_edge(i, j);
        break;
      case kReverse:
        delete_edge(i, j);
        add_edge(j, i);
        break;
    }
  }

  /// Recompute the local score and delta column of every dirty node, in parallel batches of up to
  /// kBatchItems parent sets (a bound on the batch buffers when thousands of columns are dirty).
  void refresh() {
    std::vector<std::size_t> columns;
    nodes_.clear();
    offsets_.assign(1, 0);
    parents_.clear();
    for (std::size_t j = 0; j < d_; ++j) {
      if (!dirty_[j]) continue;
      columns.push_back(j);
      // Item 0 of a column: the current parent set; then one item per toggled candidate.
      column_parents_.clear();
      for (std::size_t p = 0; p < d_; ++p)
        if (adj_[p * d_ + j]) column_parents_.push_back(static_cast<std::int64_t>(p));
      push_item(j, d_);
      for (std::size_t i = 0; i < d_; ++i)
        if (i != j && toggle_needed(i, j)) push_item(j, i);
      if (nodes_.size() >= kBatchItems) flush(columns);
    }
    flush(columns);
  }

 private:
  static constexpr std::size_t kBatchItems = std::size_t{1} << 18;

  void flush(std::vector<std::size_t>& columns) {
    if (columns.empty()) return;
    values_.resize(nodes_.size());
    if (batch_scores_)
      batch_scores_(nodes_, offsets_, parents_, values_);
    else
      score_.local_scores(nodes_.data(), offsets_.data(), parents_.data(), nodes_.size(), values_.data(), interrupt_,
                          /*undefined_as_nan=*/true);
    std::size_t b = 0;
    for (std::size_t j : columns) {
      // Item 0, the current family, must be defined (it may come from the start graph or required
      // edges); an undefined candidate (collinear, or too near an exact fit: for_search) is no move.
      if (std::isnan(values_[b])) {
        std::string set;
        for (auto p = offsets_[b]; p < offsets_[b + 1]; ++p)
          set += (set.empty() ? "" : ", ") + std::to_string(parents_[static_cast<std::size_t>(p)]);
        throw NumericalError("local score of node " + std::to_string(j) + " given parents {" + set +
                             "} is undefined (collinear parents, or a node that is a function of them)");
      }
      local_[j] = values_[b++];
      for (std::size_t i = 0; i < d_; ++i) {
        if (i == j) continue;
        if (!toggle_needed(i, j)) {
          delta_[i * d_ + j] = kInvalid;
          continue;
        }
        // An addition enlarges the family: it must clear the searches' floor (for_search); a
        // deletion leaves a subset of a defined family.
        const auto k = static_cast<std::size_t>(offsets_[b + 1] - offsets_[b]);
        const double value = values_[b++];
        if (k == 1 && !adj_[i * d_ + j] && std::isnan(value))  // j has no parents yet, as GES checks
          throw_single_parent_undefined(static_cast<std::int32_t>(j), static_cast<std::int32_t>(i));
        const double toggled = adj_[i * d_ + j] ? value : score_.for_search(static_cast<std::int32_t>(j), k, value);
        delta_[i * d_ + j] = std::isnan(toggled) ? kInvalid : toggled - local_[j];
      }
      dirty_[j] = 0;
    }
    columns.clear();
    nodes_.clear();
    offsets_.assign(1, 0);
    parents_.clear();
  }

  static constexpr double kInvalid = -std::numeric_limits<double>::infinity();

  // A delta is worth computing when its move (or a reversal that uses it) can be legal.
  bool toggle_needed(std::size_t i, std::size_t j) const {
    return adj_[i * d_ + j] ? !c_.is_required(i, j) : can_add_parent(i, j);
  }

  // Parent set of j (column_parents_, ascending) with i toggled (i == d_: unchanged), appended as one
  // batch item in ascending order; O(|pa(j)|), not O(d).
  void push_item(std::size_t j, std::size_t toggled) {
    nodes_.push_back(static_cast<std::int64_t>(j));
    const auto t = static_cast<std::int64_t>(toggled);
    bool placed = toggled == d_;
    for (std::int64_t p : column_parents_) {
      if (p == t) {
        placed = true;  // toggled off
        continue;
      }
      if (!placed && t < p) {
        parents_.push_back(t);
        placed = true;
      }
      parents_.push_back(p);
    }
    if (!placed) parents_.push_back(t);
    offsets_.push_back(static_cast<std::int64_t>(parents_.size()));
  }

  void add_edge(std::size_t i, std::size_t j) {
    adj_[i * d_ + j] = 1;
    ++n_parents_[j];
    dirty_[j] = 1;
    // Every node that reaches i (and i itself) now reaches j and all of j's descendants.
    const std::uint64_t* dj = &desc_[j * words_];
    for (std::size_t a = 0; a < d_; ++a) {
      if (a != i && !reaches(a, i)) continue;
      std::uint64_t* da = &desc_[a * words_];
      for (std::size_t w = 0; w < words_; ++w) da[w] |= dj[w];
      da[j / 64] |= std::uint64_t{1} << (j % 64);
    }
  }

  void delete_edge(std::size_t i, std::size_t j) {
    adj_[i * d_ + j] = 0;
    --n_parents_[j];
    dirty_[j] = 1;
    // Only i and its ancestors can lose descendants. An ancestor's old descendant set strictly
    // contains that of any node it reaches, so sorting by old set size puts descendants first.
    std::vector<std::size_t> affected;
    for (std::size_t a = 0; a < d_; ++a)
      if (a == i || reaches(a, i)) affected.push_back(a);
    std::vector<std::size_t> size(d_, 0);
    for (std::size_t a : affected)
      for (std::size_t w = 0; w < words_; ++w) size[a] += static_cast<std::size_t>(__builtin_popcountll(desc_[a * words_ + w]));
    std::stable_sort(affected.begin(), affected.end(), [&](std::size_t a, std::size_t b) { return size[a] < size[b]; });
    for (std::size_t a : affected) recompute_descendants(a);
  }

  void recompute_descendants(std::size_t a) {
    std::uint64_t* da = &desc_[a * words_];
    std::fill(da, da + words_, 0);
    for (std::size_t c = 0; c < d_; ++c) {
      if (!adj_[a * d_ + c]) continue;
      const std::uint64_t* dc = &desc_[c * words_];
      for (std::size_t w = 0; w < words_; ++w) da[w] |= dc[w];
      da[c / 64] |= std::uint64_t{1} << (c % 64);
    }
  }

  void rebuild_descendants() {
    // Kahn's order, then descendants children-first (reverse topological order).
    std::vector<std::size_t> indegree(n_parents_.begin(), n_parents_.end()), order, stack;
    order.reserve(d_);
    for (std::size_t v = 0; v < d_; ++v)
      if (indegree[v] == 0) stack.push_back(v);
    while (!stack.empty()) {
      const std::size_t v = stack.back();
      stack.pop_back();
      order.push_back(v);
      for (std::size_t c = 0; c < d_; ++c)
        if (adj_[v * d_ + c] && --indegree[c] == 0) stack.push_back(c);
    }
    if (order.size() != d_) throw std::invalid_argument("the graph has a directed cycle");
    for (auto it = order.rbegin(); it != order.rend(); ++it) recompute_descendants(*it);
  }

  BatchScorer batch_scores_;  // when set, refresh() scores through it (the GPU)
  DecomposableScore& score_;
  const SearchConstraints& c_;
  Interrupt& interrupt_;
  std::size_t d_;
  std::size_t words_;
  std::size_t limit_;
  std::vector<std::uint8_t> adj_;
  std::vector<std::size_t> n_parents_;
  std::vector<double> local_;
  std::vector<double> delta_;
  std::vector<std::uint64_t> desc_;
  std::vector<std::uint8_t> dirty_;
  // Batch buffers of refresh(), kept to avoid reallocating every iteration.
  std::vector<std::int64_t> nodes_, offsets_, parents_, column_parents_;
  std::vector<double> values_;
};

/// A random legal move: first a kind (add, delete or reverse) uniformly among the kinds with a legal
/// move, then a move of that kind uniformly. Drawing moves uniformly would nearly always add an edge
/// (there are O(d^2) additions but only O(edges) deletions and reversals), which the next climb just
/// undoes. Returns false when no move is legal.
bool random_move(const ClimbState& state, SplitMix64& rng, Move& out) {
  std::size_t count[3] = {0, 0, 0};
  state.for_each_legal_move([&](const Move& m) { ++count[m.kind]; });
  std::size_t kinds[3], n_kinds = 0;
  for (std::size_t k = 0; k < 3; ++k)
    if (count[k]) kinds[n_kinds++] = k;
  if (n_kinds == 0) return false;
  const std::size_t kind = kinds[rng.next() % n_kinds];
  std::size_t pick = rng.next() % count[kind];
  bool chosen = false;
  state.for_each_legal_move([&](const Move& m) {
    if (!chosen && m.kind == kind && pick-- == 0) {
      out = m;
      chosen = true;
    }
  });
  return chosen;
}

void check_start(const std::vector<std::uint8_t>& A, std::size_t d, const SearchConstraints& c) {
  const std::size_t limit = c.parent_limit();
  for (std::size_t j = 0; j < d; ++j) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < d; ++i) {
      const bool edge = A[i * d + j] != 0;
      if (edge && i == j) throw std::invalid_argument("start graph has a self-loop at node " + std::to_string(i));
      if (edge && c.is_forbidden(i, j))
        throw std::invalid_argument("start graph contains the forbidden edge " + std::to_string(i) + " -> " +
                                    std::to_string(j));
      if (!edge && c.is_required(i, j))
        throw std::invalid_argument("start graph lacks the required edge " + std::to_string(i) + " -> " +
                                    std::to_string(j));
      count += edge;
    }
    if (count > limit)
      throw std::invalid_argument("node " + std::to_string(j) + " has " + std::to_string(count) +
                                  " parents in the start graph, more than max_parents = " + std::to_string(limit));
  }
}

}  // namespace

HillClimbResult hill_climb(DecomposableScore& score, const SearchConstraints& constraints, const std::uint8_t* start,
                           const HillClimbConfig& config, Interrupt& interrupt, const HillClimbProgress& progress) {
  const std::size_t d = score.n_nodes();
  if (constraints.d != d)
    throw std::invalid_argument("constraints are for " + std::to_string(constraints.d) + " nodes but the score has " +
                                std::to_string(d));
  constraints.validate();
  if (config.max_iter < 0) throw std::invalid_argument("max_iter must be >= 0");
  if (!(config.epsilon >= 0.0)) throw std::invalid_argument("epsilon must be >= 0");
  if (config.tabu_length < 0 || config.tabu_patience < 0 || config.restarts < 0 || config.perturb < 0)
    throw std::invalid_argument("tabu_length, tabu_patience, restarts and perturb must be >= 0");

  std::vector<std::uint8_t> A(d * d, 0);
  if (start) {
    for (std::size_t k = 0; k < d * d; ++k) A[k] = start[k] != 0;
  } else {
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) A[i * d + j] = constraints.is_required(i, j);
  }
  check_start(A, d, constraints);

  ClimbState state(score, constraints, interrupt, config.batch_scores);
  state.set_graph(A);  // throws on a cycle
  HillClimbResult result;
  result.history.push_back(state.total_score());
  std::vector<std::uint8_t> best = state.adjacency();
  double best_score = state.total_score();
  double best_max = best_score;  // the highest climb score (best_score is within a tie of it)

  TabuList tabu(static_cast<std::size_t>(config.tabu_length));
  SplitMix64 rng(config.seed);
  for (std::int64_t climb = 0; climb <= config.restarts; ++climb) {
    if (climb > 0) {
      state.set_graph(best);
      for (std::int64_t p = 0; p < config.perturb; ++p) {
        Move move{};
        if (!random_move(state, rng, move)) break;
        if (state.keeps_scores_defined(move)) state.apply(move);
      }
      state.refresh();
    }
    tabu.clear();
    std::vector<std::uint8_t> climb_best = state.adjacency();
    double climb_best_score = state.total_score();
    double climb_max = climb_best_score;  // the highest score of the climb (climb_best is within a tie of it)
    bool at_best = true;
    std::int64_t stall = 0;
    for (std::int64_t it = 0; it < config.max_iter; ++it) {
      if (interrupt.poll()) interrupt.rethrow_if_stopped();
      Move move{};
      double delta = 0.0;
      const double tie = state.tie_tolerance();
      if (!state.best_move(tabu, tie, move, delta)) break;
      if (!(delta > config.epsilon) && (config.tabu_length == 0 || stall >= config.tabu_patience)) break;
      state.apply(move);
      state.refresh();
      tabu.push(inverse(move));
      ++result.n_iter;
      const double s = state.total_score();
      result.history.push_back(s);
      if (s >= climb_max - tie) {  // a tie goes to the newer graph, whatever the rounding
        stall = s > climb_best_score + config.epsilon ? 0 : stall + 1;
        climb_best_score = s;
        climb_max = std::max(climb_max, s);
        climb_best = state.adjacency();
        at_best = true;
      } else {
        ++stall;
        at_best = false;
      }
    }
    if (!at_best) state.set_graph(climb_best);
    result.climb_scores.push_back(climb_best_score);
    // A climb that ties the best so far replaces it: the next perturbations start from the newer of
    // two equally good graphs (deterministically, not by rounding).
    if (climb == 0 || climb_best_score >= best_max - state.tie_tolerance()) {
      best_score = climb_best_score;
      best_max = climb == 0 ? climb_best_score : std::max(best_max, climb_best_score);
      best = climb_best;
    }
    if (progress) progress(climb, result.n_iter, climb_best_score, best_score);
  }
  interrupt.rethrow_if_stopped();
  result.adjacency = best;
  result.score = best_score;
  return result;
}

}  // namespace fastcrl
