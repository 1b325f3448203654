#pragma once
/// Graph algorithms on dense 0/1 adjacency matrices: cycle checks, topological order, reachability,
/// Meek's orientation rules, DAG -> CPDAG and the Dor–Tarsi consistent extension of a PDAG.
///
/// Every matrix is row-major d x d `uint8`; an entry is an edge when it is nonzero.
/// Directed graphs: A[i*d + j] != 0 means i -> j.
/// PDAGs / CPDAGs: i -> j is A[i,j] = 1, A[j,i] = 0; the undirected edge i -- j is A[i,j] = A[j,i] = 1.
/// Functions that take an `Interrupt` poll it in their long loops and rethrow its exception (Ctrl-C)
/// before returning.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fastcrl/interrupt.hpp"

namespace fastcrl {

/// Lexicographically smallest topological order of the directed graph A (Kahn with a min-heap,
/// O(d^2 + d log d)). Writes the ordered nodes to `order` (room for d) and returns how many were
/// ordered: d iff A is acyclic (a self-loop or a symmetric pair counts as a cycle).
std::size_t topological_sort(const std::uint8_t* A, std::size_t d, std::int64_t* order,
                             Interrupt& interrupt = Interrupt::none());

/// A directed cycle v0 -> v1 -> ... -> vk -> v0 of A as {v0, ..., vk}, or empty when there is none.
/// With `directed_only`, symmetric pairs (undirected PDAG edges) are not arcs. O(d^2).
std::vector<std::int64_t> find_cycle(const std::uint8_t* A, std::size_t d, bool directed_only,
                                     Interrupt& interrupt = Interrupt::none());

/// R[i,j] = 1 iff A has a directed path of length >= 1 from i to j (so R[i,i] = 1 iff i lies on a
/// cycle); with `reflexive`, also R[i,i] = 1 for every i. One bitset search per source, OpenMP over
/// sources; O(d * (e + d^2/64)) at worst.
void transitive_closure(const std::uint8_t* A, std::size_t d, bool reflexive, std::uint8_t* R,
                        Interrupt& interrupt = Interrupt::none());

/// Applies Meek's rules R1–R4 to closure, in place on the PDAG P, and returns the number of edges
/// it oriented. Work-list driven: after orienting a -> b only the undirected edges whose rule
/// premises involve a -> b are checked again. Precondition: zero diagonal (throws
/// std::invalid_argument otherwise). When P has no consistent extension, rules may conflict and the
/// first one found wins.
std::size_t meek_orient(std::uint8_t* P, std::size_t d, Interrupt& interrupt = Interrupt::none());

/// The CPDAG (essential graph) of the DAG A, written to `out` (d x d): v-structures kept directed,
/// every other edge undirected, then Meek's rules to closure (Meek 1995, Theorem 3).
/// Throws std::invalid_argument when A has a self-loop or a directed cycle (named in the message).
void dag_to_cpdag(const std::uint8_t* A, std::size_t d, std::uint8_t* out,
                  Interrupt& interrupt = Interrupt::none());

/// A consistent DAG extension of the PDAG P (Dor & Tarsi 1992): same skeleton, same directed edges,
/// same v-structures, acyclic. Repeatedly removes the smallest-indexed node that is a sink whose
/// undirected neighbours are adjacent to all its other neighbours, orienting its undirected edges
/// into it. Writes the DAG to `dag` and returns an empty vector on success; otherwise returns the
/// nodes left when no node qualified (`dag` is then unspecified). Precondition: zero diagonal.
std::vector<std::int64_t> pdag_to_dag(const std::uint8_t* P, std::size_t d, std::uint8_t* dag,
                                      Interrupt& interrupt = Interrupt::none());

}  // namespace fastcrl
