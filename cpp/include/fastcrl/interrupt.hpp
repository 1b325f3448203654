#pragma once
/// Cooperative cancellation for long kernels (Ctrl-C from Python).
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>

namespace fastcrl {

/// Kernels call `poll()` in their loops. At most every `interval` and only on the thread that created
/// it, `poll()` runs the callback (the bindings' callback re-acquires the GIL and checks for signals,
/// throwing if one is pending). The thrown exception is stored and `poll()` returns true from then on,
/// on every thread, so parallel loops can wind down; `rethrow_if_stopped()` rethrows it outside them.
class Interrupt {
 public:
  using Callback = std::function<void()>;

  explicit Interrupt(Callback callback = {}, std::chrono::milliseconds interval = std::chrono::milliseconds(100));

  bool poll();
  bool stopped() const { return stopped_.load(std::memory_order_relaxed); }
  void rethrow_if_stopped() const;

  /// An Interrupt that never fires (C++ callers and tests).
  static Interrupt& none();

 private:
  Callback callback_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_;
  std::atomic<bool> stopped_{false};
  std::exception_ptr error_;
  const void* owner_;
};

}  // namespace fastcrl
