// Launch helpers for the CUDA side (nvcc only).
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace rd {
namespace cuda {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

inline cudaStream_t as_stream(void* s) { return (cudaStream_t)s; }

inline void check_launch(const char* what) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

}  // namespace cuda
}  // namespace rd
