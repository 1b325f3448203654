#pragma once
/// Thin overloads over scipy-openblas32's prefixed CBLAS/LAPACKE symbols, so kernels are written once
/// for float and double and the `scipy_` prefix lives in this one header.
#include <cblas.h>
#include <lapacke.h>

namespace fastcrl::blas {

inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha, const double* a,
                 int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  scipy_cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  scipy_cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/// C = alpha * A^T A + beta * C (upper triangle), A row-major (k x n).
inline void syrk_t(int n, int k, double alpha, const double* a, int lda, double beta, double* c, int ldc) {
  scipy_cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, alpha, a, lda, beta, c, ldc);
}
inline void syrk_t(int n, int k, float alpha, const float* a, int lda, float beta, float* c, int ldc) {
  scipy_cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, alpha, a, lda, beta, c, ldc);
}

/// Cholesky factorisation of a row-major symmetric positive-definite matrix (in place); returns LAPACK info.
/// A row-major triangle is the other triangle of the same memory read column-major, so LAPACK is called
/// on that directly: LAPACKE's row-major path scans for NaN and transposes in and out, which at the
/// searches' parent-set sizes costs about as much as the factorisation.
inline int potrf(char uplo, int n, double* a, int lda) {
  const char other = (uplo == 'L' || uplo == 'l') ? 'U' : 'L';
  return scipy_LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, other, n, a, lda);
}
/// Inverse of a row-major triangular matrix in place (the other triangle read column-major, as potrf).
inline int trtri(char uplo, char diag, int n, double* a, int lda) {
  const char other = (uplo == 'L' || uplo == 'l') ? 'U' : 'L';
  return scipy_LAPACKE_dtrtri_work(LAPACK_COL_MAJOR, other, diag, n, a, lda);
}
/// B <- L^-1 B for a row-major lower-triangular L (n x n) and a row-major B (n x m).
inline void trsm_left_lower(int n, int m, const double* l, int ldl, double* b, int ldb) {
  scipy_cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, n, m, 1.0, l, ldl, b, ldb);
}
/// Triangular solve A x = b in place (row-major A).
inline void trsv(CBLAS_UPLO uplo, CBLAS_TRANSPOSE ta, CBLAS_DIAG diag, int n, const double* a, int lda, double* x,
                 int incx) {
  scipy_cblas_dtrsv(CblasRowMajor, uplo, ta, diag, n, a, lda, x, incx);
}

inline void set_threads(int n) { scipy_openblas_set_num_threads(n); }
inline int get_threads() { return scipy_openblas_get_num_threads(); }
inline const char* config() { return scipy_openblas_get_config(); }
inline const char* corename() { return scipy_openblas_get_corename(); }

}  // namespace fastcrl::blas
