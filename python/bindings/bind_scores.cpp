#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "common.hpp"
#include "fastcrl/scores.hpp"

namespace fastcrl::py_bindings {

namespace {

template <class T>
void require_1d(const carray<T>& a, const char* name) {
  if (a.ndim() != 1)
    throw std::invalid_argument(std::string(name) + " must be 1-D; got " + std::to_string(a.ndim()) + "-D");
}

/// A (d x d) row-major matrix stored as a vector, as a NumPy array.
carray<double> square(const std::vector<double>& values, std::size_t d) {
  carray<double> out({static_cast<py::ssize_t>(d), static_cast<py::ssize_t>(d)});
  std::copy(values.begin(), values.end(), out.mutable_data());
  return out;
}

void require_state(const py::tuple& t, std::size_t size, const char* what) {
  if (t.size() != size) throw std::invalid_argument(std::string("invalid pickled state of ") + what);
}

double local_score_py(DecomposableScore& s, std::int64_t j, const carray<std::int64_t>& parents) {
  require_1d(parents, "parents");
  const auto k = static_cast<std::size_t>(parents.shape(0));
  py::gil_scoped_release release;
  return s.local_score(j, parents.data(), k);
}

carray<double> local_scores_py(DecomposableScore& s, const carray<std::int64_t>& nodes,
                               const carray<std::int64_t>& offsets, const carray<std::int64_t>& parents,
                               bool undefined_as_nan) {
  require_1d(nodes, "nodes");
  require_1d(offsets, "offsets");
  require_1d(parents, "parents");
  const auto batch = static_cast<std::size_t>(nodes.shape(0));
  if (offsets.shape(0) != nodes.shape(0) + 1)
    throw std::invalid_argument("offsets must have len(nodes) + 1 entries");
  if (offsets.at(batch) != parents.shape(0))
    throw std::invalid_argument("offsets[-1] must equal len(parents)");
  carray<double> out({nodes.shape(0)});
  Interrupt interrupt = python_interrupt();
  {
    py::gil_scoped_release release;
    s.local_scores(nodes.data(), offsets.data(), parents.data(), batch, out.mutable_data(), interrupt,
                   undefined_as_nan);
  }
  return out;
}

py::dict cache_info_py(const DecomposableScore& s) {
  const ScoreCacheInfo info = s.cache_info();
  py::dict out;
  out["hits"] = info.hits;
  out["misses"] = info.misses;
  out["size"] = info.size;
  out["evictions"] = info.evictions;
  out["max_entries"] = info.max_entries;
  return out;
}

}  // namespace

void bind_scores(py::module_& m) {
  py::class_<DecomposableScore>(m, "DecomposableScore")
      .def_property_readonly("n_nodes", &DecomposableScore::n_nodes)
      .def_property_readonly("n_samples", &DecomposableScore::n_samples)
      .def("local_score", &local_score_py, py::arg("j"), py::arg("parents").noconvert(),
           "Local score of node j given parents (int64, 1-D); cached.")
      .def("local_scores", &local_scores_py, py::arg("nodes").noconvert(), py::arg("offsets").noconvert(),
           py::arg("parents").noconvert(), py::arg("undefined_as_nan") = false,
           "Batched local scores: parent set b is parents[offsets[b]:offsets[b+1]] (CSR layout); OpenMP. "
           "undefined_as_nan: NaN for an undefined score instead of raising NumericalError.")
      .def("cache_info", &cache_info_py)
      .def("clear_cache", &DecomposableScore::clear_cache, py::call_guard<py::gil_scoped_release>())
      .def("time_pair_scores", &DecomposableScore::time_pair_scores, py::arg("count"), py::arg("seed") = 0,
           py::call_guard<py::gil_scoped_release>(),
           "Wall seconds per uncached single-parent local score, measured over `count` random pairs.")
      .def_property("cache_limit", &DecomposableScore::cache_limit,
                    [](DecomposableScore& s, std::int64_t n) {
                      if (n < 1) throw py::value_error("cache_limit must be >= 1; got " + std::to_string(n));
                      py::gil_scoped_release release;
                      s.set_cache_limit(static_cast<std::size_t>(n));
                    })
      .def_property_readonly("min_cached_parents", &DecomposableScore::min_cached_parents)
      .def(
          "for_search",
          [](const DecomposableScore& s, std::int64_t j, std::size_t k, double score) {
            if (j < 0 || j >= static_cast<std::int64_t>(s.n_nodes()))
              throw std::invalid_argument("node " + std::to_string(j) + " out of range");
            return s.for_search(static_cast<std::int32_t>(j), k, score);
          },
          py::arg("j"), py::arg("k"), py::arg("score"),
          "A local score of node j with k parents as the searches use it: NaN when it is too near the "
          "score's undefined limit (Gaussian BIC: residual variance within 1e-10 of the node's).")
      .def_property_readonly_static("cache_bytes_per_entry",
                                    [](py::object) { return LocalScoreCache::kBytesPerEntry; });

  py::class_<GaussianBICScore, DecomposableScore>(m, "GaussianBICScore")
      .def(py::init([](const carray<double>& X, double penalty_discount) {
             require_2d(X, "X");
             const auto n = static_cast<std::size_t>(X.shape(0));
             const auto d = static_cast<std::size_t>(X.shape(1));
             py::gil_scoped_release release;
             return std::make_unique<GaussianBICScore>(X.data(), n, d, penalty_discount);
           }),
           py::arg("X").noconvert(), py::arg("penalty_discount") = 1.0)
      .def_static(
          "from_covariance",
          [](const carray<double>& cov, std::size_t n, double penalty_discount) {
            require_square(cov, "cov");
            const auto d = static_cast<std::size_t>(cov.shape(0));
            py::gil_scoped_release release;
            return GaussianBICScore::from_covariance(cov.data(), n, d, penalty_discount);
          },
          py::arg("cov").noconvert(), py::arg("n"), py::arg("penalty_discount"),
          "From an MLE (ddof=0) covariance of n samples computed elsewhere (e.g. on a GPU).")
      .def("covariance", [](const GaussianBICScore& s) { return square(s.covariance(), s.n_nodes()); })
      // Pickled as what the scores are computed from (the covariance, n, the penalty) and the cache
      // limit; the cached scores are not kept.
      .def(py::pickle(
          [](const GaussianBICScore& s) {
            return py::make_tuple(square(s.covariance(), s.n_nodes()), s.n_samples(), s.penalty_discount(),
                                  s.cache_limit());
          },
          [](const py::tuple& t) {
            require_state(t, 4, "GaussianBICScore");
            const auto cov = t[0].cast<carray<double>>();
            require_square(cov, "cov");
            auto s = GaussianBICScore::from_covariance(cov.data(), t[1].cast<std::size_t>(),
                                                       static_cast<std::size_t>(cov.shape(0)), t[2].cast<double>());
            s->set_cache_limit(t[3].cast<std::size_t>());
            return s;
          }))
      .def(
          "family_scores",
          [](const GaussianBICScore& s, std::int32_t j, const std::vector<std::int32_t>& parents,
             const std::vector<std::int32_t>& extra) {
            // Tests: validated like local_score, then scored without the cache.
            const auto d = static_cast<std::int64_t>(s.n_nodes());
            if (j < 0 || j >= d) throw std::invalid_argument("node " + std::to_string(j) + " out of range");
            for (std::size_t a = 0; a < parents.size(); ++a)
              if (parents[a] < 0 || parents[a] >= d || parents[a] == j || (a > 0 && parents[a] <= parents[a - 1]))
                throw std::invalid_argument("parents must be sorted, distinct, in range and not the node");
            for (std::int32_t x : extra)
              if (x < 0 || x >= d || x == j || std::binary_search(parents.begin(), parents.end(), x))
                throw std::invalid_argument("extra nodes must be in range, not the node and not parents");
            double base = 0.0;
            carray<double> without(static_cast<py::ssize_t>(parents.size()));
            carray<double> with(static_cast<py::ssize_t>(extra.size()));
            if (!s.family_scores(j, parents.data(), parents.size(), extra.data(), extra.size(), &base,
                                 parents.empty() ? nullptr : without.mutable_data(), with.mutable_data()))
              return py::object(py::none());
            return py::object(py::make_tuple(base, without, with));
          },
          py::arg("j"), py::arg("parents"), py::arg("extra") = std::vector<std::int32_t>{},
          "(score of j given parents, scores without each parent, scores with each extra node added; NaN "
          "where undefined) from one factorisation; None when the parents alone are singular.");

  py::class_<BGeScore, DecomposableScore>(m, "BGeScore")
      .def(py::init([](const carray<double>& X, double iss_mu, double iss_w, std::optional<carray<double>> nu) {
             require_2d(X, "X");
             const auto n = static_cast<std::size_t>(X.shape(0));
             const auto d = static_cast<std::size_t>(X.shape(1));
             const double* nu_ptr = nullptr;
             if (nu) {
               require_1d(*nu, "nu");
               if (static_cast<std::size_t>(nu->shape(0)) != d)
                 throw std::invalid_argument("nu must have one entry per column of X");
               nu_ptr = nu->data();
             }
             py::gil_scoped_release release;
             return std::make_unique<BGeScore>(X.data(), n, d, iss_mu, iss_w, nu_ptr);
           }),
           py::arg("X").noconvert(), py::arg("iss_mu"), py::arg("iss_w"), py::arg("nu").noconvert() = py::none())
      .def_static(
          "from_posterior_scale",
          [](const carray<double>& R, std::size_t n, double iss_mu, double iss_w) {
            require_square(R, "R");
            const auto d = static_cast<std::size_t>(R.shape(0));
            py::gil_scoped_release release;
            return BGeScore::from_posterior_scale(R.data(), n, d, iss_mu, iss_w);
          },
          py::arg("R").noconvert(), py::arg("n"), py::arg("iss_mu"), py::arg("iss_w"),
          "From a posterior scale matrix R of n samples computed elsewhere (e.g. on a GPU).")
      .def("posterior_scale", [](const BGeScore& s) { return square(s.posterior_scale(), s.n_nodes()); })
      .def_property_readonly("prior_scale", &BGeScore::prior_scale)
      .def(py::pickle(
          [](const BGeScore& s) {
            return py::make_tuple(square(s.posterior_scale(), s.n_nodes()), s.n_samples(), s.iss_mu(), s.iss_w(),
                                  s.cache_limit());
          },
          [](const py::tuple& t) {
            require_state(t, 5, "BGeScore");
            const auto R = t[0].cast<carray<double>>();
            require_square(R, "R");
            auto s = BGeScore::from_posterior_scale(R.data(), t[1].cast<std::size_t>(),
                                                    static_cast<std::size_t>(R.shape(0)), t[2].cast<double>(),
                                                    t[3].cast<double>());
            s->set_cache_limit(t[4].cast<std::size_t>());
            return s;
          }))
      .def("constant_term", &BGeScore::constant_term, py::arg("p"),
           "The part of the local score that depends only on the number of parents p.");

  py::class_<DiscreteScore, DecomposableScore>(m, "DiscreteScore")
      .def(py::init([](const carray<std::int32_t>& X, const carray<std::int64_t>& cardinalities,
                       const std::string& kind, double ess) {
             require_2d(X, "X");
             require_1d(cardinalities, "cardinalities");
             if (cardinalities.shape(0) != X.shape(1))
               throw std::invalid_argument("cardinalities must have one entry per column of X");
             DiscreteScoreKind k;
             if (kind == "bdeu")
               k = DiscreteScoreKind::BDeu;
             else if (kind == "bic")
               k = DiscreteScoreKind::BIC;
             else
               throw std::invalid_argument("unknown discrete score kind '" + kind + "'; expected 'bdeu' or 'bic'");
             const auto n = static_cast<std::size_t>(X.shape(0));
             const auto d = static_cast<std::size_t>(X.shape(1));
             py::gil_scoped_release release;
             return std::make_unique<DiscreteScore>(X.data(), n, d, cardinalities.data(), k, ess);
           }),
           py::arg("X").noconvert(), py::arg("cardinalities").noconvert(), py::arg("kind"), py::arg("ess") = 1.0)
      .def(py::pickle(
          [](const DiscreteScore& s) {
            const auto n = static_cast<py::ssize_t>(s.n_samples()), d = static_cast<py::ssize_t>(s.n_nodes());
            carray<std::int32_t> codes({n, d});  // row-major, as the constructor takes them
            const auto& cols = s.column_codes();
            std::int32_t* out = codes.mutable_data();
            for (py::ssize_t j = 0; j < d; ++j)
              for (py::ssize_t i = 0; i < n; ++i) out[i * d + j] = cols[static_cast<std::size_t>(j * n + i)];
            carray<std::int64_t> card(d);
            std::copy(s.cardinalities().begin(), s.cardinalities().end(), card.mutable_data());
            return py::make_tuple(codes, card, s.kind() == DiscreteScoreKind::BDeu ? "bdeu" : "bic", s.ess(),
                                  s.cache_limit());
          },
          [](const py::tuple& t) {
            require_state(t, 5, "DiscreteScore");
            const auto codes = t[0].cast<carray<std::int32_t>>();
            const auto card = t[1].cast<carray<std::int64_t>>();
            require_2d(codes, "codes");
            require_1d(card, "cardinalities");
            if (card.shape(0) != codes.shape(1))
              throw std::invalid_argument("cardinalities must have one entry per column of the codes");
            const auto kind = t[2].cast<std::string>() == "bdeu" ? DiscreteScoreKind::BDeu : DiscreteScoreKind::BIC;
            auto s = std::make_unique<DiscreteScore>(codes.data(), static_cast<std::size_t>(codes.shape(0)),
                                                     static_cast<std::size_t>(codes.shape(1)), card.data(), kind,
                                                     t[3].cast<double>());
            s->set_cache_limit(t[4].cast<std::size_t>());
            return s;
          }));
}

}  // namespace fastcrl::py_bindings
