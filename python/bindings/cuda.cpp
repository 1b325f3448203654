// fastcrl._cuda: the CUDA extension.  Compiled by g++ (pybind11 stays out of nvcc) and linked against
// the static kernel library built from cuda/*.cu.
//
// Device arrays arrive as any object with a __cuda_array_interface__ (CuPy, Numba, PyTorch, ...).
// The interface is read and validated here with the GIL held; then the GIL is released and the
// kernels are queued on the caller's stream (an integer, CuPy's current stream in fastcrl.stats).
// Outputs and workspaces are allocated by the caller (CuPy's pool); this module never allocates.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastcrl/cuda/runtime.hpp"
#include "fastcrl/cuda/scores.hpp"
#include "fastcrl/cuda/stats.hpp"
#include "cuda_acyclicity.hpp"
#include "cuda_nn.hpp"

namespace py = pybind11;
namespace fc = fastcrl::cuda;

namespace {

enum class DType { f64, f32, u8, i64, i32 };

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f64: return "float64";
    case DType::f32: return "float32";
    case DType::u8: return "uint8";
    case DType::i64: return "int64";
    case DType::i32: return "int32";
  }
  return "?";
}

/// One validated __cuda_array_interface__ (C-contiguous; dtype float64, float32 or, for
/// workspaces, uint8).
struct DeviceArray {
  std::string name;
  std::uintptr_t ptr = 0;
  bool readonly = false;
  std::vector<std::int64_t> shape;
  DType dtype = DType::f64;
  std::size_t itemsize = 8;
  std::optional<std::uintptr_t> stream;  // the producer's stream (interface version 3), if given

  std::int64_t size() const {
    std::int64_t s = 1;
    for (auto v : shape) s *= v;
    return s;
  }
  std::size_t nbytes() const { return static_cast<std::size_t>(size()) * itemsize; }
  std::string shape_str() const {
    std::string s = "(";
    for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
    return s + (shape.size() == 1 ? ",)" : ")");
  }
};

[[noreturn]] void type_error(const std::string& msg) { throw py::type_error(msg); }
[[noreturn]] void value_error(const std::string& msg) { throw py::value_error(msg); }

std::string type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__qualname__")); }

std::int64_t as_int(py::handle v, const std::string& what) {
  if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v)) type_error(what + " must be an int");
  return v.cast<std::int64_t>();
}

