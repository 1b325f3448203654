#include "fastcrl/graph.hpp"

#include <omp.h>

#include <cstring>
#include <deque>
#include <functional>
#include <queue>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fastcrl {

namespace {

using u64 = std::uint64_t;

// A d x d bit matrix, one row of ceil(d/64) words per node. Row operations are word-parallel, which
// makes the rule premises ("some parent of x not adjacent to y") O(d/64) instead of O(d).
class BitMatrix {
 public:
  explicit BitMatrix(std::size_t d) : w_((d + 63) / 64), bits_(d * w_, 0) {}
  std::size_t words() const { return w_; }
  u64* row(std::size_t i) { return bits_.data() + i * w_; }
  const u64* row(std::size_t i) const { return bits_.data() + i * w_; }
  bool test(std::size_t i, std::size_t j) const { return (row(i)[j >> 6] >> (j & 63)) & 1U; }
  void set(std::size_t i, std::size_t j) { row(i)[j >> 6] |= u64{1} << (j & 63); }
  void reset(std::size_t i, std::size_t j) { row(i)[j >> 6] &= ~(u64{1} << (j & 63)); }

 private:
  std::size_t w_;
  std::vector<u64> bits_;
};

template <class F>
void for_each_bit(const u64* row, std::size_t words, F&& f) {
  for (std::size_t w = 0; w < words; ++w) {
    u64 bits = row[w];
    while (bits) {
      f(w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits)));
      bits &= bits - 1;
    }
  }
}

// Calls f(j) for every j set in (a & b), in increasing order.
template <class F>
void for_each_bit_and(const u64* a, const u64* b, std::size_t words, F&& f) {
  for (std::size_t w = 0; w < words; ++w) {
    u64 bits = a[w] & b[w];
    while (bits) {
      f(w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits)));
      bits &= bits - 1;
    }
  }
}

// Calls f(j) for every nonzero row[j], skipping 8 zero bytes at a time: adjacency rows of sparse
// graphs are almost all zeros, and the O(d^2) scans dominate the run time for d in the thousands.
template <class F>
void for_each_nonzero(const std::uint8_t* row, std::size_t d, F&& f) {
  std::size_t j = 0;
  for (; j + 8 <= d; j += 8) {
    u64 word;
    std::memcpy(&word, row + j, 8);
    if (!word) continue;
    for (std::size_t k = j; k < j + 8; ++k)
      if (row[k]) f(k);
  }
  for (; j < d; ++j)
    if (row[j]) f(j);
}

std::string cycle_text(const std::vector<std::int64_t>& cycle) {
  std::string s;
  for (auto v : cycle) s += std::to_string(v) + " -> ";
  return s + std::to_string(cycle.front());
}

void require_zero_diagonal(const std::uint8_t* A, std::size_t d, const char* what) {
  for (std::size_t i = 0; i < d; ++i)
    if (A[i * d + i])
      throw std::invalid_argument(std::string(what) + " has a self-loop at node " + std::to_string(i));
}

// Orientation state of a PDAG for Meek's rules. The skeleton never changes, only edge marks, so
// `adj` is fixed and an orientation moves one pair from `und` to `out`/`in`.
struct PdagBits {
  explicit PdagBits(const std::uint8_t* P, std::size_t d)
      : d(d), adj(d), und(d), out(d), in(d), n_in(d, 0), n_out(d, 0) {
    for (std::size_t i = 0; i < d; ++i)
      for_each_nonzero(P + i * d, d, [&](std::size_t j) {
        adj.set(i, j);
        adj.set(j, i);
        if (P[j * d + i]) {
          und.set(i, j);
        } else {
          out.set(i, j);
          in.set(j, i);
          ++n_out[i];
          ++n_in[j];
        }
      });
  }
  std::size_t d;
  BitMatrix adj, und, out, in;
  // Directed in/out degrees: rules whose premises need a directed edge at x or y are skipped in
  // O(1) where there is none (an all-undirected region, e.g. a large clique, costs nothing).
  std::vector<std::size_t> n_in, n_out;
};

class Meek {
 public:
  Meek(std::uint8_t* P, std::size_t d) : P_(P), d_(d), g_(P, d), queued_(d), w_(g_.adj.words()) {}

  std::size_t run(Interrupt& interrupt) {
    for (std::size_t x = 0; x < d_; ++x)
      for_each_bit(g_.und.row(x), w_, [&](std::size_t y) {
        if (x < y) push(x, y);
      });
    std::size_t oriented = 0, steps = 0;
    while (!queue_.empty()) {
      if ((++steps & 1023U) == 0 && interrupt.poll()) break;
      const auto [x, y] = queue_.front();
      queue_.pop_front();
      queued_.reset(x, y);
      if (!g_.und.test(x, y)) continue;
      if (implied(x, y)) {
        orient(x, y);
        ++oriented;
      } else if (implied(y, x)) {
        orient(y, x);
        ++oriented;
      }
    }
    interrupt.rethrow_if_stopped();
    return oriented;
  }

