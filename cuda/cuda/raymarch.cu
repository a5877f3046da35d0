// CUDA kernels of the occupancy grid: EMA update, occupancy levels, ray marching (count/fill), rays
// vs boxes. One thread per byte of cells (update), per word column of 4 x 4 rows (levels) or per ray
// (marching); per-ray math in the shared headers.
#include "common_cuda.cuh"
#include "redrive/launchers.h"

namespace rd {
namespace cuda {
namespace {

__global__ void update_kernel(int64_t n, const float* values, float decay, float threshold, float* density,
                              uint8_t* bits) {
    const int64_t byte = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (byte * 8 < n) bits[byte] = occ_update_byte(byte, n, values, decay, threshold, density);
}

__global__ void coarse_kernel(OccGridParams g, int64_t nc, const uint8_t* bits, uint8_t* coarse_bits) {
    const int64_t byte = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (byte * 8 < nc) coarse_bits[byte] = occ_coarse_byte(g, byte, nc, bits);
}

__global__ void levels_kernel(OccGridParams g, int64_t n, const uint8_t* bits, const uint8_t* coarse, uint32_t* levels) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int wpr = level_words_per_row(g);
    if (i < n) occ_level_words(g, i / wpr, (int)(i % wpr), bits, coarse, levels);
}

__global__ void march_kernel(OccGridParams g, MarchParams m, int64_t n_rays, const float* o, const float* d,
                             const float* near, const float* far, const uint32_t* levels, const int64_t* offsets,
                             int64_t* counts, int64_t* ray_indices, float* t_starts, float* t_ends) {
    const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n_rays) return;
    if (ray_indices == nullptr) {
        CountEmit emit;
        counts[r] = march_ray(g, m, o + 3 * r, d + 3 * r, near[r], far[r], levels, emit);
    } else {
        FillEmit emit{r, offsets[r], ray_indices, t_starts, t_ends};
        march_ray(g, m, o + 3 * r, d + 3 * r, near[r], far[r], levels, emit);
    }
}

__global__ void raybox_kernel(int64_t n_rays, int64_t n_actors, const float* o, const float* d, const float* near,
                              const float* far, const int64_t* frames, const float* box_from_world,
                              const float* spheres, const float* half_sizes, const uint8_t* valid, const int64_t* offsets,
                              int64_t* counts, int64_t* ray_indices, int64_t* actor_indices, float* t_in,
                              float* t_out) {
    const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n_rays) return;
    const int64_t f = frames[r];
    const bool fill = ray_indices != nullptr;
    int n = raybox_ray(r, n_actors, o + 3 * r, d + 3 * r, near[r], far[r], box_from_world + f * n_actors * 12,
                       spheres + f * n_actors * 4, half_sizes, valid + f * n_actors, fill, fill ? offsets[r] : 0, ray_indices, actor_indices,
                       t_in, t_out);
    if (!fill) counts[r] = n;
}

}  // namespace

void occgrid_update(const OccGridParams& g, const float* values, float decay, float threshold, float* density,
                    uint8_t* bits, uint8_t* coarse_bits, void* stream) {
    const int64_t n = (int64_t)g.res[0] * g.res[1] * g.res[2];
    const int64_t nc = (int64_t)g.cres[0] * g.cres[1] * g.cres[2];
    cudaStream_t st = as_stream(stream);
    update_kernel<<<blocks_for((n + 7) / 8), kThreads, 0, st>>>(n, values, decay, threshold, density, bits);
    coarse_kernel<<<blocks_for((nc + 7) / 8), kThreads, 0, st>>>(g, nc, bits, coarse_bits);
    check_launch("occgrid_update");
}

void occgrid_levels(const OccGridParams& g, const uint8_t* bits, const uint8_t* coarse_bits, uint32_t* levels,
                    void* stream) {
    const int64_t n = level_row_groups(g) * level_words_per_row(g);
    levels_kernel<<<blocks_for(n), kThreads, 0, as_stream(stream)>>>(g, n, bits, coarse_bits, levels);
    check_launch("occgrid_levels");
}

void raymarch(const OccGridParams& g, const MarchParams& m, int64_t n_rays, const float* o, const float* d,
              const float* near, const float* far, const uint32_t* levels, const int64_t* offsets, int64_t* counts,
              int64_t* ray_indices, float* t_starts, float* t_ends, void* stream) {
    march_kernel<<<blocks_for(n_rays), kThreads, 0, as_stream(stream)>>>(
        g, m, n_rays, o, d, near, far, levels, offsets, counts, ray_indices, t_starts, t_ends);
    check_launch("raymarch");
}

void raybox(int64_t n_rays, int64_t n_frames, int64_t n_actors, const float* o, const float* d, const float* near,
            const float* far, const int64_t* frames, const float* box_from_world, const float* spheres,
            const float* half_sizes, const uint8_t* valid, const int64_t* offsets, int64_t* counts,
            int64_t* ray_indices, int64_t* actor_indices, float* t_in, float* t_out, void* stream) {
    (void)n_frames;
    raybox_kernel<<<blocks_for(n_rays), kThreads, 0, as_stream(stream)>>>(
        n_rays, n_actors, o, d, near, far, frames, box_from_world, spheres, half_sizes, valid, offsets, counts, ray_indices,
        actor_indices, t_in, t_out);
    check_launch("raybox");
}

}  // namespace cuda
}  // namespace rd
