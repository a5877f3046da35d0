// Raw-pointer entry points of every kernel, declared once for both backends.
//
// rd::cpu::* are implemented in cuda/cpu/*.cpp (OpenMP), rd::cuda::* in cuda/cuda/*.cu (nvcc).
// Neither side includes torch: the torch bindings (cuda/bindings.cpp) allocate tensors, check
// them and pass raw pointers here. That keeps the kernel files quick to compile and lets CI
// compile-check the .cu files with a bare nvcc.
#pragma once

#include <stdint.h>

#include "redrive/hashgrid.h"
#include "redrive/mlp.h"
#include "redrive/occupancy.h"
#include "redrive/raybox.h"
#include "redrive/packed.h"

namespace rd {

enum class Dtype : int { F32 = 0, F64 = 1, F16 = 2 };

#define RD_DECLARE_LAUNCHERS                                                                      \
    void hashgrid_forward(const HashGridParams& p, int64_t n, Dtype scalar, Dtype table_dtype,    \
                          const void* x, const void* table, void* out, void* stream);            \
    void hashgrid_backward(const HashGridParams& p, int64_t n, Dtype scalar, Dtype table_dtype,   \
                           const void* x, const void* table, const void* grad_out,               \
                           void* grad_table, bool zero_grad_table, void* grad_x, void* stream);  \
    void hashgrid_backward_backward(const HashGridParams& p, int64_t n, Dtype scalar,             \
                                    Dtype table_dtype, const void* x, const void* table,         \
                                    const void* grad_out, const void* gg_x, void* grad_table,    \
                                    bool zero_grad_table, void* grad_grad_out, void* grad_x,     \
                                    void* stream);                                               \
    void occgrid_update(const OccGridParams& g, const float* values, float decay, float threshold,\
                        float* density, uint8_t* bits, uint8_t* coarse_bits, void* stream);      \
    void occgrid_levels(const OccGridParams& g, const uint8_t* bits, const uint8_t* coarse_bits, \
                        uint32_t* levels, void* stream);                                         \
    void raymarch(const OccGridParams& g, const MarchParams& m, int64_t n_rays, const float* o,   \
                  const float* d, const float* near, const float* far, const uint32_t* levels,   \
                  const int64_t* offsets, int64_t* counts, int64_t* ray_indices, float* t_starts,\
                  float* t_ends, void* stream);                                                  \
    void raybox(int64_t n_rays, int64_t n_frames, int64_t n_actors, const float* o,              \
                const float* d, const float* near, const float* far, const int64_t* frames,      \
                const float* box_from_world, const float* spheres, const float* half_sizes,      \
                const uint8_t* valid, const int64_t* offsets, int64_t* counts,                   \
                int64_t* ray_indices, int64_t* actor_indices, float* t_in, float* t_out,         \
                void* stream);                                                                   \
    void packed_weights_forward(int64_t n_rays, Dtype scalar, const int64_t* offsets,            \
                                const void* alphas, void* weights, void* trans, void* stream);   \
    void packed_weights_backward(int64_t n_rays, Dtype scalar, const int64_t* offsets,           \
                                 const void* alphas, const void* trans, const void* grad_w,      \
                                 const void* grad_t, void* grad_alphas, void* stream);           \
    void composite_forward(int64_t n_rays, int64_t c, Dtype scalar, const int64_t* offsets,      \
                           const void* values, const void* weights, void* out, void* stream);    \
    void composite_backward(int64_t n_rays, int64_t c, Dtype scalar, const int64_t* offsets,     \
                            const void* values, const void* weights, const void* grad_out,       \
                            void* grad_values, void* grad_weights, void* stream);                \
    void merge_packed(int64_t n_rays, int64_t k, const int64_t* set_offsets,                     \
                      const int64_t* set_bases, const float* t_starts, const int64_t* out_offsets,\
                      int64_t* perm, int64_t* source, void* stream);                             \
    void neus_alpha_forward(int64_t n, Dtype scalar, const void* sdf, const void* cos,           \
                            const void* dt, const void* inv_s, void* alpha, void* stream);       \
    void neus_alpha_backward(int64_t n, Dtype scalar, const void* sdf, const void* cos,          \
                             const void* dt, const void* inv_s, const void* grad_alpha,          \
                             void* grad_sdf, void* grad_cos, void* grad_dt, void* grad_inv_s,    \
                             void* stream);                                                      \
    void mlp_forward(const MlpParams& p, int64_t n, const float* x, float* out, void* stream);

struct MarchOutput {
    int64_t* ray_indices;
    float* t_starts;
    float* t_ends;
};

struct BoxOutput {
    int64_t* ray_indices;
    int64_t* actor_indices;
    float* t_in;
    float* t_out;
};

namespace cpu {
RD_DECLARE_LAUNCHERS
// One-pass marching for the CPU: each block of rays keeps its samples in a local buffer and is
// copied into the packed outputs in ray order, which `allocate(capacity)` provides: first from an
// estimate, while the rays are marched (from an OpenMP thread; an exception there defers the
// allocation), then with the exact total if the estimate was short or far too long. Arrays of an
// earlier call must stay valid until the function returns; the last call's hold the samples.
// Returns the total. Same samples as the count + fill passes, half the marching.
int64_t raymarch_single_pass(const OccGridParams& g, const MarchParams& m, int64_t n_rays, const float* o,
                             const float* d, const float* near, const float* far, const uint32_t* levels,
                             int64_t* counts, MarchOutput (*allocate)(int64_t capacity, void* ctx), void* ctx);
// One-pass rays vs boxes for the CPU, as raymarch_single_pass: the same hits as raybox's count +
// fill passes, in the same order.
void raybox_single_pass(int64_t n_rays, int64_t n_actors, const float* o, const float* d, const float* near,
                        const float* far, const int64_t* frames, const float* box_from_world,
                        const float* spheres, const float* half_sizes, const uint8_t* valid, int64_t* counts,
                        BoxOutput (*allocate)(int64_t total, void* ctx), void* ctx);
// REDRIVE_SCALAR_KERNELS=1 forces the portable scalar loops of the kernels that have a SIMD path
// (the tests compare both); read at each call so that a test can switch it.
bool scalar_kernels_forced();
// True when the ray marcher uses its AVX2 path (8 rays per instruction; not for stretched
// marching, non power-of-two coarse factors or caps above 4096 samples, which stay scalar).
bool raymarch_simd_active();
// True when the hash-grid loops use the AVX2 path: compiled for an AVX2 + FMA CPU and not
// disabled by REDRIVE_SCALAR_KERNELS=1 (read at each call).
bool hashgrid_simd_active();
// Machine gather-rate probe for the benchmark: n_points x reads_per_point random rows of F
// floats from a table of `rows` rows, summed so that the loads cannot be optimised away.
double gather_probe(const float* table, int64_t rows, int f, int64_t n_points, int reads_per_point);
}  // namespace cpu

namespace cuda {
RD_DECLARE_LAUNCHERS
}  // namespace cuda

}  // namespace rd
