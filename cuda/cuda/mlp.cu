// CUDA kernel of the MLP inference: one thread per point, the per-point math of redrive/mlp.h.
#include "common_cuda.cuh"
#include "redrive/launchers.h"

namespace rd {
namespace cuda {
namespace {

// Widest hidden layer a thread keeps in local memory (the bindings refuse wider ones).
constexpr int kMaxHidden = 256;

__global__ void mlp_kernel(MlpParams p, int64_t n, const float* x, float* out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float hidden[kMaxHidden];
    mlp_point(p, x + i * p.n_in, hidden, out + i * p.n_out);
}

}  // namespace

void mlp_forward(const MlpParams& p, int64_t n, const float* x, float* out, void* stream) {
    if (p.n_hidden > kMaxHidden) throw std::runtime_error("mlp_forward: hidden layer wider than 256");
    mlp_kernel<<<blocks_for(n), kThreads, 0, as_stream(stream)>>>(p, n, x, out);
    check_launch("mlp_forward");
}

}  // namespace cuda
}  // namespace rd