/// Reads obj.__cuda_array_interface__ (versions 2 and 3 of Numba's specification).
/// `int_bytes` 8 or 4: an int64 ('<i8') or int32 ('<i4') array instead of a float array.
DeviceArray parse_cai(py::handle obj, const std::string& name, bool writable, bool workspace = false,
                      int int_bytes = 0) {
  if (!py::hasattr(obj, "__cuda_array_interface__")) {
    std::string hint = py::hasattr(obj, "__array_interface__")
                           ? "; host (NumPy) arrays go through fastcrl's public functions, which run them on the CPU"
                           : "";
    type_error(name + " must be a CUDA device array exposing __cuda_array_interface__ (e.g. a CuPy array); got " +
               type_name(obj) + hint);
  }
  py::object iface = obj.attr("__cuda_array_interface__");
  if (!py::isinstance<py::dict>(iface))
    type_error(name + ".__cuda_array_interface__ must be a dict; got " + type_name(iface));
  auto cai = iface.cast<py::dict>();
  auto get = [&](const char* key) -> py::object {
    if (!cai.contains(key)) type_error(name + ".__cuda_array_interface__ has no '" + std::string(key) + "' entry");
    return cai[key];
  };
  const std::string prefix = name + ".__cuda_array_interface__";

  DeviceArray a;
  a.name = name;
  const std::int64_t version = as_int(get("version"), prefix + "['version']");
  if (version < 2 || version > 3)
    value_error(prefix + " has version " + std::to_string(version) + "; versions 2 and 3 are supported");

  py::object typestr = get("typestr");
  if (!py::isinstance<py::str>(typestr)) type_error(prefix + "['typestr'] must be a str");
  const auto ts = typestr.cast<std::string>();
  if (int_bytes == 8) {
    if (ts != "<i8") type_error(name + " must be an int64 array ('<i8'); got typestr '" + ts + "'");
    a.dtype = DType::i64;
    a.itemsize = 8;
  } else if (int_bytes == 4) {
    if (ts != "<i4") type_error(name + " must be an int32 array ('<i4'); got typestr '" + ts + "'");
    a.dtype = DType::i32;
    a.itemsize = 4;
  } else if (workspace) {
    if (ts != "|u1" && ts != "<u1") type_error(name + " must be a uint8 array ('|u1'); got typestr '" + ts + "'");
    a.dtype = DType::u8;
    a.itemsize = 1;
  } else if (ts == "<f8") {
    a.dtype = DType::f64;
    a.itemsize = 8;
  } else if (ts == "<f4") {
    a.dtype = DType::f32;
    a.itemsize = 4;
  } else {
    type_error(name + " must be float64 ('<f8') or float32 ('<f4'); got typestr '" + ts + "'");
  }

  py::object shape = get("shape");
  if (!py::isinstance<py::tuple>(shape)) type_error(prefix + "['shape'] must be a tuple");
  for (py::handle v : shape.cast<py::tuple>()) {
    const std::int64_t s = as_int(v, prefix + "['shape'] entries");
    if (s < 0) value_error(prefix + "['shape'] has a negative extent");
    a.shape.push_back(s);
  }
  // The byte count must fit: size() and nbytes() are used for the overlap checks.
  std::int64_t bytes = static_cast<std::int64_t>(a.itemsize);
  for (auto s : a.shape)
    if (__builtin_mul_overflow(bytes, s, &bytes)) value_error(name + " is too large: shape " + a.shape_str());

  py::object data = get("data");
  if (!py::isinstance<py::tuple>(data) || py::len(data) != 2)
    type_error(prefix + "['data'] must be a tuple (pointer, read_only)");
  auto data_t = data.cast<py::tuple>();
  if (!py::isinstance<py::int_>(data_t[0])) type_error(prefix + "['data'][0] must be an int pointer");
  if (data_t[0].attr("__lt__")(0).cast<bool>()) value_error(prefix + "['data'][0] is a negative pointer");
  a.ptr = data_t[0].cast<std::uintptr_t>();
  a.readonly = py::bool_(data_t[1]);
  if (a.ptr == 0 && a.size() > 0) value_error(name + " has a null data pointer");
  if (writable && a.readonly) value_error(name + " is read-only; an output must be writable");
  // Workspaces are carved into double arrays at 256-byte offsets, so they need cudaMalloc's alignment.
  const std::size_t align = workspace ? 256 : a.itemsize;
  if (a.ptr % align != 0) value_error(name + " must be aligned to " + std::to_string(align) + " bytes");

  if (cai.contains("mask") && !cai["mask"].is_none()) value_error(name + " is a masked array; masks are not supported");

  // strides None means C-contiguous; explicit strides must equal the C-order ones, except along
  // extents of 1 where a stride is never used (NumPy's own contiguity rule).
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    py::object strides = cai["strides"];
    if (!py::isinstance<py::tuple>(strides) || py::len(strides) != a.shape.size())
      type_error(prefix + "['strides'] must be None or a tuple with one entry per dimension");
    auto st = strides.cast<py::tuple>();
    std::int64_t expected = static_cast<std::int64_t>(a.itemsize);
    bool contiguous = true;
    if (a.size() > 0)
      for (std::size_t k = a.shape.size(); k-- > 0;) {
        if (a.shape[k] != 1 && as_int(st[k], prefix + "['strides'] entries") != expected) contiguous = false;
        expected *= a.shape[k];
      }
    if (!contiguous)
      value_error(name + " must be C-contiguous; got strides " + py::repr(strides).cast<std::string>() +
                  " for shape " + a.shape_str() + " (use cupy.ascontiguousarray)");
  }

  if (cai.contains("stream") && !cai["stream"].is_none()) {
    const std::int64_t s = as_int(cai["stream"], prefix + "['stream']");
    // The specification forbids 0 (ambiguous between "no stream" and the legacy default).
    if (s <= 0) value_error(prefix + "['stream'] must be None or a positive stream handle; got " + std::to_string(s));
    a.stream = static_cast<std::uintptr_t>(s);
  }
  return a;
}

