#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "fastcrl/ivae.hpp"
#include "fastcrl/nn.hpp"

namespace fastcrl::py_bindings {

namespace {

using nn::MLPSpec;

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

[[noreturn]] void bad_shape(const char* name, const std::string& expected, const py::array& a) {
  throw std::invalid_argument(std::string(name) + " must have shape " + expected + "; got " + shape_str(a));
}

template <class T>
void require_shape(const carray<T>& a, const char* name, std::vector<py::ssize_t> shape) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(i) == shape[i];
  if (!ok) {
    std::string e = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) e += (i ? ", " : "") + std::to_string(shape[i]);
    bad_shape(name, e + (shape.size() == 1 ? ",)" : ")"), a);
  }
}

template <class T>
void require_writeable(const carray<T>& a, const char* name) {
  if (!a.writeable()) throw std::invalid_argument(std::string(name) + " must be writeable");
}

MLPSpec make_spec(const std::vector<std::size_t>& sizes, const std::vector<std::string>& acts, double slope,
                  double alpha) {
  MLPSpec s;
  s.sizes = sizes;
  for (const auto& a : acts) s.activations.push_back(nn::parse_activation(a));
  s.leaky_slope = slope;
  s.elu_alpha = alpha;
  s.validate();
  return s;
}

/// Labels (n, in [0, K)).
void check_labels(const carray<std::int64_t>& labels, const char* name, py::ssize_t n, std::size_t n_classes) {
  require_shape(labels, name, {n});
  const std::int64_t* u = labels.data();
  const auto K = static_cast<std::int64_t>(n_classes);
  for (py::ssize_t i = 0; i < n; ++i)
    if (u[i] < 0 || u[i] >= K)
      throw std::invalid_argument(std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(u[i]) +
                                  " is outside [0, " + std::to_string(K) + ")");
}

/// The classes of a call's one-hot block: 0 without labels, else n_classes checked to lie in [1, sizes[0]).
std::size_t onehot_classes(const MLPSpec& spec, const std::optional<carray<std::int64_t>>& labels,
                           std::size_t n_classes) {
  if (!labels) return 0;
  if (n_classes < 1 || n_classes >= spec.sizes.front())
    throw std::invalid_argument("n_classes must lie in [1, sizes[0]) with labels");
  return n_classes;
}

/// The one-hot input of a call: labels (n entries in [0, n_classes)) or none.
nn::OneHotInput onehot_input(const MLPSpec& spec, const std::optional<carray<std::int64_t>>& labels,
                             std::size_t n_classes, py::ssize_t n) {
  if (onehot_classes(spec, labels, n_classes) == 0) return {};
  check_labels(*labels, "labels", n, n_classes);
  return {labels->data(), n_classes};
}

template <class T>
std::size_t check_mlp_args(const MLPSpec& spec, const carray<T>& params, const carray<T>& X, const carray<T>& ws,
                           std::size_t n_classes = 0) {
  require_shape(params, "params", {static_cast<py::ssize_t>(spec.n_params())});
  require_2d(X, "X");
  if (static_cast<std::size_t>(X.shape(1)) != spec.sizes.front() - n_classes)
    bad_shape("X", "(n_samples, " + std::to_string(spec.sizes.front() - n_classes) + ")", X);
  const auto n = static_cast<std::size_t>(X.shape(0));
  if (ws.ndim() != 1 || static_cast<std::size_t>(ws.shape(0)) < spec.workspace_size(n))
    bad_shape("workspace", "(>= " + std::to_string(spec.workspace_size(n)) + ",)", ws);
  require_writeable(ws, "workspace");
  return n;
}

template <class T>
carray<T> mlp_forward_py(const MLPSpec& spec, const carray<T>& params, const carray<T>& X, carray<T> ws,
                         std::optional<carray<T>> out, bool training,
                         const std::optional<carray<std::int64_t>>& labels, std::size_t n_classes) {
  const std::size_t n = check_mlp_args(spec, params, X, ws, onehot_classes(spec, labels, n_classes));
  const nn::OneHotInput onehot = onehot_input(spec, labels, n_classes, static_cast<py::ssize_t>(n));
  const auto n_out = static_cast<py::ssize_t>(spec.sizes.back());
  carray<T> y = out ? *out : carray<T>({static_cast<py::ssize_t>(n), n_out});
  require_shape(y, "out", {static_cast<py::ssize_t>(n), n_out});
  require_writeable(y, "out");
  {
    py::gil_scoped_release release;
    nn::mlp_forward(spec, params.data(), X.data(), n, y.mutable_data(), ws.mutable_data(), training, onehot);
  }
  return y;
}

