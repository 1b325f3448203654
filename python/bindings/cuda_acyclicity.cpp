// fastcrl._cuda: the acyclicity kernels (cuda/acyclicity.cu).  A second translation unit of the module.
//
// Private entry points for fastcrl._gpu_acyclicity, which validates the CuPy arrays (dtype, shape,
// C-contiguity, device), allocates outputs and the workspace from CuPy's pool and passes raw device
// pointers, sizes and the current stream as integers (the STYLE's "(ptr, shape, stream)" boundary).
// Here every pointer is checked to be device memory on one device before anything is queued, and the
// GIL is released around the launches.
#include "cuda_acyclicity.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastcrl/cuda/acyclicity.hpp"
#include "fastcrl/cuda/runtime.hpp"

namespace py = pybind11;
namespace fc = fastcrl::cuda;

namespace {

using Ptr = std::uintptr_t;

void check_itemsize(std::int64_t itemsize) {
  if (itemsize != 4 && itemsize != 8)
    throw py::value_error("itemsize must be 4 (float32) or 8 (float64); got " + std::to_string(itemsize));
}

/// The device every named pointer lives on (all must agree); null pointers are skipped.
fc::Launch launch_for(const std::vector<std::pair<Ptr, const char*>>& pointers, Ptr stream) {
  fc::Launch launch;
  launch.stream = stream;
  bool first = true;
  for (const auto& [ptr, name] : pointers) {
    if (ptr == 0) continue;
    const int dev = fc::device_of(ptr, name);
    if (first) {
      launch.device = dev;
      first = false;
    } else if (dev != launch.device) {
      throw std::invalid_argument(std::string(name) + " is on device " + std::to_string(dev) + " but W is on device " +
                                  std::to_string(launch.device));
    }
  }
  return launch;
}

template <class Double, class Float>
void by_dtype(std::int64_t itemsize, Double&& f64, Float&& f32) {
  check_itemsize(itemsize);
  if (itemsize == 8) f64();
  else f32();
}

void expm_py(Ptr W, std::int64_t batch, std::int64_t d, std::int64_t itemsize, Ptr h, Ptr grad, Ptr status, Ptr ws,
             std::size_t ws_bytes, Ptr stream) {
  check_itemsize(itemsize);
  py::gil_scoped_release release;
  const auto L = launch_for({{W, "W"}, {h, "h"}, {grad, "grad"}, {status, "status"}, {ws, "workspace"}}, stream);
  by_dtype(
      itemsize,
      [&] {
        fc::expm_constraint(L, reinterpret_cast<const double*>(W), batch, d, reinterpret_cast<double*>(h),
                            reinterpret_cast<double*>(grad), reinterpret_cast<std::int32_t*>(status),
                            reinterpret_cast<void*>(ws), ws_bytes);
      },
      [&] {
        fc::expm_constraint(L, reinterpret_cast<const float*>(W), batch, d, reinterpret_cast<float*>(h),
                            reinterpret_cast<float*>(grad), reinterpret_cast<std::int32_t*>(status),
                            reinterpret_cast<void*>(ws), ws_bytes);
      });
}

void poly_py(Ptr W, std::int64_t batch, std::int64_t d, std::int64_t itemsize, Ptr h, Ptr grad, Ptr status, Ptr ws,
             std::size_t ws_bytes, Ptr stream) {
  check_itemsize(itemsize);
  py::gil_scoped_release release;
  const auto L = launch_for({{W, "W"}, {h, "h"}, {grad, "grad"}, {status, "status"}, {ws, "workspace"}}, stream);
  by_dtype(
      itemsize,
      [&] {
        fc::poly_constraint(L, reinterpret_cast<const double*>(W), batch, d, reinterpret_cast<double*>(h),
                            reinterpret_cast<double*>(grad), reinterpret_cast<std::int32_t*>(status),
                            reinterpret_cast<void*>(ws), ws_bytes);
      },
      [&] {
        fc::poly_constraint(L, reinterpret_cast<const float*>(W), batch, d, reinterpret_cast<float*>(h),
                            reinterpret_cast<float*>(grad), reinterpret_cast<std::int32_t*>(status),
                            reinterpret_cast<void*>(ws), ws_bytes);
      });
}

void logdet_py(Ptr W, std::int64_t batch, std::int64_t d, std::int64_t itemsize, double s, Ptr h, Ptr grad, Ptr status,
               Ptr ws, std::size_t ws_bytes, Ptr stream) {
  check_itemsize(itemsize);
  py::gil_scoped_release release;
  const auto L = launch_for({{W, "W"}, {h, "h"}, {grad, "grad"}, {status, "status"}, {ws, "workspace"}}, stream);
  by_dtype(
      itemsize,
      [&] {
        fc::logdet_constraint(L, reinterpret_cast<const double*>(W), batch, d, s, reinterpret_cast<double*>(h),
                              reinterpret_cast<double*>(grad), reinterpret_cast<std::int32_t*>(status),
                              reinterpret_cast<void*>(ws), ws_bytes);
      },
      [&] {
        fc::logdet_constraint(L, reinterpret_cast<const float*>(W), batch, d, s, reinterpret_cast<float*>(h),
                              reinterpret_cast<float*>(grad), reinterpret_cast<std::int32_t*>(status),
                              reinterpret_cast<void*>(ws), ws_bytes);
      });
}

void spectral_radius_py(Ptr W, std::int64_t batch, std::int64_t d, std::int64_t itemsize, int max_iter, double tol,
                        Ptr rho, Ptr lo, Ptr hi, Ptr iters, Ptr grad, Ptr status, Ptr ws, std::size_t ws_bytes,
                        Ptr stream) {
  check_itemsize(itemsize);
  py::gil_scoped_release release;
  const auto L = launch_for({{W, "W"}, {rho, "rho"}, {lo, "lo"}, {hi, "hi"}, {iters, "iters"}, {grad, "grad"},
                             {status, "status"}, {ws, "workspace"}},
                            stream);
  by_dtype(
      itemsize,
      [&] {
        fc::spectral_radius(L, reinterpret_cast<const double*>(W), batch, d, max_iter, tol,
                            reinterpret_cast<double*>(rho), reinterpret_cast<double*>(lo),
                            reinterpret_cast<double*>(hi), reinterpret_cast<std::int32_t*>(iters),
                            reinterpret_cast<double*>(grad), reinterpret_cast<std::int32_t*>(status),
                            reinterpret_cast<void*>(ws), ws_bytes);
      },
      [&] {
        fc::spectral_radius(L, reinterpret_cast<const float*>(W), batch, d, max_iter, tol,
                            reinterpret_cast<float*>(rho), reinterpret_cast<double*>(lo), reinterpret_cast<double*>(hi),
                            reinterpret_cast<std::int32_t*>(iters), reinterpret_cast<float*>(grad),
                            reinterpret_cast<std::int32_t*>(status), reinterpret_cast<void*>(ws), ws_bytes);
      });
}

}  // namespace