void require_ndim(const DeviceArray& a, std::size_t ndim) {
  if (a.shape.size() != ndim)
    value_error(a.name + " must be " + std::to_string(ndim) + "-D; got shape " + a.shape_str());
}

/// 2-D with at least one row and column: checked before any CUDA call, so an empty array (whose
/// pointer may be null) gets this message rather than a device-query error.
void require_matrix(const DeviceArray& a) {
  require_ndim(a, 2);
  if (a.shape[0] < 1 || a.shape[1] < 1)
    value_error(a.name + " must have at least one row and one column; got shape " + a.shape_str());
}

void require_shape(const DeviceArray& a, const std::vector<std::int64_t>& shape) {
  DeviceArray want;
  want.shape = shape;
  if (a.shape != shape) value_error(a.name + " must have shape " + want.shape_str() + "; got " + a.shape_str());
}

void require_same_dtype(const DeviceArray& a, const DeviceArray& ref) {
  if (a.dtype != ref.dtype)
    type_error(a.name + " must have the dtype of " + ref.name + " (" + dtype_name(ref.dtype) + "); got " +
               dtype_name(a.dtype));
}

/// Outputs must not share memory with any other argument: the kernels read inputs while writing.
void require_disjoint(const std::vector<const DeviceArray*>& arrays) {
  for (std::size_t i = 0; i < arrays.size(); ++i)
    for (std::size_t j = i + 1; j < arrays.size(); ++j) {
      const auto& a = *arrays[i];
      const auto& b = *arrays[j];
      if (a.nbytes() == 0 || b.nbytes() == 0) continue;
      if (a.ptr < b.ptr + b.nbytes() && b.ptr < a.ptr + a.nbytes())
        value_error(a.name + " and " + b.name + " overlap in memory; pass separate arrays");
    }
}

/// Runs with the GIL released: finds the arrays' device (all must agree), makes the launch stream
/// wait for the producers' streams (interface v3), then returns where to launch.
fc::Launch prepare_launch(const std::vector<const DeviceArray*>& arrays, std::uintptr_t stream) {
  fc::Launch launch;
  launch.stream = stream;
  launch.device = fc::device_of(arrays.front()->ptr, arrays.front()->name);
  for (std::size_t k = 1; k < arrays.size(); ++k) {
    const int dev = fc::device_of(arrays[k]->ptr, arrays[k]->name);
    if (dev != launch.device)
      throw std::invalid_argument(arrays[k]->name + " is on device " + std::to_string(dev) + " but " +
                                  arrays.front()->name + " is on device " + std::to_string(launch.device));
  }
  std::vector<std::uintptr_t> waited;
  for (const auto* a : arrays)
    if (a->stream && std::find(waited.begin(), waited.end(), *a->stream) == waited.end()) {
      fc::stream_wait(launch.device, *a->stream, stream);
      waited.push_back(*a->stream);
    }
  return launch;
}

template <class T>
T* data(const DeviceArray& a) {
  return reinterpret_cast<T*>(a.ptr);
}

// ---------------------------------------------------------------------------------------------

std::size_t itemsize_arg(std::int64_t itemsize) {
  if (itemsize != 4 && itemsize != 8) value_error("itemsize must be 4 (float32) or 8 (float64); got " + std::to_string(itemsize));
  return static_cast<std::size_t>(itemsize);
}