template <class T>
py::tuple mlp_backward_py(const MLPSpec& spec, const carray<T>& params, const carray<T>& X, carray<T> ws,
                          const carray<T>& grad_out, std::optional<carray<T>> grad_params, bool need_grad_input,
                          bool accumulate, const std::optional<carray<std::int64_t>>& labels, std::size_t n_classes) {
  const std::size_t n = check_mlp_args(spec, params, X, ws, onehot_classes(spec, labels, n_classes));
  const nn::OneHotInput onehot = onehot_input(spec, labels, n_classes, static_cast<py::ssize_t>(n));
  require_shape(grad_out, "grad_out", {static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(spec.sizes.back())});
  if (accumulate && !grad_params) throw std::invalid_argument("accumulate=True needs grad_params");
  carray<T> gp = grad_params ? *grad_params : carray<T>({static_cast<py::ssize_t>(spec.n_params())});
  require_shape(gp, "grad_params", {static_cast<py::ssize_t>(spec.n_params())});
  require_writeable(gp, "grad_params");
  py::object gx_obj = py::none();
  T* gx = nullptr;
  if (need_grad_input) {
    carray<T> gxa({X.shape(0), X.shape(1)});
    gx = gxa.mutable_data();
    gx_obj = gxa;
  }
  {
    py::gil_scoped_release release;
    nn::mlp_backward(spec, params.data(), X.data(), n, grad_out.data(), ws.mutable_data(), gp.mutable_data(), gx,
                     accumulate, onehot);
  }
  return py::make_tuple(gp, gx_obj);
}

// ---- Gaussians ------------------------------------------------------------------------------------

template <class T>
std::array<std::size_t, 2> same_nd(std::initializer_list<std::pair<const carray<T>*, const char*>> arrays) {
  const auto& [first, fname] = *arrays.begin();
  require_2d(*first, fname);
  for (const auto& [a, name] : arrays) require_shape(*a, name, {first->shape(0), first->shape(1)});
  return {static_cast<std::size_t>(first->shape(0)), static_cast<std::size_t>(first->shape(1))};
}

template <class T>
carray<T> new_like(const carray<T>& a) {
  std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
  return carray<T>(shape);
}

template <class T>
void check_g(const carray<T>& g, std::size_t n) {
  require_shape(g, "g", {static_cast<py::ssize_t>(n)});
}

template <class T>
std::size_t check_packed(const carray<T>& raw, const char* name, std::size_t n, std::size_t d) {
  const auto P = static_cast<py::ssize_t>(d * (d + 1) / 2);
  require_shape(raw, name, {static_cast<py::ssize_t>(n), P});
  return static_cast<std::size_t>(P);
}

