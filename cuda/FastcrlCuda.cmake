# fastcrl._cuda, the optional CUDA extension.  Included by the top-level CMakeLists.txt unless
# FASTCRL_CUDA=OFF.
#
#   FASTCRL_CUDA=AUTO (default)  build it when nvcc, cuBLAS and cuSOLVER are all found; otherwise print
#                                one "fastcrl: skipping CUDA extension: <what is missing>" line and
#                                build the CPU extension alone (CPU-only machines and CI need nothing).
#   FASTCRL_CUDA=ON              anything missing is a configure error that says what.
#
# cuBLAS/cuSOLVER (headers and libraries, taken together from one root) are looked for in
#   1. -DFASTCRL_CUBLAS_ROOT=<dir with include/ and lib/>  (only there, when given);
#   2. the nvidia-cublas / nvidia-cusolver wheels of the build's Python: <site-packages>/nvidia/cu13,
#      found with importlib (nvidia and nvidia.cu13 are namespace packages: no __file__).  pip's
#      isolated build env lacks them, so build with --no-build-isolation;
#   3. a CUDA toolkit: CUDAToolkit_ROOT, $CUDA_PATH, $CUDA_HOME, nvcc's parent folder, /usr/local/cuda.
# The wheels ship only versioned libraries (libcublas.so.13, no libcublas.so): hence the explicit
# names in find_library.

string(TOUPPER "${FASTCRL_CUDA}" _fastcrl_cuda_mode)
if(_fastcrl_cuda_mode STREQUAL "OFF")
  return()
elseif(NOT _fastcrl_cuda_mode MATCHES "^(AUTO|ON)$")
  message(FATAL_ERROR "FASTCRL_CUDA must be AUTO, ON or OFF; got '${FASTCRL_CUDA}'")
endif()

# A macro, not a function: its return() must leave this file.
macro(_fastcrl_cuda_missing what)
  if(_fastcrl_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "fastcrl: FASTCRL_CUDA=ON but ${what}. Pass -DFASTCRL_CUDA=AUTO or OFF to build "
                        "the CPU extension alone.")
  endif()
  message(STATUS "fastcrl: skipping CUDA extension: ${what}")
  return()
endmacro()

# --- 1. the compiler -------------------------------------------------------------------------------
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  _fastcrl_cuda_missing("no working CUDA compiler (nvcc) was found; put it on PATH or pass -DCMAKE_CUDA_COMPILER=<path to nvcc>")
endif()

# --- 2. cuBLAS and cuSOLVER, before enable_language(CUDA), which costs seconds ---------------------
set(FASTCRL_CUBLAS_ROOT "" CACHE PATH "Folder with include/cublas_v2.h and lib/libcublas.so* (and cuSOLVER); default: the nvidia-cublas wheel, then the CUDA toolkit")

set(_fastcrl_roots "")
if(FASTCRL_CUBLAS_ROOT)
  list(APPEND _fastcrl_roots "${FASTCRL_CUBLAS_ROOT}")
else()
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c [=[
import importlib.util
try:
    spec = importlib.util.find_spec("nvidia.cu13")
except ImportError:  # no "nvidia" namespace package at all
    spec = None
print(";".join(spec.submodule_search_locations) if spec and spec.submodule_search_locations else "")
]=]
    OUTPUT_VARIABLE _fastcrl_wheel_roots OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  get_filename_component(_fastcrl_nvcc_dir "${CMAKE_CUDA_COMPILER}" DIRECTORY)
  get_filename_component(_fastcrl_nvcc_parent "${_fastcrl_nvcc_dir}" DIRECTORY)
  set(_fastcrl_env_roots "$ENV{CUDAToolkit_ROOT}" "$ENV{CUDA_PATH}" "$ENV{CUDA_HOME}")
  foreach(_root IN LISTS _fastcrl_wheel_roots CUDAToolkit_ROOT _fastcrl_env_roots _fastcrl_nvcc_parent)
    if(_root)
      list(APPEND _fastcrl_roots "${_root}")
    endif()
  endforeach()
  list(APPEND _fastcrl_roots /usr/local/cuda)
  list(REMOVE_DUPLICATES _fastcrl_roots)
endif()

