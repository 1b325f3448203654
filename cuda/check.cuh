#pragma once
// Internal to the .cu files: error checking, the current-device guard and the cached cuBLAS handles.
// Never included by the pybind11 module (that one sees only fastcrl/cuda/*.hpp).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>

#include "fastcrl/cuda/runtime.hpp"

namespace fastcrl::cuda::detail {

// Every runtime/cuBLAS call goes through these: an error becomes a CudaError that Python sees as
// fastcrl._cuda.CudaError, instead of a crash or a silently wrong result.
[[noreturn]] void throw_cuda(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas(cublasStatus_t status, const char* call, const char* file, int line);

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) throw_cuda(err, call, file, line);
}
inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cublas(status, call, file, line);
}

/// The integer stream handle from Python as a cudaStream_t.  0, 1 (cudaStreamLegacy) and 2
/// (cudaStreamPerThread) are the runtime's own special handles, so a plain cast is exact.
inline cudaStream_t as_stream(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

/// Makes `device` current for the scope and restores the caller's device afterwards, so a call on
/// device 1 does not leave CuPy's thread pointing at device 1.
class DeviceScope {
 public:
  explicit DeviceScope(int device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

/// The cuBLAS handle of `device` (created on first use, then cached for the process), bound to
/// `stream` and locked for this object's lifetime.  The lock matters because the GIL is released:
/// two Python threads could otherwise interleave one's cublasSetStream with the other's syrk.
/// Pre: `device` is current (DeviceScope).
class BlasHandle {
 public:
  BlasHandle(int device, cudaStream_t stream);
  cublasHandle_t get() const { return handle_; }

 private:
  std::unique_lock<std::mutex> lock_;
  cublasHandle_t handle_ = nullptr;
};

}  // namespace fastcrl::cuda::detail

#define FASTCRL_CUDA_CHECK(call) ::fastcrl::cuda::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define FASTCRL_CUBLAS_CHECK(call) ::fastcrl::cuda::detail::check_cublas((call), #call, __FILE__, __LINE__)
// After every kernel launch: launch-configuration errors are reported only through cudaGetLastError.
#define FASTCRL_CUDA_CHECK_LAUNCH(kernel) \
  ::fastcrl::cuda::detail::check_cuda(cudaGetLastError(), "launch of " kernel, __FILE__, __LINE__)
