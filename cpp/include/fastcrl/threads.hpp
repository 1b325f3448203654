#pragma once
/// Thread control shared by our OpenMP regions and OpenBLAS.
namespace fastcrl {

/// Set the thread count for both OpenMP and OpenBLAS. Precondition: n >= 1.
void set_num_threads(int n);
/// Threads our OpenMP regions use (OMP_NUM_THREADS by default).
int get_num_threads();
/// Threads OpenBLAS uses outside our parallel regions.
int get_blas_num_threads();

/// Work (in flops or element operations) below which a kernel runs on one thread: waking and joining
/// threads costs tens of microseconds on an idle machine and far more on a loaded one, where a
/// parallel region waits for its slowest, descheduled thread.
inline constexpr double kParallelWorkThreshold = 3.2e7;

/// Threads for a region of `work` operations: 1 below kParallelWorkThreshold, else get_num_threads().
int threads_for_work(double work);

/// While alive, OpenBLAS runs single-threaded: use around BLAS calls made from inside our own
/// parallel regions, where a multithreaded BLAS would oversubscribe the cores.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  /// Single-threaded only when `enable` (e.g. for small work); otherwise leaves OpenBLAS as it is.
  explicit SingleThreadedBlas(bool enable);
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int saved_;
};

}  // namespace fastcrl
