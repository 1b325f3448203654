#pragma once
// The acyclicity part of fastcrl._cuda (python/bindings/cuda_acyclicity.cpp), registered by cuda.cpp.
#include <pybind11/pybind11.h>

/// Adds the *_constraint, spectral_radius and *_workspace_bytes functions of the CUDA acyclicity kernels.
void bind_cuda_acyclicity(pybind11::module_& m);
