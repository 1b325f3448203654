#pragma once
/// Host-side runtime helpers of fastcrl's CUDA backend.
///
/// Plain C++17 on purpose: no CUDA, cuBLAS or Python headers, so the g++-compiled pybind11 module
/// (python/bindings/cuda.cpp) includes it without the toolkit on its include path.  Streams and
/// device pointers cross this boundary as integers, exactly as Python hands them over.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace fastcrl::cuda {

/// A CUDA runtime or cuBLAS call failed.  what() reads
/// "<call> failed: <error name>: <error text> (<file>:<line>)"; the bindings raise it as
/// fastcrl._cuda.CudaError (a RuntimeError).
class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where a call runs.  `stream` is a cudaStream_t as an integer, with the CUDA array interface's
/// conventions: 0 = the legacy default stream (CuPy's null stream), 1 = cudaStreamLegacy,
/// 2 = cudaStreamPerThread, anything else a stream created on `device`.
struct Launch {
  int device = 0;
  std::uintptr_t stream = 0;
};

/// Number of CUDA devices; 0 when there is no device or no (recent enough) driver.
/// Throws CudaError only for unexpected runtime failures.
int device_count();

/// The device that owns the memory at `ptr` (cudaPointerGetAttributes).
/// Throws std::invalid_argument if `ptr` is host or unregistered memory, CudaError if the
/// runtime cannot answer (e.g. no driver).
int device_of(std::uintptr_t ptr, const std::string& name);

/// Makes `consumer` wait (on the device, no host sync) for the work queued so far on `producer`.
/// Used for the `stream` entry of version-3 CUDA array interfaces; a no-op when both name the
/// same stream.  Runs on `device`.
void stream_wait(int device, std::uintptr_t producer, std::uintptr_t consumer);

/// Versions as the CUDA runtime encodes them (major*1000 + minor*10); 0 when unknown.
struct Versions {
  int runtime = 0;         ///< the statically linked cudart
  int driver = 0;          ///< 0 without a driver
  int cublas_headers = 0;  ///< CUBLAS_VERSION the kernels were compiled against (major*10000+minor*100+patch)
  int cublas_library = 0;  ///< the libcublas loaded at run time, same encoding
};
Versions versions();

}  // namespace fastcrl::cuda
