#pragma once
/// Thread control shared by our OpenMP regions and OpenBLAS.
namespace fastcrl {

/// Set the thread count for both OpenMP and OpenBLAS. Precondition: n >= 1.
void set_num_threads(int n);
/// Threads our OpenMP regions use (OMP_NUM_THREADS by default).
int get_num_threads();
/// Threads OpenBLAS uses outside our parallel regions.
int get_blas_num_threads();

/// While alive, OpenBLAS runs single-threaded: use around BLAS calls made from inside our own
/// parallel regions, where a multithreaded BLAS would oversubscribe the cores.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int saved_;
};

}  // namespace fastcrl