template <class T>
void def_gaussians(py::module_& m) {
  m.def(
      "diag_gaussian_logpdf",
      [](const carray<T>& x, const carray<T>& mu, const carray<T>& lv) {
        auto [n, d] = same_nd<T>({{&x, "x"}, {&mu, "mu"}, {&lv, "logvar"}});
        carray<T> out({static_cast<py::ssize_t>(n)});
        py::gil_scoped_release r;
        nn::diag_gaussian_logpdf(x.data(), mu.data(), lv.data(), n, d, out.mutable_data());
        return out;
      },
      py::arg("x").noconvert(), py::arg("mu").noconvert(), py::arg("logvar").noconvert());
  m.def(
      "diag_gaussian_logpdf_backward",
      [](const carray<T>& x, const carray<T>& mu, const carray<T>& lv, const carray<T>& g) {
        auto [n, d] = same_nd<T>({{&x, "x"}, {&mu, "mu"}, {&lv, "logvar"}});
        check_g(g, n);
        carray<T> gx = new_like(x), gmu = new_like(x), glv = new_like(x);
        {
          py::gil_scoped_release r;
          nn::diag_gaussian_logpdf_backward(x.data(), mu.data(), lv.data(), g.data(), n, d, gx.mutable_data(),
                                            gmu.mutable_data(), glv.mutable_data());
        }
        return py::make_tuple(gx, gmu, glv);
      },
      py::arg("x").noconvert(), py::arg("mu").noconvert(), py::arg("logvar").noconvert(), py::arg("g").noconvert());
  m.def(
      "diag_gaussian_kl",
      [](const carray<T>& mq, const carray<T>& lq, const carray<T>& mp, const carray<T>& lp) {
        auto [n, d] = same_nd<T>({{&mq, "mu_q"}, {&lq, "logvar_q"}, {&mp, "mu_p"}, {&lp, "logvar_p"}});
        carray<T> out({static_cast<py::ssize_t>(n)});
        py::gil_scoped_release r;
        nn::diag_gaussian_kl(mq.data(), lq.data(), mp.data(), lp.data(), n, d, out.mutable_data());
        return out;
      },
      py::arg("mu_q").noconvert(), py::arg("logvar_q").noconvert(), py::arg("mu_p").noconvert(),
      py::arg("logvar_p").noconvert());
  m.def(
      "diag_gaussian_kl_backward",
      [](const carray<T>& mq, const carray<T>& lq, const carray<T>& mp, const carray<T>& lp, const carray<T>& g) {
        auto [n, d] = same_nd<T>({{&mq, "mu_q"}, {&lq, "logvar_q"}, {&mp, "mu_p"}, {&lp, "logvar_p"}});
        check_g(g, n);
        carray<T> a = new_like(mq), b = new_like(mq), c = new_like(mq), e = new_like(mq);
        {
          py::gil_scoped_release r;
          nn::diag_gaussian_kl_backward(mq.data(), lq.data(), mp.data(), lp.data(), g.data(), n, d, a.mutable_data(),
                                        b.mutable_data(), c.mutable_data(), e.mutable_data());
        }
        return py::make_tuple(a, b, c, e);
      },
      py::arg("mu_q").noconvert(), py::arg("logvar_q").noconvert(), py::arg("mu_p").noconvert(),
      py::arg("logvar_p").noconvert(), py::arg("g").noconvert());
  m.def(
      "diag_gaussian_sample",
      [](const carray<T>& mu, const carray<T>& lv, const carray<T>& eps) {
        auto [n, d] = same_nd<T>({{&mu, "mu"}, {&lv, "logvar"}, {&eps, "eps"}});
        carray<T> z = new_like(mu);
        py::gil_scoped_release r;
        nn::diag_gaussian_sample(mu.data(), lv.data(), eps.data(), n, d, z.mutable_data());
        return z;
      },
      py::arg("mu").noconvert(), py::arg("logvar").noconvert(), py::arg("eps").noconvert());
  m.def(
      "diag_gaussian_sample_backward",
      [](const carray<T>& lv, const carray<T>& eps, const carray<T>& gz) {
        auto [n, d] = same_nd<T>({{&lv, "logvar"}, {&eps, "eps"}, {&gz, "gz"}});
        carray<T> gmu = new_like(lv), glv = new_like(lv);
        {
          py::gil_scoped_release r;
          nn::diag_gaussian_sample_backward(lv.data(), eps.data(), gz.data(), n, d, gmu.mutable_data(),
                                            glv.mutable_data());
        }
        return py::make_tuple(gmu, glv);
      },
      py::arg("logvar").noconvert(), py::arg("eps").noconvert(), py::arg("gz").noconvert());

  // Cholesky-parameterised: raw (n, d(d+1)/2), d taken from the (n, d) arrays.
  m.def(
      "cholesky_unpack",
      [](const carray<T>& raw, std::size_t d, const std::string& transform) {
        const auto tr = nn::parse_diag_transform(transform);
        require_2d(raw, "raw");
        const auto n = static_cast<std::size_t>(raw.shape(0));
        check_packed(raw, "raw", n, d);
        carray<T> L({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(d), static_cast<py::ssize_t>(d)});
        py::gil_scoped_release r;
        nn::cholesky_unpack(raw.data(), n, d, tr, L.mutable_data());
        return L;
      },
      py::arg("raw").noconvert(), py::arg("d"), py::arg("transform") = "exp");
  m.def(
      "chol_gaussian_logpdf",
      [](const carray<T>& x, const carray<T>& mu, const carray<T>& raw, const std::string& transform) {
        const auto tr = nn::parse_diag_transform(transform);
        auto [n, d] = same_nd<T>({{&x, "x"}, {&mu, "mu"}});
        check_packed(raw, "raw", n, d);
        carray<T> out({static_cast<py::ssize_t>(n)});
        py::gil_scoped_release r;
        nn::chol_gaussian_logpdf(x.data(), mu.data(), raw.data(), n, d, tr, out.mutable_data());
        return out;
      },
      py::arg("x").noconvert(), py::arg("mu").noconvert(), py::arg("raw").noconvert(), py::arg("transform") = "exp");
  m.def(
      "chol_gaussian_logpdf_backward",
      [](const carray<T>& x, const carray<T>& mu, const carray<T>& raw, const carray<T>& g,
         const std::string& transform) {
        const auto tr = nn::parse_diag_transform(transform);
        auto [n, d] = same_nd<T>({{&x, "x"}, {&mu, "mu"}});
        check_packed(raw, "raw", n, d);
        check_g(g, n);
        carray<T> gx = new_like(x), gmu = new_like(x), graw = new_like(raw);
        {
          py::gil_scoped_release r;
          nn::chol_gaussian_logpdf_backward(x.data(), mu.data(), raw.data(), g.data(), n, d, tr, gx.mutable_data(),
                                            gmu.mutable_data(), graw.mutable_data());
        }
        return py::make_tuple(gx, gmu, graw);
      },
      py::arg("x").noconvert(), py::arg("mu").noconvert(), py::arg("raw").noconvert(), py::arg("g").noconvert(),
      py::arg("transform") = "exp");
  m.def(
      "chol_gaussian_kl",
      [](const carray<T>& mq, const carray<T>& raw, const carray<T>& mp, const carray<T>& lp,
         const std::string& transform) {
        const auto tr = nn::parse_diag_transform(transform);
        auto [n, d] = same_nd<T>({{&mq, "mu_q"}, {&mp, "mu_p"}, {&lp, "logvar_p"}});
        check_packed(raw, "raw_q", n, d);
        carray<T> out({static_cast<py::ssize_t>(n)});
        py::gil_scoped_release r;
        nn::chol_gaussian_kl(mq.data(), raw.data(), mp.data(), lp.data(), n, d, tr, out.mutable_data());
        return out;
      },
      py::arg("mu_q").noconvert(), py::arg("raw_q").noconvert(), py::arg("mu_p").noconvert(),
      py::arg("logvar_p").noconvert(), py::arg("transform") = "exp");
  m.def(
      "chol_gaussian_kl_backward",
      [](const carray<T>& mq, const carray<T>& raw, const carray<T>& mp, const carray<T>& lp, const carray<T>& g,
         const std::string& transform) {
        const auto tr = nn::parse_diag_transform(transform);
        auto [n, d] = same_nd<T>({{&mq, "mu_q"}, {&mp, "mu_p"}, {&lp, "logvar_p"}});
        check_packed(raw, "raw_q", n, d);
        check_g(g, n);
        carray<T> a = new_like(mq), b = new_like(raw), c = new_like(mq), e = new_like(mq);
        {
          py::gil_scoped_release r;
          nn::chol_gaussian_kl_backward(mq.data(), raw.data(), mp.data(), lp.data(), g.data(), n, d, tr,
                                        a.mutable_data(), b.mutable_data(), c.mutable_data(), e.mutable_data());
        }
        return py::make_tuple(a, b, c, e);
      },
      py::arg("mu_q").noconvert(), py::arg("raw_q").noconvert(), py::arg("mu_p").noconvert(),
      py::arg("logvar_p").noconvert(), py::arg("g").noconvert(), py::arg("transform") = "exp");
  m.def(
      "chol_gaussian_sample",
      [](const carray<T>& mu, const carray<T>& raw, const carray<T>& eps, const std::string& transform) {
        const auto tr = nn::parse_diag_transform(transform);
        auto [n, d] = same_nd<T>({{&mu, "mu"}, {&eps, "eps"}});
        check_packed(raw, "raw", n, d);
        carray<T> z = new_like(mu);
        py::gil_scoped_release r;
        nn::chol_gaussian_sample(mu.data(), raw.data(), eps.data(), n, d, tr, z.mutable_data());
        return z;
      },
      py::arg("mu").noconvert(), py::arg("raw").noconvert(), py::arg("eps").noconvert(), py::arg("transform") = "exp");
  m.def(
      "chol_gaussian_sample_backward",
      [](const carray<T>& raw, const carray<T>& eps, const carray<T>& gz, const std::string& transform) {
        const auto tr = nn::parse_diag_transform(transform);
        auto [n, d] = same_nd<T>({{&eps, "eps"}, {&gz, "gz"}});
        check_packed(raw, "raw", n, d);
        carray<T> gmu = new_like(eps), graw = new_like(raw);
        {
          py::gil_scoped_release r;
          nn::chol_gaussian_sample_backward(raw.data(), eps.data(), gz.data(), n, d, tr, gmu.mutable_data(),
                                            graw.mutable_data());
        }
        return py::make_tuple(gmu, graw);
      },
      py::arg("raw").noconvert(), py::arg("eps").noconvert(), py::arg("gz").noconvert(), py::arg("transform") = "exp");
}