 private:
  bool any_and_not(const u64* a, const u64* b, std::size_t skip) const {
    for (std::size_t w = 0; w < w_; ++w) {
      u64 bits = a[w] & ~b[w];
      if (w == (skip >> 6)) bits &= ~(u64{1} << (skip & 63));
      if (bits) return true;
    }
    return false;
  }

  // Does some rule orient the undirected edge x -- y as x -> y?
  bool implied(std::size_t x, std::size_t y) const {
    const std::size_t W = w_;
    const u64 *in_x = g_.in.row(x), *out_x = g_.out.row(x), *und_x = g_.und.row(x);
    const u64 *in_y = g_.in.row(y), *adj_y = g_.adj.row(y), *adj_x = g_.adj.row(x);
    // R1: c -> x, c not adjacent to y.
    if (g_.n_in[x] && any_and_not(in_x, adj_y, y)) return true;
    // R3 and R4 need a directed edge into y, and so does R2.
    if (g_.n_in[y] == 0) return false;
    // R2: x -> c -> y.
    if (g_.n_out[x])
      for (std::size_t w = 0; w < W; ++w)
        if (out_x[w] & in_y[w]) return true;
    // R3: x -- c -> y and x -- e -> y with c, e not adjacent.
    cand_.assign(W, 0);
    std::size_t count = 0;
    for (std::size_t w = 0; w < W; ++w) {
      cand_[w] = und_x[w] & in_y[w];
      count += static_cast<std::size_t>(__builtin_popcountll(cand_[w]));
    }
    if (count >= 2) {
      bool found = false;
      for_each_bit(cand_.data(), W, [&](std::size_t c) {
        if (!found && any_and_not(cand_.data(), g_.adj.row(c), c)) found = true;
      });
      if (found) return true;
    }
    // R4: x -- k -> l -> y with x adjacent to l and k not adjacent to y.
    bool found = false;
    for_each_bit_and(in_y, adj_x, W, [&](std::size_t l) {
      if (found) return;
      const u64* in_l = g_.in.row(l);
      for (std::size_t w = 0; w < W && !found; ++w)
        if (in_l[w] & und_x[w] & ~adj_y[w]) found = true;
    });
    return found;
  }

  void push(std::size_t a, std::size_t b) {
    if (a > b) std::swap(a, b);
    if (queued_.test(a, b)) return;
    queued_.set(a, b);
    queue_.emplace_back(a, b);
  }

  void orient(std::size_t a, std::size_t b) {
    P_[b * d_ + a] = 0;
    g_.und.reset(a, b);
    g_.und.reset(b, a);
    g_.out.set(a, b);
    g_.in.set(b, a);
    ++g_.n_out[a];
    ++g_.n_in[b];
    // a -> b can be a premise of a rule for an undirected edge at a or at b (R1–R4 with the edge
    // next to x or y) ...
    for_each_bit(g_.und.row(a), w_, [&](std::size_t c) { push(a, c); });
    for_each_bit(g_.und.row(b), w_, [&](std::size_t c) { push(b, c); });
    // ... or the k -> l of R4 for an edge x -- y with x -- a, x adjacent to b, and b -> y.
    for_each_bit_and(g_.und.row(a), g_.adj.row(b), w_, [&](std::size_t x) {
      for_each_bit_and(g_.und.row(x), g_.out.row(b), w_, [&](std::size_t y) { push(x, y); });
    });
  }

  std::uint8_t* P_;
  std::size_t d_;
  PdagBits g_;
  BitMatrix queued_;  // upper triangle: pair (a < b) is in queue_
  std::size_t w_;
  std::deque<std::pair<std::size_t, std::size_t>> queue_;
  mutable std::vector<u64> cand_;
};

}  // namespace

std::size_t topological_sort(const std::uint8_t* A, std::size_t d, std::int64_t* order, Interrupt& interrupt) {
  std::vector<std::size_t> indegree(d, 0);
  for (std::size_t i = 0; i < d; ++i) for_each_nonzero(A + i * d, d, [&](std::size_t j) { ++indegree[j]; });
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
  for (std::size_t j = 0; j < d; ++j)
    if (indegree[j] == 0) ready.push(j);
  std::size_t k = 0;
  while (!ready.empty()) {
    if ((k & 255U) == 0 && interrupt.poll()) break;
    const std::size_t u = ready.top();
    ready.pop();
    order[k++] = static_cast<std::int64_t>(u);
    for_each_nonzero(A + u * d, d, [&](std::size_t j) {
      if (--indegree[j] == 0) ready.push(j);
    });
  }
  interrupt.rethrow_if_stopped();
  return k;
}

