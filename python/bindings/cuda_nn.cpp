// fastcrl._cuda: the latent-encoder kernels (cuda/nn.cu).  A further translation unit of the module.
//
// Private entry points for fastcrl._gpu_nn, which validates the CuPy arrays (dtype, shape, contiguity,
// finiteness), allocates outputs and workspaces from CuPy's pool and passes raw device pointers, sizes,
// the itemsize and the current stream as integers.  Here every non-null pointer is checked to be device
// memory on one device before anything is queued, and the GIL is released around the launches.
#include "cuda_nn.hpp"

#include <pybind11/stl.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fastcrl/cuda/nn.hpp"
#include "fastcrl/cuda/runtime.hpp"

namespace py = pybind11;
namespace fc = fastcrl::cuda;
namespace fn = fastcrl::cuda::nn;

namespace {

using Ptr = std::uintptr_t;
using I64 = std::int64_t;

void check_itemsize(I64 itemsize) {
  if (itemsize != 4 && itemsize != 8)
    throw py::value_error("itemsize must be 4 (float32) or 8 (float64); got " + std::to_string(itemsize));
}

void check_sizes(I64 n, I64 d) {
  if (n < 0 || d < 0)
    throw py::value_error("sizes must be non-negative; got n=" + std::to_string(n) + ", d=" + std::to_string(d));
}

/// The device of the named pointers (all must agree); null pointers (absent outputs, empty arrays) are
/// skipped.
fc::Launch launch_for(const std::vector<std::pair<Ptr, const char*>>& pointers, Ptr stream) {
  fc::Launch launch;
  launch.stream = stream;
  const char* first = nullptr;
  for (const auto& [ptr, name] : pointers) {
    if (ptr == 0) continue;
    const int dev = fc::device_of(ptr, name);
    if (!first) {
      launch.device = dev;
      first = name;
    } else if (dev != launch.device) {
      throw std::invalid_argument(std::string(name) + " is on device " + std::to_string(dev) + " but " + first +
                                  " is on device " + std::to_string(launch.device));
    }
  }
  // All null: every array is empty, so the kernels have no work and launch nothing.
  return launch;
}

/// Calls f(T{}) with T = double (itemsize 8) or float (4), with the GIL released.
template <class F>
void by_dtype(I64 itemsize, F&& f) {
  check_itemsize(itemsize);
  py::gil_scoped_release release;
  if (itemsize == 8)
    f(double{});
  else
    f(float{});
}

template <class T>
T* as(Ptr p) {
  return reinterpret_cast<T*>(p);
}

fn::MLPShape make_shape(const std::vector<I64>& sizes, const std::vector<int>& acts, double slope, double alpha) {
  fn::MLPShape s;
  s.sizes = sizes;
  s.activations = acts;
  s.leaky_slope = slope;
  s.elu_alpha = alpha;
  s.validate();
  return s;
}

fn::IVAEDims make_dims(const std::vector<I64>& enc_sizes, const std::vector<int>& enc_acts,
                       const std::vector<I64>& dec_sizes, const std::vector<int>& dec_acts, double slope, double alpha,
                       I64 D, I64 K, I64 d, bool full, double decoder_var, bool learn_prior_mean) {
  fn::IVAEDims dims;
  dims.encoder = make_shape(enc_sizes, enc_acts, slope, alpha);
  dims.decoder = make_shape(dec_sizes, dec_acts, slope, alpha);
  dims.n_features = D;
  dims.n_segments = K;
  dims.n_latents = d;
  dims.full_posterior = full;
  dims.decoder_var = decoder_var;
  dims.learn_prior_mean = learn_prior_mean;
  dims.validate();
  return dims;
}

/// A should_stop for long host loops: at most every 100 ms it takes the GIL and runs Python's signal
/// handlers; an exception they raise is kept (error) and stops the loop.
struct SignalPoll {
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  py::object error = py::none();

  bool operator()() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::milliseconds(100)) return false;
    last = now;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() == 0) return false;
    error = py::error_already_set().value();
    return true;
  }
};

}  // namespace