void column_means_py(py::handle X_obj, py::handle out_obj, py::handle ws_obj, std::uintptr_t stream) {
  const auto X = parse_cai(X_obj, "X", false);
  const auto out = parse_cai(out_obj, "out", true);
  const auto ws = parse_cai(ws_obj, "workspace", true, true);
  require_matrix(X);
  require_same_dtype(out, X);
  require_shape(out, {X.shape[1]});
  require_disjoint({&X, &out, &ws});
  const std::int64_t n = X.shape[0], d = X.shape[1];
  py::gil_scoped_release release;
  const auto launch = prepare_launch({&X, &out, &ws}, stream);
  if (X.dtype == DType::f64)
    fc::column_means(launch, data<const double>(X), n, d, data<double>(out), data<void>(ws), ws.nbytes());
  else
    fc::column_means(launch, data<const float>(X), n, d, data<float>(out), data<void>(ws), ws.nbytes());
}

void covariance_py(py::handle X_obj, py::handle cov_obj, py::handle means_obj, py::handle ws_obj, std::int64_t ddof,
                   std::uintptr_t stream) {
  const auto X = parse_cai(X_obj, "X", false);
  const auto cov = parse_cai(cov_obj, "cov", true);
  const auto means = parse_cai(means_obj, "means", true);
  const auto ws = parse_cai(ws_obj, "workspace", true, true);
  require_matrix(X);
  require_same_dtype(cov, X);
  require_same_dtype(means, X);
  require_shape(cov, {X.shape[1], X.shape[1]});
  require_shape(means, {X.shape[1]});
  require_disjoint({&X, &cov, &means, &ws});
  const std::int64_t n = X.shape[0], d = X.shape[1];
  py::gil_scoped_release release;
  const auto launch = prepare_launch({&X, &cov, &means, &ws}, stream);
  if (X.dtype == DType::f64)
    fc::covariance(launch, data<const double>(X), n, d, ddof, data<double>(cov), data<double>(means),
                   data<void>(ws), ws.nbytes());
  else
    fc::covariance(launch, data<const float>(X), n, d, ddof, data<float>(cov), data<float>(means), data<void>(ws),
                   ws.nbytes());
}

void gram_py(py::handle X_obj, py::handle out_obj, double scale, std::uintptr_t stream) {
  const auto X = parse_cai(X_obj, "X", false);
  const auto out = parse_cai(out_obj, "out", true);
  require_matrix(X);
  require_same_dtype(out, X);
  require_shape(out, {X.shape[1], X.shape[1]});
  require_disjoint({&X, &out});
  const std::int64_t n = X.shape[0], d = X.shape[1];
  py::gil_scoped_release release;
  const auto launch = prepare_launch({&X, &out}, stream);
  if (X.dtype == DType::f64)
    fc::gram(launch, data<const double>(X), n, d, scale, data<double>(out));
  else
    fc::gram(launch, data<const float>(X), n, d, scale, data<float>(out));
}

void correlation_py(py::handle cov_obj, py::handle out_obj, std::uintptr_t stream) {
  const auto cov = parse_cai(cov_obj, "cov", false);
  const auto out = parse_cai(out_obj, "out", true);
  require_matrix(cov);
  if (cov.shape[0] != cov.shape[1]) value_error("cov must be square; got shape " + cov.shape_str());
  require_same_dtype(out, cov);
  require_shape(out, cov.shape);
  require_disjoint({&cov, &out});
  const std::int64_t d = cov.shape[0];
  py::gil_scoped_release release;
  const auto launch = prepare_launch({&cov, &out}, stream);
  if (cov.dtype == DType::f64)
    fc::correlation_from_covariance(launch, data<const double>(cov), d, data<double>(out));
  else
    fc::correlation_from_covariance(launch, data<const float>(cov), d, data<float>(out));
}

// ---------------------------------------------------------------------------------------------
// Scores

