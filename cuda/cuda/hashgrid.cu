// CUDA kernels of the hash-grid encoding; the per-level math is shared with the CPU build
// (redrive/hashgrid.h). One thread per (point, level): blockIdx.y is the level so that threads of
// a warp read the same level's table.
#include "common_cuda.cuh"
#include "redrive/launchers.h"

namespace rd {
namespace cuda {
namespace {

template <int F, typename S, typename T>
__global__ void fwd_kernel(HashGridParams p, int64_t n, const S* __restrict__ x, const T* __restrict__ table,
                           S* __restrict__ out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int l = blockIdx.y;
    if (i >= n) return;
    HgCell<S> c;
    hg_cell(p, l, x + 3 * i, c);
    S v[F];
    hg_level_forward<F, S, T>(c, table + (size_t)p.offsets[l] * F, v);
    S* o = out + (i * p.n_levels + l) * F;
#pragma unroll
    for (int f = 0; f < F; ++f) o[f] = v[f];
}

template <int F, typename S, typename T>
__global__ void bwd_kernel(HashGridParams p, int64_t n, const S* __restrict__ x, const T* __restrict__ table,
                           const S* __restrict__ gout, S* gtable, S* gx) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int l = blockIdx.y;
    if (i >= n) return;
    HgCell<S> c;
    hg_cell(p, l, x + 3 * i, c);
    S g[F];
#pragma unroll
    for (int f = 0; f < F; ++f) g[f] = gout[(i * p.n_levels + l) * F + f];
    S gxi[3] = {0, 0, 0};
    hg_level_backward<F, S, T, AtomicAdd>(c, table + (size_t)p.offsets[l] * F, g,
                                          gtable ? gtable + (size_t)p.offsets[l] * F : nullptr,
                                          gx != nullptr, gxi);
    if (gx) {
#pragma unroll
        for (int k = 0; k < 3; ++k) atomicAdd(gx + 3 * i + k, gxi[k] * hg_inside(x[3 * i + k]));
    }
}

template <int F, typename S, typename T>
__global__ void bwd_bwd_kernel(HashGridParams p, int64_t n, const S* __restrict__ x, const T* __restrict__ table,
                               const S* __restrict__ gout, const S* __restrict__ ggx, S* gtable, S* ggout, S* gx) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int l = blockIdx.y;
    if (i >= n) return;
    HgCell<S> c;
    hg_cell(p, l, x + 3 * i, c);
    S g[F], gg[3];
#pragma unroll
    for (int f = 0; f < F; ++f) g[f] = gout[(i * p.n_levels + l) * F + f];
#pragma unroll
    for (int k = 0; k < 3; ++k) gg[k] = ggx[3 * i + k] * hg_inside(x[3 * i + k]);
    S gxi[3] = {0, 0, 0};
    // Each (point, level) owns its grad_out row: no atomics there.
    hg_level_backward_backward<F, S, T, AtomicAdd>(c, table + (size_t)p.offsets[l] * F, g, gg,
                                                   gtable ? gtable + (size_t)p.offsets[l] * F : nullptr,
                                                   ggout ? ggout + (i * p.n_levels + l) * F : nullptr,
                                                   gx != nullptr, gxi);
    if (gx) {
#pragma unroll
        for (int k = 0; k < 3; ++k) atomicAdd(gx + 3 * i + k, gxi[k] * hg_inside(x[3 * i + k]));
    }
}

#define RD_CU_DISPATCH_F(KERNEL, S, T, ...)                                                  \
    switch (p.n_features) {                                                                  \
        case 1: KERNEL<1, S, T><<<grid, kThreads, 0, st>>>(__VA_ARGS__); break;              \
        case 2: KERNEL<2, S, T><<<grid, kThreads, 0, st>>>(__VA_ARGS__); break;              \
        case 4: KERNEL<4, S, T><<<grid, kThreads, 0, st>>>(__VA_ARGS__); break;              \
        case 8: KERNEL<8, S, T><<<grid, kThreads, 0, st>>>(__VA_ARGS__); break;              \
        default: throw std::invalid_argument("hash grid: features per level must be 1, 2, 4 or 8"); \
    }

}  // namespace