set(_fastcrl_inc_suffixes include targets/x86_64-linux/include targets/sbsa-linux/include)
set(_fastcrl_lib_suffixes lib lib64 targets/x86_64-linux/lib targets/sbsa-linux/lib)
set(_fastcrl_cublas_root "")
# A -D given FASTCRL_CUBLAS_INCLUDE_DIR/..._LIBRARY (or a previous configure's) wins over the search.
if(NOT (FASTCRL_CUBLAS_INCLUDE_DIR AND FASTCRL_CUBLAS_LIBRARY AND FASTCRL_CUSOLVER_INCLUDE_DIR AND FASTCRL_CUSOLVER_LIBRARY))
  set(_fastcrl_found_cublas_only "")
  foreach(_root IN LISTS _fastcrl_roots)
    foreach(_probe cublas_inc cublas_lib cusolver_inc cusolver_lib)
      unset(_fastcrl_${_probe} CACHE)
      unset(_fastcrl_${_probe})
    endforeach()
    find_path(_fastcrl_cublas_inc cublas_v2.h PATHS "${_root}" PATH_SUFFIXES ${_fastcrl_inc_suffixes} NO_DEFAULT_PATH)
    find_library(_fastcrl_cublas_lib NAMES cublas libcublas.so.13 libcublas.so.12
                 PATHS "${_root}" PATH_SUFFIXES ${_fastcrl_lib_suffixes} NO_DEFAULT_PATH)
    find_path(_fastcrl_cusolver_inc cusolverDn.h PATHS "${_root}" PATH_SUFFIXES ${_fastcrl_inc_suffixes} NO_DEFAULT_PATH)
    find_library(_fastcrl_cusolver_lib NAMES cusolver libcusolver.so.12 libcusolver.so.11
                 PATHS "${_root}" PATH_SUFFIXES ${_fastcrl_lib_suffixes} NO_DEFAULT_PATH)
    if(_fastcrl_cublas_inc AND _fastcrl_cublas_lib AND _fastcrl_cusolver_inc AND _fastcrl_cusolver_lib)
      set(FASTCRL_CUBLAS_INCLUDE_DIR "${_fastcrl_cublas_inc}" CACHE PATH "Folder holding cublas_v2.h" FORCE)
      set(FASTCRL_CUBLAS_LIBRARY "${_fastcrl_cublas_lib}" CACHE FILEPATH "libcublas.so*" FORCE)
      set(FASTCRL_CUSOLVER_INCLUDE_DIR "${_fastcrl_cusolver_inc}" CACHE PATH "Folder holding cusolverDn.h" FORCE)
      set(FASTCRL_CUSOLVER_LIBRARY "${_fastcrl_cusolver_lib}" CACHE FILEPATH "libcusolver.so*" FORCE)
      set(_fastcrl_cublas_root "${_root}")
      break()
    elseif(_fastcrl_cublas_inc AND _fastcrl_cublas_lib AND NOT _fastcrl_found_cublas_only)
      set(_fastcrl_found_cublas_only "${_root}")
    endif()
  endforeach()
  foreach(_probe cublas_inc cublas_lib cusolver_inc cusolver_lib)
    unset(_fastcrl_${_probe} CACHE)
  endforeach()
  if(NOT _fastcrl_cublas_root)
    string(REPLACE ";" ", " _fastcrl_where "${_fastcrl_roots}")
    if(_fastcrl_found_cublas_only)
      _fastcrl_cuda_missing("cuSOLVER not found next to cuBLAS in ${_fastcrl_found_cublas_only} (pip install nvidia-cusolver)")
    endif()
    _fastcrl_cuda_missing("cuBLAS and cuSOLVER not found (looked in: ${_fastcrl_where}); pip install nvidia-cublas nvidia-cusolver into the build's Python and build with --no-build-isolation, or pass -DFASTCRL_CUBLAS_ROOT=<dir>")
  endif()
else()
  set(_fastcrl_cublas_root "${FASTCRL_CUBLAS_INCLUDE_DIR} (cached)")
endif()

# --- 3. the language and the runtime ----------------------------------------------------------------
# A100, consumer Ampere, Ada, Hopper as machine code, plus Hopper PTX that the driver JIT-compiles for
# newer GPUs.  Override with -DCMAKE_CUDA_ARCHITECTURES=90 (or $CUDAARCHS) for faster local builds.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
  set(CMAKE_CUDA_ARCHITECTURES "80-real;86-real;89-real;90-real;90-virtual")