fc::GaussianScoreCoefficients gaussian_coefficients(const std::vector<double>& constant,
                                                    const std::vector<double>& log_var, double log_det,
                                                    double rel_tol) {
  constexpr std::size_t kLen = fc::kMaxGaussianScoreParents + 1;
  if (constant.size() != kLen || log_var.size() != kLen)
    value_error("constant and log_var must have " + std::to_string(kLen) + " entries (one per parent count)");
  fc::GaussianScoreCoefficients coef;
  std::copy(constant.begin(), constant.end(), coef.constant);
  std::copy(log_var.begin(), log_var.end(), coef.log_var);
  coef.log_det = log_det;
  coef.rel_tol = rel_tol;
  return coef;
}

fc::DiscreteScoreKind discrete_kind(const std::string& kind) {
  if (kind == "bdeu") return fc::DiscreteScoreKind::BDeu;
  if (kind == "bic") return fc::DiscreteScoreKind::BIC;
  value_error("unknown discrete score kind '" + kind + "'; expected 'bdeu' or 'bic'");
}

/// Exact search's families of one node and size (see fastcrl/cuda/scores.hpp); the masks are d-bit.
fc::SubsetFamilies subset_families(std::int64_t d, std::int64_t node, int size, std::int64_t first_rank,
                                   std::int64_t count, std::uint32_t forbidden, std::uint32_t required,
                                   const DeviceArray& row) {
  if (d < 1 || d > 31) value_error("exact-search families need 1 <= d <= 31; got d=" + std::to_string(d));
  require_ndim(row, 1);
  if (row.dtype != DType::f64) type_error("row must be float64; got " + std::string(dtype_name(row.dtype)));
  require_shape(row, {std::int64_t(1) << (d - 1)});
  fc::SubsetFamilies f;
  f.node = node;
  f.size = size;
  f.first_rank = first_rank;
  f.count = count;
  f.forbidden = forbidden;
  f.required = required;
  return f;
}

void gaussian_subset_scores_py(py::handle M_obj, std::int64_t node, int size, std::int64_t first_rank,
                               std::int64_t count, std::uint32_t forbidden, std::uint32_t required,
                               const std::vector<double>& constant, const std::vector<double>& log_var,
                               double log_det, double rel_tol, py::handle row_obj, std::uintptr_t stream) {
  const auto M = parse_cai(M_obj, "M", false);
  const auto row = parse_cai(row_obj, "row", true);
  require_matrix(M);
  if (M.shape[0] != M.shape[1]) value_error("M must be square; got shape " + M.shape_str());
  if (M.dtype != DType::f64) type_error("M must be float64; got " + std::string(dtype_name(M.dtype)));
  const auto families = subset_families(M.shape[0], node, size, first_rank, count, forbidden, required, row);
  const auto coef = gaussian_coefficients(constant, log_var, log_det, rel_tol);
  require_disjoint({&M, &row});
  py::gil_scoped_release release;
  const auto launch = prepare_launch({&M, &row}, stream);
  fc::gaussian_subset_scores(launch, data<const double>(M), M.shape[0], families, coef, data<double>(row));
}

void discrete_subset_scores_py(py::handle codes_obj, py::handle card_obj, std::int64_t node, int size,
                               std::int64_t first_rank, std::int64_t count, std::uint32_t forbidden,
                               std::uint32_t required, const std::string& kind, double ess, py::handle row_obj,
                               std::uintptr_t stream) {
  const auto codes = parse_cai(codes_obj, "codes", false, false, 4);
  const auto card = parse_cai(card_obj, "cardinalities", false, false, 8);
  const auto row = parse_cai(row_obj, "row", true);
  const fc::DiscreteScoreKind k = discrete_kind(kind);
  require_matrix(codes);  // (d, n): one column of the data per row
  require_shape(card, {codes.shape[0]});
  const auto families = subset_families(codes.shape[0], node, size, first_rank, count, forbidden, required, row);
  require_disjoint({&codes, &card, &row});
  py::gil_scoped_release release;
  const auto launch = prepare_launch({&codes, &card, &row}, stream);
  fc::discrete_subset_scores(launch, data<const std::int32_t>(codes), codes.shape[1], codes.shape[0],
                             data<const std::int64_t>(card), families, k, ess, data<double>(row));
}

