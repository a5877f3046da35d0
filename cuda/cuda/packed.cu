// CUDA kernels of the packed per-ray ops: one thread per ray (per sample for NeuS alpha).
#include "common_cuda.cuh"
#include "redrive/launchers.h"

namespace rd {
namespace cuda {
namespace {

template <typename S>
__global__ void weights_fwd_kernel(int64_t n_rays, const int64_t* off, const S* a, S* w, S* t) {
    const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r < n_rays) weights_ray<S>(off[r], off[r + 1], a, w, t);
}

template <typename S>
__global__ void weights_bwd_kernel(int64_t n_rays, const int64_t* off, const S* a, const S* t, const S* gw,
                                   const S* gt, S* ga) {
    const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r < n_rays) weights_ray_backward<S>(off[r], off[r + 1], a, t, gw, gt, ga);
}

template <typename S>
__global__ void composite_fwd_kernel(int64_t n_rays, int64_t c, const int64_t* off, const S* v, const S* w, S* out) {
    const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r < n_rays) composite_ray<S>(r, off[r], off[r + 1], c, v, w, out);
}

template <typename S>
__global__ void composite_bwd_kernel(int64_t n_rays, int64_t c, const int64_t* off, const S* v, const S* w,
                                     const S* g, S* gv, S* gw) {
    const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r < n_rays) composite_ray_backward<S>(r, off[r], off[r + 1], c, v, w, g, gv, gw);
}

__global__ void merge_kernel(int64_t n_rays, int64_t k, const int64_t* set_offsets, const int64_t* set_bases,
                             const float* t_starts, const int64_t* out_offsets, int64_t* perm, int64_t* source) {
    const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r < n_rays) merge_ray(r, n_rays, k, set_offsets, set_bases, t_starts, out_offsets[r], perm, source);
}

template <typename S>
__global__ void neus_fwd_kernel(int64_t n, const S* sdf, const S* cs, const S* dt, const S* inv_s, S* out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = neus_alpha_sample<S>(sdf[i], cs[i], dt[i], inv_s[0]);
}

template <typename S>
__global__ void neus_bwd_kernel(int64_t n, const S* sdf, const S* cs, const S* dt, const S* inv_s, const S* g,
                                S* gsdf, S* gcs, S* gdt, S* gs) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    S sh = 0;
    if (i < n) {
        S a, b, c;
        sh = neus_alpha_sample_backward<S>(sdf[i], cs[i], dt[i], inv_s[0], g[i], a, b, c);
        gsdf[i] = a;
        gcs[i] = b;
        gdt[i] = c;
    }
    // Block reduction of the sharpness gradient, then one atomic per block.
    __shared__ S buf[kThreads];
    buf[threadIdx.x] = sh;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0 && gs) atomicAdd(gs, buf[0]);
}

}  // namespace

void packed_weights_forward(int64_t n_rays, Dtype scalar, const int64_t* off, const void* a, void* w, void* t,
                            void* stream) {
    cudaStream_t st = as_stream(stream);
    if (scalar == Dtype::F64)
        weights_fwd_kernel<double><<<blocks_for(n_rays), kThreads, 0, st>>>(n_rays, off, (const double*)a,
                                                                            (double*)w, (double*)t);
    else
        weights_fwd_kernel<float><<<blocks_for(n_rays), kThreads, 0, st>>>(n_rays, off, (const float*)a, (float*)w,
                                                                           (float*)t);
    check_launch("packed_weights_forward");
}

void packed_weights_backward(int64_t n_rays, Dtype scalar, const int64_t* off, const void* a, const void* t,
                             const void* gw, const void* gt, void* ga, void* stream) {
    cudaStream_t st = as_stream(stream);
    if (scalar == Dtype::F64)
        weights_bwd_kernel<double><<<blocks_for(n_rays), kThreads, 0, st>>>(
            n_rays, off, (const double*)a, (const double*)t, (const double*)gw, (const double*)gt, (double*)ga);
    else
        weights_bwd_kernel<float><<<blocks_for(n_rays), kThreads, 0, st>>>(
            n_rays, off, (const float*)a, (const float*)t, (const float*)gw, (const float*)gt, (float*)ga);
    check_launch("packed_weights_backward");
}