/// params, the Adam moments m and v, and grad: writeable vectors of n_params entries.
template <class T>
void require_optimizer_state(std::size_t n_params, carray<T>& params, carray<T>& m, carray<T>& v, carray<T>& grad) {
  const std::pair<carray<T>*, const char*> state[] = {{&params, "params"}, {&m, "m"}, {&v, "v"}, {&grad, "grad"}};
  for (const auto& [a, name] : state) {
    require_shape(*a, name, {static_cast<py::ssize_t>(n_params)});
    require_writeable(*a, name);
  }
}

/// The fused MSE + Adam step; the Python layer (fastcrl.nn.MLP.mse_step) checks dtypes and the optimiser.
template <class T>
double mse_step_py(const MLPSpec& spec, carray<T> params, carray<T> m1, carray<T> v, std::int64_t step, double lr,
                   double beta1, double beta2, double eps, double weight_decay, bool decoupled, const carray<T>& X,
                   const carray<T>& Y, const std::optional<carray<std::int64_t>>& rows, carray<T> ws, carray<T> grad,
                   const std::optional<carray<std::int64_t>>& labels, std::size_t n_classes) {
  require_optimizer_state(spec.n_params(), params, m1, v, grad);
  require_writeable(ws, "workspace");
  require_2d(X, "X");
  require_2d(Y, "Y");
  const auto n_total = static_cast<std::size_t>(X.shape(0));
  const nn::OneHotInput onehot = onehot_input(spec, labels, n_classes, X.shape(0));
  const std::size_t dense = spec.sizes.front() - onehot.n_classes;
  if (static_cast<std::size_t>(X.shape(1)) != dense) bad_shape("X", "(n_samples, " + std::to_string(dense) + ")", X);
  require_shape(Y, "Y", {X.shape(0), static_cast<py::ssize_t>(spec.sizes.back())});
  std::size_t n = n_total;
  const std::int64_t* r = nullptr;
  if (rows) {
    if (rows->ndim() != 1) bad_shape("rows", "(batch,)", *rows);
    n = static_cast<std::size_t>(rows->shape(0));
    r = rows->data();
    for (std::size_t i = 0; i < n; ++i)
      if (r[i] < 0 || static_cast<std::size_t>(r[i]) >= n_total)
        throw py::index_error("rows[" + std::to_string(i) + "] = " + std::to_string(r[i]) + " is outside [0, " +
                              std::to_string(n_total) + ")");
  }
  if (n == 0) throw std::invalid_argument("the batch is empty");
  if (ws.ndim() != 1 || static_cast<std::size_t>(ws.shape(0)) < nn::mse_step_workspace_size(spec, n))
    bad_shape("workspace", "(>= " + std::to_string(nn::mse_step_workspace_size(spec, n)) + ",)", ws);
  if (step < 1) throw std::invalid_argument("step must be >= 1");
  const nn::AdamConfig c{lr, beta1, beta2, eps, weight_decay, decoupled};
  py::gil_scoped_release release;
  return nn::mlp_mse_adam_step(spec, params.mutable_data(), m1.mutable_data(), v.mutable_data(), step, c, X.data(),
                               Y.data(), r, n, ws.mutable_data(), grad.mutable_data(), onehot);
}