/// out[b] = Gaussian local score of (nodes[b], parents[offsets[b]:offsets[b+1]]) from the matrix M
/// (the covariance for GaussianBIC, the posterior scale R for BGe); NaN where undefined.
void gaussian_local_scores_py(py::handle M_obj, py::handle nodes_obj, py::handle offsets_obj, py::handle parents_obj,
                              const std::vector<double>& constant, const std::vector<double>& log_var, double log_det,
                              double rel_tol, py::handle out_obj, std::uintptr_t stream, int max_parents) {
  const auto M = parse_cai(M_obj, "M", false);
  const auto nodes = parse_cai(nodes_obj, "nodes", false, false, 8);
  const auto offsets = parse_cai(offsets_obj, "offsets", false, false, 8);
  const auto parents = parse_cai(parents_obj, "parents", false, false, 8);
  const auto out = parse_cai(out_obj, "out", true);
  require_matrix(M);
  if (M.shape[0] != M.shape[1]) value_error("M must be square; got shape " + M.shape_str());
  if (M.dtype != DType::f64) type_error("M must be float64; got " + std::string(dtype_name(M.dtype)));
  require_ndim(nodes, 1);
  require_ndim(parents, 1);
  require_shape(offsets, {nodes.shape[0] + 1});
  require_same_dtype(out, M);
  require_shape(out, {nodes.shape[0]});
  const auto coef = gaussian_coefficients(constant, log_var, log_det, rel_tol);
  const std::int64_t batch = nodes.shape[0];
  if (batch == 0) return;
  std::vector<const DeviceArray*> arrays{&M, &nodes, &offsets, &out};
  if (parents.size() > 0) arrays.push_back(&parents);  // an empty array may carry a null pointer
  require_disjoint({&M, &nodes, &offsets, &parents, &out});
  py::gil_scoped_release release;
  const auto launch = prepare_launch(arrays, stream);
  fc::gaussian_local_scores(launch, data<const double>(M), M.shape[0], data<const std::int64_t>(nodes),
                            data<const std::int64_t>(offsets), data<const std::int64_t>(parents), batch, coef,
                            data<double>(out), max_parents);
}

/// out[b] = BDeu ("bdeu") or discrete BIC ("bic") local score of the pair b from column-major codes
/// (d, n) int32; NaN for pairs the kernel does not take (too many cells): the caller scores those.
void discrete_local_scores_py(py::handle codes_obj, py::handle card_obj, py::handle nodes_obj, py::handle offsets_obj,
                              py::handle parents_obj, const std::string& kind, double ess, py::handle out_obj,
                              std::uintptr_t stream) {
  const auto codes = parse_cai(codes_obj, "codes", false, false, 4);
  const auto card = parse_cai(card_obj, "cardinalities", false, false, 8);
  const auto nodes = parse_cai(nodes_obj, "nodes", false, false, 8);
  const auto offsets = parse_cai(offsets_obj, "offsets", false, false, 8);
  const auto parents = parse_cai(parents_obj, "parents", false, false, 8);
  const auto out = parse_cai(out_obj, "out", true);
  const fc::DiscreteScoreKind k = discrete_kind(kind);
  require_matrix(codes);  // (d, n): one column of the data per row
  require_shape(card, {codes.shape[0]});
  require_ndim(nodes, 1);
  require_ndim(parents, 1);
  require_shape(offsets, {nodes.shape[0] + 1});
  if (out.dtype != DType::f64) type_error("out must be float64; got " + std::string(dtype_name(out.dtype)));
  require_shape(out, {nodes.shape[0]});
  const std::int64_t batch = nodes.shape[0];
  if (batch == 0) return;
  std::vector<const DeviceArray*> arrays{&codes, &card, &nodes, &offsets, &out};
  if (parents.size() > 0) arrays.push_back(&parents);
  require_disjoint({&codes, &card, &nodes, &offsets, &parents, &out});
  py::gil_scoped_release release;
  const auto launch = prepare_launch(arrays, stream);
  fc::discrete_local_scores(launch, data<const std::int32_t>(codes), codes.shape[1], codes.shape[0],
                            data<const std::int64_t>(card), data<const std::int64_t>(nodes),
                            data<const std::int64_t>(offsets), data<const std::int64_t>(parents), batch, k, ess,
                            data<double>(out));
}

