#pragma once
// The latent-encoder part of fastcrl._cuda (python/bindings/cuda_nn.cpp), registered by cuda.cpp.
#include <pybind11/pybind11.h>

/// Adds the nn_* functions of the CUDA latent-encoder kernels (cuda/nn.cu).
void bind_cuda_nn(pybind11::module_& m);
