// Bindings for fastcrl/lbfgsb.hpp and fastcrl/continuous.hpp. fastcrl.continuous validates, converts
// and post-processes (thresholding, knowledge, DAG repair); these take float64 C-contiguous arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "fastcrl/continuous.hpp"
#include "fastcrl/lbfgsb.hpp"

namespace fastcrl::py_bindings {

namespace {

using Opt = std::optional<carray<double>>;

py::tuple lbfgsb_py(const py::function& fun, const carray<double>& x0, const Opt& lower, const Opt& upper,
                    int memory, int max_iter, int max_fun, double ftol, double pgtol, int max_ls,
                    const py::object& diagonal, int precondition_every, int ftol_patience) {
  if (x0.ndim() != 1) throw std::invalid_argument("x0 must be 1-D");
  const auto n = static_cast<std::size_t>(x0.shape(0));
  for (const Opt* b : {&lower, &upper})
    if (*b && ((*b)->ndim() != 1 || static_cast<std::size_t>((*b)->shape(0)) != n))
      throw std::invalid_argument("bounds must have the shape of x0");
  LbfgsbConfig cfg;
  cfg.memory = memory;
  cfg.max_iter = max_iter;
  cfg.max_fun = max_fun;
  cfg.ftol = ftol;
  cfg.pgtol = pgtol;
  cfg.max_ls = max_ls;
  cfg.precondition_every = precondition_every;
  if (ftol_patience < 1) throw std::invalid_argument("ftol_patience must be >= 1");
  cfg.ftol_patience = ftol_patience;
  carray<double> x({x0.shape(0)});
  std::copy(x0.data(), x0.data() + n, x.mutable_data());
  // The callback is Python: keep the GIL for the whole solve (it is a testing and prototyping entry point).
  const ObjectiveFn fg = [&](const double* xp, double* g) -> double {
    carray<double> xa({static_cast<py::ssize_t>(n)});
    std::copy(xp, xp + n, xa.mutable_data());
    py::tuple out = fun(xa);
    if (out.size() != 2) throw std::invalid_argument("fun must return (value, gradient)");
    const double f = out[0].cast<double>();
    auto ga = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(out[1]);
    if (!ga || static_cast<std::size_t>(ga.size()) != n)
      throw std::invalid_argument("fun's gradient must have the shape of x0");
    std::copy(ga.data(), ga.data() + n, g);
    return f;
  };
  DiagonalFn diag;
  if (!diagonal.is_none())
    diag = [&](const double* xp, double* D) {
      carray<double> xa({static_cast<py::ssize_t>(n)});
      std::copy(xp, xp + n, xa.mutable_data());
      auto da = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(diagonal(xa));
      if (!da || static_cast<std::size_t>(da.size()) != n)
        throw std::invalid_argument("diagonal must return an array with the shape of x0");
      std::copy(da.data(), da.data() + n, D);
    };
  const LbfgsbResult r = lbfgsb_minimize(fg, n, x.mutable_data(), lower ? lower->data() : nullptr,
                                         upper ? upper->data() : nullptr, cfg, diag);
  return py::make_tuple(x, r.f, r.n_iter, r.n_fun, static_cast<int>(r.status), r.pg_norm);
}

ContinuousData make_data(const std::string& loss, const Opt& S, const Opt& X) {
  ContinuousData data;
  if (loss == "l2") {
    if (!S) throw std::invalid_argument("loss='l2' needs the covariance S");
    require_square(*S, "S");
    data.loss = ContinuousLoss::L2;
    data.S = S->data();
    data.d = static_cast<std::size_t>(S->shape(0));
  } else if (loss == "logistic") {
    if (!X) throw std::invalid_argument("loss='logistic' needs the data X");
    require_2d(*X, "X");
    data.loss = ContinuousLoss::Logistic;
    data.X = X->data();
    data.n = static_cast<std::size_t>(X->shape(0));
    data.d = static_cast<std::size_t>(X->shape(1));
  } else {
    throw std::invalid_argument("unknown loss '" + loss + "'; expected 'l2' or 'logistic'");
  }
  if (data.d < 1) throw std::invalid_argument("need at least one variable");
  return data;
}

EdgeMasks make_masks(const ContinuousData& data, const std::optional<carray<unsigned char>>& free,
                     const Opt& penalty) {
  EdgeMasks masks;
  const auto d = static_cast<py::ssize_t>(data.d);
  if (free) {
    if (free->ndim() != 2 || free->shape(0) != d || free->shape(1) != d)
      throw std::invalid_argument("free must have shape (d, d)");
    masks.free = free->data();
  }
  if (penalty) {
    if (penalty->ndim() != 2 || penalty->shape(0) != d || penalty->shape(1) != d)
      throw std::invalid_argument("penalty must have shape (d, d)");
    masks.penalty = penalty->data();
  }
  return masks;
}

OuterCallback make_callback(const py::object& callback) {
  if (callback.is_none()) return {};
  return [callback](const OuterRecord& r) {
    py::gil_scoped_acquire gil;
    py::dict e;
    e["iteration"] = r.iteration;
    e["rho"] = r.rho;
    e["alpha"] = r.alpha;
    e["h"] = r.h;
    e["loss"] = r.loss;
    e["objective"] = r.objective;
    e["inner_iterations"] = r.inner_iterations;
    e["n_solves"] = r.n_solves;
    e["inner_converged"] = r.inner_converged;
    e["lr"] = r.lr;
    e["time"] = r.seconds;
    callback(e);
  };
}

py::dict result_dict(const ContinuousResult& r, std::size_t d) {
  py::dict out;
  carray<double> W({static_cast<py::ssize_t>(d), static_cast<py::ssize_t>(d)});
  std::copy(r.W.begin(), r.W.end(), W.mutable_data());
  out["W"] = W;
  out["h"] = r.h;
  out["loss"] = r.loss;
  out["n_iter"] = r.n_iter;
  out["converged"] = r.converged;
  out["s_used"] = r.s_used;
  return out;
}

LbfgsbConfig inner_config(int memory, double ftol, double pgtol, int max_iter) {
  LbfgsbConfig c;
  c.memory = memory;
  c.ftol = ftol;
  c.pgtol = pgtol;
  c.max_iter = max_iter;
  c.max_fun = 2 * max_iter + 10;
  return c;
}

py::dict notears_py(const Opt& S, const Opt& X, const std::string& loss, const std::string& constraint,
                    double lambda1, const std::optional<carray<unsigned char>>& free, const Opt& penalty, int max_iter,
                    double h_tol, double rho_max, int memory, double ftol, double pgtol, int inner_max_iter,
                    const py::object& callback) {
  const ContinuousData data = make_data(loss, S, X);
  const EdgeMasks masks = make_masks(data, free, penalty);
  NotearsConfig cfg;
  cfg.lambda1 = lambda1;
  if (constraint == "expm") cfg.constraint = NotearsConstraint::Expm;
  else if (constraint == "poly") cfg.constraint = NotearsConstraint::Poly;
  else if (constraint == "logdet") cfg.constraint = NotearsConstraint::Logdet;
  else throw std::invalid_argument("unknown constraint '" + constraint + "'; expected 'expm', 'poly' or 'logdet'");
  cfg.max_iter = max_iter;
  cfg.h_tol = h_tol;
  cfg.rho_max = rho_max;
  cfg.lbfgs = inner_config(memory, ftol, pgtol, inner_max_iter);
  const OuterCallback cb = make_callback(callback);
  Interrupt interrupt = python_interrupt();
  ContinuousResult r;
  {
    py::gil_scoped_release release;
    r = notears_fit(data, masks, cfg, cb, interrupt);
  }
  return result_dict(r, data.d);
}

py::dict dagma_py(const Opt& S, const Opt& X, const std::string& loss, double lambda1,
                  const std::optional<carray<unsigned char>>& free, const Opt& penalty, int T, double mu_init,
                  double mu_factor, const std::vector<double>& s, const std::string& solver, long warm_iter,
                  long max_iter, double lr, double beta_1, double beta_2, int checkpoint, double tol, int memory,
                  double ftol, double pgtol, double warm_ftol, const py::object& callback) {
  const ContinuousData data = make_data(loss, S, X);
  const EdgeMasks masks = make_masks(data, free, penalty);
  DagmaConfig cfg;
  cfg.lambda1 = lambda1;
  cfg.T = T;
  cfg.mu_init = mu_init;
  cfg.mu_factor = mu_factor;
  cfg.s = s;
  if (solver == "lbfgs") cfg.solver = DagmaSolver::Lbfgs;
  else if (solver == "adam") cfg.solver = DagmaSolver::Adam;
  else throw std::invalid_argument("unknown solver '" + solver + "'; expected 'lbfgs' or 'adam'");
  cfg.warm_iter = warm_iter;
  cfg.max_iter = max_iter;
  cfg.lr = lr;
  cfg.beta_1 = beta_1;
  cfg.beta_2 = beta_2;
  cfg.checkpoint = checkpoint;
  cfg.tol = tol;
  cfg.lbfgs = inner_config(memory, ftol, pgtol, 15000);
  if (!(warm_ftol >= 0.0)) throw std::invalid_argument("warm_ftol must be >= 0");
  cfg.warm_ftol = warm_ftol;
  const OuterCallback cb = make_callback(callback);
  Interrupt interrupt = python_interrupt();
  ContinuousResult r;
  {
    py::gil_scoped_release release;
    r = dagma_fit(data, masks, cfg, cb, interrupt);
  }
  return result_dict(r, data.d);
}

}  // namespace

void bind_continuous(py::module_& m) {
  m.def("lbfgsb_minimize", &lbfgsb_py, py::arg("fun"), py::arg("x0").noconvert(), py::arg("lower").noconvert(),
        py::arg("upper").noconvert(), py::arg("memory") = 10, py::arg("max_iter") = 15000, py::arg("max_fun") = 15000,
        py::arg("ftol") = 2.220446049250313e-09, py::arg("pgtol") = 1e-5, py::arg("max_ls") = 40,
        py::arg("diagonal") = py::none(), py::arg("precondition_every") = 10, py::arg("ftol_patience") = 1,
        "Projected L-BFGS-B on a Python fun(x) -> (f, grad); returns (x, f, n_iter, n_fun, status, pg_norm); "
        "status 0 pgtol, 1 ftol, 2 budget, 3 line search failure. diagonal(x) -> positive Hessian-diagonal "
        "estimate (optional preconditioner, called every precondition_every iterations); ftol stops only "
        "after ftol_patience consecutive iterations meet it.");
  m.def("notears_fit", &notears_py, py::arg("S").noconvert(), py::arg("X").noconvert(), py::arg("loss"),
        py::arg("constraint"), py::arg("lambda1"), py::arg("free").noconvert(), py::arg("penalty").noconvert(),
        py::arg("max_iter"), py::arg("h_tol"), py::arg("rho_max"), py::arg("memory"), py::arg("ftol"),
        py::arg("pgtol"), py::arg("inner_max_iter"), py::arg("callback"),
        "NOTEARS augmented Lagrangian; returns a dict (W, h, loss, n_iter, converged).");
  m.def("dagma_fit", &dagma_py, py::arg("S").noconvert(), py::arg("X").noconvert(), py::arg("loss"),
        py::arg("lambda1"), py::arg("free").noconvert(), py::arg("penalty").noconvert(), py::arg("T"),
        py::arg("mu_init"), py::arg("mu_factor"), py::arg("s"), py::arg("solver"), py::arg("warm_iter"),
        py::arg("max_iter"), py::arg("lr"), py::arg("beta_1"), py::arg("beta_2"), py::arg("checkpoint"),
        py::arg("tol"), py::arg("memory"), py::arg("ftol"), py::arg("pgtol"), py::arg("warm_ftol"),
        py::arg("callback"), "DAGMA central path; returns a dict (W, h, loss, n_iter, converged, s_used).");
}

}  // namespace fastcrl::py_bindings