std::string version_str(int v, int major_div, int minor_div) {
  if (v <= 0) return "";
  return std::to_string(v / major_div) + "." + std::to_string((v % major_div) / minor_div);
}

py::dict build_info() {
  py::dict info;
  py::list archs;
  // FASTCRL_CUDA_ARCHITECTURES is CMake's list with ',' for ';' (a ';' would split the definition).
  std::string all = FASTCRL_CUDA_ARCHITECTURES;
  for (std::size_t start = 0; start <= all.size();) {
    const std::size_t comma = all.find(',', start);
    const std::string item = all.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) archs.append(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  info["architectures"] = archs;
  info["toolkit"] = FASTCRL_CUDA_TOOLKIT;
  const auto v = fc::versions();
  info["runtime"] = version_str(v.runtime, 1000, 10);
  info["driver"] = v.driver > 0 ? py::object(py::str(version_str(v.driver, 1000, 10))) : py::object(py::none());
  info["cublas_headers"] = std::to_string(v.cublas_headers / 10000) + "." + std::to_string(v.cublas_headers / 100 % 100) +
                           "." + std::to_string(v.cublas_headers % 100);
  info["cublas_library"] = v.cublas_library > 0 ? py::object(py::str(std::to_string(v.cublas_library / 10000) + "." +
                                                                      std::to_string(v.cublas_library / 100 % 100) + "." +
                                                                      std::to_string(v.cublas_library % 100)))
                                                : py::object(py::none());
  info["scratch"] = "caller-allocated workspace (CuPy memory pool)";
  return info;
}

int device_count_py() {
  py::gil_scoped_release release;  // the first runtime call loads the driver, which can take a while
  return fc::device_count();
}

}  // namespace