std::vector<std::int64_t> find_cycle(const std::uint8_t* A, std::size_t d, bool directed_only,
                                     Interrupt& interrupt) {
  // The first arc u -> j at or after column j whose head is not finished; d if there is none.
  auto next_arc = [&](std::size_t u, std::size_t j, const std::vector<std::uint8_t>& colour) {
    const std::uint8_t* row = A + u * d;
    while (j < d) {
      if ((j & 7) == 0 && j + 8 <= d) {
        u64 word;
        std::memcpy(&word, row + j, 8);
        if (!word) {
          j += 8;
          continue;
        }
      }
      if (row[j] && colour[j] != 2 && !(directed_only && j != u && A[j * d + u])) return j;
      ++j;
    }
    return d;
  };
  // Iterative DFS; colour 1 = on the current path, 2 = finished. `next[u]` resumes u's row scan, so
  // the whole search reads each matrix entry once.
  std::vector<std::uint8_t> colour(d, 0);
  std::vector<std::size_t> next(d, 0), path;
  for (std::size_t root = 0; root < d; ++root) {
    if (colour[root]) continue;
    if (interrupt.poll()) break;
    colour[root] = 1;
    path.push_back(root);
    while (!path.empty()) {
      const std::size_t u = path.back();
      std::size_t& j = next[u];
      j = next_arc(u, j, colour);
      if (j == d) {
        colour[u] = 2;
        path.pop_back();
        continue;
      }
      const std::size_t v = j++;
      if (colour[v] == 1) {
        std::vector<std::int64_t> cycle;
        std::size_t start = path.size();
        while (path[start - 1] != v) --start;
        for (std::size_t t = start - 1; t < path.size(); ++t) cycle.push_back(static_cast<std::int64_t>(path[t]));
        return cycle;
      }
      colour[v] = 1;
      path.push_back(v);
    }
  }
  interrupt.rethrow_if_stopped();
  return {};
}

void transitive_closure(const std::uint8_t* A, std::size_t d, bool reflexive, std::uint8_t* R, Interrupt& interrupt) {
  BitMatrix out(d);
  std::vector<std::vector<std::uint32_t>> children(d);
  for (std::size_t i = 0; i < d; ++i)
    for_each_nonzero(A + i * d, d, [&](std::size_t j) {
      out.set(i, j);
      children[i].push_back(static_cast<std::uint32_t>(j));
    });
  const std::size_t W = out.words();
  // Scratch per thread, allocated up front so nothing in the parallel loop allocates or throws; a
  // search pushes each node at most once, so a stack of d entries suffices.
  const int nthreads = omp_get_max_threads();
  std::vector<std::vector<u64>> reached_of(static_cast<std::size_t>(nthreads), std::vector<u64>(W));
  std::vector<std::vector<std::size_t>> stack_of(static_cast<std::size_t>(nthreads), std::vector<std::size_t>(d + 1));
#pragma omp parallel for schedule(dynamic, 8) num_threads(nthreads)
  for (std::ptrdiff_t s = 0; s < static_cast<std::ptrdiff_t>(d); ++s) {
    if (interrupt.poll()) continue;
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    u64* reached = reached_of[t].data();
    std::size_t* stack = stack_of[t].data();
    std::fill(reached, reached + W, 0);
    std::size_t top = 0;
    stack[top++] = static_cast<std::size_t>(s);
    while (top > 0) {
      const std::size_t u = stack[--top];
      // A short child list is cheaper to walk than a row of d/64 words, and vice versa.
      if (children[u].size() <= W) {
        for (const std::uint32_t v : children[u]) {
          u64& word = reached[v >> 6];
          const u64 bit = u64{1} << (v & 63);
          if (!(word & bit)) {
            word |= bit;
            stack[top++] = v;
          }
        }
      } else {
        const u64* row = out.row(u);
        for (std::size_t w = 0; w < W; ++w) {
          u64 fresh = row[w] & ~reached[w];
          reached[w] |= fresh;
          while (fresh) {
            stack[top++] = w * 64 + static_cast<std::size_t>(__builtin_ctzll(fresh));
            fresh &= fresh - 1;
          }
        }
      }
    }
    std::uint8_t* r = R + static_cast<std::size_t>(s) * d;
    for (std::size_t j = 0; j < d; ++j) r[j] = static_cast<std::uint8_t>((reached[j >> 6] >> (j & 63)) & 1U);
    if (reflexive) r[s] = 1;
  }
  interrupt.rethrow_if_stopped();
}