void hashgrid_forward(const HashGridParams& p, int64_t n, Dtype scalar, Dtype table_dtype, const void* x,
                      const void* table, void* out, void* stream) {
    dim3 grid(blocks_for(n), p.n_levels);
    cudaStream_t st = as_stream(stream);
    if (scalar == Dtype::F64) {
        RD_CU_DISPATCH_F(fwd_kernel, double, double, p, n, (const double*)x, (const double*)table, (double*)out);
    } else if (table_dtype == Dtype::F16) {
        RD_CU_DISPATCH_F(fwd_kernel, float, half_t, p, n, (const float*)x, (const half_t*)table, (float*)out);
    } else {
        RD_CU_DISPATCH_F(fwd_kernel, float, float, p, n, (const float*)x, (const float*)table, (float*)out);
    }
    check_launch("hashgrid_forward");
}

// An uninitialised table gradient is zeroed on the stream before the kernels add to it.
static void zero_table_grad(const HashGridParams& p, Dtype scalar, bool zero_gtable, void* gtable, cudaStream_t st) {
    if (!zero_gtable || !gtable) return;
    const size_t elem = scalar == Dtype::F64 ? sizeof(double) : sizeof(float);
    cudaMemsetAsync(gtable, 0, (size_t)p.offsets[p.n_levels] * p.n_features * elem, st);
}

void hashgrid_backward(const HashGridParams& p, int64_t n, Dtype scalar, Dtype table_dtype, const void* x,
                       const void* table, const void* gout, void* gtable, bool zero_gtable, void* gx,
                       void* stream) {
    dim3 grid(blocks_for(n), p.n_levels);
    cudaStream_t st = as_stream(stream);
    zero_table_grad(p, scalar, zero_gtable, gtable, st);
    if (scalar == Dtype::F64) {
        RD_CU_DISPATCH_F(bwd_kernel, double, double, p, n, (const double*)x, (const double*)table,
                         (const double*)gout, (double*)gtable, (double*)gx);
    } else if (table_dtype == Dtype::F16) {
        RD_CU_DISPATCH_F(bwd_kernel, float, half_t, p, n, (const float*)x, (const half_t*)table,
                         (const float*)gout, (float*)gtable, (float*)gx);
    } else {
        RD_CU_DISPATCH_F(bwd_kernel, float, float, p, n, (const float*)x, (const float*)table,
                         (const float*)gout, (float*)gtable, (float*)gx);
    }
    check_launch("hashgrid_backward");
}

void hashgrid_backward_backward(const HashGridParams& p, int64_t n, Dtype scalar, Dtype table_dtype,
                                const void* x, const void* table, const void* gout, const void* ggx,
                                void* gtable, bool zero_gtable, void* ggout, void* gx, void* stream) {
    dim3 grid(blocks_for(n), p.n_levels);
    cudaStream_t st = as_stream(stream);
    zero_table_grad(p, scalar, zero_gtable, gtable, st);
    if (scalar == Dtype::F64) {
        RD_CU_DISPATCH_F(bwd_bwd_kernel, double, double, p, n, (const double*)x, (const double*)table,
                         (const double*)gout, (const double*)ggx, (double*)gtable, (double*)ggout, (double*)gx);
    } else if (table_dtype == Dtype::F16) {
        RD_CU_DISPATCH_F(bwd_bwd_kernel, float, half_t, p, n, (const float*)x, (const half_t*)table,
                         (const float*)gout, (const float*)ggx, (float*)gtable, (float*)ggout, (float*)gx);
    } else {
        RD_CU_DISPATCH_F(bwd_bwd_kernel, float, float, p, n, (const float*)x, (const float*)table,
                         (const float*)gout, (const float*)ggx, (float*)gtable, (float*)ggout, (float*)gx);
    }
    check_launch("hashgrid_backward_backward");
}

}  // namespace cuda
}  // namespace rd