template <class T>
double regression_epoch_py(const MLPSpec& spec, carray<T> params, carray<T> grad, carray<T> m1, carray<T> v,
                           std::int64_t adam_step, double lr, double beta1, double beta2, double eps,
                           const carray<T>& X, const carray<T>& Y, const carray<std::int64_t>& order,
                           std::size_t batch, bool mean_over_outputs, carray<std::int64_t> progress,
                           double weight_decay, bool decoupled, const std::optional<carray<std::int64_t>>& labels,
                           std::size_t n_classes) {
  require_optimizer_state(spec.n_params(), params, m1, v, grad);
  require_2d(X, "X");
  const nn::OneHotInput onehot = onehot_input(spec, labels, n_classes, X.shape(0));
  const std::size_t dense = spec.sizes.front() - onehot.n_classes;
  if (static_cast<std::size_t>(X.shape(1)) != dense) bad_shape("X", "(n_samples, " + std::to_string(dense) + ")", X);
  require_shape(Y, "Y", {X.shape(0), static_cast<py::ssize_t>(spec.sizes.back())});
  if (order.ndim() != 1) bad_shape("order", "(n,)", order);
  if (batch < 1) throw std::invalid_argument("batch must be >= 1");
  if (adam_step < 0) throw std::invalid_argument("adam_step must be >= 0");
  require_shape(progress, "progress", {1});
  require_writeable(progress, "progress");
  const nn::AdamConfig c{lr, beta1, beta2, eps, weight_decay, decoupled};
  progress.mutable_data()[0] = 0;
  Interrupt interrupt = python_interrupt();
  double total = 0.0;
  {
    py::gil_scoped_release release;
    total = nn::mlp_regression_epoch(spec, params.mutable_data(), grad.mutable_data(), m1.mutable_data(),
                                     v.mutable_data(), adam_step, c, X.data(), Y.data(),
                                     static_cast<std::size_t>(X.shape(0)), order.data(),
                                     static_cast<std::size_t>(order.shape(0)), batch, mean_over_outputs, interrupt,
                                     progress.mutable_data(), onehot);
  }
  interrupt.rethrow_if_stopped();
  return total;
}

// ---- iVAE step and epoch -----------------------------------------------------------------------------