void bind_cuda_acyclicity(py::module_& m) {
  m.def(
      "expm_workspace_bytes",
      [](std::int64_t batch, std::int64_t d, std::int64_t itemsize) {
        check_itemsize(itemsize);
        return fc::expm_workspace_bytes(batch, d, static_cast<std::size_t>(itemsize));
      },
      py::arg("batch"), py::arg("d"), py::arg("itemsize"), "Workspace bytes expm_constraint needs.");
  m.def(
      "poly_workspace_bytes",
      [](std::int64_t batch, std::int64_t d, std::int64_t itemsize) {
        check_itemsize(itemsize);
        return fc::poly_workspace_bytes(batch, d, static_cast<std::size_t>(itemsize));
      },
      py::arg("batch"), py::arg("d"), py::arg("itemsize"), "Workspace bytes poly_constraint needs.");
  m.def(
      "spectral_radius_workspace_bytes",
      [](std::int64_t batch, std::int64_t d, std::int64_t itemsize) {
        check_itemsize(itemsize);
        return fc::spectral_radius_workspace_bytes(batch, d, static_cast<std::size_t>(itemsize));
      },
      py::arg("batch"), py::arg("d"), py::arg("itemsize"), "Workspace bytes spectral_radius needs.");
  m.def(
      "logdet_workspace_bytes",
      [](Ptr W, std::int64_t batch, std::int64_t d, std::int64_t itemsize, Ptr stream) {
        check_itemsize(itemsize);
        py::gil_scoped_release release;
        const auto L = launch_for({{W, "W"}}, stream);
        return fc::logdet_workspace_bytes(L, reinterpret_cast<const void*>(W), batch, d,
                                          static_cast<std::size_t>(itemsize));
      },
      py::arg("W"), py::arg("batch"), py::arg("d"), py::arg("itemsize"), py::arg("stream"),
      "Workspace bytes logdet_constraint needs (asks cuSOLVER on `device`).");
  m.def("expm_constraint", &expm_py, py::arg("W"), py::arg("batch"), py::arg("d"), py::arg("itemsize"), py::arg("h"),
        py::arg("grad"), py::arg("status"), py::arg("workspace"), py::arg("workspace_bytes"), py::arg("stream"),
        "tr(exp(W∘W)) - d and its gradient for a (batch, d, d) stack at device pointer W; synchronises `stream`.");
  m.def("poly_constraint", &poly_py, py::arg("W"), py::arg("batch"), py::arg("d"), py::arg("itemsize"), py::arg("h"),
        py::arg("grad"), py::arg("status"), py::arg("workspace"), py::arg("workspace_bytes"), py::arg("stream"),
        "tr((I + W∘W/d)^d) - d and its gradient, queued on `stream`.");
  m.def("logdet_constraint", &logdet_py, py::arg("W"), py::arg("batch"), py::arg("d"), py::arg("itemsize"),
        py::arg("s"), py::arg("h"), py::arg("grad"), py::arg("status"), py::arg("workspace"),
        py::arg("workspace_bytes"), py::arg("stream"),
        "-log det(sI - W∘W) + d log s and its gradient, queued on `stream`; status 2 outside the domain, "
        "status 1 with h = NaN where W∘W overflows (or W is not finite).");
  m.def("spectral_radius", &spectral_radius_py, py::arg("W"), py::arg("batch"), py::arg("d"), py::arg("itemsize"),
        py::arg("max_iter"), py::arg("tol"), py::arg("rho"), py::arg("lo"), py::arg("hi"), py::arg("iters"),
        py::arg("grad"), py::arg("status"), py::arg("workspace"), py::arg("workspace_bytes"), py::arg("stream"),
        "Power iteration for rho(W∘W) with Collatz-Wielandt bracket (rho = 0 exactly for acyclic W); grad may "
        "be 0 (none).");
}