PYBIND11_MODULE(_cuda, m, py::mod_gil_not_used()) {
  m.doc() =
      "fastcrl CUDA kernels (cuBLAS).  Private: use the public fastcrl functions, which accept CuPy arrays, "
      "allocate outputs and workspaces with CuPy and pass the current stream.";
  // CudaError(RuntimeError): a failure of the CUDA runtime or cuBLAS, with the call, file and line.
  py::register_exception<fc::CudaError>(m, "CudaError", PyExc_RuntimeError);

  m.def("device_count", &device_count_py,
        "Number of CUDA devices; 0 without a device or driver. Raises CudaError on other runtime failures.");
  m.def("build_info", &build_info, "What this extension was compiled with and the CUDA/cuBLAS versions it sees.");
  m.def(
      "column_means_workspace_bytes",
      [](std::int64_t n, std::int64_t d, std::int64_t itemsize) {
        return fc::column_means_workspace_bytes(n, d, itemsize_arg(itemsize));
      },
      py::arg("n"), py::arg("d"), py::arg("itemsize"), "Bytes of workspace column_means needs for X (n, d).");
  m.def(
      "covariance_workspace_bytes",
      [](std::int64_t n, std::int64_t d, std::int64_t itemsize) {
        return fc::covariance_workspace_bytes(n, d, itemsize_arg(itemsize));
      },
      py::arg("n"), py::arg("d"), py::arg("itemsize"), "Bytes of workspace covariance needs for X (n, d).");
  m.def("column_means", &column_means_py, py::arg("X"), py::arg("out"), py::arg("workspace"), py::arg("stream"),
        "out (d,) = column means of X (n, d), queued on `stream`.");
  m.def("covariance", &covariance_py, py::arg("X"), py::arg("cov"), py::arg("means"), py::arg("workspace"),
        py::arg("ddof"), py::arg("stream"),
        "cov (d, d) = centred X^T X / (n - ddof) and means (d,), queued on `stream`.");
  m.def("gram", &gram_py, py::arg("X"), py::arg("out"), py::arg("scale"), py::arg("stream"),
        "out (d, d) = X^T X / scale, queued on `stream`.");
  m.def("correlation_from_covariance", &correlation_py, py::arg("cov"), py::arg("out"), py::arg("stream"),
        "out (d, d) = correlation matrix of the covariance `cov` (positive diagonal required), queued on `stream`.");
  m.attr("max_gaussian_score_parents") = fc::kMaxGaussianScoreParents;
  m.def("gaussian_local_scores", &gaussian_local_scores_py, py::arg("M"), py::arg("nodes"), py::arg("offsets"),
        py::arg("parents"), py::arg("constant"), py::arg("log_var"), py::arg("log_det"), py::arg("rel_tol"),
        py::arg("out"), py::arg("stream"), py::arg("max_parents") = -1,
        "out[b] = constant[k] + log_det * log det M_PP + log_var[k] * log(M_jj - M_jP M_PP^-1 M_Pj) for the pair "
        "(nodes[b], parents[offsets[b]:offsets[b+1]]), k = |P| <= max_gaussian_score_parents; NaN where undefined. "
        "Indices int64 on the device, unchecked beyond bounds (fastcrl.scores validates them); queued on `stream`. "
        "max_parents: the largest k in the batch if known (-1: unknown); small sets are scored one per thread.");
  m.attr("max_discrete_score_parents") = fc::kMaxDiscreteScoreParents;
  m.attr("max_discrete_score_cells") = fc::kMaxDiscreteScoreCells;
  m.def("discrete_local_scores", &discrete_local_scores_py, py::arg("codes"), py::arg("cardinalities"),
        py::arg("nodes"), py::arg("offsets"), py::arg("parents"), py::arg("kind"), py::arg("ess"), py::arg("out"),
        py::arg("stream"),
        "out[b] = BDeu/discrete-BIC local score of (nodes[b], parents[offsets[b]:offsets[b+1]]) from codes (d, n) "
        "int32 stored column by column; NaN where the family has more than max_discrete_score_cells cells or "
        "max_discrete_score_parents parents (score those on the CPU). Queued on `stream`.");
  m.def("gaussian_subset_scores", &gaussian_subset_scores_py, py::arg("M"), py::arg("node"), py::arg("size"),
        py::arg("first_rank"), py::arg("count"), py::arg("forbidden"), py::arg("required"), py::arg("constant"),
        py::arg("log_var"), py::arg("log_det"), py::arg("rel_tol"), py::arg("row"), py::arg("stream"),
        "Exact search's table row of `node`: row[compressed P] = Gaussian score of (node, P) for the parent sets "
        "P of `size` members of colex ranks first_rank .. first_rank + count - 1 that avoid `forbidden` and hold "
        "`required` (d-bit masks); NaN where undefined; other entries untouched. Queued on `stream`.");
  m.def("discrete_subset_scores", &discrete_subset_scores_py, py::arg("codes"), py::arg("cardinalities"),
        py::arg("node"), py::arg("size"), py::arg("first_rank"), py::arg("count"), py::arg("forbidden"),
        py::arg("required"), py::arg("kind"), py::arg("ess"), py::arg("row"), py::arg("stream"),
        "The discrete twin of gaussian_subset_scores; NaN in the slot of a family with more than "
        "max_discrete_score_cells cells (score it on the CPU). Queued on `stream`.");
  bind_cuda_acyclicity(m);
  bind_cuda_nn(m);
}