endif()
enable_language(CUDA)
find_package(CUDAToolkit QUIET)
if(NOT TARGET CUDA::cudart_static)
  _fastcrl_cuda_missing("the static CUDA runtime (libcudart_static.a) of nvcc ${CMAKE_CUDA_COMPILER_VERSION} was not found")
endif()

add_library(fastcrl::cublas SHARED IMPORTED)
set_target_properties(fastcrl::cublas PROPERTIES
  IMPORTED_LOCATION "${FASTCRL_CUBLAS_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${FASTCRL_CUBLAS_INCLUDE_DIR}")
# Required already, linked by the first kernel that calls it (Cholesky-based partial correlations):
# linking it unused would load libcusolver, libcusparse and libnvJitLink at every import.
add_library(fastcrl::cusolver SHARED IMPORTED)
set_target_properties(fastcrl::cusolver PROPERTIES
  IMPORTED_LOCATION "${FASTCRL_CUSOLVER_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${FASTCRL_CUSOLVER_INCLUDE_DIR}")

# --- 4. targets ---------------------------------------------------------------------------------------
# Kernels and every CUDA/cuBLAS call: a static PIC library built by nvcc, with the CUDA runtime linked
# statically (so the module needs only libcublas at run time, and imports on machines without a GPU:
# the static runtime loads libcuda.so.1 lazily).
add_library(fastcrl_cuda_kernels STATIC
  ${CMAKE_CURRENT_LIST_DIR}/runtime.cu
  ${CMAKE_CURRENT_LIST_DIR}/stats.cu
  ${CMAKE_CURRENT_LIST_DIR}/scores.cu
  ${CMAKE_CURRENT_LIST_DIR}/acyclicity.cu
  ${CMAKE_CURRENT_LIST_DIR}/nn.cu
  ${CMAKE_CURRENT_LIST_DIR}/training.cu
)
target_include_directories(fastcrl_cuda_kernels
  PUBLIC ${CMAKE_CURRENT_LIST_DIR}/include
  PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(fastcrl_cuda_kernels PRIVATE fastcrl::cublas fastcrl::cusolver CUDA::cudart_static)
set_target_properties(fastcrl_cuda_kernels PROPERTIES
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  POSITION_INDEPENDENT_CODE ON
  CUDA_RUNTIME_LIBRARY Static
  CUDA_SEPARABLE_COMPILATION OFF
  CUDA_VISIBILITY_PRESET hidden)
# --threads=0: nvcc compiles the architectures in parallel, which keeps the multi-arch build short.
target_compile_options(fastcrl_cuda_kernels PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:--threads=0 -Xcompiler=-Wall,-Wextra>)

# The Python module: pybind11 code compiled by g++ (nvcc never sees pybind11 or Python headers).
pybind11_add_module(_cuda MODULE ${PROJECT_SOURCE_DIR}/python/bindings/cuda.cpp
  ${PROJECT_SOURCE_DIR}/python/bindings/cuda_acyclicity.cpp
  ${PROJECT_SOURCE_DIR}/python/bindings/cuda_nn.cpp)
target_link_libraries(_cuda PRIVATE fastcrl_cuda_kernels)
target_compile_options(_cuda PRIVATE -Wall -Wextra)
string(REPLACE ";" "," _fastcrl_archs "${CMAKE_CUDA_ARCHITECTURES}")  # a ';' would split the definition
target_compile_definitions(_cuda PRIVATE
  FASTCRL_CUDA_ARCHITECTURES="${_fastcrl_archs}"
  FASTCRL_CUDA_TOOLKIT="${CMAKE_CUDA_COMPILER_VERSION}")
set_target_properties(_cuda PROPERTIES
  # tools/dev_build.sh copies build/dev/cuda/_*.so next to the Python sources.
  LIBRARY_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/cuda"
  # Installed: libcublas.so.13 from the nvidia-cublas wheel in the same site-packages.  (The build tree
  # keeps CMake's absolute build RPATH to the library found above.)
  INSTALL_RPATH "$ORIGIN/../nvidia/cu13/lib")
install(TARGETS _cuda LIBRARY DESTINATION fastcrl)

message(STATUS "fastcrl: building CUDA extension (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures "
               "${CMAKE_CUDA_ARCHITECTURES}, cuBLAS/cuSOLVER from ${_fastcrl_cublas_root})")