/// Rows of X (n x D) and their segment labels (n, in [0, K)); returns n.
template <class T>
std::size_t check_ivae_rows(const nn::IVAEShape& s, const carray<T>& X, const carray<std::int64_t>& seg) {
  require_2d(X, "X");
  const auto n = static_cast<py::ssize_t>(X.shape(0));
  require_shape(X, "X", {n, static_cast<py::ssize_t>(s.n_features)});
  check_labels(seg, "seg", n, s.n_segments);
  return static_cast<std::size_t>(n);
}

template <class T>
double ivae_loss_grad_py(const nn::IVAEShape& s, const carray<T>& params, const carray<T>& X,
                         const carray<std::int64_t>& seg, const carray<T>& eps, carray<T> grad) {
  const auto np = static_cast<py::ssize_t>(s.n_params());
  require_shape(params, "params", {np});
  require_shape(grad, "grad", {np});
  require_writeable(grad, "grad");
  const std::size_t n = check_ivae_rows(s, X, seg);
  require_shape(eps, "eps", {static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(s.n_latents)});
  py::gil_scoped_release release;
  return nn::ivae_loss_grad(s, params.data(), X.data(), seg.data(), eps.data(), n, grad.mutable_data());
}

template <class T>
double ivae_epoch_py(const nn::IVAEShape& s, carray<T> params, carray<T> grad, carray<T> m1, carray<T> v,
                     std::int64_t adam_step, const carray<double>& lrs, double beta1, double beta2, double eps,
                     const carray<T>& X, const carray<std::int64_t>& seg, const carray<std::int64_t>& order,
                     std::size_t batch, std::uint64_t noise_seed, std::uint64_t noise_offset,
                     carray<std::int64_t> progress) {
  require_optimizer_state(s.n_params(), params, m1, v, grad);
  const std::size_t n_rows = check_ivae_rows(s, X, seg);
  if (order.ndim() != 1) bad_shape("order", "(n_steps_rows,)", order);
  if (batch < 1) throw std::invalid_argument("batch must be >= 1");
  const auto n_order = static_cast<std::size_t>(order.shape(0));
  const std::size_t n_steps = (n_order + batch - 1) / batch;
  if (lrs.ndim() != 1 || static_cast<std::size_t>(lrs.shape(0)) < n_steps)
    bad_shape("lrs", "(>= " + std::to_string(n_steps) + ",)", lrs);
  require_shape(progress, "progress", {1});
  require_writeable(progress, "progress");
  if (adam_step < 0) throw std::invalid_argument("adam_step must be >= 0");
  const nn::AdamConfig c{0.0, beta1, beta2, eps, 0.0, false};
  progress.mutable_data()[0] = 0;
  Interrupt interrupt = python_interrupt();
  double total = 0.0;
  {
    py::gil_scoped_release release;
    total = nn::ivae_train_epoch(s, params.mutable_data(), grad.mutable_data(), m1.mutable_data(), v.mutable_data(),
                                 adam_step, lrs.data(), c, X.data(), seg.data(), n_rows, order.data(), n_order, batch,
                                 noise_seed, noise_offset, interrupt, progress.mutable_data());
  }
  interrupt.rethrow_if_stopped();
  return total;
}

