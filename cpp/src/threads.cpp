#include "fastcrl/threads.hpp"

#include <omp.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "fastcrl/blas.hpp"
#include "fastcrl/interrupt.hpp"

namespace fastcrl {

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("n_threads must be >= 1; got " + std::to_string(n));
  omp_set_num_threads(n);
  blas::set_threads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

int get_blas_num_threads() { return blas::get_threads(); }

int threads_for_work(double work) { return work < kParallelWorkThreshold ? 1 : omp_get_max_threads(); }

SingleThreadedBlas::SingleThreadedBlas() : SingleThreadedBlas(true) {}

SingleThreadedBlas::SingleThreadedBlas(bool enable) : saved_(enable ? blas::get_threads() : 1) {
  if (saved_ != 1) blas::set_threads(1);
}

SingleThreadedBlas::~SingleThreadedBlas() {
  if (saved_ != 1) blas::set_threads(saved_);
}

namespace {
// Identifies the creating thread without relying on OpenMP thread numbers, which restart at 0 in
// every nested team.
thread_local char thread_tag;
}  // namespace

Interrupt::Interrupt(Callback callback, std::chrono::milliseconds interval)
    : callback_(std::move(callback)), interval_(interval), last_(std::chrono::steady_clock::now()),
      owner_(&thread_tag) {}

bool Interrupt::poll() {
  if (stopped()) return true;
  if (!callback_ || &thread_tag != owner_) return false;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < interval_) return false;
  last_ = now;
  try {
    callback_();
  } catch (...) {
    error_ = std::current_exception();
    stopped_.store(true, std::memory_order_relaxed);
  }
  return stopped();
}

void Interrupt::rethrow_if_stopped() const {
  if (stopped() && error_) std::rethrow_exception(error_);
}

Interrupt& Interrupt::none() {
  thread_local Interrupt never;
  return never;
}

}  // namespace fastcrl