void bind_cuda_nn(py::module_& m) {
  m.attr("nn_max_cholesky_dim") = fn::kMaxCholeskyDim;
  m.def(
      "nn_mlp_workspace_elems",
      [](const std::vector<I64>& sizes, const std::vector<int>& acts, I64 n) {
        check_sizes(n, 0);
        return make_shape(sizes, acts, 0.01, 1.0).workspace_elems(n);
      },
      py::arg("sizes"), py::arg("activations"), py::arg("n"),
      "Elements of workspace an MLP pass over n rows needs (the CPU's MLPSpec.workspace_size).");
  m.def(
      "nn_mlp_forward",
      [](const std::vector<I64>& sizes, const std::vector<int>& acts, double slope, double alpha, Ptr params, Ptr X,
         I64 n, Ptr out, Ptr ws, bool training, I64 itemsize, Ptr stream, Ptr labels, I64 n_classes) {
        check_sizes(n, 0);
        const auto s = make_shape(sizes, acts, slope, alpha);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for(
              {{params, "params"}, {X, "X"}, {out, "out"}, {ws, "workspace"}, {labels, "labels"}}, stream);
          fn::mlp_forward<T>(L, s, as<const T>(params), as<const T>(X), n, as<T>(out), as<T>(ws), training,
                             labels ? as<const std::int64_t>(labels) : nullptr, labels ? n_classes : 0);
        });
      },
      py::arg("sizes"), py::arg("activations"), py::arg("leaky_slope"), py::arg("elu_alpha"), py::arg("params"),
      py::arg("X"), py::arg("n"), py::arg("out"), py::arg("workspace"), py::arg("training"), py::arg("itemsize"),
      py::arg("stream"), py::arg("labels") = 0, py::arg("n_classes") = 0,
      "MLP forward pass (cuBLAS GEMM + fused bias/activation), queued on `stream`; with labels (device "
      "int64), the input's last n_classes columns are their one-hot code.");
  m.def(
      "nn_mlp_backward",
      [](const std::vector<I64>& sizes, const std::vector<int>& acts, double slope, double alpha, Ptr params, Ptr X,
         I64 n, Ptr grad_out, Ptr ws, Ptr grad_params, Ptr grad_X, bool accumulate, I64 itemsize, Ptr stream,
         Ptr labels, I64 n_classes) {
        check_sizes(n, 0);
        const auto s = make_shape(sizes, acts, slope, alpha);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{params, "params"}, {X, "X"}, {grad_out, "grad_out"}, {ws, "workspace"},
                                     {grad_params, "grad_params"}, {grad_X, "grad_X"}, {labels, "labels"}},
                                    stream);
          fn::mlp_backward<T>(L, s, as<const T>(params), as<const T>(X), n, as<const T>(grad_out), as<T>(ws),
                              as<T>(grad_params), grad_X ? as<T>(grad_X) : nullptr, accumulate,
                              labels ? as<const std::int64_t>(labels) : nullptr, labels ? n_classes : 0);
        });
      },
      py::arg("sizes"), py::arg("activations"), py::arg("leaky_slope"), py::arg("elu_alpha"), py::arg("params"),
      py::arg("X"), py::arg("n"), py::arg("grad_out"), py::arg("workspace"), py::arg("grad_params"),
      py::arg("grad_X"), py::arg("accumulate"), py::arg("itemsize"), py::arg("stream"), py::arg("labels") = 0,
      py::arg("n_classes") = 0,
      "MLP backward pass after nn_mlp_forward(training=True); grad_X may be 0 (not wanted).");

  // Gaussians: (name, pointer) lists in the kernels' argument order; 0 = output not wanted.
  m.def(
      "nn_diag_gaussian_logpdf",
      [](Ptr x, Ptr mu, Ptr lv, I64 n, I64 d, Ptr out, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{x, "x"}, {mu, "mu"}, {lv, "logvar"}, {out, "out"}}, stream);
          fn::diag_gaussian_logpdf<T>(L, as<const T>(x), as<const T>(mu), as<const T>(lv), n, d, as<T>(out));
        });
      },
      py::arg("x"), py::arg("mu"), py::arg("logvar"), py::arg("n"), py::arg("d"), py::arg("out"),
      py::arg("itemsize"), py::arg("stream"));
  m.def(
      "nn_diag_gaussian_logpdf_backward",
      [](Ptr x, Ptr mu, Ptr lv, Ptr g, I64 n, I64 d, Ptr gx, Ptr gmu, Ptr glv, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for(
              {{x, "x"}, {mu, "mu"}, {lv, "logvar"}, {g, "g"}, {gx, "gx"}, {gmu, "gmu"}, {glv, "glogvar"}}, stream);
          fn::diag_gaussian_logpdf_backward<T>(L, as<const T>(x), as<const T>(mu), as<const T>(lv), as<const T>(g), n,
                                               d, as<T>(gx), as<T>(gmu), as<T>(glv));
        });
      },
      py::arg("x"), py::arg("mu"), py::arg("logvar"), py::arg("g"), py::arg("n"), py::arg("d"), py::arg("gx"),
      py::arg("gmu"), py::arg("glogvar"), py::arg("itemsize"), py::arg("stream"));
  m.def(
      "nn_diag_gaussian_kl",
      [](Ptr mq, Ptr lvq, Ptr mp, Ptr lvp, I64 n, I64 d, Ptr out, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for(
              {{mq, "mu_q"}, {lvq, "logvar_q"}, {mp, "mu_p"}, {lvp, "logvar_p"}, {out, "out"}}, stream);
          fn::diag_gaussian_kl<T>(L, as<const T>(mq), as<const T>(lvq), as<const T>(mp), as<const T>(lvp), n, d,
                                  as<T>(out));
        });
      },
      py::arg("mu_q"), py::arg("logvar_q"), py::arg("mu_p"), py::arg("logvar_p"), py::arg("n"), py::arg("d"),
      py::arg("out"), py::arg("itemsize"), py::arg("stream"));
  m.def(
      "nn_diag_gaussian_kl_backward",
      [](Ptr mq, Ptr lvq, Ptr mp, Ptr lvp, Ptr g, I64 n, I64 d, Ptr a, Ptr b, Ptr c, Ptr e, I64 itemsize,
         Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{mq, "mu_q"}, {lvq, "logvar_q"}, {mp, "mu_p"}, {lvp, "logvar_p"}, {g, "g"},
                                     {a, "gmu_q"}, {b, "glogvar_q"}, {c, "gmu_p"}, {e, "glogvar_p"}},
                                    stream);
          fn::diag_gaussian_kl_backward<T>(L, as<const T>(mq), as<const T>(lvq), as<const T>(mp), as<const T>(lvp),
                                           as<const T>(g), n, d, as<T>(a), as<T>(b), as<T>(c), as<T>(e));
        });
      },
      py::arg("mu_q"), py::arg("logvar_q"), py::arg("mu_p"), py::arg("logvar_p"), py::arg("g"), py::arg("n"),
      py::arg("d"), py::arg("gmu_q"), py::arg("glogvar_q"), py::arg("gmu_p"), py::arg("glogvar_p"),
      py::arg("itemsize"), py::arg("stream"));
  m.def(
      "nn_diag_gaussian_sample",
      [](Ptr mu, Ptr lv, Ptr eps, I64 n, I64 d, Ptr z, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{mu, "mu"}, {lv, "logvar"}, {eps, "eps"}, {z, "z"}}, stream);
          fn::diag_gaussian_sample<T>(L, as<const T>(mu), as<const T>(lv), as<const T>(eps), n, d, as<T>(z));
        });
      },
      py::arg("mu"), py::arg("logvar"), py::arg("eps"), py::arg("n"), py::arg("d"), py::arg("z"), py::arg("itemsize"),
      py::arg("stream"));
  m.def(
      "nn_diag_gaussian_sample_backward",
      [](Ptr lv, Ptr eps, Ptr gz, I64 n, I64 d, Ptr gmu, Ptr glv, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L =
              launch_for({{lv, "logvar"}, {eps, "eps"}, {gz, "gz"}, {gmu, "gmu"}, {glv, "glogvar"}}, stream);
          fn::diag_gaussian_sample_backward<T>(L, as<const T>(lv), as<const T>(eps), as<const T>(gz), n, d,
                                               as<T>(gmu), as<T>(glv));
        });
      },
      py::arg("logvar"), py::arg("eps"), py::arg("gz"), py::arg("n"), py::arg("d"), py::arg("gmu"),
      py::arg("glogvar"), py::arg("itemsize"), py::arg("stream"));

  m.def(
      "nn_cholesky_unpack",
      [](Ptr raw, I64 n, I64 d, int tr, Ptr L_out, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{raw, "raw"}, {L_out, "L"}}, stream);
          fn::cholesky_unpack<T>(L, as<const T>(raw), n, d, tr, as<T>(L_out));
        });
      },
      py::arg("raw"), py::arg("n"), py::arg("d"), py::arg("transform"), py::arg("L"), py::arg("itemsize"),
      py::arg("stream"));
  m.def(
      "nn_chol_gaussian_logpdf",
      [](Ptr x, Ptr mu, Ptr raw, I64 n, I64 d, int tr, Ptr out, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{x, "x"}, {mu, "mu"}, {raw, "raw"}, {out, "out"}}, stream);
          fn::chol_gaussian_logpdf<T>(L, as<const T>(x), as<const T>(mu), as<const T>(raw), n, d, tr, as<T>(out));
        });
      },
      py::arg("x"), py::arg("mu"), py::arg("raw"), py::arg("n"), py::arg("d"), py::arg("transform"), py::arg("out"),
      py::arg("itemsize"), py::arg("stream"));
  m.def(
      "nn_chol_gaussian_logpdf_backward",
      [](Ptr x, Ptr mu, Ptr raw, Ptr g, I64 n, I64 d, int tr, Ptr gx, Ptr gmu, Ptr graw, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for(
              {{x, "x"}, {mu, "mu"}, {raw, "raw"}, {g, "g"}, {gx, "gx"}, {gmu, "gmu"}, {graw, "graw"}}, stream);
          fn::chol_gaussian_logpdf_backward<T>(L, as<const T>(x), as<const T>(mu), as<const T>(raw), as<const T>(g),
                                               n, d, tr, as<T>(gx), as<T>(gmu), as<T>(graw));
        });
      },
      py::arg("x"), py::arg("mu"), py::arg("raw"), py::arg("g"), py::arg("n"), py::arg("d"), py::arg("transform"),
      py::arg("gx"), py::arg("gmu"), py::arg("graw"), py::arg("itemsize"), py::arg("stream"));
  m.def(
      "nn_chol_gaussian_kl",
      [](Ptr mq, Ptr raw, Ptr mp, Ptr lvp, I64 n, I64 d, int tr, Ptr out, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L =
              launch_for({{mq, "mu_q"}, {raw, "raw_q"}, {mp, "mu_p"}, {lvp, "logvar_p"}, {out, "out"}}, stream);
          fn::chol_gaussian_kl<T>(L, as<const T>(mq), as<const T>(raw), as<const T>(mp), as<const T>(lvp), n, d, tr,
                                  as<T>(out));
        });
      },
      py::arg("mu_q"), py::arg("raw_q"), py::arg("mu_p"), py::arg("logvar_p"), py::arg("n"), py::arg("d"),
      py::arg("transform"), py::arg("out"), py::arg("itemsize"), py::arg("stream"));
  m.def(
      "nn_chol_gaussian_kl_backward",
      [](Ptr mq, Ptr raw, Ptr mp, Ptr lvp, Ptr g, I64 n, I64 d, int tr, Ptr a, Ptr b, Ptr c, Ptr e, I64 itemsize,
         Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{mq, "mu_q"}, {raw, "raw_q"}, {mp, "mu_p"}, {lvp, "logvar_p"}, {g, "g"},
                                     {a, "gmu_q"}, {b, "graw_q"}, {c, "gmu_p"}, {e, "glogvar_p"}},
                                    stream);
          fn::chol_gaussian_kl_backward<T>(L, as<const T>(mq), as<const T>(raw), as<const T>(mp), as<const T>(lvp),
                                           as<const T>(g), n, d, tr, as<T>(a), as<T>(b), as<T>(c), as<T>(e));
        });
      },
      py::arg("mu_q"), py::arg("raw_q"), py::arg("mu_p"), py::arg("logvar_p"), py::arg("g"), py::arg("n"),
      py::arg("d"), py::arg("transform"), py::arg("gmu_q"), py::arg("graw_q"), py::arg("gmu_p"), py::arg("glogvar_p"),
      py::arg("itemsize"), py::arg("stream"));
  m.def(
      "nn_chol_gaussian_sample",
      [](Ptr mu, Ptr raw, Ptr eps, I64 n, I64 d, int tr, Ptr z, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{mu, "mu"}, {raw, "raw"}, {eps, "eps"}, {z, "z"}}, stream);
          fn::chol_gaussian_sample<T>(L, as<const T>(mu), as<const T>(raw), as<const T>(eps), n, d, tr, as<T>(z));
        });
      },
      py::arg("mu"), py::arg("raw"), py::arg("eps"), py::arg("n"), py::arg("d"), py::arg("transform"), py::arg("z"),
      py::arg("itemsize"), py::arg("stream"));
  m.def(
      "nn_chol_gaussian_sample_backward",
      [](Ptr raw, Ptr eps, Ptr gz, I64 n, I64 d, int tr, Ptr gmu, Ptr graw, I64 itemsize, Ptr stream) {
        check_sizes(n, d);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{raw, "raw"}, {eps, "eps"}, {gz, "gz"}, {gmu, "gmu"}, {graw, "graw"}}, stream);
          fn::chol_gaussian_sample_backward<T>(L, as<const T>(raw), as<const T>(eps), as<const T>(gz), n, d, tr,
                                               as<T>(gmu), as<T>(graw));
        });
      },
      py::arg("raw"), py::arg("eps"), py::arg("gz"), py::arg("n"), py::arg("d"), py::arg("transform"),
      py::arg("gmu"), py::arg("graw"), py::arg("itemsize"), py::arg("stream"));

  m.def(
      "nn_adam_update",
      [](Ptr p, Ptr g, Ptr mm, Ptr v, I64 n, I64 step, double lr, double b1, double b2, double eps, double wd,
         bool decoupled, I64 itemsize, Ptr stream) {
        check_sizes(n, 0);
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{p, "params"}, {g, "grads"}, {mm, "m"}, {v, "v"}}, stream);
          fn::adam_update<T>(L, as<T>(p), as<const T>(g), as<T>(mm), as<T>(v), n, step, lr, b1, b2, eps, wd,
                             decoupled);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("m"), py::arg("v"), py::arg("n"), py::arg("step"), py::arg("lr"),
      py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("decoupled"),
      py::arg("itemsize"), py::arg("stream"), "Fused in-place Adam/AdamW step, queued on `stream`.");
  m.def(
      "nn_regression_workspace_elems",
      [](const std::vector<I64>& sizes, const std::vector<int>& acts, I64 batch) {
        check_sizes(batch, 0);
        return fn::regression_epoch_workspace_elems(make_shape(sizes, acts, 0.01, 1.0), batch);
      },
      py::arg("sizes"), py::arg("activations"), py::arg("batch"),
      "Elements of T workspace one regression epoch needs at this batch size.");
  m.def(
      "nn_mlp_regression_epoch",
      [](const std::vector<I64>& sizes, const std::vector<int>& acts, double slope, double alpha, Ptr params,
         Ptr grad, Ptr mm, Ptr v, I64 adam_step, double lr, double b1, double b2, double eps, Ptr X, Ptr Y,
         Ptr order, I64 n_order, I64 batch, bool mean_over_outputs, double wd, bool decoupled, Ptr labels,
         I64 n_classes, Ptr label_ws, Ptr ws, Ptr loss_total, I64 itemsize, Ptr stream) {
        const auto shape = make_shape(sizes, acts, slope, alpha);
        check_sizes(n_order, batch);
        if (labels && (n_classes < 1 || n_classes >= sizes.front() || !label_ws))
          throw py::value_error("labels need 1 <= n_classes < sizes[0] and a label workspace");
        if (batch < 1) throw py::value_error("batch must be >= 1");
        if (adam_step < 0) throw py::value_error("adam_step must be >= 0");
        SignalPoll poll;
        const std::function<bool()> should_stop = std::ref(poll);
        I64 steps = 0;
        if (n_order > 0) {
          by_dtype(itemsize, [&](auto t) {
            using T = decltype(t);
            const auto L = launch_for({{params, "params"}, {grad, "grad"}, {mm, "m"}, {v, "v"}, {X, "X"}, {Y, "Y"},
                                       {order, "order"}, {labels, "labels"}, {label_ws, "label_workspace"},
                                       {ws, "workspace"}, {loss_total, "loss_total"}},
                                      stream);
            steps = fn::mlp_regression_epoch<T>(L, shape, as<T>(params), as<T>(grad), as<T>(mm), as<T>(v),
                                                adam_step, lr, b1, b2, eps, wd, decoupled, as<const T>(X),
                                                as<const T>(Y), as<const std::int64_t>(order), n_order, batch,
                                                mean_over_outputs, labels ? as<const std::int64_t>(labels) : nullptr,
                                                n_classes, labels ? as<std::int64_t>(label_ws) : nullptr, as<T>(ws),
                                                as<double>(loss_total), should_stop);
          });
        }
        return py::make_tuple(steps, poll.error);
      },
      py::arg("sizes"), py::arg("activations"), py::arg("leaky_slope"), py::arg("elu_alpha"), py::arg("params"),
      py::arg("grad"), py::arg("m"), py::arg("v"), py::arg("adam_step"), py::arg("lr"), py::arg("beta1"),
      py::arg("beta2"), py::arg("eps"), py::arg("X"), py::arg("Y"), py::arg("order"), py::arg("n_order"),
      py::arg("batch"), py::arg("mean_over_outputs"), py::arg("weight_decay"), py::arg("decoupled"),
      py::arg("labels"), py::arg("n_classes"), py::arg("label_workspace"), py::arg("workspace"),
      py::arg("loss_total"),
      py::arg("itemsize"), py::arg("stream"),
      "One MLP regression epoch queued on `stream`; returns (steps queued, the exception a signal handler "
      "raised or None).");
  m.def(
      "nn_ivae_workspace_elems",
      [](const std::vector<I64>& enc_sizes, const std::vector<int>& enc_acts, const std::vector<I64>& dec_sizes,
         const std::vector<int>& dec_acts, I64 D, I64 K, I64 d, bool full, I64 batch) {
        check_sizes(batch, 0);
        return make_dims(enc_sizes, enc_acts, dec_sizes, dec_acts, 0.01, 1.0, D, K, d, full, 1.0, false)
            .epoch_workspace_elems(batch);
      },
      py::arg("encoder_sizes"), py::arg("encoder_activations"), py::arg("decoder_sizes"),
      py::arg("decoder_activations"), py::arg("n_features"), py::arg("n_segments"), py::arg("n_latents"),
      py::arg("full_posterior"), py::arg("batch"), "Elements of T workspace one iVAE epoch needs at this batch size.");
  m.def(
      "nn_ivae_train_epoch",
      [](const std::vector<I64>& enc_sizes, const std::vector<int>& enc_acts, const std::vector<I64>& dec_sizes,
         const std::vector<int>& dec_acts, double slope, double alpha, I64 D, I64 K, I64 d, bool full,
         double decoder_var, bool learn_prior_mean, Ptr params, Ptr grad, Ptr mm, Ptr v, I64 adam_step,
         const std::vector<double>& lrs, double b1, double b2, double eps, Ptr X, Ptr seg, Ptr order, I64 n_order,
         I64 batch, std::uint64_t noise_seed, std::uint64_t noise_offset, Ptr ws, Ptr seg_ws, Ptr loss_total,
         I64 itemsize, Ptr stream) {
        const auto dims = make_dims(enc_sizes, enc_acts, dec_sizes, dec_acts, slope, alpha, D, K, d, full,
                                    decoder_var, learn_prior_mean);
        check_sizes(n_order, batch);
        if (batch < 1) throw py::value_error("batch must be >= 1");
        if (adam_step < 0) throw py::value_error("adam_step must be >= 0");
        const I64 n_steps = (n_order + batch - 1) / batch;
        if (static_cast<I64>(lrs.size()) < n_steps)
          throw py::value_error("lrs has " + std::to_string(lrs.size()) + " entries for " + std::to_string(n_steps) +
                                " steps");
        SignalPoll poll;
        const std::function<bool()> should_stop = std::ref(poll);
        I64 steps = 0;
        if (n_order > 0) {
          by_dtype(itemsize, [&](auto t) {
            using T = decltype(t);
            const auto L = launch_for({{params, "params"}, {grad, "grad"}, {mm, "m"}, {v, "v"}, {X, "X"},
                                       {seg, "seg"}, {order, "order"}, {ws, "workspace"},
                                       {seg_ws, "seg_workspace"}, {loss_total, "loss_total"}},
                                      stream);
            steps = fn::ivae_train_epoch<T>(L, dims, as<T>(params), as<T>(grad), as<T>(mm), as<T>(v), adam_step,
                                            lrs.data(), b1, b2, eps, as<const T>(X), as<const std::int64_t>(seg),
                                            as<const std::int64_t>(order), n_order, batch, noise_seed, noise_offset,
                                            as<T>(ws), as<std::int64_t>(seg_ws), as<double>(loss_total), should_stop);
          });
        }
        return py::make_tuple(steps, poll.error);
      },
      py::arg("encoder_sizes"), py::arg("encoder_activations"), py::arg("decoder_sizes"),
      py::arg("decoder_activations"), py::arg("leaky_slope"), py::arg("elu_alpha"), py::arg("n_features"),
      py::arg("n_segments"), py::arg("n_latents"), py::arg("full_posterior"), py::arg("decoder_var"),
      py::arg("learn_prior_mean"), py::arg("params"), py::arg("grad"), py::arg("m"), py::arg("v"),
      py::arg("adam_step"), py::arg("lrs"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("X"),
      py::arg("seg"), py::arg("order"), py::arg("n_order"), py::arg("batch"), py::arg("noise_seed"),
      py::arg("noise_offset"), py::arg("workspace"), py::arg("seg_workspace"), py::arg("loss_total"),
      py::arg("itemsize"), py::arg("stream"),
      "One iVAE training epoch queued on `stream` (see fastcrl::cuda::nn::ivae_train_epoch); returns (steps "
      "queued, the exception a signal handler raised or None).");
  m.def(
      "nn_random_fill",
      [](Ptr out, I64 n, std::uint64_t seed, std::uint64_t offset, bool normal, I64 itemsize, Ptr stream) {
        check_sizes(n, 0);
        if (n == 0) return;
        by_dtype(itemsize, [&](auto t) {
          using T = decltype(t);
          const auto L = launch_for({{out, "out"}}, stream);
          if (normal)
            fn::random_normal<T>(L, seed, offset, n, as<T>(out));
          else
            fn::random_uniform<T>(L, seed, offset, n, as<T>(out));
        });
      },
      py::arg("out"), py::arg("n"), py::arg("seed"), py::arg("offset"), py::arg("normal"), py::arg("itemsize"),
      py::arg("stream"), "out[i] = Philox draw offset + i (standard normal or uniform [0, 1)), as the CPU's.");
}
