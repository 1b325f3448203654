// Host-side runtime glue of the CUDA backend: error reporting, device/stream helpers, cached cuBLAS
// handles.  No kernels here; nvcc compiles it only because it shares check.cuh with the kernels.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "check.cuh"
#include "fastcrl/cuda/runtime.hpp"

namespace fastcrl::cuda {

namespace detail {

namespace {

const char* basename_of(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

std::string where(const char* file, int line) {
  return std::string(" (") + basename_of(file) + ":" + std::to_string(line) + ")";
}

}  // namespace

void throw_cuda(cudaError_t err, const char* call, const char* file, int line) {
  // Reset the runtime's last-error slot so the next cudaGetLastError() does not report this again.
  // (Sticky errors such as an illegal address stay: the context is unusable, and the message says so.)
  (void)cudaGetLastError();
  std::string hint;
  if (err == cudaErrorInsufficientDriver || err == cudaErrorNoDevice)
    hint = "; this machine has no usable CUDA device (fastcrl.cuda_available() is False): pass NumPy arrays to run "
           "on the CPU";
  throw CudaError(std::string(call) + " failed: " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) +
                  where(file, line) + hint);
}

void throw_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  throw CudaError(std::string(call) + " failed: " + cublasGetStatusName(status) + ": " +
                  cublasGetStatusString(status) + where(file, line));
}

DeviceScope::DeviceScope(int device) {
  int current = 0;
  FASTCRL_CUDA_CHECK(cudaGetDevice(&current));
  if (current != device) {
    FASTCRL_CUDA_CHECK(cudaSetDevice(device));
    previous_ = current;
  }
}

DeviceScope::~DeviceScope() {
  // A destructor must not throw; if restoring fails, the caller's next checked call reports it.
  if (previous_ >= 0) (void)cudaSetDevice(previous_);
}

namespace {

struct BlasSlot {
  std::mutex mutex;
  cublasHandle_t handle = nullptr;
};

BlasSlot& blas_slot(int device) {
  static std::mutex registry_mutex;
  // Leaked on purpose, handles included: static destructors run at interpreter exit, possibly after
  // the CUDA driver has torn the contexts down, and cublasDestroy would then crash the exit.
  static auto* registry = new std::map<int, std::unique_ptr<BlasSlot>>();
  std::lock_guard<std::mutex> guard(registry_mutex);
  auto& slot = (*registry)[device];
  if (!slot) slot = std::make_unique<BlasSlot>();
  return *slot;
}

}  // namespace

BlasHandle::BlasHandle(int device, cudaStream_t stream) {
  BlasSlot& slot = blas_slot(device);
  lock_ = std::unique_lock<std::mutex>(slot.mutex);
  if (slot.handle == nullptr) {
    cublasHandle_t handle = nullptr;
    FASTCRL_CUBLAS_CHECK(cublasCreate(&handle));
    // Default math mode: no TF32 for float32, so results stay within float32 round-off of NumPy's.
    FASTCRL_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
    slot.handle = handle;
  }
  // One handle for every stream of the device, re-pointed before each use, is the pattern of the cuBLAS
  // guide ("Parallelism with Streams").  cublasSetStream also resets the workspace to cuBLAS's default
  // pool (no cublasSetWorkspace here), from which the library itself gives routines on concurrent
  // streams their workspaces; the cost is only that bitwise reproducibility is not promised while two
  // streams run at once ("Results Reproducibility"), so no per-stream workspace is needed for safety.
  FASTCRL_CUBLAS_CHECK(cublasSetStream(slot.handle, stream));
  handle_ = slot.handle;
}

}  // namespace detail

int device_count() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaSuccess) return n;
  (void)cudaGetLastError();
  // No GPU, or no driver at all (the static runtime reports a missing libcuda as an insufficient
  // driver): both simply mean "no device", which is what CPU-only machines and CI must see.
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) return 0;
  detail::throw_cuda(err, "cudaGetDeviceCount(&n)", __FILE__, __LINE__);
}

int device_of(std::uintptr_t ptr, const std::string& name) {
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, reinterpret_cast<const void*>(ptr));
  if (err == cudaErrorInvalidValue) {
    (void)cudaGetLastError();
    throw std::invalid_argument(name + " is not CUDA memory (the runtime does not know its pointer)");
  }
  if (err != cudaSuccess) detail::throw_cuda(err, ("cudaPointerGetAttributes(" + name + ")").c_str(), __FILE__, __LINE__);
  if (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged) return attr.device;
  throw std::invalid_argument(name + " points to host memory, not device memory; its __cuda_array_interface__ " +
                              "must describe a device allocation (e.g. a CuPy array)");
}

void stream_wait(int device, std::uintptr_t producer, std::uintptr_t consumer) {
  // 0 and 1 both name the legacy default stream (0 from CuPy's Stream.null.ptr, 1 in the interface).
  auto canonical = [](std::uintptr_t s) { return s == 0 ? std::uintptr_t{1} : s; };
  if (canonical(producer) == canonical(consumer)) return;
  detail::DeviceScope scope(device);
  cudaEvent_t event = nullptr;
  FASTCRL_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  // Destroying right after the wait is allowed: the runtime keeps the event alive until it fires.
  std::unique_ptr<CUevent_st, cudaError_t (*)(cudaEvent_t)> owner(event, cudaEventDestroy);
  FASTCRL_CUDA_CHECK(cudaEventRecord(event, detail::as_stream(producer)));
  FASTCRL_CUDA_CHECK(cudaStreamWaitEvent(detail::as_stream(consumer), event, 0));
}

Versions versions() {
  Versions v;
  if (cudaRuntimeGetVersion(&v.runtime) != cudaSuccess) v.runtime = 0;
  if (cudaDriverGetVersion(&v.driver) != cudaSuccess) v.driver = 0;  // 0 also means "no driver"
  (void)cudaGetLastError();
  v.cublas_headers = CUBLAS_VERSION;
  int major = 0, minor = 0, patch = 0;
  // cublasGetProperty asks the loaded library and needs no device.
  if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
    v.cublas_library = major * 10000 + minor * 100 + patch;
  return v;
}

}  // namespace fastcrl::cuda