template <class T>
void def_nn(py::module_& m) {
  m.def("mlp_forward", &mlp_forward_py<T>, py::arg("spec"), py::arg("params").noconvert(), py::arg("X").noconvert(),
        py::arg("workspace").noconvert(), py::arg("out").noconvert() = py::none(), py::arg("training") = true,
        py::arg("labels").noconvert() = py::none(), py::arg("n_classes") = 0,
        "MLP forward pass; stores what backward needs in workspace when training. With labels, the input's "
        "last n_classes columns are onehot(labels) and X holds the others.");
  m.def("mlp_backward", &mlp_backward_py<T>, py::arg("spec"), py::arg("params").noconvert(),
        py::arg("X").noconvert(), py::arg("workspace").noconvert(), py::arg("grad_out").noconvert(),
        py::arg("grad_params").noconvert() = py::none(), py::arg("need_grad_input") = true,
        py::arg("accumulate") = false, py::arg("labels").noconvert() = py::none(), py::arg("n_classes") = 0,
        "MLP backward pass after mlp_forward (with the same labels); returns (grad_params, grad_X or None).");
  m.def(
      "adam_update",
      [](carray<T> params, const carray<T>& grads, carray<T> m1, carray<T> v, std::int64_t step, double lr,
         double beta1, double beta2, double eps, double weight_decay, bool decoupled) {
        require_shape(params, "params", {params.size()});
        require_shape(grads, "grads", {params.size()});
        require_shape(m1, "m", {params.size()});
        require_shape(v, "v", {params.size()});
        require_writeable(params, "params");
        require_writeable(m1, "m");
        require_writeable(v, "v");
        nn::AdamConfig c{lr, beta1, beta2, eps, weight_decay, decoupled};
        py::gil_scoped_release r;
        nn::adam_update(params.mutable_data(), grads.data(), m1.mutable_data(), v.mutable_data(),
                        static_cast<std::size_t>(params.size()), step, c);
      },
      py::arg("params").noconvert(), py::arg("grads").noconvert(), py::arg("m").noconvert(), py::arg("v").noconvert(),
      py::arg("step"), py::arg("lr") = 1e-3, py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8,
      py::arg("weight_decay") = 0.0, py::arg("decoupled") = false, "Fused in-place Adam/AdamW step on 1-D arrays.");
  m.def("mlp_mse_adam_step", &mse_step_py<T>, py::arg("spec"), py::arg("params").noconvert(),
        py::arg("m").noconvert(), py::arg("v").noconvert(), py::arg("step"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("decoupled"), py::arg("X").noconvert(),
        py::arg("Y").noconvert(), py::arg("rows").noconvert(), py::arg("workspace").noconvert(),
        py::arg("grad").noconvert(), py::arg("labels").noconvert() = py::none(), py::arg("n_classes") = 0,
        "Fused training step: forward on X[rows], MSE loss and gradient, backward, Adam; returns the loss.");
  m.def("mlp_regression_epoch", &regression_epoch_py<T>, py::arg("spec"), py::arg("params").noconvert(),
        py::arg("grad").noconvert(), py::arg("m").noconvert(), py::arg("v").noconvert(), py::arg("adam_step"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("X").noconvert(),
        py::arg("Y").noconvert(), py::arg("order").noconvert(), py::arg("batch"), py::arg("mean_over_outputs"),
        py::arg("progress").noconvert(), py::arg("weight_decay") = 0.0, py::arg("decoupled") = false,
        py::arg("labels").noconvert() = py::none(), py::arg("n_classes") = 0,
        "One regression epoch over the rows `order` in batches (forward, squared error, backward, Adam each); "
        "returns the sum of batch loss x batch size. progress[0] counts the finished steps. With labels, the "
        "input's last n_classes columns are onehot(labels) and X holds the others.");
  m.def("ivae_loss_grad", &ivae_loss_grad_py<T>, py::arg("shape"), py::arg("params").noconvert(),
        py::arg("X").noconvert(), py::arg("seg").noconvert(), py::arg("eps").noconvert(), py::arg("grad").noconvert(),
        "Mean negative ELBO of a batch of iVAE rows; its gradient is written into grad.");
  m.def("ivae_train_epoch", &ivae_epoch_py<T>, py::arg("shape"), py::arg("params").noconvert(),
        py::arg("grad").noconvert(), py::arg("m").noconvert(), py::arg("v").noconvert(), py::arg("adam_step"),
        py::arg("lrs").noconvert(), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("X").noconvert(),
        py::arg("seg").noconvert(), py::arg("order").noconvert(), py::arg("batch"), py::arg("noise_seed"),
        py::arg("noise_offset"), py::arg("progress").noconvert(),
        "One iVAE training epoch over the rows `order` in batches (noise, step, Adam each); returns the sum of "
        "batch loss x batch size. progress[0] counts the finished steps (also after Ctrl-C).");
  m.def(
      "random_uniform_fill",
      [](carray<T> out, std::uint64_t seed, std::uint64_t offset) {
        require_writeable(out, "out");
        py::gil_scoped_release r;
        nn::random_uniform(seed, offset, static_cast<std::size_t>(out.size()), out.mutable_data());
      },
      py::arg("out").noconvert(), py::arg("seed"), py::arg("offset") = 0,
      "Fill out with Philox uniforms on [0, 1) for draws offset .. offset + out.size - 1.");
  m.def(
      "random_normal_fill",
      [](carray<T> out, std::uint64_t seed, std::uint64_t offset) {
        require_writeable(out, "out");
        py::gil_scoped_release r;
        nn::random_normal(seed, offset, static_cast<std::size_t>(out.size()), out.mutable_data());
      },
      py::arg("out").noconvert(), py::arg("seed"), py::arg("offset") = 0,
      "Fill out with Philox standard normals for draws offset .. offset + out.size - 1.");
  def_gaussians<T>(m);
}

}  // namespace

void bind_nn(py::module_& m) {
  py::class_<MLPSpec>(m, "MLPSpec", "Validated MLP shape: layer sizes, per-layer activations, leaky slope, ELU alpha.")
      .def(py::init(&make_spec), py::arg("sizes"), py::arg("activations"), py::arg("leaky_slope") = 0.01,
           py::arg("elu_alpha") = 1.0)
      .def_property_readonly("sizes", [](const MLPSpec& s) { return s.sizes; })
      .def_property_readonly("activations",
                             [](const MLPSpec& s) {
                               std::vector<std::string> a;
                               for (auto x : s.activations) a.emplace_back(nn::activation_name(x));
                               return a;
                             })
      .def_property_readonly("leaky_slope", [](const MLPSpec& s) { return s.leaky_slope; })
      .def_property_readonly("elu_alpha", [](const MLPSpec& s) { return s.elu_alpha; })
      .def_property_readonly("n_layers", &MLPSpec::n_layers)
      .def_property_readonly("n_params", &MLPSpec::n_params)
      .def("weight_offset", &MLPSpec::weight_offset, py::arg("layer"))
      .def("workspace_size", &MLPSpec::workspace_size, py::arg("batch"))
      .def(
          "mse_step_workspace_size", [](const MLPSpec& s, std::size_t n) { return nn::mse_step_workspace_size(s, n); },
          py::arg("batch"))
      .def(py::pickle(
          [](const MLPSpec& s) {
            std::vector<std::string> acts;
            for (auto a : s.activations) acts.emplace_back(nn::activation_name(a));
            return py::make_tuple(s.sizes, acts, s.leaky_slope, s.elu_alpha);
          },
          [](const py::tuple& t) {
            if (t.size() != 4) throw std::invalid_argument("invalid pickled state of MLPSpec");
            return make_spec(t[0].cast<std::vector<std::size_t>>(), t[1].cast<std::vector<std::string>>(),
                             t[2].cast<double>(), t[3].cast<double>());
          }));
  const auto make_ivae_shape = [](const MLPSpec& encoder, const MLPSpec& decoder, std::size_t n_features,
                                  std::size_t n_segments, std::size_t n_latents, const std::string& posterior,
                                  double decoder_var, bool learn_prior_mean) {
    if (posterior != "full" && posterior != "diagonal")
      throw std::invalid_argument("posterior must be 'full' or 'diagonal'; got '" + posterior + "'");
    nn::IVAEShape s{encoder, decoder, n_features, n_segments, n_latents, posterior == "full", decoder_var,
                    learn_prior_mean};
    s.validate();
    return s;
  };
  py::class_<nn::IVAEShape>(m, "IVAEShape", "Validated iVAE shape: encoder, decoder, D, K, d, posterior, decoder variance.")
      .def(py::init(make_ivae_shape),
           py::arg("encoder"), py::arg("decoder"), py::arg("n_features"), py::arg("n_segments"), py::arg("n_latents"),
           py::arg("posterior"), py::arg("decoder_var"), py::arg("learn_prior_mean"))
      .def_property_readonly("encoder", [](const nn::IVAEShape& s) { return s.encoder; })
      .def_property_readonly("decoder", [](const nn::IVAEShape& s) { return s.decoder; })
      .def_readonly("n_features", &nn::IVAEShape::n_features)
      .def_readonly("n_segments", &nn::IVAEShape::n_segments)
      .def_readonly("n_latents", &nn::IVAEShape::n_latents)
      .def_property_readonly("posterior",
                             [](const nn::IVAEShape& s) { return s.full_posterior ? "full" : "diagonal"; })
      .def_readonly("decoder_var", &nn::IVAEShape::decoder_var)
      .def_readonly("learn_prior_mean", &nn::IVAEShape::learn_prior_mean)
      .def_property_readonly("n_params", &nn::IVAEShape::n_params)
      .def_property_readonly("n_raw", &nn::IVAEShape::n_raw)
      .def(py::pickle(
          [](const nn::IVAEShape& s) {
            return py::make_tuple(s.encoder, s.decoder, s.n_features, s.n_segments, s.n_latents,
                                  s.full_posterior ? "full" : "diagonal", s.decoder_var, s.learn_prior_mean);
          },
          [make_ivae_shape](const py::tuple& t) {
            if (t.size() != 8) throw std::invalid_argument("invalid pickled state of IVAEShape");
            return make_ivae_shape(t[0].cast<MLPSpec>(), t[1].cast<MLPSpec>(), t[2].cast<std::size_t>(),
                                   t[3].cast<std::size_t>(), t[4].cast<std::size_t>(), t[5].cast<std::string>(),
                                   t[6].cast<double>(), t[7].cast<bool>());
          }));
  m.def(
      "philox4x32_10",
      [](std::array<std::uint32_t, 4> counter, std::array<std::uint32_t, 2> key) {
        std::array<std::uint32_t, 4> out{};
        nn::philox4x32_10(counter.data(), key.data(), out.data());
        return out;
      },
      py::arg("counter"), py::arg("key"), "One Philox-4x32-10 block (for known-answer tests).");
  def_nn<double>(m);
  def_nn<float>(m);
}

}  // namespace fastcrl::py_bindings