std::size_t meek_orient(std::uint8_t* P, std::size_t d, Interrupt& interrupt) {
  require_zero_diagonal(P, d, "the PDAG");
  for (std::size_t i = 0; i < d * d; ++i) P[i] = P[i] != 0;
  Meek meek(P, d);
  return meek.run(interrupt);
}

void dag_to_cpdag(const std::uint8_t* A, std::size_t d, std::uint8_t* out, Interrupt& interrupt) {
  require_zero_diagonal(A, d, "the DAG");
  const auto cycle = find_cycle(A, d, false, interrupt);
  if (!cycle.empty())
    throw std::invalid_argument("the graph is not a DAG: it has the directed cycle " + cycle_text(cycle));
  BitMatrix adj(d), parents(d);
  for (std::size_t i = 0; i < d; ++i)
    for_each_nonzero(A + i * d, d, [&](std::size_t j) {
      adj.set(i, j);
      adj.set(j, i);
      parents.set(j, i);
    });
  // Start from the skeleton; keep a -> y directed iff it is in a v-structure a -> y <- c.
  const std::size_t W = adj.words();
  std::memset(out, 0, d * d);
  for (std::size_t i = 0; i < d; ++i) for_each_bit(adj.row(i), W, [&](std::size_t j) { out[i * d + j] = 1; });
  for (std::size_t y = 0; y < d; ++y) {
    const u64* pa = parents.row(y);
    for_each_bit(pa, W, [&](std::size_t a) {
      const u64* adj_a = adj.row(a);
      for (std::size_t w = 0; w < W; ++w) {
        u64 bits = pa[w] & ~adj_a[w];
        if (w == (a >> 6)) bits &= ~(u64{1} << (a & 63));
        if (bits) {
          out[y * d + a] = 0;
          break;
        }
      }
    });
  }
  Meek(out, d).run(interrupt);
}

std::vector<std::int64_t> pdag_to_dag(const std::uint8_t* P, std::size_t d, std::uint8_t* dag, Interrupt& interrupt) {
  require_zero_diagonal(P, d, "the PDAG");
  for (std::size_t i = 0; i < d * d; ++i) dag[i] = P[i] != 0;
  // `g` holds the graph induced on the nodes not yet removed.
  PdagBits g(P, d);
  const std::size_t W = g.adj.words();
  auto eligible = [&](std::size_t x) {
    if (g.n_out[x]) return false;
    const u64* adj_x = g.adj.row(x);
    bool ok = true;
    for_each_bit(g.und.row(x), W, [&](std::size_t y) {
      if (!ok) return;
      const u64* adj_y = g.adj.row(y);
      for (std::size_t w = 0; w < W; ++w) {
        u64 bits = adj_x[w] & ~adj_y[w];
        if (w == (y >> 6)) bits &= ~(u64{1} << (y & 63));
        if (bits) {
          ok = false;
          return;
        }
      }
    });
    return ok;
  };
  // A node that failed the test can only pass after one of its neighbours is removed, so only those
  // are re-queued; the min-heap makes the removal order "smallest eligible index first".
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> heap;
  std::vector<std::uint8_t> in_heap(d, 1), alive(d, 1);
  for (std::size_t i = 0; i < d; ++i) heap.push(i);
  std::size_t removed = 0, steps = 0;
  while (!heap.empty()) {
    if ((++steps & 255U) == 0 && interrupt.poll()) break;
    const std::size_t x = heap.top();
    heap.pop();
    in_heap[x] = 0;
    if (!eligible(x)) continue;
    alive[x] = 0;
    ++removed;
    for_each_bit(g.und.row(x), W, [&](std::size_t y) { dag[x * d + y] = 0; });
    for_each_bit(g.adj.row(x), W, [&](std::size_t y) {
      if (g.out.test(y, x)) --g.n_out[y];
      g.adj.reset(y, x);
      g.und.reset(y, x);
      g.out.reset(y, x);
      g.in.reset(y, x);
      if (!in_heap[y]) {
        in_heap[y] = 1;
        heap.push(y);
      }
    });
  }
  interrupt.rethrow_if_stopped();
  std::vector<std::int64_t> left;
  if (removed < d)
    for (std::size_t i = 0; i < d; ++i)
      if (alive[i]) left.push_back(static_cast<std::int64_t>(i));
  return left;
}

}  // namespace fastcrl