void composite_forward(int64_t n_rays, int64_t c, Dtype scalar, const int64_t* off, const void* v, const void* w,
                       void* out, void* stream) {
    cudaStream_t st = as_stream(stream);
    if (scalar == Dtype::F64)
        composite_fwd_kernel<double><<<blocks_for(n_rays), kThreads, 0, st>>>(n_rays, c, off, (const double*)v,
                                                                              (const double*)w, (double*)out);
    else
        composite_fwd_kernel<float><<<blocks_for(n_rays), kThreads, 0, st>>>(n_rays, c, off, (const float*)v,
                                                                             (const float*)w, (float*)out);
    check_launch("composite_forward");
}

void composite_backward(int64_t n_rays, int64_t c, Dtype scalar, const int64_t* off, const void* v, const void* w,
                        const void* g, void* gv, void* gw, void* stream) {
    cudaStream_t st = as_stream(stream);
    if (scalar == Dtype::F64)
        composite_bwd_kernel<double><<<blocks_for(n_rays), kThreads, 0, st>>>(
            n_rays, c, off, (const double*)v, (const double*)w, (const double*)g, (double*)gv, (double*)gw);
    else
        composite_bwd_kernel<float><<<blocks_for(n_rays), kThreads, 0, st>>>(
            n_rays, c, off, (const float*)v, (const float*)w, (const float*)g, (float*)gv, (float*)gw);
    check_launch("composite_backward");
}

void merge_packed(int64_t n_rays, int64_t k, const int64_t* set_offsets, const int64_t* set_bases,
                  const float* t_starts, const int64_t* out_offsets, int64_t* perm, int64_t* source, void* stream) {
    merge_kernel<<<blocks_for(n_rays), kThreads, 0, as_stream(stream)>>>(n_rays, k, set_offsets, set_bases, t_starts,
                                                                         out_offsets, perm, source);
    check_launch("merge_packed");
}

void neus_alpha_forward(int64_t n, Dtype scalar, const void* sdf, const void* cs, const void* dt, const void* inv_s,
                        void* alpha, void* stream) {
    cudaStream_t st = as_stream(stream);
    if (scalar == Dtype::F64)
        neus_fwd_kernel<double><<<blocks_for(n), kThreads, 0, st>>>(n, (const double*)sdf, (const double*)cs,
                                                                    (const double*)dt, (const double*)inv_s,
                                                                    (double*)alpha);
    else
        neus_fwd_kernel<float><<<blocks_for(n), kThreads, 0, st>>>(n, (const float*)sdf, (const float*)cs,
                                                                   (const float*)dt, (const float*)inv_s,
                                                                   (float*)alpha);
    check_launch("neus_alpha_forward");
}

void neus_alpha_backward(int64_t n, Dtype scalar, const void* sdf, const void* cs, const void* dt, const void* inv_s,
                         const void* g, void* gsdf, void* gcs, void* gdt, void* gs, void* stream) {
    cudaStream_t st = as_stream(stream);
    // gs must be zeroed by the caller (the bindings allocate it with zeros).
    if (scalar == Dtype::F64)
        neus_bwd_kernel<double><<<blocks_for(n), kThreads, 0, st>>>(
            n, (const double*)sdf, (const double*)cs, (const double*)dt, (const double*)inv_s, (const double*)g,
            (double*)gsdf, (double*)gcs, (double*)gdt, (double*)gs);
    else
        neus_bwd_kernel<float><<<blocks_for(n), kThreads, 0, st>>>(
            n, (const float*)sdf, (const float*)cs, (const float*)dt, (const float*)inv_s, (const float*)g,
            (float*)gsdf, (float*)gcs, (float*)gdt, (float*)gs);
    check_launch("neus_alpha_backward");
}

}  // namespace cuda
}  // namespace rd
